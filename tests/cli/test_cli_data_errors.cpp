// `sgt data inspect | render | bench` never report success for nothing: a command that read no sample exits 1
// with one error line carrying the bad-sample reasons; pipe: shards stream end to end; an image transposed
// against its SA-1B json is a size_mismatch, never stretched onto the masks.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace {

using sgt::testing::error_lines;
using sgt::testing::shell_quote;

sgt::testing::ProcessResult run_sgt(const std::string& args) {
  return sgt::testing::run_command(shell_quote(sgt::testing::binary_dir() + "/bin/sgt") + " " + args);
}

// The only error line of a run (a test failure unless there is exactly one).
std::string the_error(const sgt::testing::ProcessResult& r) {
  const auto lines = error_lines(r.output);
  EXPECT_EQ(lines.size(), 1u) << r.output;
  return lines.empty() ? std::string() : lines[0];
}

TEST(CliDataErrors, CommandsThatReadNothingExitNonZero) {
  sgt::testing::TempDir dir("cli-data-nothing");
  const std::string missing = dir.file("missing-000.tar");
  auto r = run_sgt("data inspect " + shell_quote(missing));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::string e = the_error(r);
  EXPECT_NE(e.find("read no sample from 1 shard(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("missing_shard 1"), std::string::npos) << e;

  r = run_sgt("data inspect http://example.org/a-000.tar");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  e = the_error(r);
  EXPECT_NE(e.find("'pipe:curl -sfL http://example.org/a-000.tar'"), std::string::npos) << e;

  r = run_sgt("data render --shards " + shell_quote(missing) + " --out " + shell_quote(dir.file("out")));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  e = the_error(r);
  EXPECT_NE(e.find("[data render] rendered nothing from 1 shard(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("missing_shard 1"), std::string::npos) << e;

  // An empty but valid tar, and a command whose output is empty and whose status says it failed.
  auto t = sgt::testing::run_command("tar -cf " + shell_quote(dir.file("empty.tar")) + " -T /dev/null");
  ASSERT_EQ(t.exit_code, 0) << t.output;
  r = run_sgt("data inspect " + shell_quote(dir.file("empty.tar")));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(the_error(r).find("read no sample"), std::string::npos);
  r = run_sgt("data bench " + shell_quote(dir.file("empty.tar")) + " --threads 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(the_error(r).find("the loader gave no sample"), std::string::npos);
  r = run_sgt("data bench " + shell_quote("pipe:exit 5") + " --threads 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  e = the_error(r);
  EXPECT_NE(e.find("pipe_failed 1"), std::string::npos) << e;
  r = run_sgt("data bench " + shell_quote("s3://bucket/x.tar"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(the_error(r).find("'pipe:aws s3 cp s3://bucket/x.tar -'"), std::string::npos);
  // A brace pattern that expands to nothing.
  r = run_sgt("data render --shards '::' --out " + shell_quote(dir.file("out2")));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(the_error(r).find("expand to no shard"), std::string::npos);
}

TEST(CliDataErrors, PipeShardsAndTransposedImages) {
  sgt::testing::TempDir dir("cli-data-pipe");
  auto w = run_sgt("world --out " + shell_quote(dir.file("w")) + " --train 4 --heldout 0 --per-shard 4 --threads 1");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  const std::string shard = dir.file("w/train/world-train-000000.tar");
  const std::string pipe = shell_quote("pipe:cat " + shard);

  auto r = run_sgt("data inspect " + pipe);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4 samples"), std::string::npos) << r.output;
  r = run_sgt("data render --shards " + pipe + " --out " + shell_quote(dir.file("r")) + " --task recon --limit 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rendered 2 recon examples"), std::string::npos) << r.output;

  // One jpg transposed against its json (tools/transpose_tar.py prints "key WxH->HxW").
  const std::string bad = dir.file("transposed.tar");
  auto t = sgt::testing::run_python_tool("transpose_tar.py", {shard, bad});
  ASSERT_EQ(t.exit_code, 0) << t.output;
  const std::string key = t.output.substr(0, t.output.find(' '));
  const std::string sizes = t.output.substr(t.output.find(' ') + 1, t.output.find('\n') - t.output.find(' ') - 1);
  const std::string wh = sizes.substr(0, sizes.find('-')), hw = sizes.substr(sizes.find('>') + 1);
  r = run_sgt("data render --shards " + shell_quote(bad) + " --out " + shell_quote(dir.file("t")) + " --task segment");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rendered 3 segment examples"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bad samples: 1 (size_mismatch 1)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(key + ".jpg: the image is " + hw + " (width x height) but its SA-1B json says " + wh +
                          " (transposed)"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("t/" + key + ".target.png")));
  r = run_sgt("data bench " + shell_quote(bad) + " --threads 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bad samples: 1 (size_mismatch 1)"), std::string::npos) << r.output;
}

}  // namespace
