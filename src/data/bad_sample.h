#pragma once
// Bad samples: readers throw BadSampleError (an sgt::Error with a reason) so that the loader can skip the
// sample, count it by reason and log it, instead of stopping a training run on one corrupt file.
#include <array>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sgt::data {

enum class BadSampleReason : int {
  kCorruptImage = 0,  // JPEG/PNG truncated, corrupt or of an unsupported kind
  kBadJson,           // unparsable JSON or missing / mistyped fields
  kBadRle,            // malformed compressed RLE, counts not summing to h*w
  kSizeMismatch,      // image vs annotation / mask size disagree
  kTruncatedTar,      // truncated or corrupt tar shard
  kMissingField,      // sample lacks a required member (e.g. .json of a .jpg) or a target file
  kBadText,           // malformed conversation / placeholder count mismatch
  kTooLarge,          // above a configured bound (e.g. masks per sample: proxy task key max_masks)
  kSplitSample,       // a shard's members of one key are not adjacent (the key reappears after another key)
  kMissingShard,      // a shard file that does not exist
  kUnsupportedUrl,    // a shard URL scheme sgt cannot open (http:, s3:, ...; use pipe:CMD)
  kPipeFailed,        // a pipe:CMD shard whose command could not start or exited non-zero
  kOther,             // any other sgt::Error or std::exception
  kCount
};

const char* bad_sample_reason_name(BadSampleReason r);  // "corrupt_image", "bad_json", ...

class BadSampleError : public Error {
 public:
  BadSampleError(BadSampleReason reason, std::string component, const std::string& message)
      : Error(std::move(component), message), reason_(reason) {}
  BadSampleReason reason() const { return reason_; }

 private:
  BadSampleReason reason_;
};

// Throws BadSampleError when cond is false. SGT_BAD_SAMPLE(cond, reason, "component", "fmt {}", args...)
#define SGT_BAD_SAMPLE(cond, reason, component, ...)                                                  \
  do {                                                                                                \
    if (!(cond)) throw ::sgt::data::BadSampleError(reason, component, ::fmt::format(__VA_ARGS__));    \
  } while (0)

// The reason of an exception: BadSampleError's own, kOther for anything else.
BadSampleReason classify_bad_sample(const std::exception& e);

// Thread-safe counts per reason; record() logs the first `log_first` errors of each reason at warn level
// and the rest at debug level.
class BadSampleCounter {
 public:
  explicit BadSampleCounter(int64_t log_first = 10) : log_first_(log_first) {}
  BadSampleReason record(const std::exception& e, std::string_view where = {});
  void add(BadSampleReason r, int64_t n = 1);
  int64_t count(BadSampleReason r) const;
  int64_t total() const;
  // "bad samples: 3 (corrupt_image 2, bad_rle 1)" or "bad samples: 0".
  std::string summary() const;
  void merge(const BadSampleCounter& other);

 private:
  mutable std::mutex mu_;
  std::array<int64_t, static_cast<size_t>(BadSampleReason::kCount)> counts_{};
  int64_t log_first_;
};

}  // namespace sgt::data
