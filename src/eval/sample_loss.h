#pragma once
// `sgt eval loss` (docs/eval.md, "Training loss of given samples"): the trainer's CE and MSE of single samples with
// given (or seeded) timesteps and noise, and the packed inputs under the key names of BAGEL's Bagel.forward
// (modeling/bagel/bagel.py) so that a Python forward can be compared number for number (tools/bagel_loss_ref.py).
//
// Each sample is packed alone (one pack per sample, as data::append_sample lays it out in the trainer's packs; no
// sample sees another in the trainer either), with the condition dropouts off: the whole sample is measured. The
// loss is train::build_batch + train::compute_losses, the trainer's own code.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "data/bad_sample.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "text/tokenizer.h"
#include "train/batch.h"
#include "train/mixer.h"

namespace sgt::eval {

// The first `limit` samples of each source of `mix` (or of those named in `only`, in the mix's order), decoded as
// the trainer decodes them (train::SampleDecoder with the trainer's per-sample stream of that source and key). Bad
// samples are skipped and counted in `bad`.
std::vector<train::TrainSample> read_first_samples(const train::MixConfig& mix, const std::vector<std::string>& only,
                                                   int64_t limit, std::shared_ptr<const text::Tokenizer> tok,
                                                   uint64_t data_seed, data::BadSampleCounter& bad);

struct SampleLossOptions {
  double timestep_shift = 1.0;  // the TrainConfig's
  uint64_t seed = 0;            // without a noise file: raw timesteps and eps of sample i from streams of (seed, i)
  std::string noise;            // safetensors with "<i>.<k>.timestep" [1] and "<i>.<k>.noise" [n_tokens, D]
  std::string save_noise;       // write the timesteps and noise used, in that layout
  std::string save_inputs;      // write Bagel.forward's packed inputs per sample ("<i>.<name>")
  data::PackingConfig packing;  // token ids and position tables (dropouts are set to 0)
  train::BatchOptions batch;    // device, dtype, attention (noise / on_latent are set per sample)
};

struct SampleLoss {
  int64_t index = 0;
  std::string source, key;
  double ce_sum = 0, mse_sum = 0;
  int64_t ce_tokens = 0, mse_tokens = 0;
};

// Losses of every sample (sample i = samples[i]; its source name is mix.sources[samples[i].source].name).
std::vector<SampleLoss> sample_losses(model::Bagel& model, model::AutoEncoder& ae, const model::BagelConfig& cfg,
                                      const train::MixConfig& mix, const std::vector<train::TrainSample>& samples,
                                      const SampleLossOptions& opt);

// {"index", "source", "key", "ce_sum", "ce_tokens", "ce_mean", "mse_sum", "mse_tokens", "mse_mean"} (means 0 when
// there are no tokens); total: the sums over all samples, the means of the sums (the trainer's normalisation).
nlohmann::ordered_json sample_loss_json(const SampleLoss& s);
nlohmann::ordered_json total_loss_json(const std::vector<SampleLoss>& all);

}  // namespace sgt::eval
