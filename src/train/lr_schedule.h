#pragma once
// Learning-rate schedule of BAGEL's trainer (docs/training.md, "BAGEL's reference recipe"): linear warm-up, then
// constant or cosine to min_lr.
#include <array>
#include <cstdint>
#include <string>

#include "core/enum_names.h"

namespace sgt::train {

// Same numbers as transformers' get_constant_schedule_with_warmup / get_cosine_with_min_lr_schedule_with_warmup
// (num_cycles 0.5) driving a LambdaLR, as train/pretrain_unified_navit.py uses them. `step` counts the optimizer
// steps already taken (LambdaLR's last_epoch), so with warm-up the very first update uses lr 0:
//   step < warmup:   lr * step / max(1, warmup)
//   constant:        lr
//   cosine:          p = (step - warmup) / max(1, total - warmup)
//                    lr * max(0, r + (1 - r) * 0.5 * (1 + cos(pi * p)))   with r = min_lr / lr
// Cosine past total_steps keeps following cos (it rises again), exactly like the reference; validate() asks for
// total_steps > warmup_steps so a run does not get there by accident.
enum class LrKind { kConstant, kCosine };
constexpr auto enum_names(LrKind) {
  return std::array{EnumName{LrKind::kConstant, "constant"}, EnumName{LrKind::kCosine, "cosine"}};
}

struct LrSchedule {
  LrKind kind = LrKind::kConstant;
  double lr = 1e-4, min_lr = 1e-7;
  int64_t warmup_steps = 0, total_steps = 0;

  double at(int64_t step) const;

  template <class V>
  void visit(V&& v) {
    v("kind", kind); v("lr", lr); v("min_lr", min_lr); v("warmup_steps", warmup_steps);
    v("total_steps", total_steps);
  }
  void validate() const;
};

}  // namespace sgt::train
