#pragma once
// Initialisation schemes for models trained from scratch (the tiny world configs). A released BAGEL starts from
// Qwen2.5 + SigLIP weights; a random tiny model has no such start, so two cheap, published stand-ins are offered:
//  - copy_init_moe: every "*_moe_gen" tensor starts as a copy of its understanding twin (BAGEL's `init_moe`,
//    used when the MoT generation expert is created from the LLM);
//  - mimetic_qk_init: "mimetic initialisation" of self-attention (Trockman & Kolter, ICML 2023): W_q is set
//    close to W_k (per key/value group), so W_q W_k^T is dominated by a positive semi-definite term and attention
//    starts out favouring tokens similar to the query. In BAGEL's layout the latent token at (r, c) and the ViT
//    patch at (r, c) carry the same 2D sin-cos position vector, so this makes "look at the same place" the initial
//    attention pattern instead of something a random model must discover.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/bagel.h"

namespace sgt::model {

// Copies each "<prefix>X_moe_gen<suffix>" parameter from "<prefix>X<suffix>". Throws sgt::Error when a twin is
// missing or mis-shaped. Returns the number of tensors copied.
int64_t copy_init_moe(Bagel& m);

// For every attention block (Qwen2 q_proj/k_proj, their *_moe_gen twins, SigLIP q_proj/k_proj):
//   W_q[head h] <- W_k[group of h] + noise_scale * W_q[head h]   (rows of head_dim; group = h / (H / H_kv)),
// and the q bias likewise from the k bias. Returns the number of q projections rewritten.
int64_t mimetic_qk_init(Bagel& m, double noise_scale = 0.5);

// SigLIP's own initialisation of its embeddings (transformers' SiglipPreTrainedModel._init_weights): position
// embedding ~ N(0, 1/width), patch embedding LeCun-normal, zero bias. libtorch's Embedding default is N(0, 1), which
// makes the random position vector ~10x the patch content, so the ViT tokens start out saying "where" much more
// loudly than "what". Returns the number of tensors set (0: the model has no ViT).
int64_t siglip_reference_init(Bagel& m);

// Data-dependent centring of the q/k projections (like LSUV's data-dependent init), for use after mimetic_qk_init +
// copy_init_moe: one forward over a real packed batch measures, per decoder layer, the mean input after the layer's
// RMSNorm over the understanding tokens `und_index` (the ViT tokens) and over the generation tokens `gen_index` (the
// noisy latents); each expert's q and k biases are then set to -W * mean, so q . k compares how tokens *deviate*
// from their kind's mean. On small grids the 2D sin-cos position vectors of all cells are nearly parallel (a 6 x 6
// grid: cosine >= 0.85 between any two cells); their common part would otherwise dominate every score and hide
// "same place". Returns the number of layers centred.
int64_t centre_qk_biases(Bagel& m, const BagelPackedInputs& batch, const torch::Tensor& und_index,
                         const torch::Tensor& gen_index);

// Re-draws the generation expert's key projections (k_proj_moe_gen weight and bias) with libtorch's Linear
// defaults. After mimetic + copy_init_moe the generation queries mimic the understanding keys *and* the generation
// keys, so a noisy latent attends mostly to itself; with its own keys random, its strongest initial match is the
// understanding (ViT) token at the same place. Returns the number of layers changed.
int64_t redraw_gen_keys(Bagel& m);

// "default" | "siglip" | "mimetic" | "cross" | "centred", several joined with '+'. Throws on an unknown part.
std::vector<std::string> split_scheme(const std::string& scheme);
// The weight-only parts that need nothing else (siglip, mimetic), left to right; cross and centred are skipped
// (initialise below applies them where they belong).
void apply_init_scheme(Bagel& m, const std::string& scheme);

// A real packed batch for the data-dependent part of an init: the inputs and which tokens are understanding (ViT)
// and generation (noisy latent) tokens.
struct InitProbe {
  BagelPackedInputs inputs;
  torch::Tensor und_index, gen_index;
};

// The whole initialisation of a model trained from scratch, in its one valid order:
//   1. the scheme's siglip / mimetic parts (left to right);
//   2. copy_init_moe when `copy_moe`;
//   3. cross (after the copy, which it partly undoes);
//   4. centred: `probe()` is called for one batch (only then), and the q/k biases are centred on it.
// The scheme is parsed once, here. Returns a one-line summary for the log.
std::string initialise(Bagel& m, const std::string& scheme, bool copy_moe,
                       const std::function<InitProbe()>& probe);

}  // namespace sgt::model
