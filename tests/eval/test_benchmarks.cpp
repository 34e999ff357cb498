// CV-Bench and GenEval scorers on hand-made fixtures in the official formats, checked against hand-computed scores;
// the GenEval metadata the project ships (assets/geneval) against the documented counts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/image.h"
#include "eval/cvbench.h"
#include "eval/geneval.h"
#include "testing/testing.h"

namespace sgt::eval {
namespace {
namespace fs = std::filesystem;

nlohmann::json cv_item(int idx, const char* type, const char* task, const char* source, const char* answer) {
  return {{"idx", idx},
          {"type", type},
          {"task", task},
          {"image", nullptr},
          {"question", "How many chairs are in the image?"},
          {"choices", {"1", "2", "3", "4"}},
          {"answer", answer},
          {"prompt", "How many chairs are in the image? Select from the following choices.\n(A) 1\n(B) 2\n(C) 3\n(D) 4"},
          {"filename", fmt::format("img/{}/{}/x_{}.png", type, task, idx)},
          {"source", source},
          {"source_dataset", "fixture"}};
}

TEST(CvBench, ExtractionAndScores) {
  // Cambrian's extract_mcq_answer (hand-checked cases; the parity test below covers thousands more).
  EXPECT_EQ(cambrian_extract("B", false), "b");
  EXPECT_EQ(cambrian_extract("  C \n", false), "c");
  EXPECT_EQ(cambrian_extract("The answer is (D)", false), "d");
  EXPECT_EQ(cambrian_extract("A. a red chair", false), "a");
  EXPECT_EQ(cambrian_extract("Answer: B", false), "b");
  EXPECT_EQ(cambrian_extract("D) 2", false), "d");
  EXPECT_EQ(cambrian_extract("I think B, since", false), "i");  // the first character, whatever it is
  EXPECT_EQ(cambrian_extract("(c).", false), "c");
  EXPECT_EQ(cambrian_extract("c:", false), "c");  // len > 1: the first character
  EXPECT_EQ(cambrian_extract("", false), "");
  EXPECT_EQ(cambrian_extract("...", false), "");
  EXPECT_EQ(cambrian_extract("\u00e9t\u00e9", false), "\u00e9");  // one code point, not one byte
  // Omni3D's variant also strips ':' and ',' and accepts the right choice's text.
  EXPECT_EQ(cambrian_extract("2,", true), "2");
  CvBenchItem omni;
  omni.type = "3D";
  omni.answer = "(B)";
  omni.choices = {"1", "2"};
  EXPECT_TRUE(cambrian_correct(omni, "B"));
  EXPECT_TRUE(cambrian_correct(omni, "2,"));
  EXPECT_FALSE(cambrian_correct(omni, "1"));
  omni.type = "2D";
  EXPECT_FALSE(cambrian_correct(omni, "2,"));  // ade/coco: letters only
  EXPECT_EQ(answer_letter("(C)"), "C");
  EXPECT_THROW(answer_letter("C"), Error);

  // Fixture: ADE20K 1/2, COCO 2/2, Omni3D 1/4 correct -> 2D = (0.5 + 1) / 2, 3D = 0.25, overall = 0.5.
  testing::TempDir dir("cvb");
  const std::vector<nlohmann::json> rows = {
      cv_item(0, "2D", "Count", "ADE20K", "(A)"),    cv_item(1, "2D", "Count", "ADE20K", "(B)"),
      cv_item(2, "2D", "Relation", "COCO", "(C)"),   cv_item(3, "2D", "Relation", "COCO", "(D)"),
      cv_item(4, "3D", "Depth", "Omni3D", "(A)"),    cv_item(5, "3D", "Depth", "Omni3D", "(B)"),
      cv_item(6, "3D", "Distance", "Omni3D", "(A)"), cv_item(7, "3D", "Distance", "Omni3D", "(B)")};
  {
    std::ofstream q(dir.file("test.jsonl"));
    for (const auto& r : rows) q << r.dump() << "\n";
  }
  const auto items = read_cvbench_jsonl(dir.file("test.jsonl"));
  ASSERT_EQ(items.size(), 8u);
  EXPECT_EQ(items[2].source, "COCO");
  EXPECT_EQ(items[2].filename, "img/2D/Relation/x_2.png");
  EXPECT_EQ(cvbench_prompt(items[0]), rows[0]["prompt"].get<std::string>() +
                                          "\nAnswer with the option's letter from the given choices directly.");
  // idx 0 correct, 1 wrong; 2 "(C)" correct, 3 "D." correct; 4 correct, 5 FAILED, 6 wrong, 7 missing.
  const std::map<int64_t, std::string> answers = {{0, "A"}, {1, "C"}, {2, "(C)"}, {3, "D. 4"},
                                                   {4, "A"}, {5, "maybe"}, {6, "B"}};
  write_cvbench_answers(dir.file("answers.jsonl"), answers);
  const auto back = read_cvbench_answers(dir.file("answers.jsonl"));
  EXPECT_EQ(back, answers);
  const CvBenchScores s = score_cvbench(items, back);
  EXPECT_DOUBLE_EQ(s.by_source.at("ADE20K").value(), 0.5);
  EXPECT_DOUBLE_EQ(s.by_source.at("COCO").value(), 1.0);
  EXPECT_DOUBLE_EQ(s.by_source.at("Omni3D").value(), 0.25);
  EXPECT_DOUBLE_EQ(*s.acc_2d, 0.75);
  EXPECT_DOUBLE_EQ(*s.acc_3d, 0.25);
  EXPECT_DOUBLE_EQ(*s.overall, 0.5);
  EXPECT_EQ(s.all.correct, 4);
  EXPECT_EQ(s.failed.correct, 1);
  EXPECT_EQ(s.missing.correct, 1);
  EXPECT_DOUBLE_EQ(s.by_task.at("Depth").value(), 0.5);
  EXPECT_DOUBLE_EQ(s.by_task.at("Distance").value(), 0.0);
  const auto j = cvbench_scores_json(s);
  EXPECT_DOUBLE_EQ(j["by_type"]["2D"]["accuracy"].get<double>(), 0.75);
  EXPECT_NE(cvbench_table(s).find("overall"), std::string::npos);

  // The model hook receives the image and the full prompt.
  fs::create_directories(dir.path() + "/img/2D/Count");
  data::write_png(dir.path() + "/img/2D/Count/x_0.png", data::Image(5, 3, 3, 7));
  const auto got = run_cvbench({items[0]}, dir.path(), [&](const data::Image& img, const std::string& prompt) {
    EXPECT_EQ(img.width, 5);
    EXPECT_EQ(img.height, 3);
    EXPECT_EQ(prompt, cvbench_prompt(items[0]));
    return std::string("A");
  });
  EXPECT_EQ(got.at(0), "A");

  // Bad input: missing field, bad answer, duplicate idx, bad type.
  auto bad = rows[0];
  bad.erase("choices");
  EXPECT_THROW(cvbench_item_from_json(bad, "x"), Error);
  bad = rows[0];
  bad["answer"] = "(F)";  // only 4 choices
  EXPECT_THROW(cvbench_item_from_json(bad, "x"), Error);
  bad = rows[0];
  bad["type"] = "4D";
  EXPECT_THROW(cvbench_item_from_json(bad, "x"), Error);
  {
    std::ofstream q(dir.file("dup.jsonl"));
    q << rows[0].dump() << "\n" << rows[0].dump() << "\n";
  }
  EXPECT_THROW(read_cvbench_jsonl(dir.file("dup.jsonl")), Error);
  EXPECT_THROW(read_cvbench_jsonl(dir.file("missing.jsonl")), Error);
}

GenEvalDetection det(const char* cls, double score, std::array<double, 4> box, const char* color = "") {
  return GenEvalDetection{cls, score, box, color};
}

GenEvalPrompt prompt_of(const char* json) { return geneval_prompt_from_json(nlohmann::ordered_json::parse(json), "t"); }

TEST(GenEval, OfficialRulesHandComputed) {
  // relative_position: A left of B with margin; overlapping centres give no relation; diagonals give two.
  using R = std::vector<std::string>;
  EXPECT_EQ(relative_position({0, 0, 10, 10}, {20, 0, 30, 10}), R{"left of"});  // dx = -18/20
  EXPECT_EQ(relative_position({11, 0, 21, 10}, {0, 0, 10, 10}), R{"right of"});  // dx = 9/11
  EXPECT_EQ(relative_position({0, 0, 10, 10}, {1, 1, 11, 11}), R{});            // |offset| 1 < margin 2
  EXPECT_EQ(relative_position({0, 0, 10, 10}, {10, 10, 20, 20}), (R{"left of", "above"}));
  EXPECT_EQ(relative_position({0, 30, 10, 40}, {0, 0, 10, 10}), R{"below"});

  const auto single = prompt_of(R"({"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"})");
  EXPECT_TRUE(geneval_decide({det("bench", 0.35, {0, 0, 5, 5})}, single).correct);
  const auto miss = geneval_decide({det("bench", 0.3, {0, 0, 5, 5})}, single);  // score must exceed 0.3
  EXPECT_FALSE(miss.correct);
  EXPECT_EQ(miss.reason, "expected bench>=1, found 0");

  const auto counting = prompt_of(R"({"tag": "counting", "include": [{"class": "clock", "count": 2}], "exclude": [{"class": "clock", "count": 3}], "prompt": "a photo of two clocks"})");
  const auto three = geneval_decide({det("clock", 0.95, {0, 0, 1, 1}), det("clock", 0.99, {2, 2, 3, 3}),
                                     det("clock", 0.91, {4, 4, 5, 5})}, counting);
  EXPECT_FALSE(three.correct);
  EXPECT_EQ(three.reason, "expected clock<3, found 3");
  EXPECT_TRUE(geneval_decide({det("clock", 0.95, {0, 0, 1, 1}), det("clock", 0.99, {2, 2, 3, 3}),
                              det("clock", 0.8, {4, 4, 5, 5})}, counting).correct);  // 0.8 < counting threshold 0.9

  // Colour: only the top-`count` detections are classified.
  const auto colors = prompt_of(R"({"tag": "colors", "include": [{"class": "fire hydrant", "count": 1, "color": "blue"}], "prompt": "a photo of a blue fire hydrant"})");
  EXPECT_TRUE(geneval_decide({det("fire hydrant", 0.9, {0, 0, 1, 1}, "blue")}, colors).correct);
  const auto red_top = geneval_decide({det("fire hydrant", 0.9, {0, 0, 1, 1}, "red"),
                                       det("fire hydrant", 0.5, {0, 0, 1, 1}, "blue")}, colors);
  EXPECT_FALSE(red_top.correct);
  EXPECT_EQ(red_top.reason, "expected blue fire hydrant>=1, found 0 blue");
  EXPECT_THROW(geneval_decide({det("fire hydrant", 0.9, {0, 0, 1, 1})}, colors), Error);  // no colour label

  // Position: the dog (include[1]) must be right of every teddy bear found (include[0]).
  const auto position = prompt_of(R"({"tag": "position", "include": [{"class": "teddy bear", "count": 1}, {"class": "dog", "count": 1, "position": ["right of", 0]}], "prompt": "a photo of a dog right of a teddy bear"})");
  EXPECT_TRUE(geneval_decide({det("teddy bear", 0.8, {0, 0, 10, 10}), det("dog", 0.7, {20, 0, 30, 10})}, position).correct);
  const auto left = geneval_decide({det("teddy bear", 0.8, {20, 0, 30, 10}), det("dog", 0.7, {0, 0, 10, 10})}, position);
  EXPECT_FALSE(left.correct);
  EXPECT_EQ(left.reason, "expected dog right of target, found left of target");
  const auto no_target = geneval_decide({det("dog", 0.7, {0, 0, 10, 10})}, position);
  EXPECT_EQ(no_target.reason, "expected teddy bear>=1, found 0\nno target for dog to be right of");

  // Malformed metadata.
  EXPECT_THROW(prompt_of(R"({"tag": "x", "prompt": "p"})"), Error);
  EXPECT_THROW(prompt_of(R"({"tag": "x", "prompt": "p", "include": [{"class": "a", "position": ["near", 0]}]})"), Error);
  EXPECT_THROW(prompt_of(R"({"tag": "x", "prompt": "p", "include": [{"class": "a", "position": ["above", 0]}]})"), Error);
}

TEST(GenEval, MetadataFolderAndSummary) {
  // The shipped metadata: 553 prompts with the documented tag counts; the long variant has the same requirements.
  const std::string fx = testing::source_dir() + "/assets/geneval/";
  const auto meta = read_geneval_metadata(fx + "evaluation_metadata.jsonl");
  const auto longm = read_geneval_metadata(fx + "evaluation_metadata_long.jsonl");
  ASSERT_EQ(meta.size(), 553u);
  ASSERT_EQ(longm.size(), 553u);
  std::map<std::string, int> tags;
  for (size_t i = 0; i < meta.size(); ++i) {
    ++tags[meta[i].tag];
    EXPECT_EQ(meta[i].raw["include"], longm[i].raw["include"]) << i;
  }
  EXPECT_EQ(tags, (std::map<std::string, int>{{"single_object", 80}, {"two_object", 99}, {"counting", 80},
                                              {"colors", 94}, {"position", 100}, {"color_attr", 100}}));

  // Folder layout with a fake generator; seeds repeat per prompt.
  testing::TempDir dir("gen");
  const std::vector<GenEvalPrompt> two = {meta[0], meta[200]};
  std::vector<std::pair<std::string, uint64_t>> calls;
  const int64_t made = write_geneval_folder(dir.path(), two, 2, 42, [&](const std::string& p, uint64_t seed) {
    calls.emplace_back(p, seed);
    return data::Image(8, 6, 3, static_cast<uint8_t>(seed));
  });
  EXPECT_EQ(made, 4);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[1], std::make_pair(meta[0].prompt, uint64_t{43}));
  EXPECT_EQ(calls[2], std::make_pair(meta[200].prompt, uint64_t{42}));
  std::ifstream m(dir.path() + "/00001/metadata.jsonl");
  const auto line = nlohmann::ordered_json::parse(m);
  EXPECT_EQ(line, meta[200].raw);
  EXPECT_EQ(data::read_image(dir.path() + "/00001/samples/0001.png").pixels[0], 43);
  const GenEvalGenerateFn blank = [](const std::string&, uint64_t) { return data::Image(1, 1, 3); };
  EXPECT_EQ(write_geneval_folder(dir.path(), two, 2, 42, blank), 0);  // resumable: existing samples are kept

  // Detections JSONL -> decisions -> summary. Prompt 0 (single_object bench): image 0 right, image 1 wrong;
  // prompt 1 (meta[200]) both wrong -> single_object 0.5, tag of meta[200] 0.0; overall 0.25; prompts 1/2.
  ASSERT_EQ(meta[0].include[0].cls, "bench");
  {
    std::ofstream d(dir.file("det.jsonl"));
    d << R"({"filename": ")" << dir.path() << R"(/00000/samples/0000.png", "detections": [{"class": "bench", "score": 0.9, "box": [0, 0, 4, 4]}]})" << "\n";
    d << R"({"filename": ")" << dir.path() << R"(/00000/samples/0001.png", "detections": []})" << "\n";
    d << R"({"filename": ")" << dir.path() << R"(/00001/samples/0000.png", "detections": []})" << "\n";
    d << R"({"filename": ")" << dir.path() << R"(/00001/samples/0001.png", "detections": []})" << "\n";
  }
  const auto results = score_geneval_detections(dir.file("det.jsonl"), two);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].decision.correct);
  EXPECT_EQ(results[2].prompt_index, 1);
  const GenEvalSummary s = summarize_geneval(results);
  ASSERT_EQ(s.tag_scores.size(), 2u);
  EXPECT_EQ(s.tag_scores[0].first, "single_object");
  EXPECT_DOUBLE_EQ(s.tag_scores[0].second, 0.5);
  EXPECT_DOUBLE_EQ(s.tag_scores[1].second, 0.0);
  EXPECT_DOUBLE_EQ(s.overall, 0.25);
  EXPECT_DOUBLE_EQ(s.correct_images, 0.25);
  EXPECT_DOUBLE_EQ(s.correct_prompts, 0.5);

  // The official evaluator's results.jsonl summarises the same way (6 tags, unweighted mean).
  {
    std::ofstream r(dir.file("results.jsonl"));
    const char* tagv[] = {"single_object", "two_object", "counting", "colors", "position", "color_attr"};
    for (int t = 0; t < 6; ++t)
      for (int k = 0; k < 2; ++k)  // tag t: image 0 correct iff t is even; image 1 correct iff t == 0
        r << nlohmann::json{{"filename", fmt::format("out/{:05d}/samples/{:04d}.png", t, k)}, {"tag", tagv[t]},
                            {"prompt", "p"}, {"correct", k == 0 ? t % 2 == 0 : t == 0}, {"reason", ""}}
                 .dump()
          << "\n";
  }
  const auto off = summarize_geneval_results_file(dir.file("results.jsonl"));
  EXPECT_NEAR(off.overall, (1.0 + 0 + 0.5 + 0 + 0.5 + 0) / 6, 1e-12);
  EXPECT_NEAR(off.correct_prompts, 3.0 / 6, 1e-12);
  EXPECT_NEAR(off.correct_images, 4.0 / 12, 1e-12);

  // Bad detection lines.
  {
    std::ofstream d(dir.file("bad.jsonl"));
    d << R"({"filename": "x/00000/samples/a.png", "detections": []})" << "\n";
  }
  EXPECT_THROW(score_geneval_detections(dir.file("bad.jsonl"), two), Error);
  {
    std::ofstream d(dir.file("bad2.jsonl"));
    d << R"({"filename": "x/00007/samples/0000.png", "detections": []})" << "\n";
  }
  EXPECT_THROW(score_geneval_detections(dir.file("bad2.jsonl"), two), Error);
}

}  // namespace
}  // namespace sgt::eval
