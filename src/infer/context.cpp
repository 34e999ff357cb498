#include "infer/context.h"

#include "core/error.h"
#include "model/qwen2.h"

namespace sgt::infer {

namespace {
torch::Tensor i64(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }
torch::Tensor arange(int64_t a, int64_t b) { return torch::arange(a, b, torch::kInt64); }
}  // namespace

std::pair<torch::Tensor, torch::Tensor> embed_chunk(model::Bagel& m, const Chunk& c) {
  const auto& cfg = m->config();
  const int64_t L = c.length, D = cfg.llm.hidden_size;
  SGT_CHECK(L > 0 && c.position_ids.defined() && c.position_ids.numel() == L, "infer.context",
            "a chunk needs length > 0 and {} position ids", L);
  auto& emb = m->language_model->model->embed_tokens;
  const auto opts = emb->weight.options();
  const auto dev = opts.device();
  auto covered = torch::zeros({L}, torch::kInt64);
  auto h = torch::zeros({L, D}, opts);
  auto gen = torch::zeros({L}, torch::TensorOptions().dtype(torch::kBool).device(dev));
  if (c.text_ids.defined() && c.text_ids.numel() > 0) {
    h.index_copy_(0, c.text_indexes.to(dev), emb(c.text_ids.to(dev)));
    covered.index_add_(0, c.text_indexes, torch::ones({c.text_indexes.numel()}, torch::kInt64));
  }
  if (c.vit_patches.defined() && c.vit_patches.size(0) > 0) {
    SGT_CHECK(cfg.visual_und, "infer.context", "ViT tokens given to a model built without visual_und");
    const int64_t P = c.vit_patches.size(0);
    auto pos = c.vit_position_ids.to(dev);
    auto v = m->vit_model(c.vit_patches.to(dev, opts.dtype()), pos, std::vector<int64_t>{P});
    v = m->connector(v) + m->vit_pos_embed(pos);
    h.index_copy_(0, c.vit_indexes.to(dev), v.to(opts.dtype()));
    covered.index_add_(0, c.vit_indexes, torch::ones({P}, torch::kInt64));
  }
  if (c.vae_tokens.defined() && c.vae_tokens.size(0) > 0) {
    SGT_CHECK(cfg.visual_gen, "infer.context", "VAE tokens given to a model built without visual_gen");
    const int64_t n = c.vae_tokens.size(0);
    SGT_CHECK(c.vae_tokens.size(1) == cfg.patch_latent_dim(), "infer.context", "VAE tokens {} need [n, {}]",
              sgt::shape_str(c.vae_tokens.sizes().vec()), cfg.patch_latent_dim());
    // Clean conditions use t = 0 and still get the time embedding of 0 (spec §2.2).
    auto x = m->vae2llm(c.vae_tokens.to(dev, opts.dtype())) + m->time_embedder(c.vae_timesteps.to(dev)) +
             m->latent_pos_embed(c.vae_position_ids.to(dev));
    auto idx = c.vae_indexes.to(dev);
    h.index_copy_(0, idx, x.to(opts.dtype()));
    gen.index_fill_(0, idx, true);
    covered.index_add_(0, c.vae_indexes, torch::ones({n}, torch::kInt64));
  }
  SGT_CHECK(covered.eq(1).all().item<bool>(), "infer.context",
            "text, ViT and VAE indexes must cover each of the {} chunk positions exactly once", L);
  return {h, gen};
}

torch::Tensor forward_chunk(model::Bagel& m, Context& ctx, const torch::Tensor& embeds, const torch::Tensor& gen_mask,
                            const torch::Tensor& position_ids, bool causal, bool update) {
  const auto& lc = m->config().llm;
  auto& lm = m->language_model->model;
  const int64_t n = embeds.size(0), H = lc.num_attention_heads, Hkv = lc.num_key_value_heads, d = lc.head_size();
  const int64_t layers = static_cast<int64_t>(lm->layers->size());
  SGT_CHECK(ctx.k.empty() || static_cast<int64_t>(ctx.k.size()) == layers, "infer.context",
            "context holds {} layers of cache, model has {}", ctx.k.size(), layers);
  model::Routing r = model::Routing::from_gen_mask(gen_mask);
  SGT_CHECK(lc.mot() || r.all_und(), "infer.context", "gen tokens need a Qwen2MoTDecoderLayer model");
  auto [cos, sin] = model::rope_cos_sin(position_ids.to(embeds.device()), d, lc.rope_theta);
  // Causal chunks: query i sees cached keys and chunk keys j <= i (flash-attn bottom-right alignment).
  torch::Tensor mask;
  const int64_t M = ctx.kv_len + n;
  if (causal && n > 1) {
    auto qi = torch::arange(n, torch::TensorOptions().dtype(torch::kInt64).device(embeds.device())).unsqueeze(1);
    auto kj = torch::arange(M, torch::TensorOptions().dtype(torch::kInt64).device(embeds.device())).unsqueeze(0);
    mask = kj <= (qi + ctx.kv_len);  // bool [n, M]
  }
  std::vector<torch::Tensor> new_k, new_v;
  auto h = embeds;
  for (int64_t li = 0; li < layers; ++li) {
    auto layer = lm->layers[li]->as<model::Qwen2MoTDecoderLayer>();
    auto& sa = layer->self_attn;
    auto x = r.apply(h, [&](const torch::Tensor& t) { return layer->input_layernorm(t); },
                     [&](const torch::Tensor& t) { return layer->input_layernorm_moe_gen(t); });
    auto project = [&](bool g) {
      return [&, g](const torch::Tensor& t) {
        const int64_t k = t.size(0);
        auto q = (g ? sa->q_proj_moe_gen : sa->q_proj)(t).view({k, H, d});
        auto kk = (g ? sa->k_proj_moe_gen : sa->k_proj)(t).view({k, Hkv, d});
        auto v = (g ? sa->v_proj_moe_gen : sa->v_proj)(t);
        if (lc.qk_norm) {
          q = (g ? sa->q_norm_moe_gen : sa->q_norm)(q);
          kk = (g ? sa->k_norm_moe_gen : sa->k_norm)(kk);
        }
        return torch::cat({q.reshape({k, H * d}), kk.reshape({k, Hkv * d}), v}, 1);
      };
    };
    auto qkv = r.apply(x, project(false), project(true));
    auto q = model::apply_rope(qkv.slice(1, 0, H * d).view({n, H, d}), cos, sin);
    auto k = model::apply_rope(qkv.slice(1, H * d, (H + Hkv) * d).view({n, Hkv, d}), cos, sin);
    auto v = qkv.slice(1, (H + Hkv) * d).reshape({n, Hkv, d});
    auto K = ctx.kv_len > 0 ? torch::cat({ctx.k[li], k}, 0) : k;  // [M, Hkv, d]
    auto V = ctx.kv_len > 0 ? torch::cat({ctx.v[li], v}, 0) : v;
    if (update) {
      new_k.push_back(K);
      new_v.push_back(V);
    }
    // GQA: query head j uses kv head j / (H / Hkv), as transformers' repeat_kv.
    auto Kr = K.repeat_interleave(H / Hkv, 1).transpose(0, 1);  // [H, M, d]
    auto Vr = V.repeat_interleave(H / Hkv, 1).transpose(0, 1);
    auto a = at::scaled_dot_product_attention(q.transpose(0, 1), Kr, Vr,
                                              mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt);
    a = a.transpose(0, 1).reshape({n, H * d});
    h = h + r.apply(a, [&](const torch::Tensor& t) { return sa->o_proj(t); },
                    [&](const torch::Tensor& t) { return sa->o_proj_moe_gen(t); });
    h = h + r.apply(h, [&](const torch::Tensor& t) { return layer->mlp(layer->post_attention_layernorm(t)); },
                    [&](const torch::Tensor& t) {
                      return layer->mlp_moe_gen(layer->post_attention_layernorm_moe_gen(t));
                    });
  }
  if (update) {
    ctx.k = std::move(new_k);
    ctx.v = std::move(new_v);
    ctx.kv_len += n;
  }
  return r.apply(h, [&](const torch::Tensor& t) { return lm->norm(t); },
                 [&](const torch::Tensor& t) { return lm->norm_moe_gen(t); });
}

void append_to_pack(model::BagelPackedInputs& in, std::vector<std::pair<int64_t, model::AttnMode>>& splits,
                    const Chunk& c, model::AttnMode mode) {
  const int64_t s = in.sequence_length;
  auto cat = [](torch::Tensor& a, const torch::Tensor& b) { a = a.defined() ? torch::cat({a, b}) : b; };
  cat(in.packed_text_ids, c.text_ids);
  cat(in.packed_text_indexes, c.text_indexes + s);
  cat(in.packed_position_ids, c.position_ids);
  if (c.vit_patches.defined()) {
    cat(in.packed_vit_tokens, c.vit_patches);
    cat(in.packed_vit_position_ids, c.vit_position_ids);
    cat(in.packed_vit_token_indexes, c.vit_indexes + s);
    in.vit_token_seqlens.push_back(c.vit_patches.size(0));
  }
  if (c.vae_tokens.defined()) {
    cat(in.packed_vae_tokens, c.vae_tokens);
    cat(in.packed_latent_position_ids, c.vae_position_ids);
    cat(in.packed_vae_token_indexes, c.vae_indexes + s);
    cat(in.packed_timesteps, c.vae_timesteps);
  }
  splits.emplace_back(c.length, mode);
  in.sequence_length += c.length;
}

Chunk text_chunk(const std::vector<int64_t>& ids, int64_t rope, const Markers& mk) {
  std::vector<int64_t> all;
  all.reserve(ids.size() + 2);
  all.push_back(mk.im_start);
  all.insert(all.end(), ids.begin(), ids.end());
  all.push_back(mk.im_end);
  Chunk c;
  c.length = static_cast<int64_t>(all.size());
  c.causal = true;
  c.text_ids = i64(all);
  c.text_indexes = arange(0, c.length);
  c.position_ids = arange(rope, rope + c.length);
  return c;
}

// An image of n tokens between <|vision_start|> and <|vision_end|>: n + 2 tokens, one full-attention split, every
// token at RoPE position `rope`; the caller fills in the n image tokens at indexes 1..n.
static Chunk image_frame(int64_t n, int64_t rope, const Markers& mk) {
  Chunk c;
  c.length = n + 2;
  c.causal = false;
  c.text_ids = i64({mk.vision_start, mk.vision_end});
  c.text_indexes = i64({0, n + 1});
  c.position_ids = torch::full({n + 2}, rope, torch::kInt64);
  return c;
}

Chunk vit_chunk(const model::BagelConfig& cfg, const torch::Tensor& image, int64_t rope, const Markers& mk) {
  const int64_t p = cfg.vit.patch_size;
  SGT_CHECK(image.dim() == 3 && image.size(0) == 3 && image.size(1) % p == 0 && image.size(2) % p == 0 &&
                image.size(1) > 0 && image.size(2) > 0,
            "infer.context", "ViT image {} must be [3, H, W] with H, W positive multiples of {}",
            sgt::shape_str(image.sizes().vec()), p);
  const int64_t gh = image.size(1) / p, gw = image.size(2) / p, P = gh * gw;
  SGT_CHECK(gh <= cfg.vit_max_num_patch_per_side && gw <= cfg.vit_max_num_patch_per_side, "infer.context",
            "ViT grid {}x{} exceeds vit_max_num_patch_per_side {}", gh, gw, cfg.vit_max_num_patch_per_side);
  Chunk c = image_frame(P, rope, mk);
  c.vit_patches = model::vit_patchify(image, p);
  c.vit_position_ids = model::vit_position_ids(gh, gw, cfg.vit_max_num_patch_per_side);
  c.vit_indexes = arange(1, P + 1);
  return c;
}

Chunk vae_chunk(const model::BagelConfig& cfg, const torch::Tensor& tokens, int64_t h, int64_t w, double t,
                int64_t rope, const Markers& mk) {
  const int64_t N = h * w;
  SGT_CHECK(tokens.dim() == 2 && tokens.size(0) == N && tokens.size(1) == cfg.patch_latent_dim(), "infer.context",
            "latent tokens {} must be [{}, {}]", sgt::shape_str(tokens.sizes().vec()), N, cfg.patch_latent_dim());
  SGT_CHECK(h <= cfg.max_latent_size && w <= cfg.max_latent_size, "infer.context",
            "latent grid {}x{} exceeds max_latent_size {}", h, w, cfg.max_latent_size);
  Chunk c = image_frame(N, rope, mk);
  c.vae_tokens = tokens;
  auto ii = torch::arange(h, torch::kInt64).unsqueeze(1), jj = torch::arange(w, torch::kInt64).unsqueeze(0);
  c.vae_position_ids = (ii * cfg.max_latent_size + jj).flatten();
  c.vae_timesteps = torch::full({N}, t, torch::kFloat32);
  c.vae_indexes = arange(1, N + 1);
  return c;
}

namespace {
void add_chunk(model::Bagel& m, Context& ctx, const Chunk& c) {
  auto [e, g] = embed_chunk(m, c);
  forward_chunk(m, ctx, e, g, c.position_ids, c.causal, /*update=*/true);
}
}  // namespace

void add_text(model::Bagel& m, Context& ctx, const std::vector<int64_t>& ids, const Markers& mk) {
  auto c = text_chunk(ids, ctx.rope, mk);
  add_chunk(m, ctx, c);
  ctx.rope += c.length;
}

void add_vit_image(model::Bagel& m, Context& ctx, const torch::Tensor& image, const Markers& mk) {
  add_chunk(m, ctx, vit_chunk(m->config(), image, ctx.rope, mk));
  ctx.rope += 1;
}

void add_vae_image(model::Bagel& m, Context& ctx, const torch::Tensor& tokens, int64_t h, int64_t w,
                   const Markers& mk) {
  add_chunk(m, ctx, vae_chunk(m->config(), tokens, h, w, 0.0, ctx.rope, mk));
  ctx.rope += 1;
}

}  // namespace sgt::infer
