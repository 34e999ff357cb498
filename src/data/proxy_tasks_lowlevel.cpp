// Low-level proxy tasks: Canny edges, inpainting / MAE masking and cheap degradations (noise, blur, rain, low
// resolution, low light). The reference ships pre-computed degraded files (docs/data.md, "Proxy tasks"); the exact
// degradations it used are unpublished, so these are standard stand-ins with their parameters in ProxyTaskConfig.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "data/proxy_tasks.h"
#include "data/resize.h"

namespace sgt::data {

Image to_gray(const Image& img) { return img.channels == 1 ? img : convert_channels(img, 1); }

namespace {

std::vector<float> gaussian_kernel(double sigma) {
  const int r = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<float> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[i + r] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& v : k) v = static_cast<float>(v / sum);
  return k;
}

// Reflect-101 index (…2 1 | 0 1 2 … n-1 | n-2 …), valid for any offset.
inline int64_t reflect(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// Separable blur of a float plane [h, w].
std::vector<float> blur_plane(const std::vector<float>& src, int64_t w, int64_t h, const std::vector<float>& k) {
  const int64_t r = static_cast<int64_t>(k.size() / 2);
  std::vector<float> tmp(src.size()), dst(src.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float s = 0;
      for (int64_t d = -r; d <= r; ++d) s += k[d + r] * src[y * w + reflect(x + d, w)];
      tmp[y * w + x] = s;
    }
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float s = 0;
      for (int64_t d = -r; d <= r; ++d) s += k[d + r] * tmp[reflect(y + d, h) * w + x];
      dst[y * w + x] = s;
    }
  return dst;
}

inline uint8_t clamp_u8(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

}  // namespace

Image gaussian_blur(const Image& img, double sigma) {
  SGT_CHECK(sigma > 0 && !img.empty(), "proxy", "gaussian_blur: sigma {} on a {}x{} image", sigma, img.width,
            img.height);
  const auto k = gaussian_kernel(sigma);
  const int64_t w = img.width, h = img.height, c = img.channels;
  Image out(w, h, c);
  std::vector<float> plane(static_cast<size_t>(w * h));
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t i = 0; i < w * h; ++i) plane[i] = img.pixels[i * c + ch];
    const auto b = blur_plane(plane, w, h, k);
    for (int64_t i = 0; i < w * h; ++i) out.pixels[i * c + ch] = clamp_u8(b[i]);
  }
  return out;
}

Image canny_edges(const Image& rgb, double sigma, double low, double high) {
  const Image g = to_gray(rgb);
  const int64_t w = g.width, h = g.height;
  std::vector<float> plane(g.pixels.begin(), g.pixels.end());
  const auto s = blur_plane(plane, w, h, gaussian_kernel(sigma));
  auto at = [&](int64_t y, int64_t x) { return s[reflect(y, h) * w + reflect(x, w)]; };
  std::vector<float> mag(s.size());
  std::vector<uint8_t> dir(s.size());  // 0: horizontal gradient, 1: 45°, 2: vertical, 3: 135°
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const float gx = (at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1)) -
                       (at(y - 1, x - 1) + 2 * at(y, x - 1) + at(y + 1, x - 1));
      const float gy = (at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1)) -
                       (at(y - 1, x - 1) + 2 * at(y - 1, x) + at(y - 1, x + 1));
      mag[y * w + x] = std::sqrt(gx * gx + gy * gy);
      double a = std::atan2(gy, gx) * 180.0 / M_PI;
      if (a < 0) a += 180;
      dir[y * w + x] = a < 22.5 || a >= 157.5 ? 0 : a < 67.5 ? 1 : a < 112.5 ? 2 : 3;
    }
  // Non-maximum suppression along the gradient, then hysteresis (8-connected) from the strong pixels.
  static const int kDx[4][2] = {{1, -1}, {1, -1}, {0, 0}, {-1, 1}};
  static const int kDy[4][2] = {{0, 0}, {1, -1}, {1, -1}, {1, -1}};
  std::vector<uint8_t> state(s.size(), 0);  // 0 none, 1 weak, 2 strong
  std::vector<int64_t> stack;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t i = y * w + x;
      const float m = mag[i];
      if (m < low) continue;
      bool keep = true;
      for (int s2 = 0; s2 < 2; ++s2) {
        const int64_t yy = y + kDy[dir[i]][s2], xx = x + kDx[dir[i]][s2];
        if (yy >= 0 && yy < h && xx >= 0 && xx < w && mag[yy * w + xx] > m) keep = false;
      }
      if (!keep) continue;
      state[i] = m >= high ? 2 : 1;
      if (state[i] == 2) stack.push_back(i);
    }
  while (!stack.empty()) {
    const int64_t i = stack.back();
    stack.pop_back();
    const int64_t y = i / w, x = i % w;
    for (int64_t dy = -1; dy <= 1; ++dy)
      for (int64_t dx = -1; dx <= 1; ++dx) {
        const int64_t yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        if (state[yy * w + xx] == 1) {
          state[yy * w + xx] = 2;
          stack.push_back(yy * w + xx);
        }
      }
  }
  Image out(w, h, 3, 0);
  for (int64_t i = 0; i < w * h; ++i)
    if (state[i] == 2) out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = 255;
  return out;
}

namespace {

class LowLevelTask final : public ProxyTask {
 public:
  using ProxyTask::ProxyTask;
  void render(const ProxySource& src, Rng& rng, ProxyExample& out) const override {
    const Image& img = src.image;
    using K = ProxyTaskKind;
    const K t = cfg_.task;
    out.target = img;
    if (t == K::kEdge) {
      out.input = img;
      out.target = canny_edges(img, cfg_.canny_sigma, cfg_.canny_low, cfg_.canny_high);
    } else if (t == K::kInpaint) {
      out.input = img;
      const int64_t rw = std::max<int64_t>(1, std::lround(img.width * (cfg_.inpaint_min_frac +
                                                          rng.uniform() * (cfg_.inpaint_max_frac - cfg_.inpaint_min_frac))));
      const int64_t rh = std::max<int64_t>(1, std::lround(img.height * (cfg_.inpaint_min_frac +
                                                           rng.uniform() * (cfg_.inpaint_max_frac - cfg_.inpaint_min_frac))));
      const int64_t x0 = rng.range(0, img.width - rw), y0 = rng.range(0, img.height - rh);
      fill(out.input, x0, y0, rw, rh);
    } else if (t == K::kMae) {
      out.input = img;
      const int64_t p = cfg_.mae_patch, gw = (img.width + p - 1) / p, gh = (img.height + p - 1) / p;
      std::vector<int64_t> cells(gw * gh);
      std::iota(cells.begin(), cells.end(), 0);
      rng.shuffle(cells);
      const auto n = static_cast<size_t>(std::lround(cfg_.mae_ratio * static_cast<double>(cells.size())));
      for (size_t i = 0; i < n; ++i) fill(out.input, (cells[i] % gw) * p, (cells[i] / gw) * p, p, p);
    } else if (t == K::kDenoise) {
      out.input = img;
      for (auto& v : out.input.pixels) v = clamp_u8(v + cfg_.noise_sigma * rng.normal());
    } else if (t == K::kDeblur) {
      out.input = gaussian_blur(img, cfg_.blur_sigma);
    } else if (t == K::kDerain) {
      out.input = rain(img, rng);
    } else if (t == K::kSuperResolution) {
      const int64_t lw = std::max<int64_t>(1, img.width / cfg_.sr_factor);
      const int64_t lh = std::max<int64_t>(1, img.height / cfg_.sr_factor);
      out.input = resize_bicubic(resize_bicubic(img, lw, lh), img.width, img.height);
    } else if (t == K::kEnhance) {
      out.input = img;
      for (auto& v : out.input.pixels) v = clamp_u8(v * cfg_.enhance_gain);
    } else {
      SGT_FAIL("proxy", "task '{}' has no renderer", name_of(t));
    }
  }

 private:
  void fill(Image& im, int64_t x0, int64_t y0, int64_t rw, int64_t rh) const {
    for (int64_t y = y0; y < std::min(im.height, y0 + rh); ++y)
      for (int64_t x = x0; x < std::min(im.width, x0 + rw); ++x)
        for (int64_t c = 0; c < im.channels; ++c) im.at(y, x)[c] = static_cast<uint8_t>(cfg_.mask_fill);
  }
  // Thin bright slanted streaks (one angle per image), alpha-blended toward light gray.
  Image rain(const Image& img, Rng& rng) const {
    Image out = img;
    const double angle = (rng.uniform() - 0.5) * 0.7;  // radians from vertical
    const double dx = std::sin(angle), dy = std::cos(angle);
    const int64_t n = std::max<int64_t>(1, cfg_.rain_streaks_per_64k * img.width * img.height / 65536);
    const double len_scale = std::max<double>(8.0, std::min(img.width, img.height) / 10.0);
    for (int64_t s = 0; s < n; ++s) {
      double x = rng.uniform() * img.width, y = rng.uniform() * img.height;
      const int64_t len = static_cast<int64_t>(len_scale * (0.5 + rng.uniform()));
      const double alpha = 0.35 + 0.35 * rng.uniform();
      for (int64_t k = 0; k < len; ++k, x += dx, y += dy) {
        const auto xi = static_cast<int64_t>(x), yi = static_cast<int64_t>(y);
        if (xi < 0 || yi < 0 || xi >= img.width || yi >= img.height) break;
        uint8_t* p = out.at(yi, xi);
        for (int64_t c = 0; c < out.channels; ++c) p[c] = clamp_u8(p[c] * (1 - alpha) + 230 * alpha);
      }
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_lowlevel_task(const ProxyTaskConfig& cfg, std::shared_ptr<const Instructions> instr) {
  return std::unique_ptr<ProxyTask>(new LowLevelTask(cfg, std::move(instr)));
}

}  // namespace sgt::data
