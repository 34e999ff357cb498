// One image-sampler step with dual CFG over KV caches on CPU (docs/inference.md, "Image sampler"): ours
// (sgt::infer::sample_latents, three branches of [<|vision_start|>, N latents, <|vision_end|>] against cached
// contexts) against the same step in PyTorch-Python (tools/infer_ref.py), same geometry and thread count.
// Each branch's context is a prefilled text context of `context` tokens (prefill not timed).
// Prints per-step medians, peak RSS of each process, and the ratio ours / python (< 1: we are faster).
// Usage: bench_infer_step tiny|1b [tokens=64] [context=64] [steps=4] [threads=2]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/torch.h>

#include "infer/generate.h"
#include "testing/testing.h"

using namespace sgt;

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "tiny";
  const int64_t tokens = argc > 2 ? std::atoll(argv[2]) : 64;
  const int64_t context = argc > 3 ? std::atoll(argv[3]) : 64;
  const int64_t steps = argc > 4 ? std::atoll(argv[4]) : 4;
  const int threads = argc > 5 ? std::atoi(argv[5]) : 2;
  torch::set_num_threads(threads);
  torch::NoGradGuard ng;
  model::BagelConfig c;
  c.visual_und = false;
  c.vit.image_size = 980;  // config validation wants the 70-side table even without the ViT
  c.vae.z_channels = 16;  // latent token 64 wide, as the FLUX AE
  c.llm.vocab_size = 1024;
  if (which == "tiny") {  // configs/model/tiny-bagel.json's LLM
    c.llm.hidden_size = 64; c.llm.intermediate_size = 128; c.llm.num_hidden_layers = 2;
    c.llm.num_attention_heads = 4; c.llm.num_key_value_heads = 2;
  } else if (which == "1b") {  // Qwen2.5-0.5B geometry, two experts (MoT): ~0.9 B parameters in the decoder
    c.llm.hidden_size = 896; c.llm.intermediate_size = 4864; c.llm.num_hidden_layers = 24;
    c.llm.num_attention_heads = 14; c.llm.num_key_value_heads = 2;
  } else {
    std::fprintf(stderr, "usage: bench_infer_step tiny|1b [tokens] [context] [steps] [threads]\n");
    return 2;
  }
  c.validate();
  torch::manual_seed(0);
  model::Bagel m(c);
  m->eval();
  int64_t params = 0;
  for (const auto& p : m->parameters()) params += p.numel();
  infer::Markers mk{1, 2, 3, 4};
  infer::CfgContexts ctx;
  std::vector<int64_t> ids(static_cast<size_t>(context - 2));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 10 + static_cast<int64_t>(i % 1000);
  infer::add_text(m, ctx.full, ids, mk);
  ctx.no_text = ctx.full;
  ctx.no_img = ctx.full;
  infer::ImageGenOptions opt;
  opt.steps = steps + 1;
  opt.cfg_interval_lo = 0.0;  // every step guided: three branches each
  std::vector<double> times;
  auto last = std::chrono::steady_clock::now();
  const int64_t side = static_cast<int64_t>(std::sqrt(static_cast<double>(tokens)));
  infer::sample_latents(m, ctx, side, tokens / side, opt, mk, [&](int64_t, int64_t) {
    auto now = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double>(now - last).count());
    last = now;
  });
  std::sort(times.begin(), times.end());
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double ours = times[times.size() / 2], ours_rss = ru.ru_maxrss / 1024.0;
  auto r = testing::run_python_tool(
      "infer_ref.py", {"--hidden", std::to_string(c.llm.hidden_size), "--layers", std::to_string(c.llm.num_hidden_layers),
                       "--heads", std::to_string(c.llm.num_attention_heads), "--kv-heads",
                       std::to_string(c.llm.num_key_value_heads), "--intermediate",
                       std::to_string(c.llm.intermediate_size), "--latent-dim", "64", "--context",
                       std::to_string(context), "--tokens", std::to_string(side * (tokens / side)), "--steps",
                       std::to_string(steps), "--threads", std::to_string(threads)});
  double py = 0, py_rss = 0;
  if (r.exit_code == 0) {
    auto p = r.output.find("\"step_median_s\": ");
    auto q = r.output.find("\"peak_rss_mib\": ");
    if (p != std::string::npos) py = std::atof(r.output.c_str() + p + 17);
    if (q != std::string::npos) py_rss = std::atof(r.output.c_str() + q + 16);
  } else {
    std::fprintf(stderr, "python reference failed:\n%s\n", r.output.c_str());
  }
  std::printf("config %s (%.1f M params), N=%lld latent tokens, context %lld, threads %d, %lld steps\n", which.c_str(),
              params / 1e6, static_cast<long long>(side * (tokens / side)), static_cast<long long>(context), threads,
              static_cast<long long>(steps));
  std::printf("ours   step %.4f s  peak RSS %.0f MiB\n", ours, ours_rss);
  std::printf("python step %.4f s  peak RSS %.0f MiB\n", py, py_rss);
  if (py > 0) std::printf("ratio ours/python %.2f\n", ours / py);
  return 0;
}
