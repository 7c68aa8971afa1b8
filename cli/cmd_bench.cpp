// cli/cmd_bench.cpp — `fp8sim bench quantize`: throughput of the array quantizer
// against a native baseline measured in the same run (the CPU's own fp32 -> fp16
// conversion, vcvtps2ph), which fp8sim's fp16 emulation must also equal bit for bit.
#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "analysis/analysis.hpp"
#include "cli/commands.hpp"
#include "cli/cpu_info.hpp"
#include "cli/files.hpp"
#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

namespace fp8sim::cli {

namespace {

__attribute__((target("avx2,f16c"))) void native_to_fp16_f16c(const float* in, std::uint16_t* out,
                                                              std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(in + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) out[i] = _cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT);
}

// Native baseline over `threads` threads. Returns false when the CPU lacks F16C.
bool native_to_fp16(const float* in, std::uint16_t* out, std::size_t n, int threads) {
  if (!__builtin_cpu_supports("f16c") || !__builtin_cpu_supports("avx2")) return false;
  const std::size_t chunk = 1 << 16;
  const std::size_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t c = 0; c < nchunks; ++c) {
    const std::size_t lo = c * chunk;
    native_to_fp16_f16c(in + lo, out + lo, std::min(chunk, n - lo));
  }
  return true;
}

const char* isa_name() {
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
    return "x86-64-v4 (AVX-512)";
  if (__builtin_cpu_supports("avx2")) return "x86-64-v3 (AVX2)";
  return "x86-64 (scalar/SSE2)";
}

}  // namespace

void add_bench_command(CLI::App& app, Context& ctx) {
  auto* bench = app.add_subcommand("bench",
                                   "Benchmarks, measured against a native baseline in "
                                   "the same run");
  bench->require_subcommand(1);
  bench->footer(
      "Each benchmark measures fp8sim beside a native baseline in the same run and prints the\n"
      "ratio; results are checked bit for bit where a baseline computes the same thing.\n"
      "Examples:\n"
      "  fp8sim bench quantize                 fp32 -> e5m2 / e4m3fn, rne and sr:8\n"
      "  fp8sim bench gemm --sizes 1024        emulated GEMMs against OpenBLAS sgemm\n"
      "  fp8sim bench record                   what recording statistics costs per GEMM step\n"
      "Run 'fp8sim bench COMMAND --help' for the options of each.");
  add_bench_gemm_command(*bench, ctx);
  add_bench_record_command(*bench, ctx);
  add_bench_train_command(*bench, ctx);
  auto* q = bench->add_subcommand(
      "quantize", "fp32 -> e5m2 / e4m3fn, rne and sr:8, 1 and all threads: elements per second");
  struct Opts {
    int log2n = 24, repeats = 5, threads = 0;
    bool json = false;
    std::string cpfloat;
  };
  auto o = std::make_shared<Opts>();
  add_integer(*q, "--log2n", o->log2n, 10, 28, "Array size 2^N");
  add_text(*q, "--cpfloat", o->cpfloat, "FILE",
           "CPFloat baseline: the shared library scripts/build-cpfloat builds from a CPFloat "
           "source tree (measured beside fp8sim on the same inputs; rne results must equal "
           "fp8sim's bit for bit)");
  add_integer(*q, "--repeats", o->repeats, 1, 100, "Timed repetitions (best is reported)");
  add_integer(*q, "--threads", o->threads, 0, 1024,
              "Threads for the parallel rows (0 = all cores)");
  q->add_flag("--json", o->json, "Print the results as JSON");
  q->footer(
      "Prints elements per second per case, beside the CPU's own fp32 -> fp16 conversion\n"
      "(vcvtps2ph) measured in the same run, which fp8sim's fp16 emulation must equal bit for\n"
      "bit (exit 1 if not); then what statistics and an HDF5 row cost per call.\n"
      "With --cpfloat, CPFloat's conversion to the same E5M2-like format (3 bits, exponents\n"
      "-14..15, subnormals, overflow to Inf) runs on the same inputs, and fp8sim's values\n"
      "output is timed beside it.\n"
      "Examples:\n"
      "  fp8sim bench quantize\n"
      "  fp8sim bench quantize --log2n 20 --repeats 3 --threads 1 --json\n"
      "  scripts/build-cpfloat ~/src/cpfloat /tmp/cpf && \\\n"
      "    fp8sim bench quantize --cpfloat /tmp/cpf/libfp8sim-cpfloat.so");
  q->callback([o, &ctx] {
    const std::size_t n = std::size_t{1} << o->log2n;
    require_memory(mul_sat(n, 24), fmt::format("bench quantize --log2n {}", o->log2n));
    const int all = o->threads > 0 ? o->threads : omp_get_max_threads();
    std::vector<float> x(n);
    std::mt19937_64 gen(42);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (auto& v : x) v = dist(gen);
    std::vector<std::uint8_t> codes8(n);
    std::vector<std::uint16_t> codes16(n), native16(n);

    struct Row {
      std::string name;
      int threads;
      double eps;
    };
    std::vector<Row> rows;
    std::vector<int> thread_counts = {1};
    if (all > 1) thread_counts.push_back(all);

    // Native baseline and the bit-for-bit check of fp8sim's fp16 emulation against it.
    const Format fp16 = parse_format("fp16");
    bool have_native = false;
    std::uint64_t fp16_mismatch = 0;
    for (int t : thread_counts) {
      double sec = best_seconds(
          o->repeats, [&] { have_native = native_to_fp16(x.data(), native16.data(), n, t); });
      if (!have_native) break;
      rows.push_back({"native fp32->fp16 (vcvtps2ph)", t, static_cast<double>(n) / sec});
    }
    for (int t : thread_counts) {
      QuantizeOptions qo;
      qo.threads = t;
      qo.error_stats = false;  // codes and counters, as the native conversion gives codes
      double sec = best_seconds(
          o->repeats, [&] { (void)quantize<float, std::uint16_t>(fp16, x, qo, codes16); });
      rows.push_back({"fp8sim fp32->fp16 rne", t, static_cast<double>(n) / sec});
    }
    if (have_native)
      for (std::size_t i = 0; i < n; ++i) fp16_mismatch += codes16[i] != native16[i];

    for (const char* fname : {"e5m2", "e4m3fn"}) {
      const Format f = parse_format(fname);
      for (const char* rname : {"rne", "sr:8"}) {
        for (bool stats : {false, true}) {
          for (int t : thread_counts) {
            QuantizeOptions qo;
            qo.round = parse_rounding(rname);
            qo.key = RandomKey{1, 0};
            qo.threads = t;
            qo.error_stats = stats;
            double sec = best_seconds(
                o->repeats, [&] { (void)quantize<float, std::uint8_t>(f, x, qo, codes8); });
            rows.push_back(
                {fmt::format("fp8sim fp32->{} {}{}", fname, rname, stats ? " +error stats" : ""), t,
                 static_cast<double>(n) / sec});
          }
        }
      }
    }
    // Statistics collection for recording: error statistics (fused into the kernel) plus
    // the analysis pass (amax, log2|x| histogram, relative error, flushed subnormals), and
    // with the recorder writing one row per quantization to an HDF5 file; against codes
    // and counters only.
    struct Overhead {
      std::string name;
      int threads;
      double base, stats, recorded;
    };
    std::vector<Overhead> overheads;
    {
      const std::string h5 = fmt::format("/tmp/fp8sim-bench-{}.h5", getpid());
      for (const char* fname : {"e5m2", "e4m3fn"}) {
        const Format f = parse_format(fname);
        for (int t : thread_counts) {
          QuantizeOptions qo;
          qo.threads = t;
          qo.error_stats = false;  // the base: codes and counters only
          std::vector<float> vals(n);
          const double base = best_seconds(
              o->repeats, [&] { (void)quantize<float, std::uint8_t>(f, x, qo, codes8); });
          auto collect = [&] {
            qo.error_stats = true;
            const QuantizeCounters c = quantize<float, std::uint8_t>(f, x, qo, codes8, vals);
            return analysis::tensor_stats(
                c, analysis::extra_counts<float>(f, x, std::span<const float>(vals), t));
          };
          const double stats = best_seconds(o->repeats, [&] { (void)collect(); });
          double recorded = 0;
          {
            analysis::Recorder rec(h5, analysis::OpenMode::overwrite,
                                   analysis::current_run("bench", "fp8sim bench quantize", ""), 1);
            const int id = rec.add_quantizer("x", "bench", f, "rne");
            rec.start();
            std::int64_t step = 0;
            recorded = best_seconds(o->repeats, [&] {
              rec.record_quantizer(id, step++, collect());
              rec.end_step();  // flush every step: the worst case
            });
          }
          std::remove(h5.c_str());
          qo.error_stats = false;
          overheads.push_back({fmt::format("fp32->{} rne", fname), t, base, stats, recorded});
        }
      }
    }
    // CPFloat beside fp8sim: both produce the rounded values as binary32
    struct Versus {
      std::string mode;
      int threads;
      double cpfloat_eps, fp8sim_eps;
    };
    std::vector<Versus> versus;
    std::uint64_t cpfloat_mismatch = 0;
    std::string cpfloat_error;
    if (!o->cpfloat.empty()) {
      check_input_file({"--cpfloat", o->cpfloat});
      using round_t = int (*)(float*, const float*, std::size_t, int, int, int, int, int);
      void* h = dlopen(o->cpfloat.c_str(), RTLD_NOW | RTLD_LOCAL);
      auto* fn = h ? reinterpret_cast<round_t>(dlsym(h, "fp8sim_cpfloat_round")) : nullptr;
      if (!fn) {
        throw UsageError(fmt::format(
            "--cpfloat {}: {} (build it with scripts/build-cpfloat CPFLOAT_SOURCE_DIR OUT_DIR)",
            o->cpfloat, h ? "no fp8sim_cpfloat_round in it" : std::string(dlerror())));
      }
      const Format e5m2 = parse_format("e5m2");
      std::vector<float> ycp(n), yfs(n);
      for (const char* rname : {"rne", "sr:8"}) {
        const bool sr = std::string(rname) == "sr:8";
        for (int t : thread_counts) {
          int status = 0;
          const double cs = best_seconds(
              o->repeats, [&] { status = fn(ycp.data(), x.data(), n, 3, -14, 15, sr ? 5 : 1, t); });
          if (status != 0 && cpfloat_error.empty())
            cpfloat_error = fmt::format("CPFloat returned status {}", status);
          QuantizeOptions qo;
          qo.round = parse_rounding(rname);
          qo.key = RandomKey{1, 0};
          qo.threads = t;
          qo.error_stats = false;
          const double fs = best_seconds(o->repeats, [&] {
            (void)quantize_values<float>(e5m2, x, qo, std::span<float>(yfs));
          });
          if (!sr)
            for (std::size_t i = 0; i < n; ++i)
              cpfloat_mismatch +=
                  std::bit_cast<std::uint32_t>(ycp[i]) != std::bit_cast<std::uint32_t>(yfs[i]);
          versus.push_back({rname, t, static_cast<double>(n) / cs, static_cast<double>(n) / fs});
        }
      }
      dlclose(h);
    }
    auto native_eps = [&](int t) {
      for (const auto& r : rows)
        if (r.name.starts_with("native") && r.threads == t) return r.eps;
      return 0.0;
    };
    if (o->json) {
      fmt::print(
          "{{\"cpu\": {}, \"n\": {}, \"isa\": \"{}\", \"fp16_mismatches_vs_native\": {}, "
          "\"rows\": [",
          json_string(cpu_model()), n, isa_name(), fp16_mismatch);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const double base = native_eps(rows[i].threads);
        fmt::print(
            "{}{{\"case\": {}, \"threads\": {}, \"elements_per_s\": {:.6g}, "
            "\"per_core\": {:.6g}, \"ratio_to_native\": {}}}",
            i ? ", " : "", json_string(rows[i].name), rows[i].threads, rows[i].eps,
            rows[i].eps / rows[i].threads,
            base > 0 ? fmt::format("{:.4f}", rows[i].eps / base) : "null");
      }
      fmt::print("], \"recording_overhead\": [");
      for (std::size_t i = 0; i < overheads.size(); ++i) {
        const auto& v = overheads[i];
        fmt::print(
            "{}{{\"case\": {}, \"threads\": {}, \"codes_s\": {:.6g}, \"stats_s\": {:.6g}, "
            "\"recorded_s\": {:.6g}, \"stats_overhead\": {:.4f}, "
            "\"recorded_overhead\": {:.4f}}}",
            i ? ", " : "", json_string(v.name), v.threads, v.base, v.stats, v.recorded,
            v.stats / v.base - 1, v.recorded / v.base - 1);
      }
      fmt::print("], \"cpfloat\": [");
      for (std::size_t i = 0; i < versus.size(); ++i)
        fmt::print(
            "{}{{\"round\": \"{}\", \"threads\": {}, \"cpfloat_elements_per_s\": {:.6g}, "
            "\"fp8sim_elements_per_s\": {:.6g}, \"ratio\": {:.4f}}}",
            i ? ", " : "", versus[i].mode, versus[i].threads, versus[i].cpfloat_eps,
            versus[i].fp8sim_eps, versus[i].fp8sim_eps / versus[i].cpfloat_eps);
      fmt::print("], \"cpfloat_rne_mismatches\": {}}}\n", cpfloat_mismatch);
    } else {
      fmt::print("fp8sim bench quantize: 2^{} fp32 values ~ N(0,1), best of {}, ISA {}\nCPU: {}\n",
                 o->log2n, o->repeats, isa_name(), cpu_model());
      fmt::print("{:<40} {:>7} {:>14} {:>14} {:>10}\n", "case", "threads", "Melem/s",
                 "Melem/s/core", "x native");
      for (const auto& r : rows) {
        const double base = native_eps(r.threads);
        fmt::print("{:<40} {:>7} {:>14.1f} {:>14.1f} {:>10}\n", r.name, r.threads, r.eps / 1e6,
                   r.eps / 1e6 / r.threads, base > 0 ? fmt::format("{:.3f}", r.eps / base) : "-");
      }
      if (have_native)
        fmt::print("fp8sim fp16 rne vs native vcvtps2ph: {} of {} codes differ\n", fp16_mismatch,
                   n);
      else
        fmt::print("native baseline skipped: this CPU has no F16C/AVX2\n");
      fmt::print(
          "rows count zeros, underflow, subnormals, overflow, NaN/Inf, exact; '+error "
          "stats' adds error sum/sq/max and SQNR\n");
      fmt::print("goal: >= 1000 Melem/s per core for rne\n");
      fmt::print(
          "\nrecording overhead (2^{} values): codes+counters vs + error stats + analysis pass "
          "(amax, histogram, rel. error, flushed), and + one HDF5 row written and flushed\n",
          o->log2n);
      fmt::print("{:<22} {:>7} {:>11} {:>11} {:>11} {:>10} {:>10}\n", "case", "threads", "codes ms",
                 "+stats ms", "+record ms", "stats +%", "record +%");
      for (const auto& v : overheads)
        fmt::print("{:<22} {:>7} {:>11.2f} {:>11.2f} {:>11.2f} {:>10.1f} {:>10.1f}\n", v.name,
                   v.threads, v.base * 1e3, v.stats * 1e3, v.recorded * 1e3,
                   100 * (v.stats / v.base - 1), 100 * (v.recorded / v.base - 1));
      fmt::print("goal: < 10% with statistics on; sampling (--sample-every N) divides it by N\n");
      if (!versus.empty()) {
        fmt::print(
            "\nCPFloat (same inputs, E5M2-like: 3 bits, exponents -14..15, subnormals, overflow "
            "to Inf; values out on both sides, fp8sim without error statistics)\n");
        fmt::print("{:<10} {:>7} {:>16} {:>16} {:>10}\n", "round", "threads", "CPFloat Melem/s",
                   "fp8sim Melem/s", "x CPFloat");
        for (const auto& v : versus)
          fmt::print("{:<10} {:>7} {:>16.1f} {:>16.1f} {:>10.2f}\n", v.mode, v.threads,
                     v.cpfloat_eps / 1e6, v.fp8sim_eps / 1e6, v.fp8sim_eps / v.cpfloat_eps);
        fmt::print("rne values that differ from CPFloat's: {} of {}\n", cpfloat_mismatch, n);
        fmt::print("goal: >= 2.5x CPFloat\n");
      }
    }
    if (!cpfloat_error.empty()) {
      fmt::print(stderr, "fp8sim bench quantize: {}\n", cpfloat_error);
      ctx.exit_status = 1;
    }
    if (cpfloat_mismatch) ctx.exit_status = 1;
    if (fp16_mismatch) ctx.exit_status = 1;
  });
}

}  // namespace fp8sim::cli
