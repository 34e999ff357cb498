#include "data/bad_sample.h"

#include "core/log.h"

namespace sgt::data {

const char* bad_sample_reason_name(BadSampleReason r) {
  switch (r) {
    case BadSampleReason::kCorruptImage: return "corrupt_image";
    case BadSampleReason::kBadJson: return "bad_json";
    case BadSampleReason::kBadRle: return "bad_rle";
    case BadSampleReason::kSizeMismatch: return "size_mismatch";
    case BadSampleReason::kTruncatedTar: return "truncated_tar";
    case BadSampleReason::kMissingField: return "missing_field";
    case BadSampleReason::kBadText: return "bad_text";
    case BadSampleReason::kTooLarge: return "too_large";
    case BadSampleReason::kSplitSample: return "split_sample";
    case BadSampleReason::kMissingShard: return "missing_shard";
    case BadSampleReason::kUnsupportedUrl: return "unsupported_url";
    case BadSampleReason::kPipeFailed: return "pipe_failed";
    case BadSampleReason::kOther: return "other";
    case BadSampleReason::kCount: break;
  }
  return "?";
}

BadSampleReason classify_bad_sample(const std::exception& e) {
  if (const auto* b = dynamic_cast<const BadSampleError*>(&e)) return b->reason();
  return BadSampleReason::kOther;
}

BadSampleReason BadSampleCounter::record(const std::exception& e, std::string_view where) {
  const BadSampleReason r = classify_bad_sample(e);
  int64_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = ++counts_[static_cast<size_t>(r)];
  }
  const char* name = bad_sample_reason_name(r);
  if (n <= log_first_)
    log::warn("bad sample ({}{}{}): {}{}", name, where.empty() ? "" : ", ", where, e.what(),
              n == log_first_ ? " (further ones of this reason are logged at debug level)" : "");
  else
    log::debug("bad sample ({}): {}", name, e.what());
  return r;
}

void BadSampleCounter::add(BadSampleReason r, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  counts_[static_cast<size_t>(r)] += n;
}

int64_t BadSampleCounter::count(BadSampleReason r) const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_[static_cast<size_t>(r)];
}

int64_t BadSampleCounter::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t t = 0;
  for (int64_t c : counts_) t += c;
  return t;
}

std::string BadSampleCounter::summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t t = 0;
  std::string parts;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    t += counts_[i];
    if (!parts.empty()) parts += ", ";
    parts += fmt::format("{} {}", bad_sample_reason_name(static_cast<BadSampleReason>(i)), counts_[i]);
  }
  return t == 0 ? "bad samples: 0" : fmt::format("bad samples: {} ({})", t, parts);
}

void BadSampleCounter::merge(const BadSampleCounter& other) {
  if (&other == this) return;
  std::array<int64_t, static_cast<size_t>(BadSampleReason::kCount)> o;
  {
    std::lock_guard<std::mutex> lock(other.mu_);
    o = other.counts_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < o.size(); ++i) counts_[i] += o[i];
}

}  // namespace sgt::data
