#pragma once
// Options shared by the inference subcommands (chat, generate, edit, segment): where the model, autoencoder and
// tokenizer come from, and the sampler / CFG settings of docs/inference.md, "Image sampler" and "Classifier-free
// guidance".
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/enum_option.h"
#include "infer/app.h"

namespace sgt::cli {

inline void add_model_options(CLI::App* cmd, infer::ModelArgs& m) {
  cmd->add_option("--model", m.model_dir, "BAGEL folder (ema.safetensors, llm_config.json, vit_config.json)");
  cmd->add_option("--config", m.config, "BagelConfig JSON (e.g. configs/model/tiny-bagel.json); needs --weights");
  cmd->add_option("--weights", m.weights, "safetensors file or folder for --config");
  cmd->add_option("--ae", m.ae, "ae.safetensors (not for the pixel VAE)");
  cmd->add_option("--tokenizer", m.tokenizer,
                  "tokenizer.json, vocab.json, or a folder holding one (default: the --model folder's own files, "
                  "else $SGT_TOKENIZER, else the shipped Qwen tokenizer)");
  add_enum_option(cmd, "--dtype", m.dtype, "weights dtype");
  cmd->add_option("--device", m.device, "cpu | cuda | cuda:N");
  cmd->add_flag("!--no-progress", m.progress, "no progress bar");
}

// For subcommands where the model is optional (sgt eval ...): the same options.
inline void add_optional_model_options(CLI::App* cmd, infer::ModelArgs& m) { add_model_options(cmd, m); }
inline bool has_model(const infer::ModelArgs& m) { return !m.model_dir.empty() || !m.config.empty(); }

// A benchmark answered by the understanding model (sgt eval cvbench, sgt eval pope): greedy decoding of at most
// max_length steps, the ViT input size given or chosen by the resize rule.
struct UnderstandArgs {
  int64_t vit_w = 0, vit_h = 0, max_length = 16;
  infer::ResizeRule resize = infer::ResizeRule::kBagel;
};
inline void add_understand_options(CLI::App* cmd, UnderstandArgs& u) {
  cmd->add_option("--max-length", u.max_length, "greedy decoding steps, the start token included");
  cmd->add_option("--vit-width", u.vit_w, "ViT input width, a multiple of 14 (default: chosen by --resize)");
  cmd->add_option("--vit-height", u.vit_h, "ViT input height, a multiple of 14");
  add_enum_option(cmd, "--resize", u.resize,
                  "ViT size not given: bagel = Bagel.chat (sides 378-980, stride 14); inferencer = "
                  "InterleaveInferencer (VAE rule 512-1024, then the ViT rule 224-980); keep = the image's, rounded "
                  "down");
}
// The model's answer function for such a benchmark: greedy, no think mode (as LLaVA's and BAGEL's own runs).
inline infer::UnderstandFn make_benchmark_understand_fn(const infer::ModelArgs& model, const UnderstandArgs& u) {
  infer::TextGenOptions t;
  t.max_length = u.max_length;
  return infer::make_understand_fn(model, t, u.vit_w, u.vit_h, u.resize);
}

inline void add_image_gen_options(CLI::App* cmd, infer::ImageGenOptions& g) {
  cmd->add_option("--steps", g.steps, "schedule points; steps - 1 model evaluations");
  cmd->add_option("--timestep-shift", g.timestep_shift, "schedule shift s");
  cmd->add_option("--cfg-text-scale", g.cfg_text_scale, "text guidance (<= 1 disables all guidance)");
  cmd->add_option("--cfg-img-scale", g.cfg_img_scale, "image guidance");
  cmd->add_option("--cfg-interval-lo", g.cfg_interval_lo, "guidance only for lo < t <= hi");
  cmd->add_option("--cfg-interval-hi", g.cfg_interval_hi, "upper end of the guidance interval");
  add_enum_option(cmd, "--cfg-renorm-type", g.cfg_renorm_type, "CFG renormalisation");
  cmd->add_option("--cfg-renorm-min", g.cfg_renorm_min, "lower clamp of the renorm ratio; 1 disables");
  cmd->add_option("--seed", g.seed, "noise seed");
}

// --save-latents of generate / edit / segment (docs/inference.md, "Outputs for checking").
inline void add_save_latents_option(CLI::App* cmd, std::string& path) {
  cmd->add_option("--save-latents", path,
                  "also write a safetensors file with the initial noise and the final latent tokens "
                  "(init_noise, latents: [h*w, patch_latent_dim])");
}

// Think mode of generate / edit (docs/inference.md, "Think mode"): the plan's decoding options.
inline void add_think_options(CLI::App* cmd, bool& think, infer::TextGenOptions& t) {
  cmd->add_flag("--think", think, "think mode: the model writes a plan (printed) from BAGEL's think system prompt, "
                                  "then generates with the plan in its context");
  cmd->add_option("--think-max-length", t.max_length, "maximum plan decoding steps");
  cmd->add_flag("--think-sample", t.do_sample, "sample the plan from softmax(logits / T) instead of greedy");
  cmd->add_option("--think-temperature", t.temperature, "plan sampling temperature");
}

// Input / output options of the image tasks (edit, segment).
inline void add_image_task_options(CLI::App* cmd, infer::ImageTaskArgs& t) {
  cmd->add_option("--image,-i", t.image, "input image (PNG or JPEG)");
  cmd->add_option("--instruction", t.instruction, "the instruction");
  cmd->add_option("--output,-o", t.output, "output PNG");
  cmd->add_option("--width", t.width, "output width (default: chosen by --resize)");
  cmd->add_option("--height", t.height, "output height");
  cmd->add_option("--vit-width", t.vit_w, "ViT input width, a multiple of 14 (default: chosen by --resize)");
  cmd->add_option("--vit-height", t.vit_h, "ViT input height, a multiple of 14");
  add_save_latents_option(cmd, t.save_latents);
  add_enum_option(cmd, "--resize", t.resize,
                  "sizes not given: bagel = InterleaveInferencer's rules (VAE 512-1024; ViT 224-980 on the "
                  "VAE-resized image, or 224 for SGT's proxy tasks); inferencer = the same; keep = the input size "
                  "rounded down");
}

}  // namespace sgt::cli
