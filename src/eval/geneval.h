#pragma once
// GenEval (djghosh13/geneval, docs/eval.md, "GenEval"): prompt metadata, the official output folder layout, and
// the official per-image decision and summary applied to detections given as JSONL. Torch-free: the image
// generator enters as a callback; detection (Mask2Former + CLIP colour) runs out of process (docs/eval.md) or,
// for the synthetic world, through eval/world_bench.h.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image.h"

namespace sgt::eval {

struct GenEvalRequirement {
  std::string cls;    // "class"
  int64_t count = 1;
  std::string color;  // "" = no colour requirement
  std::string relation;  // "" | "left of" | "right of" | "above" | "below"
  int64_t relation_index = -1;  // index in `include` of the reference group
};
struct GenEvalPrompt {
  std::string tag, prompt;
  std::vector<GenEvalRequirement> include, exclude;
  nlohmann::ordered_json raw;  // the metadata line as read (written back verbatim into metadata.jsonl)
};

GenEvalPrompt geneval_prompt_from_json(const nlohmann::ordered_json& j, const std::string& where);
std::vector<GenEvalPrompt> read_geneval_metadata(const std::string& path);  // evaluation_metadata*.jsonl

// The generator hook: (prompt, seed) -> RGB image.
using GenEvalGenerateFn = std::function<data::Image(const std::string& prompt, uint64_t seed)>;
// Writes <out>/<NNNNN>/metadata.jsonl and <out>/<NNNNN>/samples/<NNNN>.png for every prompt, `images_per_prompt`
// images each. Seeds: seed + image index, the same for every prompt (SGT's run_geneval.sh resets the seed per
// prompt). Existing sample files are kept (resumable). Returns the number of images generated.
int64_t write_geneval_folder(const std::string& out, const std::vector<GenEvalPrompt>& prompts,
                             int64_t images_per_prompt, uint64_t seed, const GenEvalGenerateFn& generate);

struct GenEvalDetection {
  std::string cls;
  double score = 0;
  std::array<double, 4> box{};  // x1, y1, x2, y2 (pixels)
  std::string color;            // CLIP colour label of the masked crop; "" = not classified
};
struct GenEvalOptions {
  double threshold = 0.3, counting_threshold = 0.9;
  int64_t max_objects = 16;
  double max_overlap = 1.0;  // NMS IoU threshold; 1.0 = off (official default)
  double position_threshold = 0.1;
};

// Relations of box A relative to box B (official relative_position): subset of {left of, right of, above, below}.
std::vector<std::string> relative_position(const std::array<double, 4>& a, const std::array<double, 4>& b,
                                           double position_threshold = 0.1);
struct GenEvalDecision {
  bool correct = false;
  std::string reason;   // lines joined by "\n", as the official evaluator writes them
  std::string details;  // the kept detections as results.jsonl's "details": {"class": [[x1, y1, x2, y2, score]]}
};
// The official evaluate_image(): threshold, top-k, optional NMS, then include / exclude rules.
GenEvalDecision geneval_decide(const std::vector<GenEvalDetection>& detections, const GenEvalPrompt& prompt,
                               const GenEvalOptions& opt = {});

struct GenEvalImageResult {
  std::string filename, tag, prompt;
  std::string metadata;  // the prompt's metadata as results.jsonl holds it: a JSON text (python_json_dumps)
  int64_t prompt_index = -1;
  GenEvalDecision decision;
};
// Python's json.dumps(value) with its defaults (", " and ": " separators, non-ASCII as \uXXXX): how the official
// evaluator writes each image's "metadata" string, which summary_scores.py groups prompts by.
std::string python_json_dumps(const nlohmann::ordered_json& value);
// One line of the official results.jsonl (evaluate_images.py): filename, tag, prompt, correct, reason, metadata,
// details, in that order; summary_scores.py reads a file of these unchanged.
nlohmann::ordered_json geneval_result_json(const GenEvalImageResult& r);
// detections.jsonl: one line per image {"filename": ".../<NNNNN>/samples/<NNNN>.png", "detections": [{"class",
// "score", "box": [x1, y1, x2, y2], "color"?}]}, optional "metadata" (else taken from prompts[NNNNN]).
std::vector<GenEvalImageResult> score_geneval_detections(const std::string& detections_jsonl,
                                                         const std::vector<GenEvalPrompt>& prompts,
                                                         const GenEvalOptions& opt = {});

struct GenEvalSummary {
  std::vector<std::pair<std::string, double>> tag_scores;  // in order of first appearance
  double overall = 0;          // unweighted mean of the tag scores
  double correct_images = 0;   // share of correct images
  double correct_prompts = 0;  // share of prompts with at least one correct image
  int64_t images = 0, prompts = 0;
};
GenEvalSummary summarize_geneval(const std::vector<GenEvalImageResult>& results);
// Reads the official evaluator's results.jsonl (fields filename, tag, prompt, correct, metadata) and summarises it
// as summary_scores.py does: prompts are told apart by their metadata string (else by their folder).
GenEvalSummary summarize_geneval_results_file(const std::string& results_jsonl);
nlohmann::ordered_json geneval_summary_json(const GenEvalSummary& s);
std::string geneval_table(const GenEvalSummary& s);
std::string geneval_markdown(const GenEvalSummary& s);

}  // namespace sgt::eval
