#pragma once
// The Qwen2 pre-tokenizer: a hand-written scanner equivalent to HF's Split with the pattern
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// run by Oniguruma (leftmost-first alternation, greedy with backtracking) in "isolated" mode. The pattern matches
// every character, so the pieces tile the text.
#include <cstddef>
#include <string_view>

namespace sgt::text {

// The pattern string of tokenizer.json / Qwen2Tokenizer that qwen2_piece_end() implements.
extern const std::string_view kQwen2SplitPattern;

// End (byte offset) of the piece that starts at byte `begin` < text.size() of valid UTF-8.
size_t qwen2_piece_end(std::string_view text, size_t begin);

}  // namespace sgt::text
