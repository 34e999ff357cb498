// WebDataset sample grouping and shard lists, following webdataset 1.0 (tariterators.py: base_plus_ext,
// tar_file_iterator's metadata skipping, group_by_keys) and the braceexpand package.
#include "data/webdataset.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <regex>

#include "core/error.h"
#include "data/bad_sample.h"

namespace sgt::data {

const std::vector<uint8_t>& WdsSample::at(const std::string& ext) const {
  auto it = fields.find(ext);
  if (it == fields.end()) {
    std::vector<std::string> have;
    for (const auto& [k, v] : fields) have.push_back(k);
    throw BadSampleError(BadSampleReason::kMissingField, "webdataset",
                         fmt::format("sample {} of {} has no .{} member (members: {})", key, url, ext,
                                     fmt::join(have, ", ")));
  }
  return it->second;
}

std::optional<std::pair<std::string, std::string>> wds_split_key(const std::string& path) {
  // The same regex as base_plus_ext; ECMAScript and Python agree on it (greedy, '.' excludes newlines).
  static const std::regex re(R"(^((?:.*/|)[^.]+)[.]([^/]*)$)");
  std::smatch m;
  if (!std::regex_match(path, m, re)) return std::nullopt;
  return std::make_pair(m[1].str(), m[2].str());
}

bool wds_is_meta(const std::string& path) {
  if (path.find('/') == std::string::npos && path.size() >= 4 && path.starts_with("__") && path.ends_with("__"))
    return true;
  static const std::regex re(R"(^__[^/]*__($|/))");
  return std::regex_search(path, re);
}

namespace {

size_t matching_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      ++depth;
    } else if (s[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string::npos;
}

// "a,b,{c,d}" split on top-level commas.
std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> out(1);
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      out.back() += c;
      out.back() += s[++i];
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}') --depth;
    if (c == ',' && depth == 0) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// Parses "<int>..<int>[..[-]<digits>]" or "<letter>..<letter>[..[-]<digits>]", the braceexpand range forms (the
// sign of a step is ignored there too). A hand parser, not a regex: libstdc++'s regex recurses per character.
struct RangeSpec {
  std::string_view lo, hi, step;  // step: digits only, empty when absent
  bool letters = false;
};
std::optional<RangeSpec> parse_range(std::string_view s) {
  size_t i = 0;
  auto number = [&](bool sign) -> std::optional<std::string_view> {
    const size_t b = i;
    if (sign && i < s.size() && s[i] == '-') ++i;
    const size_t d = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == d) return std::nullopt;
    return s.substr(b, i - b);
  };
  auto letter = [&]() -> std::optional<std::string_view> {
    if (i >= s.size() || !std::isalpha(static_cast<unsigned char>(s[i]))) return std::nullopt;
    return s.substr(i++, 1);
  };
  auto dots = [&] {
    if (s.substr(i, 2) != "..") return false;
    i += 2;
    return true;
  };
  RangeSpec r;
  r.letters = !s.empty() && std::isalpha(static_cast<unsigned char>(s[0]));
  auto lo = r.letters ? letter() : number(true);
  if (!lo || !dots()) return std::nullopt;
  auto hi = r.letters ? letter() : number(true);
  if (!hi) return std::nullopt;
  r.lo = *lo;
  r.hi = *hi;
  if (i == s.size()) return r;
  if (!dots()) return std::nullopt;
  if (i < s.size() && s[i] == '-') ++i;
  auto step = number(false);
  if (!step || i != s.size()) return std::nullopt;
  r.step = *step;
  return r;
}

// braceexpand's `int(step) or 1`; a step beyond 64 bits acts as "larger than any range" (one item, as in Python).
uint64_t range_step(std::string_view digits) {
  if (digits.empty()) return 1;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) return std::numeric_limits<uint64_t>::max();
  SGT_ASSERT(ec == std::errc() && end == digits.data() + digits.size());
  return v == 0 ? 1 : v;
}

// Integer or letter sequence "000..009", "1..10..2", "a..e" (braceexpand); nullopt when not a range.
std::optional<std::vector<std::string>> range_items(const std::string& inner, const std::string& pattern) {
  const auto spec = parse_range(inner);
  if (!spec) return std::nullopt;
  const uint64_t step = range_step(spec->step);
  std::vector<std::string> out;
  auto check_count = [&](uint64_t span) {
    const uint64_t count = span / step + 1;
    SGT_CHECK(count <= static_cast<uint64_t>(kMaxBraceNames), "webdataset",
              "brace pattern '{}': range {{{}}} has {} items, above the limit of {} names", pattern, inner, count,
              kMaxBraceNames);
    return count;
  };
  if (spec->letters) {
    // braceexpand indexes the letters in "A..Za..z" (so {X..b} is X Y Z a b) and slices with the step.
    auto index = [](char c) { return c >= 'a' ? 26 + (c - 'a') : c - 'A'; };
    const int a = index(spec->lo[0]), b = index(spec->hi[0]);
    const uint64_t count = check_count(static_cast<uint64_t>(std::abs(b - a)));
    for (uint64_t k = 0; k < count; ++k) {
      const int v = a <= b ? a + static_cast<int>(k * step) : a - static_cast<int>(k * step);
      out.emplace_back(1, v < 26 ? static_cast<char>('A' + v) : static_cast<char>('a' + v - 26));
    }
    return out;
  }
  auto parse = [&](std::string_view v) {
    int64_t x = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    SGT_CHECK(ec == std::errc() && end == v.data() + v.size(), "webdataset",
              "brace pattern '{}': range bound {} is outside the 64-bit integers", pattern, v);
    return x;
  };
  const int64_t a = parse(spec->lo), b = parse(spec->hi);
  auto padded = [](std::string_view v) { return v != "0" && v != "-0" && (v.starts_with("0") || v.starts_with("-0")); };
  // Python's "%0{width}d": the width counts the sign.
  const size_t pad = (padded(spec->lo) || padded(spec->hi)) ? std::max(spec->lo.size(), spec->hi.size()) : 0;
  // Unsigned arithmetic: the span of two int64 fits in a uint64, and every item lies between a and b.
  const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  const uint64_t count = check_count(a <= b ? ub - ua : ua - ub);
  out.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    const auto v = static_cast<int64_t>(a <= b ? ua + k * step : ua - k * step);
    const uint64_t mag = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    std::string digits = std::to_string(mag);
    const size_t width = pad > 0 ? pad - (v < 0 ? 1 : 0) : 0;
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    out.push_back((v < 0 ? "-" : "") + digits);
  }
  return out;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

// Every expansion step is bounded by kMaxBraceNames, so "{0..999}{0..999}{0..999}" fails before it allocates.
std::vector<std::string> expand_raw(const std::string& s, const std::string& pattern) {
  size_t open = std::string::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      open = i;
      break;
    }
  }
  if (open == std::string::npos) return {s};
  const size_t close = matching_brace(s, open);
  if (close == std::string::npos) return {s};
  const std::string prefix = s.substr(0, open), inner = s.substr(open + 1, close - open - 1);
  const std::vector<std::string> rest = expand_raw(s.substr(close + 1), pattern);
  auto check = [&](size_t n) {
    SGT_CHECK(n <= static_cast<size_t>(kMaxBraceNames), "webdataset",
              "brace pattern '{}' expands to more than {} names", pattern, kMaxBraceNames);
  };
  std::vector<std::string> items;
  if (auto r = range_items(inner, pattern)) {
    items = std::move(*r);
  } else {
    const auto alts = split_top(inner);
    if (alts.size() < 2) {  // "{x}" stays literal, but its inside may still expand
      for (const auto& x : expand_raw(inner, pattern)) items.push_back("{" + x + "}");
    } else {
      for (const auto& a : alts) {
        for (auto& x : expand_raw(a, pattern)) items.push_back(std::move(x));
        check(items.size());
      }
    }
  }
  check(items.size());
  check(items.size() * rest.size());  // both <= kMaxBraceNames (rest was checked when it was built): no overflow
  std::vector<std::string> out;
  out.reserve(items.size() * rest.size());
  for (const auto& it : items)
    for (const auto& r : rest) out.push_back(prefix + it + r);
  return out;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& pattern) {
  auto raw = expand_raw(pattern, pattern);
  for (auto& s : raw) s = unescape(s);
  return raw;
}

std::vector<std::string> expand_shard_list(const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const auto& p : patterns) {
    size_t start = 0;
    for (;;) {
      const size_t sep = p.find("::", start);
      const std::string part = p.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
      if (!part.empty())
        for (auto& s : expand_braces(part)) out.push_back(std::move(s));
      if (sep == std::string::npos) break;
      start = sep + 2;
    }
  }
  return out;
}

std::vector<std::string> split_shards(const std::vector<std::string>& shards, int64_t rank, int64_t world) {
  SGT_CHECK(world >= 1 && rank >= 0 && rank < world, "webdataset", "bad split rank {} of world {}", rank, world);
  std::vector<std::string> out;
  for (size_t i = static_cast<size_t>(rank); i < shards.size(); i += static_cast<size_t>(world))
    out.push_back(shards[i]);
  return out;
}

WdsReader::WdsReader(std::vector<std::string> shards, bool lowercase_ext)
    : shards_(std::move(shards)), lowercase_(lowercase_ext) {}
WdsReader::~WdsReader() = default;

bool WdsReader::open_next_shard() {
  tar_.reset();
  pending_.reset();
  skip_key_.clear();
  seen_keys_.clear();
  if (shard_ + 1 >= static_cast<int64_t>(shards_.size())) return false;
  ++shard_;
  url_ = shards_[shard_];
  try {
    tar_ = std::make_unique<TarReader>(url_);
  } catch (...) {
    tar_.reset();  // an unreadable shard is skipped on the next call
    throw;
  }
  return true;
}

void WdsReader::skip_shard() {
  tar_.reset();
  pending_.reset();
  skip_key_.clear();
  seen_keys_.clear();
  deferred_ = nullptr;
}

bool WdsReader::next(WdsSample& s) {
  if (deferred_) {
    auto e = deferred_;
    deferred_ = nullptr;
    std::rethrow_exception(e);
  }
  bool started = false;
  for (;;) {
    if (!tar_) {
      if (started) return true;
      if (!open_next_shard()) return false;
    }
    TarEntry e;
    if (pending_) {
      e = std::move(*pending_);
      pending_.reset();
    } else {
      bool more;
      try {
        more = tar_->next(e);
      } catch (...) {
        skip_shard();  // the stream position is lost; the next call goes on with the next shard
        if (!started) throw;
        deferred_ = std::current_exception();
        return true;
      }
      if (!more) {
        tar_.reset();  // end-of-shard marker: a sample never spans two shards
        continue;
      }
    }
    if (wds_is_meta(e.name)) continue;
    auto split = wds_split_key(e.name);
    if (!split) continue;
    auto& [key, ext] = *split;
    if (lowercase_)
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!skip_key_.empty()) {
      if (key == skip_key_) continue;
      skip_key_.clear();
    }
    if (started && key != s.key) {
      pending_ = std::move(e);
      return true;
    }
    if (!started) {
      if (!seen_keys_.insert(key).second) {
        skip_key_ = key;  // its further adjacent members belong to the same broken sample
        throw BadSampleError(BadSampleReason::kSplitSample, "webdataset",
                             fmt::format("shard {}: member {} belongs to sample {}, whose earlier members came before "
                                         "other samples: the members of a sample must be adjacent in the tar (write "
                                         "them together, e.g. sorted by key); webdataset would split it into two "
                                         "samples",
                                         url_, e.name, key));
      }
      s.key = key;
      s.url = url_;
      s.fields.clear();
      started = true;
    }
    if (s.fields.count(ext)) {
      skip_key_ = key;
      started = false;
      throw BadSampleError(BadSampleReason::kOther, "webdataset",
                           fmt::format("shard {}: duplicate member {} (extension .{}) in sample {}", url_, e.name, ext,
                                       key));
    }
    s.fields.emplace(ext, std::move(e.data));
  }
}

}  // namespace sgt::data
