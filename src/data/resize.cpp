// Resizing that follows Pillow's libImaging (Resample.c for the convolution filters, Geometry.c
// ImagingScaleAffine for NEAREST) step by step: same double-precision coefficients, same 22-bit fixed-point
// rounding, horizontal pass (to 8 bits) before the vertical one. For 1- and 3-channel images the result is
// expected to equal Pillow's; 4-channel images are filtered per channel without Pillow's alpha premultiply.
#include "data/resize.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace sgt::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double triangle_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // [out, 2]: first input index, count
  std::vector<int32_t> kk;  // [out, ksize] fixed-point weights
};

// precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size).
Coeffs precompute(int in_size, int out_size, double (*filter)(double), double filter_support) {
  const double scale = static_cast<double>(in_size) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  c.kk.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(static_cast<size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      const double v = k[x] * (1 << kPrecisionBits);
      c.kk[static_cast<size_t>(xx) * c.ksize + x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + v : 0.5 + v);
    }
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t in) {
  if (in >= (1 << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return static_cast<uint8_t>(in >> kPrecisionBits);
}

// in: [h, w_in, c] -> out: [h, w_out, c]
Image horizontal(const Image& in, int64_t out_w, const Coeffs& cf) {
  Image out(out_w, in.height, in.channels);
  const int64_t ch = in.channels;
  for (int64_t y = 0; y < in.height; ++y) {
    const uint8_t* src = in.row(y);
    uint8_t* dst = out.row(y);
    for (int64_t xx = 0; xx < out_w; ++xx) {
      const int xmin = cf.bounds[xx * 2], xmax = cf.bounds[xx * 2 + 1];
      const int32_t* k = &cf.kk[xx * cf.ksize];
      for (int64_t c = 0; c < ch; ++c) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        const uint8_t* p = src + xmin * ch + c;
        for (int x = 0; x < xmax; ++x, p += ch) ss += *p * k[x];
        dst[xx * ch + c] = clip8(ss);
      }
    }
  }
  return out;
}

// in: [h_in, w, c] -> out: [h_out, w, c]; rows accumulated in int32 vectors for cache-friendly access.
Image vertical(const Image& in, int64_t out_h, const Coeffs& cf) {
  Image out(in.width, out_h, in.channels);
  const int64_t n = in.width * in.channels;
  std::vector<int32_t> acc(static_cast<size_t>(n));
  for (int64_t yy = 0; yy < out_h; ++yy) {
    const int ymin = cf.bounds[yy * 2], ymax = cf.bounds[yy * 2 + 1];
    const int32_t* k = &cf.kk[yy * cf.ksize];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < ymax; ++y) {
      const uint8_t* src = in.row(ymin + y);
      const int32_t w = k[y];
      for (int64_t i = 0; i < n; ++i) acc[i] += src[i] * w;
    }
    uint8_t* dst = out.row(yy);
    for (int64_t i = 0; i < n; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

void check_args(const Image& img, int64_t out_w, int64_t out_h, const char* what) {
  SGT_CHECK(out_w > 0 && out_h > 0, "resize", "{}: output size {}x{} must be positive", what, out_w, out_h);
  SGT_CHECK(img.width > 0 && img.height > 0 && img.channels > 0 &&
                img.pixels.size() == static_cast<size_t>(img.width * img.height * img.channels),
            "resize", "{}: bad input image {}x{}x{} with {} bytes", what, img.width, img.height, img.channels,
            img.pixels.size());
}

Image resample(const Image& img, int64_t out_w, int64_t out_h, double (*filter)(double), double support) {
  Image cur = img;
  if (out_w != img.width) cur = horizontal(cur, out_w, precompute(int(img.width), int(out_w), filter, support));
  if (out_h != img.height) cur = vertical(cur, out_h, precompute(int(img.height), int(out_h), filter, support));
  return cur;
}

}  // namespace

Image resize_bicubic(const Image& img, int64_t out_w, int64_t out_h) {
  check_args(img, out_w, out_h, "bicubic");
  return resample(img, out_w, out_h, bicubic_filter, 2.0);
}

Image resize_bilinear(const Image& img, int64_t out_w, int64_t out_h) {
  check_args(img, out_w, out_h, "bilinear");
  return resample(img, out_w, out_h, triangle_filter, 1.0);
}

Image resize_nearest(const Image& img, int64_t out_w, int64_t out_h) {
  check_args(img, out_w, out_h, "nearest");
  if (out_w == img.width && out_h == img.height) return img;
  // ImagingScaleAffine: positions accumulated by repeated addition, as Pillow does.
  const double a0 = static_cast<double>(img.width) / out_w, a4 = static_cast<double>(img.height) / out_h;
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int64_t>(v); };
  std::vector<int64_t> xin(static_cast<size_t>(out_w));
  double xo = a0 * 0.5;
  for (int64_t x = 0; x < out_w; ++x, xo += a0) xin[x] = std::min(coord(xo), img.width - 1);
  Image out(out_w, out_h, img.channels);
  const int64_t ch = img.channels;
  double yo = a4 * 0.5;
  for (int64_t y = 0; y < out_h; ++y, yo += a4) {
    const uint8_t* src = img.row(std::min(coord(yo), img.height - 1));
    uint8_t* dst = out.row(y);
    for (int64_t x = 0; x < out_w; ++x)
      for (int64_t c = 0; c < ch; ++c) dst[x * ch + c] = src[xin[x] * ch + c];
  }
  return out;
}

}  // namespace sgt::data
