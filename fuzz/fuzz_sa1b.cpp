// libFuzzer target for SA-1B annotation JSON (data/sa1b.h parse_sa1b_json) and the decoding of its masks.
// Any byte string must parse into a record whose every mask has the image's size and valid counts, or raise
// BadSampleError (the documented error of a bad sample). Masks of up to 2^20 pixels are decoded (sizes come from
// the input: the cap keeps the fuzzer from allocating gigabytes legitimately) and checked against rle_area.
// Crashes, sanitizer reports, other exception types (a plain sgt::Error included) and broken invariants
// (__builtin_trap) are findings.
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/rle.h"
#include "data/sa1b.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sgt::data;
  SaRecord rec;
  try {
    rec = parse_sa1b_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
  } catch (const BadSampleError& e) {
    check(e.reason() == BadSampleReason::kBadJson || e.reason() == BadSampleReason::kBadRle ||
          e.reason() == BadSampleReason::kSizeMismatch);
    return 0;
  }
  check(rec.image.width > 0 && rec.image.height > 0);
  const uint64_t pixels = static_cast<uint64_t>(rec.image.width) * static_cast<uint64_t>(rec.image.height);
  for (const auto& a : rec.annotations) {
    const Rle& r = a.segmentation;
    check(r.height == rec.image.height && r.width == rec.image.width);
    try {
      rle_validate(r, "fuzz");
    } catch (const sgt::Error& e) {
      std::fprintf(stderr, "parsed annotation %lld has invalid counts: %s\n", static_cast<long long>(a.id), e.what());
      __builtin_trap();
    }
    (void)rle_bbox(r);
    if (pixels > (uint64_t{1} << 20)) continue;
    const auto mask = rle_decode(r);
    uint64_t area = 0;
    for (uint8_t v : mask) area += v;
    check(area == rle_area(r));
    check(rle_centroid(r).has_value() == (area > 0));
  }
  return 0;
}
