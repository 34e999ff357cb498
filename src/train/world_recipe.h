#pragma once
// The built-in recipe of `sgt tune` with no arguments: SGT tuning of the tiny BAGEL config on the synthetic world,
// sized to finish on 2 CPU cores in a few minutes (uses libtorch: it returns TrainConfigs of train/trainer.h).
//   world     1024 train + 32 held-out scenes, 96 x 96, 1-4 shapes
//   stage 1   recon (weight 3) + vqa, 400 steps, fresh weights (init schemes of model/init.h)
//   stage 2   segment (the proxy task, weight 3) + vqa (world CV-Bench questions, weight 1, in every micro-batch),
//             800 steps from stage 1's weights; both stages at timestep shift 8
//   images    ViT 84 x 84 (6 x 6 patches of 14), VAE 24 x 24 (pixel AE patch 4, latent patch 1: 6 x 6 tokens of
//             48 values)
//   model     Qwen2-MoT 4 x 128, predicting x0 (model/config.h: with tokens this wide for the hidden size, a
//             velocity head leaves the noise it cannot carry through as per-pixel speckle)
#include <cstdint>
#include <string>

#include "data/world.h"
#include "train/trainer.h"

namespace sgt::train {

data::WorldConfig tune_world_config();
// The embedded tiny BAGEL-architecture config of the recipe (BagelConfig JSON text): Qwen2-MoT 4 x 128 with the
// real Qwen vocabulary, SigLIP 2 x 64, the pixel autoencoder (patch 4).
std::string tune_model_json();
// Timestep shift of the recipe's held-out sampler. Training is at shift 8 (most steps at high noise, where only the
// input image tells the model where the objects are); sampling at shift 1 spends the late steps at low noise,
// where an x0-prediction model sharpens the object boundaries that its high-noise predictions blur
// (docs/training.md).
constexpr double kWorldEvalShift = 1.0;
// Smallest predicted colour region the recipe's matched-instance IoU counts. Its targets are 24 x 24 (one pixel =
// 4 x 4 scene pixels) and half of the held-out instances cover fewer than 20 of those pixels, so the default 16-pixel
// speck filter (eval/seg_metrics.h) would drop most of them whatever the model draws.
constexpr int64_t kWorldSegMinPixels = 4;
// world_dir holds train/ and heldout/ shards (data::write_world); model_config the tiny BagelConfig JSON.
// Stage 2, the SGT tuning itself: segment + VQA, starting from stage 1's weights (set init_from).
TrainConfig world_tune_config(const std::string& run_dir, const std::string& world_dir, const std::string& model_config);
// Stage 1, standing in for BAGEL's pre-training: reconstruction + VQA from fresh weights, trained at high noise
// (timestep shift 8), which teaches the tiny model to read the ViT tokens by position (docs/training.md: a random
// model trained on segmentation alone learns to ignore its input image).
TrainConfig world_pretrain_config(const std::string& run_dir, const std::string& world_dir,
                                  const std::string& model_config);

}  // namespace sgt::train
