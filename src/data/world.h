#pragma once
// The synthetic world: procedurally rendered scenes of flat shapes (circle, square, triangle, diamond, hexagon) in
// GenEval colours and three sizes, at random positions and depths (nearer shapes occlude farther ones) on
// textured backgrounds. Each scene carries exact ground truth: visible instance masks (SA-1B JSON with COCO RLE),
// a depth map, a caption, CV-Bench-style multiple-choice questions (count, relation, depth order, relative
// distance) and GenEval-style prompts with their requirements. Scenes are written as webdataset tar shards with
// train and held-out splits; everything derives from the seed (same seed -> byte-identical shards).
//
// Sample members (key = "<split>_<index:08d>"):
//   .jpg           RGB image [H, W, 3]
//   .json          SA-1B-style {"image": {...}, "annotations": [{"segmentation": {"size", "counts"}, ...}]}
//   .depth.png     1-channel depth, 0..255, larger = farther (objects are fronto-parallel, background farthest)
//   .txt           caption
//   .scene.json    objects: shape, colour, size, depth, centre, annotation id (ground truth for questions)
//   .cvbench.json  [{type, task, question, choices, answer "(A)", prompt, objects}]
//   .geneval.json  [{tag, prompt, include, exclude?}] (classes are shape names)
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "data/image.h"
#include "data/rle.h"

namespace sgt::data {

struct WorldConfig {
  uint64_t seed = 0;
  int64_t train = 1000;    // scenes in the train split
  int64_t heldout = 100;   // scenes in the held-out split (an independent random stream)
  int64_t min_side = 96;   // image sides are multiples of 16 in [min_side, max_side]
  int64_t max_side = 192;
  int64_t max_objects = 6;
  int64_t samples_per_shard = 500;
  int64_t jpeg_quality = 92;

  template <class V>
  void visit(V&& v) {
    v("seed", seed);
    v("train", train);
    v("heldout", heldout);
    v("min_side", min_side);
    v("max_side", max_side);
    v("max_objects", max_objects);
    v("samples_per_shard", samples_per_shard);
    v("jpeg_quality", jpeg_quality);
  }
  void validate() const;
};

const std::vector<std::string>& world_shapes();
const std::vector<std::string>& world_colors();  // GenEval's ten colour names
std::array<uint8_t, 3> world_color_rgb(const std::string& name);

struct WorldObject {
  int64_t id = 0;  // annotation id (1-based, in paint order)
  std::string shape, color, size;  // size: small | medium | large
  double cx = 0, cy = 0, radius = 0;  // pixels
  double depth = 0;  // (0, 1), larger = farther
  Rle mask;          // visible pixels after occlusion
  uint64_t full_area = 0;  // pixels of the unoccluded shape
  double mx = 0, my = 0;   // centroid of the visible mask (pixel centres)
};

struct Scene {
  std::string key;  // "<split>_<index:08d>"
  int64_t width = 0, height = 0;
  std::string background;  // texture kind
  Image image;             // RGB
  Image depth;             // 1 channel
  std::vector<WorldObject> objects;  // far to near (paint order)
};

// split_stream 0 = train, 1 = held-out. Deterministic in (cfg.seed, split_stream, index).
Scene generate_scene(const WorldConfig& cfg, int split_stream, int64_t index);

std::string scene_caption(const Scene& scene);
nlohmann::ordered_json scene_objects_json(const Scene& scene);
nlohmann::ordered_json scene_sa1b_json(const Scene& scene);
// The questions and prompts are drawn with `rng` (seeded per scene) among those that the scene makes unambiguous.
nlohmann::ordered_json cvbench_questions(const Scene& scene, Rng& rng);
nlohmann::ordered_json geneval_prompts(const Scene& scene, Rng& rng);

// The tar members of one scene, in write order: (member name, bytes).
std::vector<std::pair<std::string, std::vector<uint8_t>>> scene_members(const Scene& scene, const WorldConfig& cfg);

struct WorldSummary {
  std::vector<std::string> train_shards, heldout_shards;
  int64_t scenes = 0, objects = 0;
  double seconds = 0;
};
// Writes <out>/train/world-train-NNNNNN.tar, <out>/heldout/world-heldout-NNNNNN.tar and <out>/world.json
// (config, counts, shard names). `threads` render scenes in parallel; output does not depend on it.
WorldSummary write_world(const std::string& out_dir, const WorldConfig& cfg, int threads = 1);

}  // namespace sgt::data
