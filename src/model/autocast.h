#pragma once
// Autocast for one scope (docs/gpu.md): on construction the device type's autocast flag and dtype are set, on
// destruction both are restored to what they were, also when the scope is left by an exception (a failed forward
// must not leave the next step, an evaluation or a checkpoint write under autocast). Autocast state is
// thread-local, so a guard acts on the thread that made it.
#include <ATen/autocast_mode.h>

namespace sgt::model {

class AutocastGuard {
 public:
  AutocastGuard(at::DeviceType type, bool enabled, at::ScalarType dtype = at::kBFloat16)
      : type_(type),
        was_enabled_(at::autocast::is_autocast_enabled(type)),
        was_dtype_(at::autocast::get_autocast_dtype(type)) {
    at::autocast::set_autocast_enabled(type_, enabled);
    if (enabled) at::autocast::set_autocast_dtype(type_, dtype);
  }
  ~AutocastGuard() {
    at::autocast::set_autocast_enabled(type_, was_enabled_);
    at::autocast::set_autocast_dtype(type_, was_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType type_;
  bool was_enabled_;
  at::ScalarType was_dtype_;
};

}  // namespace sgt::model
