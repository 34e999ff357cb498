#include "train/mixer.h"

#include <algorithm>
#include <any>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

namespace sgt::train {

void MixConfig::validate() const {
  SGT_CHECK(!sources.empty(), "train.mix", "no data sources");
  for (size_t i = 0; i < sources.size(); ++i) {
    sources[i].validate();
    for (size_t j = 0; j < i; ++j)
      SGT_CHECK(sources[i].name != sources[j].name, "train.mix", "two sources are named '{}'", sources[i].name);
  }
  for (const auto& name : interleave) {
    SGT_CHECK(std::any_of(sources.begin(), sources.end(), [&](const SourceConfig& s) { return s.name == name; }),
              "train.mix", "interleave names unknown source '{}'", name);
  }
  packing.validate();
  sizes.validate();
  SGT_CHECK(decode_threads >= 1 && decode_threads <= data::kMaxDecodeThreads, "train.mix",
            "data.decode_threads {} must be in [1, {}]", decode_threads, data::kMaxDecodeThreads);
  SGT_CHECK(shuffle_buffer >= 0 && shuffle_buffer <= kMaxShuffleBuffer, "train.mix",
            "data.shuffle_buffer {} must be in [0, {}]", shuffle_buffer, kMaxShuffleBuffer);
  check_sizes_fit_packing(sizes, packing, sources);
}

void check_sizes_fit_packing(const ImageSizes& sizes, const data::PackingConfig& packing,
                             const std::vector<SourceConfig>& sources) {
  // The patch grids must fit the position tables (append_sample would refuse every sample) ...
  data::check_image_side("data.sizes.vit_side", sizes.vit_side, "data.sizes.vit_stride", sizes.vit_stride,
                         packing.vit_max_patches_per_side, "data.packing.vit_max_patches_per_side");
  data::check_image_side("data.sizes.vae_side", sizes.vae_side, "data.sizes.vae_stride", sizes.vae_stride,
                         packing.vae_max_latent_side, "data.packing.vae_max_latent_side");
  // ... and every source's smallest sample the per-sample budget (else every sample is skipped as too long).
  for (const auto& s : sources) {
    const int64_t min_tokens =
        s.kind == SourceKind::kProxy
            ? data::min_proxy_sample_tokens(sizes.vit_side, sizes.vit_stride, sizes.vae_side, sizes.vae_stride)
            : data::min_vqa_sample_tokens(sizes.vit_side, sizes.vit_stride);
    packing.check_fits(min_tokens, fmt::format("source '{}' ({} at vit_side {}, vae_side {})", s.name, s.kind,
                                               sizes.vit_side, sizes.vae_side));
  }
}

std::string MixerState::to_json() const { return config::to_json(*this).dump(); }

MixerState MixerState::from_json(const std::string& text) {
  return config::from_json<MixerState>(config::parse(text, "mixer state"), "mixer state");
}

data::LoaderConfig source_loader_config(const MixConfig& mix, size_t source, uint64_t data_seed) {
  const auto& src = mix.sources.at(source);
  data::LoaderConfig lc;
  lc.shards = src.shards;
  lc.format = src.format;
  lc.records_per_unit = src.records_per_unit;
  lc.mask_shards = src.mask_shards;
  lc.seed = data_seed + 1000003ULL * source;
  lc.name = src.name;  // a source with nothing decodable is an error naming it (data/loader.h)
  return lc;
}

Mixer::Mixer(MixConfig cfg, std::shared_ptr<const text::Tokenizer> tokenizer, uint64_t seed, int64_t consumer,
             int64_t num_consumers, std::optional<MixerState> resume)
    : cfg_(std::move(cfg)), seed_(seed), consumer_(consumer), rng_(Rng::derive(seed, 0x6d6978ULL + consumer)) {
  cfg_.validate();
  SGT_CHECK(consumer >= 0 && consumer < num_consumers, "train.mix", "consumer {} outside [0, {})", consumer,
            num_consumers);
  const size_t n = cfg_.sources.size();
  placed_.resize(n);
  if (resume) {
    SGT_CHECK(resume->loaders.size() == n, "train.mix", "resume state has {} sources, the config {}",
              resume->loaders.size(), n);
    rng_.set_state(Rng::parse_state(resume->rng));
    micro_batches_ = resume->micro_batches;
    placed_ = resume->loaders;
  }
  for (size_t i = 0; i < n; ++i) {
    data::LoaderConfig lc = source_loader_config(cfg_, i, seed);
    lc.rank = consumer;
    lc.world_size = num_consumers;
    lc.decode_threads = cfg_.decode_threads;
    lc.shuffle_buffer = cfg_.shuffle_buffer;
    lc.epochs = 0;  // endless: steps, not epochs, bound a run
    auto decoder = std::make_shared<SampleDecoder>(cfg_.sources[i], static_cast<int64_t>(i), cfg_.sizes, tokenizer);
    auto fn = [decoder](data::WdsSample& raw, Rng& rng) -> std::any {
      return std::make_shared<const TrainSample>(decoder->decode(raw, rng));
    };
    loaders_.push_back(std::make_unique<data::Loader>(lc, fn, placed_[i]));
  }
  pending_.resize(n);
  if (resume) {
    for (int64_t s : resume->pending) {
      SGT_CHECK(s >= 0 && s < static_cast<int64_t>(n), "train.mix", "pending source {} of {}", s, n);
      pending_[s] = read(s);  // the left-over sample is re-read: placed_ stops before it
    }
  }
}

std::shared_ptr<const TrainSample> Mixer::read(int64_t source) {
  if (pending_.size() > static_cast<size_t>(source) && pending_[source]) return std::move(pending_[source]);
  auto s = loaders_[source]->next();
  SGT_CHECK(s.has_value(), "train.mix", "source '{}' produced no sample (every sample bad?) {}",
            cfg_.sources[source].name, loaders_[source]->bad_samples().summary());
  return std::any_cast<std::shared_ptr<const TrainSample>>(s->value);
}

int64_t Mixer::draw_source(const std::vector<int64_t>& allowed) {
  double total = 0;
  for (int64_t s : allowed) total += cfg_.sources[s].weight;
  double u = rng_.uniform() * total;
  for (int64_t s : allowed) {
    u -= cfg_.sources[s].weight;
    if (u < 0) return s;
  }
  return allowed.back();
}

MicroBatch Mixer::next() {
  const auto& pc = cfg_.packing;
  std::vector<int64_t> allowed;
  if (cfg_.interleave.empty()) {
    for (size_t i = 0; i < cfg_.sources.size(); ++i) allowed.push_back(static_cast<int64_t>(i));
  } else {
    const auto& name = cfg_.interleave[micro_batches_ % static_cast<int64_t>(cfg_.interleave.size())];
    for (size_t i = 0; i < cfg_.sources.size(); ++i)
      if (cfg_.sources[i].name == name) allowed.push_back(static_cast<int64_t>(i));
  }
  // Drops and timesteps: a pure function of (seed, consumer, micro-batch), so no state is needed for them.
  Rng pack_rng = Rng::derive(seed_ ^ 0x7061636bULL, static_cast<uint64_t>(consumer_) * 1000000007ULL + micro_batches_);
  MicroBatch mb;
  mb.per_source.assign(cfg_.sources.size(), 0);
  auto place = [&](std::shared_ptr<const TrainSample> s) {
    data::append_sample(mb.pack, s->plan, pc, pack_rng);
    ++mb.per_source[s->source];
    placed_[s->source] = loaders_[s->source]->state();
    mb.samples.push_back(std::move(s));
  };
  int64_t too_long_in_row = 0;
  auto too_long = [&](const TrainSample& s) {
    if (s.num_tokens() <= pc.max_num_tokens_per_sample && s.num_tokens() <= pc.max_num_tokens) {
      too_long_in_row = 0;
      return false;
    }
    log::warn("train.mix: sample {} of source '{}' has {} tokens, above the per-sample budget; skipped", s.key,
              cfg_.sources[s.source].name, s.num_tokens());
    placed_[s.source] = loaders_[s.source]->state();
    // Long instructions or questions can still make every sample too long: an error, not an endless skip.
    SGT_CHECK(++too_long_in_row < kMaxTooLongInRow, "train.mix",
              "{} samples in a row were above the per-sample budget (the last: {} of source '{}', {} tokens; "
              "data.packing.max_num_tokens_per_sample {})",
              too_long_in_row, s.key, cfg_.sources[s.source].name, s.num_tokens(), pc.max_num_tokens_per_sample);
    return true;
  };
  for (int64_t s : allowed)  // left-overs of the previous micro-batches first
    if (pending_[s]) place(read(s));
  for (int64_t s : allowed) {
    if (!cfg_.sources[s].mandatory || mb.per_source[s] > 0) continue;
    for (;;) {
      auto sample = read(s);
      if (too_long(*sample)) continue;
      place(std::move(sample));
      break;
    }
  }
  while (mb.pack.length() < pc.expected_num_tokens) {
    const int64_t src = draw_source(allowed);
    auto sample = read(src);
    if (too_long(*sample)) continue;
    if (mb.pack.length() + sample->num_tokens() > pc.max_num_tokens && !mb.samples.empty()) {
      pending_[src] = std::move(sample);  // goes first into the next micro-batch that allows its source
      break;
    }
    place(std::move(sample));
  }
  SGT_CHECK(!mb.samples.empty(), "train.mix", "micro-batch {} is empty (no source allowed?)", micro_batches_);
  ++micro_batches_;
  return mb;
}

MixerState Mixer::state() const {
  MixerState s;
  s.rng = rng_.state_string();
  s.micro_batches = micro_batches_;
  for (size_t i = 0; i < pending_.size(); ++i)
    if (pending_[i]) s.pending.push_back(static_cast<int64_t>(i));
  s.loaders = placed_;
  return s;
}

std::string Mixer::bad_sample_summary() const {
  std::string out;
  for (size_t i = 0; i < loaders_.size(); ++i) {
    data::BadSampleCounter total(0);
    total.merge(loaders_[i]->bad_samples());
    if (i < prior_bad_.size() && prior_bad_[i]) total.merge(*prior_bad_[i]);
    if (!out.empty()) out += "; ";
    out += cfg_.sources[i].name + ": " + total.summary();
  }
  return out;
}

nlohmann::ordered_json Mixer::bad_samples_json() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (size_t i = 0; i < loaders_.size(); ++i) {
    nlohmann::ordered_json counts = nlohmann::ordered_json::object();
    for (int r = 0; r < static_cast<int>(data::BadSampleReason::kCount); ++r) {
      const auto reason = static_cast<data::BadSampleReason>(r);
      int64_t n = loaders_[i]->bad_samples().count(reason);
      if (i < prior_bad_.size() && prior_bad_[i]) n += prior_bad_[i]->count(reason);
      if (n > 0) counts[data::bad_sample_reason_name(reason)] = n;
    }
    out[cfg_.sources[i].name] = counts;
  }
  return out;
}

void Mixer::set_prior_bad_samples(const nlohmann::ordered_json& counts) {
  SGT_CHECK(counts.is_object(), "train.mix", "bad-sample counts must be an object, got {}", counts.type_name());
  prior_bad_.clear();
  for (const auto& src : cfg_.sources) {
    auto c = std::make_unique<data::BadSampleCounter>(0);
    if (auto it = counts.find(src.name); it != counts.end()) {
      SGT_CHECK(it->is_object(), "train.mix", "bad-sample counts of source '{}' must be an object", src.name);
      for (auto r = it->begin(); r != it->end(); ++r) {
        int found = -1;
        for (int k = 0; k < static_cast<int>(data::BadSampleReason::kCount); ++k)
          if (r.key() == data::bad_sample_reason_name(static_cast<data::BadSampleReason>(k))) found = k;
        SGT_CHECK(found >= 0 && r->is_number_integer() && r->get<int64_t>() >= 0, "train.mix",
                  "bad-sample count '{}': {} of source '{}' is not a known reason with a count", r.key(), r->dump(),
                  src.name);
        c->add(static_cast<data::BadSampleReason>(found), r->get<int64_t>());
      }
    }
    prior_bad_.push_back(std::move(c));
  }
}

}  // namespace sgt::train
