// Shard sources that are not a plain, present, well-formed tar: missing files, URL schemes (pipe:, file:, and the
// unsupported ones), commands that fail or outlive their output, members of one sample that are not adjacent, and
// the loader's exact resume over a stream that cannot seek. Each gets its own reason naming what went wrong.
// (The pipe:/file: samples against webdataset itself: test_tar.cpp, GroupingMatchesPythonWebdataset.)
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/loader.h"
#include "data/tar.h"
#include "data/webdataset.h"
#include "testing/testing.h"

namespace sgt::data {
namespace {

using testing::shell_quote;

// The BadSampleError of fn: its reason and message (kCount and "" when it throws none).
std::pair<BadSampleReason, std::string> bad_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const BadSampleError& e) {
    return {e.reason(), e.what()};
  }
  return {BadSampleReason::kCount, ""};
}

void drain(TarReader& r, std::vector<std::string>* names = nullptr) {
  TarEntry e;
  while (r.next(e))
    if (names) names->push_back(e.name);
}

std::string small_shard(const testing::TempDir& dir, const std::string& name, int samples = 3) {
  TarWriter w(dir.file(name));
  for (int i = 0; i < samples; ++i) {
    w.add(fmt::format("s{}.txt", i), fmt::format("text {}", i));
    w.add(fmt::format("s{}.cls", i), std::to_string(i));
  }
  w.close();
  return dir.file(name);
}

TEST(ShardUrls, MissingShardsAndUnsupportedSchemesHaveTheirOwnReasons) {
  testing::TempDir dir("urls");
  auto [r, msg] = bad_of([&] { TarReader t(dir.file("none-000.tar")); });
  EXPECT_EQ(r, BadSampleReason::kMissingShard);
  EXPECT_NE(msg.find(dir.file("none-000.tar") + " does not exist"), std::string::npos) << msg;
  std::tie(r, msg) = bad_of([&] { TarReader t("file://" + dir.file("gone.tar")); });
  EXPECT_EQ(r, BadSampleReason::kMissingShard);
  EXPECT_NE(msg.find("(path " + dir.file("gone.tar") + ")"), std::string::npos) << msg;
  std::tie(r, msg) = bad_of([&] { TarReader t(dir.path()); });
  EXPECT_EQ(r, BadSampleReason::kMissingShard);
  EXPECT_NE(msg.find("is a folder"), std::string::npos) << msg;

  const std::vector<std::pair<std::string, std::string>> unsupported = {
      {"http://host/a-000.tar", "'pipe:curl -sfL http://host/a-000.tar'"},
      {"HTTPS://host/b.tar", "'pipe:curl -sfL HTTPS://host/b.tar'"},
      {"s3://bucket/c.tar", "'pipe:aws s3 cp s3://bucket/c.tar -'"},
      {"gs://bucket/d.tar", "'pipe:gsutil cat gs://bucket/d.tar'"},
      {"hf://x/e.tar", "the scheme 'hf:' is not supported"},
      {"file://otherhost/f.tar", "names the host 'otherhost'"},
      {"pipe:  ", "has no command"},
  };
  for (const auto& [url, needle] : unsupported) {
    std::tie(r, msg) = bad_of([&] { TarReader t(url); });
    EXPECT_EQ(r, BadSampleReason::kUnsupportedUrl) << url << ": " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find(url), std::string::npos) << msg;
  }
  // Paths without a scheme stay paths: a colon after a '/' or a leading digit is not a scheme (urlsplit's rule).
  EXPECT_EQ(parse_shard_url("dir/a:b.tar").kind, ShardUrl::Kind::kFile);
  EXPECT_EQ(parse_shard_url("dir/a:b.tar").target, "dir/a:b.tar");
  EXPECT_EQ(parse_shard_url("1x:y.tar").target, "1x:y.tar");
  EXPECT_EQ(parse_shard_url("file:rel/x%20y.tar").target, "rel/x y.tar");  // url2pathname unquotes
  EXPECT_EQ(parse_shard_url("file://localhost/abs/z.tar").target, "/abs/z.tar");
  EXPECT_EQ(parse_shard_url("pipe:cat a.tar").target, "cat a.tar");

  // Through WdsReader: each shard's reason, and the readable shard between them still delivers its samples.
  const std::string ok = small_shard(dir, "ok.tar");
  WdsReader reader({dir.file("missing.tar"), "http://h/x.tar", ok, "pipe:exit 7"});
  std::vector<BadSampleReason> reasons;
  std::vector<std::string> keys;
  WdsSample s;
  for (;;) {
    try {
      if (!reader.next(s)) break;
      keys.push_back(s.key);
    } catch (const BadSampleError& e) {
      reasons.push_back(e.reason());
    }
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"s0", "s1", "s2"}));
  EXPECT_EQ(reasons, (std::vector<BadSampleReason>{BadSampleReason::kMissingShard, BadSampleReason::kUnsupportedUrl,
                                                   BadSampleReason::kPipeFailed}));
}

TEST(ShardUrls, PipeStreamsAndReportsTheCommandsFailure) {
  testing::TempDir dir("pipes");
  const std::string shard = small_shard(dir, "p.tar");
  std::vector<std::string> names;
  {
    TarReader r("pipe:cat " + shell_quote(shard));
    drain(r, &names);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"s0.txt", "s0.cls", "s1.txt", "s1.cls", "s2.txt", "s2.cls"}));
  {
    names.clear();  // gzip through a pipeline: the compression is detected from the stream
    TarReader r("pipe:cat " + shell_quote(shard) + " | gzip -c");
    drain(r, &names);
    EXPECT_EQ(names.size(), 6u);
  }
  {
    // Still writing after the tar's end: closing the pipe ends it with SIGPIPE (status 141), which is no failure.
    names.clear();
    TarReader r("pipe:cat " + shell_quote(shard) + "; cat /dev/zero");
    drain(r, &names);
    EXPECT_EQ(names.size(), 6u);
  }
  // The command fails before writing: its status is the message, not libarchive's view of an empty stream.
  const std::string gone = "pipe:cat " + shell_quote(dir.file("gone.tar")) + " 2>/dev/null";
  auto [r, msg] = bad_of([&] {
    TarReader t(gone);
    drain(t);
  });
  EXPECT_EQ(r, BadSampleReason::kPipeFailed);
  EXPECT_NE(msg.find(gone + ": the command failed (exit status 1)"), std::string::npos) << msg;
  // A complete tar followed by a failing exit: the members arrive, then the end of the archive reports it.
  names.clear();
  std::tie(r, msg) = bad_of([&] {
    TarReader t("pipe:cat " + shell_quote(shard) + "; exit 3");
    drain(t, &names);
  });
  EXPECT_EQ(names.size(), 6u);
  EXPECT_EQ(r, BadSampleReason::kPipeFailed);
  EXPECT_NE(msg.find("exit status 3"), std::string::npos) << msg;
  // A stream cut short by a failing command: the failure, with what the tar reader saw.
  std::tie(r, msg) = bad_of([&] {
    TarReader t("pipe:head -c 1500 " + shell_quote(shard) + "; exit 4");
    drain(t);
  });
  EXPECT_EQ(r, BadSampleReason::kPipeFailed);
  EXPECT_NE(msg.find("exit status 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the tar reader then saw"), std::string::npos) << msg;
  // Not a tar at all, from a command that succeeded: a damaged shard.
  std::tie(r, msg) = bad_of([&] {
    TarReader t("pipe:head -c 4000 /dev/zero | tr '\\0' x");
    drain(t);
  });
  EXPECT_EQ(r, BadSampleReason::kTruncatedTar) << msg;
  // An empty stream is an archive without members, as an empty file is.
  {
    TarReader t("pipe:true");
    TarEntry e;
    EXPECT_FALSE(t.next(e));
  }
}

TEST(ShardUrls, AbandonedPipesDoNotHang) {
  testing::TempDir dir("pipes-stop");
  const std::string shard = small_shard(dir, "p.tar");
  const auto t0 = std::chrono::steady_clock::now();
  {
    // Stops after the first member of a command that would run for minutes after its output: the reader's
    // destruction ends the command's process group instead of waiting for it.
    TarReader r("pipe:cat " + shell_quote(shard) + "; sleep 300");
    TarEntry e;
    ASSERT_TRUE(r.next(e));
    EXPECT_EQ(e.name, "s0.txt");
  }
  // Endless output that is never a tar: an error, and the command is stopped rather than read to its end.
  EXPECT_THROW(
      {
        TarReader r("pipe:yes");
        drain(r);
      },
      BadSampleError);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

TEST(ShardUrls, NonAdjacentMembersAreASplitSample) {
  testing::TempDir dir("split");
  {
    TarWriter w(dir.file("s.tar"));
    w.add("sam/sa_1.jpg", std::string("j1"));
    w.add("sam/sa_2.jpg", std::string("j2"));
    w.add("sam/sa_2.json", std::string("{}"));
    w.add("sam/sa_1.json", std::string("{}"));  // sa_1's json after sa_2: the shard is not grouped by key
    w.add("sam/sa_1.depth.png", std::string("d"));
    w.add("sam/sa_3.jpg", std::string("j3"));
    w.close();
  }
  WdsReader reader({dir.file("s.tar")});
  WdsSample s;
  ASSERT_TRUE(reader.next(s));
  EXPECT_EQ(s.key, "sam/sa_1");
  EXPECT_EQ(s.fields.size(), 1u);  // only what came before the repeat could be seen
  ASSERT_TRUE(reader.next(s));
  EXPECT_EQ(s.key, "sam/sa_2");
  auto [r, msg] = bad_of([&] { reader.next(s); });
  EXPECT_EQ(r, BadSampleReason::kSplitSample);
  EXPECT_NE(msg.find("member sam/sa_1.json belongs to sample sam/sa_1"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.file("s.tar")), std::string::npos) << msg;
  ASSERT_TRUE(reader.next(s));  // the split part's other member is skipped with it; reading goes on
  EXPECT_EQ(s.key, "sam/sa_3");
  EXPECT_FALSE(reader.next(s));
  // A key may reappear in another shard: keys are checked per shard.
  WdsReader two({dir.file("s.tar"), dir.file("s.tar")});
  int good = 0, split = 0;
  for (;;) {
    try {
      if (!two.next(s)) break;
      ++good;
    } catch (const BadSampleError& e) {
      split += e.reason() == BadSampleReason::kSplitSample;
    }
  }
  EXPECT_EQ(good, 6);
  EXPECT_EQ(split, 2);
}

TEST(ShardUrls, LoaderResumesExactlyOverPipes) {
  testing::TempDir dir("pipe-resume");
  std::vector<std::string> urls;
  for (int k = 0; k < 3; ++k) {
    TarWriter w(dir.file(fmt::format("r-{}.tar", k)));
    for (int i = 0; i < 7; ++i) w.add(fmt::format("k{}_{}.txt", k, i), std::string("x"));
    w.close();
    urls.push_back("pipe:cat " + shell_quote(dir.file(fmt::format("r-{}.tar", k))));
  }
  LoaderConfig cfg;
  cfg.shards = urls;
  cfg.seed = 3;
  cfg.shuffle_buffer = 4;
  cfg.epochs = 2;
  auto keys = [](Loader& l, int64_t limit) {
    std::vector<std::string> out;
    while (limit < 0 || static_cast<int64_t>(out.size()) < limit) {
      auto s = l.next();
      if (!s) break;
      out.push_back(s->key);
    }
    return out;
  };
  Loader whole(cfg);
  const auto all = keys(whole, -1);
  ASSERT_EQ(all.size(), 42u);
  EXPECT_EQ(whole.bad_samples().total(), 0);
  Loader first(cfg);
  auto head = keys(first, 30);  // into the second epoch: the resume re-runs the commands and skips
  Loader rest(cfg, nullptr, first.state());
  const auto tail = keys(rest, -1);
  head.insert(head.end(), tail.begin(), tail.end());
  EXPECT_EQ(head, all);
}

// A loader whose every shard fails (missing, an unsupported URL, a failing pipe) is an error naming the source and
// the reasons, not an empty stream that a caller would take for the end of the data.
TEST(ShardUrls, LoaderWhoseShardsAllFailIsAnError) {
  testing::TempDir dir("all-fail");
  LoaderConfig cfg;
  cfg.name = "seg";
  cfg.shards = {dir.file("missing-000.tar"), "http://example.com/a.tar", "pipe:exit 3"};
  Loader l(cfg);
  const auto msg = testing::error_message([&] {
    while (l.next()) {
    }
  });
  EXPECT_NE(msg.find("source 'seg'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("could not be read"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing_shard"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported_url"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sgt::data
