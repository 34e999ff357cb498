// The CUDA paths of the model and the trainer against the CPU (docs/gpu.md). Each test is skipped on a machine
// without a CUDA device (CI); scripts/gpu_pack.sh + scripts/gpu_run.sh run them on a GPU machine.
// - the tiny BAGEL's forward and backward (dense, splitwise and packed attention) on CUDA fp32 == CPU within 1e-4;
// - bf16 autocast stays within bf16's precision of fp32;
// - the trainer on CUDA (fp32) follows the CPU run step for step; bf16 steps are finite and close; the CUDA run's
//   checkpoint resumes on the CPU; device memory is reported;
// - ZeRO-2 (sharded optimizer, gradients reduced in backward) with activation checkpointing on CUDA == plain.
// NCCL itself needs two GPUs (NCCL refuses two ranks on one device); a one-GPU machine cannot test it.
#include <ATen/Context.h>
#include <ATen/autocast_mode.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../model/model_test_util.h"
#include "core/config.h"
#include "io/checkpoint.h"
#include "testing/testing.h"
#include "train/trainer.h"
#include "train_test_util.h"

using namespace sgt;
namespace fs = std::filesystem;

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (run on a GPU machine: docs/gpu.md)"

namespace {

// fp32 on CUDA means fp32: no TF32 in matmuls or convolutions (parity, not speed).
void strict_fp32() {
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

model::BagelPackedInputs to_device(model::BagelPackedInputs in, torch::Device d) {
  for (torch::Tensor* t : {&in.packed_text_ids, &in.packed_text_indexes, &in.packed_position_ids,
                           &in.packed_vit_tokens, &in.packed_vit_position_ids, &in.packed_vit_token_indexes,
                           &in.packed_vae_tokens, &in.packed_latent_position_ids, &in.packed_vae_token_indexes,
                           &in.packed_timesteps})
    if (t->defined()) *t = t->to(d);
  return in;
}

// A scalar that reaches every head: text logits, predicted velocities and the hidden states.
torch::Tensor probe_loss(model::Bagel& m, const model::BagelPackedInputs& in) {
  auto h = m->forward(in);
  auto logits = m->text_logits(h, in.packed_text_indexes);
  auto v = m->velocity(h, in.packed_vae_token_indexes);
  const auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  return f32(logits).logsumexp(-1).mean() + f32(v).pow(2).mean() + f32(h).pow(2).mean();
}

std::map<std::string, torch::Tensor> grads(model::Bagel& m) {
  std::map<std::string, torch::Tensor> g;
  for (auto& p : m->named_parameters())
    if (p.value().grad().defined()) g[p.key()] = p.value().grad().detach().cpu().clone();
  return g;
}

}  // namespace

TEST(Cuda, BagelForwardAndBackwardMatchTheCpu) {
  SKIP_WITHOUT_CUDA();
  strict_fp32();
  torch::manual_seed(0);
  const auto c = model::test::tiny_bagel();
  model::Bagel cpu(c);
  model::Bagel gpu(c);
  {
    torch::NoGradGuard g;
    auto src = cpu->named_parameters();
    for (auto& p : gpu->named_parameters()) p.value().copy_(src[p.key()]);
  }
  gpu->to(torch::kCUDA);
  const auto in = model::test::two_sample_pack(c);
  for (auto impl : {model::AttentionImpl::kDense, model::AttentionImpl::kSplitwise, model::AttentionImpl::kPacked}) {
    auto ic = in;
    ic.impl = impl;
    const auto ig = to_device(ic, torch::kCUDA);
    cpu->zero_grad();
    gpu->zero_grad();
    auto h_cpu = cpu->forward(ic);
    auto h_gpu = gpu->forward(ig);
    EXPECT_LT(model::test::logged("cuda hidden", model::test::rel_err(h_gpu.cpu(), h_cpu)), 1e-4);
    auto l_cpu = probe_loss(cpu, ic), l_gpu = probe_loss(gpu, ig);
    EXPECT_NEAR(l_gpu.item<double>(), l_cpu.item<double>(), 1e-4 * std::abs(l_cpu.item<double>()));
    l_cpu.backward();
    l_gpu.backward();
    const auto gc = grads(cpu), gg = grads(gpu);
    ASSERT_EQ(gc.size(), gg.size());
    ASSERT_GT(gc.size(), 50u);
    // Relative to the tensor's own scale, floored at 1e-4 of the largest gradient: some gradients are exactly zero
    // in exact arithmetic (a key bias shifts every score of a row equally, and softmax ignores that), so both
    // devices hold only rounding noise there, and comparing noise to noise says nothing.
    double global = 0;
    for (const auto& [k, g] : gc) global = std::max(global, g.abs().max().item<double>());
    double worst = 0;
    for (const auto& [k, g] : gc) {
      ASSERT_TRUE(gg.count(k)) << k;
      const double scale = std::max(g.abs().max().item<double>(), 1e-4 * global);
      const double e = (gg.at(k) - g).abs().max().item<double>() / scale;
      worst = std::max(worst, e);
      EXPECT_LT(e, 1e-3) << k;
    }
    model::test::logged("cuda worst grad", worst);
  }
}

TEST(Cuda, Bf16AutocastStaysWithinBf16PrecisionOfFp32) {
  SKIP_WITHOUT_CUDA();
  strict_fp32();
  torch::manual_seed(1);
  const auto c = model::test::tiny_bagel();
  model::Bagel m(c);
  m->to(torch::kCUDA);
  const auto in = to_device(model::test::two_sample_pack(c), torch::kCUDA);
  torch::NoGradGuard g;
  auto ref = m->forward(in);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  auto low = m->forward(in);
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
  // bf16 has 8 mantissa bits (2^-8 = 0.004 relative); a few layers of accumulation stay within a few percent.
  const double e = model::test::logged("bf16 autocast hidden", model::test::rel_err(low.to(torch::kFloat32), ref));
  EXPECT_LT(e, 5e-2);
  EXPECT_GT(e, 0);  // autocast did run in bf16
}

class CudaTrainer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!torch::cuda::is_available()) return;
    dir_ = new sgt::testing::TempDir("cuda-trainer");
    train::test::write_tiny_world(dir_->file("world"), 32);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static train::TrainConfig tiny(const std::string& run, const std::string& device) {
    auto c = train::test::tiny_config(dir_->file(run), dir_->file("world"), "world-train-{000000..000001}.tar",
                                      /*steps=*/4, /*save_every=*/4);
    c.device = enum_from_name<train::TrainDevice>(device, "device");
    return c;
  }
  static sgt::testing::TempDir* dir_;
};
sgt::testing::TempDir* CudaTrainer::dir_ = nullptr;

TEST_F(CudaTrainer, Fp32FollowsTheCpuRunAndBf16StaysClose) {
  SKIP_WITHOUT_CUDA();
  strict_fp32();
  std::vector<train::StepMetrics> cpu, gpu, bf16;
  {
    train::Trainer t(tiny("cpu", "cpu"));
    t.run();
    cpu = t.history();
  }
  {
    train::Trainer t(tiny("cuda", "cuda"));
    EXPECT_TRUE(t.device().is_cuda());
    t.run();
    gpu = t.history();
  }
  {
    auto c = tiny("bf16", "cuda");
    c.precision = train::Precision::kBf16;
    train::Trainer t(c);
    t.run();
    bf16 = t.history();
  }
  ASSERT_EQ(cpu.size(), 4u);
  ASSERT_EQ(gpu.size(), 4u);
  ASSERT_EQ(bf16.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    // Same data, same noise (drawn on the CPU from (seed, step, consumer)), same init: the runs agree to float
    // rounding, which Adam's normalised first steps amplify a little.
    EXPECT_NEAR(gpu[i].loss, cpu[i].loss, 1e-3 * cpu[i].loss) << "step " << i + 1;
    EXPECT_NEAR(gpu[i].grad_norm, cpu[i].grad_norm, 1e-2 * cpu[i].grad_norm) << "step " << i + 1;
    EXPECT_EQ(gpu[i].tokens, cpu[i].tokens);
    EXPECT_GT(gpu[i].device_mb, 0) << "the CUDA allocator's peak is reported";
    EXPECT_TRUE(std::isfinite(bf16[i].loss)) << "step " << i + 1;
    EXPECT_FALSE(bf16[i].skipped);
    std::printf("[cuda] step %zu loss cpu %.6f cuda %.6f bf16 %.6f; device %.1f MB\n", i + 1, cpu[i].loss,
                gpu[i].loss, bf16[i].loss, gpu[i].device_mb);
  }
  EXPECT_NEAR(bf16[0].loss, cpu[0].loss, 3e-2 * cpu[0].loss);  // same weights at step 1: bf16 rounding only
  // The CUDA run's checkpoint resumes on the CPU: two more steps from step 4.
  auto more = tiny("cuda", "cpu");
  more.steps = 6;
  train::Trainer t(more);
  EXPECT_EQ(t.resumed_from(), 4);
  t.run();
  EXPECT_EQ(t.step(), 6);
  ASSERT_FALSE(t.history().empty());
  EXPECT_TRUE(std::isfinite(t.history().back().loss));
}

TEST_F(CudaTrainer, ShardedOptimizerReducedInBackwardWithCheckpointingMatchesThePlainRun) {
  SKIP_WITHOUT_CUDA();
  strict_fp32();
  std::vector<train::StepMetrics> plain, zero;
  {
    auto c = tiny("plain", "cuda");
    c.steps = 3;
    train::Trainer t(c);
    t.run();
    plain = t.history();
  }
  {
    // ZeRO-2's code path on one rank: post-accumulate-grad hooks release .grad into the fp32 buckets on the GPU.
    auto c = tiny("zero2", "cuda");
    c.steps = 3;
    c.shard_optimizer = true;
    c.reduce_in_backward = true;
    c.checkpoint_activations = true;
    train::Trainer t(c);
    t.run();
    zero = t.history();
  }
  ASSERT_EQ(plain.size(), 3u);
  ASSERT_EQ(zero.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(zero[i].loss, plain[i].loss, 1e-4 * plain[i].loss) << "step " << i + 1;
    EXPECT_NEAR(zero[i].grad_norm, plain[i].grad_norm, 1e-3 * plain[i].grad_norm) << "step " << i + 1;
  }
}
