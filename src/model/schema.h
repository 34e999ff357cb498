#pragma once
// Expected tensor schema (name -> shape) of a config, computed without building modules (torch-free). Used to check
// the full 7B geometry (docs/model.md, "Checkpoint names and shapes") without allocating it, and to check checkpoint
// files.
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace sgt::model {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

// Qwen2(-MoT) CausalLM tensors under prefix ("" for a bare HF checkpoint, "language_model." inside BAGEL).
std::vector<TensorSpec> llm_tensor_schema(const LLMConfig& c, const std::string& prefix = "");
// SigLIP NaViT tower under prefix (BAGEL: "vit_model.").
std::vector<TensorSpec> vit_tensor_schema(const VisionConfig& c, const std::string& prefix = "");
// Everything in ema.safetensors for this config (language model, ViT + connector + vit_pos_embed when
// visual_und, time embedder + vae2llm + llm2vae + latent_pos_embed when visual_gen), sorted by name.
std::vector<TensorSpec> bagel_tensor_schema(const BagelConfig& c);
int64_t total_numel(const std::vector<TensorSpec>& specs);

}  // namespace sgt::model
