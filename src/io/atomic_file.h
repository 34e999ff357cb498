#pragma once
// Crash-safe publication of files: write to a temporary file beside the target, fsync it, rename it over the
// target, fsync the folder. A crash at any moment leaves either the old file or the complete new one.
// What the target already is decides how it is written (a rename would silently replace it):
//   - absent or a regular file: temporary file + rename, as above;
//   - a symlink: the link is kept and its final target (std::filesystem::weakly_canonical) is written atomically;
//   - a FIFO or a character / block device (e.g. --out /dev/stdout): the bytes are streamed straight into it, no
//     rename, no atomicity (there is nothing to rename over);
//   - a folder, a socket or anything else: sgt::Error (component "atomic-file"), nothing is written.
#include <cstddef>
#include <string>

#include "core/file.h"

namespace sgt::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // not committed: the temporary file is removed, the target is untouched
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void commit();
  const std::string& temp_path() const { return tmp_; }

 private:
  std::string path_, tmp_;  // path_: the file written (a symlink's final target); tmp_ empty when streaming
  int fd_ = -1;
  bool committed_ = false;
  bool stream_ = false;  // FIFO / device: fd_ is the target itself
};

void atomic_write_text(const std::string& path, const std::string& text);
// Appends text to path (created if absent) with every write checked: a full disk or an I/O error is an sgt::Error
// naming the file, and a partial write is cut back so the file never ends in a torn line (metrics.jsonl).
void append_text(const std::string& path, const std::string& text);
// fsync a folder so that a rename inside it is durable.
void fsync_dir(const std::string& dir);
using ::sgt::read_text_file;  // core/file.h; kept under io:: for its many callers
std::string parent_dir(const std::string& path);

}  // namespace sgt::io
