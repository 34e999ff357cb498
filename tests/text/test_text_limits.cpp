// Hostile-input regressions of the text layer (issue 26): a tokenizer.json with tens of thousands of added tokens
// loads in about linear time (marking the special ones was quadratic: 30k took half a minute) and encodes them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "testing/testing.h"
#include "text/byte_level.h"
#include "text/pretokenize.h"
#include "text/tokenizer.h"

using namespace sgt;
using namespace sgt::text;
using Json = nlohmann::json;

namespace {

// Byte-level tokenizer.json: the 256 byte tokens (id = byte value), `non_byte` vocabulary strings outside the byte
// map (ids 256..), no merges, and the given added tokens.
Json byte_tokenizer(const Json& added, int non_byte) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::encode(std::string(1, static_cast<char>(b)))] = b;
  for (int i = 0; i < non_byte; ++i) vocab["\u8bcd" + std::to_string(i)] = 256 + i;  // U+8BCD is no byte character
  Json j;
  j["version"] = "1.0";
  j["added_tokens"] = added;
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", std::string(kQwen2SplitPattern)}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array()}};
  return j;
}

Json added_token(int64_t id, const std::string& content, bool special, bool normalized) {
  return {{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},   {"normalized", normalized}, {"special", special}};
}

}  // namespace

TEST(TextLimits, ThirtyThousandAddedTokensLoadAndEncode) {
  // 30k added tokens after a vocabulary with 30k strings outside the byte map. Four in five are special (marking
  // them compared every special content with every added token), every fourth one is itself outside the byte map
  // (its vocabulary lookup scanned the non-byte strings) and every third one is normalized.
  const int n = 30000, non_byte = 30000;
  const int64_t first = 256 + non_byte;
  auto content = [](int i) {
    return i % 4 == 3 ? "<\u8bcd" + std::to_string(i) + ">" : "<|t" + std::to_string(i) + "|>";
  };
  Json added = Json::array();
  for (int i = 0; i < n; ++i) added.push_back(added_token(first + i, content(i), i % 5 != 0, i % 3 == 0));
  sgt::testing::TempDir dir("tok-many-added");
  io::atomic_write_text(dir.file("tokenizer.json"), byte_tokenizer(added, non_byte).dump());
  const Tokenizer t = Tokenizer::load(dir.file("tokenizer.json"));
  EXPECT_EQ(t.vocab_size(), static_cast<size_t>(first + n));
  EXPECT_EQ(t.encode("a<|t17|>b<\u8bcd29999><|t0|>"),
            (std::vector<TokenId>{'a', static_cast<TokenId>(first + 17), 'b', static_cast<TokenId>(first + 29999),
                                  static_cast<TokenId>(first)}));
  // longest match: "<|t12|>" is a token, and so is "<|t1|>", but not "<|t1"
  EXPECT_EQ(t.encode("<|t12|><|t1"), (std::vector<TokenId>{static_cast<TokenId>(first + 12), '<', '|', 't', '1'}));
  EXPECT_EQ(t.token_to_id("<|t29998|>"), first + 29998);
  EXPECT_EQ(t.token_to_id("\u8bcd123"), 256 + 123);
  EXPECT_EQ(t.encode("x<\u8bcd7>"), (std::vector<TokenId>{'x', static_cast<TokenId>(first + 7)}));
  EXPECT_EQ(t.token_to_id("<\u8bcd29999>"), first + 29999);
  // special ones (i % 5 != 0) are dropped by skip_special_tokens, the others kept
  const std::vector<TokenId> ids = {static_cast<TokenId>(first + 4), static_cast<TokenId>(first + 5), 'x'};
  EXPECT_EQ(t.decode(ids), "<|t4|><|t5|>x");
  EXPECT_EQ(t.decode(ids, {.skip_special_tokens = true}), "<|t5|>x");
}
