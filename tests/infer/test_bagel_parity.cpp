// Issue #17, "every path": sgt's input and output handling against tools/bagel_infer_ref.py, a reference written from
// BAGEL's inferencer.py / app.py / data_utils.py / transforms.py with PIL and torch: the output quantisation
// (decode_image truncates), RGBA / LA / palette inputs (pil_img2rgb), the two resamplings of an image to edit, and
// the understanding sizes of InterleaveInferencer (chat --resize inferencer).
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/config.h"
#include "data/image.h"
#include "data/proxy_tasks.h"
#include "data/resize.h"
#include "infer/generate.h"
#include "infer_testing.h"
#include "io/torch_tensors.h"
#include "model/bagel.h"
#include "model/image_tokens.h"
#include "model/registry.h"

using namespace sgt;

namespace {

int max_diff(const data::Image& a, const data::Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.channels, b.channels);
  int d = 0;
  for (size_t i = 0; i < a.pixels.size() && i < b.pixels.size(); ++i)
    d = std::max(d, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return d;
}

double mean_diff(const data::Image& a, const data::Image& b) {
  double s = 0;
  for (size_t i = 0; i < a.pixels.size() && i < b.pixels.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return s / static_cast<double>(a.pixels.size());
}

// The last line of the reference's output, parsed as JSON.
config::Json last_json(const std::string& out) {
  auto end = out.find_last_not_of('\n');
  auto start = out.rfind('\n', end);
  return config::parse(out.substr(start == std::string::npos ? 0 : start + 1), "bagel_infer_ref.py");
}

}  // namespace

// decode_image: (x * 0.5 + 0.5).clamp(0, 1) * 255 cast to uint8 truncates; values just below an integer (k - 0.3)
// and outside [-1, 1] are included, so rounding or a missing clamp would fail.
TEST(BagelParity, OutputQuantisationTruncatesLikeDecodeImage) {
  sgt::testing::TempDir dir("parity-quant");
  torch::manual_seed(3);
  auto x = torch::rand({3, 7, 11}) * 2.4 - 1.2;
  x[0][0][0] = (254.7 / 255.0) * 2 - 1;  // 254.7 -> 254 (rounding gives 255)
  x[1][0][0] = (0.6 / 255.0) * 2 - 1;    // 0.6 -> 0
  io::save_tensors(dir.file("x.safetensors"), {{"x", x.contiguous()}}, {{"format", "pt"}});
  auto res = sgt::testing::run_python_tool("bagel_infer_ref.py", {"quantize", dir.file("x.safetensors"), dir.file("ref.png")});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto ref = data::read_image(dir.file("ref.png"));
  const auto ours = infer::output_image(x);
  EXPECT_EQ(max_diff(ours, ref), 0);
  EXPECT_EQ(ours.pixels[0], 254);
  EXPECT_EQ(ours.pixels[1], 0);
  EXPECT_THROW(infer::output_image(torch::zeros({4, 2, 2})), Error);
}

// pil_img2rgb: RGBA and any PNG with transparency are pasted on white (PIL's rounding); LA and opaque images are
// converted as convert("RGB") does (LA's alpha dropped). The PNGs are written by PIL.
TEST(BagelParity, AlphaLaAndPaletteInputsLikePilImg2Rgb) {
  sgt::testing::TempDir dir("parity-alpha");
  auto res = sgt::testing::run_python_tool("bagel_infer_ref.py", {"alpha", dir.path()});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  for (const std::string name : {"rgba", "la", "p_trns", "rgb_trns", "l_trns"}) {
    const auto ours = data::read_image_rgb_on_white(dir.file(name + ".png"));
    const auto ref = data::read_image(dir.file(name + ".rgb.png"));
    EXPECT_EQ(ours.channels, 3) << name;
    EXPECT_EQ(max_diff(ours, ref), 0) << name;
  }
  // The RGBA case has a fully transparent row: white there, where dropping alpha would keep the colour.
  const auto rgba = data::read_image_rgb_on_white(dir.file("rgba.png"));
  for (int64_t x = 0; x < rgba.width; ++x) EXPECT_EQ(rgba.at(0, x)[0], 255);
  EXPECT_NE(data::convert_channels(data::read_image(dir.file("rgba.png")), 3).pixels, rgba.pixels);
  std::ofstream(dir.file("junk.png")) << "not an image";
  EXPECT_THROW(data::read_image_rgb_on_white(dir.file("junk.png")), Error);
}

// Editing: the VAE copy is the input resized by the VAE transform, the ViT copy is resized from that copy (BAGEL's
// two resamplings), both at the sizes of MaxLongEdgeMinShortEdgeResize; our bicubic is within 1 of PIL's
// (tests/data/test_image.cpp), so the second resampling is allowed 2.
TEST(BagelParity, EditResamplesTheVitCopyFromTheVaeCopy) {
  sgt::testing::TempDir dir("parity-edit");
  data::Image in(61, 45, 3);
  for (size_t i = 0; i < in.pixels.size(); ++i) in.pixels[i] = static_cast<uint8_t>((i * 97 + (i / 183) * 31) % 256);
  data::write_png(dir.file("in.png"), in);
  auto res = sgt::testing::run_python_tool("bagel_infer_ref.py", {"edit", dir.file("in.png"), dir.path()});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto j = last_json(res.output);
  EXPECT_EQ(j["vae"], j["vae_again"]);  // the VAE rule is a fixed point, so BAGEL's second VAE transform is a no-op
  data::ImageTransformConfig vae;  // stride 16, sides 512-1024
  const auto [w, h] = data::transform_size(in.width, in.height, vae);
  ASSERT_EQ(w, j["vae"][0].get<int64_t>());
  ASSERT_EQ(h, j["vae"][1].get<int64_t>());
  data::ImageTransformConfig vit;
  vit.stride = 14, vit.min_size = 224, vit.max_size = 980;
  const auto [vw, vh] = data::transform_size(w, h, vit);
  ASSERT_EQ(vw, j["vit"][0].get<int64_t>());
  ASSERT_EQ(vh, j["vit"][1].get<int64_t>());
  const auto copies = infer::edit_input_copies(in, {vw, vh, w, h}, 16, 14);
  EXPECT_LE(max_diff(copies.vae, data::read_image(dir.file("vae.png"))), 1);
  const auto vit_ref = data::read_image(dir.file("vit.png"));
  EXPECT_LE(max_diff(copies.vit, vit_ref), 2);
  // Not vacuous: the one-resampling copy differs from BAGEL's more than ours does.
  const auto direct = data::read_image(dir.file("vit_direct.png"));
  EXPECT_GT(mean_diff(direct, vit_ref), 4 * mean_diff(copies.vit, vit_ref) + 0.01);
}

// chat --resize inferencer: a 64 x 48 image is resized to the VAE size (688 x 512) and its ViT copy is 686 x 518
// (Bagel.chat: 504 x 378); the answer equals giving that resized image and ViT size by hand.
TEST(BagelParity, ChatResizeInferencerSizesLikeInterleaveInferencer) {
  sgt::testing::TempDir dir("parity-chat");
  auto res = sgt::testing::run_python_tool("bagel_infer_ref.py", {"chat_sizes", "64", "48"});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto j = last_json(res.output);
  EXPECT_EQ(j["inferencer"], config::Json::parse("[686, 518]"));
  EXPECT_EQ(j["bagel"], config::Json::parse("[504, 378]"));
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  data::Image in(64, 48, 3);
  for (size_t i = 0; i < in.pixels.size(); ++i) in.pixels[i] = static_cast<uint8_t>((i * 53) % 256);
  data::write_png(dir.file("in64.png"), in);
  const auto vae = j["inferencer_vae"];
  data::write_png(dir.file("vae.png"), data::resize_bicubic(in, vae[0].get<int64_t>(), vae[1].get<int64_t>()));
  const std::string q = " -q 'What is shown?' --max-length 3";
  auto inf = infer_testing::sgt_run("chat " + model + "--image " + infer_testing::q(dir.file("in64.png")) + q +
                                    " --resize inferencer");
  ASSERT_EQ(inf.exit_code, 0) << inf.output;
  auto by_hand = infer_testing::sgt_run("chat " + model + "--image " + infer_testing::q(dir.file("vae.png")) + q +
                                        " --vit-width 686 --vit-height 518");
  ASSERT_EQ(by_hand.exit_code, 0) << by_hand.output;
  EXPECT_EQ(inf.output, by_hand.output);
  auto help = infer_testing::sgt_run("chat --help");
  EXPECT_NE(help.output.find("Bagel.chat"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("InterleaveInferencer"), std::string::npos) << help.output;
}

// Seeds for editing: BAGEL's app seeds torch's default CPU generator (app.py, set_seed) and draws the VAE posterior
// noise of the image to edit, then the initial noise (Bagel.prepare_vae_latent), from it. A tiny FLUX autoencoder
// (the pixel VAE draws nothing) and the reference's draws for the same seed and order.
TEST(BagelParity, EditNoiseIsTheAppsOneGeneratorPosteriorFirst) {
  torch::NoGradGuard ng;
  sgt::testing::TempDir dir("parity-noise");
  auto cfg = infer_testing::tiny_config();
  model::VAEConfig v;
  v.kind = model::VaeKind::kFlux, v.ch = 8, v.ch_mult = {1, 2}, v.num_res_blocks = 1, v.z_channels = 4;
  v.norm_groups = 4;
  cfg.vae = v;
  model::Bagel m(cfg);
  model::AutoEncoder ae(v);
  ae->eval();
  data::Image img(12, 8, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 29) % 256);
  const uint64_t seed = 1234;
  auto gen = infer::edit_noise_generator(seed);
  const auto clean = infer::encode_image_tokens(m, ae, img, gen);
  const int64_t n = clean.h * clean.w, d = cfg.patch_latent_dim();
  const auto init = infer::initial_noise(gen, n, d);
  ASSERT_EQ(n, 6);  // 12 x 8 pixels / (2 x 2 downsample x 2 x 2 patch)
  auto res = sgt::testing::run_python_tool(
      "bagel_infer_ref.py", {"noise", std::to_string(seed), "4", "4", "6", std::to_string(n), std::to_string(d),
                             dir.file("noise.safetensors")});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  auto ref = io::load_tensors(dir.file("noise.safetensors"));
  EXPECT_TRUE(torch::equal(init, ref.at("init")));
  // The posterior draw: z = scale (mean + exp(logvar / 2) eps - shift) with the reference's eps.
  auto x = model::image_to_tensor(img).unsqueeze(0);
  auto mom = ae->encode_moments(x);
  auto mean = mom.slice(1, 0, 4), logvar = mom.slice(1, 4);
  auto z = v.scale_factor * (mean + torch::exp(0.5 * logvar) * ref.at("posterior") - v.shift_factor);
  auto want = model::patchify_latent(z[0], cfg.latent_patch_size);
  EXPECT_LT((clean.tokens - want).abs().max().item<double>(), 1e-5);
  // Two generators (the posterior and the noise each from the seed) would give the posterior's first values.
  EXPECT_FALSE(torch::equal(init.flatten().slice(0, 0, 16), ref.at("posterior").flatten().slice(0, 0, 16)));
}

// Think mode: the plan joins the context as its decoded text re-encoded (update_context_text(gen_text)), not as
// the generated ids; a random tiny model's greedy plan re-encodes to other ids, and the reference (HF tokenizers,
// BAGEL's prepare_prompts positions) gives the ids and position of the plan chunk.
TEST(BagelParity, ThinkPlanIsReencodedText) {
  torch::NoGradGuard ng;
  sgt::testing::TempDir dir("parity-think");
  auto m = infer_testing::tiny_model(24);
  model::AutoEncoder ae(m->config().vae);
  // BAGEL's tokenizer (Qwen2.5's files: no <think> token) is the shipped one without its later added tokens, as
  // infer::load_model uses it for a BAGEL model (model::release_tokenizer_view); the reference gets those files.
  const auto tok = model::release_tokenizer_view(m->config(), text::Tokenizer::load(infer_testing::tokenizer_path()));
  const auto q25 = sgt::testing::run_python_tool("text_ref.py", {"older-added", "--tokenizer",
                                                                 infer_testing::tokenizer_path(), "--below", "151665",
                                                                 "--out", dir.file("q25")});
  ASSERT_EQ(q25.exit_code, 0) << q25.output;
  const auto system_ids = tok.encode(infer::kGenThinkSystemPrompt);
  EXPECT_EQ(std::count(system_ids.begin(), system_ids.end(), 151667), 0) << "<think> is text for BAGEL";
  infer::ImageRequest req;
  req.instruction = "a red cube";
  req.size = {0, 0, 32, 16};
  req.gen.steps = 2;
  infer::TextGenOptions think;
  think.max_length = 12;
  const auto r = infer::think_then_generate(infer::ModelRef(m, ae, tok), req, think);
  ASSERT_FALSE(r.think.ids.empty());
  EXPECT_NE(r.plan_ids, r.think.ids) << "the plan re-encodes to its own ids here; pick another model seed if not";
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.file(name), std::ios::binary) << text;
    return dir.file(name);
  };
  auto res = sgt::testing::run_python_tool(
      "bagel_infer_ref.py", {"plan", dir.file("q25") + "/tokenizer.json", write("system.txt", infer::kGenThinkSystemPrompt),
                             write("prompt.txt", req.instruction), write("plan.txt", r.think.text)});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto j = last_json(res.output);
  EXPECT_EQ(r.plan_ids, j["plan_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(r.plan_position, j["plan_position"].get<int64_t>());
}

// Outputs for checking: --save-latents writes the initial noise (for generate: torch's randn from the seed on a CPU
// generator) and the final latent tokens, which decode to the PNG written; chat --print-ids prints the answer's ids,
// which decode to the printed answer.
TEST(BagelParity, SaveLatentsAndPrintIds) {
  torch::NoGradGuard ng;
  sgt::testing::TempDir dir("parity-out");
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  auto gen = infer_testing::sgt_run("generate " + model + "-p 'a cat' -o " + infer_testing::q(dir.file("t.png")) +
                                    " --width 48 --height 32 --steps 3 --seed 5 --save-latents " +
                                    infer_testing::q(dir.file("t.safetensors")));
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  auto t = io::load_tensors(dir.file("t.safetensors"));
  const auto cfg = infer_testing::tiny_config();
  const int64_t n = 2 * 3, d = cfg.patch_latent_dim();
  ASSERT_EQ(t.at("init_noise").sizes().vec(), (std::vector<int64_t>{n, d}));
  ASSERT_EQ(t.at("latents").sizes().vec(), (std::vector<int64_t>{n, d}));
  auto g = at::detail::createCPUGenerator(5);
  EXPECT_TRUE(torch::equal(t.at("init_noise"), torch::randn({n, d}, g, torch::kFloat32)));
  model::Bagel m(cfg);
  model::AutoEncoder ae(cfg.vae);
  EXPECT_EQ(infer::decode_latents(m, ae, t.at("latents"), 2, 3).pixels, data::read_image(dir.file("t.png")).pixels);
  auto edit = infer_testing::sgt_run("edit " + model + "-i " + infer_testing::q(dir.file("in.png")) +
                                     " --instruction x -o " + infer_testing::q(dir.file("e.png")) +
                                     " --steps 2 --resize keep --save-latents " + infer_testing::q(dir.file("e.st")));
  ASSERT_EQ(edit.exit_code, 0) << edit.output;
  EXPECT_EQ(io::load_tensors(dir.file("e.st")).at("latents").size(0), 3 * 2);  // 48 x 32 output

  auto chat = infer_testing::sgt_run("chat " + model + "-q 'What is shown?' --max-length 6 --print-ids");
  ASSERT_EQ(chat.exit_code, 0) << chat.output;
  const auto nl = chat.output.rfind('\n', chat.output.size() - 2);
  ASSERT_NE(nl, std::string::npos) << chat.output;
  const std::string answer = chat.output.substr(0, nl), ids_line = chat.output.substr(nl + 1);
  std::istringstream in(ids_line);
  std::vector<text::TokenId> ids;
  for (int64_t id; in >> id;) ids.push_back(static_cast<text::TokenId>(id));
  ASSERT_FALSE(ids.empty()) << chat.output;
  const auto tok = text::Tokenizer::load(infer_testing::tokenizer_path());
  EXPECT_EQ(tok.decode(ids), answer);
}

// An answer stops at a generated <|im_start|> (bagel.py chat and inferencer.py gen_text keep the text up to the next
// "<|im_start|>"): a tiny model made into a bigram table -- attention and MLP outputs zeroed, so the hidden state is
// the current token's normalised embedding, and lm_head rows chosen so that <|im_start|> -> "Hi" -> " there" ->
// <|im_start|> -> "Hi" ... -- answers "Hi there" and its ids stop before the generated <|im_start|>.
TEST(BagelParity, AnswerIsCutAtAGeneratedImStart) {
  torch::NoGradGuard ng;
  auto m = infer_testing::tiny_model(5);
  const auto tok = text::Tokenizer::load(infer_testing::tokenizer_path());
  const int64_t start = tok.require_id("<|im_start|>");
  const auto hi = tok.encode("Hi"), there = tok.encode(" there");
  ASSERT_EQ(hi.size(), 1u);
  ASSERT_EQ(there.size(), 1u);
  auto& lm = m->language_model;
  for (auto& p : lm->model->named_parameters())
    if (p.key().find("o_proj") != std::string::npos || p.key().find("down_proj") != std::string::npos)
      p.value().zero_();
  auto emb = lm->model->embed_tokens->weight;
  auto normed = [&](int64_t id) { return lm->model->norm->forward(emb[id].unsqueeze(0))[0]; };
  auto& w = lm->lm_head->weight;
  w.zero_();
  const std::vector<std::pair<int64_t, int64_t>> next = {{start, hi[0]}, {hi[0], there[0]}, {there[0], start}};
  for (const auto& [from, to] : next) w[to] += normed(from);
  infer::ChatRequest req;
  req.question = "say hi";
  req.text.max_length = 8;
  const auto r = infer::understand(infer::ModelRef(m, model::AutoEncoder(m->config().vae), tok), req);
  EXPECT_EQ(r.text, "Hi there");
  EXPECT_EQ(r.ids, (std::vector<int64_t>{hi[0], there[0]}));
  EXPECT_FALSE(r.stopped);
}
