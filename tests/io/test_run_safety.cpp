// Training keeps its data (issue 26), the torch-free parts: one writer per run folder (io/run_lock.h), appends that
// fail loudly on a full disk, checkpoint checksums with a fallback to the newest intact step (io/checkpoint.h), and
// step folders whose number does not fit in 64 bits.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/checksum.h"
#include "io/run_lock.h"
#include "testing/testing.h"

namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// A checkpoint folder of one step holding two files.
sgt::io::CheckpointInfo write_step(const std::string& root, int64_t step) {
  sgt::io::CheckpointWriter w(root, step);
  write_all(w.file_path("model.safetensors"), "weights of step " + std::to_string(step));
  write_all(w.file_path("state.rank0.json"), "{\"step\": " + std::to_string(step) + "}\n");
  return w.commit();
}

}  // namespace

TEST(RunLock, ASecondProcessIsRefusedWithTheHoldersPidAndHost) {
  sgt::testing::TempDir dir("runlock");
  const std::string run = dir.file("run");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // holds the lock until killed
    auto lock = sgt::io::RunLock::acquire(run);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string msg = sgt::testing::error_message([&] { sgt::io::RunLock::acquire(run); });
  EXPECT_NE(msg.find("[run-lock] the run folder " + run + " is in use by pid " + std::to_string(child) + " on host " +
                     host + " since "),
            std::string::npos)
      << msg;
  kill(child, SIGKILL);  // the kernel drops a dead holder's lock: no stale lock to clean up
  int status = 0;
  waitpid(child, &status, 0);
  auto mine = sgt::io::RunLock::acquire(run);
  EXPECT_NE(read_all(run + "/LOCK").find("pid " + std::to_string(getpid()) + " on host "), std::string::npos);
  // Re-entrant inside one process (the recipe's CLI and its trainer both take it).
  auto again = sgt::io::RunLock::acquire(run);
  EXPECT_EQ(mine.get(), again.get());
  close(ready[0]);
  close(ready[1]);
}

TEST(AppendText, AFullDiskIsAnErrorNamingTheFile) {
  // /dev/full answers every write with ENOSPC, as a full disk does.
  const std::string msg = sgt::testing::error_message([] { sgt::io::append_text("/dev/full", "{\"step\": 1}\n"); });
  EXPECT_EQ(msg, "[atomic-file] appending 12 bytes to /dev/full failed: No space left on device");
  sgt::testing::TempDir dir("append");
  const std::string f = dir.file("metrics.jsonl");
  sgt::io::append_text(f, "a\n");
  sgt::io::append_text(f, "b\n");
  EXPECT_EQ(read_all(f), "a\nb\n");
  const std::string missing =
      sgt::testing::error_message([&] { sgt::io::append_text(dir.file("no/such/dir/m.jsonl"), "x\n"); });
  EXPECT_NE(missing.find("cannot open " + dir.file("no/such/dir/m.jsonl") + " to append: No such file or directory"),
            std::string::npos)
      << missing;
}

TEST(Checksum, Sha256MatchesTheStandardVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sgt::io::sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sgt::io::sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sgt::testing::TempDir dir("sha");
  const std::string big(9 * (1 << 20) + 7, 'a');  // more than one 8 MiB read
  write_all(dir.file("big"), big);
  EXPECT_EQ(sgt::io::sha256_file(dir.file("big")), sgt::io::sha256_hex(big.data(), big.size()));
  const std::string msg = sgt::testing::error_message([&] { sgt::io::sha256_file(dir.file("absent")); });
  EXPECT_EQ(msg, "[checksum] cannot open " + dir.file("absent") + ": No such file or directory");
}

TEST(CheckpointChecksums, AFlippedBitFallsBackToTheNewestIntactStep) {
  sgt::testing::TempDir dir("ckptsum");
  const std::string root = dir.file("checkpoints");
  write_step(root, 1);
  const auto two = write_step(root, 2);
  EXPECT_EQ(two.manifest["version"], 2);
  EXPECT_EQ(two.manifest["sha256"]["model.safetensors"].get<std::string>(),
            sgt::io::sha256_file(two.file("model.safetensors")));
  // Flip one bit of step 2's weights; the size stays, so only the checksum can tell.
  std::string w = read_all(two.file("model.safetensors"));
  w[3] ^= 0x10;
  write_all(two.file("model.safetensors"), w);
  EXPECT_EQ(sgt::io::latest_checkpoint(root)->step, 2);  // sizes only: looks fine
  const auto intact = sgt::io::latest_checkpoint(root, /*verify_checksums=*/true);
  ASSERT_TRUE(intact.has_value());
  EXPECT_EQ(intact->step, 1);
  const std::string msg = sgt::testing::error_message([&] { sgt::io::open_checkpoint(two.path, true); });
  EXPECT_NE(msg.find("[checkpoint] " + two.path + ": model.safetensors is corrupt: its SHA-256 is "), std::string::npos)
      << msg;
  // Both corrupt: none.
  const auto one = sgt::io::open_checkpoint(root + "/" + sgt::io::checkpoint_dir_name(1));
  write_all(one.file("state.rank0.json"), "{\"step\": 9}\n");
  EXPECT_FALSE(sgt::io::latest_checkpoint(root, true).has_value());
  EXPECT_EQ(sgt::io::checkpoint_dirs(root).size(), 2u);
}

TEST(CheckpointChecksums, VersionOneFoldersStillLoadAndHugeStepNamesAreIgnored) {
  sgt::testing::TempDir dir("ckptv1");
  const std::string root = dir.file("checkpoints");
  const auto s = write_step(root, 3);
  // Rewrite its manifest as a version-1 one (no checksums), as earlier releases wrote them.
  auto m = s.manifest;
  m["version"] = 1;
  m.erase("sha256");
  write_all(s.path + "/manifest.json", m.dump(2));
  EXPECT_EQ(sgt::io::open_checkpoint(s.path, true).step, 3);
  // A version-2 manifest without its checksums is refused.
  m["version"] = 2;
  write_all(s.path + "/manifest.json", m.dump(2));
  EXPECT_NE(sgt::testing::error_message([&] { sgt::io::open_checkpoint(s.path); }).find("manifest has no checksums"),
            std::string::npos);
  m["version"] = 1;
  write_all(s.path + "/manifest.json", m.dump(2));
  // step_99999999999999999999 (does not fit in int64) used to end the run with "stoll" at its first checkpoint.
  fs::create_directories(root + "/step_99999999999999999999");
  EXPECT_EQ(sgt::io::latest_checkpoint(root)->step, 3);
  const auto next = write_step(root, 4);  // the writer's pruning walks the same folders
  EXPECT_EQ(next.step, 4);
  EXPECT_EQ(sgt::io::checkpoint_dirs(root).size(), 2u);
}
