#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sgt::train {

void LrSchedule::validate() const {
  SGT_CHECK(std::isfinite(lr) && lr > 0, "lr_schedule", "lr {} must be positive", lr);
  SGT_CHECK(warmup_steps >= 0, "lr_schedule", "warmup_steps {} is negative", warmup_steps);
  if (kind == LrKind::kCosine) {
    SGT_CHECK(std::isfinite(min_lr) && min_lr >= 0 && min_lr <= lr, "lr_schedule",
              "min_lr {} must be in [0, lr {}]", min_lr, lr);
    SGT_CHECK(total_steps > warmup_steps, "lr_schedule", "cosine needs total_steps {} > warmup_steps {}",
              total_steps, warmup_steps);
  }
}

double LrSchedule::at(int64_t step) const {
  SGT_CHECK(step >= 0, "lr_schedule", "step {} is negative", step);
  if (step < warmup_steps) return lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  if (kind == LrKind::kConstant) return lr;
  const double progress = static_cast<double>(step - warmup_steps) /
                          static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  const double rate = min_lr / lr;
  double factor = 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress));
  factor = factor * (1.0 - rate) + rate;
  return lr * std::max(0.0, factor);
}

}  // namespace sgt::train
