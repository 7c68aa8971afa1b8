// cli/gemm_measure.cpp — see gemm_measure.hpp.
#include "cli/gemm_measure.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "cli/options.hpp"
#include "formats/formats.hpp"

namespace fp8sim::cli {

Dist parse_dist(const std::string& dist) {
  if (dist == "normal") return {};
  if (dist == "uniform") return {Dist::uniform, 0};
  if (dist == "lognormal") return {Dist::lognormal, 1.0};
  if (dist.rfind("lognormal:", 0) == 0)
    return {Dist::lognormal,
            parse_real(std::string_view(dist).substr(10), RealRange{0.0, 64.0, true, false},
                       "--dist lognormal:SIGMA: SIGMA")};
  throw UsageError(fmt::format(
      "unknown --dist {} (allowed: normal, uniform, lognormal, lognormal:SIGMA)", shown(dist)));
}

std::vector<double> random_values(std::size_t n, const Dist& dist, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<double> v(n);
  switch (dist.kind) {
    case Dist::normal: {
      std::normal_distribution<double> d(0, 1);
      for (auto& x : v) x = d(g);
      break;
    }
    case Dist::uniform: {
      std::uniform_real_distribution<double> d(-1, 1);
      for (auto& x : v) x = d(g);
      break;
    }
    case Dist::lognormal: {
      std::lognormal_distribution<double> d(0, dist.sigma);
      for (auto& x : v) x = d(g) * ((g() & 1) ? -1 : 1);
      break;
    }
  }
  return v;
}

GemmMeasure measure_gemm(const MacConfig& m, std::size_t M, std::size_t N, std::size_t K,
                         const std::vector<std::uint64_t>& A, const std::vector<std::uint64_t>& B,
                         const GemmOptions& go, int threads) {
  GemmMeasure g;
  const auto t0 = std::chrono::steady_clock::now();
  g.r = gemm(m, M, N, K, A, B, {}, go);
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Format& rf = result_format(m);
  std::vector<double> ad(A.size()), bd(B.size());
  for (std::size_t x = 0; x < A.size(); ++x) ad[x] = to_double(m.a, A[x]);
  for (std::size_t x = 0; x < B.size(); ++x) bd[x] = to_double(m.b, B[x]);
  g.ref.assign(M * N, 0.0);
  g.got.assign(M * N, 0.0);
  double max_rel = 0, sum_rel = 0, max_ulp = 0, sum_ulp = 0;
  std::size_t n_err = 0, nonfinite = 0;
  const int t = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for num_threads(t) reduction(max : max_rel, max_ulp) \
    reduction(+ : sum_rel, sum_ulp, n_err, nonfinite)
  for (std::size_t o = 0; o < M * N; ++o) {
    const std::size_t i = o / N, j = o % N;
    double sm = 0, c = 0;
    for (std::size_t k = 0; k < K; ++k) {
      const double p = ad[i * K + k] * bd[k * N + j];
      const double s = sm + p;
      c += std::abs(sm) >= std::abs(p) ? (sm - s) + p : (p - s) + sm;
      sm = s;
    }
    g.ref[o] = sm + c;
    g.got[o] = to_double(rf, g.r.codes[o]);
    if (!std::isfinite(g.got[o])) {
      ++nonfinite;
      continue;
    }
    const double err = std::abs(g.got[o] - g.ref[o]);
    const double rel = g.ref[o] != 0 ? err / std::abs(g.ref[o]) : (err != 0 ? 1.0 : 0.0);
    // one ulp of the result format at the reference's magnitude
    const int e = g.ref[o] != 0 ? std::max(std::ilogb(g.ref[o]), rf.emin()) : rf.emin();
    const double ulp = std::ldexp(1.0, e - rf.man_bits);
    max_rel = std::max(max_rel, rel);
    sum_rel += rel;
    max_ulp = std::max(max_ulp, err / ulp);
    sum_ulp += err / ulp;
    ++n_err;
  }
  g.max_rel = max_rel;
  g.max_ulp = max_ulp;
  g.mean_rel = n_err ? sum_rel / static_cast<double>(n_err) : 0.0;
  g.mean_ulp = n_err ? sum_ulp / static_cast<double>(n_err) : 0.0;
  g.finite = n_err;
  g.nonfinite = nonfinite;
  return g;
}

analysis::GemmStats gemm_stats(const MacConfig& m, std::size_t M, std::size_t N, std::size_t K,
                               const GemmMeasure& g, int threads) {
  analysis::GemmStats gs;
  gs.output = analysis::compare_to_reference(result_format(m), g.ref, g.got, threads);
  const MacCounts& c = g.r.counts;
  gs.mac = analysis::MacTally{c.steps,   c.inexact, c.underflow,     c.overflow,
                              c.invalid, c.swamped, c.carry_overflow};
  gs.products = static_cast<std::uint64_t>(M) * N * K;
  return gs;
}

}  // namespace fp8sim::cli
