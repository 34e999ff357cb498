#pragma once
// Read-only view of a file mapped into memory (PROT_READ, MAP_PRIVATE). Read-only so that a 29 GB checkpoint maps
// on a machine with less memory: a writable private mapping is charged in full against the commit limit, and the
// kernel refuses it ("Cannot allocate memory"). Tensors built on it without a copy (io/torch_tensors.h) must not be
// written: a write faults. Loading copies unless the caller asks for zero-copy (io::LoadOptions::zero_copy).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sgt::io {

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  // Wraps bytes already in memory (tests, fuzzing, files on non-mmap-able filesystems).
  static std::shared_ptr<MappedFile> from_bytes(std::vector<uint8_t> bytes, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> owned_;
};

}  // namespace sgt::io
