// sim/golden/golden.hpp — the golden model: fp8sim's semantics written a second time,
// straight from the definitions, on exact Boost.Multiprecision rationals.
//
// It shares no rounding code with the fast path (rounding/, sim/ kernels); it uses only the
// Format value type (fields such as exp_bits, man_bits, bias, specials, overflow). Slow and
// obviously right: the fast paths must equal it bit for bit, flags included.
//
// Why here (sim/golden) and not tests/oracle: the command line uses it (`gemm
// --check-golden`, `bench` measures golden MAC/s), so it is part of the library.
#pragma once

#include <cstdint>

#include <boost/multiprecision/cpp_int.hpp>

#include "formats/formats.hpp"
#include "rounding/flags.hpp"
#include "rounding/rounding_mode.hpp"

namespace fp8sim::golden {

using Rational = boost::multiprecision::cpp_rational;

struct Result {
  std::uint64_t code = 0;
  Flags flags = 0;
};

/// Exact value of a finite encoding (zero, subnormal or normal). Precondition: finite.
[[nodiscard]] Rational value_of(const Format& f, std::uint64_t code);

/// Rounds the exact value `x` to `f` under `r` (same contract as fp8sim::round_pack, see
/// rounding/round_pack.hpp). `negative` gives the sign when x == 0. For RoundingMode::sr
/// `random` is the r-bit uniform integer.
[[nodiscard]] Result round_value(const Format& f, const Rational& x, bool negative,
                                 const RoundSpec& r, std::uint32_t random = 0);

/// Converts an encoding of `from` into `to` (same contract as fp8sim::convert, including
/// NaN/Inf rules).
[[nodiscard]] Result convert(const Format& from, std::uint64_t code, const Format& to,
                             const RoundSpec& r, std::uint32_t random = 0);

}  // namespace fp8sim::golden
