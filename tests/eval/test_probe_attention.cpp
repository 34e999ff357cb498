// Linear probe against scikit-learn (tools/eval_ref.py logreg); attention shares against hand-computed values.
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "eval/attention.h"
#include "eval/probe.h"
#include "testing/testing.h"

namespace sgt::eval {
namespace {

std::vector<std::vector<double>> rows_of(const torch::Tensor& x) {
  std::vector<std::vector<double>> out;
  const torch::Tensor c = x.to(torch::kDouble).contiguous();
  for (int64_t i = 0; i < c.size(0); ++i) {
    const double* p = c[i].data_ptr<double>();
    out.emplace_back(p, p + c.size(1));
  }
  return out;
}

std::vector<int64_t> vec_of(const torch::Tensor& y) {
  const torch::Tensor c = y.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(Probe, MatchesScikitLearnAndSeparatesLayers) {
  // Three overlapping Gaussian classes in 6 dims with different feature scales (standardisation matters).
  torch::manual_seed(3);
  const int64_t n = 150, d = 6, k = 3;
  torch::Tensor y = torch::arange(n, torch::kLong) % k;
  torch::Tensor centres = torch::randn({k, d}, torch::kDouble);
  torch::Tensor x = centres.index_select(0, y) + 1.3 * torch::randn({n, d}, torch::kDouble);
  x = x * torch::tensor({1.0, 10.0, 0.1, 3.0, 1.0, 50.0}, torch::kDouble) + 5.0;
  const auto [train, test] = stratified_split(y, 0.3, 7);
  EXPECT_EQ(train.size() + test.size(), static_cast<size_t>(n));
  EXPECT_EQ(test.size(), 45u);  // 15 of each class
  const torch::Tensor itr = torch::tensor(train), ite = torch::tensor(test);
  const torch::Tensor xtr = x.index_select(0, itr), ytr = y.index_select(0, itr);
  const torch::Tensor xte = x.index_select(0, ite), yte = y.index_select(0, ite);

  testing::TempDir dir("probe");
  const std::vector<double> Cs = {0.05, 1.0};
  nlohmann::json in{{"x_train", rows_of(xtr)}, {"y_train", vec_of(ytr)}, {"x_test", rows_of(xte)},
                    {"y_test", vec_of(yte)}, {"Cs", Cs}, {"standardize", true}};
  std::ofstream(dir.file("in.json")) << in.dump();
  const auto run = testing::run_python_tool("eval_ref.py", {"logreg", dir.file("in.json"), dir.file("out.json")});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  nlohmann::json refs;
  std::ifstream(dir.file("out.json")) >> refs;
  for (size_t ci = 0; ci < Cs.size(); ++ci) {
    const double C = Cs[ci];
    const nlohmann::json& ref = refs["results"][ci];
    const Standardizer s = fit_standardizer(xtr);
    const LogRegModel m = fit_logreg(s.apply(xtr), ytr, k, C);
    // Compare all coefficients (scikit-learn's multinomial coef_ is [K, D], intercept_ [K]; both centred).
    double max_diff = 0, max_abs = 0;
    const auto ref_coef = ref["coef"].get<std::vector<std::vector<double>>>();
    const auto ref_b = ref["intercept"].get<std::vector<double>>();
    for (int64_t c = 0; c < k; ++c) {
      for (int64_t j = 0; j < d; ++j) {
        max_diff = std::max(max_diff, std::abs(m.weight[c][j].item<double>() - ref_coef[c][j]));
        max_abs = std::max(max_abs, std::abs(ref_coef[c][j]));
      }
      // Intercepts are defined up to a common shift under softmax; compare after centring.
      const double mb = m.bias.mean().item<double>();
      double rb = 0;
      for (double b : ref_b) rb += b / k;
      EXPECT_NEAR(m.bias[c].item<double>() - mb, ref_b[c] - rb, 1e-4 * std::max(1.0, max_abs)) << "C " << C;
    }
    EXPECT_LT(max_diff, 1e-4 * std::max(1.0, max_abs)) << "C " << C;
    const double train_acc = accuracy(predict_logreg(m, s.apply(xtr)), ytr);
    const double test_acc = accuracy(predict_logreg(m, s.apply(xte)), yte);
    EXPECT_DOUBLE_EQ(train_acc, ref["train_acc"].get<double>());
    EXPECT_DOUBLE_EQ(test_acc, ref["test_acc"].get<double>());
    EXPECT_EQ(vec_of(predict_logreg(m, s.apply(xte))), ref["pred_test"].get<std::vector<int64_t>>());
  }

  // Fisher ratio by hand: 1-D, classes {0, 2} and {10, 12}: between = 2*25 + 2*25 = 100, within = 4 * 1 = 4.
  EXPECT_NEAR(fisher_ratio(torch::tensor({0.0, 2.0, 10.0, 12.0}, torch::kDouble).unsqueeze(1),
                           torch::tensor({0, 0, 1, 1}, torch::kLong), 2),
              25.0, 1e-12);

  // Per-layer probe: layer 0 is noise, layer 1 is separable -> accuracy rises with the layer.
  torch::Tensor feats = torch::stack({torch::randn({n, d}, torch::kDouble), x}, 1);  // [N, 2, D]
  ProbeOptions opt;
  opt.Cs = {0.1, 1.0};
  opt.folds = 3;
  opt.max_iter = 200;
  const auto probes = probe_layers(feats, y, opt);
  ASSERT_EQ(probes.size(), 2u);
  std::printf("probe test accuracy: noise layer %.3f, informative layer %.3f (C %g)\n", probes[0].test_accuracy,
              probes[1].test_accuracy, probes[1].best_C);
  EXPECT_LT(probes[0].test_accuracy, 0.55);  // chance is 1/3
  EXPECT_GT(probes[1].test_accuracy, 0.6);
  EXPECT_GT(probes[1].fisher, probes[0].fisher);
  write_probe_plot(dir.file("probe.png"), {{"run", probes}}, "probe");
  EXPECT_GT(std::ifstream(dir.file("probe.png"), std::ios::ate).tellg(), 100);

  // Bad input.
  EXPECT_THROW(fit_logreg(xtr, ytr.to(torch::kInt), k, 1.0), Error);
  EXPECT_THROW(fit_logreg(xtr, ytr, k, 0.0), Error);
  EXPECT_THROW(probe_layers(x, y, opt), Error);  // not [N, layers, D]
  EXPECT_THROW(stratified_split(torch::tensor({0, 1, 1}, torch::kLong), 0.3, 0), Error);  // class 0 has 1 sample
}

TEST(Attention, SharesHandComputed) {
  using K = KeyType;
  // Sequence: [text, vit, vit, vae, vae, text] (L = 6). With q = 0 every allowed key gets the same weight, so a
  // causal query at position p spreads 1/(p+1) over keys 0..p.
  const std::vector<KeyType> types = {K::kText, K::kVit, K::kVit, K::kVae, K::kVae, K::kText};
  const int64_t L = 6, H = 4, Hkv = 2, d = 8;
  torch::Tensor q = torch::zeros({L, H, d});
  // Keys: per kv head, L orthonormal rows (a seeded QR), so a query along one key gives every other key a zero
  // score: its weight is exp(100 / sqrt(d)) times theirs, whatever the draw (an unseeded randn let another,
  // longer key win now and then).
  torch::Tensor k = torch::empty({L, Hkv, d});
  auto gen = at::detail::createCPUGenerator(11);
  for (int64_t h = 0; h < Hkv; ++h) {
    auto [qm, r] = at::linalg_qr(torch::randn({d, d}, gen));
    k.select(1, h).copy_(qm.t().slice(0, 0, L));
  }
  AttentionShares s = shares_from_qk(q, k, {5}, types);
  EXPECT_NEAR(s.text, 2.0 / 6, 1e-6);
  EXPECT_NEAR(s.vit, 2.0 / 6, 1e-6);
  EXPECT_NEAR(s.vae, 2.0 / 6, 1e-6);
  s = shares_from_qk(q, k, {2, 4}, types);  // query 2: text 1/3, vit 2/3; query 4: 1/5, 2/5, 2/5 -> mean
  EXPECT_NEAR(s.text, (1.0 / 3 + 1.0 / 5) / 2, 1e-6);
  EXPECT_NEAR(s.vit, (2.0 / 3 + 2.0 / 5) / 2, 1e-6);
  EXPECT_NEAR(s.vae, (0.0 + 2.0 / 5) / 2, 1e-6);
  // A key aligned with the query dominates: q = k[3] * 100 for every head of the kv group of head 0 and 1.
  torch::Tensor q2 = torch::zeros({L, H, d});
  q2[5][0] = k[3][0] * 100;
  q2[5][1] = k[3][0] * 100;
  q2[5][2] = k[1][1] * 100;
  q2[5][3] = k[1][1] * 100;
  s = shares_from_qk(q2, k, {5}, types);
  EXPECT_NEAR(s.vae, 0.5, 1e-3);  // heads 0, 1 (kv head 0) -> VAE key 3
  EXPECT_NEAR(s.vit, 0.5, 1e-3);  // heads 2, 3 (kv head 1) -> ViT key 1
  // Explicit mask (bidirectional image block): query 1 may see keys 0..2 -> text 1/3, vit 2/3.
  torch::Tensor allowed = torch::zeros({1, L}, torch::kBool);
  allowed.index_put_({0, torch::indexing::Slice(0, 3)}, true);
  s = shares_from_qk(q, k, {1}, types, allowed);
  EXPECT_NEAR(s.vit, 2.0 / 3, 1e-6);
  // From probabilities: [H=2, nq=1, K=3] rows (0.5, 0.25, 0.25) and (0.1, 0.9, 0) with types text, vit, ignore.
  s = shares_from_probs(torch::tensor({0.5, 0.25, 0.25, 0.1, 0.9, 0.0}).reshape({2, 1, 3}), {K::kText, K::kVit, K::kIgnore});
  EXPECT_NEAR(s.text, 0.3, 1e-6);  // float32 probabilities
  EXPECT_NEAR(s.vit, 0.575, 1e-6);
  EXPECT_NEAR(s.vae, 0.0, 1e-9);

  // Accumulation through the hook over layers and samples, then % change.
  AttentionAllocation base(2), tuned(2);
  base.set_sample(types, {5});
  tuned.set_sample(types, {2});
  auto hb = base.hook(), ht = tuned.hook();
  for (int64_t l = 0; l < 2; ++l) hb(l, q, k), ht(l, q, k);
  const auto mb = base.mean(), mt = tuned.mean();
  EXPECT_NEAR(mb[1].vision_ratio(), 4.0 / 6, 1e-6);
  const auto pct = allocation_change_percent(mb, mt);
  EXPECT_NEAR(pct[0], 100.0 * ((2.0 / 3) - (4.0 / 6)) / (4.0 / 6), 1e-4);  // both 2/3 -> 0 %
  testing::TempDir dir("attn");
  write_attention_plot(dir.file("a.png"), mb, mt, "change");
  write_attention_plot(dir.file("b.png"), mb, {}, "shares");

  // Bad input.
  EXPECT_THROW(shares_from_qk(q, k, {6}, types), Error);
  EXPECT_THROW(shares_from_qk(q, torch::zeros({L, 3, d}), {1}, types), Error);  // 4 heads vs 3 kv heads
  EXPECT_THROW(shares_from_qk(q, k, {1}, {K::kText}), Error);
  AttentionAllocation empty(3);
  EXPECT_THROW(empty.mean(), Error);
  EXPECT_THROW(empty.add(0, q, k), Error);  // no set_sample
}

}  // namespace
}  // namespace sgt::eval
