// Training throughput of the built-in tiny recipe (train/world_recipe.h) on CPU: ours (the trainer's step: packed
// BAGEL forward with split-wise attention, CE + MSE normalised as in trainer.cpp, backward, clip 1.0, flat AdamW)
// against the same step written in PyTorch-Python (tools/train_bench.py) on the same weights and the same packed
// micro-batches, same torch thread count. The Python side first checks that its step-1 loss equals ours (1e-4
// relative), then times its own steps.
//
// Setup (untimed): a small synthetic world (data::write_world), K micro-batches from train::Mixer with the recipe's
// sources and packing (~1024 tokens each), built once with train::build_batch; a Bagel from tune_model_json() with
// a fixed seed. Weights and batches go to <tmp>/weights.safetensors, <tmp>/batches.safetensors, <tmp>/bench.json.
// Timed: step s (1-based) uses micro-batch (s-1) % K (grad_accum 1, as the recipe); step 1 is warm-up, steps
// 2..steps+1 are timed; tokens/s = timed tokens / timed seconds.
// Usage: bench_train [steps=6] [threads=1,2] [micro_batches=3] [rounds=1] [variant=compare]
// variant full | lora: ours only (no Python), full tuning or LoRA (r 16, alpha 32, the default decoder targets,
// base frozen: model/lora.h), printing ms/step, trainable parameters and the process's peak RSS; run each variant in
// its own process so the peaks compare (docs/benchmarks/train.md, "LoRA vs full tuning").
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config.h"
#include "data/world.h"
#include "model/lora.h"
#include "io/state_dict.h"
#include "io/torch_tensors.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "model/registry.h"
#include "testing/testing.h"
#include "text/tokenizer.h"
#include "train/batch.h"
#include "train/losses.h"
#include "train/mixer.h"
#include "train/optimizer.h"
#include "train/world_recipe.h"

using namespace sgt;

namespace {

constexpr double kLr = 1e-3, kCeWeight = 1.5, kMseWeight = 1.0, kMaxGradNorm = 1.0;
constexpr uint64_t kSeed = 4396;

struct Setup {
  model::BagelConfig cfg;
  std::vector<train::TrainBatch> batches;
  std::map<std::string, torch::Tensor> weights;  // initial state dict (every run starts from it)
  std::vector<std::string> trainable;
};

void put(std::map<std::string, torch::Tensor>& out, const std::string& key, const torch::Tensor& t) {
  if (t.defined()) out[key] = t.contiguous();
}

Setup build_setup(const sgt::testing::TempDir& tmp, int64_t micro_batches) {
  data::WorldConfig w = train::tune_world_config();
  w.train = 64;  // enough scenes for a few packs; 4 shards of 16 as the recipe's shard pattern expects
  w.heldout = 4;
  w.samples_per_shard = 16;
  data::write_world(tmp.file("world"), w, 2);
  {
    std::ofstream f(tmp.file("model.json"));
    f << train::tune_model_json();
  }
  auto tc = train::world_tune_config(tmp.file("run"), tmp.file("world"), tmp.file("model.json"));
  Setup s;
  s.cfg = model::load_model_config(tc.model_config);
  auto tok = std::make_shared<const text::Tokenizer>(text::Tokenizer::load(text::find_tokenizer("")));
  train::Mixer mixer(tc.data, tok, tc.data_seed, 0, 1);
  model::AutoEncoder ae(s.cfg.vae);  // the pixel autoencoder (no weights)
  ae->eval();
  train::BatchOptions bo;
  bo.timestep_shift = tc.timestep_shift;
  for (int64_t m = 0; m < micro_batches; ++m) {
    auto mb = mixer.next();
    std::vector<const train::TrainSample*> ptrs;
    for (const auto& x : mb.samples) ptrs.push_back(x.get());
    auto gen = at::make_generator<at::CPUGeneratorImpl>(kSeed + static_cast<uint64_t>(m));
    s.batches.push_back(train::build_batch(mb.pack, ptrs, s.cfg, ae, gen, bo));
  }
  torch::manual_seed(kSeed);
  model::Bagel model(s.cfg);
  // Unlike the trainer we keep llm2vae at its random init (BAGEL zeroes it): then the step-1 MSE depends on the whole
  // network and the loss check below covers the generation path too. Throughput is unaffected.
  s.weights = io::state_dict(*model);
  for (auto& item : model->named_parameters())
    if (item.value().requires_grad()) s.trainable.push_back(item.key());
  return s;
}

// Writes weights, batches and bench.json for the Python side.
void write_setup(const Setup& s, const sgt::testing::TempDir& tmp) {
  io::save_tensors(tmp.file("weights.safetensors"), s.weights);
  std::map<std::string, torch::Tensor> t;
  nlohmann::json mbs = nlohmann::json::array();
  for (size_t i = 0; i < s.batches.size(); ++i) {
    const auto& b = s.batches[i];
    const auto& in = b.inputs;
    const std::string p = "mb" + std::to_string(i) + ".";
    put(t, p + "text_ids", in.packed_text_ids);
    put(t, p + "text_indexes", in.packed_text_indexes);
    put(t, p + "position_ids", in.packed_position_ids);
    put(t, p + "vit_tokens", in.packed_vit_tokens);
    put(t, p + "vit_position_ids", in.packed_vit_position_ids);
    put(t, p + "vit_token_indexes", in.packed_vit_token_indexes);
    put(t, p + "vae_tokens", in.packed_vae_tokens);
    put(t, p + "latent_position_ids", in.packed_latent_position_ids);
    put(t, p + "vae_token_indexes", in.packed_vae_token_indexes);
    put(t, p + "timesteps", in.packed_timesteps);
    put(t, p + "ce_indexes", b.ce_indexes);
    put(t, p + "ce_labels", b.ce_labels);
    put(t, p + "mse_indexes", b.mse_indexes);
    put(t, p + "mse_targets", b.mse_targets);
    nlohmann::json splits = nlohmann::json::array();
    for (const auto& sp : in.layout.splits)
      splits.push_back({{"start", sp.start}, {"len", sp.len}, {"mode", model::to_string(sp.mode)}, {"sample", sp.sample}});
    mbs.push_back({{"sequence_length", in.sequence_length},
                   {"splits", splits},
                   {"vit_token_seqlens", in.vit_token_seqlens},
                   {"ce_tokens", b.ce_tokens},
                   {"mse_tokens", b.mse_tokens},
                   {"num_tokens", b.num_tokens},
                   {"num_samples", b.num_samples}});
  }
  io::save_tensors(tmp.file("batches.safetensors"), t);
  const auto& l = s.cfg.llm;
  nlohmann::json j = {
      {"llm",
       {{"hidden_size", l.hidden_size}, {"num_attention_heads", l.num_attention_heads},
        {"num_key_value_heads", l.num_key_value_heads}, {"head_dim", l.head_size()},
        {"num_hidden_layers", l.num_hidden_layers}, {"rms_norm_eps", l.rms_norm_eps}, {"rope_theta", l.rope_theta}}},
      {"vit",
       {{"num_hidden_layers", s.cfg.vit.num_hidden_layers}, {"num_attention_heads", s.cfg.vit.num_attention_heads},
        {"layer_norm_eps", s.cfg.vit.layer_norm_eps}}},
      {"optim", {{"lr", kLr}, {"beta1", 0.9}, {"beta2", 0.95}, {"eps", 1e-15}, {"weight_decay", 0.0},
                 {"max_grad_norm", kMaxGradNorm}}},
      {"ce_weight", kCeWeight},
      {"mse_weight", kMseWeight},
      {"trainable", s.trainable},
      {"micro_batches", mbs}};
  std::ofstream(tmp.file("bench.json")) << j.dump(1) << "\n";
}

struct RunResult {
  std::vector<double> losses;  // every step, warm-up included
  double tokens_per_s = 0, tokens_per_cpu_s = 0, step_ms = 0, fwd_bwd_ms = 0, opt_ms = 0;
  int64_t trainable = 0;  // parameters the optimizer updates
};

// CPU seconds of this process (all threads), user + system.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One fresh model from the saved weights, `steps` + 1 optimizer steps exactly as Trainer::train_step does them.
// With lora: adapters attached after the weights are copied, and only they train.
RunResult run_ours(const Setup& s, int64_t steps, const model::LoraConfig* lora = nullptr) {
  model::Bagel model(s.cfg);
  {
    torch::NoGradGuard g;
    auto params = model->named_parameters();
    for (auto& item : params) item.value().copy_(s.weights.at(item.key()));
  }
  model->train();
  std::vector<torch::Tensor> params;
  if (lora) {
    model::add_lora(*model, *lora);
    params = model::freeze_all_but_lora(*model);
  } else {
    for (const auto& n : s.trainable) params.push_back(model->named_parameters()[n]);
  }
  train::AdamWOptions o;  // betas 0.9 / 0.95, eps 1e-15, no weight decay (the recipe's)
  train::AdamW opt(params, o, nullptr);
  RunResult r;
  for (const auto& p : params) r.trainable += p.numel();
  double seconds = 0, cpu = 0, fwd_bwd = 0, optim = 0;
  int64_t tokens = 0;
  for (int64_t step = 0; step <= steps; ++step) {
    const auto& b = s.batches[step % s.batches.size()];
    const double c0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    const double n_ce = b.ce_tokens, n_mse = b.mse_tokens;  // grad_accum 1: global counts = this batch's
    auto hidden = model->forward(b.inputs);
    auto terms = train::compute_losses(model, hidden, b);
    auto loss = torch::zeros({}, torch::kFloat32);
    if (b.ce_tokens > 0) loss = loss + kCeWeight * terms.ce_sum / n_ce;
    if (b.mse_tokens > 0) loss = loss + kMseWeight * terms.mse_sum / n_mse;
    loss.backward();
    const double ce = b.ce_tokens > 0 ? terms.ce_sum.item<double>() : 0;
    const double mse = b.mse_tokens > 0 ? terms.mse_sum.item<double>() : 0;
    const double t_fb = since(t0);
    opt.step(kLr, kMaxGradNorm);
    const double dt = since(t0), dc = cpu_seconds() - c0;
    r.losses.push_back((n_ce > 0 ? kCeWeight * ce / n_ce : 0) + (n_mse > 0 ? kMseWeight * mse / n_mse : 0));
    if (step > 0) {
      seconds += dt;
      cpu += dc;
      fwd_bwd += t_fb;
      optim += dt - t_fb;
      tokens += b.num_tokens;
    }
  }
  r.tokens_per_s = tokens / seconds;
  r.tokens_per_cpu_s = tokens / cpu;
  r.step_ms = 1000 * seconds / steps;
  r.fwd_bwd_ms = 1000 * fwd_bwd / steps;
  r.opt_ms = 1000 * optim / steps;
  return r;
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::atof(item.c_str()));
  return out;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// The value after "key=" on its own line of the Python output, or "" when absent.
std::string field(const std::string& out, const std::string& key) {
  const std::string text = "\n" + out;
  const auto pos = text.find("\n" + key + "=");
  if (pos == std::string::npos) return "";
  const auto b = pos + key.size() + 2;
  return text.substr(b, text.find('\n', b) - b);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t steps = argc > 1 ? std::atoll(argv[1]) : 6;
  const std::vector<double> threads_list = parse_list(argc > 2 ? argv[2] : "1,2");
  const int64_t micro_batches = argc > 3 ? std::atoll(argv[3]) : 3;
  const int rounds = argc > 4 ? std::atoi(argv[4]) : 1;
  const std::string variant = argc > 5 ? argv[5] : "compare";
  if (variant != "compare" && variant != "full" && variant != "lora") {
    std::fprintf(stderr, "bench_train: variant must be compare, full or lora (got %s)\n", variant.c_str());
    return 1;
  }
  try {
    sgt::testing::TempDir tmp("bench_train");
    torch::set_num_threads(2);
    const auto t0 = std::chrono::steady_clock::now();
    const Setup s = build_setup(tmp, micro_batches);
    write_setup(s, tmp);
    int64_t tok = 0, ce = 0, mse = 0, numel = 0, vocab_numel = 0;
    for (const auto& n : s.trainable) {
      numel += s.weights.at(n).numel();
      if (n == "language_model.model.embed_tokens.weight" || n == "language_model.lm_head.weight")
        vocab_numel += s.weights.at(n).numel();
    }
    for (const auto& b : s.batches) {
      tok += b.num_tokens;
      ce += b.ce_tokens;
      mse += b.mse_tokens;
    }
    std::printf("train step, tiny recipe (Qwen2-MoT 4x128, vocab 152064, SigLIP 2x64, pixel AE), fp32 CPU\n");
    std::printf("  %.1f M trainable parameters (%.1f M in embed_tokens + lm_head)\n", numel / 1e6, vocab_numel / 1e6);
    std::printf("  %lld micro-batches: %lld tokens (%lld CE, %lld MSE), %lld timed steps after 1 warm-up step; "
                "setup %.1f s\n",
                static_cast<long long>(s.batches.size()), static_cast<long long>(tok), static_cast<long long>(ce),
                static_cast<long long>(mse), static_cast<long long>(steps),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::fflush(stdout);
    if (variant != "compare") {
      model::LoraConfig lc;
      lc.enabled = true;
      lc.r = 16;
      lc.alpha = 32;
      for (double th : threads_list) {
        torch::set_num_threads(static_cast<int>(th));
        const RunResult r = run_ours(s, steps, variant == "lora" ? &lc : nullptr);
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        std::printf("variant %s threads=%d (load %s): %.1f ms/step (fwd+bwd %.1f / optimizer %.1f), %.1f tokens/s, "
                    "%.3f M trainable, step-1 loss %.9g, peak RSS %.0f MB\n",
                    variant.c_str(), static_cast<int>(th), load_average().c_str(), r.step_ms, r.fwd_bwd_ms, r.opt_ms,
                    r.tokens_per_s, r.trainable / 1e6, r.losses.at(0), u.ru_maxrss / 1024.0);
        std::fflush(stdout);
      }
      return 0;
    }
    bool ok = true;
    for (int round = 0; round < rounds; ++round) {
      for (double th : threads_list) {
        const int threads = static_cast<int>(th);
        torch::set_num_threads(threads);
        const RunResult ours = run_ours(s, steps);
        std::string losses;
        for (double l : ours.losses) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.9g", l);
          losses += (losses.empty() ? "" : ",") + std::string(buf);
        }
        auto res = sgt::testing::run_python_tool(
            "train_bench.py", {"--dir", tmp.path(), "--steps", std::to_string(steps), "--threads",
                               std::to_string(threads), "--both", "--cpp-losses", losses});
        const std::string py_tps = field(res.output, "py_tokens_per_s");
        if (res.exit_code != 0 || py_tps.empty()) {
          std::fprintf(stderr, "python reference failed (exit %d):\n%s\n", res.exit_code, res.output.c_str());
          return 1;
        }
        const auto py_losses = parse_list(field(res.output, "py_losses"));
        const double rel1 = std::abs(py_losses.at(0) - ours.losses.at(0)) / std::abs(ours.losses.at(0));
        double rel_max = 0;
        for (size_t i = 0; i < py_losses.size() && i < ours.losses.size(); ++i)
          rel_max = std::max(rel_max, std::abs(py_losses[i] - ours.losses[i]) / std::abs(ours.losses[i]));
        auto num = [&](const std::string& key) { return std::atof(field(res.output, key).c_str()); };
        std::printf("threads=%d round %d (load %s)\n", threads, round + 1, load_average().c_str());
        std::printf("  step-1 loss  ours %.9g  python %.9g  rel diff %.2e %s; max rel diff over %zu steps %.2e\n",
                    ours.losses[0], py_losses.at(0), rel1, rel1 <= 1e-4 ? "(ok <= 1e-4)" : "(FAIL > 1e-4)",
                    py_losses.size(), rel_max);
        std::printf("                       tokens/s  tokens/CPU-s   ms/step (fwd+bwd / optimizer)   ours/python (>1: ours faster)\n");
        std::printf("  ours               : %8.1f  %12.1f  %8.1f (%7.1f / %7.1f)\n", ours.tokens_per_s,
                    ours.tokens_per_cpu_s, ours.step_ms, ours.fwd_bwd_ms, ours.opt_ms);
        for (const std::string impl : {"", "dense_"}) {
          const double t = num("py_" + impl + "tokens_per_s"), c = num("py_" + impl + "tokens_per_cpu_s");
          if (t <= 0) continue;
          std::printf("  python (%-10s): %8.1f  %12.1f  %8.1f (%7.1f / %7.1f)   wall %.3f, CPU %.3f\n",
                      impl.empty() ? "split-wise" : "dense mask", t, c, num("py_" + impl + "step_ms"),
                      num("py_" + impl + "fwd_bwd_ms"), num("py_" + impl + "opt_ms"), ours.tokens_per_s / t,
                      ours.tokens_per_cpu_s / c);
        }
        std::fflush(stdout);
        ok = ok && rel1 <= 1e-4;
      }
    }
    return ok ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
}
