// Hostile shards end to end (issue 26): member names that are absolute or climb out with `..` must never make
// `sgt data render --out` or `sgt eval world --export-*` write outside the output folder. Render counts such a
// sample as bad and goes on; the exports stop with one error line. Keys with folders keep working.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace fs = std::filesystem;
using sgt::testing::shell_quote;

namespace {

sgt::testing::ProcessResult run_sgt(const std::string& args) {
  return sgt::testing::run_command(shell_quote(sgt::testing::binary_dir() + "/bin/sgt") + " " + args);
}

// Every entry under root, relative to it (links not followed): compared before / after a run.
std::set<std::string> list_tree(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) out.insert(e.path().lexically_relative(root).string());
  return out;
}

// Entries of `after` missing from `before`.
std::set<std::string> added(const std::set<std::string>& before, const std::set<std::string>& after) {
  std::set<std::string> out;
  for (const auto& p : after)
    if (!before.count(p)) out.insert(p);
  return out;
}

// src rewritten with the first samples renamed to `keys` (tools/hostile_tar.py; "-" keeps a key).
std::string hostile_copy(const std::string& src, const std::string& out, const std::vector<std::string>& keys) {
  std::vector<std::string> args = {src, out};
  args.insert(args.end(), keys.begin(), keys.end());
  auto r = sgt::testing::run_python_tool("hostile_tar.py", args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

// One synthetic world (4 train + 4 held-out scenes) per test process, whose first shards get hostile copies.
class CliHostile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sgt::testing::TempDir("cli-hostile");
    world_ = new sgt::testing::ProcessResult(run_sgt("world --out " + shell_quote(dir_->file("world")) +
                                                     " --train 4 --heldout 4 --per-shard 4 --threads 1"));
  }
  static void TearDownTestSuite() {
    delete world_;
    delete dir_;
  }
  static std::string shard(const std::string& split) {
    EXPECT_EQ(world_->exit_code, 0) << world_->output;
    return dir_->file("world/" + split + "/world-" + split + "-000000.tar");
  }
  static sgt::testing::TempDir* dir_;
  static sgt::testing::ProcessResult* world_;
};
sgt::testing::TempDir* CliHostile::dir_ = nullptr;
sgt::testing::ProcessResult* CliHostile::world_ = nullptr;

TEST_F(CliHostile, DataRenderSkipsEscapingKeysAndRendersTheRest) {
  const std::string world = shard("train");
  ASSERT_TRUE(fs::exists(world));
  // Scratch folder S; output folder S/deep/out. "../../escaped" would land in S, the absolute key in S/abs.
  const std::string scratch = dir_->file("render");
  fs::create_directories(scratch);
  const std::string abs_key = scratch + "/abs/evil";
  const std::string tar =
      hostile_copy(world, dir_->file("render.tar"), {abs_key, "../../escaped", "sam_selection/sa_1", "-"});
  const std::string out = scratch + "/deep/out";
  const auto before = list_tree(scratch);

  auto r = run_sgt("data render --shards " + shell_quote(tar) + " --out " + shell_quote(out) + " --task recon");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rendered 2 recon examples into " + out + "; bad samples: 2 (other 2)"), std::string::npos)
      << r.output;
  EXPECT_NE(
      r.output.find("[safe-path] data render: name '" + abs_key + "' is an absolute path; it must stay inside " + out),
      std::string::npos)
      << r.output;
  EXPECT_NE(
      r.output.find("[safe-path] data render: name '../../escaped' has a '..' component; it must stay inside " + out),
      std::string::npos)
      << r.output;
  // Everything new lies inside the output folder; the key with a folder got it there.
  const auto fresh = added(before, list_tree(scratch));
  for (const std::string& p : fresh) EXPECT_TRUE(p == "deep" || p.rfind("deep/out", 0) == 0) << p;
  for (const char* ext : {".input.png", ".target.png", ".txt"})
    EXPECT_TRUE(fresh.count(std::string("deep/out/sam_selection/sa_1") + ext)) << ext;
  EXPECT_EQ(fresh.size(), 2u + 1u + 6u) << "deep, deep/out, sam_selection, 2 samples x 3 files";
}

TEST_F(CliHostile, EvalWorldExportsStopOnEscapingKeys) {
  const std::string world = shard("heldout");
  ASSERT_TRUE(fs::exists(world));
  const std::string scratch = dir_->file("eval");
  fs::create_directories(scratch);
  const std::string cv = scratch + "/deep/cv", pope = scratch + "/deep/pope";

  const std::string up = hostile_copy(world, dir_->file("up.tar"), {"../../escaped"});
  auto before = list_tree(scratch);
  auto c = run_sgt("eval world --shards " + shell_quote(up) + " --export-cvbench " + shell_quote(cv));
  EXPECT_EQ(c.exit_code, 1) << c.output;
  EXPECT_EQ(sgt::testing::error_lines(c.output),
            std::vector<std::string>{"sgt: error: [safe-path] world_bench: CV-Bench export: name "
                                     "'../../escaped.jpg' has a '..' component; it must stay inside " +
                                     cv})
      << c.output;
  for (const std::string& p : added(before, list_tree(scratch))) EXPECT_EQ(p.rfind("deep", 0), 0u) << p;
  EXPECT_FALSE(fs::exists(scratch + "/escaped.jpg"));

  const std::string abs_key = scratch + "/evil";
  const std::string abs = hostile_copy(world, dir_->file("abs.tar"), {abs_key});
  before = list_tree(scratch);
  auto p = run_sgt("eval world --shards " + shell_quote(abs) + " --export-pope " + shell_quote(pope));
  EXPECT_EQ(p.exit_code, 1) << p.output;
  EXPECT_EQ(sgt::testing::error_lines(p.output),
            std::vector<std::string>{"sgt: error: [safe-path] world_pope: POPE export: name '" + abs_key +
                                     ".jpg' is an absolute path; it must stay inside " + pope})
      << p.output;
  for (const std::string& f : added(before, list_tree(scratch))) EXPECT_EQ(f.rfind("deep/pope", 0), 0u) << f;
  EXPECT_FALSE(fs::exists(abs_key + ".jpg"));
}

TEST_F(CliHostile, EvalWorldExportsKeysWithFolders) {
  const std::string world = shard("heldout");
  const std::string tar = hostile_copy(world, dir_->file("folders.tar"), {"sam_selection/sa_1"});
  const std::string cv = dir_->file("ok/cv"), pope = dir_->file("ok/pope");
  auto r = run_sgt("eval world --shards " + shell_quote(tar) + " --export-cvbench " + shell_quote(cv) +
                   " --export-pope " + shell_quote(pope));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_regular_file(cv + "/sam_selection/sa_1.jpg")) << r.output;
  EXPECT_TRUE(fs::is_regular_file(pope + "/sam_selection/sa_1.jpg")) << r.output;
}

}  // namespace
