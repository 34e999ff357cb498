#include "model/siglip.h"

#include "core/error.h"
#include "model/recompute.h"

namespace sgt::model {

torch::Tensor vit_patchify(const torch::Tensor& image, int64_t patch) {
  SGT_CHECK(image.dim() == 3 && image.size(1) % patch == 0 && image.size(2) % patch == 0, "model.siglip",
            "image {} must be [C, H, W] with H, W multiples of {}", sgt::shape_str(image.sizes().vec()), patch);
  const int64_t C = image.size(0), h = image.size(1) / patch, w = image.size(2) / patch;
  // [C, h, py, w, px] -> [h, w, py, px, C]
  return image.view({C, h, patch, w, patch}).permute({1, 3, 2, 4, 0}).reshape({h * w, patch * patch * C});
}

torch::Tensor vit_position_ids(int64_t h, int64_t w, int64_t max_side) {
  SGT_CHECK(h > 0 && w > 0 && h <= max_side && w <= max_side, "model.siglip",
            "patch grid {}x{} does not fit the {}x{} position table", h, w, max_side, max_side);
  auto i = torch::arange(h, torch::kInt64).unsqueeze(1), j = torch::arange(w, torch::kInt64).unsqueeze(0);
  return (i * max_side + j).flatten();
}

SiglipEmbeddingsImpl::SiglipEmbeddingsImpl(const VisionConfig& c) {
  patch_embedding = register_module("patch_embedding", Linear(c.patch_dim(), c.hidden_size));
  const int64_t side = c.num_patches_per_side();
  position_embedding = register_module("position_embedding", Embedding(side * side, c.hidden_size));
}

torch::Tensor SiglipEmbeddingsImpl::forward(const torch::Tensor& patches, const torch::Tensor& position_ids) {
  SGT_CHECK(patches.dim() == 2 && patches.size(1) == patch_embedding->weight.size(1) &&
                position_ids.dim() == 1 && position_ids.size(0) == patches.size(0),
            "model.siglip", "patches {} must be [N, {}] with position ids [N] (got {})",
            sgt::shape_str(patches.sizes().vec()), patch_embedding->weight.size(1),
            sgt::shape_str(position_ids.sizes().vec()));
  return patch_embedding(patches.to(patch_embedding->weight.scalar_type())) + position_embedding(position_ids);
}

SiglipAttentionImpl::SiglipAttentionImpl(const VisionConfig& c)
    : heads_(c.num_attention_heads), head_dim_(c.hidden_size / c.num_attention_heads) {
  q_proj = register_module("q_proj", Linear(c.hidden_size, c.hidden_size));
  k_proj = register_module("k_proj", Linear(c.hidden_size, c.hidden_size));
  v_proj = register_module("v_proj", Linear(c.hidden_size, c.hidden_size));
  out_proj = register_module("out_proj", Linear(c.hidden_size, c.hidden_size));
}

torch::Tensor SiglipAttentionImpl::forward(const torch::Tensor& x, const std::vector<int64_t>& seqlens) {
  const int64_t N = x.size(0);
  // [N, hidden] -> [heads, N, head_dim]
  auto split = [&](const torch::Tensor& t) { return t.view({N, heads_, head_dim_}).transpose(0, 1); };
  auto q = split(q_proj(x)), k = split(k_proj(x)), v = split(v_proj(x));
  std::vector<torch::Tensor> outs;
  int64_t b = 0;
  for (int64_t n : seqlens) {
    outs.push_back(at::scaled_dot_product_attention(q.slice(1, b, b + n), k.slice(1, b, b + n), v.slice(1, b, b + n)));
    b += n;
  }
  return out_proj(torch::cat(outs, 1).transpose(0, 1).reshape({N, heads_ * head_dim_}));
}

SiglipMLPImpl::SiglipMLPImpl(const VisionConfig& c) {
  fc1 = register_module("fc1", Linear(c.hidden_size, c.intermediate_size));
  fc2 = register_module("fc2", Linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor SiglipMLPImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x), "tanh")); }

namespace {
LayerNorm layer_norm(const VisionConfig& c) { return LayerNorm(c.hidden_size, c.layer_norm_eps); }
}  // namespace

SiglipEncoderLayerImpl::SiglipEncoderLayerImpl(const VisionConfig& c) {
  layer_norm1 = register_module("layer_norm1", layer_norm(c));
  self_attn = register_module("self_attn", SiglipAttention(c));
  layer_norm2 = register_module("layer_norm2", layer_norm(c));
  mlp = register_module("mlp", SiglipMLP(c));
}

torch::Tensor SiglipEncoderLayerImpl::forward(const torch::Tensor& x, const std::vector<int64_t>& seqlens) {
  auto h = x + self_attn(layer_norm1(x), seqlens);
  return h + mlp(layer_norm2(h));
}

SiglipEncoderImpl::SiglipEncoderImpl(const VisionConfig& c) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(SiglipEncoderLayer(c));
}

SiglipVisionTransformerImpl::SiglipVisionTransformerImpl(const VisionConfig& c) {
  c.validate();
  embeddings = register_module("embeddings", SiglipEmbeddings(c));
  encoder = register_module("encoder", SiglipEncoder(c));
  post_layernorm = register_module("post_layernorm", layer_norm(c));
}

torch::Tensor SiglipVisionTransformerImpl::forward(const torch::Tensor& patches, const torch::Tensor& position_ids,
                                                   const std::vector<int64_t>& seqlens) {
  int64_t total = 0;
  for (int64_t n : seqlens) {
    SGT_CHECK(n > 0, "model.siglip", "image with {} patches", n);
    total += n;
  }
  SGT_CHECK(total == patches.size(0), "model.siglip", "seqlens sum to {}, patches {}", total,
            sgt::shape_str(patches.sizes().vec()));
  auto h = embeddings(patches, position_ids);
  for (const auto& layer : *encoder->layers) {
    auto* l = layer->as<SiglipEncoderLayer>();
    h = checkpoint_layers ? recompute([l, seqlens](const torch::Tensor& x) { return l->forward(x, seqlens); }, h)
                          : l->forward(h, seqlens);
  }
  return post_layernorm(h);
}

SiglipVisionModelImpl::SiglipVisionModelImpl(const VisionConfig& c) {
  vision_model = register_module("vision_model", SiglipVisionTransformer(c));
}

}  // namespace sgt::model
