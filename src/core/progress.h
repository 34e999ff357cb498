#pragma once
// A progress bar for long loops: count, rate and ETA on one line of stderr, redrawn at most every 200 ms.
// Drawn only on rank 0 and only when stderr is a terminal (SGT_PROGRESS=1 forces it, 0 disables it);
// otherwise a plain log line is written every 10% so that batch logs still show progress.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace sgt {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(int64_t n = 1);
  // Free text shown after the counters (e.g. "loss 0.123").
  void set_postfix(std::string text);
  void finish();

  int64_t done() const { return done_; }
  double rate() const;  // units per second so far
  // The line as it would be drawn now, e.g. "tune  40/100 [40%] 3.2 it/s ETA 0:19 loss 0.1".
  std::string render() const;

 private:
  void draw(bool force);
  std::string label_, unit_, postfix_;
  int64_t total_, done_ = 0;
  int last_decile_ = -1;
  bool tty_ = false, enabled_ = true, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace sgt
