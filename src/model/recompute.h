#pragma once
// Activation checkpointing (libtorch has no torch.utils.checkpoint). `recompute(fn, x)` runs fn(x) without
// keeping fn's intermediate activations; during backward it re-runs fn(x) with gradients enabled and
// back-propagates through that fresh graph (PyTorch's reentrant scheme): parameter gradients accumulate into
// their .grad as usual and the gradient with respect to x flows on to the outer graph. fn must be deterministic
// (our layers have no dropout) and must only depend on x and on tensors that need no gradient (index lists,
// RoPE tables, masks). The autocast state of the forward is restored for the recomputation.
#include <functional>

#include <torch/torch.h>

namespace sgt::model {

using RecomputeFn = std::function<torch::Tensor(const torch::Tensor&)>;

// x [any] -> fn(x); memory for fn's activations is released after the forward.
torch::Tensor recompute(const RecomputeFn& fn, const torch::Tensor& x);

}  // namespace sgt::model
