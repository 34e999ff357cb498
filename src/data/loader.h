#pragma once
// Deterministic multi-threaded webdataset loader with exact resume.
//
// Its unit of work is a tar shard, or a slice of a record list for the list formats (data/sources.h); "shard" below
// means either.
// Order: per epoch the shard list is shuffled with Rng::derive(seed, epoch) (identical on every rank), then split
// among the G = world_size * num_workers consumers: consumer g = rank * num_workers + w takes shards g, g+G, ...
// when there are at least G shards, otherwise every consumer reads all shards and keeps samples g, g+G, ... of the
// epoch's sample sequence (no sample twice, none lost, either way). Each consumer passes its samples through its
// own shuffle buffer (webdataset-style), and a rank interleaves its workers round-robin. This order is a pure
// function of (config, epoch), computed by one producer thread on raw bytes; `decode_threads` threads decode in
// parallel and results are handed out in order through a bounded window.
//
// State: (epoch, position in the epoch's order). Restarting from a saved state replays the raw stream without
// decoding up to the position, so the same samples come out in the same order.
// Bad samples (decode throws, or a shard is truncated) are skipped, counted by reason (data/bad_sample.h) and
// logged. A source with nothing decodable is an error, not an endless skip: next() throws sgt::Error after
// max_bad_in_row bad samples in a row, or when a whole pass (epoch) over the source gave no good sample, naming the
// source, the count and the most frequent reason with one example message.
#include <any>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "data/bad_sample.h"
#include "data/sources.h"
#include "data/webdataset.h"

namespace sgt::data {

// Most decode threads a loader starts (LoaderConfig::validate).
inline constexpr int64_t kMaxDecodeThreads = 256;

struct LoaderConfig {
  // webdataset: paths or brace patterns ("dir/world-train-{000000..000009}.tar"); list formats: the list files or
  // folders (data/sources.h), whose records are cut into units of records_per_unit.
  std::vector<std::string> shards;
  SourceFormat format = SourceFormat::kWebdataset;
  int64_t records_per_unit = kDefaultRecordsPerUnit;
  std::vector<std::string> mask_shards;  // webdataset: a mask shard per shard (SourceUnits::build, pair_shards)
  uint64_t seed = 0;
  int64_t rank = 0, world_size = 1;
  int64_t num_workers = 1;     // independent streams per rank, interleaved round-robin
  int64_t decode_threads = 2;  // parallel decoding; does not change the order
  int64_t shuffle_buffer = 256;  // <= 1: no sample shuffle
  bool shuffle_shards = true;
  int64_t window = 64;  // samples in flight ahead of the consumer (bounded memory)
  int64_t epochs = 1;   // <= 0: endless
  // false: the decoder's rng depends on (seed, key) only, so e.g. segmentation colours are fixed per image as in
  // SGT's pre-rendered PNGs; true: it also depends on the epoch (colours re-drawn every epoch, an augmentation).
  bool sample_rng_per_epoch = false;
  // Consecutive bad samples after which next() gives up on the source (>= 1). 1000 is far more than the corrupt
  // files real shards hold in a row, and small next to a pass over a source (SA-1B: ~11k images per tar).
  int64_t max_bad_in_row = 1000;
  std::string name;  // source name for messages (the mixer sets it); empty: messages name the shards only

  template <class V>
  void visit(V&& v) {
    v("shards", shards);
    v("format", format);
    v("records_per_unit", records_per_unit);
    v("mask_shards", mask_shards);
    v("seed", seed);
    v("rank", rank);
    v("world_size", world_size);
    v("num_workers", num_workers);
    v("decode_threads", decode_threads);
    v("shuffle_buffer", shuffle_buffer);
    v("shuffle_shards", shuffle_shards);
    v("window", window);
    v("epochs", epochs);
    v("sample_rng_per_epoch", sample_rng_per_epoch);
    v("max_bad_in_row", max_bad_in_row);
    v("name", name);
  }
  void validate() const;
};

struct LoaderState {
  static constexpr bool kAllKeysRequired = true;  // read from checkpoints: nothing may be silently defaulted
  int64_t epoch = 0;
  int64_t position = 0;  // samples of this epoch's order already handed out or skipped as bad
  template <class V>
  void visit(V&& v) {
    v("epoch", epoch);
    v("position", position);
  }
  void validate() const;
  std::string to_json() const;  // through the config visitor (core/config.h)
  static LoaderState from_json(const std::string& text);  // throws sgt::Error on malformed text
};

struct LoadedSample {
  std::string key, url;
  int64_t epoch = 0;
  std::any value;  // the decoder's result (the WdsSample itself when there is no decoder)
};

// Decodes one raw sample; `rng` is derived from (seed, key) [and the epoch, see sample_rng_per_epoch], so
// per-sample randomness is reproducible and independent of the order.
// Throwing (BadSampleError or any std::exception) marks the sample bad.
using DecodeFn = std::function<std::any(WdsSample& raw, Rng& rng)>;

// Test seam: when set, the Loader calls it before starting each of its threads (index 0 = the producer, then the
// decode threads); it may throw std::system_error to stand for a refused thread creation. nullptr (the default)
// in production. Not synchronised: set it only while no Loader is being constructed.
using ThreadStartHook = void (*)(int64_t index);
void set_thread_start_hook_for_testing(ThreadStartHook hook);

class Loader {
 public:
  // Starts 1 producer and decode_threads decoding threads. When one cannot be started, the ones already running are
  // stopped and joined and sgt::Error("loader") is thrown (no std::terminate from a joinable std::thread).
  Loader(LoaderConfig cfg, DecodeFn decode = nullptr, LoaderState resume = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next good sample; nullopt when all epochs are done. Throws sgt::Error when the source has nothing
  // decodable (see max_bad_in_row above).
  std::optional<LoadedSample> next();
  // State after the last sample returned by next(): resuming from it continues right after that sample.
  LoaderState state() const;
  const BadSampleCounter& bad_samples() const { return bad_; }
  const std::vector<std::string>& shards() const { return shards_; }  // the units (tar shards or list slices)

 private:
  struct Slot {
    bool ready = false;
    int64_t epoch = 0;
    WdsSample raw;
    LoadedSample out;
    std::exception_ptr error;  // set when decoding failed: a bad sample
  };
  void produce();
  void decode_loop();
  void emit(int64_t epoch, WdsSample&& s);
  void stop_threads();
  // Consumer-side bookkeeping of next(): the current run of bad samples and the current pass.
  void note_epoch(int64_t epoch);
  void note_bad(BadSampleReason r, const std::string& message);
  [[noreturn]] void fail_undecodable(const std::string& what) const;

  LoaderConfig cfg_;
  DecodeFn decode_;
  std::shared_ptr<const SourceUnits> units_;
  std::vector<std::string> shards_;
  LoaderState state_;
  const LoaderState start_;
  BadSampleCounter bad_;

  mutable std::mutex mu_;
  std::condition_variable cv_room_, cv_work_, cv_done_;
  std::map<int64_t, Slot> slots_;  // seq -> slot, [consumed_seq_, produced_seq_)
  int64_t produced_seq_ = 0, consumed_seq_ = 0, next_work_ = 0;
  bool producer_done_ = false, stop_ = false;
  std::exception_ptr producer_error_;
  std::vector<std::thread> threads_;

  // Touched by next() only (the consumer thread).
  int64_t bad_in_row_ = 0;
  std::array<int64_t, static_cast<size_t>(BadSampleReason::kCount)> row_counts_{};
  std::array<std::string, static_cast<size_t>(BadSampleReason::kCount)> row_examples_;  // first message per reason
  int64_t pass_epoch_ = -1, pass_seen_ = 0, pass_good_ = 0;
  bool pass_from_start_ = false;  // the pass began at position 0 (not a resumed epoch's remainder)
};

// Keys of one consumer's stream in order, without decoding (for tests and `sgt data` tools).
std::vector<std::string> loader_keys(const LoaderConfig& cfg, int64_t limit = -1);

}  // namespace sgt::data
