#pragma once
// The BAGEL root module (docs/model.md, "Checkpoint names and shapes"): names equal ema.safetensors (the root has no
// prefix): language_model.*, vit_model.vision_model.*, connector.*, vit_pos_embed.pos_embed, time_embedder.mlp.*,
// vae2llm.*, llm2vae.*, latent_pos_embed.pos_embed. The autoencoder lives outside (ae.safetensors).
#include <vector>

#include <torch/torch.h>

#include "model/attention.h"
#include "model/config.h"
#include "model/embeddings.h"
#include "model/qwen2.h"
#include "model/siglip.h"

namespace sgt::model {

// One packed batch (NaViT packing, docs/model.md, "Packed sequences"). Index tensors are int64 positions in the
// packed sequence of L tokens; every position is covered by exactly one of text / ViT / VAE tokens.
struct BagelPackedInputs {
  int64_t sequence_length = 0;
  torch::Tensor packed_text_ids;       // [N_text]
  torch::Tensor packed_text_indexes;   // [N_text]
  torch::Tensor packed_position_ids;   // [L] RoPE ids
  PackLayout layout;                   // splits and attention modes
  // ViT images (understanding): patches in (py, px, c) order, extrapolated position ids, one length per image
  torch::Tensor packed_vit_tokens;         // [N_vit, 3*p*p]
  torch::Tensor packed_vit_position_ids;   // [N_vit]
  torch::Tensor packed_vit_token_indexes;  // [N_vit]
  std::vector<int64_t> vit_token_seqlens;
  // VAE latent tokens (generation copy): x_t already mixed by the caller, t in [0, 1] (0 for clean images)
  torch::Tensor packed_vae_tokens;            // [N_vae, patch_latent_dim]
  torch::Tensor packed_latent_position_ids;   // [N_vae] i*max_latent_size + j
  torch::Tensor packed_vae_token_indexes;     // [N_vae]
  torch::Tensor packed_timesteps;             // [N_vae]
  AttentionImpl impl = AttentionImpl::kSplitwise;
  bool checkpoint = false;  // activation checkpointing of every decoder and SigLIP layer (training memory)
  ForwardHooks hooks;       // decoder analysis hooks (model/qwen2.h); empty by default, not with checkpoint
};

class BagelImpl : public torch::nn::Module {
 public:
  explicit BagelImpl(const BagelConfig& c);
  // -> final hidden states [L, hidden] (und tokens through `norm`, VAE tokens through `norm_moe_gen`)
  torch::Tensor forward(const BagelPackedInputs& in);
  // The packed inputs' embeddings: (h [L, hidden] in the model's dtype, gen mask bool [L], true for VAE latents,
  // which take the *_moe_gen expert). Inputs may be on any device. One function for training packs and inference
  // chunks (infer::embed_chunk).
  std::pair<torch::Tensor, torch::Tensor> embed(const BagelPackedInputs& in);
  // hidden [L, hidden], indexes [n] -> logits [n, vocab]
  torch::Tensor text_logits(const torch::Tensor& hidden, const torch::Tensor& indexes);
  // hidden [L, hidden], indexes [n] of noisy latent tokens, their inputs x_t [n, patch_latent_dim] and timesteps
  // t [n] -> predicted velocity [n, patch_latent_dim]. x_t and t are used when config().prediction is "x0".
  // (A velocity model may omit them; an x0 model without them throws.)
  torch::Tensor velocity(const torch::Tensor& hidden, const torch::Tensor& indexes, const torch::Tensor& x_t = {},
                         const torch::Tensor& t = {});
  const BagelConfig& config() const { return config_; }

  Qwen2ForCausalLM language_model{nullptr};
  SiglipVisionModel vit_model{nullptr};
  MLPConnector connector{nullptr};
  PositionEmbedding vit_pos_embed{nullptr};
  TimestepEmbedder time_embedder{nullptr};
  Linear vae2llm{nullptr}, llm2vae{nullptr};
  PositionEmbedding latent_pos_embed{nullptr};

 private:
  BagelConfig config_;
};
TORCH_MODULE(Bagel);

// Latent [C, 2h, 2w] (p = latent_patch_size) -> tokens [h*w, p*p*C] in (h, w, py, px, c) order, and back.
torch::Tensor patchify_latent(const torch::Tensor& latent, int64_t p);
torch::Tensor unpatchify_latent(const torch::Tensor& tokens, int64_t h, int64_t w, int64_t p, int64_t channels);

}  // namespace sgt::model
