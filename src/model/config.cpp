#include "model/config.h"

#include <cmath>
#include <filesystem>

namespace sgt::model {

void LLMConfig::validate() const {
  // Counts that can only fail later, deep inside libtorch (a negative layer count, an empty vocabulary), and
  // non-finite constants that turn every activation into NaN.
  SGT_CHECK(num_hidden_layers >= 1 && vocab_size >= 1 && intermediate_size >= 1 && max_position_embeddings >= 1,
            "model.config", "llm: num_hidden_layers {}, vocab_size {}, intermediate_size {} and "
            "max_position_embeddings {} must be >= 1", num_hidden_layers, vocab_size, intermediate_size,
            max_position_embeddings);
  SGT_CHECK(std::isfinite(rms_norm_eps) && rms_norm_eps > 0 && std::isfinite(rope_theta) && rope_theta > 0,
            "model.config", "llm: rms_norm_eps {} and rope_theta {} must be finite and > 0", rms_norm_eps, rope_theta);
  SGT_CHECK(hidden_size > 0 && num_attention_heads > 0 && num_key_value_heads > 0, "model.config",
            "llm: sizes must be positive (hidden {}, heads {}, kv heads {})", hidden_size, num_attention_heads,
            num_key_value_heads);
  SGT_CHECK(head_dim > 0 || hidden_size % num_attention_heads == 0, "model.config",
            "llm: hidden_size {} not divisible by num_attention_heads {}", hidden_size, num_attention_heads);
  SGT_CHECK(num_attention_heads % num_key_value_heads == 0, "model.config",
            "llm: num_attention_heads {} not a multiple of num_key_value_heads {}", num_attention_heads,
            num_key_value_heads);
  SGT_CHECK(head_size() % 2 == 0, "model.config", "llm: head_dim {} must be even for RoPE", head_size());
  SGT_CHECK(hidden_act == "silu", "model.config", "llm: hidden_act '{}' not supported (only silu)", hidden_act);
  SGT_CHECK(rope_scaling.is_null() || (rope_scaling.is_object() && rope_scaling.value("rope_type", "") == "default"),
            "model.config", "llm: rope_scaling {} not supported (only the default rope type)", rope_scaling.dump());
  SGT_CHECK(!use_sliding_window, "model.config", "llm: sliding-window attention is not supported");
}

void VisionConfig::validate() const {
  SGT_CHECK(num_hidden_layers >= 1 && intermediate_size >= 1 && num_channels >= 1, "model.config",
            "vit: num_hidden_layers {}, intermediate_size {} and num_channels {} must be >= 1", num_hidden_layers,
            intermediate_size, num_channels);
  SGT_CHECK(std::isfinite(layer_norm_eps) && layer_norm_eps > 0, "model.config",
            "vit: layer_norm_eps {} must be finite and > 0", layer_norm_eps);
  SGT_CHECK(hidden_size > 0 && num_attention_heads > 0 && hidden_size % num_attention_heads == 0, "model.config",
            "vit: hidden_size {} not divisible by num_attention_heads {}", hidden_size, num_attention_heads);
  SGT_CHECK(patch_size > 0 && image_size % patch_size == 0, "model.config",
            "vit: image_size {} not a multiple of patch_size {}", image_size, patch_size);
  SGT_CHECK(hidden_act == "gelu_pytorch_tanh", "model.config", "vit: hidden_act '{}' not supported", hidden_act);
}

void VAEConfig::validate() const {
  SGT_CHECK(!ch_mult.empty() && num_res_blocks > 0 && ch > 0 && ch % norm_groups == 0, "model.config",
            "vae: bad geometry (ch {}, groups {}, {} levels)", ch, norm_groups, ch_mult.size());
  SGT_CHECK(pixel_patch > 0, "model.config", "vae: pixel_patch must be positive");
}

void BagelConfig::validate() const {
  // (the architecture name is checked against the registry by model/registry.cpp, which sees the torch side)
  SGT_CHECK(std::isfinite(timestep_shift) && timestep_shift > 0, "model.config",
            "bagel: timestep_shift {} must be finite and > 0", timestep_shift);
  llm.validate();
  vit.validate();
  vae.validate();
  SGT_CHECK(latent_patch_size > 0 && max_latent_size > 0 && vit_max_num_patch_per_side > 0, "model.config",
            "bagel: latent_patch_size, max_latent_size, vit_max_num_patch_per_side must be positive");
  SGT_CHECK(connector_act == "gelu_pytorch_tanh", "model.config", "bagel: connector_act '{}' not supported",
            connector_act);
  SGT_CHECK(prediction_t_min > 0 && prediction_t_min <= 1, "model.config",
            "bagel: prediction_t_min {} outside (0, 1]", prediction_t_min);
  SGT_CHECK(!interpolate_pos, "model.config", "bagel: interpolate_pos=true is not implemented (extrapolate only)");
  SGT_CHECK(vit.num_patches_per_side() >= vit_max_num_patch_per_side, "model.config",
            "bagel: ViT position table side {} smaller than vit_max_num_patch_per_side {}",
            vit.num_patches_per_side(), vit_max_num_patch_per_side);
}

BagelConfig bagel_7b_config() {
  BagelConfig c;
  LLMConfig& l = c.llm;
  l.architectures = {"Qwen2ForCausalLM"};
  l.vocab_size = 152064;
  l.hidden_size = 3584;
  l.intermediate_size = 18944;
  l.num_hidden_layers = 28;
  l.num_attention_heads = 28;
  l.num_key_value_heads = 4;
  l.rms_norm_eps = 1e-6;
  l.rope_theta = 1e6;
  l.qk_norm = true;
  l.tie_word_embeddings = false;
  VisionConfig& v = c.vit;
  v.hidden_size = 1152;
  v.intermediate_size = 4304;
  v.num_hidden_layers = 26;
  v.num_attention_heads = 16;
  v.image_size = 980;
  v.patch_size = 14;
  c.vae = VAEConfig{};
  c.max_latent_size = 64;
  c.validate();
  return c;
}

BagelConfig bagel_config_from_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  const std::string llm_path = (fs::path(folder) / "llm_config.json").string();
  const std::string vit_path = (fs::path(folder) / "vit_config.json").string();
  SGT_CHECK(fs::exists(llm_path) && fs::exists(vit_path), "model.config",
            "{}: a BAGEL folder needs llm_config.json and vit_config.json", folder);
  BagelConfig c = bagel_7b_config();
  c.llm = config::load_file<LLMConfig>(llm_path);
  // BAGEL's code overrides (docs/model.md, "Configuration"): q/k norm on, untied lm_head, MoT layers.
  c.llm.qk_norm = true;
  c.llm.tie_word_embeddings = false;
  c.llm.layer_module = LayerModule::kMoT;
  c.vit = config::load_file<VisionConfig>(vit_path);
  SGT_CHECK(c.vit.num_hidden_layers >= 2, "model.config", "{}: num_hidden_layers {} too small", vit_path,
            c.vit.num_hidden_layers);
  c.vit.num_hidden_layers -= 1;  // vit_select_layer = -2: the last layer is not built nor stored
  c.validate();
  return c;
}

}  // namespace sgt::model
