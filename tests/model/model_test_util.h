#pragma once
// Shared helpers of the model parity tests.
#include <algorithm>
#include <cstdio>
#include <vector>
#include <string>

#include <torch/torch.h>

#include "model/bagel.h"
#include "model/config.h"
#include "model/siglip.h"

namespace sgt::model::test {

// A tiny BAGEL (2 + 2 layers, hidden 32 / 16, 64-token vocab, FLUX-style VAE with 4 latent channels) for the
// packing, caching and MoT tests; the real 70 x 70 ViT position grid (cheap at hidden 16).
// Mirrors TINY_LLM in tools/model_ref.py.
inline LLMConfig tiny_llm(bool qk_norm) {
  LLMConfig c;
  c.vocab_size = 128;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  c.qk_norm = qk_norm;
  return c;
}

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

// Two packed samples for the tiny BAGEL (random content, fixed layout):
// Sample 0 (editing): [VS vit x4 VE](pos 0, full) [IS t t IE](pos 1..4, causal) [VS vae x4 VE](pos 5, noise)
//                     [IS t IE](pos 5..7, causal)
// Sample 1 (t2i):     [IS t IE](0..2) [VS vae x4 VE](pos 3, noise)
// ViT tokens at sequence positions 1..4, VAE tokens at 11..14 and 23..26.
inline BagelPackedInputs two_sample_pack(const BagelConfig& c) {
  BagelPackedInputs in;
  in.layout = PackLayout::from_samples(
      {{{6, AttnMode::kFull}, {4, AttnMode::kCausal}, {6, AttnMode::kNoise}, {3, AttnMode::kCausal}},
       {{3, AttnMode::kCausal}, {6, AttnMode::kNoise}}});
  in.sequence_length = in.layout.total_len();
  std::vector<int64_t> vit_idx = {1, 2, 3, 4}, vae_idx = {11, 12, 13, 14, 23, 24, 25, 26}, text_idx;
  for (int64_t i = 0; i < in.sequence_length; ++i)
    if (std::find(vit_idx.begin(), vit_idx.end(), i) == vit_idx.end() &&
        std::find(vae_idx.begin(), vae_idx.end(), i) == vae_idx.end())
      text_idx.push_back(i);
  in.packed_text_indexes = torch::tensor(text_idx);
  in.packed_text_ids = torch::randint(0, c.llm.vocab_size, {static_cast<int64_t>(text_idx.size())});
  in.packed_position_ids = torch::tensor({0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 6, 7,  //
                                          0, 1, 2, 3, 3, 3, 3, 3, 3});
  in.packed_vit_tokens = torch::randn({4, c.vit.patch_dim()});
  in.packed_vit_position_ids = vit_position_ids(2, 2, c.vit_max_num_patch_per_side);
  in.packed_vit_token_indexes = torch::tensor(vit_idx);
  in.vit_token_seqlens = {4};
  in.packed_vae_tokens = torch::randn({8, c.patch_latent_dim()});
  in.packed_latent_position_ids = torch::tensor({0, 1, 8, 9, 0, 1, 8, 9});
  in.packed_vae_token_indexes = torch::tensor(vae_idx);
  in.packed_timesteps = torch::full({8}, 0.7);
  return in;
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
