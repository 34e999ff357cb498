#pragma once
// Helpers of the text-layer tests: the Qwen tokenizer fixture, the reference script tools/text_ref.py and the
// files it exchanges with the tests (JSONL strings; id lists as PREFIX.ids int32 + PREFIX.offsets int64).
#include <cstdint>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace sgt::testing {

// The Qwen tokenizer the repository ships (assets/qwen-tokenizer).
std::string qwen_tokenizer_dir();
std::string qwen_tokenizer_json();
// The Qwen tokenizer, loaded once per test process.
const text::Tokenizer& qwen_tokenizer();

std::vector<std::string> read_jsonl(const std::string& path);
void write_jsonl(const std::string& path, const std::vector<std::string>& strings);
std::vector<std::vector<int32_t>> read_id_lists(const std::string& prefix);
void write_id_lists(const std::string& prefix, const std::vector<std::vector<int32_t>>& lists);

// Runs tools/<script> with args; throws sgt::Error with its output when it fails.
void run_tool_or_throw(const std::string& script, const std::vector<std::string>& args);

// Where two id lists first differ (or the shorter length), for failure messages.
std::string describe_mismatch(const std::vector<int32_t>& ours, const std::vector<int32_t>& ref);
// Compares ours[i] with ref[i] for every input; reports the first three differences as test failures (naming `what`
// and the input) and returns how many inputs differ.
size_t count_id_mismatches(const std::vector<std::vector<int32_t>>& ours, const std::vector<std::vector<int32_t>>& ref,
                           const std::vector<std::string>& inputs, const std::string& what);

}  // namespace sgt::testing
