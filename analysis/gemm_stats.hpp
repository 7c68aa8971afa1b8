// analysis/gemm_stats.hpp — what one GEMM did: its output against a reference (as a
// TensorStats), the flags its MAC unit raised and the swamping measure.
#pragma once

#include <cstdint>

#include "analysis/tensor_stats.hpp"

namespace fp8sim::analysis {

/// The MAC unit's accumulated counts, copied from sim's MacCounts by the caller (analysis
/// does not depend on sim/). Each counts rounding steps (product, accumulator, outer
/// accumulator, output conversion) that raised the flag.
struct MacTally {
  std::uint64_t steps = 0, inexact = 0, underflow = 0, overflow = 0, invalid = 0;
  std::uint64_t swamped = 0;         ///< non-zero products truncated away entirely (multiterm)
  std::uint64_t carry_overflow = 0;  ///< multiterm sums that needed more than carry_bits
};

struct GemmStats {
  TensorStats output;          ///< output vs reference (count 0 when no reference was asked)
  MacTally mac;                ///< summed over all outputs
  std::uint64_t products = 0;  ///< M*N*K
  /// swamped / products: the fraction of products whose contribution was entirely lost
  /// to alignment (0 when there are no products).
  [[nodiscard]] double swamped_fraction() const {
    return products ? static_cast<double>(mac.swamped) / static_cast<double>(products) : 0.0;
  }
};

}  // namespace fp8sim::analysis
