// RLE parity with pycocotools (tools/data_ref.py rle): encode -> counts string, string -> decode, area, bbox,
// on ~100 masks of many sizes (empty, full, single pixel, noise, SA-1B-like blobs, stripes).
#include <functional>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/bad_sample.h"
#include "data/rle.h"
#include "data_test_util.h"

namespace sgt::data {
namespace {

TEST(Rle, MatchesPycocotools) {
  testing::TempDir dir("rle");
  const auto cases = test::run_ref("rle", dir, "rle.json");
  ASSERT_GT(cases.size(), 80u);
  for (const auto& c : cases) {
    const int64_t h = c["h"], w = c["w"];
    const auto mask = read_file_bytes(dir.file(c["file"]));
    ASSERT_EQ(static_cast<int64_t>(mask.size()), h * w);
    ASSERT_TRUE(c["decoded_equal"].get<bool>());
    const std::string ref = c["counts"];
    SCOPED_TRACE(fmt::format("{} {}x{} counts {}", c["file"].get<std::string>(), h, w, ref));
    const Rle enc = rle_encode(mask.data(), h, w);
    EXPECT_EQ(rle_to_string(enc), ref);
    const Rle dec = rle_from_string(ref, h, w);
    EXPECT_EQ(dec.counts, enc.counts);
    EXPECT_EQ(rle_decode(dec), mask);
    EXPECT_EQ(rle_area(dec), c["area"].get<uint64_t>());
    const auto bb = rle_bbox(dec);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(bb[k], c["bbox"][k].get<double>()) << k;
    // Centroid against the row-major mask (nullopt when empty).
    double sx = 0, sy = 0, n = 0;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        if (mask[y * w + x]) sx += x + 0.5, sy += y + 0.5, ++n;
    const auto centre = rle_centroid(dec);
    ASSERT_EQ(centre.has_value(), n > 0);
    if (centre) {
      EXPECT_NEAR((*centre)[0], sx / n, 1e-9);
      EXPECT_NEAR((*centre)[1], sy / n, 1e-9);
    }
    // Painting and column-major filling agree with decoding.
    std::vector<uint8_t> painted(static_cast<size_t>(h * w * 3), 7);
    const uint8_t colour[3] = {1, 2, 3};
    rle_paint(dec, painted.data(), 3, colour);
    std::vector<uint8_t> col(static_cast<size_t>(h * w), 0);
    rle_fill_colmajor(dec, col.data(), uint8_t{9});
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const size_t i = static_cast<size_t>(y * w + x);
        ASSERT_EQ(painted[i * 3 + 2], mask[i] ? 3 : 7);
        ASSERT_EQ(col[static_cast<size_t>(x * h + y)], mask[i] ? 9 : 0);
      }
  }
}

TEST(Rle, RoundTripsLargeRandomMasks) {
  // Long runs exercise multi-character groups and negative deltas.
  Rng rng(5);
  for (int t = 0; t < 20; ++t) {
    const int64_t h = rng.range(1, 1500), w = rng.range(1, 300);
    std::vector<uint8_t> m(static_cast<size_t>(h * w));
    uint8_t v = 0;
    for (size_t i = 0; i < m.size(); ++i) {
      if (rng.below(1000) < 3) v = !v;
      m[i] = v;
    }
    const Rle r = rle_encode(m.data(), h, w);
    const Rle back = rle_from_string(rle_to_string(r), h, w);
    EXPECT_EQ(back.counts, r.counts);
    EXPECT_EQ(rle_decode(back), m);
  }
}

TEST(Rle, RejectsMalformedStrings) {
  auto bad = [](std::string_view s, int64_t h, int64_t w, const std::string& needle) {
    try {
      rle_from_string(s, h, w);
      ADD_FAILURE() << "accepted '" << s << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string ok = rle_to_string(Rle{4, 4, {3, 5, 8}});
  EXPECT_EQ(rle_from_string(ok, 4, 4).counts, (std::vector<uint32_t>{3, 5, 8}));
  bad(ok, 4, 5, "sum to 16");               // total != h*w
  bad("3~", 4, 4, "invalid character");     // '~' is outside '0'..'o'
  bad("3 5", 4, 4, "invalid character");
  bad("3P", 4, 4, "truncated");             // 'P' has the continuation bit and nothing follows
  bad("3:", 4, 4, "sum to 13");             // 3 + 10 pixels for a 16-pixel mask
  bad("@", 4, 4, "outside");                // 0x10 without continuation: the count -16
  bad("o", 4, 4, "truncated");              // 'o' = 63 carries the continuation bit
  bad("oooooooooo", 1000, 1000, "longer than 8");
  EXPECT_THROW(rle_validate(Rle{2, 2, {1, 1}}), Error);
  EXPECT_THROW(rle_decode(Rle{2, 2, {5}}), Error);
}

TEST(Rle, RandomStringsParseOrThrow) {
  // Any string either parses to counts summing to h*w or throws sgt::Error (no crash, no other exception).
  Rng rng(17);
  int ok = 0, bad = 0;
  for (int t = 0; t < 3000; ++t) {
    const int64_t h = 1 + static_cast<int64_t>(rng.below(20)), w = 1 + static_cast<int64_t>(rng.below(20));
    std::string s;
    if (rng.below(2)) {  // a valid string of a random mask, one character changed half of the time
      std::vector<uint8_t> m(static_cast<size_t>(h * w));
      for (auto& v : m) v = rng.below(3) == 0;
      s = rle_to_string(rle_encode(m.data(), h, w));
      if (rng.below(2)) s[rng.below(s.size())] = static_cast<char>(40 + rng.below(80));
    } else {
      s.assign(1 + rng.below(12), ' ');
      for (auto& c : s) c = static_cast<char>(40 + rng.below(80));
    }
    try {
      const Rle r = rle_from_string(s, h, w);
      rle_validate(r);
      EXPECT_EQ(rle_decode(r).size(), static_cast<size_t>(h * w));
      ++ok;
    } catch (const Error&) {
      ++bad;
    }
  }
  EXPECT_GT(ok, 500);  // ~3000 / 4 untouched valid strings
  EXPECT_GT(bad, 500);
}

// Inputs found by fuzz/fuzz_rle.cpp (also in fuzz/corpus/rle/), fed through the same calls as the target.
TEST(Rle, FuzzFindingSizesWhoseProductOverflows) {
  // Mode 1 of the target: sizes [2^32 - 1, 2^32 - 1] and an empty counts string. h*w overflowed int64 in
  // rle_validate (UBSan: signed integer overflow); now a clear error before the product is formed.
  const uint8_t input[] = {0xa9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const int64_t side = 0xffffffffLL;
  ASSERT_EQ(input[0] % 4, 1);
  for (auto f : {std::function<void()>([&] { rle_from_string("", side, side); }),
                 std::function<void()>([&] { rle_validate(Rle{side, side, {}}); }),
                 std::function<void()>([&] { rle_decode(Rle{side, side, {0}}); })}) {
    try {
      f();
      ADD_FAILURE() << "accepted a [2^32-1, 2^32-1] mask";
    } catch (const Error& e) {
      EXPECT_EQ(e.component(), "rle");
      EXPECT_NE(e.detail().find("size [4294967295, 4294967295] has more pixels than int64 holds"), std::string::npos)
          << e.what();
    }
  }
  // Large sizes whose product fits still parse as before.
  EXPECT_EQ(rle_from_string(rle_to_string(Rle{65536, 65536, {0, 1u << 31, 1u << 31}}), 65536, 65536).counts,
            (std::vector<uint32_t>{0, 1u << 31, 1u << 31}));
}

TEST(Rle, FuzzFindingEmptyMaskFromAnEmptyVector) {
  // Mode 3 of the target (bytes 07 00 53 7e): a valid 0x83 RLE with no counts, decoded to an empty vector whose
  // data() is null and encoded again: rle_encode did pointer arithmetic on null (UBSan). An empty mask encodes to
  // one empty 0-run, as before.
  const Rle r{0, 0x53, {}};
  rle_validate(r);
  const std::vector<uint8_t> mask = rle_decode(r);
  ASSERT_TRUE(mask.empty());
  const Rle enc = rle_encode(mask.data(), r.height, r.width);
  EXPECT_EQ(enc.height, 0);
  EXPECT_EQ(enc.width, 0x53);
  EXPECT_EQ(enc.counts, std::vector<uint32_t>{0});
  EXPECT_EQ(rle_encode(nullptr, 5, 0).counts, std::vector<uint32_t>{0});
  EXPECT_EQ(rle_to_string(enc), "0");
}

TEST(BadSample, CountsByReason) {
  BadSampleCounter c(1);
  c.record(BadSampleError(BadSampleReason::kBadRle, "rle", "x"));
  c.record(BadSampleError(BadSampleReason::kBadRle, "rle", "y"));
  c.record(Error("io", "z"));
  c.record(std::runtime_error("w"));
  EXPECT_EQ(c.count(BadSampleReason::kBadRle), 2);
  EXPECT_EQ(c.count(BadSampleReason::kOther), 2);
  EXPECT_EQ(c.total(), 4);
  EXPECT_EQ(c.summary(), "bad samples: 4 (bad_rle 2, other 2)");
  BadSampleCounter d;
  d.merge(c);
  EXPECT_EQ(d.total(), 4);
}

}  // namespace
}  // namespace sgt::data
