#pragma once
// The inputs of one inference call (docs/inference.md): which loaded model runs it and what it is asked. Entry points
// (infer/generate.h) take these two structs instead of long positional lists.
#include <cstdint>
#include <functional>
#include <string>

#include "data/image.h"
#include "infer/options.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "text/tokenizer.h"

namespace sgt::infer {

// Called after each sampler step (done, total); CLIs draw progress with it.
using StepCallback = std::function<void(int64_t, int64_t)>;
// Called once per generated image with the initial noise and the final latent tokens, both [h*w, patch_latent_dim]
// fp32 on the CPU, on the h x w latent-token grid (sgt generate | edit | segment --save-latents).
using LatentsCallback = std::function<void(const torch::Tensor& init_noise, const torch::Tensor& latents, int64_t h,
                                           int64_t w)>;

// The loaded model a call runs on: the decoder, its autoencoder (image generation; may be null for understanding)
// and the tokenizer. The module holders share their modules (pointer-like: a const ModelRef still runs them), so a
// ModelRef is cheap to copy.
struct ModelRef {
  mutable model::Bagel model{nullptr};
  mutable model::AutoEncoder ae{nullptr};
  const text::Tokenizer* tok = nullptr;
  ModelRef(model::Bagel m, model::AutoEncoder a, const text::Tokenizer& t) : model(std::move(m)), ae(std::move(a)), tok(&t) {}
  // Pixels per side of one latent token with this autoencoder (model/config.h).
  int64_t pixels_per_latent_token() const;
};

// Sizes of an image call. out_w x out_h: the generated image (multiples of pixels_per_latent_token); vit_w x vit_h:
// the ViT copy of the input (multiples of the ViT patch). 0 = the input's size rounded down to the multiple (text-to-
// image needs out_w and out_h).
struct ImageGeometry {
  int64_t vit_w = 0, vit_h = 0;
  int64_t out_w = 0, out_h = 0;
};

// One image call: text-to-image (no input), editing, a proxy task, or think mode over either.
struct ImageRequest {
  data::Image input;          // empty: text-to-image
  std::string instruction;    // the prompt (text-to-image) or the instruction
  ImageGeometry size;
  ImageGenOptions gen;
  std::string system_prompt;  // a text segment before everything (text-to-image; think mode sets its own)
  StepCallback on_step;
  LatentsCallback on_latents;
};

}  // namespace sgt::infer
