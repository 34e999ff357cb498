#pragma once
// The tiny world and TrainConfig shared by the trainer tests (CPU, Gloo ranks, CUDA).
#include <string>

#include "data/world.h"
#include "testing/testing.h"
#include "train/trainer.h"
#include "train/world_recipe.h"

namespace sgt::train::test {

// `train` 48 x 48 scenes (up to 3 objects) in shards of 16, plus 4 held-out, rendered into `dir`.
inline void write_tiny_world(const std::string& dir, int64_t train) {
  data::WorldConfig w;
  w.seed = 3;
  w.train = train;
  w.heldout = 4;
  w.min_side = 48;
  w.max_side = 48;
  w.max_objects = 3;
  w.samples_per_shard = 16;
  data::write_world(dir, w, 2);
}

// The tune recipe shrunk to the tiny world: 42 px ViT (3 x 3 patches), 48 px VAE (3 x 3 tokens), packs of ~256
// tokens, `shards` (a brace pattern) as every source's data; constant LR 1e-3, a metrics line per step.
inline TrainConfig tiny_config(const std::string& run_dir, const std::string& world_dir, const std::string& shards,
                               int64_t steps, int64_t save_every) {
  auto c = world_tune_config(run_dir, world_dir, sgt::testing::source_dir() + "/configs/model/tiny-bagel.json");
  for (auto& s : c.data.sources) s.shards = {world_dir + "/train/" + shards};
  c.data.sizes.vit_side = 42;
  c.data.sizes.vae_side = 48;
  c.data.sizes.vae_stride = 16;  // tiny-bagel.json: pixel AE patch 8 x latent patch 2
  c.data.packing.expected_num_tokens = 200;
  c.data.packing.max_num_tokens = 320;
  c.data.packing.max_num_tokens_per_sample = 320;
  c.data.packing.prefer_buffer_before = 200;
  c.data.shuffle_buffer = 8;
  c.steps = steps;
  c.save_every = save_every;
  c.lr.kind = LrKind::kConstant;
  c.lr.lr = 1e-3;
  c.lr.warmup_steps = 0;
  c.log_every = 1;
  return c;
}

}  // namespace sgt::train::test
