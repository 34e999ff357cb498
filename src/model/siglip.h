#pragma once
// SigLIP NaViT vision tower as BAGEL stores it (docs/model.md, "Configuration", "Images as tokens"): linear patch
// embedding over (py, px, c)-ordered patch vectors, a learned position table indexed by extrapolated 2-D ids
// (row*side + col), pre-LN encoder layers with full attention inside each image only, post_layernorm, no pooling
// head.
// Module tree: vision_model.{embeddings.{patch_embedding,position_embedding}, encoder.layers.M.*, post_layernorm}.
#include <vector>

#include <torch/torch.h>

#include "model/layers.h"

#include "model/config.h"

namespace sgt::model {

// image [C, H, W] (H, W multiples of p) -> patches [(H/p)*(W/p), p*p*C], row-major patches, (py, px, c) inside.
torch::Tensor vit_patchify(const torch::Tensor& image, int64_t patch);
// Extrapolated position ids of an h x w patch grid on a table of side max_side: i*max_side + j. -> int64 [h*w]
torch::Tensor vit_position_ids(int64_t h, int64_t w, int64_t max_side);

class SiglipEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit SiglipEmbeddingsImpl(const VisionConfig& c);
  // patches [N, patch_dim], position_ids int64 [N] -> [N, hidden]
  torch::Tensor forward(const torch::Tensor& patches, const torch::Tensor& position_ids);
  Linear patch_embedding{nullptr};
  Embedding position_embedding{nullptr};
};
TORCH_MODULE(SiglipEmbeddings);

class SiglipAttentionImpl : public torch::nn::Module {
 public:
  explicit SiglipAttentionImpl(const VisionConfig& c);
  // x [N, hidden] with per-image lengths (sum = N) -> [N, hidden]; attention never crosses images
  torch::Tensor forward(const torch::Tensor& x, const std::vector<int64_t>& seqlens);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  int64_t heads_, head_dim_;
};
TORCH_MODULE(SiglipAttention);

class SiglipMLPImpl : public torch::nn::Module {
 public:
  explicit SiglipMLPImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [N, hidden] -> [N, hidden], tanh GELU
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SiglipMLP);

class SiglipEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit SiglipEncoderLayerImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const std::vector<int64_t>& seqlens);  // [N, hidden]
  LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  SiglipAttention self_attn{nullptr};
  SiglipMLP mlp{nullptr};
};
TORCH_MODULE(SiglipEncoderLayer);

class SiglipEncoderImpl : public torch::nn::Module {
 public:
  explicit SiglipEncoderImpl(const VisionConfig& c);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(SiglipEncoder);

class SiglipVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit SiglipVisionTransformerImpl(const VisionConfig& c);
  // packed patches of several images [N, patch_dim], position ids [N], per-image lengths -> [N, hidden]
  torch::Tensor forward(const torch::Tensor& patches, const torch::Tensor& position_ids,
                        const std::vector<int64_t>& seqlens);
  SiglipEmbeddings embeddings{nullptr};
  bool checkpoint_layers = false;  // recompute each encoder layer in backward (model/recompute.h)
  SiglipEncoder encoder{nullptr};
  LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(SiglipVisionTransformer);

class SiglipVisionModelImpl : public torch::nn::Module {
 public:
  explicit SiglipVisionModelImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& patches, const torch::Tensor& position_ids,
                        const std::vector<int64_t>& seqlens) {
    return vision_model(patches, position_ids, seqlens);
  }
  SiglipVisionTransformer vision_model{nullptr};
};
TORCH_MODULE(SiglipVisionModel);

}  // namespace sgt::model
