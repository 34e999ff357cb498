// `sgt tokenize` end to end: the binary's output against the library on the same inputs.
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "io/atomic_file.h"
#include "testing/testing.h"
#include "text/text_testing.h"
#include "text/tokenizer.h"

using namespace sgt;

namespace {

const text::Tokenizer& qwen() { return sgt::testing::qwen_tokenizer(); }

std::string sgt_tokenize(const std::string& args) {
  return sgt::testing::shell_quote(sgt::testing::binary_dir() + "/bin/sgt") + " tokenize --tokenizer " +
         sgt::testing::shell_quote(sgt::testing::qwen_tokenizer_json()) + " " + args;
}

std::string ids_line(const std::vector<text::TokenId>& ids) { return fmt::format("{}\n", fmt::join(ids, " ")); }

}  // namespace

TEST(CliTokenize, EncodesFilesAndStdinLikeTheLibrary) {
  sgt::testing::TempDir dir("cli-tok");
  const std::string text = "Hello, <|im_start|>user\n\u4E2D\u6587 e\u0301 12345\r\n  \tend \xFF";
  io::atomic_write_text(dir.file("in.txt"), text);
  auto r = sgt::testing::run_command(sgt_tokenize("--input " + dir.file("in.txt") + " > " + dir.file("out.txt")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_text_file(dir.file("out.txt")), ids_line(qwen().encode(text)));
  r = sgt::testing::run_command(
      sgt_tokenize("--split-special-tokens < " + dir.file("in.txt") + " > " + dir.file("out2.txt")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_text_file(dir.file("out2.txt")), ids_line(qwen().encode(text, {.split_special_tokens = true})));
  io::atomic_write_text(dir.file("empty.txt"), "");
  r = sgt::testing::run_command(sgt_tokenize("--input " + dir.file("empty.txt") + " > " + dir.file("out3.txt")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_text_file(dir.file("out3.txt")), "\n");
}

TEST(CliTokenize, PerLineEncodesEachLineWithoutItsNewline) {
  sgt::testing::TempDir dir("cli-tok-lines");
  const std::vector<std::string> lines = {"first line", "second\r", "", "<|im_end|>x  ",
                                          "\u0645\u0631\u062D\u0628\u0627"};
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  io::atomic_write_text(dir.file("in.txt"), text);
  auto r = sgt::testing::run_command(
      sgt_tokenize("--per-line --threads 2 --input " + dir.file("in.txt") + " > " + dir.file("ids.txt")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expect;
  for (const auto& l : lines) expect += ids_line(qwen().encode(l));
  EXPECT_EQ(io::read_text_file(dir.file("ids.txt")), expect);
  // And back: one text line per id line.
  r = sgt::testing::run_command(
      sgt_tokenize("--decode --per-line --input " + dir.file("ids.txt") + " > " + dir.file("back.txt")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_text_file(dir.file("back.txt")), text);
}

TEST(CliTokenize, DecodeRoundTripsAndRejectsBadIds) {
  sgt::testing::TempDir dir("cli-tok-dec");
  const std::string text = "round trip: \u00E9t\u00E9, \U0001F600, <think>x</think>\n\n";
  io::atomic_write_text(dir.file("in.txt"), text);
  auto r = sgt::testing::run_command(
      sgt_tokenize("--input " + dir.file("in.txt") + " | " + sgt_tokenize("--decode") + " > " + dir.file("back.txt")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_text_file(dir.file("back.txt")), text);
  io::atomic_write_text(dir.file("bad.txt"), "1 2\n3 x4\n");
  r = sgt::testing::run_command(sgt_tokenize("--decode --per-line --input " + dir.file("bad.txt")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("line 2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("x4"), std::string::npos) << r.output;
  io::atomic_write_text(dir.file("range.txt"), "1 999999");
  r = sgt::testing::run_command(sgt_tokenize("--decode --input " + dir.file("range.txt")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("999999"), std::string::npos) << r.output;
  r = sgt::testing::run_command(sgt::testing::shell_quote(sgt::testing::binary_dir() + "/bin/sgt") +
                                " tokenize --tokenizer " + dir.file("nope.json"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("nope.json"), std::string::npos) << r.output;
}
