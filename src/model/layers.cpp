#include "model/layers.h"

#include <cmath>

namespace sgt::model {

namespace {
thread_local ParamOptions g_options;  // NOLINT: the construction scope of this thread
}  // namespace

ParamScope::ParamScope(ParamOptions options) : previous_(g_options) { g_options = std::move(options); }
ParamScope::~ParamScope() { g_options = previous_; }
const ParamOptions& current_param_options() { return g_options; }

torch::Tensor new_param(at::IntArrayRef shape, const std::function<void(torch::Tensor&)>& init) {
  auto t = torch::empty(shape, g_options.tensor);
  if (g_options.initialise) {
    torch::NoGradGuard ng;
    init(t);
  }
  return t;
}

torch::Tensor fixed_param(const torch::Tensor& values) {
  const auto& o = g_options.tensor;
  return values.to(o.device(), o.dtype().toScalarType());
}

// The order of allocations and draws follows libtorch's LinearImpl::reset / reset_parameters: both tensors are
// allocated, then the weight is drawn, then the bias.
LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", new_param({out, in}, [](torch::Tensor&) {}));
  if (with_bias) bias = register_parameter("bias", new_param({out}, [](torch::Tensor&) {}));
  if (current_param_options().initialise) reset_parameters();
}

void LinearImpl::reset_parameters() {
  torch::NoGradGuard ng;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weight.size(1)));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::nn::functional::linear(x, weight, bias);
  if (!lora_A) return y;
  // PEFT tuners/lora/layer.py, Linear.forward: dropout only on the A path's input, in training.
  auto xa = x.to(lora_A->weight.scalar_type());
  if (lora_dropout > 0.0 && is_training()) xa = torch::dropout(xa, lora_dropout, /*train=*/true);
  auto delta = torch::nn::functional::linear(torch::nn::functional::linear(xa, lora_A->weight), lora_B->weight);
  return (y + delta * lora_scaling).to(y.scalar_type());
}

EmbeddingImpl::EmbeddingImpl(int64_t num, int64_t dim) {
  weight = register_parameter("weight", new_param({num, dim}, [](torch::Tensor& t) { torch::nn::init::normal_(t); }));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

LayerNormImpl::LayerNormImpl(int64_t dim, double eps) : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", fixed_param(torch::ones({dim})));
  bias = register_parameter("bias", fixed_param(torch::zeros({dim})));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {dim_}, weight, bias, eps_);
}

}  // namespace sgt::model
