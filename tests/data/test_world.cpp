// Synthetic world: determinism (same seed -> identical shard bytes), masks decode to the rendered instances, and
// CV-Bench / GenEval annotations agree with what is recomputed from the decoded masks and depth map.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/config.h"
#include "core/error.h"
#include "data/image.h"
#include "data/sa1b.h"
#include "data/webdataset.h"
#include "data/world.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::data;
using Json = nlohmann::ordered_json;

namespace {

WorldConfig small_config(uint64_t seed) {
  WorldConfig c;
  c.seed = seed;
  c.train = 12;
  c.heldout = 4;
  c.samples_per_shard = 5;
  c.min_side = 64;
  c.max_side = 128;
  return c;
}

std::vector<uint8_t> file_bytes(const std::string& p) { return read_file_bytes(p); }

struct Decoded {  // what a consumer of the shards sees, recomputed without the generator's internals
  Json scene, cvbench, geneval;
  std::vector<std::vector<uint8_t>> masks;  // per annotation, row-major 0/1
  std::vector<std::pair<double, double>> centroid;
  std::vector<double> depth;  // mean depth-map value / 255 inside each mask
  int64_t w = 0, h = 0;
};

Decoded decode(const WdsSample& s) {
  Decoded d;
  auto text = [&](const std::string& ext) {
    const auto& b = s.at(ext);
    return std::string(b.begin(), b.end());
  };
  d.scene = Json::parse(text("scene.json"));
  d.cvbench = Json::parse(text("cvbench.json"));
  d.geneval = Json::parse(text("geneval.json"));
  const SaRecord rec = parse_sa1b_json(text("json"), s.key);
  const Image depth = decode_image(s.at("depth.png"), s.key);
  d.w = rec.image.width;
  d.h = rec.image.height;
  for (const auto& a : rec.annotations) {
    auto m = rle_decode(a.segmentation);
    double sx = 0, sy = 0, sd = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < d.w * d.h; ++i)
      if (m[i]) {
        sx += i % d.w + 0.5;
        sy += i / d.w + 0.5;
        sd += depth.pixels[i];
        ++n;
      }
    d.centroid.emplace_back(sx / n, sy / n);
    d.depth.push_back(sd / n / 255.0);
    d.masks.push_back(std::move(m));
  }
  return d;
}

std::string obj_name(const Json& o) { return o["color"].get<std::string>() + " " + o["shape"].get<std::string>(); }

}  // namespace

TEST(World, SameSeedSameBytesOtherSeedDiffers) {
  sgt::testing::TempDir a("world_a"), b("world_b"), c("world_c");
  const auto sa = write_world(a.path(), small_config(3), 2);
  const auto sb = write_world(b.path(), small_config(3), 1);  // thread count does not change the bytes
  write_world(c.path(), small_config(4), 1);
  ASSERT_EQ(sa.train_shards.size(), 3u);
  ASSERT_EQ(sa.heldout_shards.size(), 1u);
  EXPECT_EQ(sa.scenes, 16);
  EXPECT_EQ(sa.objects, sb.objects);
  for (const auto& sh : {"train/world-train-000000.tar", "train/world-train-000002.tar",
                         "heldout/world-heldout-000000.tar", "world.json"}) {
    EXPECT_EQ(file_bytes(a.file(sh)), file_bytes(b.file(sh))) << sh;
  }
  EXPECT_NE(file_bytes(a.file("train/world-train-000000.tar")), file_bytes(c.file("train/world-train-000000.tar")));
  // train and held-out are different streams
  EXPECT_NE(generate_scene(small_config(3), 0, 0).image.pixels, generate_scene(small_config(3), 1, 0).image.pixels);
  WorldConfig bad = small_config(1);
  bad.max_objects = 0;
  EXPECT_THROW(write_world(c.path(), bad), Error);
}

TEST(World, MasksAreTheRenderedInstances) {
  WorldConfig cfg = small_config(11);
  int64_t checked = 0;
  for (int64_t i = 0; i < 40; ++i) {
    const Scene s = generate_scene(cfg, 0, i);
    ASSERT_FALSE(s.objects.empty());
    ASSERT_EQ(s.width % 16, 0);
    std::vector<int> cover(static_cast<size_t>(s.width * s.height), 0);
    for (const auto& o : s.objects) {
      const auto m = rle_decode(o.mask);
      const auto rgb = world_color_rgb(o.color);
      uint64_t n = 0;
      for (int64_t p = 0; p < s.width * s.height; ++p) {
        if (!m[p]) continue;
        ++n;
        ++cover[p];
        for (int k = 0; k < 3; ++k) ASSERT_LE(std::abs(s.image.pixels[3 * p + k] - rgb[k]), 8) << s.key;
        ASSERT_EQ(s.depth.pixels[p], static_cast<uint8_t>(std::lround(255 * o.depth)));
      }
      EXPECT_GE(2 * n, o.full_area);  // at least half of every shape stays visible
      ++checked;
    }
    for (int v : cover) ASSERT_LE(v, 1);  // visible masks are disjoint
    // nearer objects occlude farther ones: paint order is far to near
    for (size_t k = 1; k < s.objects.size(); ++k) EXPECT_GT(s.objects[k - 1].depth, s.objects[k].depth);
  }
  EXPECT_GT(checked, 60);
}

TEST(World, ShardsReadBackAndAnswersMatchTheScene) {
  sgt::testing::TempDir dir("world_q");
  WorldConfig cfg = small_config(5);
  cfg.train = 60;
  cfg.heldout = 0;
  cfg.samples_per_shard = 30;
  write_world(dir.path(), cfg, 2);
  WdsReader reader(expand_shard_list(std::vector<std::string>{dir.path() + "/train/world-train-{000000..000001}.tar"}));
  WdsSample s;
  int64_t n = 0;
  std::map<std::string, int64_t> tasks, tags;
  while (reader.next(s)) {
    ++n;
    for (const char* ext : {"jpg", "json", "depth.png", "txt", "scene.json", "cvbench.json", "geneval.json"})
      ASSERT_TRUE(s.has(ext)) << s.key << " " << ext;
    const Image img = decode_image(s.at("jpg"), s.key);
    const Decoded d = decode(s);
    ASSERT_EQ(img.width, d.w);
    const auto& objs = d.scene["objects"];
    ASSERT_EQ(objs.size(), d.masks.size());
    std::map<std::string, int> by_name;
    std::map<std::string, int64_t> counts;
    for (size_t i = 0; i < objs.size(); ++i) {
      by_name[obj_name(objs[i])] = static_cast<int>(i);
      ++counts[objs[i]["shape"].get<std::string>()];
    }
    for (const auto& q : d.cvbench) {
      const std::string task = q["task"];
      ++tasks[task];
      const std::string ans = q["answer"];
      const std::string chosen = q["choices"][ans[1] - 'A'];
      ASSERT_NE(q["prompt"].get<std::string>().find("Select from the following choices."), std::string::npos);
      if (task == "Count") {
        const std::string qs = q["question"];
        const std::string cls = qs.substr(9, qs.find("s are") - 9);  // "How many <cls>s are in the image?"
        EXPECT_EQ(chosen, std::to_string(counts.count(cls) ? counts[cls] : 0)) << qs;
        continue;
      }
      const auto& ids = q["objects"];
      auto idx = [&](size_t k) { return static_cast<size_t>(ids[k].get<int64_t>() - 1); };
      if (task == "Relation") {
        const auto a = d.centroid[idx(0)], b = d.centroid[idx(1)];
        std::string truth;
        if (chosen == "left" || chosen == "right") truth = a.first < b.first ? "left" : "right";
        else truth = a.second < b.second ? "above" : "below";
        EXPECT_EQ(chosen, truth) << s.key;
      } else if (task == "Depth") {
        const size_t a = idx(0), b = idx(1);
        EXPECT_EQ(chosen, obj_name(objs[d.depth[a] < d.depth[b] ? a : b])) << s.key;
      } else if (task == "Distance") {
        const size_t an = idx(0), a = idx(1), b = idx(2);
        const double side = std::max(d.w, d.h);
        auto dist = [&](size_t x, size_t y) {
          const double dx = (d.centroid[x].first - d.centroid[y].first) / side;
          const double dy = (d.centroid[x].second - d.centroid[y].second) / side;
          const double dz = d.depth[x] - d.depth[y];
          return std::sqrt(dx * dx + dy * dy + dz * dz);
        };
        EXPECT_EQ(chosen, obj_name(objs[dist(an, a) < dist(an, b) ? a : b])) << s.key;
      }
    }
    for (const auto& p : d.geneval) {
      ++tags[p["tag"].get<std::string>()];
      for (const auto& r : p["include"]) {
        const std::string cls = r["class"];
        EXPECT_GE(counts[cls], r["count"].get<int64_t>()) << p["prompt"];
        if (r.contains("color")) {
          bool found = false;
          for (const auto& o : objs) found = found || (o["shape"] == cls && o["color"] == r["color"]);
          EXPECT_TRUE(found) << p["prompt"];
        }
        if (r.contains("position")) {
          const std::string rel = r["position"][0];
          const std::string ref = p["include"][r["position"][1].get<int64_t>()]["class"];
          size_t io = 0, ir = 0;
          for (size_t i = 0; i < objs.size(); ++i) {
            if (objs[i]["shape"] == cls) io = i;
            if (objs[i]["shape"] == ref) ir = i;
          }
          const auto o = d.centroid[io], f = d.centroid[ir];
          if (rel == "left of") {
            EXPECT_LT(o.first, f.first);
          }
          if (rel == "right of") {
            EXPECT_GT(o.first, f.first);
          }
          if (rel == "above") {
            EXPECT_LT(o.second, f.second);
          }
          if (rel == "below") {
            EXPECT_GT(o.second, f.second);
          }
        }
      }
      if (p.contains("exclude")) {
        for (const auto& r : p["exclude"]) {
          EXPECT_LT(counts[r["class"].get<std::string>()], r["count"].get<int64_t>());
        }
      }
    }
  }
  EXPECT_EQ(n, 60);
  for (const char* t : {"Count", "Relation", "Depth", "Distance"}) EXPECT_GT(tasks[t], 0) << t;
  for (const char* t : {"single_object", "two_object", "counting", "colors", "position", "color_attr"})
    EXPECT_GT(tags[t], 0) << t;
}

TEST(World, GenerationIsFast) {
  WorldConfig cfg = small_config(2);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t objects = 0;
  for (int64_t i = 0; i < 100; ++i) {
    const Scene s = generate_scene(cfg, 0, i);
    objects += static_cast<int64_t>(s.objects.size());
    scene_members(s, cfg);
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("world: 100 scenes (64-128 px, %lld objects) rendered and encoded in %.3f s (%.0f scenes/s)\n",
              static_cast<long long>(objects), sec, 100 / sec);
  EXPECT_LT(sec, 5.0);
}

TEST(World, ReferenceLibrariesReadTheShards) {
  // webdataset groups the members, pycocotools decodes the RLE, PIL opens the images (tools/world_ref.py)
  sgt::testing::TempDir dir("world_ref");
  WorldConfig cfg = small_config(9);
  cfg.train = 8;
  cfg.heldout = 0;
  cfg.samples_per_shard = 8;
  write_world(dir.path(), cfg, 1);
  const std::string shard = dir.path() + "/train/world-train-000000.tar";
  const auto r = sgt::testing::run_python_tool("world_ref.py", {shard});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<Json> lines;
  size_t at = 0;
  while (at < r.output.size()) {
    const size_t nl = r.output.find('\n', at);
    const std::string line = r.output.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? r.output.size() : nl + 1;
    if (!line.empty() && line[0] == '{') lines.push_back(Json::parse(line));
  }
  ASSERT_EQ(lines.size(), 8u) << r.output;
  for (int64_t i = 0; i < 8; ++i) {
    const Scene s = generate_scene(cfg, 0, i);
    const Json& l = lines[i];
    EXPECT_EQ(l["key"], s.key);
    EXPECT_EQ(l["exts"], Json({"cvbench.json", "depth.png", "geneval.json", "jpg", "json", "scene.json", "txt"}));
    EXPECT_EQ(l["size"], Json({s.width, s.height}));
    EXPECT_EQ(l["mode"], "RGB");
    ASSERT_EQ(l["annotations"].size(), s.objects.size());
    for (size_t k = 0; k < s.objects.size(); ++k) {
      const auto& a = l["annotations"][k];
      const uint64_t area = rle_area(s.objects[k].mask);
      const auto bb = rle_bbox(s.objects[k].mask);
      EXPECT_EQ(a["area"].get<uint64_t>(), area);
      EXPECT_EQ(a["pixels"].get<uint64_t>(), area);
      EXPECT_EQ(a["depth_match"].get<uint64_t>(), area);
      for (int c = 0; c < 4; ++c) EXPECT_DOUBLE_EQ(a["bbox"][c].get<double>(), bb[c]);
      // The RLE centroid equals the one the renderer summed over the raw visible mask.
      const auto centre = rle_centroid(s.objects[k].mask);
      ASSERT_TRUE(centre.has_value());
      EXPECT_NEAR((*centre)[0], s.objects[k].mx, 1e-9);
      EXPECT_NEAR((*centre)[1], s.objects[k].my, 1e-9);
    }
  }
}
