// The decoder's analysis hooks (model/qwen2.h ForwardHooks) on a tiny random BAGEL (tests/infer/infer_testing.h):
// they change no output; the per-layer hidden states they report equal a by-hand re-computation of every layer
// (q / k / v projections, q/k-norm, RoPE, the packed attention rule, explicit softmax, o_proj, MLP, per-token
// expert routing); the attention shares from the hook equal shares read off the explicitly materialised
// probability matrix softmax(q k^T / sqrt(d) + mask); and the analysis sample is the `sgt chat` layout.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "eval/attention.h"
#include "eval/model_analysis.h"
#include "infer/generate.h"
#include "infer/infer_testing.h"
#include "text/tokenizer.h"

namespace sgt::eval {
namespace {
using model::AttnMode;

// The packed attention rule of model/attention.h written out per (query, key) for one sample: bool [L, L].
torch::Tensor rule_mask(const std::vector<std::pair<int64_t, AttnMode>>& splits) {
  std::vector<int64_t> split_of;
  std::vector<AttnMode> mode_of;
  for (size_t s = 0; s < splits.size(); ++s)
    for (int64_t i = 0; i < splits[s].first; ++i) {
      split_of.push_back(static_cast<int64_t>(s));
      mode_of.push_back(splits[s].second);
    }
  const int64_t L = static_cast<int64_t>(split_of.size());
  auto mask = torch::zeros({L, L}, torch::kBool);
  auto acc = mask.accessor<bool, 2>();
  for (int64_t q = 0; q < L; ++q)
    for (int64_t k = 0; k < L; ++k) {
      const bool same = split_of[q] == split_of[k];
      const bool seen = k <= q || (same && mode_of[q] != AttnMode::kCausal);
      acc[q][k] = seen && !(mode_of[k] == AttnMode::kNoise && !same);
    }
  return mask;
}

// x [L, H, d], positions [L]: rotate-half RoPE with inv_freq_j = theta^(-2j/d).
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& pos, double theta) {
  const int64_t d = x.size(2);
  auto inv = torch::pow(theta, -torch::arange(0, d, 2, torch::kFloat32) / static_cast<double>(d));
  auto ang = pos.to(torch::kFloat32).unsqueeze(1) * inv.unsqueeze(0);  // [L, d/2]
  auto emb = torch::cat({ang, ang}, 1).unsqueeze(1);                     // [L, 1, d]
  auto rot = torch::cat({-x.slice(2, d / 2), x.slice(2, 0, d / 2)}, 2);
  return x * emb.cos() + rot * emb.sin();
}

TEST(ModelHooks, ChangeNothingAndMatchAByHandForwardAndExplicitAttention) {
  auto m = infer_testing::tiny_model(11);
  const auto& cfg = m->config();
  const auto tok = text::Tokenizer::load(infer_testing::tokenizer_path());
  const infer::Markers mk = infer::markers_from(tok);
  torch::NoGradGuard ng;
  torch::manual_seed(3);
  // One sample with every kind of split: text (causal), ViT (full), clean VAE (full), noisy VAE, text.
  model::BagelPackedInputs in;
  std::vector<std::pair<int64_t, AttnMode>> splits;
  const int64_t pld = cfg.patch_latent_dim();
  infer_testing::append(in, splits, infer::text_chunk({9707, 11, 1879}, 0, mk), AttnMode::kCausal);
  infer_testing::append(in, splits, infer::vit_chunk(cfg, torch::rand({3, 28, 42}) * 2 - 1, 5, mk), AttnMode::kFull);
  infer_testing::append(in, splits, infer::vae_chunk(cfg, torch::randn({4, pld}), 2, 2, 0.0, 6, mk), AttnMode::kFull);
  infer_testing::append(in, splits, infer::vae_chunk(cfg, torch::randn({4, pld}), 2, 2, 0.6, 7, mk), AttnMode::kNoise);
  infer_testing::append(in, splits, infer::text_chunk({3555, 374}, 7, mk), AttnMode::kCausal);
  in.layout = model::PackLayout::from_samples({splits});
  const int64_t L = in.sequence_length, layers = cfg.llm.num_hidden_layers;
  std::vector<KeyType> types(L, KeyType::kText);
  for (int64_t i = 0; i < in.packed_vit_token_indexes.numel(); ++i)
    types[in.packed_vit_token_indexes[i].item<int64_t>()] = KeyType::kVit;
  for (int64_t i = 0; i < in.packed_vae_token_indexes.numel(); ++i)
    types[in.packed_vae_token_indexes[i].item<int64_t>()] = KeyType::kVae;
  const auto gen = torch::zeros({L}, torch::kBool).index_fill(0, in.packed_vae_token_indexes, true);  // [L]
  const auto mask = rule_mask(splits);
  // Queries: the last text token, a ViT patch, a noisy latent (each with its own row of the rule).
  const std::vector<int64_t> queries = {L - 1, in.packed_vit_token_indexes[2].item<int64_t>(),
                                        in.packed_vae_token_indexes[6].item<int64_t>()};
  const auto qidx = torch::tensor(queries, torch::kInt64);

  const torch::Tensor plain = m->forward(in);
  AttentionAllocation alloc(layers);
  alloc.set_sample(types, queries, mask.index_select(0, qidx));
  std::vector<torch::Tensor> hidden(layers), hq(layers), hk(layers);
  model::BagelPackedInputs hooked = in;
  hooked.hooks.on_layer = [&](int64_t l, const torch::Tensor& h) { hidden[l] = h.clone(); };
  auto shares_hook = alloc.hook();
  hooked.hooks.on_attention = [&](int64_t l, const torch::Tensor& q, const torch::Tensor& k) {
    hq[l] = q.clone();
    hk[l] = k.clone();
    shares_hook(l, q, k);
  };
  const torch::Tensor observed = m->forward(hooked);
  // (a) the hooks change nothing: identical hidden states and logits.
  ASSERT_TRUE(torch::equal(plain, observed));
  EXPECT_TRUE(torch::equal(m->text_logits(plain, in.packed_text_indexes), m->text_logits(observed, in.packed_text_indexes)));
  const auto shares = alloc.mean();

  // By hand: the embeddings of Bagel::forward, then every layer with both experts computed for all tokens and
  // picked per token by the gen mask.
  auto& lm = m->language_model->model;
  auto x = torch::zeros({L, cfg.llm.hidden_size});
  x.index_copy_(0, in.packed_text_indexes, lm->embed_tokens(in.packed_text_ids));
  auto vit = m->vit_model(in.packed_vit_tokens, in.packed_vit_position_ids, in.vit_token_seqlens);
  x.index_copy_(0, in.packed_vit_token_indexes, m->connector(vit) + m->vit_pos_embed(in.packed_vit_position_ids));
  x.index_copy_(0, in.packed_vae_token_indexes, m->vae2llm(in.packed_vae_tokens) + m->time_embedder(in.packed_timesteps) +
                                                    m->latent_pos_embed(in.packed_latent_position_ids));
  const int64_t H = cfg.llm.num_attention_heads, Hkv = cfg.llm.num_key_value_heads, d = cfg.llm.head_size();
  auto pick = [&](const torch::Tensor& und, const torch::Tensor& g) {
    auto sel = gen;
    while (sel.dim() < und.dim()) sel = sel.unsqueeze(-1);
    return torch::where(sel, g, und);
  };
  for (int64_t l = 0; l < layers; ++l) {
    auto* layer = lm->layers[l]->as<model::Qwen2MoTDecoderLayer>();
    auto& sa = layer->self_attn;
    auto n = pick(layer->input_layernorm(x), layer->input_layernorm_moe_gen(x));
    auto q = pick(sa->q_norm(sa->q_proj(n).view({L, H, d})), sa->q_norm_moe_gen(sa->q_proj_moe_gen(n).view({L, H, d})));
    auto k = pick(sa->k_norm(sa->k_proj(n).view({L, Hkv, d})),
                  sa->k_norm_moe_gen(sa->k_proj_moe_gen(n).view({L, Hkv, d})));
    auto v = pick(sa->v_proj(n), sa->v_proj_moe_gen(n)).view({L, Hkv, d});
    q = rope(q, in.packed_position_ids, cfg.llm.rope_theta);
    k = rope(k, in.packed_position_ids, cfg.llm.rope_theta);
    // The hook's q / k are the post-RoPE tensors (shapes documented in ForwardHooks).
    ASSERT_EQ(hq[l].sizes(), q.sizes());
    ASSERT_EQ(hk[l].sizes(), k.sizes());
    EXPECT_TRUE(torch::allclose(hq[l], q, 1e-5, 1e-5)) << "layer " << l;
    EXPECT_TRUE(torch::allclose(hk[l], k, 1e-5, 1e-5)) << "layer " << l;
    // (b) the explicit probability matrix [H, L, L] and its shares at the chosen queries.
    auto kr = k.repeat_interleave(H / Hkv, 1), vr = v.repeat_interleave(H / Hkv, 1);
    auto scores = torch::matmul(q.permute({1, 0, 2}), kr.permute({1, 2, 0})) / std::sqrt(static_cast<double>(d));
    auto probs = torch::softmax(scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity()), -1);
    auto rows = probs.index_select(1, qidx).to(torch::kDouble);  // [H, nq, L]
    double sum[3] = {0, 0, 0};
    for (int64_t key = 0; key < L; ++key) sum[static_cast<int>(types[key])] += rows.select(2, key).mean().item<double>();
    EXPECT_NEAR(shares[l].text, sum[0], 1e-5) << "layer " << l;
    EXPECT_NEAR(shares[l].vit, sum[1], 1e-5) << "layer " << l;
    EXPECT_NEAR(shares[l].vae, sum[2], 1e-5) << "layer " << l;
    EXPECT_GT(sum[1], 0.0);
    EXPECT_GT(sum[2], 0.0);  // the noisy query sees its own split (and the clean one)
    // (c) the rest of the layer by hand equals the observer's hidden states.
    auto a = torch::matmul(probs, vr.permute({1, 0, 2})).permute({1, 0, 2}).reshape({L, H * d});
    auto h = x + pick(sa->o_proj(a), sa->o_proj_moe_gen(a));
    h = h + pick(layer->mlp(layer->post_attention_layernorm(h)),
                 layer->mlp_moe_gen(layer->post_attention_layernorm_moe_gen(h)));
    EXPECT_TRUE(torch::allclose(hidden[l], h, 1e-4, 1e-4))
        << "layer " << l << " max diff " << (hidden[l] - h).abs().max().item<double>();
    x = hidden[l];
  }
  // The last layer's observed state is the final pre-norm hidden state.
  EXPECT_TRUE(torch::allclose(pick(lm->norm(x), lm->norm_moe_gen(x)), plain, 1e-5, 1e-5));

  // Hooks and activation checkpointing do not mix (the recomputation would report twice).
  hooked.checkpoint = true;
  EXPECT_THROW(m->forward(hooked), sgt::Error);
}

TEST(ModelHooks, UnderstandingSampleIsTheChatLayoutAndFeaturesPoolTheObserver) {
  auto m = infer_testing::tiny_model(12);
  const auto tok = text::Tokenizer::load(infer_testing::tokenizer_path());
  const infer::Markers mk = infer::markers_from(tok);
  torch::NoGradGuard ng;
  data::Image im(30, 44, 3);
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>((i * 53) % 241);
  const std::string prompt = "What is shown?";
  const auto s = understanding_sample(m, tok, im, prompt, 28, 42);
  ASSERT_EQ(s.image_positions.size(), 6u);  // 2 x 3 patches of 14 px
  EXPECT_EQ(s.query_position, s.inputs.sequence_length - 1);
  int64_t vit_keys = 0;
  for (KeyType t : s.key_types) vit_keys += t == KeyType::kVit;
  EXPECT_EQ(vit_keys, 6);

  // The query's logits equal the first decoding step of `sgt chat` (infer::understand's context).
  const torch::Tensor hid = m->forward(s.inputs);
  infer::Context c;
  infer::add_vit_image(m, c, infer::prepare_image(im, 28, 42, 14), mk);
  const auto ids = tok.encode(prompt);
  infer::add_text(m, c, std::vector<int64_t>(ids.begin(), ids.end()), mk);
  infer::TextGenOptions one;
  one.max_length = 1;
  const auto first = infer::decode_text(m, tok, c, one, mk, /*keep_logits=*/true);
  ASSERT_EQ(first.logits.size(), 1u);
  const auto logits = m->text_logits(hid, torch::tensor({s.query_position}, torch::kInt64))[0];
  EXPECT_TRUE(torch::allclose(logits, first.logits[0], 1e-4, 1e-4))
      << (logits - first.logits[0]).abs().max().item<double>();

  // Features: pooled observer states; the last layer's query state is the final pre-norm one.
  std::vector<torch::Tensor> obs(m->config().llm.num_hidden_layers);
  model::BagelPackedInputs hooked = s.inputs;
  hooked.hooks.on_layer = [&](int64_t l, const torch::Tensor& h) { obs[l] = h.clone(); };
  m->forward(hooked);
  const auto mean = layer_features(m, s, FeaturePool::kImageMean), last = layer_features(m, s, FeaturePool::kLastToken);
  ASSERT_EQ(mean.sizes().vec(), (std::vector<int64_t>{2, 64}));
  const auto img = torch::tensor(s.image_positions, torch::kInt64);
  for (size_t l = 0; l < obs.size(); ++l) {
    EXPECT_TRUE(torch::allclose(mean[l], obs[l].index_select(0, img).mean(0), 1e-6, 1e-6)) << l;
    EXPECT_TRUE(torch::equal(last[l], obs[l][s.query_position])) << l;
  }
  EXPECT_TRUE(torch::allclose(m->language_model->model->norm(last[1]), hid[s.query_position], 1e-5, 1e-5));

  // The allocation over this sample: no VAE keys, text + ViT shares sum to one per layer.
  AttentionAllocation alloc(2);
  add_attention_sample(m, s, alloc);
  for (const auto& sh : alloc.mean()) {
    EXPECT_EQ(sh.vae, 0.0);
    EXPECT_GT(sh.vit, 0.0);
    EXPECT_NEAR(sh.text + sh.vit, 1.0, 1e-6);  // float32 softmax
  }
}

}  // namespace
}  // namespace sgt::eval
