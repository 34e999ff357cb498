#include "text/pretokenize.h"

#include <cstdint>

#include "text/unicode.h"

namespace sgt::text {

const std::string_view kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

// What the pattern distinguishes: \p{L}, \p{N}, \r or \n, other \s, and everything else.
enum Cls : uint8_t { kL, kN, kCrLf, kWs, kOther };

struct AsciiClasses {
  Cls c[128];
  constexpr AsciiClasses() : c{} {
    for (int i = 0; i < 128; ++i) {
      if ((i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z'))
        c[i] = kL;
      else if (i >= '0' && i <= '9')
        c[i] = kN;
      else if (i == '\r' || i == '\n')
        c[i] = kCrLf;
      else if (i == ' ' || (i >= '\t' && i <= '\f'))  // \t \n \v \f (and \r above)
        c[i] = kWs;
      else
        c[i] = kOther;
    }
  }
};
constexpr AsciiClasses kAscii;

struct Scanner {
  const unsigned char* p;
  size_t n;

  Cls cls(size_t i, int& len) const {
    if (p[i] < 0x80) {
      len = 1;
      return kAscii.c[p[i]];
    }
    const uint16_t info = char_info(decode_utf8(p + i, len));
    if (info & kLetter) return kL;
    if (info & kNumber) return kN;
    if (info & kSpace) return kWs;  // U+0085, U+2028 etc. are \s but not [\r\n]
    return kOther;
  }
  size_t run(size_t i, Cls want) const {
    int len;
    while (i < n && cls(i, len) == want) i += len;
    return i;
  }
  size_t crlf_run(size_t i) const {
    while (i < n && (p[i] == '\r' || p[i] == '\n')) ++i;
    return i;
  }
  static bool is(unsigned char c, char lower) { return c == lower || c == lower - 32; }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d) after the apostrophe at i - 1; 0 when none. Case folding also maps U+017F (long
  // s) to s; no other code point folds onto these letters.
  size_t contraction(size_t i) const {
    if (i >= n) return 0;
    const unsigned char c = p[i];
    if (is(c, 's') || is(c, 't') || is(c, 'm') || is(c, 'd')) return i + 1;
    if (c == 0xC5 && i + 1 < n && p[i + 1] == 0xBF) return i + 2;
    if (i + 1 < n) {
      if ((is(c, 'r') || is(c, 'v')) && is(p[i + 1], 'e')) return i + 2;
      if (is(c, 'l') && is(p[i + 1], 'l')) return i + 2;
    }
    return 0;
  }

  size_t piece_end(size_t i) const {
    int len0;
    const Cls c0 = cls(i, len0);
    const size_t i1 = i + len0;
    if (p[i] == '\'')
      if (size_t e = contraction(i1)) return e;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c0 == kL) return run(i1, kL);
    int len1 = 0;
    const Cls c1 = i1 < n ? cls(i1, len1) : kCrLf;
    if ((c0 == kWs || c0 == kOther) && i1 < n && c1 == kL) return run(i1 + len1, kL);
    // \p{N}
    if (c0 == kN) return i1;
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    if (p[i] == ' ' && i1 < n && c1 == kOther) return crlf_run(run(i1 + len1, kOther));
    if (c0 == kOther) return crlf_run(run(i1, kOther));
    // Whitespace run [i, q): \s*[\r\n]+ ends after its last CR/LF; else \s+(?!\S) leaves the last character of a
    // run that a non-space follows (to prefix the next word), unless the run is one character long (\s+).
    size_t last_crlf = c0 == kCrLf ? i : SIZE_MAX, last_start = i, q = i1;
    while (q < n) {
      int len;
      const Cls c = cls(q, len);
      if (c != kWs && c != kCrLf) break;
      if (c == kCrLf) last_crlf = q;
      last_start = q;
      q += len;
    }
    if (last_crlf != SIZE_MAX) return last_crlf + 1;
    if (q == n || last_start == i) return q;
    return last_start;
  }
};

}  // namespace

size_t qwen2_piece_end(std::string_view text, size_t begin) {
  const Scanner s{reinterpret_cast<const unsigned char*>(text.data()), text.size()};
  return s.piece_end(begin);
}

}  // namespace sgt::text
