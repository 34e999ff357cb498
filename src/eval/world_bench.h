#pragma once
// Mini CV-Bench and mini GenEval on the synthetic world (data/world.h): the held-out scenes' .cvbench.json and
// .geneval.json read into the official scorers' types, and a programmatic detector of the world's shapes, colours
// and positions that replaces Mask2Former + CLIP for generated images. Torch-free.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "eval/cvbench.h"
#include "eval/geneval.h"

namespace sgt::eval {

struct WorldDetectorOptions {
  int64_t color_tolerance = 36;  // L1 RGB distance to a world colour (world_color_rgb) for a pixel to count
  int64_t min_pixels = 20;       // smaller connected components are noise
  double min_shape_iou = 0.3;    // best template IoU below this: not a world shape
  double full_score_iou = 0.7;   // template IoU at or above this scores 1.0 (else score = IoU)
};

// Colour segmentation (nearest world colour within tolerance), 4-connected components per colour, shape by the
// best IoU among the five shape templates fitted to the component's box. One detection per component:
// class = shape name, color = world colour name, box = [x1, y1, x2, y2] pixel edges, score from the template IoU.
std::vector<GenEvalDetection> detect_world_objects(const data::Image& rgb, const WorldDetectorOptions& opt = {});
// One line of the detections JSONL that score_geneval_detections() reads.
nlohmann::ordered_json detections_json_line(const std::string& filename, const std::vector<GenEvalDetection>& dets);

struct WorldBenchmark {
  std::vector<CvBenchItem> cvbench;    // idx = running number over scenes; source = "world-2D" / "world-3D";
                                       // filename = "<key>.jpg"
  std::vector<GenEvalPrompt> geneval;  // in scene order; prompt_scene[i] = key of the scene it was drawn from
  std::vector<std::string> prompt_scene;
  std::map<std::string, std::vector<uint8_t>> jpeg;  // key -> .jpg bytes (only with keep_images)
};
// Reads the held-out shards written by data::write_world (members .jpg, .cvbench.json, .geneval.json).
WorldBenchmark read_world_benchmark(const std::vector<std::string>& shards, bool keep_images);
// Writes <dir>/test.jsonl (official CV-Bench layout) and <dir>/<key>.jpg so that run_cvbench / `sgt eval cvbench`
// can answer the world questions like the real benchmark.
void export_world_cvbench(const WorldBenchmark& wb, const std::string& dir);

// Detects objects on every sample of a GenEval-layout folder (<dir>/<NNNNN>/samples/<k>.png) and writes the
// detections JSONL; returns the number of images.
int64_t detect_world_folder(const std::string& dir, const std::string& detections_jsonl,
                            const WorldDetectorOptions& opt = {});

// Calibration: the detector + official rules on each scene's own image for the prompts drawn from it (a model
// that reproduced the scene exactly would score this).
std::vector<GenEvalImageResult> world_geneval_self_check(const WorldBenchmark& wb, const WorldDetectorOptions& opt = {});

}  // namespace sgt::eval
