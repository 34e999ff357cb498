// GenEval's results.jsonl as summary_scores.py reads it (tools/geneval_summary_ref.py, pandas), and
// CV-Bench as published: the release's parquet files (images inside, written by pyarrow + PIL in
// tools/cvbench_fixture.py), its JSONL files, the older test.jsonl + img/ layout; Cambrian's answer rules against a
// Python reference of them (tools/cambrian_ref.py) on thousands of strings; `sgt eval cvbench` end to end.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "data/parquet.h"
#include "eval/cvbench.h"
#include "eval/geneval.h"
#include "testing/testing.h"

namespace sgt::eval {
namespace {
namespace fs = std::filesystem;
using testing::shell_quote;

class CvBenchRelease : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("cvb-release");
    const auto r = testing::run_python_tool("cvbench_fixture.py", {"--out", dir_->path()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto truth = config::load_json_file(dir_->file("truth.json"));
    for (const auto& [k, v] : truth.items())
      truth_[std::stoll(k)] = v.get<std::string>();
  }
  static void TearDownTestSuite() { delete dir_; }
  // The model stand-in: reads the item's idx back from its image's colour and size, answers the true letter.
  static CvBenchAnswerFn oracle() {
    return [](const data::Image& img, const std::string& prompt) -> std::string {
      const int64_t idx = img.width - 20;
      EXPECT_EQ(img.height, 10 + 2 * idx);
      EXPECT_EQ(img.pixels[0], idx * 40 % 256);
      EXPECT_NE(prompt.find(fmt::format("Question {} ", idx)), std::string::npos) << prompt;
      return "The answer is (" + truth_.at(idx) + ").";
    };
  }
  static testing::TempDir* dir_;
  static std::map<int64_t, std::string> truth_;
};
testing::TempDir* CvBenchRelease::dir_ = nullptr;
std::map<int64_t, std::string> CvBenchRelease::truth_;

TEST_F(CvBenchRelease, ParquetJsonlAndOldLayoutsGiveTheSameItems) {
  const auto info = data::parquet_info(dir_->file("test_2d.parquet"));
  EXPECT_EQ(info.rows, 3);
  EXPECT_EQ(info.row_groups, 2);
  EXPECT_EQ(info.columns.front(), "idx");
  const auto pq = read_cvbench_files({dir_->file("test_2d.parquet"), dir_->file("test_3d.parquet")});
  const auto jl = read_cvbench_files({dir_->file("test_2d.jsonl"), dir_->file("test_3d.jsonl")});
  const auto old = read_cvbench_files({dir_->file("old/test.jsonl")});
  ASSERT_EQ(pq.size(), 5u);
  ASSERT_EQ(jl.size(), 5u);
  ASSERT_EQ(old.size(), 5u);
  for (size_t i = 0; i < pq.size(); ++i) {
    for (const auto* o : {&jl[i], &old[i]}) {
      EXPECT_EQ(pq[i].idx, o->idx);
      EXPECT_EQ(pq[i].prompt, o->prompt);
      EXPECT_EQ(pq[i].choices, o->choices);
      EXPECT_EQ(pq[i].source, o->source);
      EXPECT_EQ(pq[i].filename, o->filename);
    }
    EXPECT_FALSE(pq[i].image_bytes.empty()) << i;
    EXPECT_TRUE(jl[i].image_bytes.empty()) << i;
  }
  // The images come from the parquet bytes, or from root/filename: the same answers either way.
  const auto a1 = run_cvbench(pq, "/nonexistent", oracle());
  const auto a2 = run_cvbench(old, dir_->file("old"), oracle());
  EXPECT_EQ(a1, a2);
  const auto s = score_cvbench(pq, a1);
  EXPECT_DOUBLE_EQ(*s.overall, 1.0);
  EXPECT_EQ(s.by_source.size(), 3u);
  // The release's JSONL alone has no images: a clear error that points to the parquet files.
  try {
    run_cvbench(jl, dir_->path(), oracle());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test_2d.parquet"), std::string::npos) << e.what();
  }
  // An idx in two files, a parquet without the prompt column, a truncated parquet.
  EXPECT_THROW(read_cvbench_files({dir_->file("test_2d.parquet"), dir_->file("test_2d.jsonl")}), Error);
  std::ifstream in(dir_->file("test_2d.parquet"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir_->file("cut.parquet"), std::ios::binary) << bytes.substr(0, bytes.size() / 2) << "PAR1";
  try {
    read_cvbench_parquet(dir_->file("cut.parquet"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[parquet] " + dir_->file("cut.parquet")), std::string::npos) << e.what();
  }
  EXPECT_THROW(data::for_each_parquet_row(dir_->file("test_2d.parquet"), {"no_such_column"},
                                          [](const nlohmann::json&, const std::string&) {}),
               Error);
  EXPECT_THROW(read_cvbench_parquet(dir_->file("test_2d.jsonl")), Error);  // not parquet
  // An unknown task is an error naming it and the line.
  {
    std::ifstream src(dir_->file("test_2d.jsonl"));
    std::string line;
    std::getline(src, line);
    auto j = nlohmann::json::parse(line);
    j["task"] = "Counting";
    std::ofstream(dir_->file("badtask.jsonl")) << j.dump() << "\n";
    try {
      read_cvbench_files({dir_->file("badtask.jsonl")});
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("badtask.jsonl:1: unknown task 'Counting'"), std::string::npos) << e.what();
    }
  }
}

// Cambrian's rules, ours against tools/cambrian_ref.py (Python's lower/strip/split/rstrip) on hand-picked and
// random strings built from the pieces the rules react to.
TEST_F(CvBenchRelease, CambrianRulesMatchThePythonReference) {
  std::vector<std::string> pieces = {"answer is", "answer is:", "answer:", "Answer", "ANSWER IS:", "The ", "(", ")",
                                     ".", ":", ",", " ", "\n", "\t", "\u3000", "\x1c", "\u00a0", "\u2028", "a", "b",
                                     "c", "d", "A", "B", "C", "D", "E", "F", "x", "\u00e9", "\u4e2d", "1", "2", "lamp"};
  nlohmann::json cases = nlohmann::json::array();
  const std::vector<std::string> fixed = {"a", "Answer: B", "D) 2", "(C)", "B.", " c ", "answer is: (d).", "",
                                          "The answer is B, lamp", "answer:answer is a", "((a))", "a).", "2", "lamp"};
  for (const auto& t : fixed)
    for (bool omni : {false, true}) cases.push_back({{"text", t}, {"omni", omni}});
  std::mt19937 rng(7);
  for (int n = 0; n < 3000; ++n) {
    std::string t;
    const int k = static_cast<int>(rng() % 7);
    for (int i = 0; i < k; ++i) t += pieces[rng() % pieces.size()];
    cases.push_back({{"text", t}, {"omni", rng() % 2 == 1}});
  }
  for (auto& c : cases) {
    c["answer"] = std::string("(") + "ABCD"[std::hash<std::string>{}(c["text"].get<std::string>()) % 4] + ")";
    c["choices"] = {"1", "2", "lamp", "d"};
  }
  std::ofstream(dir_->file("cases.json")) << cases.dump();
  const auto r = testing::run_python_tool("cambrian_ref.py", {"--cases", dir_->file("cases.json"), "--out",
                                                              dir_->file("decisions.json")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ref = config::load_json_file(dir_->file("decisions.json"));
  ASSERT_EQ(ref.size(), cases.size());
  int differ = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    CvBenchItem it;
    it.type = cases[i]["omni"].get<bool>() ? "3D" : "2D";
    it.answer = cases[i]["answer"].get<std::string>();
    it.choices = cases[i]["choices"].get<std::vector<std::string>>();
    const std::string text = cases[i]["text"].get<std::string>();
    const bool ok = cambrian_correct(it, text);
    const std::string got = cambrian_extract(text, it.type == "3D");
    if (got != ref[i]["extracted"].get<std::string>() || ok != ref[i]["correct"].get<bool>()) {
      if (++differ <= 5)
        ADD_FAILURE() << nlohmann::json(text).dump() << " omni " << it.type << ": ours '" << got << "' " << ok
                      << ", reference '" << ref[i]["extracted"].get<std::string>() << "' " << ref[i]["correct"];
    }
  }
  EXPECT_EQ(differ, 0) << "of " << cases.size();
}

TEST_F(CvBenchRelease, CliScoresTheReleaseFilesAndOmitsWhatWasNotRun) {
  const std::string sgt = shell_quote(testing::binary_dir() + "/bin/sgt");
  // Answers in the official style of a chatty model; item 4 unanswered.
  {
    std::ofstream a(dir_->file("answers.jsonl"));
    a << R"({"idx": 0, "answer": "a"})" << "\n" << R"({"idx": 1, "answer": "Answer: D"})" << "\n"
      << R"({"idx": 2, "answer": "B) right"})" << "\n" << R"({"idx": 3, "answer": "(A) lamp"})" << "\n";
  }
  auto r = testing::run_command(sgt + " eval cvbench --questions " + shell_quote(dir_->file("test_2d.parquet")) +
                                " --questions " + shell_quote(dir_->file("test_3d.parquet")) + " --answers " +
                                shell_quote(dir_->file("answers.jsonl")) + " --out " + shell_quote(dir_->file("s.json")) +
                                " --markdown " + shell_quote(dir_->file("s.md")) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto s = config::load_json_file(dir_->file("s.json"));
  EXPECT_DOUBLE_EQ(s["acc_2d"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["acc_3d"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(s["overall"].get<double>(), 0.75);
  EXPECT_EQ(s["missing_answers"].get<int64_t>(), 1);
  std::ifstream md(dir_->file("s.md"));
  const std::string mdt((std::istreambuf_iterator<char>(md)), {});
  EXPECT_NE(mdt.find("| **CV-Bench** (mean of 2D and 3D) | 75.00 |"), std::string::npos) << mdt;
  // A 2D-only run has neither a 3D nor an overall score.
  auto two = testing::run_command(sgt + " eval cvbench --questions " + shell_quote(dir_->file("test_2d.parquet")) +
                                  " --answers " + shell_quote(dir_->file("answers.jsonl")) + " --out " +
                                  shell_quote(dir_->file("s2.json")) + " 2>&1");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_EQ(two.output.find("3D"), std::string::npos) << two.output;
  EXPECT_EQ(two.output.find("overall"), std::string::npos) << two.output;
  const auto s2 = config::load_json_file(dir_->file("s2.json"));
  EXPECT_FALSE(s2.contains("acc_3d"));
  EXPECT_FALSE(s2.contains("overall"));
  // Bad input: one clear line and a non-zero exit.
  auto bad = testing::run_command(sgt + " eval cvbench --questions " + shell_quote(dir_->file("truth.json")) +
                                  " --answers " + shell_quote(dir_->file("answers.jsonl")) + " 2>&1");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.output.rfind("sgt: error: ", 0), 0u) << bad.output;
  EXPECT_EQ(std::count(bad.output.begin(), bad.output.end(), '\n'), 1) << bad.output;
}

// sgt's per-image output is the official evaluator's results.jsonl: the official summary's computations (pandas,
// grouped by the metadata string) read it unchanged and give sgt's own summary; the metadata strings are exactly
// Python's json.dumps of each prompt's metadata.
TEST(GenEvalRelease, PerImageResultsAreReadBySummaryScores) {
  testing::TempDir dir("geneval-release");
  const std::string meta = testing::asset("geneval/evaluation_metadata_long.jsonl");
  const auto prompts = read_geneval_metadata(meta);
  // A prompt whose text needs escaping (non-ASCII, a character beyond the BMP, quotes, control characters), given
  // inline: its metadata string must still be exactly Python's json.dumps.
  nlohmann::ordered_json odd = prompts[0].raw;
  odd["prompt"] = "caf\u00e9 \"quoted\"\n\U0001F600 tab\t\x01";
  // Detections for 3 images of prompt 0 (single object), 2 of prompt 200, 1 of prompt 400, in folder order.
  std::ofstream d(dir.file("det.jsonl"));
  const auto& c0 = prompts[0].include[0].cls;
  for (int k = 0; k < 3; ++k)
    d << nlohmann::json{{"filename", fmt::format("{}/00000/samples/{:04d}.png", dir.path(), k)},
                        {"detections", k < 2 ? nlohmann::json::array({{{"class", c0}, {"score", 0.9}, {"box", {0, 0, 4, 4}}}})
                                             : nlohmann::json::array()}}
             .dump()
      << "\n";
  for (int p : {200, 400})
    for (int k = 0; k < (p == 200 ? 2 : 1); ++k)
      d << nlohmann::json{{"filename", fmt::format("{}/{:05d}/samples/{:04d}.png", dir.path(), p, k)},
                          {"detections", nlohmann::json::array()}}
               .dump()
        << "\n";
  d << nlohmann::ordered_json{{"filename", dir.path() + "/00401/samples/0000.png"}, {"metadata", odd},
                              {"detections", nlohmann::json::array()}}
           .dump()
    << "\n";
  d.close();
  const std::string sgt = shell_quote(testing::binary_dir() + "/bin/sgt");
  auto r = testing::run_command(sgt + " eval geneval --detections " + shell_quote(dir.file("det.jsonl")) +
                                " --per-image " + shell_quote(dir.file("results.jsonl")) + " --out " +
                                shell_quote(dir.file("s.json")) + " --markdown " + shell_quote(dir.file("s.md")) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("evaluation_metadata_long.jsonl (the long prompts"), std::string::npos) << r.output;
  const auto ref = testing::run_python_tool("geneval_summary_ref.py", {dir.file("results.jsonl"), "--out", dir.file("ref.json")});
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  const auto ours = config::load_json_file(dir.file("s.json"));
  const auto theirs = config::load_json_file(dir.file("ref.json"));
  EXPECT_EQ(ours["images"], theirs["images"]);
  EXPECT_EQ(ours["prompts"], theirs["prompts"]);
  EXPECT_EQ(theirs["prompts"].get<int64_t>(), 4);
  EXPECT_DOUBLE_EQ(ours["overall"].get<double>(), theirs["overall"].get<double>());
  EXPECT_DOUBLE_EQ(ours["correct_images"].get<double>(), theirs["correct_images"].get<double>());
  EXPECT_DOUBLE_EQ(ours["correct_prompts"].get<double>(), theirs["correct_prompts"].get<double>());
  EXPECT_EQ(ours["tags"].dump(), theirs["tags"].dump());  // same tags, same order, same scores
  EXPECT_DOUBLE_EQ(ours["tags"][prompts[0].tag].get<double>(), 2.0 / 4);
  EXPECT_TRUE(theirs["metadata_parses"].get<bool>());
  EXPECT_TRUE(theirs["details_parse"].get<bool>());
  EXPECT_TRUE(theirs["python_dumps_equal"].get<bool>());
  // And sgt reads the file back (as the official evaluator's output) to the same summary.
  const auto back = geneval_summary_json(summarize_geneval_results_file(dir.file("results.jsonl")));
  EXPECT_EQ(back.dump(), nlohmann::ordered_json(ours).dump());
  std::ifstream md(dir.file("s.md"));
  EXPECT_NE(std::string((std::istreambuf_iterator<char>(md)), {}).find("| **overall** (mean over tasks) |"),
            std::string::npos);
}

}  // namespace
}  // namespace sgt::eval
