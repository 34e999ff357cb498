// Id-for-id parity with HF tokenizers (tools/text_ref.py) on a generated corpus of several megabytes, on every code
// point, on random id sequences and on ill-formed UTF-8.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "core/rng.h"
#include "testing/testing.h"
#include "text/byte_level.h"
#include "text/text_testing.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

using namespace sgt;
using namespace sgt::text;

namespace {

const Tokenizer& qwen() { return sgt::testing::qwen_tokenizer(); }

void expect_same_ids(const std::vector<std::vector<TokenId>>& ours, const std::vector<std::vector<int32_t>>& ref,
                     const std::vector<std::string>& inputs, const std::string& what) {
  const size_t bad = sgt::testing::count_id_mismatches(ours, ref, inputs, what);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << ours.size() << " inputs differ";
}

// An added token directly followed by a code point NFC would join to it: the reference normalises the text around
// added tokens separately, so there decode(encode(x)) differs from NFC(x) (in the reference too).
bool added_token_touches_mark(const Tokenizer& t, const std::string& s) {
  for (const auto& a : t.added_tokens()) {
    for (size_t pos = s.find(a.content); pos != std::string::npos; pos = s.find(a.content, pos + 1)) {
      const size_t end = pos + a.content.size();
      if (end >= s.size()) continue;
      int len;
      if (!has_flag(decode_utf8(reinterpret_cast<const unsigned char*>(s.data()) + end, len), kNfcBoundary))
        return true;
    }
  }
  return false;
}

}  // namespace

TEST(TokenizerParity, CorpusIdsDecodingAndRoundTripMatchTheReference) {
  sgt::testing::TempDir dir("text-corpus");
  const std::string tok = sgt::testing::qwen_tokenizer_json(), corpus = dir.file("corpus.jsonl");
  sgt::testing::run_tool_or_throw("text_corpus.py", {"--out", corpus, "--tokenizer", tok});
  const auto docs = sgt::testing::read_jsonl(corpus);
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();
  ASSERT_GE(bytes, 5'000'000u) << "the parity corpus must hold at least 5 MB";
  sgt::testing::run_tool_or_throw("text_ref.py",
                                  {"encode", "--tokenizer", tok, "--input", corpus, "--out", dir.file("ref")});
  sgt::testing::run_tool_or_throw("text_ref.py", {"encode", "--tokenizer", tok, "--input", corpus, "--out",
                                                  dir.file("ref_split"), "--split-special"});
  sgt::testing::run_tool_or_throw("text_ref.py", {"nfc", "--input", corpus, "--out", dir.file("nfc.jsonl")});

  const Tokenizer& t = qwen();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<TokenId>> ours;
  for (const auto& d : docs) ours.push_back(t.encode(d));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[parity] %zu documents, %.2f MB, encoded in %.2f s\n", docs.size(), bytes / 1e6, secs);
  expect_same_ids(ours, sgt::testing::read_id_lists(dir.file("ref")), docs, "encode");
  std::vector<std::vector<TokenId>> split;
  for (const auto& d : docs) split.push_back(t.encode(d, {.split_special_tokens = true}));
  expect_same_ids(split, sgt::testing::read_id_lists(dir.file("ref_split")), docs, "encode with split_special_tokens");
  expect_same_ids(t.encode_batch(docs, {}, 2), sgt::testing::read_id_lists(dir.file("ref")), docs, "encode_batch");

  // Decoding the reference's ids, with and without special tokens.
  sgt::testing::write_id_lists(dir.file("ours"), ours);
  sgt::testing::run_tool_or_throw(
      "text_ref.py", {"decode", "--tokenizer", tok, "--ids", dir.file("ours"), "--out", dir.file("dec.jsonl")});
  sgt::testing::run_tool_or_throw("text_ref.py", {"decode", "--tokenizer", tok, "--ids", dir.file("ours"), "--out",
                                                  dir.file("dec_skip.jsonl"), "--skip-special"});
  const auto dec = sgt::testing::read_jsonl(dir.file("dec.jsonl")),
             dec_skip = sgt::testing::read_jsonl(dir.file("dec_skip.jsonl"));
  const auto nfc_ref = sgt::testing::read_jsonl(dir.file("nfc.jsonl"));
  ASSERT_EQ(dec.size(), docs.size());
  size_t bad_decode = 0, bad_nfc = 0, bad_roundtrip = 0, touching = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    const std::string mine = t.decode(ours[i]);
    bad_decode += mine != dec[i] || t.decode(ours[i], {.skip_special_tokens = true}) != dec_skip[i];
    bad_nfc += text::nfc(docs[i]) != nfc_ref[i];
    if (mine != nfc_ref[i]) {
      if (added_token_touches_mark(t, docs[i]))
        ++touching;
      else if (++bad_roundtrip <= 3)
        ADD_FAILURE() << "decode(encode(x)) != NFC(x) for document " << i;
    }
  }
  EXPECT_EQ(bad_decode, 0u);
  EXPECT_EQ(bad_nfc, 0u);
  EXPECT_EQ(bad_roundtrip, 0u);
  std::printf(
      "[parity] decode(encode(x)) == NFC(x) for %zu of %zu documents; the other %zu put a combining mark "
      "right after an added token\n",
      docs.size() - touching, docs.size(), touching);
}

TEST(TokenizerParity, EveryCodePointIsClassifiedAndNormalisedAsInTheReference) {
  sgt::testing::TempDir dir("text-cps");
  sgt::testing::run_tool_or_throw(
      "text_ref.py", {"codepoints", "--tokenizer", sgt::testing::qwen_tokenizer_json(), "--out", dir.file("cps")});
  std::ifstream in(dir.file("cps.cps"), std::ios::binary);
  std::vector<std::string> probes;
  int32_t cp;
  while (in.read(reinterpret_cast<char*>(&cp), sizeof cp)) {
    std::string c;
    append_utf8(c, static_cast<char32_t>(cp));
    probes.push_back("a" + c + "a" + c + c + ".");
  }
  ASSERT_GT(probes.size(), 300'000u);
  expect_same_ids(qwen().encode_batch(probes, {}, 2), sgt::testing::read_id_lists(dir.file("cps")), probes,
                  "code points");
}

TEST(TokenizerParity, RandomIdSequencesDecodeAsInTheReference) {
  // Byte tokens in random order make ill-formed UTF-8 of every kind; special tokens test skip_special_tokens.
  const Tokenizer& t = qwen();
  Rng rng(11);
  std::vector<TokenId> bytes_ids;
  for (int b = 0; b < 256; ++b)
    bytes_ids.push_back(t.require_id(byte_level::encode(std::string(1, static_cast<char>(b)))));
  std::vector<std::vector<TokenId>> lists;
  for (int i = 0; i < 3000; ++i) {
    std::vector<TokenId> ids;
    for (uint64_t n = rng.below(40); n > 0; --n) {
      const uint64_t r = rng.below(10);
      if (r < 5)
        ids.push_back(bytes_ids[rng.below(256)]);
      else if (r < 9)
        ids.push_back(static_cast<TokenId>(rng.below(151643)));
      else
        ids.push_back(static_cast<TokenId>(151643 + rng.below(26)));
    }
    lists.push_back(ids);
  }
  sgt::testing::TempDir dir("text-dec");
  sgt::testing::write_id_lists(dir.file("ids"), lists);
  const std::string tok = sgt::testing::qwen_tokenizer_json();
  sgt::testing::run_tool_or_throw(
      "text_ref.py", {"decode", "--tokenizer", tok, "--ids", dir.file("ids"), "--out", dir.file("dec.jsonl")});
  sgt::testing::run_tool_or_throw("text_ref.py", {"decode", "--tokenizer", tok, "--ids", dir.file("ids"), "--out",
                                                  dir.file("skip.jsonl"), "--skip-special"});
  const auto dec = sgt::testing::read_jsonl(dir.file("dec.jsonl")),
             skip = sgt::testing::read_jsonl(dir.file("skip.jsonl"));
  ASSERT_EQ(dec.size(), lists.size());
  size_t bad = 0;
  for (size_t i = 0; i < lists.size(); ++i) {
    bad += t.decode(lists[i]) != dec[i];
    bad += t.decode(lists[i], {.skip_special_tokens = true}) != skip[i];
  }
  EXPECT_EQ(bad, 0u);
}

TEST(TokenizerParity, IllFormedUtf8AndNfcMatchTheReference) {
  Rng rng(3);
  // Random bytes, and valid UTF-8 with damage: truncations, stray continuation bytes, surrogates, overlongs.
  std::vector<std::string> raw;
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const uint64_t n = rng.below(64);
    for (uint64_t k = 0; k < n; ++k) {
      if (rng.below(3) == 0) {
        s.push_back(static_cast<char>(rng.below(256)));
      } else {
        std::string c;
        append_utf8(c, static_cast<char32_t>(rng.below(0x110000)));  // may be a surrogate: ill-formed on purpose
        s += c.substr(0, c.size() - rng.below(2) * (c.size() > 1));
      }
    }
    raw.push_back(s);
  }
  sgt::testing::TempDir dir("text-utf8");
  {
    std::ofstream hex(dir.file("raw.hex"));
    for (const auto& s : raw) {
      for (unsigned char c : s) hex << fmt::format("{:02x}", c);
      hex << "\n";
    }
  }
  sgt::testing::run_tool_or_throw("text_ref.py",
                                  {"lossy", "--input", dir.file("raw.hex"), "--out", dir.file("lossy.jsonl")});
  const auto lossy = sgt::testing::read_jsonl(dir.file("lossy.jsonl"));
  ASSERT_EQ(lossy.size(), raw.size());
  size_t bad = 0;
  for (size_t i = 0; i < raw.size(); ++i) bad += utf8_lossy(raw[i]) != lossy[i];
  EXPECT_EQ(bad, 0u);
  // Encoding the raw bytes gives the reference's ids for the repaired text.
  sgt::testing::run_tool_or_throw("text_ref.py", {"encode", "--tokenizer", sgt::testing::qwen_tokenizer_json(),
                                                  "--input", dir.file("lossy.jsonl"), "--out", dir.file("ref")});
  std::vector<std::vector<TokenId>> ours;
  for (const auto& s : raw) ours.push_back(qwen().encode(s));
  expect_same_ids(ours, sgt::testing::read_id_lists(dir.file("ref")), raw, "encode of ill-formed UTF-8");

  // NFC on dense mixtures of combining marks, jamo, two-part vowels, kana voicing marks and exclusions.
  const std::pair<char32_t, char32_t> pools[] = {
      {0x300, 0x36F},     {0x1100, 0x1175}, {0x11A8, 0x11C2}, {0xAC00, 0xAC40}, {0x0900, 0x097F}, {0x0F70, 0x0F8F},
      {0x1E00, 0x1EFF},   {0x0591, 0x05C7}, {0x064B, 0x065F}, {0x3099, 0x309A}, {0x304B, 0x3093}, {0x0BC6, 0x0BD7},
      {0x1D15E, 0x1D164}, {0xF900, 0xF910}, {0x41, 0x5A},     {0x1DC0, 0x1DFF}, {0x0C3C, 0x0C56}, {0x20, 0x20}};
  std::vector<std::string> marks;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (uint64_t n = 1 + rng.below(8); n > 0; --n) {
      const auto [lo, hi] = pools[rng.below(std::size(pools))];
      append_utf8(s, static_cast<char32_t>(lo + rng.below(hi - lo + 1)));
    }
    marks.push_back(s);
  }
  sgt::testing::write_jsonl(dir.file("marks.jsonl"), marks);
  sgt::testing::run_tool_or_throw("text_ref.py",
                                  {"nfc", "--input", dir.file("marks.jsonl"), "--out", dir.file("nfc.jsonl")});
  const auto nfc_ref = sgt::testing::read_jsonl(dir.file("nfc.jsonl"));
  ASSERT_EQ(nfc_ref.size(), marks.size());
  bad = 0;
  for (size_t i = 0; i < marks.size(); ++i)
    if (text::nfc(marks[i]) != nfc_ref[i] && ++bad <= 3) ADD_FAILURE() << "NFC differs for input " << i;
  EXPECT_EQ(bad, 0u);
}
