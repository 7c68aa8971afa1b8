// sim/vectors/codes.hpp — internal to sim/vectors/: exact values of encodings and encodings
// of exact values, shared by the corner classes, the generator and the diagnosis. Every
// helper is exact (integers only); an encoding is returned only for a value the format holds
// exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include <boost/multiprecision/cpp_int.hpp>

#include "formats/formats.hpp"
#include "sim/golden/golden_mac.hpp"

namespace fp8sim::vectors::detail {

using Int = boost::multiprecision::cpp_int;
using Exact = golden::ExactValue;

/// The value of a code (NaN and Inf as such; zero with its sign).
[[nodiscard]] Exact exact_of(const Format& f, std::uint64_t code);
[[nodiscard]] inline bool finite(const Exact& x) {
  return x.kind == Exact::Kind::finite;
}
[[nodiscard]] inline bool zero(const Exact& x) {
  return finite(x) && x.mag == 0;
}
/// floor(log2 |x|) of a finite non-zero value.
[[nodiscard]] long lead(const Exact& x);
/// Compares |x| and |y| (finite): -1, 0, 1.
[[nodiscard]] int compare_magnitude(const Exact& x, const Exact& y);
/// The exact product and sum of finite values (a sum's zero is +0).
[[nodiscard]] Exact product(const Exact& x, const Exact& y);
[[nodiscard]] Exact sum(std::span<const Exact> terms);
/// x with its magnitude truncated to a multiple of 2^q.
[[nodiscard]] Exact truncated(const Exact& x, long q);
/// 2^e.
[[nodiscard]] Exact power_of_two(long e, bool neg = false);

/// The code of (-1)^neg * mag * 2^exp when f holds it exactly (no rounding, no overflow).
[[nodiscard]] std::optional<std::uint64_t> encode(const Format& f, bool neg, const Int& mag,
                                                  long exp);
[[nodiscard]] std::optional<std::uint64_t> encode(const Format& f, const Exact& x);
/// A finite non-zero code of f whose leading bit is 2^lead, its lower bits taken from
/// `fraction` (bit i of fraction gives the i-th bit below the leading one); nullopt when f
/// has no such value (out of range, or below min normal without subnormals). With
/// `fraction` all ones: the largest significand of that binade (the format's own max finite
/// in its top binade for fn formats).
[[nodiscard]] std::optional<std::uint64_t> code_at(const Format& f, bool neg, long lead,
                                                   std::uint64_t fraction);
inline constexpr std::uint64_t kAllOnes = ~std::uint64_t{0};

/// Smallest and largest leading-bit exponents of f's non-zero finite values.
[[nodiscard]] long lowest_lead(const Format& f, bool no_subnormals = false);
[[nodiscard]] long highest_lead(const Format& f);

/// Special values of a format (magnitudes; add sign_mask() for negatives).
[[nodiscard]] inline std::uint64_t min_subnormal_code(const Format&) {
  return 1;
}
[[nodiscard]] inline std::uint64_t max_subnormal_code(const Format& f) {
  return (std::uint64_t{1} << f.man_bits) - 1;
}
[[nodiscard]] inline std::uint64_t min_normal_code(const Format& f) {
  return static_cast<std::uint64_t>(f.min_normal_field()) << f.man_bits;
}

}  // namespace fp8sim::vectors::detail
