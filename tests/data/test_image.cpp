// Image codecs and resizing against PIL (tools/data_ref.py image). Tolerances: JPEG decode (full scale and
// DCT-scaled 1/2, 1/4, 1/8) and NEAREST must be identical; BICUBIC / BILINEAR at most 1 level (expected 0:
// the same fixed-point arithmetic as Pillow's Resample.c).
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "data/resize.h"
#include "data_test_util.h"

namespace sgt::data {
namespace {

TEST(Image, JpegDecodeMatchesPil) {
  testing::TempDir dir("img");
  const auto meta = test::run_ref("image", dir, "image.json");
  for (const auto& j : meta["jpeg"]) {
    const std::string path = dir.file(j["file"]);
    const Image ref = test::load_raw(dir, j["full"]);
    const Image got = read_image(path);
    EXPECT_EQ(test::dims(got), test::dims(ref)) << path;
    EXPECT_EQ(test::max_abs_diff(got, ref), 0) << path;
    const auto info = probe_image(read_file_bytes(path), path);
    EXPECT_EQ(info.width, ref.width);
    EXPECT_EQ(info.channels, ref.channels);
    for (const auto& d : j["draft"]) {
      const Image dref = test::load_raw(dir, d);
      const int64_t dd = d["d"];
      const int64_t short_side = std::min(ref.width, ref.height);
      const Image dgot = read_image(path, (short_side + dd - 1) / dd);  // hint = the 1/d size: picks d
      EXPECT_EQ(test::dims(dgot), test::dims(dref)) << path << " 1/" << dd;
      EXPECT_EQ(test::max_abs_diff(dgot, dref), 0) << path << " 1/" << dd;
    }
  }
}

TEST(Image, PngDecodeMatchesPilAndRoundTrips) {
  testing::TempDir dir("png");
  const auto meta = test::run_ref("image", dir, "image.json");
  for (const auto& p : meta["png"]) {
    const std::string path = dir.file(p["file"]);
    const Image ref = test::load_raw(dir, p["ref"]);
    const Image got = read_image(path);
    EXPECT_EQ(test::dims(got), test::dims(ref)) << path;
    EXPECT_EQ(test::max_abs_diff(got, ref), 0) << path;
    // encode -> decode is lossless; write_png publishes atomically.
    const Image back = decode_image(encode_png(got), "roundtrip");
    EXPECT_EQ(back.pixels, got.pixels);
    write_png(dir.file("out.png"), got);
    EXPECT_EQ(read_image(dir.file("out.png")).pixels, got.pixels);
  }
  // JPEG encoding: decodes to the same size, close to the input at quality 95 (the input has pixel noise of
  // sigma 6 and 4:2:0 chroma subsampling, hence a mean error of several levels).
  const Image rgb = read_image(dir.file("rgb.png"));
  const Image j = decode_image(encode_jpeg(rgb, 95), "q95");
  EXPECT_EQ(test::dims(j), test::dims(rgb));
  double err = 0;
  for (size_t i = 0; i < j.pixels.size(); ++i) err += std::abs(int(j.pixels[i]) - int(rgb.pixels[i]));
  EXPECT_LT(err / j.pixels.size(), 10.0);
}

TEST(Image, ResizeMatchesPil) {
  testing::TempDir dir("resize");
  const auto meta = test::run_ref("image", dir, "image.json");
  const Image src = test::load_raw(dir, meta["resize_src"]), srcl = test::load_raw(dir, meta["resize_src_l"]);
  int worst_bicubic = 0, n = 0;
  for (const auto& r : meta["resize"]) {
    const Image ref = test::load_raw(dir, r);
    const Image& in = r["src"] == "rgb" ? src : srcl;
    const std::string f = r["filter"];
    const Image got = f == "nearest"   ? resize_nearest(in, ref.width, ref.height)
                      : f == "bicubic" ? resize_bicubic(in, ref.width, ref.height)
                                       : resize_bilinear(in, ref.width, ref.height);
    const int diff = test::max_abs_diff(got, ref);
    EXPECT_LE(diff, f == "nearest" ? 0 : 1) << f << " " << test::dims(in) << " -> " << test::dims(ref);
    if (f != "nearest") worst_bicubic = std::max(worst_bicubic, diff);
    ++n;
  }
  EXPECT_EQ(n, 48);
  std::printf("resize: worst bicubic/bilinear max abs diff vs PIL = %d\n", worst_bicubic);
}

TEST(Image, BadInputsAreClearErrors) {
  testing::TempDir dir("badimg");
  const auto meta = test::run_ref("image", dir, "image.json");
  const auto jpg = read_file_bytes(dir.file("img_0.jpg"));
  const auto png = read_file_bytes(dir.file("rgb.png"));
  auto expect_bad = [](std::span<const uint8_t> b, const std::string& needle) {
    try {
      decode_image(b, "sample.x");
      ADD_FAILURE() << "accepted " << needle;
    } catch (const BadSampleError& e) {
      EXPECT_EQ(e.reason(), BadSampleReason::kCorruptImage);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("sample.x"), std::string::npos) << e.what();
    }
  };
  expect_bad(std::span(jpg).subspan(0, jpg.size() / 2), "JPEG");  // truncated
  expect_bad(std::span(jpg).subspan(0, 10), "JPEG");
  expect_bad(std::span(png).subspan(0, png.size() - 20), "PNG");
  auto flipped = png;
  flipped[png.size() / 2] ^= 0xFF;  // CRC mismatch
  expect_bad(flipped, "PNG");
  auto junk = jpg;
  for (size_t i = 600; i < junk.size() - 2; ++i) junk[i] = 0xFF;  // markers everywhere
  try {
    decode_image(junk, "junk");
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kCorruptImage);
  }
  const std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  expect_bad(text, "not a JPEG or PNG");
  expect_bad({}, "not a JPEG or PNG");
  EXPECT_THROW(read_image(dir.file("missing.jpg")), Error);
  EXPECT_THROW(resize_bicubic(Image(3, 3, 3), 0, 5), Error);
  EXPECT_THROW(encode_png(Image()), Error);
}

TEST(Image, MutatedInputsThrowOrDecode) {
  // A small fuzz pass: random byte flips and truncations of valid files either decode to the header's size or
  // throw sgt::Error; nothing else (no crash, no other exception type).
  testing::TempDir dir("mut");
  const auto meta = test::run_ref("image", dir, "image.json");
  Rng rng(9);
  int errors = 0, decoded = 0;
  for (const std::string f : {"img_2.jpg", "rgb.png", "p.png", "gray.jpg"}) {
    const auto orig = read_file_bytes(dir.file(f));
    for (int t = 0; t < 150; ++t) {
      auto b = orig;
      const int flips = 1 + static_cast<int>(rng.below(4));
      for (int k = 0; k < flips; ++k) b[rng.below(b.size())] = static_cast<uint8_t>(rng.below(256));
      if (rng.below(3) == 0) b.resize(rng.below(b.size()));
      try {
        const Image img = decode_image(b, f, rng.below(2) ? 20 : 0);
        EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width * img.height * img.channels));
        ++decoded;
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(decoded, 0);
}

TEST(Image, ConvertChannelsMatchesPilRules) {
  Image rgb(2, 1, 3);
  const uint8_t px[6] = {255, 0, 0, 10, 200, 30};
  std::copy(px, px + 6, rgb.pixels.begin());
  const Image l = convert_channels(rgb, 1);
  EXPECT_EQ(l.pixels[0], 76);   // PIL: Image.new("RGB", (1, 1), (255, 0, 0)).convert("L") -> 76
  EXPECT_EQ(l.pixels[1], 124);  // (10*19595 + 200*38470 + 30*7471 + 32768) >> 16 = 124
  const Image back = convert_channels(l, 3);
  EXPECT_EQ(back.pixels[3], 124);
  EXPECT_EQ(convert_channels(rgb, 4).pixels[7], 255);
}

}  // namespace
}  // namespace sgt::data
