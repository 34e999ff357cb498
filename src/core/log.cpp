#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>

#include "core/env.h"
#include "core/error.h"

namespace sgt::log {
namespace {

struct State {
  std::mutex mu;
  Sink sink;
  std::ofstream file;
};

State& state() {
  static State s;
  return s;
}

Level initial_level() {
  try {
    if (!env::log_all_ranks() && env::rank() != 0) return Level::kOff;
    return parse_level(env::log_level());
  } catch (const Error&) {
    return Level::kInfo;  // a bad SGT_LOG_LEVEL must not stop start-up; the default applies
  }
}

std::atomic<int>& level_ref() {
  static std::atomic<int> l{static_cast<int>(initial_level())};
  return l;
}

const char* tag(Level l) {
  switch (l) {
    case Level::kDebug: return "D";
    case Level::kInfo: return "I";
    case Level::kWarn: return "W";
    case Level::kError: return "E";
    default: return "?";
  }
}

}  // namespace

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  if (name == "off") return Level::kOff;
  SGT_FAIL("log", "unknown log level '{}' (debug, info, warn, error, off)", name);
}

void set_level(Level l) { level_ref().store(static_cast<int>(l)); }
Level level() { return static_cast<Level>(level_ref().load()); }
bool enabled(Level l) { return static_cast<int>(l) >= level_ref().load(); }

void set_sink(Sink sink) {
  std::lock_guard<std::mutex> lock(state().mu);
  state().sink = std::move(sink);
}
void reset_sink() { set_sink(nullptr); }

void set_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(state().mu);
  State& s = state();
  if (s.file.is_open()) s.file.close();
  if (path.empty()) return;
  s.file.open(path, std::ios::app);
  SGT_CHECK(s.file.good(), "log", "cannot open log file {}", path);
}

void write(Level l, const std::string& message) {
  using namespace std::chrono;
  auto now = system_clock::to_time_t(system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::string line = fmt::format("{} {:02}:{:02}:{:02} {}", tag(l), tm.tm_hour, tm.tm_min, tm.tm_sec, message);
  std::lock_guard<std::mutex> lock(state().mu);
  State& s = state();
  if (s.sink) {
    s.sink(l, line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  if (s.file.is_open()) s.file << line << '\n' << std::flush;
}

}  // namespace sgt::log
