// POPE: the answer parsing and scores against tools/pope_ref.py (the official scripts' rules, pairing by
// position) on tricky answers, a hand-computed case, every bad input, the synthetic world's POPE splits and
// `sgt eval pope` end to end on them.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/image.h"
#include "data/world.h"
#include "eval/pope.h"
#include "eval/world_pope.h"
#include "testing/testing.h"

namespace sgt::eval {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

std::string jsonl(const std::vector<json>& rows) {
  std::string out;
  for (const json& r : rows) out += r.dump() + "\n";
  return out;
}

// Runs fn, expecting an sgt::Error whose message holds every one of `parts`.
template <class F>
void expect_error(F&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << parts[0];
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// Hand-built answers meant to trip a parser: case, punctuation, white space other than ' ', the first sentence.
const std::vector<std::string> kTricky = {
    "No.", "NO", "not sure", "Yes, there is", "no,", "There is no dog.", "", "Nope", "No\n", "Yes.\n", "Yes", "yes",
    "No, there is not.", "no.", "The answer is no", "Not at all", "1. No", "No\tthere", " no", "no  ",
    "I do not know.", "Yes. No.", "There is a dog, not a cat.", "no\n", "nO", "No,there", "It's not.", "Yes\nNo",
    "No\xe2\x80\xa6"};

TEST(Pope, ParsingAndScoresMatchTheReference) {
  testing::TempDir dir("pope-ref");
  const std::vector<std::string> splits = {"random", "popular", "adversarial"};
  std::vector<PopeItem> items;
  std::vector<PopeAnswer> answers;
  std::vector<std::string> ref_args = {dir.file("ref.json")};
  for (size_t k = 0; k < splits.size(); ++k) {
    std::vector<json> q, a;
    for (size_t i = 0; i < kTricky.size(); ++i) {
      // Three label patterns: alternating, two yes in three, all yes (then fp = tn = 0).
      const bool yes = k == 0 ? i % 2 == 0 : k == 1 ? i % 3 != 0 : true;
      const int64_t id = static_cast<int64_t>(100 * k + 7 * i + 1);
      const std::string text = k == 1 ? kTricky[kTricky.size() - 1 - i] : kTricky[i];
      q.push_back({{"question_id", id}, {"image", fmt::format("COCO_val2014_{:012d}.jpg", i / 6)},
                   {"text", "Is there a dog in the image?"}, {"label", yes ? "yes" : "no"}});
      a.push_back({{"question_id", id}, {"prompt", "p"}, {"text", text}, {"model_id", "m"}});
    }
    const std::string qf = dir.file("coco_pope_" + splits[k] + ".json");
    const std::string af = dir.file("answers_" + splits[k] + (k == 1 ? ".json" : ".jsonl"));
    write_text(qf, jsonl(q));
    write_text(af, k == 1 ? json(a).dump(1) : jsonl(a));  // popular as BAGEL's JSON list
    const auto qi = read_pope_questions(qf);
    const auto ai = read_pope_answers(af, splits[k]);
    ASSERT_EQ(qi.size(), kTricky.size());
    ASSERT_EQ(ai.size(), kTricky.size());
    EXPECT_EQ(qi[0].split, splits[k]);
    items.insert(items.end(), qi.begin(), qi.end());
    answers.insert(answers.end(), ai.begin(), ai.end());
    ref_args.push_back(qf);
    ref_args.push_back(af);
  }
  const auto r = testing::run_python_tool("pope_ref.py", ref_args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json ref = read_json(dir.file("ref.json"));

  const PopeSummary s = score_pope(items, answers);
  ASSERT_EQ(s.splits.size(), 3u);
  for (const PopeMetrics& m : s.splits) {
    SCOPED_TRACE(m.split);
    const json& e = ref["splits"][m.split];
    const size_t k = std::find(splits.begin(), splits.end(), m.split) - splits.begin();
    for (size_t i = 0; i < kTricky.size(); ++i) {
      const std::string& text = k == 1 ? kTricky[kTricky.size() - 1 - i] : kTricky[i];
      EXPECT_EQ(pope_parse_answer(text), e["parsed"][i].get<bool>()) << json(text).dump();
    }
    EXPECT_EQ(m.counts.tp, e["tp"]);
    EXPECT_EQ(m.counts.fp, e["fp"]);
    EXPECT_EQ(m.counts.tn, e["tn"]);
    EXPECT_EQ(m.counts.fn, e["fn"]);
    EXPECT_EQ(m.counts.missing, 0);
    EXPECT_DOUBLE_EQ(m.precision, e["precision"].get<double>());
    EXPECT_DOUBLE_EQ(m.recall, e["recall"].get<double>());
    EXPECT_DOUBLE_EQ(m.f1, e["f1"].get<double>());
    EXPECT_DOUBLE_EQ(m.accuracy, e["accuracy"].get<double>());
    EXPECT_DOUBLE_EQ(m.yes_ratio, e["yes_ratio"].get<double>());
  }
  EXPECT_DOUBLE_EQ(s.mean_f1, ref["mean_f1"].get<double>());
  EXPECT_DOUBLE_EQ(s.mean_accuracy, ref["mean_accuracy"].get<double>());
  // Pairing is by (split, id), not position: shuffled answers score the same.
  std::vector<PopeAnswer> shuffled(answers.rbegin(), answers.rend());
  EXPECT_EQ(pope_summary_json(score_pope(items, shuffled)), pope_summary_json(s));
}

TEST(Pope, HandComputedCaseAndBadInputs) {
  testing::TempDir dir("pope-hand");
  // random: labels y y y n n n, answers TP, FN, TP, TN, FP and one missing (label no -> counted as FP).
  // popular: everything answered "no" -> no positive prediction, precision 0 by definition.
  std::vector<PopeItem> items;
  const int labels[8] = {1, 1, 1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 8; ++i)
    items.push_back({i + 1, i < 6 ? "random" : "popular", "a.jpg", "Is there a cat in the image?", labels[i]});
  const std::vector<PopeAnswer> answers = {{1, "random", "Yes", ""},          {2, "random", "No", ""},
                                           {3, "", "yes", ""},                {4, "random", "No.", ""},
                                           {5, "random", "Yes, it is.", ""}, {7, "popular", "no", ""},
                                           {8, "popular", "No", ""}};
  const PopeSummary s = score_pope(items, answers);
  ASSERT_EQ(s.splits.size(), 2u);
  const PopeMetrics& r = s.splits[0];
  EXPECT_EQ(r.split, "random");
  EXPECT_EQ(r.counts.tp, 2);
  EXPECT_EQ(r.counts.fn, 1);
  EXPECT_EQ(r.counts.tn, 1);
  EXPECT_EQ(r.counts.fp, 2);
  EXPECT_EQ(r.counts.missing, 1);
  EXPECT_DOUBLE_EQ(r.precision, 0.5);
  EXPECT_DOUBLE_EQ(r.recall, 2.0 / 3.0);
  EXPECT_NEAR(r.f1, 4.0 / 7.0, 1e-15);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r.yes_ratio, 4.0 / 6.0);
  const PopeMetrics& p = s.splits[1];
  EXPECT_EQ(p.split, "popular");
  EXPECT_EQ(p.counts.tn, 1);
  EXPECT_EQ(p.counts.fn, 1);
  EXPECT_EQ(p.precision, 0.0);
  EXPECT_EQ(p.recall, 0.0);
  EXPECT_EQ(p.f1, 0.0);
  EXPECT_DOUBLE_EQ(p.accuracy, 0.5);
  EXPECT_EQ(p.yes_ratio, 0.0);
  EXPECT_NEAR(s.mean_f1, 2.0 / 7.0, 1e-15);
  EXPECT_DOUBLE_EQ(s.mean_accuracy, 0.5);
  EXPECT_EQ(s.missing, 1);
  const auto j = pope_summary_json(s);
  EXPECT_EQ(j["splits"]["random"]["missing"], 1);
  EXPECT_NE(pope_table(s).find("random"), std::string::npos);
  EXPECT_NE(pope_markdown(s).find("| popular | 2 | 50.00 | 0.00 | 0.00 | 0.00 | 0.00 | 0 |"), std::string::npos)
      << pope_markdown(s);

  // The prompt suffix is appended once.
  EXPECT_EQ(pope_prompt("Is there a cat in the image?"), std::string("Is there a cat in the image?") + kPopeSuffix);
  EXPECT_EQ(pope_prompt(pope_prompt("Q?")), pope_prompt("Q?"));

  // LLaVA's combined file: split from `category`, prompt suffix in `text`, labels from the coco_pope files.
  const std::string labelled = dir.file("coco_pope_adversarial.json");
  write_text(labelled, jsonl({{{"question_id", 1}, {"image", "x.jpg"}, {"text", "Is there a cat in the image?"},
                               {"label", "no"}},
                              {{"question_id", 2}, {"image", "x.jpg"}, {"text", "Is there a dog in the image?"},
                               {"label", "yes"}}}));
  const std::string combined = dir.file("llava_pope_test.jsonl");
  write_text(combined, jsonl({{{"question_id", 9001}, {"image", "x.jpg"},
                               {"text", std::string("Is there a dog in the image?") + kPopeSuffix},
                               {"category", "adversarial"}}}));
  auto llava = read_pope_questions(combined);
  ASSERT_EQ(llava.size(), 1u);
  EXPECT_EQ(llava[0].split, "adversarial");
  EXPECT_EQ(llava[0].label, -1);
  expect_error([&] { score_pope(llava, {}); }, {"[pope]", "no label"});
  attach_pope_labels(llava, read_pope_questions(labelled));
  EXPECT_EQ(llava[0].label, 1);
  EXPECT_EQ(pope_prompt(llava[0].question), llava[0].question);

  // Bad input: each one clear error naming the file (and line) or the question.
  auto bad = [&](const std::string& name, const std::string& text) {
    write_text(dir.file(name), text);
    return dir.file(name);
  };
  const std::string q1 = R"({"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "yes"})";
  const std::string dup = bad("coco_pope_random.json", q1 + "\n" + q1 + "\n");
  expect_error([&] { read_pope_questions(dup); }, {"[pope]", dup + ":2", "duplicate question_id 1"});
  const std::string unknown = bad("coco_pope_frequent.json", q1 + "\n");
  expect_error([&] { read_pope_questions(unknown); }, {unknown + ":1", "unknown split 'frequent'"});
  expect_error([&] { read_pope_questions(dup, "hard"); }, {"unknown split 'hard'"});
  const std::string nosplit = bad("questions.jsonl", q1 + "\n");
  expect_error([&] { read_pope_questions(nosplit); }, {nosplit + ":1", "no split"});
  EXPECT_EQ(read_pope_questions(nosplit, "popular")[0].split, "popular");
  const std::string label = bad("coco_pope_popular.json", q1 + "\n" + R"({"question_id": 2, "image": "a.jpg",)" +
                                                              R"( "text": "Q", "label": "Yes"})" + "\n");
  expect_error([&] { read_pope_questions(label); }, {label + ":2", "label 'Yes'"});
  const std::string broken = bad("coco_pope_adversarial.json", q1 + "\n{\"question_id\": 2, \"image\"\n");
  expect_error([&] { read_pope_questions(broken); }, {broken + ":2", "malformed JSON"});
  const std::string broken_list = bad("answers.json", R"([{"question_id": 1, "text": "Yes"},])");
  expect_error([&] { read_pope_answers(broken_list); }, {broken_list, "malformed JSON"});
  const std::string dup_answer = bad("dup_answers.jsonl", "{\"question_id\": 3, \"text\": \"no\"}\n"
                                                          "{\"question_id\": 3, \"text\": \"yes\"}\n");
  expect_error([&] { read_pope_answers(dup_answer); }, {dup_answer + ":2", "duplicate answer for question_id 3"});
  const std::string stranger = bad("stranger.jsonl", "{\"question_id\": 42, \"text\": \"no\"}\n");
  expect_error([&] { score_pope(items, read_pope_answers(stranger)); }, {stranger + ":1", "unknown question_id 42"});
  std::vector<PopeItem> twice = items;
  twice.push_back({1, "popular", "a.jpg", "Q", 1});  // id 1 now in two splits: an answer must say which
  expect_error([&] { score_pope(twice, {{1, "", "yes", "a.jsonl:1"}}); }, {"a.jsonl:1", "in 2 splits"});
  expect_error([&] { score_pope(items, {{1, "random", "yes", ""}, {1, "", "no", "b:2"}}); }, {"b:2", "second answer"});
  // A missing image stops the run before the model is asked anything.
  int calls = 0;
  const PopeAnswerFn count_calls = [&](const data::Image&, const std::string&) { return ++calls, std::string("y"); };
  expect_error([&] { run_pope(items, dir.path(), count_calls); }, {"[pope]", "image a.jpg", dir.path()});
  EXPECT_EQ(calls, 0);
  // With the image there: every item answered, the image decoded as RGB, the prompt carrying the suffix.
  data::Image gray(5, 4, 1);
  data::write_png(dir.file("a.jpg"), gray);  // the reader goes by content, not the suffix
  const auto got = run_pope(items, dir.path(), [&](const data::Image& im, const std::string& prompt) {
    EXPECT_EQ(im.channels, 3);
    EXPECT_EQ(prompt, pope_prompt("Is there a cat in the image?"));
    return std::string(++calls % 2 ? "Yes" : "No");
  });
  ASSERT_EQ(got.size(), items.size());
  EXPECT_EQ(got[6].split, "popular");
  write_pope_answers(dir.file("out.jsonl"), items, got, "tiny");
  const auto back = read_pope_answers(dir.file("out.jsonl"));
  ASSERT_EQ(back.size(), items.size());
  EXPECT_EQ(back[6].split, "popular");  // the `category` field written for LLaVA's layout
  EXPECT_EQ(back[1].text, "No");
  EXPECT_EQ(pope_summary_json(score_pope(items, back)), pope_summary_json(score_pope(items, got)));
}

std::vector<std::string> heldout_shards(const std::string& root) {
  std::vector<std::string> shards;
  for (const auto& f : fs::directory_iterator(root + "/heldout")) shards.push_back(f.path().string());
  std::sort(shards.begin(), shards.end());
  return shards;
}

TEST(Pope, WorldSplitsFollowThePaperAndRoundTrip) {
  testing::TempDir dir("pope-world");
  data::WorldConfig cfg;
  cfg.seed = 3;
  cfg.train = 1;
  cfg.heldout = 40;
  cfg.max_side = 128;
  data::write_world(dir.path(), cfg, 2);
  const WorldPopeSource src = read_world_pope_scenes(heldout_shards(dir.path()), true);
  ASSERT_EQ(src.scenes.size(), 40u);
  const auto items = make_world_pope(src.scenes, 7);
  const auto again = make_world_pope(src.scenes, 7), other = make_world_pope(src.scenes, 8);
  ASSERT_EQ(again.size(), items.size());
  bool differs = false;
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(again[i].question, items[i].question);
    differs = differs || other[i].question != items[i].question;
  }
  EXPECT_TRUE(differs) << "the seed should change the random negatives";

  // Independent bookkeeping from the scene list: class of each question, frequency, co-occurrence.
  std::map<std::string, std::string> class_of;
  for (const std::string& c : world_pope_classes()) class_of[world_pope_question(c)] = c;
  EXPECT_EQ(class_of.size(), 50u);
  EXPECT_EQ(world_pope_question("orange circle"), "Is there an orange circle in the image?");
  std::map<std::string, std::set<std::string>> present;
  std::map<std::string, int64_t> freq;
  std::map<std::pair<std::string, std::string>, int64_t> cooc;
  for (const auto& s : src.scenes) {
    present[s.key + ".jpg"] = {s.classes.begin(), s.classes.end()};
    for (const auto& a : s.classes) {
      ++freq[a];
      for (const auto& b : s.classes) cooc[{a, b}] += a != b;
    }
  }
  // Per split and image: yes questions = the present classes; as many no questions, all absent, and (popular,
  // adversarial) none of the absent classes left out scores higher than one taken.
  std::map<std::string, std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>>> asked;
  for (const PopeItem& it : items) {
    ASSERT_TRUE(class_of.count(it.question)) << it.question;
    auto& [yes, no] = asked[it.split][it.image];
    (it.label == 1 ? yes : no).insert(class_of[it.question]);
  }
  ASSERT_EQ(asked.size(), 3u);
  for (const auto& [split, per_image] : asked) {
    SCOPED_TRACE(split);
    int64_t n_yes = 0, n_no = 0;
    for (const auto& [image, yn] : per_image) {
      const auto& have = present.at(image);
      EXPECT_EQ(yn.first, have);
      EXPECT_EQ(yn.second.size(), have.size());
      n_yes += static_cast<int64_t>(yn.first.size());
      n_no += static_cast<int64_t>(yn.second.size());
      auto score = [&](const std::string& c) {
        if (split == "popular") return freq.count(c) ? freq.at(c) : 0;
        int64_t sum = 0;
        for (const auto& p : have) sum += cooc.count({p, c}) ? cooc.at({p, c}) : 0;
        return sum;
      };
      int64_t lowest_taken = INT64_MAX, highest_left = -1;
      for (const auto& c : world_pope_classes()) {
        if (have.count(c)) continue;
        if (yn.second.count(c)) lowest_taken = std::min(lowest_taken, score(c));
        else highest_left = std::max(highest_left, score(c));
      }
      for (const auto& c : yn.second) EXPECT_FALSE(have.count(c)) << c << " asked as absent in " << image;
      if (split != "random") {
        EXPECT_GE(lowest_taken, highest_left) << image;
      }
    }
    EXPECT_EQ(n_yes, n_no);
    EXPECT_GT(n_yes, 40);
  }

  // Export in the official format and read it back.
  export_world_pope(items, src.jpeg, dir.file("pope"));
  std::vector<PopeItem> back;
  for (const std::string& split : pope_splits()) {
    auto part = read_pope_questions(dir.file("pope/coco_pope_" + split + ".json"));
    EXPECT_EQ(part[0].question_id, 1);
    back.insert(back.end(), part.begin(), part.end());
  }
  ASSERT_EQ(back.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(back[i].question_id, items[i].question_id);
    EXPECT_EQ(back[i].split, items[i].split);
    EXPECT_EQ(back[i].image, items[i].image);
    EXPECT_EQ(back[i].question, items[i].question);
    EXPECT_EQ(back[i].label, items[i].label);
  }
  const data::Image im = data::read_image(dir.file("pope/" + items[0].image));
  EXPECT_GT(im.width, 0);
  expect_error([&] { export_world_pope(items, {}, dir.file("none")); }, {"[world_pope]", items[0].image});
}

TEST(Pope, CliEndToEndOnTheWorld) {
  testing::TempDir dir("pope-cli");
  data::WorldConfig cfg;
  cfg.seed = 9;
  cfg.train = 1;
  cfg.heldout = 12;
  cfg.max_side = 112;
  data::write_world(dir.path(), cfg, 2);
  const std::string sgt = testing::shell_quote(testing::binary_dir() + "/bin/sgt");
  std::string shards;
  for (const auto& s : heldout_shards(dir.path())) shards += " " + testing::shell_quote(s);
  const std::string pope = dir.file("pope");
  auto r = testing::run_command(sgt + " eval world --shards" + shards + " --export-pope " + pope + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = testing::run_command(sgt + " eval world --shards" + shards + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--export-pope"), std::string::npos) << r.output;

  // Answers per split: the truth, except every 4th flipped and the split's last question left unanswered.
  std::string questions, answer_files;
  std::vector<PopeItem> items;
  std::vector<PopeAnswer> answers;
  for (const std::string& split : pope_splits()) {
    const std::string qf = pope + "/coco_pope_" + split + ".json";
    const auto part = read_pope_questions(qf);
    json list = json::array();
    for (size_t i = 0; i + 1 < part.size(); ++i) {
      const bool yes = (part[i].label == 1) != (i % 4 == 3);
      list.push_back({{"question_id", part[i].question_id}, {"text", yes ? "Yes, there is." : "No."}});
      answers.push_back({part[i].question_id, split, list.back()["text"].get<std::string>(), ""});
    }
    const std::string af = dir.file("answers_" + split + ".json");
    write_text(af, list.dump());
    questions += " --questions " + testing::shell_quote(qf);
    answer_files += " --answers " + testing::shell_quote(af);
    items.insert(items.end(), part.begin(), part.end());
  }
  r = testing::run_command(sgt + " eval pope" + questions + answer_files + " --out " + dir.file("s.json") +
                           " --markdown " + dir.file("s.md") + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("adversarial"), std::string::npos) << r.output;
  const PopeSummary want = score_pope(items, answers);
  const json got = read_json(dir.file("s.json"));
  EXPECT_EQ(got, json::parse(pope_summary_json(want).dump()));
  EXPECT_EQ(got["missing_answers"], 3);
  for (const PopeMetrics& m : want.splits) {
    // Only the flips and the missing answer are wrong.
    const int64_t n = m.counts.n(), wrong = (n - 1) / 4 + 1;
    EXPECT_EQ(m.counts.fp + m.counts.fn, wrong) << m.split;
  }
  std::ifstream md(dir.file("s.md"));
  const std::string markdown((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_EQ(markdown, pope_markdown(want));

  // One answers file without categories for three splits whose ids overlap: a clear error, no score.
  r = testing::run_command(sgt + " eval pope" + questions + " --answers " +
                           testing::shell_quote(dir.file("answers_random.json")) + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("in 3 splits"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sgt::eval
