#pragma once
// Depth-limited JSON parsing for files we did not write (configs, safetensors headers, checkpoint manifests,
// SA-1B annotations, tokenizer.json). A value nested 10^5 deep ("[[[[...") is a few hundred kilobytes, and code that
// walks or destroys such a value recursively overflows the stack; refusing it up front turns a crash into an error.
// Kept out of core/config.h, which nearly every file includes.
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sgt {

// Deeper than any file of ours (configs nest < 10 levels, SA-1B annotations 4) and far below a stack overflow.
constexpr int kMaxJsonDepth = 512;

// Throws sgt::Error (component "json", naming `where`, the byte offset and the limit) when arrays / objects in
// `text` nest deeper than max_depth. Brackets inside strings do not count; the text is not otherwise validated (the
// parser that follows reports syntax errors with its own message).
void check_json_depth(std::string_view text, const std::string& where, int max_depth = kMaxJsonDepth);

// check_json_depth() then J::parse(text); parse errors propagate as nlohmann exceptions for the caller to word.
template <class J = nlohmann::json>
J parse_json_limited(std::string_view text, const std::string& where, int max_depth = kMaxJsonDepth) {
  check_json_depth(text, where, max_depth);
  return J::parse(text.begin(), text.end());
}

}  // namespace sgt
