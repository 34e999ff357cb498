#pragma once
// FLUX.1 autoencoder (docs/model.md, "FLUX autoencoder") with the original `ae.safetensors` names
// (encoder.down.i.block.j, mid.block_1, mid.attn_1.{q,k,v,proj_out}, ...), a key mapping for diffusers
// `AutoencoderKL` files, and a weight-free pixel-space option (patchify / unpatchify) for small worlds.
#include <map>
#include <string>

#include <torch/torch.h>

#include "io/state_dict.h"
#include "model/config.h"

namespace sgt::model {

// GroupNorm -> swish -> conv3x3 -> GroupNorm -> swish -> conv3x3, plus a 1x1 nin_shortcut when in != out.
class ResnetBlockImpl : public torch::nn::Module {
 public:
  ResnetBlockImpl(int64_t in, int64_t out, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] -> [B, out, H, W]
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, nin_shortcut{nullptr};
};
TORCH_MODULE(ResnetBlock);

// Single-head self-attention over the H*W positions (1x1 conv projections), residual.
class AttnBlockImpl : public torch::nn::Module {
 public:
  AttnBlockImpl(int64_t ch, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> same
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d q{nullptr}, k{nullptr}, v{nullptr}, proj_out{nullptr};
};
TORCH_MODULE(AttnBlock);

// Holds `conv`: Downsample pads (right 1, bottom 1) then a stride-2 conv3x3; Upsample is 2x nearest + conv3x3.
class ResampleImpl : public torch::nn::Module {
 public:
  ResampleImpl(int64_t ch, bool down);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  bool down_;
};
TORCH_MODULE(Resample);

class MidBlockImpl : public torch::nn::Module {
 public:
  MidBlockImpl(int64_t ch, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);
  ResnetBlock block_1{nullptr}, block_2{nullptr};
  AttnBlock attn_1{nullptr};
};
TORCH_MODULE(MidBlock);

// One resolution level: `block` list, empty `attn` list, optional downsample / upsample.
class LevelImpl : public torch::nn::Module {
 public:
  torch::nn::ModuleList block{nullptr};
  Resample downsample{nullptr}, upsample{nullptr};
};
TORCH_MODULE(Level);

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const VAEConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] -> moments [B, 2z, H/f, W/f]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down{nullptr};
  MidBlock mid{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(Encoder);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const VAEConfig& c);
  torch::Tensor forward(const torch::Tensor& z);  // [B, z, h, w] -> [B, out, h*f, w*f]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList up{nullptr};  // up[i] is level i; applied from the last level to 0
  MidBlock mid{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(Decoder);

// encode: pixels in [-1, 1] [B, 3, H, W] -> scaled latent [B, C, H/f, W/f]; decode: the inverse, output in [-1, 1].
// kind "flux": z = mean (+ exp(logvar/2) * eps when sample), then scale*(z - shift); decode undoes it.
// kind "pixel": no weights, a space-to-depth by pixel_patch (C = 3 p^2), exactly invertible.
class AutoEncoderImpl : public torch::nn::Module {
 public:
  explicit AutoEncoderImpl(const VAEConfig& c);
  torch::Tensor encode(const torch::Tensor& x, torch::Generator gen = {});  // gen only used when sampling
  torch::Tensor encode_moments(const torch::Tensor& x);                     // raw [B, 2z, h, w] (flux only)
  torch::Tensor decode(const torch::Tensor& z);
  const VAEConfig& config() const { return config_; }
  Encoder encoder{nullptr};
  Decoder decoder{nullptr};

 private:
  VAEConfig config_;
};
TORCH_MODULE(AutoEncoder);

// diffusers AutoencoderKL names -> original FLUX names (1x1 attention Linear weights reshaped to conv form).
// Throws naming any key it cannot map (quant_conv / post_quant_conv included: FLUX has none).
std::map<std::string, torch::Tensor> diffusers_to_flux_ae(const std::map<std::string, torch::Tensor>& diffusers,
                                                          int64_t num_levels);
// The name mapper of diffusers AutoencoderKL files (io/state_dict.h): recognised by their encoder.conv_in and
// down_blocks names; quant_conv / post_quant_conv have no FLUX equivalent (reported as unexpected).
io::NameMapper diffusers_ae_mapper(int64_t num_levels);
// Loads ae.safetensors (original names) or a diffusers AutoencoderKL file (through diffusers_ae_mapper), strictly.
void load_autoencoder(AutoEncoder& ae, const std::string& path);

}  // namespace sgt::model
