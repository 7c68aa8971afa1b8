// sim/fma.hpp — scalar arithmetic on encodings of any Format, each with ONE rounding
// through round_pack: the building blocks of the MAC unit and of the TestFloat checks.
//
// Products are exact; sums are exact until the single rounding (a 128-bit significand with
// a sticky bit, enough for fp64 fma). NaN and Inf follow IEEE 754 and Berkeley SoftFloat's
// 8086-SSE specialisation: a signalling NaN operand raises invalid; Inf*0 raises invalid
// (in fma even when the addend is a quiet NaN); Inf-Inf raises invalid; a NaN result is the
// propagated quiet NaN of the first NaN operand (a, then b, then c), or the format's default
// NaN when made from non-NaN operands. An exact zero sum is +0, or -0 under rdn; x+x keeps
// the sign of x when both are zeros of the same sign.
#pragma once

#include <cstdint>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"

namespace fp8sim {

/// a*b + c with one rounding; a, b, c and the result may each have their own format.
[[nodiscard]] Rounded fma(const Format& fa, std::uint64_t a, const Format& fb, std::uint64_t b,
                          const Format& fc, std::uint64_t c, const Format& out, const RoundSpec& r,
                          std::uint32_t random = 0);

/// Same-format conveniences.
[[nodiscard]] Rounded fma(const Format& f, std::uint64_t a, std::uint64_t b, std::uint64_t c,
                          const RoundSpec& r, std::uint32_t random = 0);
[[nodiscard]] Rounded add(const Format& f, std::uint64_t a, std::uint64_t b, const RoundSpec& r,
                          std::uint32_t random = 0);
[[nodiscard]] Rounded sub(const Format& f, std::uint64_t a, std::uint64_t b, const RoundSpec& r,
                          std::uint32_t random = 0);
[[nodiscard]] Rounded mul(const Format& f, std::uint64_t a, std::uint64_t b, const RoundSpec& r,
                          std::uint32_t random = 0);

}  // namespace fp8sim
