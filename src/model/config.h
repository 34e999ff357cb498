#pragma once
// Model configs (torch-free): the Qwen2 LLM, the SigLIP vision tower, the autoencoder and the Bagel top level. Field
// names equal the keys of the released llm_config.json / vit_config.json (docs/model.md, "Configuration") so those
// files parse directly; keys that exist in the JSON but do not change the computation are listed as accepted fields
// (and checked where a non-default value would change the maths).
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace sgt::model {

// The decoder layer of the LLM: BAGEL's mixture of transformers (a *_moe_gen copy of every projection, norm and MLP
// for the generation tokens) or plain Qwen2 (one set).
enum class LayerModule { kMoT, kDense };
constexpr auto enum_names(LayerModule) {
  return std::array{EnumName{LayerModule::kMoT, "Qwen2MoTDecoderLayer"}, EnumName{LayerModule::kDense, "Qwen2DecoderLayer"}};
}
enum class VaeKind { kFlux, kPixel };  // FLUX.1 AE (weights) | patchify only (no weights)
constexpr auto enum_names(VaeKind) {
  return std::array{EnumName{VaeKind::kFlux, "flux"}, EnumName{VaeKind::kPixel, "pixel"}};
}
enum class Prediction { kVelocity, kX0 };  // what llm2vae predicts (BagelConfig::prediction)
constexpr auto enum_names(Prediction) {
  return std::array{EnumName{Prediction::kVelocity, "velocity"}, EnumName{Prediction::kX0, "x0"}};
}

struct LLMConfig {
  std::vector<std::string> architectures;
  std::string model_type = "qwen2";
  int64_t vocab_size = 256;
  int64_t hidden_size = 64;
  int64_t intermediate_size = 128;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 2;
  int64_t head_dim = 0;  // 0: hidden_size / num_attention_heads (Qwen2 has no head_dim key)
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  config::Json rope_scaling = nullptr;  // must be null: only the "default" rope type is implemented
  bool tie_word_embeddings = false;
  bool use_sliding_window = false;
  int64_t sliding_window = 0;
  int64_t max_window_layers = 0;
  double attention_dropout = 0.0;
  double initializer_range = 0.02;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 0;
  bool use_cache = true;
  std::string torch_dtype = "bfloat16";
  std::string transformers_version;
  // BAGEL overrides (set in code after loading llm_config.json, docs/model.md, "Configuration").
  bool qk_norm = true;
  LayerModule layer_module = LayerModule::kMoT;
  bool freeze_und = false;

  int64_t head_size() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  bool mot() const { return layer_module == LayerModule::kMoT; }

  template <class V>
  void visit(V&& v) {
    v("architectures", architectures); v("model_type", model_type); v("vocab_size", vocab_size);
    v("hidden_size", hidden_size); v("intermediate_size", intermediate_size);
    v("num_hidden_layers", num_hidden_layers); v("num_attention_heads", num_attention_heads);
    v("num_key_value_heads", num_key_value_heads); v("head_dim", head_dim); v("hidden_act", hidden_act);
    v("max_position_embeddings", max_position_embeddings); v("rms_norm_eps", rms_norm_eps);
    v("rope_theta", rope_theta); v("rope_scaling", rope_scaling);
    v("tie_word_embeddings", tie_word_embeddings); v("use_sliding_window", use_sliding_window);
    v("sliding_window", sliding_window); v("max_window_layers", max_window_layers);
    v("attention_dropout", attention_dropout); v("initializer_range", initializer_range);
    v("bos_token_id", bos_token_id); v("eos_token_id", eos_token_id); v("use_cache", use_cache);
    v("torch_dtype", torch_dtype); v("transformers_version", transformers_version);
    v("qk_norm", qk_norm); v("layer_module", layer_module); v("freeze_und", freeze_und);
  }
  void validate() const;
};

struct VisionConfig {
  std::vector<std::string> architectures;
  std::string model_type = "siglip_vision_model";
  int64_t hidden_size = 32;
  int64_t intermediate_size = 64;
  int64_t num_hidden_layers = 2;  // layers BUILT (BAGEL builds json value - 1, see bagel_config_from_files)
  int64_t num_attention_heads = 4;
  int64_t num_channels = 3;
  int64_t image_size = 56;
  int64_t patch_size = 14;
  std::string hidden_act = "gelu_pytorch_tanh";
  double layer_norm_eps = 1e-6;
  double attention_dropout = 0.0;
  std::string torch_dtype = "bfloat16";
  std::string transformers_version;

  int64_t num_patches_per_side() const { return image_size / patch_size; }
  int64_t patch_dim() const { return num_channels * patch_size * patch_size; }

  template <class V>
  void visit(V&& v) {
    v("architectures", architectures); v("model_type", model_type); v("hidden_size", hidden_size);
    v("intermediate_size", intermediate_size); v("num_hidden_layers", num_hidden_layers);
    v("num_attention_heads", num_attention_heads); v("num_channels", num_channels);
    v("image_size", image_size); v("patch_size", patch_size); v("hidden_act", hidden_act);
    v("layer_norm_eps", layer_norm_eps); v("attention_dropout", attention_dropout);
    v("torch_dtype", torch_dtype); v("transformers_version", transformers_version);
  }
  void validate() const;
};

struct VAEConfig {
  VaeKind kind = VaeKind::kFlux;
  int64_t resolution = 256;
  int64_t in_channels = 3;
  int64_t ch = 128;
  std::vector<int64_t> ch_mult = {1, 2, 4, 4};
  int64_t num_res_blocks = 2;
  int64_t z_channels = 16;
  int64_t out_ch = 3;
  int64_t norm_groups = 32;
  double scale_factor = 0.3611;
  double shift_factor = 0.1159;
  bool sample = true;          // encode draws z from the posterior (reference behaviour); false: the mean
  int64_t pixel_patch = 8;     // "pixel" kind: side of the pixel patch that becomes one latent position

  int64_t downsample() const { return kind == VaeKind::kPixel ? pixel_patch : (int64_t{1} << (ch_mult.size() - 1)); }
  int64_t latent_channels() const { return kind == VaeKind::kPixel ? in_channels * pixel_patch * pixel_patch : z_channels; }

  template <class V>
  void visit(V&& v) {
    v("kind", kind); v("resolution", resolution); v("in_channels", in_channels); v("ch", ch);
    v("ch_mult", ch_mult); v("num_res_blocks", num_res_blocks); v("z_channels", z_channels);
    v("out_ch", out_ch); v("norm_groups", norm_groups); v("scale_factor", scale_factor);
    v("shift_factor", shift_factor); v("sample", sample); v("pixel_patch", pixel_patch);
  }
  void validate() const;
};

struct BagelConfig {
  std::string architecture = "bagel-mot";
  bool visual_gen = true;
  bool visual_und = true;
  LLMConfig llm;
  VisionConfig vit;
  VAEConfig vae;
  int64_t latent_patch_size = 2;
  int64_t max_latent_size = 64;
  int64_t vit_max_num_patch_per_side = 70;
  std::string connector_act = "gelu_pytorch_tanh";
  bool interpolate_pos = false;
  double timestep_shift = 1.0;
  // What llm2vae predicts. velocity (BAGEL): v = eps - x0 directly. "x0" (x-prediction, Li & He 2025, "Back to
  // Basics: Let Denoising Generative Models Denoise"): the head predicts the clean latent and the model returns
  // v = (x_t - x0_hat) / max(t, prediction_t_min), so the loss, the sampler and CFG are unchanged. A narrow model
  // whose tokens are wide (the tiny world: 48 values per token, hidden 128) cannot carry the noise through to
  // predict eps, and leaves it as per-pixel speckle; predicting x0 it need not (docs/training.md).
  Prediction prediction = Prediction::kVelocity;
  double prediction_t_min = 0.05;

  // One latent token: latent_patch_size^2 x latent channels (64 for the FLUX AE).
  int64_t patch_latent_dim() const { return latent_patch_size * latent_patch_size * vae.latent_channels(); }
  // Pixels per side of one latent token: the VAE's downsample x latent_patch_size (16 for BAGEL). Every generated
  // or encoded image side is a multiple of it.
  int64_t pixels_per_latent_token() const { return pixels_per_latent_token(vae, latent_patch_size); }
  static int64_t pixels_per_latent_token(const VAEConfig& vae, int64_t latent_patch_size) {
    return vae.downsample() * latent_patch_size;
  }

  template <class V>
  void visit(V&& v) {
    v("architecture", architecture); v("visual_gen", visual_gen); v("visual_und", visual_und);
    v("llm", llm); v("vit", vit); v("vae", vae); v("latent_patch_size", latent_patch_size);
    v("max_latent_size", max_latent_size); v("vit_max_num_patch_per_side", vit_max_num_patch_per_side);
    v("connector_act", connector_act); v("interpolate_pos", interpolate_pos);
    v("timestep_shift", timestep_shift); v("prediction", prediction); v("prediction_t_min", prediction_t_min);
  }
  void validate() const;
};

// llm_config.json / vit_config.json as the release ships them and as transformers writes them: keys that do not
// change the computation (docs/model.md, "Configuration files": architectures, model_type, torch_dtype / dtype,
// transformers_version, use_cache, bos/eos/pad_token_id, sliding_window with the window off, max_window_layers,
// attention_dropout, initializer_range, _attn_implementation, layer_types of full attention, is_causal, use_moe
// false, ...) are accepted; one that would change it and is not implemented (a rope_scaling or rope_parameters of
// another rope type, an enabled sliding window, sliding layer types, use_moe true) is an error naming the key.
// transformers 5's rope_parameters {"rope_type": "default", "rope_theta": T} is read as rope_theta T.
LLMConfig llm_config_from_json(const config::Json& j, const std::string& where);
VisionConfig vit_config_from_json(const config::Json& j, const std::string& where);

// The 7B MoT geometry of docs/model.md, "Configuration" (LLM, 26 built ViT layers, FLUX AE, max_latent_size 64).
BagelConfig bagel_7b_config();
// A BAGEL model folder: llm_config.json + vit_config.json (the ViT json counts 27 layers; 26 are built, so
// num_hidden_layers is decremented here exactly as the reference does), BAGEL's code overrides applied. Without
// them, an HF-style config.json holding "llm_config" and "vit_config" (and optionally the top-level BAGEL keys:
// visual_gen, visual_und, latent_patch_size, max_latent_size, vit_max_num_patch_per_side, connector_act,
// interpolate_pos, timestep_shift, a FLUX "vae_config") is read the same way.
BagelConfig bagel_config_from_folder(const std::string& folder);
// Whether `folder` holds a BAGEL config in one of those two forms.
bool has_bagel_config(const std::string& folder);

}  // namespace sgt::model
