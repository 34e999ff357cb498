#pragma once
// POPE on the synthetic world (data/world.h): the held-out scenes' ground-truth objects turned into the three POPE
// splits the way the POPE paper builds them from COCO annotations, written in the official file format so that
// `sgt eval pope` runs offline. An object class is "<colour> <shape>" (unique per scene, 10 x 5 = 50 classes).
// Torch-free.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "eval/pope.h"

namespace sgt::eval {

struct WorldPopeScene {
  std::string key;                   // "<split>_<index:08d>"; the image is "<key>.jpg"
  std::vector<std::string> classes;  // present classes, in the scene's paint order, each once
};
struct WorldPopeSource {
  std::vector<WorldPopeScene> scenes;                // in shard order
  std::map<std::string, std::vector<uint8_t>> jpeg;  // key -> .jpg bytes (only with keep_images)
};
// Reads the .scene.json (and .jpg) members of held-out shards written by data::write_world.
WorldPopeSource read_world_pope_scenes(const std::vector<std::string>& shards, bool keep_images);

// Every "<colour> <shape>" of the world, colours outer (data::world_colors() x data::world_shapes()).
std::vector<std::string> world_pope_classes();

// For each scene with objects: one "yes" question per present class and as many "no" questions (fewer only if
// fewer classes are absent), alternating yes / no as the official files do. Negatives per split:
//   random       uniformly among the absent classes (a stream per scene derived from seed)
//   popular      the absent classes most frequent over `scenes` (number of scenes holding them)
//   adversarial  the absent classes that co-occur most often with the scene's present ones (sum over present
//                classes of the number of scenes holding both)
// Ties in popular / adversarial go by a seeded permutation of the classes. question_id runs from 1 in each split;
// items come split after split in pope_splits() order. Same scenes + seed -> same items.
std::vector<PopeItem> make_world_pope(const std::vector<WorldPopeScene>& scenes, uint64_t seed);

// "Is there a red circle in the image?" ("an" before a vowel, unlike the COCO files' fixed "a").
std::string world_pope_question(const std::string& cls);

// Writes <dir>/coco_pope_<split>.json (the official JSON Lines: question_id, image, text, label) for each split in
// items, and <dir>/<key>.jpg for every image they ask about (which must be in jpeg).
void export_world_pope(const std::vector<PopeItem>& items, const std::map<std::string, std::vector<uint8_t>>& jpeg,
                       const std::string& dir);

}  // namespace sgt::eval
