// formats/formats.hpp — the public contract of the formats module.
//
// A `Format` is a plain value describing a binary floating-point encoding:
//   [sign bit] [exp_bits exponent field] [man_bits fraction field]
// Normal numbers:    (-1)^s * 1.f * 2^(field - bias)
// Subnormal numbers: (-1)^s * 0.f * 2^(1 - bias)   (field 0, when subnormals are on)
// The specials policy says which encodings are Inf/NaN (see `Specials`); the overflow
// policy says what a rounding that overflows produces (see `Overflow`).
//
// Everything here is exact integer arithmetic: no floating-point type is used to decide
// a value. Decoding gives an exact (sign, significand, exponent) triple.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fp8sim {

/// Which encodings are not finite numbers.
enum class Specials : std::uint8_t {
  ieee,  ///< IEEE 754: exponent all ones = Inf (fraction 0) or NaN (fraction != 0).
  fn,    ///< "finite + NaN" (OCP E4M3, LLVM Float8E4M3FN): no Inf; only magnitude all ones
         ///< (S.1111.111) is NaN.
  fnuz,  ///< "finite, NaN, unsigned zero" (Graphcore/AMD): no Inf, no -0; 0x80 (sign bit
         ///< alone) is the only NaN.
  none,  ///< every encoding is a finite number (OCP MX FP6/FP4 element types).
};

/// What a finite result too large for the format becomes.
enum class Overflow : std::uint8_t {
  ieee,      ///< IEEE 754 7.4: depends on the rounding direction: to Inf for the nearest
             ///< modes and stochastic rounding (or to NaN where the format has no Inf), to
             ///< max finite for rtz/rto and the direction away from the overflow.
  nonsat,    ///< OCP FP8 "non-saturating" conversion (and ml_dtypes): every overflow becomes
             ///< Inf (NaN where there is no Inf), whatever the rounding mode.
  saturate,  ///< OCP "saturating" conversion: every finite overflow clamps to +-max finite.
};

/// Category of an encoding.
enum class Class : std::uint8_t { zero, subnormal, normal, infinite, nan };

/// A binary floating-point format. Build one with `make_format`, `preset` or `parse_format`
/// so that it is validated; the fields are public so that a format is a cheap value.
struct Format {
  std::string name;        ///< canonical name (preset name or the parsed custom name)
  int exp_bits = 5;        ///< 1..11
  int man_bits = 2;        ///< 0..52 (fraction bits, without the implicit bit)
  int bias = 15;           ///< exponent bias
  bool subnormals = true;  ///< gradual underflow; off = field 0 encodes only zero
  Specials specials = Specials::ieee;
  Overflow overflow = Overflow::ieee;
  bool is_signed = true;  ///< false only for E8M0 (OCP MX scale): no sign bit
  bool has_zero = true;   ///< false only for E8M0: field 0 is the normal number 2^-bias

  /// Number of bits of an encoding.
  [[nodiscard]] int width() const { return (is_signed ? 1 : 0) + exp_bits + man_bits; }
  /// Smallest field value that encodes a normal number (1, or 0 for E8M0).
  [[nodiscard]] int min_normal_field() const { return has_zero ? 1 : 0; }
  /// Exponent of the smallest normal number (and the exponent of subnormals).
  [[nodiscard]] int emin() const { return min_normal_field() - bias; }
  /// Exponent of the largest finite number.
  [[nodiscard]] int emax() const;
  /// Magnitude (sign bit clear) of the encoding of the largest finite number.
  [[nodiscard]] std::uint64_t max_finite_code() const;
  /// Mask of the sign bit (0 for unsigned formats).
  [[nodiscard]] std::uint64_t sign_mask() const {
    return is_signed ? std::uint64_t{1} << (exp_bits + man_bits) : 0;
  }
  /// Mask of all bits of an encoding.
  [[nodiscard]] std::uint64_t code_mask() const {
    return width() == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width()) - 1;
  }
  [[nodiscard]] bool has_inf() const { return specials == Specials::ieee; }
  [[nodiscard]] bool has_nan() const { return specials != Specials::none; }
  [[nodiscard]] bool has_negative_zero() const {
    return is_signed && has_zero && specials != Specials::fnuz;
  }
};

/// Thrown for an invalid format description; the message names the field, the bad value
/// and what is allowed.
/// A value for an error message, quoted and cut to its first 48 characters (with the
/// length said) so a huge argument is never echoed whole. Every module's messages use it
/// (docs/cli-conventions.md).
[[nodiscard]] std::string shown(std::string_view value);

class FormatError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Builds and validates a custom format. Throws FormatError when a field is out of range:
/// exp_bits 1..11, man_bits 0..52, width <= 64, |bias| <= 4096, IEEE specials need
/// exp_bits >= 2 and man_bits >= 1 (to have normals and a NaN encoding).
[[nodiscard]] Format make_format(int exp_bits, int man_bits, int bias, Specials specials,
                                 bool subnormals = true, Overflow overflow = Overflow::ieee,
                                 std::string name = {});

/// Throws FormatError if `f` breaks a rule of make_format.
void validate(const Format& f);

/// Names of every preset, in display order.
[[nodiscard]] const std::vector<std::string>& preset_names();

/// Looks up a preset by exact name (aliases such as "half", "bfloat16", "f6e2m3fn" work).
[[nodiscard]] std::optional<Format> find_preset(std::string_view name);

/// Parses a preset name or a custom name `eXmY[bB][fn|fnuz][-nosub][-sat|-nonsat]`
/// (a preset name means the preset; suffixes apply to presets too, e.g. "e4m3fn-sat").
/// Throws FormatError naming the bad part and listing the presets.
[[nodiscard]] Format parse_format(std::string_view name);

// ---- encodings ------------------------------------------------------------------------

/// An exactly decoded encoding: value = (-1)^sign * sig * 2^exp for finite classes.
struct Decoded {
  Class cls = Class::zero;
  bool sign = false;
  std::uint64_t sig = 0;  ///< integer significand (implicit bit included); 0 for zero
  int exp = 0;            ///< exponent of the significand's least significant bit
};

/// Fields of an encoding. Precondition: code <= f.code_mask().
[[nodiscard]] inline bool sign_of(const Format& f, std::uint64_t code) {
  return (code & f.sign_mask()) != 0;
}
[[nodiscard]] inline std::uint64_t exp_field(const Format& f, std::uint64_t code) {
  return (code >> f.man_bits) & ((std::uint64_t{1} << f.exp_bits) - 1);
}
[[nodiscard]] inline std::uint64_t frac_field(const Format& f, std::uint64_t code) {
  return f.man_bits == 0 ? 0 : code & ((std::uint64_t{1} << f.man_bits) - 1);
}

/// Classifies an encoding. In a format without subnormals, field 0 with a non-zero
/// fraction reads as zero (denormals-are-zero); such codes are never produced.
[[nodiscard]] Class classify(const Format& f, std::uint64_t code);
/// Decodes an encoding exactly.
[[nodiscard]] Decoded decode(const Format& f, std::uint64_t code);
/// The value as a double (exact for every format whose values fit a double; outside
/// double's range it is the correctly rounded double, possibly +-Inf or 0).
[[nodiscard]] double to_double(const Format& f, std::uint64_t code);
/// True for signalling NaNs (IEEE formats: NaN whose fraction MSB is 0). Other formats
/// have quiet NaNs only.
[[nodiscard]] bool is_signaling_nan(const Format& f, std::uint64_t code);

/// Canonical encodings of the specials. `nan_code` is the quiet NaN with the given sign
/// (fnuz: always 0x80...; E8M0: 0xFF). Preconditions: has_nan()/has_inf().
[[nodiscard]] std::uint64_t nan_code(const Format& f, bool sign = false);
[[nodiscard]] std::uint64_t inf_code(const Format& f, bool sign);
/// +-0 (fnuz and unsigned formats: +0 only). Precondition: has_zero.
[[nodiscard]] std::uint64_t zero_code(const Format& f, bool sign);
/// Largest finite magnitude with the given sign.
[[nodiscard]] std::uint64_t max_finite_code_signed(const Format& f, bool sign);

// ---- properties (exact values as decoded triples, plus doubles for display) ----------

struct FormatProperties {
  double max_finite = 0;             ///< largest finite value
  double min_normal = 0;             ///< smallest positive normal
  double min_subnormal = 0;          ///< smallest positive value (= min_normal without subnormals)
  double epsilon = 0;                ///< 2^-man_bits: distance from 1 to the next larger value
  double dynamic_range_binades = 0;  ///< log2(max_finite / min_subnormal)
  std::uint64_t nan_encodings = 0;   ///< how many encodings are NaN
  std::uint64_t inf_encodings = 0;   ///< how many encodings are +-Inf
  int emin = 0, emax = 0;            ///< exponents of min normal and max finite
};
[[nodiscard]] FormatProperties properties(const Format& f);

/// Short description of the specials policy ("ieee", "fn", "fnuz", "none").
[[nodiscard]] std::string_view to_string(Specials s);
[[nodiscard]] std::string_view to_string(Overflow o);
[[nodiscard]] std::string_view to_string(Class c);

}  // namespace fp8sim
