// Parity of the other inputs: vocab.json + merges.txt (against transformers' Qwen2Tokenizer), added tokens with
// every flag (against HF tokenizers), and the Qwen2-VL chat template (against transformers' jinja rendering).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "testing/testing.h"
#include "text/prompt.h"
#include "text/text_testing.h"
#include "text/tokenizer.h"

using namespace sgt;
using namespace sgt::text;

namespace {

size_t count_mismatches(const Tokenizer& t, const std::vector<std::string>& docs,
                        const std::vector<std::vector<int32_t>>& ref, const EncodeOptions& opt, const char* what) {
  std::vector<std::vector<TokenId>> ours;
  for (const auto& d : docs) ours.push_back(t.encode(d, opt));
  return sgt::testing::count_id_mismatches(ours, ref, docs, what);
}

// The first documents of the parity corpus, up to about `bytes`.
std::vector<std::string> corpus_prefix(const sgt::testing::TempDir& dir, size_t bytes) {
  sgt::testing::run_tool_or_throw("text_corpus.py", {"--out", dir.file("corpus.jsonl"), "--mb", "0", "--tokenizer",
                                                     sgt::testing::qwen_tokenizer_json()});
  auto docs = sgt::testing::read_jsonl(dir.file("corpus.jsonl"));
  size_t n = 0, total = 0;
  while (n < docs.size() && total < bytes) total += docs[n++].size();
  docs.resize(n);
  return docs;
}

}  // namespace

TEST(TokenizerFormatParity, VocabMergesFilesMatchTransformersQwen2Tokenizer) {
  sgt::testing::TempDir dir("text-slow");
  const std::string slow = dir.file("slow");
  sgt::testing::run_tool_or_throw("text_ref.py",
                                  {"export-slow", "--tokenizer", sgt::testing::qwen_tokenizer_json(), "--config",
                                   sgt::testing::qwen_tokenizer_dir() + "/tokenizer_config.json", "--out", slow});
  auto docs = corpus_prefix(dir, 1'500'000);
  docs.insert(docs.end(), {"<|im_start|>user\nhi<|im_end|>", "<think>x</think> <tool_call>", "e\u0301t\u00E9 42"});
  sgt::testing::write_jsonl(dir.file("docs.jsonl"), docs);
  sgt::testing::run_tool_or_throw(
      "text_ref.py", {"encode", "--transformers", slow, "--input", dir.file("docs.jsonl"), "--out", dir.file("ref")});
  const Tokenizer from_files = Tokenizer::load(slow + "/vocab.json");
  const Tokenizer& from_json = sgt::testing::qwen_tokenizer();
  const auto ref = sgt::testing::read_id_lists(dir.file("ref"));
  EXPECT_EQ(count_mismatches(from_files, docs, ref, {}, "vocab.json + merges.txt"), 0u);
  EXPECT_EQ(count_mismatches(from_json, docs, ref, {}, "tokenizer.json vs transformers"), 0u);
  EXPECT_EQ(from_files.vocab_size(), from_json.vocab_size());
  EXPECT_EQ(from_files.eos_id(), from_json.eos_id());
}

// BAGEL's view of the shipped Qwen3 files (model::release_tokenizer_view): without the added tokens from 151665 on,
// the ids equal those of the same tokenizer.json with only Qwen2.5's added tokens (what BAGEL-7B-MoT ships), under
// HF tokenizers; "<think>" becomes BPE pieces there.
TEST(TokenizerFormatParity, OlderAddedTokenViewMatchesTheOlderFiles) {
  sgt::testing::TempDir dir("text-older");
  sgt::testing::run_tool_or_throw("text_ref.py", {"older-added", "--tokenizer", sgt::testing::qwen_tokenizer_json(),
                                                  "--below", "151665", "--out", dir.file("q25")});
  auto docs = corpus_prefix(dir, 300'000);
  docs.insert(docs.end(), {"<think>\nplan</think>answer", "<|im_start|>assistant\n<think>x</think><|im_end|>",
                           "<tool_response> </tool_response><|file_sep|><|fim_pad|>", "</think><think>"});
  sgt::testing::write_jsonl(dir.file("docs.jsonl"), docs);
  sgt::testing::run_tool_or_throw("text_ref.py", {"encode", "--tokenizer", dir.file("q25") + "/tokenizer.json",
                                                  "--input", dir.file("docs.jsonl"), "--out", dir.file("ref")});
  const Tokenizer& full = sgt::testing::qwen_tokenizer();
  const Tokenizer older = full.with_added_tokens_below(151665);
  EXPECT_EQ(count_mismatches(older, docs, sgt::testing::read_id_lists(dir.file("ref")), {}, "older view"), 0u);
  EXPECT_EQ(full.encode("<think>"), std::vector<TokenId>{151667});
  EXPECT_GT(older.encode("<think>").size(), 1u);
  EXPECT_EQ(older.decode(older.encode("<think>a</think>")), "<think>a</think>");
  EXPECT_EQ(older.encode("<|file_sep|>"), std::vector<TokenId>{151664});
  EXPECT_EQ(older.eos_id(), full.eos_id());
  // An id the view no longer knows is an error naming it, like any unknown id.
  EXPECT_THROW(older.decode(std::vector<TokenId>{151667}), sgt::Error);
  EXPECT_THROW(full.with_added_tokens_below(151643), sgt::Error);  // would drop <|endoftext|>, a named special token
}

TEST(TokenizerFormatParity, AddedTokenFlagsMatchTheReference) {
  sgt::testing::TempDir dir("text-flags");
  const std::string flags = dir.file("flags");
  sgt::testing::run_tool_or_throw("text_ref.py",
                                  {"flags", "--tokenizer", sgt::testing::qwen_tokenizer_json(), "--out", flags});
  auto docs = sgt::testing::read_jsonl(flags + "/docs.jsonl");
  const auto handmade = docs.size();
  // Random mixtures of the flagged tokens with whitespace, words, marks and the original special tokens.
  const char* pieces[] = {"<lstrip>",    "<rstrip>",
                          "<both>",      "word",
                          "Ångström",    "A\u030Angstro\u0308m",
                          "été",         "e\u0301te\u0301",
                          "<n|special>", "<|im_start|>",
                          "<|im_end|>",  "<think>",
                          " ",           "  ",
                          "\t",          "\n",
                          "\u3000",      "x",
                          "words",       "_",
                          "\u0301",      "1",
                          ".",           "\u00E9"};
  Rng rng(2);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    for (uint64_t n = rng.below(12); n > 0; --n) s += pieces[rng.below(std::size(pieces))];
    docs.push_back(s);
  }
  const auto sample = corpus_prefix(dir, 400'000);
  docs.insert(docs.end(), sample.begin(), sample.end());
  sgt::testing::write_jsonl(dir.file("docs.jsonl"), docs);
  const std::string tj = flags + "/tokenizer.json";
  sgt::testing::run_tool_or_throw(
      "text_ref.py", {"encode", "--tokenizer", tj, "--input", dir.file("docs.jsonl"), "--out", dir.file("ref")});
  sgt::testing::run_tool_or_throw("text_ref.py", {"encode", "--tokenizer", tj, "--input", dir.file("docs.jsonl"),
                                                  "--out", dir.file("ref_split"), "--split-special"});
  const Tokenizer t = Tokenizer::load(tj);
  EXPECT_EQ(count_mismatches(t, docs, sgt::testing::read_id_lists(dir.file("ref")), {}, "flags"), 0u);
  EXPECT_EQ(count_mismatches(t, docs, sgt::testing::read_id_lists(dir.file("ref_split")),
                             {.split_special_tokens = true}, "flags with split_special_tokens"),
            0u);
  EXPECT_GT(handmade, 20u);
  // Decoding: normalised added tokens decode to their normalised form, and count as special only if that form is
  // the content of a special token (the reference's quirk).
  std::vector<std::vector<TokenId>> ids;
  for (const auto& d : docs) ids.push_back(t.encode(d));
  sgt::testing::write_id_lists(dir.file("ours"), ids);
  for (const bool skip : {false, true}) {
    std::vector<std::string> args = {"decode", "--tokenizer",        tj, "--ids", dir.file("ours"),
                                     "--out",  dir.file("dec.jsonl")};
    if (skip) args.push_back("--skip-special");
    sgt::testing::run_tool_or_throw("text_ref.py", args);
    const auto dec = sgt::testing::read_jsonl(dir.file("dec.jsonl"));
    ASSERT_EQ(dec.size(), ids.size());
    size_t bad = 0;
    for (size_t i = 0; i < ids.size(); ++i)
      if (t.decode(ids[i], {.skip_special_tokens = skip}) != dec[i] && ++bad <= 3)
        ADD_FAILURE() << "decode (skip_special_tokens " << skip << ") differs for input " << i;
    EXPECT_EQ(bad, 0u);
  }
}

TEST(PromptParity, Qwen2VlChatTemplateMatchesTransformers) {
  using Kind = ChatPart::Kind;
  const std::vector<std::pair<std::vector<ChatMessage>, ChatTemplateOptions>> cases = {
      {{{"system", std::string(kOmniGen2SystemPrompt), {}}, {"user", "A photo of a red cube", {}}}, {}},
      {{{"system", std::string(kOmniGen2DroppedSystemPrompt), {}}, {"user", "", {}}}, {}},
      {{{"user", "hi", {}}}, {.add_generation_prompt = true}},
      {{{"user", "", {{Kind::kImage, ""}, {Kind::kText, "Describe <img1> and"}, {Kind::kImage, ""}}},
        {"assistant", "Two cats.", {}},
        {"user", "", {{Kind::kVideo, ""}, {Kind::kText, "and this?"}, {Kind::kImage, ""}}}},
       {.add_generation_prompt = true, .add_vision_id = true}},
      {{{"system", "S", {}}, {"user", "u1", {}}, {"assistant", "a1", {}}, {"system", "late system", {}}}, {}},
      {{{"assistant", "first is assistant\n\n", {}}}, {.add_vision_id = true}},
  };
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [messages, opt] : cases) {
    nlohmann::json ms = nlohmann::json::array();
    for (const auto& m : messages) {
      nlohmann::json content;
      if (m.parts.empty()) {
        content = m.content;
      } else {
        content = nlohmann::json::array();
        for (const auto& p : m.parts) {
          if (p.kind == Kind::kText) content.push_back({{"type", "text"}, {"text", p.text}});
          if (p.kind == Kind::kImage) content.push_back({{"type", "image"}});
          if (p.kind == Kind::kVideo) content.push_back({{"type", "video"}});
        }
      }
      ms.push_back({{"role", m.role}, {"content", content}});
    }
    j.push_back(
        {{"messages", ms}, {"add_generation_prompt", opt.add_generation_prompt}, {"add_vision_id", opt.add_vision_id}});
  }
  sgt::testing::TempDir dir("text-chat");
  io::atomic_write_text(dir.file("cases.json"), j.dump());
  sgt::testing::run_tool_or_throw(
      "text_ref.py", {"chat", "--tokenizer-dir", sgt::testing::qwen_tokenizer_dir(), "--template",
                      sgt::testing::source_dir() + "/tests/text/fixtures/qwen2_vl_chat_template.jinja", "--cases",
                      dir.file("cases.json"), "--out", dir.file("out.jsonl")});
  const auto ref = sgt::testing::read_jsonl(dir.file("out.jsonl"));
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(qwen2vl_chat_prompt(cases[i].first, cases[i].second), ref[i]) << "case " << i;
}
