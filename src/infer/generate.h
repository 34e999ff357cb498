#pragma once
// BAGEL inference entry points (docs/inference.md): understanding (image + question -> text), text-to-image,
// editing, and SGT's proxy tasks (image + instruction -> segmentation / edge / depth ... image).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/image.h"
#include "infer/context.h"
#include "infer/options.h"
#include "infer/sampler.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "text/tokenizer.h"

namespace sgt::infer {

// The system prompts of BAGEL's think mode (docs/inference.md, "Think mode"); <think> / </think> are plain text.
extern const char* const kVlmThinkSystemPrompt;
extern const char* const kGenThinkSystemPrompt;


// Called after each sampler step (done, total); CLIs draw progress with it.
using StepCallback = std::function<void(int64_t, int64_t)>;

// The three CFG contexts of docs/inference.md, "Classifier-free guidance".
struct CfgContexts {
  Context full, no_text, no_img;
};

// Samples latent tokens [h*w, patch_latent_dim] (fp32) of an h x w latent-token grid against the three contexts.
// Each branch's query sits at its own context's rope. Deterministic for a seed.
torch::Tensor sample_latents(model::Bagel& m, const CfgContexts& ctx, int64_t h, int64_t w,
                             const ImageGenOptions& opt, const Markers& mk, const StepCallback& on_step = {});
// Latent tokens -> RGB image of (w * f) x (h * f) pixels, f = VAE downsample * latent_patch_size.
data::Image decode_latents(model::Bagel& m, model::AutoEncoder& ae, const torch::Tensor& tokens, int64_t h, int64_t w);
// RGB image (sides multiples of f) -> clean latent tokens [h*w, patch_latent_dim] and the grid (h, w).
torch::Tensor encode_image_tokens(model::Bagel& m, model::AutoEncoder& ae, const data::Image& img, uint64_t seed,
                                  int64_t& h, int64_t& w);

// SGT proxy-task layout, identical to training (data::proxy_task_plan): [ViT tokens of `input`] ->
// [instruction text split] -> generate a noisy-VAE image of out_w x out_h (multiples of the VAE downsample *
// latent_patch_size). The input is resized (bicubic) to vit_w x vit_h (multiples of 14; 0 = keep, rounded down to
// a multiple of 14). Returns an RGB image of out_w x out_h. CFG: "without text" = ViT image only; "without images"
// = text only (dual CFG as in docs/inference.md, "Classifier-free guidance").
data::Image proxy_generate(model::Bagel& m, model::AutoEncoder& ae, const text::Tokenizer& tok,
                           const data::Image& input, const std::string& instruction, int64_t vit_w, int64_t vit_h,
                           int64_t out_w, int64_t out_h, const ImageGenOptions& opt,
                           const StepCallback& on_step = {});

// The contexts of proxy_generate for one input image, built once and reusable across instructions (batch mode).
struct ImageContext {
  Context vit;  // [ViT(input)] (the "without text" context)
};
ImageContext proxy_image_context(model::Bagel& m, const text::Tokenizer& tok, const data::Image& input, int64_t vit_w,
                                 int64_t vit_h);
data::Image proxy_generate_from(model::Bagel& m, model::AutoEncoder& ae, const text::Tokenizer& tok,
                                const ImageContext& ic, const std::string& instruction, int64_t out_w, int64_t out_h,
                                const ImageGenOptions& opt, const StepCallback& on_step = {});

struct TextGenResult {
  std::vector<int64_t> ids;  // generated ids, without <|im_start|> and <|im_end|>
  std::string text;
  bool stopped = false;      // true when <|im_end|> was produced (false: max_length reached)
  std::vector<torch::Tensor> logits;  // [vocab] per step (only with keep_logits)
};

// Text-to-image (docs/inference.md, "Classifier-free guidance": the no-text context is empty, the no-image context
// equals the text context). With a system prompt (e.g. kGenThinkSystemPrompt) it is prepended as a text segment in
// both text contexts.
data::Image text_to_image(model::Bagel& m, model::AutoEncoder& ae, const text::Tokenizer& tok,
                          const std::string& prompt, int64_t out_w, int64_t out_h, const ImageGenOptions& opt,
                          const std::string& system_prompt = "", const StepCallback& on_step = {});

// Editing (docs/inference.md, "Contexts"): input -> [clean VAE (t=0)] -> [ViT] -> [instruction] -> output of the
// input's size. The input is resized (bicubic) to out_w x out_h for the VAE copy and to vit_w x vit_h for the ViT
// copy (0 = keep the input size, rounded down to the required multiple).
data::Image edit_image(model::Bagel& m, model::AutoEncoder& ae, const text::Tokenizer& tok, const data::Image& input,
                       const std::string& instruction, int64_t vit_w, int64_t vit_h, int64_t out_w, int64_t out_h,
                       const ImageGenOptions& opt, const StepCallback& on_step = {});

// Think mode for generation and editing (docs/inference.md, "Think mode"): the contexts start with
// kGenThinkSystemPrompt, the model decodes its plan from the full context with `think` (BAGEL samples at temperature
// 0.3, up to 1000 tokens), the plan's ids are appended to the full context only, and the image is sampled as
// text_to_image (input empty) or edit_image (input given) would. Returns the image and the decoded plan.
struct ThinkImageResult {
  data::Image image;
  TextGenResult think;
};
ThinkImageResult think_then_generate(model::Bagel& m, model::AutoEncoder& ae, const text::Tokenizer& tok,
                                     const data::Image& input, const std::string& instruction, int64_t vit_w,
                                     int64_t vit_h, int64_t out_w, int64_t out_h, const ImageGenOptions& opt,
                                     const TextGenOptions& think, const StepCallback& on_step = {});

// Decodes from a context (the context itself is not modified).
TextGenResult decode_text(model::Bagel& m, const text::Tokenizer& tok, const Context& ctx, const TextGenOptions& opt,
                          const Markers& mk, bool keep_logits = false);
// input may be empty (text-only); vit_w / vit_h as in proxy_generate.
TextGenResult understand(model::Bagel& m, const text::Tokenizer& tok, const data::Image& input,
                         const std::string& question, int64_t vit_w, int64_t vit_h, const TextGenOptions& opt);

Markers markers_from(const text::Tokenizer& tok);
// Resizes to w x h (bicubic; 0 = keep, rounded down to `multiple`) and converts to [3, H, W] in [-1, 1].
torch::Tensor prepare_image(const data::Image& img, int64_t w, int64_t h, int64_t multiple);

}  // namespace sgt::infer
