#pragma once
// Entry points of the inference subcommands (sgt chat / generate / edit / segment), torch-free so that the CLI
// files stay thin and cheap to compile. Each loads the model, runs, writes its outputs and throws sgt::Error on
// any bad input.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/image.h"
#include "infer/options.h"

namespace sgt::infer {

// Where the model comes from: a BAGEL folder (ema.safetensors + llm/vit configs) or a BagelConfig JSON plus a
// weights file; the autoencoder from ae.safetensors, or none for a "pixel" VAE config.
struct ModelArgs {
  std::string model_dir;
  std::string config;   // BagelConfig JSON (with `weights`)
  std::string weights;  // safetensors file or folder
  std::string ae;       // ae.safetensors (FLUX); must be empty for the pixel VAE
  std::string tokenizer;
  WeightDtype dtype = WeightDtype::kFloat32;
  std::string device = "cpu";
  bool progress = true;
};

// Input sizes left at 0 are chosen by `resize`:
//   bagel: BAGEL's resize rules (docs/inference.md, "Input sizes"; data::transform_size): chat = the VLM transform
//            (sides 378-980, stride 14, max_pixels 2,007,040); edit = the VAE transform (512-1024, stride of the VAE)
//            for the output, then the ViT transform (224-980, stride 14) on top; segment = SGT's training sizes (ViT
//            224 x 224, VAE 512-1024).
//   inferencer: chat = InterleaveInferencer (app.py's Understanding tab): the VAE transform (512-1024, stride 16)
//            resizes the image, then the ViT transform (224-980, stride 14) sizes its ViT copy; edit / segment: as
//            bagel (edit's BAGEL entry point is InterleaveInferencer).
//   keep:  the input size rounded down to the required multiple.
struct ChatArgs {
  std::string image;  // optional
  std::string question;
  int64_t vit_w = 0, vit_h = 0;
  ResizeRule resize = ResizeRule::kBagel;
  TextGenOptions text;
};
struct ChatAnswer {
  std::string text;
  std::vector<int64_t> ids;  // the answer's token ids (generated; decode(ids) gives text, docs/inference.md)
};
ChatAnswer run_chat(const ModelArgs& m, const ChatArgs& a);

struct GenerateArgs {
  std::string prompt;
  std::string output;  // PNG
  int64_t width = 0, height = 0;
  bool think = false;  // think mode (docs/inference.md): plan in text first, then generate (infer::think_then_generate)
  TextGenOptions think_text{1000, false, 0.3, false, 0};  // BAGEL: max_think_token_n 1000, greedy (0.3 if sampled)
  ImageGenOptions gen;
  std::string save_latents;  // safetensors: "init_noise" and "latents" [h*w, patch_latent_dim] (docs/inference.md)
};
void run_generate(const ModelArgs& m, const GenerateArgs& a);

// edit: clean VAE + ViT conditions; segment: SGT's proxy layout (ViT + instruction).
struct ImageTaskArgs {
  std::string image;
  std::string instruction;
  std::string output;  // PNG
  int64_t vit_w = 0, vit_h = 0;
  int64_t width = 0, height = 0;  // 0: chosen by `resize` (see ChatArgs)
  ResizeRule resize = ResizeRule::kBagel;
  bool think = false;  // edit only: think mode as in GenerateArgs
  TextGenOptions think_text{1000, false, 0.3, false, 0};
  ImageGenOptions gen;
  std::string save_latents;  // as GenerateArgs (single requests; not with --batch)
};
void run_edit(const ModelArgs& m, const ImageTaskArgs& a);
void run_segment(const ModelArgs& m, const ImageTaskArgs& a);

// Batch proxy generation: JSONL lines {"image": path, "instruction": text, "output": path, optional "seed",
// "width", "height", "vit_width", "vit_height"}. Consecutive requests with the same image and ViT size reuse its
// cached ViT context. Returns the number of images written.
int64_t run_segment_batch(const ModelArgs& m, const std::string& jsonl, const ImageTaskArgs& defaults);

// --- Loaded-once models for the eval layer (many requests on one model) ---

struct LoadedModel;  // infer/loaded.h (torch): config, model, autoencoder, tokenizer
// Loads as the subcommands above do; need_gen also loads the autoencoder (and requires visual_gen).
std::shared_ptr<LoadedModel> load_model(const ModelArgs& m, bool need_gen);

// Understanding as `sgt chat` runs it (ViT path, TextGenOptions as given, e.g. greedy with a small max_length):
// image + prompt -> answer text. The returned function owns the loaded model.
using UnderstandFn = std::function<std::string(const data::Image& image, const std::string& prompt)>;
// ViT sizes left at 0 follow `resize` as in ChatArgs.
UnderstandFn make_understand_fn(const ModelArgs& m, const TextGenOptions& opt, int64_t vit_w = 0, int64_t vit_h = 0,
                                ResizeRule resize = ResizeRule::kBagel);

// Text-to-image as `sgt generate` runs it, at width x height, the noise seed per call (opt.seed is ignored):
// (prompt, seed) -> RGB image. With think, kGenThinkSystemPrompt is prepended as in run_generate.
using TextToImageFn = std::function<data::Image(const std::string& prompt, uint64_t seed)>;
TextToImageFn make_text_to_image_fn(const ModelArgs& m, int64_t width, int64_t height, const ImageGenOptions& opt,
                                    bool think = false);

}  // namespace sgt::infer
