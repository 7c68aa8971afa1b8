// tests/mac_check.hpp — shared by the MAC tests: random operand codes and hex printing.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "formats/formats.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"

namespace fp8sim::testing {

using Codes = std::vector<std::uint64_t>;

/// Random finite codes of f: exponents spread `sigma` binades around 1 (clamped to the
/// format's range, so subnormals and extremes appear), random fractions and signs, a few
/// exact zeros. Built from the encoding fields only.
inline Codes random_codes(const Format& f, std::size_t n, std::mt19937_64& g, double sigma) {
  std::normal_distribution<double> e(0.0, sigma);
  const long max_field = (1L << f.exp_bits) - 1;
  Codes v(n);
  for (auto& c : v) {
    while (true) {
      const std::uint64_t r = g();
      if ((r & 31) == 0) {
        c = zero_code(f, (r >> 5) & 1);
        break;
      }
      long field = f.bias + std::lround(e(g));
      field = field < 0 ? 0 : (field > max_field ? max_field : field);
      const std::uint64_t frac =
          f.man_bits == 0 ? 0 : (r >> 8) & ((std::uint64_t{1} << f.man_bits) - 1);
      c = (static_cast<std::uint64_t>(field) << f.man_bits) | frac;
      if ((r >> 7) & 1) c |= f.sign_mask();
      const Class k = classify(f, c);
      if (k != Class::nan && k != Class::infinite) break;
    }
  }
  return v;
}

inline std::string hex_list(std::span<const std::uint64_t> v) {
  std::vector<std::string> s;
  for (auto x : v) s.push_back(fmt::format("{:#x}", x));
  return fmt::format("[{}]", fmt::join(s, ", "));
}

/// Hook for disagreements between the reference model and the golden model that have been
/// reported but not yet settled: such mismatches are counted apart (and printed) instead of
/// failing the sweeps. None are open.
inline bool known_disagreement(const MacConfig& m, std::size_t K, std::optional<std::uint64_t> c,
                               const MacResult& r, const golden::MacOutcome& g) {
  // All disagreements reported so far are settled (sim/mac.cpp and the doc were fixed);
  // this hook stays for the next one.
  (void)m;
  (void)K;
  (void)c;
  (void)r;
  (void)g;
  return false;
}

}  // namespace fp8sim::testing
