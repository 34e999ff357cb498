#pragma once
// From a packed sequence (data::Pack) and its decoded samples to the model's inputs and the loss targets
// (docs/model.md, "Packed sequences" to "Loss"). Flow matching on VAE latents: for a noisy image with raw draw
// r ~ N(0,1),
//   t = sigmoid(r), then shifted t' = s*t / (1 + (s-1)*t)        (timestep_shift s; 1 = no shift)
//   x_t = (1 - t')*x0 + t'*eps,  target velocity = eps - x0,     eps ~ N(0, I) from the batch generator
// Clean (condition) images get t = 0 and x_t = x0. ViT images become (py, px, c) patches in [-1, 1].
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/packing.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "train/samples.h"

namespace sgt::train {

// The decoder's attention implementation for training (BatchOptions::attention): one of model::AttentionImpl, or
// auto (chosen per pack).
enum class AttentionChoice { kAuto, kDense, kSplitwise, kPacked };
constexpr auto enum_names(AttentionChoice) {
  using A = AttentionChoice;
  return std::array{EnumName{A::kAuto, "auto"}, EnumName{A::kDense, "dense"}, EnumName{A::kSplitwise, "splitwise"},
                    EnumName{A::kPacked, "packed"}};
}

struct TrainBatch {
  model::BagelPackedInputs inputs;
  torch::Tensor ce_indexes;   // int64 [N_ce]  sequence positions whose hidden state predicts ce_labels
  torch::Tensor ce_labels;    // int64 [N_ce]
  torch::Tensor mse_indexes;  // int64 [N_mse] sequence positions of noisy latent tokens
  torch::Tensor mse_targets;  // float [N_mse, patch_latent_dim]  eps - x0
  torch::Tensor mse_inputs;   // float [N_mse, patch_latent_dim]  x_t of those tokens (x0-prediction models)
  torch::Tensor mse_timesteps;  // float [N_mse]  their t
  int64_t ce_tokens = 0, mse_tokens = 0, num_tokens = 0, num_samples = 0;
};

struct BatchOptions {
  double timestep_shift = 1.0;
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;  // dtype of the float inputs (params' dtype)
  bool checkpoint = false;                     // activation checkpointing in the forward
  // The decoder's attention implementation (model/attention.h): "splitwise", "dense", "packed", or "auto" =
  // packed on CUDA when the pack's attention scores (L^2 x heads) stay under kAutoPackedMaxScores, otherwise
  // splitwise. On a GPU the per-split loop is launch-bound (tiny world on an H100: 72.8 ms per step packed vs 210.9
  // split-wise) while a masked attention call may fall back to the math kernel that keeps all L^2 x heads scores
  // for backward (BAGEL-7B, 28 heads, at 4 K tokens: 1.9 GB per layer); on the CPU the loop costs little and the
  // O(L^2) scores cost more (0.32 vs 0.23 s per step of the tiny world, docs/benchmarks.md).
  AttentionChoice attention = AttentionChoice::kAuto;
  // Given noise instead of draws (`sgt eval loss --noise`, docs/eval.md): when set, eps of the noisy VAE image
  // pack.vae_images[k] is noise(k, x0) (float [n_tokens, patch_latent_dim], the shape of its clean latent tokens x0)
  // and `gen` is not used for it. The trainer leaves it empty: eps ~ N(0, I) from gen, in pack order.
  std::function<torch::Tensor(int64_t vae_image, const torch::Tensor& x0)> noise;
  // Called with every VAE image's encoded latent [C, H/f, W/f] (k as above) before it is patchified: what BAGEL's
  // Bagel.forward takes as padded_latent (the --save-inputs export).
  std::function<void(int64_t vae_image, const torch::Tensor& latent)> on_latent;
  static constexpr int64_t kAutoPackedMaxScores = int64_t{1} << 26;  // 64 M scores: 256 MB in fp32 per layer
};
// The implementation BatchOptions::attention picks for a pack of `length` tokens and a decoder of `heads` query
// heads on `device`.
model::AttentionImpl pick_attention(AttentionChoice attention, int64_t length, int64_t heads, torch::Device device);
model::AttentionImpl pick_attention(const std::string& attention, int64_t length, int64_t heads,
                                    torch::Device device);  // by name

// samples[i] is the decoded sample of pack.sample_keys[i]. gen draws eps (seeded per micro-batch by the trainer)
// unless opt.noise gives it; the raw timestep draws are the pack's (PackedImage::timestep_raw).
TrainBatch build_batch(const data::Pack& pack, const std::vector<const TrainSample*>& samples,
                       const model::BagelConfig& cfg, model::AutoEncoder& ae, torch::Generator& gen,
                       const BatchOptions& opt);

// The BAGEL timestep shift applied to t in (0, 1).
double shift_timestep(double t, double shift);

}  // namespace sgt::train
