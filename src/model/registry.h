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
#include "text/tokenizer.h"

namespace sgt::model {

struct Architecture {
  std::string name;
  std::string description;
  // JSON in the BagelConfig layout (unknown keys rejected) -> validated config; `where` names the source.
  std::function<BagelConfig(const config::Json&, const std::string& where)> parse;
  std::function<std::shared_ptr<torch::nn::Module>(const BagelConfig&)> build;
  std::function<std::vector<TensorSpec>(const BagelConfig&)> schema;
  // What training and inference run (null: a part only, e.g. the language model alone).
  std::function<Bagel(const BagelConfig&)> build_runnable;
  // A release folder in this architecture's layout: whether `folder` is one, its config, its weights' path.
  std::function<bool(const std::string& folder)> is_release_folder;
  std::function<BagelConfig(const std::string& folder)> folder_config;
  std::function<std::string(const std::string& folder)> folder_weights;
  // The added tokens of the architecture's own release tokenizer end below this id (0: no limit). A newer
  // tokenizer of the same vocabulary (the shipped Qwen3 files) is used without its later added tokens, so that
  // text such as "<think>" gets the ids the release's tokenizer gives it (text::Tokenizer::with_added_tokens_below).
  int64_t added_tokens_below = 0;
};

// The tokenizer as the release of config's architecture tokenizes (Architecture::added_tokens_below).
text::Tokenizer release_tokenizer_view(const BagelConfig& config, const text::Tokenizer& tokenizer);

// "bagel-mot" (the full BAGEL root) and "qwen2-mot" (the language model alone, HF CausalLM names).
const Architecture& find_architecture(const std::string& name);  // throws naming the known ones
std::vector<std::string> architecture_names();
std::vector<std::string> runnable_names();  // those with build_runnable

struct LoadedBagel {
  BagelConfig config;
  Bagel model{nullptr};
};

// The one way to open a model, for training and inference: a release folder (the first architecture whose
// layout it has, e.g. BAGEL-7B-MoT: ema.safetensors + llm_config.json + vit_config.json), or a config JSON whose
// "architecture" (default "bagel-mot") picks the registry entry, with optional weights (a tensor file or folder;
// none: the fresh construction on the host in fp32, which the trainer initialises and moves itself). With weights
// the model is built directly in options.dtype on options.device with its parameters left uninitialised (no fp32
// host copy, model/layers.h), then loaded strictly (load_bagel_weights): zero-copy from the read-only file mapping
// when options.zero_copy and the file's dtype is the one asked for on the host, else copied.
struct ModelSource {
  std::string folder;
  std::string config;
  std::string weights;
};
struct OpenOptions {
  torch::ScalarType dtype = torch::kFloat32;  // kFloat32 or kBFloat16
  torch::Device device = torch::kCPU;
  std::function<void(BagelConfig&)> adjust;   // applied to the parsed config before the model is built
  // Parameters share the checkpoint's read-only mapping where dtype and device allow (inference: nothing writes
  // weights; a write would fault). Training leaves it off: it updates its weights in place.
  bool zero_copy = false;
  // false (understanding only: chat, CV-Bench, POPE): the generation parts are neither built nor read -- the MoT
  // layers become plain Qwen2 layers (their *_moe_gen copies are skipped in the file) and visual_gen is off
  // (time_embedder, vae2llm, llm2vae, latent_pos_embed skipped). About half of BAGEL-7B's weights.
  bool generation = true;
};
LoadedBagel open(const ModelSource& source, const OpenOptions& options = {});
// The architecture whose release-folder layout `path` has; null when it is none (or not a folder).
const Architecture* release_architecture(const std::string& path);
// A config JSON file through the registry entry its "architecture" names.
BagelConfig load_model_config(const std::string& path);
// The runnable model of a config's architecture (fresh weights: libtorch's default construction).
Bagel build_model(const BagelConfig& config);

// Loads <folder>/ema.safetensors (mmap, strict) into a Bagel built from the folder's llm/vit configs, in `dtype`
// (kBFloat16 or kFloat32) on `device`. The sin-cos tables are recomputed; stored copies, when present, must
// agree with them to bf16 precision (a different layout is an error).
LoadedBagel load_bagel_folder(const std::string& folder, torch::ScalarType dtype = torch::kBFloat16,
                              torch::Device device = torch::kCPU);
// Same for any BagelConfig and a tensor file/folder (tests use tiny configs). zero_copy: as OpenOptions; skip:
// file names deliberately not read (patterns with '*').
void load_bagel_weights(Bagel& model, const std::string& path, bool zero_copy = false,
                        const std::vector<std::string>& skip = {});
// The file names of the generation parts (what OpenOptions::generation = false skips).
std::vector<std::string> generation_tensor_patterns();

}  // namespace sgt::model
