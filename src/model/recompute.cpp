#include "model/recompute.h"

#include <ATen/autocast_mode.h>

#include "model/autocast.h"

#include "core/error.h"

namespace sgt::model {
namespace {

// The closure travels through the autograd context as a capsule (saved_data only holds IValues).
struct FnHolder : torch::CustomClassHolder {
  RecomputeFn fn;
  bool autocast = false;
  at::ScalarType autocast_dtype = at::kBFloat16;
  at::DeviceType device_type = at::kCPU;
};

struct RecomputeFunction : torch::autograd::Function<RecomputeFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               c10::intrusive_ptr<FnHolder> holder) {
    ctx->save_for_backward({x});
    ctx->saved_data["fn"] = c10::IValue::make_capsule(holder);
    torch::NoGradGuard no_grad;  // the point: no graph (and no saved activations) inside fn
    return holder->fn(x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto holder = c10::static_intrusive_pointer_cast<FnHolder>(ctx->saved_data["fn"].toCapsule());
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      // Autocast is thread-local and the backward runs on the autograd engine's thread: the forward's state.
      AutocastGuard autocast(holder->device_type, holder->autocast, holder->autocast_dtype);
      y = holder->fn(x);
    }
    SGT_CHECK(y.sizes() == grad_out[0].sizes(), "model.recompute",
              "recomputed output {} differs in shape from the forward's gradient {}", sgt::shape_str(y.sizes().vec()),
              sgt::shape_str(grad_out[0].sizes().vec()));
    torch::autograd::backward({y}, {grad_out[0]});  // accumulates parameter gradients; fills x.grad
    return {x.grad(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor recompute(const RecomputeFn& fn, const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled()) return fn(x);  // inference: nothing to save anyway
  auto holder = c10::make_intrusive<FnHolder>();
  holder->fn = fn;
  holder->device_type = x.device().type();
  holder->autocast = at::autocast::is_autocast_enabled(holder->device_type);
  holder->autocast_dtype = at::autocast::get_autocast_dtype(holder->device_type);
  // The custom function only runs its backward when its input requires grad; when x does not (e.g. frozen
  // embeddings), a detached leaf that does keeps parameter gradients flowing (its own gradient is dropped).
  torch::Tensor in = x.requires_grad() ? x : x.detach().requires_grad_(true);
  return RecomputeFunction::apply(in, holder);
}

}  // namespace sgt::model
