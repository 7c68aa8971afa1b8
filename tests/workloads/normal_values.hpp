// tests/workloads/normal_values.hpp — reproducible normal samples for the workloads tests
// (Box-Muller on Philox words: the same values on every platform).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "rounding/random_bits.hpp"

namespace fp8sim::testing {

inline std::vector<float> normal_values(std::size_t n, std::uint64_t seed, double sigma = 1.0) {
  std::vector<float> v(n);
  const RandomKey key{seed, 7};
  for (std::size_t i = 0; i < n; ++i) {
    const double u1 = (random_word(key, 2 * i) + 0.5) * 0x1p-32;
    const double u2 = (random_word(key, 2 * i + 1) + 0.5) * 0x1p-32;
    v[i] =
        static_cast<float>(sigma * std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return v;
}

}  // namespace fp8sim::testing
