// libFuzzer target for the tokenizer: any byte string must encode to in-range ids, decode to well-formed UTF-8,
// round-trip to its NFC form when no added token occurs in it, and, read as ids, decode or raise sgt::Error.
// Crashes, sanitizer reports, other exception types and broken invariants (__builtin_trap) are findings.
// The tokenizer is the one the project ships (assets/qwen-tokenizer, found as sgt finds it) or $SGT_FUZZ_TOKENIZER.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/assets.h"
#include "core/error.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace {

const sgt::text::Tokenizer& tokenizer() {
  static const sgt::text::Tokenizer t = [] {
    const char* env = std::getenv("SGT_FUZZ_TOKENIZER");
    // Not a path from __FILE__: a compiler launcher (ccache's base_dir) may make that relative to the build folder.
    const auto path = env ? std::filesystem::path(env)
                          : std::filesystem::path(sgt::require_asset(sgt::kDefaultTokenizerAsset).path).parent_path();
    return sgt::text::Tokenizer::load(path.string());
  }();
  return t;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sgt::text;
  const Tokenizer& t = tokenizer();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string text = utf8_lossy(input);
  check(is_valid_utf8(text) && (is_valid_utf8(input) ? text == input : text != input));
  const std::string normal = nfc(text);
  check(is_valid_utf8(normal) && nfc(normal) == normal);
  bool has_added = false;
  for (const auto& a : t.added_tokens()) has_added |= text.find(a.content) != std::string::npos;
  for (bool split : {false, true}) {
    const auto ids = t.encode(input, {.split_special_tokens = split});
    for (TokenId id : ids) check(id >= 0 && static_cast<size_t>(id) < t.vocab_size());
    const std::string back = t.decode(ids);
    check(is_valid_utf8(back));
    if (!has_added) check(back == normal);
  }
  // The same bytes read as ids: some are out of range (an error), the rest decode to well-formed UTF-8.
  std::vector<TokenId> ids(size / 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    uint32_t v;
    std::memcpy(&v, data + 4 * i, 4);
    ids[i] = static_cast<TokenId>(v % (t.vocab_size() + 8));
  }
  try {
    check(is_valid_utf8(t.decode(ids, {.skip_special_tokens = (size & 1) != 0})));
  } catch (const sgt::Error&) {
  }
  return 0;
}
