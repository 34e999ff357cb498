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

// Shard URLs as webdataset's gopen reads them: a plain path, `file:PATH` (also file:///abs/path; %XX decoded, as
// url2pathname does), or `pipe:CMD`: CMD runs through /bin/sh -c and its stdout is the tar stream. Any other
// scheme (http:, https:, s3:, gs:, ...) is refused (kUnsupportedUrl) with the pipe: form to use instead.
struct ShardUrl {
  enum class Kind { kFile, kPipe } kind = Kind::kFile;
  std::string target;  // the local path, or the shell command
};
// Throws BadSampleError kUnsupportedUrl naming the URL for other schemes and file: URLs with a host.
ShardUrl parse_shard_url(const std::string& url);

class TarReader {
 public:
  // Opens the shard URL (parse_shard_url); compression (gzip, ...) is detected from the content. Throws
  // BadSampleError: kMissingShard for a path that does not exist, kUnsupportedUrl, kPipeFailed when the command
  // cannot start, kTruncatedTar for other unreadable shards.
  explicit TarReader(const std::string& url);
  ~TarReader();
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // Reads the next regular-file member into e; false at the end of the archive. Throws sgt::Error naming the
  // shard and the entry on truncated or corrupt data. For pipe: shards the end of the archive also waits for the
  // command: an exit status other than 0 (or 141, SIGPIPE after sgt stopped reading, which webdataset ignores
  // too) is kPipeFailed naming the command and its status. A pipe cannot seek: it is read from its start each
  // time it is opened (a resume replays the stream and skips, data/loader.h).
  bool next(TarEntry& e);
  const std::string& path() const { return path_; }

 private:
  bool read_member(TarEntry& e);
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
