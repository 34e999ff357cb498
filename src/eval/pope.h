#pragma once
// POPE (Li et al. 2023, "Evaluating Object Hallucination in Large Vision-Language Models"): yes/no questions
// "Is there a <object> in the image?" in three splits (random, popular, adversarial), the official answer parsing
// and the precision / recall / F1 / accuracy / yes-ratio scores (RUCAIBox/POPE evaluate.py, LLaVA eval_pope.py,
// BAGEL eval/vlm/eval/pope). Torch-free: the model enters as a callback (PopeAnswerFn). docs/eval.md "POPE".
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image.h"

namespace sgt::eval {

// The splits in the order of the paper's tables.
const std::vector<std::string>& pope_splits();  // random, popular, adversarial

struct PopeItem {
  int64_t question_id = 0;
  std::string split;     // random | popular | adversarial
  std::string image;     // path relative to the image root, e.g. "COCO_val2014_000000310196.jpg"
  std::string question;  // the file's `text` (LLaVA's combined file already carries kPopeSuffix)
  int label = -1;        // 1 = yes, 0 = no, -1 = not in the file (LLaVA's combined file; see attach_pope_labels)
};

// One question file, JSON Lines (the official coco_pope_<split>.json despite the suffix) or a JSON array. The split
// of a line: `split` when given (a `category` field that disagrees is an error), else its `category` field
// (LLaVA's llava_pope_test.jsonl), else the file name "<dataset>_pope_<split>.json[l]". A label other than
// "yes" / "no", a duplicate (split, question_id), an unknown split or malformed JSON throw, naming file and line.
std::vector<PopeItem> read_pope_questions(const std::string& path, const std::string& split = "");

// Gives each unlabelled item the label of the item in `labelled` with the same split, image and question (the
// question compared without kPopeSuffix and surrounding blanks); LLaVA's combined file is labelled this way from
// the coco_pope_<split>.json files. An unlabelled item with no match, or with two, throws.
void attach_pope_labels(std::vector<PopeItem>& items, const std::vector<PopeItem>& labelled);

// "\nAnswer the question using a single word or phrase." (LLaVA-1.5 / BAGEL): appended to the question for the
// model, unless the question already ends with it.
extern const char* const kPopeSuffix;
std::string pope_prompt(const std::string& question);

// The official rule: keep the text before the first '.', drop ',', split on single spaces; "no" when a word is
// exactly "No", "not" or "no" (case-sensitive, so "NO" and "no\n" read as yes), else "yes". Returns true for yes.
bool pope_parse_answer(const std::string& text);

struct PopeAnswer {
  int64_t question_id = 0;
  std::string split;  // the line's `category`, else the reader's default_split, else "" (matched by id alone)
  std::string text;   // raw model text
  std::string where;  // "file:line" (or "file[i]") for error messages; "" for answers made in memory
};
// LLaVA's answers JSONL ({question_id, text, ...} a line) or BAGEL's JSON array of the same objects; the text is
// `text`, else `answer` (the POPE repository's own answer files). Duplicates throw (naming file and line).
std::vector<PopeAnswer> read_pope_answers(const std::string& path, const std::string& default_split = "");
// LLaVA's JSONL layout: {question_id, prompt, text, category, model_id, metadata}, one line per item in `items`
// order (items without an answer are skipped).
void write_pope_answers(const std::string& path, const std::vector<PopeItem>& items,
                        const std::vector<PopeAnswer>& answers, const std::string& model_id = "sgt");

struct PopeCounts {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;  // yes is the positive class
  int64_t missing = 0;  // items without an answer; counted as the wrong prediction (label yes -> fn, no -> fp)
  int64_t n() const { return tp + fp + tn + fn; }
};
struct PopeMetrics {
  std::string split;
  PopeCounts counts;
  // A ratio whose denominator is 0 is defined as 0 (the official script divides by zero).
  double accuracy = 0, precision = 0, recall = 0, f1 = 0, yes_ratio = 0;
};
PopeMetrics pope_metrics(const std::string& split, const PopeCounts& c);

struct PopeSummary {
  std::vector<PopeMetrics> splits;  // the splits present, in pope_splits() order
  double mean_f1 = 0, mean_accuracy = 0;  // unweighted over splits (BAGEL's "Avg F1 score")
  int64_t missing = 0;
};
// Pairs answers with items by (split, question_id); an answer without a split matches the one item of that id and
// is an error when several splits hold the id. An answer for an unknown question, two answers for one question,
// or an unlabelled item throw.
PopeSummary score_pope(const std::vector<PopeItem>& items, const std::vector<PopeAnswer>& answers);
nlohmann::ordered_json pope_summary_json(const PopeSummary& s);
std::string pope_table(const PopeSummary& s);     // printable, one split a row
std::string pope_markdown(const PopeSummary& s);  // a Markdown table plus the means

// The model hook: image (RGB) + full prompt (pope_prompt) -> raw answer text (greedy decoding in the caller).
using PopeAnswerFn = std::function<std::string(const data::Image& image, const std::string& prompt)>;
// Throws naming the first item whose image root/image is not a file (so a run fails before a model is loaded).
void check_pope_images(const std::vector<PopeItem>& items, const std::string& root);
// Reads each item's image from root/image and asks `answer`; answers in item order, split set. A missing image
// throws (check_pope_images) before the model is asked anything.
std::vector<PopeAnswer> run_pope(const std::vector<PopeItem>& items, const std::string& root,
                                 const PopeAnswerFn& answer);

}  // namespace sgt::eval
