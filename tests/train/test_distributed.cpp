// Data parallel on CPU with Gloo: 2 ranks under torchrun (unsharded and sharded) give the 1-process numbers; a rank
// that dies makes the survivor fail with an sgt::Error naming the collective, within the timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "io/torch_tensors.h"
#include "testing/testing.h"

using sgt::testing::shell_quote;

namespace {
// A port the kernel just handed out and released: free unless someone grabs it in the next milliseconds.
std::string torchrun() { return sgt::testing::source_dir() + "/.venv/bin/torchrun"; }

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  auto bd = b.to(torch::kFloat64);
  return (a.to(torch::kFloat64) - bd).abs().max().item<double>() / std::max(1e-30, bd.abs().max().item<double>());
}

// The 1-process run, shared by the tests of this binary.
class TrainDistributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sgt::testing::TempDir("dist");
    // No launcher variables: one process, no communication.
    auto res = sgt::testing::run_command(fmt::format("env -u RANK -u WORLD_SIZE -u SLURM_PROCID {} mlp --out {}",
                                                     shell_quote(SGT_DIST_WORKER), shell_quote(dir_->file("single"))));
    ASSERT_EQ(res.exit_code, 0) << res.output;
    single_ = new std::map<std::string, torch::Tensor>(sgt::io::load_tensors(dir_->file("single.rank0.safetensors")));
  }
  static void TearDownTestSuite() {
    delete single_;
    delete dir_;
  }

  static void expect_same_as_single(const std::string& prefix, int world) {
    for (int r = 0; r < world; ++r) {
      auto got = sgt::io::load_tensors(dir_->file(prefix + ".rank" + std::to_string(r) + ".safetensors"));
      for (const auto& [k, v] : *single_) {
        if (k == "opt.master" || k == "peak_live") continue;  // a shard when sharded; the hooks' bookkeeping
        ASSERT_TRUE(got.count(k)) << k;
        EXPECT_LE(rel_err(got.at(k), v), 1e-6) << prefix << " rank " << r << " " << k;
      }
    }
  }
  static inline sgt::testing::TempDir* dir_ = nullptr;
  static inline std::map<std::string, torch::Tensor>* single_ = nullptr;
};
}  // namespace

TEST_F(TrainDistributed, TwoRanksUnderTorchrunMatchOneProcess) {
  // The 1-process run itself: losses decrease and differ step to step (the test below is not vacuous).
  auto loss = single_->at("loss");
  ASSERT_EQ(loss.size(0), 6);
  EXPECT_LT(loss[5].item<double>(), loss[0].item<double>());
  auto norms = single_->at("grad_norm");  // max_grad_norm 0.3 in dist_worker: some steps clipped, some not
  EXPECT_LT(norms.min().item<double>(), 0.3);
  EXPECT_GT(norms.max().item<double>(), 0.3);

  for (int zero2 : {0, 1}) {
    for (int shard : {0, 1}) {
      const std::string prefix = fmt::format("tr{}{}", shard, zero2);
      auto res = sgt::testing::run_command(fmt::format(
          "{} --no-python --nproc-per-node 2 --master-addr 127.0.0.1 --master-port {} {} mlp --shard {} --zero2 {} "
          "--out {} 2>&1",
          shell_quote(torchrun()), sgt::testing::free_port(), shell_quote(SGT_DIST_WORKER), shard, zero2,
          shell_quote(dir_->file(prefix))));
      ASSERT_EQ(res.exit_code, 0) << res.output;
      expect_same_as_single(prefix, 2);
      // Sharded: each rank holds half of the 55 master elements (28, the last one padding) in both layouts.
      auto r1 = sgt::io::load_tensors(dir_->file(prefix + ".rank1.safetensors"));
      EXPECT_EQ(r1.at("opt.master").size(0), shard ? 28 : 55);
      if (shard) {
        EXPECT_EQ(r1.at("opt.master")[27].item<float>(), 0.0f);
      }
      // Reduced in backward: the full gradient (55 elements) never existed at once on either rank (rank 1 never
      // uses "u", so its bucket is reduced by finish_backward with zeros for u).
      for (int r = 0; r < 2; ++r) {
        auto got = sgt::io::load_tensors(dir_->file(prefix + ".rank" + std::to_string(r) + ".safetensors"));
        const int64_t peak = got.at("peak_live")[0].item<int64_t>();
        if (zero2) {
          EXPECT_GT(peak, 0) << prefix << " rank " << r;
          EXPECT_LT(peak, 55) << prefix << " rank " << r;
        } else {
          EXPECT_EQ(peak, 0);
        }
      }
    }
  }
}

TEST_F(TrainDistributed, DeadRankMakesTheSurvivorFailNotHang) {
  // Ranks started by hand (torchrun would kill the survivor itself as soon as a worker dies).
  const int port = sgt::testing::free_port();
  auto rank_cmd = [&](int r) {
    return fmt::format(
        "env -u SLURM_PROCID RANK={} WORLD_SIZE=2 LOCAL_RANK={} MASTER_ADDR=127.0.0.1 MASTER_PORT={} {} mlp --shard 1 "
        "--die-after 3 --out {}",
        r, r, port, shell_quote(SGT_DIST_WORKER), shell_quote(dir_->file("die")));
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto res = sgt::testing::run_command(fmt::format("({}) & pid=$!; timeout 60 {} 2>&1; rc=$?; wait $pid; echo \"rank1=$? "
                                                   "rank0=$rc\"",
                                                   rank_cmd(1), rank_cmd(0)));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(res.output.find("rank1=3 rank0=2"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("[dist] all_reduce failed on rank 0 of 2"), std::string::npos) << res.output;
  EXPECT_LT(secs, 30.0) << res.output;  // worker timeout is 10 s; never the 60 s guard
}
