// sgt tokenize --tokenizer FILE [--input FILE] [--per-line] [--decode]: text -> ids, or ids -> text.
//
// Encoding prints the ids of the whole input on one line, space-separated. With --per-line every input line
// ('\n'-terminated; the '\n' is not encoded, a '\r' before it is) gives one output line. Decoding reads
// whitespace-separated ids and writes the text exactly (no newline added), or with --per-line one text line per
// input line.
#include <cctype>
#include <charconv>
#include <cstdio>
#include <string_view>

#include "cli/commands.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "text/tokenizer.h"

namespace sgt::cli {
namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string input;  // empty: stdin
  bool per_line = false;
  bool decode = false;
  bool split_special = false;
  bool skip_special = false;
  int threads = 0;
};

std::string read_input(const std::string& path) {
  if (!path.empty()) return io::read_text_file(path);
  std::string s;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) s.append(buf, n);
  SGT_CHECK(!std::ferror(stdin), "cli.tokenize", "cannot read standard input");
  return s;
}

// Lines without their '\n'; a final line without '\n' counts, an empty tail after the last '\n' does not.
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < s.size();) {
    size_t end = s.find('\n', pos);
    if (end == std::string::npos) end = s.size();
    lines.emplace_back(s, pos, end - pos);
    pos = end + 1;
  }
  return lines;
}

void append_ids(std::string& out, const std::vector<text::TokenId>& ids) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(' ');
    out += fmt::format_int(ids[i]).c_str();
  }
  out.push_back('\n');
}

std::vector<text::TokenId> parse_ids(std::string_view s, size_t line_no, const std::string& where) {
  std::vector<text::TokenId> ids;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i == s.size()) break;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    const std::string_view word = s.substr(i, j - i);
    text::TokenId id = 0;
    const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), id);
    SGT_CHECK(ec == std::errc() && end == word.data() + word.size(), "cli.tokenize",
              "{} line {}: {:?} is not a token id", where, line_no, word);
    ids.push_back(id);
    i = j;
  }
  return ids;
}

void write_all(const std::string& s) {
  SGT_CHECK(std::fwrite(s.data(), 1, s.size(), stdout) == s.size() && std::fflush(stdout) == 0, "cli.tokenize",
            "cannot write standard output");
}

void run_tokenize(const TokenizeArgs& a) {
  const auto tok = text::Tokenizer::load(a.tokenizer);
  const std::string input = read_input(a.input);
  const std::string where = a.input.empty() ? std::string("stdin") : a.input;
  text::EncodeOptions eo;
  eo.split_special_tokens = a.split_special;
  text::DecodeOptions dopt;
  dopt.skip_special_tokens = a.skip_special;
  std::string out;
  if (a.decode) {
    if (a.per_line) {
      const auto lines = split_lines(input);
      for (size_t i = 0; i < lines.size(); ++i) {
        out += tok.decode(parse_ids(lines[i], i + 1, where), dopt);
        out.push_back('\n');
      }
    } else {
      out = tok.decode(parse_ids(input, 1, where), dopt);
    }
  } else if (a.per_line) {
    for (const auto& ids : tok.encode_batch(split_lines(input), eo, a.threads)) append_ids(out, ids);
  } else {
    append_ids(out, tok.encode(input, eo));
  }
  write_all(out);
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of text (or, with --decode, the text of ids)");
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.json, vocab.json, or a folder holding one")->required();
  cmd->add_option("--input", args->input, "read this file instead of standard input");
  cmd->add_flag("--per-line", args->per_line, "one output line per input line (the newline is not encoded)");
  cmd->add_flag("--decode", args->decode, "read whitespace-separated ids and print their text");
  cmd->add_flag("--split-special-tokens", args->split_special,
                "encode the text of special tokens (e.g. <|im_start|>) as ordinary text");
  cmd->add_flag("--skip-special-tokens", args->skip_special, "with --decode: leave special tokens out");
  cmd->add_option("--threads", args->threads, "threads for --per-line encoding (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args] { run_tokenize(*args); });
}

}  // namespace sgt::cli
