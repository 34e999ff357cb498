#pragma once
// KV-cached inference context for BAGEL (docs/attention.md, "Cached decoding"). One context is one sample (batch
// 1): the KV cache of every decoder layer (model/kv_cache.h: keys and values after q/k-norm and RoPE, written in
// place) plus the RoPE counter. New tokens are appended as chunks through the same decoder forward as training
// (model::PackedForward with a cache): a chunk is one split of the sample, causal (text) or full (images), and
// sees the whole cache. Noisy generation queries run without updating the cache, which is exactly the packed
// rule (nobody attends to a noisy split).
//
// A Context is cheap to copy and a copy is a snapshot (the CFG contexts, requests that share a prefix): copies
// share the cache buffers, and one that appends after another forks them (model/kv_cache.h).
#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "model/bagel.h"
#include "model/kv_cache.h"

namespace sgt::infer {

struct Context : model::KVCache {  // kv_len: cached tokens
  int64_t rope = 0;                 // next RoPE position id
};

// One chunk of new tokens. Every position holds a text id, a ViT token or a VAE latent token (same rules as
// model::BagelPackedInputs, but indexes are within the chunk). Position ids are given per token.
struct Chunk {
  int64_t length = 0;
  model::AttnMode mode = model::AttnMode::kCausal;  // causal: token i sees cache + chunk[0..i]; full / noise:
                                                   // cache + whole chunk
  torch::Tensor text_ids;        // int64 [n_text]
  torch::Tensor text_indexes;    // int64 [n_text]
  torch::Tensor position_ids;    // int64 [length]
  torch::Tensor vit_patches;     // [P, 3*14*14] (optional)
  torch::Tensor vit_position_ids;  // int64 [P] (i*max_side + j)
  torch::Tensor vit_indexes;       // int64 [P]
  torch::Tensor vae_tokens;        // [N, patch_latent_dim] (optional)
  torch::Tensor vae_position_ids;  // int64 [N] (i*max_latent_size + j)
  torch::Tensor vae_timesteps;     // float [N]
  torch::Tensor vae_indexes;       // int64 [N]
};

// Embeds the chunk's tokens: -> [length, hidden] in the model's dtype, and the gen mask bool [length]
// (true for VAE latents, which use the *_moe_gen expert).
std::pair<torch::Tensor, torch::Tensor> embed_chunk(model::Bagel& m, const Chunk& c);

// Runs the decoder over a chunk given its embeddings, as one split of `mode` continuing the context's sample (the
// training forward with a cache); -> final hidden states [length, hidden]. With update = true the chunk's K/V are
// appended to ctx (kv_len += length; not for a noise chunk); rope is NOT touched here.
torch::Tensor forward_chunk(model::Bagel& m, Context& ctx, const torch::Tensor& embeds, const torch::Tensor& gen_mask,
                            const torch::Tensor& position_ids, model::AttnMode mode, bool update);

// Appends a chunk (chunk-local indexes) to the packed inputs of a full, training-path forward as one split of
// `mode`: its indexes are shifted by the current sequence_length, which then grows by the chunk's length. The
// analyses (eval), the cache tests and embed_chunk build packed inputs this way.
void append_to_pack(model::BagelPackedInputs& in, std::vector<std::pair<int64_t, model::AttnMode>>& splits,
                    const Chunk& c, model::AttnMode mode);

// Chunk builders (markers are the tokenizer ids of <|im_start|> etc.).
struct Markers {
  int64_t im_start = 151644, im_end = 151645, vision_start = 151652, vision_end = 151653;
};
// [<|im_start|>] + ids + [<|im_end|>] at positions rope..rope+n-1, causal.
Chunk text_chunk(const std::vector<int64_t>& ids, int64_t rope, const Markers& mk);
// [<|vision_start|>, P ViT patches, <|vision_end|>] all at position rope, full. image: [3, H, W] in [-1, 1],
// H and W multiples of the ViT patch size.
Chunk vit_chunk(const model::BagelConfig& c, const torch::Tensor& image, int64_t rope, const Markers& mk);
// [<|vision_start|>, h*w latent tokens, <|vision_end|>] at position rope, full. tokens [h*w, patch_latent_dim];
// t = 0 for a clean condition, the current time for a noisy query.
Chunk vae_chunk(const model::BagelConfig& c, const torch::Tensor& tokens, int64_t h, int64_t w, double t,
                int64_t rope, const Markers& mk);

// Convenience: embed + forward + update; then advance rope (text: by its length; images: by 1).
void add_text(model::Bagel& m, Context& ctx, const std::vector<int64_t>& ids, const Markers& mk);
void add_vit_image(model::Bagel& m, Context& ctx, const torch::Tensor& image, const Markers& mk);
void add_vae_image(model::Bagel& m, Context& ctx, const torch::Tensor& tokens, int64_t h, int64_t w,
                   const Markers& mk);

}  // namespace sgt::infer
