#pragma once
// CV-Bench (Cambrian-1's vision-centric benchmark, docs/eval.md "CV-Bench"): the release's test_2d / test_3d files
// (parquet with the images inside, or JSONL beside an img/ tree; the older test.jsonl + img/ too), the prompt,
// Cambrian's answer extraction (cambrian-mllm/cambrian eval/eval/{ade,coco,omni}/*_test.py, extract_mcq_answer)
// and the dataset card's scores. Torch-free: the model enters as a callback (CvBenchAnswerFn), so scoring also works
// on a file of precomputed answers.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
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
  std::vector<uint8_t> image_bytes;  // the encoded image when the file carries it (parquet); else read filename
  std::string file;                  // the questions file it came from (for messages)
};

// One item from a JSON object of the official layout. `fallback_idx` / `fallback_source` fill missing fields
// (the synthetic world's .cvbench.json has neither). Throws sgt::Error naming `where` on missing/ill-typed fields.
CvBenchItem cvbench_item_from_json(const nlohmann::json& j, const std::string& where, int64_t fallback_idx = -1,
                                   const std::string& fallback_source = "");
// The official test.jsonl / test_2d.jsonl (one object per line). Duplicate idx values are an error.
std::vector<CvBenchItem> read_cvbench_jsonl(const std::string& path);
// The release's parquet (test_2d.parquet, test_3d.parquet, or the older test.parquet): the same fields, the image
// as an HF Image struct {bytes, path} whose bytes are kept in the item.
std::vector<CvBenchItem> read_cvbench_parquet(const std::string& path);
// Any mix of the above (the format from the file's content), in order; an idx in two files is an error naming both.
std::vector<CvBenchItem> read_cvbench_files(const std::vector<std::string>& paths);

// "Answer with the option's letter from the given choices directly." appended to the dataset prompt on a new line:
// Cambrian's question_extension default (eval/eval/ade/ade_eval.py), also the suffix of BAGEL's multiple-choice
// evaluators (eval/vlm/eval/mmbench). The dataset prompt already lists the choices as "(A) ...".
extern const char* const kCvBenchSuffix;
std::string cvbench_prompt(const CvBenchItem& item);

// Cambrian's extract_mcq_answer, with Python's string semantics: lower-case; for each of "answer is",
// "answer is:", "answer:" in turn, keep what follows its last occurrence; strip whitespace (Python's set, Unicode
// included); strip trailing '.' (Omni3D: trailing '.', ':' and ','), one run of leading '(' and trailing ')'; then
// keep the first character (code point) when more than one is left. "a", "Answer: B" and "D) 2" give "a", "b",
// "d". `omni` selects omni_test.py's variant.
std::string cambrian_extract(const std::string& prediction, bool omni);
// Cambrian's decision: the extraction equals the answer's letter, lower-cased ("(C)" -> "c"); for Omni3D items
// (omni_test.py) the choice text of the right answer also counts. 3D items use the Omni3D rules.
bool cambrian_correct(const CvBenchItem& item, const std::string& prediction);
// "(C)" -> "C"; throws on anything else.
std::string answer_letter(const std::string& answer);

struct Accuracy {
  int64_t correct = 0, total = 0;
  double value() const { return total > 0 ? static_cast<double>(correct) / total : 0.0; }
};
struct CvBenchScores {
  // The dataset card's combination: acc_2D = mean(acc_ADE20K, acc_COCO), acc_3D = acc_Omni3D, overall = their
  // mean. Each is present only when its items were run (a 2D-only run has no 3D and no overall score).
  std::optional<double> overall, acc_2d, acc_3d;
  Accuracy all, failed, missing;  // failed: the extraction is no option letter; missing: no answer (counted wrong)
  std::map<std::string, Accuracy> by_source, by_task, by_type;
};

// answers: idx -> raw model text. Items without an answer count as wrong (reported in `missing`).
CvBenchScores score_cvbench(const std::vector<CvBenchItem>& items, const std::map<int64_t, std::string>& answers);
nlohmann::ordered_json cvbench_scores_json(const CvBenchScores& s);
std::string cvbench_table(const CvBenchScores& s);     // printable, one metric a line
std::string cvbench_markdown(const CvBenchScores& s);  // the same as a Markdown report

// answers.jsonl: one {"idx": int, "answer": "raw text"} a line.
std::map<int64_t, std::string> read_cvbench_answers(const std::string& path);
void write_cvbench_answers(const std::string& path, const std::map<int64_t, std::string>& answers);

// The model hook: image + full prompt (cvbench_prompt) -> raw answer text (greedy decoding in the caller).
using CvBenchAnswerFn = std::function<std::string(const data::Image& image, const std::string& prompt)>;
// Decodes each item's image (its bytes, else root/filename; RGB) and asks `answer`; returns idx -> raw text.
// `progress` (optional) is called after each item.
std::map<int64_t, std::string> run_cvbench(const std::vector<CvBenchItem>& items, const std::string& root,
                                           const CvBenchAnswerFn& answer);

}  // namespace sgt::eval
