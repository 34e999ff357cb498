#pragma once
// One writer per run folder. Two `sgt tune` on one run folder would delete each other's partial checkpoints and
// write duplicate steps into metrics.jsonl, so the trainer holds an exclusive lock on <run>/LOCK while it runs.
//
// The lock is flock(2) on the file: the kernel drops it when the holder exits or is killed, so there are no stale
// locks to clean up. The file's text names the holder ("pid 123 on host gpu7 since 2026-12-02T19:40:05Z"), which a
// refused run quotes. Within one process the lock is re-entrant (the recipe's CLI and its trainer both take it).
// flock is advisory and local on some network file systems (docs/security.md).
#include <memory>
#include <string>

namespace sgt::io {

class RunLock {
 public:
  // Takes the lock on <dir>/LOCK (creating dir). Throws sgt::Error (component "run-lock") naming the folder and
  // the holder when another process holds it.
  static std::shared_ptr<RunLock> acquire(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  RunLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

}  // namespace sgt::io
