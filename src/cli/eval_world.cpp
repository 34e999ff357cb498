// `sgt eval world`: mini CV-Bench and mini GenEval on the synthetic world's held-out shards (eval/world_bench.h).
// Answers and generated images come from files until the infer layer plugs in (docs/eval.md).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/eval.h"
#include "core/error.h"
#include "data/webdataset.h"
#include "eval/world_bench.h"
#include "eval/world_pope.h"
#include "io/atomic_file.h"

namespace sgt::cli {
namespace {

// The negative sampling of --export-pope is fixed so that every export of the same shards asks the same questions.
constexpr uint64_t kWorldPopeSeed = 0;

struct WorldEvalArgs {
  std::vector<std::string> shards;
  std::string answers, images, export_cvbench, export_prompts, export_pope, detections_out, out;
  bool self_check = false;
};

void run_world_eval(const WorldEvalArgs& a) {
  const auto shards = data::expand_shard_list(a.shards);
  const bool need_images = !a.export_cvbench.empty() || a.self_check;
  const eval::WorldBenchmark wb = eval::read_world_benchmark(shards, need_images);
  std::printf("world benchmark: %zu questions, %zu GenEval prompts from %zu shard(s)\n", wb.cvbench.size(),
              wb.geneval.size(), shards.size());
  nlohmann::ordered_json j;
  bool did = false;
  if (!a.export_cvbench.empty()) {
    eval::export_world_cvbench(wb, a.export_cvbench);
    std::printf("exported CV-Bench layout to %s (test.jsonl + images)\n", a.export_cvbench.c_str());
    did = true;
  }
  if (!a.export_prompts.empty()) {
    std::string text;
    for (const auto& p : wb.geneval) text += p.raw.dump() + "\n";
    io::atomic_write_text(a.export_prompts, text);
    std::printf("exported %zu GenEval prompts to %s\n", wb.geneval.size(), a.export_prompts.c_str());
    did = true;
  }
  if (!a.export_pope.empty()) {
    const eval::WorldPopeSource src = eval::read_world_pope_scenes(shards, true);
    const auto items = eval::make_world_pope(src.scenes, kWorldPopeSeed);
    eval::export_world_pope(items, src.jpeg, a.export_pope);
    std::printf("exported %zu POPE questions (3 splits) to %s (coco_pope_<split>.json + images)\n", items.size(),
                a.export_pope.c_str());
    did = true;
  }
  if (!a.answers.empty()) {
    const auto s = eval::score_cvbench(wb.cvbench, eval::read_cvbench_answers(a.answers));
    std::fputs(eval::cvbench_table(s).c_str(), stdout);
    j["cvbench"] = eval::cvbench_scores_json(s);
    did = true;
  }
  if (!a.images.empty()) {
    const std::string det = a.detections_out.empty() ? a.images + "/detections.jsonl" : a.detections_out;
    const int64_t n = eval::detect_world_folder(a.images, det);
    std::printf("detected world objects on %lld images -> %s\n", static_cast<long long>(n), det.c_str());
    const auto s = eval::summarize_geneval(eval::score_geneval_detections(det, wb.geneval));
    std::fputs(eval::geneval_table(s).c_str(), stdout);
    j["geneval"] = eval::geneval_summary_json(s);
    did = true;
  }
  if (a.self_check) {
    const auto s = eval::summarize_geneval(eval::world_geneval_self_check(wb));
    std::printf("self-check (detector on the scenes' own images):\n");
    std::fputs(eval::geneval_table(s).c_str(), stdout);
    j["geneval_self_check"] = eval::geneval_summary_json(s);
    did = true;
  }
  SGT_CHECK(did, "eval", "nothing to do: give --answers, --images, --self-check, --export-cvbench, --export-prompts "
                         "or --export-pope");
  if (!j.empty()) write_json_out(a.out, j);
}

}  // namespace

void register_eval_world(CLI::App& app) {
  auto a = std::make_shared<WorldEvalArgs>();
  auto* cmd = eval_command(app)->add_subcommand("world", "Mini CV-Bench / GenEval on the synthetic world's held-out shards");
  cmd->add_option("--shards", a->shards, "held-out shards (brace patterns allowed)")->required();
  cmd->add_option("--answers", a->answers, "CV-Bench answers JSONL ({idx, answer}; idx as in --export-cvbench)");
  cmd->add_option("--images", a->images, "GenEval-layout folder generated from --export-prompts");
  cmd->add_option("--detections-out", a->detections_out, "where to write the detector's JSONL (default: <images>/detections.jsonl)");
  cmd->add_option("--export-cvbench", a->export_cvbench, "write test.jsonl + images in the official CV-Bench layout");
  cmd->add_option("--export-prompts", a->export_prompts, "write the GenEval prompts as evaluation metadata JSONL");
  cmd->add_option("--export-pope", a->export_pope, "write coco_pope_<split>.json + images (POPE's official format)");
  cmd->add_flag("--self-check", a->self_check, "score the detector on the scenes' own images");
  cmd->add_option("--out", a->out, "scores JSON");
  cmd->callback([a] { run_world_eval(*a); });
}

}  // namespace sgt::cli
