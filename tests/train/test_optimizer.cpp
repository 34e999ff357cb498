// AdamW vs torch.optim.AdamW + clip_grad_norm_, LR schedules vs transformers (tools/train_ref.py), non-finite
// skips, state round trips, EMA against the hand formula, launch-environment parsing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>

#include "core/config.h"
#include "core/env.h"
#include "core/error.h"
#include "io/torch_tensors.h"
#include "testing/testing.h"
#include "train/distributed.h"
#include "train/ema.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

using namespace sgt::train;

namespace {
// Mirrors tools/train_ref.py.
constexpr int kParams = 3, kSteps = 6;
constexpr double kMaxNorm = 1.0;

AdamWOptions ref_options() {
  AdamWOptions o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-15;
  o.weight_decay = 0.1;
  return o;
}

// max |a - b| / max |b|: relative to the tensor's scale, so entries near 0 do not blow it up.
double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  auto bd = b.to(torch::kFloat64);
  return (a.to(torch::kFloat64) - bd).abs().max().item<double>() / std::max(1e-30, bd.abs().max().item<double>());
}

std::vector<torch::Tensor> make_params(const std::map<std::string, torch::Tensor>& ref) {
  std::vector<torch::Tensor> ps;
  for (int i = 0; i < kParams; ++i) ps.push_back(ref.at("param" + std::to_string(i)).clone().requires_grad_(true));
  return ps;
}

void set_grads(std::vector<torch::Tensor>& ps, const std::map<std::string, torch::Tensor>& ref, int k) {
  for (int i = 0; i < kParams; ++i) ps[i].mutable_grad() = ref.at(fmt::format("grad{}_{}", k, i)).clone();
}
}  // namespace

// LR schedules vs transformers' LambdaLR numbers, and hand values.
static void check_schedules(const std::map<std::string, torch::Tensor>& ref) {
  LrSchedule c{LrKind::kConstant, 1e-4, 1e-7, 10, 50}, cos{LrKind::kCosine, 1e-4, 1e-7, 10, 50};
  c.validate();
  cos.validate();
  auto rc = ref.at("sched_const"), rcos = ref.at("sched_cos");
  for (int64_t s = 0; s < rc.size(0); ++s) {
    EXPECT_NEAR(c.at(s), rc[s].item<double>(), 1e-15) << s;
    EXPECT_NEAR(cos.at(s), rcos[s].item<double>(), 1e-15) << s;
  }
  // Hand values: warm-up is linear from 0, cosine is halfway at the middle and reaches min_lr at total_steps.
  EXPECT_DOUBLE_EQ(c.at(0), 0.0);
  EXPECT_DOUBLE_EQ(c.at(5), 5e-5);
  EXPECT_DOUBLE_EQ(c.at(1000), 1e-4);
  EXPECT_NEAR(cos.at(30), 1e-7 + (1e-4 - 1e-7) * 0.5, 1e-18);
  EXPECT_NEAR(cos.at(50), 1e-7, 1e-18);
  LrSchedule none{LrKind::kConstant, 2e-5, 0, 0, 0};
  EXPECT_DOUBLE_EQ(none.at(0), 2e-5);
  EXPECT_THROW(sgt::config::from_json<LrSchedule>(sgt::config::Json{{"kind", "linear"}}, "lr"), sgt::Error);
  EXPECT_THROW((LrSchedule{LrKind::kCosine, 1e-4, 1e-7, 10, 10}.validate()), sgt::Error);
  EXPECT_THROW((LrSchedule{LrKind::kCosine, 1e-4, 1e-3, 0, 10}.validate()), sgt::Error);
  EXPECT_THROW((LrSchedule{LrKind::kConstant, -1, 0, 0, 0}.validate()), sgt::Error);
  EXPECT_THROW(c.at(-1), sgt::Error);
}

class TrainOptimizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sgt::testing::TempDir("train_ref");
    auto res = sgt::testing::run_python_tool("train_ref.py", {"adamw", "--out", dir_->path()});
    ASSERT_EQ(res.exit_code, 0) << res.output;
    ref_ = new std::map<std::string, torch::Tensor>(sgt::io::load_tensors(dir_->file("adamw.safetensors")));
  }
  static void TearDownTestSuite() {
    delete ref_;
    delete dir_;
  }
  static inline sgt::testing::TempDir* dir_ = nullptr;
  static inline std::map<std::string, torch::Tensor>* ref_ = nullptr;
};

TEST_F(TrainOptimizer, AdamWAndScheduleMatchTorchAndTransformers) {
  const auto& ref = *ref_;
  check_schedules(ref);
  auto ps = make_params(ref);
  AdamW opt(ps, ref_options(), nullptr);
  EXPECT_EQ(opt.numel(), 35 + 13 + 24);
  auto lrs = ref.at("lr");
  for (int k = 0; k < kSteps; ++k) {
    set_grads(ps, ref, k);
    auto r = opt.step(lrs[k].item<double>(), kMaxNorm);
    EXPECT_FALSE(r.skipped);
    EXPECT_NEAR(r.grad_norm, ref.at("norm")[k].item<double>(), 1e-6 * ref.at("norm")[k].item<double>()) << k;
    for (int i = 0; i < kParams; ++i) {
      EXPECT_LE(rel_err(ps[i], ref.at(fmt::format("after{}_{}", k, i))), 1e-6) << "step " << k << " param " << i;
      EXPECT_EQ(ps[i].grad().abs().max().item<float>(), 0.0f);  // grads zeroed
    }
  }
  EXPECT_EQ(opt.steps(), kSteps);
  // Moments: the flat state is the concatenation of torch's per-param state.
  auto sd = opt.state_dict();
  std::vector<torch::Tensor> m, v;
  for (int i = 0; i < kParams; ++i) {
    m.push_back(ref.at(fmt::format("exp_avg_{}", i)).reshape(-1));
    v.push_back(ref.at(fmt::format("exp_avg_sq_{}", i)).reshape(-1));
  }
  EXPECT_LE(rel_err(sd.at("exp_avg"), torch::cat(m)), 1e-6);
  EXPECT_LE(rel_err(sd.at("exp_avg_sq"), torch::cat(v)), 1e-6);
  EXPECT_EQ(sd.at("step").item<int64_t>(), kSteps);
}

TEST_F(TrainOptimizer, NonFiniteGradientSkipsAndStateRoundTrips) {
  const auto& ref = *ref_;
  auto ps = make_params(ref);
  AdamW opt(ps, ref_options(), nullptr);
  set_grads(ps, ref, 0);
  opt.step(1e-2, kMaxNorm);
  set_grads(ps, ref, 1);
  opt.step(2e-2, kMaxNorm);

  // inf in one gradient: skipped, nothing changes, grads are zeroed.
  auto before = opt.state_dict();
  std::vector<torch::Tensor> pbefore;
  for (auto& p : ps) pbefore.push_back(p.detach().clone());
  for (float bad : {INFINITY, NAN}) {
    set_grads(ps, ref, 2);
    ps[1].mutable_grad()[3] = bad;
    auto r = opt.step(1e-2, kMaxNorm);
    EXPECT_TRUE(r.skipped);
    EXPECT_FALSE(std::isfinite(r.grad_norm));
    EXPECT_EQ(opt.steps(), 2);
    for (int i = 0; i < kParams; ++i) {
      EXPECT_TRUE(torch::equal(ps[i], pbefore[i]));
      EXPECT_EQ(ps[i].grad().abs().max().item<float>(), 0.0f);
    }
    auto after = opt.state_dict();
    for (const auto& [k, v] : before) EXPECT_TRUE(torch::equal(v, after.at(k))) << k;
  }

  // Save through a safetensors file, load into a fresh optimizer over a copy of the params: same continuation.
  sgt::testing::TempDir tmp("adamw_state");
  sgt::io::save_tensors(tmp.file("opt.safetensors"), opt.state_dict());
  auto qs = make_params(ref);  // initial values on purpose: load_state_dict must restore them from the master
  AdamW opt2(qs, ref_options(), nullptr);
  opt2.load_state_dict(sgt::io::load_tensors(tmp.file("opt.safetensors")));
  EXPECT_EQ(opt2.steps(), 2);
  for (int i = 0; i < kParams; ++i) EXPECT_TRUE(torch::equal(qs[i], ps[i]));
  for (int k = 2; k < kSteps; ++k) {
    set_grads(ps, ref, k);
    set_grads(qs, ref, k);
    opt.step(ref.at("lr")[k].item<double>(), kMaxNorm);
    opt2.step(ref.at("lr")[k].item<double>(), kMaxNorm);
  }
  for (int i = 0; i < kParams; ++i) {
    EXPECT_TRUE(torch::equal(qs[i], ps[i])) << i;
    // The skipped step changed nothing, so this run equals torch's reference too.
    EXPECT_LE(rel_err(ps[i], ref.at(fmt::format("after{}_{}", kSteps - 1, i))), 1e-6);
  }
}

TEST(TrainAdamW, BadStateAndParamsAreErrors) {
  std::vector<torch::Tensor> ps = {torch::ones({7, 5}).requires_grad_(true), torch::ones({13}).requires_grad_(true),
                                   torch::ones({2, 3, 4}).requires_grad_(true)};
  AdamW opt(ps, ref_options(), nullptr);
  auto good = opt.state_dict();
  auto missing = good;
  missing.erase("exp_avg");
  EXPECT_THROW(opt.load_state_dict(missing), sgt::Error);
  auto extra = good;
  extra["momentum"] = torch::zeros({1});
  EXPECT_THROW(opt.load_state_dict(extra), sgt::Error);
  auto shape = good;
  shape["exp_avg_sq"] = torch::zeros({71});
  EXPECT_THROW(opt.load_state_dict(shape), sgt::Error);
  auto layout = good;
  layout["layout"] = torch::tensor({72, 36, 2, 0}, torch::kInt64);  // saved by a 2-rank sharded run
  try {
    opt.load_state_dict(layout);
    FAIL() << "no error";
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard 0 of 2"), std::string::npos) << e.what();
  }
  opt.load_state_dict(good);  // and the good one loads

  EXPECT_THROW(AdamW({}, ref_options(), nullptr), sgt::Error);
  EXPECT_THROW(AdamW({ps[0], ps[0]}, ref_options(), nullptr), sgt::Error);
  EXPECT_THROW(AdamW({torch::zeros({3}, torch::kInt64)}, ref_options(), nullptr), sgt::Error);
  EXPECT_THROW(AdamW({torch::zeros({4, 4}).t()}, ref_options(), nullptr), sgt::Error);
  {
    // ZeRO-2's hooks sit on leaves: a computed tensor, or one that needs no gradient, is refused by name.
    AdamWOptions o = ref_options();
    o.reduce_in_backward = true;
    auto leaf = torch::ones({4}).requires_grad_(true);
    try {
      AdamW bad({leaf * 2}, o, nullptr);
      ADD_FAILURE() << "a non-leaf param was accepted";
    } catch (const sgt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("must be a leaf that requires grad"), std::string::npos) << e.what();
    }
    EXPECT_THROW(AdamW({torch::ones({4})}, o, nullptr), sgt::Error);
  }
  EXPECT_THROW(opt.step(NAN, 1.0), sgt::Error);
}

TEST(TrainEma, FollowsTheHandFormulaInBothModes) {
  auto a = torch::tensor({1.0f, 2.0f}).requires_grad_(true);
  auto b = torch::tensor({-4.0f}, torch::kBFloat16).requires_grad_(true);
  std::vector<std::pair<std::string, torch::Tensor>> named{{"a", a}, {"b", b}};
  Ema ema(named, 0.9);
  AdamWOptions o;
  AdamW opt({a, b}, o, nullptr);
  Ema flat(opt, {"a", "b"}, 0.9);
  // Hand-computed: params move to fixed values, ema = 0.9 * ema + 0.1 * p after each move.
  double ea0 = 1, ea1 = 2, eb = -4;
  const float pa[3][2] = {{3, 4}, {5, 6}, {0, 1}};
  const float pb[3] = {2, 8, -2};  // exact in bf16
  for (int s = 0; s < 3; ++s) {
    torch::NoGradGuard ng;
    a.copy_(torch::tensor({pa[s][0], pa[s][1]}));
    b.copy_(torch::tensor({pb[s]}));
    ema.update();
    ea0 = 0.9 * ea0 + 0.1 * pa[s][0];
    ea1 = 0.9 * ea1 + 0.1 * pa[s][1];
    eb = 0.9 * eb + 0.1 * pb[s];
  }
  auto sd = ema.state_dict();
  EXPECT_EQ(sd.at("a").scalar_type(), torch::kFloat32);
  EXPECT_NEAR(sd.at("a")[0].item<double>(), ea0, 1e-5);
  EXPECT_NEAR(sd.at("a")[1].item<double>(), ea1, 1e-5);
  EXPECT_NEAR(sd.at("b")[0].item<double>(), eb, 1e-5);  // kept in fp32 although b is bf16

  // Flat mode follows the optimizer's master: one real step with a known gradient, then compare by hand.
  a.mutable_grad() = torch::tensor({1.0f, -1.0f});
  b.mutable_grad() = torch::tensor({0.5f}, torch::kBFloat16);
  {
    torch::NoGradGuard ng;
    a.copy_(torch::tensor({1.0f, 2.0f}));  // the master still holds the initial values; the step overwrites these
  }
  opt.step(0.1, 0);
  flat.update();
  // AdamW's first step moves every element by lr * sign(g) (bias-corrected m / sqrt(v) = g / |g|).
  auto master = opt.master();
  EXPECT_NEAR(master[0].item<double>(), 1 - 0.1, 1e-6);
  EXPECT_NEAR(master[2].item<double>(), -4 - 0.1, 1e-6);
  auto named_flat = flat.named_tensors();
  EXPECT_NEAR(named_flat.at("a")[0].item<double>(), 0.9 * 1 + 0.1 * 0.9, 1e-6);
  EXPECT_NEAR(named_flat.at("a")[1].item<double>(), 0.9 * 2 + 0.1 * 2.1, 1e-6);
  EXPECT_NEAR(named_flat.at("b")[0].item<double>(), 0.9 * -4 + 0.1 * -4.1, 1e-6);

  // Round trip, copy_to, bad states.
  Ema ema2(named, 0.9);
  ema2.load_state_dict(sd);
  auto c = torch::zeros({2});
  auto d = torch::zeros({1}, torch::kBFloat16);
  ema2.copy_to({{"a", c}, {"b", d}});
  EXPECT_NEAR(c[1].item<double>(), ea1, 1e-5);
  EXPECT_NEAR(d[0].item<double>(), eb, 0.05);  // bf16
  auto bad = sd;
  bad.erase("b");
  EXPECT_THROW(ema2.load_state_dict(bad), sgt::Error);
  bad = sd;
  bad["a"] = torch::zeros({3});
  EXPECT_THROW(ema2.load_state_dict(bad), sgt::Error);
  bad = sd;
  bad["c"] = torch::zeros({1});
  EXPECT_THROW(ema2.load_state_dict(bad), sgt::Error);
  EXPECT_THROW(ema2.copy_to({{"zzz", c}}), sgt::Error);
  EXPECT_THROW(flat.load_state_dict(sd), sgt::Error);
  EXPECT_THROW(Ema(named, 1.5), sgt::Error);
}

TEST(TrainDistEnv, ParsesLaunchersAndRejectsBadValues) {
  const char* vars[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                        "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_LAUNCH_NODE_IPADDR",
                        "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"};
  auto clear = [&] {
    for (const char* v : vars) unsetenv(v);
  };
  clear();
  auto e = dist_env_from_environment();
  EXPECT_EQ(e.launcher, "single");
  EXPECT_EQ(e.world_size, 1);

  setenv("RANK", "3", 1);
  setenv("WORLD_SIZE", "8", 1);
  setenv("LOCAL_RANK", "3", 1);
  setenv("MASTER_ADDR", "10.0.0.1", 1);
  setenv("MASTER_PORT", "29555", 1);
  setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  e = dist_env_from_environment();
  EXPECT_EQ(e.launcher, "torchrun");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 3);
  EXPECT_EQ(training_device("cuda", e), torch::Device(torch::kCUDA, 3));
  EXPECT_EQ(training_device("cpu", e), torch::Device(torch::kCPU));
  EXPECT_EQ(sgt::env::rank(), 3);  // logging and progress read the same launch
  EXPECT_EQ(sgt::env::local_rank(), 3);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  EXPECT_EQ(e.master_port, 29555);
  EXPECT_TRUE(e.agent_store);
  setenv("RANK", "8", 1);
  EXPECT_THROW(dist_env_from_environment(), sgt::Error);
  setenv("RANK", "x", 1);
  EXPECT_THROW(dist_env_from_environment(), sgt::Error);
  setenv("RANK", "3", 1);
  unsetenv("MASTER_ADDR");
  EXPECT_THROW(dist_env_from_environment(), sgt::Error);
  setenv("MASTER_ADDR", "10.0.0.1", 1);
  setenv("MASTER_PORT", "70000", 1);
  EXPECT_THROW(dist_env_from_environment(), sgt::Error);
  clear();
  setenv("RANK", "0", 1);  // WORLD_SIZE missing
  EXPECT_THROW(dist_env_from_environment(), sgt::Error);

  clear();
  setenv("SLURM_PROCID", "5", 1);
  setenv("SLURM_NTASKS", "16", 1);
  setenv("SLURM_LOCALID", "5", 1);
  setenv("SLURM_LAUNCH_NODE_IPADDR", "192.168.1.7", 1);
  e = dist_env_from_environment();
  EXPECT_EQ(e.launcher, "slurm");
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 16);
  EXPECT_EQ(e.master_addr, "192.168.1.7");
  EXPECT_EQ(e.master_port, 29500);
  // Slurm without LOCAL_RANK: the GPU is SLURM_LOCALID's for the model and the process group alike.
  EXPECT_EQ(e.local_rank, 5);
  EXPECT_EQ(training_device("cuda", e), torch::Device(torch::kCUDA, 5));
  EXPECT_EQ(sgt::env::local_rank(), 5);
  EXPECT_EQ(sgt::env::world_size(), 16);
  setenv("MASTER_ADDR", "node001", 1);
  setenv("MASTER_PORT", "12345", 1);
  e = dist_env_from_environment();
  EXPECT_EQ(e.master_addr, "node001");
  EXPECT_EQ(e.master_port, 12345);
  unsetenv("MASTER_ADDR");
  unsetenv("SLURM_LAUNCH_NODE_IPADDR");
  EXPECT_THROW(dist_env_from_environment(), sgt::Error);
  clear();

  // One process: no communication at all, the collectives are identities.
  auto d = Dist::create(DistEnv{}, torch::kCPU, std::chrono::seconds(5));
  auto t = torch::tensor({1.0f, 2.0f});
  d->all_reduce_sum(t);
  d->broadcast(t, 0);
  d->barrier();
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.0f, 2.0f})));
  EXPECT_EQ(d->sum(2.5), 2.5);
  EXPECT_THROW(d->broadcast(t, 1), sgt::Error);
  auto nc = torch::zeros({3, 3}).t();
  EXPECT_THROW(d->all_reduce_sum(nc), sgt::Error);
  EXPECT_THROW(Dist::create(DistEnv{}, torch::kCPU, std::chrono::seconds(0)), sgt::Error);
}

TEST(TrainAdamW, ReduceInBackwardMatchesThePlainStepAndReleasesGradients) {
  // y = W2 tanh(W1 x). The optimizers see [W2 (4, bucket 0), W1 (8, buckets 1 and 2)]; here the engine accumulates
  // W1 first, so buckets 2 and 1 are reduced and W1's gradient released before W2's exists: at most 8 of the 12
  // gradient elements are ever held at once.
  auto make = [] {
    return std::vector<torch::Tensor>{(torch::arange(8, torch::kFloat32).view({2, 4}) * 0.1 - 0.3).requires_grad_(true),
                                      (torch::arange(4, torch::kFloat32).view({2, 2}) * 0.2 - 0.1).requires_grad_(true)};
  };
  auto ps = make(), qs = make();
  AdamWOptions o = ref_options();
  o.bucket_numel = 4;
  AdamW plain({ps[1], ps[0]}, o, nullptr);
  o.reduce_in_backward = true;
  AdamW hooked({qs[1], qs[0]}, o, nullptr);
  auto loss_of = [](const std::vector<torch::Tensor>& p, int k) {
    auto x = torch::sin(torch::arange(12, torch::kFloat32).view({3, 4}) * (0.3 + 0.1 * k));
    return torch::matmul(torch::tanh(torch::matmul(x, p[0].t())), p[1].t()).pow(2).sum();
  };
  for (int k = 0; k < 4; ++k) {
    loss_of(ps, k).backward();
    loss_of(qs, k).backward();
    hooked.finish_backward();
    for (const auto& q : qs) EXPECT_FALSE(q.grad().defined()) << "released after reduction";
    const auto a = plain.step(1e-2, 0.5), b = hooked.step(1e-2, 0.5);
    EXPECT_EQ(a.grad_norm, b.grad_norm) << k;
    for (int i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(ps[i], qs[i])) << "step " << k << " param " << i;
  }
  EXPECT_EQ(hooked.peak_live_grad_numel(), 8);
  EXPECT_EQ(plain.peak_live_grad_numel(), 0);
  // Gradient accumulation: two micro-batches (finish_backward after each) sum in the reduced buffer exactly as two
  // backwards sum in .grad.
  loss_of(ps, 5).backward();
  loss_of(ps, 6).backward();
  loss_of(qs, 5).backward();
  hooked.finish_backward();
  loss_of(qs, 6).backward();
  hooked.finish_backward();
  EXPECT_EQ(plain.step(1e-2, 0.5).grad_norm, hooked.step(1e-2, 0.5).grad_norm);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(ps[i], qs[i])) << "accumulated, param " << i;

  // Misuse is an error, not a silent double count: a second backward before finish_backward, or step() without it.
  loss_of(qs, 0).backward();
  EXPECT_THROW(loss_of(qs, 1).backward(), sgt::Error);
  hooked.finish_backward();
  loss_of(qs, 2).backward();
  EXPECT_THROW(hooked.step(1e-2, 0.5), sgt::Error);
  hooked.finish_backward();
  EXPECT_FALSE(hooked.step(1e-2, 0.5).skipped);
  // One process, no sharding: the layout stays contiguous, so the state loads into a plain optimizer.
  plain.load_state_dict(hooked.state_dict());
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(ps[i], qs[i]));
}
