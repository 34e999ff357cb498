// BAGEL root: the 7B tensor schema vs docs/model.md, "Checkpoint names and shapes" (no allocation), module == schema
// on tiny configs, model-folder loading (bf16 / fp32, strict), the packed forward's attention rule end to end, latent
// patchify.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "io/state_dict.h"
#include "io/torch_tensors.h"
#include "model/bagel.h"
#include "model/registry.h"
#include "model/schema.h"
#include "model_test_util.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::model;

namespace {

std::map<std::string, std::vector<int64_t>> as_map(const std::vector<TensorSpec>& specs) {
  std::map<std::string, std::vector<int64_t>> m;
  for (const auto& s : specs) m[s.name] = s.shape;
  return m;
}

void randomise(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& p : m.named_parameters()) {
    if (p.key().find("pos_embed") != std::string::npos) continue;
    p.value().copy_(torch::randn_like(p.value()) * 0.2 + (p.key().find("norm") != std::string::npos ? 1.0 : 0.0));
  }
}

}  // namespace

TEST(ModelBagel, Schema7BMatchesSpec) {
  const BagelConfig c = bagel_7b_config();
  auto specs = bagel_tensor_schema(c);
  auto m = as_map(specs);
  // Counts from docs/model.md, "Checkpoint names and shapes": LLM 28 layers x 2 copies x 14 tensors + embed + 2 final
  // norms + lm_head = 788; generation heads 9; ViT 3 + 26 x 16 + 2 = 421; connector 4 + vit_pos_embed 1.
  EXPECT_EQ(specs.size(), 788u + 9u + 421u + 5u);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expect = {
      {"language_model.model.embed_tokens.weight", {152064, 3584}},
      {"language_model.model.layers.27.input_layernorm_moe_gen.weight", {3584}},
      {"language_model.model.layers.0.self_attn.q_proj.weight", {3584, 3584}},
      {"language_model.model.layers.0.self_attn.q_proj.bias", {3584}},
      {"language_model.model.layers.5.self_attn.k_proj.weight", {512, 3584}},
      {"language_model.model.layers.5.self_attn.v_proj_moe_gen.bias", {512}},
      {"language_model.model.layers.13.self_attn.o_proj.weight", {3584, 3584}},
      {"language_model.model.layers.13.self_attn.q_norm.weight", {128}},
      {"language_model.model.layers.13.self_attn.k_norm_moe_gen.weight", {128}},
      {"language_model.model.layers.27.post_attention_layernorm_moe_gen.weight", {3584}},
      {"language_model.model.layers.3.mlp.gate_proj.weight", {18944, 3584}},
      {"language_model.model.layers.3.mlp_moe_gen.down_proj.weight", {3584, 18944}},
      {"language_model.model.norm.weight", {3584}},
      {"language_model.model.norm_moe_gen.weight", {3584}},
      {"language_model.lm_head.weight", {152064, 3584}},
      {"time_embedder.mlp.0.weight", {3584, 256}},
      {"time_embedder.mlp.2.weight", {3584, 3584}},
      {"vae2llm.weight", {3584, 64}},
      {"llm2vae.weight", {64, 3584}},
      {"llm2vae.bias", {64}},
      {"latent_pos_embed.pos_embed", {4096, 3584}},
      {"connector.fc1.weight", {3584, 1152}},
      {"connector.fc2.bias", {3584}},
      {"vit_pos_embed.pos_embed", {4900, 3584}},
      {"vit_model.vision_model.embeddings.patch_embedding.weight", {1152, 588}},
      {"vit_model.vision_model.embeddings.position_embedding.weight", {4900, 1152}},
      {"vit_model.vision_model.encoder.layers.25.self_attn.out_proj.weight", {1152, 1152}},
      {"vit_model.vision_model.encoder.layers.25.mlp.fc1.weight", {4304, 1152}},
      {"vit_model.vision_model.encoder.layers.0.mlp.fc2.bias", {1152}},
      {"vit_model.vision_model.post_layernorm.bias", {1152}},
  };
  for (const auto& [name, shape] : expect) {
    ASSERT_TRUE(m.count(name)) << name;
    EXPECT_EQ(m[name], shape) << name;
  }
  EXPECT_FALSE(m.count("language_model.model.layers.0.self_attn.o_proj.bias"));
  EXPECT_FALSE(m.count("vit_model.vision_model.encoder.layers.26.mlp.fc1.weight"));  // 26 layers built
  EXPECT_FALSE(m.count("language_model.model.layers.28.mlp.up_proj.weight"));
  const double total = static_cast<double>(total_numel(specs));
  EXPECT_GT(total, 14.5e9);
  EXPECT_LT(total, 14.75e9);
}

TEST(ModelBagel, TinyModuleMatchesSchemaThroughRegistry) {
  const BagelConfig c = test::tiny_bagel();
  for (const auto& name : architecture_names()) {
    const auto& arch = find_architecture(name);
    auto parsed = arch.parse(config::to_json(c), "tiny");
    auto module = arch.build(parsed);
    std::map<std::string, std::vector<int64_t>> got;
    for (const auto& [k, t] : io::state_dict(*module)) got[k] = t.sizes().vec();
    EXPECT_EQ(got, as_map(arch.schema(parsed))) << name;
  }
  EXPECT_THROW(find_architecture("llama"), sgt::Error);
  // The shipped tiny config (pixel-space autoencoder) parses and builds.
  const std::string path = sgt::testing::source_dir() + "/configs/model/tiny-bagel.json";
  const auto& arch = find_architecture("bagel-mot");
  auto tiny = arch.parse(config::load_json_file(path), path);
  EXPECT_EQ(tiny.patch_latent_dim(), 2 * 2 * 3 * 8 * 8);
  EXPECT_EQ(total_numel(arch.schema(tiny)), [&] {
    int64_t n = 0;
    for (const auto& [k, t] : io::state_dict(*arch.build(tiny))) n += t.numel();
    return n;
  }());
  auto j = config::to_json(c);
  j["llm"]["num_experts"] = 2;
  EXPECT_THROW(find_architecture("bagel-mot").parse(j, "bad"), sgt::Error);
}

TEST(ModelBagel, FolderLoadsStrictlyInBf16AndFp32) {
  sgt::testing::TempDir dir("bagel_folder");
  BagelConfig c = test::tiny_bagel();
  c.max_latent_size = 64;  // the folder loader keeps the 7B top-level values (64, 70) and the FLUX AE
  c.vae = VAEConfig{};
  Bagel ref(c);
  randomise(*ref, 3);
  auto sd = io::state_dict(*ref);
  std::map<std::string, torch::Tensor> bf16;
  for (auto& [k, t] : sd) bf16[k] = t.to(torch::kBFloat16);
  io::save_tensors(dir.file("ema.safetensors"), bf16);
  auto llm = config::to_json(c.llm);
  auto vit = config::to_json(c.vit);
  vit["num_hidden_layers"] = c.vit.num_hidden_layers + 1;  // the json counts the unbuilt last layer
  std::ofstream(dir.file("llm_config.json")) << llm.dump();
  std::ofstream(dir.file("vit_config.json")) << vit.dump();
  for (auto dtype : {torch::kBFloat16, torch::kFloat32}) {
    auto loaded = load_bagel_folder(dir.path(), dtype);
    EXPECT_EQ(loaded.config.vit.num_hidden_layers, c.vit.num_hidden_layers);
    auto got = io::state_dict(*loaded.model);
    for (auto& [k, t] : bf16) {
      EXPECT_EQ(got[k].scalar_type(), dtype) << k;
      if (k.find("pos_embed") != std::string::npos)
        EXPECT_LE((got[k].to(torch::kFloat32) - sd[k]).abs().max().item<double>(), 1.0 / 128) << k;
      else
        EXPECT_TRUE(torch::equal(got[k].to(torch::kFloat32), t.to(torch::kFloat32))) << k;
    }
  }
  // A missing tensor is an error naming it.
  bf16.erase("llm2vae.bias");
  io::save_tensors(dir.file("ema.safetensors"), bf16);
  try {
    load_bagel_folder(dir.path(), torch::kFloat32);
    FAIL() << "expected an error";
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("llm2vae.bias"), std::string::npos) << e.what();
  }
}

// model::open is the one way in: a config's "architecture" picks the registry entry (a part-only architecture is
// refused naming the runnable ones), weights may be a file or a folder of shards, a folder that is no release is
// named, and a release folder's weights are its own.
TEST(ModelBagel, OpenDispatchesOnTheConfigsArchitecture) {
  sgt::testing::TempDir dir("bagel_open");
  const BagelConfig c = test::tiny_bagel();
  Bagel ref(c);
  randomise(*ref, 7);
  io::save_tensors(dir.file("w.safetensors"), io::state_dict(*ref));
  auto j = config::to_json(c);
  std::ofstream(dir.file("model.json")) << j.dump();
  auto opened = open(ModelSource{"", dir.file("model.json"), dir.file("w.safetensors")}, OpenOptions{});
  EXPECT_EQ(opened.config.architecture, "bagel-mot");
  for (auto& [k, t] : io::state_dict(*ref))
    EXPECT_TRUE(torch::equal(io::state_dict(*opened.model).at(k), t)) << k;
  // A folder holding the weights (no release configs) is a weights source, not a release folder.
  std::filesystem::create_directories(dir.file("shards"));
  io::save_tensors(dir.file("shards/a.safetensors"), io::state_dict(*ref));
  EXPECT_EQ(release_architecture(dir.file("shards")), nullptr);
  EXPECT_NO_THROW(open(ModelSource{"", dir.file("model.json"), dir.file("shards")}, OpenOptions{}));
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const sgt::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { open(ModelSource{dir.file("shards"), "", ""}, OpenOptions{}); }).find("not a release folder"),
            std::string::npos);
  j["architecture"] = "qwen2-mot";
  std::ofstream(dir.file("llm.json")) << j.dump();
  const auto part = message([&] { open(ModelSource{"", dir.file("llm.json"), dir.file("w.safetensors")}, OpenOptions{}); });
  EXPECT_NE(part.find("qwen2-mot"), std::string::npos) << part;
  EXPECT_NE(part.find("bagel-mot"), std::string::npos) << part;
  j["architecture"] = "gpt";
  std::ofstream(dir.file("gpt.json")) << j.dump();
  EXPECT_NE(message([&] { load_model_config(dir.file("gpt.json")); }).find("unknown architecture 'gpt'"),
            std::string::npos);
  // The adjust hook reaches the built model's own config (the decoder reads freeze_und from it).
  OpenOptions adj;
  adj.adjust = [](BagelConfig& cfg) { cfg.llm.freeze_und = true; };
  auto frozen = open(ModelSource{"", dir.file("model.json"), dir.file("w.safetensors")}, adj);
  EXPECT_TRUE(frozen.model->language_model->model->config().freeze_und);
}

TEST(ModelBagel, PackedForwardFollowsTheAttentionRule) {
  const BagelConfig c = test::tiny_bagel();
  Bagel model(c);
  randomise(*model, 5);
  model->eval();
  torch::NoGradGuard ng;
  BagelPackedInputs in = test::two_sample_pack(c);  // ViT at 1..4; noisy VAE at 11..14 (sample 0), 23..26
  in.impl = AttentionImpl::kDense;
  auto dense = model(in);
  in.impl = AttentionImpl::kSplitwise;
  auto split = model(in);
  EXPECT_LE((dense - split).abs().max().item<double>(), 1e-5 * dense.abs().max().item<double>());
  // Changing the noisy latents of sample 0 changes only that split's outputs (markers included): nothing outside
  // attends to a noisy split, and nothing crosses samples.
  auto in2 = in;
  in2.packed_vae_tokens = in.packed_vae_tokens.clone();
  in2.packed_vae_tokens.slice(0, 0, 4).add_(1.0);
  auto changed = model(in2);
  auto diff = (changed - split).abs().amax(1);
  for (int64_t i = 0; i < in.sequence_length; ++i) {
    if (i >= 10 && i <= 15)  // the noisy split, its two markers included
      EXPECT_GT(diff[i].item<double>(), 1e-4) << i;
    else
      EXPECT_EQ(diff[i].item<double>(), 0.0) << i;
  }
  EXPECT_EQ(model->velocity(split, torch::tensor({11, 12})).sizes(), (torch::IntArrayRef{2, c.patch_latent_dim()}));
  EXPECT_EQ(model->text_logits(split, torch::tensor({7})).sizes(), (torch::IntArrayRef{1, c.llm.vocab_size}));
  // Positions covered twice or not at all are an error.
  in2.packed_vae_token_indexes = torch::tensor({10, 12, 13, 14, 23, 24, 25, 26});
  EXPECT_THROW(model(in2), sgt::Error);
}

// Activation checkpointing (model/recompute.h) must not change the loss or any gradient: the same packed batch
// through every decoder and SigLIP layer with and without recomputation.
TEST(ModelBagel, ActivationCheckpointingKeepsGradientsExact) {
  const BagelConfig c = test::tiny_bagel();
  Bagel model(c);
  randomise(*model, 7);
  BagelPackedInputs in;
  in.layout = PackLayout::from_samples({{{6, AttnMode::kFull}, {4, AttnMode::kCausal}, {6, AttnMode::kNoise}}});
  in.sequence_length = in.layout.total_len();
  std::vector<int64_t> vit_idx = {1, 2, 3, 4}, vae_idx = {11, 12, 13, 14}, text_idx = {0, 5, 6, 7, 8, 9, 10, 15};
  torch::manual_seed(3);
  in.packed_text_indexes = torch::tensor(text_idx);
  in.packed_text_ids = torch::randint(0, c.llm.vocab_size, {8});
  in.packed_position_ids = torch::tensor({0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5});
  in.packed_vit_tokens = torch::randn({4, c.vit.patch_dim()});
  in.packed_vit_position_ids = vit_position_ids(2, 2, c.vit_max_num_patch_per_side);
  in.packed_vit_token_indexes = torch::tensor(vit_idx);
  in.vit_token_seqlens = {4};
  in.packed_vae_tokens = torch::randn({4, c.patch_latent_dim()});
  in.packed_latent_position_ids = torch::tensor({0, 1, 8, 9});
  in.packed_vae_token_indexes = torch::tensor(vae_idx);
  in.packed_timesteps = torch::full({4}, 0.4);
  auto target = torch::randn({4, c.patch_latent_dim()});
  auto run = [&](bool checkpoint) {
    model->zero_grad();
    in.checkpoint = checkpoint;
    auto h = model(in);
    auto loss = (model->velocity(h, torch::tensor(vae_idx)) - target).pow(2).mean() +
                model->text_logits(h, torch::tensor({6, 7, 8})).logsumexp(-1).mean();
    loss.backward();
    std::map<std::string, torch::Tensor> grads;
    for (auto& p : model->named_parameters())
      if (p.value().grad().defined()) grads[p.key()] = p.value().grad().clone();
    return std::make_pair(loss.item<double>(), grads);
  };
  auto [loss_plain, g_plain] = run(false);
  auto [loss_ckpt, g_ckpt] = run(true);
  EXPECT_EQ(loss_plain, loss_ckpt);
  ASSERT_EQ(g_plain.size(), g_ckpt.size());
  int64_t nonzero = 0;
  for (const auto& [name, g] : g_plain) {
    ASSERT_TRUE(g_ckpt.count(name)) << name;
    const double scale = std::max(1e-12, g.abs().max().item<double>());
    EXPECT_LE((g - g_ckpt[name]).abs().max().item<double>() / scale, 1e-6) << name;
    nonzero += g.abs().sum().item<double>() > 0;
  }
  // Gradients reach both expert copies, the ViT and the generation heads.
  EXPECT_GT(g_plain.at("vit_model.vision_model.encoder.layers.0.mlp.fc1.weight").abs().sum().item<double>(), 0);
  EXPECT_GT(g_plain.at("language_model.model.layers.0.mlp_moe_gen.up_proj.weight").abs().sum().item<double>(), 0);
  EXPECT_GT(nonzero, 20);
  // Without grad mode recomputation is a plain call.
  torch::NoGradGuard ng;
  in.checkpoint = true;
  EXPECT_LE((model(in) - [&] { in.checkpoint = false; return model(in); }()).abs().max().item<double>(), 0.0);
}

TEST(ModelBagel, LatentPatchifyRoundTrip) {
  auto lat = torch::arange(4 * 4 * 6, torch::kFloat32).view({4, 4, 6});  // C=4, 2h=4, 2w=6
  auto tok = patchify_latent(lat, 2);
  ASSERT_EQ(tok.sizes(), (torch::IntArrayRef{6, 16}));
  // token (0,0), inside (py, px, c) with c fastest: first entries are channels 0..3 of pixel (0,0)
  EXPECT_TRUE(torch::equal(tok[0].slice(0, 0, 4), lat.index({torch::indexing::Slice(), 0, 0})));
  EXPECT_TRUE(torch::equal(tok[0].slice(0, 4, 8), lat.index({torch::indexing::Slice(), 0, 1})));
  EXPECT_TRUE(torch::equal(tok[0].slice(0, 8, 12), lat.index({torch::indexing::Slice(), 1, 0})));
  EXPECT_TRUE(torch::equal(unpatchify_latent(tok, 2, 3, 2, 4), lat));
}
