// sim/golden/golden_mac.hpp — the golden model of the MAC unit: every structure of
// MacConfig computed again from docs/mac-semantics.md on exact numbers, sharing no code with
// sim/mac.cpp, sim/fma.cpp or the GEMM kernels (only Format, MacConfig and the random bits).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include <boost/multiprecision/cpp_int.hpp>

#include "rounding/flags.hpp"
#include "sim/mac.hpp"  // RandomSite, MacRandomSource (types only)
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

/// An exact value as the golden model holds it: NaN, +-Inf, or (-1)^neg * mag * 2^exp
/// (zero: mag == 0, the sign kept).
struct ExactValue {
  enum class Kind : std::uint8_t { finite, inf, nan };
  Kind kind = Kind::finite;
  bool neg = false;
  boost::multiprecision::cpp_int mag;
  long exp = 0;
};

/// One rounding the golden model made (observers: the corner classes of sim/vectors/).
struct RoundingEvent {
  RandomSite site = RandomSite::acc;  ///< product, acc, outer or out
  std::uint64_t step = 0;             ///< the step number of docs/mac-semantics.md
  const Format* to = nullptr;         ///< the format rounded into
  RoundSpec round{};
  /// The values this step summed (two for a fused add; the accumulator and the group's
  /// products of a multiterm group, before truncation); empty for a conversion.
  std::vector<ExactValue> terms;
  bool multiterm = false;  ///< a multiterm group: terms aligned to 2^align_ref
  long align_ref = 0;      ///< multiterm: R, the largest alignment exponent
  int align_bits = 0;      ///< multiterm: ALIGN (terms truncated to multiples of 2^(R-ALIGN))
  ExactValue exact;        ///< the value rounded (multiterm: the sum of the truncated terms)
  std::uint64_t code = 0;  ///< the result in `to`
  Flags flags = 0;         ///< the flags of this rounding alone
};

/// Optional hooks: random bits given by the caller instead of the Philox streams, and an
/// observer called once per rounding.
struct MacHooks {
  MacRandomSource random;
  std::function<void(const RoundingEvent&)> observe;
};

/// mac_dot with hooks (seed and output key the random bits when hooks.random is empty).
[[nodiscard]] MacOutcome mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                                 std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                                 std::uint64_t seed, std::uint64_t output, const MacHooks& hooks);

}  // namespace fp8sim::golden
