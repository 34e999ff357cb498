// Synthetic-world benchmarks: scene annotations -> scorer types, and the programmatic shape/colour detector.
// The shape templates follow the geometry documented in data/world.h (circumradius r: circle; square of half-side
// 0.8 r; diamond |dx| + |dy| <= r; flat-topped hexagon; upward triangle with apex at -r and base at +r/2).
#include "eval/world_bench.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "core/error.h"
#include "data/webdataset.h"
#include "data/world.h"
#include "io/atomic_file.h"
#include "io/safe_path.h"

namespace sgt::eval {
namespace fs = std::filesystem;
namespace {

bool inside_shape(const std::string& shape, double dx, double dy, double r) {
  static const double s3 = std::sqrt(3.0);
  if (shape == "circle") return dx * dx + dy * dy <= r * r;
  if (shape == "square") return std::abs(dx) <= 0.8 * r && std::abs(dy) <= 0.8 * r;
  if (shape == "diamond") return std::abs(dx) + std::abs(dy) <= r;
  if (shape == "hexagon") return std::abs(dy) <= r * s3 / 2 && s3 * std::abs(dx) + std::abs(dy) <= s3 * r;
  if (dy > r / 2 || dy < -r) return false;  // triangle
  return std::abs(dx) <= (dy + r) / (1.5 * r) * (s3 / 2) * r;
}

// Circumradius and centre of `shape` fitted to a box [x0, x1) x [y0, y1) (pixel edges).
void fit(const std::string& shape, double x0, double y0, double x1, double y1, double& cx, double& cy, double& r) {
  static const double s3 = std::sqrt(3.0);
  const double w = x1 - x0, h = y1 - y0;
  cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  if (shape == "circle" || shape == "diamond") r = (w + h) / 4;
  else if (shape == "square") r = (w + h) / 4 / 0.8;
  else if (shape == "hexagon") r = (w / 2 + h / s3) / 2;
  else {  // triangle: width sqrt(3) r, height 1.5 r, apex on the top edge
    r = (w / s3 + h / 1.5) / 2;
    cy = y0 + r;
  }
}

// Circumradius from one box side alone (width: horizontal = true).
double radius_from_side(const std::string& shape, double side, bool horizontal) {
  static const double s3 = std::sqrt(3.0);
  if (shape == "circle" || shape == "diamond") return side / 2;
  if (shape == "square") return side / 1.6;
  if (shape == "hexagon") return horizontal ? side / 2 : side / s3;
  return horizontal ? side / s3 : side / 1.5;  // triangle
}

nlohmann::json parse_member(const data::WdsSample& s, const std::string& ext) {
  const auto& b = s.at(ext);
  try {
    return nlohmann::json::parse(b.begin(), b.end());
  } catch (const nlohmann::json::exception& e) {
    SGT_FAIL("world_bench", "{} in {}: invalid {} ({})", s.key, s.url, ext, e.what());
  }
}

}  // namespace

std::vector<GenEvalDetection> detect_world_objects(const data::Image& in, const WorldDetectorOptions& opt) {
  SGT_CHECK(!in.empty(), "world_bench", "detect_world_objects: empty image");
  const data::Image img = in.channels == 3 ? in : data::convert_channels(in, 3);
  const int64_t w = img.width, h = img.height, n = w * h;
  const auto& names = data::world_colors();
  std::vector<std::array<int, 3>> pal;
  for (const auto& c : names) {
    const auto rgb = data::world_color_rgb(c);
    pal.push_back({rgb[0], rgb[1], rgb[2]});
  }
  // Per-pixel colour label (-1: none).
  std::vector<int8_t> label(n, -1);
  for (int64_t k = 0; k < n; ++k) {
    const uint8_t* p = img.pixels.data() + 3 * k;
    int64_t best = opt.color_tolerance + 1;
    for (size_t c = 0; c < pal.size(); ++c) {
      const int64_t d = std::abs(p[0] - pal[c][0]) + std::abs(p[1] - pal[c][1]) + std::abs(p[2] - pal[c][2]);
      if (d < best) best = d, label[k] = static_cast<int8_t>(c);
    }
  }
  std::vector<GenEvalDetection> out;
  std::vector<uint8_t> seen(n, 0);
  std::vector<int64_t> stack, comp;
  static const char* kShapes[] = {"circle", "square", "triangle", "diamond", "hexagon"};
  for (int64_t s = 0; s < n; ++s) {
    if (label[s] < 0 || seen[s]) continue;
    const int8_t lab = label[s];
    comp.clear();
    stack.push_back(s);
    seen[s] = 1;
    int64_t x0 = w, y0 = h, x1 = -1, y1 = -1;
    while (!stack.empty()) {
      const int64_t k = stack.back();
      stack.pop_back();
      comp.push_back(k);
      const int64_t y = k / w, x = k % w;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      const int64_t nb[4] = {x > 0 ? k - 1 : -1, x + 1 < w ? k + 1 : -1, y > 0 ? k - w : -1, y + 1 < h ? k + w : -1};
      for (int64_t q : nb)
        if (q >= 0 && !seen[q] && label[q] == lab) seen[q] = 1, stack.push_back(q);
    }
    if (static_cast<int64_t>(comp.size()) < opt.min_pixels) continue;
    // Component mask over its box (plus a margin for the templates).
    const int64_t m = 2, bx0 = std::max<int64_t>(0, x0 - m), by0 = std::max<int64_t>(0, y0 - m);
    const int64_t bx1 = std::min(w, x1 + 1 + m), by1 = std::min(h, y1 + 1 + m), bw = bx1 - bx0;
    std::vector<uint8_t> mask((by1 - by0) * bw, 0);
    for (int64_t k : comp) mask[(k / w - by0) * bw + (k % w - bx0)] = 1;
    double best_iou = -1;
    const char* best_shape = kShapes[0];
    // Template pixels that fall on another world colour may be occluded by a nearer object: they count neither
    // for nor against a shape. Three radius fits (mean of the box sides, width only, height only) cover boxes
    // truncated by occlusion or the image border.
    for (const char* shape : kShapes)
      for (int variant = 0; variant < 3; ++variant) {
        double cx, cy, r;
        fit(shape, x0, y0, x1 + 1, y1 + 1, cx, cy, r);
        if (variant > 0) r = radius_from_side(shape, variant == 1 ? double(x1 + 1 - x0) : double(y1 + 1 - y0), variant == 1);
        int64_t inter = 0, tmpl = 0;
        for (int64_t y = by0; y < by1; ++y)
          for (int64_t x = bx0; x < bx1; ++x) {
            if (!inside_shape(shape, x + 0.5 - cx, y + 0.5 - cy, r)) continue;
            const bool in = mask[(y - by0) * bw + (x - bx0)];
            const int8_t l = label[y * w + x];
            if (!in && l >= 0 && l != lab) continue;  // possibly occluded
            ++tmpl;
            inter += in;
          }
        const double iou = static_cast<double>(inter) / static_cast<double>(tmpl + comp.size() - inter);
        if (iou > best_iou) best_iou = iou, best_shape = shape;
      }
    if (best_iou < opt.min_shape_iou) continue;
    GenEvalDetection d;
    d.cls = best_shape;
    d.color = names[lab];
    d.score = best_iou >= opt.full_score_iou ? 1.0 : best_iou;
    d.box = {static_cast<double>(x0), static_cast<double>(y0), static_cast<double>(x1 + 1), static_cast<double>(y1 + 1)};
    out.push_back(std::move(d));
  }
  return out;
}

nlohmann::ordered_json detections_json_line(const std::string& filename, const std::vector<GenEvalDetection>& dets) {
  nlohmann::ordered_json j;
  j["filename"] = filename;
  j["detections"] = nlohmann::ordered_json::array();
  for (const auto& d : dets)
    j["detections"].push_back({{"class", d.cls}, {"score", d.score}, {"box", d.box}, {"color", d.color}});
  return j;
}

WorldBenchmark read_world_benchmark(const std::vector<std::string>& shards, bool keep_images) {
  SGT_CHECK(!shards.empty(), "world_bench", "no held-out shard given");
  WorldBenchmark wb;
  data::WdsReader reader(shards);
  data::WdsSample s;
  while (reader.next(s)) {
    const auto qs = parse_member(s, "cvbench.json");
    const auto ps = parse_member(s, "geneval.json");
    SGT_CHECK(qs.is_array() && ps.is_array(), "world_bench", "{} in {}: .cvbench.json / .geneval.json must be arrays",
              s.key, s.url);
    for (size_t i = 0; i < qs.size(); ++i) {
      const std::string where = fmt::format("{} ({}) question {}", s.key, s.url, i);
      const std::string type = qs[i].value("type", "");
      CvBenchItem it = cvbench_item_from_json(qs[i], where, static_cast<int64_t>(wb.cvbench.size()), "world-" + type);
      it.filename = s.key + ".jpg";
      wb.cvbench.push_back(std::move(it));
    }
    for (size_t i = 0; i < ps.size(); ++i) {
      wb.geneval.push_back(geneval_prompt_from_json(ps[i], fmt::format("{} ({}) prompt {}", s.key, s.url, i)));
      wb.prompt_scene.push_back(s.key);
    }
    if (keep_images) wb.jpeg[s.key] = s.at("jpg");
  }
  SGT_CHECK(!wb.cvbench.empty() || !wb.geneval.empty(), "world_bench", "no scene in {} shard(s)", shards.size());
  return wb;
}

void export_world_cvbench(const WorldBenchmark& wb, const std::string& dir) {
  fs::create_directories(dir);
  std::string text;
  for (const CvBenchItem& it : wb.cvbench) {
    nlohmann::ordered_json j{{"idx", it.idx},         {"type", it.type},       {"task", it.task},
                             {"question", it.question}, {"choices", it.choices}, {"answer", it.answer},
                             {"prompt", it.prompt},     {"filename", it.filename}, {"source", it.source}};
    text += j.dump() + "\n";
  }
  io::atomic_write_text(dir + "/test.jsonl", text);
  for (const auto& [key, bytes] : wb.jpeg) {
    // Keys are tar member names: io::prepare_path_inside keeps a hostile one (absolute, `..`) from writing outside dir.
    const std::string path = io::prepare_path_inside(dir, key + ".jpg", "world_bench: CV-Bench export");
    io::atomic_write_text(path, std::string(bytes.begin(), bytes.end()));
  }
}

int64_t detect_world_folder(const std::string& dir, const std::string& detections_jsonl, const WorldDetectorOptions& opt) {
  SGT_CHECK(fs::is_directory(dir), "world_bench", "{} is not a folder", dir);
  std::vector<std::string> files;
  const std::regex sample_re(R"(\d+\.png)"), folder_re(R"(\d+)");
  for (const auto& sub : fs::directory_iterator(dir)) {
    if (!sub.is_directory() || !std::regex_match(sub.path().filename().string(), folder_re)) continue;
    const fs::path samples = sub.path() / "samples";
    if (!fs::is_directory(samples)) continue;
    for (const auto& f : fs::directory_iterator(samples))
      if (f.is_regular_file() && std::regex_match(f.path().filename().string(), sample_re)) files.push_back(f.path().string());
  }
  SGT_CHECK(!files.empty(), "world_bench", "no <NNNNN>/samples/<k>.png under {}", dir);
  std::sort(files.begin(), files.end());
  std::string text;
  for (const std::string& f : files)
    text += detections_json_line(f, detect_world_objects(data::read_image(f), opt)).dump() + "\n";
  io::atomic_write_text(detections_jsonl, text);
  return static_cast<int64_t>(files.size());
}

std::vector<GenEvalImageResult> world_geneval_self_check(const WorldBenchmark& wb, const WorldDetectorOptions& opt) {
  std::vector<GenEvalImageResult> out;
  std::map<std::string, std::vector<GenEvalDetection>> cache;
  for (size_t i = 0; i < wb.geneval.size(); ++i) {
    const std::string& key = wb.prompt_scene[i];
    auto it = cache.find(key);
    if (it == cache.end()) {
      const auto jp = wb.jpeg.find(key);
      SGT_CHECK(jp != wb.jpeg.end(), "world_bench", "self-check needs the scene images (keep_images) for {}", key);
      it = cache.emplace(key, detect_world_objects(data::decode_image(jp->second, key + ".jpg"), opt)).first;
    }
    GenEvalImageResult r;
    r.filename = key + ".jpg";
    r.tag = wb.geneval[i].tag;
    r.prompt = wb.geneval[i].prompt;
    r.prompt_index = static_cast<int64_t>(i);
    r.decision = geneval_decide(it->second, wb.geneval[i]);
    out.push_back(std::move(r));
  }
  SGT_CHECK(!out.empty(), "world_bench", "no GenEval prompt in the world benchmark");
  return out;
}

}  // namespace sgt::eval
