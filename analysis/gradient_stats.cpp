// analysis/gradient_stats.cpp
#include "analysis/gradient_stats.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace fp8sim::analysis {

GradientStats gradient_stats(const Format& target, std::span<const double> g, double loss_scale) {
  if (!(loss_scale > 0) || !std::isfinite(loss_scale))
    throw std::invalid_argument(
        fmt::format("loss scale {} is not allowed (a finite number > 0)", loss_scale));
  const FormatProperties p = properties(target);
  GradientStats s;
  s.loss_scale = loss_scale;
  s.count = g.size();
  double sq = 0, amax = 0;
  std::uint64_t below = 0, below_scaled = 0, above = 0, nonfinite = 0;
#pragma omp parallel for if (g.size() > 65536) reduction(+ : sq, below, below_scaled, above, nonfinite) reduction(max : amax)
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double a = std::abs(g[i]);
    if (std::isnan(a) || std::isinf(a)) {
      ++nonfinite;
      above += std::isinf(a);
      continue;
    }
    sq += a * a;
    amax = std::max(amax, a);
    const double as = a * loss_scale;
    below += a != 0 && a < p.min_subnormal;
    below_scaled += as != 0 && as < p.min_subnormal;
    above += as > p.max_finite;
  }
  s.norm = std::sqrt(sq);
  s.amax = amax;
  s.nonfinite = nonfinite;
  if (s.count) {
    const double n = static_cast<double>(s.count);
    s.below_min_subnormal = static_cast<double>(below) / n;
    s.below_min_subnormal_scaled = static_cast<double>(below_scaled) / n;
    s.above_max = static_cast<double>(above) / n;
  }
  return s;
}

}  // namespace fp8sim::analysis
