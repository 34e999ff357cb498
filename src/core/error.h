#pragma once
// One error type for the whole library (DEVELOPERS.md "error policy").
// Messages read "[component] what happened (path, shapes)"; the CLI catches sgt::Error once, prints it on one
// line and exits non-zero.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace sgt {

class Error : public std::runtime_error {
 public:
  Error(std::string component, const std::string& message);
  const std::string& component() const { return component_; }
  // The message without the "[component] " prefix.
  const std::string& detail() const { return detail_; }

 private:
  std::string component_;
  std::string detail_;
};

// A run stopped on request (SIGINT / SIGTERM, core/stop_signal.h) after saving its state: the CLI exits with
// 128 + signal (130, 143), as a shell reports a process ended by that signal.
class Interrupted : public Error {
 public:
  Interrupted(std::string component, const std::string& message, int signal)
      : Error(std::move(component), message), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// "[2, 3, 4]" for messages.
std::string shape_str(const std::vector<int64_t>& shape);

[[noreturn]] void throw_error(const char* component, const std::string& message);

}  // namespace sgt

// SGT_CHECK(cond, "component", "format {}", args...): throws sgt::Error when cond is false.
#define SGT_CHECK(cond, component, ...)                                   \
  do {                                                                     \
    if (!(cond)) ::sgt::throw_error(component, ::fmt::format(__VA_ARGS__)); \
  } while (0)

#define SGT_FAIL(component, ...) ::sgt::throw_error(component, ::fmt::format(__VA_ARGS__))

// Invariants that indicate a bug in sgt itself, not bad input.
#define SGT_ASSERT(cond)                                                                         \
  do {                                                                                           \
    if (!(cond))                                                                                 \
      ::sgt::throw_error("assert", ::fmt::format("{} failed at {}:{}", #cond, __FILE__, __LINE__)); \
  } while (0)

// Costly checks: compiled only into debug and sanitizer builds.
#ifndef NDEBUG
#define SGT_DASSERT(cond) SGT_ASSERT(cond)
#else
#define SGT_DASSERT(cond) \
  do {                    \
  } while (0)
#endif
