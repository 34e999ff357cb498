#pragma once
// Shared helpers of the data tests: run tools/data_ref.py into a TempDir, read its JSON and raw buffers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "io/atomic_file.h"
#include "testing/testing.h"

namespace sgt::data::test {

inline nlohmann::json run_ref(const std::string& test_case, const testing::TempDir& dir, const std::string& json_name) {
  const auto r = testing::run_python_tool("data_ref.py", {test_case, dir.path()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(io::read_text_file(dir.file(json_name)));
}

// A raw buffer written by save_raw() in data_ref.py: {"file", "w", "h", "c"}.
inline Image load_raw(const testing::TempDir& dir, const nlohmann::json& meta) {
  Image img(meta["w"].get<int64_t>(), meta["h"].get<int64_t>(), meta["c"].get<int64_t>());
  const auto bytes = read_file_bytes(dir.file(meta["file"].get<std::string>()));
  EXPECT_EQ(bytes.size(), img.pixels.size()) << meta.dump();
  std::copy(bytes.begin(), bytes.begin() + std::min(bytes.size(), img.pixels.size()), img.pixels.begin());
  return img;
}

inline int max_abs_diff(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return 1000;
  int m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return m;
}

inline std::string dims(const Image& a) { return fmt::format("{}x{}x{}", a.width, a.height, a.channels); }

}  // namespace sgt::data::test
