#include "text/text_testing.h"

#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "testing/testing.h"

namespace sgt::testing {

std::string qwen_tokenizer_dir() { return std::filesystem::path(qwen_tokenizer_json()).parent_path().string(); }

std::string qwen_tokenizer_json() { return asset("qwen-tokenizer/tokenizer.json"); }

const text::Tokenizer& qwen_tokenizer() {
  static const text::Tokenizer t = text::Tokenizer::load(qwen_tokenizer_json());
  return t;
}

std::vector<std::string> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SGT_CHECK(in.good(), "test", "cannot open {}", path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line).get<std::string>());
  return out;
}

void write_jsonl(const std::string& path, const std::vector<std::string>& strings) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& s : strings)
    out << nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) << "\n";
  SGT_CHECK(out.good(), "test", "cannot write {}", path);
}

namespace {
template <class T>
std::vector<T> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SGT_CHECK(in.good(), "test", "cannot open {}", path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SGT_CHECK(bytes.size() % sizeof(T) == 0, "test", "{} is not a whole number of values", path);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}
}  // namespace

std::vector<std::vector<int32_t>> read_id_lists(const std::string& prefix) {
  const auto ids = read_all<int32_t>(prefix + ".ids");
  const auto offsets = read_all<int64_t>(prefix + ".offsets");
  SGT_CHECK(!offsets.empty() && offsets.back() == static_cast<int64_t>(ids.size()), "test", "bad offsets {}", prefix);
  std::vector<std::vector<int32_t>> out;
  for (size_t i = 0; i + 1 < offsets.size(); ++i)
    out.emplace_back(ids.begin() + offsets[i], ids.begin() + offsets[i + 1]);
  return out;
}

void write_id_lists(const std::string& prefix, const std::vector<std::vector<int32_t>>& lists) {
  std::ofstream ids(prefix + ".ids", std::ios::binary), offs(prefix + ".offsets", std::ios::binary);
  int64_t off = 0;
  offs.write(reinterpret_cast<const char*>(&off), sizeof off);
  for (const auto& l : lists) {
    ids.write(reinterpret_cast<const char*>(l.data()), static_cast<std::streamsize>(l.size() * sizeof(int32_t)));
    off += static_cast<int64_t>(l.size());
    offs.write(reinterpret_cast<const char*>(&off), sizeof off);
  }
  SGT_CHECK(ids.good() && offs.good(), "test", "cannot write {}", prefix);
}

void run_tool_or_throw(const std::string& script, const std::vector<std::string>& args) {
  const auto r = run_python_tool(script, args);
  SGT_CHECK(r.exit_code == 0, "test", "tools/{} {} failed ({}):\n{}", script, fmt::join(args, " "), r.exit_code,
            r.output);
}

std::string describe_mismatch(const std::vector<int32_t>& ours, const std::vector<int32_t>& ref) {
  size_t i = 0;
  while (i < ours.size() && i < ref.size() && ours[i] == ref[i]) ++i;
  const size_t from = i >= 3 ? i - 3 : 0;
  auto window = [&](const std::vector<int32_t>& v) {
    return std::vector<int32_t>(v.begin() + std::min(from, v.size()), v.begin() + std::min(i + 5, v.size()));
  };
  return fmt::format("first difference at id {} (lengths {} vs {}): ours [{}] reference [{}]", i, ours.size(),
                     ref.size(), fmt::join(window(ours), " "), fmt::join(window(ref), " "));
}

size_t count_id_mismatches(const std::vector<std::vector<int32_t>>& ours, const std::vector<std::vector<int32_t>>& ref,
                           const std::vector<std::string>& inputs, const std::string& what) {
  EXPECT_EQ(ours.size(), ref.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < ours.size() && i < ref.size(); ++i) {
    if (ours[i] == ref[i]) continue;
    if (++bad <= 3)
      ADD_FAILURE() << what << ": input " << i << " (" << inputs[i].size() << " bytes, starts "
                    << ::testing::PrintToString(inputs[i].substr(0, 80)) << "): " << describe_mismatch(ours[i], ref[i]);
  }
  return bad;
}

}  // namespace sgt::testing
