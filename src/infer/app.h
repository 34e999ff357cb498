#pragma once
// Entry points of the inference subcommands (sgt chat / generate / edit / segment), torch-free so that the CLI
// files stay thin and cheap to compile. Each loads the model, runs, writes its outputs and throws sgt::Error on
// any bad input.
#include <cstdint>
#include <string>

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
  std::string dtype = "float32";  // float32 | bfloat16
  std::string device = "cpu";
  bool progress = true;
};

struct ChatArgs {
  std::string image;  // optional
  std::string question;
  int64_t vit_w = 0, vit_h = 0;
  TextGenOptions text;
};
// Returns the answer text.
std::string run_chat(const ModelArgs& m, const ChatArgs& a);

struct GenerateArgs {
  std::string prompt;
  std::string output;  // PNG
  int64_t width = 0, height = 0;
  bool think = false;  // prepend the generation think system prompt as a text segment
  ImageGenOptions gen;
};
void run_generate(const ModelArgs& m, const GenerateArgs& a);

// edit: clean VAE + ViT conditions; segment: SGT's proxy layout (ViT + instruction).
struct ImageTaskArgs {
  std::string image;
  std::string instruction;
  std::string output;  // PNG
  int64_t vit_w = 0, vit_h = 0;
  int64_t width = 0, height = 0;  // 0: the input size rounded down to the required multiple
  ImageGenOptions gen;
};
void run_edit(const ModelArgs& m, const ImageTaskArgs& a);
void run_segment(const ModelArgs& m, const ImageTaskArgs& a);

// Batch proxy generation: JSONL lines {"image": path, "instruction": text, "output": path, optional "seed",
// "width", "height", "vit_width", "vit_height"}. Consecutive requests with the same image and ViT size reuse its
// cached ViT context. Returns the number of images written.
int64_t run_segment_batch(const ModelArgs& m, const std::string& jsonl, const ImageTaskArgs& defaults);

}  // namespace sgt::infer
