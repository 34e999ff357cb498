// Sampler and CFG formulas (docs/inference.md, "Image sampler", "Classifier-free guidance") against hand-made
// velocity fields and hand-computed values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "infer/sampler.h"

using namespace sgt;
using namespace sgt::infer;

TEST(InferSampler, ScheduleCfgGatingAndExactFlow) {
  // tau = 1, .75, .5, .25, 0 and s = 3: t = 3 tau / (1 + 2 tau) = 1, 0.9, 0.75, 0.5, 0.
  auto t = shifted_schedule(5, 3.0);
  const std::vector<double> want = {1.0, 0.9, 0.75, 0.5, 0.0};
  ASSERT_EQ(t.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t[i], want[i], 1e-6) << i;
  auto t1 = shifted_schedule(3, 1.0);  // no shift: linspace
  EXPECT_NEAR(t1[1], 0.5, 1e-7);
  EXPECT_THROW(shifted_schedule(1, 3.0), Error);
  EXPECT_THROW(shifted_schedule(5, 0.0), Error);

  // The marginal field of a single data point x0: v(x, t) = (x - x0) / t. Its ODE solution from x(1) = eps is
  // x(t) = x0 + t (eps - x0), linear in t, so Euler is exact on any schedule: the sampler must land on x0.
  torch::manual_seed(3);
  auto x0 = torch::randn({6, 4}, torch::kFloat64), eps = torch::randn({6, 4}, torch::kFloat64);
  std::vector<StepRequest> seen;
  CfgParams cfg;  // text 4, img 1.5, interval (0.4, 1]
  VelocityFn f = [&](const torch::Tensor& x, const StepRequest& r) {
    seen.push_back(r);
    StepVelocities v;
    v.cond = (x - x0) / r.t;
    // The unconditional branches equal the conditional one: any CFG combination leaves the field unchanged
    // (the renorm ratio is then exactly 1).
    if (r.need_text) v.text = v.cond.clone();
    if (r.need_img) v.img = v.cond.clone();
    return v;
  };
  auto x = sample_euler(eps.clone(), 5, 3.0, cfg, f);
  EXPECT_LT((x - x0).abs().max().item<double>(), 1e-6);
  // 5 points -> 4 evaluations at t = 1, .9, .75, .5; CFG only while 0.4 < t <= 1 (all of them here).
  ASSERT_EQ(seen.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(seen[i].t, want[i], 1e-6);
    EXPECT_TRUE(seen[i].need_text && seen[i].need_img);
  }
  // Interval (0.8, 1]: t = .75 and .5 run the conditional branch only; cfg_img 1 never needs the image branch.
  seen.clear();
  cfg.interval_lo = 0.8;
  cfg.img_scale = 1.0;
  x = sample_euler(eps.clone(), 5, 3.0, cfg, f);
  EXPECT_LT((x - x0).abs().max().item<double>(), 1e-6);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_TRUE(seen[0].need_text && seen[1].need_text && !seen[2].need_text && !seen[3].need_text);
  for (const auto& r : seen) EXPECT_FALSE(r.need_img);
  // 50 steps = 49 evaluations.
  seen.clear();
  sample_euler(eps.clone(), 50, 3.0, cfg, f);
  EXPECT_EQ(seen.size(), 49u);

  // A constant field v = eps - x0 (straight path) is also integrated exactly, whatever the schedule.
  VelocityFn c = [&](const torch::Tensor&, const StepRequest&) { return StepVelocities{eps - x0, {}, {}}; };
  CfgParams off;
  off.text_scale = 1.0;
  x = sample_euler(eps.clone(), 7, 2.0, off, c);
  EXPECT_LT((x - x0).abs().max().item<double>(), 1e-6);
}

TEST(InferSampler, CfgCombineMatchesHandComputedValues) {
  // Two tokens, two channels.
  auto vc = torch::tensor({{3.0, 4.0}, {0.0, 1.0}}, torch::kFloat64);  // row norms 5, 1; Frobenius sqrt(26)
  auto vt = torch::tensor({{1.0, 0.0}, {0.0, 0.0}}, torch::kFloat64);
  auto vi = torch::tensor({{0.0, 0.0}, {1.0, 1.0}}, torch::kFloat64);
  auto near = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() < 1e-9;
  };
  // u = vt + 2 (vc - vt) = [[5, 8], [0, 2]]
  auto u = torch::tensor({{5.0, 8.0}, {0.0, 2.0}}, torch::kFloat64);
  // No renorm (min 1), no image guidance: u itself.
  EXPECT_TRUE(near(cfg_combine(vc, vt, vi, 2.0, 1.0, RenormType::kGlobal, 1.0), u));
  // w = vi + 1.5 (u - vi) = [[7.5, 12], [-0.5, 2.5]]
  auto w = torch::tensor({{7.5, 12.0}, {-0.5, 2.5}}, torch::kFloat64);
  EXPECT_TRUE(near(cfg_combine(vc, vt, vi, 2.0, 1.5, RenormType::kGlobal, 1.0), w));
  // global: r = sqrt(26) / ||w||_F, ||w||_F^2 = 56.25 + 144 + .25 + 6.25 = 206.75
  const double rg = std::sqrt(26.0) / (std::sqrt(206.75) + 1e-8);
  EXPECT_TRUE(near(cfg_combine(vc, vt, vi, 2.0, 1.5, RenormType::kGlobal, 0.0), w * rg));
  // renorm_min clamps the ratio from below.
  EXPECT_TRUE(near(cfg_combine(vc, vt, vi, 2.0, 1.5, RenormType::kGlobal, 0.9), w * 0.9));
  // channel: per-row ratios 5 / ||(7.5, 12)|| and 1 / ||(-0.5, 2.5)||.
  auto rc = torch::tensor({{5.0 / (std::sqrt(56.25 + 144.0) + 1e-8)}, {1.0 / (std::sqrt(6.5) + 1e-8)}},
                          torch::kFloat64);
  EXPECT_TRUE(near(cfg_combine(vc, vt, vi, 2.0, 1.5, RenormType::kChannel, 0.0), w * rc));
  // text_channel: u renormed per row first (5 / sqrt(89), 1 / 2), then image guidance.
  auto ru = torch::tensor({{5.0 / (std::sqrt(89.0) + 1e-8)}, {1.0 / (2.0 + 1e-8)}}, torch::kFloat64);
  auto un = u * ru;
  EXPECT_TRUE(near(cfg_combine(vc, vt, vi, 2.0, 1.5, RenormType::kTextChannel, 0.0), vi + 1.5 * (un - vi)));
  EXPECT_TRUE(near(cfg_combine(vc, vt, vi, 2.0, 1.0, RenormType::kTextChannel, 0.0), un));
  // Ratios never exceed 1: u = 2vc + 2 (vc - 2vc) = 0 has norm 0 and stays 0 (ratio clamped to 1, not 5e8).
  EXPECT_TRUE(near(cfg_combine(vc, vc * 2.0, torch::Tensor(), 2.0, 1.0, RenormType::kGlobal, 0.0), torch::zeros_like(vc)));
  // Quirk: text scale <= 1 means no guidance at all, even with an image scale > 1 (and no other velocities).
  EXPECT_TRUE(near(cfg_combine(vc, torch::Tensor(), torch::Tensor(), 1.0, 2.0, RenormType::kGlobal, 0.0), vc));
  // Bad inputs.
  EXPECT_THROW(cfg_combine(vc, torch::Tensor(), vi, 2.0, 1.5, RenormType::kGlobal, 0.0), Error);
  EXPECT_THROW(cfg_combine(vc, vt, torch::Tensor(), 2.0, 1.5, RenormType::kGlobal, 0.0), Error);
  CfgParams bad;
  EXPECT_THROW(config::from_json<ImageGenOptions>(config::Json{{"cfg_renorm_type", "local"}}, "gen"), Error);
  bad.interval_lo = 0.9;
  bad.interval_hi = 0.5;
  EXPECT_THROW(bad.validate(), Error);
  // Interval gating is (lo, hi]: lo excluded, hi included.
  CfgParams p;
  EXPECT_EQ(p.scales_at(0.4).first, 1.0);
  EXPECT_EQ(p.scales_at(1.0).first, 4.0);
  EXPECT_EQ(p.scales_at(0.41).second, 1.5);
}
