// Text path vs HF transformers (tools/model_ref.py qwen2): Qwen2ForCausalLM (no q/k norm) and Qwen3ForCausalLM
// (q/k RMSNorm before RoPE, as BAGEL) with the same tiny random fp32 weights. Und routing, all-gen routing and a
// random mix (the *_moe_gen copies equal the und copies, so every routing must give the HF logits).
// Tolerance: fp32, max |ours - HF| <= 1e-5 * max |HF| (different but equally exact kernels).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"
#include "model_test_util.h"
#include "model/qwen2.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::model;
using sgt::model::test::logged;
using sgt::model::test::rel_err;
using sgt::model::test::tiny_llm;

namespace {


void run_parity(const std::string& arch) {
  sgt::testing::TempDir dir("qwen2");
  const std::string wdir = dir.file("weights"), rdir = dir.file("ref");
  auto res = sgt::testing::run_python_tool("model_ref.py", {"qwen2", "--out", wdir, "--ref", rdir, "--arch", arch});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  auto ref = io::load_tensors(rdir + "/ref.safetensors");

  Qwen2ForCausalLM lm(tiny_llm(arch == "qwen3"));
  auto source = io::TensorSource::open(wdir);
  auto report = io::load_state_dict(*lm, source);
  EXPECT_TRUE(report.ok()) << report.summary();
  lm->eval();
  torch::NoGradGuard ng;

  auto ids = torch::cat({ref["ids_a"], ref["ids_b"]});
  const int64_t la = ref["ids_a"].size(0), lb = ref["ids_b"].size(0), L = la + lb;
  auto expect = torch::cat({ref["logits_a"], ref["logits_b"]});
  PackedForward in;
  in.position_ids = torch::cat({torch::arange(la), torch::arange(lb)});
  // Sample a as two causal splits: same rule as one causal split.
  in.layout = PackLayout::from_samples({{{3, AttnMode::kCausal}, {la - 3, AttnMode::kCausal}},
                                        {{lb, AttnMode::kCausal}}});
  for (auto impl : {AttentionImpl::kDense, AttentionImpl::kSplitwise}) {
    in.impl = impl;
    in.gen_mask = torch::zeros({L}, torch::kBool);
    const std::string tag = arch + (impl == AttentionImpl::kDense ? " dense" : " splitwise");
    EXPECT_LE(logged(tag + " und", rel_err(lm(ids, in), expect)), 1e-5) << arch << " und";
    in.gen_mask = torch::ones({L}, torch::kBool);
    EXPECT_LE(logged(tag + " all-gen", rel_err(lm(ids, in), expect)), 1e-5) << arch << " all gen";
    in.gen_mask = torch::rand({L}) > 0.5;
    EXPECT_LE(logged(tag + " mixed", rel_err(lm(ids, in), expect)), 1e-5) << arch << " mixed";
  }
  // With a different gen copy, gen-routed tokens must change (routing really selects the copy).
  {
    torch::NoGradGuard g;
    auto* layer = lm->model->layers[0]->as<Qwen2MoTDecoderLayer>();
    layer->mlp_moe_gen->down_proj->weight.mul_(2.0);
  }
  in.gen_mask = torch::zeros({L}, torch::kBool);
  in.gen_mask[L - 1] = true;
  auto out = lm(ids, in);
  EXPECT_LE(rel_err(out.slice(0, 0, la), expect.slice(0, 0, la)), 1e-5);
  EXPECT_GT(rel_err(out.slice(0, L - 1), expect.slice(0, L - 1)), 1e-3);
}

}  // namespace

TEST(ModelQwen2, ParityWithTransformersQwen2) { run_parity("qwen2"); }
TEST(ModelQwen2, ParityWithTransformersQwen3QkNorm) { run_parity("qwen3"); }

TEST(ModelQwen2, ParameterNamesFollowTheCheckpoint) {
  Qwen2ForCausalLM lm(tiny_llm(true));
  auto sd = io::state_dict(*lm);
  for (const char* k : {"model.embed_tokens.weight", "model.layers.1.input_layernorm_moe_gen.weight",
                        "model.layers.0.self_attn.q_proj_moe_gen.bias", "model.layers.0.self_attn.k_norm_moe_gen.weight",
                        "model.layers.0.mlp_moe_gen.gate_proj.weight", "model.norm_moe_gen.weight", "lm_head.weight"})
    EXPECT_TRUE(sd.count(k)) << k;
  EXPECT_FALSE(sd.count("model.layers.0.self_attn.o_proj.bias"));
  LLMConfig plain = tiny_llm(false);
  plain.layer_module = LayerModule::kDense;
  Qwen2ForCausalLM lm2(plain);
  auto sd2 = io::state_dict(*lm2);
  for (const auto& [k, v] : sd2) EXPECT_EQ(k.find("moe_gen"), std::string::npos) << k;
  // Gen tokens in a model without gen copies are an error.
  PackedForward in;
  in.position_ids = torch::arange(3);
  in.layout = PackLayout::from_samples({{{3, AttnMode::kCausal}}});
  in.gen_mask = torch::ones({3}, torch::kBool);
  EXPECT_THROW(lm2(torch::arange(3), in), sgt::Error);
}

TEST(ModelQwen2, RopeAndRmsNormFormulas) {
  // RoPE: angle = pos * theta^(-2j/d), duplicated [a || a].
  auto [cos, sin] = rope_cos_sin(torch::tensor({0, 3}), 8, 100.0);
  for (int j = 0; j < 4; ++j) {
    const double a = 3.0 * std::pow(100.0, -2.0 * j / 8.0);
    EXPECT_NEAR(cos[1][j].item<double>(), std::cos(a), 1e-6);
    EXPECT_NEAR(sin[1][j + 4].item<double>(), std::sin(a), 1e-6);
    EXPECT_NEAR(cos[0][j].item<double>(), 1.0, 0.0);
  }
  // RMSNorm in bf16 equals the fp32 computation cast back before the weight multiply.
  RMSNorm n(16, 1e-6);
  torch::NoGradGuard g;
  n->weight.copy_(torch::linspace(0.5, 1.5, 16));
  auto x = torch::randn({3, 16}).to(torch::kBFloat16);
  auto xf = x.to(torch::kFloat32);
  auto expect = (xf * torch::rsqrt(xf.pow(2).mean(-1, true) + 1e-6)).to(torch::kBFloat16) * n->weight;
  EXPECT_TRUE(torch::equal(n(x), expect));
}
