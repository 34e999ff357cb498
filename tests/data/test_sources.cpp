// Source units (data/sources.h): record lists indexed without a DOM, list units through the loader with the same
// order, rank split and exact resume as tar shards, and the bad inputs (a truncated or non-array JSON file, a JSON
// file given as a tar shard, a missing list file). Depth files (data/depth_file.h) against numpy.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "data/depth_file.h"
#include "data/image.h"
#include "data/llava.h"
#include "data/loader.h"
#include "data/sources.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::data;

namespace {

// The tiny layouts of tools/sources_ref.py, written once for the suite.
const std::string& ref_dir() {
  static sgt::testing::TempDir dir("sources_ref");
  static bool made = false;
  if (!made) {
    auto r = sgt::testing::run_python_tool("sources_ref.py", {"write", dir.path(), "42", "48"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    made = true;
  }
  return dir.path();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string slice(const std::string& text, const RecordSpan& s) { return text.substr(s.offset, s.length); }

}  // namespace

TEST(Sources, JsonArrayIndexFindsTopLevelElements) {
  sgt::testing::TempDir dir("json_index");
  // Strings holding brackets, commas, escaped quotes and backslashes; nested arrays; whitespace and newlines.
  const std::string text = " [ {\"a\": \"x,]\\\"}\"}, [1, [2, 3]],\n \"s\\\\\" , 7 ,{\"b\": {\"c\": []}} ]\n";
  write_text(dir.file("a.json"), text);
  const auto spans = index_json_array(dir.file("a.json"));
  ASSERT_EQ(spans.size(), 5u);
  EXPECT_EQ(slice(text, spans[0]), "{\"a\": \"x,]\\\"}\"}");
  EXPECT_EQ(slice(text, spans[1]), "[1, [2, 3]]");
  EXPECT_EQ(slice(text, spans[2]), "\"s\\\\\"");
  EXPECT_EQ(spans[2].line, 2u);
  EXPECT_EQ(slice(text, spans[3]), "7");
  EXPECT_EQ(slice(text, spans[4]), "{\"b\": {\"c\": []}}");
  write_text(dir.file("empty.json"), "[ ]");
  EXPECT_TRUE(index_json_array(dir.file("empty.json")).empty());
}

TEST(Sources, JsonArrayBadInputsNameTheFile) {
  sgt::testing::TempDir dir("json_bad");
  auto msg = [&](const std::string& name, const std::string& text) {
    write_text(dir.file(name), text);
    return sgt::testing::error_message([&] { index_json_array(dir.file(name)); });
  };
  EXPECT_NE(msg("t.json", "[{\"a\": 1}, {\"b\": [1, 2").find("is truncated"), std::string::npos);
  EXPECT_NE(msg("t2.json", "[{\"a\": 1}, {\"b\": 2}").find("inside element 1 (line 1)"), std::string::npos);
  EXPECT_NE(msg("o.json", "{\"a\": 1}\n{\"a\": 2}\n").find("is not a JSON array"), std::string::npos);
  EXPECT_NE(msg("c.json", "[1,,2]").find("empty element"), std::string::npos);
  EXPECT_NE(msg("x.json", "[1] 2").find("after the array's closing"), std::string::npos);
  EXPECT_NE(msg("z.json", "").find("is empty"), std::string::npos);
  EXPECT_NE(sgt::testing::error_message([&] { index_json_array(dir.file("none.json")); }).find("does not exist"),
            std::string::npos);
  // The reference's truncated LLaVA array (two thirds of the file).
  EXPECT_NE(sgt::testing::error_message([&] { index_json_array(ref_dir() + "/truncated.json"); })
                .find(ref_dir() + "/truncated.json is truncated"),
            std::string::npos);
}

TEST(Sources, LinesSkipBlanksAndKeepLineNumbers) {
  sgt::testing::TempDir dir("lines");
  const std::string text = "a.jpg\r\n\n  \n b.jpg \nc.jpg";
  write_text(dir.file("l.txt"), text);
  const auto spans = index_lines(dir.file("l.txt"));
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(slice(text, spans[0]), "a.jpg");
  EXPECT_EQ(slice(text, spans[1]), "b.jpg");
  EXPECT_EQ(spans[1].line, 4u);
  EXPECT_EQ(slice(text, spans[2]), "c.jpg");
}

TEST(Sources, UnitsAreSlicesOfRecords) {
  sgt::testing::TempDir dir("units");
  std::string text;
  for (int i = 0; i < 25; ++i) text += fmt::format("{{\"id\": {}}}\n", i);
  write_text(dir.file("r.jsonl"), text);
  auto u = SourceUnits::build(SourceFormat::kLlavaJsonl, {dir.file("r.jsonl")}, 10);
  EXPECT_EQ(u->num_records(), 25);
  ASSERT_EQ(u->units().size(), 3u);
  EXPECT_EQ(u->units()[2], dir.file("r.jsonl") + "#20-24");
  auto s = u->open({u->units()[2], u->units()[0]});
  WdsSample w;
  ASSERT_TRUE(s->next(w));
  EXPECT_EQ(w.key, "line 21");
  EXPECT_EQ(w.url, dir.file("r.jsonl"));
  EXPECT_EQ(std::string(w.at("json").begin(), w.at("json").end()), "{\"id\": 20}");
  int n = 1;
  while (s->next(w)) ++n;
  EXPECT_EQ(n, 15);
  EXPECT_EQ(w.key, "line 10");
  // A LLaVA file sent to the tar reader, a missing list, an empty one, a folder that is not there.
  EXPECT_NE(sgt::testing::error_message([&] { SourceUnits::build(SourceFormat::kWebdataset, {dir.file("r.jsonl")}); })
                .find("set the source's format"),
            std::string::npos);
  EXPECT_NE(sgt::testing::error_message([&] { SourceUnits::build(SourceFormat::kSgtList, {dir.file("no.txt")}); })
                .find("does not exist"),
            std::string::npos);
  write_text(dir.file("blank.txt"), "\n\n");
  EXPECT_NE(sgt::testing::error_message([&] { SourceUnits::build(SourceFormat::kSgtList, {dir.file("blank.txt")}); })
                .find("holds no records"),
            std::string::npos);
  EXPECT_NE(sgt::testing::error_message([&] { SourceUnits::build(SourceFormat::kSa1bFolder, {dir.file("nope")}); })
                .find("is not a folder"),
            std::string::npos);
}

TEST(Sources, ListLoaderSplitsRanksAndResumesExactly) {
  sgt::testing::TempDir dir("list_loader");
  std::string text;
  for (int i = 0; i < 57; ++i) text += fmt::format("dir/sa_{}.jpg\n", i);
  write_text(dir.file("list.txt"), text);
  LoaderConfig c;
  c.shards = {dir.file("list.txt")};
  c.format = SourceFormat::kSgtList;
  c.records_per_unit = 5;
  c.seed = 4;
  c.shuffle_buffer = 7;
  c.epochs = 2;
  // Every record once per epoch over 3 ranks x 2 workers; no duplicates.
  std::multiset<std::string> all;
  for (int64_t r = 0; r < 3; ++r) {
    auto cc = c;
    cc.rank = r;
    cc.world_size = 3;
    cc.num_workers = 2;
    cc.epochs = 1;
    for (auto& k : loader_keys(cc)) all.insert(k);
  }
  EXPECT_EQ(all.size(), 57u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 57u);
  // Resume: 40 samples, restart from the state, the rest == one straight run.
  std::vector<std::string> straight, resumed;
  {
    Loader l(c);
    while (auto s = l.next()) straight.push_back(s->key);
  }
  ASSERT_EQ(straight.size(), 114u);
  LoaderState st;
  {
    Loader l(c);
    for (int i = 0; i < 40; ++i) resumed.push_back(l.next()->key);
    st = l.state();
  }
  Loader l(c, nullptr, LoaderState::from_json(st.to_json()));
  while (auto s = l.next()) resumed.push_back(s->key);
  EXPECT_EQ(straight, resumed);
  EXPECT_EQ(straight, loader_keys(c));
}

TEST(Sources, LlavaVideoRecordsAreRefused) {
  const std::string video =
      R"({"id": "v", "video": "a.mp4", "conversations": [{"from": "human", "value": "<video>\nWhat happens?"},
      {"from": "gpt", "value": "A cat jumps."}]})";
  try {
    parse_llava_record(video, "f.jsonl:line 1");
    ADD_FAILURE() << "a video record was accepted";
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kBadText);
    EXPECT_NE(std::string(e.what()).find("f.jsonl:line 1: video records are not supported"), std::string::npos);
  }
}

TEST(Sources, DepthFilesMatchNumpy) {
  for (const char* stem : {"sa_1", "sa_4"}) {
    const std::string base = ref_dir() + "/sgt/sam_selection/" + stem;
    const auto expected = read_file_bytes(ref_dir() + "/expected/" + stem + ".depth8.raw");
    const Image png = decode_depth_png(read_file_bytes(base + ".depth.png"), base + ".depth.png");
    const Image npy = decode_depth_npy(read_file_bytes(base + ".npy"), base + ".npy");
    ASSERT_EQ(png.channels, 1);
    ASSERT_EQ(png.pixels.size(), expected.size());
    EXPECT_EQ(png.pixels, expected) << stem << ": the 16-bit PNG keeps its narrow range";
    ASSERT_EQ(npy.width, png.width);
    ASSERT_EQ(npy.height, png.height);
    int worst = 0;
    for (size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::abs(npy.pixels[i] - expected[i]));
    EXPECT_LE(worst, 1) << stem << ": float32 depth / 7 stretches to the same map";
  }
  const std::vector<uint8_t> junk = {1, 2, 3};
  EXPECT_THROW(decode_depth_npy(junk, "junk.npy"), BadSampleError);
  EXPECT_THROW(decode_depth_png(junk, "junk.png"), BadSampleError);
  auto npy = read_file_bytes(ref_dir() + "/sgt/sam_selection/sa_1.npy");
  npy.resize(npy.size() - 10);
  EXPECT_NE(sgt::testing::error_message([&] { decode_depth_npy(npy, "cut.npy"); }).find("truncated"),
            std::string::npos);
}

// A LLaVA-sized array (665k records, ~200 MB) with SGT_BIG_INDEX=1, else 5000 records: every element is found and
// the index holds 16 bytes per record (docs/data.md, "Sources", Memory: the RSS is measured around this test).
TEST(Sources, BigArrayIndexStaysSmall) {
  const char* big = std::getenv("SGT_BIG_INDEX");
  const int64_t n = big && std::string(big) == "1" ? 665000 : 5000;
  sgt::testing::TempDir dir("big_array");
  {
    std::ofstream f(dir.file("mix.json"), std::ios::binary);
    f << "[\n";
    for (int64_t i = 0; i < n; ++i)
      f << fmt::format(
          "  {{\"id\": \"{:012d}\", \"image\": \"coco/train2017/{:012d}.jpg\", \"conversations\": [{{\"from\": "
          "\"human\", \"value\": \"<image>\\nWhat is in the picture? Answer in a sentence.\"}}, {{\"from\": "
          "\"gpt\", \"value\": \"A {{\\\"quoted\\\"}} [thing], and more text to make this as long as a record.\"}}]}}{}\n",
          i, i, i + 1 < n ? "," : "");
    f << "]\n";
  }
  const auto spans = index_json_array(dir.file("mix.json"));
  ASSERT_EQ(static_cast<int64_t>(spans.size()), n);
  EXPECT_EQ(sizeof(RecordSpan), 16u);
  std::ifstream f(dir.file("mix.json"), std::ios::binary);
  std::string last(spans.back().length, '\0');
  f.seekg(static_cast<std::streamoff>(spans.back().offset));
  f.read(last.data(), static_cast<std::streamsize>(last.size()));
  EXPECT_NE(last.find(fmt::format("\"id\": \"{:012d}\"", n - 1)), std::string::npos);
  EXPECT_EQ(last.back(), '}');
}
