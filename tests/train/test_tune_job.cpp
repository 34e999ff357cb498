// The `sgt tune` job (train/tune_job.h): the recipe's two stages planned from a request, overrides reaching both
// stages, bad combinations refused before anything is written, and a one-stage config run through the hooks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "testing/testing.h"
#include "train/tune_job.h"
#include "train/world_recipe.h"
#include "train_test_util.h"

using namespace sgt;
namespace fs = std::filesystem;

TEST(TuneJob, RecipePlanHasTwoStagesAndTheOverridesReachBoth) {
  sgt::testing::TempDir dir("tune-plan");
  train::TuneRequest req;
  req.run_dir = dir.file("run");
  req.attention = train::AttentionChoice::kDense;
  req.steps = 1000;  // above the recipe's cosine length: the schedule is stretched to it
  const auto plan = train::plan_tune(req);
  ASSERT_TRUE(plan.recipe);
  ASSERT_TRUE(plan.stage1.has_value());
  EXPECT_EQ(plan.stage1->run_dir, dir.file("run") + "/stage1");
  EXPECT_EQ(plan.stage1->save_every, plan.stage1->steps);  // one checkpoint, which stage 2 starts from
  EXPECT_EQ(plan.stage1->data.sources.front().task.task, data::ProxyTaskKind::kRecon);
  EXPECT_EQ(plan.main.data.sources.front().task.task, data::ProxyTaskKind::kSegment);
  EXPECT_EQ(plan.main.steps, 1000);
  EXPECT_EQ(plan.main.lr.total_steps, 1000);
  EXPECT_NE(plan.stage1->steps, 1000);  // --steps is the last stage's
  for (const auto* c : {&plan.main, &*plan.stage1}) {
    EXPECT_EQ(c->attention, train::AttentionChoice::kDense);
    EXPECT_FALSE(c->tokenizer.empty());
  }
  EXPECT_EQ(plan.heldout, dir.file("run") + "/world/heldout/world-heldout-000000.tar");
  EXPECT_FALSE(fs::exists(dir.file("run")));  // planning writes nothing

  req.pretrain_steps = 0;  // the ablation: segmentation from fresh weights
  EXPECT_FALSE(train::plan_tune(req).stage1.has_value());
  req.precision = train::Precision::kBf16;  // bf16 is CUDA autocast: refused on the CPU before any work
  EXPECT_NE(sgt::testing::error_message([&] { train::plan_tune(req); }).find("precision bf16 needs device cuda"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("run")));
}

TEST(TuneJob, AConfigRunsOneStageThroughTheHooks) {
  sgt::testing::TempDir dir("tune-job");
  train::test::write_tiny_world(dir.file("world"), 32);
  auto cfg = train::test::tiny_config(dir.file("run"), dir.file("world"), "world-train-{000000..000001}.tar",
                                      /*steps=*/2, /*save_every=*/2);
  std::ofstream(dir.file("cfg.json")) << config::to_json(cfg).dump(2);
  train::TuneRequest req;
  req.config = dir.file("cfg.json");
  auto plan = train::plan_tune(req);
  EXPECT_FALSE(plan.recipe);
  EXPECT_FALSE(plan.stage1.has_value());
  EXPECT_TRUE(plan.heldout.empty());
  int64_t before_step = -1, after_step = -1;
  train::TuneHooks hooks;
  hooks.before_training = [&](train::Trainer& t) { before_step = t.step(); };
  hooks.after_training = [&](train::Trainer& t) { after_step = t.step(); };
  train::run_tune_job(plan, LaunchEnv{}, hooks);
  EXPECT_EQ(before_step, 0);
  EXPECT_EQ(after_step, 2);
  EXPECT_TRUE(fs::exists(dir.file("run") + "/loss_curves.png"));
  EXPECT_TRUE(fs::exists(dir.file("run") + "/lr.png"));
}
