// cli/stop_signals.hpp — SIGINT and SIGTERM during long work: the command finishes the
// step it is in, closes its files and exits with 128 + the signal's number (130, 143),
// as shells do (docs/cli-conventions.md).
#pragma once

namespace fp8sim::cli {

/// While alive, SIGINT and SIGTERM set a flag instead of killing the process.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// The signal received so far (0: none).
  [[nodiscard]] static int received();
  /// "SIGINT", "SIGTERM".
  [[nodiscard]] static const char* name(int signo);
  /// The exit status a command stopped by `signo` ends with: 128 + signo.
  [[nodiscard]] static int exit_status(int signo) { return 128 + signo; }

 private:
  using Handler = void (*)(int);
  Handler old_int_, old_term_;
};

}  // namespace fp8sim::cli
