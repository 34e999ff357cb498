// Fresh-weight schemes of model/init.h: BAGEL's init_moe copy, mimetic q/k (per GQA group), SigLIP's own
// embedding init, and the scheme parser's errors.
#include <map>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/bagel.h"
#include "model/init.h"
#include "model_test_util.h"

using namespace sgt;
using namespace sgt::model;

namespace {

std::map<std::string, torch::Tensor> cloned_params(Bagel& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : m->named_parameters(true)) out[kv.key()] = kv.value().detach().clone();
  return out;
}

}  // namespace

TEST(ModelInit, CopyInitMoeMakesEveryGenTensorItsUnderstandingTwin) {
  torch::manual_seed(1);
  Bagel m(test::tiny_bagel());
  int64_t gen_tensors = 0;
  for (const auto& kv : m->named_parameters(true))
    if (kv.key().find("_moe_gen") != std::string::npos) ++gen_tensors;
  ASSERT_GT(gen_tensors, 0);
  EXPECT_EQ(copy_init_moe(m), gen_tensors);
  auto p = cloned_params(m);
  for (const auto& [name, t] : p) {
    const auto at = name.find("_moe_gen");
    if (at == std::string::npos) continue;
    const auto twin = name.substr(0, at) + name.substr(at + 8);
    EXPECT_TRUE(torch::equal(t, p.at(twin))) << name;
  }
  // The two experts really were different before: a fresh model's q_proj and q_proj_moe_gen differ.
  Bagel fresh(test::tiny_bagel());
  auto f = cloned_params(fresh);
  EXPECT_FALSE(torch::equal(f.at("language_model.model.layers.0.self_attn.q_proj.weight"),
                            f.at("language_model.model.layers.0.self_attn.q_proj_moe_gen.weight")));
}

TEST(ModelInit, MimeticQueryEqualsKeyOfItsGroupPlusScaledNoise) {
  const auto c = test::tiny_bagel();  // LLM: 4 query heads over 2 key/value heads, head_dim 8; ViT: 2 heads
  torch::manual_seed(2);
  Bagel m(c);
  const auto before = cloned_params(m);
  const int64_t rewritten = mimetic_qk_init(m, 0.25);
  // Per LLM layer q_proj and q_proj_moe_gen; per ViT layer q_proj.
  EXPECT_EQ(rewritten, c.llm.num_hidden_layers * 2 + c.vit.num_hidden_layers);
  const auto after = cloned_params(m);
  const int64_t d = c.llm.head_size(), group = c.llm.num_attention_heads / c.llm.num_key_value_heads;
  for (const std::string e : {"", "_moe_gen"}) {
    for (const std::string kind : {"weight", "bias"}) {
      const std::string base = "language_model.model.layers.1.self_attn.";
      const auto q0 = before.at(base + "q_proj" + e + "." + kind);
      const auto q = after.at(base + "q_proj" + e + "." + kind);
      const auto k = after.at(base + "k_proj" + e + "." + kind);
      EXPECT_TRUE(torch::equal(k, before.at(base + "k_proj" + e + "." + kind)));  // keys are left alone
      for (int64_t h = 0; h < c.llm.num_attention_heads; ++h) {
        const auto expect = k.narrow(0, (h / group) * d, d) + 0.25 * q0.narrow(0, h * d, d);
        EXPECT_TRUE(torch::allclose(q.narrow(0, h * d, d), expect, 0, 1e-6)) << e << kind << " head " << h;
      }
    }
  }
  const std::string vit = "vit_model.vision_model.encoder.layers.0.self_attn.";
  EXPECT_TRUE(torch::allclose(after.at(vit + "q_proj.weight"),
                              before.at(vit + "k_proj.weight") + 0.25 * before.at(vit + "q_proj.weight"), 0, 1e-6));
  // The point of the scheme: identical inputs now score high. Mean q.k over random inputs is positive.
  auto x = torch::randn({256, c.llm.hidden_size});
  const auto wq = after.at("language_model.model.layers.0.self_attn.q_proj.weight").narrow(0, 0, d);
  const auto wk = after.at("language_model.model.layers.0.self_attn.k_proj.weight").narrow(0, 0, d);
  const double self_score = (torch::matmul(x, wq.t()) * torch::matmul(x, wk.t())).sum(1).mean().item<double>();
  const auto wq0 = before.at("language_model.model.layers.0.self_attn.q_proj.weight").narrow(0, 0, d);
  const double random_score = (torch::matmul(x, wq0.t()) * torch::matmul(x, wk.t())).sum(1).mean().item<double>();
  EXPECT_GT(self_score, 5 * std::abs(random_score));
}

TEST(ModelInit, SiglipSchemeScalesThePositionTableAndSchemesParse) {
  torch::manual_seed(3);
  Bagel m(test::tiny_bagel());
  const std::string emb = "vit_model.vision_model.embeddings.";
  const double default_std = cloned_params(m).at(emb + "position_embedding.weight").std().item<double>();
  EXPECT_NEAR(default_std, 1.0, 0.05);  // libtorch's Embedding default, the reason for the scheme
  apply_init_scheme(m, "siglip+mimetic");
  const auto p = cloned_params(m);
  const int64_t width = test::tiny_bagel().vit.hidden_size;
  EXPECT_NEAR(p.at(emb + "position_embedding.weight").std().item<double>(), 1.0 / std::sqrt(width), 0.01);
  const int64_t fan_in = p.at(emb + "patch_embedding.weight").size(1);
  EXPECT_NEAR(p.at(emb + "patch_embedding.weight").std().item<double>(), 1.0 / std::sqrt(fan_in), 0.01);
  EXPECT_EQ(p.at(emb + "patch_embedding.bias").abs().max().item<double>(), 0.0);
  EXPECT_EQ(split_scheme("default").size(), 1u);
  EXPECT_EQ(split_scheme("siglip+mimetic").size(), 2u);
  EXPECT_THROW(split_scheme("mimetic+xavier"), sgt::Error);
  EXPECT_THROW(split_scheme("siglip+"), sgt::Error);
  EXPECT_THROW(apply_init_scheme(m, "bogus"), sgt::Error);
}

TEST(ModelInit, CentringMakesEachExpertsMeanQueryAndKeyZeroOnTheBatch) {
  const auto c = test::tiny_bagel();
  torch::manual_seed(4);
  Bagel m(c);
  apply_init_scheme(m, "mimetic");
  copy_init_moe(m);
  auto in = test::two_sample_pack(c);
  const auto vit = in.packed_vit_token_indexes, vae = in.packed_vae_token_indexes;
  EXPECT_EQ(centre_qk_biases(m, in, vit, vae), c.llm.num_hidden_layers);
  // Layer 0's input does not depend on the biases: recompute q and k from it by hand.
  torch::Tensor x0;
  auto probe = in;
  probe.hooks.on_input = [&](const torch::Tensor& h) { x0 = h.detach().clone(); };
  {
    torch::NoGradGuard ng;
    m->forward(probe);
  }
  ASSERT_TRUE(x0.defined());
  std::map<std::string, torch::Tensor> p;
  for (const auto& kv : m->named_parameters(true)) p[kv.key()] = kv.value().detach();
  const std::string base = "language_model.model.layers.0.";
  for (const std::string e : {"", "_moe_gen"}) {
    auto x = x0.index_select(0, e.empty() ? vit : vae);
    x = x * torch::rsqrt(x.pow(2).mean(-1, true) + c.llm.rms_norm_eps) * p.at(base + "input_layernorm" + e + ".weight");
    for (const std::string proj : {"q_proj", "k_proj"}) {
      const auto w = p.at(base + "self_attn." + proj + e + ".weight"), b = p.at(base + "self_attn." + proj + e + ".bias");
      const auto out = torch::matmul(x, w.t()) + b;
      EXPECT_LE(out.mean(0).abs().max().item<double>(), 1e-5 * out.abs().max().item<double>()) << proj << e;
      EXPECT_GT(out.abs().max().item<double>(), 0.1);  // the deviations themselves are kept
    }
  }
  EXPECT_THROW(centre_qk_biases(m, in, vit, torch::zeros({0}, torch::kInt64)), sgt::Error);
}

TEST(ModelInit, CrossRedrawsOnlyTheGenerationKeys) {
  const auto c = test::tiny_bagel();
  torch::manual_seed(5);
  Bagel m(c);
  apply_init_scheme(m, "mimetic+cross");  // cross is applied by the caller after copy_init_moe: a no-op here
  copy_init_moe(m);
  const auto before = cloned_params(m);
  EXPECT_EQ(redraw_gen_keys(m), c.llm.num_hidden_layers);
  const auto after = cloned_params(m);
  for (const auto& [name, t] : after) {
    const bool gen_key = name.find(".k_proj_moe_gen.") != std::string::npos;
    EXPECT_EQ(torch::equal(t, before.at(name)), !gen_key) << name;
  }
  // The generation queries still mimic the understanding keys (per group), not the redrawn generation keys.
  const std::string base = "language_model.model.layers.0.self_attn.";
  const int64_t d = c.llm.head_size();
  const auto q = after.at(base + "q_proj_moe_gen.weight").narrow(0, 0, d);
  auto x = torch::randn({256, c.llm.hidden_size});
  auto score = [&](const torch::Tensor& k) {
    return (torch::matmul(x, q.t()) * torch::matmul(x, k.narrow(0, 0, d).t())).sum(1).mean().item<double>();
  };
  EXPECT_GT(score(after.at(base + "k_proj.weight")), 5 * std::abs(score(after.at(base + "k_proj_moe_gen.weight"))));
}

// initialise = the by-hand sequence (scheme parts, copy, cross, centred on the probe batch), with the same seed;
// the probe is asked for only when the scheme centres, and centring without one is an error.
TEST(ModelInit, InitialiseAppliesThePartsInTheirOneOrder) {
  const auto c = test::tiny_bagel();
  const auto in = test::two_sample_pack(c);
  torch::manual_seed(6);
  Bagel by_hand(c);
  apply_init_scheme(by_hand, "siglip+mimetic+cross+centred");
  copy_init_moe(by_hand);
  redraw_gen_keys(by_hand);
  centre_qk_biases(by_hand, in, in.packed_vit_token_indexes, in.packed_vae_token_indexes);
  torch::manual_seed(6);
  Bagel m(c);
  int probes = 0;
  const auto summary = initialise(m, "siglip+mimetic+cross+centred", true, [&] {
    ++probes;
    return InitProbe{in, in.packed_vit_token_indexes, in.packed_vae_token_indexes};
  });
  EXPECT_EQ(probes, 1);
  EXPECT_NE(summary.find("centred in 2 layers"), std::string::npos) << summary;
  const auto a = cloned_params(by_hand), b = cloned_params(m);
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  torch::manual_seed(6);
  Bagel plain(c);
  EXPECT_NO_THROW(initialise(plain, "mimetic", false, [&]() -> InitProbe {
    ADD_FAILURE() << "no probe without 'centred'";
    return {};
  }));
  EXPECT_THROW(initialise(plain, "centred", false, nullptr), sgt::Error);
  EXPECT_THROW(initialise(plain, "mimetic+bogus", false, nullptr), sgt::Error);
}
