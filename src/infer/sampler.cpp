#include "infer/sampler.h"

#include <cmath>

#include "core/error.h"

namespace sgt::infer {

std::vector<double> shifted_schedule(int64_t steps, double shift) {
  SGT_CHECK(steps >= 2, "infer.sampler", "steps must be >= 2 (steps - 1 model evaluations), got {}", steps);
  SGT_CHECK(shift > 0, "infer.sampler", "timestep_shift must be > 0, got {}", shift);
  // fp32 tensor arithmetic like the reference (torch.linspace, then the shift on the fp32 tensor).
  auto tau = torch::linspace(1.0, 0.0, steps, torch::kFloat32);
  auto ts = (shift * tau / (1.0 + (shift - 1.0) * tau)).contiguous();
  std::vector<double> t(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) t[static_cast<size_t>(i)] = ts[i].item<float>();
  return t;
}

void CfgParams::validate() const {
  // isfinite: an infinite or NaN scale turns every latent into inf / NaN and decodes to a black image.
  SGT_CHECK(std::isfinite(text_scale) && std::isfinite(img_scale) && text_scale >= 0 && img_scale >= 0, "infer.cfg",
            "CFG scales must be finite and >= 0 (text {}, image {})", text_scale, img_scale);
  SGT_CHECK(std::isfinite(interval_lo) && std::isfinite(interval_hi) && std::isfinite(renorm_min), "infer.cfg",
            "cfg_interval [{}, {}] and cfg_renorm_min {} must be finite", interval_lo, interval_hi, renorm_min);
  SGT_CHECK(interval_lo <= interval_hi, "infer.cfg", "cfg_interval [{}, {}] is empty", interval_lo, interval_hi);
  SGT_CHECK(renorm_min >= 0 && renorm_min <= 1, "infer.cfg", "cfg_renorm_min must be in [0, 1], got {}",
            renorm_min);
}

std::pair<double, double> CfgParams::scales_at(double t) const {
  if (t > interval_lo && t <= interval_hi) return {text_scale, img_scale};
  return {1.0, 1.0};
}

torch::Tensor cfg_combine(const torch::Tensor& v_cond, const torch::Tensor& v_text, const torch::Tensor& v_img,
                          double text_scale, double img_scale, RenormType renorm_type, double renorm_min) {
  if (text_scale <= 1.0) return v_cond;  // BAGEL quirk: image guidance alone is never applied
  SGT_CHECK(v_text.defined() && v_text.sizes() == v_cond.sizes(), "infer.cfg",
            "the no-text velocity must have the shape of the conditional one {}", sgt::shape_str(v_cond.sizes().vec()));
  const bool use_img = img_scale > 1.0;
  SGT_CHECK(!use_img || (v_img.defined() && v_img.sizes() == v_cond.sizes()), "infer.cfg",
            "the no-image velocity must have the shape of the conditional one {}", sgt::shape_str(v_cond.sizes().vec()));
  auto u = v_text + text_scale * (v_cond - v_text);
  if (renorm_type == RenormType::kTextChannel) {
    auto r = (v_cond.norm(2, -1, true) / (u.norm(2, -1, true) + 1e-8)).clamp(renorm_min, 1.0);
    u = u * r;
    return use_img ? v_img + img_scale * (u - v_img) : u;
  }
  auto w = use_img ? v_img + img_scale * (u - v_img) : u;
  torch::Tensor r;
  if (renorm_type == RenormType::kGlobal) {
    r = (v_cond.norm() / (w.norm() + 1e-8)).clamp(renorm_min, 1.0);
  } else {
    r = (v_cond.norm(2, -1, true) / (w.norm(2, -1, true) + 1e-8)).clamp(renorm_min, 1.0);
  }
  return w * r;
}

torch::Tensor sample_euler(torch::Tensor x, int64_t steps, double shift, const CfgParams& cfg, const VelocityFn& f,
                           const std::function<void(int64_t, int64_t)>& on_step) {
  cfg.validate();
  const auto t = shifted_schedule(steps, shift);
  const int64_t evals = steps - 1;
  for (int64_t i = 0; i < evals; ++i) {
    const double ti = t[static_cast<size_t>(i)];
    // dt in fp32 as the reference's dts = timesteps[:-1] - timesteps[1:]
    const double dt = static_cast<float>(static_cast<float>(ti) - static_cast<float>(t[static_cast<size_t>(i + 1)]));
    auto [ts, is] = cfg.scales_at(ti);
    StepRequest req{ti, ts > 1.0, ts > 1.0 && is > 1.0};
    auto v = f(x, req);
    auto g = cfg_combine(v.cond, v.text, v.img, ts, is, cfg.renorm_type, cfg.renorm_min);
    x = x - g.to(x.scalar_type()) * dt;
    if (on_step) on_step(i + 1, evals);
  }
  return x;
}

}  // namespace sgt::infer
