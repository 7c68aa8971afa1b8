// analysis/gradient_stats.hpp — statistics of a gradient tensor against the format it is
// about to be quantized to: norm, amax, and how much of it falls outside the format's
// window before and after loss scaling.
#pragma once

#include <cstdint>
#include <span>

#include "formats/formats.hpp"

namespace fp8sim::analysis {

struct GradientStats {
  std::uint64_t count = 0;  ///< elements (NaN and Inf included)
  double norm = 0;          ///< L2 norm of the finite elements (unscaled)
  double amax = 0;          ///< max |g| over finite elements (unscaled)
  double loss_scale = 1;
  /// Fractions of all elements: non-zero finite |g| below the format's min subnormal
  /// (smallest positive value), unscaled and after multiplying by loss_scale; |g| *
  /// loss_scale above max finite (Inf included).
  double below_min_subnormal = 0;
  double below_min_subnormal_scaled = 0;
  double above_max = 0;
  std::uint64_t nonfinite = 0;  ///< NaN and Inf elements
};

/// Throws std::invalid_argument when loss_scale is not finite and positive.
[[nodiscard]] GradientStats gradient_stats(const Format& target, std::span<const double> g,
                                           double loss_scale = 1.0);

}  // namespace fp8sim::analysis
