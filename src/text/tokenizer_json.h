#pragma once
// Streaming reader for HF tokenizer.json: the vocabulary and merges (most of the file) are collected directly,
// everything else becomes a small JSON tree. About 3x faster than building the whole tree.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sgt::text {

struct TokenizerJson {
  nlohmann::json rest;  // the file without model.vocab and model.merges
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // either file form: ["a", "b"] or "a b"
  bool has_vocab = false, has_merges = false;
};

// Throws sgt::Error naming `where` on malformed JSON or an unexpected vocabulary / merges layout.
TokenizerJson parse_tokenizer_json(const std::string& text, const std::string& where);
// A vocab.json: one object of token -> id.
std::vector<std::pair<std::string, int64_t>> parse_vocab_json(const std::string& text, const std::string& where);

}  // namespace sgt::text
