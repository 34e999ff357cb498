#include "train/tune_job.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "data/plot.h"
#include "data/world.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/run_lock.h"
#include "train/distributed.h"
#include "train/world_recipe.h"

namespace fs = std::filesystem;

namespace sgt::train {

TunePlan plan_tune(const TuneRequest& req) {
  TunePlan plan;
  plan.recipe = req.config.empty();
  if (plan.recipe) {
    const std::string run = req.run_dir.empty() ? "runs/tune" : req.run_dir;
    plan.world = run + "/world";
    plan.stage1 = world_pretrain_config(run + "/stage1", plan.world, run + "/model.json");
    if (req.pretrain_steps >= 0) plan.stage1->steps = req.pretrain_steps;
    plan.stage1->save_every = plan.stage1->steps;  // one checkpoint: stage 2 starts from it
    if (plan.stage1->steps == 0) plan.stage1.reset();  // segmentation from fresh weights (the ablation)
    plan.main = world_tune_config(run, plan.world, run + "/model.json");
    plan.heldout = plan.world + "/heldout/world-heldout-000000.tar";
  } else {
    plan.main = config::load_file<TrainConfig>(req.config);
    if (!req.run_dir.empty()) plan.main.run_dir = req.run_dir;
  }
  // The tokenizer is resolved (and its origin logged) once, before any work: a missing file is one line here, not
  // an error after the world has been rendered.
  const std::string tokenizer = text::find_tokenizer(!req.tokenizer.empty() ? req.tokenizer : plan.main.tokenizer);
  SGT_CHECK(fs::exists(tokenizer), "tune", "tokenizer {} does not exist", tokenizer);
  if (!req.tokenizer.empty() || !plan.main.tokenizer.empty())
    log::info("tokenizer: {} ({})", tokenizer, !req.tokenizer.empty() ? "--tokenizer" : "the config's 'tokenizer'");
  // The overrides apply to both stages (rank r of a multi-GPU launch uses the GPU of its local rank).
  for (TrainConfig* c : {&plan.main, plan.stage1 ? &*plan.stage1 : nullptr}) {
    if (!c) continue;
    c->tokenizer = tokenizer;
    if (req.device) c->device = *req.device;
    if (req.precision) c->precision = *req.precision;
    if (req.attention) c->attention = *req.attention;
    if (req.restart) c->restart = true;
  }
  if (req.steps >= 0) {
    plan.main.steps = req.steps;
    if (plan.main.lr.kind == LrKind::kCosine) plan.main.lr.total_steps = std::max(plan.main.lr.total_steps, req.steps);
  }
  if (req.merge_lora) plan.main.merge_lora = true;
  plan.main.validate();  // a bad combination (bf16 on the CPU, ...) is one line
  if (plan.stage1) plan.stage1->validate();
  return plan;
}

void run_tune_job(TunePlan& plan, const LaunchEnv& env, const TuneHooks& hooks) {
  // The recipe's whole folder (world, stage 1, stage 2) belongs to this job; each trainer locks its own run folder
  // again (re-entrant within the process), which is what protects a config run.
  std::shared_ptr<io::RunLock> lock;
  if (plan.recipe && env.rank == 0) lock = io::RunLock::acquire(plan.main.run_dir);
  if (plan.recipe) {
    if (env.rank == 0 && !fs::exists(plan.world + "/world.json")) {
      log::info("tune: rendering the synthetic world into {}", plan.world);
      const auto sum = data::write_world(plan.world, tune_world_config(), 2);
      log::info("tune: {} scenes, {} objects in {:.1f} s", sum.scenes, sum.objects, sum.seconds);
    }
    fs::create_directories(plan.main.run_dir);
    if (env.rank == 0) io::atomic_write_text(plan.main.run_dir + "/model.json", tune_model_json());
  }
  std::shared_ptr<Dist> dist;
  if (env.world_size > 1) {
    dist = Dist::create(env, training_device(plan.main.device, env), std::chrono::seconds(plan.main.dist_timeout_s));
    dist->barrier();  // rank 0 has rendered the world
  }
  if (plan.stage1) {
    const TrainConfig& pre = *plan.stage1;
    {
      Trainer stage1(pre, dist);
      log::info("tune: stage 1 ({} proxy task, {} steps) in {}", pre.data.sources.front().task.task, pre.steps,
                pre.run_dir);
      if (hooks.before_training) hooks.before_training(stage1);
      stage1.run();
      if (env.rank == 0) write_training_curves(pre.run_dir);
    }
    if (dist) dist->barrier();  // stage 1's checkpoint is published
    const auto latest = io::latest_checkpoint(pre.run_dir + "/checkpoints");
    SGT_CHECK(latest.has_value(), "tune", "stage 1 wrote no checkpoint in {}/checkpoints", pre.run_dir);
    plan.main.init_from = latest->file("model.safetensors");
    log::info("tune: stage 2 ({} proxy task, {} steps) from {}", plan.main.data.sources.front().task.task,
              plan.main.steps, plan.main.init_from);
  }
  Trainer trainer(plan.main, dist);
  if (!plan.stage1 && hooks.before_training) hooks.before_training(trainer);
  trainer.run();
  if (env.rank == 0) write_training_curves(plan.main.run_dir);
  if (hooks.after_training) hooks.after_training(trainer);
}

void write_training_curves(const std::string& run_dir) {
  data::PlotSeries loss{"loss", {}, {}}, ce{"ce", {}, {}}, mse{"mse", {}, {}}, lr{"lr", {}, {}};
  const std::string path = run_dir + "/metrics.jsonl";
  if (!fs::exists(path)) return;
  config::for_each_jsonl(
      path,
      [&](const config::Json& j, const std::string&) {
        if (!j.value("loss", config::Json()).is_number()) return;  // skipped (non-finite) steps log "nan"
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

}  // namespace sgt::train
