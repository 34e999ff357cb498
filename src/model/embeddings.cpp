#include "model/embeddings.h"

#include <cmath>

#include "core/error.h"

namespace sgt::model {

namespace {
// [n] positions (float64) -> [n, d]: [sin(p w) || cos(p w)], w_j = 10000^(-j/(d/2))
torch::Tensor sincos_1d(const torch::Tensor& pos, int64_t d) {
  auto omega = torch::arange(d / 2, torch::kFloat64) / (d / 2.0);
  omega = 1.0 / torch::pow(10000.0, omega);
  auto out = pos.unsqueeze(1) * omega.unsqueeze(0);
  return torch::cat({out.sin(), out.cos()}, 1);
}
}  // namespace

torch::Tensor sincos_2d_table(int64_t side, int64_t dim) {
  SGT_CHECK(side > 0 && dim % 4 == 0, "model.embeddings", "sin-cos table needs side > 0 and dim % 4 == 0 (side {}, dim {})",
            side, dim);
  auto k = torch::arange(side * side, torch::kInt64);
  auto row = torch::floor_divide(k, side).to(torch::kFloat64), col = torch::remainder(k, side).to(torch::kFloat64);
  return torch::cat({sincos_1d(col, dim / 2), sincos_1d(row, dim / 2)}, 1).to(torch::kFloat32);
}

PositionEmbeddingImpl::PositionEmbeddingImpl(int64_t side, int64_t dim) {
  pos_embed = register_parameter("pos_embed", fixed_param(sincos_2d_table(side, dim)), /*requires_grad=*/false);
}

torch::Tensor PositionEmbeddingImpl::forward(const torch::Tensor& position_ids) {
  return pos_embed.index_select(0, position_ids.to(torch::kInt64));
}

torch::Tensor timestep_features(const torch::Tensor& t, int64_t freq_dim) {
  const int64_t half = freq_dim / 2;
  auto freqs = torch::exp(-std::log(10000.0) * torch::arange(half, torch::TensorOptions().dtype(torch::kFloat32).device(t.device())) / half);
  auto args = t.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({args.cos(), args.sin()}, 1);
}

TimestepEmbedderImpl::TimestepEmbedderImpl(int64_t hidden, int64_t freq_dim) : freq_dim_(freq_dim) {
  mlp = register_module("mlp", torch::nn::Sequential(Linear(freq_dim, hidden), torch::nn::SiLU(),
                                                     Linear(hidden, hidden)));
}

torch::Tensor TimestepEmbedderImpl::forward(const torch::Tensor& t) {
  auto f = timestep_features(t, freq_dim_);
  auto w = mlp->at<LinearImpl>(0).weight;
  return mlp->forward(f.to(w.scalar_type()));
}

MLPConnectorImpl::MLPConnectorImpl(int64_t in, int64_t hidden, int64_t out) {
  fc1 = register_module("fc1", Linear(in, hidden));
  fc2 = register_module("fc2", Linear(hidden, out));
}

torch::Tensor MLPConnectorImpl::forward(const torch::Tensor& x) {
  return fc2(torch::gelu(fc1(x), "tanh"));
}

}  // namespace sgt::model
