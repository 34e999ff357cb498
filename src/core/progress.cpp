#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/env.h"
#include "core/log.h"

namespace sgt {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  auto forced = env::progress();
  tty_ = forced.value_or(isatty(STDERR_FILENO) != 0);
  enabled_ = env::rank() == 0 && forced.value_or(true);
}

Progress::~Progress() { finish(); }

double Progress::rate() const {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return secs > 0 ? static_cast<double>(done_) / secs : 0.0;
}

std::string Progress::render() const {
  const double r = rate();
  std::string line = label_ + " ";
  if (total_ > 0) {
    line += fmt::format("{}/{} [{:3.0f}%]", done_, total_, 100.0 * done_ / total_);
  } else {
    line += fmt::format("{}", done_);
  }
  line += r >= 1.0 || r == 0.0 ? fmt::format(" {:.1f} {}/s", r, unit_) : fmt::format(" {:.2f} s/{}", 1.0 / r, unit_);
  if (total_ > 0 && r > 0) line += " ETA " + format_duration((total_ - done_) / r);
  if (!postfix_.empty()) line += " " + postfix_;
  return line;
}

void Progress::advance(int64_t n) {
  done_ += n;
  draw(false);
}

void Progress::set_postfix(std::string text) { postfix_ = std::move(text); }

void Progress::draw(bool force) {
  if (!enabled_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (!force && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r\033[K%s", render().c_str());
    std::fflush(stderr);
  } else if (total_ > 0) {
    int decile = static_cast<int>(10 * done_ / total_);
    if (decile != last_decile_ || force) {
      last_decile_ = decile;
      log::info("{}", render());
    }
  }
}

void Progress::finish() {
  if (finished_) return;
  draw(true);
  if (enabled_ && tty_) std::fprintf(stderr, "\n");
  finished_ = true;
}

}  // namespace sgt
