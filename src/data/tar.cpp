// Tar shards through libarchive. The writer streams into an io::AtomicFile, so a shard appears complete or not
// at all; the reader reports libarchive's own diagnosis ("Truncated tar archive", "Damaged tar archive", gzip
// errors) with the shard path and the member being read. Shard URLs follow webdataset's gopen.py (gopen,
// gopen_file, gopen_pipe and its Pipe class: shell=True, exit status 141 ignored).
#include "data/tar.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"
#include "data/bad_sample.h"
#include "io/atomic_file.h"

extern char** environ;

namespace sgt::data {
namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
std::string archive_msg(archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "unknown libarchive error";
}

// urllib.parse.urlsplit's scheme: letters, digits, "+-." before the first ':', starting with a letter; lower-cased.
std::string url_scheme(const std::string& url) {
  const size_t colon = url.find(':');
  if (colon == std::string::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(url[0]))) return "";
  for (size_t i = 0; i < colon; ++i) {
    const unsigned char c = static_cast<unsigned char>(url[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return "";
  }
  std::string s = url.substr(0, colon);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) && hex(s[i + 2])) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "exit status 3" / "killed by signal 9" from a waitpid status.
std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("wait status {}", status);
}
// webdataset's gopen_pipe ignores status 141 (128 + SIGPIPE): the reader closed the pipe before the command
// finished writing (e.g. the zero padding after the tar end marker). A command killed by SIGPIPE is the same.
bool status_ok(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 128 + SIGPIPE;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE;
}

// A pipe:CMD stream: /bin/sh -c CMD in its own process group, stdin /dev/null, stdout into a pipe, stderr
// inherited (so that curl's or gsutil's diagnosis reaches the log).
class PipeProcess {
 public:
  PipeProcess(const std::string& url, const std::string& command) : url_(url), command_(command) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) fail_start(std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);  // dup2 clears O_CLOEXEC on fd 1
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);  // its own group: a pipeline's processes are stopped together
    const char* argv[] = {"/bin/sh", "-c", command_.c_str(), nullptr};
    const int rc = posix_spawn(&pid_, "/bin/sh", &fa, &attr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      pid_ = -1;
      fail_start(std::strerror(rc));
    }
    fd_ = fds[0];
  }
  ~PipeProcess() { finish(/*stop=*/true); }
  // Bytes of the stream; 0 at its end.
  la_ssize_t read(void* buf, size_t n) {
    for (;;) {
      const ssize_t got = ::read(fd_, buf, n);
      if (got >= 0 || errno != EINTR) return got;
    }
  }
  // Closes the stream and reaps the command: "" when it succeeded, else why not. A command that does not exit
  // within kGrace of its stdout closing is killed, so that a reader never hangs on it; stop = true (the reader
  // abandons the stream, its status no longer matters) sends SIGTERM to its process group at once.
  std::string finish(bool stop = false) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (pid_ < 0) return failure_;
    if (stop) ::kill(-pid_, SIGTERM);
    constexpr auto kGrace = std::chrono::seconds(10);
    const auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    bool killed = false;
    for (;;) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      if (!killed && std::chrono::steady_clock::now() - t0 > kGrace) {
        ::kill(-pid_, SIGKILL);
        killed = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(killed ? 1 : 5));
    }
    pid_ = -1;
    if (killed)
      failure_ = fmt::format("{}: the command did not exit within {} s after sgt closed its output; killed", url_,
                             kGrace.count());
    else if (!status_ok(status) && !stop)
      failure_ = fmt::format("{}: the command failed ({}): /bin/sh -c '{}'", url_, describe_status(status), command_);
    return failure_;
  }

 private:
  [[noreturn]] void fail_start(const char* why) {
    throw BadSampleError(BadSampleReason::kPipeFailed, "tar",
                         fmt::format("{}: cannot start /bin/sh -c '{}': {}", url_, command_, why));
  }
  std::string url_, command_, failure_;
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace

ShardUrl parse_shard_url(const std::string& url) {
  const std::string scheme = url_scheme(url);
  ShardUrl u;
  if (scheme.empty()) {
    u.target = url;
  } else if (scheme == "pipe") {
    u.kind = ShardUrl::Kind::kPipe;
    u.target = url.substr(5);
    if (u.target.find_first_not_of(" \t") == std::string::npos)
      throw BadSampleError(BadSampleReason::kUnsupportedUrl, "tar", fmt::format("shard URL '{}' has no command", url));
  } else if (scheme == "file") {
    std::string rest = url.substr(5);
    if (rest.starts_with("//")) {  // file://HOST/path: only the local host
      const size_t slash = rest.find('/', 2);
      const std::string host = rest.substr(2, slash == std::string::npos ? std::string::npos : slash - 2);
      if (!host.empty() && host != "localhost")
        throw BadSampleError(BadSampleReason::kUnsupportedUrl, "tar",
                             fmt::format("shard URL '{}' names the host '{}'; sgt reads local files only (use "
                                         "file:///path, or pipe:CMD to fetch it)",
                                         url, host));
      rest = slash == std::string::npos ? "" : rest.substr(slash);
    }
    u.target = percent_decode(rest);
    if (u.target.empty())
      throw BadSampleError(BadSampleReason::kUnsupportedUrl, "tar", fmt::format("shard URL '{}' has no path", url));
  } else {
    const bool web = scheme == "http" || scheme == "https" || scheme == "ftp" || scheme == "ftps" || scheme == "sftp";
    throw BadSampleError(
        BadSampleReason::kUnsupportedUrl, "tar",
        fmt::format("shard URL '{}': the scheme '{}:' is not supported (sgt reads paths, file:PATH and pipe:CMD); "
                    "stream it through a command instead, e.g. 'pipe:{}'",
                    url, scheme,
                    web ? "curl -sfL " + url
                        : scheme == "s3" ? "aws s3 cp " + url + " -"
                        : scheme == "gs" ? "gsutil cat " + url
                                         : "<command writing the tar to stdout>"));
  }
  return u;
}

struct TarReader::Impl {
  archive* a = nullptr;
  std::string last_name;
  std::unique_ptr<PipeProcess> pipe;
  std::vector<uint8_t> buf;
  ~Impl() {
    if (a) archive_read_free(a);
  }
  static la_ssize_t read_cb(archive* a, void* self, const void** out) {
    auto* impl = static_cast<Impl*>(self);
    const la_ssize_t n = impl->pipe->read(impl->buf.data(), impl->buf.size());
    if (n < 0) archive_set_error(a, errno, "reading the command's output: %s", std::strerror(errno));
    *out = impl->buf.data();
    return n < 0 ? ARCHIVE_FATAL : n;
  }
  // For a pipe: the command's failure, if it failed, explains a damaged stream better than libarchive can.
  void pipe_failure_first(BadSampleError& e) {
    if (!pipe) return;
    const std::string why = pipe->finish();
    if (!why.empty())
      throw BadSampleError(BadSampleReason::kPipeFailed, "tar", fmt::format("{} (the tar reader then saw: {})", why,
                                                                          e.what()));
  }
};

TarReader::TarReader(const std::string& url) : impl_(std::make_unique<Impl>()), path_(url) {
  const ShardUrl u = parse_shard_url(url);
  impl_->a = archive_read_new();
  SGT_CHECK(impl_->a, "tar", "archive_read_new failed for {}", url);
  archive_read_support_filter_all(impl_->a);
  archive_read_support_format_tar(impl_->a);
  archive_read_support_format_empty(impl_->a);  // an empty stream or file is an archive without members
  int rc;
  if (u.kind == ShardUrl::Kind::kPipe) {
    impl_->pipe = std::make_unique<PipeProcess>(url, u.target);
    impl_->buf.resize(1 << 20);
    rc = archive_read_open(impl_->a, impl_.get(), nullptr, &Impl::read_cb, nullptr);
  } else {
    std::error_code ec;
    const auto st = std::filesystem::status(u.target, ec);
    if (st.type() == std::filesystem::file_type::not_found)
      throw BadSampleError(BadSampleReason::kMissingShard, "tar",
                           fmt::format("shard {} does not exist{}", url,
                                       u.target == url ? std::string() : " (path " + u.target + ")"));
    if (st.type() == std::filesystem::file_type::directory)
      throw BadSampleError(BadSampleReason::kMissingShard, "tar",
                           fmt::format("shard {} is a folder, not a tar file", url));
    rc = archive_read_open_filename(impl_->a, u.target.c_str(), 1 << 20);
  }
  if (rc != ARCHIVE_OK) {
    BadSampleError e(BadSampleReason::kTruncatedTar, "tar",
                     fmt::format("cannot open shard {}: {}", url, archive_msg(impl_->a)));
    impl_->pipe_failure_first(e);
    throw e;
  }
}

TarReader::~TarReader() = default;

bool TarReader::next(TarEntry& e) {
  try {
    if (read_member(e)) return true;
  } catch (BadSampleError& err) {
    impl_->pipe_failure_first(err);
    throw;
  }
  if (impl_->pipe) {  // the end of the archive: the command must have succeeded, or its output is not the shard
    const std::string why = impl_->pipe->finish();
    if (!why.empty()) throw BadSampleError(BadSampleReason::kPipeFailed, "tar", why);
  }
  return false;
}

bool TarReader::read_member(TarEntry& e) {
  archive* a = impl_->a;
  auto fail = [&](const std::string& what) {
    throw BadSampleError(
        BadSampleReason::kTruncatedTar, "tar",
        fmt::format("shard {}: {} {}: {}", path_, what,
                    impl_->last_name.empty() ? std::string("at the first member") : "after member " + impl_->last_name,
                    archive_msg(a)));
  };
  for (;;) {
    archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) return false;
    if (rc < ARCHIVE_WARN) fail("corrupt header");
    const char* name = archive_entry_pathname(entry);
    e.name = name ? name : "";
    if (archive_entry_filetype(entry) != AE_IFREG) continue;  // data of skipped entries is skipped by libarchive
    e.data.clear();
    // The header's size is a claim: a 512-byte header may say 8 EB. A member above kMaxMemberBytes is refused
    // before reading, and the reservation is capped so a lie costs at most 64 MiB until the bytes arrive.
    constexpr int64_t kMaxMemberBytes = int64_t{4} << 30, kMaxReserve = int64_t{64} << 20;
    if (archive_entry_size_is_set(entry)) {
      const int64_t claimed = archive_entry_size(entry);
      if (claimed < 0 || claimed > kMaxMemberBytes)
        throw BadSampleError(BadSampleReason::kTooLarge, "tar",
                             fmt::format("shard {}: member {} claims {} bytes, above the {} byte limit of one member",
                                         path_, e.name, claimed, kMaxMemberBytes));
      e.data.reserve(static_cast<size_t>(std::min(claimed, kMaxReserve)));
    }
    uint8_t buf[1 << 16];
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (n == ARCHIVE_WARN) continue;
        throw BadSampleError(BadSampleReason::kTruncatedTar, "tar",
                             fmt::format("shard {}: member {} is truncated or corrupt ({} of {} bytes read): {}",
                                         path_, e.name, e.data.size(), archive_entry_size(entry), archive_msg(a)));
      }
      e.data.insert(e.data.end(), buf, buf + n);
    }
    if (archive_entry_size_is_set(entry) && static_cast<int64_t>(e.data.size()) != archive_entry_size(entry))
      throw BadSampleError(BadSampleReason::kTruncatedTar, "tar",
                           fmt::format("shard {}: member {} is truncated ({} of {} bytes)", path_, e.name,
                                       e.data.size(), archive_entry_size(entry)));
    impl_->last_name = e.name;
    return true;
  }
}

struct TarWriter::Impl {
  archive* a = nullptr;
  std::unique_ptr<io::AtomicFile> file;
  archive_entry* entry = nullptr;
  bool closed = false;
  ~Impl() {
    if (entry) archive_entry_free(entry);
    if (a) archive_write_free(a);  // not closed: the AtomicFile destructor discards the temporary file
  }
  static la_ssize_t write_cb(archive*, void* self, const void* buf, size_t n) {
    static_cast<Impl*>(self)->file->write(buf, n);
    return static_cast<la_ssize_t>(n);
  }
};

TarWriter::TarWriter(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->file = std::make_unique<io::AtomicFile>(path);
  impl_->a = archive_write_new();
  SGT_CHECK(impl_->a, "tar", "archive_write_new failed for {}", path);
  archive_write_set_format_pax_restricted(impl_->a);  // ustar unless a name or size needs a pax header
  if (ends_with(path, ".tar.gz") || ends_with(path, ".tgz")) archive_write_add_filter_gzip(impl_->a);
  SGT_CHECK(archive_write_open2(impl_->a, impl_.get(), nullptr, &Impl::write_cb, nullptr, nullptr) == ARCHIVE_OK,
            "tar", "cannot open {} for writing: {}", path, archive_msg(impl_->a));
  impl_->entry = archive_entry_new();
}

TarWriter::~TarWriter() = default;

void TarWriter::add(const std::string& name, std::span<const uint8_t> data) {
  SGT_CHECK(!impl_->closed, "tar", "add({}) after close() of {}", name, path_);
  SGT_CHECK(!name.empty(), "tar", "empty member name in {}", path_);
  archive_entry* e = impl_->entry;
  archive_entry_clear(e);
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_mtime(e, 0, 0);  // fixed, so that the same samples give byte-identical shards
  SGT_CHECK(archive_write_header(impl_->a, e) == ARCHIVE_OK, "tar", "{}: cannot write header of {}: {}", path_, name,
            archive_msg(impl_->a));
  if (!data.empty())
    SGT_CHECK(archive_write_data(impl_->a, data.data(), data.size()) == static_cast<la_ssize_t>(data.size()), "tar",
              "{}: cannot write data of {}: {}", path_, name, archive_msg(impl_->a));
}

void TarWriter::add(const std::string& name, const std::string& text) {
  add(name, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void TarWriter::close() {
  if (impl_->closed) return;
  SGT_CHECK(archive_write_close(impl_->a) == ARCHIVE_OK, "tar", "cannot finish {}: {}", path_,
            archive_msg(impl_->a));
  impl_->closed = true;
  impl_->file->commit();
}

}  // namespace sgt::data
