#pragma once
// Raw Unicode data generated from the reference tokenizer (src/text/unicode_tables.cpp, written by
// tools/text_unicode_tables.py). Only src/text/unicode.cpp reads these; everything else uses text/unicode.h.
#include <cstddef>
#include <cstdint>

namespace sgt::text::tables {

struct CodeRange {
  uint32_t lo, hi;  // inclusive
};
struct CccRange {
  uint32_t lo, hi;  // inclusive
  uint8_t ccc;
};
// One level of a canonical decomposition: cp -> first [second]; second == 0 for singletons.
// composes: the pair recomposes to cp in NFC (false for composition exclusions and singletons).
struct Decomposition {
  uint32_t cp, first, second;
  uint8_t composes;
};

extern const CodeRange kLetter[];
extern const size_t kLetterCount;
extern const CodeRange kNumber[];
extern const size_t kNumberCount;
extern const CodeRange kSpace[];
extern const size_t kSpaceCount;
extern const CodeRange kWord[];
extern const size_t kWordCount;
extern const CccRange kCcc[];
extern const size_t kCccCount;
extern const Decomposition kDecomposition[];
extern const size_t kDecompositionCount;

}  // namespace sgt::text::tables
