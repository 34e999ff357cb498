#pragma once
// Cutting added tokens out of text: HF tokenizers' AddedVocabulary::find_matches (a leftmost-longest search over
// the token strings, then the single_word / lstrip / rstrip / special rules), on a byte trie.
#include <cstdint>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace sgt::text {

struct Split {
  size_t begin, end;
  TokenId id;  // -1: text to tokenize
};

class AddedTokenMatcher {
 public:
  // patterns[i] is what tokens[i] matches (its content, or its normalised content); empty patterns are ignored.
  void build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);
  bool empty() const { return tokens_.empty(); }
  // Cuts s into text pieces and tokens, in order; pieces cover s except for whitespace a strip flag swallowed.
  void split(std::string_view s, bool split_special_tokens, std::vector<Split>& out) const;

 private:
  struct Node {
    uint32_t first_edge = 0;  // edges_[first_edge, first_edge + edge_count), sorted by byte
    uint32_t edge_count = 0;
    int32_t token = -1;  // index into tokens_ of the pattern ending here
  };
  struct Edge {
    uint8_t byte;
    uint32_t child;
  };
  // Longest pattern starting at s[i]: its end and token index, or token -1.
  std::pair<size_t, int32_t> longest_at(std::string_view s, size_t i) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  bool first_byte_[256] = {};
};

}  // namespace sgt::text
