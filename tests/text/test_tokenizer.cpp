// Tokenizer behaviour that needs no reference run: loading, errors, bad input, threads. Id-for-id parity with HF
// tokenizers is in test_parity.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "testing/testing.h"
#include "text/byte_level.h"
#include "text/pretokenize.h"
#include "text/text_testing.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

using namespace sgt;
using namespace sgt::text;
using Json = nlohmann::json;

namespace {

const Tokenizer& qwen() { return sgt::testing::qwen_tokenizer(); }

// A toy tokenizer.json: the 256 byte tokens (id = byte value), merges building "hello" and "Ġw", and one special
// token. Merges are in the older "a b" string form.
Json tiny() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::encode(std::string(1, static_cast<char>(b)))] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab["\u0120w"] = 260;
  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = Json::array({{{"id", 261},
                                    {"content", "<s>"},
                                    {"single_word", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"normalized", false},
                                    {"special", true}}});
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", std::string(kQwen2SplitPattern)}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", {"h e", "l l", "he ll", "hell o", "\u0120 w"}}};
  return j;
}

Tokenizer load_json(const sgt::testing::TempDir& dir, const Json& j, const std::string& name = "tokenizer.json") {
  io::atomic_write_text(dir.file(name), j.dump());
  return Tokenizer::load(dir.file(name));
}

void expect_error(const sgt::testing::TempDir& dir, const Json& j, const std::string& fragment) {
  try {
    load_json(dir, j);
    ADD_FAILURE() << "no error; expected one mentioning " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir.file("tokenizer.json")), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Tokenizer, ToyTokenizerMergesByRankAndMatchesAddedTokens) {
  sgt::testing::TempDir dir("tok-tiny");
  const Tokenizer t = load_json(dir, tiny());
  // "hello" merges fully; " world" is "Ġw" then single bytes; "<s>" is the added token.
  EXPECT_EQ(t.encode("hello world<s>"), (std::vector<TokenId>{259, 260, 'o', 'r', 'l', 'd', 261}));
  EXPECT_EQ(t.decode(t.encode("hello world<s>")), "hello world<s>");
  EXPECT_EQ(t.decode(std::vector<TokenId>{259, 261}, {.skip_special_tokens = true}), "hello");
  EXPECT_EQ(t.encode("<s>", {.split_special_tokens = true}), (std::vector<TokenId>{'<', 's', '>'}));
  EXPECT_EQ(t.vocab_size(), 262u);
  EXPECT_EQ(t.token_to_id("hell"), 258);
  EXPECT_EQ(t.token_to_id("<s>"), 261);
  EXPECT_EQ(t.id_to_token(260), "\u0120w");
  EXPECT_FALSE(t.token_to_id("absent").has_value());
  EXPECT_THROW(t.require_id("absent"), Error);
  EXPECT_THROW(t.eos_id(), Error);  // no tokenizer_config.json beside it
}

TEST(Tokenizer, VocabMergesFilesLoadLikeTokenizerJson) {
  sgt::testing::TempDir dir("tok-slow");
  const Json j = tiny();
  const Tokenizer a = load_json(dir, j);
  io::atomic_write_text(dir.file("vocab.json"), j["model"]["vocab"].dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& m : j["model"]["merges"]) merges += m.get<std::string>() + "\n";
  io::atomic_write_text(dir.file("merges.txt"), merges);
  Json config = {{"eos_token", "<s>"},
                 {"pad_token", {{"content", "<s>"}}},
                 {"bos_token", nullptr},
                 {"added_tokens_decoder", {{"261", j["added_tokens"][0]}}}};
  io::atomic_write_text(dir.file("tokenizer_config.json"), config.dump());
  std::filesystem::remove(dir.file("tokenizer.json"));
  const Tokenizer b = Tokenizer::load(dir.path());  // a folder with vocab.json
  for (const char* s : {"hello world<s>", "hell\u00F6 <s><s> w", "", "\xF0\x9F\x98\x80 hello"})
    EXPECT_EQ(a.encode(s), b.encode(s)) << s;
  EXPECT_EQ(b.eos_id(), 261);
  EXPECT_EQ(b.pad_id(), 261);
  io::atomic_write_text(dir.file("merges.txt"), "h e\nl l l\n");
  EXPECT_THROW(Tokenizer::load(dir.path()), Error);
}

TEST(Tokenizer, RefusesWhatItDoesNotImplementNamingTheFile) {
  sgt::testing::TempDir dir("tok-bad");
  Json j = tiny();
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(dir, j, "normalizer");
  j = tiny();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
  expect_error(dir, j, "pre_tokenizer");
  j = tiny();
  j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  expect_error(dir, j, "pre_tokenizer");
  j = tiny();
  j["model"]["type"] = "WordPiece";
  expect_error(dir, j, "BPE only");
  j = tiny();
  j["model"]["dropout"] = 0.1;
  expect_error(dir, j, "dropout");
  j = tiny();
  j["model"]["merges"].push_back("x yz");
  expect_error(dir, j, "merge 5");
  j = tiny();
  j["model"]["vocab"]["dup"] = 7;
  expect_error(dir, j, "id 7 appears twice");
  j = tiny();
  j["decoder"] = nullptr;
  expect_error(dir, j, "decoder");
  j = tiny();
  j["truncation"] = {{"max_length", 8}};
  expect_error(dir, j, "truncation");
  j = tiny();
  j["added_tokens"][0]["lstrip"] = "yes";
  expect_error(dir, j, "lstrip");
  io::atomic_write_text(dir.file("tokenizer.json"), tiny().dump().substr(0, 500));
  EXPECT_THROW(Tokenizer::load(dir.file("tokenizer.json")), Error);
  EXPECT_THROW(Tokenizer::load(dir.file("missing.json")), Error);
}

TEST(Tokenizer, QwenSpecialIdsComeFromTheFiles) {
  const Json file = Json::parse(io::read_text_file(sgt::testing::qwen_tokenizer_json()));
  const Json config = Json::parse(io::read_text_file(sgt::testing::qwen_tokenizer_dir() + "/tokenizer_config.json"));
  const Tokenizer& t = qwen();
  ASSERT_EQ(t.added_tokens().size(), file["added_tokens"].size());
  for (const auto& a : file["added_tokens"]) {
    EXPECT_EQ(t.require_id(a["content"].get<std::string>()), a["id"].get<int>());
    EXPECT_EQ(t.is_special(a["id"].get<int>()), a["special"].get<bool>());
  }
  EXPECT_EQ(t.vocab_size(), file["model"]["vocab"].size() + file["added_tokens"].size());
  EXPECT_EQ(t.eos_id(), t.require_id(config["eos_token"].get<std::string>()));
  EXPECT_EQ(t.pad_id(), t.require_id(config["pad_token"].get<std::string>()));
  EXPECT_EQ(t.token_to_id("\u0120the"), file["model"]["vocab"]["\u0120the"].get<int>());
}

TEST(Tokenizer, SpecialTokenMatchingCanBeSwitchedOff) {
  const Tokenizer& t = qwen();
  const TokenId start = t.require_id("<|im_start|>"), think = t.require_id("<think>");
  const std::string s = "<|im_start|>user\n<think>hi</think><|im_end|>";
  const auto on = t.encode(s);
  const auto off = t.encode(s, {.split_special_tokens = true});
  EXPECT_EQ(on.front(), start);
  EXPECT_EQ(std::count(off.begin(), off.end(), start), 0);
  // <think> is an added token but not a special one: it is matched either way, as in HF.
  EXPECT_EQ(std::count(on.begin(), on.end(), think), 1);
  EXPECT_EQ(std::count(off.begin(), off.end(), think), 1);
  EXPECT_EQ(t.decode(on), s);
  EXPECT_EQ(t.decode(off), s);
  EXPECT_EQ(t.decode(on, {.skip_special_tokens = true}), "user\n<think>hi</think>");
}

TEST(Tokenizer, BadInputHasDefinedBehaviour) {
  const Tokenizer& t = qwen();
  EXPECT_TRUE(t.encode("").empty());
  const std::string nul("a\0b\0\0c", 6);
  EXPECT_EQ(t.decode(t.encode(nul)), nul);
  // Ill-formed UTF-8 is encoded as its U+FFFD-repaired text.
  const std::string bad = "ok \xFF\xC3 \xE2\x82 \xED\xA0\x80 end\x80";
  EXPECT_EQ(t.encode(bad), t.encode(utf8_lossy(bad)));
  // Byte tokens that do not form UTF-8 decode to U+FFFD; decode_bytes keeps the raw bytes.
  const TokenId e4 = t.require_id(byte_level::encode("\xE4")), b8 = t.require_id(byte_level::encode("\xB8")),
                ad = t.require_id(byte_level::encode("\xAD"));
  EXPECT_EQ(t.decode(std::vector<TokenId>{e4, b8, ad}), "\u4E2D");
  EXPECT_EQ(t.decode(std::vector<TokenId>{e4, b8}), "\uFFFD");
  EXPECT_EQ(t.decode(std::vector<TokenId>{e4, e4, ad}), "\uFFFD\uFFFD");  // E4 alone, then E4 AD truncated
  EXPECT_EQ(t.decode_bytes(std::vector<TokenId>{e4, b8}), "\xE4\xB8");
  EXPECT_THROW(t.decode(std::vector<TokenId>{-1}), Error);
  EXPECT_THROW(t.decode(std::vector<TokenId>{static_cast<TokenId>(t.vocab_size())}), Error);
  EXPECT_THROW(t.decode(std::vector<TokenId>{152000}), Error);  // an embedding padding row, not a token
}

TEST(Tokenizer, HundredMegabytesEncodeAsTheRepeatedParagraph) {
  const Tokenizer& t = qwen();
  // The paragraph ends in a newline and starts with a letter, so every copy starts a new pre-token.
  const std::string para =
      "Tokenizers split text: 12,345 words, caf\u00E9s, \u4E2D\u6587\u6587\u672C, \u0645\u0631\u062D\u0628\u0627,"
      " \u0928\u092E\u0938\u094D\u0924\u0947 \U0001F468\u200D\U0001F469 <|im_end|>   \t\r\n";
  const auto one = t.encode(para);
  const size_t copies = 100'000'000 / para.size() + 1;
  std::string big;
  big.reserve(copies * para.size());
  for (size_t i = 0; i < copies; ++i) big += para;
  const auto ids = t.encode(big);
  ASSERT_EQ(ids.size(), one.size() * copies);
  for (size_t i = 0; i < copies; i += 997)
    ASSERT_TRUE(std::equal(one.begin(), one.end(), ids.begin() + i * one.size())) << "copy " << i;
  EXPECT_EQ(t.decode(ids).size(), big.size());
}

TEST(Tokenizer, LongSinglePreTokensStayFast) {
  const Tokenizer& t = qwen();
  for (const std::string& s :
       {std::string(2'000'000, 'a'), std::string(1'000'000, ' ') + "x", std::string(500'000, '!'), [] {
          std::string z;
          for (int i = 0; i < 200'000; ++i) z += "\u4E2D";
          return z;
        }()}) {
    const auto ids = t.encode(s);
    EXPECT_LT(ids.size(), s.size());
    EXPECT_EQ(t.decode(ids), s);
  }
}

TEST(Tokenizer, BatchOnThreadsEqualsOneByOne) {
  const Tokenizer& t = qwen();
  Rng rng(5);
  std::vector<std::string> texts;
  const char* pieces[] = {"Hello",  " world", "\n\n", "<|im_start|>",     "\u00E9t\u00E9", "e\u0301", "42",
                          "\u4E2D", "   ",    "'s",   "\xF0\x9F\x98\x80", "\xFF",          "\t",      "don't"};
  for (int i = 0; i < 400; ++i) {
    std::string s;
    for (uint64_t k = rng.below(60); k > 0; --k) s += pieces[rng.below(std::size(pieces))];
    texts.push_back(s);
  }
  const auto batch = t.encode_batch(texts, {}, 2);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], t.encode(texts[i])) << i;
  EXPECT_TRUE(t.encode_batch(std::vector<std::string>{}, {}, 2).empty());
}
