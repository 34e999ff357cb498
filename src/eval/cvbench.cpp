// CV-Bench reader, prompt, answer extraction and scores (spec-sgt-data-eval.md §4.2-4.3).
#include "eval/cvbench.h"

#include <cctype>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/config.h"
#include "core/error.h"
#include "io/atomic_file.h"

namespace sgt::eval {
namespace {

bool is_option_letter(char c) { return c >= 'A' && c <= 'F'; }

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

template <class T>
T field(const nlohmann::json& j, const char* key, const std::string& where) {
  SGT_CHECK(j.contains(key), "cvbench", "{}: missing field '{}'", where, key);
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    SGT_FAIL("cvbench", "{}: field '{}' has the wrong type ({})", where, key, e.what());
  }
}

}  // namespace

const char* const kCvBenchSuffix = "Answer with the option's letter from the given choices directly.";

CvBenchItem cvbench_item_from_json(const nlohmann::json& j, const std::string& where, int64_t fallback_idx,
                                   const std::string& fallback_source) {
  SGT_CHECK(j.is_object(), "cvbench", "{}: expected a JSON object", where);
  CvBenchItem it;
  it.idx = j.contains("idx") ? field<int64_t>(j, "idx", where) : fallback_idx;
  SGT_CHECK(it.idx >= 0, "cvbench", "{}: missing field 'idx'", where);
  it.type = field<std::string>(j, "type", where);
  SGT_CHECK(it.type == "2D" || it.type == "3D", "cvbench", "{}: type '{}' is not 2D or 3D", where, it.type);
  it.task = field<std::string>(j, "task", where);
  it.source = j.contains("source") ? field<std::string>(j, "source", where) : fallback_source;
  SGT_CHECK(!it.source.empty(), "cvbench", "{}: missing field 'source'", where);
  it.question = j.contains("question") ? field<std::string>(j, "question", where) : "";
  it.prompt = field<std::string>(j, "prompt", where);
  it.choices = field<std::vector<std::string>>(j, "choices", where);
  it.answer = field<std::string>(j, "answer", where);
  const std::string letter = answer_letter(it.answer);
  SGT_CHECK(letter[0] - 'A' < static_cast<int>(it.choices.size()), "cvbench", "{}: answer {} but only {} choices",
            where, it.answer, it.choices.size());
  if (j.contains("filename") && j["filename"].is_string()) it.filename = j["filename"].get<std::string>();
  else if (j.contains("image") && j["image"].is_string()) it.filename = j["image"].get<std::string>();
  return it;
}

std::vector<CvBenchItem> read_cvbench_jsonl(const std::string& path) {
  std::vector<CvBenchItem> items;
  std::set<int64_t> seen;
  config::for_each_jsonl(path, [&](const config::Json& j, const std::string& where) {
    items.push_back(cvbench_item_from_json(j, where));
    SGT_CHECK(seen.insert(items.back().idx).second, "cvbench", "{}: duplicate idx {}", where, items.back().idx);
  });
  SGT_CHECK(!items.empty(), "cvbench", "{} holds no question", path);
  return items;
}

std::string cvbench_prompt(const CvBenchItem& item) { return item.prompt + "\n" + kCvBenchSuffix; }

std::string extract_choice_letter(const std::string& prediction) {
  const std::string p = trim(prediction);
  if (p.size() == 1 && is_option_letter(p[0])) return p;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!is_option_letter(p[i])) continue;
    const char next = i + 1 < p.size() ? p[i + 1] : '\0';
    if (next == '.' || next == ',' || next == '\n') return std::string(1, p[i]);
    if (i > 0 && p[i - 1] == '(' && next == ')') return std::string(1, p[i]);
  }
  return "";
}

std::string answer_letter(const std::string& answer) {
  const std::string a = trim(answer);
  SGT_CHECK(a.size() == 3 && a[0] == '(' && is_option_letter(a[1]) && a[2] == ')', "cvbench",
            "answer '{}' is not of the form \"(A)\"", answer);
  return a.substr(1, 1);
}

CvBenchScores score_cvbench(const std::vector<CvBenchItem>& items, const std::map<int64_t, std::string>& answers) {
  SGT_CHECK(!items.empty(), "cvbench", "no items to score");
  CvBenchScores s;
  std::map<std::string, std::string> source_type;
  for (const CvBenchItem& it : items) {
    const auto a = answers.find(it.idx);
    bool ok = false;
    if (a == answers.end()) {
      ++s.missing.correct;
    } else {
      const std::string got = extract_choice_letter(a->second);
      if (got.empty()) ++s.failed.correct;
      ok = !got.empty() && got == answer_letter(it.answer);
    }
    for (Accuracy* acc : {&s.all, &s.by_source[it.source], &s.by_task[it.task], &s.by_type[it.type]}) {
      acc->correct += ok;
      ++acc->total;
    }
    auto [pos, fresh] = source_type.emplace(it.source, it.type);
    SGT_CHECK(fresh || pos->second == it.type, "cvbench", "source {} has both 2D and 3D items (idx {})", it.source,
              it.idx);
  }
  s.failed.total = s.missing.total = s.all.total;
  // Official: acc_2D = mean(acc_ADE20K, acc_COCO), acc_3D = acc_Omni3D, overall = their mean.
  double sum2 = 0, sum3 = 0;
  int n2 = 0, n3 = 0;
  for (const auto& [src, type] : source_type) {
    if (type == "2D") sum2 += s.by_source[src].value(), ++n2;
    else sum3 += s.by_source[src].value(), ++n3;
  }
  s.acc_2d = n2 ? sum2 / n2 : 0.0;
  s.acc_3d = n3 ? sum3 / n3 : 0.0;
  s.overall = (n2 && n3) ? (s.acc_2d + s.acc_3d) / 2 : (n2 ? s.acc_2d : s.acc_3d);
  return s;
}

nlohmann::ordered_json cvbench_scores_json(const CvBenchScores& s) {
  auto acc = [](const Accuracy& a) {
    return nlohmann::ordered_json{{"accuracy", a.value()}, {"correct", a.correct}, {"total", a.total}};
  };
  nlohmann::ordered_json j;
  j["overall"] = s.overall;
  j["acc_2d"] = s.acc_2d;
  j["acc_3d"] = s.acc_3d;
  j["all"] = acc(s.all);
  j["failed_extractions"] = s.failed.correct;
  j["missing_answers"] = s.missing.correct;
  for (const auto& [k, v] : s.by_source) j["by_source"][k] = acc(v);
  for (const auto& [k, v] : s.by_type) j["by_type"][k] = acc(v);
  for (const auto& [k, v] : s.by_task) j["by_task"][k] = acc(v);
  return j;
}

std::string cvbench_table(const CvBenchScores& s) {
  std::string out = fmt::format("{:<24} {:>8} {:>12}\n", "CV-Bench", "acc (%)", "correct/n");
  out += fmt::format("{:<24} {:>8.2f}\n{:<24} {:>8.2f}\n{:<24} {:>8.2f}\n", "overall", 100 * s.overall, "2D",
                     100 * s.acc_2d, "3D", 100 * s.acc_3d);
  auto row = [&](const std::string& name, const Accuracy& a) {
    out += fmt::format("{:<24} {:>8.2f} {:>12}\n", name, 100 * a.value(), fmt::format("{}/{}", a.correct, a.total));
  };
  for (const auto& [k, v] : s.by_source) row("source " + k, v);
  for (const auto& [k, v] : s.by_task) row("task " + k, v);
  row("all items (micro)", s.all);
  out += fmt::format("failed extractions: {}, missing answers: {}\n", s.failed.correct, s.missing.correct);
  return out;
}

std::map<int64_t, std::string> read_cvbench_answers(const std::string& path) {
  std::map<int64_t, std::string> out;
  config::for_each_jsonl(path, [&](const config::Json& line, const std::string& where) {
    const nlohmann::json j = line;
    const auto idx = field<int64_t>(j, "idx", where);
    SGT_CHECK(out.emplace(idx, field<std::string>(j, "answer", where)).second, "cvbench", "{}: duplicate idx {}",
              where, idx);
  });
  return out;
}

void write_cvbench_answers(const std::string& path, const std::map<int64_t, std::string>& answers) {
  std::string text;
  for (const auto& [idx, a] : answers) text += nlohmann::json{{"idx", idx}, {"answer", a}}.dump() + "\n";
  io::atomic_write_text(path, text);
}

std::map<int64_t, std::string> run_cvbench(const std::vector<CvBenchItem>& items, const std::string& root,
                                           const CvBenchAnswerFn& answer) {
  SGT_CHECK(static_cast<bool>(answer), "cvbench", "no answer function given");
  std::map<int64_t, std::string> out;
  for (const CvBenchItem& it : items) {
    SGT_CHECK(!it.filename.empty(), "cvbench", "item {} has no image filename", it.idx);
    const data::Image img = data::convert_channels(data::read_image(root + "/" + it.filename), 3);
    out[it.idx] = answer(img, cvbench_prompt(it));
  }
  return out;
}

}  // namespace sgt::eval
