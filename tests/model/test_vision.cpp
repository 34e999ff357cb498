// SigLIP NaViT tower vs HF SiglipVisionModel (tools/model_ref.py siglip), and the sin-cos tables / timestep
// features against the formulas of docs/model.md, "Fixed sin-cos tables".
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"
#include "model/embeddings.h"
#include "model/siglip.h"
#include "testing/testing.h"
#include "model_test_util.h"

using namespace sgt;
using namespace sgt::model;

namespace {
// Mirrors TINY_VIT / VIT_SIZES in tools/model_ref.py.
VisionConfig tiny_vit() {
  VisionConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.image_size = 56;
  c.patch_size = 14;
  return c;
}
const std::vector<std::pair<int64_t, int64_t>> kSizes = {{56, 56}, {28, 56}, {42, 14}, {14, 28}};
}  // namespace

TEST(ModelVision, SiglipParityWithTransformersPackedImages) {
  sgt::testing::TempDir dir("siglip");
  const std::string wdir = dir.file("weights"), rdir = dir.file("ref");
  auto res = sgt::testing::run_python_tool("model_ref.py", {"siglip", "--out", wdir, "--ref", rdir});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  auto ref = io::load_tensors(rdir + "/ref.safetensors");
  const VisionConfig c = tiny_vit();
  SiglipVisionModel vit(c);
  auto report = io::load_state_dict(*vit, io::TensorSource::open(wdir));
  EXPECT_TRUE(report.ok()) << report.summary();
  torch::NoGradGuard ng;
  // All images packed into one call; attention must stay inside each image.
  std::vector<torch::Tensor> patches, ids;
  std::vector<int64_t> lens;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    auto img = ref["image_" + std::to_string(i)];
    patches.push_back(vit_patchify(img, c.patch_size));
    ids.push_back(vit_position_ids(kSizes[i].first / 14, kSizes[i].second / 14, c.num_patches_per_side()));
    lens.push_back(patches.back().size(0));
  }
  auto out = vit(torch::cat(patches), torch::cat(ids), lens);
  int64_t b = 0;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    auto expect = ref["hidden_" + std::to_string(i)];
    auto got = out.slice(0, b, b + lens[i]);
    b += lens[i];
    ASSERT_EQ(got.sizes(), expect.sizes()) << i;
    // fp32; LayerNorm-ed outputs of order 1: max abs error <= 1e-5 * max |ref|
    const double e = test::logged(fmt::format("siglip {}x{}", kSizes[i].first, kSizes[i].second),
                                  test::rel_err(got, expect));
    EXPECT_LE(e, 1e-5) << "image " << i;
  }
}

TEST(ModelVision, PatchifyOrderAndPositionIds) {
  // 2 channels, 4x2 image, patch 2: patch (0,0) = pixels (0,0),(0,1),(1,0),(1,1) with channel fastest.
  auto img = torch::arange(16, torch::kFloat32).view({2, 4, 2});
  auto p = vit_patchify(img, 2);
  ASSERT_EQ(p.sizes(), (torch::IntArrayRef{2, 8}));
  auto expect0 = torch::tensor({0.f, 8.f, 1.f, 9.f, 2.f, 10.f, 3.f, 11.f});
  EXPECT_TRUE(torch::equal(p[0], expect0));
  EXPECT_TRUE(torch::equal(vit_position_ids(2, 3, 70), torch::tensor({0, 1, 2, 70, 71, 72})));
  EXPECT_THROW(vit_position_ids(71, 1, 70), sgt::Error);
  EXPECT_THROW(vit_patchify(torch::zeros({3, 15, 14}), 14), sgt::Error);
}

TEST(ModelVision, SinCosTableMatchesFormula) {
  const int64_t S = 5, D = 16, d = D / 2;
  auto table = sincos_2d_table(S, D);
  ASSERT_EQ(table.sizes(), (torch::IntArrayRef{S * S, D}));
  for (int64_t r = 0; r < S; ++r)
    for (int64_t c = 0; c < S; ++c)
      for (int64_t j = 0; j < d / 2; ++j) {
        const double w = std::pow(10000.0, -static_cast<double>(j) / (d / 2));
        auto row = table[r * S + c];
        EXPECT_FLOAT_EQ(row[j].item<float>(), static_cast<float>(std::sin(c * w)));           // column first
        EXPECT_FLOAT_EQ(row[d / 2 + j].item<float>(), static_cast<float>(std::cos(c * w)));
        EXPECT_FLOAT_EQ(row[d + j].item<float>(), static_cast<float>(std::sin(r * w)));       // then row
        EXPECT_FLOAT_EQ(row[d + d / 2 + j].item<float>(), static_cast<float>(std::cos(r * w)));
      }
  PositionEmbedding pe(S, D);
  EXPECT_FALSE(pe->pos_embed.requires_grad());
  EXPECT_TRUE(torch::equal(pe(torch::tensor({7})), table.slice(0, 7, 8)));
}

TEST(ModelVision, TimestepEmbeddingMatchesFormula) {
  auto t = torch::tensor({0.0f, 0.3f, 1.0f});
  auto f = timestep_features(t, 256);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 128; j += 17) {
      const double freq = std::exp(-std::log(10000.0) * j / 128.0), tv = t[i].item<float>();
      EXPECT_NEAR(f[i][j].item<float>(), std::cos(tv * freq), 1e-6);        // cos first
      EXPECT_NEAR(f[i][128 + j].item<float>(), std::sin(tv * freq), 1e-6);
    }
  TimestepEmbedder te(24);
  torch::NoGradGuard g;
  auto& l0 = te->mlp->at<LinearImpl>(0);
  auto& l2 = te->mlp->at<LinearImpl>(2);
  auto expect = torch::nn::functional::linear(torch::silu(torch::nn::functional::linear(f, l0.weight, l0.bias)),
                                              l2.weight, l2.bias);
  EXPECT_TRUE(torch::allclose(te(t), expect, 1e-6, 1e-6));
  auto names = io::state_dict(*te);
  EXPECT_TRUE(names.count("mlp.0.weight") && names.count("mlp.2.bias"));
}
