#pragma once
// The byte-level BPE model: merges a pre-token's bytes into vocabulary ids exactly as HF tokenizers' BPE does
// (lowest merge rank first, leftmost among equals), without dropout, unk or subword prefixes.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sgt::text {

using TokenId = int32_t;

struct BpeMerge {
  TokenId left, right, merged;  // merged: the vocabulary id of left's bytes followed by right's
};

class BpeModel {
 public:
  // token_bytes[id]: the raw bytes of vocabulary entry id, or nullopt where the entry has no byte-level form
  // (then encoding never produces it). merges: in rank order; a repeated pair takes its last rank, as in HF.
  // ignore_merges: a pre-token that is itself in the vocabulary becomes that token without merging.
  BpeModel(std::vector<std::optional<std::string>> token_bytes, const std::vector<BpeMerge>& merges,
           bool ignore_merges);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-token (raw bytes, non-empty).
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  // Vocabulary id of exactly these bytes, or -1.
  TokenId lookup(std::string_view bytes) const;
  size_t size() const { return offsets_.size() - 1; }
  bool has_bytes(TokenId id) const { return has_bytes_[id] != 0; }
  std::string_view bytes(TokenId id) const {
    return {arena_.data() + offsets_[id], static_cast<size_t>(offsets_[id + 1] - offsets_[id])};
  }

 private:
  // A merge table slot packs left << 42 | right << 21 | rank (21 bits each); kEmpty where free. 8-byte slots keep
  // the table small enough to stay mostly in cache: pair lookups are most of the encoding time.
  static constexpr uint64_t kEmpty = ~0ull;
  static constexpr uint32_t kNoRank = ~0u;
  static constexpr int kBits = 21;
  static constexpr uint64_t kFieldMask = (1ull << kBits) - 1;

  // Rank of the merge of this pair, or kNoRank.
  uint32_t find_merge(TokenId left, TokenId right) const;
  void merge_small(std::string_view word, std::vector<TokenId>& out) const;
  void merge_heap(std::string_view word, std::vector<TokenId>& out) const;
  void merge(std::string_view word, std::vector<TokenId>& out) const;

  std::string arena_;              // bytes of every token with a byte-level form, back to back
  std::vector<uint32_t> offsets_;  // token id -> [offsets_[id], offsets_[id + 1]) in arena_
  std::vector<uint8_t> has_bytes_;
  std::vector<TokenId> byte_id_;  // byte -> id of the one-byte token, -1 if none (the byte is dropped, as in HF)
  std::vector<uint64_t> merges_;  // open addressing, power-of-two size
  uint64_t merge_mask_ = 0;
  int merge_shift_ = 64;  // slots are taken from the top bits of a multiplicative hash
  uint64_t merge_slot(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> merge_shift_; }
  std::vector<TokenId> merge_result_;     // rank -> merged token
  std::vector<uint32_t> byte_pair_rank_;  // 256 x 256: rank of the merge of two byte tokens (first merges)
  std::vector<TokenId> vocab_slots_;      // open addressing over token bytes, -1 where free
  uint64_t vocab_mask_ = 0;
  int vocab_shift_ = 64;
  bool ignore_merges_ = false;
  // Several merges yield the same token: then only HF's own queue algorithm reproduces its results.
  bool ambiguous_merges_ = false;
  // Whether merging a token's own bytes gives back that token (0 unknown, 1 yes, 2 no); filled lazily so that
  // whole-word vocabulary hits skip merging. Relaxed atomics: every thread computes the same value.
  std::unique_ptr<std::atomic<uint8_t>[]> self_merges_;
};

}  // namespace sgt::text
