// cli/commands.hpp — the subcommands of the fp8sim executable. Each add_* registers
// its options and a callback on the parent CLI11 app.
#pragma once

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/files.hpp"
#include "cli/options.hpp"
#include "cli/resources.hpp"
#include "cli/stop_signals.hpp"

namespace fp8sim::cli {

/// Shared between main and the commands: the process exit status a command asks for (0, 1
/// for a failed check, 128 + signal when stopped; errors are thrown, not set here).
struct Context {
  int exit_status = 0;
};

void add_formats_command(CLI::App& app, Context& ctx);
void add_quantize_command(CLI::App& app, Context& ctx);
void add_vectors_command(CLI::App& app, Context& ctx);
void add_vectors_gen_command(CLI::App& vectors, Context& ctx);
/// `vectors check` of an fp8sim vector file (cli/cmd_vectors_check.cpp): FILE holds results in
/// the vector file format, or is a plain dump of the cases of `vectors`.
struct Fp8simCheck {
  std::string file, vectors, mac;
  std::size_t max_report = 20;
};
void check_fp8sim_vectors(const Fp8simCheck& a, Context& ctx);
void add_bench_command(CLI::App& app, Context& ctx);
void add_mac_command(CLI::App& app, Context& ctx);
void add_gemm_command(CLI::App& app, Context& ctx);
void add_bench_gemm_command(CLI::App& bench, Context& ctx);
void add_bench_record_command(CLI::App& bench, Context& ctx);
void add_bench_train_command(CLI::App& bench, Context& ctx);
void add_dump_command(CLI::App& app, Context& ctx);
void add_report_command(CLI::App& app, Context& ctx);
void add_train_command(CLI::App& app, Context& ctx);
/// `sweep` and `merge` (cli/cmd_sweep.cpp).
void add_sweep_command(CLI::App& app, Context& ctx);

/// The best wall time of `repeats` runs of f (benchmarks).
template <class F>
double best_seconds(int repeats, F&& f) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

/// Escapes a string for JSON output.
std::string json_string(const std::string& s);
/// A double as a JSON value: shortest round-trip decimal, or "nan"/"inf"/"-inf" strings.
std::string json_number(double v);

}  // namespace fp8sim::cli
