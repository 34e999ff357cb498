// LoRA vs PEFT (tools/lora_ref.py) on the tiny Qwen2ForCausalLM of tools/model_ref.py, both ways: a PEFT adapter
// folder loaded here gives PEFT's logits (and merged logits), and a folder written here loads in PEFT with exactly
// PEFT's tensor names and gives our logits. Tolerance as test_qwen2.cpp: max |ours - PEFT| <= 1e-5 * max |PEFT|.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"
#include "model/bagel.h"
#include "model/lora.h"
#include "model/qwen2.h"
#include "model_test_util.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::model;
using sgt::model::test::logged;
using sgt::model::test::rel_err;

namespace {

// TINY_LLM of tools/model_ref.py, without the *_moe_gen copies (the HF model has none).
LLMConfig tiny_dense() {
  LLMConfig c = sgt::model::test::tiny_llm(false);
  c.layer_module = LayerModule::kDense;
  return c;
}

Qwen2ForCausalLM load_base(const std::string& wdir) {
  Qwen2ForCausalLM lm(tiny_dense());
  io::load_state_dict(*lm, io::TensorSource::open(wdir + "/model.safetensors"));
  lm->eval();
  return lm;
}

torch::Tensor run(Qwen2ForCausalLM& lm, const torch::Tensor& ids) {
  torch::NoGradGuard ng;
  PackedForward in;
  const int64_t L = ids.size(0);
  in.position_ids = torch::arange(L);
  in.layout = PackLayout::from_samples({{{L, AttnMode::kCausal}}});
  return lm(ids, in);
}

struct PeftFixture {
  sgt::testing::TempDir dir{"lora"};
  std::string w = dir.file("w"), r = dir.file("r"), a = dir.file("a");
  std::map<std::string, torch::Tensor> ref;
  PeftFixture() {
    auto res = sgt::testing::run_python_tool("lora_ref.py", {"make", "--out", w, "--ref", r, "--adapter", a});
    EXPECT_EQ(res.exit_code, 0) << res.output;
    ref = io::load_tensors(r + "/ref.safetensors");
  }
};

}  // namespace

TEST(ModelLora, PeftAdapterLoadsWithPeftLogitsAndMerges) {
  PeftFixture f;
  auto lm = load_base(f.w);
  EXPECT_LE(logged("lora base", rel_err(run(lm, f.ref["ids"]), f.ref["base"])), 1e-5);
  auto cfg = load_lora(*lm, f.a);
  EXPECT_EQ(cfg.r, 4);
  EXPECT_DOUBLE_EQ(cfg.alpha, 8.0);
  EXPECT_EQ(lora_modules(*lm).size(), 14u);  // 7 projections x 2 layers
  auto out = run(lm, f.ref["ids"]);
  EXPECT_LE(logged("lora peft->ours", rel_err(out, f.ref["lora"])), 1e-5);
  EXPECT_GT(rel_err(f.ref["base"], f.ref["lora"]), 1e-2);  // the adapters matter
  // Eval mode: PEFT's dropout 0.1 is inactive; in training it acts on the A path only.
  lm->train();
  {
    torch::NoGradGuard ng;
    EXPECT_GT(rel_err(run(lm, f.ref["ids"]), f.ref["lora"]), 1e-4);
  }
  lm->eval();
  const auto merged_sd = merged_state_dict(*lm);  // what merge_lora gives, without changing the model
  EXPECT_EQ(lora_modules(*lm).size(), 14u);
  EXPECT_EQ(merge_lora(*lm), 14);
  EXPECT_TRUE(lora_modules(*lm).empty());
  const auto after = io::state_dict(*lm);
  ASSERT_EQ(after.size(), merged_sd.size());
  for (const auto& [k, v] : after) EXPECT_TRUE(torch::equal(v, merged_sd.at(k))) << k;
  EXPECT_EQ(io::state_dict(*lm).size(), io::state_dict(*load_base(f.w)).size());  // no lora_* tensors left
  EXPECT_LE(logged("lora merged vs peft merge_and_unload", rel_err(run(lm, f.ref["ids"]), f.ref["merged"])), 1e-5);
}

TEST(ModelLora, OurAdapterLoadsInPeftWithPeftNames) {
  PeftFixture f;
  auto lm = load_base(f.w);
  LoraConfig c;
  c.r = 3;
  c.alpha = 6.5;
  c.rslora = true;
  c.targets = {"q_proj", "v_proj", "*own_proj"};  // a glob: down_proj
  const auto before = run(lm, f.ref["ids"]);
  auto paths = add_lora(*lm, c);
  ASSERT_EQ(paths.size(), 6u);
  EXPECT_EQ(paths[0], "model.layers.0.self_attn.q_proj");
  // Fresh adapters: B = 0, so the model is unchanged; A is PEFT's kaiming-uniform(a=sqrt5): |A| <= 1/sqrt(in).
  EXPECT_TRUE(torch::equal(run(lm, f.ref["ids"]), before));
  auto sd = lora_state_dict(*lm);
  const auto& a0 = sd.at("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(a0.sizes().vec(), (std::vector<int64_t>{3, 64}));
  EXPECT_LE(a0.abs().max().item<double>(), 1.0 / std::sqrt(64.0));
  EXPECT_EQ(sd.at("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").abs().max().item<double>(), 0.0);
  {
    torch::NoGradGuard ng;
    for (auto& [k, v] : sd) v.copy_(0.2 * torch::randn(v.sizes()));
  }
  save_lora(*lm, c, f.a, "tiny-qwen2");
  auto j = nlohmann::json::parse(read_text_file(f.a + "/adapter_config.json"));
  EXPECT_EQ(j["target_modules"], nlohmann::json({"down_proj", "q_proj", "v_proj"}));
  EXPECT_EQ(j["base_model_name_or_path"], "tiny-qwen2");
  io::save_tensors(f.r + "/ids.safetensors", {{"ids", f.ref["ids"]}});
  auto res = sgt::testing::run_python_tool("lora_ref.py", {"check", "--out", f.w, "--ref", f.r, "--adapter", f.a});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  auto peft = io::load_tensors(f.r + "/peft.safetensors");
  EXPECT_NEAR(peft["scaling"].item<double>(), c.scaling(), 1e-12);
  EXPECT_NEAR(c.scaling(), 6.5 / std::sqrt(3.0), 1e-12);
  EXPECT_LE(logged("lora ours->peft", rel_err(run(lm, f.ref["ids"]), peft["lora"])), 1e-5);
  EXPECT_GT(rel_err(f.ref["base"], peft["lora"]), 1e-2);  // PEFT did apply the adapters
  // Our folder back into a fresh model of ours: same logits.
  auto lm2 = load_base(f.w);
  auto c2 = load_lora(*lm2, f.a);
  EXPECT_TRUE(c2.rslora);
  EXPECT_TRUE(torch::equal(run(lm2, f.ref["ids"]), run(lm, f.ref["ids"])));
  merge_lora(*lm);
  EXPECT_LE(logged("lora ours merged vs peft merged", rel_err(run(lm, f.ref["ids"]), peft["merged"])), 1e-5);
}

TEST(ModelLora, DefaultTargetsAreTheDecoderExpertsOnly) {
  auto cfg = sgt::model::test::tiny_bagel();
  Bagel bagel(cfg);
  LoraConfig c;
  auto paths = add_lora(*bagel, c);
  // 2 layers x (4 und + 4 gen attention projections + 3 und + 3 gen MLP projections); no ViT, connector, vae2llm.
  EXPECT_EQ(paths.size(), 2u * 14u);
  for (const auto& p : paths) EXPECT_EQ(p.rfind("language_model.model.layers.", 0), 0u) << p;
  EXPECT_NE(std::find(paths.begin(), paths.end(), "language_model.model.layers.1.mlp_moe_gen.up_proj"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "language_model.model.layers.0.self_attn.k_proj_moe_gen"),
            paths.end());
  auto trainable = freeze_all_but_lora(*bagel);
  EXPECT_EQ(trainable.size(), 2 * paths.size());
  for (const auto& item : bagel->named_parameters()) {
    const bool is_lora = item.key().find(".lora_") != std::string::npos;
    EXPECT_EQ(item.value().requires_grad(), is_lora) << item.key();
  }
  // SigLIP also has q_proj: PEFT's name list would reach it, so target_modules is written as a regex of our paths,
  // and a fresh model loading the folder gets adapters on exactly the same modules.
  sgt::testing::TempDir dir("lora_bagel");
  save_lora(*bagel, c, dir.path());
  auto j = nlohmann::json::parse(read_text_file(dir.file("adapter_config.json")));
  EXPECT_TRUE(j["target_modules"].is_string()) << j["target_modules"].dump();
  Bagel other(cfg);
  load_lora(*other, dir.path());
  EXPECT_EQ(lora_modules(*other), paths);
  EXPECT_THROW(add_lora(*other, c), sgt::Error);  // already adapted
  LoraConfig none;
  none.targets = {"fc1"};  // SigLIP only: not in the decoder
  EXPECT_THROW(add_lora(*bagel, none), sgt::Error);
}

TEST(ModelLora, BadAdapterFoldersAreOneClearError) {
  Qwen2ForCausalLM src(tiny_dense());
  LoraConfig c;
  c.r = 2;
  c.targets = {"q_proj", "o_proj"};
  add_lora(*src, c);
  sgt::testing::TempDir dir("lora_bad");
  save_lora(*src, c, dir.path());
  const std::string wfile = dir.file("adapter_model.safetensors"), cfile = dir.file("adapter_config.json");
  const auto good = io::load_tensors(wfile);
  std::map<std::string, torch::Tensor> good_copy;
  for (auto& [k, v] : good) good_copy[k] = v.clone();
  const auto good_cfg = nlohmann::json::parse(read_text_file(cfile));
  auto fresh_error = [&] {
    Qwen2ForCausalLM lm(tiny_dense());
    auto msg = sgt::testing::error_message([&] { load_lora(*lm, dir.path()); });
    EXPECT_TRUE(lora_modules(*lm).empty()) << "nothing attached on error";
    return msg;
  };
  const std::string qa = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  {  // missing tensor
    auto t = good_copy;
    t.erase(qa);
    io::save_tensors(wfile, t);
    auto msg = fresh_error();
    EXPECT_NE(msg.find("missing " + qa + " (expected [2, 64])"), std::string::npos) << msg;
  }
  {  // wrong shape
    auto t = good_copy;
    t[qa] = torch::zeros({3, 64});
    io::save_tensors(wfile, t);
    auto msg = fresh_error();
    EXPECT_NE(msg.find(qa + ": file [3, 64] vs model [2, 64]"), std::string::npos) << msg;
  }
  {  // a tensor for a module the config does not target, and one for a module that does not exist
    auto t = good_copy;
    t["base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"] = torch::zeros({2, 64});
    t["base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight"] = torch::zeros({64, 2});
    io::save_tensors(wfile, t);
    auto msg = fresh_error();
    EXPECT_NE(msg.find("unknown tensor base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight [2, 64]"),
              std::string::npos) << msg;
    EXPECT_NE(msg.find("unknown tensor base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight [64, 2]"),
              std::string::npos) << msg;
  }
  io::save_tensors(wfile, good_copy);
  auto write_cfg = [&](const char* key, const nlohmann::json& value) {
    auto j = good_cfg;
    j[key] = value;
    std::ofstream(cfile) << j.dump(2);
  };
  write_cfg("target_modules", nlohmann::json({"no_such_proj"}));
  EXPECT_NE(fresh_error().find("selects no module"), std::string::npos);
  write_cfg("target_modules", nlohmann::json({"mlp"}));
  EXPECT_NE(fresh_error().find("model.layers.0.mlp, which is not a Linear module"), std::string::npos);
  write_cfg("use_dora", true);
  EXPECT_NE(fresh_error().find("use_dora true is not supported"), std::string::npos);
  write_cfg("rank_pattern", nlohmann::json({{"q_proj", 4}}));
  EXPECT_NE(fresh_error().find("non-empty rank_pattern"), std::string::npos);
  write_cfg("peft_type", "LOHA");
  EXPECT_NE(fresh_error().find("peft_type \"LOHA\""), std::string::npos);
  std::ofstream(cfile) << "{ not json";
  EXPECT_NE(fresh_error().find("not valid JSON"), std::string::npos);
  // Config validation.
  LoraConfig bad;
  bad.r = 0;
  EXPECT_THROW(bad.validate(), sgt::Error);
  bad = LoraConfig{};
  bad.dropout = 1.0;
  EXPECT_THROW(bad.validate(), sgt::Error);
  bad = LoraConfig{};
  bad.targets.clear();
  EXPECT_THROW(bad.validate(), sgt::Error);
}
