// sgt tune: SGT tuning. With no arguments it runs the built-in recipe (train/world_recipe.h): it renders the
// synthetic world into the run folder, trains a fresh tiny BAGEL-architecture model on reconstruction + VQA (stage
// 1, in stage1/), tunes it on segmentation + VQA (stage 2), and measures the generated segmentation of held-out
// scenes (matched-instance IoU, foreground IoU, input sensitivity) before stage 1 and after stage 2. With --config it runs
// any TrainConfig (JSON). Multi-process: launch with torchrun --no-python (or srun); rank 0 writes the outputs.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/enum_option.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "data/plot.h"
#include "data/world.h"
#include "eval/proxy_eval.h"
#include "io/atomic_file.h"
#include "io/run_lock.h"
#include "io/checkpoint.h"
#include "train/distributed.h"
#include "train/trainer.h"
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
};

void write_curves(const std::string& run_dir, const std::vector<train::StepMetrics>& history) {
  // Re-read metrics.jsonl so that a resumed run plots the whole curve.
  data::PlotSeries loss{"loss", {}, {}}, ce{"ce", {}, {}}, mse{"mse", {}, {}}, lr{"lr", {}, {}};
  const std::string path = run_dir + "/metrics.jsonl";
  if (!fs::exists(path)) return;
  config::for_each_jsonl(
      path,
      [&](const config::Json& j, const std::string&) {
        if (!j.value("loss", nlohmann::json()).is_number()) return;  // skipped (non-finite) steps log null
        const double s = j.at("step").get<double>();
        loss.x.push_back(s), loss.y.push_back(j.at("loss").get<double>());
        ce.x.push_back(s), ce.y.push_back(j.at("ce").get<double>());
        mse.x.push_back(s), mse.y.push_back(j.at("mse").get<double>());
        lr.x.push_back(s), lr.y.push_back(j.at("lr").get<double>());
      },
      /*skip_malformed=*/true);
  if (loss.x.empty()) return;
  data::PlotOptions o;
  o.title = "SGT tuning: losses";
  o.x_label = "step";
  o.y_label = "loss";
  o.log_y = true;
  data::write_plot_png(run_dir + "/loss_curves.png", {loss, ce, mse}, o);
  o.title = "learning rate";
  o.y_label = "lr";
  o.log_y = false;
  data::write_plot_png(run_dir + "/lr.png", {lr}, o);
}

nlohmann::ordered_json scores(const eval::ProxyEvalResult& r, int64_t step) {
  return {{"step", step},           {"iou", r.mean_iou},
          {"score", r.score},       {"precision", r.precision},
          {"recall", r.recall},     {"foreground_iou", r.foreground_iou},
          {"input_sensitivity", r.input_sensitivity}};
}

void run_tune(const TuneArgs& a) {
  const auto env = train::dist_env_from_environment();
  const bool recipe = a.config.empty();
  train::TrainConfig cfg;
  std::optional<train::TrainConfig> pre;  // the recipe's stage 1 (world_recipe.h)
  std::string heldout = a.heldout;
  std::string world;  // the recipe's synthetic world, rendered once the options are checked
  if (recipe) {
    const std::string run = a.run_dir.empty() ? "runs/tune" : a.run_dir;
    world = run + "/world";
    pre = train::world_pretrain_config(run + "/stage1", world, run + "/model.json");
    if (a.pretrain_steps >= 0) pre->steps = a.pretrain_steps;
    pre->save_every = pre->steps;  // one checkpoint: stage 2 starts from it
    if (pre->steps == 0) pre.reset();  // --pretrain-steps 0: segmentation from fresh weights (the ablation)
    cfg = train::world_tune_config(run, world, run + "/model.json");
    if (heldout.empty()) heldout = world + "/heldout/world-heldout-000000.tar";
  } else {
    cfg = config::load_file<train::TrainConfig>(a.config);
    if (!a.run_dir.empty()) cfg.run_dir = a.run_dir;
  }
  // --tokenizer / --device / --precision / --attention apply to both stages (rank r of a multi-GPU launch uses
  // cuda:LOCAL_RANK).
  // The tokenizer is resolved (and its origin logged) once, before any work: --tokenizer, else the config's, else
  // $SGT_TOKENIZER, else the one in assets/ (train::find_tokenizer). A missing file is one line here, not an error
  // after the world has been rendered.
  const std::string tokenizer = train::find_tokenizer(!a.tokenizer.empty() ? a.tokenizer : cfg.tokenizer);
  SGT_CHECK(fs::exists(tokenizer), "tune", "tokenizer {} does not exist", tokenizer);
  if (!a.tokenizer.empty() || !cfg.tokenizer.empty())
    log::info("tokenizer: {} ({})", tokenizer, !a.tokenizer.empty() ? "--tokenizer" : "the config's 'tokenizer'");
  for (train::TrainConfig* c : {&cfg, pre ? &*pre : nullptr}) {
    if (!c) continue;
    c->tokenizer = tokenizer;
    if (!a.device.empty()) c->device = enum_from_name<train::TrainDevice>(a.device, "--device");
    if (!a.precision.empty()) c->precision = enum_from_name<train::Precision>(a.precision, "--precision");
    if (!a.attention.empty()) c->attention = enum_from_name<train::AttentionChoice>(a.attention, "--attention");
    if (a.restart) c->restart = true;
  }
  cfg.validate();  // before any work: a bad combination (bf16 on the CPU, ...) is one line
  if (pre) pre->validate();
  // The recipe's whole folder (world, stage 1, stage 2) belongs to this job; each trainer locks its own run folder
  // again (re-entrant within the process), which is what protects a --config run.
  std::shared_ptr<io::RunLock> lock;
  if (recipe && env.rank == 0) lock = io::RunLock::acquire(cfg.run_dir);
  if (recipe) {
    if (env.rank == 0 && !fs::exists(world + "/world.json")) {
      log::info("tune: rendering the synthetic world into {}", world);
      const auto sum = data::write_world(world, train::tune_world_config(), 2);
      log::info("tune: {} scenes, {} objects in {:.1f} s", sum.scenes, sum.objects, sum.seconds);
    }
    fs::create_directories(cfg.run_dir);
    if (env.rank == 0) io::atomic_write_text(cfg.run_dir + "/model.json", train::tune_model_json());
  }
  if (a.steps >= 0) {
    cfg.steps = a.steps;
    if (cfg.lr.kind == train::LrKind::kCosine) cfg.lr.total_steps = std::max(cfg.lr.total_steps, cfg.steps);
  }
  std::shared_ptr<train::Dist> dist;
  if (env.world_size > 1) {
    const torch::Device dev = train::training_device(cfg.device, env);
    dist = train::Dist::create(env, dev, std::chrono::seconds(cfg.dist_timeout_s));
    dist->barrier();  // rank 0 has rendered the world
  }
  const bool evaluate = !a.no_eval && env.rank == 0 && !heldout.empty();
  std::vector<train::TrainSample> samples;
  infer::ImageGenOptions gen;
  gen.steps = a.eval_steps;
  // --eval-shift, else the recipe's sampling shift, else the schedule the model was trained on.
  gen.timestep_shift = a.eval_shift > 0 ? a.eval_shift : recipe ? train::kWorldEvalShift : cfg.timestep_shift;
  gen.cfg_text_scale = a.cfg_text;
  gen.cfg_img_scale = a.cfg_img;
  gen.seed = 1234;
  eval::SegMatchOptions seg;
  if (a.min_region >= 0) seg.min_region_pixels = a.min_region;
  else if (recipe) seg.min_region_pixels = train::kWorldSegMinPixels;
  nlohmann::ordered_json summary;
  eval::ProxyEvalResult start;
  int64_t start_step = 0;
  const auto& seg_source = cfg.data.sources.front();
  // The start measurement: the model the whole run starts from (stage 1's fresh weights for the recipe).
  auto measure_start = [&](train::Trainer& t) {
    if (!evaluate) return;
    train::SourceConfig src = seg_source;
    src.shards = {heldout};
    samples = eval::load_proxy_samples(src, cfg.data.sizes, std::make_shared<const text::Tokenizer>(t.tokenizer()),
                                       a.eval_samples, cfg.data_seed);
    start = eval::evaluate_proxy(t.model(), t.autoencoder(), t.tokenizer(), samples, src.task.task, gen, seg);
    start_step = t.step();
    log::info("tune: step {}: held-out {} score {:.4f} (matched-instance IoU {:.4f}, foreground IoU {:.4f}, input "
              "sensitivity {:.4f}) over {} samples, {:.1f} s",
              t.step(), name_of(src.task.task), start.score, start.mean_iou, start.foreground_iou, start.input_sensitivity,
              samples.size(), start.seconds);
    summary["start"] = scores(start, t.step());
  };
  if (pre) {
    {
      train::Trainer stage1(*pre, dist);
      log::info("tune: stage 1 ({} proxy task, {} steps) in {}", name_of(pre->data.sources.front().task.task), pre->steps,
                pre->run_dir);
      measure_start(stage1);
      stage1.run();
      if (env.rank == 0) write_curves(pre->run_dir, stage1.history());
    }
    if (dist) dist->barrier();  // stage 1's checkpoint is published
    const auto latest = io::latest_checkpoint(pre->run_dir + "/checkpoints");
    SGT_CHECK(latest.has_value(), "tune", "stage 1 wrote no checkpoint in {}/checkpoints", pre->run_dir);
    cfg.init_from = latest->file("model.safetensors");
    log::info("tune: stage 2 ({} proxy task, {} steps) from {}", name_of(seg_source.task.task), cfg.steps, cfg.init_from);
  }
  train::Trainer trainer(cfg, dist);
  if (!pre) measure_start(trainer);
  trainer.run();
  if (env.rank == 0) write_curves(cfg.run_dir, trainer.history());
  if (evaluate) {
    auto end = eval::evaluate_proxy(trainer.model(), trainer.autoencoder(), trainer.tokenizer(), samples,
                                    seg_source.task.task, gen, seg);
    auto ema = trainer.ema_model();
    auto end_ema = eval::evaluate_proxy(ema, trainer.autoencoder(), trainer.tokenizer(), samples,
                                        seg_source.task.task, gen, seg);
    summary["end"] = scores(end, trainer.step());
    summary["end_ema"] = scores(end_ema, trainer.step());
    if (pre) summary["stage1"] = {{"task", name_of(pre->data.sources.front().task.task)}, {"steps", pre->steps},
                                  {"run_dir", pre->run_dir}};
    summary["per_sample_iou_start"] = start.per_sample;
    summary["per_sample_iou_end"] = end.per_sample;
    summary["eval"] = config::to_json(gen);
    summary["seg_match"] = {{"color_tolerance", seg.color_tolerance},
                            {"min_region_pixels", seg.min_region_pixels},
                            {"background_max", seg.background_max}};
    summary["bad_samples"] = trainer.bad_sample_summary();
    const std::string start_label = pre ? "start" : "step " + std::to_string(start_step);
    const auto grid = eval::proxy_grid(samples, {start.generated, end.generated, end_ema.generated},
                                       {"input", start_label, "step " + std::to_string(trainer.step()), "EMA", "target"});
    data::write_png(cfg.run_dir + "/heldout_grid.png", grid);
    io::atomic_write_text(cfg.run_dir + "/summary.json", summary.dump(2) + "\n");
    std::printf("tune: held-out matched-instance IoU %.4f at the start -> %.4f at the end (EMA %.4f); foreground IoU "
                "%.4f -> %.4f; input sensitivity %.4f -> %.4f; %s\n",
                start.mean_iou, end.mean_iou, end_ema.mean_iou, start.foreground_iou, end.foreground_iou,
                start.input_sensitivity, end.input_sensitivity, cfg.run_dir.c_str());
  } else if (env.rank == 0) {
    std::printf("tune: %lld steps done; %s; %s\n", static_cast<long long>(trainer.step()),
                trainer.bad_sample_summary().c_str(), cfg.run_dir.c_str());
  }
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
  cmd->callback([a] { run_tune(*a); });
}

}  // namespace sgt::cli
