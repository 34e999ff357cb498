#pragma once
// Shared helpers of the model parity tests.
#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "model/config.h"

namespace sgt::model::test {

// A tiny BAGEL (2 + 2 layers, hidden 32 / 16, 64-token vocab, FLUX-style VAE with 4 latent channels) for the
// packing, caching and MoT tests; the real 70 x 70 ViT position grid (cheap at hidden 16).
inline BagelConfig tiny_bagel() {
  BagelConfig c;
  c.llm.vocab_size = 64;
  c.llm.hidden_size = 32;
  c.llm.intermediate_size = 48;
  c.llm.num_hidden_layers = 2;
  c.llm.num_attention_heads = 4;
  c.llm.num_key_value_heads = 2;
  c.vit.hidden_size = 16;
  c.vit.intermediate_size = 24;
  c.vit.num_hidden_layers = 2;
  c.vit.num_attention_heads = 2;
  c.vit.image_size = 980;
  c.vit.patch_size = 14;
  c.vae.z_channels = 4;  // latent token = 2*2*4 = 16
  c.max_latent_size = 8;
  c.validate();
  return c;
}

// The parity measure of the model tests: max |a - b| / max |b| (b is the reference).
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

// Prints the measured error as "[parity] <what> rel_err=..." so the reports can quote it; returns it.
inline double logged(const std::string& what, double e) {
  std::printf("[parity] %s rel_err=%.3g\n", what.c_str(), e);
  return e;
}

}  // namespace sgt::model::test
