// cli/cmd_bench_record.cpp — `fp8sim bench record`: what statistics and recording cost
// a GEMM step (quantize A and B, multiply), against the same step without them.
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "analysis/recorder.hpp"
#include "cli/commands.hpp"
#include "cli/record_options.hpp"
#include "rounding/rounding.hpp"
#include "sim/gemm.hpp"

namespace fp8sim::cli {

namespace {

enum class Mode { off, on, sampled };

// One step: A and B quantized (rne) from fixed fp32 data, then the GEMM. With statistics:
// the quantizers' counters, error sums and extra pass, the MAC unit's flags and counts,
// and one recorder row per point.
void step(const MacConfig& m, std::size_t n, const std::vector<float>& a,
          const std::vector<float>& b, bool stats, analysis::Recorder* rec, const int ids[3],
          std::int64_t index, int threads) {
  analysis::TensorStats sa, sb;
  const auto A = quantize_recorded(m.a, a, threads, stats ? &sa : nullptr);
  const auto B = quantize_recorded(m.b, b, threads, stats ? &sb : nullptr);
  GemmOptions go;
  go.threads = threads;
  go.flags = stats;
  const GemmResult r = gemm(m, n, n, n, A, B, {}, go);
  if (stats && rec) {
    rec->record_quantizer(ids[0], index, sa);
    rec->record_quantizer(ids[1], index, sb);
    analysis::GemmStats gs;  // no reference GEMM: the output statistics stay empty
    gs.output.histogram.assign(analysis::Binades::of(result_format(m)).bins(), 0);
    gs.mac = analysis::MacTally{r.counts.steps,         r.counts.inexact, r.counts.underflow,
                                r.counts.overflow,      r.counts.invalid, r.counts.swamped,
                                r.counts.carry_overflow};
    gs.products = static_cast<std::uint64_t>(n) * n * n;
    rec->record_gemm(ids[2], index, gs);
    rec->end_step();
  }
}

}  // namespace

void add_bench_record_command(CLI::App& bench, Context& ctx) {
  auto* g = bench.add_subcommand(
      "record",
      "What statistics and HDF5 recording cost per GEMM step (quantize A and B, multiply), "
      "against the same step without them (scratch file in $TMPDIR or /tmp, removed after)");
  struct Opts {
    std::vector<std::size_t> sizes = {256, 1024};
    int steps = 16, threads = 0;
    std::uint64_t sample_every = 16;
    std::vector<std::string> macs = {"mellempudi2019", "wang2018"};
  };
  auto o = std::make_shared<Opts>();
  add_integer_list(*g, "--sizes", o->sizes, std::size_t{1}, std::size_t{16384},
                   "Square sizes M=N=K");
  add_integer(*g, "--steps", o->steps, 1, 100000, "Steps per measurement (best of 2 runs)");
  add_integer(*g, "--threads", o->threads, 0, 1024, "Threads (0 = all cores)");
  add_integer(*g, "--sample-every", o->sample_every, std::uint64_t{1}, std::uint64_t{1000000},
              "The sampled mode records every Nth step");
  g->add_option("--mac", o->macs, "MAC specs to measure (default mellempudi2019 wang2018)")
      ->type_name("SPEC ...");
  g->footer(
      "\nModes: off = codes only, no flags; on = every step's statistics (quantizer counters, "
      "error sums, histogram, MAC flags) written to an HDF5 file; sampled = 'on' every "
      "--sample-every steps.\n"
      "Examples:\n"
      "  fp8sim bench record\n"
      "  fp8sim bench record --sizes 512 --steps 64 --mac fp8-tensorcore --sample-every 8\n");
  g->callback([o, &ctx] {
    const char* tmp = std::getenv("TMPDIR");
    const std::string path =
        fmt::format("{}/fp8sim-bench-record-{}.h5", tmp && *tmp ? tmp : "/tmp", getpid());
    struct Remove {  // the scratch file goes, whichever way the command ends
      const std::string& p;
      ~Remove() { std::remove(p.c_str()); }
    } remove_file{path};
    const StopSignals stop;       // SIGINT/SIGTERM: stop, remove the scratch file, exit 130/143
    std::vector<MacConfig> macs;  // every spec checked before any output
    for (const std::string& spec : o->macs) {
      macs.push_back(parse_mac(spec));
      validate(macs.back());
    }
    for (std::size_t n : o->sizes)  // A, B as floats, codes and values; C
      require_memory(mul_sat({n, n, 80}), fmt::format("bench record --sizes {}", n));
    fmt::print("{:<18} {:>6} {:>9} {:>12} {:>12} {:>12} {:>10} {:>10}\n", "mac", "n", "threads",
               "off ms/step", "on ms/step", "sampled", "on +%", "sampled +%");
    for (std::size_t q = 0; q < o->macs.size(); ++q) {
      const std::string& spec = o->macs[q];
      const MacConfig& m = macs[q];
      for (std::size_t n : o->sizes) {
        std::mt19937_64 gen(5);
        std::normal_distribution<float> d(0.0f, 1.0f);
        std::vector<float> a(n * n), b(n * n);
        for (auto& x : a) x = d(gen);
        for (auto& x : b) x = d(gen);
        const int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
        auto measure = [&](Mode mode) {
          double best = 1e300;
          for (int rep = 0; rep < 2; ++rep) {
            std::unique_ptr<analysis::Recorder> rec;
            int ids[3] = {-1, -1, -1};
            if (mode != Mode::off) {
              rec = std::make_unique<analysis::Recorder>(
                  path, analysis::OpenMode::overwrite,
                  analysis::current_run("bench", "fp8sim bench record", ""), 16);
              ids[0] = rec->add_quantizer("A", "activation", m.a, "rne");
              ids[1] = rec->add_quantizer("B", "weight", m.b, "rne");
              ids[2] = rec->add_gemm("C", result_format(m), spec, n, n, n);
              rec->start();
            }
            const auto t0 = std::chrono::steady_clock::now();
            for (int s = 0; s < o->steps && !StopSignals::received(); ++s) {
              const bool on =
                  mode == Mode::on ||
                  (mode == Mode::sampled && static_cast<std::uint64_t>(s) % o->sample_every == 0);
              step(m, n, a, b, on, rec.get(), ids, s, threads);
            }
            if (rec && StopSignals::received())  // /status: stopped after the last recorded step
              rec->mark_stopped(StopSignals::received(), rec->next_step() - 1);
            if (rec) rec->close();
            best = std::min(
                best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          }
          return 1e3 * best / o->steps;
        };
        step(m, n, a, b, false, nullptr, nullptr, 0, threads);  // warm-up
        const double off = measure(Mode::off), on = measure(Mode::on),
                     sampled = measure(Mode::sampled);
        if (const int sig = StopSignals::received()) {  // the scratch file goes with Remove
          ctx.exit_status = StopSignals::exit_status(sig);
          fmt::print(stderr, "bench record: stopped by {}\n", StopSignals::name(sig));
          return;
        }
        fmt::print("{:<18} {:>6} {:>9} {:>12.3f} {:>12.3f} {:>12.3f} {:>10.1f} {:>10.1f}\n", spec,
                   n, threads, off, on, sampled, 100 * (on / off - 1), 100 * (sampled / off - 1));
      }
    }
    fmt::print("goal: recording on costs under 10% per step\n");
  });
}

}  // namespace fp8sim::cli
