#include "core/stop_signal.h"

#include <signal.h>

#include <atomic>
#include <mutex>

namespace sgt {
namespace {
std::atomic<int> g_pending{0};
std::mutex g_mu;
int g_depth = 0;
struct sigaction g_old_int, g_old_term;

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  if (!g_pending.compare_exchange_strong(expected, sig)) {  // the second one: the default action, now
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}
}  // namespace

StopSignals::StopSignals() {
  std::lock_guard<std::mutex> g(g_mu);
  if (g_depth++ > 0) return;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // blocking reads and waits resume; the loop notices the flag at its next check
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignals::~StopSignals() {
  std::lock_guard<std::mutex> g(g_mu);
  if (--g_depth > 0) return;
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
}

int StopSignals::pending() { return g_pending.load(); }
void StopSignals::clear() { g_pending.store(0); }

}  // namespace sgt
