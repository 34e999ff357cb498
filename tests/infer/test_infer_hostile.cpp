// Hostile and unlucky inference arguments (issue 26): each is one error line and exit 1, never a libtorch backtrace,
// a std::bad_alloc without a component, or a black image with exit 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "infer_testing.h"

using namespace sgt;

namespace {

using infer_testing::q;
using infer_testing::sgt_run;

void expect_one_error_line(const sgt::testing::ProcessResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto errs = sgt::testing::error_lines(r.output);
  ASSERT_EQ(errs.size(), 1u) << r.output;
  EXPECT_NE(errs[0].find(part), std::string::npos) << errs[0];
  EXPECT_LT(std::count(r.output.begin(), r.output.end(), '\n'), 4) << r.output;  // no backtrace
  EXPECT_EQ(r.output.find("Exception raised from"), std::string::npos) << r.output;
}

}  // namespace

TEST(InferHostile, NonFiniteGuidanceIsRefused) {
  sgt::testing::TempDir dir("infer-hostile");
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  for (const char* flag : {"--cfg-text-scale inf", "--cfg-img-scale nan", "--timestep-shift inf"}) {
    const auto r = sgt_run("generate " + model + "-p 'a cat' -o " + q(dir.file("t.png")) + " --width 32 --height 32 " +
                           "--steps 3 " + flag);
    expect_one_error_line(r, "finite");
    EXPECT_FALSE(std::filesystem::exists(dir.file("t.png"))) << flag;
  }
}

TEST(InferHostile, AHugeViTSizeIsRefusedBeforeAllocating) {
  sgt::testing::TempDir dir("infer-hostile");
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  // 100002 px wide with the input's aspect kept would be ~74000 px high: 7.4e9 pixels.
  const auto r = sgt_run("chat " + model + "--image " + q(dir.file("in.png")) +
                         " -q hi --vit-width 100002 "
                         "--vit-height 74004 --max-length 2");
  expect_one_error_line(r,
                        "[infer.generate] image size 100002x74004 = 7400548008 pixels is above the limit of "
                        "89478485 (SGT_MAX_IMAGE_PIXELS; 0 = no limit)");
}

TEST(InferHostile, LibtorchErrorsAreOneLine) {
  // A model whose vocabulary is smaller than the tokenizer's ids: the embedding lookup fails inside libtorch.
  sgt::testing::TempDir dir("infer-hostile");
  auto cfg = infer_testing::tiny_config();
  cfg.llm.vocab_size = 1000;
  {
    model::Bagel m(cfg);
    infer_testing::save_model(m, dir.file("small.safetensors"));
  }
  std::ofstream(dir.file("small.json")) << config::to_json(cfg).dump(2);
  data::Image in(32, 32, 3);
  data::write_png(dir.file("in.png"), in);
  const auto r =
      sgt_run("chat --config " + q(dir.file("small.json")) + " --weights " + q(dir.file("small.safetensors")) +
              " --tokenizer " + q(infer_testing::tokenizer_path()) + " --no-progress -q hi --max-length 2");
  expect_one_error_line(r, "sgt: error: [torch] ");
}

TEST(InferHostile, BadModelConfigsAreRefusedByName) {
  sgt::testing::TempDir dir("infer-hostile");
  auto j = config::load_json_file(infer_testing::tiny_config_path());
  auto layers = j;
  layers["llm"]["num_hidden_layers"] = -1;
  std::ofstream(dir.file("layers.json")) << layers.dump(2);
  auto arch = j;
  arch["architecture"] = "gpt";
  std::ofstream(dir.file("arch.json")) << arch.dump(2);
  const std::string tok = " --tokenizer " + q(infer_testing::tokenizer_path()) + " -q hi --weights none.safetensors";
  expect_one_error_line(sgt_run("chat --config " + q(dir.file("layers.json")) + tok),
                        "[model.config] " + dir.file("layers.json") + ".llm: llm: num_hidden_layers -1");
  expect_one_error_line(sgt_run("chat --config " + q(dir.file("arch.json")) + tok),
                        "[model.config] " + dir.file("arch.json") +
                            ": unknown architecture 'gpt' (known: bagel-mot, "
                            "qwen2-mot)");
}

TEST(InferHostile, AHugeQuestionIsRefusedBeforeThePrefill) {
  sgt::testing::TempDir dir("infer-hostile");
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  std::string question;
  for (int i = 0; i < 20000; ++i) question += "why ";  // 20000 words: ~20000 tokens
  std::ofstream(dir.file("q.txt")) << question;
  const auto r = sgt_run("chat " + model + "--image " + q(dir.file("in.png")) + " -q \"$(cat " + q(dir.file("q.txt")) +
                         ")\" --max-length 2");
  expect_one_error_line(r, "(SGT_MAX_PROMPT_TOKENS; 0 = no limit); it starts 'why why why");
  EXPECT_NE(r.output.find("above the limit of 8192"), std::string::npos) << r.output;
}
