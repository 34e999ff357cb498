// Mini benchmarks on the synthetic world: the detector against the rendered ground truth, the scene annotations
// through the official scorers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/image.h"
#include "data/world.h"
#include "eval/world_bench.h"
#include "testing/testing.h"

namespace sgt::eval {
namespace {

TEST(WorldBench, DetectorFindsRenderedObjects) {
  // Held-out scenes as the shards store them (JPEG q92). A GT object is found when a detection of its colour
  // contains its visible centroid; it is named right when that detection's shape is also right.
  data::WorldConfig cfg;
  cfg.seed = 11;
  int64_t objects = 0, found = 0, named = 0, detections = 0, true_dets = 0;
  for (int64_t i = 0; i < 60; ++i) {
    const data::Scene s = data::generate_scene(cfg, 1, i);
    const data::Image img = data::decode_image(data::encode_jpeg(s.image, 92), "scene");
    const auto dets = detect_world_objects(img);
    detections += static_cast<int64_t>(dets.size());
    std::vector<int> used(dets.size(), 0);
    for (const auto& o : s.objects) {
      ++objects;
      bool f = false, n = false;
      for (size_t k = 0; k < dets.size(); ++k) {
        const auto& b = dets[k].box;
        if (dets[k].color != o.color || o.mx < b[0] || o.mx > b[2] || o.my < b[1] || o.my > b[3]) continue;
        f = true;
        used[k] = 1;
        n = n || dets[k].cls == o.shape;
      }
      found += f;
      named += n;
    }
    for (int u : used) true_dets += u;
  }
  const double recall = double(found) / objects, shape_acc = double(named) / objects,
               precision = double(true_dets) / detections;
  std::printf("world detector on 60 scenes: %lld objects, recall %.3f, shape+colour %.3f, precision %.3f\n",
              static_cast<long long>(objects), recall, shape_acc, precision);
  EXPECT_GT(objects, 150);
  EXPECT_GE(recall, 0.95);
  EXPECT_GE(shape_acc, 0.85);
  EXPECT_GE(precision, 0.9);
  EXPECT_THROW(detect_world_objects(data::Image()), Error);
}

TEST(WorldBench, ShardsThroughTheScorers) {
  testing::TempDir dir("world");
  data::WorldConfig cfg;
  cfg.seed = 5;
  cfg.train = 1;
  cfg.heldout = 30;
  data::write_world(dir.path(), cfg, 2);
  std::vector<std::string> shards;
  for (const auto& f : std::filesystem::directory_iterator(dir.path() + "/heldout")) shards.push_back(f.path().string());
  std::sort(shards.begin(), shards.end());
  const WorldBenchmark wb = read_world_benchmark(shards, true);
  ASSERT_FALSE(wb.cvbench.empty());
  ASSERT_EQ(wb.geneval.size(), wb.prompt_scene.size());
  EXPECT_EQ(wb.jpeg.size(), 30u);

  // CV-Bench: the true letters score 1; always "A" scores the share of "(A)" answers per source.
  std::map<int64_t, std::string> truth, always_a;
  std::map<std::string, std::pair<int, int>> a_share;
  for (const auto& it : wb.cvbench) {
    truth[it.idx] = answer_letter(it.answer);
    always_a[it.idx] = "A";
    a_share[it.source].first += it.answer == "(A)";
    ++a_share[it.source].second;
  }
  EXPECT_DOUBLE_EQ(*score_cvbench(wb.cvbench, truth).overall, 1.0);
  const auto sa = score_cvbench(wb.cvbench, always_a);
  ASSERT_EQ(a_share.size(), 2u);  // world-2D and world-3D
  const double e2 = double(a_share["world-2D"].first) / a_share["world-2D"].second;
  const double e3 = double(a_share["world-3D"].first) / a_share["world-3D"].second;
  EXPECT_DOUBLE_EQ(*sa.acc_2d, e2);
  EXPECT_DOUBLE_EQ(*sa.acc_3d, e3);
  EXPECT_DOUBLE_EQ(*sa.overall, (e2 + e3) / 2);

  // Export in the official layout and read it back through the CV-Bench reader.
  export_world_cvbench(wb, dir.path() + "/cvb");
  const auto items = read_cvbench_jsonl(dir.path() + "/cvb/test.jsonl");
  ASSERT_EQ(items.size(), wb.cvbench.size());
  EXPECT_EQ(items[0].prompt, wb.cvbench[0].prompt);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/cvb/" + items[0].filename));

  // GenEval self-check: each scene's own image against the prompts drawn from it.
  const auto res = world_geneval_self_check(wb);
  const auto s = summarize_geneval(res);
  std::printf("world GenEval self-check: %lld prompts, overall %.3f\n", static_cast<long long>(s.images), s.overall);
  for (const auto& [tag, v] : s.tag_scores) std::printf("  %s %.3f\n", tag.c_str(), v);
  EXPECT_GE(s.overall, 0.8);

  // The folder route: write one scene as a GenEval sample, detect, score.
  const std::string gen = dir.path() + "/gen";
  const std::vector<GenEvalPrompt> first = {wb.geneval[0]};
  write_geneval_folder(gen, first, 1, 0, [&](const std::string&, uint64_t) {
    return data::decode_image(wb.jpeg.at(wb.prompt_scene[0]), "x");
  });
  EXPECT_EQ(detect_world_folder(gen, dir.file("det.jsonl")), 1);
  const auto r = score_geneval_detections(dir.file("det.jsonl"), first);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].decision.correct, res[0].decision.correct);
}

}  // namespace
}  // namespace sgt::eval
