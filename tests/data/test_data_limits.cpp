// Hostile-input regressions of the data layer (issue 26): inputs that used to take quadratic time, loop until
// memory ran out or hang the loader now finish, or fail with an error naming the limit and its config key.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/bad_sample.h"
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
