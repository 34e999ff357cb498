// `sgt data bench` end to end: on its own synthetic world, and on shard copies with a corrupt JPEG and a cut tar,
// whose bad samples must be counted by reason while the run goes on.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/testing.h"

namespace {

sgt::testing::ProcessResult run_sgt(const std::string& args) {
  return sgt::testing::run_command(sgt::testing::shell_quote(sgt::testing::binary_dir() + "/bin/sgt") + " " + args);
}

// The --json lines of the output, one per run.
std::vector<nlohmann::json> json_lines(const std::string& output) {
  std::vector<nlohmann::json> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(CliDataBench, SyntheticWorldCountsAndRates) {
  auto r = run_sgt("data bench --world-scenes 8 --samples 6 --threads 1,2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote a synthetic world of 8 scenes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("samples/s/thread"), std::string::npos) << r.output;
  const auto runs = json_lines(r.output);
  ASSERT_EQ(runs.size(), 2u) << r.output;
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i]["threads"].get<int64_t>(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(runs[i]["samples"].get<int64_t>(), 6) << r.output;  // --samples stops the run
    EXPECT_EQ(runs[i]["bad"].get<int64_t>(), 0) << r.output;
    EXPECT_GT(runs[i]["seconds"].get<double>(), 0.0);
    EXPECT_GT(runs[i]["in_bytes"].get<int64_t>(), 6 * 1000) << r.output;  // jpg + json + depth + text members
    // World images (<= 192 px) are resized up to a shorter side of 512: input + target >= 2 * 512^2 each.
    EXPECT_GE(runs[i]["out_pixels"].get<int64_t>(), 6 * 2 * 512 * 512) << r.output;
  }
  // The same samples in the same order whatever the thread count: identical bytes in and pixels out.
  EXPECT_EQ(runs[0]["in_bytes"], runs[1]["in_bytes"]);
  EXPECT_EQ(runs[0]["out_pixels"], runs[1]["out_pixels"]);
  EXPECT_NE(r.output.find("bad samples: 0"), std::string::npos) << r.output;
}

TEST(CliDataBench, BadSamplesAreCountedNotFatal) {
  sgt::testing::TempDir dir("cli-data-bench");
  auto w = run_sgt("world --out " + dir.path() + " --train 8 --heldout 0 --per-shard 4 --threads 1");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  const std::string s0 = dir.file("train/world-train-000000.tar"), s1 = dir.file("train/world-train-000001.tar");
  ASSERT_TRUE(std::filesystem::exists(s0) && std::filesystem::exists(s1)) << w.output;

  // Clean run over both shards: all 8 samples, none bad.
  auto clean = run_sgt("data bench " + s0 + " " + s1 + " --threads 2 --json");
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  const auto c = json_lines(clean.output);
  ASSERT_EQ(c.size(), 1u) << clean.output;
  EXPECT_EQ(c[0]["samples"].get<int64_t>(), 8) << clean.output;
  EXPECT_EQ(c[0]["bad"].get<int64_t>(), 0) << clean.output;

  // Shard 0 with its first JPEG's start-of-image marker destroyed (the tar itself stays intact) ...
  std::string bytes = read_bytes(s0);
  const size_t soi = bytes.find("\xFF\xD8\xFF");
  ASSERT_NE(soi, std::string::npos);
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(soi), bytes.begin() + static_cast<std::ptrdiff_t>(soi) + 3,
            'X');
  write_bytes(dir.file("corrupt.tar"), bytes);
  // ... and shard 1 cut in the middle of its members.
  const std::string b1 = read_bytes(s1);
  write_bytes(dir.file("cut.tar"), b1.substr(0, b1.size() / 2 + 100));

  auto bad = run_sgt("data bench " + dir.file("corrupt.tar") + " " + dir.file("cut.tar") + " " + s0 +
                     " --threads 1,2 --json");
  ASSERT_EQ(bad.exit_code, 0) << bad.output;
  const auto b = json_lines(bad.output);
  ASSERT_EQ(b.size(), 2u) << bad.output;
  for (const auto& run : b) {
    EXPECT_EQ(run["bad"].get<int64_t>(), 2) << bad.output;  // one corrupt image, one truncated shard
    // 3 good samples of corrupt.tar + the whole samples before the cut + 4 of the intact shard 0
    EXPECT_GE(run["samples"].get<int64_t>(), 7) << bad.output;
    EXPECT_LT(run["samples"].get<int64_t>(), 11) << bad.output;
  }
  EXPECT_EQ(b[0]["samples"], b[1]["samples"]);
  EXPECT_NE(bad.output.find("bad samples: 2 (corrupt_image 1, truncated_tar 1)"), std::string::npos) << bad.output;
}

TEST(CliDataBench, BadArgumentsFail) {
  sgt::testing::TempDir dir("cli-data-bench-args");
  auto missing = run_sgt("data bench " + dir.file("none.tar"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("none.tar"), std::string::npos) << missing.output;
  auto zero = run_sgt("data bench --world-scenes 2 --threads 0");
  EXPECT_NE(zero.exit_code, 0);
  EXPECT_NE(zero.output.find("--threads must be >= 1"), std::string::npos) << zero.output;
}

}  // namespace
