#include "infer/generate.h"

#include <cmath>
#include <cstring>

#include <ATen/CPUGeneratorImpl.h>

#include "core/env.h"
#include "core/error.h"
#include "data/resize.h"
#include "model/image_tokens.h"
#include "text/prompt.h"

namespace sgt::infer {

const char* const kVlmThinkSystemPrompt =
    "You should first think about the reasoning process in the mind and then provide the user with the answer. \n"
    "The reasoning process is enclosed within <think> </think> tags, i.e. <think> reasoning process here </think> "
    "answer here";
const char* const kGenThinkSystemPrompt =
    "You should first think about the planning process in the mind and then generate the image. \n"
    "The planning process is enclosed within <think> </think> tags, i.e. <think> planning process here </think> "
    "image here";

void ImageGenOptions::validate() const {
  SGT_CHECK(steps >= 2, "infer.generate", "steps must be >= 2, got {}", steps);
  SGT_CHECK(std::isfinite(timestep_shift) && timestep_shift > 0, "infer.generate",
            "timestep_shift must be finite and > 0, got {}", timestep_shift);
  cfg().validate();
}

void TextGenOptions::validate() const {
  SGT_CHECK(max_length >= 1, "infer.generate", "max_length must be >= 1, got {}", max_length);
  SGT_CHECK(!do_sample || temperature > 0, "infer.generate", "sampling needs temperature > 0, got {}", temperature);
}

Markers markers_from(const text::Tokenizer& tok) {
  auto b = text::BagelTokens::from(tok);
  return Markers{b.im_start, b.im_end, b.vision_start, b.vision_end};
}

torch::Tensor prepare_image(const data::Image& img, int64_t w, int64_t h, int64_t multiple) {
  SGT_CHECK(!img.empty() && img.width > 0 && img.height > 0, "infer.generate", "empty input image");
  if (w == 0) w = img.width / multiple * multiple;
  if (h == 0) h = img.height / multiple * multiple;
  SGT_CHECK(w > 0 && h > 0 && w % multiple == 0 && h % multiple == 0, "infer.generate",
            "image size {}x{} must be positive multiples of {} (input {}x{})", w, h, multiple, img.width, img.height);
  // Before the resize allocates it: the same pixel limit as decoding (SGT_MAX_IMAGE_PIXELS, data/image.h).
  const int64_t limit = env::max_image_pixels();
  SGT_CHECK(limit == 0 || w * h <= limit, "infer.generate",
            "image size {}x{} = {} pixels is above the limit of {} (SGT_MAX_IMAGE_PIXELS; 0 = no limit)", w, h, w * h,
            limit);
  auto rgb = img.channels == 3 ? img : data::convert_channels(img, 3);
  if (rgb.width != w || rgb.height != h) rgb = data::resize_bicubic(rgb, w, h);
  return model::image_to_tensor(rgb);
}

namespace {

// The autoencoder in use may be given apart from the model: its config is the one that encodes.
int64_t pixels_per_token(model::Bagel& m, model::AutoEncoder& ae) {
  return model::BagelConfig::pixels_per_latent_token(ae->config(), m->config().latent_patch_size);
}

// Every prompt, question, instruction and system prompt goes through here: a 100k-character question made the
// dense attention of its prefill allocate until the OOM killer came, so a text longer than SGT_MAX_PROMPT_TOKENS
// (default 8192; 0 = no limit) is refused before the model sees it.
std::vector<int64_t> encode_text(const text::Tokenizer& tok, const std::string& s) {
  auto ids = tok.encode(s);
  const int64_t limit = env::max_prompt_tokens();
  SGT_CHECK(limit == 0 || static_cast<int64_t>(ids.size()) <= limit, "infer.generate",
            "the text has {} tokens, above the limit of {} (SGT_MAX_PROMPT_TOKENS; 0 = no limit); it starts '{}'",
            ids.size(), limit, s.substr(0, 40));
  return std::vector<int64_t>(ids.begin(), ids.end());
}

}  // namespace

torch::Tensor sample_latents(model::Bagel& m, const CfgContexts& ctx, int64_t h, int64_t w,
                             const ImageGenOptions& opt, const Markers& mk, const StepCallback& on_step,
                             const torch::Tensor& init_noise) {
  torch::NoGradGuard ng;
  opt.validate();
  const auto& cfg = m->config();
  SGT_CHECK(cfg.visual_gen, "infer.generate", "image generation needs a model built with visual_gen");
  SGT_CHECK(h > 0 && w > 0, "infer.generate", "latent grid {}x{} must be positive", h, w);
  const auto dev = m->language_model->model->embed_tokens->weight.device();
  // Initial noise from a seeded CPU generator, so results do not depend on the device.
  torch::Tensor x0;
  if (init_noise.defined()) {
    SGT_CHECK(init_noise.dim() == 2 && init_noise.size(0) == h * w && init_noise.size(1) == cfg.patch_latent_dim(),
              "infer.generate", "initial noise {} must be [{}, {}]", sgt::shape_str(init_noise.sizes().vec()), h * w,
              cfg.patch_latent_dim());
    x0 = init_noise.to(dev, torch::kFloat32);
  } else {
    auto gen = at::detail::createCPUGenerator(opt.seed);
    x0 = initial_noise(gen, h * w, cfg.patch_latent_dim()).to(dev);
  }
  auto f = [&](const torch::Tensor& x, const StepRequest& req) {
    // The query embeddings do not depend on the context (positions only enter through RoPE): embed once.
    Chunk ch = vae_chunk(cfg, x, h, w, req.t, 0, mk);
    const auto eg = embed_chunk(m, ch);  // (embeddings [N+2, D], gen mask)
    auto idx = ch.vae_indexes.to(dev);
    // x_t as the model sees it and its t, for x0-prediction models (model/config.h).
    const auto xt = x.to(eg.first.scalar_type()), tt = torch::full({x.size(0)}, req.t, xt.options());
    auto run = [&](const Context& c) {
      Context copy = c;  // without update the context is unchanged (at most scratch rows past its end are written)
      auto pos = torch::full({ch.length}, c.rope, torch::kInt64);
      auto hid = forward_chunk(m, copy, eg.first, eg.second, pos, model::AttnMode::kNoise, /*update=*/false);
      return m->velocity(hid, idx, xt, tt).to(torch::kFloat32);
    };
    StepVelocities v;
    v.cond = run(ctx.full);
    if (req.need_text) v.text = run(ctx.no_text);
    if (req.need_img) v.img = run(ctx.no_img);
    return v;
  };
  return sample_euler(x0, opt.steps, opt.timestep_shift, opt.cfg(), f, on_step);
}

data::Image decode_latents(model::Bagel& m, model::AutoEncoder& ae, const torch::Tensor& tokens, int64_t h,
                           int64_t w) {
  torch::NoGradGuard ng;
  const auto& cfg = m->config();
  auto lat = model::unpatchify_latent(tokens.to(torch::kCPU, torch::kFloat32), h, w, cfg.latent_patch_size,
                                      ae->config().latent_channels())
                 .unsqueeze(0);
  auto ps = ae->parameters();
  if (!ps.empty()) lat = lat.to(ps[0].device(), ps[0].scalar_type());
  return output_image(ae->decode(lat)[0]);
}

data::Image output_image(const torch::Tensor& x) {
  SGT_CHECK(x.dim() == 3 && x.size(0) == 3, "infer.generate", "decoded image {} must be [3, H, W]",
            sgt::shape_str(x.sizes().vec()));
  auto v = (x.detach().to(torch::kCPU, torch::kFloat32) * 0.5 + 0.5).clamp(0, 1).mul(255).to(torch::kUInt8);
  v = v.permute({1, 2, 0}).contiguous();  // [H, W, 3]
  data::Image out(x.size(2), x.size(1), 3);
  std::memcpy(out.pixels.data(), v.data_ptr<uint8_t>(), out.pixels.size());
  return out;
}

EditCopies edit_input_copies(const data::Image& input, const ImageGeometry& g, int64_t f, int64_t vit_patch) {
  EditCopies c;
  c.vae = model::tensor_to_image(prepare_image(input, g.out_w, g.out_h, f));  // exact round trip of the bytes
  c.vit = model::tensor_to_image(prepare_image(c.vae, g.vit_w, g.vit_h, vit_patch));
  return c;
}

torch::Tensor initial_noise(at::Generator& gen, int64_t n, int64_t dim) {
  return torch::randn({n, dim}, gen, torch::kFloat32);
}

at::Generator edit_noise_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

LatentTokens encode_image_tokens(model::Bagel& m, model::AutoEncoder& ae, const data::Image& img, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return encode_image_tokens(m, ae, img, gen);
}

LatentTokens encode_image_tokens(model::Bagel& m, model::AutoEncoder& ae, const data::Image& img, at::Generator& gen) {
  torch::NoGradGuard ng;
  const int64_t f = pixels_per_token(m, ae), p = m->config().latent_patch_size;
  SGT_CHECK(img.width % f == 0 && img.height % f == 0 && img.width > 0 && img.height > 0, "infer.generate",
            "VAE image {}x{} must have sides that are positive multiples of {}", img.width, img.height, f);
  auto x = model::image_to_tensor(img.channels == 3 ? img : data::convert_channels(img, 3)).unsqueeze(0);
  auto ps = ae->parameters();
  if (!ps.empty()) x = x.to(ps[0].device(), ps[0].scalar_type());
  auto z = ae->encode(x, gen)[0].to(torch::kFloat32);  // [C, H/d, W/d]
  return {model::patchify_latent(z, p), z.size(1) / p, z.size(2) / p};
}

int64_t ModelRef::pixels_per_latent_token() const { return pixels_per_token(model, ae); }

namespace {

// The latent grid (h, w) of an out_w x out_h output, checked against the model's pixels per latent token.
std::pair<int64_t, int64_t> output_grid(const ModelRef& m, const ImageGeometry& g) {
  const int64_t f = m.pixels_per_latent_token();
  SGT_CHECK(g.out_w > 0 && g.out_h > 0 && g.out_w % f == 0 && g.out_h % f == 0, "infer.generate",
            "output size {}x{} must be positive multiples of {} (VAE downsample x latent_patch_size)", g.out_w,
            g.out_h, f);
  return {g.out_h / f, g.out_w / f};
}

}  // namespace

ImageContext proxy_image_context(const ModelRef& m, const data::Image& input, int64_t vit_w, int64_t vit_h) {
  torch::NoGradGuard ng;
  ImageContext ic;
  add_vit_image(m.model, ic.vit, prepare_image(input, vit_w, vit_h, m.model->config().vit.patch_size),
                markers_from(*m.tok));
  return ic;
}

namespace {

// The noise of a request without an image to edit: drawn from its seed, as sample_latents would draw it.
torch::Tensor seed_noise(model::Bagel& m, const ImageRequest& req, int64_t h, int64_t w) {
  auto gen = at::detail::createCPUGenerator(req.gen.seed);
  return initial_noise(gen, h * w, m->config().patch_latent_dim());
}

// Samples from `noise`, reports noise and latents to req.on_latents, decodes.
data::Image sample_and_decode(const ModelRef& m, const CfgContexts& c, int64_t h, int64_t w, const ImageRequest& req,
                              const Markers& mk, const torch::Tensor& noise) {
  auto tokens = sample_latents(m.model, c, h, w, req.gen, mk, req.on_step, noise);
  if (req.on_latents) req.on_latents(noise.to(torch::kCPU, torch::kFloat32), tokens.to(torch::kCPU, torch::kFloat32), h, w);
  return decode_latents(m.model, m.ae, tokens, h, w);
}

}  // namespace

data::Image proxy_generate_from(const ModelRef& m, const ImageContext& ic, const ImageRequest& req) {
  torch::NoGradGuard ng;
  req.gen.validate();
  auto& model = m.model;
  const auto [h, w] = output_grid(m, req.size);
  const Markers mk = markers_from(*m.tok);
  const auto ids = encode_text(*m.tok, req.instruction);
  CfgContexts c;
  c.no_text = ic.vit;  // snapshot before the instruction
  c.full = ic.vit;
  add_text(model, c.full, ids, mk);
  add_text(model, c.no_img, ids, mk);  // text only, from position 0 (BAGEL's cfg_img context)
  return sample_and_decode(m, c, h, w, req, mk, seed_noise(model, req, h, w));
}

data::Image proxy_generate(const ModelRef& m, const ImageRequest& req) {
  req.gen.validate();
  auto ic = proxy_image_context(m, req.input, req.size.vit_w, req.size.vit_h);
  return proxy_generate_from(m, ic, req);
}

namespace {

// T2I contexts (docs/inference.md, "Classifier-free guidance"): full = [system] + [prompt]; no-text = [system] (empty
// for plain T2I); no images anywhere, so the no-image context is the full one.
CfgContexts t2i_contexts(const ModelRef& m, const std::string& prompt, const std::string& system_prompt,
                         const Markers& mk) {
  auto& model = m.model;
  CfgContexts c;
  if (!system_prompt.empty()) add_text(model, c.full, encode_text(*m.tok, system_prompt), mk);
  c.no_text = c.full;
  add_text(model, c.full, encode_text(*m.tok, prompt), mk);
  c.no_img = c.full;
  return c;
}

// Edit contexts (docs/inference.md, "Contexts", "Classifier-free guidance"): full = [system] [clean VAE (t=0)] [ViT]
// [instruction]; no-text = the snapshot before the instruction; no-image = [system] [instruction]. The clean VAE copy
// is the input resized to the output size (the edited output keeps that size, on the latent grid h x w).
struct EditContexts {
  CfgContexts c;
  int64_t h = 0, w = 0;
  torch::Tensor noise;  // editing: the initial noise, drawn after the posterior from one generator
};
EditContexts edit_contexts(const ModelRef& m, const ImageRequest& req, const std::string& system_prompt,
                           const Markers& mk) {
  auto& model = m.model;
  auto& ae = m.ae;
  const auto& g = req.size;
  const EditCopies copies = edit_input_copies(req.input, g, m.pixels_per_latent_token(), model->config().vit.patch_size);
  auto gen = edit_noise_generator(req.gen.seed);
  auto clean = encode_image_tokens(model, ae, copies.vae, gen);
  EditContexts e{{}, clean.h, clean.w, initial_noise(gen, clean.h * clean.w, model->config().patch_latent_dim())};
  CfgContexts& c = e.c;
  if (!system_prompt.empty()) {
    add_text(model, c.full, encode_text(*m.tok, system_prompt), mk);
    c.no_img = c.full;
  }
  add_vae_image(model, c.full, clean.tokens, clean.h, clean.w, mk);
  add_vit_image(model, c.full, model::image_to_tensor(copies.vit), mk);
  c.no_text = c.full;
  const auto ids = encode_text(*m.tok, req.instruction);
  add_text(model, c.full, ids, mk);
  add_text(model, c.no_img, ids, mk);
  return e;
}

}  // namespace

data::Image text_to_image(const ModelRef& m, const ImageRequest& req) {
  torch::NoGradGuard ng;
  req.gen.validate();
  SGT_CHECK(req.input.empty(), "infer.generate", "text-to-image takes no input image (editing does)");
  auto& model = m.model;
  const auto [h, w] = output_grid(m, req.size);
  const Markers mk = markers_from(*m.tok);
  const CfgContexts c = t2i_contexts(m, req.instruction, req.system_prompt, mk);
  return sample_and_decode(m, c, h, w, req, mk, seed_noise(model, req, h, w));
}

data::Image edit_image(const ModelRef& m, const ImageRequest& req) {
  torch::NoGradGuard ng;
  req.gen.validate();
  const Markers mk = markers_from(*m.tok);
  const EditContexts e = edit_contexts(m, req, "", mk);
  return sample_and_decode(m, e.c, e.h, e.w, req, mk, e.noise);
}

ThinkImageResult think_then_generate(const ModelRef& m, const ImageRequest& req, const TextGenOptions& think) {
  torch::NoGradGuard ng;
  req.gen.validate();
  think.validate();
  auto& model = m.model;
  const Markers mk = markers_from(*m.tok);
  EditContexts e;
  if (req.input.empty()) {
    std::tie(e.h, e.w) = output_grid(m, req.size);
    e.c = t2i_contexts(m, req.instruction, kGenThinkSystemPrompt, mk);
  } else {
    e = edit_contexts(m, req, kGenThinkSystemPrompt, mk);
  }
  ThinkImageResult r;
  r.think = decode_text(model, *m.tok, e.c.full, think, mk);
  // The plan joins the full context only: the no-image context keeps the texts without it, and the no-text
  // context is the snapshot before the instruction (docs/inference.md, "Think mode", "Classifier-free guidance").
  // BAGEL re-encodes the decoded plan (inferencer.py, interleave_inference: update_context_text(gen_text)).
  r.plan_ids = encode_text(*m.tok, r.think.text);
  r.plan_position = e.c.full.rope;
  add_text(model, e.c.full, r.plan_ids, mk);
  r.image = sample_and_decode(m, e.c, e.h, e.w, req, mk, e.noise.defined() ? e.noise : seed_noise(model, req, e.h, e.w));
  return r;
}

TextGenResult decode_text(model::Bagel& m, const text::Tokenizer& tok, const Context& ctx, const TextGenOptions& opt,
                          const Markers& mk, bool keep_logits) {
  torch::NoGradGuard ng;
  opt.validate();
  const auto dev = m->language_model->model->embed_tokens->weight.device();
  Context c = ctx;
  auto gen = at::detail::createCPUGenerator(opt.seed);
  TextGenResult out;
  int64_t cur = mk.im_start;
  auto zero = torch::zeros({1}, torch::kInt64);
  for (int64_t step = 0; step < opt.max_length; ++step) {
    Chunk ch;
    ch.length = 1;
    ch.text_ids = torch::full({1}, cur, torch::kInt64);
    ch.text_indexes = zero;
    ch.position_ids = torch::full({1}, c.rope, torch::kInt64);
    auto [e, g] = embed_chunk(m, ch);
    auto hid = forward_chunk(m, c, e, g, ch.position_ids, model::AttnMode::kCausal, /*update=*/true);
    c.rope += 1;
    auto logits = m->text_logits(hid, zero.to(dev))[0].to(torch::kCPU, torch::kFloat32);
    if (keep_logits) out.logits.push_back(logits);
    int64_t next;
    if (opt.do_sample) {
      auto probs = torch::softmax(logits / opt.temperature, -1);
      next = torch::multinomial(probs, 1, false, gen).item<int64_t>();
    } else {
      next = logits.argmax().item<int64_t>();
    }
    if (next == mk.im_end) {
      out.stopped = true;
      break;
    }
    // BAGEL appends a sampled token on the next iteration only, so the last one sampled is dropped.
    if (step + 1 < opt.max_length) out.ids.push_back(next);
    cur = next;
  }
  // BAGEL decodes [<|im_start|>] + ids and keeps the text between that start token and the next "<|im_start|>" or
  // "<|im_end|>" (bagel.py, chat; inferencer.py, gen_text): an answer is cut at a generated <|im_start|>.
  for (size_t i = 0; i < out.ids.size(); ++i) {
    if (out.ids[i] == mk.im_start) {
      out.ids.resize(i);
      break;
    }
  }
  std::vector<text::TokenId> ids(out.ids.begin(), out.ids.end());
  out.text = tok.decode(ids);
  for (const char* marker : {"<|im_start|>", "<|im_end|>"}) {
    const auto cut = out.text.find(marker);
    if (cut != std::string::npos) out.text.resize(cut);
  }
  return out;
}

TextGenResult understand(const ModelRef& ref, const ChatRequest& req) {
  torch::NoGradGuard ng;
  req.text.validate();
  auto& m = ref.model;
  const text::Tokenizer& tok = *ref.tok;
  const Markers mk = markers_from(tok);
  Context c;
  if (req.text.think) add_text(m, c, encode_text(tok, kVlmThinkSystemPrompt), mk);
  if (!req.image.empty())
    add_vit_image(m, c, prepare_image(req.image, req.vit_w, req.vit_h, m->config().vit.patch_size), mk);
  add_text(m, c, encode_text(tok, req.question), mk);
  return decode_text(m, tok, c, req.text, mk);
}

}  // namespace sgt::infer
