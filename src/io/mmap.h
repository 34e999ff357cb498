#pragma once
// Read-only view of a file mapped into memory. Mapped MAP_PRIVATE with write permission so that tensors built
// on it without a copy stay safe when someone writes into them (copy-on-write pages; the file never changes).
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
  uint8_t* mutable_data() { return data_; }
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
