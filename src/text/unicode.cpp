// Code point tables (built once from the generated ranges), UTF-8 helpers and NFC.
#include "text/unicode.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "text/unicode_tables.h"

namespace sgt::text {
namespace {

constexpr char32_t kMaxCp = 0x110000;
// Hangul syllable arithmetic (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

bool is_hangul_syllable(char32_t c) { return c >= kSBase && c < kSBase + kSCount; }

struct Tables {
  std::vector<uint16_t> stage1, stage2;
  detail::CharTable view{};
  std::unordered_map<char32_t, std::pair<char32_t, char32_t>> decomposition;  // one level; second 0: singleton
  std::unordered_map<uint64_t, char32_t> composition;                         // (first << 21 | second) -> composite

  Tables() {
    std::vector<uint16_t> info(kMaxCp, 0);
    auto mark = [&](const tables::CodeRange* r, size_t n, uint16_t flag) {
      for (size_t i = 0; i < n; ++i)
        for (char32_t c = r[i].lo; c <= r[i].hi; ++c) info[c] |= flag;
    };
    mark(tables::kLetter, tables::kLetterCount, kLetter);
    mark(tables::kNumber, tables::kNumberCount, kNumber);
    mark(tables::kSpace, tables::kSpaceCount, kSpace);
    mark(tables::kWord, tables::kWordCount, kWord);
    for (size_t i = 0; i < tables::kCccCount; ++i)
      for (char32_t c = tables::kCcc[i].lo; c <= tables::kCcc[i].hi; ++c)
        info[c] |= static_cast<uint16_t>(tables::kCcc[i].ccc) << 8;
    std::vector<bool> excluded(kMaxCp, false);
    for (size_t i = 0; i < tables::kDecompositionCount; ++i) {
      const auto& d = tables::kDecomposition[i];
      decomposition[d.cp] = {d.first, d.second};
      info[d.cp] |= kHasDecomp;
      if (d.composes && d.second != 0) {
        composition[(static_cast<uint64_t>(d.first) << 21) | d.second] = d.cp;
        info[d.second] |= kCompSecond;
      } else {
        excluded[d.cp] = true;
      }
    }
    for (char32_t c = kSBase; c < kSBase + kSCount; ++c) info[c] |= kHasDecomp;
    for (char32_t c = kVBase; c < kVBase + kVCount; ++c) info[c] |= kCompSecond;
    for (char32_t c = kTBase + 1; c < kTBase + kTCount; ++c) info[c] |= kCompSecond;
    // A boundary code point starts a stretch that NFC handles independently of what precedes it: it is a starter
    // that is not excluded from composition, cannot combine backwards, and neither can the start of its
    // decomposition.
    for (char32_t c = 0; c < kMaxCp; ++c) {
      if ((info[c] >> 8) != 0 || excluded[c] || (info[c] & kCompSecond)) continue;
      char32_t head = c;
      while (true) {
        auto it = decomposition.find(head);
        if (it == decomposition.end()) break;
        head = it->second.first;
      }
      if (head != c && ((info[head] >> 8) != 0 || (info[head] & kCompSecond))) continue;
      info[c] |= kNfcBoundary;
    }
    // Two-stage table: identical 256-entry blocks are stored once.
    std::map<std::vector<uint16_t>, uint16_t> blocks;
    stage1.resize(kMaxCp >> 8);
    for (char32_t b = 0; b < (kMaxCp >> 8); ++b) {
      std::vector<uint16_t> block(info.begin() + (b << 8), info.begin() + ((b + 1) << 8));
      auto [it, inserted] = blocks.emplace(block, static_cast<uint16_t>(blocks.size()));
      if (inserted) stage2.insert(stage2.end(), block.begin(), block.end());
      stage1[b] = it->second;
    }
    view = {stage1.data(), stage2.data()};
  }
};

const Tables& tables_instance() {
  static const Tables t;
  return t;
}

void decompose(const Tables& t, char32_t c, std::vector<char32_t>& out) {
  if (is_hangul_syllable(c)) {
    const char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (!(char_info(c) & kHasDecomp)) {
    out.push_back(c);
    return;
  }
  const auto& d = t.decomposition.at(c);
  decompose(t, d.first, out);
  if (d.second != 0) decompose(t, d.second, out);
}

char32_t compose_pair(const Tables& t, char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (is_hangul_syllable(a) && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = t.composition.find((static_cast<uint64_t>(a) << 21) | b);
  return it == t.composition.end() ? 0 : it->second;
}

// Full NFC of one stretch (decompose, canonical order, compose), appended to out.
void normalize_segment(std::string_view seg, std::string& out) {
  const Tables& t = tables_instance();
  thread_local std::vector<char32_t> buf;
  buf.clear();
  const auto* p = reinterpret_cast<const unsigned char*>(seg.data());
  for (size_t i = 0; i < seg.size();) {
    int len;
    decompose(t, decode_utf8(p + i, len), buf);
    i += len;
  }
  // Canonical ordering: a stable insertion sort by ccc inside each run of non-starters.
  for (size_t i = 1; i < buf.size(); ++i) {
    const char32_t c = buf[i];
    const uint8_t cc = combining_class(c);
    if (cc == 0) continue;
    size_t j = i;
    while (j > 0 && combining_class(buf[j - 1]) > cc) {
      buf[j] = buf[j - 1];
      --j;
    }
    buf[j] = c;
  }
  // Canonical composition.
  size_t n = 0;
  ptrdiff_t starter = -1;
  int last = -1;
  for (char32_t c : buf) {
    const uint16_t info = char_info(c);
    const int cc = info >> 8;
    if (starter >= 0 && (last < cc || last == 0) && (info & kCompSecond)) {
      if (char32_t comp = compose_pair(t, buf[starter], c)) {
        buf[starter] = comp;
        continue;
      }
    }
    if (cc == 0) starter = static_cast<ptrdiff_t>(n);
    last = cc;
    buf[n++] = c;
  }
  for (size_t i = 0; i < n; ++i) append_utf8(out, buf[i]);
}

}  // namespace

const detail::CharTable& detail::char_table() { return tables_instance().view; }

char32_t decode_utf8_before(std::string_view s, size_t end, int& len) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  char32_t cp = decode_utf8(reinterpret_cast<const unsigned char*>(s.data()) + b, len);
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {
// Length of the well-formed sequence at p (Unicode Table 3-7), or 0 when the bytes available do not start one;
// in that case `valid_prefix` is the length of the maximal subpart to replace by one U+FFFD (at least 1).
size_t utf8_sequence(const unsigned char* p, size_t avail, size_t& valid_prefix) {
  const unsigned c = p[0];
  size_t need;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    valid_prefix = 1;
    return 0;
  }
  for (size_t k = 1; k < need; ++k) {
    const unsigned b = k < avail ? p[k] : 0x100;
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) {
      valid_prefix = k;
      return 0;
    }
  }
  return need;
}
}  // namespace

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    size_t bad;
    const size_t len = utf8_sequence(p + i, n - i, bad);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t bad = 0;
    const size_t len = utf8_sequence(p + i, s.size() - i, bad);
    if (len > 0) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      i += bad;
    }
  }
  return out;
}

bool nfc(std::string_view s, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t copied = 0;   // s[0, copied) has been written to out
  size_t seg = 0;      // start of the current stretch (a boundary code point)
  bool dirty = false;  // the current stretch holds a non-boundary code point and must be normalised
  bool changed = false;
  auto flush = [&](size_t end) {
    if (!changed) out.clear();
    out.append(s.data() + copied, seg - copied);
    normalize_segment(s.substr(seg, end - seg), out);
    copied = end;
    dirty = false;
    changed = true;
  };
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {  // ASCII is always a boundary; skip the run, its last byte may start a stretch
      if (dirty) flush(i);
      size_t j = i + 1;
      while (j < n && p[j] < 0x80) ++j;
      seg = j - 1;
      i = j;
      continue;
    }
    int len;
    const char32_t c = decode_utf8(p + i, len);
    if (char_info(c) & kNfcBoundary) {
      if (dirty) flush(i);
      seg = i;
    } else {
      dirty = true;
    }
    i += len;
  }
  if (dirty) flush(n);
  if (changed) out.append(s.data() + copied, n - copied);
  return changed;
}

std::string nfc(std::string_view s) {
  std::string out;
  if (!nfc(s, out)) return std::string(s);
  return out;
}

}  // namespace sgt::text
