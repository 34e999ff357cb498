#include "testing/testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "core/error.h"

namespace sgt::testing {
namespace fs = std::filesystem;

std::string source_dir() { return SGT_TEST_SOURCE_DIR; }
std::string binary_dir() { return SGT_TEST_BINARY_DIR; }

std::string asset(const std::string& relative) {
  const std::string p = source_dir() + "/assets/" + relative;
  SGT_CHECK(fs::is_regular_file(p), "test", "the asset {} is missing (assets/README.md lists what ships)", p);
  return p;
}

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = binary_dir() + "/test-tmp/" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  const char* keep = std::getenv("SGT_KEEP_TEST_FILES");
  if (keep == nullptr || std::string(keep) != "1") {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

ProcessResult run_command(const std::string& command) {
  ProcessResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  SGT_CHECK(p != nullptr, "testing", "cannot run {}", command);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

ProcessResult run_python_tool(const std::string& script, const std::vector<std::string>& args) {
  std::string cmd = shell_quote(SGT_TEST_PYTHON) + " " + shell_quote(source_dir() + "/tools/" + script);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return run_command(cmd);
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no sgt::Error was thrown";
  return {};
}

std::vector<std::string> error_lines(const std::string& output) {
  std::vector<std::string> out;
  std::istringstream in(output);
  for (std::string l; std::getline(in, l);)
    if (l.rfind("sgt: error:", 0) == 0) out.push_back(l);
  return out;
}

}  // namespace sgt::testing
