// libFuzzer target for COCO RLE (data/rle.h). The first byte picks a mode:
//   0: [h u16][w u16] + a compressed counts string     1: [h u32][w u32] + a counts string (sizes up to 2^32)
//   2: [h u8][w u8] + a mask (h*w bytes, zero-padded)   3: [h u8][w u8] + uncompressed counts (u16 each)
// Parsing must succeed or raise sgt::Error; a parsed or validated RLE must survive the string round trip, decode to
// a mask whose area, bbox and centroid agree with the RLE's, and paint / fill exactly that mask. Masks are only
// materialised up to 2^16 pixels (sizes come from the input, so the cap keeps the fuzzer from allocating
// gigabytes legitimately). Crashes, sanitizer reports, other exception types and broken invariants
// (__builtin_trap) are findings.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "data/rle.h"

namespace {

using namespace sgt::data;

constexpr uint64_t kMaxPixels = uint64_t{1} << 16;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <class T>
T read_le(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
  return v;
}

// Everything a valid RLE must satisfy, against its decoded mask.
void check_valid_impl(const Rle& r) {
  rle_validate(r, "fuzz");
  // The counts string round-trips to the same counts.
  const std::string s = rle_to_string(r);
  const Rle back = rle_from_string(s, r.height, r.width);
  check(back.counts == r.counts && back.height == r.height && back.width == r.width);
  const uint64_t h = static_cast<uint64_t>(r.height), w = static_cast<uint64_t>(r.width);
  if (h * w > kMaxPixels) return;
  const std::vector<uint8_t> mask = rle_decode(r);
  check(mask.size() == h * w);
  uint64_t area = 0;
  int64_t x0 = INT64_MAX, y0 = INT64_MAX, x1 = -1, y1 = -1;
  double sx = 0, sy = 0;
  for (uint64_t y = 0; y < h; ++y)
    for (uint64_t x = 0; x < w; ++x) {
      const uint8_t v = mask[y * w + x];
      check(v <= 1);
      if (!v) continue;
      ++area;
      x0 = std::min<int64_t>(x0, x), x1 = std::max<int64_t>(x1, x);
      y0 = std::min<int64_t>(y0, y), y1 = std::max<int64_t>(y1, y);
      sx += static_cast<double>(x) + 0.5, sy += static_cast<double>(y) + 0.5;
    }
  check(rle_area(r) == area);
  // pycocotools' toBbox (which rle_bbox follows bit for bit) walks every run, so empty runs after the first can
  // widen its box: the box is the mask's own only for canonical counts (what rle_encode writes).
  bool canonical = true;
  for (size_t j = 1; j < r.counts.size(); ++j) canonical &= r.counts[j] > 0;
  const auto bb = rle_bbox(r);
  if (canonical && area > 0) {
    check(bb[0] == static_cast<double>(x0) && bb[1] == static_cast<double>(y0) &&
          bb[2] == static_cast<double>(x1 - x0 + 1) && bb[3] == static_cast<double>(y1 - y0 + 1));
  }
  const auto c = rle_centroid(r);
  check(c.has_value() == (area > 0));
  if (c) {
    const double n = static_cast<double>(area);
    check(std::abs((*c)[0] - sx / n) < 1e-6 * (1 + sx / n) && std::abs((*c)[1] - sy / n) < 1e-6 * (1 + sy / n));
  }
  // Re-encoding the mask gives canonical counts that decode to the same mask.
  const Rle enc = rle_encode(mask.data(), r.height, r.width);
  check(rle_decode(enc) == mask);
  // Painting and column-major filling touch exactly the foreground (exact-size buffers: ASan sees overruns).
  std::vector<uint8_t> hwc(static_cast<size_t>(h * w * 3), 7);
  const uint8_t colour[3] = {1, 2, 3};
  rle_paint(r, hwc.data(), 3, colour);
  std::vector<uint16_t> col(static_cast<size_t>(h * w), 0);
  rle_fill_colmajor(r, col.data(), uint16_t{9});
  for (uint64_t y = 0; y < h; ++y)
    for (uint64_t x = 0; x < w; ++x) {
      const bool fg = mask[y * w + x] != 0;
      check(hwc[(y * w + x) * 3 + 2] == (fg ? 3 : 7));
      check(col[x * h + y] == (fg ? 9 : 0));
    }
}

// No sgt::Error may escape for a parsed or validated RLE.
void check_valid(const Rle& r) {
  try {
    check_valid_impl(r);
  } catch (const sgt::Error& e) {
    std::fprintf(stderr, "valid RLE [%lld, %lld] raised: %s\n", static_cast<long long>(r.height),
                 static_cast<long long>(r.width), e.what());
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 4;
  ++data, --size;
  try {
    if (mode == 0 || mode == 1) {
      const size_t hdr = mode == 0 ? 4 : 8;
      if (size < hdr) return 0;
      const int64_t h = mode == 0 ? read_le<uint16_t>(data) : read_le<uint32_t>(data);
      const int64_t w = mode == 0 ? read_le<uint16_t>(data + 2) : read_le<uint32_t>(data + 4);
      const std::string_view s(reinterpret_cast<const char*>(data + hdr), size - hdr);
      const Rle r = rle_from_string(s, h, w);
      check(r.height == h && r.width == w);
      check_valid(r);
    } else if (mode == 2) {
      if (size < 2) return 0;
      const int64_t h = data[0], w = data[1];
      std::vector<uint8_t> mask(static_cast<size_t>(h * w), 0);
      if (!mask.empty()) std::memcpy(mask.data(), data + 2, std::min(mask.size(), size - 2));
      const Rle r = rle_encode(mask.data(), h, w);
      check_valid(r);
      for (auto& v : mask) v = v != 0;
      check(rle_decode(r) == mask);
      check(rle_encode(mask.data(), h, w).counts == r.counts);
    } else {
      if (size < 2) return 0;
      Rle r{data[0], data[1], {}};
      for (size_t i = 2; i + 1 < size; i += 2) r.counts.push_back(read_le<uint16_t>(data + i));
      try {
        rle_validate(r);
      } catch (const sgt::Error&) {
        return 0;
      }
      check_valid(r);
    }
  } catch (const sgt::Error&) {
  }
  return 0;
}
