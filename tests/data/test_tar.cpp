// Tar shards and webdataset grouping against the Python webdataset library (tools/data_ref.py wds): shards
// written by webdataset's TarWriter (plain and gzip, keys with dots in directories) and a hand-made shard
// with metadata members, dotfiles, names without a dot, upper-case extensions and a key that reappears (webdataset
// yields it twice; sgt reports split_sample); the same shards through webdataset's pipe: and file: URLs.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/tar.h"
#include "data/webdataset.h"
#include "data_test_util.h"

namespace sgt::data {
namespace {

std::string hex(const std::vector<uint8_t>& v) {
  std::string s;
  for (uint8_t b : v) s += fmt::format("{:02x}", b);
  return s;
}

// webdataset's samples of `shards`, read by WdsReader: where webdataset yields a second sample of a key its shard
// already had (non-adjacent members, "split" in the reference), WdsReader throws kSplitSample naming the key.
void expect_like_webdataset(const std::vector<std::string>& shards, const nlohmann::json& samples) {
  WdsReader reader(shards);
  std::vector<WdsSample> got;
  WdsSample s;
  size_t splits = 0;
  for (;;) {
    try {
      if (!reader.next(s)) break;
      got.push_back(s);
    } catch (const BadSampleError& e) {
      EXPECT_EQ(e.reason(), BadSampleReason::kSplitSample) << e.what();
      ASSERT_LT(got.size() + splits, samples.size()) << e.what();
      const auto& r = samples[got.size() + splits];
      EXPECT_TRUE(r["split"].get<bool>()) << e.what();
      EXPECT_NE(std::string(e.what()).find("sample " + r["key"].get<std::string>() + ","), std::string::npos)
          << e.what();
      ++splits;
    }
  }
  ASSERT_EQ(got.size() + splits, samples.size());
  size_t i = 0;
  for (const auto& r : samples) {
    if (r["split"].get<bool>()) continue;
    EXPECT_EQ(got[i].key, r["key"].get<std::string>()) << i;
    EXPECT_EQ(got[i].url, r["url"].get<std::string>()) << i;
    ASSERT_EQ(got[i].fields.size(), r["fields"].size()) << got[i].key;
    for (const auto& [ext, data] : got[i].fields) {
      ASSERT_TRUE(r["fields"].contains(ext)) << got[i].key << " ." << ext;
      EXPECT_EQ(hex(data), r["fields"][ext].get<std::string>()) << got[i].key << " ." << ext;
    }
    ++i;
  }
  EXPECT_EQ(splits, 1u);  // k1 of the hand-made shard
}

TEST(WebDataset, GroupingMatchesPythonWebdataset) {
  testing::TempDir dir("wds");
  const auto ref = test::run_ref("wds", dir, "wds.json");  // one run: importing webdataset takes seconds
  expect_like_webdataset(ref["shards"], ref["samples"]);
  // The same shards through gopen's pipe: and file: URLs (__url__ is the URL as given).
  expect_like_webdataset(ref["pipe_shards"], ref["pipe_samples"]);
}

TEST(WebDataset, SplitKeyFollowsBasePlusExt) {
  auto k = [](const std::string& p) {
    auto r = wds_split_key(p);
    return r ? r->first + "|" + r->second : std::string("none");
  };
  EXPECT_EQ(k("a/b.c/sa_1.seg.png"), "a/b.c/sa_1|seg.png");
  EXPECT_EQ(k("sa_1.jpg"), "sa_1|jpg");
  EXPECT_EQ(k("./sa_1.jpg"), "./sa_1|jpg");
  EXPECT_EQ(k("README"), "none");
  EXPECT_EQ(k("dir/.hidden"), "dir/|hidden");
  EXPECT_EQ(k("x.y/.hidden"), "none");
  EXPECT_EQ(k(".hidden"), "none");
  EXPECT_TRUE(wds_is_meta("__key__"));
  EXPECT_TRUE(wds_is_meta("__index__/x.json"));
  EXPECT_FALSE(wds_is_meta("a/__x__"));
}

TEST(WebDataset, BraceExpansionMatchesBraceexpand) {
  testing::TempDir dir("braces");
  const auto ref = test::run_ref("braces", dir, "braces.json");
  for (const auto& [pattern, expected] : ref.items())
    EXPECT_EQ(expand_braces(pattern), expected.get<std::vector<std::string>>()) << pattern;
  EXPECT_EQ(expand_shard_list({"a-{0..1}.tar::b.tar"}), (std::vector<std::string>{"a-0.tar", "a-1.tar", "b.tar"}));
  const std::vector<std::string> s = {"0", "1", "2", "3", "4"};
  EXPECT_EQ(split_shards(s, 1, 2), (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(split_shards(s, 0, 1), s);
  EXPECT_THROW(split_shards(s, 2, 2), Error);
}

TEST(Tar, WriterRoundTripsAndPythonReadsIt) {
  testing::TempDir dir("tarw");
  for (const std::string name : {"out.tar", "out.tar.gz"}) {
    const std::string path = dir.file(name);
    {
      TarWriter w(path);
      w.add("k1.txt", std::string("hello"));
      w.add("k1.bin", std::vector<uint8_t>(70000, 3));
      w.add("dir.x/k2.json", std::string("{}"));
      w.add("empty.txt", std::string());
      w.add(std::string(150, 'n') + ".txt", std::string("long name"));
      EXPECT_FALSE(std::filesystem::exists(path));  // published only on close
      w.close();
    }
    TarReader r(path);
    TarEntry e;
    std::vector<std::string> names;
    while (r.next(e)) names.push_back(e.name + ":" + std::to_string(e.data.size()));
    EXPECT_EQ(names, (std::vector<std::string>{"k1.txt:5", "k1.bin:70000", "dir.x/k2.json:2", "empty.txt:0",
                                               std::string(150, 'n') + ".txt:9"}));
    const auto py = testing::run_command(
        testing::shell_quote(SGT_TEST_PYTHON) + " -c " +
        testing::shell_quote("import tarfile,sys; t=tarfile.open(sys.argv[1]); "
                             "print(','.join(f'{m.name}:{m.size}' for m in t.getmembers()))") +
        " " + testing::shell_quote(path));
    EXPECT_EQ(py.exit_code, 0) << py.output;
    EXPECT_NE(py.output.find("k1.bin:70000,dir.x/k2.json:2"), std::string::npos) << py.output;
  }
  {
    TarWriter w(dir.file("never.tar"));
    w.add("a.txt", std::string("x"));
  }  // destroyed without close(): nothing published
  EXPECT_FALSE(std::filesystem::exists(dir.file("never.tar")));
}

TEST(Tar, TruncatedAndCorruptShardsNameShardAndEntry) {
  testing::TempDir dir("tarbad");
  std::vector<uint8_t> noise(300000);  // incompressible, so that half of the .gz is half of the tar
  uint32_t x = 1;
  for (auto& b : noise) b = static_cast<uint8_t>((x = x * 1664525u + 1013904223u) >> 24);
  for (const std::string name : {"t.tar", "t.tar.gz"}) {
    SCOPED_TRACE(name);
    const std::string path = dir.file(name);
    {
      TarWriter w(path);
      w.add("a.txt", std::vector<uint8_t>(5000, 1));
      w.add("b.bin", noise);
      w.add("c.txt", std::vector<uint8_t>(10, 3));
      w.close();
    }
    auto bytes = read_file_bytes(path);
    const std::string cut = dir.file("cut_" + name);
    {
      io::AtomicFile f(cut);
      const size_t n = name.ends_with(".gz") ? bytes.size() / 2 : 5000 + 512 + 512 + 100000;
      f.write(bytes.data(), n);
      f.commit();
    }
    WdsReader reader({cut});
    WdsSample s;
    std::vector<std::string> keys;
    try {
      while (reader.next(s)) keys.push_back(s.key);
      ADD_FAILURE() << "truncated shard read without error";
    } catch (const BadSampleError& e) {
      EXPECT_EQ(e.reason(), BadSampleReason::kTruncatedTar);
      const std::string msg = e.what();
      EXPECT_NE(msg.find(cut), std::string::npos) << msg;
      EXPECT_TRUE(msg.find("b.bin") != std::string::npos || msg.find("a.txt") != std::string::npos) << msg;
    }
    EXPECT_EQ(keys, std::vector<std::string>{"a"});  // the complete sample before the damage is delivered
    EXPECT_FALSE(reader.next(s));                     // the broken shard was abandoned; nothing follows
  }
  // Garbage in place of a tar header.
  {
    io::AtomicFile f(dir.file("junk.tar"));
    std::vector<uint8_t> junk(2048, 'x');
    f.write(junk.data(), junk.size());
    f.commit();
  }
  EXPECT_THROW(
      {
        TarReader r(dir.file("junk.tar"));
        TarEntry e;
        while (r.next(e)) {
        }
      },
      BadSampleError);
  EXPECT_THROW(TarReader(dir.file("missing.tar")), BadSampleError);
}

TEST(WebDataset, DuplicateExtensionIsAnErrorAndReadingContinues) {
  testing::TempDir dir("wdsdup");
  {
    TarWriter w(dir.file("d.tar"));
    w.add("k1.txt", std::string("a"));
    w.add("k1.txt", std::string("b"));
    w.add("k1.cls", std::string("c"));
    w.add("k2.txt", std::string("d"));
    w.close();
  }
  WdsReader r({dir.file("d.tar")});
  WdsSample s;
  EXPECT_THROW(r.next(s), BadSampleError);
  ASSERT_TRUE(r.next(s));
  EXPECT_EQ(s.key, "k2");
  EXPECT_FALSE(r.next(s));
}

}  // namespace
}  // namespace sgt::data
