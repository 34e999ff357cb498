#include "io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/error.h"

namespace sgt::io {
namespace {
constexpr const char* kC = "run-lock";

// Locks held by this process, by canonical path: a second acquire() returns the same lock instead of
// deadlocking on our own flock (flock locks belong to open file descriptions, not to processes).
std::mutex g_mu;
std::map<std::string, std::weak_ptr<RunLock>>& held() {
  static std::map<std::string, std::weak_ptr<RunLock>> m;
  return m;
}

std::string holder_text() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  char when[32] = {};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return "pid " + std::to_string(::getpid()) + " on host " + host + " since " + when + "\n";
}

std::string read_fd(int fd) {
  std::string out(512, '\0');
  const ssize_t n = ::pread(fd, out.data(), out.size(), 0);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\0')) out.pop_back();
  return out.empty() ? "an unknown process" : out;
}
}  // namespace

std::shared_ptr<RunLock> RunLock::acquire(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  SGT_CHECK(!ec, kC, "cannot create the run folder {}: {}", dir, ec.message());
  const std::string path = (std::filesystem::weakly_canonical(dir) / "LOCK").string();
  std::lock_guard<std::mutex> g(g_mu);
  if (auto it = held().find(path); it != held().end())
    if (auto lock = it->second.lock()) return lock;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SGT_CHECK(fd >= 0, kC, "cannot open {}: {}", path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string who = read_fd(fd);
    ::close(fd);
    SGT_CHECK(err != EWOULDBLOCK, kC,
              "the run folder {} is in use by {} (lock file {}); wait for that run to end or stop it, or use another "
              "--run-dir",
              dir, who, path);
    SGT_FAIL(kC, "cannot lock {}: {}", path, std::strerror(err));
  }
  const std::string text = holder_text();
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    const int err = errno;
    ::close(fd);
    SGT_FAIL(kC, "cannot write {}: {}", path, std::strerror(err));
  }
  std::shared_ptr<RunLock> lock(new RunLock(path, fd));
  held()[path] = lock;
  return lock;
}

RunLock::~RunLock() {
  // The file stays (removing it would race with a process that just opened it); closing drops the lock.
  ::close(fd_);
}

}  // namespace sgt::io
