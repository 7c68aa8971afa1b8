// cli/gemm_measure.hpp — one GEMM through the MAC unit measured against an fp64 reference
// (exact products, compensated sum): what `fp8sim gemm` prints and records, and what a
// sweep's gemm point summarises.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/analysis.hpp"
#include "sim/gemm.hpp"

namespace fp8sim::cli {

/// --dist (and a sweep's `dist`): normal, uniform or lognormal[:SIGMA].
struct Dist {
  enum Kind { normal, uniform, lognormal } kind = normal;
  double sigma = 1.0;
};
/// Throws UsageError naming the value and the choices.
[[nodiscard]] Dist parse_dist(const std::string& dist);
/// n values of `dist` from a Mersenne Twister seeded with `seed` (lognormal: random signs).
[[nodiscard]] std::vector<double> random_values(std::size_t n, const Dist& dist,
                                                std::uint64_t seed);

struct GemmMeasure {
  GemmResult r;
  double seconds = 0;  ///< the gemm() call alone
  double max_rel = 0, mean_rel = 0, max_ulp = 0, mean_ulp = 0;
  std::size_t finite = 0, nonfinite = 0;
  std::vector<double> ref, got;  ///< M*N: the reference and the result's values
};

/// C = A*B for codes A (M*K of m.a) and B (K*N of m.b) with `go`, timed, and the errors of
/// its finite outputs against the fp64 reference of the same inputs (relative, and in ulps
/// of the result format at the reference's magnitude); `threads` for the reference.
[[nodiscard]] GemmMeasure measure_gemm(const MacConfig& m, std::size_t M, std::size_t N,
                                       std::size_t K, const std::vector<std::uint64_t>& A,
                                       const std::vector<std::uint64_t>& B, const GemmOptions& go,
                                       int threads);

/// The GEMM statistics a recording holds for it (/gemms/NAME).
[[nodiscard]] analysis::GemmStats gemm_stats(const MacConfig& m, std::size_t M, std::size_t N,
                                             std::size_t K, const GemmMeasure& g, int threads);

}  // namespace fp8sim::cli
