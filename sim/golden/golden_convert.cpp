// sim/golden/golden_convert.cpp — the golden model of rounding and conversion.
//
// Written a second time, straight from the definitions, on exact rationals. It shares no code
// with rounding/ (it does not even use the encoding helpers of formats/: it reads only the
// fields of Format), so a misreading in one place cannot hide in both.
//
// The definitions it implements (rounding/round_pack.hpp, rounding/rounding_mode.hpp,
// formats/formats.hpp):
//
//  * Representable magnitudes of a Format with p = man_bits + 1:
//      normals     k * 2^(e - man_bits), 2^man_bits <= k < 2^p, emin <= e, up to max finite;
//      subnormals  k * 2^(emin - man_bits), 0 < k < 2^man_bits   (when subnormals are on);
//      zero        (when the format has one).
//    The encoding (magnitude) of a normal is (e + bias) * 2^man_bits + (k - 2^man_bits),
//    that of a subnormal is k: consecutive representable magnitudes have consecutive
//    encodings, which is what "even" (rne) and "odd" (rto) refer to. In the gap between 0
//    and min normal of a format without subnormals the two neighbours are 0 (even) and
//    min normal (counted as odd).
//  * A magnitude a > 0 that is not representable lies between neighbours lo < a < hi;
//    Q = hi - lo. rne/rna: the nearer one, ties to the even encoding / away from zero;
//    rtz: lo; rup/rdn: towards +Inf / -Inf; rto: lo if exact, else the one with the odd
//    encoding; sr with r bits: f = (a - lo) / Q, t = floor(f * 2^r), hi iff
//    t + random >= 2^r.
//  * "Unbounded exponent" rounding: the same with normals of every exponent (no subnormals,
//    no max). Overflow: the unbounded result exceeds max finite. Tininess after rounding:
//    the unbounded result is below min normal; before rounding: a is below min normal.
//  * Flags: inexact when the result differs from the exact value; underflow = tiny and
//    inexact; overflow|inexact on overflow, whose result follows Format::overflow ("Inf"
//    is Inf, else NaN, else max finite). ftz: a below min normal gives +-0 with
//    underflow|inexact. Zero results keep the sign where the format has -0. E8M0 (no zero,
//    no sign): zero or negative -> NaN + invalid, below 2^-127 -> code 0 (2^-127) with
//    underflow|inexact.
//  * convert: NaN -> quiet NaN of the same sign (IEEE -> IEEE keeps the top fraction bits and
//    sets the quiet bit; signalling NaNs raise invalid), or +0 + invalid without a NaN. Inf ->
//    Inf, else NaN + invalid, else max finite + invalid. Finite -> round_value.
#include <cstdint>

#include "sim/golden/golden.hpp"

namespace fp8sim::golden {

namespace {

using Int = boost::multiprecision::cpp_int;

constexpr std::uint64_t low_bits(int n) {
  return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}

/// 2^k exactly.
Rational pow2(long k) {
  if (k >= 0) return Rational(Int(1) << static_cast<unsigned>(k));
  return Rational(Int(1), Int(1) << static_cast<unsigned>(-k));
}

// ---- encodings, from the definitions in formats/formats.hpp -------------------------------

enum class Kind { zero, subnormal, normal, infinite, nan };

std::uint64_t sign_bit(const Format& f) {
  return f.is_signed ? std::uint64_t{1} << (f.exp_bits + f.man_bits) : 0;
}
std::uint64_t exp_ones(const Format& f) {
  return low_bits(f.exp_bits);
}
std::uint64_t field_of(const Format& f, std::uint64_t code) {
  return (code >> f.man_bits) & exp_ones(f);
}
std::uint64_t frac_of(const Format& f, std::uint64_t code) {
  return code & low_bits(f.man_bits);
}

Kind kind_of(const Format& f, std::uint64_t code) {
  const std::uint64_t mag = code & ~sign_bit(f);
  const std::uint64_t field = field_of(f, code);
  const std::uint64_t frac = frac_of(f, code);
  switch (f.specials) {
    case Specials::ieee:  // exponent all ones: Inf (fraction 0) or NaN
      if (field == exp_ones(f)) return frac == 0 ? Kind::infinite : Kind::nan;
      break;
    case Specials::fn:  // magnitude all ones: NaN
      if (mag == low_bits(f.exp_bits + f.man_bits)) return Kind::nan;
      break;
    case Specials::fnuz:  // the negative zero encoding is the NaN
      if (code == sign_bit(f)) return Kind::nan;
      break;
    case Specials::none:
      break;
  }
  if (f.has_zero && field == 0) {
    // Without subnormals, field 0 reads as zero whatever the fraction (never produced).
    return (frac == 0 || !f.subnormals) ? Kind::zero : Kind::subnormal;
  }
  return Kind::normal;
}

/// The magnitude code of the largest finite number.
std::uint64_t max_code(const Format& f) {
  const std::uint64_t all = low_bits(f.exp_bits + f.man_bits);
  switch (f.specials) {
    case Specials::ieee:  // largest field below all ones, fraction all ones
      return ((exp_ones(f) - 1) << f.man_bits) | low_bits(f.man_bits);
    case Specials::fn:  // all ones is the NaN
      return all - 1;
    case Specials::fnuz:  // the NaN is a sign bit pattern; every magnitude is finite
    case Specials::none:
      return all;
  }
  return all;
}

std::uint64_t nan_enc(const Format& f, bool sign) {
  const std::uint64_t s = sign ? sign_bit(f) : 0;
  switch (f.specials) {
    case Specials::ieee:  // quiet NaN: exponent ones, fraction MSB set
      return s | (exp_ones(f) << f.man_bits) | (std::uint64_t{1} << (f.man_bits - 1));
    case Specials::fn:
      return s | low_bits(f.exp_bits + f.man_bits);
    case Specials::fnuz:
      return sign_bit(f);
    case Specials::none:
      break;
  }
  return 0;  // unreachable: callers check for a NaN first
}

std::uint64_t inf_enc(const Format& f, bool sign) {
  return (sign ? sign_bit(f) : 0) | (exp_ones(f) << f.man_bits);
}

std::uint64_t zero_enc(const Format& f, bool sign) {
  const bool neg_zero = f.is_signed && f.has_zero && f.specials != Specials::fnuz;
  return (sign && neg_zero) ? sign_bit(f) : 0;
}

std::uint64_t max_enc(const Format& f, bool sign) {
  return (sign ? sign_bit(f) : 0) | max_code(f);
}

/// Exact magnitude of a finite encoding.
Rational magnitude_of(const Format& f, std::uint64_t code) {
  const std::uint64_t field = field_of(f, code);
  const std::uint64_t frac = frac_of(f, code);
  switch (kind_of(f, code)) {
    case Kind::zero:
      return Rational(0);
    case Kind::subnormal:  // 0.f * 2^(1 - bias)
      return Rational(Int(frac)) * pow2(1L - f.bias - f.man_bits);
    default: {  // 1.f * 2^(field - bias)
      const Int sig = (Int(1) << f.man_bits) + Int(frac);
      return Rational(sig) * pow2(static_cast<long>(field) - f.bias - f.man_bits);
    }
  }
}

// ---- rounding ------------------------------------------------------------------------------
//
// Every step below is exact integer arithmetic on the numerator n and denominator d of the
// magnitude a = n / d (Rational operators are avoided only because they are slow).

/// a = n / d written against a quantum 2^s: a = (k + rem / den) * 2^s, 0 <= rem < den.
/// The neighbours of a on the grid of multiples of 2^s are lo = k * 2^s and hi = (k+1) * 2^s;
/// rem / den = (a - lo) / (hi - lo) is the discarded fraction.
struct OnGrid {
  Int k, rem, den;
};

OnGrid on_grid(const Int& n, const Int& d, long s) {
  OnGrid g;
  if (s >= 0) {
    g.den = d << static_cast<unsigned>(s);
    divide_qr(n, g.den, g.k, g.rem);
  } else {
    g.den = d;
    divide_qr(Int(n << static_cast<unsigned>(-s)), d, g.k, g.rem);
  }
  return g;
}

/// floor(log2(n / d)) for n, d > 0.
long floor_log2(const Int& n, const Int& d) {
  long e = static_cast<long>(msb(n)) - static_cast<long>(msb(d));  // n/d in [2^(e-1), 2^(e+1))
  const bool below =
      e >= 0 ? n < (d << static_cast<unsigned>(e)) : (n << static_cast<unsigned>(-e)) < d;
  return below ? e - 1 : e;
}

/// Sign of x * 2^ex - y * 2^ey.
int compare(const Int& x, long ex, const Int& y, long ey) {
  const long lo = ex < ey ? ex : ey;
  const Int xs = x << static_cast<unsigned>(ex - lo);
  const Int ys = y << static_cast<unsigned>(ey - lo);
  return xs < ys ? -1 : (xs > ys ? 1 : 0);
}

/// True when a magnitude strictly between lo and hi rounds to hi (g as from on_grid; exact
/// magnitudes, rem == 0, stay at lo). `lo_odd`: lo's encoding is odd (so hi's is even, or
/// the other way round). `negative`: the sign of the value being rounded.
bool rounds_up(const OnGrid& g, bool lo_odd, bool negative, const RoundSpec& r,
               std::uint32_t random) {
  if (g.rem == 0) return false;  // exact
  switch (r.mode) {
    case RoundingMode::rne:
    case RoundingMode::rna: {
      const Int twice = g.rem * 2;  // compare a - lo with hi - a
      if (twice != g.den) return twice > g.den;
      return r.mode == RoundingMode::rna || lo_odd;  // a tie: away, or to the even encoding
    }
    case RoundingMode::rtz:
      return false;
    case RoundingMode::rup:
      return !negative;
    case RoundingMode::rdn:
      return negative;
    case RoundingMode::rto:
      return !lo_odd;  // inexact: the neighbour with the odd encoding
    case RoundingMode::sr: {
      const int bits = r.sr_bits;
      const Int t = (g.rem << static_cast<unsigned>(bits)) / g.den;  // top r discarded bits
      const Int rnd = Int(random & low_bits(bits));
      return t + rnd >= (Int(1) << static_cast<unsigned>(bits));
    }
  }
  return false;
}

Result with_sign(const Format& f, bool negative, std::uint64_t mag, Flags flags) {
  if (mag == 0 && f.has_zero) return {zero_enc(f, negative), flags};
  return {(negative ? sign_bit(f) : 0) | mag, flags};
}

Result overflow_result(const Format& f, bool negative, const RoundSpec& r) {
  bool to_inf = false;  // "Inf": Inf where the format has one, else NaN, else max finite
  switch (f.overflow) {
    case Overflow::saturate:
      to_inf = false;
      break;
    case Overflow::nonsat:
      to_inf = true;
      break;
    case Overflow::ieee:
      switch (r.mode) {
        case RoundingMode::rne:
        case RoundingMode::rna:
        case RoundingMode::sr:
          to_inf = true;
          break;
        case RoundingMode::rtz:
        case RoundingMode::rto:
          to_inf = false;
          break;
        case RoundingMode::rup:
          to_inf = !negative;
          break;
        case RoundingMode::rdn:
          to_inf = negative;
          break;
      }
      break;
  }
  const Flags flags = kOverflow | kInexact;
  if (to_inf && f.specials == Specials::ieee) return {inf_enc(f, negative), flags};
  if (to_inf && f.specials != Specials::none) return {nan_enc(f, negative), flags};
  return {max_enc(f, negative), flags};
}

}  // namespace

Rational value_of(const Format& f, std::uint64_t code) {
  const Rational m = magnitude_of(f, code);
  return (code & sign_bit(f)) != 0 ? Rational(-m) : m;
}

Result round_value(const Format& f, const Rational& x, bool negative, const RoundSpec& r,
                   std::uint32_t random) {
  const bool has_nan = f.specials != Specials::none;
  if (x == 0) {
    if (!f.has_zero) return {nan_enc(f, negative), kInvalid};  // E8M0: no zero
    return {zero_enc(f, negative), 0};
  }
  const bool neg = x < 0;
  if (neg && !f.is_signed) return {has_nan ? nan_enc(f, false) : 0, kInvalid};

  // a = n / d > 0
  const Int n = abs(numerator(x));
  const Int& d = denominator(x);
  const int m = f.man_bits;
  const long e = floor_log2(n, d);  // 2^e <= a < 2^(e+1)
  const long emin = static_cast<long>(f.min_normal_field()) - f.bias;
  const bool tiny_before = e < emin;  // a < min normal = 2^emin

  // Flush to zero, decided on the exact value.
  if (r.ftz && tiny_before) return with_sign(f, neg, 0, kUnderflow | kInexact);

  // Rounding with unbounded exponent: p-bit significands k * 2^(e-m), 2^m <= k < 2^(m+1).
  // The encoding of k * 2^(e-m) would be (e + bias - 1) * 2^m + k: its parity is that of k
  // (m >= 1), or of e + bias (m = 0, k = 1).
  const OnGrid u = on_grid(n, d, e - m);
  const bool u_lo_odd = m >= 1 ? bit_test(u.k, 0) : ((e + f.bias) % 2) != 0;
  const bool u_up = rounds_up(u, u_lo_odd, neg, r, random);
  const Int u_sig = u.k + (u_up ? 1 : 0);  // the rounded value is u_sig * 2^(e-m)

  // Overflow: the unbounded result exceeds max finite = max_sig * 2^(max_exp).
  const std::uint64_t mc = max_code(f);
  const Int max_sig = (Int(1) << m) + Int(frac_of(f, mc));
  const long max_exp = static_cast<long>(mc >> m) - f.bias - m;
  if (compare(u_sig, e - m, max_sig, max_exp) > 0) return overflow_result(f, neg, r);

  if (!tiny_before) {  // normal range: the same grid, inside the format
    const std::uint64_t lo_code = (static_cast<std::uint64_t>(e + f.bias) << m) +
                                  static_cast<std::uint64_t>(u.k - (Int(1) << m));
    // lo_code + 1 is right also when hi = 2^(e+1) starts the next binade
    return with_sign(f, neg, lo_code + (u_up ? 1 : 0), u.rem == 0 ? 0 : kInexact);
  }

  // Below min normal.
  if (!f.has_zero) return {0, kUnderflow | kInexact};  // E8M0 clamps to its smallest value
  const bool tiny_after = compare(u_sig, e - m, Int(1), emin) < 0;
  const bool tiny = r.tininess == Tininess::before || tiny_after;
  std::uint64_t mag = 0;
  bool exact = false;
  if (f.subnormals) {  // grid of multiples of 2^(emin-m); the encoding of k * 2^(emin-m) is k
    const OnGrid g = on_grid(n, d, emin - m);
    const bool up = rounds_up(g, bit_test(g.k, 0), neg, r, random);
    mag = static_cast<std::uint64_t>(g.k) + (up ? 1 : 0);  // k + 1 = 2^m is min normal
    exact = g.rem == 0;
  } else {  // neighbours 0 (encoding 0, even) and min normal (counted as odd)
    const OnGrid g = on_grid(n, d, emin);  // k = 0, rem / den = a / min normal
    const bool up = rounds_up(g, false, neg, r, random);
    mag = up ? static_cast<std::uint64_t>(f.min_normal_field()) << m : 0;
  }
  if (exact) return with_sign(f, neg, mag, 0);
  return with_sign(f, neg, mag, kInexact | (tiny ? kUnderflow : 0));
}

Result convert(const Format& from, std::uint64_t code, const Format& to, const RoundSpec& r,
               std::uint32_t random) {
  const bool negative = (code & sign_bit(from)) != 0;
  switch (kind_of(from, code)) {
    case Kind::nan: {
      // Signalling: an IEEE NaN whose fraction MSB is 0. Other formats' NaNs are quiet.
      const bool signalling =
          from.specials == Specials::ieee && ((code >> (from.man_bits - 1)) & 1) == 0;
      const Flags flags = signalling ? kInvalid : 0;
      if (to.specials == Specials::none) return {0, kInvalid};  // no NaN: +0
      if (from.specials == Specials::ieee && to.specials == Specials::ieee) {
        // Keep the top payload bits of the fraction; the fraction MSB (quiet bit) is set.
        const std::uint64_t frac = frac_of(from, code);
        std::uint64_t out = 0;
        if (to.man_bits <= from.man_bits) {
          out = frac >> (from.man_bits - to.man_bits);
        } else {
          out = frac << (to.man_bits - from.man_bits);
        }
        out |= std::uint64_t{1} << (to.man_bits - 1);
        return {(negative ? sign_bit(to) : 0) | (exp_ones(to) << to.man_bits) | out, flags};
      }
      return {nan_enc(to, negative), flags};
    }
    case Kind::infinite:
      if (to.specials == Specials::ieee) return {inf_enc(to, negative), 0};
      if (to.specials != Specials::none) return {nan_enc(to, negative), kInvalid};
      return {max_enc(to, negative), kInvalid};
    default:
      return round_value(to, value_of(from, code), negative, r, random);
  }
}

}  // namespace fp8sim::golden
