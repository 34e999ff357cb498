#include "text/bpe.h"

#include <bit>
#include <cstring>
#include <queue>
#include <unordered_set>

#include "core/error.h"

namespace sgt::text {
namespace {

constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;

uint64_t hash_bytes(std::string_view s) {
  uint64_t h = s.size() * kMul;
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  return h * kMul;
}

uint64_t table_size(size_t entries) {
  uint64_t size = 16;
  while (size < entries * 2 + 1) size <<= 1;  // load factor at most 1/2
  return size;
}

// Pre-tokens up to this many bytes are merged with a linear scan over fixed arrays; longer ones with a queue.
constexpr size_t kSmallWord = 64;

}  // namespace

BpeModel::BpeModel(std::vector<std::optional<std::string>> token_bytes, const std::vector<BpeMerge>& merges,
                   bool ignore_merges)
    : ignore_merges_(ignore_merges) {
  const size_t n = token_bytes.size();
  offsets_.resize(n + 1, 0);
  has_bytes_.resize(n, 0);
  for (size_t id = 0; id < n; ++id) {
    offsets_[id] = static_cast<uint32_t>(arena_.size());
    if (token_bytes[id]) {
      SGT_CHECK(!token_bytes[id]->empty(), "text.bpe", "vocabulary entry {} is empty", id);
      arena_ += *token_bytes[id];
      has_bytes_[id] = 1;
    }
  }
  offsets_[n] = static_cast<uint32_t>(arena_.size());

  const uint64_t vsize = table_size(n);
  vocab_mask_ = vsize - 1;
  vocab_shift_ = 64 - std::countr_zero(vsize);
  vocab_slots_.assign(vsize, -1);
  byte_id_.assign(256, -1);
  for (size_t id = 0; id < n; ++id) {
    if (!has_bytes_[id]) continue;
    const auto b = bytes(static_cast<TokenId>(id));
    SGT_CHECK(lookup(b) < 0, "text.bpe", "two vocabulary entries ({} and {}) stand for the same bytes", lookup(b), id);
    uint64_t slot = hash_bytes(b) >> vocab_shift_;
    while (vocab_slots_[slot] >= 0) slot = (slot + 1) & vocab_mask_;
    vocab_slots_[slot] = static_cast<TokenId>(id);
    if (b.size() == 1) byte_id_[static_cast<unsigned char>(b[0])] = static_cast<TokenId>(id);
  }

  SGT_CHECK(n <= kFieldMask && merges.size() <= kFieldMask, "text.bpe",
            "{} tokens and {} merges: at most {} of each are supported", n, merges.size(), kFieldMask);
  uint64_t msize = 16;
  while (msize * 2 < merges.size() * 3) msize <<= 1;  // load factor at most 2/3
  merge_mask_ = msize - 1;
  merge_shift_ = 64 - std::countr_zero(msize);
  merges_.assign(msize, kEmpty);
  merge_result_.resize(merges.size());
  std::unordered_set<TokenId> results;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& m = merges[rank];
    for (TokenId id : {m.left, m.right, m.merged})
      SGT_CHECK(id >= 0 && static_cast<size_t>(id) < n, "text.bpe", "merge {} names id {} outside the vocabulary", rank,
                id);
    const uint64_t key = (static_cast<uint64_t>(m.left) << (2 * kBits)) | (static_cast<uint64_t>(m.right) << kBits);
    uint64_t slot = merge_slot(key);
    while (merges_[slot] != kEmpty && (merges_[slot] & ~kFieldMask) != key) slot = (slot + 1) & merge_mask_;
    merges_[slot] = key | rank;  // a repeated pair takes its later rank, as in HF
    merge_result_[rank] = m.merged;
    if (!results.insert(m.merged).second) ambiguous_merges_ = true;
  }
  byte_pair_rank_.assign(256 * 256, kNoRank);
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b)
      if (byte_id_[a] >= 0 && byte_id_[b] >= 0) byte_pair_rank_[a * 256 + b] = find_merge(byte_id_[a], byte_id_[b]);
  self_merges_ = std::make_unique<std::atomic<uint8_t>[]>(n);
  for (size_t i = 0; i < n; ++i) self_merges_[i].store(0, std::memory_order_relaxed);
}

TokenId BpeModel::lookup(std::string_view b) const {
  uint64_t slot = hash_bytes(b) >> vocab_shift_;
  while (true) {
    const TokenId id = vocab_slots_[slot];
    if (id < 0) return -1;
    if (bytes(id) == b) return id;
    slot = (slot + 1) & vocab_mask_;
  }
}

uint32_t BpeModel::find_merge(TokenId left, TokenId right) const {
  const uint64_t key = (static_cast<uint64_t>(left) << (2 * kBits)) | (static_cast<uint64_t>(right) << kBits);
  uint64_t slot = merge_slot(key);
  while (true) {
    const uint64_t s = merges_[slot];
    if ((s & ~kFieldMask) == key) return static_cast<uint32_t>(s & kFieldMask);
    if (s == kEmpty) return kNoRank;
    slot = (slot + 1) & merge_mask_;
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  const TokenId whole = lookup(word);
  if (whole >= 0) {
    if (ignore_merges_) {
      out.push_back(whole);
      return;
    }
    // A token whose own bytes merge back into it stands for itself; most words hit this path.
    auto& known = self_merges_[whole];
    uint8_t state = known.load(std::memory_order_relaxed);
    if (state == 0) {
      const size_t at = out.size();
      merge(word, out);
      state = (out.size() == at + 1 && out[at] == whole) ? 1 : 2;
      known.store(state, std::memory_order_relaxed);
      return;
    }
    if (state == 1) {
      out.push_back(whole);
      return;
    }
  }
  merge(word, out);
}

void BpeModel::merge(std::string_view word, std::vector<TokenId>& out) const {
  if (word.size() <= kSmallWord && !ambiguous_merges_)
    merge_small(word, out);
  else
    merge_heap(word, out);
}

// Lowest rank first, leftmost among equal ranks: with one merge per result token this is HF's order exactly.
void BpeModel::merge_small(std::string_view word, std::vector<TokenId>& out) const {
  TokenId ids[kSmallWord];
  uint32_t rank[kSmallWord];  // rank[i]: merge rank of (ids[i], ids[i + 1])
  size_t m = 0;
  unsigned char prev = 0;
  for (unsigned char b : word) {
    if (byte_id_[b] < 0) continue;
    if (m > 0) rank[m - 1] = byte_pair_rank_[prev * 256 + b];
    ids[m++] = byte_id_[b];
    prev = b;
  }
  while (m > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < m; ++i)
      if (rank[i] < rank[best]) best = i;
    if (rank[best] == kNoRank) break;
    ids[best] = merge_result_[rank[best]];
    // Drop symbol best + 1 and the pair that started at it.
    std::memmove(ids + best + 1, ids + best + 2, (m - best - 2) * sizeof(TokenId));
    if (m >= best + 3) std::memmove(rank + best + 1, rank + best + 2, (m - best - 3) * sizeof(uint32_t));
    --m;
    if (best + 1 < m) rank[best] = find_merge(ids[best], ids[best + 1]);
    if (best > 0) rank[best - 1] = find_merge(ids[best - 1], ids[best]);
  }
  out.insert(out.end(), ids, ids + m);
}

// HF's Word::merge_all: a min-queue of (rank, position) over a linked list of symbols; an entry is stale when the
// pair at its position no longer yields the same token. O(n log n), for long pre-tokens (and ambiguous merges).
void BpeModel::merge_heap(std::string_view word, std::vector<TokenId>& out) const {
  struct Symbol {
    TokenId id;
    int32_t prev, next;  // -1 at the ends; id == -1 once merged into its left neighbour
  };
  struct Entry {
    uint32_t rank, pos;
    TokenId merged;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (unsigned char b : word) {
    if (byte_id_[b] < 0) continue;
    const auto i = static_cast<int32_t>(sym.size());
    sym.push_back({byte_id_[b], i - 1, i + 1});
  }
  if (sym.empty()) return;
  sym.back().next = -1;
  std::vector<Entry> init;
  init.reserve(sym.size());
  for (size_t i = 0; i + 1 < sym.size(); ++i)
    if (const uint32_t r = find_merge(sym[i].id, sym[i + 1].id); r != kNoRank)
      init.push_back({r, static_cast<uint32_t>(i), merge_result_[r]});
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue(std::greater<Entry>(), std::move(init));
  while (!queue.empty()) {
    const Entry top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    if (left.id < 0 || left.next < 0) continue;
    const int32_t right = left.next;
    const uint32_t r = find_merge(left.id, sym[right].id);
    if (r == kNoRank || merge_result_[r] != top.merged) continue;  // stale
    left.id = top.merged;
    left.next = sym[right].next;
    sym[right].id = -1;
    if (left.next >= 0) sym[left.next].prev = static_cast<int32_t>(top.pos);
    if (left.prev >= 0)
      if (const uint32_t p = find_merge(sym[left.prev].id, left.id); p != kNoRank)
        queue.push({p, static_cast<uint32_t>(left.prev), merge_result_[p]});
    if (left.next >= 0)
      if (const uint32_t q = find_merge(left.id, sym[left.next].id); q != kNoRank)
        queue.push({q, top.pos, merge_result_[q]});
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace sgt::text
