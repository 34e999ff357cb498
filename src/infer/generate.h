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
#include "infer/request.h"
#include "infer/sampler.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "text/tokenizer.h"

namespace sgt::infer {

// The system prompts of BAGEL's think mode (docs/inference.md, "Think mode"); <think> / </think> are plain text.
extern const char* const kVlmThinkSystemPrompt;
extern const char* const kGenThinkSystemPrompt;


// The three CFG contexts of docs/inference.md, "Classifier-free guidance".
struct CfgContexts {
  Context full, no_text, no_img;
};

// Samples latent tokens [h*w, patch_latent_dim] (fp32) of an h x w latent-token grid against the three contexts.
// Each branch's query sits at its own context's rope. Deterministic for a seed.
// init_noise [h*w, patch_latent_dim] (fp32), when given, replaces the noise drawn from opt.seed (editing draws it
// from the generator that drew the VAE posterior, as BAGEL's app does: edit_noise_generator).
torch::Tensor sample_latents(model::Bagel& m, const CfgContexts& ctx, int64_t h, int64_t w,
                             const ImageGenOptions& opt, const Markers& mk, const StepCallback& on_step = {},
                             const torch::Tensor& init_noise = {});
// The initial noise N(0, I) of n latent tokens of `dim` channels, drawn from gen on the CPU (fp32).
torch::Tensor initial_noise(at::Generator& gen, int64_t n, int64_t dim);
// Latent tokens -> RGB image of (w * f) x (h * f) pixels, f = VAE downsample * latent_patch_size.
data::Image decode_latents(model::Bagel& m, model::AutoEncoder& ae, const torch::Tensor& tokens, int64_t h, int64_t w);
// The decoder's output [3, H, W] in [-1, 1] -> RGB as BAGEL's InterleaveInferencer.decode_image quantises it:
// (x * 0.5 + 0.5).clamp(0, 1) * 255, then a cast to uint8 (truncation, not rounding).
data::Image output_image(const torch::Tensor& x);
// RGB image (sides multiples of f) -> clean latent tokens [h*w, patch_latent_dim] on an h x w grid.
struct LatentTokens {
  torch::Tensor tokens;
  int64_t h = 0, w = 0;
};
LatentTokens encode_image_tokens(model::Bagel& m, model::AutoEncoder& ae, const data::Image& img, uint64_t seed);
// The same with the posterior noise drawn from gen (advanced by the draw).
LatentTokens encode_image_tokens(model::Bagel& m, model::AutoEncoder& ae, const data::Image& img, at::Generator& gen);
// Editing's one noise generator (docs/inference.md, "Seeds"): BAGEL's app seeds torch's default CPU generator with
// the seed (app.py, set_seed) and draws from it first the VAE posterior noise of the image to edit (the app's VAE
// runs on the CPU), then the initial noise (Bagel.prepare_vae_latent). A CPU generator seeded with `seed`.
at::Generator edit_noise_generator(uint64_t seed);

// SGT proxy-task layout, identical to training (data::proxy_task_plan): [ViT tokens of req.input] ->
// [instruction text split] -> generate a noisy-VAE image of req.size.out_w x out_h (required). The input is resized
// (bicubic) to the ViT size. CFG: "without text" = ViT image only; "without images" = text only (dual CFG as in
// docs/inference.md, "Classifier-free guidance").
data::Image proxy_generate(const ModelRef& m, const ImageRequest& req);

// The contexts of proxy_generate for one input image, built once and reusable across instructions (batch mode).
struct ImageContext {
  Context vit;  // [ViT(input)] (the "without text" context)
};
ImageContext proxy_image_context(const ModelRef& m, const data::Image& input, int64_t vit_w, int64_t vit_h);
// proxy_generate on a prepared image context (req.input and the ViT size are the context's).
data::Image proxy_generate_from(const ModelRef& m, const ImageContext& ic, const ImageRequest& req);

struct TextGenResult {
  std::vector<int64_t> ids;  // generated ids, without <|im_start|> and <|im_end|>, up to a generated <|im_start|>
  std::string text;          // decoded ids, cut at the first "<|im_start|>" / "<|im_end|>" as BAGEL's gen_text cuts
  bool stopped = false;      // true when <|im_end|> was produced (false: max_length reached)
  std::vector<torch::Tensor> logits;  // [vocab] per step (only with keep_logits)
};

// Text-to-image (docs/inference.md, "Classifier-free guidance": the no-text context is empty, the no-image context
// equals the text context). req.system_prompt, when given, is prepended as a text segment in both text contexts;
// req.input must be empty.
data::Image text_to_image(const ModelRef& m, const ImageRequest& req);

// Editing (docs/inference.md, "Contexts"): input -> [clean VAE (t=0)] -> [ViT] -> [instruction] -> output. The
// input is resized (bicubic) to the output size for the VAE copy and to the ViT size for the ViT copy.
data::Image edit_image(const ModelRef& m, const ImageRequest& req);

// The two copies of an image to edit (inferencer.py, interleave_inference / update_context_image): the input
// resized to the VAE size (out_w x out_h, multiples of f), and the ViT copy resized from that VAE copy, not from
// the input (two resamplings, as BAGEL does).
struct EditCopies {
  data::Image vae, vit;
};
EditCopies edit_input_copies(const data::Image& input, const ImageGeometry& g, int64_t f, int64_t vit_patch);

// Think mode for generation and editing (docs/inference.md, "Think mode"): the contexts start with
// kGenThinkSystemPrompt (req.system_prompt is not used), the model decodes its plan from the full context with
// `think` (BAGEL samples at temperature 0.3, up to 1000 tokens), the plan's text is re-encoded and appended to the
// full context only, and the image is sampled as text_to_image (no input) or edit_image (input given) would. Returns the image
// and the decoded plan.
struct ThinkImageResult {
  data::Image image;
  TextGenResult think;
  // The plan as it joins the full context: its text re-encoded (inferencer.py, update_context_text(gen_text)), which
  // need not give the generated ids back, and the position of its <|im_start|>.
  std::vector<int64_t> plan_ids;
  int64_t plan_position = 0;
};
ThinkImageResult think_then_generate(const ModelRef& m, const ImageRequest& req, const TextGenOptions& think);

// One understanding call: the image (may be empty: text only) at vit_w x vit_h (0 = its size rounded down to the
// ViT patch), the question, the decoding options.
struct ChatRequest {
  data::Image image;
  std::string question;
  int64_t vit_w = 0, vit_h = 0;
  TextGenOptions text;
};

// Decodes from a context (the context itself is not modified).
TextGenResult decode_text(model::Bagel& m, const text::Tokenizer& tok, const Context& ctx, const TextGenOptions& opt,
                          const Markers& mk, bool keep_logits = false);
TextGenResult understand(const ModelRef& m, const ChatRequest& req);

Markers markers_from(const text::Tokenizer& tok);
// Resizes to w x h (bicubic; 0 = keep, rounded down to `multiple`) and converts to [3, H, W] in [-1, 1].
torch::Tensor prepare_image(const data::Image& img, int64_t w, int64_t h, int64_t multiple);

}  // namespace sgt::infer
