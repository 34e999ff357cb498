#pragma once
// The loaded state behind text::Tokenizer (shared by tokenizer.cpp and tokenizer_load.cpp).
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/tokenizer.h"

namespace sgt::text {

struct Tokenizer::Impl {
  std::string source;
  bool nfc = true;  // the NFC normaliser (false: none)
  std::shared_ptr<const BpeModel> bpe;  // shared by the views of one file (Tokenizer::with_added_tokens_below)
  // Vocabulary strings with a character outside the byte map: never produced by encoding, decoded as their UTF-8.
  std::unordered_map<TokenId, std::string> non_byte_vocab;
  std::unordered_map<std::string, TokenId> non_byte_ids;  // the reverse of non_byte_vocab (first id of a string)
  std::vector<AddedToken> added;         // in file order
  AddedTokenMatcher raw_matcher;         // normalized == false: matched in the input as given
  AddedTokenMatcher normalized_matcher;  // normalized == true: matched in the NFC text
  std::unordered_map<std::string, TokenId> added_by_content;
  SpecialTokenNames names;

  // Decoding: the bytes of every id (ByteLevel decoder rule), and its kind.
  enum Kind : uint8_t { kMissing = 0, kNormal = 1, kSpecial = 2 };
  std::string decode_arena;
  std::vector<uint64_t> decode_offsets;  // id -> [offsets[id], offsets[id + 1])
  std::vector<uint8_t> kind;

  // Id of a vocabulary string (byte-level characters, as in the files), or -1; added tokens are not consulted.
  TokenId vocab_id(std::string_view token) const;
  // Builds the matchers and the decoding tables once vocabulary, merges and added tokens are set.
  void finish(size_t vocab_ids);
  // NFC, then the normalized added tokens, then pre-tokenizer and BPE.
  void encode_normalizable(std::string_view text, std::vector<TokenId>& out, bool split_special_tokens) const;
  void encode_pretokenized(std::string_view text, std::vector<TokenId>& out) const;
};

}  // namespace sgt::text
