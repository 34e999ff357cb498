#pragma once
// Shared helpers of the infer and eval tests: tiny random-weight BAGEL models, the Qwen tokenizer fixture and
// running the sgt executable.
#include <cstdlib>
#include <map>
#include <string>

#include <torch/torch.h>

#include "core/config.h"
#include "infer/context.h"
#include "io/torch_tensors.h"
#include "model/bagel.h"
#include "model/registry.h"
#include "testing/testing.h"

namespace sgt::infer_testing {

// Every parameter ~ N(0, 0.2^2) (norm weights around 1) except the fixed sin-cos tables.
inline void randomise(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& p : m.named_parameters()) {
    if (p.key().find("pos_embed") != std::string::npos) continue;
    p.value().copy_(torch::randn_like(p.value()) * 0.2 + (p.key().find("norm") != std::string::npos ? 1.0 : 0.0));
  }
}

inline std::string tiny_config_path() { return testing::source_dir() + "/configs/model/tiny-bagel.json"; }

inline model::BagelConfig tiny_config() {
  return model::find_architecture("bagel-mot").parse(config::load_json_file(tiny_config_path()), tiny_config_path());
}

// A random tiny model (configs/model/tiny-bagel.json: real Qwen vocab, pixel VAE).
inline model::Bagel tiny_model(uint64_t seed) {
  model::Bagel m(tiny_config());
  randomise(*m, seed);
  m->eval();
  return m;
}

inline void save_model(model::Bagel& m, const std::string& path) {
  std::map<std::string, torch::Tensor> t;
  for (auto& p : m->named_parameters()) t[p.key()] = p.value().detach().contiguous();
  for (auto& b : m->named_buffers()) t[b.key()] = b.value().detach().contiguous();
  io::save_tensors(path, t, {{"format", "pt"}});
}

inline std::string q(const std::string& s) { return testing::shell_quote(s); }

// Runs `sgt --log-level <level> <args>` with stderr folded into the output.
inline testing::ProcessResult sgt_run(const std::string& args, const std::string& level = "warn") {
  return testing::run_command(q(testing::binary_dir() + "/bin/sgt") + " --log-level " + level + " " + args + " 2>&1");
}

inline std::string tokenizer_path() {
  const char* shared = std::getenv("SGT_SHARED_DIR");
  return (shared ? std::string(shared) : testing::source_dir() + "/../shared") + "/fixtures/qwen-tokenizer/tokenizer.json";
}

// Appends an inference chunk to the packed inputs of a full (training-path) forward: indexes shifted by the
// current length, one split of `mode`.
inline void append(model::BagelPackedInputs& in, std::vector<std::pair<int64_t, model::AttnMode>>& splits,
                   const infer::Chunk& c, model::AttnMode mode) {
  const int64_t s = in.sequence_length;
  auto cat = [](torch::Tensor& a, const torch::Tensor& b) { a = a.defined() ? torch::cat({a, b}) : b; };
  cat(in.packed_text_ids, c.text_ids);
  cat(in.packed_text_indexes, c.text_indexes + s);
  cat(in.packed_position_ids, c.position_ids);
  if (c.vit_patches.defined()) {
    cat(in.packed_vit_tokens, c.vit_patches);
    cat(in.packed_vit_position_ids, c.vit_position_ids);
    cat(in.packed_vit_token_indexes, c.vit_indexes + s);
    in.vit_token_seqlens.push_back(c.vit_patches.size(0));
  }
  if (c.vae_tokens.defined()) {
    cat(in.packed_vae_tokens, c.vae_tokens);
    cat(in.packed_latent_position_ids, c.vae_position_ids);
    cat(in.packed_vae_token_indexes, c.vae_indexes + s);
    cat(in.packed_timesteps, c.vae_timesteps);
  }
  splits.emplace_back(c.length, mode);
  in.sequence_length += c.length;
}

}  // namespace sgt::infer_testing
