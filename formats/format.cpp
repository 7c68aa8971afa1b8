// formats/format.cpp — validation, classification and exact decoding of encodings.
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "formats/formats.hpp"

namespace fp8sim {

namespace {
constexpr std::uint64_t low_mask(int bits) {
  return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}
}  // namespace

int Format::emax() const {
  return static_cast<int>(max_finite_code() >> man_bits) - bias;
}

std::uint64_t Format::max_finite_code() const {
  const int em = exp_bits + man_bits;
  switch (specials) {
    case Specials::ieee:
      return ((low_mask(exp_bits) - 1) << man_bits) | low_mask(man_bits);
    case Specials::fn:
      return low_mask(em) - 1;  // all ones is the NaN
    case Specials::fnuz:
    case Specials::none:
      break;
  }
  return low_mask(em);
}

void validate(const Format& f) {
  auto fail = [&](const std::string& what) {
    throw FormatError(fmt::format("format '{}': {}", f.name.empty() ? "(custom)" : f.name, what));
  };
  if (f.exp_bits < 1 || f.exp_bits > 11)
    fail(fmt::format("exponent bits = {} is out of range (allowed: 1..11)", f.exp_bits));
  if (f.man_bits < 0 || f.man_bits > 52)
    fail(fmt::format("mantissa bits = {} is out of range (allowed: 0..52)", f.man_bits));
  if (f.width() > 64)
    fail(fmt::format("width = {} bits is too wide (allowed: at most 64 bits in all)", f.width()));
  if (f.bias < -4096 || f.bias > 4096)
    fail(fmt::format("bias = {} is out of range (allowed: -4096..4096)", f.bias));
  if (f.specials == Specials::ieee && f.exp_bits < 2)
    fail("IEEE specials need at least 2 exponent bits (exponent all ones is Inf/NaN)");
  if (f.specials == Specials::ieee && f.man_bits < 1)
    fail("IEEE specials need at least 1 mantissa bit (to tell NaN from Inf); use 'fn'");
  if (f.specials == Specials::fn && f.exp_bits + f.man_bits < 2)
    fail("'fn' needs at least 2 exponent+mantissa bits (all ones is NaN)");
  if (f.specials == Specials::fnuz && !f.is_signed)
    fail("'fnuz' needs a sign bit (its NaN is the negative zero encoding)");
  if (!f.has_zero && f.subnormals) fail("a format without zero cannot have subnormals");
}

Format make_format(int exp_bits, int man_bits, int bias, Specials specials, bool subnormals,
                   Overflow overflow, std::string name) {
  Format f;
  f.exp_bits = exp_bits;
  f.man_bits = man_bits;
  f.bias = bias;
  f.specials = specials;
  f.subnormals = subnormals;
  f.overflow = specials == Specials::none ? Overflow::saturate : overflow;
  f.name = name.empty() ? fmt::format("e{}m{}b{}", exp_bits, man_bits, bias) : std::move(name);
  validate(f);
  return f;
}

Class classify(const Format& f, std::uint64_t code) {
  const std::uint64_t mag = code & ~f.sign_mask();
  const std::uint64_t field = exp_field(f, code);
  const std::uint64_t frac = frac_field(f, code);
  switch (f.specials) {
    case Specials::ieee:
      if (field == low_mask(f.exp_bits)) return frac == 0 ? Class::infinite : Class::nan;
      break;
    case Specials::fn:
      if (mag == low_mask(f.exp_bits + f.man_bits)) return Class::nan;
      break;
    case Specials::fnuz:
      if (code == f.sign_mask()) return Class::nan;
      break;
    case Specials::none:
      break;
  }
  if (field == 0 && f.has_zero) {
    if (frac == 0 || !f.subnormals) return Class::zero;
    return Class::subnormal;
  }
  return Class::normal;
}

Decoded decode(const Format& f, std::uint64_t code) {
  Decoded d;
  d.cls = classify(f, code);
  d.sign = sign_of(f, code);
  const auto field = static_cast<int>(exp_field(f, code));
  const std::uint64_t frac = frac_field(f, code);
  switch (d.cls) {
    case Class::normal:
      d.sig = (std::uint64_t{1} << f.man_bits) | frac;
      d.exp = field - f.bias - f.man_bits;
      break;
    case Class::subnormal:
      d.sig = frac;
      d.exp = f.emin() - f.man_bits;
      break;
    default:
      break;
  }
  return d;
}

double to_double(const Format& f, std::uint64_t code) {
  const Decoded d = decode(f, code);
  double v = 0;
  switch (d.cls) {
    case Class::nan:
      return d.sign ? -std::numeric_limits<double>::quiet_NaN()
                    : std::numeric_limits<double>::quiet_NaN();
    case Class::infinite:
      v = std::numeric_limits<double>::infinity();
      break;
    case Class::zero:
      v = 0;
      break;
    default:
      v = std::ldexp(static_cast<double>(d.sig), d.exp);  // sig < 2^53: exact conversion
  }
  return d.sign ? -v : v;
}

bool is_signaling_nan(const Format& f, std::uint64_t code) {
  if (f.specials != Specials::ieee || classify(f, code) != Class::nan) return false;
  return ((code >> (f.man_bits - 1)) & 1) == 0;
}

std::uint64_t nan_code(const Format& f, bool sign) {
  switch (f.specials) {
    case Specials::ieee:
      return (sign ? f.sign_mask() : 0) | (low_mask(f.exp_bits) << f.man_bits) |
             (std::uint64_t{1} << (f.man_bits - 1));
    case Specials::fn:
      return (sign ? f.sign_mask() : 0) | low_mask(f.exp_bits + f.man_bits);
    case Specials::fnuz:
      return f.sign_mask();
    case Specials::none:
      break;
  }
  return 0;  // precondition violated: no NaN; callers check has_nan()
}

std::uint64_t inf_code(const Format& f, bool sign) {
  return (sign ? f.sign_mask() : 0) | (low_mask(f.exp_bits) << f.man_bits);
}

std::uint64_t zero_code(const Format& f, bool sign) {
  return (sign && f.has_negative_zero()) ? f.sign_mask() : 0;
}

std::uint64_t max_finite_code_signed(const Format& f, bool sign) {
  return (sign ? f.sign_mask() : 0) | f.max_finite_code();
}

FormatProperties properties(const Format& f) {
  FormatProperties p;
  p.max_finite = to_double(f, f.max_finite_code());
  p.emin = f.emin();
  p.emax = f.emax();
  p.min_normal = std::ldexp(1.0, f.emin());
  p.min_subnormal = f.subnormals ? std::ldexp(1.0, f.emin() - f.man_bits) : p.min_normal;
  p.epsilon = std::ldexp(1.0, -f.man_bits);
  const int sub_bits = f.subnormals ? f.man_bits : 0;
  // log2(max/min_sub) = emax + log2(1.xxx) - (emin - sub_bits)
  p.dynamic_range_binades =
      (f.emax() - (f.emin() - sub_bits)) + std::log2(p.max_finite / std::ldexp(1.0, f.emax()));
  const std::uint64_t n_codes = f.width() >= 64 ? 0 : (std::uint64_t{1} << f.width());
  const int signs = f.is_signed ? 2 : 1;
  switch (f.specials) {
    case Specials::ieee:
      p.inf_encodings = 2;
      p.nan_encodings = 2 * (low_mask(f.man_bits));
      break;
    case Specials::fn:
      p.nan_encodings = static_cast<std::uint64_t>(signs);
      break;
    case Specials::fnuz:
      p.nan_encodings = 1;
      break;
    case Specials::none:
      break;
  }
  (void)n_codes;
  return p;
}

std::string_view to_string(Specials s) {
  switch (s) {
    case Specials::ieee:
      return "ieee";
    case Specials::fn:
      return "fn";
    case Specials::fnuz:
      return "fnuz";
    case Specials::none:
      return "none";
  }
  return "?";
}

std::string_view to_string(Overflow o) {
  switch (o) {
    case Overflow::ieee:
      return "ieee";
    case Overflow::nonsat:
      return "nonsat";
    case Overflow::saturate:
      return "saturate";
  }
  return "?";
}

std::string_view to_string(Class c) {
  switch (c) {
    case Class::zero:
      return "zero";
    case Class::subnormal:
      return "subnormal";
    case Class::normal:
      return "normal";
    case Class::infinite:
      return "inf";
    case Class::nan:
      return "nan";
  }
  return "?";
}

}  // namespace fp8sim
