#include <gtest/gtest.h>

#include <fstream>

#include <torch/torch.h>

#include "io/torch_tensors.h"
#include "testing/testing.h"

namespace {

std::string sgt_bin() { return sgt::testing::binary_dir() + "/bin/sgt"; }

sgt::testing::ProcessResult run_sgt(const std::string& args) {
  return sgt::testing::run_command(sgt::testing::shell_quote(sgt_bin()) + " " + args);
}

TEST(Cli, InspectListsTensorsAndTotals) {
  sgt::testing::TempDir dir("cli");
  sgt::io::save_tensors(dir.file("m.safetensors"),
                        {{"language_model.lm_head.weight", torch::zeros({16, 8}, torch::kBFloat16)},
                         {"vae2llm.bias", torch::zeros({8})}},
                        {{"format", "pt"}});
  auto r = run_sgt("inspect " + dir.file("m.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("language_model.lm_head.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("BF16"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[16, 8]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("metadata format = pt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("total: 2 tensors, 136 parameters"), std::string::npos) << r.output;
  auto filtered = run_sgt("inspect --summary --filter 'vae*' " + dir.file("m.safetensors"));
  EXPECT_NE(filtered.output.find("total: 1 tensors, 8 parameters"), std::string::npos) << filtered.output;
  EXPECT_EQ(filtered.output.find("lm_head"), std::string::npos) << filtered.output;
}

TEST(Cli, ErrorsAreOneClearLineAndNonZeroExit) {
  sgt::testing::TempDir dir("cli-err");
  auto missing = run_sgt("inspect " + dir.file("nope.safetensors"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.output, "sgt: error: [tensor-source] " + dir.file("nope.safetensors") + " does not exist\n");
  std::ofstream(dir.file("bad.safetensors")) << "garbage!";
  auto bad = run_sgt("inspect " + dir.file("bad.safetensors"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.output.rfind("sgt: error: [safetensors] ", 0), 0u) << bad.output;
  EXPECT_EQ(std::count(bad.output.begin(), bad.output.end(), '\n'), 1) << bad.output;
  auto usage = run_sgt("inspect");
  EXPECT_NE(usage.exit_code, 0);
  auto unknown = run_sgt("no-such-command");
  EXPECT_NE(unknown.exit_code, 0);
}

}  // namespace
