// Text annotations of synthetic scenes: captions, SA-1B JSON, CV-Bench-style questions and GenEval-style prompts.
// Only questions the scene answers unambiguously are asked: objects are named by (colour, shape), which is unique
// per scene; relations need a clear margin between visible-mask centroids; distances a clear ratio.
#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "data/world.h"

namespace sgt::data {

using Json = nlohmann::ordered_json;

namespace {

std::string article(const std::string& word) {
  return std::string("aeiou").find(word[0]) != std::string::npos ? "an" : "a";
}
std::string name_of(const WorldObject& o) { return o.color + " " + o.shape; }
const char* number_word(int64_t n) {
  static const char* w[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};
  return n >= 0 && n <= 10 ? w[n] : "many";
}

std::map<std::string, int64_t> class_counts(const Scene& s) {
  std::map<std::string, int64_t> c;
  for (const auto& o : s.objects) ++c[o.shape];
  return c;
}

// Distance used by the relative-distance questions: visible-mask centroid in units of the longer image side,
// plus depth (0..1) as the third axis.
double distance3(const Scene& s, const WorldObject& a, const WorldObject& b) {
  const double side = static_cast<double>(std::max(s.width, s.height));
  const double dx = (a.mx - b.mx) / side, dy = (a.my - b.my) / side, dz = a.depth - b.depth;
  return std::sqrt(dx * dx + dy * dy + dz * dz);
}

Json make_question(const std::string& type, const std::string& task, const std::string& question,
                   std::vector<std::string> choices, const std::string& correct, std::vector<int64_t> ids, Rng& rng) {
  rng.shuffle(choices);
  const auto at = std::find(choices.begin(), choices.end(), correct) - choices.begin();
  SGT_ASSERT(at < static_cast<long>(choices.size()));
  std::string prompt = question + " Select from the following choices.";
  for (size_t i = 0; i < choices.size(); ++i) prompt += fmt::format("\n({}) {}", char('A' + i), choices[i]);
  Json q;
  q["type"] = type;
  q["task"] = task;
  q["question"] = question;
  q["choices"] = choices;
  q["answer"] = fmt::format("({})", char('A' + at));
  q["prompt"] = prompt;
  q["objects"] = ids;
  return q;
}

}  // namespace

std::string scene_caption(const Scene& s) {
  std::vector<const WorldObject*> objs;
  for (const auto& o : s.objects) objs.push_back(&o);
  std::stable_sort(objs.begin(), objs.end(), [](auto* a, auto* b) { return a->mx < b->mx; });
  std::string list;
  for (size_t i = 0; i < objs.size(); ++i) {
    if (i > 0) list += i + 1 == objs.size() ? " and " : ", ";
    list += article(objs[i]->size) + " " + objs[i]->size + " " + name_of(*objs[i]);
  }
  if (objs.empty()) list = "nothing";
  return fmt::format("{} {} on {} {} background, from left to right.", objs.size() == 1 ? "One shape:" : "Shapes:",
                     list, article(s.background), s.background);
}

Json scene_objects_json(const Scene& s) {
  Json j;
  j["key"] = s.key;
  j["width"] = s.width;
  j["height"] = s.height;
  j["background"] = s.background;
  j["objects"] = Json::array();
  for (const auto& o : s.objects) {
    Json x;
    x["id"] = o.id;
    x["shape"] = o.shape;
    x["color"] = o.color;
    x["size"] = o.size;
    x["center"] = {o.cx, o.cy};
    x["radius"] = o.radius;
    x["depth"] = o.depth;
    x["area"] = rle_area(o.mask);
    x["full_area"] = o.full_area;
    x["centroid"] = {o.mx, o.my};
    j["objects"].push_back(x);
  }
  return j;
}

Json scene_sa1b_json(const Scene& s) {
  Json j;
  j["image"] = {{"image_id", 0}, {"width", s.width}, {"height", s.height}, {"file_name", s.key + ".jpg"}};
  j["annotations"] = Json::array();
  for (const auto& o : s.objects) {
    const auto bb = rle_bbox(o.mask);
    Json a;
    a["id"] = o.id;
    a["segmentation"] = {{"size", {s.height, s.width}}, {"counts", rle_to_string(o.mask)}};
    a["bbox"] = {bb[0], bb[1], bb[2], bb[3]};
    a["area"] = rle_area(o.mask);
    a["predicted_iou"] = 1.0;
    a["point_coords"] = Json::array({Json::array({o.mx, o.my})});
    a["crop_box"] = {0, 0, s.width, s.height};
    a["stability_score"] = 1.0;
    j["annotations"].push_back(a);
  }
  return j;
}

Json cvbench_questions(const Scene& s, Rng& rng) {
  Json out = Json::array();
  const auto& objs = s.objects;
  if (objs.empty()) return out;
  // Count: a shape class (present or not), four numeric options.
  {
    const auto counts = class_counts(s);
    const std::string cls = world_shapes()[rng.below(world_shapes().size())];
    const int64_t n = counts.count(cls) ? counts.at(cls) : 0;
    std::vector<int64_t> pool;
    for (int64_t v = std::max<int64_t>(0, n - 3); v <= n + 3; ++v)
      if (v != n) pool.push_back(v);
    rng.shuffle(pool);
    std::vector<std::string> choices = {std::to_string(n)};
    for (int i = 0; i < 3; ++i) choices.push_back(std::to_string(pool[i]));
    std::vector<int64_t> ids;
    for (const auto& o : objs)
      if (o.shape == cls) ids.push_back(o.id);
    out.push_back(make_question("2D", "Count", fmt::format("How many {}s are in the image?", cls), choices,
                                std::to_string(n), ids, rng));
  }
  if (objs.size() < 2) return out;
  std::vector<size_t> idx(objs.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  rng.shuffle(idx);
  const WorldObject& a = objs[idx[0]];
  const WorldObject& b = objs[idx[1]];
  // Relation: left/right or above/below of the visible-mask centroids, with a 15% margin.
  {
    const double dx = a.mx - b.mx, dy = a.my - b.my;
    const bool horiz = std::abs(dx) > 0.15 * s.width, vert = std::abs(dy) > 0.15 * s.height;
    if (horiz || vert) {
      const bool use_h = horiz && (!vert || rng.below(2) == 0);
      std::vector<std::string> ch = use_h ? std::vector<std::string>{"left", "right"}
                                          : std::vector<std::string>{"above", "below"};
      const std::string ans = use_h ? (dx < 0 ? "left" : "right") : (dy < 0 ? "above" : "below");
      out.push_back(make_question(
          "2D", "Relation",
          fmt::format("Considering the relative positions of the {} and the {} in the image provided, where is the {} "
                      "located with respect to the {}?",
                      name_of(a), name_of(b), name_of(a), name_of(b)),
          ch, ans, {a.id, b.id}, rng));
    }
  }
  // Depth order: depths differ by >= 0.05 by construction.
  out.push_back(make_question(
      "3D", "Depth",
      fmt::format("Which object is closer to the camera taking this photo, the {} or the {}?", name_of(a), name_of(b)),
      {name_of(a), name_of(b)}, name_of(a.depth < b.depth ? a : b), {a.id, b.id}, rng));
  // Relative distance to an anchor: asked when one candidate is clearly (25%) nearer.
  if (objs.size() >= 3) {
    const WorldObject& anchor = objs[idx[2]];
    const double da = distance3(s, anchor, a), db = distance3(s, anchor, b);
    if (std::min(da, db) < 0.75 * std::max(da, db)) {
      out.push_back(make_question(
          "3D", "Distance",
          fmt::format("Estimate the real-world distances between objects in this image. Which object is closer to the "
                      "{}, the {} or the {}?",
                      name_of(anchor), name_of(a), name_of(b)),
          {name_of(a), name_of(b)}, name_of(da < db ? a : b), {anchor.id, a.id, b.id}, rng));
    }
  }
  return out;
}

Json geneval_prompts(const Scene& s, Rng& rng) {
  Json out = Json::array();
  if (s.objects.empty()) return out;
  const auto counts = class_counts(s);
  std::vector<std::string> classes, unique;  // classes present; classes present exactly once
  for (const auto& [c, n] : counts) {
    classes.push_back(c);
    if (n == 1) unique.push_back(c);
  }
  auto req = [](const std::string& cls, int64_t n) { return Json{{"class", cls}, {"count", n}}; };
  auto obj_of = [&](const std::string& cls) -> const WorldObject& {
    for (const auto& o : s.objects)
      if (o.shape == cls) return o;
    SGT_FAIL("world", "no {} in {}", cls, s.key);
  };
  auto add = [&](const char* tag, const std::string& prompt, Json include, Json exclude = nullptr) {
    Json p;
    p["tag"] = tag;
    p["include"] = std::move(include);
    if (!exclude.is_null()) p["exclude"] = std::move(exclude);
    p["prompt"] = prompt;
    out.push_back(std::move(p));
  };
  rng.shuffle(classes);
  rng.shuffle(unique);
  add("single_object", fmt::format("a photo of {} {}", article(classes[0]), classes[0]), Json::array({req(classes[0], 1)}));
  if (classes.size() >= 2)
    add("two_object", fmt::format("a photo of {} {} and {} {}", article(classes[0]), classes[0], article(classes[1]),
                                  classes[1]),
        Json::array({req(classes[0], 1), req(classes[1], 1)}));
  for (const auto& c : classes) {
    const int64_t n = counts.at(c);
    if (n < 2 || n > 4) continue;
    add("counting", fmt::format("a photo of {} {}s", number_word(n), c), Json::array({req(c, n)}),
        Json::array({req(c, n + 1)}));
    break;
  }
  if (!unique.empty()) {
    const auto& o = obj_of(unique[0]);
    Json r = req(o.shape, 1);
    r["color"] = o.color;
    add("colors", fmt::format("a photo of {} {} {}", article(o.color), o.color, o.shape), Json::array({r}));
  }
  if (unique.size() >= 2) {
    const auto& ref = obj_of(unique[0]);
    const auto& o = obj_of(unique[1]);
    const double dx = o.mx - ref.mx, dy = o.my - ref.my;
    std::string rel;
    if (std::abs(dx) > 0.15 * s.width) rel = dx < 0 ? "left of" : "right of";
    else if (std::abs(dy) > 0.15 * s.height) rel = dy < 0 ? "above" : "below";
    if (!rel.empty()) {
      Json r = req(o.shape, 1);
      r["position"] = Json::array({rel, 0});
      add("position", fmt::format("a photo of {} {} {} {} {}", article(o.shape), o.shape, rel, article(ref.shape),
                                  ref.shape),
          Json::array({req(ref.shape, 1), r}));
    }
    Json r0 = req(ref.shape, 1), r1 = req(o.shape, 1);
    r0["color"] = ref.color;
    r1["color"] = o.color;
    add("color_attr", fmt::format("a photo of {} {} {} and {} {} {}", article(ref.color), ref.color, ref.shape,
                                  article(o.color), o.color, o.shape),
        Json::array({r0, r1}));
  }
  return out;
}

}  // namespace sgt::data
