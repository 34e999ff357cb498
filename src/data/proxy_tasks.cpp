// Proxy tasks: the interface, the high/mid-level targets (segment, depth, recon) and the image transform rule.
// The low-level filters (edges, blur, degradations) are in proxy_tasks_lowlevel.cpp.
#include "data/proxy_tasks.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/resize.h"

namespace sgt::data {

// Defined in proxy_tasks_lowlevel.cpp.
std::unique_ptr<ProxyTask> make_lowlevel_task(const ProxyTaskConfig& cfg, std::shared_ptr<const Instructions> instr);

const std::vector<std::string>& proxy_task_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const auto& e : enum_names(ProxyTaskKind{})) names.emplace_back(e.name);
    return names;
  }();
  return kNames;
}

std::string instruction_list_for(ProxyTaskKind task) {
  if (task == ProxyTaskKind::kInpaint || task == ProxyTaskKind::kMae) return "inpainting";
  if (task == ProxyTaskKind::kDeblur) return "deblurring";
  return std::string(name_of(task));
}

std::string instruction_list_for(const std::string& task) {
  return instruction_list_for(enum_from_name<ProxyTaskKind>(task, "proxy task"));
}

void ProxyTaskConfig::validate() const {
  SGT_CHECK(min_color_distance >= 0 && min_color_distance <= 255 * 3, "proxy", "min_color_distance {} outside [0, 765]",
            min_color_distance);
  SGT_CHECK(max_masks >= 1, "proxy", "max_masks {} must be >= 1", max_masks);
  SGT_CHECK(canny_sigma > 0 && canny_low >= 0 && canny_high >= canny_low, "proxy",
            "canny needs sigma > 0 and 0 <= low <= high (got {}, {}, {})", canny_sigma, canny_low, canny_high);
  SGT_CHECK(inpaint_min_frac > 0 && inpaint_max_frac <= 1 && inpaint_min_frac <= inpaint_max_frac, "proxy",
            "inpaint fractions must satisfy 0 < min <= max <= 1 (got {}, {})", inpaint_min_frac, inpaint_max_frac);
  SGT_CHECK(mae_patch > 0 && mae_ratio >= 0 && mae_ratio <= 1, "proxy", "mae_patch {} / mae_ratio {} invalid",
            mae_patch, mae_ratio);
  SGT_CHECK(mask_fill >= 0 && mask_fill <= 255, "proxy", "mask_fill {} outside [0, 255]", mask_fill);
  SGT_CHECK(noise_sigma >= 0 && blur_sigma > 0 && rain_streaks_per_64k >= 0 && sr_factor >= 2 && enhance_gain > 0 &&
                enhance_gain <= 1,
            "proxy", "degradation parameters out of range (noise {}, blur {}, rain {}, sr {}, gain {})", noise_sigma,
            blur_sigma, rain_streaks_per_64k, sr_factor, enhance_gain);
}

ProxyExample ProxyTask::make(const ProxySource& src, Rng& rng) const {
  SGT_CHECK(!src.image.empty() && src.image.channels == 3, "proxy", "task {}: source image must be RGB, got {}x{}x{}",
            name(), src.image.width, src.image.height, src.image.channels);
  SGT_BAD_SAMPLE(static_cast<int64_t>(src.instances.size()) <= cfg_.max_masks, BadSampleReason::kTooLarge, "proxy",
                 "task {}: {} instance masks, above the limit of {} masks per sample (proxy task key max_masks)",
                 name(), src.instances.size(), cfg_.max_masks);
  ProxyExample out;
  out.task = name();
  render(src, rng, out);
  out.instruction = instr_->draw(instruction_list_for(cfg_.task), rng);
  return out;
}

namespace {

void check_instances(const std::vector<Rle>& instances) {
  SGT_CHECK(!instances.empty(), "proxy", "segment: no instance masks");
  const int64_t h = instances[0].height, w = instances[0].width;
  for (size_t i = 0; i < instances.size(); ++i) {
    SGT_CHECK(instances[i].height == h && instances[i].width == w, "proxy",
              "segment: mask {} is {}x{}, mask 0 is {}x{}", i, instances[i].width, instances[i].height, w, h);
    rle_validate(instances[i], "segment mask");
  }
}

}  // namespace

namespace {

using Rgb = std::array<uint8_t, 3>;

int l1(const Rgb& a, const Rgb& b) { return std::abs(a[0] - b[0]) + std::abs(a[1] - b[1]) + std::abs(a[2] - b[2]); }

// Exact answer to "is a colour already drawn within L1 distance r of c?" (r in [0, 764]) in near-constant time, so
// that drawing n colours costs O(n * draws) instead of O(n^2 * draws) (10^5 masks took minutes).
// Up to kLinear colours a plain scan is cheapest and allocates nothing. Beyond it, uniform grids over the RGB cube
// with cell side 2^k (k = 2..8, so 64^3 .. 1 cells) are built on first use: a query of radius r goes to the grid
// whose side is >= r, where the box [c - r, c + r] spans at most 3 cells per axis, and cells farther than r (L1)
// from c are skipped. Points of a cell are a linked list (head per cell, next per colour).
// The answers are those of the scan, so the colours drawn are the same for every instance count.
class ColourIndex {
 public:
  explicit ColourIndex(const std::vector<Rgb>& cols) : cols_(cols) {}

  bool any_within(const Rgb& c, int r) const {
    if (cols_.size() <= kLinear) {
      for (const Rgb& o : cols_)
        if (l1(c, o) <= r) return true;
      return false;
    }
    int k = kMinShift;
    while (k < kMaxShift && (1 << k) < r) ++k;
    Grid& g = grid(k);
    const int n = 256 >> k;
    int lo[3], hi[3];
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::max(0, c[a] - r) >> k;
      hi[a] = std::min(255, c[a] + r) >> k;
    }
    // L1 distance from c to the cells of index i along axis a.
    auto gap = [&](int a, int i) {
      const int first = i << k, last = first + (1 << k) - 1;
      return c[a] < first ? first - c[a] : (c[a] > last ? c[a] - last : 0);
    };
    auto scan = [&](int cell) {
      for (int32_t p = g.head[cell]; p >= 0; p = g.next[p])
        if (l1(c, cols_[p]) <= r) return true;
      return false;
    };
    // c's own cell first: in a crowded cube most draws are rejected, and a close colour is likeliest there.
    const int home = ((c[0] >> k) * n + (c[1] >> k)) * n + (c[2] >> k);
    if (scan(home)) return true;
    for (int x = lo[0]; x <= hi[0]; ++x) {
      const int gx = gap(0, x);
      for (int y = lo[1]; y <= hi[1]; ++y) {
        const int gy = gx + gap(1, y);
        if (gy > r) continue;
        for (int z = lo[2]; z <= hi[2]; ++z) {
          const int cell = (x * n + y) * n + z;
          if (cell == home || gy + gap(2, z) > r) continue;
          if (scan(cell)) return true;
        }
      }
    }
    return false;
  }

  // Call after cols.push_back(c).
  void added() {
    const auto i = static_cast<int32_t>(cols_.size() - 1);
    for (int k = kMinShift; k <= kMaxShift; ++k)
      if (!grids_[k - kMinShift].head.empty()) insert(grids_[k - kMinShift], k, i);
  }

 private:
  static constexpr size_t kLinear = 64;
  static constexpr int kMinShift = 2, kMaxShift = 8;
  struct Grid {
    std::vector<int32_t> head, next;
  };

  static void insert(Grid& g, int k, int32_t i, const Rgb& c) {
    const int n = 256 >> k;
    int32_t& h = g.head[((c[0] >> k) * n + (c[1] >> k)) * n + (c[2] >> k)];
    if (g.next.size() <= static_cast<size_t>(i)) g.next.resize(static_cast<size_t>(i) + 1, -1);
    g.next[i] = h;
    h = i;
  }
  void insert(Grid& g, int k, int32_t i) const { insert(g, k, i, cols_[i]); }

  Grid& grid(int k) const {
    Grid& g = grids_[k - kMinShift];
    if (g.head.empty()) {
      const size_t n = static_cast<size_t>(256 >> k);
      g.head.assign(n * n * n, -1);
      g.next.reserve(cols_.size() * 2);
      for (size_t i = 0; i < cols_.size(); ++i) insert(g, k, static_cast<int32_t>(i));
    }
    return g;
  }

  const std::vector<Rgb>& cols_;
  mutable std::array<Grid, kMaxShift - kMinShift + 1> grids_;
};

}  // namespace

Image render_instance_map(const std::vector<Rle>& instances, Rng& rng, int64_t min_color_distance,
                          std::vector<std::array<uint8_t, 3>>* colours) {
  check_instances(instances);
  // Colours: uniform RGB, redrawn while closer than min_color_distance (L1) to black or an earlier colour;
  // the required distance halves every 64 failed draws so that many instances still terminate. Exact duplicates
  // and pure black are always rejected (so up to 2^24 - 1 instances get distinct colours).
  std::vector<Rgb> cols;
  cols.reserve(instances.size());
  ColourIndex index(cols);
  for (size_t i = 0; i < instances.size(); ++i) {
    int64_t need = min_color_distance;
    for (int tries = 0;; ++tries) {
      if (tries > 0 && tries % 64 == 0) need /= 2;
      const uint64_t r = rng.next_u64();
      const Rgb c{static_cast<uint8_t>(r), static_cast<uint8_t>(r >> 8), static_cast<uint8_t>(r >> 16)};
      const int64_t d = std::max<int64_t>(need, 1);  // accepted: at L1 distance >= d from black and every colour
      // (no two colours are more than 765 apart, so a radius beyond 765 answers like 765)
      if (c[0] + c[1] + c[2] >= d && !index.any_within(c, static_cast<int>(std::min<int64_t>(d - 1, 765)))) {
        cols.push_back(c);
        index.added();
        break;
      }
    }
  }
  Image out = render_instance_map(instances, cols);
  if (colours) *colours = std::move(cols);
  return out;
}

Image render_instance_map(const std::vector<Rle>& instances, const std::vector<std::array<uint8_t, 3>>& colours) {
  check_instances(instances);
  SGT_CHECK(colours.size() == instances.size(), "proxy", "segment: {} colours for {} instance masks", colours.size(),
            instances.size());
  std::vector<uint64_t> area(instances.size());
  for (size_t i = 0; i < instances.size(); ++i) area[i] = rle_area(instances[i]);
  std::vector<size_t> order(instances.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return area[a] > area[b]; });
  Image out(instances[0].width, instances[0].height, 3, 0);
  for (size_t i : order) rle_paint(instances[i], out.pixels.data(), 3, colours[i].data());
  return out;
}

std::vector<std::array<uint8_t, 3>> position_colours(const std::vector<Rle>& instances) {
  check_instances(instances);
  std::vector<std::array<uint8_t, 3>> cols;
  cols.reserve(instances.size());
  for (const Rle& m : instances) {
    // Normalised to [0, 1] by the side; an empty mask (which paints nothing) gets the centre.
    const auto c = rle_centroid(m);
    const double cx = c ? (*c)[0] / static_cast<double>(m.width) : 0.5;
    const double cy = c ? (*c)[1] / static_cast<double>(m.height) : 0.5;
    auto level = [](double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); };
    cols.push_back({level(64 + 191 * cx), level(64 + 191 * cy), level(255 - 191 * (cx + cy) / 2)});
  }
  return cols;
}

namespace {

class SegmentTask final : public ProxyTask {
 public:
  using ProxyTask::ProxyTask;
  void render(const ProxySource& src, Rng& rng, ProxyExample& out) const override {
    Image map = cfg_.color_mode == ColorMode::kPosition
                    ? render_instance_map(src.instances, position_colours(src.instances))
                    : render_instance_map(src.instances, rng, cfg_.min_color_distance);
    if (map.width != src.image.width || map.height != src.image.height) {
      SGT_BAD_SAMPLE(cfg_.mask_resize != MaskResize::kReject, BadSampleReason::kSizeMismatch, "proxy",
                     "instance masks are {}x{}, the image {}x{} (mask_resize reject)", map.width, map.height,
                     src.image.width, src.image.height);
      map = cfg_.mask_resize == MaskResize::kNearest ? resize_nearest(map, src.image.width, src.image.height)
                                          : resize_bicubic(map, src.image.width, src.image.height);
    }
    out.input = src.image;
    out.target = std::move(map);
  }
};

class DepthTask final : public ProxyTask {
 public:
  using ProxyTask::ProxyTask;
  void render(const ProxySource& src, Rng&, ProxyExample& out) const override {
    SGT_CHECK(!src.depth.empty(), "proxy", "depth: the source has no depth map");
    Image d = src.depth.channels == 1 ? src.depth : to_gray(src.depth);
    if (d.width != src.image.width || d.height != src.image.height)
      d = resize_bilinear(d, src.image.width, src.image.height);
    const auto [lo_it, hi_it] = std::minmax_element(d.pixels.begin(), d.pixels.end());
    const int lo = *lo_it, hi = *hi_it;
    Image t(d.width, d.height, 3);
    for (size_t i = 0; i < d.pixels.size(); ++i) {
      // min-max stretch to 0..255 (a flat map becomes mid gray), optionally inverted so near = bright
      int v = hi > lo ? static_cast<int>(std::lround(255.0 * (d.pixels[i] - lo) / (hi - lo))) : 128;
      if (cfg_.depth_near_bright) v = 255 - v;
      t.pixels[3 * i] = t.pixels[3 * i + 1] = t.pixels[3 * i + 2] = static_cast<uint8_t>(v);
    }
    out.input = src.image;
    out.target = std::move(t);
  }
};

class ReconTask final : public ProxyTask {
 public:
  using ProxyTask::ProxyTask;
  void render(const ProxySource& src, Rng&, ProxyExample& out) const override {
    out.input = src.image;
    out.target = src.image;
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_proxy_task(const ProxyTaskConfig& cfg, std::shared_ptr<const Instructions> instr) {
  cfg.validate();
  SGT_CHECK(instr != nullptr, "proxy", "task {}: no instruction set", name_of(cfg.task));
  instr->list(instruction_list_for(cfg.task));  // fail early when the list is missing
  if (cfg.task == ProxyTaskKind::kSegment) return std::unique_ptr<ProxyTask>(new SegmentTask(cfg, std::move(instr)));
  if (cfg.task == ProxyTaskKind::kDepth) return std::unique_ptr<ProxyTask>(new DepthTask(cfg, std::move(instr)));
  if (cfg.task == ProxyTaskKind::kRecon) return std::unique_ptr<ProxyTask>(new ReconTask(cfg, std::move(instr)));
  return make_lowlevel_task(cfg, std::move(instr));
}

void ProxyMixConfig::validate() const {
  SGT_CHECK(!tasks.empty() && tasks.size() == weights.size(), "proxy", "mixture needs one weight per task ({} tasks, {} weights)",
            tasks.size(), weights.size());
  for (double w : weights) SGT_CHECK(w > 0 && std::isfinite(w), "proxy", "mixture weight {} must be > 0", w);
  for (const auto& t : tasks) t.validate();
}

ProxyMixture::ProxyMixture(const ProxyMixConfig& cfg, std::shared_ptr<const Instructions> instr) {
  cfg.validate();
  double sum = 0;
  for (size_t i = 0; i < cfg.tasks.size(); ++i) {
    tasks_.push_back(make_proxy_task(cfg.tasks[i], instr));
    cumulative_.push_back(sum += cfg.weights[i]);
  }
  for (auto& c : cumulative_) c /= sum;
}

ProxyExample ProxyMixture::make(const ProxySource& src, Rng& rng) const {
  const double u = rng.uniform();
  size_t i = static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin());
  return tasks_[std::min(i, tasks_.size() - 1)]->make(src, rng);
}

// ---- BAGEL image transform ----

void ImageTransformConfig::validate() const {
  // Bounded first so that stride * stride cannot overflow (a fuzzed config held stride 2^32); 65536 px is far above
  // any image side these transforms produce.
  constexpr int64_t kMaxSide = 65536;
  SGT_CHECK(stride > 0 && stride <= kMaxSide && min_size > 0 && max_size >= min_size && max_size <= kMaxSide &&
                max_pixels >= stride * stride,
            "transform",
            "need 0 < stride <= {}, 0 < min_size <= max_size <= {}, max_pixels >= stride^2 (got {}, {}, {}, {})",
            kMaxSide, kMaxSide, stride, min_size, max_size, max_pixels);
}

namespace {
// Python's round() (half to even) on doubles, as BAGEL's _apply_scale uses it.
int64_t py_round(double x) {
  const int old = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(x);
  std::fesetround(old);
  return static_cast<int64_t>(r);
}
std::pair<int64_t, int64_t> apply_scale(int64_t w, int64_t h, double scale, int64_t stride) {
  auto div = [&](int64_t v) { return std::max(stride, py_round(static_cast<double>(v) / stride) * stride); };
  return {div(py_round(w * scale)), div(py_round(h * scale))};
}
}  // namespace

std::pair<int64_t, int64_t> transform_size(int64_t width, int64_t height, const ImageTransformConfig& cfg,
                                           int64_t img_num) {
  cfg.validate();
  SGT_CHECK(width > 0 && height > 0 && img_num > 0, "transform", "bad image size {}x{} (img_num {})", width, height,
            img_num);
  double scale = std::min(static_cast<double>(cfg.max_size) / std::max(width, height), 1.0);
  scale = std::max(scale, static_cast<double>(cfg.min_size) / std::min(width, height));
  auto [w, h] = apply_scale(width, height, scale, cfg.stride);
  // BAGEL scales the sides by the pixel ratio itself (no square root), which over-shrinks; kept for parity.
  if (static_cast<double>(w * h) > static_cast<double>(cfg.max_pixels) / img_num) {
    scale = static_cast<double>(cfg.max_pixels) / img_num / static_cast<double>(w * h);
    std::tie(w, h) = apply_scale(w, h, scale, cfg.stride);
  }
  if (std::max(w, h) > cfg.max_size) {
    scale = static_cast<double>(cfg.max_size) / std::max(w, h);
    std::tie(w, h) = apply_scale(w, h, scale, cfg.stride);
  }
  return {w, h};
}

Image apply_transform(const Image& img, const ImageTransformConfig& cfg, bool nearest, int64_t img_num) {
  const auto [w, h] = transform_size(img.width, img.height, cfg, img_num);
  if (w == img.width && h == img.height) return img;
  return nearest ? resize_nearest(img, w, h) : resize_bicubic(img, w, h);
}

}  // namespace sgt::data
