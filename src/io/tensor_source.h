#pragma once
// A set of safetensors files seen as one name -> tensor map: a single file, a sharded checkpoint through its
// `*.safetensors.index.json`, or a folder (its index if it has exactly one, else every *.safetensors in it).
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace sgt::io {

struct TensorRef {
  const SafetensorsFile* file;
  const TensorInfo* info;
};

class TensorSource {
 public:
  static TensorSource open(const std::string& path);
  static TensorSource from_files(std::vector<SafetensorsFile> files, std::string description);
  TensorSource() = default;
  TensorSource(TensorSource&&) = default;
  TensorSource& operator=(TensorSource&&) = default;
  TensorSource(const TensorSource&) = delete;  // refs_ point into files_
  TensorSource& operator=(const TensorSource&) = delete;

  const std::vector<SafetensorsFile>& files() const { return files_; }
  // Every tensor name, sorted.
  std::vector<std::string> names() const;
  const TensorRef* find(const std::string& name) const;
  const TensorRef& at(const std::string& name) const;
  size_t size() const { return refs_.size(); }
  const std::string& description() const { return description_; }
  // Metadata of the first file that has the key.
  std::map<std::string, std::string> metadata() const;

 private:
  void index_files();
  std::vector<SafetensorsFile> files_;
  std::map<std::string, TensorRef> refs_;
  std::string description_;
};

}  // namespace sgt::io
