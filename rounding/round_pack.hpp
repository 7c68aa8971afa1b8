// rounding/round_pack.hpp — THE rounding primitive. Every quantizer, MAC step and output
// conversion of fp8sim rounds by calling round_pack; nothing else rounds.
#pragma once

#include <cstdint>

#include "formats/formats.hpp"
#include "rounding/flags.hpp"
#include "rounding/rounding_mode.hpp"

namespace fp8sim {

__extension__ typedef unsigned __int128 u128;  // GCC extension, exact 128-bit significands
__extension__ typedef __int128 i128;

/// An exact finite value (-1)^sign * (sig + sticky*epsilon) * 2^exp, where the optional
/// sticky bit says "something non-zero, smaller than one unit of sig's LSB, was dropped".
/// Contract: when sticky is set, sig must carry at least man_bits + 35 significant bits so
/// that the sticky part lies below every bit rounding looks at (including 32 SR bits);
/// arithmetic that drops bits keeps that many (see sim/fma.cpp).
struct Unrounded {
  bool sign = false;
  std::int64_t exp = 0;
  u128 sig = 0;
  bool sticky = false;
};

/// A rounded encoding with its flags.
struct Rounded {
  std::uint64_t code = 0;
  Flags flags = 0;
};

/// Rounds an exact value to `f`:
///  - zero (sig == 0, no sticky) gives +-0 exactly (+0 where the format has no -0; a format
///    without zero (E8M0) gives NaN and `invalid`);
///  - tininess per r.tininess; underflow is raised only when the result is also inexact;
///    with r.ftz, values below min normal flush to +-0 (underflow|inexact);
///  - a format without subnormals rounds below min normal onto {0, min normal} (E8M0, which
///    has no zero, clamps to its smallest value with underflow|inexact);
///  - overflow follows f.overflow (see formats.hpp) and raises overflow|inexact;
///  - for RoundingMode::sr, `random` is the r-bit uniform integer (only its low r.sr_bits
///    bits are used); other modes ignore it.
[[nodiscard]] Rounded round_pack(const Format& f, const Unrounded& x, const RoundSpec& r,
                                 std::uint32_t random = 0);

/// Converts an encoding of `from` to `to` (NaN: quiet NaN of the same sign with the top
/// payload bits kept where both are IEEE formats; signalling NaN raises invalid. Inf: Inf,
/// or NaN+invalid where `to` has no Inf (max finite+invalid where `to` has no NaN). NaN into
/// a format without NaN: +0 with invalid).
[[nodiscard]] Rounded convert(const Format& from, std::uint64_t code, const Format& to,
                              const RoundSpec& r, std::uint32_t random = 0);

/// Converts a double / float (same rules as convert from fp64 / fp32).
[[nodiscard]] Rounded from_double(double v, const Format& to, const RoundSpec& r,
                                  std::uint32_t random = 0);
[[nodiscard]] Rounded from_float(float v, const Format& to, const RoundSpec& r,
                                 std::uint32_t random = 0);

/// The encoding's exact value as an Unrounded (precondition: finite class).
[[nodiscard]] Unrounded to_unrounded(const Format& f, std::uint64_t code);

}  // namespace fp8sim
