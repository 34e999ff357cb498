// SA-1B samples: jpg + json pairs (docs/data.md, "SA-1B") and the SGT path-list layout (docs/data.md, "SAM-SGT
// samples").
#include "data/sa1b.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_limited.h"
#include "data/resize.h"

namespace sgt::data {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr auto kBadJson = BadSampleReason::kBadJson;

template <class T>
T get_field(const json& j, const char* field, const std::string& name, const char* where) {
  auto it = j.find(field);
  SGT_BAD_SAMPLE(it != j.end(), kBadJson, "sa1b", "{}: {} has no field '{}'", name, where, field);
  // An integer too long for int64 parses as a double (5.6e45), and nlohmann's get<int64_t>() of it is a
  // float-to-int conversion out of range (undefined behaviour, found by fuzz/fuzz_sa1b.cpp): refused first.
  if constexpr (std::is_integral_v<T>) {
    if (it->is_number_float()) {
      const double v = it->template get<double>();
      SGT_BAD_SAMPLE(v >= -0x1p63 && v < 0x1p63, kBadJson, "sa1b", "{}: {}.{} = {} is outside the 64-bit integer range",
                     name, where, field, v);
    }
  }
  try {
    return it->get<T>();
  } catch (const json::exception& e) {
    throw BadSampleError(kBadJson, "sa1b",
                         fmt::format("{}: {}.{} has the wrong type ({}): {}", name, where, field, it->type_name(),
                                     e.what()));
  }
}

template <size_t N>
std::array<double, N> get_array(const json& j, const char* field, const std::string& name, bool required) {
  std::array<double, N> out{};
  auto it = j.find(field);
  if (it == j.end()) {
    SGT_BAD_SAMPLE(!required, kBadJson, "sa1b", "{}: annotation has no field '{}'", name, field);
    return out;
  }
  SGT_BAD_SAMPLE(it->is_array() && it->size() == N, kBadJson, "sa1b", "{}: annotation.{} must be {} numbers", name,
                 field, N);
  for (size_t i = 0; i < N; ++i) {
    SGT_BAD_SAMPLE((*it)[i].is_number(), kBadJson, "sa1b", "{}: annotation.{}[{}] is not a number", name, field, i);
    out[i] = (*it)[i].get<double>();
  }
  return out;
}

Rle parse_segmentation(const json& seg, const SaImageInfo& info, const std::string& name, int64_t index) {
  SGT_BAD_SAMPLE(seg.is_object(), kBadJson, "sa1b", "{}: annotation {} segmentation is not an RLE object", name,
                 index);
  auto size = seg.find("size");
  SGT_BAD_SAMPLE(size != seg.end() && size->is_array() && size->size() == 2 && (*size)[0].is_number_integer() &&
                     (*size)[1].is_number_integer(),
                 kBadJson, "sa1b", "{}: annotation {} segmentation.size must be [h, w]", name, index);
  const int64_t h = (*size)[0].get<int64_t>(), w = (*size)[1].get<int64_t>();
  SGT_BAD_SAMPLE(h == info.height && w == info.width, BadSampleReason::kSizeMismatch, "sa1b",
                 "{}: annotation {} mask size [{}, {}] != image size [{}, {}]", name, index, h, w, info.height,
                 info.width);
  auto counts = seg.find("counts");
  SGT_BAD_SAMPLE(counts != seg.end(), kBadJson, "sa1b", "{}: annotation {} segmentation has no counts", name, index);
  try {
    if (counts->is_string()) return rle_from_string(counts->get_ref<const std::string&>(), h, w);
    SGT_BAD_SAMPLE(counts->is_array(), kBadJson, "sa1b", "{}: annotation {} counts is neither str nor list", name,
                   index);
    Rle r{h, w, {}};  // uncompressed RLE
    for (const auto& c : *counts) {
      SGT_BAD_SAMPLE(c.is_number_unsigned() || (c.is_number_integer() && c.get<int64_t>() >= 0), kBadJson, "sa1b",
                     "{}: annotation {} counts has a non-count entry", name, index);
      r.counts.push_back(c.get<uint32_t>());
    }
    rle_validate(r);
    return r;
  } catch (const BadSampleError&) {
    throw;
  } catch (const Error& e) {
    throw BadSampleError(BadSampleReason::kBadRle, "sa1b",
                         fmt::format("{}: annotation {}: {}", name, index, e.what()));
  }
}

std::string strip_dot_slash(std::string s) {
  while (s.starts_with("./")) s.erase(0, 2);
  return s;
}

}  // namespace

SaRecord parse_sa1b_json(std::string_view text, const std::string& name, int64_t max_masks) {
  SGT_CHECK(max_masks >= 1, "sa1b", "max_masks {} must be >= 1", max_masks);
  json j;
  try {
    j = parse_json_limited<json>(text, name);
  } catch (const json::exception& e) {
    throw BadSampleError(kBadJson, "sa1b", fmt::format("{}: invalid JSON: {}", name, e.what()));
  } catch (const Error& e) {  // nested too deep: a bad sample like any other unusable JSON
    throw BadSampleError(kBadJson, "sa1b", e.detail());
  }
  SGT_BAD_SAMPLE(j.is_object(), kBadJson, "sa1b", "{}: top level is not an object", name);
  auto img = j.find("image");
  SGT_BAD_SAMPLE(img != j.end() && img->is_object(), kBadJson, "sa1b", "{}: no 'image' object", name);
  SaRecord rec;
  rec.image.image_id = get_field<int64_t>(*img, "image_id", name, "image");
  rec.image.width = get_field<int64_t>(*img, "width", name, "image");
  rec.image.height = get_field<int64_t>(*img, "height", name, "image");
  if (img->contains("file_name")) rec.image.file_name = get_field<std::string>(*img, "file_name", name, "image");
  SGT_BAD_SAMPLE(rec.image.width > 0 && rec.image.height > 0, kBadJson, "sa1b", "{}: image size {}x{} not positive",
                 name, rec.image.width, rec.image.height);
  auto anns = j.find("annotations");
  SGT_BAD_SAMPLE(anns != j.end() && anns->is_array(), kBadJson, "sa1b", "{}: no 'annotations' list", name);
  SGT_BAD_SAMPLE(static_cast<int64_t>(anns->size()) <= max_masks, BadSampleReason::kTooLarge, "sa1b",
                 "{}: {} annotations, above the limit of {} masks per sample (proxy task key max_masks)", name,
                 anns->size(), max_masks);
  rec.annotations.reserve(anns->size());
  int64_t index = 0;
  for (const auto& a : *anns) {
    SGT_BAD_SAMPLE(a.is_object(), kBadJson, "sa1b", "{}: annotation {} is not an object", name, index);
    SaAnnotation ann;
    ann.id = a.contains("id") ? get_field<int64_t>(a, "id", name, "annotation") : index;
    auto seg = a.find("segmentation");
    SGT_BAD_SAMPLE(seg != a.end(), kBadJson, "sa1b", "{}: annotation {} has no segmentation", name, index);
    ann.segmentation = parse_segmentation(*seg, rec.image, name, index);
    ann.bbox = get_array<4>(a, "bbox", name, false);
    ann.crop_box = get_array<4>(a, "crop_box", name, false);
    ann.area = a.contains("area") ? get_field<int64_t>(a, "area", name, "annotation")
                                  : static_cast<int64_t>(rle_area(ann.segmentation));
    if (a.contains("predicted_iou")) ann.predicted_iou = get_field<double>(a, "predicted_iou", name, "annotation");
    if (a.contains("stability_score"))
      ann.stability_score = get_field<double>(a, "stability_score", name, "annotation");
    if (auto pc = a.find("point_coords"); pc != a.end() && pc->is_array()) {
      for (const auto& p : *pc) {
        SGT_BAD_SAMPLE(p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number(), kBadJson, "sa1b",
                       "{}: annotation {} point_coords entry is not [x, y]", name, index);
        ann.point_coords.push_back({p[0].get<double>(), p[1].get<double>()});
      }
    }
    rec.annotations.push_back(std::move(ann));
    ++index;
  }
  return rec;
}

void check_sa1b_image_size(std::span<const uint8_t> image, const SaRecord& rec, const std::string& name) {
  const ImageInfo info = probe_image(image, name);
  SGT_BAD_SAMPLE(info.width == rec.image.width && info.height == rec.image.height, BadSampleReason::kSizeMismatch,
                 "sa1b", "{}: the image is {}x{} (width x height) but its SA-1B json says {}x{}{}", name, info.width,
                 info.height, rec.image.width, rec.image.height,
                 info.width == rec.image.height && info.height == rec.image.width ? " (transposed)" : "");
}

Sa1bSample decode_sa1b(const Sa1bRaw& raw, int64_t min_side_hint, int64_t max_masks) {
  const std::string name = raw.source + ":" + raw.key;
  Sa1bSample s;
  s.key = raw.key;
  s.record = parse_sa1b_json(std::string_view(reinterpret_cast<const char*>(raw.json.data()), raw.json.size()),
                             name + ".json", max_masks);
  check_sa1b_image_size(raw.jpg, s.record, name + ".jpg");
  s.image = convert_channels(decode_image(raw.jpg, name + ".jpg", min_side_hint), 3);
  return s;
}

Sa1bSource::Sa1bSource() = default;
Sa1bSource::Sa1bSource(Sa1bSource&&) noexcept = default;
Sa1bSource& Sa1bSource::operator=(Sa1bSource&&) noexcept = default;
Sa1bSource::~Sa1bSource() = default;

Sa1bSource Sa1bSource::from_shards(std::vector<std::string> shards) {
  Sa1bSource s;
  s.wds_ = std::make_unique<WdsReader>(std::move(shards));
  return s;
}

Sa1bSource Sa1bSource::from_folder(const std::string& folder) {
  SGT_CHECK(fs::is_directory(folder), "sa1b", "{} is not a folder", folder);
  Sa1bSource s;
  s.folder_ = folder;
  for (const auto& e : fs::directory_iterator(folder)) {
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".json")) s.files_.push_back(e.path().string());
  }
  std::sort(s.files_.begin(), s.files_.end());
  return s;
}

bool Sa1bSource::next(Sa1bRaw& raw) {
  if (wds_) {
    WdsSample w;
    if (!wds_->next(w)) return false;
    raw.key = strip_dot_slash(w.key);
    raw.source = w.url;
    raw.jpg.clear();
    raw.json.clear();
    auto jpg = w.fields.find("jpg"), js = w.fields.find("json");
    SGT_BAD_SAMPLE(jpg != w.fields.end() && js != w.fields.end(), BadSampleReason::kMissingField, "sa1b",
                   "{}: sample {} lacks its {} member", w.url, w.key, jpg == w.fields.end() ? ".jpg" : ".json");
    raw.jpg = std::move(jpg->second);
    raw.json = std::move(js->second);
    return true;
  }
  // Folder form: files_ is sorted, so sa_1.jpg and sa_1.json are adjacent (".jpg" < ".json").
  if (pos_ >= files_.size()) return false;
  const fs::path p(files_[pos_]);
  const std::string stem = p.stem().string();
  raw.key = stem;
  raw.source = folder_;
  const bool is_jpg = p.extension() == ".jpg";
  const bool paired = pos_ + 1 < files_.size() && fs::path(files_[pos_ + 1]).stem() == stem &&
                      fs::path(files_[pos_ + 1]).extension() != p.extension();
  pos_ += paired ? 2 : 1;
  SGT_BAD_SAMPLE(paired, BadSampleReason::kMissingField, "sa1b", "{}: {} has no matching {}", folder_,
                 p.filename().string(), is_jpg ? stem + ".json" : stem + ".jpg");
  raw.jpg = read_file_bytes(p.string());
  raw.json = read_file_bytes(files_[pos_ - 1]);
  return true;
}

std::string sgt_mask_path(const std::string& image_path) {
  auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
    for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
    return s;
  };
  return replace_all(replace_all(image_path, "sam_selection", "sam_mask"), "jpg", "png");
}

std::vector<SgtPair> read_sgt_index(const std::string& list_file, const std::string& root, int64_t limit) {
  std::ifstream f(list_file);
  SGT_CHECK(f, "sa1b", "cannot open SGT index {}", list_file);
  std::vector<SgtPair> out;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) continue;
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
    std::string path = (!root.empty() && line.front() != '/') ? root + "/" + line : line;
    out.push_back({path, sgt_mask_path(path)});
  }
  return out;
}

SgtSample load_sgt_pair(const SgtPair& pair, MaskResize resize) {
  SGT_BAD_SAMPLE(fs::exists(pair.image_path), BadSampleReason::kMissingField, "sa1b", "image {} does not exist",
                 pair.image_path);
  SGT_BAD_SAMPLE(fs::exists(pair.mask_path), BadSampleReason::kMissingField, "sa1b",
                 "target mask {} (of {}) does not exist", pair.mask_path, pair.image_path);
  SgtSample s;
  s.image = convert_channels(read_image(pair.image_path), 3);
  s.mask = convert_channels(read_image(pair.mask_path), 3);
  if (s.mask.width != s.image.width || s.mask.height != s.image.height) {
    SGT_BAD_SAMPLE(resize != MaskResize::kReject, BadSampleReason::kSizeMismatch, "sa1b",
                   "mask {} is {}x{} but image {} is {}x{}", pair.mask_path, s.mask.width, s.mask.height,
                   pair.image_path, s.image.width, s.image.height);
    s.mask = resize == MaskResize::kNearest ? resize_nearest(s.mask, s.image.width, s.image.height)
                                            : resize_bicubic(s.mask, s.image.width, s.image.height);
  }
  return s;
}

}  // namespace sgt::data
