#pragma once
// The parameter-holding layers of the BAGEL modules (Linear, Embedding, LayerNorm), and how their parameters are
// made. libtorch's torch::nn layers always allocate in the default dtype (fp32) on the host and initialise at once:
// for BAGEL-7B that is 58 GB touched before a checkpoint can replace it. These layers take their tensors from the
// thread's ParamScope instead: in the dtype and on the device given, and, when loading follows, left uninitialised
// (torch::empty: host pages are not touched, so they cost no memory until written; zero-copy loading frees them
// unwritten). Outside any scope they behave exactly like torch::nn::Linear / Embedding / LayerNorm (same names,
// shapes, initialisation and random-number draws in the same order), so models trained from scratch are unchanged.
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

namespace sgt::model {

struct ParamOptions {
  torch::TensorOptions tensor = torch::TensorOptions();  // dtype and device of new parameters (default: fp32 host)
  bool initialise = true;  // false: leave values undefined; only valid when every tensor is then loaded
};

// Sets the thread's ParamOptions while alive (nestable).
class ParamScope {
 public:
  explicit ParamScope(ParamOptions options);
  ~ParamScope();
  ParamScope(const ParamScope&) = delete;
  ParamScope& operator=(const ParamScope&) = delete;

 private:
  ParamOptions previous_;
};
const ParamOptions& current_param_options();

// A new parameter tensor of `shape` with the scope's options; `init` runs (without grad) only when initialising.
torch::Tensor new_param(at::IntArrayRef shape, const std::function<void(torch::Tensor&)>& init);
// A tensor whose values are fixed by a formula (sin-cos tables, norm weights of ones): always computed (fp32 host)
// and then converted to the scope's dtype and device, since a checkpoint may not hold it.
torch::Tensor fixed_param(const torch::Tensor& values);

// y = x W^T + b; weight [out, in], bias [out] (absent when !bias). Init as torch::nn::Linear (kaiming-uniform a=sqrt5,
// bias U(-1/sqrt(in), 1/sqrt(in))).
// With a LoRA adapter attached (model/lora.h, docs/training.md "LoRA"): y += scaling * B(A(dropout(x))), x cast to
// the adapter's dtype and the sum cast back to y's, as PEFT's lora.Linear.forward. lora_A [r, in] and lora_B [out, r]
// are registered submodules, so their names are `<path>.lora_A.weight` / `<path>.lora_B.weight`.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);  // [..., in] -> [..., out]
  void reset_parameters();                        // libtorch's draws, in place
  torch::Tensor weight, bias;
  std::shared_ptr<LinearImpl> lora_A, lora_B;  // null: no adapter
  double lora_scaling = 0.0, lora_dropout = 0.0;
};
TORCH_MODULE(Linear);

// weight [num, dim], init N(0, 1) as torch::nn::Embedding. ids int64 [...] -> [..., dim]
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num, int64_t dim);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// Over the last dimension: weight ones [dim], bias zeros [dim], as torch::nn::LayerNorm({dim}).eps(eps).
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

 private:
  int64_t dim_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

}  // namespace sgt::model
