#pragma once
// WebDataset conventions (webdataset 1.0 tariterators.py / shardlists.py): tar members grouped into samples by
// key, brace-expanded shard lists, shard splitting.
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "data/tar.h"

namespace sgt::data {

struct WdsSample {
  std::string key, url;                                   // __key__, __url__
  std::map<std::string, std::vector<uint8_t>> fields;     // lower-cased extension -> bytes
  bool has(const std::string& ext) const { return fields.count(ext) != 0; }
  // Throws sgt::Error naming the key, url and the missing extension.
  const std::vector<uint8_t>& at(const std::string& ext) const;
};

// base_plus_ext: regex ^((?:.*/|)[^.]+)[.]([^/]*)$ -> (key, extension); nullopt when it does not match
// (no dot in the basename) and the member is ignored.
std::optional<std::pair<std::string, std::string>> wds_split_key(const std::string& path);
// True for members webdataset skips as metadata (top-level __x__, or a path starting with __x__/).
bool wds_is_meta(const std::string& path);

// Most names one brace pattern may expand to (10^6 shards is far beyond any real dataset; "{a..z..1}{0..10^9}"
// would otherwise allocate until memory runs out).
inline constexpr int64_t kMaxBraceNames = 1'000'000;
// braceexpand-style expansion: "a-{000..003}.tar" (zero padding kept), "{a,b}", "{a..z..2}", "{10..0}", nested and
// several groups. Throws sgt::Error naming the pattern when it would expand to more than kMaxBraceNames names or a
// range bound does not fit in 64 bits (Python's integers are unbounded; sgt refuses instead).
std::vector<std::string> expand_braces(const std::string& pattern);
// Expands each pattern; also splits on "::" like webdataset's url lists.
std::vector<std::string> expand_shard_list(const std::vector<std::string>& patterns);
// islice(shards, rank, None, world): every world-th shard from rank.
std::vector<std::string> split_shards(const std::vector<std::string>& shards, int64_t rank, int64_t world);

// Streams samples from one shard after another (shard URLs: data/tar.h, parse_shard_url). A duplicate extension
// inside a sample, a key that reappears in a shard after other keys (kSplitSample: webdataset's group_by_keys
// would silently yield the members as two samples of that key; the first part, read before the repeat could be
// seen, was already returned and fails or passes on its own), a missing, truncated or corrupt shard throw
// BadSampleError (naming shard and member); the caller may catch, count and call next() again, which
// continues with the next shard after a tar error. The sample being assembled when a tar error hits is
// returned first (as webdataset does with a tolerant handler) and the error is thrown by the following call.
class WdsReader {
 public:
  explicit WdsReader(std::vector<std::string> shards, bool lowercase_ext = true);
  ~WdsReader();
  bool next(WdsSample& s);
  // Abandons the current shard (after an error) and continues with the next one.
  void skip_shard();
  const std::string& current_shard() const { return url_; }
  int64_t shard_index() const { return shard_; }

 private:
  bool open_next_shard();
  std::vector<std::string> shards_;
  bool lowercase_;
  int64_t shard_ = -1;
  std::string url_;
  std::unique_ptr<TarReader> tar_;
  std::optional<TarEntry> pending_;  // first member of the next sample, read ahead
  std::string skip_key_;             // members of a sample abandoned after a duplicate extension or a split
  std::unordered_set<std::string> seen_keys_;  // keys of the current shard (a tar member costs >= 512 bytes)
  std::exception_ptr deferred_;      // a shard error met after a complete sample: thrown on the next call
};

}  // namespace sgt::data
