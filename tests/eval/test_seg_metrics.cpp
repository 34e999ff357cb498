// Dense-target metrics against hand-computed values; the Hungarian matching against scipy.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/image.h"
#include "eval/hungarian.h"
#include "eval/seg_metrics.h"
#include "testing/testing.h"

namespace sgt::eval {
namespace {

void paint(data::Image& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, std::array<uint8_t, 3> c, int noise = 0,
           uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-noise, noise);
  for (int64_t y = y0; y <= y1; ++y)
    for (int64_t x = x0; x <= x1; ++x)
      for (int k = 0; k < 3; ++k) img.at(y, x)[k] = static_cast<uint8_t>(std::clamp(c[k] + (noise ? d(rng) : 0), 0, 255));
}

TEST(Hungarian, MatchesScipyAndHandExample) {
  // scipy's documented example: cost 5 with rows -> cols [1, 0, 2].
  const std::vector<int64_t> a = linear_sum_assignment({4, 1, 3, 2, 0, 5, 3, 2, 2}, 3, 3);
  EXPECT_EQ(a, (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(linear_sum_assignment({}, 0, 4).size(), 0u);
  EXPECT_THROW(linear_sum_assignment({1, 2, 3}, 2, 2), Error);
  EXPECT_THROW(linear_sum_assignment({1, NAN, 3, 4}, 2, 2), Error);

  // Random rectangular problems, both senses, against scipy.optimize.linear_sum_assignment.
  testing::TempDir dir("lsa");
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 10.0);
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 5}, {5, 3}, {7, 7}, {10, 4}, {4, 10}, {25, 25}, {30, 18}};
  nlohmann::json in;
  std::vector<std::vector<double>> costs;
  for (size_t k = 0; k < shapes.size() * 2; ++k) {
    const auto [r, c] = shapes[k % shapes.size()];
    std::vector<double> cost(r * c);
    for (double& v : cost) v = u(rng);
    if (k % 3 == 0)  // integer costs (ties) still give the same optimal total
      for (double& v : cost) v = std::floor(v / 3);
    costs.push_back(cost);
    in["problems"].push_back({{"rows", r}, {"cols", c}, {"cost", cost}, {"maximize", k >= shapes.size()}});
  }
  std::ofstream(dir.file("in.json")) << in.dump();
  const auto res = testing::run_python_tool("eval_ref.py", {"lsa", dir.file("in.json"), dir.file("out.json")});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  nlohmann::json out;
  std::ifstream(dir.file("out.json")) >> out;
  for (size_t k = 0; k < costs.size(); ++k) {
    const auto [r, c] = shapes[k % shapes.size()];
    const auto m = linear_sum_assignment(costs[k], r, c, k >= shapes.size());
    double total = 0;
    int64_t pairs = 0;
    std::vector<int> col_used(c, 0);
    for (int64_t i = 0; i < r; ++i)
      if (m[i] >= 0) total += costs[k][i * c + m[i]], ++pairs, ++col_used[m[i]];
    for (int u2 : col_used) EXPECT_LE(u2, 1);
    EXPECT_EQ(pairs, std::min(r, c));
    EXPECT_NEAR(total, out["results"][k]["total"].get<double>(), 1e-9) << "problem " << k;
    if (k % 3 != 0) {  // continuous costs: the optimum is unique, so the assignment equals scipy's
      const auto rows = out["results"][k]["row_ind"].get<std::vector<int64_t>>();
      const auto cols = out["results"][k]["col_ind"].get<std::vector<int64_t>>();
      for (size_t t = 0; t < rows.size(); ++t) EXPECT_EQ(m[rows[t]], cols[t]) << "problem " << k;
    }
  }
}

TEST(SegMetrics, MatchedInstanceIouHandComputed) {
  // GT: red square A (x 0-9, y 0-9) and green square B (x 10-19, y 10-19), 100 px each, black elsewhere.
  data::Image gt(20, 20, 3, 0);
  paint(gt, 0, 0, 9, 9, {255, 0, 0});
  paint(gt, 10, 10, 19, 19, {0, 255, 0});
  // Pred: other colours with noise. A' covers rows 0-7 of A (80 px) -> IoU 0.8. B' covers B plus rows 5-9 of the
  // same columns (150 px) -> IoU 100/150. A 5-px speck is dropped (min_region_pixels 16).
  data::Image pred(20, 20, 3, 10);
  paint(pred, 0, 0, 9, 7, {20, 40, 230}, 6, 1);
  paint(pred, 10, 5, 19, 19, {240, 240, 20}, 6, 2);
  paint(pred, 0, 15, 4, 15, {200, 0, 200});
  const SegMatchResult r = matched_instance_iou(pred, gt);
  EXPECT_EQ(r.gt_instances, 2);
  EXPECT_EQ(r.pred_regions, 2);
  ASSERT_EQ(r.per_instance_iou.size(), 2u);
  EXPECT_NEAR(r.per_instance_iou[0], 0.8, 1e-12);
  EXPECT_NEAR(r.per_instance_iou[1], 100.0 / 150.0, 1e-12);
  EXPECT_NEAR(r.mean_iou, (0.8 + 100.0 / 150.0) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(r.precision, 1.0);
  EXPECT_DOUBLE_EQ(r.recall, 1.0);

  // The matching is one-to-one: swap the pred colours between regions and nothing changes; use one colour for
  // both and only one GT instance matches (IoU 80/(100+150-0) region union... computed below).
  data::Image same(20, 20, 3, 0);
  paint(same, 0, 0, 9, 9, {200, 200, 200});
  paint(same, 10, 10, 19, 19, {205, 195, 200});  // within tolerance: one cluster of 200 px
  const SegMatchResult one = matched_instance_iou(same, gt);
  EXPECT_EQ(one.pred_regions, 1);
  EXPECT_NEAR(one.mean_iou, 0.5 / 2, 1e-12);  // one GT gets IoU 100/200, the other 0
  EXPECT_DOUBLE_EQ(one.recall, 0.5);
  SegMatchOptions split;
  split.split_components = true;  // two 4-connected components -> both match perfectly
  const SegMatchResult two = matched_instance_iou(same, gt, split);
  EXPECT_EQ(two.pred_regions, 2);
  EXPECT_DOUBLE_EQ(two.mean_iou, 1.0);

  // Empty GT: 1 with no prediction, 0 with one; size mismatch throws.
  data::Image black(20, 20, 3, 0);
  EXPECT_DOUBLE_EQ(matched_instance_iou(black, black).mean_iou, 1.0);
  EXPECT_DOUBLE_EQ(matched_instance_iou(same, black).mean_iou, 0.0);
  EXPECT_THROW(matched_instance_iou(data::Image(19, 20, 3, 0), gt), Error);
  EXPECT_THROW(matched_instance_iou(data::Image(), gt), Error);

  // Foreground IoU ignores colours: pred foreground = A' (80 px, inside A) + B' (150 px: B + 50 px outside) + the
  // 5-px speck outside; the background level 10 is below background_max. GT foreground = A + B (200 px).
  EXPECT_NEAR(foreground_iou(pred, gt), (80.0 + 100.0) / (200.0 + 50.0 + 5.0), 1e-12);
  EXPECT_DOUBLE_EQ(foreground_iou(same, gt), 1.0);
  EXPECT_DOUBLE_EQ(foreground_iou(black, black), 1.0);
  EXPECT_DOUBLE_EQ(foreground_iou(black, gt), 0.0);
  EXPECT_THROW(foreground_iou(data::Image(19, 20, 3, 0), gt), Error);
}

TEST(SegMetrics, EdgeAndDepthHandComputed) {
  // GT edge: column x = 10 (20 px). Pred: column x = 11 (20 px) plus one stray pixel at (2, 2).
  data::Image gt(20, 20, 1, 0), pred(20, 20, 1, 0);
  for (int64_t y = 0; y < 20; ++y) gt.at(y, 10)[0] = 255, pred.at(y, 11)[0] = 200;
  pred.at(2, 2)[0] = 255;
  EdgeResult e = edge_f1(pred, gt, {128, 2.0});
  EXPECT_EQ(e.pred_edges, 21);
  EXPECT_EQ(e.gt_edges, 20);
  EXPECT_NEAR(e.precision, 20.0 / 21.0, 1e-12);
  EXPECT_DOUBLE_EQ(e.recall, 1.0);
  EXPECT_NEAR(e.f1, 2 * (20.0 / 21.0) / (20.0 / 21.0 + 1.0), 1e-12);
  e = edge_f1(pred, gt, {128, 0.0});  // no tolerance: nothing lines up
  EXPECT_DOUBLE_EQ(e.f1, 0.0);
  int64_t best_t = 0;
  e = edge_best_f1(pred, gt, {100, 220}, 2.0, &best_t);  // 220 drops the column of 200s
  EXPECT_EQ(best_t, 100);
  EXPECT_THROW(edge_f1(pred, data::Image(20, 19, 1, 0)), Error);

  // Depth: pred = 2 * gt is perfect after median scaling.
  DepthResult d = depth_metrics(std::vector<double>{2, 4, 6, 8}, std::vector<double>{1, 2, 3, 4});
  EXPECT_NEAR(d.scale, 0.5, 1e-12);
  EXPECT_NEAR(d.abs_rel, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(d.delta1, 1.0);
  // Least squares scale and shift recovers pred = 2 gt + 1.
  d = depth_metrics(std::vector<double>{3, 5, 7, 9}, std::vector<double>{1, 2, 3, 4}, {DepthAlign::kLeastSquaresScaleShift});
  EXPECT_NEAR(d.scale, 0.5, 1e-12);
  EXPECT_NEAR(d.shift, -0.5, 1e-12);
  EXPECT_NEAR(d.rmse, 0.0, 1e-12);
  // Unaligned: gt {1, 2, 4}, pred {1, 1, 1}; gt 0 is invalid and skipped.
  d = depth_metrics(std::vector<double>{1, 1, 1, 5}, std::vector<double>{1, 2, 4, 0}, {DepthAlign::kNone});
  EXPECT_EQ(d.valid, 3);
  EXPECT_NEAR(d.abs_rel, (0 + 0.5 + 0.75) / 3, 1e-12);
  EXPECT_NEAR(d.rmse, std::sqrt((0 + 1 + 9) / 3.0), 1e-12);
  EXPECT_NEAR(d.delta1, 1.0 / 3, 1e-12);
  EXPECT_THROW(depth_metrics(std::vector<double>{1}, std::vector<double>{1, 2}), Error);
  EXPECT_THROW(depth_metrics(std::vector<double>{1, 2}, std::vector<double>{0, 0}), Error);
}

}  // namespace
}  // namespace sgt::eval
