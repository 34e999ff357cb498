// Hostile-input regressions of the data layer (issue 26): inputs that used to take quadratic time, loop until
// memory ran out or hang the loader now finish, or fail with an error naming the limit and its config key.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <any>
#include <system_error>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/packing.h"
#include "data/tar.h"
#include "data/proxy_tasks.h"
#include "data/sa1b.h"
#include "data/webdataset.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::data;

namespace {

uint32_t packed(const std::array<uint8_t, 3>& c) { return c[0] | (c[1] << 8) | (c[2] << 16); }

// n one-pixel masks on a side x side canvas (n <= side^2): mask i is pixel i in column-major order.
std::vector<Rle> pixel_masks(int64_t n, int64_t side) {
  std::vector<Rle> masks;
  masks.reserve(static_cast<size_t>(n));
  const int64_t total = side * side;
  for (int64_t i = 0; i < n; ++i) {
    Rle r{side, side, {static_cast<uint32_t>(i), 1}};
    if (total - i - 1 > 0) r.counts.push_back(static_cast<uint32_t>(total - i - 1));
    masks.push_back(std::move(r));
  }
  return masks;
}

std::shared_ptr<const Instructions> segment_instructions() {
  return std::make_shared<Instructions>(Instructions::from_map({{"segment", {"segment it"}}}));
}

// SA-1B JSON of a 4x2 image with n one-run masks.
std::string sa1b_json(int64_t n) {
  std::string s = R"({"image": {"image_id": 1, "width": 4, "height": 2}, "annotations": [)";
  for (int64_t i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += R"({"segmentation": {"size": [2, 4], "counts": [1, 2, 5]}})";
  }
  return s + "]}";
}

}  // namespace

TEST(DataLimits, HundredThousandMasksGetDistinctColours) {
  // 10^5 masks took minutes (each draw scanned every earlier colour); the grid index makes it about linear. Every
  // colour distinct and none black (the required distance relaxes to 1 once the cube is crowded).
  const int64_t n = 100000;
  const auto masks = pixel_masks(n, 320);
  Rng r(11);
  std::vector<std::array<uint8_t, 3>> cols;
  const Image map = render_instance_map(masks, r, 48, &cols);
  ASSERT_EQ(cols.size(), static_cast<size_t>(n));
  std::vector<uint32_t> p;
  p.reserve(cols.size());
  for (const auto& c : cols) p.push_back(packed(c));
  EXPECT_EQ(std::count(p.begin(), p.end(), 0u), 0);
  std::sort(p.begin(), p.end());
  EXPECT_EQ(std::adjacent_find(p.begin(), p.end()), p.end()) << "two masks share a colour";
  // pixel (y, x) is mask x * 320 + y
  EXPECT_EQ(packed({map.at(5, 0)[0], map.at(5, 0)[1], map.at(5, 0)[2]}), packed(cols[5]));
  EXPECT_EQ(packed({map.at(17, 300)[0], map.at(17, 300)[1], map.at(17, 300)[2]}), packed(cols[300 * 320 + 17]));
}

TEST(DataLimits, TooManyMasksInAnSa1bRecordIsABadSample) {
  EXPECT_EQ(parse_sa1b_json(sa1b_json(5), "sa_1.json", 5).annotations.size(), 5u);
  try {
    parse_sa1b_json(sa1b_json(6), "sa_1.json", 5);
    ADD_FAILURE() << "no error";
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kTooLarge);
    EXPECT_EQ(e.detail(), "sa_1.json: 6 annotations, above the limit of 5 masks per sample (proxy task key max_masks)");
  }
  // the default bound
  EXPECT_EQ(parse_sa1b_json(sa1b_json(kDefaultMaxMasks), "x").annotations.size(), static_cast<size_t>(kDefaultMaxMasks));
  EXPECT_THROW(parse_sa1b_json(sa1b_json(kDefaultMaxMasks + 1), "x"), BadSampleError);
  EXPECT_THROW(parse_sa1b_json(sa1b_json(1), "x", 0), Error);
}

TEST(DataLimits, TooManyMasksForAProxyTaskIsABadSample) {
  const auto cfg = config::from_json<ProxyTaskConfig>(config::Json{{"task", "segment"}, {"max_masks", 3}}, "cfg");
  EXPECT_EQ(cfg.max_masks, 3);
  EXPECT_EQ(ProxyTaskConfig{}.max_masks, kDefaultMaxMasks);
  auto task = make_proxy_task(cfg, segment_instructions());
  ProxySource src;
  src.image = Image(8, 8, 3, 0);
  src.instances = pixel_masks(3, 8);
  Rng rng(1);
  EXPECT_EQ(task->make(src, rng).target.width, 8);
  src.instances = pixel_masks(4, 8);
  try {
    task->make(src, rng);
    ADD_FAILURE() << "no error";
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kTooLarge);
    EXPECT_EQ(e.detail(), "task segment: 4 instance masks, above the limit of 3 masks per sample (proxy task key max_masks)");
  }
  EXPECT_STREQ(bad_sample_reason_name(BadSampleReason::kTooLarge), "too_large");
  ProxyTaskConfig zero;
  zero.max_masks = 0;
  EXPECT_THROW(zero.validate(), Error);
}

namespace {
using Names = std::vector<std::string>;
std::string error_of(const std::string& pattern) {
  try {
    expand_braces(pattern);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(DataLimits, BraceRangesFollowBraceexpandAndAreBounded) {
  // braceexpand 0.1.7's answers (checked by hand against the Python package)
  EXPECT_EQ(expand_braces("{a..z..4294967296}"), Names{"a"});  // used to loop until memory ran out
  EXPECT_EQ(expand_braces("{a..z..5}"), (Names{"a", "f", "k", "p", "u", "z"}));
  EXPECT_EQ(expand_braces("{z..a..5}"), (Names{"z", "u", "p", "k", "f", "a"}));
  EXPECT_EQ(expand_braces("{a..e..0}"), (Names{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(expand_braces("{a..c..-1}"), (Names{"a", "b", "c"}));
  EXPECT_EQ(expand_braces("{X..b}"), (Names{"X", "Y", "Z", "a", "b"}));  // letters index "A..Za..z"
  EXPECT_EQ(expand_braces("{b..Y}"), (Names{"b", "a", "Z", "Y"}));
  EXPECT_EQ(expand_braces("{0..10..3}"), (Names{"0", "3", "6", "9"}));
  EXPECT_EQ(expand_braces("{0..10..-2}"), (Names{"0", "2", "4", "6", "8", "10"}));
  EXPECT_EQ(expand_braces("{10..0..3}"), (Names{"10", "7", "4", "1"}));
  EXPECT_EQ(expand_braces("{3..0}"), (Names{"3", "2", "1", "0"}));
  EXPECT_EQ(expand_braces("{1..3..0}"), (Names{"1", "2", "3"}));
  EXPECT_EQ(expand_braces("{00..10..4}"), (Names{"00", "04", "08"}));
  EXPECT_EQ(expand_braces("{-05..3..3}"), (Names{"-05", "-02", "001"}));
  EXPECT_EQ(expand_braces("{0..3..99999999999999999999}"), Names{"0"});  // a step beyond 64 bits: one item
  EXPECT_EQ(expand_braces("{-9223372036854775808..9223372036854775807..9223372036854775807}"),
            (Names{"-9223372036854775808", "-1", "9223372036854775806"}));
  EXPECT_EQ(expand_braces("{9223372036854775807..9223372036854775805}"),
            (Names{"9223372036854775807", "9223372036854775806", "9223372036854775805"}));
  EXPECT_EQ(expand_braces("{1..2..}"), Names{"{1..2..}"});  // not a range, not a list: literal
  EXPECT_EQ(expand_braces("x{1...2}"), Names{"x{1...2}"});
  // limits: a clear error naming the pattern, not std::stoll or an allocation failure
  EXPECT_EQ(error_of("s-{99999999999999999999..99999999999999999998}.tar"),
            "[webdataset] brace pattern 's-{99999999999999999999..99999999999999999998}.tar': range bound "
            "99999999999999999999 is outside the 64-bit integers");
  EXPECT_EQ(error_of("s-{0..4294967296}.tar"),
            "[webdataset] brace pattern 's-{0..4294967296}.tar': range {0..4294967296} has 4294967297 items, above "
            "the limit of 1000000 names");
  EXPECT_EQ(error_of("{0..999}{0..999}{0..9}"),
            "[webdataset] brace pattern '{0..999}{0..999}{0..9}' expands to more than 1000000 names");
  EXPECT_EQ(expand_braces("{0..999}{0..999}").size(), 1000000u);  // the limit itself is allowed
  EXPECT_THROW(expand_shard_list({"a.tar::{0..99999999}"}), Error);
}

namespace {

// A shard of n samples (key s_000..); sample i has a good 16x16 JPEG when good(i), else one cut in half.
std::string jpeg_shard(const sgt::testing::TempDir& dir, const std::string& name, int n, bool (*good)(int)) {
  Image img(16, 16, 3, 0);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
  const std::vector<uint8_t> jpg = encode_jpeg(img);
  const std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() / 2));
  TarWriter w(dir.file(name));
  for (int i = 0; i < n; ++i) {
    const auto& bytes = good(i) ? jpg : cut;
    w.add(fmt::format("s_{:03d}.jpg", i), std::span<const uint8_t>(bytes.data(), bytes.size()));
  }
  w.close();
  return dir.file(name);
}

LoaderConfig in_order(const std::string& shard) {
  LoaderConfig c;
  c.shards = {shard};
  c.shuffle_buffer = 1;
  c.shuffle_shards = false;
  c.decode_threads = 2;
  c.window = 4;
  c.name = "segment";
  return c;
}

std::any decode_jpg(WdsSample& s, Rng&) { return decode_image(s.at("jpg"), s.key).width; }

std::string next_error(Loader& l, int64_t limit = 100000) {
  try {
    for (int64_t i = 0; i < limit; ++i)
      if (!l.next()) return "end";
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void refuse_third_thread(int64_t index) {
  if (index == 2) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "test");
}

}  // namespace

TEST(DataLimits, EndlessLoaderOverOnlyCorruptJpegsFailsAfterOnePass) {
  // Every sample a truncated JPEG, endless epochs: next() used to skip forever (sgt tune spun without a step).
  sgt::testing::TempDir dir("limits-corrupt");
  auto cfg = in_order(jpeg_shard(dir, "bad.tar", 20, [](int) { return false; }));
  cfg.epochs = 0;
  Loader l(cfg, decode_jpg);
  const std::string e = next_error(l);
  EXPECT_NE(e.find("[loader] source 'segment' (shards " + dir.file("bad.tar") +
                   "): a whole pass over its 20 samples (epoch 0) gave no good sample; most frequent reason "
                   "corrupt_image (20 of the last 20), e.g.: " + dir.file("bad.tar") + ":s_000: "),
            std::string::npos)
      << e;
  EXPECT_EQ(l.bad_samples().count(BadSampleReason::kCorruptImage), 20);
}

TEST(DataLimits, LoaderGivesUpAfterMaxBadInRow) {
  sgt::testing::TempDir dir("limits-in-row");
  auto cfg = in_order(jpeg_shard(dir, "bad.tar", 30, [](int) { return false; }));
  cfg.max_bad_in_row = 10;
  cfg.name.clear();
  Loader l(cfg, decode_jpg);
  const std::string e = next_error(l);
  EXPECT_NE(e.find("[loader] shards " + dir.file("bad.tar") +
                   ": 10 samples in a row were bad (limit: loader key max_bad_in_row = 10); most frequent reason "
                   "corrupt_image (10 of the last 10)"),
            std::string::npos)
      << e;
  // a good sample resets the count: runs of 5 bad between good ones pass a limit of 6
  auto ok = in_order(jpeg_shard(dir, "mixed.tar", 36, [](int i) { return i % 6 == 5; }));
  ok.max_bad_in_row = 6;
  Loader m(ok, decode_jpg);
  int good = 0;
  while (auto s = m.next()) good += std::any_cast<int64_t>(s->value) == 16;
  EXPECT_EQ(good, 6);
  // one epoch of only bad samples below the limit still just ends (what the finite tools expect)
  auto once = in_order(dir.file("bad.tar"));
  once.epochs = 1;
  Loader o(once, decode_jpg);
  EXPECT_EQ(next_error(o), "end");
  auto zero = in_order(dir.file("bad.tar"));
  zero.max_bad_in_row = 0;
  EXPECT_THROW(Loader(zero, decode_jpg), Error);
}

TEST(DataLimits, LoaderThreadCreationFailureIsAnError) {
  // A refused thread used to destroy the joinable threads already started: std::terminate (exit 134).
  sgt::testing::TempDir dir("limits-threads");
  auto cfg = in_order(jpeg_shard(dir, "good.tar", 8, [](int) { return true; }));
  cfg.decode_threads = 3;
  set_thread_start_hook_for_testing(refuse_third_thread);
  try {
    Loader l(cfg, decode_jpg);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "loader");
    EXPECT_NE(std::string(e.what()).find("could not start thread 3 of 4 (1 producer + 3 decode_threads)"),
              std::string::npos)
        << e.what();
  }
  set_thread_start_hook_for_testing(nullptr);
  Loader l(cfg, decode_jpg);
  int64_t n = 0;
  while (l.next()) ++n;
  EXPECT_EQ(n, 8);
  cfg.decode_threads = kMaxDecodeThreads + 1;  // refused up front
  EXPECT_THROW(Loader(cfg, decode_jpg), Error);
}

namespace {
std::string side_error(int64_t side, int64_t stride, int64_t max_grid = 0) {
  try {
    check_image_side("data.sizes.vae_side", side, "data.sizes.vae_stride", stride, max_grid,
                     "data.packing.vae_max_latent_side");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(DataLimits, ImageSidesAndPackingBudgetsThatCanOnlyHangAreRefused) {
  // data.sizes.vae_side 100000 or a budget of 10 tokens made sgt tune spin: every sample too long to pack.
  EXPECT_EQ(side_error(256, 16, 64), "no error");
  EXPECT_EQ(side_error(4096, 16), "no error");
  EXPECT_EQ(side_error(100000, 16),
            "[config] data.sizes.vae_side 100000 must be in [data.sizes.vae_stride (16), 4096]");
  EXPECT_EQ(side_error(0, 16), "[config] data.sizes.vae_side 0 must be in [data.sizes.vae_stride (16), 4096]");
  EXPECT_EQ(side_error(-32, 16), "[config] data.sizes.vae_side -32 must be in [data.sizes.vae_stride (16), 4096]");
  EXPECT_EQ(side_error(250, 16), "[config] data.sizes.vae_side 250 must be a multiple of data.sizes.vae_stride 16");
  EXPECT_EQ(side_error(256, 0), "[config] data.sizes.vae_stride 0 must be in [1, 4096]");
  EXPECT_EQ(side_error(2048, 16, 64),
            "[config] data.sizes.vae_side 2048 gives a 128x128 patch grid, above data.packing.vae_max_latent_side 64 "
            "(side / data.sizes.vae_stride must be <= 64)");

  // BAGEL's layout: [<vs> 16x16 ViT patches <ve>] [<bos> <eos>] [<vs> 16x16 latents <ve>]
  EXPECT_EQ(min_proxy_sample_tokens(224, 14, 256, 16), 258 + 2 + 258);
  EXPECT_EQ(min_vqa_sample_tokens(224, 14), 258 + 2 + 3);
  PackingConfig p;
  p.expected_num_tokens = p.max_num_tokens = p.max_num_tokens_per_sample = 10;
  p.validate();
  try {
    p.check_fits(518, "source 'segment'");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "[packing] source 'segment': its smallest sample takes 518 tokens, above "
              "packing.max_num_tokens_per_sample 10 (no sample could ever be packed; raise the budget or lower "
              "data.sizes)");
  }
  p.max_num_tokens_per_sample = 518;
  p.expected_num_tokens = p.max_num_tokens = 600;
  EXPECT_NO_THROW(p.check_fits(518, "x"));
  PackingConfig neg;
  neg.prefer_buffer_before = -1;
  EXPECT_THROW(neg.validate(), Error);
  PackingConfig huge;
  huge.max_num_tokens = int64_t{1} << 40;
  EXPECT_THROW(huge.validate(), Error);
  PackingConfig table;
  table.vae_max_latent_side = 0;
  EXPECT_THROW(table.validate(), Error);
}

// Found by hand next to the config fuzz target: stride 2^32 made stride * stride overflow (UB) inside validate().
TEST(DataLimits, TransformStrideBeyondAnyImageIsAConfigError) {
  try {
    config::from_json<sgt::data::ImageTransformConfig>(config::parse(R"({"stride": 4294967296})", "t.json"), "t.json");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "[transform] t.json: need 0 < stride <= 65536, 0 < min_size <= max_size <= 65536, max_pixels >= "
              "stride^2 (got 4294967296, 512, 1024, 1806336)");
  }
}

// A 512-byte ustar header claiming an 8 GiB member (size field 77777777777 octal): refused as too_large before any
// reservation, instead of reserving what the header says.
TEST(DataLimits, TarMemberClaimingGigabytesIsRefusedBeforeReading) {
  sgt::testing::TempDir dir("tarbomb");
  std::string h(512, '\0');
  auto put = [&](size_t off, const std::string& v) { h.replace(off, v.size(), v); };
  put(0, "a.jpg");
  put(100, "0000644");
  put(108, "0000000");
  put(116, "0000000");
  put(124, "77777777777");
  put(136, "00000000000");
  put(148, "        ");
  h[156] = '0';
  put(257, "ustar");
  put(263, "00");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  put(148, std::string(chk, 6) + std::string(1, '\0') + " ");
  const std::string path = dir.file("bomb.tar");
  {
    std::ofstream f(path, std::ios::binary);
    f << h << std::string(4096, 'x') << std::string(1024, '\0');
  }
  sgt::data::TarReader r(path);
  sgt::data::TarEntry e;
  try {
    r.next(e);
    ADD_FAILURE() << "accepted";
  } catch (const sgt::data::BadSampleError& err) {
    EXPECT_EQ(err.reason(), sgt::data::BadSampleReason::kTooLarge);
    EXPECT_EQ(err.detail(), "shard " + path + ": member a.jpg claims 8589934591 bytes, above the 4294967296 byte limit "
                            "of one member");
  }
}
