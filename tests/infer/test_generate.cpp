// Image generation on a random tiny model (configs/model/tiny-bagel.json, pixel VAE, the real Qwen tokenizer): the
// proxy-task layout equals the training pack (data::proxy_task_plan -> append_sample -> Bagel::forward), the three
// CFG contexts of docs/inference.md, "Classifier-free guidance" equal hand-built packed sequences, and results are
// deterministic under a seed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/packing.h"
#include "infer/generate.h"
#include "infer_testing.h"
#include "data/packing.h"
#include "model/image_tokens.h"

using namespace sgt;
using namespace sgt::infer;
using model::AttnMode;

namespace {

data::Image random_image(int64_t w, int64_t h, uint64_t seed) {
  data::Image img(w, h, 3);
  Rng rng(seed);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng.below(256));
  return img;
}

int max_pixel_diff(const data::Image& a, const data::Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  int d = 0;
  for (size_t i = 0; i < a.pixels.size() && i < b.pixels.size(); ++i)
    d = std::max(d, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return d;
}

torch::Tensor v_of(model::Bagel& m, model::BagelPackedInputs& in, std::vector<std::pair<int64_t, AttnMode>>& splits) {
  in.layout = model::PackLayout::from_samples({splits});
  return m->velocity(m->forward(in), in.packed_vae_token_indexes).to(torch::kFloat32);
}

}  // namespace

class InferGenerate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new model::Bagel(infer_testing::tiny_model(21));
    ae_ = new model::AutoEncoder((*model_)->config().vae);
    tok_ = new text::Tokenizer(text::Tokenizer::load(infer_testing::tokenizer_path()));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete ae_;
    delete tok_;
  }
  static model::Bagel* model_;
  static model::AutoEncoder* ae_;
  static text::Tokenizer* tok_;
  static ModelRef ref() { return ModelRef(*model_, *ae_, *tok_); }
  static ImageRequest request(const data::Image& in, const std::string& instruction, int64_t vit_w, int64_t vit_h,
                              int64_t out_w, int64_t out_h, const ImageGenOptions& opt, const std::string& system = "") {
    return {in, instruction, {vit_w, vit_h, out_w, out_h}, opt, system, {}, {}};
  }
};
model::Bagel* InferGenerate::model_ = nullptr;
model::AutoEncoder* InferGenerate::ae_ = nullptr;
text::Tokenizer* InferGenerate::tok_ = nullptr;

TEST_F(InferGenerate, ProxyLayoutEqualsTrainingPackAndCfgContexts) {
  torch::NoGradGuard ng;
  auto& m = *model_;
  auto& ae = *ae_;
  const auto& cfg = m->config();
  const auto input = random_image(45, 33, 1);
  const std::string instruction = "Segment every instance with a distinct colour.";
  const int64_t out = 32, grid = out / 16, N = grid * grid;  // pixel VAE 8 x latent patch 2 = 16 px per token
  ImageGenOptions opt;
  opt.steps = 2;  // one evaluation at t = 1, dt = 1
  opt.cfg_text_scale = 1.0;
  opt.seed = 77;
  auto got = proxy_generate(ref(), request(input, instruction, 28, 28, out, out, opt));
  ASSERT_EQ(got.width, out);
  ASSERT_EQ(got.height, out);

  // The training pack of the same sample, nothing dropped, the noisy image at t = 1 with the same noise.
  auto ids32 = tok_->encode(instruction);
  std::vector<int64_t> ids(ids32.begin(), ids32.end());
  data::PackingConfig pc;
  pc.text_cond_dropout_prob = pc.vit_cond_dropout_prob = pc.vae_cond_dropout_prob = 0.0;
  pc.vae_max_latent_side = cfg.max_latent_size;
  data::Pack pack;
  Rng rng(3);
  data::append_sample(pack, data::proxy_task_plan(0, 28, 28, ids, out, out), pc, rng);
  auto i64 = [](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); };
  model::BagelPackedInputs in;
  in.sequence_length = pack.length();
  in.packed_text_ids = i64(pack.text_ids);
  in.packed_text_indexes = i64(pack.text_indexes);
  in.packed_position_ids = i64(pack.position_ids);
  in.layout = pack.layout;
  in.packed_vit_tokens = model::vit_patchify(prepare_image(input, 28, 28, 14), 14);
  in.packed_vit_position_ids = i64(pack.vit_position_ids);
  in.packed_vit_token_indexes = i64(pack.vit_token_indexes);
  in.vit_token_seqlens = {4};
  auto gen = at::detail::createCPUGenerator(opt.seed);
  auto x0 = torch::randn({N, cfg.patch_latent_dim()}, gen, torch::kFloat32);
  in.packed_vae_tokens = x0;
  in.packed_latent_position_ids = i64(pack.latent_position_ids);
  in.packed_vae_token_indexes = i64(pack.vae_token_indexes);
  in.packed_timesteps = torch::ones({N});
  auto v = m->velocity(m->forward(in), in.packed_vae_token_indexes);
  auto want = decode_latents(m, ae, x0 - v, grid, grid);
  EXPECT_LE(max_pixel_diff(got, want), 1);

  // Dual CFG: full = [ViT, text], no text = [ViT] (query at position 1), no image = [text] from position 0.
  opt.cfg_text_scale = 4.0;
  opt.cfg_img_scale = 1.5;
  opt.cfg_interval_lo = 0.0;
  const Markers mk = markers_from(*tok_);
  for (const RenormType renorm : {RenormType::kGlobal, RenormType::kTextChannel}) {
    opt.cfg_renorm_type = renorm;
    auto guided = proxy_generate(ref(), request(input, instruction, 28, 28, out, out, opt));
    auto vit = vit_chunk(cfg, prepare_image(input, 28, 28, 14), 0, mk);
    auto text1 = text_chunk(ids, 1, mk), text0 = text_chunk(ids, 0, mk);
    const int64_t L = text1.length;
    model::BagelPackedInputs a, b, c;
    std::vector<std::pair<int64_t, AttnMode>> sa, sb, sc;
    infer_testing::append(a, sa, vit, AttnMode::kFull);
    infer_testing::append(a, sa, text1, AttnMode::kCausal);
    infer_testing::append(a, sa, vae_chunk(cfg, x0, grid, grid, 1.0, 1 + L, mk), AttnMode::kNoise);
    infer_testing::append(b, sb, vit, AttnMode::kFull);
    infer_testing::append(b, sb, vae_chunk(cfg, x0, grid, grid, 1.0, 1, mk), AttnMode::kNoise);
    infer_testing::append(c, sc, text0, AttnMode::kCausal);
    infer_testing::append(c, sc, vae_chunk(cfg, x0, grid, grid, 1.0, L, mk), AttnMode::kNoise);
    auto vg = cfg_combine(v_of(m, a, sa), v_of(m, b, sb), v_of(m, c, sc), 4.0, 1.5, renorm, 0.0);
    EXPECT_LE(max_pixel_diff(guided, decode_latents(m, ae, x0 - vg, grid, grid)), 1) << name_of(renorm);
  }
}

TEST_F(InferGenerate, DeterministicUnderSeedAndReusableContexts) {
  auto& m = *model_;
  auto& ae = *ae_;
  const auto input = random_image(40, 30, 2);
  ImageGenOptions opt;
  opt.steps = 4;
  opt.seed = 5;
  auto a = proxy_generate(ref(), request(input, "edge map", 28, 14, 48, 32, opt));
  auto b = proxy_generate(ref(), request(input, "edge map", 28, 14, 48, 32, opt));
  EXPECT_EQ(a.width, 48);
  EXPECT_EQ(a.height, 32);
  EXPECT_EQ(a.pixels, b.pixels);
  // The cached image context reused for a second request gives the same result as a fresh run.
  auto ic = proxy_image_context(ref(), input, 28, 14);
  auto c = proxy_generate_from(ref(), ic, request({}, "depth map", 0, 0, 48, 32, opt));
  auto c2 = proxy_generate_from(ref(), ic, request({}, "edge map", 0, 0, 48, 32, opt));
  EXPECT_EQ(c2.pixels, a.pixels);
  EXPECT_NE(c.pixels, a.pixels);
  opt.seed = 6;
  EXPECT_NE(proxy_generate(ref(), request(input, "edge map", 28, 14, 48, 32, opt)).pixels, a.pixels);

  // Text-to-image and editing: sizes and determinism.
  auto t1 = text_to_image(ref(), request({}, "a red cube", 0, 0, 32, 16, opt)), t2 = text_to_image(ref(), request({}, "a red cube", 0, 0, 32, 16, opt));
  EXPECT_EQ(t1.width, 32);
  EXPECT_EQ(t1.height, 16);
  EXPECT_EQ(t1.pixels, t2.pixels);
  auto e1 = edit_image(ref(), request(input, "make it blue", 0, 0, 0, 0, opt));
  EXPECT_EQ(e1.width, 32);  // 40 x 30 rounded down to multiples of 16
  EXPECT_EQ(e1.height, 16);
  EXPECT_EQ(e1.pixels, edit_image(ref(), request(input, "make it blue", 0, 0, 0, 0, opt)).pixels);

  // Understanding: image + question, greedy, reproducible, bounded by max_length.
  TextGenOptions to;
  to.max_length = 5;
  auto u1 = understand(ref(), ChatRequest{input, "What is this?", 28, 28, to});
  auto u2 = understand(ref(), ChatRequest{input, "What is this?", 28, 28, to});
  EXPECT_EQ(u1.ids, u2.ids);
  EXPECT_LE(u1.ids.size(), 4u);
  EXPECT_EQ(u1.text, tok_->decode(std::vector<text::TokenId>(u1.ids.begin(), u1.ids.end())));

  // Bad inputs name the problem.
  EXPECT_THROW(proxy_generate(ref(), request(input, "x", 20, 14, 48, 32, opt)), Error);  // ViT width not /14
  EXPECT_THROW(proxy_generate(ref(), request(input, "x", 28, 14, 40, 32, opt)), Error);  // output not /16
  opt.steps = 1;
  EXPECT_THROW(proxy_generate(ref(), request(input, "x", 28, 14, 48, 32, opt)), Error);
  opt.steps = 3;
  EXPECT_THROW(config::from_json<ImageGenOptions>(config::Json{{"cfg_renorm_type", "local"}}, "gen"), Error);
  EXPECT_THROW(proxy_generate(ref(), request(data::Image(), "x", 28, 14, 48, 32, ImageGenOptions{})), Error);
}

// Think mode (docs/inference.md, "Think mode"): the plan is decoded from [system, (images), instruction] and joins
// the full context only; the no-text context is the snapshot before the instruction and the no-image one keeps the
// texts without the plan.
TEST_F(InferGenerate, ThinkModeAppendsThePlanToTheFullContextOnly) {
  auto& m = *model_;
  auto& ae = *ae_;
  const Markers mk = markers_from(*tok_);
  auto ids = [&](const std::string& s) {
    auto v = tok_->encode(s);
    return std::vector<int64_t>(v.begin(), v.end());
  };
  ImageGenOptions opt;
  opt.steps = 4;
  opt.seed = 9;
  opt.cfg_img_scale = 1.5;  // all three branches run
  TextGenOptions think;
  think.max_length = 6;
  think.do_sample = true;
  think.temperature = 0.3;
  think.seed = 3;

  // Text-to-image.
  const auto r = think_then_generate(ref(), request(data::Image(), "a red cube", 0, 0, 32, 16, opt), think);
  CfgContexts c;
  add_text(m, c.full, ids(kGenThinkSystemPrompt), mk);
  c.no_text = c.full;
  add_text(m, c.full, ids("a red cube"), mk);
  c.no_img = c.full;
  const auto plan = decode_text(m, *tok_, c.full, think, mk);
  EXPECT_EQ(plan.ids, r.think.ids);
  EXPECT_FALSE(plan.ids.empty());
  EXPECT_EQ(r.plan_ids, ids(plan.text));  // the plan joins the context re-encoded (update_context_text(gen_text))
  add_text(m, c.full, ids(plan.text), mk);
  const auto want = decode_latents(m, ae, sample_latents(m, c, 1, 2, opt, mk), 1, 2);
  EXPECT_EQ(r.image.pixels, want.pixels);
  // The plan changes the image (it is in the full context), so the comparison above is not vacuous.
  EXPECT_NE(r.image.pixels, text_to_image(ref(), request({}, "a red cube", 0, 0, 32, 16, opt, kGenThinkSystemPrompt)).pixels);

  // Editing.
  const auto input = random_image(40, 30, 4);
  const auto e = think_then_generate(ref(), request(input, "make it blue", 28, 28, 32, 16, opt), think);
  CfgContexts d;
  add_text(m, d.full, ids(kGenThinkSystemPrompt), mk);
  d.no_img = d.full;
  // The ViT copy is resized from the VAE copy (inferencer.py; BAGEL resamples twice).
  const auto vae_copy = model::tensor_to_image(prepare_image(input, 32, 16, 16));
  auto gen = edit_noise_generator(opt.seed);  // one generator: the posterior, then the initial noise (app.py)
  const auto clean = encode_image_tokens(m, ae, vae_copy, gen);
  const int64_t h = clean.h, w = clean.w;
  add_vae_image(m, d.full, clean.tokens, h, w, mk);
  add_vit_image(m, d.full, prepare_image(vae_copy, 28, 28, 14), mk);
  d.no_text = d.full;
  add_text(m, d.full, ids("make it blue"), mk);
  add_text(m, d.no_img, ids("make it blue"), mk);
  const auto eplan = decode_text(m, *tok_, d.full, think, mk);
  EXPECT_EQ(eplan.ids, e.think.ids);
  add_text(m, d.full, ids(eplan.text), mk);
  const auto noise = initial_noise(gen, h * w, m->config().patch_latent_dim());
  EXPECT_EQ(e.image.pixels, decode_latents(m, ae, sample_latents(m, d, h, w, opt, mk, {}, noise), h, w).pixels);
  EXPECT_EQ(e.image.width, 32);
  EXPECT_EQ(e.image.height, 16);
}

// x0-prediction (model/config.h): the model returns v = (x_t - head) / max(t, t_min). With the head fixed to a
// constant c the Euler sampler moves along the straight line to c and lands on it exactly, whatever the noise and
// the guidance; a velocity model with the same head integrates v = c from the noise instead (x = eps - c).
TEST(InferGenerateX0, SamplerLandsOnTheHeadsPrediction) {
  torch::NoGradGuard ng;
  auto cfg = infer_testing::tiny_config();
  cfg.prediction = model::Prediction::kX0;
  model::Bagel m(cfg);
  infer_testing::randomise(*m, 8);
  m->eval();
  const int64_t D = cfg.patch_latent_dim();
  auto c = torch::linspace(-0.8, 0.9, D);
  m->llm2vae->weight.zero_();
  m->llm2vae->bias.copy_(c);
  auto tok = text::Tokenizer::load(infer_testing::tokenizer_path());
  const Markers mk = markers_from(tok);
  CfgContexts ctx;
  add_text(m, ctx.full, {1, 2, 3}, mk);
  ImageGenOptions opt;
  opt.steps = 10;  // the last evaluation is at t = 1/9 > t_min = 0.05, so the final step is exact
  opt.timestep_shift = 1.0;
  for (uint64_t seed : {1, 2}) {
    opt.seed = seed;
    auto x = sample_latents(m, ctx, 2, 3, opt, mk, {});
    EXPECT_LT((x - c.expand({6, D})).abs().max().item<double>(), 1e-5) << seed;
  }
  // Dual CFG combines the velocities of the three contexts; all lead to c, so the guided result is c too.
  ctx.no_text = ctx.full;
  ctx.no_img = ctx.full;
  opt.cfg_text_scale = 4.0;
  opt.cfg_img_scale = 2.0;
  opt.cfg_renorm_type = RenormType::kGlobal;
  EXPECT_LT((sample_latents(m, ctx, 2, 3, opt, mk, {}) - c.expand({6, D})).abs().max().item<double>(), 1e-4);

  // The velocity model with the same head: x(0) = eps - integral of c over t in [0, 1] = eps - c.
  cfg.prediction = model::Prediction::kVelocity;
  model::Bagel mv(cfg);
  infer_testing::randomise(*mv, 8);
  mv->eval();
  mv->llm2vae->weight.zero_();
  mv->llm2vae->bias.copy_(c);
  CfgContexts cv;
  add_text(mv, cv.full, {1, 2, 3}, mk);
  ImageGenOptions ov;
  ov.steps = 10;
  ov.seed = 1;
  auto gen = at::detail::createCPUGenerator(ov.seed);
  auto eps = torch::randn({6, D}, gen, torch::kFloat32);
  EXPECT_LT((sample_latents(mv, cv, 2, 3, ov, mk, {}) - (eps - c)).abs().max().item<double>(), 1e-5);

  // An x0 model asked for a velocity without x_t and t says what it needs.
  auto h = torch::zeros({4, cfg.llm.hidden_size});
  EXPECT_THROW(m->velocity(h, torch::tensor({1, 2})), Error);
  auto xt = torch::randn({2, D}), t = torch::tensor({0.5f, 0.01f});
  auto v = m->velocity(h, torch::tensor({1, 2}), xt, t);
  EXPECT_TRUE(torch::allclose(v[0], (xt[0] - c) / 0.5, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(v[1], (xt[1] - c) / 0.05, 1e-5, 1e-5));  // t floored at prediction_t_min
  EXPECT_THROW(config::from_json<model::BagelConfig>(config::Json{{"prediction", "eps"}}, "bagel"), Error);
  cfg.prediction = model::Prediction::kX0;
  cfg.prediction_t_min = 0;
  EXPECT_THROW(cfg.validate(), Error);
}
