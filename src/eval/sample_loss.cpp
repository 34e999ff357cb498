#include "eval/sample_loss.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/loader.h"
#include "io/torch_tensors.h"
#include "model/image_tokens.h"
#include "train/losses.h"
#include "train/mixer.h"
#include "train/samples.h"

namespace sgt::eval {
namespace {

constexpr const char* kC = "eval.loss";
// Stream of sample i's eps (and the posterior noise of a sampling VAE) under --seed; the raw timesteps come from
// the packer's stream Rng::derive(seed, i).
constexpr uint64_t kNoiseStream = 0x6e6f697365ULL;

using TensorMap = std::map<std::string, torch::Tensor>;

std::string noise_key(int64_t sample, int64_t image, const char* what) {
  return fmt::format("{}.{}.{}", sample, image, what);
}

torch::Tensor i64(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

// The given tensor of a noise file, with the number of elements / the shape a noisy image needs.
const torch::Tensor& given(const TensorMap& file, const std::string& path, const std::string& key,
                           const std::vector<int64_t>& shape, const std::string& what) {
  const auto it = file.find(key);
  SGT_CHECK(it != file.end(), kC, "noise file {}: no '{}' for {} (expected shape {})", path, key, what,
            shape_str(shape));
  SGT_CHECK(it->second.sizes().vec() == shape, kC, "noise file {}: '{}' is {} but {} needs {}", path, key,
            shape_str(it->second.sizes().vec()), what, shape_str(shape));
  return it->second;
}

// Zero-padded stack of [C, h, w] tensors -> [N, C, max h, max w] (PackedDataset.to_tensor's padded_images).
torch::Tensor pad_stack(const std::vector<torch::Tensor>& xs) {
  int64_t h = 0, w = 0;
  for (const auto& x : xs) h = std::max(h, x.size(1)), w = std::max(w, x.size(2));
  auto out = torch::zeros({static_cast<int64_t>(xs.size()), xs.front().size(0), h, w}, torch::kFloat32);
  for (size_t k = 0; k < xs.size(); ++k)
    out[static_cast<int64_t>(k)].slice(1, 0, xs[k].size(1)).slice(2, 0, xs[k].size(2)).copy_(xs[k]);
  return out;
}

// Sample i's inputs under Bagel.forward's names (prefix "<i>.") and its list-valued ones as JSON.
nlohmann::ordered_json export_inputs(TensorMap& out, int64_t i, const data::Pack& pack, const train::TrainSample& s,
                                     const train::TrainBatch& b, const std::vector<torch::Tensor>& latents) {
  const std::string p = std::to_string(i) + ".";
  out[p + "packed_text_ids"] = i64(pack.text_ids);
  out[p + "packed_text_indexes"] = i64(pack.text_indexes);
  out[p + "packed_position_ids"] = i64(pack.position_ids);
  if (!pack.vit_images.empty()) {
    out[p + "packed_vit_tokens"] = b.inputs.packed_vit_tokens.to(torch::kCPU, torch::kFloat32);
    out[p + "packed_vit_position_ids"] = i64(pack.vit_position_ids);
    out[p + "packed_vit_token_indexes"] = i64(pack.vit_token_indexes);
    out[p + "vit_token_seqlens"] = i64(b.inputs.vit_token_seqlens);
  }
  nlohmann::ordered_json shapes = nlohmann::ordered_json::array();
  if (!pack.vae_images.empty()) {
    std::vector<torch::Tensor> images;
    std::vector<float> raw;  // per VAE token, as PackedDataset.pack_sequence repeats the image's draw
    for (const auto& img : pack.vae_images) {
      images.push_back(model::image_to_tensor(s.images.at(img.image_slot)));
      raw.insert(raw.end(), img.grid_h * img.grid_w, static_cast<float>(img.timestep_raw));
      shapes.push_back({img.grid_h, img.grid_w});
    }
    out[p + "padded_images"] = pad_stack(images);
    out[p + "padded_latent"] = pad_stack(latents);
    out[p + "packed_latent_position_ids"] = i64(pack.latent_position_ids);
    out[p + "packed_vae_token_indexes"] = i64(pack.vae_token_indexes);
    out[p + "packed_timesteps"] = torch::tensor(raw, torch::kFloat32);
    if (!pack.mse_loss_indexes.empty()) out[p + "mse_loss_indexes"] = i64(pack.mse_loss_indexes);
  }
  if (!pack.ce_loss_indexes.empty()) {
    out[p + "packed_label_ids"] = i64(pack.label_ids);
    out[p + "ce_loss_indexes"] = i64(pack.ce_loss_indexes);
    out[p + "ce_loss_weights"] = torch::ones({static_cast<int64_t>(pack.ce_loss_indexes.size())}, torch::kFloat32);
  }
  nlohmann::ordered_json modes = nlohmann::ordered_json::array();
  for (const auto m : pack.layout.modes()) modes.push_back(data::to_string(m));
  return {{"index", i},
          {"key", s.key},
          {"sequence_length", pack.length()},
          {"sample_lens", pack.sample_lens},
          {"split_lens", pack.layout.split_lens()},
          {"attn_modes", modes},
          {"patchified_vae_latent_shapes", shapes}};
}

}  // namespace

std::vector<train::TrainSample> read_first_samples(const train::MixConfig& mix, const std::vector<std::string>& only,
                                                   int64_t limit, std::shared_ptr<const text::Tokenizer> tok,
                                                   uint64_t data_seed, data::BadSampleCounter& bad) {
  SGT_CHECK(limit > 0, kC, "--samples {} must be positive", limit);
  std::vector<std::string> names;
  for (const auto& s : mix.sources) names.push_back(s.name);
  for (const auto& name : only)
    SGT_CHECK(std::find(names.begin(), names.end(), name) != names.end(), kC,
              "--source '{}' is not a source of the config (sources: {})", name, fmt::join(names, ", "));
  std::vector<train::TrainSample> out;
  for (size_t si = 0; si < mix.sources.size(); ++si) {
    const auto& src = mix.sources[si];
    if (!only.empty() && std::find(only.begin(), only.end(), src.name) == only.end()) continue;
    // The trainer's loader of this source (train::source_loader_config: every format, the same per-sample decode
    // stream, so the same colours, instruction and question), read in order once.
    data::LoaderConfig lc = train::source_loader_config(mix, si, data_seed);
    lc.shuffle_shards = false;
    lc.shuffle_buffer = 1;
    lc.epochs = 1;
    lc.decode_threads = 1;
    auto dec = std::make_shared<train::SampleDecoder>(src, static_cast<int64_t>(si), mix.sizes, tok);
    data::Loader loader(lc, [dec](data::WdsSample& raw, Rng& rng) -> std::any { return dec->decode(raw, rng); });
    int64_t n = 0;
    while (n < limit) {
      auto s = loader.next();
      if (!s) break;
      out.push_back(std::any_cast<train::TrainSample&&>(std::move(s->value)));
      ++n;
    }
    bad.merge(loader.bad_samples());
    SGT_CHECK(n > 0, kC, "source '{}': no usable sample in {} ({})", src.name, fmt::join(src.shards, ", "),
              bad.summary());
  }
  return out;
}

std::vector<SampleLoss> sample_losses(model::Bagel& model, model::AutoEncoder& ae, const model::BagelConfig& cfg,
                                      const train::MixConfig& mix, const std::vector<train::TrainSample>& samples,
                                      const SampleLossOptions& opt) {
  data::PackingConfig pc = opt.packing;
  pc.text_cond_dropout_prob = pc.vit_cond_dropout_prob = pc.vae_cond_dropout_prob = 0.0;
  TensorMap file, noise_out, inputs;
  if (!opt.noise.empty()) file = io::load_tensors(opt.noise);
  const int64_t dim = cfg.patch_latent_dim();
  nlohmann::ordered_json meta = nlohmann::ordered_json::array();
  std::vector<SampleLoss> out;
  torch::NoGradGuard no_grad;
  model->eval();
  for (size_t si = 0; si < samples.size(); ++si) {
    const auto& s = samples[si];
    const auto i = static_cast<int64_t>(si);
    data::Pack pack;
    Rng rng = Rng::derive(opt.seed, static_cast<uint64_t>(i));
    data::append_sample(pack, s.plan, pc, rng);
    for (size_t k = 0; k < pack.vae_images.size(); ++k) {
      auto& img = pack.vae_images[k];
      if (!img.noisy) continue;
      const auto key = noise_key(i, static_cast<int64_t>(k), "timestep");
      if (!file.empty()) {
        const std::string what = fmt::format("sample {} ('{}') VAE image {}", i, s.key, k);
        img.timestep_raw = given(file, opt.noise, key, {1}, what).to(torch::kFloat64).item<double>();
        SGT_CHECK(std::isfinite(img.timestep_raw), kC, "noise file {}: '{}' is {}, not a finite raw draw", opt.noise,
                  key, img.timestep_raw);
        given(file, opt.noise, noise_key(i, static_cast<int64_t>(k), "noise"), {img.grid_h * img.grid_w, dim}, what);
      }
      noise_out[key] = torch::tensor({img.timestep_raw}, torch::kFloat64);
    }
    const uint64_t noise_seed = Rng::derive(opt.seed ^ kNoiseStream, static_cast<uint64_t>(i)).next_u64();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(noise_seed);
    torch::manual_seed(noise_seed);  // a sampling (FLUX) VAE's posterior draw
    train::BatchOptions bo = opt.batch;
    bo.timestep_shift = opt.timestep_shift;
    bo.noise = [&](int64_t k, const torch::Tensor& x0) {
      const auto key = noise_key(i, k, "noise");
      torch::Tensor eps = !file.empty() ? file.at(key).to(torch::kFloat32)
                                        : torch::randn(x0.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
      noise_out[key] = eps.contiguous();
      return eps;
    };
    std::vector<torch::Tensor> latents(pack.vae_images.size());
    bo.on_latent = [&](int64_t k, const torch::Tensor& latent) {
      latents[static_cast<size_t>(k)] = latent.to(torch::kCPU, torch::kFloat32);
    };
    const auto b = train::build_batch(pack, {&s}, cfg, ae, gen, bo);
    const auto hidden = model->forward(b.inputs);
    const auto terms = train::compute_losses(model, hidden, b);
    SampleLoss r;
    r.index = i;
    r.source = mix.sources.at(s.source).name;
    r.key = s.key;
    r.ce_tokens = b.ce_tokens;
    r.mse_tokens = b.mse_tokens;
    r.ce_sum = terms.ce_sum.item<double>();
    r.mse_sum = terms.mse_sum.item<double>();
    out.push_back(r);
    if (!opt.save_inputs.empty()) {
      meta.push_back(export_inputs(inputs, i, pack, s, b, latents));
      meta.back()["source"] = r.source;
    }
  }
  if (!file.empty() && file.size() > noise_out.size())
    log::warn("eval loss: {} of the {} tensors in {} were not used ({} samples)", file.size() - noise_out.size(),
              file.size(), opt.noise, samples.size());
  if (!opt.save_noise.empty()) io::save_tensors(opt.save_noise, noise_out, {{"format", "pt"}});
  if (!opt.save_inputs.empty())
    io::save_tensors(opt.save_inputs, inputs,
                     {{"format", "pt"},
                      {"sgt.samples", meta.dump()},
                      {"sgt.model_config", config::to_json(cfg).dump()},
                      {"sgt.timestep_shift", nlohmann::json(opt.timestep_shift).dump()}});
  return out;
}

nlohmann::ordered_json sample_loss_json(const SampleLoss& s) {
  return {{"index", s.index},
          {"source", s.source},
          {"key", s.key},
          {"ce_sum", s.ce_sum},
          {"ce_tokens", s.ce_tokens},
          {"ce_mean", s.ce_tokens > 0 ? s.ce_sum / static_cast<double>(s.ce_tokens) : 0.0},
          {"mse_sum", s.mse_sum},
          {"mse_tokens", s.mse_tokens},
          {"mse_mean", s.mse_tokens > 0 ? s.mse_sum / static_cast<double>(s.mse_tokens) : 0.0}};
}

nlohmann::ordered_json total_loss_json(const std::vector<SampleLoss>& all) {
  SampleLoss t;
  for (const auto& s : all) {
    t.ce_sum += s.ce_sum, t.mse_sum += s.mse_sum;
    t.ce_tokens += s.ce_tokens, t.mse_tokens += s.mse_tokens;
  }
  auto j = sample_loss_json(t);
  j.erase("index");
  j.erase("source");
  j.erase("key");
  nlohmann::ordered_json out = {{"total", true}, {"samples", static_cast<int64_t>(all.size())}};
  out.update(j);
  return out;
}

}  // namespace sgt::eval
