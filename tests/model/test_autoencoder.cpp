// FLUX autoencoder vs diffusers AutoencoderKL (tools/model_ref.py vae) through the key mapping; scale/shift and
// sample-vs-mean; the pixel-space option. fp32 tolerance: max |ours - ref| <= 1e-5 * max |ref|.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "io/state_dict.h"
#include "io/torch_tensors.h"
#include "model/autoencoder.h"
#include "model_test_util.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::model;

namespace {
// Mirrors TINY_VAE in tools/model_ref.py.
VAEConfig tiny_vae() {
  VAEConfig c;
  c.ch = 32;
  c.ch_mult = {1, 2};
  c.num_res_blocks = 1;
  c.z_channels = 4;
  c.norm_groups = 8;
  return c;
}
// The error, printed with the label "vae" (model_test_util.h).
double rel_err(const torch::Tensor& a, const torch::Tensor& b) { return test::logged("vae", test::rel_err(a, b)); }
}  // namespace

TEST(ModelAutoencoder, ParityWithDiffusersThroughKeyMapping) {
  sgt::testing::TempDir dir("vae");
  const std::string wdir = dir.file("weights"), rdir = dir.file("ref");
  auto res = sgt::testing::run_python_tool("model_ref.py", {"vae", "--out", wdir, "--ref", rdir});
  ASSERT_EQ(res.exit_code, 0) << res.output;
  auto ref = io::load_tensors(rdir + "/ref.safetensors");
  VAEConfig c = tiny_vae();
  AutoEncoder ae(c);
  load_autoencoder(ae, wdir + "/diffusers_ae.safetensors");
  torch::NoGradGuard ng;
  EXPECT_LE(rel_err(ae->encode_moments(ref["x"]), ref["moments"]), 1e-5);
  EXPECT_LE(rel_err(ae->decoder(ref["z"]), ref["decoded"]), 1e-5);
  // decode() undoes scale and shift before the decoder.
  auto scaled = c.scale_factor * (ref["z"] - c.shift_factor);
  EXPECT_LE(rel_err(ae->decode(scaled), ref["decoded"]), 1e-5);
  // mean flag: scale * (mean - shift); sampling draws around it with std exp(logvar / 2)
  c.sample = false;
  AutoEncoder ae_mean(c);
  load_autoencoder(ae_mean, wdir + "/diffusers_ae.safetensors");
  auto expect_mean = c.scale_factor * (ref["mean"] - c.shift_factor);
  EXPECT_LE(rel_err(ae_mean->encode(ref["x"]), expect_mean), 1e-5);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(7), g2 = at::make_generator<at::CPUGeneratorImpl>(7);
  auto s1 = ae->encode(ref["x"], g1), s2 = ae->encode(ref["x"], g2);
  EXPECT_TRUE(torch::equal(s1, s2));       // seeded generator: reproducible
  EXPECT_GT((s1 - expect_mean).abs().max().item<double>(), 1e-4);  // and really sampled
  // Original FLUX names round-trip through the strict loader.
  io::save_tensors(dir.file("ae.safetensors"), io::state_dict(*ae));
  AutoEncoder ae2(tiny_vae());
  load_autoencoder(ae2, dir.file("ae.safetensors"));
  EXPECT_TRUE(torch::equal(ae2->decoder(ref["z"]), ae->decoder(ref["z"])));
  auto sd = io::state_dict(*ae);
  for (const char* k : {"encoder.down.0.block.0.conv1.weight", "encoder.down.0.downsample.conv.weight",
                        "encoder.down.1.block.0.nin_shortcut.weight", "encoder.mid.attn_1.proj_out.weight",
                        "decoder.up.1.upsample.conv.bias", "decoder.up.0.block.1.conv2.weight",
                        "decoder.up.0.block.0.nin_shortcut.weight", "decoder.norm_out.weight"})
    EXPECT_TRUE(sd.count(k)) << k;
  auto bad = io::load_tensors(wdir + "/diffusers_ae.safetensors");
  bad["quant_conv.weight"] = torch::zeros({8, 8, 1, 1});
  EXPECT_THROW(diffusers_to_flux_ae(bad, 2), sgt::Error);
}

TEST(ModelAutoencoder, FluxGeometryKeys) {
  AutoEncoder ae(VAEConfig{});  // the real FLUX geometry (~84 M parameters), docs/model.md, "FLUX autoencoder"
  auto sd = io::state_dict(*ae);
  int64_t n = 0;
  for (auto& [k, t] : sd) n += t.numel();
  EXPECT_GT(n, 83'000'000);
  EXPECT_LT(n, 84'500'000);
  EXPECT_EQ(sd.at("encoder.conv_out.weight").sizes(), (torch::IntArrayRef{32, 512, 3, 3}));
  EXPECT_EQ(sd.at("decoder.conv_in.weight").sizes(), (torch::IntArrayRef{512, 16, 3, 3}));
  EXPECT_EQ(sd.at("decoder.up.0.block.0.nin_shortcut.weight").sizes(), (torch::IntArrayRef{128, 256, 1, 1}));
  EXPECT_EQ(sd.at("decoder.up.1.block.0.nin_shortcut.weight").sizes(), (torch::IntArrayRef{256, 512, 1, 1}));
  EXPECT_TRUE(sd.count("encoder.down.2.block.0.nin_shortcut.weight"));
  EXPECT_FALSE(sd.count("encoder.down.3.downsample.conv.weight"));
  EXPECT_FALSE(sd.count("decoder.up.2.block.0.nin_shortcut.weight"));
  EXPECT_TRUE(sd.count("decoder.up.3.block.2.conv1.weight"));
}

TEST(ModelAutoencoder, PixelSpaceIsExactlyInvertible) {
  VAEConfig c;
  c.kind = VaeKind::kPixel;
  c.pixel_patch = 4;
  AutoEncoder ae(c);
  EXPECT_TRUE(io::state_dict(*ae).empty());
  auto x = torch::rand({2, 3, 8, 12});
  auto z = ae->encode(x);
  ASSERT_EQ(z.sizes(), (torch::IntArrayRef{2, 48, 2, 3}));
  // latent position (0,0) holds the 4x4x3 pixel patch in (py, px, c) order
  EXPECT_TRUE(torch::equal(z.index({0, torch::indexing::Slice(), 0, 0}),
                           x[0].slice(1, 0, 4).slice(2, 0, 4).permute({1, 2, 0}).flatten()));
  EXPECT_TRUE(torch::equal(ae->decode(z), x));
  EXPECT_THROW(ae->encode(torch::rand({1, 3, 6, 8})), sgt::Error);
}
