#pragma once
// The data files sgt ships in assets/ (tokenizer, GenEval metadata, SGT's instruction templates): where the running
// program finds them, so that a clone or an installed sgt works with nothing beside it (assets/README.md).
#include <optional>
#include <string>
#include <vector>

namespace sgt {

// One place an assets folder may be, and why it is looked at.
struct AssetRoot {
  std::string dir;
  std::string origin;  // "SGT_ASSETS_DIR" | "executable" | "source tree"
};

// The candidate folders in search order: $SGT_ASSETS_DIR; beside the executable (<bin>/../share/sgt/assets for an
// install, <bin>/../assets and <bin>/../../assets for build/bin inside the checkout); the source tree compiled in.
// Only folders that exist are listed.
std::vector<AssetRoot> asset_roots();

struct FoundAsset {
  std::string path;    // the file, absolute and normalised
  std::string origin;  // the AssetRoot::origin it came from
};

// The first root holding `relative` (e.g. "qwen-tokenizer/tokenizer.json"), or nullopt.
std::optional<FoundAsset> find_asset(const std::string& relative);
// As find_asset; throws sgt::Error naming the file and every folder looked in when none holds it.
FoundAsset require_asset(const std::string& relative);

// The default tokenizer's name inside assets/.
inline constexpr const char* kDefaultTokenizerAsset = "qwen-tokenizer/tokenizer.json";

}  // namespace sgt
