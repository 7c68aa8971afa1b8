// rounding/rounding_mode.hpp — how an exact value becomes an encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fp8sim {

enum class RoundingMode : std::uint8_t {
  rne,  ///< to nearest, ties to even encoding
  rna,  ///< to nearest, ties away from zero
  rtz,  ///< toward zero (truncate)
  rup,  ///< toward +Inf
  rdn,  ///< toward -Inf
  rto,  ///< round to odd: truncate, then set the encoding's LSB if inexact ("jamming")
  sr,   ///< stochastic with r random bits: add an r-bit uniform integer to the top r
        ///< discarded bits; round away from zero on carry (DESIGN.md)
};

/// When the underflow flag looks at the value (IEEE 754 7.5).
enum class Tininess : std::uint8_t {
  after,   ///< tiny if the result rounded with unbounded exponent is below min normal
  before,  ///< tiny if the exact value is below min normal
};

/// Everything a rounding needs besides the random bits themselves.
struct RoundSpec {
  RoundingMode mode = RoundingMode::rne;
  int sr_bits = 8;  ///< r for RoundingMode::sr, 1..32
  Tininess tininess = Tininess::after;
  /// Flush-to-zero of results: an exact value below min normal in magnitude becomes
  /// +-0 (flags underflow|inexact), decided before rounding.
  bool ftz = false;
};

/// Parses "rne", "rna", "rtz", "rup", "rdn", "rto", "sr" or "sr:R" (R = 1..32; plain "sr"
/// keeps spec.sr_bits). Throws std::invalid_argument naming the bad value and the allowed
/// ones.
RoundSpec parse_rounding(std::string_view text, RoundSpec base = {});
std::string_view to_string(RoundingMode m);
/// "rne", or "sr:8" for stochastic rounding.
std::string to_string(const RoundSpec& r);
/// Throws std::invalid_argument if sr_bits is outside 1..32.
void validate(const RoundSpec& r);

}  // namespace fp8sim
