// GenEval metadata, folder layout and the official decision rules (evaluate_images.py, summary_scores.py),
// docs/eval.md, "GenEval".
#include "eval/geneval.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "core/config.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "text/unicode.h"

namespace sgt::eval {
namespace fs = std::filesystem;
namespace {

GenEvalRequirement requirement_from_json(const nlohmann::ordered_json& j, const std::string& where) {
  SGT_CHECK(j.is_object() && j.contains("class") && j["class"].is_string(), "geneval",
            "{}: requirement without a string 'class'", where);
  GenEvalRequirement r;
  r.cls = j["class"].get<std::string>();
  if (j.contains("count")) {
    SGT_CHECK(j["count"].is_number_integer() && j["count"].get<int64_t>() >= 1, "geneval", "{}: bad count for {}",
              where, r.cls);
    r.count = j["count"].get<int64_t>();
  }
  if (j.contains("color")) r.color = j["color"].get<std::string>();
  if (j.contains("position")) {
    const auto& p = j["position"];
    SGT_CHECK(p.is_array() && p.size() == 2 && p[0].is_string() && p[1].is_number_integer(), "geneval",
              "{}: position must be [relation, index]", where);
    r.relation = p[0].get<std::string>();
    r.relation_index = p[1].get<int64_t>();
    static const std::set<std::string> kRel = {"left of", "right of", "above", "below"};
    SGT_CHECK(kRel.count(r.relation), "geneval", "{}: unknown relation '{}'", where, r.relation);
  }
  return r;
}

bool is_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

double box_iou(const std::array<double, 4>& a, const std::array<double, 4>& b) {  // official compute_iou (+1 areas)
  auto area = [](double x1, double y1, double x2, double y2) { return std::max(x2 - x1 + 1, 0.0) * std::max(y2 - y1 + 1, 0.0); };
  const double i = area(std::max(a[0], b[0]), std::max(a[1], b[1]), std::min(a[2], b[2]), std::min(a[3], b[3]));
  const double u = area(a[0], a[1], a[2], a[3]) + area(b[0], b[1], b[2], b[3]) - i;
  return u != 0 ? i / u : 0.0;
}

}  // namespace

GenEvalPrompt geneval_prompt_from_json(const nlohmann::ordered_json& j, const std::string& where) {
  SGT_CHECK(j.is_object(), "geneval", "{}: expected a JSON object", where);
  GenEvalPrompt p;
  SGT_CHECK(j.contains("tag") && j["tag"].is_string(), "geneval", "{}: missing string 'tag'", where);
  SGT_CHECK(j.contains("prompt") && j["prompt"].is_string(), "geneval", "{}: missing string 'prompt'", where);
  SGT_CHECK(j.contains("include") && j["include"].is_array(), "geneval", "{}: missing array 'include'", where);
  p.tag = j["tag"].get<std::string>();
  p.prompt = j["prompt"].get<std::string>();
  for (const auto& r : j["include"]) p.include.push_back(requirement_from_json(r, where));
  if (j.contains("exclude"))
    for (const auto& r : j["exclude"]) p.exclude.push_back(requirement_from_json(r, where));
  for (size_t i = 0; i < p.include.size(); ++i)
    SGT_CHECK(p.include[i].relation.empty() ||
                  (p.include[i].relation_index >= 0 && p.include[i].relation_index < static_cast<int64_t>(i)),
              "geneval", "{}: position index {} must name an earlier requirement", where, p.include[i].relation_index);
  p.raw = j;
  return p;
}

std::vector<GenEvalPrompt> read_geneval_metadata(const std::string& path) {
  std::vector<GenEvalPrompt> out;
  config::for_each_jsonl(path, [&](const config::Json& j, const std::string& where) {
    out.push_back(geneval_prompt_from_json(j, where));
  });
  SGT_CHECK(!out.empty(), "geneval", "{} holds no prompt", path);
  return out;
}

int64_t write_geneval_folder(const std::string& out, const std::vector<GenEvalPrompt>& prompts,
                             int64_t images_per_prompt, uint64_t seed, const GenEvalGenerateFn& generate) {
  SGT_CHECK(images_per_prompt >= 1 && images_per_prompt <= 9999, "geneval", "images_per_prompt {} outside [1, 9999]",
            images_per_prompt);
  SGT_CHECK(static_cast<bool>(generate), "geneval", "no generator given");
  SGT_CHECK(prompts.size() <= 99999, "geneval", "{} prompts exceed the 5-digit folder names", prompts.size());
  int64_t made = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string dir = fmt::format("{}/{:05d}", out, i);
    fs::create_directories(dir + "/samples");
    io::atomic_write_text(dir + "/metadata.jsonl", prompts[i].raw.dump() + "\n");
    for (int64_t k = 0; k < images_per_prompt; ++k) {
      const std::string path = fmt::format("{}/samples/{:04d}.png", dir, k);
      if (fs::exists(path)) continue;
      const data::Image img = generate(prompts[i].prompt, seed + static_cast<uint64_t>(k));
      SGT_CHECK(!img.empty(), "geneval", "generator returned an empty image for prompt {} ('{}')", i, prompts[i].prompt);
      data::write_png(path, img.channels == 3 ? img : data::convert_channels(img, 3));
      ++made;
    }
  }
  return made;
}

std::vector<std::string> relative_position(const std::array<double, 4>& a, const std::array<double, 4>& b,
                                           double position_threshold) {
  const double ca[2] = {(a[0] + a[2]) / 2, (a[1] + a[3]) / 2}, cb[2] = {(b[0] + b[2]) / 2, (b[1] + b[3]) / 2};
  const double da[2] = {std::abs(a[2] - a[0]), std::abs(a[3] - a[1])}, db[2] = {std::abs(b[2] - b[0]), std::abs(b[3] - b[1])};
  double off[2], rev[2];
  for (int k = 0; k < 2; ++k) {
    off[k] = ca[k] - cb[k];
    const double sign = off[k] > 0 ? 1.0 : (off[k] < 0 ? -1.0 : 0.0);
    rev[k] = std::max(std::abs(off[k]) - position_threshold * (da[k] + db[k]), 0.0) * sign;
  }
  if (std::abs(rev[0]) < 1e-3 && std::abs(rev[1]) < 1e-3) return {};
  const double norm = std::hypot(off[0], off[1]);
  const double dx = rev[0] / norm, dy = rev[1] / norm;
  std::vector<std::string> rel;
  if (dx < -0.5) rel.push_back("left of");
  if (dx > 0.5) rel.push_back("right of");
  if (dy < -0.5) rel.push_back("above");
  if (dy > 0.5) rel.push_back("below");
  return rel;
}

GenEvalDecision geneval_decide(const std::vector<GenEvalDetection>& detections, const GenEvalPrompt& prompt,
                               const GenEvalOptions& opt) {
  // Per class: above the confidence threshold, by score (stable), at most max_objects, greedy NMS.
  const double thr = prompt.tag == "counting" ? opt.counting_threshold : opt.threshold;
  std::map<std::string, std::vector<const GenEvalDetection*>> objects;
  for (const GenEvalDetection& d : detections)
    if (d.score > thr) objects[d.cls].push_back(&d);
  for (auto& [cls, v] : objects) {
    std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->score > b->score; });
    if (static_cast<int64_t>(v.size()) > opt.max_objects) v.resize(opt.max_objects);
    std::vector<const GenEvalDetection*> kept;
    while (!v.empty()) {
      const GenEvalDetection* top = v.front();
      kept.push_back(top);
      std::vector<const GenEvalDetection*> rest;
      for (size_t i = 1; i < v.size(); ++i)
        if (opt.max_overlap == 1.0 || box_iou(top->box, v[i]->box) < opt.max_overlap) rest.push_back(v[i]);
      v.swap(rest);
    }
    v.swap(kept);
  }
  GenEvalDecision d{true, "", ""};
  std::vector<std::string> reasons;
  std::vector<std::optional<std::vector<const GenEvalDetection*>>> groups;
  for (const GenEvalRequirement& req : prompt.include) {
    bool matched = true;
    std::vector<const GenEvalDetection*> found;
    if (auto it = objects.find(req.cls); it != objects.end())
      found.assign(it->second.begin(), it->second.begin() + std::min<int64_t>(req.count, it->second.size()));
    if (static_cast<int64_t>(found.size()) < req.count) {
      matched = false;
      reasons.push_back(fmt::format("expected {}>={}, found {}", req.cls, req.count, found.size()));
    } else {
      if (!req.color.empty()) {
        int64_t n = 0;
        for (const GenEvalDetection* o : found) {
          SGT_CHECK(!o->color.empty(), "geneval",
                    "prompt '{}' requires a colour but a '{}' detection has no colour label (run the colour classifier)",
                    prompt.prompt, req.cls);
          n += o->color == req.color;
        }
        if (n < req.count) {
          matched = false;
          reasons.push_back(fmt::format("expected {} {}>={}, found {} {}", req.color, req.cls, req.count, n, req.color));
        }
      }
      if (!req.relation.empty() && matched) {
        const auto& target = groups[req.relation_index];
        if (!target) {
          matched = false;
          reasons.push_back(fmt::format("no target for {} to be {}", req.cls, req.relation));
        } else {
          for (const GenEvalDetection* o : found) {
            for (const GenEvalDetection* t : *target) {
              const auto rels = relative_position(o->box, t->box, opt.position_threshold);
              if (std::find(rels.begin(), rels.end(), req.relation) == rels.end()) {
                matched = false;
                reasons.push_back(fmt::format("expected {} {} target, found {} target", req.cls, req.relation,
                                              fmt::join(rels, " and ")));
                break;
              }
            }
            if (!matched) break;
          }
        }
      }
    }
    if (!matched) d.correct = false;
    groups.push_back(matched ? std::optional(found) : std::nullopt);
  }
  for (const GenEvalRequirement& req : prompt.exclude) {
    const auto it = objects.find(req.cls);
    const int64_t n = it == objects.end() ? 0 : static_cast<int64_t>(it->second.size());
    if (n >= req.count) {
      d.correct = false;
      reasons.push_back(fmt::format("expected {}<{}, found {}", req.cls, req.count, n));
    }
  }
  d.reason = fmt::format("{}", fmt::join(reasons, "\n"));
  nlohmann::ordered_json det = nlohmann::ordered_json::object();
  for (const auto& [cls, v] : objects)
    for (const GenEvalDetection* o : v) det[cls].push_back({o->box[0], o->box[1], o->box[2], o->box[3], o->score});
  d.details = python_json_dumps(det);
  return d;
}

namespace {

void dump_python_string(const std::string& s, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) out += fmt::format("\\u{:04x}", c);
          else out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    int len = 0;
    const char32_t cp = text::decode_utf8(reinterpret_cast<const unsigned char*>(s.data() + i), len);
    i += len;
    if (cp < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    } else {  // a surrogate pair, as Python's ensure_ascii writes it
      const uint32_t v = static_cast<uint32_t>(cp) - 0x10000;
      out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
    }
  }
  out += '"';
}

void dump_python(const nlohmann::ordered_json& v, std::string& out) {
  if (v.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [k, x] : v.items()) {
      if (!first) out += ", ";
      first = false;
      dump_python_string(k, out);
      out += ": ";
      dump_python(x, out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      dump_python(v[i], out);
    }
    out += ']';
  } else if (v.is_string()) {
    dump_python_string(v.get<std::string>(), out);
  } else if (v.is_number_float()) {
    const double x = v.get<double>();
    // Python writes floats with repr (shortest round trip, at least one decimal) and non-finite ones as NaN/Infinity.
    if (std::isnan(x)) out += "NaN";
    else if (std::isinf(x)) out += x > 0 ? "Infinity" : "-Infinity";
    else {
      std::string r = fmt::format("{}", x);
      if (r.find_first_of(".en") == std::string::npos) r += ".0";
      out += r;
    }
  } else {
    out += v.dump();  // integers, true, false, null: the same text in both
  }
}

}  // namespace

std::string python_json_dumps(const nlohmann::ordered_json& value) {
  std::string out;
  dump_python(value, out);
  return out;
}

nlohmann::ordered_json geneval_result_json(const GenEvalImageResult& r) {
  return nlohmann::ordered_json{{"filename", r.filename},  {"tag", r.tag},
                                {"prompt", r.prompt},      {"correct", r.decision.correct},
                                {"reason", r.decision.reason}, {"metadata", r.metadata},
                                {"details", r.decision.details}};
}

std::vector<GenEvalImageResult> score_geneval_detections(const std::string& path,
                                                         const std::vector<GenEvalPrompt>& prompts,
                                                         const GenEvalOptions& opt) {
  std::vector<GenEvalImageResult> out;
  config::for_each_jsonl(path, [&](const config::Json& j, const std::string& where) {
    SGT_CHECK(j.contains("filename") && j["filename"].is_string(), "geneval", "{}: missing string 'filename'", where);
    GenEvalImageResult r;
    r.filename = j["filename"].get<std::string>();
    // The official layout: the prompt index is the name of the folder above samples/.
    const fs::path fp(r.filename);
    const std::string folder = fp.parent_path().parent_path().filename().string();
    SGT_CHECK(std::regex_match(fp.filename().string(), std::regex(R"(\d+\.png)")), "geneval",
              "{}: '{}' is not a <digits>.png sample", where, r.filename);
    GenEvalPrompt inline_meta;
    const GenEvalPrompt* meta = nullptr;
    if (j.contains("metadata")) {
      inline_meta = geneval_prompt_from_json(j["metadata"], where);
      meta = &inline_meta;
    } else {
      SGT_CHECK(is_digits(folder), "geneval", "{}: '{}' is not in a <NNNNN>/samples/ folder and has no metadata", where,
                r.filename);
      r.prompt_index = std::stoll(folder);
      SGT_CHECK(r.prompt_index < static_cast<int64_t>(prompts.size()), "geneval",
                "{}: prompt folder {} but the metadata has {} prompts", where, folder, prompts.size());
      meta = &prompts[r.prompt_index];
    }
    if (is_digits(folder)) r.prompt_index = std::stoll(folder);
    SGT_CHECK(j.contains("detections") && j["detections"].is_array(), "geneval", "{}: missing array 'detections'", where);
    std::vector<GenEvalDetection> dets;
    for (const auto& d : j["detections"]) {
      SGT_CHECK(d.contains("class") && d.contains("score") && d.contains("box") && d["box"].is_array() &&
                    d["box"].size() == 4,
                "geneval", "{}: a detection needs class, score and a 4-number box", where);
      GenEvalDetection g;
      g.cls = d["class"].get<std::string>();
      g.score = d["score"].get<double>();
      for (int k = 0; k < 4; ++k) g.box[k] = d["box"][k].get<double>();
      if (d.contains("color")) g.color = d["color"].get<std::string>();
      dets.push_back(std::move(g));
    }
    r.tag = meta->tag;
    r.prompt = meta->prompt;
    r.metadata = python_json_dumps(meta->raw);
    r.decision = geneval_decide(dets, *meta, opt);
    out.push_back(std::move(r));
  });
  SGT_CHECK(!out.empty(), "geneval", "{} holds no image", path);
  return out;
}

GenEvalSummary summarize_geneval(const std::vector<GenEvalImageResult>& results) {
  SGT_CHECK(!results.empty(), "geneval", "no results to summarise");
  GenEvalSummary s;
  std::vector<std::string> order;
  std::map<std::string, std::pair<int64_t, int64_t>> tag;  // correct, total
  std::map<std::string, bool> prompt_ok;                    // keyed by prompt folder (or text)
  int64_t good = 0;
  for (const GenEvalImageResult& r : results) {
    if (!tag.count(r.tag)) order.push_back(r.tag);
    auto& t = tag[r.tag];
    t.first += r.decision.correct;
    ++t.second;
    good += r.decision.correct;
    // summary_scores.py: df.groupby('metadata'); without metadata, the prompt folder, else the text.
    const std::string key = !r.metadata.empty()      ? "m" + r.metadata
                            : r.prompt_index >= 0 ? "i" + std::to_string(r.prompt_index)
                                                  : "p" + r.prompt;
    prompt_ok[key] = prompt_ok[key] || r.decision.correct;
  }
  double sum = 0;
  for (const std::string& t : order) {
    const double v = static_cast<double>(tag[t].first) / tag[t].second;
    s.tag_scores.emplace_back(t, v);
    sum += v;
  }
  s.overall = sum / static_cast<double>(order.size());
  s.images = static_cast<int64_t>(results.size());
  s.prompts = static_cast<int64_t>(prompt_ok.size());
  s.correct_images = static_cast<double>(good) / s.images;
  int64_t okp = 0;
  for (const auto& [k, v] : prompt_ok) okp += v;
  s.correct_prompts = static_cast<double>(okp) / s.prompts;
  return s;
}

GenEvalSummary summarize_geneval_results_file(const std::string& path) {
  std::vector<GenEvalImageResult> rs;
  config::for_each_jsonl(path, [&](const config::Json& j, const std::string& where) {
    SGT_CHECK(j.contains("tag") && j.contains("correct") && j.contains("filename"), "geneval",
              "{}: a result needs filename, tag and correct", where);
    GenEvalImageResult r;
    r.filename = j["filename"].get<std::string>();
    r.tag = j["tag"].get<std::string>();
    r.prompt = j.value("prompt", "");
    r.decision.correct = j["correct"].get<bool>();
    r.decision.reason = j.value("reason", "");
    if (j.contains("metadata"))  // a JSON text in the official file; an object is accepted too
      r.metadata = j["metadata"].is_string() ? j["metadata"].get<std::string>() : python_json_dumps(j["metadata"]);
    // Official summary_scores.py groups prompts by the folder of the image (…/<NNNNN>/samples/x.png).
    const std::string folder = fs::path(r.filename).parent_path().parent_path().filename().string();
    if (is_digits(folder)) r.prompt_index = std::stoll(folder);
    rs.push_back(std::move(r));
  });
  return summarize_geneval(rs);
}

nlohmann::ordered_json geneval_summary_json(const GenEvalSummary& s) {
  nlohmann::ordered_json j;
  j["overall"] = s.overall;
  for (const auto& [t, v] : s.tag_scores) j["tags"][t] = v;
  j["correct_images"] = s.correct_images;
  j["correct_prompts"] = s.correct_prompts;
  j["images"] = s.images;
  j["prompts"] = s.prompts;
  return j;
}

std::string geneval_markdown(const GenEvalSummary& s) {
  std::string md = fmt::format("# GenEval\n\n{} images, {} prompts.\n\n| task | score (%) |\n|---|---:|\n", s.images,
                               s.prompts);
  for (const auto& [t, v] : s.tag_scores) md += fmt::format("| {} | {:.2f} |\n", t, 100 * v);
  md += fmt::format("| **overall** (mean over tasks) | **{:.2f}** |\n\ncorrect images {:.2f}%, prompts with a correct "
                    "image {:.2f}%.\n",
                    100 * s.overall, 100 * s.correct_images, 100 * s.correct_prompts);
  return md;
}

std::string geneval_table(const GenEvalSummary& s) {
  std::string out = fmt::format("GenEval over {} images / {} prompts\n", s.images, s.prompts);
  for (const auto& [t, v] : s.tag_scores) out += fmt::format("{:<16} {:>7.2f}%\n", t, 100 * v);
  out += fmt::format("{:<16} {:>7.2f}%\n{:<16} {:>7.2f}%\n{:<16} {:>7.5f}\n", "correct images", 100 * s.correct_images,
                     "correct prompts", 100 * s.correct_prompts, "overall score", s.overall);
  return out;
}

}  // namespace sgt::eval
