#include "train/batch.h"

#include <cmath>

#include "core/error.h"
#include "data/packing.h"
#include "model/image_tokens.h"
#include "model/siglip.h"

namespace sgt::train {
namespace {

torch::Tensor i64(const std::vector<int64_t>& v, torch::Device device) {
  return torch::tensor(v, torch::kInt64).to(device);
}

const data::Image& image_of(const std::vector<const TrainSample*>& samples, const data::PackedImage& img,
                            const char* what) {
  SGT_CHECK(img.sample >= 0 && img.sample < static_cast<int64_t>(samples.size()) && samples[img.sample] != nullptr,
            "train.batch", "{} image refers to sample {} of {}", what, img.sample, samples.size());
  const auto& s = *samples[img.sample];
  SGT_CHECK(img.image_slot >= 0 && img.image_slot < static_cast<int64_t>(s.images.size()), "train.batch",
            "sample {}: {} image slot {} but the sample has {} images", s.key, what, img.image_slot, s.images.size());
  return s.images[img.image_slot];
}

}  // namespace

model::AttentionImpl pick_attention(AttentionChoice attention, int64_t length, int64_t heads, torch::Device device) {
  switch (attention) {
    case AttentionChoice::kDense: return model::AttentionImpl::kDense;
    case AttentionChoice::kSplitwise: return model::AttentionImpl::kSplitwise;
    case AttentionChoice::kPacked: return model::AttentionImpl::kPacked;
    case AttentionChoice::kAuto: break;
  }
  return device.is_cuda() && length * length * heads <= BatchOptions::kAutoPackedMaxScores
             ? model::AttentionImpl::kPacked
             : model::AttentionImpl::kSplitwise;
}

model::AttentionImpl pick_attention(const std::string& attention, int64_t length, int64_t heads,
                                    torch::Device device) {
  return pick_attention(enum_from_name<AttentionChoice>(attention, "attention"), length, heads, device);
}

double shift_timestep(double t, double shift) { return shift * t / (1.0 + (shift - 1.0) * t); }

TrainBatch build_batch(const data::Pack& pack, const std::vector<const TrainSample*>& samples,
                       const model::BagelConfig& cfg, model::AutoEncoder& ae, torch::Generator& gen,
                       const BatchOptions& opt) {
  SGT_CHECK(samples.size() == pack.sample_keys.size(), "train.batch", "{} samples for a pack of {}", samples.size(),
            pack.sample_keys.size());
  pack.validate();
  const auto dev = opt.device;
  TrainBatch b;
  auto& in = b.inputs;
  in.sequence_length = pack.length();
  in.packed_text_ids = i64(pack.text_ids, dev);
  in.packed_text_indexes = i64(pack.text_indexes, dev);
  in.packed_position_ids = i64(pack.position_ids, dev);
  in.layout = pack.layout;  // validated with the pack above
  in.checkpoint = opt.checkpoint;
  in.impl = pick_attention(opt.attention, pack.length(), cfg.llm.num_attention_heads, dev);
  b.num_tokens = pack.length();
  b.num_samples = static_cast<int64_t>(samples.size());

  // ViT: patches [N_vit, 14*14*3] in pack order, per-image lengths.
  if (!pack.vit_images.empty()) {
    const int64_t p = cfg.vit.patch_size;
    std::vector<torch::Tensor> patches;
    for (const auto& img : pack.vit_images) {
      const auto& pixels = image_of(samples, img, "ViT");
      SGT_CHECK(pixels.width == img.grid_w * p && pixels.height == img.grid_h * p, "train.batch",
                "ViT image {}x{} does not match its {}x{} grid of {}-pixel patches", pixels.width, pixels.height,
                img.grid_w, img.grid_h, p);
      patches.push_back(model::vit_patchify(model::image_to_tensor(pixels), p));
      in.vit_token_seqlens.push_back(img.grid_h * img.grid_w);
    }
    in.packed_vit_tokens = torch::cat(patches).to(dev, opt.dtype);
    in.packed_vit_position_ids = i64(pack.vit_position_ids, dev);
    in.packed_vit_token_indexes = i64(pack.vit_token_indexes, dev);
  }

  // VAE: latents of every image (frozen AE, no grad), noised where the image carries the loss.
  if (!pack.vae_images.empty()) {
    torch::NoGradGuard no_grad;
    const int64_t lp = cfg.latent_patch_size, f = cfg.pixels_per_latent_token();
    std::vector<torch::Tensor> tokens, steps, targets;
    std::vector<int64_t> mse_idx, noisy_rows;  // sequence positions / rows in packed_vae_tokens of noisy tokens
    int64_t vae_rows = 0;                      // rows of packed_vae_tokens so far
    for (size_t k = 0; k < pack.vae_images.size(); ++k) {
      const auto& img = pack.vae_images[k];
      const auto& pixels = image_of(samples, img, "VAE");
      SGT_CHECK(pixels.width == img.grid_w * f && pixels.height == img.grid_h * f, "train.batch",
                "VAE image {}x{} does not match its {}x{} grid of {}-pixel tokens", pixels.width, pixels.height,
                img.grid_w, img.grid_h, f);
      auto latent = ae->encode(model::image_to_tensor(pixels).unsqueeze(0).to(dev))[0];  // [C, 2h, 2w]
      if (opt.on_latent) opt.on_latent(static_cast<int64_t>(k), latent);
      auto x0 = model::patchify_latent(latent, lp).to(torch::kFloat32);                   // [h*w, D]
      const int64_t n = x0.size(0);
      if (img.noisy) {
        const double t = shift_timestep(1.0 / (1.0 + std::exp(-img.timestep_raw)), opt.timestep_shift);
        torch::Tensor eps;
        if (opt.noise) {
          eps = opt.noise(static_cast<int64_t>(k), x0);
          SGT_CHECK(eps.defined() && eps.sizes() == x0.sizes(), "train.batch",
                    "noise of VAE image {} is {} but its latent tokens are {}", k,
                    eps.defined() ? sgt::shape_str(eps.sizes().vec()) : "undefined", sgt::shape_str(x0.sizes().vec()));
          eps = eps.to(dev, torch::kFloat32);
        } else {
          eps = torch::randn(x0.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)).to(dev);
        }
        tokens.push_back((1.0 - t) * x0 + t * eps);
        targets.push_back(eps - x0);
        steps.push_back(torch::full({n}, t, torch::kFloat32).to(dev));
        for (int64_t k = 0; k < n; ++k) {
          mse_idx.push_back(img.first_token + k);
          noisy_rows.push_back(vae_rows + k);
        }
      } else {
        tokens.push_back(x0);
        steps.push_back(torch::zeros({n}, torch::kFloat32).to(dev));
      }
      vae_rows += n;
    }
    SGT_CHECK(mse_idx == pack.mse_loss_indexes, "train.batch",
              "noisy image tokens ({}) disagree with the pack's MSE indexes ({})", mse_idx.size(),
              pack.mse_loss_indexes.size());
    in.packed_vae_tokens = torch::cat(tokens).to(opt.dtype);
    in.packed_timesteps = torch::cat(steps);
    in.packed_latent_position_ids = i64(pack.latent_position_ids, dev);
    in.packed_vae_token_indexes = i64(pack.vae_token_indexes, dev);
    SGT_CHECK(in.packed_vae_tokens.size(0) == in.packed_vae_token_indexes.size(0), "train.batch",
              "{} VAE tokens for {} VAE positions", in.packed_vae_tokens.size(0), in.packed_vae_token_indexes.size(0));
    if (!targets.empty()) {
      b.mse_targets = torch::cat(targets);
      // The model's own inputs at those rows, so x0-prediction inverts exactly the x_t it was given.
      const auto rows = i64(noisy_rows, dev);
      b.mse_inputs = in.packed_vae_tokens.index_select(0, rows).to(torch::kFloat32);
      b.mse_timesteps = in.packed_timesteps.index_select(0, rows);
    }
    b.mse_indexes = i64(mse_idx, dev);
    b.mse_tokens = static_cast<int64_t>(mse_idx.size());
  }
  b.ce_indexes = i64(pack.ce_loss_indexes, dev);
  b.ce_labels = i64(pack.label_ids, dev);
  b.ce_tokens = static_cast<int64_t>(pack.ce_loss_indexes.size());
  return b;
}

}  // namespace sgt::train
