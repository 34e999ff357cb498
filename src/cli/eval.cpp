// `sgt eval cvbench | geneval | seg`: benchmark scoring from precomputed model outputs (answers, detections,
// generated images), and with a model (--model or --config/--weights) the model-driven halves: CV-Bench answers
// through infer::make_understand_fn, GenEval folders through infer::make_text_to_image_fn; see docs/eval.md.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/eval.h"
#include "cli/enum_option.h"
#include "cli/infer_args.h"
#include "core/assets.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/image.h"
#include "eval/cvbench.h"
#include "eval/geneval.h"
#include "eval/seg_metrics.h"
#include "io/atomic_file.h"

namespace sgt::cli {
namespace fs = std::filesystem;

CLI::App* eval_command(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == "eval") return sub;
  auto* cmd =
      app.add_subcommand("eval", "Benchmarks and analyses: cvbench, geneval, pope, probe, attention, seg, world, loss");
  cmd->require_subcommand(1);
  return cmd;
}

void write_json_out(const std::string& path, const nlohmann::ordered_json& j) {
  if (path.empty()) return;
  io::atomic_write_text(path, j.dump(2) + "\n");
  std::printf("wrote %s\n", path.c_str());
}

void write_markdown_out(const std::string& path, const std::string& markdown) {
  if (path.empty()) return;
  io::atomic_write_text(path, markdown);
  std::printf("wrote %s\n", path.c_str());
}

namespace {

struct CvArgs {
  std::vector<std::string> questions;  // test_2d / test_3d (parquet or JSONL), or the older test.jsonl
  std::string answers, out, markdown;
  infer::ModelArgs model;        // optional: answer with the model instead of reading --answers
  std::string root, answers_out;  // root: folder holding img/ (default: the folder of the first --questions)
  UnderstandArgs und;  // with a model: decoding and ViT size
};
struct GenArgs {
  std::string metadata, detections, results, out, per_image, markdown;
  infer::ModelArgs model;    // optional: generate the GenEval folder with the model
  std::string generate_out;  // <out>/<NNNNN>/{metadata.jsonl, samples/<NNNN>.png}
  int64_t images_per_prompt = 4, width = 1024, height = 1024;  // BAGEL's protocol (scripts/eval/run_geneval.sh)
  bool think = false;
  infer::ImageGenOptions gen;
};
// What `sgt eval seg` scores: instance maps (matched-instance IoU), edge maps (F1) or depth maps.
enum class MapKind { kSeg, kEdge, kDepth };
constexpr auto enum_names(MapKind) {
  return std::array{EnumName{MapKind::kSeg, "seg"}, EnumName{MapKind::kEdge, "edge"}, EnumName{MapKind::kDepth, "depth"}};
}
struct SegArgs {
  std::string pred, gt, out;
  MapKind kind = MapKind::kSeg;
  int64_t tolerance = 40, min_pixels = 16, edge_threshold = 128;
  double edge_tolerance = 2;
  bool split = false;
};

// Greedy answers from the model for every item (written to --answers-out before scoring).
std::map<int64_t, std::string> answer_cvbench(const CvArgs& a, const std::vector<eval::CvBenchItem>& items) {
  SGT_CHECK(a.answers.empty(), "eval", "give either --answers or a model (--model / --config), not both");
  SGT_CHECK(!a.answers_out.empty(), "eval", "answering with a model needs --answers-out (answers JSONL)");
  auto answer = make_benchmark_understand_fn(a.model, a.und);
  const std::string root = !a.root.empty() ? a.root : fs::path(a.questions.front()).parent_path().string();
  std::unique_ptr<Progress> bar;
  if (a.model.progress) bar = std::make_unique<Progress>("cvbench", static_cast<int64_t>(items.size()), "q");
  auto answers = eval::run_cvbench(items, root.empty() ? "." : root,
                                   [&](const data::Image& img, const std::string& prompt) {
                                     std::string s = answer(img, prompt);
                                     if (bar) bar->advance(1);
                                     return s;
                                   });
  if (bar) bar->finish();
  eval::write_cvbench_answers(a.answers_out, answers);
  std::printf("wrote %s (%zu answers)\n", a.answers_out.c_str(), answers.size());
  return answers;
}

void run_cvbench(const CvArgs& a) {
  const auto items = eval::read_cvbench_files(a.questions);
  if (!has_model(a.model))
    SGT_CHECK(!a.answers.empty(), "eval", "give --answers (answers JSONL) or a model (--model / --config + --weights)");
  const auto answers = has_model(a.model) ? answer_cvbench(a, items) : eval::read_cvbench_answers(a.answers);
  const auto s = eval::score_cvbench(items, answers);
  std::fputs(eval::cvbench_table(s).c_str(), stdout);
  write_json_out(a.out, eval::cvbench_scores_json(s));
  write_markdown_out(a.markdown, eval::cvbench_markdown(s));
}

// --metadata, else the long rewritten prompts BAGEL and SGT report (assets/geneval/evaluation_metadata_long.jsonl).
std::string geneval_metadata(const GenArgs& a) {
  if (!a.metadata.empty()) return a.metadata;
  const std::string p = require_asset("geneval/evaluation_metadata_long.jsonl").path;
  std::printf("metadata: %s (the long prompts; --metadata for others)\n", p.c_str());
  return p;
}

// Generates the official GenEval folder with the model (resumable: existing samples are kept).
void generate_geneval(const GenArgs& a) {
  SGT_CHECK(has_model(a.model), "eval", "--generate-out needs a model (--model / --config + --weights)");
  SGT_CHECK(a.images_per_prompt > 0, "eval", "--images-per-prompt {} must be positive", a.images_per_prompt);
  const auto prompts = eval::read_geneval_metadata(geneval_metadata(a));
  int64_t missing = 0;  // the progress total: samples not on disk yet
  for (size_t i = 0; i < prompts.size(); ++i)
    for (int64_t k = 0; k < a.images_per_prompt; ++k)
      missing += !fs::exists(fmt::format("{}/{:05d}/samples/{:04d}.png", a.generate_out, i, k));
  auto generate = infer::make_text_to_image_fn(a.model, a.width, a.height, a.gen, a.think);
  std::unique_ptr<Progress> bar;
  if (a.model.progress && missing > 0) bar = std::make_unique<Progress>("geneval", missing, "img");
  const int64_t made = eval::write_geneval_folder(a.generate_out, prompts, a.images_per_prompt, a.gen.seed,
                                                  [&](const std::string& prompt, uint64_t seed) {
                                                    data::Image img = generate(prompt, seed);
                                                    if (bar) bar->advance(1);
                                                    return img;
                                                  });
  if (bar) bar->finish();
  std::printf("wrote %lld images for %zu prompts under %s\n", static_cast<long long>(made), prompts.size(),
              a.generate_out.c_str());
}

void run_geneval(const GenArgs& a) {
  SGT_CHECK(a.detections.empty() != a.results.empty(), "eval", "give exactly one of --detections and --results");
  eval::GenEvalSummary s;
  if (!a.results.empty()) {
    s = eval::summarize_geneval_results_file(a.results);
  } else {
    const auto prompts = eval::read_geneval_metadata(geneval_metadata(a));
    const auto results = eval::score_geneval_detections(a.detections, prompts);
    s = eval::summarize_geneval(results);
    if (!a.per_image.empty()) {  // the official results.jsonl: summary_scores.py reads it unchanged
      std::string text;
      for (const auto& r : results) text += eval::geneval_result_json(r).dump() + "\n";
      io::atomic_write_text(a.per_image, text);
      std::printf("wrote %s (%zu images)\n", a.per_image.c_str(), results.size());
    }
  }
  std::fputs(eval::geneval_table(s).c_str(), stdout);
  write_json_out(a.out, eval::geneval_summary_json(s));
  write_markdown_out(a.markdown, eval::geneval_markdown(s));
}

// Pairs <pred>/<name> with <gt>/<name> (same file name, PNG or JPEG) and averages the metric over pairs.
void run_seg(const SegArgs& a) {
  SGT_CHECK(fs::is_directory(a.pred) && fs::is_directory(a.gt), "eval", "--pred {} and --gt {} must be folders", a.pred, a.gt);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(a.gt)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  SGT_CHECK(!names.empty(), "eval", "no PNG / JPEG in {}", a.gt);
  std::map<std::string, double> sums;
  nlohmann::ordered_json per = nlohmann::ordered_json::object();
  int64_t n = 0;
  for (const std::string& name : names) {
    const std::string pp = a.pred + "/" + name;
    SGT_CHECK(fs::exists(pp), "eval", "no prediction {} for ground truth {}/{}", pp, a.gt, name);
    const data::Image pred = data::read_image(pp), gt = data::read_image(a.gt + "/" + name);
    std::map<std::string, double> m;
    if (a.kind == MapKind::kSeg) {
      eval::SegMatchOptions o;
      o.color_tolerance = a.tolerance;
      o.min_region_pixels = a.min_pixels;
      o.split_components = a.split;
      const auto r = eval::matched_instance_iou(pred, gt, o);
      m = {{"mean_iou", r.mean_iou}, {"precision50", r.precision}, {"recall50", r.recall}};
    } else if (a.kind == MapKind::kEdge) {
      const auto r = eval::edge_f1(pred, gt, {a.edge_threshold, a.edge_tolerance});
      m = {{"f1", r.f1}, {"precision", r.precision}, {"recall", r.recall}};
    } else {
      const auto r = eval::depth_metrics(pred, gt);
      m = {{"abs_rel", r.abs_rel}, {"rmse", r.rmse}, {"delta1", r.delta1}};
    }
    for (const auto& [k, v] : m) sums[k] += v;
    per[name] = m;
    ++n;
  }
  nlohmann::ordered_json j;
  j["kind"] = name_of(a.kind);
  j["images"] = n;
  std::printf("%s over %lld image pairs\n", std::string(name_of(a.kind)).c_str(), static_cast<long long>(n));
  for (const auto& [k, v] : sums) {
    j["mean"][k] = v / n;
    std::printf("  %-12s %.4f\n", k.c_str(), v / n);
  }
  j["per_image"] = per;
  write_json_out(a.out, j);
}

}  // namespace

void register_eval(CLI::App& app) {
  CLI::App* parent = eval_command(app);
  register_eval_loss(app);
  {
    auto a = std::make_shared<CvArgs>();
    auto* cmd = parent->add_subcommand("cvbench", "Score CV-Bench answers ({idx, answer} JSONL) with Cambrian's rules, "
                                                  "or answer with a model first");
    cmd->add_option("--questions", a->questions,
                    "CV-Bench questions, repeatable: the release's test_2d.parquet / test_3d.parquet (images inside), "
                    "their .jsonl beside an img/ tree, or the older test.jsonl")
        ->required();
    cmd->add_option("--answers", a->answers, "JSONL of {\"idx\": n, \"answer\": \"raw model text\"} (without a model)");
    cmd->add_option("--out", a->out, "scores JSON");
    cmd->add_option("--markdown", a->markdown, "scores as a Markdown report");
    add_optional_model_options(cmd, a->model);
    cmd->add_option("--root", a->root, "folder holding the img/ tree (default: the folder of the first --questions)");
    cmd->add_option("--answers-out", a->answers_out, "with a model: write the answers JSONL here");
    add_understand_options(cmd, a->und);
    cmd->callback([a] { run_cvbench(*a); });
  }
  {
    auto a = std::make_shared<GenArgs>();
    auto* cmd = parent->add_subcommand("geneval", "Score GenEval detections with the official rules, or summarise "
                                                  "the official evaluator's results.jsonl");
    cmd->add_option("--metadata", a->metadata,
                    "evaluation_metadata*.jsonl (default: assets/geneval/evaluation_metadata_long.jsonl, the long "
                    "prompts BAGEL and SGT report; evaluation_metadata.jsonl for the original ones)");
    cmd->add_option("--detections", a->detections, "detections JSONL (docs/eval.md)");
    cmd->add_option("--results", a->results, "results.jsonl of geneval's evaluation/evaluate_images.py");
    cmd->add_option("--per-image", a->per_image,
                    "write the official results.jsonl (filename, tag, prompt, correct, reason, metadata, details)");
    cmd->add_option("--out", a->out, "summary JSON");
    cmd->add_option("--markdown", a->markdown, "summary as a Markdown report");
    // Generation with a model, BAGEL's protocol as defaults (eval/gen/gen_images_mp.py): 4 images a prompt at
    // 1024 px, text CFG 4 over [0, 1] without image CFG, timestep shift 3, 50 steps, seed 42.
    a->gen.seed = 42;
    a->gen.cfg_img_scale = 1.0;
    a->gen.cfg_interval_lo = 0.0;
    add_optional_model_options(cmd, a->model);
    cmd->add_option("--generate-out", a->generate_out, "generate <DIR>/<NNNNN>/samples/<NNNN>.png for --metadata");
    cmd->add_option("--images-per-prompt", a->images_per_prompt,
                    "images per prompt (as GenEval and BAGEL; SGT's script used 1)");
    cmd->add_option("--width", a->width, "image width");
    cmd->add_option("--height", a->height, "image height");
    cmd->add_flag("--think", a->think, "prepend BAGEL's generation think system prompt");
    add_image_gen_options(cmd, a->gen);  // --seed: image k of every prompt uses seed + k
    cmd->callback([a] {
      if (!a->generate_out.empty()) {
        generate_geneval(*a);
        if (a->detections.empty() && a->results.empty()) return;  // scoring needs the detector's output
      }
      run_geneval(*a);
    });
  }
  {
    auto a = std::make_shared<SegArgs>();
    auto* cmd = parent->add_subcommand("seg", "Dense-target quality: matched-instance IoU, edge F1 or depth errors");
    cmd->add_option("--pred", a->pred, "folder of generated maps")->required();
    cmd->add_option("--gt", a->gt, "folder of ground-truth maps (same file names)")->required();
    add_enum_option(cmd, "--kind", a->kind, "what the maps are");
    cmd->add_option("--color-tolerance", a->tolerance, "seg: L1 RGB distance joining a colour cluster");
    cmd->add_option("--min-pixels", a->min_pixels, "seg: smallest predicted region");
    cmd->add_flag("--split-components", a->split, "seg: split colour clusters into connected components");
    cmd->add_option("--edge-threshold", a->edge_threshold, "edge: gray level of a predicted edge pixel");
    cmd->add_option("--edge-tolerance", a->edge_tolerance, "edge: match distance in pixels");
    cmd->add_option("--out", a->out, "scores JSON");
    cmd->callback([a] { run_seg(*a); });
  }
}

}  // namespace sgt::cli
