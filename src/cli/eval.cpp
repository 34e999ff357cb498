// `sgt eval cvbench | geneval | seg`: benchmark scoring from precomputed model outputs (answers, detections,
// generated images). The model-driven halves (eval::run_cvbench, eval::write_geneval_folder) take callbacks that
// the infer layer provides; see docs/eval.md.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/eval.h"
#include "core/error.h"
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
  auto* cmd = app.add_subcommand("eval", "Benchmarks and analyses: cvbench, geneval, probe, attention, seg, world");
  cmd->require_subcommand(1);
  return cmd;
}

void write_json_out(const std::string& path, const nlohmann::ordered_json& j) {
  if (path.empty()) return;
  io::atomic_write_text(path, j.dump(2) + "\n");
  std::printf("wrote %s\n", path.c_str());
}

namespace {

struct CvArgs {
  std::string questions, answers, out;
};
struct GenArgs {
  std::string metadata, detections, results, out, per_image;
};
struct SegArgs {
  std::string pred, gt, kind = "seg", out;
  int64_t tolerance = 40, min_pixels = 16, edge_threshold = 128;
  double edge_tolerance = 2;
  bool split = false;
};

void run_cvbench(const CvArgs& a) {
  const auto items = eval::read_cvbench_jsonl(a.questions);
  const auto answers = eval::read_cvbench_answers(a.answers);
  const auto s = eval::score_cvbench(items, answers);
  std::fputs(eval::cvbench_table(s).c_str(), stdout);
  write_json_out(a.out, eval::cvbench_scores_json(s));
}

void run_geneval(const GenArgs& a) {
  SGT_CHECK(a.detections.empty() != a.results.empty(), "eval", "give exactly one of --detections and --results");
  eval::GenEvalSummary s;
  if (!a.results.empty()) {
    s = eval::summarize_geneval_results_file(a.results);
  } else {
    SGT_CHECK(!a.metadata.empty(), "eval", "--detections needs --metadata (evaluation_metadata*.jsonl)");
    const auto prompts = eval::read_geneval_metadata(a.metadata);
    const auto results = eval::score_geneval_detections(a.detections, prompts);
    s = eval::summarize_geneval(results);
    if (!a.per_image.empty()) {  // the official results.jsonl fields
      std::string text;
      for (const auto& r : results)
        text += nlohmann::ordered_json{{"filename", r.filename}, {"tag", r.tag}, {"prompt", r.prompt},
                                       {"correct", r.decision.correct}, {"reason", r.decision.reason}}
                    .dump() +
                "\n";
      io::atomic_write_text(a.per_image, text);
    }
  }
  std::fputs(eval::geneval_table(s).c_str(), stdout);
  write_json_out(a.out, eval::geneval_summary_json(s));
}

// Pairs <pred>/<name> with <gt>/<name> (same file name, PNG or JPEG) and averages the metric over pairs.
void run_seg(const SegArgs& a) {
  SGT_CHECK(fs::is_directory(a.pred) && fs::is_directory(a.gt), "eval", "--pred {} and --gt {} must be folders", a.pred, a.gt);
  SGT_CHECK(a.kind == "seg" || a.kind == "edge" || a.kind == "depth", "eval", "--kind {} is not seg, edge or depth", a.kind);
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
    if (a.kind == "seg") {
      eval::SegMatchOptions o;
      o.color_tolerance = a.tolerance;
      o.min_region_pixels = a.min_pixels;
      o.split_components = a.split;
      const auto r = eval::matched_instance_iou(pred, gt, o);
      m = {{"mean_iou", r.mean_iou}, {"precision50", r.precision}, {"recall50", r.recall}};
    } else if (a.kind == "edge") {
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
  j["kind"] = a.kind;
  j["images"] = n;
  std::printf("%s over %lld image pairs\n", a.kind.c_str(), static_cast<long long>(n));
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
  {
    auto a = std::make_shared<CvArgs>();
    auto* cmd = parent->add_subcommand("cvbench", "Score CV-Bench answers (official test.jsonl + {idx, answer} JSONL)");
    cmd->add_option("--questions", a->questions, "CV-Bench test.jsonl")->required();
    cmd->add_option("--answers", a->answers, "JSONL of {\"idx\": n, \"answer\": \"raw model text\"}")->required();
    cmd->add_option("--out", a->out, "scores JSON");
    cmd->callback([a] { run_cvbench(*a); });
  }
  {
    auto a = std::make_shared<GenArgs>();
    auto* cmd = parent->add_subcommand("geneval", "Score GenEval detections with the official rules, or summarise "
                                                  "the official evaluator's results.jsonl");
    cmd->add_option("--metadata", a->metadata, "evaluation_metadata.jsonl (or _long) used for generation");
    cmd->add_option("--detections", a->detections, "detections JSONL (docs/eval.md)");
    cmd->add_option("--results", a->results, "results.jsonl of geneval's evaluation/evaluate_images.py");
    cmd->add_option("--per-image", a->per_image, "write per-image decisions (official results fields)");
    cmd->add_option("--out", a->out, "summary JSON");
    cmd->callback([a] { run_geneval(*a); });
  }
  {
    auto a = std::make_shared<SegArgs>();
    auto* cmd = parent->add_subcommand("seg", "Dense-target quality: matched-instance IoU, edge F1 or depth errors");
    cmd->add_option("--pred", a->pred, "folder of generated maps")->required();
    cmd->add_option("--gt", a->gt, "folder of ground-truth maps (same file names)")->required();
    cmd->add_option("--kind", a->kind, "seg | edge | depth");
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
