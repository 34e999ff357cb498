// `sgt eval pope`: POPE object-hallucination scores (eval/pope.h) from answer files, or from a model answering the
// questions first (infer::make_understand_fn, greedy); docs/eval.md "POPE".
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include "cli/commands.h"
#include "cli/eval.h"
#include "cli/infer_args.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/pope.h"

namespace sgt::cli {
namespace fs = std::filesystem;
namespace {

struct PopeArgs {
  std::vector<std::string> questions, splits, labels, answers;
  std::string images, out, markdown, answers_out;
  infer::ModelArgs model;  // optional: answer with the model instead of reading --answers
  UnderstandArgs und;      // with a model: decoding and ViT size
};

struct QuestionFile {
  std::string path;
  std::set<std::string> splits;
};

std::vector<eval::PopeAnswer> answer_with_model(const PopeArgs& a, const std::vector<eval::PopeItem>& items) {
  SGT_CHECK(a.answers.empty(), "eval", "give either --answers or a model (--model / --config), not both");
  SGT_CHECK(!a.answers_out.empty(), "eval", "answering with a model needs --answers-out (answers JSONL)");
  std::string root = !a.images.empty() ? a.images : fs::path(a.questions[0]).parent_path().string();
  if (root.empty()) root = ".";
  eval::check_pope_images(items, root);  // before the (slow) model load
  auto answer = make_benchmark_understand_fn(a.model, a.und);
  std::unique_ptr<Progress> bar;
  if (a.model.progress) bar = std::make_unique<Progress>("pope", static_cast<int64_t>(items.size()), "q");
  auto answers = eval::run_pope(items, root, [&](const data::Image& img, const std::string& p) {
    std::string s = answer(img, p);
    if (bar) bar->advance(1);
    return s;
  });
  if (bar) bar->finish();
  eval::write_pope_answers(a.answers_out, items, answers);
  std::printf("wrote %s (%zu answers)\n", a.answers_out.c_str(), answers.size());
  return answers;
}

// One answers file for all questions (ids matched within a split by the lines' `category`, else by id alone), or
// one per --questions file in the same order (BAGEL writes one per split): then a file answering a single-split
// question file gets that split.
std::vector<eval::PopeAnswer> read_answers(const PopeArgs& a, const std::vector<QuestionFile>& files) {
  SGT_CHECK(a.answers.size() == 1 || a.answers.size() == files.size(), "eval",
            "give one --answers file, or one per --questions file ({} --questions, {} --answers)", files.size(),
            a.answers.size());
  std::vector<eval::PopeAnswer> all;
  for (size_t k = 0; k < a.answers.size(); ++k) {
    const bool paired = a.answers.size() == files.size() && files[k].splits.size() == 1;
    auto part = eval::read_pope_answers(a.answers[k], paired ? *files[k].splits.begin() : "");
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

void run_pope(const PopeArgs& a) {
  SGT_CHECK(a.splits.empty() || a.splits.size() == a.questions.size(), "eval",
            "give --split once per --questions file or not at all ({} --questions, {} --split)", a.questions.size(),
            a.splits.size());
  std::vector<eval::PopeItem> items;
  std::vector<QuestionFile> files;
  bool unlabelled = false;
  for (size_t k = 0; k < a.questions.size(); ++k) {
    auto part = eval::read_pope_questions(a.questions[k], a.splits.empty() ? "" : a.splits[k]);
    QuestionFile f{a.questions[k], {}};
    for (const auto& it : part) {
      f.splits.insert(it.split);
      unlabelled = unlabelled || it.label < 0;
    }
    files.push_back(std::move(f));
    items.insert(items.end(), part.begin(), part.end());
  }
  if (unlabelled) {
    SGT_CHECK(!a.labels.empty(), "eval",
              "the questions carry no labels (LLaVA's llava_pope_test.jsonl): give --labels coco_pope_<split>.json");
    std::vector<eval::PopeItem> labelled;
    for (const std::string& path : a.labels) {
      auto part = eval::read_pope_questions(path);
      labelled.insert(labelled.end(), part.begin(), part.end());
    }
    eval::attach_pope_labels(items, labelled);
  }
  if (!has_model(a.model))
    SGT_CHECK(!a.answers.empty(), "eval", "give --answers (answers JSONL / JSON list) or a model (--model / --config)");
  const auto answers = has_model(a.model) ? answer_with_model(a, items) : read_answers(a, files);
  const auto s = eval::score_pope(items, answers);
  std::fputs(eval::pope_table(s).c_str(), stdout);
  write_json_out(a.out, eval::pope_summary_json(s));
  write_markdown_out(a.markdown, eval::pope_markdown(s));
}

}  // namespace

void register_eval_pope(CLI::App& app) {
  auto a = std::make_shared<PopeArgs>();
  auto* cmd = eval_command(app)->add_subcommand(
      "pope", "POPE object hallucination: score yes/no answers per split (random, popular, adversarial), or answer "
              "with a model first");
  cmd->add_option("--questions", a->questions,
                  "question file, repeatable: coco_pope_<split>.json (JSON Lines) or LLaVA's llava_pope_test.jsonl")
      ->required();
  cmd->add_option("--split", a->splits,
                  "split of each --questions file, in order (default: its 'category' field or file name)");
  cmd->add_option("--labels", a->labels, "labelled coco_pope_<split>.json for question files without labels");
  cmd->add_option("--images", a->images, "image root (default: the folder of the first --questions)");
  cmd->add_option("--answers", a->answers,
                  "answers (JSONL or JSON list of {question_id, text}): one file, or one per --questions in order");
  add_optional_model_options(cmd, a->model);
  cmd->add_option("--answers-out", a->answers_out, "with a model: write the answers here (LLaVA's JSONL)");
  add_understand_options(cmd, a->und);
  cmd->add_option("--out", a->out, "summary JSON");
  cmd->add_option("--markdown", a->markdown, "summary Markdown");
  cmd->callback([a] { run_pope(*a); });
}

}  // namespace sgt::cli
