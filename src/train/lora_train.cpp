// The trainer's LoRA side (docs/training.md, "LoRA"): adapters attached before the trainable set is collected, so
// the optimizer, EMA and checkpoints hold only them (checkpoints keep the whole model, so resume is a strict load);
// at the end of the run rank 0 writes the adapter folder in PEFT's layout and, on request, merged weights.
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "io/torch_tensors.h"
#include "model/lora.h"
#include "train/trainer.h"

namespace sgt::train {

void Trainer::attach_lora() {
  if (!cfg_.lora.enabled) return;
  const auto paths = model::add_lora(*model_, cfg_.lora);
  const auto params = model::freeze_all_but_lora(*model_);
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  log::info("train: LoRA r {} alpha {} on {} modules ({} adapter parameters); base frozen", cfg_.lora.r,
            cfg_.lora.alpha, paths.size(), n);
}

void Trainer::seed_lora_dropout() {
  // LoRA dropout draws from the global generator: reseeded from (seed, step, rank) at every step, so a resumed
  // run draws the masks of the uninterrupted one.
  if (!cfg_.lora.enabled || cfg_.lora.dropout <= 0.0) return;
  torch::manual_seed(Rng::derive(cfg_.seed ^ 0x10aa0ULL, static_cast<uint64_t>(step_ * world_ + rank_)).next_u64());
}

void Trainer::write_lora_outputs() const {
  if (!cfg_.lora.enabled || rank_ != 0) return;
  const std::string adapter = cfg_.run_dir + "/adapter";
  model::save_lora(*model_, cfg_.lora, adapter, cfg_.init_from);
  log::info("train: LoRA adapter (PEFT layout) written to {}", adapter);
  if (cfg_.merge_lora) {
    const std::string merged = cfg_.run_dir + "/merged";
    std::filesystem::create_directories(merged);
    io::save_tensors(merged + "/model.safetensors", model::merged_state_dict(*model_));
    log::info("train: merged weights (W + scaling * B A) written to {}/model.safetensors", merged);
  }
}

}  // namespace sgt::train
