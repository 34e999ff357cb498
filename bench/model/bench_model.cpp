// Forward + backward of a small Qwen2 text config on CPU: ours (dense-mask and split-wise attention paths,
// und routing) against HF transformers Qwen2ForCausalLM in PyTorch-Python (tools/model_bench.py), same
// geometry, same thread count. Prints the medians and the ratio ours / python (< 1: we are faster).
// Usage: bench_model [seq=512] [reps=5] [threads=1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/torch.h>

#include "model/qwen2.h"
#include "testing/testing.h"

using namespace sgt::model;

int main(int argc, char** argv) {
  const int64_t seq = argc > 1 ? std::atoll(argv[1]) : 512;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  torch::set_num_threads(threads);
  LLMConfig c;
  c.vocab_size = 2048;
  c.hidden_size = 256;
  c.intermediate_size = 704;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 2;
  c.qk_norm = false;  // the HF Qwen2 reference has none
  c.layer_module = LayerModule::kDense;
  torch::manual_seed(0);
  Qwen2ForCausalLM lm(c);
  lm->train();
  auto ids = torch::randint(0, c.vocab_size, {seq});
  PackedForward in;
  in.position_ids = torch::arange(seq);
  in.layout = PackLayout::from_samples({{{seq, AttnMode::kCausal}}});
  auto time_impl = [&](AttentionImpl impl) {
    in.impl = impl;
    std::vector<double> ms;
    for (int i = 0; i <= reps; ++i) {
      lm->zero_grad(true);
      auto t0 = std::chrono::steady_clock::now();
      lm(ids, in).square().mean().backward();
      const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i > 0) ms.push_back(dt);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  const double dense = time_impl(AttentionImpl::kDense), split = time_impl(AttentionImpl::kSplitwise);
  auto res = sgt::testing::run_python_tool(
      "model_bench.py", {"--hidden", "256", "--intermediate", "704", "--layers", "4", "--heads", "8", "--kv-heads", "2",
                         "--vocab", "2048", "--seq", std::to_string(seq), "--reps", std::to_string(reps),
                         "--threads", std::to_string(threads)});
  const auto pos = res.output.find("py_ms=");
  if (res.exit_code != 0 || pos == std::string::npos) {
    std::fprintf(stderr, "python reference failed:\n%s\n", res.output.c_str());
    return 1;
  }
  const double py = std::atof(res.output.c_str() + pos + 6);
  std::printf("qwen2 fwd+bwd seq=%lld hidden=256 layers=4 threads=%d (median of %d)\n", static_cast<long long>(seq),
              threads, reps);
  std::printf("  ours dense-mask : %9.2f ms  ratio ours/python %.3f\n", dense, dense / py);
  std::printf("  ours split-wise : %9.2f ms  ratio ours/python %.3f\n", split, split / py);
  std::printf("  python (HF sdpa): %9.2f ms\n", py);
  return 0;
}
