// CV-Bench readers, prompt, Cambrian's answer extraction and the dataset card's scores (docs/eval.md "CV-Bench").
#include "eval/cvbench.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/config.h"
#include "core/error.h"
#include "data/parquet.h"
#include "io/atomic_file.h"
#include "text/unicode.h"

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
  // CV-Bench's four tasks (the synthetic world asks the same ones): a misspelt task would silently become a score
  // of its own.
  const bool known = it.type == "2D" ? (it.task == "Count" || it.task == "Relation")
                                     : (it.task == "Depth" || it.task == "Distance");
  SGT_CHECK(known, "cvbench", "{}: unknown task '{}' for a {} item (2D: Count, Relation; 3D: Depth, Distance)", where,
            it.task, it.type);
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
  // Parquet: the HF Image struct {bytes, path}; its bytes are the encoded image.
  if (j.contains("image") && j["image"].is_object() && j["image"].contains("bytes") && j["image"]["bytes"].is_binary())
    it.image_bytes = j["image"]["bytes"].get_binary();
  return it;
}

std::vector<CvBenchItem> read_cvbench_jsonl(const std::string& path) {
  std::vector<CvBenchItem> items;
  std::set<int64_t> seen;
  config::for_each_jsonl(path, [&](const config::Json& j, const std::string& where) {
    items.push_back(cvbench_item_from_json(j, where));
    items.back().file = path;
    SGT_CHECK(seen.insert(items.back().idx).second, "cvbench", "{}: duplicate idx {}", where, items.back().idx);
  });
  SGT_CHECK(!items.empty(), "cvbench", "{} holds no question", path);
  return items;
}

std::vector<CvBenchItem> read_cvbench_parquet(const std::string& path) {
  std::vector<CvBenchItem> items;
  std::set<int64_t> seen;
  data::for_each_parquet_row(path, {}, [&](const nlohmann::json& j, const std::string& where) {
    items.push_back(cvbench_item_from_json(j, where));
    items.back().file = path;
    SGT_CHECK(seen.insert(items.back().idx).second, "cvbench", "{}: duplicate idx {}", where, items.back().idx);
  });
  SGT_CHECK(!items.empty(), "cvbench", "{} holds no question", path);
  return items;
}

std::vector<CvBenchItem> read_cvbench_files(const std::vector<std::string>& paths) {
  SGT_CHECK(!paths.empty(), "cvbench", "no questions file given");
  std::vector<CvBenchItem> all;
  std::map<int64_t, std::string> owner;
  for (const std::string& p : paths) {
    auto items = data::looks_like_parquet(p) ? read_cvbench_parquet(p) : read_cvbench_jsonl(p);
    for (auto& it : items) {
      const auto [pos, fresh] = owner.emplace(it.idx, p);
      SGT_CHECK(fresh, "cvbench", "idx {} is in both {} and {}", it.idx, pos->second, p);
      all.push_back(std::move(it));
    }
  }
  return all;
}

std::string cvbench_prompt(const CvBenchItem& item) { return item.prompt + "\n" + kCvBenchSuffix; }

namespace {

// Python's str.isspace() (the set str.strip() removes): ASCII \t\n\v\f\r and space, \x1c-\x1f, and the Unicode
// White_Space / bidi whitespace code points.
bool python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string python_strip(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b) {
    int len = 0;
    if (!python_space(text::decode_utf8(reinterpret_cast<const unsigned char*>(s.data() + a), len))) break;
    a += len;
  }
  while (b > a) {
    int len = 0;
    if (!python_space(text::decode_utf8_before(s, b, len))) break;
    b -= len;
  }
  return s.substr(a, b - a);
}

// What follows the last occurrence of `sep` (Python's s.split(sep)[-1]); s itself when sep does not occur.
std::string after_last(const std::string& s, const std::string& sep) {
  const size_t p = s.rfind(sep);
  return p == std::string::npos ? s : s.substr(p + sep.size());
}

}  // namespace

std::string cambrian_extract(const std::string& prediction, bool omni) {
  // str.lower(): only ASCII letters can lower-case to what the rules look for ("answer", a-f), so ASCII suffices.
  std::string t = text::utf8_lossy(prediction);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  t = python_strip(t);
  for (const char* key : {"answer is", "answer is:", "answer:"})
    if (t.find(key) != std::string::npos) t = after_last(t, key);
  t = python_strip(t);
  const std::string trailing = omni ? ".:," : ".";
  while (!t.empty() && trailing.find(t.back()) != std::string::npos) t.pop_back();  // rstrip('.') / rstrip('.:,')
  size_t lead = 0;
  while (lead < t.size() && t[lead] == '(') ++lead;  // lstrip('(')
  t.erase(0, lead);
  while (!t.empty() && t.back() == ')') t.pop_back();  // rstrip(')')
  if (t.empty()) return t;
  int len = 0;
  text::decode_utf8(reinterpret_cast<const unsigned char*>(t.data()), len);
  return t.substr(0, static_cast<size_t>(len));  // len(text) > 1 -> text[0]; one character stays as it is
}

bool cambrian_correct(const CvBenchItem& item, const std::string& prediction) {
  const bool omni = item.type == "3D";
  const std::string got = cambrian_extract(prediction, omni);
  const char gt = static_cast<char>(std::tolower(static_cast<unsigned char>(answer_letter(item.answer)[0])));
  if (got == std::string(1, gt)) return true;
  // omni_test.py: the right choice's text counts too (it can only match a one-character choice after the cut).
  const size_t k = static_cast<size_t>(gt - 'a');
  return omni && k < item.choices.size() && got == item.choices[k];
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
      const std::string got = cambrian_extract(a->second, it.type == "3D");
      if (got.size() != 1 || got[0] < 'a' || got[0] - 'a' >= static_cast<int>(it.choices.size())) ++s.failed.correct;
      ok = cambrian_correct(it, a->second);
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
  if (n2) s.acc_2d = sum2 / n2;
  if (n3) s.acc_3d = sum3 / n3;
  if (n2 && n3) s.overall = (*s.acc_2d + *s.acc_3d) / 2;
  return s;
}

nlohmann::ordered_json cvbench_scores_json(const CvBenchScores& s) {
  auto acc = [](const Accuracy& a) {
    return nlohmann::ordered_json{{"accuracy", a.value()}, {"correct", a.correct}, {"total", a.total}};
  };
  nlohmann::ordered_json j;
  if (s.overall) j["overall"] = *s.overall;
  if (s.acc_2d) j["acc_2d"] = *s.acc_2d;
  if (s.acc_3d) j["acc_3d"] = *s.acc_3d;
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
  for (const auto& [name, v] : {std::pair{"overall", s.overall}, std::pair{"2D", s.acc_2d}, std::pair{"3D", s.acc_3d}})
    if (v) out += fmt::format("{:<24} {:>8.2f}\n", name, 100 * *v);
  auto row = [&](const std::string& name, const Accuracy& a) {
    out += fmt::format("{:<24} {:>8.2f} {:>12}\n", name, 100 * a.value(), fmt::format("{}/{}", a.correct, a.total));
  };
  for (const auto& [k, v] : s.by_source) row("source " + k, v);
  for (const auto& [k, v] : s.by_task) row("task " + k, v);
  row("all items (micro)", s.all);
  out += fmt::format("failed extractions: {}, missing answers: {}\n", s.failed.correct, s.missing.correct);
  return out;
}

std::string cvbench_markdown(const CvBenchScores& s) {
  std::string md = "# CV-Bench\n\n| score | accuracy (%) | correct / n |\n|---|---:|---:|\n";
  for (const auto& [name, v] : {std::pair{"**CV-Bench** (mean of 2D and 3D)", s.overall},
                                std::pair{"2D (mean of its sources)", s.acc_2d}, std::pair{"3D", s.acc_3d}})
    if (v) md += fmt::format("| {} | {:.2f} | |\n", name, 100 * *v);
  auto row = [&](const std::string& name, const Accuracy& a) {
    md += fmt::format("| {} | {:.2f} | {} / {} |\n", name, 100 * a.value(), a.correct, a.total);
  };
  for (const auto& [k, v] : s.by_source) row("source " + k, v);
  for (const auto& [k, v] : s.by_task) row("task " + k, v);
  row("all items (micro)", s.all);
  md += fmt::format("\nAnswers extracted with Cambrian's rules; {} answers gave no option letter, {} items had no "
                    "answer (both counted wrong).\n", s.failed.correct, s.missing.correct);
  return md;
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
    data::Image img;
    if (!it.image_bytes.empty()) {
      img = data::decode_image(it.image_bytes, fmt::format("{} idx {}", it.file, it.idx));
    } else {
      SGT_CHECK(!it.filename.empty(), "cvbench", "{}: item {} has neither image bytes nor a filename", it.file, it.idx);
      const std::string path = root + "/" + it.filename;
      SGT_CHECK(std::filesystem::exists(path), "cvbench",
                "{}: image {} of item {} does not exist (the current release keeps the images in test_2d.parquet / "
                "test_3d.parquet: pass those as --questions, or --root the folder holding img/)",
                it.file, path, it.idx);
      img = data::read_image(path);
    }
    out[it.idx] = answer(data::convert_channels(img, 3), cvbench_prompt(it));
  }
  return out;
}

}  // namespace sgt::eval
