#pragma once
// safetensors reader and writer (format: 8-byte little-endian header length N, N bytes of JSON, data region).
// The reader mmaps the file and validates the whole header before any tensor is touched: header length bounded
// by the file, well-formed JSON, known dtypes, offsets inside the data region and non-overlapping, and
// shape x dtype size equal to each byte span. Any violation is an sgt::Error naming the file and the tensor.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "io/mmap.h"

namespace sgt::io {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data region
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  // Parses an in-memory file (same validation); used by tests and the fuzzer.
  static SafetensorsFile from_mapping(std::shared_ptr<MappedFile> mapping);

  const std::string& path() const { return mapping_->path(); }
  // Tensors in file order (ascending offsets).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const TensorInfo& at(const std::string& name) const;  // throws naming the file
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The bytes of one tensor inside the mapping (no copy).
  std::span<const uint8_t> bytes(const TensorInfo& t) const;
  const std::shared_ptr<MappedFile>& mapping() const { return mapping_; }
  uint64_t data_offset() const { return data_offset_; }

 private:
  std::shared_ptr<MappedFile> mapping_;
  uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Largest header accepted (the Python/Rust implementation uses the same bound).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;  // exactly numel x dtype_size bytes, little-endian
};

// Writes a safetensors file and publishes it atomically (temporary file, fsync, rename, fsync of the folder):
// readers see the old file or the complete new one, never a partial one. Tensors are stored sorted by name;
// the header is space-padded to a multiple of 8 bytes so that every tensor stays 8-byte aligned.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sgt::io
