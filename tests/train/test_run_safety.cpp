// The trainer keeps its data (issue 26): a second run on the folder is refused, no silent fresh start over
// checkpoints (--restart moves them aside, nothing pruned), a corrupt newest checkpoint falls back to the intact one,
// a full disk stops the run, SIGTERM / SIGINT save a checkpoint and exit 143 / 130, bad-sample counts survive a
// resume and are reported without the evaluation.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/checksum.h"
#include "io/run_lock.h"
#include "testing/testing.h"
#include "train/trainer.h"
#include "train_test_util.h"

using namespace sgt;
using sgt::testing::shell_quote;
namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

int64_t count_lines(const std::string& path) {
  std::ifstream f(path);
  int64_t n = 0;
  for (std::string l; std::getline(f, l);) n += !l.empty();
  return n;
}

// Every regular file under root with its bytes: compared before / after a refused run.
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().filename() != "LOCK")
      out[e.path().lexically_relative(root).string()] = read_all(e.path().string());
  return out;
}

void flip_a_byte(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-16, std::ios::end);
  char c;
  f.get(c);
  f.seekp(-16, std::ios::end);
  f.put(static_cast<char>(c ^ 0x40));
}

class RunSafety : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sgt::testing::TempDir("runsafety");
    train::test::write_tiny_world(dir_->file("world"), 32);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static train::TrainConfig tiny(const std::string& run, int64_t steps, int64_t save_every) {
    return train::test::tiny_config(dir_->file(run), dir_->file("world"), "world-train-{000000..000001}.tar", steps,
                                    save_every);
  }
  static sgt::testing::TempDir* dir_;
};
sgt::testing::TempDir* RunSafety::dir_ = nullptr;

}  // namespace

TEST_F(RunSafety, NoSilentFreshStartAndRestartMovesTheOldRunAside) {
  auto cfg = tiny("fresh", 2, 1);
  { train::Trainer(cfg).run(); }
  const std::string root = cfg.run_dir + "/checkpoints";
  // Both checkpoints corrupt (a flipped bit, sizes unchanged): nothing loadable.
  for (const auto& d : io::checkpoint_dirs(root)) flip_a_byte(d + "/model.safetensors");
  const auto before = snapshot(cfg.run_dir);
  const std::string msg = sgt::testing::error_message([&] { train::Trainer t(cfg); });
  EXPECT_NE(msg.find("[train] " + root + " holds 2 checkpoint folder(s) (newest " + root +
                     "/step_00000002) but this run would start from step 0 (none of them is loadable"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("Pass --restart"), std::string::npos) << msg;
  EXPECT_EQ(snapshot(cfg.run_dir), before) << "a refused run changed the folder";
  // resume false is the same fresh start.
  auto no_resume = cfg;
  no_resume.resume = false;
  EXPECT_NE(sgt::testing::error_message([&] { train::Trainer t(no_resume); }).find("(resume is false)"),
            std::string::npos);
  // --restart: the old run moves into previous-<time>/, intact, and the new one starts at step 0.
  auto again = cfg;
  again.restart = true;
  {
    train::Trainer t(again);
    EXPECT_EQ(t.step(), 0);
    t.run(1);
  }
  std::vector<std::string> aside;
  for (const auto& e : fs::directory_iterator(cfg.run_dir))
    if (e.path().filename().string().rfind("previous-", 0) == 0) aside.push_back(e.path().string());
  ASSERT_EQ(aside.size(), 1u);
  std::map<std::string, std::string> moved;
  for (const auto& [k, v] : before)
    if (k.rfind("checkpoints/", 0) == 0 || k == "metrics.jsonl") moved[k] = v;
  EXPECT_EQ(snapshot(aside[0]), moved);
  EXPECT_EQ(count_lines(cfg.run_dir + "/metrics.jsonl"), 1);
}

TEST_F(RunSafety, ACorruptNewestCheckpointFallsBackToTheIntactOne) {
  auto cfg = tiny("fallback", 3, 1);
  cfg.keep_last = 3;
  { train::Trainer(cfg).run(); }
  const auto newest = io::latest_checkpoint(cfg.run_dir + "/checkpoints");
  ASSERT_EQ(newest->step, 3);
  flip_a_byte(newest->file("optimizer.rank0.safetensors"));
  train::Trainer t(cfg);
  EXPECT_EQ(t.resumed_from(), 2);
  EXPECT_EQ(count_lines(cfg.run_dir + "/metrics.jsonl"), 2);  // step 3 will be redone
}

TEST_F(RunSafety, AFullDiskStopsTheRunWithOneError) {
  auto cfg = tiny("full", 3, 0);
  train::Trainer t(cfg);
  fs::create_symlink("/dev/full", cfg.run_dir + "/metrics.jsonl");  // every write: ENOSPC
  const std::string msg = sgt::testing::error_message([&] { t.run(1); });
  EXPECT_NE(msg.find("[atomic-file] appending "), std::string::npos) << msg;
  EXPECT_NE(msg.find(cfg.run_dir + "/metrics.jsonl failed: No space left on device"), std::string::npos) << msg;
}

TEST_F(RunSafety, ASecondTuneOnTheFolderIsRefused) {
  auto cfg = tiny("locked", 2, 0);
  fs::create_directories(cfg.run_dir);
  const std::string cfg_path = dir_->file("locked.json");
  std::ofstream(cfg_path) << config::to_json(cfg).dump(2);
  auto lock = io::RunLock::acquire(cfg.run_dir);  // this test process plays the first run
  const auto r = sgt::testing::run_command(shell_quote(sgt::testing::binary_dir() + "/bin/sgt") + " tune --config " +
                                           shell_quote(cfg_path) + " --no-eval");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("sgt: error: [run-lock] the run folder " + cfg.run_dir + " is in use by pid " +
                          std::to_string(getpid()) + " on host "),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(cfg.run_dir + "/metrics.jsonl"));
}

// SIGTERM (Slurm preemption) and SIGINT (Ctrl-C): the run saves a checkpoint at the next step boundary although
// save_every has not come, exits 128 + signal, and the same command resumes from that step.
TEST_F(RunSafety, SigtermAndSigintSaveACheckpointAndExit143And130) {
  for (const int sig : {SIGTERM, SIGINT}) {
    const std::string name = sig == SIGTERM ? "sigterm" : "sigint";
    auto cfg = tiny(name, 500, 0);
    const std::string cfg_path = dir_->file(name + ".json");
    std::ofstream(cfg_path) << config::to_json(cfg).dump(2);
    const std::string log = dir_->file(name + ".log");
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      FILE* f = std::fopen(log.c_str(), "w");
      if (f) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      const std::string bin = sgt::testing::binary_dir() + "/bin/sgt";
      execl(bin.c_str(), bin.c_str(), "tune", "--config", cfg_path.c_str(), "--no-eval", static_cast<char*>(nullptr));
      _exit(127);
    }
    const std::string metrics = cfg.run_dir + "/metrics.jsonl";
    for (int i = 0; i < 1200 && count_lines(metrics) < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_GE(count_lines(metrics), 2) << read_all(log);
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << read_all(log);
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig) << read_all(log);
    const auto latest = io::latest_checkpoint(cfg.run_dir + "/checkpoints", true);
    ASSERT_TRUE(latest.has_value()) << read_all(log);
    EXPECT_EQ(latest->step, count_lines(metrics));
    EXPECT_NE(read_all(log).find("sgt: [train] stopped by signal " + std::to_string(sig)), std::string::npos)
        << read_all(log);
    auto resumed = cfg;
    resumed.steps = latest->step + 1;
    train::Trainer t(resumed);
    EXPECT_EQ(t.resumed_from(), latest->step);
  }
}

TEST_F(RunSafety, BadSampleCountsSurviveAResumeAndAreReportedWithoutEval) {
  // A third shard, truncated mid-member: one truncated_tar per pass over it.
  const std::string good = dir_->file("world/train/world-train-000001.tar");
  const std::string bytes = read_all(good);
  const std::string cut = dir_->file("world/train/world-train-000009.tar");
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2 + 100);
  auto cfg = tiny("bad", 3, 2);
  for (auto& s : cfg.data.sources) s.shards = {dir_->file("world/train/world-train-{000000..000001}.tar"), cut};
  int64_t first = 0;
  {
    train::Trainer t(cfg);
    t.run(2);
    const auto state =
        config::load_json_file(io::latest_checkpoint(cfg.run_dir + "/checkpoints")->file("state.rank0.json"));
    ASSERT_TRUE(state.contains("bad_samples")) << state.dump();
    for (const auto& [src, counts] : state["bad_samples"][0].items())
      first += counts.value("truncated_tar", int64_t{0});
    ASSERT_GT(first, 0) << state.dump();
  }
  // Plant a count of a reason this world never produces (corrupt_image 7) in the checkpoint's state, with the
  // manifest's size and checksum updated, so that the resumed run can only report it by reading it back.
  const auto ck = *io::latest_checkpoint(cfg.run_dir + "/checkpoints");
  auto state = config::load_json_file(ck.file("state.rank0.json"));
  const std::string src0 = cfg.data.sources.front().name;
  state["bad_samples"][0][src0]["corrupt_image"] = 7;
  std::ofstream(ck.file("state.rank0.json")) << state.dump(2);
  auto manifest = ck.manifest;
  manifest["files"]["state.rank0.json"] = fs::file_size(ck.file("state.rank0.json"));
  manifest["sha256"]["state.rank0.json"] = io::sha256_file(ck.file("state.rank0.json"));
  std::ofstream(ck.file("manifest.json")) << manifest.dump(2);
  train::Trainer t(cfg);  // resumes at step 2 with the counts of the first run
  EXPECT_EQ(t.resumed_from(), 2);
  const std::string summary = t.bad_sample_summary();
  EXPECT_NE(summary.find(src0 + ": bad samples: "), std::string::npos) << summary;
  EXPECT_NE(summary.find("corrupt_image 7"), std::string::npos) << summary;
  EXPECT_NE(summary.find("truncated_tar"), std::string::npos) << summary;
  // And the CLI reports them with --no-eval.
  const std::string cfg_path = dir_->file("bad.json");
  auto cli = cfg;
  cli.run_dir = dir_->file("bad-cli");
  cli.steps = 1;
  std::ofstream(cfg_path) << config::to_json(cli).dump(2);
  const auto r = sgt::testing::run_command(shell_quote(sgt::testing::binary_dir() + "/bin/sgt") + " tune --config " +
                                           shell_quote(cfg_path) + " --no-eval");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tune: 1 steps done; "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("truncated_tar"), std::string::npos) << r.output;
}

TEST_F(RunSafety, AStateFileWithoutItsKeysNamesTheFile) {
  auto cfg = tiny("state", 1, 1);
  { train::Trainer(cfg).run(); }
  const auto ck = *io::latest_checkpoint(cfg.run_dir + "/checkpoints");
  auto state = config::load_json_file(ck.file("state.rank0.json"));
  state.erase("mixers");
  std::ofstream(ck.file("state.rank0.json")) << state.dump(2);
  auto manifest = ck.manifest;  // keep the checkpoint intact otherwise (size and checksum updated)
  manifest["files"]["state.rank0.json"] = fs::file_size(ck.file("state.rank0.json"));
  manifest["sha256"]["state.rank0.json"] = io::sha256_file(ck.file("state.rank0.json"));
  std::ofstream(ck.file("manifest.json")) << manifest.dump(2);
  EXPECT_EQ(sgt::testing::error_message([&] { train::Trainer t(cfg); }),
            "[train.checkpoint] " + ck.file("state.rank0.json") +
                ": 'mixers' must be an array of grad_accum (1) data-loader states");
}

// Sizes and budgets that could only spin (issue 26): `sgt tune` looped forever without a step on these.
TEST_F(RunSafety, BudgetsNoSampleFitsAndHugeSidesAreConfigErrors) {
  auto tiny_budget = tiny("cfg", 1, 0);
  tiny_budget.data.packing.max_num_tokens_per_sample = 10;
  const std::string budget = sgt::testing::error_message([&] { tiny_budget.validate(); });
  EXPECT_NE(budget.find("above packing.max_num_tokens_per_sample 10 (no sample could ever be packed"),
            std::string::npos)
      << budget;
  auto huge = tiny("cfg", 1, 0);
  huge.data.sizes.vae_side = 100000;
  const std::string side = sgt::testing::error_message([&] { huge.validate(); });
  EXPECT_NE(side.find("data.sizes.vae_side 100000 must be in [data.sizes.vae_stride (16), 4096]"), std::string::npos)
      << side;
  auto stride = tiny("cfg-stride", 1, 0);
  stride.data.sizes.vae_stride = 8;  // tiny-bagel.json makes 16 px per latent token
  stride.data.sizes.vae_side = 48;
  const std::string mismatch = sgt::testing::error_message([&] { train::Trainer t(stride); });
  EXPECT_NE(mismatch.find("data.sizes.vae_stride 8 must equal the model's pixels per latent token 16"),
            std::string::npos)
      << mismatch;
}
