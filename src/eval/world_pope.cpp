// POPE splits from the synthetic world's held-out scenes (POPE paper §3.2: "yes" for ground-truth objects, "no"
// for sampled absent objects by the random / popular / adversarial strategies).
#include "eval/world_pope.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "data/webdataset.h"
#include "data/world.h"
#include "io/atomic_file.h"
#include "io/safe_path.h"

namespace sgt::eval {
namespace fs = std::filesystem;
namespace {

// Stream ids of Rng::derive: the tie-break permutation and, from kSceneStream on, one stream per scene.
constexpr uint64_t kTieStream = 0, kSceneStream = 1;

// The first k classes of `order` that the scene lacks.
std::vector<size_t> first_absent(const std::vector<size_t>& order, const std::vector<char>& present, size_t k) {
  std::vector<size_t> out;
  for (size_t c : order) {
    if (out.size() == k) break;
    if (!present[c]) out.push_back(c);
  }
  return out;
}

}  // namespace

WorldPopeSource read_world_pope_scenes(const std::vector<std::string>& shards, bool keep_images) {
  SGT_CHECK(!shards.empty(), "world_pope", "no held-out shard given");
  WorldPopeSource src;
  data::WdsReader reader(shards);
  data::WdsSample s;
  while (reader.next(s)) {
    const auto& b = s.at("scene.json");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(b.begin(), b.end());
    } catch (const nlohmann::json::exception& e) {
      SGT_FAIL("world_pope", "{} in {}: invalid .scene.json ({})", s.key, s.url, e.what());
    }
    SGT_CHECK(j.contains("objects") && j["objects"].is_array(), "world_pope", "{} in {}: .scene.json has no objects",
              s.key, s.url);
    WorldPopeScene scene;
    scene.key = s.key;
    for (const auto& o : j["objects"]) {
      SGT_CHECK(o.contains("color") && o["color"].is_string() && o.contains("shape") && o["shape"].is_string(),
                "world_pope", "{} in {}: an object without colour / shape", s.key, s.url);
      const std::string cls = o["color"].get<std::string>() + " " + o["shape"].get<std::string>();
      if (std::find(scene.classes.begin(), scene.classes.end(), cls) == scene.classes.end())
        scene.classes.push_back(cls);
    }
    if (keep_images) src.jpeg[s.key] = s.at("jpg");
    src.scenes.push_back(std::move(scene));
  }
  SGT_CHECK(!src.scenes.empty(), "world_pope", "no scene in {} shard(s)", shards.size());
  return src;
}

std::vector<std::string> world_pope_classes() {
  std::vector<std::string> out;
  for (const std::string& c : data::world_colors())
    for (const std::string& s : data::world_shapes()) out.push_back(c + " " + s);
  return out;
}

std::string world_pope_question(const std::string& cls) {
  const bool vowel = !cls.empty() && std::string("aeiou").find(cls[0]) != std::string::npos;
  return fmt::format("Is there {} {} in the image?", vowel ? "an" : "a", cls);
}

std::vector<PopeItem> make_world_pope(const std::vector<WorldPopeScene>& scenes, uint64_t seed) {
  const std::vector<std::string> classes = world_pope_classes();
  const size_t nc = classes.size();
  std::map<std::string, size_t> index;
  for (size_t c = 0; c < nc; ++c) index[classes[c]] = c;
  // present[s][c], class frequency over scenes, co-occurrence counts.
  std::vector<std::vector<char>> present(scenes.size(), std::vector<char>(nc, 0));
  std::vector<std::vector<size_t>> ids(scenes.size());
  std::vector<int64_t> freq(nc, 0);
  std::vector<std::vector<int64_t>> cooc(nc, std::vector<int64_t>(nc, 0));
  for (size_t s = 0; s < scenes.size(); ++s) {
    for (const std::string& cls : scenes[s].classes) {
      const auto f = index.find(cls);
      SGT_CHECK(f != index.end(), "world_pope", "scene {}: '{}' is not a world class", scenes[s].key, cls);
      SGT_CHECK(!present[s][f->second], "world_pope", "scene {}: class '{}' listed twice", scenes[s].key, cls);
      present[s][f->second] = 1;
      ids[s].push_back(f->second);
    }
    for (size_t a : ids[s]) {
      ++freq[a];
      for (size_t b : ids[s])
        if (a != b) ++cooc[a][b];
    }
  }
  // rank[c]: position in a seeded permutation, the tie-break of the frequency orders.
  std::vector<size_t> perm(nc), rank(nc);
  for (size_t c = 0; c < nc; ++c) perm[c] = c;
  Rng tie = Rng::derive(seed, kTieStream);
  tie.shuffle(perm);
  for (size_t i = 0; i < nc; ++i) rank[perm[i]] = i;
  auto by_score = [&](const std::vector<int64_t>& score) {
    std::vector<size_t> order(nc);
    for (size_t c = 0; c < nc; ++c) order[c] = c;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return score[a] != score[b] ? score[a] > score[b] : rank[a] < rank[b];
    });
    return order;
  };
  const std::vector<size_t> popular = by_score(freq);

  std::vector<PopeItem> items;
  for (const std::string& split : pope_splits()) {
    int64_t qid = 0;
    for (size_t s = 0; s < scenes.size(); ++s) {
      if (ids[s].empty()) continue;  // nothing to ask "yes" about; POPE also skips images without objects
      std::vector<size_t> absent;
      for (size_t c = 0; c < nc; ++c)
        if (!present[s][c]) absent.push_back(c);
      const size_t k = std::min(ids[s].size(), absent.size());
      std::vector<size_t> neg;
      if (split == "random") {
        Rng rng = Rng::derive(seed, kSceneStream + s);
        rng.shuffle(absent);
        neg.assign(absent.begin(), absent.begin() + static_cast<std::ptrdiff_t>(k));
      } else if (split == "popular") {
        neg = first_absent(popular, present[s], k);
      } else {
        std::vector<int64_t> score(nc, 0);
        for (size_t p : ids[s])
          for (size_t c = 0; c < nc; ++c) score[c] += cooc[p][c];
        neg = first_absent(by_score(score), present[s], k);
      }
      const std::string image = scenes[s].key + ".jpg";
      for (size_t i = 0; i < ids[s].size(); ++i) {
        items.push_back({++qid, split, image, world_pope_question(classes[ids[s][i]]), 1});
        if (i < neg.size()) items.push_back({++qid, split, image, world_pope_question(classes[neg[i]]), 0});
      }
    }
  }
  SGT_CHECK(!items.empty(), "world_pope", "no scene with objects among {} scene(s)", scenes.size());
  return items;
}

void export_world_pope(const std::vector<PopeItem>& items, const std::map<std::string, std::vector<uint8_t>>& jpeg,
                       const std::string& dir) {
  fs::create_directories(dir);
  std::map<std::string, std::string> text;  // split -> file contents
  std::set<std::string> images;
  for (const PopeItem& it : items) {
    SGT_CHECK(it.label == 0 || it.label == 1, "world_pope", "question {} ({}) has no label", it.question_id, it.split);
    nlohmann::ordered_json j{{"question_id", it.question_id}, {"image", it.image}, {"text", it.question},
                             {"label", it.label == 1 ? "yes" : "no"}};
    text[it.split] += j.dump() + "\n";
    images.insert(it.image);
  }
  for (const auto& [split, t] : text) io::atomic_write_text(fmt::format("{}/coco_pope_{}.json", dir, split), t);
  for (const std::string& image : images) {
    // The image name is the scene key + ".jpg"; the key may hold folders (sam_selection/sa_1), so drop only the
    // extension rather than taking the stem.
    const std::string key = fs::path(image).replace_extension().string();
    const auto f = jpeg.find(key);
    SGT_CHECK(f != jpeg.end(), "world_pope", "no image bytes for {} (read the shards with keep_images)", image);
    // Keys are tar member names: io::prepare_path_inside keeps a hostile one (absolute, `..`) from writing outside dir.
    const std::string path = io::prepare_path_inside(dir, image, "world_pope: POPE export");
    io::atomic_write_text(path, std::string(f->second.begin(), f->second.end()));
  }
}

}  // namespace sgt::eval
