#include "model/autoencoder.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <regex>
#include <set>

#include "core/error.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"

namespace sgt::model {

namespace F = torch::nn::functional;

namespace {
torch::nn::GroupNorm group_norm(int64_t groups, int64_t ch) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, ch).eps(1e-6).affine(true));
}
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad));
}
torch::Tensor swish(const torch::Tensor& x) { return x * torch::sigmoid(x); }
}  // namespace

ResnetBlockImpl::ResnetBlockImpl(int64_t in, int64_t out, int64_t groups) {
  norm1 = register_module("norm1", group_norm(groups, in));
  conv1 = register_module("conv1", conv(in, out, 3, 1, 1));
  norm2 = register_module("norm2", group_norm(groups, out));
  conv2 = register_module("conv2", conv(out, out, 3, 1, 1));
  if (in != out) nin_shortcut = register_module("nin_shortcut", conv(in, out, 1));
}

torch::Tensor ResnetBlockImpl::forward(const torch::Tensor& x) {
  auto h = conv1(swish(norm1(x)));
  h = conv2(swish(norm2(h)));
  return (nin_shortcut ? nin_shortcut(x) : x) + h;
}

AttnBlockImpl::AttnBlockImpl(int64_t ch, int64_t groups) {
  norm = register_module("norm", group_norm(groups, ch));
  q = register_module("q", conv(ch, ch, 1));
  k = register_module("k", conv(ch, ch, 1));
  v = register_module("v", conv(ch, ch, 1));
  proj_out = register_module("proj_out", conv(ch, ch, 1));
}

torch::Tensor AttnBlockImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto n = norm(x);
  // [B, C, H, W] -> [B, 1, H*W, C]
  auto seq = [&](const torch::Tensor& t) { return t.reshape({B, 1, C, H * W}).transpose(2, 3); };
  auto a = at::scaled_dot_product_attention(seq(q(n)), seq(k(n)), seq(v(n)));
  return x + proj_out(a.transpose(2, 3).reshape({B, C, H, W}));
}

ResampleImpl::ResampleImpl(int64_t ch, bool down) : down_(down) {
  conv = register_module("conv", down ? ::sgt::model::conv(ch, ch, 3, 2, 0) : ::sgt::model::conv(ch, ch, 3, 1, 1));
}

torch::Tensor ResampleImpl::forward(const torch::Tensor& x) {
  if (down_) return conv(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));  // asymmetric: right 1, bottom 1
  return conv(F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0})
                                    .mode(torch::kNearest)));
}

MidBlockImpl::MidBlockImpl(int64_t ch, int64_t groups) {
  block_1 = register_module("block_1", ResnetBlock(ch, ch, groups));
  attn_1 = register_module("attn_1", AttnBlock(ch, groups));
  block_2 = register_module("block_2", ResnetBlock(ch, ch, groups));
}

torch::Tensor MidBlockImpl::forward(const torch::Tensor& x) { return block_2(attn_1(block_1(x))); }

EncoderImpl::EncoderImpl(const VAEConfig& c) {
  const int64_t levels = c.ch_mult.size(), g = c.norm_groups;
  conv_in = register_module("conv_in", conv(c.in_channels, c.ch, 3, 1, 1));
  down = register_module("down", torch::nn::ModuleList());
  int64_t block_in = c.ch;
  for (int64_t i = 0; i < levels; ++i) {
    auto level = Level();
    level->block = level->register_module("block", torch::nn::ModuleList());
    const int64_t block_out = c.ch * c.ch_mult[i];
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      level->block->push_back(ResnetBlock(block_in, block_out, g));
      block_in = block_out;
    }
    if (i != levels - 1) level->downsample = level->register_module("downsample", Resample(block_in, true));
    down->push_back(level);
  }
  mid = register_module("mid", MidBlock(block_in, g));
  norm_out = register_module("norm_out", group_norm(g, block_in));
  conv_out = register_module("conv_out", conv(block_in, 2 * c.z_channels, 3, 1, 1));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  auto h = conv_in(x);
  for (const auto& m : *down) {
    auto* level = m->as<Level>();
    for (const auto& b : *level->block) h = b->as<ResnetBlock>()->forward(h);
    if (level->downsample) h = level->downsample(h);
  }
  h = mid(h);
  return conv_out(swish(norm_out(h)));
}

DecoderImpl::DecoderImpl(const VAEConfig& c) {
  const int64_t levels = c.ch_mult.size(), g = c.norm_groups;
  int64_t block_in = c.ch * c.ch_mult.back();
  conv_in = register_module("conv_in", conv(c.z_channels, block_in, 3, 1, 1));
  mid = register_module("mid", MidBlock(block_in, g));
  std::vector<Level> built(levels, Level(nullptr));
  for (int64_t i = levels - 1; i >= 0; --i) {  // built from the deepest level, stored by level index
    auto level = Level();
    level->block = level->register_module("block", torch::nn::ModuleList());
    const int64_t block_out = c.ch * c.ch_mult[i];
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      level->block->push_back(ResnetBlock(block_in, block_out, g));
      block_in = block_out;
    }
    if (i != 0) level->upsample = level->register_module("upsample", Resample(block_in, false));
    built[i] = level;
  }
  up = register_module("up", torch::nn::ModuleList());
  for (auto& l : built) up->push_back(l);
  norm_out = register_module("norm_out", group_norm(g, block_in));
  conv_out = register_module("conv_out", conv(block_in, c.out_ch, 3, 1, 1));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto h = mid(conv_in(z));
  for (int64_t i = static_cast<int64_t>(up->size()) - 1; i >= 0; --i) {
    auto* level = up[i]->as<Level>();
    for (const auto& b : *level->block) h = b->as<ResnetBlock>()->forward(h);
    if (level->upsample) h = level->upsample(h);
  }
  return conv_out(swish(norm_out(h)));
}

AutoEncoderImpl::AutoEncoderImpl(const VAEConfig& c) : config_(c) {
  c.validate();
  if (c.kind == VaeKind::kFlux) {
    encoder = register_module("encoder", Encoder(c));
    decoder = register_module("decoder", Decoder(c));
  }
}

torch::Tensor AutoEncoderImpl::encode_moments(const torch::Tensor& x) {
  SGT_CHECK(config_.kind == VaeKind::kFlux, "model.vae", "encode_moments needs the flux autoencoder");
  return encoder(x);
}

torch::Tensor AutoEncoderImpl::encode(const torch::Tensor& x, torch::Generator gen) {
  const int64_t f = config_.downsample();
  SGT_CHECK(x.dim() == 4 && x.size(1) == config_.in_channels && x.size(2) % f == 0 && x.size(3) % f == 0,
            "model.vae", "images {} must be [B, {}, H, W] with H, W multiples of {}",
            sgt::shape_str(x.sizes().vec()), config_.in_channels, f);
  if (config_.kind == VaeKind::kPixel) {
    const int64_t B = x.size(0), C = x.size(1), h = x.size(2) / f, w = x.size(3) / f;
    // [B, C, h, py, w, px] -> [B, (py, px, C), h, w]
    return x.reshape({B, C, h, f, w, f}).permute({0, 3, 5, 1, 2, 4}).reshape({B, f * f * C, h, w});
  }
  auto moments = encoder(x);
  auto mean = moments.slice(1, 0, config_.z_channels), logvar = moments.slice(1, config_.z_channels);
  auto z = mean;
  if (config_.sample) {
    // A generator of another device (inference draws BAGEL's posterior noise on the host, where BAGEL's app keeps
    // its VAE, also when the VAE runs on a GPU here) draws there and the noise moves to the mean's device.
    auto eps = !gen.defined() ? torch::randn_like(mean)
               : gen.device() == mean.device()
                   ? at::randn(mean.sizes(), gen, mean.options())
                   : at::randn(mean.sizes(), gen, mean.options().device(gen.device())).to(mean.device());
    z = mean + torch::exp(0.5 * logvar) * eps;
  }
  return config_.scale_factor * (z - config_.shift_factor);
}

torch::Tensor AutoEncoderImpl::decode(const torch::Tensor& z) {
  if (config_.kind == VaeKind::kPixel) {
    const int64_t f = config_.pixel_patch, C = config_.in_channels;
    SGT_CHECK(z.dim() == 4 && z.size(1) == f * f * C, "model.vae", "pixel latent {} must be [B, {}, h, w]",
              sgt::shape_str(z.sizes().vec()), f * f * C);
    const int64_t B = z.size(0), h = z.size(2), w = z.size(3);
    return z.reshape({B, f, f, C, h, w}).permute({0, 3, 4, 1, 5, 2}).reshape({B, C, h * f, w * f});
  }
  SGT_CHECK(z.dim() == 4 && z.size(1) == config_.z_channels, "model.vae", "latent {} must be [B, {}, h, w]",
            sgt::shape_str(z.sizes().vec()), config_.z_channels);
  return decoder(z / config_.scale_factor + config_.shift_factor);
}

namespace {

// One diffusers AutoencoderKL name -> its FLUX name (nullopt: no equivalent, e.g. quant_conv).
std::optional<std::string> diffusers_ae_name(const std::string& key, int64_t num_levels) {
  static const std::regex down_res(R"(encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*))");
  static const std::regex down_ds(R"(encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*))");
  static const std::regex up_res(R"(decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*))");
  static const std::regex up_us(R"(decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*))");
  static const std::regex mid_res(R"((encoder|decoder)\.mid_block\.resnets\.(\d)\.(.*))");
  static const std::regex mid_attn(
      R"((encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(.*))");
  static const std::regex io_(R"((encoder|decoder)\.(conv_in|conv_out|conv_norm_out)\.(.*))");
  auto res_part = [](std::string p) { return p.rfind("conv_shortcut.", 0) == 0 ? "nin_shortcut." + p.substr(14) : p; };
  // up_blocks count from the lowest resolution, FLUX's `up` from the highest.
  auto up_level = [&](const std::string& i) -> std::optional<std::string> {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(i.data(), i.data() + i.size(), v);
    if (ec != std::errc() || end != i.data() + i.size() || v < 0 || v >= num_levels) return std::nullopt;
    return std::to_string(num_levels - 1 - v);
  };
  std::smatch m;
  if (std::regex_match(key, m, down_res))
    return "encoder.down." + m[1].str() + ".block." + m[2].str() + "." + res_part(m[3]);
  if (std::regex_match(key, m, down_ds)) return "encoder.down." + m[1].str() + ".downsample.conv." + m[2].str();
  if (std::regex_match(key, m, up_res)) {
    auto l = up_level(m[1]);
    if (!l) return std::nullopt;
    return "decoder.up." + *l + ".block." + m[2].str() + "." + res_part(m[3]);
  }
  if (std::regex_match(key, m, up_us)) {
    auto l = up_level(m[1]);
    if (!l) return std::nullopt;
    return "decoder.up." + *l + ".upsample.conv." + m[2].str();
  }
  if (std::regex_match(key, m, mid_res))
    return m[1].str() + ".mid.block_" + (m[2].str() == "0" ? "1" : "2") + "." + res_part(m[3]);
  if (std::regex_match(key, m, mid_attn)) {
    static const std::map<std::string, std::string> attn = {
        {"group_norm", "norm"}, {"to_q", "q"}, {"to_k", "k"}, {"to_v", "v"}, {"to_out.0", "proj_out"}};
    return m[1].str() + ".mid.attn_1." + attn.at(m[2]) + "." + m[3].str();
  }
  if (std::regex_match(key, m, io_))
    return m[1].str() + "." + (m[2] == "conv_norm_out" ? std::string("norm_out") : m[2].str()) + "." + m[3].str();
  return std::nullopt;
}

}  // namespace

io::NameMapper diffusers_ae_mapper(int64_t num_levels) {
  io::NameMapper m;
  m.description = "diffusers AutoencoderKL names";
  m.recognises = [](const std::vector<std::string>& names) {
    return std::binary_search(names.begin(), names.end(), "encoder.conv_in.weight") &&
           std::binary_search(names.begin(), names.end(), "encoder.down_blocks.0.resnets.0.conv1.weight");
  };
  m.module_name = [num_levels](const std::string& key) { return diffusers_ae_name(key, num_levels); };
  m.reshape_same_numel = true;  // attention projections: Linear [o, i] in diffusers, 1x1 Conv2d [o, i, 1, 1] here
  return m;
}

std::map<std::string, torch::Tensor> diffusers_to_flux_ae(const std::map<std::string, torch::Tensor>& src,
                                                          int64_t num_levels) {
  std::map<std::string, torch::Tensor> out;
  std::vector<std::string> unknown;
  for (const auto& [key, t] : src) {
    auto name = diffusers_ae_name(key, num_levels);
    if (!name) {
      unknown.push_back(key);
      continue;
    }
    // 1x1 attention projections: Linear weights [o, i] -> conv form [o, i, 1, 1]
    const bool attn_weight = name->find(".mid.attn_1.") != std::string::npos && t.dim() == 2;
    out[*name] = attn_weight ? t.view({t.size(0), t.size(1), 1, 1}) : t;
  }
  SGT_CHECK(unknown.empty(), "model.vae", "diffusers AutoencoderKL keys without a FLUX equivalent: {}",
            fmt::join(unknown, ", "));
  return out;
}

void load_autoencoder(AutoEncoder& ae, const std::string& path) {
  SGT_CHECK(ae->config().kind == VaeKind::kFlux, "model.vae", "{}: the pixel autoencoder has no weights", path);
  auto source = io::TensorSource::open(path);
  io::LoadOptions opt;
  opt.mappers = {diffusers_ae_mapper(static_cast<int64_t>(ae->config().ch_mult.size()))};
  io::load_state_dict(*ae, source, opt);
}

}  // namespace sgt::model
