// `sgt eval pope` with a model, end to end on a random tiny BAGEL (tests/infer/infer_testing.h) and a 2-image
// fixture in the official coco_pope format: the answers file has LLaVA's layout, one line per question, and the
// scores equal those of the file-based path on the written answers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "eval/pope.h"
#include "infer/infer_testing.h"

namespace sgt::eval {
namespace {
using infer_testing::q;
using infer_testing::sgt_run;

TEST(PopeModelCli, AnswersWithTheModelAndScores) {
  testing::TempDir dir("pope-model-cli");
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  std::filesystem::create_directories(dir.file("img"));
  for (int k = 0; k < 2; ++k) {
    data::Image im(30 + 14 * k, 28, 3);
    for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>((i * (31 + k)) % 211);
    data::write_png(dir.file("img/im" + std::to_string(k) + ".png"), im);
  }
  std::string lines;
  const char* objects[4] = {"dog", "cat", "car", "cup"};
  for (int i = 0; i < 4; ++i)
    lines += nlohmann::json{{"question_id", i + 1}, {"image", "im" + std::to_string(i / 2) + ".png"},
                            {"text", std::string("Is there a ") + objects[i] + " in the image?"},
                            {"label", i % 2 ? "no" : "yes"}}
                 .dump() +
             "\n";
  std::ofstream(dir.file("coco_pope_random.json")) << lines;
  auto r = sgt_run("eval pope --questions " + q(dir.file("coco_pope_random.json")) + " --images " + q(dir.file("img")) +
                   " " + model + "--max-length 4 --vit-width 28 --vit-height 28 --answers-out " +
                   q(dir.file("answers.jsonl")) + " --out " + q(dir.file("s.json")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto items = read_pope_questions(dir.file("coco_pope_random.json"));
  const auto answers = read_pope_answers(dir.file("answers.jsonl"));
  ASSERT_EQ(answers.size(), 4u);
  for (size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i].question_id, static_cast<int64_t>(i + 1));
    EXPECT_EQ(answers[i].split, "random");
  }
  std::ifstream first(dir.file("answers.jsonl"));
  std::string line;
  std::getline(first, line);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["prompt"], pope_prompt("Is there a dog in the image?"));
  EXPECT_TRUE(j.contains("text") && j.contains("model_id")) << line;
  std::ifstream in(dir.file("s.json"));
  const auto scores = nlohmann::json::parse(in);
  EXPECT_EQ(scores["splits"]["random"]["n"], 4);
  EXPECT_EQ(scores["missing_answers"], 0);
  EXPECT_EQ(scores, nlohmann::json::parse(pope_summary_json(score_pope(items, answers)).dump()));
  // A wrong image root fails before the model is loaded for nothing, naming the image.
  auto bad = sgt_run("eval pope --questions " + q(dir.file("coco_pope_random.json")) + " " + model +
                     "--answers-out " + q(dir.file("x.jsonl")));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("im0.png"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace sgt::eval
