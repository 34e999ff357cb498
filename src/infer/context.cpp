#include "infer/context.h"

#include "core/error.h"
#include "model/qwen2.h"

#include <utility>

namespace sgt::infer {

namespace {
torch::Tensor i64(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }
torch::Tensor arange(int64_t a, int64_t b) { return torch::arange(a, b, torch::kInt64); }
}  // namespace

std::pair<torch::Tensor, torch::Tensor> embed_chunk(model::Bagel& m, const Chunk& c) {
  SGT_CHECK(c.length > 0 && c.position_ids.defined() && c.position_ids.numel() == c.length, "infer.context",
            "a chunk needs length > 0 and {} position ids", c.length);
  model::BagelPackedInputs in;
  std::vector<std::pair<int64_t, model::AttnMode>> splits;
  append_to_pack(in, splits, c, c.mode);
  return m->embed(in);
}

torch::Tensor forward_chunk(model::Bagel& m, Context& ctx, const torch::Tensor& embeds, const torch::Tensor& gen_mask,
                            const torch::Tensor& position_ids, model::AttnMode mode, bool update) {
  model::PackedForward pf;
  pf.position_ids = position_ids;
  pf.gen_mask = gen_mask;
  pf.layout = model::PackLayout::from_samples({{{embeds.size(0), mode}}});
  pf.cache = &ctx;
  pf.update_cache = update;
  return m->language_model->model(embeds, pf);
}

void append_to_pack(model::BagelPackedInputs& in, std::vector<std::pair<int64_t, model::AttnMode>>& splits,
                    const Chunk& c, model::AttnMode mode) {
  const int64_t s = in.sequence_length;
  auto cat = [](torch::Tensor& a, const torch::Tensor& b) { a = a.defined() ? torch::cat({a, b}) : b; };
  if (c.text_ids.defined()) {
    cat(in.packed_text_ids, c.text_ids);
    cat(in.packed_text_indexes, c.text_indexes + s);
  }
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
  c.mode = model::AttnMode::kCausal;
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
  c.mode = model::AttnMode::kFull;
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
  forward_chunk(m, ctx, e, g, c.position_ids, c.mode, /*update=*/true);
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
