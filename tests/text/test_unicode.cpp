// Unicode pieces against the Unicode standard's own examples (parity with the reference is in test_parity.cpp).
#include <gtest/gtest.h>

#include "text/byte_level.h"
#include "text/unicode.h"

using namespace sgt::text;
using namespace std::string_literals;

TEST(Unicode, LossyReplacesMaximalSubpartsAsTheStandardShows) {
  // Unicode 15, §3.9 "U+FFFD Substitution of Maximal Subparts", Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  const std::string in = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  EXPECT_EQ(utf8_lossy(in), "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
  EXPECT_FALSE(is_valid_utf8(in));
  // Surrogates, overlongs and values above U+10FFFF are ill-formed; each byte that cannot continue is one U+FFFD.
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), "\uFFFD\uFFFD");
  EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(utf8_lossy("\xE2\x82"), "\uFFFD");  // truncated at the end: one replacement
  const std::string valid = "z\u00E9\u4E2D\U0001F600\0x"s;
  EXPECT_TRUE(is_valid_utf8(valid));
  EXPECT_EQ(utf8_lossy(valid), valid);
  EXPECT_TRUE(is_valid_utf8(""));
}

TEST(Unicode, NfcComposesReordersAndHandlesHangul) {
  EXPECT_EQ(nfc("e\u0301"), "\u00E9");
  // Marks out of canonical order (ccc 230 before 202) are reordered, then the cedilla composes first.
  EXPECT_EQ(nfc("e\u0306\u0327"), "\u1E1D");        // breve then cedilla: E WITH CEDILLA AND BREVE
  EXPECT_EQ(nfc("e\u0301\u0327"), "\u0229\u0301");  // no precomposed e-cedilla-acute: the acute stays
  EXPECT_EQ(nfc("\u1100\u1161\u11A8"), "\uAC01");   // conjoining jamo L V T -> syllable
  EXPECT_EQ(nfc("\u212B"), "\u00C5");               // singleton: ANGSTROM SIGN -> A WITH RING
  EXPECT_EQ(nfc("\u0958"), "\u0915\u093C");         // composition exclusion stays decomposed
  EXPECT_EQ(nfc("\u0344"), "\u0308\u0301");         // non-starter decomposition
  std::string out;
  EXPECT_FALSE(sgt::text::nfc("plain ASCII and \u4E2D\u6587 and \u00E9", out));  // already NFC: no copy
  EXPECT_EQ(nfc(""), "");
}

TEST(Unicode, ClassesFollowTheRegexEngine) {
  EXPECT_TRUE(has_flag(U'a', kLetter));
  EXPECT_TRUE(has_flag(U'\u4E2D', kLetter));
  EXPECT_TRUE(has_flag(U'7', kNumber));
  EXPECT_TRUE(has_flag(U'\u0663', kNumber));  // ARABIC-INDIC DIGIT THREE
  EXPECT_TRUE(has_flag(U'\u00B2', kNumber));  // superscript two is \p{N} (No)
  EXPECT_TRUE(has_flag(U'\u3000', kSpace));
  EXPECT_FALSE(has_flag(U'\u200B', kSpace));  // ZERO WIDTH SPACE is not White_Space
  EXPECT_FALSE(has_flag(U'\u0301', kLetter));
  EXPECT_EQ(combining_class(U'\u0301'), 230);
  EXPECT_EQ(combining_class(U'a'), 0);
}

TEST(Unicode, ByteLevelMapIsGpt2s) {
  EXPECT_EQ(byte_level::byte_to_char(' '), U'\u0120');   // 'Ġ'
  EXPECT_EQ(byte_level::byte_to_char('\n'), U'\u010A');  // 'Ċ'
  EXPECT_EQ(byte_level::byte_to_char('a'), U'a');
  for (int b = 0; b < 256; ++b) EXPECT_EQ(byte_level::char_to_byte(byte_level::byte_to_char(b)), b);
  EXPECT_EQ(byte_level::decode("\u0120hello").value(), " hello");
  EXPECT_FALSE(byte_level::decode("\u4E2D").has_value());  // not a byte-level character
  EXPECT_EQ(byte_level::encode("\xE4\xB8\xAD"), "\u00E4\u00B8\u0143");
}
