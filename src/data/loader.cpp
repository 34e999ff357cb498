#include "data/loader.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <system_error>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

namespace sgt::data {

void LoaderConfig::validate() const {
  SGT_CHECK(!shards.empty(), "loader", "no shards given");
  SGT_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "loader", "rank {} outside [0, world_size {})", rank,
            world_size);
  SGT_CHECK(num_workers >= 1 && decode_threads >= 1 && window >= 1, "loader",
            "num_workers ({}), decode_threads ({}) and window ({}) must be >= 1", num_workers, decode_threads, window);
  // Each decode thread is an OS thread: thousands only exhaust the process's thread or memory limit.
  SGT_CHECK(decode_threads <= kMaxDecodeThreads, "loader", "decode_threads {} is above the limit of {}",
            decode_threads, kMaxDecodeThreads);
  SGT_CHECK(max_bad_in_row >= 1, "loader", "max_bad_in_row {} must be >= 1", max_bad_in_row);
  SGT_CHECK(records_per_unit >= 1, "loader", "records_per_unit {} must be >= 1", records_per_unit);
}

void LoaderState::validate() const {
  SGT_CHECK(epoch >= 0 && position >= 0, "loader", "negative loader state (epoch {}, position {})", epoch, position);
}

std::string LoaderState::to_json() const { return config::to_json(*this).dump(); }

LoaderState LoaderState::from_json(const std::string& text) {
  return config::from_json<LoaderState>(config::parse(text, "loader state"), "loader state");
}

namespace {

// One consumer's samples for one epoch: its shard subset (or every G-th sample), through its shuffle buffer.
class ConsumerStream {
 public:
  ConsumerStream(const SourceUnits& units, const std::vector<std::string>& epoch_shards, int64_t g, int64_t G,
                 uint64_t seed, int64_t epoch, int64_t buffer, BadSampleCounter* bad)
      : g_(g), G_(G), buffer_(std::max<int64_t>(1, buffer)), bad_(bad),
        rng_(Rng::derive(seed ^ 0x5851f42d4c957f2dULL, static_cast<uint64_t>(epoch) * 1000003ULL + g)) {
    std::vector<std::string> mine;
    sample_level_ = static_cast<int64_t>(epoch_shards.size()) < G;
    if (sample_level_) {
      mine = epoch_shards;
    } else {
      for (size_t i = g; i < epoch_shards.size(); i += G) mine.push_back(epoch_shards[i]);
    }
    reader_ = units.open(std::move(mine));
  }

  bool next(WdsSample& out) {
    while (!eof_ && static_cast<int64_t>(buf_.size()) < buffer_) {
      WdsSample s;
      if (!read(s)) {
        eof_ = true;
        break;
      }
      buf_.push_back(std::move(s));
    }
    if (buf_.empty()) return false;
    const size_t k = buffer_ > 1 ? rng_.below(buf_.size()) : 0;
    std::swap(buf_[k], buf_.back());
    out = std::move(buf_.back());
    buf_.pop_back();
    return true;
  }

 private:
  bool read(WdsSample& s) {
    for (;;) {
      bool ok;
      try {
        ok = reader_->next(s);
      } catch (const std::exception& e) {
        if (bad_) bad_->record(e, reader_->current_unit());
        reader_->skip_unit();
        continue;
      }
      if (!ok) return false;
      const int64_t j = seen_++;
      if (!sample_level_ || j % G_ == g_) return true;
    }
  }

  int64_t g_, G_, buffer_;
  BadSampleCounter* bad_;
  Rng rng_;
  bool sample_level_ = false, eof_ = false;
  int64_t seen_ = 0;
  std::unique_ptr<UnitStream> reader_;
  std::vector<WdsSample> buf_;
};

// A rank's order for one epoch: its workers' streams, interleaved round-robin.
class EpochOrder {
 public:
  EpochOrder(const LoaderConfig& cfg, const SourceUnits& units, int64_t epoch, BadSampleCounter* bad) {
    std::vector<std::string> order = units.units();
    if (cfg.shuffle_shards) {
      Rng r = Rng::derive(cfg.seed, static_cast<uint64_t>(epoch));
      r.shuffle(order);
    }
    const int64_t G = cfg.world_size * cfg.num_workers;
    for (int64_t w = 0; w < cfg.num_workers; ++w)
      streams_.push_back(std::make_unique<ConsumerStream>(units, order, cfg.rank * cfg.num_workers + w, G, cfg.seed, epoch,
                                                          cfg.shuffle_buffer, bad));
    live_.assign(streams_.size(), true);
  }
  bool next(WdsSample& s) {
    for (size_t tried = 0; tried < streams_.size(); ++tried) {
      const size_t w = turn_;
      turn_ = (turn_ + 1) % streams_.size();
      if (!live_[w]) continue;
      if (streams_[w]->next(s)) return true;
      live_[w] = false;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<ConsumerStream>> streams_;
  std::vector<bool> live_;
  size_t turn_ = 0;
};

Rng sample_rng(uint64_t seed, int64_t epoch, const std::string& key) {
  return Rng::derive(seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(epoch + 1), hash64(key));
}
Rng sample_rng(const LoaderConfig& cfg, int64_t epoch, const std::string& key) {
  return sample_rng(cfg.seed, cfg.sample_rng_per_epoch ? epoch : -1, key);
}

}  // namespace

namespace {
std::atomic<ThreadStartHook> g_thread_start_hook{nullptr};
}  // namespace

void set_thread_start_hook_for_testing(ThreadStartHook hook) { g_thread_start_hook.store(hook); }

Loader::Loader(LoaderConfig cfg, DecodeFn decode, LoaderState resume)
    : cfg_(std::move(cfg)), decode_(std::move(decode)), state_(resume), start_(resume) {
  cfg_.validate();
  units_ = SourceUnits::build(cfg_.format, cfg_.shards, cfg_.records_per_unit, cfg_.mask_shards);
  shards_ = units_->units();
  SGT_CHECK(!shards_.empty(), "loader", "shard patterns {} expand to nothing", fmt::join(cfg_.shards, ", "));
  const int64_t wanted = 1 + cfg_.decode_threads;
  threads_.reserve(static_cast<size_t>(wanted));
  try {
    for (int64_t i = 0; i < wanted; ++i) {
      if (const ThreadStartHook hook = g_thread_start_hook.load()) hook(i);
      if (i == 0)
        threads_.emplace_back([this] { produce(); });
      else
        threads_.emplace_back([this] { decode_loop(); });
    }
  } catch (const std::system_error& e) {
    // The destructor does not run for a constructor that throws, and destroying a joinable std::thread calls
    // std::terminate: stop and join the threads already running first.
    const size_t started = threads_.size();
    stop_threads();
    SGT_FAIL("loader", "could not start thread {} of {} (1 producer + {} decode_threads): {}; lower decode_threads",
             started + 1, wanted, cfg_.decode_threads, e.what());
  }
}

Loader::~Loader() { stop_threads(); }

void Loader::stop_threads() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_room_.notify_all();
  cv_work_.notify_all();
  cv_done_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Loader::note_epoch(int64_t epoch) {
  if (epoch != pass_epoch_) {
    // A later epoch began: the previous pass, if it covered the whole epoch, must have given one good sample,
    // otherwise the next pass will not either (the same samples, and colours/instructions do not make a corrupt
    // file decodable).
    if (pass_epoch_ >= 0 && pass_from_start_ && pass_seen_ > 0 && pass_good_ == 0)
      fail_undecodable(fmt::format("a whole pass over its {} samples (epoch {}) gave no good sample", pass_seen_,
                                   pass_epoch_));
    pass_epoch_ = epoch;
    pass_from_start_ = !(epoch == start_.epoch && start_.position > 0);
    pass_seen_ = pass_good_ = 0;
  }
  ++pass_seen_;
}

void Loader::note_bad(BadSampleReason r, const std::string& message) {
  const auto i = static_cast<size_t>(r);
  if (row_counts_[i]++ == 0) row_examples_[i] = message;
  if (++bad_in_row_ >= cfg_.max_bad_in_row)
    fail_undecodable(fmt::format("{} samples in a row were bad (limit: loader key max_bad_in_row = {})", bad_in_row_,
                                 cfg_.max_bad_in_row));
}

void Loader::fail_undecodable(const std::string& what) const {
  size_t top = 0;
  int64_t run = 0;
  for (size_t i = 0; i < row_counts_.size(); ++i) {
    if (row_counts_[i] > row_counts_[top]) top = i;
    run += row_counts_[i];
  }
  constexpr size_t kShown = 3;
  std::vector<std::string> shown(cfg_.shards.begin(), cfg_.shards.begin() + std::min(kShown, cfg_.shards.size()));
  std::string shards = fmt::format("{}", fmt::join(shown, ", "));
  if (cfg_.shards.size() > kShown) shards += fmt::format(" and {} more", cfg_.shards.size() - kShown);
  const std::string source =
      cfg_.name.empty() ? fmt::format("shards {}", shards) : fmt::format("source '{}' (shards {})", cfg_.name, shards);
  SGT_FAIL("loader", "{}: {}; most frequent reason {} ({} of the last {}), e.g.: {}", source, what,
           bad_sample_reason_name(static_cast<BadSampleReason>(top)), row_counts_[top], run, row_examples_[top]);
}

void Loader::emit(int64_t epoch, WdsSample&& s) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_room_.wait(lk, [&] { return stop_ || produced_seq_ - consumed_seq_ < cfg_.window; });
  if (stop_) return;
  Slot& slot = slots_[produced_seq_++];
  slot.epoch = epoch;
  slot.raw = std::move(s);
  cv_work_.notify_one();
}

void Loader::produce() {
  try {
    for (int64_t epoch = start_.epoch; cfg_.epochs <= 0 || epoch < cfg_.epochs; ++epoch) {
      int64_t skip = epoch == start_.epoch ? start_.position : 0;
      int64_t count = 0;
      const int64_t bad_before = bad_.total();
      EpochOrder order(cfg_, *units_, epoch, &bad_);
      WdsSample s;
      while (order.next(s)) {
        ++count;
        if (skip > 0) {
          --skip;  // replay after a resume: already delivered before the restart, not decoded again
          continue;
        }
        emit(epoch, std::move(s));
        std::lock_guard<std::mutex> lk(mu_);
        if (stop_) return;
      }
      if (count == 0) {
        // Nothing came out of the epoch because every shard failed (missing, truncated, an unsupported URL, a
        // failing pipe): an error naming them, not a quiet end of the data.
        SGT_CHECK(bad_.total() == bad_before, "loader", "{}: epoch {} gave no sample on rank {}: its shards could not be read ({})",
                  cfg_.name.empty() ? fmt::format("shards {}", fmt::join(cfg_.shards, ", "))
                                    : fmt::format("source '{}'", cfg_.name),
                  epoch, cfg_.rank, bad_.summary());
        log::warn("loader: rank {} has no samples in epoch {} ({} shards); stopping", cfg_.rank, epoch,
                  shards_.size());
        break;
      }
    }
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu_);
    producer_error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lk(mu_);
  producer_done_ = true;
  cv_done_.notify_all();
}

void Loader::decode_loop() {
  for (;;) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_work_.wait(lk, [&] { return stop_ || next_work_ < produced_seq_; });
    if (stop_) return;
    const int64_t seq = next_work_++;
    Slot& slot = slots_.at(seq);  // map nodes stay put; only ready slots are erased
    WdsSample raw = std::move(slot.raw);
    const int64_t epoch = slot.epoch;
    lk.unlock();

    LoadedSample out;
    out.key = raw.key;
    out.url = raw.url;
    out.epoch = epoch;
    std::exception_ptr err;
    try {
      if (decode_) {
        Rng rng = sample_rng(cfg_, epoch, raw.key);
        out.value = decode_(raw, rng);
      } else {
        out.value = std::move(raw);
      }
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    slot.out = std::move(out);
    slot.error = err;
    slot.ready = true;
    cv_done_.notify_all();
  }
}

std::optional<LoadedSample> Loader::next() {
  for (;;) {
    Slot slot;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_done_.wait(lk, [&] {
        auto it = slots_.find(consumed_seq_);
        return (it != slots_.end() && it->second.ready) || (producer_done_ && consumed_seq_ >= produced_seq_);
      });
      auto it = slots_.find(consumed_seq_);
      if (it == slots_.end() || !it->second.ready) {
        if (producer_error_) std::rethrow_exception(producer_error_);
        return std::nullopt;
      }
      slot = std::move(it->second);
      slots_.erase(it);
      ++consumed_seq_;
      if (slot.epoch != state_.epoch) {
        state_.epoch = slot.epoch;
        state_.position = 0;
      }
      ++state_.position;
    }
    cv_room_.notify_all();
    note_epoch(slot.epoch);
    if (slot.error) {
      BadSampleReason r = BadSampleReason::kOther;
      std::string message;
      try {
        std::rethrow_exception(slot.error);
      } catch (const std::exception& e) {
        r = bad_.record(e, slot.out.url + ":" + slot.out.key);
        message = fmt::format("{}:{}: {}", slot.out.url, slot.out.key, e.what());
      } catch (...) {
        bad_.add(BadSampleReason::kOther);
        message = fmt::format("{}:{}: a non-standard exception", slot.out.url, slot.out.key);
      }
      note_bad(r, message);
      continue;
    }
    bad_in_row_ = 0;
    row_counts_.fill(0);
    ++pass_good_;
    return std::move(slot.out);
  }
}

LoaderState Loader::state() const {
  std::lock_guard<std::mutex> lk(mu_);
  return state_;
}

std::vector<std::string> loader_keys(const LoaderConfig& cfg_in, int64_t limit) {
  LoaderConfig cfg = cfg_in;
  cfg.validate();
  const auto units = SourceUnits::build(cfg.format, cfg.shards, cfg.records_per_unit, cfg.mask_shards);
  std::vector<std::string> keys;
  for (int64_t epoch = 0; cfg.epochs <= 0 || epoch < cfg.epochs; ++epoch) {
    EpochOrder order(cfg, *units, epoch, nullptr);
    WdsSample s;
    int64_t count = 0;
    while (order.next(s)) {
      ++count;
      keys.push_back(s.key);
      if (limit >= 0 && static_cast<int64_t>(keys.size()) >= limit) return keys;
    }
    if (count == 0 || cfg.epochs <= 0) break;
  }
  return keys;
}

}  // namespace sgt::data
