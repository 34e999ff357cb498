#include "core/config.h"

#include "core/file.h"
#include "core/json_limited.h"

namespace sgt::config {

Json parse(const std::string& text, const std::string& where) {
  try {
    return parse_json_limited<Json>(text, where);
  } catch (const nlohmann::json::parse_error& e) {
    SGT_FAIL("config", "{}: malformed JSON at byte {}: {}", where, e.byte, e.what());
  } catch (const nlohmann::json::out_of_range& e) {
    // A number beyond double's range ("1E400") is out_of_range (406), not a parse_error: it escaped as a
    // non-sgt::Error (found by fuzz/fuzz_config.cpp).
    SGT_FAIL("config", "{}: malformed JSON: {}", where, e.what());
  }
}

Json load_json_file(const std::string& path) { return parse(read_text_file(path), path); }

void for_each_jsonl(const std::string& path, const std::function<void(const Json&, const std::string&)>& fn,
                    bool skip_malformed) {
  const std::string text = read_text_file(path);
  size_t begin = 0;
  for (int64_t no = 1; begin < text.size(); ++no) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = fmt::format("{}:{}", path, no);
    Json j;
    try {
      j = parse_json_limited<Json>(line, where);
    } catch (const nlohmann::json::parse_error& e) {
      if (skip_malformed) continue;
      SGT_FAIL("config", "{}: malformed JSON at byte {}: {}", where, e.byte, e.what());
    } catch (const nlohmann::json::out_of_range& e) {  // number overflow, as in parse()
      if (skip_malformed) continue;
      SGT_FAIL("config", "{}: malformed JSON: {}", where, e.what());
    }
    fn(j, where);
  }
}

}  // namespace sgt::config
