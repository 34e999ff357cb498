#include "core/config.h"

#include <fstream>
#include <sstream>

namespace sgt::config {

Json parse(const std::string& text, const std::string& where) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    SGT_FAIL("config", "{}: malformed JSON at byte {}: {}", where, e.byte, e.what());
  }
}

Json load_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SGT_CHECK(in.good(), "config", "cannot open {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

}  // namespace sgt::config
