// sgt tune: SGT tuning. With no arguments it runs the built-in recipe (train/world_recipe.h), with --config any
// TrainConfig (JSON); the job itself (stages, world, overrides) is train/tune_job.h. This command adds the held-out
// measurement around it: the generated segmentation of held-out scenes (matched-instance IoU, foreground IoU, input
// sensitivity) before the first stage and after the last, summary.json and heldout_grid.png. Multi-process: launch
// with torchrun --no-python (or srun); rank 0 writes the outputs.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/enum_option.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "eval/proxy_eval.h"
#include "io/atomic_file.h"
#include "train/distributed.h"
#include "train/trainer.h"
#include "train/tune_job.h"
#include "train/world_recipe.h"

namespace fs = std::filesystem;

namespace sgt::cli {
namespace {

struct TuneArgs {
  std::string config, run_dir, tokenizer, heldout, device, precision, attention;
  int64_t steps = -1, pretrain_steps = -1;
  int64_t eval_samples = 16;
  int64_t eval_steps = 25;
  double eval_shift = 0;     // 0: the recipe's kWorldEvalShift, or the config's timestep_shift
  int64_t min_region = -1;   // -1: the recipe's kWorldSegMinPixels, or SegMatchOptions' default
  double cfg_text = 1.0, cfg_img = 1.0;
  bool no_eval = false;
  bool restart = false;
  bool merge_lora = false;
};

nlohmann::ordered_json scores(const eval::ProxyEvalResult& r, int64_t step) {
  return {{"step", step},           {"iou", r.mean_iou},
          {"score", r.score},       {"precision", r.precision},
          {"recall", r.recall},     {"foreground_iou", r.foreground_iou},
          {"input_sensitivity", r.input_sensitivity}};
}

void run_tune(const TuneArgs& a) {
  const auto env = train::dist_env_from_environment();
  train::TuneRequest req;
  req.config = a.config, req.run_dir = a.run_dir, req.tokenizer = a.tokenizer;
  if (!a.device.empty()) req.device = enum_from_name<train::TrainDevice>(a.device, "--device");
  if (!a.precision.empty()) req.precision = enum_from_name<train::Precision>(a.precision, "--precision");
  if (!a.attention.empty()) req.attention = enum_from_name<train::AttentionChoice>(a.attention, "--attention");
  req.steps = a.steps, req.pretrain_steps = a.pretrain_steps, req.restart = a.restart;
  req.merge_lora = a.merge_lora;
  train::TunePlan plan = train::plan_tune(req);
  const train::TrainConfig& cfg = plan.main;
  const std::string heldout = !a.heldout.empty() ? a.heldout : plan.heldout;

  // The held-out measurement around the run (rank 0): the model the whole run starts from (stage 1's fresh weights
  // for the recipe), then the final model and its EMA.
  const bool evaluate = !a.no_eval && env.rank == 0 && !heldout.empty();
  std::vector<train::TrainSample> samples;
  infer::ImageGenOptions gen;
  gen.steps = a.eval_steps;
  // --eval-shift, else the recipe's sampling shift, else the schedule the model was trained on.
  gen.timestep_shift = a.eval_shift > 0 ? a.eval_shift : plan.recipe ? train::kWorldEvalShift : cfg.timestep_shift;
  gen.cfg_text_scale = a.cfg_text;
  gen.cfg_img_scale = a.cfg_img;
  gen.seed = 1234;
  eval::SegMatchOptions seg;
  if (a.min_region >= 0) seg.min_region_pixels = a.min_region;
  else if (plan.recipe) seg.min_region_pixels = train::kWorldSegMinPixels;
  nlohmann::ordered_json summary;
  eval::ProxyEvalResult start;
  int64_t start_step = 0;
  const auto& seg_source = cfg.data.sources.front();
  train::TuneHooks hooks;
  hooks.before_training = [&](train::Trainer& t) {
    if (!evaluate) return;
    train::SourceConfig src = seg_source;
    src.shards = {heldout};
    src.format = data::SourceFormat::kWebdataset;  // the held-out set is tar shards (--heldout), whatever trains
    src.mask_root.clear();
    src.mask_shards.clear();
    samples = eval::load_proxy_samples(src, cfg.data.sizes, std::make_shared<const text::Tokenizer>(t.tokenizer()),
                                       a.eval_samples, cfg.data_seed);
    start = eval::evaluate_proxy(t.model(), t.autoencoder(), t.tokenizer(), samples, src.task.task, gen, seg);
    start_step = t.step();
    log::info("tune: step {}: held-out {} score {:.4f} (matched-instance IoU {:.4f}, foreground IoU {:.4f}, input "
              "sensitivity {:.4f}) over {} samples, {:.1f} s",
              t.step(), src.task.task, start.score, start.mean_iou, start.foreground_iou, start.input_sensitivity,
              samples.size(), start.seconds);
    summary["start"] = scores(start, t.step());
  };
  hooks.after_training = [&](train::Trainer& trainer) {
    if (!evaluate) {
      if (env.rank == 0)
        std::printf("tune: %lld steps done; %s; %s\n", static_cast<long long>(trainer.step()),
                    trainer.bad_sample_summary().c_str(), cfg.run_dir.c_str());
      return;
    }
    auto end = eval::evaluate_proxy(trainer.model(), trainer.autoencoder(), trainer.tokenizer(), samples,
                                    seg_source.task.task, gen, seg);
    auto ema = trainer.ema_model();
    auto end_ema = eval::evaluate_proxy(ema, trainer.autoencoder(), trainer.tokenizer(), samples,
                                        seg_source.task.task, gen, seg);
    summary["end"] = scores(end, trainer.step());
    summary["end_ema"] = scores(end_ema, trainer.step());
    if (plan.stage1)
      summary["stage1"] = {{"task", name_of(plan.stage1->data.sources.front().task.task)},
                           {"steps", plan.stage1->steps},
                           {"run_dir", plan.stage1->run_dir}};
    summary["per_sample_iou_start"] = start.per_sample;
    summary["per_sample_iou_end"] = end.per_sample;
    summary["eval"] = config::to_json(gen);
    summary["seg_match"] = {{"color_tolerance", seg.color_tolerance},
                            {"min_region_pixels", seg.min_region_pixels},
                            {"background_max", seg.background_max}};
    summary["bad_samples"] = trainer.bad_sample_summary();
    const std::string start_label = plan.stage1 ? "start" : "step " + std::to_string(start_step);
    const auto grid = eval::proxy_grid(samples, {start.generated, end.generated, end_ema.generated},
                                       {"input", start_label, "step " + std::to_string(trainer.step()), "EMA", "target"});
    data::write_png(cfg.run_dir + "/heldout_grid.png", grid);
    io::atomic_write_text(cfg.run_dir + "/summary.json", summary.dump(2) + "\n");
    std::printf("tune: held-out matched-instance IoU %.4f at the start -> %.4f at the end (EMA %.4f); foreground IoU "
                "%.4f -> %.4f; input sensitivity %.4f -> %.4f; %s\n",
                start.mean_iou, end.mean_iou, end_ema.mean_iou, start.foreground_iou, end.foreground_iou,
                start.input_sensitivity, end.input_sensitivity, cfg.run_dir.c_str());
  };
  train::run_tune_job(plan, env, hooks);
}

}  // namespace

void register_tune(CLI::App& app) {
  auto a = std::make_shared<TuneArgs>();
  auto* cmd = app.add_subcommand("tune", "SGT tuning (no arguments: tiny BAGEL on the built-in synthetic world)");
  cmd->add_option("--config", a->config, "TrainConfig JSON (default: the built-in world recipe)");
  cmd->add_option("--run-dir", a->run_dir, "run folder (default: runs/tune or the config's run_dir)");
  cmd->add_option("--steps", a->steps, "optimizer steps (overrides the config; the recipe: stage 2)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--pretrain-steps", a->pretrain_steps,
                  "the recipe's stage 1 (reconstruction) steps (0: none, segmentation from fresh weights)")
      ->check(CLI::NonNegativeNumber);
  add_enum_override<train::TrainDevice>(cmd, "--device", a->device, "overrides the config's device (default cpu)");
  add_enum_override<train::Precision>(cmd, "--precision",
                                      a->precision, "overrides the config's (bf16: autocast on CUDA, fp32 master weights)");
  add_enum_override<train::AttentionChoice>(cmd, "--attention", a->attention, "the decoder's attention kernels");
  cmd->add_option("--tokenizer", a->tokenizer, "Qwen2 tokenizer.json (default: $SGT_TOKENIZER, else assets/qwen-tokenizer/tokenizer.json)");
  cmd->add_option("--heldout", a->heldout,
                  "held-out shard(s) of the first (proxy) source, measured before and after (default: the recipe's)");
  cmd->add_option("--eval-samples", a->eval_samples, "held-out scenes measured before and after");
  cmd->add_option("--eval-steps", a->eval_steps, "sampler steps of the held-out generations");
  cmd->add_option("--eval-shift", a->eval_shift,
                  "timestep shift of the held-out sampler (default: 1 for the built-in recipe, else the config's)")
      ->check(CLI::PositiveNumber);
  // One flag name per concept across the commands (sgt eval seg --min-pixels, the inference commands'
  // --cfg-*-scale); the earlier names stay as hidden aliases for a release.
  cmd->add_option("--min-pixels", a->min_region,
                  "segment: smallest predicted colour region counted, in pixels of the target (default: 4 for the "
                  "built-in recipe's 24 px targets, else 16)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option_function<int64_t>("--min-region", [a](int64_t v) {
       SGT_CHECK(v >= 0, "cli", "--min-region {} must be >= 0 (the old name of --min-pixels)", v);
       a->min_region = v;
     })->group("");
  for (const char* flag : {"--cfg-text-scale", "--cfg-text"}) {
    auto* o = cmd->add_option(flag, a->cfg_text, "text CFG scale of the held-out generations");
    if (flag == std::string("--cfg-text")) o->group("");
  }
  for (const char* flag : {"--cfg-img-scale", "--cfg-img"}) {
    auto* o = cmd->add_option(flag, a->cfg_img, "image CFG scale of the held-out generations");
    if (flag == std::string("--cfg-img")) o->group("");
  }
  cmd->add_flag("--no-eval", a->no_eval, "skip the held-out measurement");
  cmd->add_flag("--restart", a->restart,
                "start over although the run folder holds checkpoints (they and metrics.jsonl move into "
                "RUN/previous-<time>/ first; without it that is an error)");
  cmd->add_flag("--merge-lora", a->merge_lora,
                "with lora.enabled in the config: also write RUN/merged/model.safetensors (W + scaling * B A) at the end "
                "(config key merge_lora)");
  cmd->callback([a] { run_tune(*a); });
}

}  // namespace sgt::cli
