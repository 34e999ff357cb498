#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

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
  struct stat st {};
  // Keep a symlink: publish its final target. Followed hop by hop (not canonical()) so that a dangling link creates
  // its target instead of being replaced; 40 hops is the kernel's own ELOOP limit.
  const std::string given = path_;
  for (int hop = 0; ::lstat(path_.c_str(), &st) == 0 && S_ISLNK(st.st_mode); ++hop) {
    SGT_CHECK(hop < 40, kC, "cannot resolve the symlink {}: too many levels of links", given);
    std::error_code ec;
    const std::filesystem::path link(path_), target = std::filesystem::read_symlink(link, ec);
    SGT_CHECK(!ec, kC, "cannot resolve the symlink {}: {}", path_, ec.message());
    path_ = (target.is_absolute() ? target : link.parent_path() / target).lexically_normal().string();
  }
  if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    const bool stream = S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
    SGT_CHECK(stream, kC, "refusing to replace {}: it is a {}, not a regular file", path_,
              S_ISDIR(st.st_mode) ? "folder" : S_ISSOCK(st.st_mode) ? "socket" : "special file");
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    SGT_CHECK(fd_ >= 0, kC, "cannot open {} for writing: {}", path_, std::strerror(errno));
    stream_ = true;
    return;
  }
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SGT_CHECK(fd_ >= 0, kC, "cannot create {}: {}", tmp_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !stream_) ::unlink(tmp_.c_str());
}

namespace {
// Writes all n bytes (write(2) may take fewer, or be interrupted); 0, or the errno of the failure (EIO for a write
// that took nothing).
int write_all(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno : EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}
}  // namespace

void AtomicFile::write(const void* data, size_t n) {
  SGT_CHECK(fd_ >= 0 && !committed_, kC, "{}: write after commit", path_);
  const int err = write_all(fd_, data, n);
  SGT_CHECK(err == 0, kC, "writing {} failed: {}", stream_ ? path_ : tmp_, std::strerror(err));
}

void AtomicFile::commit() {
  SGT_CHECK(!committed_, kC, "{}: committed twice", path_);
  if (stream_) {  // a FIFO / device has no durable content to fsync and nothing to rename
    ::close(fd_);
    fd_ = -1;
    committed_ = true;
    return;
  }
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

void append_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  SGT_CHECK(fd >= 0, kC, "cannot open {} to append: {}", path, std::strerror(errno));
  struct stat st {};
  const off_t before = ::fstat(fd, &st) == 0 ? st.st_size : -1;
  int err = write_all(fd, text.data(), text.size());
  if (err != 0 && before >= 0 && S_ISREG(st.st_mode)) (void)!::ftruncate(fd, before);  // no torn last line
  if (::close(fd) != 0 && err == 0) err = errno;
  SGT_CHECK(err == 0, kC, "appending {} bytes to {} failed: {}", text.size(), path, std::strerror(err));
}

}  // namespace sgt::io
