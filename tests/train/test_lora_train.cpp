// The trainer with LoRA (docs/training.md, "LoRA") on the tiny world: only the adapters change (every base tensor
// bit-identical after the steps), resume reproduces the uninterrupted run exactly (dropout on, so its masks are
// part of it), and the run's adapter folder (PEFT layout; PEFT's side is tested in tests/model/test_lora.cpp) and
// merged weights are what the trained model holds.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "io/state_dict.h"
#include "io/torch_tensors.h"
#include "model/lora.h"
#include "testing/testing.h"
#include "train/trainer.h"
#include "train_test_util.h"

using namespace sgt;
namespace fs = std::filesystem;

namespace {

std::vector<config::Json> read_metrics(const std::string& run_dir) {
  std::vector<config::Json> out;
  config::for_each_jsonl(run_dir + "/metrics.jsonl", [&](const config::Json& j, const std::string&) { out.push_back(j); });
  return out;
}

std::map<std::string, torch::Tensor> cloned(const std::map<std::string, torch::Tensor>& sd) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : sd) out[k] = v.detach().clone();
  return out;
}

bool is_lora(const std::string& name) { return name.find(".lora_") != std::string::npos; }

}  // namespace

TEST(TrainerLora, OnlyAdaptersTrainResumeIsExactAndThePeftFolderIsWritten) {
  sgt::testing::TempDir dir("trainer_lora");
  train::test::write_tiny_world(dir.file("world"), 48);
  auto tiny = [&](const std::string& run) {
    auto c = train::test::tiny_config(dir.file(run), dir.file("world"), "world-train-{000000..000002}.tar", 4, 2);
    c.lora.enabled = true;
    c.lora.r = 2;
    c.lora.alpha = 4;
    c.lora.dropout = 0.1;
    c.merge_lora = true;
    c.lr.lr = 1e-2;
    return c;
  };
  auto cfg = tiny("straight");
  std::map<std::string, torch::Tensor> trained;
  {
    train::Trainer t(cfg);
    const auto before = cloned(io::state_dict(*t.model()));
    for (const auto& item : t.model()->named_parameters())
      EXPECT_EQ(item.value().requires_grad(), is_lora(item.key())) << item.key();
    t.run();
    trained = cloned(io::state_dict(*t.model()));
    // Every und adapter moves (B from zero, A once B is not). The gen experts' adapters get no gradient here: the
    // fresh model's llm2vae is zero (BAGEL's init) and frozen, so nothing flows back into the gen path.
    const bool llm2vae_zero = t.model()->llm2vae->weight.abs().max().item<double>() == 0.0;
    EXPECT_TRUE(llm2vae_zero);
    int64_t adapters = 0;
    for (const auto& [k, v] : trained) {
      if (!is_lora(k)) {
        EXPECT_TRUE(torch::equal(v, before.at(k))) << k << " changed";
        continue;
      }
      ++adapters;
      const bool gen = k.find("moe_gen") != std::string::npos;
      EXPECT_EQ(torch::equal(v, before.at(k)), gen && llm2vae_zero) << k;
    }
    EXPECT_EQ(adapters, 56);  // 2 layers x 14 projections x (A, B)
    // The folder in PEFT's layout loads onto a fresh model with the trained adapters; merged = merged_state_dict.
    model::Bagel fresh(t.model()->config());
    const auto lc = model::load_lora(*fresh, cfg.run_dir + "/adapter");
    EXPECT_EQ(lc.r, 2);
    EXPECT_EQ(model::lora_modules(*fresh), model::lora_modules(*t.model()));
    for (const auto& [k, v] : model::lora_state_dict(*fresh)) {
      const std::string ours = k.substr(std::string("base_model.model.").size());
      EXPECT_TRUE(torch::equal(v, trained.at(ours))) << k;
    }
    const auto merged = io::load_tensors(cfg.run_dir + "/merged/model.safetensors");
    const auto expect = model::merged_state_dict(*t.model());
    ASSERT_EQ(merged.size(), expect.size());
    for (const auto& [k, v] : expect) EXPECT_TRUE(torch::equal(merged.at(k), v)) << k;
  }
  const auto straight = read_metrics(cfg.run_dir);
  ASSERT_EQ(straight.size(), 4u);
  auto cfg2 = tiny("resumed");
  {
    train::Trainer t(cfg2);
    t.run(2);
    EXPECT_FALSE(fs::exists(cfg2.run_dir + "/adapter"));  // written when the run ends, not at an interruption
  }
  {
    train::Trainer t(cfg2);
    EXPECT_EQ(t.resumed_from(), 2);
    t.run();
    for (const auto& [k, v] : io::state_dict(*t.model())) EXPECT_TRUE(torch::equal(v, trained.at(k))) << k;
  }
  const auto resumed = read_metrics(cfg2.run_dir);
  ASSERT_EQ(resumed.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(resumed[i]["loss"].get<double>(), straight[i]["loss"].get<double>()) << "step " << i + 1;
    EXPECT_EQ(resumed[i]["grad_norm"].get<double>(), straight[i]["grad_norm"].get<double>()) << "step " << i + 1;
  }
  EXPECT_NE(straight[0]["loss"].get<double>(), straight[3]["loss"].get<double>());
  // merge_lora without LoRA is refused.
  auto bad = tiny("bad");
  bad.lora.enabled = false;
  EXPECT_THROW(bad.validate(), sgt::Error);
}
