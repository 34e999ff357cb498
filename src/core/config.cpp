#include "core/config.h"

#include "core/file.h"

namespace sgt::config {

Json parse(const std::string& text, const std::string& where) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    SGT_FAIL("config", "{}: malformed JSON at byte {}: {}", where, e.byte, e.what());
  }
}

Json load_json_file(const std::string& path) { return parse(read_text_file(path), path); }

}  // namespace sgt::config
