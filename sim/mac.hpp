// sim/mac.hpp — the MAC unit, one dot product at a time: the reference implementation of
// every MacConfig (all roundings through round_pack), with a step-by-step trace. The GEMM
// engine (sim/gemm.hpp) must equal it bit for bit; the golden model (sim/golden/) checks it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rounding/flags.hpp"
#include "rounding/random_bits.hpp"
#include "sim/mac_config.hpp"

namespace fp8sim {

/// How many rounding steps raised each flag, and what was lost to alignment.
struct MacCounts {
  std::uint64_t steps = 0;    ///< roundings performed (product, accumulator, outer, output)
  std::uint64_t inexact = 0;  ///< steps that raised inexact
  std::uint64_t underflow = 0;
  std::uint64_t overflow = 0;
  std::uint64_t invalid = 0;
  std::uint64_t swamped = 0;         ///< multiterm: non-zero products truncated away entirely
  std::uint64_t carry_overflow = 0;  ///< multiterm: sums that needed more than carry_bits
  void add(Flags f);
  void merge(const MacCounts& o);
};

struct MacResult {
  std::uint64_t code = 0;  ///< in the output format (out, else the outer or acc format)
  Flags flags = 0;         ///< OR of every step's flags
  MacCounts counts;
};

/// Random bits of stochastic rounding: site s of output element `output` at step i uses
/// packed_random_bits({seed, (s << 56) | output}, i, r) (floor(32/r) steps share a Philox
/// word) with s = 1 product, 2 accumulator,
/// 3 outer accumulator, 4 output conversion; step i numbers the roundings of that site
/// within the dot product from 0.
enum class RandomSite : std::uint64_t { product = 1, acc = 2, outer = 3, out = 4 };
[[nodiscard]] inline RandomKey mac_random_key(std::uint64_t seed, RandomSite site,
                                              std::uint64_t output) {
  return RandomKey{seed, (static_cast<std::uint64_t>(site) << 56) | output};
}

/// Random bits given by the caller instead of the Philox streams above: the r-bit integer the
/// rounding of `site` at `step` uses (hardware test vectors, sim/vectors/vectors.hpp, give
/// them explicitly). Only stochastic roundings call it.
using MacRandomSource = std::function<std::uint32_t(RandomSite site, std::uint64_t step, int r)>;

/// Throws std::invalid_argument if the MAC cannot be simulated exactly: products must be
/// exact in binary64 ((ma+1)+(mb+1) <= 53 significand bits and an exponent range inside
/// binary64's), formats valid, SR bits in range.
void validate(const MacConfig& m);

/// The format of the dot product's result.
[[nodiscard]] const Format& result_format(const MacConfig& m);

/// The code a NaN result of m is given in its result format (m.canonical_nan).
[[nodiscard]] std::uint64_t result_nan_code(const MacConfig& m);

/// One dot product: sum_k a[k]*b[k] (+ c) with the structure of `m`. a and b hold codes of
/// m.a and m.b (equal lengths); c, if given, a code of m.c (or m.acc). `output` is the
/// index of this dot product (keys the random bits). If `trace` is non-null, one line per
/// event is appended.
[[nodiscard]] MacResult mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                                std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                                std::uint64_t seed, std::uint64_t output,
                                std::vector<std::string>* trace = nullptr);

/// The same dot product with the random bits of `random` instead of the Philox streams.
[[nodiscard]] MacResult mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                                std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                                const MacRandomSource& random,
                                std::vector<std::string>* trace = nullptr);

}  // namespace fp8sim
