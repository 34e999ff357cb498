#pragma once
// LoRA adapters on the decoder's projections (docs/training.md, "LoRA"), with PEFT's semantics and file layout
// (PEFT tuners/lora/layer.py LoraLayer.update_layer / Linear.forward / get_delta_weight, utils/save_and_load.py
// get_peft_model_state_dict, config.py PeftConfigMixin.save_pretrained):
//   y = W x + b + scaling * B (A dropout(x)),  A [r, in] kaiming-uniform(a=sqrt5), B [out, r] zeros,
//   scaling = alpha / r (alpha / sqrt(r) with rslora); merge: W += scaling * B @ A.
// The adapter folder is PEFT's: adapter_config.json (peft_type "LORA", r, lora_alpha, ..., sorted keys) and
// adapter_model.safetensors with `base_model.model.<module path>.lora_A.weight` / `.lora_B.weight`, where the
// module path is ours (= the release's names), so PeftModel.from_pretrained loads it onto the HF model and back.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/layers.h"

namespace sgt::model {

struct LoraConfig {
  bool enabled = false;
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;  // on the A path's input, in training only
  // Globs ('*') on the module's own name (the last path component) of the decoder's Linear modules (those under
  // `...model.layers.N.`): the und projections and their *_moe_gen twins (mlp_moe_gen.gate_proj is `gate_proj`).
  std::vector<std::string> targets = {"q_proj",         "k_proj",         "v_proj",         "o_proj",
                                      "q_proj_moe_gen", "k_proj_moe_gen", "v_proj_moe_gen", "o_proj_moe_gen",
                                      "gate_proj",      "up_proj",        "down_proj"};
  bool rslora = false;  // scaling alpha / sqrt(r) (PEFT use_rslora)
  template <class V>
  void visit(V&& v) {
    v("enabled", enabled);
    v("r", r);
    v("alpha", alpha);
    v("dropout", dropout);
    v("targets", targets);
    v("rslora", rslora);
  }
  void validate() const;
  double scaling() const;
};

// Attaches fresh adapters (PEFT's init, drawn from the global generator in module order; dtype and device of each
// base weight) to the decoder Linear modules whose name matches a target. Returns their paths (module order);
// throws when none matches or a module already has one.
std::vector<std::string> add_lora(torch::nn::Module& root, const LoraConfig& config);
// The paths of the Linear modules that carry an adapter, in module order.
std::vector<std::string> lora_modules(const torch::nn::Module& root);
// requires_grad false on every tensor but the adapters' (which get true). Returns the adapter parameters.
std::vector<torch::Tensor> freeze_all_but_lora(torch::nn::Module& root);
// The adapters under PEFT's names (`base_model.model.<path>.lora_A.weight`), tensors shared with the model.
std::map<std::string, torch::Tensor> lora_state_dict(const torch::nn::Module& root);

// Writes <dir>/adapter_config.json and <dir>/adapter_model.safetensors (creating dir). target_modules is the list
// of the adapted modules' own names when, by PEFT's rule (a module path equal to a name or ending in ".<name>"),
// it selects exactly the adapted Linear modules of `root`; otherwise an anchored regex of their paths.
void save_lora(const torch::nn::Module& root, const LoraConfig& config, const std::string& dir,
               const std::string& base_model_name_or_path = "");
// Reads a PEFT LoRA folder: attaches adapters to the modules adapter_config.json's target_modules selects (PEFT's
// rule: list = exact name or ".<name>" suffix, string = regex full match) and loads every tensor strictly. Refuses
// options it does not implement (DoRA, lora_bias, rank/alpha patterns, ...), targets that select nothing or a
// non-Linear module, and missing, unknown or mis-shaped tensors, naming them and the shapes. Returns the config
// (targets = target_modules as written when it is a list).
LoraConfig load_lora(torch::nn::Module& root, const std::string& dir);

// W += scaling * B @ A (computed in fp32, added in W's dtype; W is replaced, never written in place, so weights
// backed by read-only mappings are safe) and the adapters removed. Returns the number of merged modules.
int64_t merge_lora(torch::nn::Module& root);
// The model's tensors (io::state_dict names) as merge_lora would leave them, without changing the model: adapted
// weights merged (new tensors), adapter tensors left out.
std::map<std::string, torch::Tensor> merged_state_dict(const torch::nn::Module& root);

}  // namespace sgt::model
