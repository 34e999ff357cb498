#include "model/bagel.h"

#include "core/error.h"

namespace sgt::model {

BagelImpl::BagelImpl(const BagelConfig& c) : config_(c) {
  c.validate();
  const int64_t D = c.llm.hidden_size;
  language_model = register_module("language_model", Qwen2ForCausalLM(c.llm));
  if (c.visual_gen) {
    time_embedder = register_module("time_embedder", TimestepEmbedder(D));
    vae2llm = register_module("vae2llm", Linear(c.patch_latent_dim(), D));
    llm2vae = register_module("llm2vae", Linear(D, c.patch_latent_dim()));
    latent_pos_embed = register_module("latent_pos_embed", PositionEmbedding(c.max_latent_size, D));
  }
  if (c.visual_und) {
    vit_model = register_module("vit_model", SiglipVisionModel(c.vit));
    connector = register_module("connector", MLPConnector(c.vit.hidden_size, D, D));
    vit_pos_embed = register_module("vit_pos_embed", PositionEmbedding(c.vit_max_num_patch_per_side, D));
  }
}

std::pair<torch::Tensor, torch::Tensor> BagelImpl::embed(const BagelPackedInputs& in) {
  const int64_t L = in.sequence_length, D = config_.llm.hidden_size;
  auto& emb = language_model->model->embed_tokens;
  const auto opts = emb->weight.options();
  const auto dev = opts.device();
  SGT_CHECK(L > 0, "model.bagel", "a packed sequence needs at least one token, got {}", L);
  // How often each position is covered: once by exactly one of text / ViT / VAE tokens.
  auto filled = torch::zeros({L}, torch::kInt64);
  auto cover = [&](const torch::Tensor& idx) {
    filled.index_add_(0, idx.cpu(), torch::ones({idx.size(0)}, torch::kInt64));
  };
  auto h = torch::zeros({L, D}, opts);
  auto gen_mask = torch::zeros({L}, torch::TensorOptions().dtype(torch::kBool).device(dev));
  if (in.packed_text_ids.defined() && in.packed_text_ids.numel() > 0) {
    SGT_CHECK(in.packed_text_indexes.defined() && in.packed_text_ids.sizes() == in.packed_text_indexes.sizes(),
              "model.bagel", "packed_text_ids and packed_text_indexes must have the same shape");
    h = h.index_copy(0, in.packed_text_indexes.to(dev), emb(in.packed_text_ids.to(dev)));
    cover(in.packed_text_indexes);
  }
  if (in.packed_vit_tokens.defined() && in.packed_vit_tokens.size(0) > 0) {
    SGT_CHECK(config_.visual_und, "model.bagel", "ViT tokens given to a model built without visual_und");
    vit_model->vision_model->checkpoint_layers = in.checkpoint;
    auto pos = in.packed_vit_position_ids.to(dev);
    auto v = vit_model(in.packed_vit_tokens.to(dev, opts.dtype()), pos, in.vit_token_seqlens);
    v = connector(v) + vit_pos_embed(pos);
    h = h.index_copy(0, in.packed_vit_token_indexes.to(dev), v.to(opts.dtype()));
    cover(in.packed_vit_token_indexes);
  }
  if (in.packed_vae_tokens.defined() && in.packed_vae_tokens.size(0) > 0) {
    SGT_CHECK(config_.visual_gen, "model.bagel", "VAE tokens given to a model built without visual_gen");
    const int64_t n = in.packed_vae_tokens.size(0);
    SGT_CHECK(in.packed_vae_tokens.dim() == 2 && in.packed_vae_tokens.size(1) == config_.patch_latent_dim() &&
                  in.packed_timesteps.size(0) == n && in.packed_latent_position_ids.size(0) == n &&
                  in.packed_vae_token_indexes.size(0) == n,
              "model.bagel", "VAE tokens {} need [n, {}] with n timesteps, position ids and indexes",
              sgt::shape_str(in.packed_vae_tokens.sizes().vec()), config_.patch_latent_dim());
    // Clean condition images have t = 0 and still get the time embedding of 0 (docs/attention.md).
    auto x = vae2llm(in.packed_vae_tokens.to(dev, opts.dtype())) + time_embedder(in.packed_timesteps.to(dev)) +
             latent_pos_embed(in.packed_latent_position_ids.to(dev));
    auto idx = in.packed_vae_token_indexes.to(dev);
    h = h.index_copy(0, idx, x.to(opts.dtype()));
    gen_mask.index_fill_(0, idx, true);
    cover(in.packed_vae_token_indexes);
  }
  SGT_CHECK(filled.eq(1).all().item<bool>(), "model.bagel",
            "text, ViT and VAE indexes must cover each of the {} positions exactly once", L);
  return {h, gen_mask};
}

torch::Tensor BagelImpl::forward(const BagelPackedInputs& in) {
  auto [h, gen_mask] = embed(in);
  PackedForward pf;
  pf.position_ids = in.packed_position_ids;
  pf.gen_mask = gen_mask;
  pf.layout = in.layout;
  pf.impl = in.impl;
  pf.checkpoint_layers = in.checkpoint;
  pf.hooks = in.hooks;
  return language_model->model(h, pf);
}

torch::Tensor BagelImpl::text_logits(const torch::Tensor& hidden, const torch::Tensor& indexes) {
  return language_model->lm_head(hidden.index_select(0, indexes));
}

torch::Tensor BagelImpl::velocity(const torch::Tensor& hidden, const torch::Tensor& indexes, const torch::Tensor& x_t,
                                  const torch::Tensor& t) {
  SGT_CHECK(config_.visual_gen, "model.bagel", "velocity() needs a model built with visual_gen");
  auto out = llm2vae(hidden.index_select(0, indexes));  // [n, D]
  if (config_.prediction == Prediction::kVelocity) return out;
  const int64_t n = indexes.size(0);
  SGT_CHECK(x_t.defined() && t.defined() && x_t.dim() == 2 && x_t.size(0) == n && x_t.size(1) == out.size(1) &&
                t.dim() == 1 && t.size(0) == n,
            "model.bagel", "x0 prediction needs x_t [{}, {}] and t [{}], got {} and {}", n, out.size(1), n,
            x_t.defined() ? sgt::shape_str(x_t.sizes().vec()) : "none",
            t.defined() ? sgt::shape_str(t.sizes().vec()) : "none");
  // x_t = (1 - t) x0 + t eps  =>  v = eps - x0 = (x_t - x0) / t; the floor bounds the gain near t = 0.
  const auto denom = t.to(out.options()).clamp_min(config_.prediction_t_min).unsqueeze(1);
  return (x_t.to(out.options()) - out) / denom;
}

torch::Tensor patchify_latent(const torch::Tensor& latent, int64_t p) {
  SGT_CHECK(latent.dim() == 3 && latent.size(1) % p == 0 && latent.size(2) % p == 0, "model.bagel",
            "latent {} must be [C, H, W] with H, W multiples of {}", sgt::shape_str(latent.sizes().vec()), p);
  const int64_t C = latent.size(0), h = latent.size(1) / p, w = latent.size(2) / p;
  // [C, h, py, w, px] -> [h, w, py, px, C]
  return latent.reshape({C, h, p, w, p}).permute({1, 3, 2, 4, 0}).reshape({h * w, p * p * C});
}

torch::Tensor unpatchify_latent(const torch::Tensor& tokens, int64_t h, int64_t w, int64_t p, int64_t channels) {
  SGT_CHECK(tokens.dim() == 2 && tokens.size(0) == h * w && tokens.size(1) == p * p * channels, "model.bagel",
            "tokens {} must be [{}, {}]", sgt::shape_str(tokens.sizes().vec()), h * w, p * p * channels);
  // [h, w, py, px, C] -> [C, h, py, w, px]
  return tokens.reshape({h, w, p, p, channels}).permute({4, 0, 2, 1, 3}).reshape({channels, h * p, w * p});
}

}  // namespace sgt::model
