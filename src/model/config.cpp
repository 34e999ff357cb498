#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <set>

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

namespace {
using config::Json;

// Keys transformers (and the release) write that do not change the computation; dropped before the strict parse.
const std::set<std::string>& math_free_keys() {
  static const std::set<std::string> k = {
      "dtype", "pad_token_id", "_attn_implementation", "_attn_implementation_autoset", "_name_or_path",
      "output_attentions", "output_hidden_states", "return_dict", "use_return_dict", "chunk_size_feed_forward",
      "is_encoder_decoder", "tie_encoder_decoder", "torchscript", "pruned_heads", "problem_type", "id2label",
      "label2id", "tokenizer_class", "prefix", "sep_token_id", "decoder_start_token_id", "task_specific_params",
      "add_cross_attention", "cross_attention_hidden_size", "finetuning_task", "tf_legacy_loss",
      "use_bfloat16", "vocab_file", "rope", "projection_dim"};
  return k;
}

// A key whose value must be one that leaves the maths alone; `ok` says whether it does.
void check_key(const Json& j, const char* key, bool ok, const std::string& where, const char* why) {
  SGT_CHECK(ok, "model.config", "{}: \"{}\": {} is not supported ({})", where, key, j.at(key).dump(), why);
}

Json drop_math_free(Json j, const std::string& where) {
  SGT_CHECK(j.is_object(), "model.config", "{}: a config must be a JSON object, got {}", where, j.type_name());
  for (const auto& k : math_free_keys()) j.erase(k);
  return j;
}
}  // namespace

LLMConfig llm_config_from_json(const config::Json& in, const std::string& where) {
  Json j = drop_math_free(in, where);
  // Token ids (lists in some configs) only matter to generation loops, which take them from the tokenizer.
  for (const char* k : {"bos_token_id", "eos_token_id"})
    if (j.contains(k) && !j.at(k).is_number_integer()) j.erase(k);
  const bool window = j.contains("use_sliding_window") && j.at("use_sliding_window").is_boolean() &&
                      j.at("use_sliding_window").get<bool>();
  if (window) check_key(j, "use_sliding_window", false, where, "sliding-window attention is not implemented");
  if (j.contains("sliding_window") && !j.at("sliding_window").is_number_integer()) {
    check_key(j, "sliding_window", j.at("sliding_window").is_null(), where, "an integer or null");
    j.erase("sliding_window");
  }
  if (j.contains("layer_types")) {
    bool full = j.at("layer_types").is_array();
    if (full)
      for (const auto& t : j.at("layer_types")) full = full && t.is_string() && t.get<std::string>() == "full_attention";
    check_key(j, "layer_types", full, where, "only full_attention layers are implemented");
    j.erase("layer_types");
  }
  if (j.contains("is_causal")) {
    check_key(j, "is_causal", j.at("is_causal") == Json(true), where, "the decoder is causal");
    j.erase("is_causal");
  }
  if (j.contains("use_moe")) {
    check_key(j, "use_moe", j.at("use_moe") == Json(false), where, "Qwen2-MoE experts are not implemented");
    j.erase("use_moe");
  }
  if (j.contains("rope_parameters")) {
    const Json& r = j.at("rope_parameters");
    const bool plain = r.is_null() || (r.is_object() && r.value("rope_type", std::string("default")) == "default");
    check_key(j, "rope_parameters", plain, where, "only the default rope type is implemented");
    if (r.is_object() && r.contains("rope_theta")) j["rope_theta"] = r.at("rope_theta");
    j.erase("rope_parameters");
  }
  if (j.contains("rope_scaling")) {
    const Json& r = j.at("rope_scaling");
    check_key(j, "rope_scaling", r.is_null() || (r.is_object() && r.value("rope_type", std::string()) == "default"),
              where, "only the default rope type is implemented");
  }
  return config::from_json<LLMConfig>(j, where);
}

VisionConfig vit_config_from_json(const config::Json& in, const std::string& where) {
  return config::from_json<VisionConfig>(drop_math_free(in, where), where);
}

namespace {
// BAGEL's code overrides after reading the two configs (app.py / inferencer setup): q/k norm on, untied lm_head,
// MoT layers; the ViT's last layer is not built (vit_select_layer = -2).
BagelConfig with_bagel_overrides(BagelConfig c, const std::string& vit_where) {
  c.llm.qk_norm = true;
  c.llm.tie_word_embeddings = false;
  c.llm.layer_module = LayerModule::kMoT;
  SGT_CHECK(c.vit.num_hidden_layers >= 2, "model.config", "{}: num_hidden_layers {} too small", vit_where,
            c.vit.num_hidden_layers);
  c.vit.num_hidden_layers -= 1;
  c.validate();
  return c;
}

// config.json's top level: BAGEL keys read, transformers' own accepted, the rest refused by name.
void read_top_level(const Json& j, BagelConfig& c, const std::string& where) {
  static const std::set<std::string> skip = {"llm_config", "vit_config", "vae_config", "architectures",
                                             "model_type", "torch_dtype", "transformers_version"};
  Json merged = config::to_json(c);  // the folder's LLM / ViT and the 7B defaults, overridden by the file's keys
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!skip.count(it.key()) && !math_free_keys().count(it.key())) merged[it.key()] = it.value();
  c = config::from_json<BagelConfig>(merged, where);  // an unknown key is named here
  if (j.contains("vae_config") && j.at("vae_config").is_object()) {
    const Json& v = j.at("vae_config");
    const int64_t z = v.value("z_channels", c.vae.z_channels), ds = v.value("downsample", c.vae.downsample());
    SGT_CHECK(z == c.vae.z_channels && ds == c.vae.downsample(), "model.config",
              "{}: vae_config (z_channels {}, downsample {}) is not the FLUX autoencoder (16, 8)", where, z, ds);
  }
}
}  // namespace

bool has_bagel_config(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path f(folder);
  if (fs::is_regular_file(f / "llm_config.json") && fs::is_regular_file(f / "vit_config.json")) return true;
  if (!fs::is_regular_file(f / "config.json")) return false;
  try {
    const Json j = config::load_json_file((f / "config.json").string());
    return j.is_object() && j.contains("llm_config") && j.contains("vit_config");
  } catch (const sgt::Error&) {
    return false;  // not a BAGEL config.json; the caller names what it looked for
  }
}

BagelConfig bagel_config_from_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  const std::string llm_path = (fs::path(folder) / "llm_config.json").string();
  const std::string vit_path = (fs::path(folder) / "vit_config.json").string();
  BagelConfig c = bagel_7b_config();
  if (fs::exists(llm_path) && fs::exists(vit_path)) {
    // The release layout; a config.json beside them is not read (BAGEL's code does not read it either).
    c.llm = llm_config_from_json(config::load_json_file(llm_path), llm_path);
    c.vit = vit_config_from_json(config::load_json_file(vit_path), vit_path);
    return with_bagel_overrides(c, vit_path);
  }
  const std::string top_path = (fs::path(folder) / "config.json").string();
  SGT_CHECK(fs::exists(top_path), "model.config",
            "{}: a BAGEL folder needs llm_config.json and vit_config.json (or a config.json holding llm_config and "
            "vit_config)", folder);
  const Json j = config::load_json_file(top_path);
  SGT_CHECK(j.is_object() && j.contains("llm_config") && j.contains("vit_config"), "model.config",
            "{}: no \"llm_config\" and \"vit_config\" objects (and no llm_config.json / vit_config.json beside it)",
            top_path);
  c.llm = llm_config_from_json(j.at("llm_config"), top_path + ": llm_config");
  c.vit = vit_config_from_json(j.at("vit_config"), top_path + ": vit_config");
  read_top_level(j, c, top_path);
  return with_bagel_overrides(c, top_path + ": vit_config");
}

}  // namespace sgt::model
