#include "core/assets.h"

#include <filesystem>
#include <system_error>

#include "core/env.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace sgt {
namespace {

// The running executable's folder (Linux: /proc/self/exe), or empty when it cannot be read.
fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

void add_if_dir(std::vector<AssetRoot>& out, const fs::path& dir, const char* origin) {
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return;
  const std::string norm = fs::weakly_canonical(dir, ec).string();
  const std::string path = ec ? dir.lexically_normal().string() : norm;
  for (const auto& r : out)
    if (r.dir == path) return;  // build/bin/../../assets is often the source tree's too
  out.push_back({path, origin});
}

}  // namespace

std::vector<AssetRoot> asset_roots() {
  std::vector<AssetRoot> out;
  if (auto d = env::get("SGT_ASSETS_DIR")) add_if_dir(out, *d, "SGT_ASSETS_DIR");
  if (const fs::path bin = executable_dir(); !bin.empty()) {
    add_if_dir(out, bin / ".." / "share" / "sgt" / "assets", "executable");
    add_if_dir(out, bin / ".." / "assets", "executable");
    add_if_dir(out, bin / ".." / ".." / "assets", "executable");
  }
#ifdef SGT_SOURCE_DIR
  add_if_dir(out, fs::path(SGT_SOURCE_DIR) / "assets", "source tree");
#endif
  return out;
}

std::optional<FoundAsset> find_asset(const std::string& relative) {
  SGT_CHECK(!relative.empty() && fs::path(relative).is_relative(), "assets", "asset name '{}' must be a relative path",
            relative);
  for (const auto& r : asset_roots()) {
    std::error_code ec;
    const fs::path p = fs::path(r.dir) / relative;
    if (fs::is_regular_file(p, ec)) return FoundAsset{p.lexically_normal().string(), r.origin};
  }
  return std::nullopt;
}

FoundAsset require_asset(const std::string& relative) {
  if (auto f = find_asset(relative)) return *f;
  std::string looked;
  for (const auto& r : asset_roots()) looked += (looked.empty() ? "" : ", ") + r.dir + " (" + r.origin + ")";
  SGT_FAIL("assets", "{} not found in any assets folder (looked in: {}); set SGT_ASSETS_DIR to the checkout's assets/",
           relative, looked.empty() ? std::string("none exists") : looked);
}

}  // namespace sgt
