// WebDataset sample grouping and shard lists, following webdataset 1.0 (tariterators.py: base_plus_ext,
// tar_file_iterator's metadata skipping, group_by_keys) and the braceexpand package.
#include "data/webdataset.h"

#include <algorithm>
#include <cctype>
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

// Integer or letter sequence "000..009", "1..10..2", "a..e" (braceexpand); nullopt when not a range.
std::optional<std::vector<std::string>> range_items(const std::string& inner) {
  static const std::regex int_re(R"(^(-?\d+)\.\.(-?\d+)(?:\.\.-?(\d+))?$)");
  static const std::regex chr_re(R"(^([A-Za-z])\.\.([A-Za-z])(?:\.\.-?(\d+))?$)");
  std::smatch m;
  std::vector<std::string> out;
  if (std::regex_match(inner, m, int_re)) {
    const std::string l = m[1], r = m[2];
    auto padded = [](const std::string& v) {
      return v != "0" && v != "-0" && (v.starts_with("0") || v.starts_with("-0"));
    };
    const size_t pad = (padded(l) || padded(r)) ? std::max(l.size(), r.size()) : 0;
    int64_t step = m[3].matched ? std::stoll(m[3]) : 1;
    if (step == 0) step = 1;
    const int64_t a = std::stoll(l), b = std::stoll(r);
    SGT_CHECK(std::llabs(b - a) / step < 10'000'000, "webdataset", "brace range {{{}}} is too long", inner);
    for (int64_t v = a; a <= b ? v <= b : v >= b; v += a <= b ? step : -step) {
      std::string digits = std::to_string(v < 0 ? -v : v);
      const size_t width = pad > 0 ? pad - (v < 0 ? 1 : 0) : 0;
      if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
      out.push_back((v < 0 ? "-" : "") + digits);
    }
    return out;
  }
  if (std::regex_match(inner, m, chr_re)) {
    const char a = m[1].str()[0], b = m[2].str()[0];
    int64_t step = m[3].matched ? std::stoll(m[3]) : 1;
    if (step == 0) step = 1;
    for (int v = a; a <= b ? v <= b : v >= b; v += a <= b ? int(step) : -int(step)) out.emplace_back(1, char(v));
    return out;
  }
  return std::nullopt;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

std::vector<std::string> expand_raw(const std::string& s) {
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
  const std::vector<std::string> rest = expand_raw(s.substr(close + 1));
  std::vector<std::string> items;
  if (auto r = range_items(inner)) {
    items = std::move(*r);
  } else {
    const auto alts = split_top(inner);
    if (alts.size() < 2) {  // "{x}" stays literal, but its inside may still expand
      for (const auto& x : expand_raw(inner)) items.push_back("{" + x + "}");
    } else {
      for (const auto& a : alts)
        for (auto& x : expand_raw(a)) items.push_back(std::move(x));
    }
  }
  std::vector<std::string> out;
  for (const auto& it : items)
    for (const auto& r : rest) out.push_back(prefix + it + r);
  return out;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& pattern) {
  auto raw = expand_raw(pattern);
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
