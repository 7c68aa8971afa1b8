// cli/cmd_bench_gemm.cpp — `fp8sim bench gemm`: emulated MAC GEMMs against OpenBLAS
// sgemm measured in the same run. OpenBLAS is loaded with dlopen, for this benchmark only;
// its kernel is forced to the best one this CPU supports (Debian's 0.3.21 does not know
// recent CPUs and silently falls back to slow SSE3 kernels), its core name is printed, and
// its result is checked against fp8sim's before any ratio is shown.
#include <dlfcn.h>
#include <omp.h>
#include <ctime>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/cpu_info.hpp"
#include "rounding/rounding.hpp"
#include "sim/gemm.hpp"
#include "sim/golden/golden_mac.hpp"

namespace fp8sim::cli {

namespace {

struct OpenBlas {
  void* handle = nullptr;
  using sgemm_t = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                           int, float, float*, int);
  sgemm_t sgemm = nullptr;
  char* (*corename)() = nullptr;
  void (*set_threads)(int) = nullptr;
  std::string forced, inherited;
  // OPENBLAS_CORETYPE is read when the library is loaded: set it to the best kernel family
  // this CPU runs (or to `core` when the user names one), overriding any inherited value.
  bool load(const std::string& core) {
    if (const char* e = std::getenv("OPENBLAS_CORETYPE")) inherited = e;
    forced = core;
    if (forced.empty()) {
      if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        forced = "SkylakeX";
      } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        forced = "Haswell";
      }
    }
    if (!forced.empty()) setenv("OPENBLAS_CORETYPE", forced.c_str(), 1);
    for (const char* name : {"libopenblas.so.0", "libopenblas.so"}) {
      handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (handle) break;
    }
    if (!handle) return false;
    sgemm = reinterpret_cast<sgemm_t>(dlsym(handle, "cblas_sgemm"));
    corename = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_corename"));
    set_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
    return sgemm != nullptr;
  }
};

}  // namespace

void add_bench_gemm_command(CLI::App& bench, Context& ctx) {
  auto* g = bench.add_subcommand("gemm",
                                 "OpenBLAS sgemm vs emulated MAC GEMMs (e5m2 inputs; bf16, e4m3 "
                                 "for the GPU rows), 1 and all threads");
  struct Opts {
    std::vector<std::size_t> sizes = {512, 1024};
    int repeats = 2, threads = 0;
    bool json = false, cpu_time = false;
    std::string core;
  };
  auto o = std::make_shared<Opts>();
  add_integer_list(*g, "--sizes", o->sizes, std::size_t{1}, std::size_t{16384},
                   "Square sizes M=N=K");
  add_integer(*g, "--repeats", o->repeats, 1, 20, "Timed repetitions (best is reported)");
  add_integer(*g, "--threads", o->threads, 0, 1024,
              "Threads of the parallel rows (0 = all cores); 1 and this many are measured");
  g->add_flag("--json", o->json, "Print JSON");
  g->add_flag("--cpu-time", o->cpu_time,
              "Time by the calling thread's CPU clock instead of the wall clock, 1 thread only: "
              "steadier figures on a machine busy with other work");
  add_choice(*g, "--openblas-core", o->core,
             {"SkylakeX", "Haswell", "Zen", "SandyBridge", "Nehalem", "Prescott"},
             "OpenBLAS kernel family to force (default: the best this CPU supports: SkylakeX "
             "with AVX-512, Haswell with AVX2)");
  g->footer(
      "Prints GFLOP/s per case and its ratio to OpenBLAS sgemm measured in the same run (its\n"
      "result is checked against fp8sim's FP32 chain; exit 1 if they differ).\n"
      "Examples:\n"
      "  fp8sim bench gemm                                  512 and 1024, 1 and all threads\n"
      "  fp8sim bench gemm --sizes 2048 --repeats 5 --json\n"
      "  fp8sim bench gemm --sizes 512 --cpu-time --threads 1   steadier on a busy machine\n"
      "  FP8SIM_ISA=v3 fp8sim bench gemm --openblas-core Haswell   the AVX2 kernels");
  g->callback([o, &ctx, g] {
    if (o->cpu_time && o->threads != 1)
      throw UsageError(
          fmt::format("--cpu-time times one thread: give --threads 1 with it (got --threads {})",
                      o->threads == 0 ? std::string("0 = all cores") : std::to_string(o->threads)));
    (void)g;
    for (std::size_t n : o->sizes)  // A, B as floats and codes, C three ways
      require_memory(mul_sat({n, n, 60}), fmt::format("bench gemm --sizes {}", n));
    OpenBlas blas;
    const bool have_blas = blas.load(o->core);
    const int all = o->threads > 0 ? o->threads : omp_get_max_threads();
    std::vector<int> tcounts = {1};
    if (all > 1 && !o->cpu_time) tcounts.push_back(all);
    // best of `repeats` runs, by the wall clock or the calling thread's CPU clock
    auto timed = [&](auto&& f) {
      if (!o->cpu_time) return best_seconds(o->repeats, f);
      double best = 1e300;
      for (int r = 0; r < o->repeats; ++r) {
        timespec t0{}, t1{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        f();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        best =
            std::min(best, double(t1.tv_sec - t0.tv_sec) + 1e-9 * double(t1.tv_nsec - t0.tv_nsec));
      }
      return best;
    };
    struct Row {
      std::string name, kernel;
      std::size_t n;
      int threads;
      double gflops;
    };
    std::vector<Row> rows;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"e5m2 -> fp32 rne sequential", "ab=e5m2,acc=fp32,round=rne"},
        {"e5m2 -> fp16 rne sequential", "ab=e5m2,acc=fp16,round=rne"},
        {"e5m2 -> bf16 sr:8 sequential", "ab=e5m2,acc=bf16,round=sr:8"},
        {"e5m2 -> fp32 multiterm 4", "ab=e5m2,acc=fp32,round=rtz,struct=multiterm:4:24:2"},
        {"e5m2 -> fp16 chunked 64", "wang2018"},
        // measured tensor cores (docs/gpu-presets.md): exponent-field alignment
        {"bf16 -> fp32 A100 tensor core", "a100-bf16-fp32"},
        {"e4m3 -> fp32 H100 tensor core", "h100-e4m3-fp32"},
    };
    double max_blas_diff = 0;
    for (std::size_t n : o->sizes) {
      std::mt19937_64 gen(7);
      std::normal_distribution<double> d(0, 1);
      const Format e5m2 = parse_format("e5m2");
      std::vector<std::uint64_t> A(n * n), B(n * n);
      std::vector<float> Af(n * n), Bf(n * n), Cf(n * n);
      for (std::size_t x = 0; x < n * n; ++x) {
        A[x] = from_double(d(gen), e5m2, {}).code;
        B[x] = from_double(d(gen), e5m2, {}).code;
        Af[x] = static_cast<float>(to_double(e5m2, A[x]));
        Bf[x] = static_cast<float>(to_double(e5m2, B[x]));
      }
      // the same values as codes of a row's input format (e5m2 values are exact in bf16;
      // in e4m3fn, rounded to nearest)
      auto codes_in = [&](const Format& f, const std::vector<float>& v) {
        std::vector<std::uint64_t> c(v.size());
        for (std::size_t x = 0; x < v.size(); ++x) c[x] = from_double(v[x], f, {}).code;
        return c;
      };
      const double flops = 2.0 * double(n) * double(n) * double(n);
      std::vector<std::uint64_t> fp32_codes;
      for (int t : tcounts) {
        if (have_blas) {
          if (blas.set_threads) blas.set_threads(t);
          const double s = timed([&] {
            blas.sgemm(101, 111, 111, int(n), int(n), int(n), 1.0f, Af.data(), int(n), Bf.data(),
                       int(n), 0.0f, Cf.data(), int(n));
          });
          rows.push_back({"OpenBLAS sgemm (baseline)", blas.corename ? blas.corename() : "?", n, t,
                          flops / s / 1e9});
        }
        for (const auto& [name, spec] : cases) {
          const MacConfig m = parse_mac(spec);
          GemmOptions go;
          go.threads = t;
          go.seed = 1;
          go.flags = false;
          GemmResult r;
          const bool e5m2_in = m.a.name == e5m2.name && m.b.name == e5m2.name;
          const std::vector<std::uint64_t> Ar = e5m2_in ? std::vector<std::uint64_t>{}
                                                        : codes_in(m.a, Af),
                                           Br = e5m2_in ? std::vector<std::uint64_t>{}
                                                        : codes_in(m.b, Bf);
          const double s =
              timed([&] { r = gemm(m, n, n, n, e5m2_in ? A : Ar, e5m2_in ? B : Br, {}, go); });
          rows.push_back({name, r.kernel, n, t, flops / s / 1e9});
          if (spec == cases[0].second) fp32_codes = r.codes;
        }
      }
      // sgemm's result against fp8sim's fp32 chain: both sum exact products in binary32,
      // in different orders; the difference must be tiny next to sum |a*b|.
      if (have_blas) {
        for (std::size_t i = 0; i < n; i += 7)
          for (std::size_t j = 0; j < n; j += 5) {
            double mag = 0;
            for (std::size_t k = 0; k < n; ++k)
              mag += std::abs(double(Af[i * n + k]) * Bf[k * n + j]);
            const double ours =
                std::bit_cast<float>(static_cast<std::uint32_t>(fp32_codes[i * n + j]));
            max_blas_diff = std::max(max_blas_diff, std::abs(ours - Cf[i * n + j]) / (mag + 1e-30));
          }
      }
    }
    // golden model speed on a small problem
    double golden_macs = 0;
    {
      const MacConfig m = parse_mac("ab=e5m2,acc=bf16,round=sr:8");
      const Format e5m2 = parse_format("e5m2");
      std::mt19937_64 gen(3);
      std::normal_distribution<double> d(0, 1);
      const std::size_t K = 256, outs = 64;
      std::vector<std::uint64_t> a(K), b(K);
      for (auto& x : a) x = from_double(d(gen), e5m2, {}).code;
      for (auto& x : b) x = from_double(d(gen), e5m2, {}).code;
      try {
        // best of 3: one run of 16k MACs is short enough for a busy machine to distort it
        const double s = best_seconds(3, [&] {
          for (std::size_t q = 0; q < outs; ++q) (void)golden::mac_dot(m, a, b, std::nullopt, 1, q);
        });
        golden_macs = double(K * outs) / s;
      } catch (const std::exception&) {
        golden_macs = 0;
      }
    }
    auto base = [&](std::size_t n, int t) {
      for (const auto& r : rows)
        if (r.name.starts_with("OpenBLAS") && r.n == n && r.threads == t) return r.gflops;
      return 0.0;
    };
    const bool blas_ok = have_blas && max_blas_diff < 1e-5;
    if (o->json) {
      fmt::print(
          "{{\"cpu\": {}, \"kernel_isa\": {}, \"openblas_core\": {}, "
          "\"openblas_check_max_rel_diff\": {}, \"golden_mac_per_s\": {}, \"rows\": [",
          json_string(cpu_model()), json_string(kernel_isa()),
          json_string(have_blas && blas.corename ? blas.corename() : "none"),
          json_number(max_blas_diff), json_number(golden_macs));
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const double b = base(rows[i].n, rows[i].threads);
        fmt::print(
            "{}{{\"case\": {}, \"kernel\": {}, \"n\": {}, \"threads\": {}, \"gflops\": {:.4g}, "
            "\"ratio_to_sgemm\": {}}}",
            i ? ", " : "", json_string(rows[i].name), json_string(rows[i].kernel), rows[i].n,
            rows[i].threads, rows[i].gflops,
            blas_ok && b > 0 ? fmt::format("{:.4f}", rows[i].gflops / b) : "null");
      }
      fmt::print("]}}\n");
    } else {
      fmt::print("CPU: {}; fp8sim's kernels run at {}\n", cpu_model(), kernel_isa());
      if (have_blas) {
        fmt::print("OpenBLAS core: {} (OPENBLAS_CORETYPE={} set by fp8sim{})\n",
                   blas.corename ? blas.corename() : "?", blas.forced,
                   blas.inherited.empty() || blas.inherited == blas.forced
                       ? std::string()
                       : fmt::format("; the environment's {} was overridden", blas.inherited));
        fmt::print("sgemm check vs fp8sim fp32 chain: max |diff| / sum|a*b| = {:.3g} ({})\n",
                   max_blas_diff, blas_ok ? "ok" : "FAILED: ratios withheld");
      } else {
        fmt::print("OpenBLAS not found (install libopenblas0): no baseline, no ratios\n");
      }
      fmt::print("{:<32} {:<10} {:>6} {:>7} {:>10} {:>10}\n", "case", "kernel", "n", "threads",
                 "GFLOP/s", "x sgemm");
      for (const auto& r : rows) {
        const double b = base(r.n, r.threads);
        fmt::print("{:<32} {:<10} {:>6} {:>7} {:>10.2f} {:>10}\n", r.name, r.kernel, r.n, r.threads,
                   r.gflops, blas_ok && b > 0 ? fmt::format("{:.3f}", r.gflops / b) : "-");
      }
      fmt::print("golden model: {:.3g} MAC/s (e5m2 -> bf16 sr:8, K=256)\n", golden_macs);
      fmt::print(
          "goals: fp32 rne sequential >= 0.5x sgemm; narrow/stochastic/multiterm/GPU >= 0.1x; "
          "golden >= 1e6 "
          "MAC/s\n");
    }
    if (have_blas && !blas_ok) ctx.exit_status = 1;
  });
}

}  // namespace fp8sim::cli
