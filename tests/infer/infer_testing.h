#pragma once
// Shared helpers of the infer and eval tests: tiny random-weight BAGEL models, the Qwen tokenizer fixture and
// running the sgt executable.
#include <cstdlib>
#include <map>
#include <string>

#include <torch/torch.h>

#include "core/config.h"
#include "data/image.h"
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

inline std::string tokenizer_path() { return testing::asset("qwen-tokenizer/tokenizer.json"); }

// The CLI tests' fixture: a random tiny model (seed 4) saved as dir/tiny.safetensors and a 50 x 37 test pattern as
// dir/in.png. Returns the model arguments of every sgt inference command (trailing space included).
inline std::string write_tiny_model_and_image(const testing::TempDir& dir) {
  {
    auto m = tiny_model(4);
    save_model(m, dir.file("tiny.safetensors"));
  }
  data::Image in(50, 37, 3);
  for (size_t i = 0; i < in.pixels.size(); ++i) in.pixels[i] = static_cast<uint8_t>((i * 37) % 251);
  data::write_png(dir.file("in.png"), in);
  return "--config " + q(tiny_config_path()) + " --weights " + q(dir.file("tiny.safetensors")) + " --tokenizer " +
         q(tokenizer_path()) + " --no-progress ";
}

// The training-path layout of an inference chunk (infer::append_to_pack).
inline void append(model::BagelPackedInputs& in, std::vector<std::pair<int64_t, model::AttnMode>>& splits,
                   const infer::Chunk& c, model::AttnMode mode) {
  infer::append_to_pack(in, splits, c, mode);
}

}  // namespace sgt::infer_testing
