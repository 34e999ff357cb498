// Synthetic world: scene sampling and rendering, tar members, shard writing. Questions / prompts / captions are
// in world_questions.cpp.
#include "data/world.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "data/tar.h"
#include "io/atomic_file.h"

namespace sgt::data {

void WorldConfig::validate() const {
  SGT_CHECK(train >= 0 && heldout >= 0, "world", "negative scene counts (train {}, heldout {})", train, heldout);
  SGT_CHECK(min_side >= 32 && max_side >= min_side && max_side <= 1024, "world",
            "sides must satisfy 32 <= min_side ({}) <= max_side ({}) <= 1024", min_side, max_side);
  SGT_CHECK(max_objects >= 1 && max_objects <= 16, "world", "max_objects {} outside [1, 16]", max_objects);
  SGT_CHECK(samples_per_shard >= 1, "world", "samples_per_shard {} < 1", samples_per_shard);
  SGT_CHECK(jpeg_quality >= 1 && jpeg_quality <= 100, "world", "jpeg_quality {} outside [1, 100]", jpeg_quality);
}

const std::vector<std::string>& world_shapes() {
  static const std::vector<std::string> k = {"circle", "square", "triangle", "diamond", "hexagon"};
  return k;
}

const std::vector<std::string>& world_colors() {
  static const std::vector<std::string> k = {"red",   "orange", "yellow", "green", "blue",
                                             "purple", "pink",  "brown",  "black", "white"};
  return k;
}

std::array<uint8_t, 3> world_color_rgb(const std::string& name) {
  static const std::vector<std::array<uint8_t, 3>> rgb = {{220, 30, 30},  {245, 140, 20}, {240, 220, 30},
                                                          {40, 170, 60},  {40, 80, 220},  {130, 50, 180},
                                                          {245, 130, 190}, {130, 80, 40}, {20, 20, 20},
                                                          {240, 240, 240}};
  const auto& names = world_colors();
  auto it = std::find(names.begin(), names.end(), name);
  SGT_CHECK(it != names.end(), "world", "unknown colour '{}'", name);
  return rgb[it - names.begin()];
}

namespace {

// Is pixel centre (px, py) inside the shape centred at (cx, cy) with circumradius r?
bool inside(const std::string& shape, double px, double py, double cx, double cy, double r) {
  const double dx = px - cx, dy = py - cy;
  static const double s3 = std::sqrt(3.0);
  if (shape == "circle") return dx * dx + dy * dy <= r * r;
  if (shape == "square") return std::abs(dx) <= 0.8 * r && std::abs(dy) <= 0.8 * r;
  if (shape == "diamond") return std::abs(dx) + std::abs(dy) <= r;
  if (shape == "hexagon") {
    const double ax = std::abs(dx), ay = std::abs(dy);
    return ay <= r * s3 / 2 && s3 * ax + ay <= s3 * r;
  }
  // triangle pointing up: apex at dy = -r, base at dy = r/2 (circumradius r, image y grows downwards)
  if (dy > r / 2 || dy < -r) return false;
  const double frac = (dy + r) / (1.5 * r);  // 0 at the apex, 1 at the base
  return std::abs(dx) <= frac * (s3 / 2) * r;
}

struct Candidate {
  std::string shape, color, size;
  double cx, cy, r, depth;
  std::array<uint8_t, 3> rgb;
  std::vector<uint8_t> full;  // [h, w] 0/1
  uint64_t full_area = 0;
};

std::array<uint8_t, 3> muted(Rng& rng) {
  const int g = static_cast<int>(rng.range(90, 200));
  return {static_cast<uint8_t>(g + rng.range(-20, 20)), static_cast<uint8_t>(g + rng.range(-20, 20)),
          static_cast<uint8_t>(g + rng.range(-20, 20))};
}

std::string paint_background(Image& img, Rng& rng) {
  static const char* kinds[] = {"plain", "stripes", "checker", "gradient"};
  const std::string kind = kinds[rng.below(4)];
  const auto a = muted(rng), b = muted(rng);
  const int64_t period = rng.range(8, 24);
  const int64_t orient = rng.range(0, 2);
  const int64_t w = img.width, h = img.height;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      std::array<uint8_t, 3> c = a;
      if (kind == "stripes") {
        const int64_t t = orient == 0 ? y : orient == 1 ? x : x + y;
        if ((t / period) % 2) c = b;
      } else if (kind == "checker") {
        if (((x / period) + (y / period)) % 2) c = b;
      } else if (kind == "gradient") {
        const double f = static_cast<double>(orient == 1 ? x : y) / std::max<int64_t>(1, (orient == 1 ? w : h) - 1);
        for (int k = 0; k < 3; ++k) c[k] = static_cast<uint8_t>(std::lround(a[k] * (1 - f) + b[k] * f));
      }
      const int noise = static_cast<int>(rng.below(13)) - 6;
      uint8_t* p = img.at(y, x);
      for (int k = 0; k < 3; ++k) p[k] = static_cast<uint8_t>(std::clamp(c[k] + noise, 0, 255));
    }
  return kind;
}

}  // namespace

Scene generate_scene(const WorldConfig& cfg, int split_stream, int64_t index) {
  Rng rng = Rng::derive(cfg.seed, (static_cast<uint64_t>(split_stream) << 40) ^ static_cast<uint64_t>(index));
  Scene s;
  s.key = fmt::format("{}_{:08d}", split_stream == 0 ? "train" : "heldout", index);
  const int64_t lo = (cfg.min_side + 15) / 16, hi = std::max(lo, cfg.max_side / 16);
  s.width = 16 * rng.range(lo, hi);
  s.height = 16 * rng.range(lo, hi);
  const int64_t w = s.width, h = s.height, n_px = w * h;
  const double side = static_cast<double>(std::min(w, h));
  const int64_t want = rng.range(1, cfg.max_objects);

  std::vector<Candidate> objs;
  std::vector<int16_t> owner(static_cast<size_t>(n_px));
  // Recomputes the owner map (index of the nearest object per pixel, -1 for background) for `objs`.
  auto visible_ok = [&](const std::vector<Candidate>& cand) {
    std::vector<size_t> order(cand.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cand[a].depth > cand[b].depth; });
    std::fill(owner.begin(), owner.end(), -1);
    for (size_t i : order)
      for (int64_t p = 0; p < n_px; ++p)
        if (cand[i].full[p]) owner[p] = static_cast<int16_t>(i);
    std::vector<uint64_t> vis(cand.size(), 0);
    for (int64_t p = 0; p < n_px; ++p)
      if (owner[p] >= 0) ++vis[owner[p]];
    for (size_t i = 0; i < cand.size(); ++i)
      if (vis[i] < 24 || 2 * vis[i] < cand[i].full_area) return false;
    return true;
  };
  for (int64_t k = 0, tries = 0; k < want && tries < 40 * want; ++tries) {
    Candidate c;
    c.shape = world_shapes()[rng.below(world_shapes().size())];
    c.color = world_colors()[rng.below(world_colors().size())];
    bool dup = false;  // (colour, shape) pairs are unique so that every object can be named unambiguously
    for (const auto& o : objs) dup = dup || (o.shape == c.shape && o.color == c.color);
    if (dup) continue;
    const int64_t sz = rng.range(0, 2);
    c.size = sz == 0 ? "small" : sz == 1 ? "medium" : "large";
    const double frac = sz == 0 ? 0.07 + 0.03 * rng.uniform() : sz == 1 ? 0.12 + 0.04 * rng.uniform()
                                                                        : 0.19 + 0.05 * rng.uniform();
    c.r = frac * side;
    c.cx = c.r + rng.uniform() * (w - 2 * c.r);
    c.cy = c.r + rng.uniform() * (h - 2 * c.r);
    c.depth = 0.1 + 0.75 * rng.uniform();
    bool close = false;  // depths at least 0.05 apart: depth-order answers stay clear
    for (const auto& o : objs) close = close || std::abs(o.depth - c.depth) < 0.05;
    if (close) continue;
    const auto base = world_color_rgb(c.color);
    for (int i = 0; i < 3; ++i) c.rgb[i] = static_cast<uint8_t>(std::clamp<int64_t>(base[i] + rng.range(-8, 8), 0, 255));
    c.full.assign(static_cast<size_t>(n_px), 0);
    const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(c.cx - c.r) - 1);
    const int64_t x1 = std::min<int64_t>(w, static_cast<int64_t>(c.cx + c.r) + 2);
    const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(c.cy - c.r) - 1);
    const int64_t y1 = std::min<int64_t>(h, static_cast<int64_t>(c.cy + c.r) + 2);
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x)
        if (inside(c.shape, x + 0.5, y + 0.5, c.cx, c.cy, c.r)) {
          c.full[y * w + x] = 1;
          ++c.full_area;
        }
    if (c.full_area < 24) continue;
    objs.push_back(std::move(c));
    if (!visible_ok(objs)) {
      objs.pop_back();
      continue;
    }
    ++k;
  }
  std::stable_sort(objs.begin(), objs.end(), [](const Candidate& a, const Candidate& b) { return a.depth > b.depth; });
  visible_ok(objs);  // owner map of the final, sorted list

  s.image = Image(w, h, 3);
  s.background = paint_background(s.image, rng);
  s.depth = Image(w, h, 1);
  for (int64_t y = 0; y < h; ++y)  // background: a far floor, slightly nearer towards the bottom
    for (int64_t x = 0; x < w; ++x)
      s.depth.pixels[y * w + x] = static_cast<uint8_t>(std::lround(255 * (0.9 + 0.1 * (1.0 - double(y) / h))));
  std::vector<uint8_t> mask(static_cast<size_t>(n_px));
  for (size_t i = 0; i < objs.size(); ++i) {
    const auto& c = objs[i];
    WorldObject o;
    o.id = static_cast<int64_t>(i) + 1;
    o.shape = c.shape;
    o.color = c.color;
    o.size = c.size;
    o.cx = c.cx;
    o.cy = c.cy;
    o.radius = c.r;
    o.depth = c.depth;
    o.full_area = c.full_area;
    double sx = 0, sy = 0;
    uint64_t n = 0;
    const auto dv = static_cast<uint8_t>(std::lround(255 * c.depth));
    for (int64_t p = 0; p < n_px; ++p) {
      mask[p] = owner[p] == static_cast<int16_t>(i);
      if (!mask[p]) continue;
      uint8_t* px = s.image.pixels.data() + 3 * p;
      for (int k = 0; k < 3; ++k) px[k] = c.rgb[k];
      s.depth.pixels[p] = dv;
      sx += p % w + 0.5;
      sy += p / w + 0.5;
      ++n;
    }
    o.mx = sx / n;
    o.my = sy / n;
    o.mask = rle_encode(mask.data(), h, w);
    s.objects.push_back(std::move(o));
  }
  return s;
}

std::vector<std::pair<std::string, std::vector<uint8_t>>> scene_members(const Scene& scene, const WorldConfig& cfg) {
  auto bytes = [](const std::string& t) { return std::vector<uint8_t>(t.begin(), t.end()); };
  // Questions and prompts get their own stream so that their choice does not depend on rendering draws.
  Rng q = Rng::derive(cfg.seed ^ 0x9e3779b97f4a7c15ULL, hash64(scene.key));
  std::vector<std::pair<std::string, std::vector<uint8_t>>> m;
  m.emplace_back(scene.key + ".jpg", encode_jpeg(scene.image, static_cast<int>(cfg.jpeg_quality)));
  m.emplace_back(scene.key + ".json", bytes(scene_sa1b_json(scene).dump()));
  m.emplace_back(scene.key + ".depth.png", encode_png(scene.depth));
  m.emplace_back(scene.key + ".txt", bytes(scene_caption(scene)));
  m.emplace_back(scene.key + ".scene.json", bytes(scene_objects_json(scene).dump()));
  m.emplace_back(scene.key + ".cvbench.json", bytes(cvbench_questions(scene, q).dump()));
  m.emplace_back(scene.key + ".geneval.json", bytes(geneval_prompts(scene, q).dump()));
  return m;
}

WorldSummary write_world(const std::string& out_dir, const WorldConfig& cfg, int threads) {
  cfg.validate();
  SGT_CHECK(threads >= 1, "world", "threads {} < 1", threads);
  namespace fs = std::filesystem;
  const auto t0 = std::chrono::steady_clock::now();
  WorldSummary sum;
  for (int split = 0; split < 2; ++split) {
    const std::string name = split == 0 ? "train" : "heldout";
    const int64_t total = split == 0 ? cfg.train : cfg.heldout;
    const fs::path dir = fs::path(out_dir) / name;
    fs::create_directories(dir);
    auto& shards = split == 0 ? sum.train_shards : sum.heldout_shards;
    for (int64_t start = 0, shard = 0; start < total; start += cfg.samples_per_shard, ++shard) {
      const int64_t n = std::min(cfg.samples_per_shard, total - start);
      std::vector<std::vector<std::pair<std::string, std::vector<uint8_t>>>> members(static_cast<size_t>(n));
      std::vector<int64_t> n_objects(static_cast<size_t>(n), 0);
      std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
      auto work = [&](int t) {
        try {
          for (int64_t i = t; i < n; i += threads) {
            const Scene s = generate_scene(cfg, split, start + i);
            n_objects[i] = static_cast<int64_t>(s.objects.size());
            members[i] = scene_members(s, cfg);
          }
        } catch (...) {
          errors[t] = std::current_exception();
        }
      };
      std::vector<std::thread> pool;
      for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
      work(0);
      for (auto& th : pool) th.join();
      for (auto& e : errors)
        if (e) std::rethrow_exception(e);
      const std::string file = fmt::format("world-{}-{:06d}.tar", name, shard);
      TarWriter tw((dir / file).string());
      for (const auto& scene : members)
        for (const auto& [member, data] : scene) tw.add(member, data);
      tw.close();
      shards.push_back(name + "/" + file);
      sum.scenes += n;
      for (int64_t k : n_objects) sum.objects += k;
    }
  }
  nlohmann::ordered_json manifest;
  manifest["format"] = "sgt-world-v1";
  manifest["config"] = nlohmann::ordered_json::object();
  {
    WorldConfig c = cfg;
    c.visit([&](const char* k, const auto& v) { manifest["config"][k] = v; });
  }
  manifest["train_shards"] = sum.train_shards;
  manifest["heldout_shards"] = sum.heldout_shards;
  manifest["scenes"] = sum.scenes;
  manifest["objects"] = sum.objects;
  io::atomic_write_text((fs::path(out_dir) / "world.json").string(), manifest.dump(2) + "\n");
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("world: {} scenes, {} objects, {} + {} shards in {:.2f} s -> {}", sum.scenes, sum.objects,
            sum.train_shards.size(), sum.heldout_shards.size(), sum.seconds, out_dir);
  return sum;
}

}  // namespace sgt::data
