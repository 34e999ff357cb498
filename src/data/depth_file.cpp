// Depth files (data/depth_file.h).
#include "data/depth_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <regex>
#include <vector>

#include "data/bad_sample.h"

namespace sgt::data {
namespace {

constexpr auto kCorrupt = BadSampleReason::kCorruptImage;
constexpr int64_t kMaxSide = 1 << 15;

Image stretch(const std::vector<double>& v, int64_t w, int64_t h, const std::string& name) {
  double lo = INFINITY, hi = -INFINITY;
  for (double x : v) {
    SGT_BAD_SAMPLE(std::isfinite(x), kCorrupt, "depth", "{}: depth map holds a non-finite value", name);
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  Image out(w, h, 1);
  for (size_t i = 0; i < v.size(); ++i)
    out.pixels[i] = hi > lo ? static_cast<uint8_t>(std::lround(255.0 * (v[i] - lo) / (hi - lo))) : 0;
  return out;
}

}  // namespace

Image decode_depth_png(std::span<const uint8_t> bytes, const std::string& name) {
  const ImageInfo info = probe_image(bytes, name);
  if (info.format == ImageFormat::kPng && info.channels == 1) {
    // 8- or 16-bit gray: the stored values (PIL's L / I;16, data::decode_png_u16), stretched at full precision
    const Image16 g = decode_png_u16(bytes, name);
    std::vector<double> v(g.pixels.begin(), g.pixels.end());
    return stretch(v, g.width, g.height, name);
  }
  // Colour maps (or a JPEG): their gray levels (PIL "L") as they are.
  const Image g = convert_channels(decode_image(bytes, name), 1);
  std::vector<double> v(g.pixels.begin(), g.pixels.end());
  return stretch(v, g.width, g.height, name);
}

Image decode_depth_npy(std::span<const uint8_t> b, const std::string& name) {
  SGT_BAD_SAMPLE(b.size() >= 10 && std::memcmp(b.data(), "\x93NUMPY", 6) == 0, kCorrupt, "depth",
                 "{}: not a .npy file (no \\x93NUMPY magic)", name);
  const int major = b[6];
  SGT_BAD_SAMPLE(major >= 1 && major <= 3, kCorrupt, "depth", "{}: .npy version {} unsupported", name, major);
  size_t hlen = 0, off = 0;
  if (major == 1) {
    hlen = b[8] | (b[9] << 8);
    off = 10;
  } else {
    SGT_BAD_SAMPLE(b.size() >= 12, kCorrupt, "depth", "{}: truncated .npy header", name);
    hlen = b[8] | (b[9] << 8) | (b[10] << 16) | (static_cast<size_t>(b[11]) << 24);
    off = 12;
  }
  SGT_BAD_SAMPLE(off + hlen <= b.size(), kCorrupt, "depth", "{}: truncated .npy header", name);
  const std::string header(reinterpret_cast<const char*>(b.data() + off), hlen);
  std::smatch m;
  SGT_BAD_SAMPLE(std::regex_search(header, m, std::regex("'descr':\\s*'([<>|=])([a-z])(\\d+)'")), kCorrupt, "depth",
                 "{}: .npy header without descr: {}", name, header);
  const char order = m[1].str()[0], kind = m[2].str()[0];
  const int bytes = std::stoi(m[3].str());
  SGT_BAD_SAMPLE(header.find("'fortran_order': False") != std::string::npos, kCorrupt, "depth",
                 "{}: Fortran-order .npy arrays are not supported", name);
  SGT_BAD_SAMPLE(std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), kCorrupt, "depth",
                 "{}: .npy header without shape", name);
  std::vector<int64_t> dims;
  const std::string shape = m[1].str();
  const std::regex digits("\\d+");
  for (std::sregex_iterator it(shape.begin(), shape.end(), digits), end; it != end; ++it)
    dims.push_back(std::min<int64_t>(std::stoll(it->str()), kMaxSide + 1));
  if (dims.size() == 3 && dims[2] == 1) dims.pop_back();
  if (dims.size() == 3 && dims[0] == 1) dims.erase(dims.begin());
  SGT_BAD_SAMPLE(dims.size() == 2 && dims[0] > 0 && dims[1] > 0 && dims[0] <= kMaxSide && dims[1] <= kMaxSide,
                 kCorrupt, "depth", "{}: depth array shape ({}) is not (H, W) with sides in [1, {}]", name, shape,
                 kMaxSide);
  const bool big = order == '>';
  const bool ok = (kind == 'f' && (bytes == 2 || bytes == 4 || bytes == 8)) ||
                  ((kind == 'u' || kind == 'i') && (bytes == 1 || bytes == 2 || bytes == 4));
  SGT_BAD_SAMPLE(ok, kCorrupt, "depth", "{}: .npy dtype {}{} unsupported", name, kind, bytes);
  const size_t n = static_cast<size_t>(dims[0] * dims[1]);
  SGT_BAD_SAMPLE(b.size() - off - hlen >= n * bytes, kCorrupt, "depth", "{}: .npy data truncated ({} of {} bytes)",
                 name, b.size() - off - hlen, n * bytes);
  const uint8_t* p = b.data() + off + hlen;
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t e[8];
    for (int k = 0; k < bytes; ++k) e[k] = p[i * bytes + (big ? bytes - 1 - k : k)];  // to little-endian
    uint64_t u = 0;
    for (int k = bytes - 1; k >= 0; --k) u = (u << 8) | e[k];
    if (kind == 'f' && bytes == 4) {
      float f;
      const auto u32 = static_cast<uint32_t>(u);
      std::memcpy(&f, &u32, 4);
      v[i] = f;
    } else if (kind == 'f' && bytes == 8) {
      double d;
      std::memcpy(&d, &u, 8);
      v[i] = d;
    } else if (kind == 'f') {  // IEEE half
      const int ex = static_cast<int>((u >> 10) & 31), mant = static_cast<int>(u & 1023);
      const double sign = (u >> 15) ? -1.0 : 1.0;
      v[i] = ex == 0 ? sign * std::ldexp(mant, -24)
             : ex == 31 ? (mant ? NAN : sign * INFINITY)
                        : sign * std::ldexp(1024 + mant, ex - 25);
    } else if (kind == 'u') {
      v[i] = static_cast<double>(u);
    } else {
      const int shift = 64 - 8 * bytes;
      v[i] = static_cast<double>(static_cast<int64_t>(u << shift) >> shift);
    }
  }
  return stretch(v, dims[1], dims[0], name);
}

}  // namespace sgt::data
