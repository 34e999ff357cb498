#pragma once
// BAGEL's small heads (docs/model.md, "Fixed sin-cos tables"): fixed 2-D sin-cos position tables, the timestep
// embedder and the ViT->LLM connector.
#include <torch/torch.h>

#include "model/layers.h"

namespace sgt::model {

// 2-D sin-cos table for a side x side grid: row k = r*side + c holds [E(c) || E(r)] (first half = column),
// E_d(p) = [sin(p w_j) || cos(p w_j)], w_j = 10000^(-j/(d/2)), d = dim/2. Computed in float64, returned fp32.
// -> [side*side, dim]
torch::Tensor sincos_2d_table(int64_t side, int64_t dim);

// Holds the table as `pos_embed` (a frozen parameter, as stored in ema.safetensors).
class PositionEmbeddingImpl : public torch::nn::Module {
 public:
  PositionEmbeddingImpl(int64_t side, int64_t dim);
  torch::Tensor forward(const torch::Tensor& position_ids);  // int64 [n] -> [n, dim]
  torch::Tensor pos_embed;
};
TORCH_MODULE(PositionEmbedding);

// DiT timestep features [cos(t f_j) || sin(t f_j)], f_j = exp(-ln(10000) j / (F/2)), t in [0, 1] (not x1000);
// then Linear(F -> hidden), SiLU, Linear(hidden -> hidden) (`mlp.0`, `mlp.2`).
torch::Tensor timestep_features(const torch::Tensor& t, int64_t freq_dim);  // [n] -> [n, freq_dim] fp32
class TimestepEmbedderImpl : public torch::nn::Module {
 public:
  TimestepEmbedderImpl(int64_t hidden, int64_t freq_dim = 256);
  torch::Tensor forward(const torch::Tensor& t);  // [n] -> [n, hidden]
  torch::nn::Sequential mlp{nullptr};
  int64_t freq_dim_;
};
TORCH_MODULE(TimestepEmbedder);

// connector: fc2(gelu_tanh(fc1(x))), [n, vit_hidden] -> [n, llm_hidden]
class MLPConnectorImpl : public torch::nn::Module {
 public:
  MLPConnectorImpl(int64_t in, int64_t hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(MLPConnector);

}  // namespace sgt::model
