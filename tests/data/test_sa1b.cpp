// SA-1B readers (tar shards with "./" members and an extracted folder), the SGT path-list layout and LLaVA
// records, against pycocotools / PIL outputs from tools/data_ref.py sa1b; every bad-input case.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/llava.h"
#include "data/sa1b.h"
#include "data_test_util.h"

namespace sgt::data {
namespace {

void check_against_reference(const testing::TempDir& dir, const nlohmann::json& ref, Sa1bSource src) {
  Sa1bRaw raw;
  size_t i = 0;
  while (src.next(raw)) {
    ASSERT_LT(i, ref["samples"].size());
    const auto& r = ref["samples"][i++];
    EXPECT_EQ(raw.key, r["key"].get<std::string>());
    const Sa1bSample s = decode_sa1b(raw);
    ASSERT_EQ(s.record.annotations.size(), r["n"].get<size_t>());
    EXPECT_EQ(s.image.width, r["w"].get<int64_t>());
    const std::string id = raw.key.substr(3);
    const Image img_ref = test::load_raw(dir, {{"file", "img_" + id + ".raw"}, {"w", r["w"]}, {"h", r["h"]}, {"c", 3}});
    EXPECT_EQ(test::max_abs_diff(s.image, img_ref), 0);
    // Coverage map (number of masks over each pixel) equals pycocotools' decode summed.
    std::vector<uint8_t> cov(static_cast<size_t>(s.image.width * s.image.height), 0);
    for (size_t k = 0; k < s.record.annotations.size(); ++k) {
      const auto& a = s.record.annotations[k];
      EXPECT_EQ(static_cast<int64_t>(rle_area(a.segmentation)), r["areas"][k].get<int64_t>());
      EXPECT_EQ(a.area, r["areas"][k].get<int64_t>());
      const auto m = rle_decode(a.segmentation);
      for (size_t p = 0; p < m.size(); ++p) cov[p] += m[p];
      const auto bb = rle_bbox(a.segmentation);
      for (int c = 0; c < 4; ++c) EXPECT_EQ(bb[c], a.bbox[c]);
    }
    EXPECT_EQ(cov, read_file_bytes(dir.file("cov_" + id + ".raw")));
    // DCT-scaled decode keeps the record at full size.
    const Sa1bSample half = decode_sa1b(raw, (std::min(s.image.width, s.image.height) + 1) / 2);
    EXPECT_EQ(half.image.width, (s.image.width + 1) / 2);
    EXPECT_EQ(half.record.image.width, s.image.width);
  }
  EXPECT_EQ(i, ref["samples"].size());
}

TEST(Sa1b, ShardsAndFolderMatchPycocotools) {
  testing::TempDir dir("sa1b");
  const auto ref = test::run_ref("sa1b", dir, "sa1b.json");
  check_against_reference(dir, ref, Sa1bSource::from_shards(expand_braces(dir.file("sa_{000000..000000}.tar"))));
  check_against_reference(dir, ref, Sa1bSource::from_folder(dir.file("folder")));
}

BadSampleReason reason_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadSampleError& e) {
    return e.reason();
  }
  ADD_FAILURE() << "no BadSampleError";
  return BadSampleReason::kCount;
}

TEST(Sa1b, BadSamplesHaveReasons) {
  const std::string good = R"({"image": {"image_id": 1, "width": 4, "height": 2, "file_name": "sa_1.jpg"},
    "annotations": [{"id": 3, "segmentation": {"size": [2, 4], "counts": "125"}, "area": 5, "bbox": [0,0,3,2]}]})";
  const auto rec = parse_sa1b_json(good, "good");
  ASSERT_EQ(rec.annotations.size(), 1u);
  EXPECT_EQ(rec.annotations[0].segmentation.counts, (std::vector<uint32_t>{1, 2, 5}));
  using R = BadSampleReason;
  EXPECT_EQ(reason_of([] { parse_sa1b_json("{\"image\": ", "x"); }), R::kBadJson);
  EXPECT_EQ(reason_of([] { parse_sa1b_json("[]", "x"); }), R::kBadJson);
  EXPECT_EQ(reason_of([] { parse_sa1b_json(R"({"image": {"image_id": 1, "width": "4", "height": 2}, "annotations": []})", "x"); }), R::kBadJson);
  EXPECT_EQ(reason_of([] { parse_sa1b_json(R"({"image": {"image_id": 1, "width": 4, "height": 2}})", "x"); }), R::kBadJson);
  EXPECT_EQ(reason_of([] { parse_sa1b_json(R"({"image": {"image_id": 1, "width": 4, "height": 2}, "annotations": [{"segmentation": {"size": [2, 5], "counts": "a"}}]})", "x"); }), R::kSizeMismatch);
  EXPECT_EQ(reason_of([] { parse_sa1b_json(R"({"image": {"image_id": 1, "width": 4, "height": 2}, "annotations": [{"segmentation": {"size": [2, 4], "counts": "126"}}]})", "x"); }), R::kBadRle);
  EXPECT_EQ(reason_of([] { parse_sa1b_json(R"({"image": {"image_id": 1, "width": 4, "height": 2}, "annotations": [{"segmentation": {"size": [2, 4], "counts": "1~"}}]})", "x"); }), R::kBadRle);
  // Uncompressed counts lists are accepted and checked too.
  EXPECT_EQ(parse_sa1b_json(R"({"image": {"image_id": 1, "width": 4, "height": 2}, "annotations": [{"segmentation": {"size": [2, 4], "counts": [1, 2, 5]}}]})", "x").annotations[0].area, 2);
  EXPECT_EQ(reason_of([] { parse_sa1b_json(R"({"image": {"image_id": 1, "width": 4, "height": 2}, "annotations": [{"segmentation": {"size": [2, 4], "counts": [1, 2, 6]}}]})", "x"); }), R::kBadRle);
}

// Hostile input (issue 26): 10^5 nested arrays would overflow the stack of a recursive walk; it is a bad_json
// sample naming the file and the depth limit (core/json_limited.h).
// Found by fuzz/fuzz_sa1b.cpp (minimised by hand; in fuzz/corpus/sa1b/): an integer field too long for int64 parses
// as a double, and reading it as int64 was an out-of-range float-to-int conversion (UBSan).
TEST(Sa1b, FuzzFindingIntegerBeyondInt64IsABadSample) {
  const std::string doc = R"({"image": {"image_id": 5555555555555555555555555555555555555555555551, "width": 32, )"
                          R"("height": 24}, "annotations": []})";
  try {
    parse_sa1b_json(doc, "fuzz.json");
    FAIL() << "accepted image_id 5.6e45";
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kBadJson);
    EXPECT_EQ(e.component(), "sa1b");
    EXPECT_NE(e.detail().find("fuzz.json: image.image_id = 5.555555555555555e+45 is outside the 64-bit integer range"),
              std::string::npos)
        << e.what();
  }
  // In-range values are read as before, also when written as a float.
  const auto rec = parse_sa1b_json(R"({"image": {"image_id": 7.0, "width": 2, "height": 1e0}, "annotations": []})",
                                   "ok.json");
  EXPECT_EQ(rec.image.image_id, 7);
  EXPECT_EQ(rec.image.height, 1);
}

TEST(Sa1b, DeeplyNestedJsonIsABadSample) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    parse_sa1b_json(deep, "sa_1.json");
    ADD_FAILURE() << "no error";
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kBadJson);
    EXPECT_EQ(e.component(), "sa1b");
    EXPECT_EQ(e.detail(), "sa_1.json: JSON nested deeper than 512 levels (at byte 512)");
  }
}

TEST(Sa1b, FolderAndShardErrors) {
  testing::TempDir dir("sa1bbad");
  const auto ref = test::run_ref("sa1b", dir, "sa1b.json");
  const std::string folder = dir.file("folder");
  std::filesystem::remove(folder + "/sa_10004.json");                                   // jpg without json
  std::filesystem::copy_file(folder + "/sa_223.json", folder + "/sa_99.json");        // json without jpg
  {
    std::ofstream(folder + "/sa_1.jpg", std::ios::binary | std::ios::trunc) << "\xFF\xD8\xFF\xE0 broken";
  }
  auto src = Sa1bSource::from_folder(folder);
  Sa1bRaw raw;
  std::vector<std::string> outcome;
  BadSampleCounter counter;
  for (;;) {
    try {
      if (!src.next(raw)) break;
      decode_sa1b(raw);
      outcome.push_back(raw.key + ":ok");
    } catch (const std::exception& e) {
      outcome.push_back(raw.key + ":" + bad_sample_reason_name(counter.record(e)));
    }
  }
  EXPECT_EQ(outcome, (std::vector<std::string>{"sa_1:corrupt_image", "sa_10004:missing_field", "sa_223:ok",
                                               "sa_99:missing_field"}));
  EXPECT_EQ(counter.total(), 3);
  // Size mismatch between the jpg and its json.
  Sa1bRaw mixed;
  mixed.key = "mix";
  mixed.jpg = read_file_bytes(dir.file("folder/sa_223.jpg"));
  const std::string doc = R"({"image": {"image_id": 223, "width": 50, "height": 80}, "annotations": []})";
  mixed.json.assign(doc.begin(), doc.end());
  try {
    decode_sa1b(mixed);
    ADD_FAILURE();
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kSizeMismatch);
  }
}

TEST(Sa1b, SgtLayoutMatchesReferenceLoader) {
  testing::TempDir dir("sgt");
  const auto ref = test::run_ref("sa1b", dir, "sa1b.json");
  EXPECT_EQ(sgt_mask_path("/d/sam_selection/sa_1.jpg"), "/d/sam_mask/sa_1.png");
  const auto pairs = read_sgt_index(dir.file("sgt/index.txt"), dir.file("sgt"));
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(read_sgt_index(dir.file("sgt/index.txt"), dir.file("sgt"), 2).size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& r = ref["sgt"][i];
    const std::string id = std::to_string(r["id"].get<int>());
    const SgtSample s = load_sgt_pair(pairs[i]);
    const nlohmann::json dims = {{"w", r["w"]}, {"h", r["h"]}, {"c", 3}};
    auto meta = [&](const std::string& f) { auto m = dims; m["file"] = f; return m; };
    EXPECT_EQ(test::max_abs_diff(s.image, test::load_raw(dir, meta("sgt_img_" + id + ".raw"))), 0);
    // PIL default resample for RGB is BICUBIC: same arithmetic, so equal up to 1 level.
    EXPECT_LE(test::max_abs_diff(s.mask, test::load_raw(dir, meta("sgt_mask_" + id + ".raw"))), 1);
  }
  EXPECT_EQ(reason_of([&] { load_sgt_pair(pairs[2]); }), BadSampleReason::kMissingField);
  EXPECT_EQ(reason_of([&] { load_sgt_pair(pairs[1], MaskResize::kReject); }), BadSampleReason::kSizeMismatch);
  EXPECT_THROW(read_sgt_index(dir.file("nope.txt")), Error);
}

TEST(Llava, RecordsAndImages) {
  testing::TempDir dir("llava");
  const auto ref = test::run_ref("image", dir, "image.json");
  {
    std::ofstream f(dir.file("vqa.jsonl"));
    f << R"({"id": "a", "image": "img_0.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "A cat."}]})" << "\n\n";
    f << R"({"id": 7, "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]})" << "\n";
    f << R"({"id": "b", "image": ["img_0.jpg", "img_1.jpg"], "conversations": [{"from": "human", "value": "<image>"}]})" << "\n";
    f << R"({"id": "c", "conversations": [{"from": "gpt", "value": "x"}]})" << "\n";
    f << R"({"id": "d", "image": "missing.jpg", "conversations": [{"from": "human", "value": "<image> q"}]})" << "\n";
    f << "{not json\n";
  }
  LlavaJsonlReader reader(dir.file("vqa.jsonl"));
  std::vector<std::string> outcome;
  for (;;) {
    LlavaRecord rec;
    try {
      if (!reader.next(rec)) break;
      const auto s = load_llava_images(rec, dir.path());
      outcome.push_back(rec.id + ":" + std::to_string(s.images.size()));
      if (rec.id == "a") {
        EXPECT_EQ(s.images[0].width, 333);
      }
    } catch (const BadSampleError& e) {
      outcome.push_back(std::string(bad_sample_reason_name(e.reason())) + "@" + std::to_string(reader.line()));
    }
  }
  EXPECT_EQ(outcome, (std::vector<std::string>{"a:1", "7:0", "bad_text@4", "bad_text@5", "missing_field@6",
                                               "bad_json@7"}));
  // Shard form.
  {
    TarWriter w(dir.file("vqa.tar"));
    w.add("s1.json", std::string(R"({"image": "s1.jpg", "conversations": [{"from": "human", "value": "<image>"}]})"));
    w.add("s1.jpg", read_file_bytes(dir.file("img_2.jpg")));
    w.close();
  }
  WdsReader wr({dir.file("vqa.tar")});
  WdsSample ws;
  ASSERT_TRUE(wr.next(ws));
  const auto s = decode_llava_wds(ws);
  EXPECT_EQ(s.record.id, "s1");
  ASSERT_EQ(s.images.size(), 1u);
  EXPECT_EQ(s.images[0].width, 97);
}

}  // namespace
}  // namespace sgt::data
