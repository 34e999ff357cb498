#pragma once
// CV-Bench (Cambrian-1's vision-centric benchmark, spec-sgt-data-eval.md §4): the official test.jsonl + img/ tree,
// the BAGEL-style prompt, Cambrian answer extraction and the official scores. Torch-free: the model enters as a
// callback (CvBenchAnswerFn), so scoring also works on a file of precomputed answers.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image.h"

namespace sgt::eval {

struct CvBenchItem {
  int64_t idx = 0;
  std::string type;    // "2D" | "3D"
  std::string task;    // "Count", "Relation", "Depth", "Distance" (world: lower-case task names)
  std::string source;  // "ADE20K" | "COCO" | "Omni3D" (world: "world")
  std::string question, prompt, answer;  // answer: "(C)"
  std::vector<std::string> choices;
  std::string filename;  // image path relative to the dataset root, e.g. "img/2D/count/ade20k_10.png"
};

// One item from a JSON object of the official layout. `fallback_idx` / `fallback_source` fill missing fields
// (the synthetic world's .cvbench.json has neither). Throws sgt::Error naming `where` on missing/ill-typed fields.
CvBenchItem cvbench_item_from_json(const nlohmann::json& j, const std::string& where, int64_t fallback_idx = -1,
                                   const std::string& fallback_source = "");
// The official test.jsonl (one object per line). Duplicate idx values are an error.
std::vector<CvBenchItem> read_cvbench_jsonl(const std::string& path);

// "Answer with the option's letter from the given choices directly." appended to the dataset prompt on a new line
// (BAGEL's MCQ evaluators, spec §4.3).
extern const char* const kCvBenchSuffix;
std::string cvbench_prompt(const CvBenchItem& item);

// Cambrian rules (spec §4.2): the stripped prediction if it is one letter A-F; else the leftmost "X." / "X," /
// "X\n" / "(X)" with X in A-F; else "" (FAILED, counted wrong).
std::string extract_choice_letter(const std::string& prediction);
// "(C)" -> "C"; throws on anything else.
std::string answer_letter(const std::string& answer);

struct Accuracy {
  int64_t correct = 0, total = 0;
  double value() const { return total > 0 ? static_cast<double>(correct) / total : 0.0; }
};
struct CvBenchScores {
  double overall = 0;  // (acc_2d + acc_3d) / 2 (or the one present)
  double acc_2d = 0;   // mean over the 2D items' sources of per-source accuracy (official: ADE20K, COCO)
  double acc_3d = 0;   // mean over the 3D items' sources (official: Omni3D)
  Accuracy all, failed, missing;  // failed: no letter extracted; missing: no answer given (counted wrong)
  std::map<std::string, Accuracy> by_source, by_task, by_type;
};

// answers: idx -> raw model text. Items without an answer count as wrong (reported in `missing`).
CvBenchScores score_cvbench(const std::vector<CvBenchItem>& items, const std::map<int64_t, std::string>& answers);
nlohmann::ordered_json cvbench_scores_json(const CvBenchScores& s);
std::string cvbench_table(const CvBenchScores& s);  // printable, one metric a line

// answers.jsonl: one {"idx": int, "answer": "raw text"} a line.
std::map<int64_t, std::string> read_cvbench_answers(const std::string& path);
void write_cvbench_answers(const std::string& path, const std::map<int64_t, std::string>& answers);

// The model hook: image + full prompt (cvbench_prompt) -> raw answer text (greedy decoding in the caller).
using CvBenchAnswerFn = std::function<std::string(const data::Image& image, const std::string& prompt)>;
// Loads each item's image from root/filename (RGB) and asks `answer`; returns idx -> raw text.
std::map<int64_t, std::string> run_cvbench(const std::vector<CvBenchItem>& items, const std::string& root,
                                           const CvBenchAnswerFn& answer);

}  // namespace sgt::eval
