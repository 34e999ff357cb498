// POPE readers, the official answer parsing and scores (docs/eval.md "POPE").
#include "eval/pope.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <regex>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "io/atomic_file.h"

namespace sgt::eval {
namespace fs = std::filesystem;
namespace {

using Json = nlohmann::json;
using Key = std::pair<std::string, int64_t>;  // (split, question_id)

bool known_split(const std::string& s) {
  const auto& all = pope_splits();
  return std::find(all.begin(), all.end(), s) != all.end();
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") + 1 - a);
}

// Calls fn(object, "path:line") for each record of a JSON Lines file, or fn(object, "path[i]") for each element
// of a file holding one JSON array: the answers come in both layouts (LLaVA: JSONL, BAGEL: a list).
void for_each_record(const std::string& path, const std::function<void(const Json&, const std::string&)>& fn) {
  const std::string text = read_text_file(path);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    Json all;
    try {
      all = Json::parse(text);
    } catch (const Json::parse_error& e) {
      SGT_FAIL("pope", "{}: malformed JSON at byte {}: {}", path, e.byte, e.what());
    }
    for (size_t i = 0; i < all.size(); ++i) fn(all[i], fmt::format("{}[{}]", path, i));
    return;
  }
  size_t begin = 0;
  for (int64_t no = 1; begin < text.size(); ++no) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (trim(line).empty()) continue;
    const std::string where = fmt::format("{}:{}", path, no);
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::parse_error& e) {
      SGT_FAIL("pope", "{}: malformed JSON at byte {}: {}", where, e.byte, e.what());
    }
    fn(j, where);
  }
}

int64_t int_field(const Json& j, const char* key, const std::string& where) {
  SGT_CHECK(j.is_object(), "pope", "{}: expected a JSON object", where);
  SGT_CHECK(j.contains(key) && j[key].is_number_integer(), "pope", "{}: missing or non-integer '{}'", where, key);
  return j[key].get<int64_t>();
}

std::string string_field(const Json& j, const char* key, const std::string& where) {
  SGT_CHECK(j.contains(key) && j[key].is_string(), "pope", "{}: missing or non-string '{}'", where, key);
  return j[key].get<std::string>();
}

// The split named by a file "<dataset>_pope_<split>.json[l]" (also the bare "pope_<split>.json"), else "".
std::string split_from_file_name(const std::string& path) {
  static const std::regex re(R"((?:.*_)?pope_([A-Za-z]+)\.jsonl?)");
  std::smatch m;
  const std::string name = fs::path(path).filename().string();
  return std::regex_match(name, m, re) ? m[1].str() : "";
}

std::string question_stem(const std::string& q) {
  std::string s = q;
  const std::string suffix = kPopeSuffix;
  if (s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
    s.resize(s.size() - suffix.size());
  return trim(s);
}

double ratio(int64_t num, int64_t den) { return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : 0.0; }

}  // namespace

const std::vector<std::string>& pope_splits() {
  static const std::vector<std::string> s = {"random", "popular", "adversarial"};
  return s;
}

const char* const kPopeSuffix = "\nAnswer the question using a single word or phrase.";

std::vector<PopeItem> read_pope_questions(const std::string& path, const std::string& split) {
  SGT_CHECK(split.empty() || known_split(split), "pope", "unknown split '{}' for {} (random, popular, adversarial)",
            split, path);
  const std::string from_name = split_from_file_name(path);
  std::vector<PopeItem> items;
  std::set<Key> seen;
  for_each_record(path, [&](const Json& j, const std::string& where) {
    PopeItem it;
    it.question_id = int_field(j, "question_id", where);
    it.image = string_field(j, "image", where);
    it.question = string_field(j, "text", where);
    const std::string category = j.contains("category") ? string_field(j, "category", where) : "";
    SGT_CHECK(split.empty() || category.empty() || category == split, "pope",
              "{}: category '{}' but the split was given as '{}'", where, category, split);
    it.split = !split.empty() ? split : !category.empty() ? category : from_name;
    SGT_CHECK(!it.split.empty(), "pope",
              "{}: no split (no 'category' field and the file is not named <dataset>_pope_<split>.json); give it",
              where);
    SGT_CHECK(known_split(it.split), "pope", "{}: unknown split '{}' (random, popular, adversarial)", where,
              it.split);
    if (j.contains("label")) {
      const std::string label = string_field(j, "label", where);
      SGT_CHECK(label == "yes" || label == "no", "pope", "{}: label '{}' is not \"yes\" or \"no\"", where, label);
      it.label = label == "yes" ? 1 : 0;
    }
    SGT_CHECK(seen.insert({it.split, it.question_id}).second, "pope", "{}: duplicate question_id {} in split {}",
              where, it.question_id, it.split);
    items.push_back(std::move(it));
  });
  SGT_CHECK(!items.empty(), "pope", "{} holds no question", path);
  return items;
}

void attach_pope_labels(std::vector<PopeItem>& items, const std::vector<PopeItem>& labelled) {
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<int>> by_key;
  for (const PopeItem& l : labelled)
    if (l.label >= 0) by_key[{l.split, l.image, question_stem(l.question)}].push_back(l.label);
  for (PopeItem& it : items) {
    if (it.label >= 0) continue;
    const auto f = by_key.find({it.split, it.image, question_stem(it.question)});
    SGT_CHECK(f != by_key.end(), "pope", "question {} ({}, {}, \"{}\"): no labelled question matches it",
              it.question_id, it.split, it.image, question_stem(it.question));
    SGT_CHECK(f->second.size() == 1, "pope", "question {} ({}, {}): {} labelled questions match it", it.question_id,
              it.split, it.image, f->second.size());
    it.label = f->second[0];
  }
}

std::string pope_prompt(const std::string& question) {
  const std::string suffix = kPopeSuffix;
  if (question.size() >= suffix.size() && question.compare(question.size() - suffix.size(), suffix.size(), suffix) == 0)
    return question;
  return question + suffix;
}

bool pope_parse_answer(const std::string& text) {
  std::string s = text.substr(0, text.find('.'));  // the first sentence (all of it when there is no '.')
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  // Python's str.split(' '): single spaces only, empty words kept, other white space stays inside words.
  size_t begin = 0;
  while (true) {
    const size_t end = s.find(' ', begin);
    const std::string word = s.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (word == "No" || word == "not" || word == "no") return false;
    if (end == std::string::npos) return true;
    begin = end + 1;
  }
}

std::vector<PopeAnswer> read_pope_answers(const std::string& path, const std::string& default_split) {
  SGT_CHECK(default_split.empty() || known_split(default_split), "pope", "unknown split '{}' for {}", default_split,
            path);
  std::vector<PopeAnswer> out;
  std::set<Key> seen;
  for_each_record(path, [&](const Json& j, const std::string& where) {
    PopeAnswer a;
    a.question_id = int_field(j, "question_id", where);
    a.text = j.contains("text") ? string_field(j, "text", where) : string_field(j, "answer", where);
    a.split = j.contains("category") ? string_field(j, "category", where) : default_split;
    SGT_CHECK(a.split.empty() || known_split(a.split), "pope", "{}: unknown split '{}'", where, a.split);
    SGT_CHECK(seen.insert({a.split, a.question_id}).second, "pope", "{}: duplicate answer for question_id {}", where,
              a.question_id);
    a.where = where;
    out.push_back(std::move(a));
  });
  return out;
}

void write_pope_answers(const std::string& path, const std::vector<PopeItem>& items,
                        const std::vector<PopeAnswer>& answers, const std::string& model_id) {
  std::map<Key, const PopeAnswer*> by_key;
  for (const PopeAnswer& a : answers) by_key[{a.split, a.question_id}] = &a;
  std::string text;
  for (const PopeItem& it : items) {
    const auto f = by_key.find({it.split, it.question_id});
    if (f == by_key.end()) continue;
    nlohmann::ordered_json j{{"question_id", it.question_id}, {"prompt", pope_prompt(it.question)},
                             {"text", f->second->text},       {"category", it.split},
                             {"model_id", model_id},          {"metadata", nlohmann::ordered_json::object()}};
    text += j.dump() + "\n";
  }
  io::atomic_write_text(path, text);
}

PopeMetrics pope_metrics(const std::string& split, const PopeCounts& c) {
  PopeMetrics m;
  m.split = split;
  m.counts = c;
  m.precision = ratio(c.tp, c.tp + c.fp);
  m.recall = ratio(c.tp, c.tp + c.fn);
  m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
  m.accuracy = ratio(c.tp + c.tn, c.n());
  m.yes_ratio = ratio(c.tp + c.fp, c.n());
  return m;
}

PopeSummary score_pope(const std::vector<PopeItem>& items, const std::vector<PopeAnswer>& answers) {
  SGT_CHECK(!items.empty(), "pope", "no questions to score");
  std::map<Key, size_t> by_key;
  std::map<int64_t, std::vector<size_t>> by_id;
  for (size_t i = 0; i < items.size(); ++i) {
    const PopeItem& it = items[i];
    SGT_CHECK(known_split(it.split), "pope", "question {}: unknown split '{}'", it.question_id, it.split);
    SGT_CHECK(it.label >= 0, "pope",
              "question {} ({}) has no label: give the labelled coco_pope_{}.json too (attach_pope_labels)",
              it.question_id, it.split, it.split);
    SGT_CHECK(by_key.emplace(Key{it.split, it.question_id}, i).second, "pope", "duplicate question_id {} in split {}",
              it.question_id, it.split);
    by_id[it.question_id].push_back(i);
  }
  std::vector<int> pred(items.size(), -1);  // -1: no answer
  for (const PopeAnswer& a : answers) {
    size_t idx = 0;
    if (!a.split.empty()) {
      const auto f = by_key.find({a.split, a.question_id});
      SGT_CHECK(f != by_key.end(), "pope", "{}: answer for unknown question_id {} in split {}", a.where,
                a.question_id, a.split);
      idx = f->second;
    } else {
      const auto f = by_id.find(a.question_id);
      SGT_CHECK(f != by_id.end(), "pope", "{}: answer for unknown question_id {}", a.where, a.question_id);
      SGT_CHECK(f->second.size() == 1, "pope",
                "{}: question_id {} is in {} splits; the answers need a 'category' field or one answers file per split",
                a.where, a.question_id, f->second.size());
      idx = f->second[0];
    }
    SGT_CHECK(pred[idx] < 0, "pope", "{}: a second answer for question_id {} ({})", a.where, a.question_id,
              items[idx].split);
    pred[idx] = pope_parse_answer(a.text) ? 1 : 0;
  }
  std::map<std::string, PopeCounts> counts;
  for (size_t i = 0; i < items.size(); ++i) {
    PopeCounts& c = counts[items[i].split];
    const bool yes_label = items[i].label == 1;
    if (pred[i] < 0) ++c.missing;
    const bool yes_pred = pred[i] < 0 ? !yes_label : pred[i] == 1;  // a missing answer is the wrong one
    if (yes_pred) ++(yes_label ? c.tp : c.fp);
    else ++(yes_label ? c.fn : c.tn);
  }
  PopeSummary s;
  for (const std::string& split : pope_splits()) {
    const auto f = counts.find(split);
    if (f == counts.end()) continue;
    s.splits.push_back(pope_metrics(split, f->second));
    s.mean_f1 += s.splits.back().f1;
    s.mean_accuracy += s.splits.back().accuracy;
    s.missing += f->second.missing;
  }
  s.mean_f1 /= static_cast<double>(s.splits.size());
  s.mean_accuracy /= static_cast<double>(s.splits.size());
  return s;
}

nlohmann::ordered_json pope_summary_json(const PopeSummary& s) {
  nlohmann::ordered_json j;
  j["splits"] = nlohmann::ordered_json::object();
  for (const PopeMetrics& m : s.splits) {
    const PopeCounts& c = m.counts;
    j["splits"][m.split] = {{"accuracy", m.accuracy}, {"precision", m.precision}, {"recall", m.recall},
                            {"f1", m.f1},             {"yes_ratio", m.yes_ratio}, {"n", c.n()},
                            {"tp", c.tp},             {"fp", c.fp},               {"tn", c.tn},
                            {"fn", c.fn},             {"missing", c.missing}};
  }
  j["mean_f1"] = s.mean_f1;
  j["mean_accuracy"] = s.mean_accuracy;
  j["missing_answers"] = s.missing;
  return j;
}

std::string pope_table(const PopeSummary& s) {
  std::string out = fmt::format("{:<12} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>7}\n", "POPE",
                                "n", "acc (%)", "prec (%)", "rec (%)", "F1 (%)", "yes (%)", "TP", "FP", "TN", "FN",
                                "missing");
  for (const PopeMetrics& m : s.splits) {
    const PopeCounts& c = m.counts;
    out += fmt::format("{:<12} {:>6} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>6} {:>6} {:>6} {:>6} {:>7}\n",
                       m.split, c.n(), 100 * m.accuracy, 100 * m.precision, 100 * m.recall, 100 * m.f1,
                       100 * m.yes_ratio, c.tp, c.fp, c.tn, c.fn, c.missing);
  }
  out += fmt::format("{:<12} {:>6} {:>8.2f} {:>8} {:>8} {:>8.2f}   (unweighted over {} split(s))\n", "mean", "",
                     100 * s.mean_accuracy, "", "", 100 * s.mean_f1, s.splits.size());
  return out;
}

std::string pope_markdown(const PopeSummary& s) {
  std::string out = "## POPE\n\n| split | n | accuracy (%) | precision (%) | recall (%) | F1 (%) | yes ratio (%) | "
                    "missing |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const PopeMetrics& m : s.splits)
    out += fmt::format("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} |\n", m.split, m.counts.n(),
                       100 * m.accuracy, 100 * m.precision, 100 * m.recall, 100 * m.f1, 100 * m.yes_ratio,
                       m.counts.missing);
  out += fmt::format("| mean ({} splits) | | {:.2f} | | | {:.2f} | | {} |\n", s.splits.size(), 100 * s.mean_accuracy,
                     100 * s.mean_f1, s.missing);
  return out;
}

void check_pope_images(const std::vector<PopeItem>& items, const std::string& root) {
  for (const PopeItem& it : items)
    SGT_CHECK(fs::is_regular_file(fs::path(root) / it.image), "pope", "image {} of question {} ({}) not found under {}",
              it.image, it.question_id, it.split, root);
}

std::vector<PopeAnswer> run_pope(const std::vector<PopeItem>& items, const std::string& root,
                                 const PopeAnswerFn& answer) {
  SGT_CHECK(static_cast<bool>(answer), "pope", "no answer function given");
  check_pope_images(items, root);
  std::vector<PopeAnswer> out;
  std::string loaded;  // the splits ask several questions per image, usually in a row: decode each run once
  data::Image img;
  for (const PopeItem& it : items) {
    if (it.image != loaded) {
      img = data::convert_channels(data::read_image((fs::path(root) / it.image).string()), 3);
      loaded = it.image;
    }
    out.push_back({it.question_id, it.split, answer(img, pope_prompt(it.question)), ""});
  }
  return out;
}

}  // namespace sgt::eval
