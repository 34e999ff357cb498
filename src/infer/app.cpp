#include "infer/app.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/proxy_tasks.h"
#include "data/image.h"
#include "data/resize.h"
#include "infer/generate.h"
#include "infer/loaded.h"
#include "io/atomic_file.h"
#include "io/torch_tensors.h"
#include "model/registry.h"
#include "text/tokenizer.h"

namespace sgt::infer {

namespace {

torch::ScalarType scalar_type(WeightDtype d) { return d == WeightDtype::kBfloat16 ? torch::kBFloat16 : torch::kFloat32; }

// --tokenizer, else the model folder's own tokenizer files (BAGEL loads Qwen2Tokenizer.from_pretrained(model_path)),
// else $SGT_TOKENIZER or the shipped one (text::find_tokenizer).
std::string tokenizer_path(const ModelArgs& a) {
  namespace fs = std::filesystem;
  if (a.tokenizer.empty() && !a.model_dir.empty())
    for (const char* f : {"tokenizer.json", "vocab.json"})
      if (fs::exists(fs::path(a.model_dir) / f)) {
        log::info("tokenizer: {} (the model folder's)", (fs::path(a.model_dir) / f).string());
        return (fs::path(a.model_dir) / f).string();
      }
  return text::find_tokenizer(a.tokenizer);
}

LoadedModel load(const ModelArgs& a, bool need_gen) {
  namespace fs = std::filesystem;
  SGT_CHECK(a.model_dir.empty() != a.config.empty(), "infer.app",
            "give exactly one of --model DIR or --config JSON (with --weights)");
  const auto dtype = scalar_type(a.dtype);
  const torch::Device device(a.device);
  LoadedModel l;
  auto tok = text::Tokenizer::load(tokenizer_path(a));
  SGT_CHECK(!a.config.empty() == !a.weights.empty(), "infer.app", "--config {} needs --weights", a.config);
  model::OpenOptions open;
  open.dtype = dtype;
  open.device = device;
  open.zero_copy = true;        // inference never writes weights: host tensors stay in the file's mapping
  open.generation = need_gen;   // understanding only: the generation expert is neither built nor read
  auto opened = model::open(model::ModelSource{a.model_dir, a.config, a.weights}, open);
  l.config = opened.config;
  l.model = opened.model;
  l.tok = std::make_unique<text::Tokenizer>(model::release_tokenizer_view(l.config, tok));
  l.model->eval();
  if (need_gen) {
    SGT_CHECK(l.config.visual_gen, "infer.app", "the model was built without visual_gen: it cannot make images");
    l.ae = model::AutoEncoder(l.config.vae);
    if (l.config.vae.kind == model::VaeKind::kPixel) {
      SGT_CHECK(a.ae.empty(), "infer.app", "--ae {} given, but the model's VAE is the weight-free pixel kind", a.ae);
    } else {
      SGT_CHECK(!a.ae.empty(), "infer.app", "--ae (ae.safetensors) is required for a '{}' VAE", name_of(l.config.vae.kind));
      model::load_autoencoder(l.ae, a.ae);
      l.ae->to(device);
    }
    l.ae->eval();
  }
  return l;
}

data::Image read_input(const std::string& path) {
  SGT_CHECK(!path.empty(), "infer.app", "an input image is required");
  return data::read_image_rgb_on_white(path);  // BAGEL's pil_img2rgb (app.py, inferencer.py)
}

// Output size: given, or the input's rounded down to a multiple of f.
std::pair<int64_t, int64_t> out_size(const data::Image& in, int64_t w, int64_t h, int64_t f) {
  if (w == 0) w = in.width / f * f;
  if (h == 0) h = in.height / f * f;
  SGT_CHECK(w > 0 && h > 0 && w % f == 0 && h % f == 0, "infer.app",
            "output size {}x{} must be positive multiples of {}", w, h, f);
  return {w, h};
}

data::ImageTransformConfig transform(int64_t stride, int64_t min_size, int64_t max_size, int64_t max_pixels) {
  data::ImageTransformConfig c;
  c.stride = stride, c.min_size = min_size, c.max_size = max_size, c.max_pixels = max_pixels;
  return c;
}
constexpr int64_t kDefaultMaxPixels = 14 * 14 * 9 * 1024;  // ImageTransform's default

// An understanding input as the chosen BAGEL entry point sizes it (docs/inference.md, "Input sizes"): "bagel" =
// Bagel.chat's VLM transform on the image; "inferencer" = InterleaveInferencer (app.py's Understanding tab): the
// image is first resized by the app's VAE transform (ImageTransform(1024, 512, 16)), then the ViT transform
// (224-980, stride 14) sizes the ViT copy of that resized image (two resamplings); "keep" = 0 (rounded down).
struct ChatInput {
  data::Image image;
  int64_t vit_w = 0, vit_h = 0;
};
ChatInput chat_input(data::Image img, int64_t vit_w, int64_t vit_h, ResizeRule resize) {
  if (!img.empty() && resize == ResizeRule::kInferencer) {
    const auto [w, h] = data::transform_size(img.width, img.height, transform(16, 512, 1024, kDefaultMaxPixels));
    if (w != img.width || h != img.height) img = data::resize_bicubic(img, w, h);
  }
  if (!img.empty() && resize != ResizeRule::kKeep && (vit_w == 0 || vit_h == 0)) {
    const auto [w, h] = resize == ResizeRule::kBagel
                            ? data::transform_size(img.width, img.height, transform(14, 378, 980, 2007040))
                            : data::transform_size(img.width, img.height, transform(14, 224, 980, kDefaultMaxPixels));
    if (vit_w == 0) vit_w = w;
    if (vit_h == 0) vit_h = h;
  }
  return {std::move(img), vit_w, vit_h};
}

// The sizes an image task runs at (docs/inference.md, "Input sizes"): output (VAE) w x h and ViT vit_w x vit_h; see
// ChatArgs.
struct TaskSizes {
  int64_t w = 0, h = 0, vit_w = 0, vit_h = 0;
  ImageGeometry geometry() const { return {vit_w, vit_h, w, h}; }
};
TaskSizes task_sizes(const data::Image& in, const ImageTaskArgs& a, int64_t f, bool segment) {
  TaskSizes s{a.width, a.height, a.vit_w, a.vit_h};
  if (a.resize != ResizeRule::kKeep) {  // edit: bagel and inferencer are the same rule (InterleaveInferencer)
    if (s.w == 0 || s.h == 0) {
      const auto [w, h] = data::transform_size(in.width, in.height, transform(f, 512, 1024, kDefaultMaxPixels));
      if (s.w == 0) s.w = w;
      if (s.h == 0) s.h = h;
    }
    if (s.vit_w == 0 || s.vit_h == 0) {  // edit: on top of the VAE-resized image; segment: SGT's fixed 224
      const auto [w, h] = segment ? data::transform_size(in.width, in.height, transform(14, 224, 224, kDefaultMaxPixels))
                                  : data::transform_size(s.w, s.h, transform(14, 224, 980, kDefaultMaxPixels));
      if (s.vit_w == 0) s.vit_w = w;
      if (s.vit_h == 0) s.vit_h = h;
    }
  }
  std::tie(s.w, s.h) = out_size(in, s.w, s.h, f);
  return s;
}

StepCallback progress_cb(const ModelArgs& a, std::unique_ptr<Progress>& bar, const std::string& label) {
  if (!a.progress) return {};
  return [&bar, label](int64_t done, int64_t total) {
    if (!bar) bar = std::make_unique<Progress>(label, total, "step");
    bar->advance(1);
    if (done == total) bar->finish();
  };
}

// --save-latents: the initial noise and the final latent tokens of one generated image.
LatentsCallback latents_writer(const std::string& path) {
  if (path.empty()) return {};
  return [path](const torch::Tensor& noise, const torch::Tensor& latents, int64_t h, int64_t w) {
    io::save_tensors(path, {{"init_noise", noise.contiguous()}, {"latents", latents.contiguous()}},
                     {{"format", "pt"}, {"grid", fmt::format("{}x{}", h, w)}});
    log::info("wrote {} (latent grid {}x{})", path, h, w);
  };
}

void write_output(const std::string& path, const data::Image& img) {
  SGT_CHECK(!path.empty(), "infer.app", "--output is required");
  data::write_png(path, img);
  log::info("wrote {} ({}x{})", path, img.width, img.height);
}

}  // namespace

ChatAnswer run_chat(const ModelArgs& m, const ChatArgs& a) {
  SGT_CHECK(!a.question.empty(), "infer.app", "a question is required");
  a.text.validate();
  auto l = load(m, false);
  data::Image img;
  if (!a.image.empty()) img = read_input(a.image);
  auto in = chat_input(std::move(img), a.vit_w, a.vit_h, a.resize);
  auto r = understand(ModelRef(l.model, l.ae, *l.tok), ChatRequest{in.image, a.question, in.vit_w, in.vit_h, a.text});
  return {r.text, r.ids};
}

void run_generate(const ModelArgs& m, const GenerateArgs& a) {
  SGT_CHECK(!a.prompt.empty(), "infer.app", "a prompt is required");
  SGT_CHECK(!a.output.empty(), "infer.app", "--output is required");
  a.gen.validate();
  auto l = load(m, true);
  std::unique_ptr<Progress> bar;
  const ModelRef ref(l.model, l.ae, *l.tok);
  ImageRequest req;
  req.instruction = a.prompt;
  req.size.out_w = a.width, req.size.out_h = a.height;
  req.gen = a.gen;
  req.on_step = progress_cb(m, bar, "generate");
  req.on_latents = latents_writer(a.save_latents);
  if (a.think) {
    auto r = think_then_generate(ref, req, a.think_text);
    std::printf("%s\n", r.think.text.c_str());  // the plan, as BAGEL returns it
    write_output(a.output, r.image);
    return;
  }
  write_output(a.output, text_to_image(ref, req));
}

namespace {

// edit and segment: checks, load, sizes, one generation with a progress bar, the PNG.
void run_image_task(const ModelArgs& m, const ImageTaskArgs& a, bool segment) {
  SGT_CHECK(!a.instruction.empty(), "infer.app", "an instruction is required");
  SGT_CHECK(!a.output.empty(), "infer.app", "--output is required");
  SGT_CHECK(!(segment && a.think), "infer.app", "think mode is for editing and generation, not proxy tasks");
  a.gen.validate();
  auto in = read_input(a.image);
  auto l = load(m, true);
  const int64_t f = l.config.pixels_per_latent_token();
  const TaskSizes z = task_sizes(in, a, f, segment);
  std::unique_ptr<Progress> bar;
  const ModelRef ref(l.model, l.ae, *l.tok);
  const ImageRequest req{in, a.instruction, z.geometry(), a.gen, "", progress_cb(m, bar, segment ? "segment" : "edit"),
                         latents_writer(a.save_latents)};
  if (segment) {
    write_output(a.output, proxy_generate(ref, req));
  } else if (a.think) {
    auto r = think_then_generate(ref, req, a.think_text);
    std::printf("%s\n", r.think.text.c_str());
    write_output(a.output, r.image);
  } else {
    write_output(a.output, edit_image(ref, req));
  }
}

}  // namespace

void run_edit(const ModelArgs& m, const ImageTaskArgs& a) { run_image_task(m, a, false); }
void run_segment(const ModelArgs& m, const ImageTaskArgs& a) { run_image_task(m, a, true); }

int64_t run_segment_batch(const ModelArgs& m, const std::string& jsonl, const ImageTaskArgs& defaults) {
  defaults.gen.validate();
  SGT_CHECK(defaults.save_latents.empty(), "infer.batch", "--save-latents {} is for single requests, not --batch {}",
            defaults.save_latents, jsonl);
  const std::string text = io::read_text_file(jsonl);
  struct Request {
    ImageTaskArgs args;
    std::string where;
  };
  std::vector<Request> reqs;
  std::istringstream lines(text);
  std::string line;
  for (int64_t no = 1; std::getline(lines, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", jsonl, no);
    auto j = config::parse(line, where);
    SGT_CHECK(j.is_object(), "infer.batch", "{}: each line must be a JSON object", where);
    Request r{defaults, where};
    for (auto it = j.begin(); it != j.end(); ++it) {
      const auto& k = it.key();
      const auto& v = it.value();
      auto need = [&](bool ok, const char* what) {
        SGT_CHECK(ok, "infer.batch", "{}: \"{}\" must be {}", where, k, what);
      };
      if (k == "image") { need(v.is_string(), "a string"); r.args.image = v.get<std::string>(); }
      else if (k == "instruction") { need(v.is_string(), "a string"); r.args.instruction = v.get<std::string>(); }
      else if (k == "output") { need(v.is_string(), "a string"); r.args.output = v.get<std::string>(); }
      else if (k == "seed") { need(v.is_number_unsigned(), "a non-negative integer"); r.args.gen.seed = v.get<uint64_t>(); }
      else if (k == "width") { need(v.is_number_integer(), "an integer"); r.args.width = v.get<int64_t>(); }
      else if (k == "height") { need(v.is_number_integer(), "an integer"); r.args.height = v.get<int64_t>(); }
      else if (k == "vit_width") { need(v.is_number_integer(), "an integer"); r.args.vit_w = v.get<int64_t>(); }
      else if (k == "vit_height") { need(v.is_number_integer(), "an integer"); r.args.vit_h = v.get<int64_t>(); }
      else SGT_FAIL("infer.batch", "{}: unknown key \"{}\" (image, instruction, output, seed, width, height, "
                    "vit_width, vit_height)", where, k);
    }
    SGT_CHECK(!r.args.image.empty() && !r.args.instruction.empty() && !r.args.output.empty(), "infer.batch",
              "{}: \"image\", \"instruction\" and \"output\" are required", where);
    reqs.push_back(std::move(r));
  }
  SGT_CHECK(!reqs.empty(), "infer.batch", "{}: no requests", jsonl);
  auto l = load(m, true);
  const ModelRef ref(l.model, l.ae, *l.tok);
  const int64_t f = l.config.pixels_per_latent_token();
  Progress bar("segment-batch", static_cast<int64_t>(reqs.size()), "img");
  std::string cur_key;
  data::Image in;
  ImageContext ic;
  int64_t reused = 0;
  for (const auto& r : reqs) {
    // Shared prefix: the ViT context of one image at one ViT size is computed once for consecutive requests.
    const std::string key = fmt::format("{}|{}x{}", r.args.image, r.args.vit_w, r.args.vit_h);
    if (key != cur_key) in = read_input(r.args.image);
    const TaskSizes z = task_sizes(in, r.args, f, true);
    if (key != cur_key) {
      ic = proxy_image_context(ref, in, z.vit_w, z.vit_h);
      cur_key = key;
    } else {
      ++reused;
    }
    data::write_png(r.args.output,
                    proxy_generate_from(ref, ic, ImageRequest{{}, r.args.instruction, z.geometry(), r.args.gen, "", {}, {}}));
    bar.advance(1);
  }
  bar.finish();
  log::info("{} images written, {} reused a cached image context", reqs.size(), reused);
  return static_cast<int64_t>(reqs.size());
}

std::shared_ptr<LoadedModel> load_model(const ModelArgs& m, bool need_gen) {
  return std::make_shared<LoadedModel>(load(m, need_gen));
}

UnderstandFn make_understand_fn(const ModelArgs& m, const TextGenOptions& opt, int64_t vit_w, int64_t vit_h,
                                ResizeRule resize) {
  opt.validate();
  std::shared_ptr<LoadedModel> l = load_model(m, false);
  return [l, opt, vit_w, vit_h, resize](const data::Image& image, const std::string& prompt) {
    auto in = chat_input(image, vit_w, vit_h, resize);
    return understand(ModelRef(l->model, l->ae, *l->tok), ChatRequest{in.image, prompt, in.vit_w, in.vit_h, opt}).text;
  };
}

TextToImageFn make_text_to_image_fn(const ModelArgs& m, int64_t width, int64_t height, const ImageGenOptions& opt,
                                    bool think) {
  opt.validate();
  std::shared_ptr<LoadedModel> l = load_model(m, true);
  const int64_t f = l->config.pixels_per_latent_token();
  SGT_CHECK(width > 0 && height > 0 && width % f == 0 && height % f == 0, "infer.app",
            "image size {}x{} must be positive multiples of {}", width, height, f);
  return [l, width, height, opt, think](const std::string& prompt, uint64_t seed) {
    ImageGenOptions o = opt;
    o.seed = seed;
    return text_to_image(ModelRef(l->model, l->ae, *l->tok),
                         ImageRequest{{}, prompt, {0, 0, width, height}, o, think ? kGenThinkSystemPrompt : "", {}, {}});
  };
}

}  // namespace sgt::infer
