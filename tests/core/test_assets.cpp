// The shipped data files (assets/README.md): which folder sgt::find_asset picks, in which order, and what a
// missing asset says.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "core/assets.h"
#include "core/error.h"
#include "testing/testing.h"

namespace fs = std::filesystem;

namespace {

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string normal(const std::string& p) { return fs::weakly_canonical(p).string(); }

}  // namespace

TEST(Assets, DefaultTokenizerComesFromTheSourceTree) {
  ScopedEnv env("SGT_ASSETS_DIR", nullptr);
  // The test binary lives in build/tests/core/: no assets folder beside it, so the compiled-in source tree wins.
  const auto found = sgt::find_asset(sgt::kDefaultTokenizerAsset);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(normal(found->path), normal(sgt::testing::source_dir() + "/assets/qwen-tokenizer/tokenizer.json"));
  EXPECT_EQ(found->origin, "source tree");
  EXPECT_EQ(sgt::require_asset("geneval/evaluation_metadata.jsonl").origin, "source tree");
}

TEST(Assets, EnvironmentFolderComesFirstAndFallsThrough) {
  sgt::testing::TempDir dir("assets");
  fs::create_directories(dir.file("qwen-tokenizer"));
  std::ofstream(dir.file("qwen-tokenizer/tokenizer.json")) << "{}";
  ScopedEnv env("SGT_ASSETS_DIR", dir.path().c_str());
  const auto roots = sgt::asset_roots();
  ASSERT_FALSE(roots.empty());
  EXPECT_EQ(roots.front().dir, normal(dir.path()));
  EXPECT_EQ(roots.front().origin, "SGT_ASSETS_DIR");
  const auto tok = sgt::require_asset(sgt::kDefaultTokenizerAsset);
  EXPECT_EQ(tok.path, normal(dir.file("qwen-tokenizer/tokenizer.json")));
  EXPECT_EQ(tok.origin, "SGT_ASSETS_DIR");
  // A file the environment folder lacks comes from the next folder that holds it.
  EXPECT_EQ(sgt::require_asset("sgt-prompts/instructions.json").origin, "source tree");
}

TEST(Assets, MissingAssetNamesTheFileAndEveryFolderLookedIn) {
  sgt::testing::TempDir dir("assets-missing");
  ScopedEnv env("SGT_ASSETS_DIR", dir.path().c_str());
  EXPECT_FALSE(sgt::find_asset("no/such.file").has_value());
  try {
    sgt::require_asset("no/such.file");
    FAIL() << "no error";
  } catch (const sgt::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[assets] no/such.file not found"), std::string::npos) << m;
    EXPECT_NE(m.find(normal(dir.path()) + " (SGT_ASSETS_DIR)"), std::string::npos) << m;
    EXPECT_NE(m.find("(source tree)"), std::string::npos) << m;
  }
  EXPECT_THROW(sgt::find_asset("/etc/passwd"), sgt::Error);  // names are relative to an assets folder
  EXPECT_THROW(sgt::find_asset(""), sgt::Error);
  // A folder that does not exist is not listed.
  ScopedEnv gone("SGT_ASSETS_DIR", dir.file("gone").c_str());
  for (const auto& r : sgt::asset_roots()) EXPECT_NE(r.origin, "SGT_ASSETS_DIR");
}
