#include "io/tensor_source.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "io/atomic_file.h"

namespace sgt::io {
namespace fs = std::filesystem;
namespace {
constexpr const char* kC = "tensor-source";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Loads the shards named by an HF index file and checks that every entry of its weight_map is in its shard.
TensorSource open_index(const std::string& index_path) {
  const std::string text = read_text_file(index_path);
  config::Json j;
  try {
    j = config::parse(text, index_path);
  } catch (const Error& e) {  // reported by this component: "[tensor-source] PATH: malformed JSON at byte N: ..."
    SGT_FAIL(kC, "{}", e.detail());
  }
  SGT_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), kC,
            "{}: index has no weight_map object", index_path);
  const auto& wm = j["weight_map"];
  std::vector<std::string> shard_names;
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    SGT_CHECK(it.value().is_string(), kC, "{}: weight_map['{}'] is not a file name", index_path, it.key());
    std::string s = it.value().get<std::string>();
    SGT_CHECK(s.find('/') == std::string::npos && s != ".." && !s.empty(), kC,
              "{}: weight_map['{}'] = '{}' must be a file name in the same folder", index_path, it.key(), s);
    if (std::find(shard_names.begin(), shard_names.end(), s) == shard_names.end()) shard_names.push_back(s);
  }
  std::sort(shard_names.begin(), shard_names.end());
  std::vector<SafetensorsFile> files;
  const std::string dir = parent_dir(index_path);
  for (const auto& s : shard_names) files.push_back(SafetensorsFile::open(dir + "/" + s));
  TensorSource src = TensorSource::from_files(std::move(files), index_path);
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    const TensorRef* r = src.find(it.key());
    SGT_CHECK(r != nullptr, kC, "{}: weight_map names '{}' but no shard holds it", index_path, it.key());
    SGT_CHECK(fs::path(r->file->path()).filename() == it.value().get<std::string>(), kC,
              "{}: '{}' is mapped to {} but found in {}", index_path, it.key(), it.value().get<std::string>(),
              r->file->path());
  }
  SGT_CHECK(src.size() == wm.size(), kC, "{}: shards hold {} tensors but weight_map lists {}", index_path, src.size(),
            wm.size());
  return src;
}

}  // namespace

TensorSource TensorSource::from_files(std::vector<SafetensorsFile> files, std::string description) {
  TensorSource src;
  src.files_ = std::move(files);
  src.description_ = std::move(description);
  src.index_files();
  return src;
}

void TensorSource::index_files() {
  refs_.clear();
  for (const auto& f : files_) {
    for (const auto& t : f.tensors()) {
      auto [it, inserted] = refs_.emplace(t.name, TensorRef{&f, &t});
      SGT_CHECK(inserted, kC, "{}: tensor '{}' is in both {} and {}", description_, t.name, it->second.file->path(),
                f.path());
    }
  }
}

TensorSource TensorSource::open(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  SGT_CHECK(!ec && fs::exists(status), kC, "{} does not exist", path);
  if (fs::is_directory(status)) {
    std::vector<std::string> indexes, shards;
    for (const auto& e : fs::directory_iterator(path)) {
      const std::string name = e.path().filename().string();
      if (ends_with(name, ".safetensors.index.json")) indexes.push_back(e.path().string());
      if (ends_with(name, ".safetensors") && e.is_regular_file()) shards.push_back(e.path().string());
    }
    if (indexes.size() == 1) return open_index(indexes[0]);
    SGT_CHECK(indexes.empty(), kC, "{} holds {} index files; name one of them", path, indexes.size());
    SGT_CHECK(!shards.empty(), kC, "{} holds no *.safetensors files", path);
    std::sort(shards.begin(), shards.end());
    std::vector<SafetensorsFile> files;
    for (const auto& s : shards) files.push_back(SafetensorsFile::open(s));
    return from_files(std::move(files), path);
  }
  if (ends_with(path, ".json")) return open_index(path);
  std::vector<SafetensorsFile> files;
  files.push_back(SafetensorsFile::open(path));
  return from_files(std::move(files), path);
}

std::vector<std::string> TensorSource::names() const {
  std::vector<std::string> out;
  out.reserve(refs_.size());
  for (const auto& [k, v] : refs_) out.push_back(k);
  return out;
}

const TensorRef* TensorSource::find(const std::string& name) const {
  auto it = refs_.find(name);
  return it == refs_.end() ? nullptr : &it->second;
}

const TensorRef& TensorSource::at(const std::string& name) const {
  const TensorRef* r = find(name);
  SGT_CHECK(r != nullptr, kC, "{}: no tensor named '{}'", description_, name);
  return *r;
}

std::map<std::string, std::string> TensorSource::metadata() const {
  std::map<std::string, std::string> out;
  for (const auto& f : files_)
    for (const auto& [k, v] : f.metadata()) out.emplace(k, v);
  return out;
}

}  // namespace sgt::io
