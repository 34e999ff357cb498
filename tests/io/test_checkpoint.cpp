// Checkpoint folders: publication, validation, pruning, and crash safety under SIGKILL.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "testing/testing.h"

namespace {
namespace fs = std::filesystem;

// Writes checkpoint `step` whose tensor bytes all equal (step % 251): a reader can verify content, not only shape.
void write_step(const std::string& root, int64_t step, size_t bytes, int keep_last = 0) {
  sgt::io::CheckpointWriter w(root, step);
  std::vector<uint8_t> data(bytes, static_cast<uint8_t>(step % 251));
  sgt::io::write_safetensors(w.file_path("model.safetensors"),
                             {{"w", sgt::io::DType::kU8, {static_cast<int64_t>(bytes)}, data}});
  sgt::io::write_safetensors(w.file_path("optimizer.rank0.safetensors"),
                             {{"m", sgt::io::DType::kU8, {static_cast<int64_t>(bytes / 2)}, {data.data(), bytes / 2}}});
  w.write_json("trainer.json", {{"step", step}, {"rng", sgt::Rng(step).state_string()}});
  w.set_config({{"architecture", "tiny"}});
  w.commit(keep_last);
}

// Full verification of what a resuming trainer would read.
void verify(const sgt::io::CheckpointInfo& info) {
  auto f = sgt::io::SafetensorsFile::open(info.file("model.safetensors"));
  auto bytes = f.bytes(f.at("w"));
  for (uint8_t b : bytes) ASSERT_EQ(b, static_cast<uint8_t>(info.step % 251));
  auto trainer = nlohmann::json::parse(sgt::io::read_text_file(info.file("trainer.json")));
  ASSERT_EQ(trainer["step"].get<int64_t>(), info.step);
  ASSERT_EQ(info.manifest["config"]["architecture"], "tiny");
}

TEST(Checkpoint, CommitPublishesAndLatestFindsIt) {
  sgt::testing::TempDir dir("ckpt");
  const std::string root = dir.file("ckpts");
  EXPECT_FALSE(sgt::io::latest_checkpoint(root).has_value());
  write_step(root, 10, 1000);
  write_step(root, 20, 1000);
  auto latest = sgt::io::latest_checkpoint(root);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 20);
  verify(*latest);
  EXPECT_EQ(latest->manifest["files"]["model.safetensors"].get<uint64_t>(),
            fs::file_size(latest->file("model.safetensors")));
  // Re-saving an existing step replaces it.
  write_step(root, 20, 500);
  EXPECT_EQ(fs::file_size(sgt::io::latest_checkpoint(root)->file("model.safetensors")),
            sgt::io::SafetensorsFile::open(sgt::io::latest_checkpoint(root)->file("model.safetensors")).data_offset() + 500);
}

TEST(Checkpoint, KeepLastPrunesOldOnes) {
  sgt::testing::TempDir dir("ckpt-prune");
  for (int s = 1; s <= 5; ++s) write_step(dir.path(), s, 64, /*keep_last=*/2);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step_00000004", "step_00000005"}));
}

TEST(Checkpoint, DamagedCheckpointsAreRejectedAndLatestFallsBack) {
  sgt::testing::TempDir dir("ckpt-damage");
  write_step(dir.path(), 1, 100);
  write_step(dir.path(), 2, 100);
  const std::string two = dir.file("step_00000002");
  // Truncate a file: the manifest size check catches it.
  fs::resize_file(two + "/model.safetensors", 50);
  EXPECT_THROW(sgt::io::open_checkpoint(two), sgt::Error);
  auto latest = sgt::io::latest_checkpoint(dir.path());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 1);
  // Unknown version: refused with a hint.
  std::string m = sgt::io::read_text_file(dir.file("step_00000001/manifest.json"));
  m.replace(m.find("\"version\": 2"), 12, "\"version\": 99");
  std::ofstream(dir.file("step_00000001/manifest.json")) << m;
  try {
    sgt::io::open_checkpoint(dir.file("step_00000001"));
    FAIL();
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 99"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HINT"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(sgt::io::latest_checkpoint(dir.path()).has_value());
  std::ofstream(dir.file("step_00000001/manifest.json")) << "{not json";
  EXPECT_THROW(sgt::io::open_checkpoint(dir.file("step_00000001")), sgt::Error);
  EXPECT_THROW(sgt::io::open_checkpoint(dir.file("nothing-here")), sgt::Error);
}

TEST(Checkpoint, AbandonedWriterLeavesNothingBehind) {
  sgt::testing::TempDir dir("ckpt-abandon");
  write_step(dir.path(), 1, 10);
  {
    sgt::io::CheckpointWriter w(dir.path(), 2);
    std::ofstream(w.file_path("model.safetensors")) << "partial";
  }  // no commit
  EXPECT_EQ(sgt::io::latest_checkpoint(dir.path())->step, 1);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) entries += e.path().filename().string()[0] == '.';
  EXPECT_EQ(entries, 0);
}

// A child process writes checkpoints in a loop; the parent SIGKILLs it at varied moments. After every kill the
// latest checkpoint must load and verify, and the step never goes backwards.
TEST(Checkpoint, SigkillDuringWritesNeverBreaksTheLatestCheckpoint) {
  sgt::testing::TempDir dir("ckpt-kill");
  const std::string root = dir.path();
  write_step(root, 0, 1 << 20);
  int64_t last_step = 0, next = 1;
  sgt::Rng rng(5);
  for (int round = 0; round < 12; ++round) {
    const int64_t start = next;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int64_t s = start;; ++s) write_step(root, s, 1 << 20, /*keep_last=*/3);
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng.below(60000)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    auto latest = sgt::io::latest_checkpoint(root);
    ASSERT_TRUE(latest.has_value()) << "round " << round;
    verify(*latest);
    EXPECT_GE(latest->step, last_step);
    last_step = latest->step;
    next = last_step + 1000;  // later rounds write new steps
  }
  // The next writer cleans up partial folders of killed writers.
  write_step(root, next, 16);
  for (const auto& e : fs::directory_iterator(root))
    EXPECT_NE(e.path().filename().string().rfind(".partial-", 0), 0u) << e.path();
}

}  // namespace
