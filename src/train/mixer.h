#pragma once
// Mixing proxy-task and VQA sources into packed micro-batches (torch-free), with exact resume.
//
// Each micro-batch is one NaViT pack filled up to expected_num_tokens (never above max_num_tokens):
//   1. a sample left over from the previous micro-batch (it did not fit) goes first;
//   2. one sample of every mandatory source that is allowed in this micro-batch (BAGEL's mandatory groups);
//   3. then sources drawn by weight until the pack reaches the expected size.
// With an interleave pattern such as ["segment", "segment", "vqa"] (OmniGen2 style), micro-batch k draws only
// from source pattern[k % n].
// Data parallelism and gradient accumulation share one rule: micro-batch m of rank r is consumer
// g = r * accum + m of G = world_size * accum consumers, and consumer g reads the g-th split of every source.
// So 2 ranks x 1 micro-batch and 1 rank x 2 micro-batches see exactly the same samples.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "data/loader.h"
#include "data/packing.h"
#include "train/samples.h"

namespace sgt::train {

// Largest shuffle buffer (samples held decoded in memory per source).
inline constexpr int64_t kMaxShuffleBuffer = 1 << 20;
// Samples above the per-sample token budget in a row after which Mixer::next gives up.
inline constexpr int64_t kMaxTooLongInRow = 1000;

struct MixConfig {
  std::vector<SourceConfig> sources;
  std::vector<std::string> interleave;  // source names; empty = every micro-batch draws from all sources
  data::PackingConfig packing;
  ImageSizes sizes;
  int64_t decode_threads = 1;
  int64_t shuffle_buffer = 64;
  template <class V>
  void visit(V&& v) {
    v("sources", sources);
    v("interleave", interleave);
    v("packing", packing);
    v("sizes", sizes);
    v("decode_threads", decode_threads);
    v("shuffle_buffer", shuffle_buffer);
  }
  void validate() const;
};

// The sizes against the packing config: grids within the position tables, and the smallest sample of every source
// within max_num_tokens_per_sample. Throws sgt::Error naming the keys, the values and the bounds.
void check_sizes_fit_packing(const ImageSizes& sizes, const data::PackingConfig& packing,
                             const std::vector<SourceConfig>& sources);

struct MixerState {
  static constexpr bool kAllKeysRequired = true;
  std::string rng;                          // Rng::state_string of the source draws
  int64_t micro_batches = 0;                // micro-batches produced by this consumer
  std::vector<int64_t> pending;             // sources whose next sample is a left-over one (re-read on resume)
  std::vector<data::LoaderState> loaders;   // per source: state after the last sample placed in a pack
  template <class V>
  void visit(V&& v) {
    v("rng", rng);
    v("micro_batches", micro_batches);
    v("pending", pending);
    v("loaders", loaders);
  }
  std::string to_json() const;  // through the config visitor (core/config.h)
  static MixerState from_json(const std::string& text);  // throws sgt::Error on malformed text
};

struct MicroBatch {
  data::Pack pack;
  std::vector<std::shared_ptr<const TrainSample>> samples;  // by pack sample index
  std::vector<int64_t> per_source;                          // samples per source
};

// The loader of mix.sources[source] as the trainer reads it (shards or records, format, its seed data_seed +
// 1000003 * source, which also seeds each sample's decode stream); rank, workers and shuffle left at their defaults.
data::LoaderConfig source_loader_config(const MixConfig& mix, size_t source, uint64_t data_seed);

class Mixer {
 public:
  // seed: the data seed (same on every rank); consumer / num_consumers as above.
  Mixer(MixConfig cfg, std::shared_ptr<const text::Tokenizer> tokenizer, uint64_t seed, int64_t consumer,
        int64_t num_consumers, std::optional<MixerState> resume = std::nullopt);
  MicroBatch next();
  MixerState state() const;
  const MixConfig& config() const { return cfg_; }
  // "name: bad samples: 3 (corrupt_image 3); name2: bad samples: 0", counting those of earlier runs this one
  // resumed from (set_prior_bad_samples).
  std::string bad_sample_summary() const;
  // Per source, {reason name: count} (earlier runs included): saved in the trainer's state.rank{r}.json.
  nlohmann::ordered_json bad_samples_json() const;
  // Counts of the run a checkpoint was written by, from bad_samples_json(); unknown reasons and sources are errors.
  // On resume the few bad samples read ahead of the checkpoint's position are counted again when re-read.
  void set_prior_bad_samples(const nlohmann::ordered_json& counts);

 private:
  std::shared_ptr<const TrainSample> read(int64_t source);
  int64_t draw_source(const std::vector<int64_t>& allowed);
  MixConfig cfg_;
  uint64_t seed_;
  int64_t consumer_;
  Rng rng_;
  int64_t micro_batches_ = 0;
  std::vector<std::unique_ptr<data::Loader>> loaders_;
  std::vector<std::unique_ptr<data::BadSampleCounter>> prior_bad_;  // per source: counts of earlier runs
  std::vector<data::LoaderState> placed_;  // per source: loader state after the last placed sample
  std::vector<std::shared_ptr<const TrainSample>> pending_;  // per source: read but not placed (did not fit)
};

}  // namespace sgt::train
