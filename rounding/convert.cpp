// rounding/convert.cpp — conversions between formats: specials here, finite values
// through round_pack.
#include <bit>
#include <cstring>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"

namespace fp8sim {

namespace {
const Format& fp64_format() {
  static const Format f = *find_preset("fp64");
  return f;
}
const Format& fp32_format() {
  static const Format f = *find_preset("fp32");
  return f;
}
}  // namespace

Unrounded to_unrounded(const Format& f, std::uint64_t code) {
  const Decoded d = decode(f, code);
  return Unrounded{d.sign, d.exp, d.sig, false};
}

Rounded convert(const Format& from, std::uint64_t code, const Format& to, const RoundSpec& r,
                std::uint32_t random) {
  const Class cls = classify(from, code);
  const bool sign = sign_of(from, code);
  if (cls == Class::nan) {
    const Flags fl = is_signaling_nan(from, code) ? kInvalid : 0;
    if (!to.has_nan()) return {zero_code(to, false), kInvalid};
    if (from.specials == Specials::ieee && to.specials == Specials::ieee) {
      // keep the top payload bits, set the quiet bit (x86 / SoftFloat 8086 rule)
      const std::uint64_t frac = frac_field(from, code);
      std::uint64_t pl = from.man_bits >= to.man_bits ? frac >> (from.man_bits - to.man_bits)
                                                      : frac << (to.man_bits - from.man_bits);
      pl |= std::uint64_t{1} << (to.man_bits - 1);
      return {(sign ? to.sign_mask() : 0) | inf_code(to, false) | pl, fl};
    }
    return {nan_code(to, sign), fl};
  }
  if (cls == Class::infinite) {
    if (!to.is_signed && sign) return {nan_code(to), kInvalid};
    if (to.has_inf()) return {inf_code(to, sign), 0};
    if (to.has_nan()) return {nan_code(to, sign), kInvalid};
    return {max_finite_code_signed(to, sign), kInvalid};
  }
  return round_pack(to, to_unrounded(from, code), r, random);
}

Rounded from_double(double v, const Format& to, const RoundSpec& r, std::uint32_t random) {
  return convert(fp64_format(), std::bit_cast<std::uint64_t>(v), to, r, random);
}

Rounded from_float(float v, const Format& to, const RoundSpec& r, std::uint32_t random) {
  return convert(fp32_format(), std::bit_cast<std::uint32_t>(v), to, r, random);
}

}  // namespace fp8sim
