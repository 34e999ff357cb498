#pragma once
// One model registry: architecture name -> config parser, factory and expected tensor schema; plus loading of a
// model folder in the BAGEL-7B-MoT layout (ema.safetensors, llm_config.json, vit_config.json).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/bagel.h"
#include "model/config.h"
#include "model/schema.h"

namespace sgt::model {

struct Architecture {
  std::string name;
  std::string description;
  // JSON in the BagelConfig layout (unknown keys rejected) -> validated config; `where` names the source.
  std::function<BagelConfig(const config::Json&, const std::string& where)> parse;
  std::function<std::shared_ptr<torch::nn::Module>(const BagelConfig&)> build;
  std::function<std::vector<TensorSpec>(const BagelConfig&)> schema;
};

// "bagel-mot" (the full BAGEL root) and "qwen2-mot" (the language model alone, HF CausalLM names).
const Architecture& find_architecture(const std::string& name);  // throws naming the known ones
std::vector<std::string> architecture_names();

struct LoadedBagel {
  BagelConfig config;
  Bagel model{nullptr};
};

// Loads <folder>/ema.safetensors (mmap, strict) into a Bagel built from the folder's llm/vit configs, in `dtype`
// (kBFloat16 or kFloat32) on `device`. The sin-cos tables are recomputed; stored copies, when present, must
// agree with them to bf16 precision (a different layout is an error).
LoadedBagel load_bagel_folder(const std::string& folder, torch::ScalarType dtype = torch::kBFloat16,
                              torch::Device device = torch::kCPU);
// Same for any BagelConfig and a tensor file/folder (tests use tiny configs).
void load_bagel_weights(Bagel& model, const std::string& path);

}  // namespace sgt::model
