#include "train/world_recipe.h"

namespace sgt::train {

data::WorldConfig tune_world_config() {
  data::WorldConfig w;
  w.seed = 0;
  w.train = 1024;
  w.heldout = 32;
  w.min_side = 96;
  w.max_side = 96;
  w.max_objects = 4;
  w.samples_per_shard = 256;
  return w;
}

std::string tune_model_json() {
  return R"({
  "architecture": "bagel-mot",
  "llm": {"vocab_size": 152064, "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
          "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 1000000.0, "qk_norm": true,
          "layer_module": "Qwen2MoTDecoderLayer"},
  "vit": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "image_size": 980, "patch_size": 14},
  "vae": {"kind": "pixel", "pixel_patch": 4, "in_channels": 3},
  "latent_patch_size": 1,
  "prediction": "x0",
  "max_latent_size": 32,
  "vit_max_num_patch_per_side": 70
}
)";
}

namespace {

TrainConfig world_common(const std::string& run_dir, const std::string& world_dir, const std::string& model_config,
                         data::ProxyTaskKind proxy_task) {
  TrainConfig c;
  c.model_config = model_config;
  c.run_dir = run_dir;
  const std::string train_shards = world_dir + "/train/world-train-{000000..000003}.tar";
  SourceConfig seg;
  seg.name = name_of(proxy_task);
  seg.kind = SourceKind::kProxy;
  seg.shards = {train_shards};
  seg.weight = 3;
  seg.task.task = proxy_task;
  // Painter's colouring (colour from the instance's centroid), not SAM's random colours: a target the tiny model
  // can predict from the input. With random colours each instance's colour is a guess the sampler must commit to
  // across every token of the object; the tiny model mixes colours instead (docs/training.md).
  if (proxy_task == data::ProxyTaskKind::kSegment) seg.task.color_mode = data::ColorMode::kPosition;
  SourceConfig vqa;
  vqa.name = "vqa";
  vqa.kind = SourceKind::kVqa;
  vqa.shards = {train_shards};
  vqa.weight = 1;
  vqa.mandatory = true;
  c.data.sources = {seg, vqa};
  // ViT 84 px = 6 x 6 patches of 14; target 24 px = 6 x 6 latent tokens of 4 x 4 x 3 = 48 values (< hidden 128,
  // so the model can carry x_t through, which flow matching needs). Equal ViT and latent grids give the same 2D
  // sin-cos position vector to a latent token and the ViT patch over the same place (measured: a 12 x 12 target
  // grid learnt no more in the same time and cost twice the step; docs/training.md).
  c.data.sizes.vit_side = 84;
  c.data.sizes.vae_side = 24;
  c.data.sizes.vae_stride = 4;
  c.data.packing.expected_num_tokens = 1024;
  c.data.packing.max_num_tokens = 1280;
  c.data.packing.max_num_tokens_per_sample = 1024;
  c.data.packing.prefer_buffer_before = 1024;
  // No condition dropout: the held-out measurement samples without CFG, and every dropped ViT image is a sample
  // that cannot teach the model to read its input (docs/training.md, runs Y1 / S2).
  c.data.packing.text_cond_dropout_prob = 0.0;
  c.data.packing.vit_cond_dropout_prob = 0.0;
  c.data.packing.vae_cond_dropout_prob = 0.0;
  c.data.packing.vae_max_latent_side = 32;  // tiny config: max_latent_size 32
  c.data.decode_threads = 1;
  // Most training at high noise, where x_t says nothing about the target and only the ViT tokens can: with the
  // default shift 1 the tiny model never learnt to read the input's layout (docs/training.md).
  c.timestep_shift = 8.0;
  c.lr.kind = LrKind::kCosine;
  c.lr.lr = 2e-3;
  c.lr.min_lr = 2e-4;
  c.lr.warmup_steps = 50;
  c.ema_decay = 0.99;  // a short run: the average must move within a few hundred steps
  c.save_every = 400;
  c.log_every = 10;
  // The two 152064 x 128 vocabulary matrices are 39 M of the 41 M parameters; the world uses a few hundred token
  // ids, so their AdamW update (two thirds of a step's time) buys nothing here. Everything else trains.
  c.freeze_params = {"language_model.model.embed_tokens.", "language_model.lm_head."};
  c.seed = 4396;
  c.data_seed = 42;
  return c;
}

}  // namespace

TrainConfig world_pretrain_config(const std::string& run_dir, const std::string& world_dir,
                                  const std::string& model_config) {
  TrainConfig c = world_common(run_dir, world_dir, model_config, data::ProxyTaskKind::kRecon);
  c.steps = 400;
  c.lr.total_steps = 1200;  // the first third of a 1200-step cosine, as in the measured run (Y1)
  c.init_scheme = "siglip+mimetic+cross+centred";
  c.copy_init_moe = true;
  return c;
}

TrainConfig world_tune_config(const std::string& run_dir, const std::string& world_dir,
                              const std::string& model_config) {
  TrainConfig c = world_common(run_dir, world_dir, model_config, data::ProxyTaskKind::kSegment);
  c.steps = 800;
  c.lr.total_steps = 800;
  return c;
}

}  // namespace sgt::train
