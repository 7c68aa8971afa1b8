// cli/stop_signals.cpp
#include "cli/stop_signals.hpp"

#include <csignal>

namespace fp8sim::cli {

namespace {
volatile std::sig_atomic_t g_signal = 0;
extern "C" void note_signal(int signo) {
  g_signal = signo;
}
}  // namespace

StopSignals::StopSignals() {
  g_signal = 0;
  old_int_ = std::signal(SIGINT, note_signal);
  old_term_ = std::signal(SIGTERM, note_signal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

int StopSignals::received() {
  return g_signal;
}

const char* StopSignals::name(int signo) {
  switch (signo) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

}  // namespace fp8sim::cli
