#pragma once
// Flow-matching sampler and classifier-free guidance of BAGEL (docs/inference.md, "Image sampler", "Classifier-free
// guidance"), model-free so that they can be tested against hand-made velocity fields.
//
// Convention: x_t = (1 - t) x0 + t eps, v = eps - x0; t = 1 is noise, t = 0 is data. Sampling runs Euler from
// t = 1 down to t = 0 over the shifted schedule.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "infer/options.h"

namespace sgt::infer {

// tau_i = linspace(1, 0, steps); t_i = s tau_i / (1 + (s - 1) tau_i). steps >= 2 values; steps - 1 evaluations.
std::vector<double> shifted_schedule(int64_t steps, double shift);


// Combines the three velocities [N, C] (full context, no text, no images) with the effective scales of one step
// (docs/inference.md, "Classifier-free guidance", exactly, including: no guidance at all when text_scale <= 1; v_img
// unused when img_scale <= 1, and may then be undefined).
torch::Tensor cfg_combine(const torch::Tensor& v_cond, const torch::Tensor& v_text, const torch::Tensor& v_img,
                          double text_scale, double img_scale, RenormType renorm_type, double renorm_min);

// The velocities one step needs. `need_text` / `need_img` say which of the unconditional branches the combine
// will use, so callers skip the others (BAGEL computes only those).
struct StepRequest {
  double t = 1.0;
  bool need_text = false, need_img = false;
};
struct StepVelocities {
  torch::Tensor cond, text, img;  // [N, C]; text / img undefined when not requested
};
using VelocityFn = std::function<StepVelocities(const torch::Tensor& x, const StepRequest& req)>;

// Euler over the schedule with CFG: x [N, C] (initial noise) -> x at t = 0. `on_step(i, total)` after each step.
torch::Tensor sample_euler(torch::Tensor x, int64_t steps, double shift, const CfgParams& cfg, const VelocityFn& f,
                           const std::function<void(int64_t, int64_t)>& on_step = {});

}  // namespace sgt::infer
