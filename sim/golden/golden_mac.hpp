// sim/golden/golden_mac.hpp — the golden model of the MAC unit: every structure of
// MacConfig computed again from docs/mac-semantics.md on exact numbers, sharing no code with
// sim/mac.cpp, sim/fma.cpp or the GEMM kernels (only Format, MacConfig and the random bits).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "rounding/flags.hpp"
#include "sim/mac_config.hpp"

namespace fp8sim::golden {

struct MacOutcome {
  std::uint64_t code = 0;  ///< in result_format(m)
  Flags flags = 0;         ///< OR of every step's flags
};

/// The dot product of a and b (codes of m.a, m.b) with optional initial value c (code of
/// m.c, or m.acc), as docs/mac-semantics.md defines it; `output` is the dot product's
/// index (keys the random bits of stochastic rounding).
[[nodiscard]] MacOutcome mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                                 std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                                 std::uint64_t seed, std::uint64_t output);

}  // namespace fp8sim::golden
