#pragma once
// The Qwen2 byte-level BPE tokenizer (BAGEL, OmniGen2), id-for-id equal to HF tokenizers on the same files.
//
// Encoding follows HF's pipeline: added tokens are cut out first (leftmost-longest, with their single_word /
// lstrip / rstrip / normalized / special flags), the text between them is NFC-normalised, split by the Qwen2
// pre-tokenizer regex and merged by BPE. Decoding maps ids back to bytes through the ByteLevel decoder and
// replaces ill-formed UTF-8 by U+FFFD as the reference does.
//
// A Tokenizer is immutable after loading; copies share the loaded data and may be used from any thread.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/bpe.h"

namespace sgt::text {

struct AddedToken {
  std::string content;
  TokenId id = -1;
  bool single_word = false;  // only matches where no \w character touches it on either side
  bool lstrip = false;       // swallows the whitespace before it
  bool rstrip = false;       // swallows the whitespace after it
  bool normalized = true;    // matched in the NFC-normalised text (false: in the raw input)
  bool special = false;      // skipped by decode(skip_special_tokens) and, on request, encoded as plain text
};

struct EncodeOptions {
  // Encode the text of *special* added tokens like any other text (HF: split_special_tokens /
  // encode_special_tokens). Non-special added tokens (e.g. <think>, <tool_call>) are still matched.
  bool split_special_tokens = false;
};

struct DecodeOptions {
  bool skip_special_tokens = false;
};

// Special-token names that tokenizer_config.json assigns (bos/eos/pad/unk), when a config was found.
struct SpecialTokenNames {
  std::optional<std::string> bos, eos, pad, unk;
};

class Tokenizer {
 public:
  // PATH: a tokenizer.json, a vocab.json (merges.txt and tokenizer_config.json beside it), or a folder holding
  // either. A tokenizer_config.json next to tokenizer.json is read for the special-token names.
  static Tokenizer load(const std::string& path);
  // HF tokenizer.json; config_path (optional, may be empty) is a tokenizer_config.json.
  static Tokenizer from_tokenizer_json(const std::string& path, const std::string& config_path = "");
  // The slow-tokenizer files: vocab.json + merges.txt, with the Qwen2 normaliser and pre-tokenizer
  // (transformers' Qwen2Tokenizer); added tokens and names come from tokenizer_config.json (may be empty).
  static Tokenizer from_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                     const std::string& config_path);

  std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Appends to out. Input that is not valid UTF-8 is first repaired with utf8_lossy(), which is what encoding
  // bytes.decode("utf-8", "replace") with the reference gives.
  void encode_into(std::string_view text, std::vector<TokenId>& out, const EncodeOptions& options = {}) const;
  // Encodes each text on up to `threads` threads (0: hardware concurrency); results in input order.
  std::vector<std::vector<TokenId>> encode_batch(std::span<const std::string> texts, const EncodeOptions& options = {},
                                                 int threads = 0) const;

  // The text of ids (ill-formed UTF-8 becomes U+FFFD per maximal subpart). An id that is neither in the
  // vocabulary nor an added token is an sgt::Error (the reference silently drops it).
  std::string decode(std::span<const TokenId> ids, const DecodeOptions& options = {}) const;
  // The raw bytes of ids before UTF-8 repair (for streaming: a character may span several tokens).
  std::string decode_bytes(std::span<const TokenId> ids, const DecodeOptions& options = {}) const;

  // Id of a token string (an added token's content or a vocabulary string, byte-level characters as in the files).
  std::optional<TokenId> token_to_id(std::string_view token) const;
  // Like token_to_id, but a missing token is an sgt::Error naming it and the tokenizer file.
  TokenId require_id(std::string_view token) const;
  // The token string of id, as in the files (byte-level characters for vocabulary entries).
  std::string id_to_token(TokenId id) const;
  bool is_special(TokenId id) const;

  // One past the largest id (vocabulary and added tokens).
  size_t vocab_size() const;
  const std::vector<AddedToken>& added_tokens() const;
  const SpecialTokenNames& special_names() const;
  // Id of the config's eos / pad / bos token; an sgt::Error when the config names none.
  TokenId eos_id() const;
  TokenId pad_id() const;
  // Where it was loaded from (for messages).
  const std::string& source() const;

  // The same tokenizer without the added tokens whose id is >= limit: their text is encoded by BPE like any other
  // text and their ids decode to nothing known (an error). A model trained with an older tokenizer of the same
  // vocabulary sees its own ids so: BAGEL's Qwen2.5 files stop at <|file_sep|> 151664, where the shipped Qwen3
  // files add <tool_response>, </tool_response>, <think>, </think> (151665-151668, docs/inference.md "Think mode").
  Tokenizer with_added_tokens_below(TokenId limit) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Finds the Qwen tokenizer: `hint` if given, else $SGT_TOKENIZER, else assets/qwen-tokenizer/tokenizer.json found by
// sgt::require_asset (core/assets.h). Logs the file it chose and why.
std::string find_tokenizer(const std::string& hint);

}  // namespace sgt::text
