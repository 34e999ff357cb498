// A data-parallel training run of a tiny MLP, launched by tests/train/test_distributed.cpp alone, under torchrun or
// as hand-started ranks. Each rank takes its slice of a fixed global batch, the loss is normalised by the global
// element count (as the trainer does), so any number of ranks must give the 1-process numbers.
//   dist_worker mlp --out PREFIX [--shard 0|1] [--zero2 0|1] [--steps N] [--die-after K]
// Writes PREFIX.rank<r>.safetensors: loss [N] (f64, summed over ranks), grad_norm [N], p.<name>, ema.<name>,
// opt.master and peak_live (the most gradient elements held at once). The param "u" only acts on global rows 0..3,
// so with 2 ranks rank 1 never uses it (an unused parameter: --zero2 must still reduce its bucket in step).
// --die-after K: rank 1 exits abruptly (_exit) before step K; the survivors must fail with sgt::Error (exit 2).
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "io/torch_tensors.h"
#include "train/distributed.h"
#include "train/ema.h"
#include "train/optimizer.h"

using namespace sgt::train;

namespace {
torch::Tensor wave(std::vector<int64_t> shape, double freq, double phase, double scale) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return (torch::arange(n, torch::kFloat64) * freq + phase).sin().mul(scale).to(torch::kFloat32).view(shape);
}

int run(int argc, char** argv) {
  SGT_CHECK(argc >= 2 && std::string(argv[1]) == "mlp", "dist_worker", "usage: dist_worker mlp --out PREFIX ...");
  std::string out;
  bool shard = false, zero2 = false;
  int64_t steps = 6, die_after = -1;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--out") out = v;
    else if (k == "--shard") shard = v == "1";
    else if (k == "--zero2") zero2 = v == "1";
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--die-after") die_after = std::stoll(v);
    else SGT_FAIL("dist_worker", "unknown option {}", k);
  }
  auto env = dist_env_from_environment();
  auto dist = Dist::create(env, torch::kCPU, std::chrono::seconds(10));
  const int64_t r = dist->rank(), w = dist->world_size();

  // 2-layer MLP 6 -> 5 -> 3 plus u [2]: 55 elements, odd, so a 2-way shard is padded.
  std::vector<std::pair<std::string, torch::Tensor>> named = {
      {"w1", wave({5, 6}, 1.7, 0.1, 0.4)}, {"b1", wave({5}, 0.9, 0.3, 0.1)}, {"u", wave({2}, 0.5, 0.4, 0.05)},
      {"w2", wave({3, 5}, 2.3, 0.7, 0.4)}, {"b2", wave({3}, 1.1, 0.2, 0.1)}};
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : named) {
    if (r != 0) p.add_(1.0);  // wrong on purpose: broadcast_parameters must fix it
    p.requires_grad_(true);
    params.push_back(p);
  }
  broadcast_parameters(*dist, params, 0);
  AdamWOptions o;
  o.weight_decay = 0.01;
  o.eps = 1e-8;
  o.shard = shard;
  o.reduce_in_backward = zero2;
  o.bucket_numel = 7;  // many buckets with ragged ends
  AdamW opt(params, o, dist);
  std::vector<std::string> names;
  for (auto& [n, p] : named) names.push_back(n);
  Ema ema(opt, names, 0.9);

  const int64_t global_batch = 8, per_rank = global_batch / w;
  SGT_CHECK(global_batch % w == 0, "dist_worker", "world size {} does not divide the batch {}", w, global_batch);
  std::vector<double> losses, norms;
  for (int64_t k = 0; k < steps; ++k) {
    if (k == die_after && r == 1) _exit(3);  // abrupt: no destructors, sockets closed by the kernel
    auto x = wave({global_batch, 6}, 0.37, 0.5 * k, 1.0).narrow(0, r * per_rank, per_rank);
    auto y = wave({global_batch, 3}, 0.91, 0.3 * k, 1.0).narrow(0, r * per_rank, per_rank);
    auto h = torch::tanh(torch::nn::functional::linear(x, params[0], params[1]));
    auto pred = torch::nn::functional::linear(h, params[3], params[4]);
    const int64_t used_rows = std::clamp<int64_t>(4 - r * per_rank, 0, per_rank);  // global rows 0..3 only
    if (used_rows > 0) {
      auto extra = (x.narrow(0, 0, used_rows).narrow(1, 0, 2) * params[2]).sum(1);
      auto col0 = torch::zeros_like(pred);
      col0.narrow(0, 0, used_rows).select(1, 0).copy_(extra);
      pred = pred + col0;
    }
    const double count = dist->sum(static_cast<double>(y.numel()));  // global element count
    auto loss = (pred - y).pow(2).sum() / count;
    loss.backward();
    opt.finish_backward();
    losses.push_back(dist->sum(loss.item<double>()));
    auto res = opt.step(0.05, 0.3);  // clips some steps (norm > 0.3), not step 1
    SGT_CHECK(!res.skipped, "dist_worker", "step {} skipped", k);
    norms.push_back(res.grad_norm);
    ema.update();
  }
  std::map<std::string, torch::Tensor> t;
  t["loss"] = torch::tensor(losses, torch::kFloat64);
  t["grad_norm"] = torch::tensor(norms, torch::kFloat64);
  for (auto& [n, p] : named) t["p." + n] = p.detach().clone();
  for (auto& [n, v] : ema.named_tensors()) t["ema." + n] = v;
  t["opt.master"] = opt.master();
  t["peak_live"] = torch::tensor({opt.peak_live_grad_numel()}, torch::kInt64);
  sgt::io::save_tensors(out + ".rank" + std::to_string(r) + ".safetensors", t);
  dist->barrier();
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    return run(argc, argv);
  } catch (const sgt::Error& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "error after %.1f s: %s\n", s, e.what());
    return 2;
  }
}
