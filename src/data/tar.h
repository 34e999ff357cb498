#pragma once
// Streaming tar reader and writer over libarchive (plain and gzip-compressed POSIX tar).
// Only regular files are returned by the reader; directories, links and other entries are skipped.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sgt::data {

struct TarEntry {
  std::string name;           // member path as stored
  std::vector<uint8_t> data;  // contents
};

class TarReader {
 public:
  // Opens the shard; compression (gzip, ...) is detected from the content. Throws sgt::Error if unreadable.
  explicit TarReader(const std::string& path);
  ~TarReader();
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // Reads the next regular-file member into e; false at the end of the archive. Throws sgt::Error naming the
  // shard and the entry on truncated or corrupt data.
  bool next(TarEntry& e);
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

class TarWriter {
 public:
  // Gzip-compressed when path ends in ".tar.gz" or ".tgz". The file appears at `path` only on close().
  explicit TarWriter(const std::string& path);
  ~TarWriter();  // without close(): nothing is published
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  void add(const std::string& name, std::span<const uint8_t> data);
  void add(const std::string& name, const std::string& text);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

}  // namespace sgt::data
