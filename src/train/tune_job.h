#pragma once
// The `sgt tune` job (docs/training.md): one TrainConfig, or the built-in world recipe (train/world_recipe.h) in two
// stages - render the synthetic world, stage 1 (reconstruction + VQA from fresh weights, in stage1/), stage 2 (the
// SGT tuning itself, from stage 1's checkpoint). The job plans the stages from the request (overrides applied and
// checked before any work), then runs them; what is measured around the run (the held-out generations, eval/) is
// the caller's, through two hooks.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/launch.h"
#include "train/trainer.h"

namespace sgt::train {

// What `sgt tune` is asked: a config (empty: the recipe) and overrides of both stages.
struct TuneRequest {
  std::string config;     // TrainConfig JSON; empty: the built-in world recipe
  std::string run_dir;    // empty: the config's run_dir, or runs/tune for the recipe
  std::string tokenizer;  // empty: the config's, else $SGT_TOKENIZER, else the shipped one (find_tokenizer)
  std::optional<TrainDevice> device;
  std::optional<Precision> precision;
  std::optional<AttentionChoice> attention;
  int64_t steps = -1;           // >= 0: the (last) stage's optimizer steps
  int64_t pretrain_steps = -1;  // >= 0: the recipe's stage 1 steps (0: no stage 1)
  bool restart = false;
  bool merge_lora = false;  // the main stage also writes merged weights (needs lora.enabled in its config)
};

struct TunePlan {
  bool recipe = false;
  TrainConfig main;                   // the config's one stage, or the recipe's stage 2
  std::optional<TrainConfig> stage1;  // the recipe's stage 1 (absent with pretrain_steps 0)
  std::string world;                  // the recipe's world folder (rendered by run_tune_job when missing)
  std::string heldout;                // the recipe's held-out shard (empty for a config)
};

// Resolves the tokenizer (logging where it came from), applies the overrides and validates every stage: a bad
// combination is one error before anything is written.
TunePlan plan_tune(const TuneRequest& req);

struct TuneHooks {
  // Called on the trainer the job starts from (stage 1's with the recipe), before its first step.
  std::function<void(Trainer&)> before_training;
  // Called on the last stage's trainer after its last step.
  std::function<void(Trainer&)> after_training;
};

// Runs the plan under `env` (rank 0 renders the world and holds the recipe folder's lock; with several ranks the
// process group is created here). Each stage's curves are written as PNG by rank 0 (write_training_curves).
void run_tune_job(TunePlan& plan, const LaunchEnv& env, const TuneHooks& hooks = {});

// loss_curves.png and lr.png of a run folder from its metrics.jsonl (the whole run, resumed parts included); nothing
// when no step has a finite loss.
void write_training_curves(const std::string& run_dir);

}  // namespace sgt::train
