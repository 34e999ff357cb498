// COCO RLE, following cocoapi common/maskApi.c (rleEncode, rleDecode, rleToString, rleFrString, rleArea,
// rleToBbox) so that results are bit-exact with pycocotools; see docs/data.md, "COCO RLE".
#include "data/rle.h"

#include <algorithm>

#include "core/error.h"

namespace sgt::data {

Rle rle_encode(const uint8_t* mask, int64_t height, int64_t width) {
  SGT_CHECK(height >= 0 && width >= 0, "rle", "negative mask size {}x{}", height, width);
  SGT_CHECK(height * width < (int64_t{1} << 32), "rle", "mask {}x{} too large for 32-bit counts", height, width);
  Rle r{height, width, {}};
  // An empty mask may come as an empty vector's data() (null): `mask + x` below would be pointer arithmetic on
  // null (undefined behaviour, found by fuzz/fuzz_rle.cpp), so it gets its single empty 0-run without a scan.
  if (height == 0 || width == 0) {
    r.counts.push_back(0);
    return r;
  }
  // Column-major scan: x outer, y inner, as the Fortran-ordered mask pycocotools encodes.
  uint8_t prev = 0;
  uint32_t run = 0;
  for (int64_t x = 0; x < width; ++x) {
    const uint8_t* p = mask + x;
    for (int64_t y = 0; y < height; ++y, p += width) {
      const uint8_t v = *p != 0;
      if (v != prev) {
        r.counts.push_back(run);
        run = 0;
        prev = v;
      }
      ++run;
    }
  }
  r.counts.push_back(run);
  return r;
}

namespace {
// Sizes come from files (SA-1B's "size": [h, w]): h*w of two 32-bit sizes overflows int64 (undefined behaviour,
// found by fuzz/fuzz_rle.cpp), so a product that does not fit is refused before it is computed.
void check_pixel_count(int64_t height, int64_t width, std::string_view what) {
  SGT_CHECK(height == 0 || width <= INT64_MAX / height, "rle", "{}: size [{}, {}] has more pixels than int64 holds",
            what, height, width);
}
}  // namespace

void rle_validate(const Rle& rle, std::string_view what) {
  SGT_CHECK(rle.height >= 0 && rle.width >= 0, "rle", "{}: negative size {}x{}", what, rle.height, rle.width);
  check_pixel_count(rle.height, rle.width, what);
  uint64_t total = 0;
  for (uint32_t c : rle.counts) total += c;
  SGT_CHECK(total == static_cast<uint64_t>(rle.height * rle.width), "rle",
            "{}: counts sum to {} but size [{}, {}] has {} pixels", what, total, rle.height, rle.width,
            rle.height * rle.width);
}

namespace {

// Calls f(x, y0, y1) for every foreground column segment [y0, y1) in column x.
template <class F>
void for_each_fg_segment(const Rle& rle, F&& f) {
  const uint64_t h = static_cast<uint64_t>(rle.height);
  uint64_t t = 0;
  for (size_t j = 0; j < rle.counts.size(); ++j) {
    const uint64_t n = rle.counts[j];
    if ((j & 1) && n > 0) {
      uint64_t a = t, end = t + n;
      while (a < end) {
        const uint64_t x = a / h, y0 = a - x * h;
        const uint64_t y1 = std::min<uint64_t>(h, y0 + (end - a));
        f(static_cast<int64_t>(x), static_cast<int64_t>(y0), static_cast<int64_t>(y1));
        a += y1 - y0;
      }
    }
    t += n;
  }
}

template <class T>
void fill_colmajor(const Rle& rle, T* buf, T value) {
  rle_validate(rle);
  uint64_t t = 0;
  for (size_t j = 0; j < rle.counts.size(); ++j) {
    if (j & 1) std::fill(buf + t, buf + t + rle.counts[j], value);
    t += rle.counts[j];
  }
}

}  // namespace

void rle_decode(const Rle& rle, uint8_t* out) {
  rle_validate(rle);
  std::fill(out, out + rle.height * rle.width, uint8_t{0});
  const int64_t w = rle.width;
  for_each_fg_segment(rle, [&](int64_t x, int64_t y0, int64_t y1) {
    uint8_t* p = out + y0 * w + x;
    for (int64_t y = y0; y < y1; ++y, p += w) *p = 1;
  });
}

std::vector<uint8_t> rle_decode(const Rle& rle) {
  rle_validate(rle);  // before h*w is computed for the buffer (an invalid size could overflow it)
  std::vector<uint8_t> out(static_cast<size_t>(rle.height * rle.width));
  rle_decode(rle, out.data());
  return out;
}

void rle_paint(const Rle& rle, uint8_t* out_hwc, int64_t channels, const uint8_t* value) {
  rle_validate(rle);
  const int64_t stride = rle.width * channels;
  for_each_fg_segment(rle, [&](int64_t x, int64_t y0, int64_t y1) {
    uint8_t* p = out_hwc + y0 * stride + x * channels;
    for (int64_t y = y0; y < y1; ++y, p += stride)
      for (int64_t c = 0; c < channels; ++c) p[c] = value[c];
  });
}

void rle_fill_colmajor(const Rle& rle, uint8_t* buf, uint8_t value) { fill_colmajor(rle, buf, value); }
void rle_fill_colmajor(const Rle& rle, uint16_t* buf, uint16_t value) { fill_colmajor(rle, buf, value); }

std::string rle_to_string(const Rle& rle) {
  std::string s;
  s.reserve(rle.counts.size() * 3);
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    int64_t x = static_cast<int64_t>(rle.counts[i]);
    if (i > 2) x -= static_cast<int64_t>(rle.counts[i - 2]);
    bool more = true;
    while (more) {
      char c = static_cast<char>(x & 0x1f);
      x >>= 5;  // arithmetic shift (C++20 defines it for negatives)
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

Rle rle_from_string(std::string_view s, int64_t height, int64_t width) {
  SGT_CHECK(height >= 0 && width >= 0, "rle", "negative size [{}, {}]", height, width);
  check_pixel_count(height, width, "rle_from_string");
  Rle r{height, width, {}};
  r.counts.reserve(s.size());
  size_t p = 0;
  while (p < s.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      SGT_CHECK(p < s.size(), "rle", "truncated counts string: group at count {} runs past the end (length {})",
                r.counts.size(), s.size());
      const int c = static_cast<unsigned char>(s[p]) - 48;
      SGT_CHECK(c >= 0 && c < 64, "rle", "invalid character {:?} at offset {} of the counts string", s[p], p);
      SGT_CHECK(k < 8, "rle", "count {} at offset {} is longer than 8 characters", r.counts.size(), p);
      x |= static_cast<int64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= ~int64_t{0} << (5 * k);  // sign-extend
    }
    const size_t m = r.counts.size();
    if (m > 2) x += static_cast<int64_t>(r.counts[m - 2]);
    SGT_CHECK(x >= 0 && x <= height * width, "rle", "count {} decodes to {} (outside [0, {}]) for size [{}, {}]", m,
              x, height * width, height, width);
    r.counts.push_back(static_cast<uint32_t>(x));
  }
  rle_validate(r, "rle_from_string");
  return r;
}

uint64_t rle_area(const Rle& rle) {
  uint64_t a = 0;
  for (size_t j = 1; j < rle.counts.size(); j += 2) a += rle.counts[j];
  return a;
}

std::array<double, 4> rle_bbox(const Rle& rle) {
  // 32-bit unsigned arithmetic as in rleToBbox; only complete (0-run, 1-run) pairs are visited.
  const uint32_t h = static_cast<uint32_t>(rle.height), w = static_cast<uint32_t>(rle.width);
  const size_t m = (rle.counts.size() / 2) * 2;
  if (m == 0 || h == 0) return {0, 0, 0, 0};
  uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
  for (size_t j = 0; j < m; ++j) {
    cc += rle.counts[j];
    const uint32_t t = cc - static_cast<uint32_t>(j % 2);
    const uint32_t y = t % h, x = (t - y) / h;
    if (j % 2 == 0) {
      xp = x;
    } else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = std::min(xs, x);
    xe = std::max(xe, x);
    ys = std::min(ys, y);
    ye = std::max(ye, y);
  }
  return {static_cast<double>(xs), static_cast<double>(ys), static_cast<double>(xe - xs + 1),
          static_cast<double>(ye - ys + 1)};
}

std::optional<std::array<double, 2>> rle_centroid(const Rle& rle) {
  // Column-major runs: flat index i is pixel (x = i / h, y = i % h).
  const uint64_t h = static_cast<uint64_t>(rle.height);
  double sx = 0, sy = 0;
  uint64_t n = 0, pos = 0;
  for (size_t j = 0; j < rle.counts.size(); ++j) {
    const uint64_t run = rle.counts[j];
    if (j % 2 == 1) {
      for (uint64_t i = pos; i < pos + run; ++i) {
        sx += static_cast<double>(i / h);
        sy += static_cast<double>(i % h);
      }
      n += run;
    }
    pos += run;
  }
  if (n == 0) return std::nullopt;
  const double dn = static_cast<double>(n);
  return std::array<double, 2>{sx / dn + 0.5, sy / dn + 0.5};
}

}  // namespace sgt::data
