#pragma once
// Graceful stop on SIGINT / SIGTERM (Ctrl-C, Slurm preemption, `kill`): while a StopSignals guard lives, the first
// such signal is only recorded; long loops poll pending() at a safe point (the trainer: a step boundary, where it
// saves a checkpoint and throws sgt::Interrupted). A second signal while the first is pending ends the process at
// once, the signal's default action, so a stuck run can still be killed by repeating Ctrl-C.
namespace sgt {

class StopSignals {
 public:
  StopSignals();   // installs the handlers (nested guards share them)
  ~StopSignals();  // restores the previous handlers when the outermost guard ends
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // The recorded signal number, or 0.
  static int pending();
  // Forgets a recorded signal (tests; a caller that handled it and goes on).
  static void clear();
};

}  // namespace sgt
