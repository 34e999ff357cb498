// LLaVA-style VQA records (BAGEL's vlm_sft JSONL). Only parsing and image loading live here; prompt
// templating belongs to the text layer and packing to the loader.
#include "data/llava.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sgt::data {
namespace fs = std::filesystem;
using json = nlohmann::json;

int64_t LlavaRecord::placeholder_count() const {
  int64_t n = 0;
  for (const auto& t : turns)
    for (size_t i = t.value.find(kImagePlaceholder); i != std::string::npos;
         i = t.value.find(kImagePlaceholder, i + kImagePlaceholder.size()))
      ++n;
  return n;
}

LlavaRecord parse_llava_record(std::string_view text, const std::string& where) {
  constexpr auto kBadJson = BadSampleReason::kBadJson;
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    throw BadSampleError(kBadJson, "llava", fmt::format("{}: invalid JSON: {}", where, e.what()));
  }
  SGT_BAD_SAMPLE(j.is_object(), kBadJson, "llava", "{}: record is not a JSON object", where);
  // BAGEL's vlm_sft also reads {"video": ...} records through a frame sampler; sgt has none, and training on the
  // literal "<video>" text would be silently wrong.
  SGT_BAD_SAMPLE(!j.contains("video"), BadSampleReason::kBadText, "llava",
                 "{}: video records are not supported (no frame sampler)", where);
  LlavaRecord rec;
  if (auto id = j.find("id"); id != j.end()) rec.id = id->is_string() ? id->get<std::string>() : id->dump();
  if (auto img = j.find("image"); img != j.end() && !img->is_null()) {
    if (img->is_string()) {
      rec.images.push_back(img->get<std::string>());
    } else {
      SGT_BAD_SAMPLE(img->is_array(), kBadJson, "llava", "{}: 'image' must be a string or a list", where);
      for (const auto& x : *img) {
        SGT_BAD_SAMPLE(x.is_string(), kBadJson, "llava", "{}: 'image' list holds a non-string", where);
        rec.images.push_back(x.get<std::string>());
      }
    }
  }
  auto conv = j.find("conversations");
  SGT_BAD_SAMPLE(conv != j.end() && conv->is_array(), kBadJson, "llava", "{}: no 'conversations' list", where);
  for (const auto& t : *conv) {
    SGT_BAD_SAMPLE(t.is_object() && t.contains("from") && t.contains("value") && t["from"].is_string() &&
                       t["value"].is_string(),
                   kBadJson, "llava", "{}: a turn is not {{\"from\": str, \"value\": str}}", where);
    rec.turns.push_back({t["from"].get<std::string>(), t["value"].get<std::string>()});
  }
  constexpr auto kBadText = BadSampleReason::kBadText;
  SGT_BAD_SAMPLE(!rec.turns.empty(), kBadText, "llava", "{}: empty conversation", where);
  SGT_BAD_SAMPLE(rec.turns.front().is_user(), kBadText, "llava", "{}: first turn is from '{}', not the user", where,
                 rec.turns.front().from);
  const int64_t n = rec.placeholder_count();
  SGT_BAD_SAMPLE(n == static_cast<int64_t>(rec.images.size()), kBadText, "llava",
                 "{}: {} <image> placeholders but {} images", where, n, rec.images.size());
  return rec;
}

namespace {
std::string strip(std::string_view s) {
  // Python's str.strip(): ASCII whitespace and the other Unicode spaces are rare in prompts; ASCII covers LLaVA.
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}
}  // namespace

std::vector<ConversationPiece> conversation_pieces(const LlavaRecord& rec, int64_t num_images) {
  std::vector<ConversationPiece> out;
  int64_t next_image = 0;
  for (const auto& t : rec.turns) {
    if (t.is_user()) {
      if (t.value.find(kImagePlaceholder) == std::string::npos) {
        out.push_back({false, t.value, false, -1});
        continue;
      }
      size_t begin = 0;
      for (int64_t k = 0;; ++k) {
        const size_t at = t.value.find(kImagePlaceholder, begin);
        const std::string piece = strip(std::string_view(t.value).substr(
            begin, at == std::string::npos ? std::string::npos : at - begin));
        if (!piece.empty()) out.push_back({false, piece, false, -1});
        if (at == std::string::npos) break;
        if (k < num_images) out.push_back({true, {}, false, next_image++});
        begin = at + kImagePlaceholder.size();
      }
    } else if (t.from == "gpt" || t.from == "assistant") {
      out.push_back({false, t.value, true, -1});
    }
  }
  return out;
}

struct LlavaJsonlReader::Impl {
  std::ifstream f;
};

LlavaJsonlReader::LlavaJsonlReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->f.open(path, std::ios::binary);
  SGT_CHECK(impl_->f, "llava", "cannot open {}", path);
}
LlavaJsonlReader::~LlavaJsonlReader() = default;

bool LlavaJsonlReader::next(LlavaRecord& rec) {
  std::string line;
  while (std::getline(impl_->f, line)) {
    ++line_;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    rec = parse_llava_record(line, fmt::format("{}:{}", path_, line_));
    return true;
  }
  return false;
}

LlavaSample load_llava_images(LlavaRecord rec, const std::string& image_root, int64_t min_side_hint) {
  LlavaSample s;
  for (const auto& rel : rec.images) {
    const std::string path = image_root.empty() || rel.starts_with("/") ? rel : image_root + "/" + rel;
    SGT_BAD_SAMPLE(fs::exists(path), BadSampleReason::kMissingField, "llava", "record {}: image {} does not exist",
                   rec.id, path);
    s.images.push_back(convert_channels(read_image(path, min_side_hint), 3));
  }
  s.record = std::move(rec);
  return s;
}

LlavaSample decode_llava_wds(const WdsSample& w, int64_t min_side_hint) {
  const auto& js = w.at("json");
  const std::string where = w.url + ":" + w.key;
  LlavaRecord rec = parse_llava_record(std::string_view(reinterpret_cast<const char*>(js.data()), js.size()), where);
  if (rec.id.empty()) rec.id = w.key;
  std::vector<std::string> exts;
  if (rec.images.empty() && rec.placeholder_count() == 0) {
    // nothing to load: a text-only record
  } else {
    for (const auto& name : rec.images) {
      if (w.has(name)) {
        exts.push_back(name);
        continue;
      }
      // A file name: the member is found by its extension after the first dot of the basename.
      auto split = wds_split_key(name);
      std::string ext = split ? split->second : name;
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
      SGT_BAD_SAMPLE(w.has(ext), BadSampleReason::kMissingField, "llava", "{}: no member for image '{}'", where, name);
      exts.push_back(ext);
    }
  }
  LlavaSample s;
  for (const auto& ext : exts) s.images.push_back(convert_channels(decode_image(w.at(ext), where + "." + ext, min_side_hint), 3));
  s.record = std::move(rec);
  return s;
}

}  // namespace sgt::data
