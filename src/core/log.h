#pragma once
// Levelled logging with one replaceable sink. Only rank 0 logs unless SGT_LOG_ALL_RANKS=1.
// Metrics do not go here: the trainer writes them to JSONL.
#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace sgt::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

Level parse_level(std::string_view name);  // throws sgt::Error on unknown names
void set_level(Level level);
Level level();
bool enabled(Level level);

// Replace the sink (default: stderr). The sink receives the formatted line without a trailing newline.
using Sink = std::function<void(Level, const std::string&)>;
void set_sink(Sink sink);
void reset_sink();
// Also append every line to a file (in addition to the sink); empty path closes it.
void set_file(const std::string& path);

void write(Level level, const std::string& message);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kWarn)) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kError)) write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace sgt::log
