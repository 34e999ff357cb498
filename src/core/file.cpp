#include "core/file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sgt {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SGT_CHECK(in.good(), "file", "cannot open {}: {}", path, std::strerror(errno));
  std::error_code ec;
  SGT_CHECK(!std::filesystem::is_directory(path, ec), "file", "cannot read {}: it is a folder", path);
  std::stringstream ss;
  ss << in.rdbuf();
  SGT_CHECK(!in.bad(), "file", "error reading {}", path);
  return ss.str();
}

}  // namespace sgt
