#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace sgt::io {
namespace {
constexpr const char* kC = "atomic-file";
std::atomic<uint64_t> g_counter{0};
}  // namespace

std::string parent_dir(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  SGT_CHECK(fd >= 0, kC, "cannot open folder {}: {}", dir, std::strerror(errno));
  ::fsync(fd);
  ::close(fd);
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SGT_CHECK(fd_ >= 0, kC, "cannot create {}: {}", tmp_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  SGT_CHECK(fd_ >= 0 && !committed_, kC, "{}: write after commit", path_);
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    SGT_CHECK(w > 0, kC, "writing {} failed: {}", tmp_, std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  SGT_CHECK(!committed_, kC, "{}: committed twice", path_);
  SGT_CHECK(::fsync(fd_) == 0, kC, "fsync {} failed: {}", tmp_, std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  SGT_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, kC, "rename {} -> {} failed: {}", tmp_, path_,
            std::strerror(errno));
  committed_ = true;
  fsync_dir(parent_dir(path_));
}

void atomic_write_text(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace sgt::io
