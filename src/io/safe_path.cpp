#include "io/safe_path.h"

#include <filesystem>
#include <string_view>

#include "core/error.h"

namespace sgt::io {
namespace {
constexpr const char* kC = "safe-path";

// Printable form of a name for the error message: a NUL would cut the message short in a terminal.
std::string printable(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\0') out += "\\0";
    else out += c;
  }
  return out;
}
}  // namespace

std::string path_inside(const std::string& dir, const std::string& relative, const std::string& what) {
  SGT_CHECK(!relative.empty(), kC, "{}: empty name for a file inside {}", what, dir);
  SGT_CHECK(relative.find('\0') == std::string::npos, kC, "{}: name '{}' holds a NUL byte (output folder {})", what,
            printable(relative), dir);
  SGT_CHECK(relative.front() != '/', kC, "{}: name '{}' is an absolute path; it must stay inside {}", what, relative,
            dir);
  std::string_view rest(relative);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    SGT_CHECK(part != "..", kC, "{}: name '{}' has a '..' component; it must stay inside {}", what, relative, dir);
    SGT_CHECK(!part.empty() && part != ".", kC, "{}: name '{}' has an empty or '.' component (output folder {})", what,
              relative, dir);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return dir.empty() || dir.back() == '/' ? dir + relative : dir + "/" + relative;
}

std::string prepare_path_inside(const std::string& dir, const std::string& relative, const std::string& what) {
  std::string path = path_inside(dir, relative, what);
  if (relative.find('/') != std::string::npos) {
    std::error_code ec;
    const auto parent = std::filesystem::path(path).parent_path();
    std::filesystem::create_directories(parent, ec);
    SGT_CHECK(!ec, kC, "{}: cannot create folder {}: {}", what, parent.string(), ec.message());
  }
  return path;
}

}  // namespace sgt::io
