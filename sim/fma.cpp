// sim/fma.cpp — fma/add/sub/mul on encodings of any Format with ONE rounding (round_pack).
//
// Finite operands: the product is exact (up to 53x53 = 106 bits in a u128); the addend is
// aligned to it with a sticky bit. Both terms are first normalised so that their most
// significant bit sits at bit kTop (125) of a u128; the term with the smaller exponent is
// shifted right by the exponent difference d. Nothing is lost when d <= 19 (a normalised
// term has at least 125 - 105 = 20 trailing zero bits), so massive cancellation (d <= 1) is
// exact; when bits are lost (d >= 20) the result keeps at least 124 significant bits, far
// more than round_pack's sticky contract (man_bits + 35 <= 87) asks for.
//
// Specials follow Berkeley SoftFloat 3e's 8086-SSE specialisation (f*_mul, f*_add/sub via
// softfloat_addMags/subMags, softfloat_mulAdd):
//  - any NaN operand of a and b: the result is the first NaN of (a, b), quieted; then the
//    addend c: a signalling NaN anywhere raises invalid;
//  - Inf * 0: invalid and the default NaN, even when c is a (quiet) NaN;
//  - Inf * finite (or Inf): Inf; plus c: c's NaN if c is a NaN, Inf if c is finite or an
//    Inf of the same sign, else (Inf - Inf) invalid and the default NaN;
//  - a, b finite and c NaN: c quieted; c Inf: c;
//  - the default NaN is x86's: sign set, quiet (FE00, FFC00000, FFF8000000000000), i.e.
//    nan_code(out, true) — for non-IEEE formats their canonical NaN with the sign set where
//    the format distinguishes it.
// A special result produced in an operand's format reaches `out` through fp8sim::convert
// (so a NaN keeps its top payload bits between IEEE formats, and an Inf into a format
// without Inf follows convert's rule).
#include "sim/fma.hpp"

#include <bit>

namespace fp8sim {

namespace {

constexpr int kTop = 125;  // bit position of a normalised term's most significant bit

/// An exact finite value (-1)^sign * sig * 2^exp (sig == 0: a zero of that sign).
struct Term {
  bool sign = false;
  u128 sig = 0;
  std::int64_t exp = 0;
};

int msb_index(u128 v) {
  const auto hi = static_cast<std::uint64_t>(v >> 64);
  if (hi != 0) return 127 - std::countl_zero(hi);
  return 63 - std::countl_zero(static_cast<std::uint64_t>(v));
}

Term term_of(const Format& f, std::uint64_t code) {
  const Decoded d = decode(f, code);
  return Term{d.sign, d.sig, d.exp};
}

void normalise(Term& t) {
  const int shift = kTop - msb_index(t.sig);  // >= 0: sig has at most 106 bits here
  t.sig <<= shift;
  t.exp -= shift;
}

/// Rounds p + c (exact terms) to `out`, with the IEEE sign rules for an exact zero sum.
Rounded round_sum(Term p, Term c, const Format& out, const RoundSpec& r, std::uint32_t random) {
  const bool rdn = r.mode == RoundingMode::rdn;
  if (p.sig == 0 && c.sig == 0) {
    // (+0)+(+0) = +0, (-0)+(-0) = -0; opposite signs: +0, or -0 under rdn.
    const bool sign = p.sign == c.sign ? p.sign : rdn;
    return round_pack(out, Unrounded{sign, 0, 0, false}, r, random);
  }
  if (p.sig == 0) return round_pack(out, Unrounded{c.sign, c.exp, c.sig, false}, r, random);
  if (c.sig == 0) return round_pack(out, Unrounded{p.sign, p.exp, p.sig, false}, r, random);

  normalise(p);
  normalise(c);
  Term& big = (p.exp >= c.exp) ? p : c;
  Term& small = (p.exp >= c.exp) ? c : p;
  const std::int64_t d = big.exp - small.exp;
  u128 s = 0;
  bool lost = false;
  if (d >= 128) {
    lost = true;  // small.sig != 0
  } else if (d > 0) {
    s = small.sig >> d;
    lost = (small.sig & ((u128{1} << d) - 1)) != 0;
  } else {
    s = small.sig;
  }

  Unrounded x;
  x.exp = big.exp;
  if (big.sign == small.sign) {
    // big + (s + eps): sig = big + s (<= 2^127), sticky = lost
    x.sign = big.sign;
    x.sig = big.sig + s;
    x.sticky = lost;
  } else if (big.sig > s || (big.sig == s && lost)) {
    // d >= 1 or equal exponents with big.sig > s: |big| > |small|.
    // big - (s + eps) = (big - s - 1) + (1 - eps): sig = big - s - lost, sticky = lost.
    // (lost implies d >= 20, so big - s >= 2^124 and the subtraction keeps >= 124 bits.)
    x.sign = big.sign;
    x.sig = big.sig - s - (lost ? 1 : 0);
    x.sticky = lost;
  } else if (big.sig == s) {
    // exact cancellation (lost is false here)
    return round_pack(out, Unrounded{rdn, 0, 0, false}, r, random);
  } else {
    // equal exponents (d == 0, nothing lost) and |small| > |big|
    x.sign = small.sign;
    x.sig = s - big.sig;
    x.sticky = false;
  }
  return round_pack(out, x, r, random);
}

Term product(const Format& fa, std::uint64_t a, const Format& fb, std::uint64_t b) {
  const Term ta = term_of(fa, a);
  const Term tb = term_of(fb, b);
  return Term{ta.sign != tb.sign, ta.sig * tb.sig, ta.exp + tb.exp};
}

bool is_nan(const Format& f, std::uint64_t code) {
  return classify(f, code) == Class::nan;
}
bool is_inf(const Format& f, std::uint64_t code) {
  return classify(f, code) == Class::infinite;
}
bool is_zero(const Format& f, std::uint64_t code) {
  return classify(f, code) == Class::zero;
}

/// The quiet version of a NaN encoding (IEEE: set the fraction MSB; other formats have
/// quiet NaNs only).
std::uint64_t quieted(const Format& f, std::uint64_t code) {
  if (f.specials != Specials::ieee) return code;
  return code | (std::uint64_t{1} << (f.man_bits - 1));
}

Flags snan_flag(const Format& f, std::uint64_t code) {
  return is_signaling_nan(f, code) ? kInvalid : 0;
}

/// A NaN operand (or its quiet version) carried to `out`, with extra flags.
Rounded propagate(const Format& f, std::uint64_t nan, const Format& out, const RoundSpec& r,
                  Flags flags) {
  Rounded z = convert(f, quieted(f, nan), out, r);
  z.flags |= flags;
  return z;
}

/// x86's default NaN (sign set, quiet) in `out`, always with invalid. A format without NaN
/// gets +0 (as convert does for a NaN).
Rounded default_nan(const Format& out) {
  if (!out.has_nan()) return {zero_code(out, false), kInvalid};
  return {nan_code(out, true), kInvalid};
}

/// An infinity of the given sign (made from an operand format with Inf) carried to `out`.
Rounded infinity(const Format& from, bool sign, const Format& out, const RoundSpec& r) {
  return convert(from, inf_code(from, sign), out, r);
}

}  // namespace

Rounded fma(const Format& fa, std::uint64_t a, const Format& fb, std::uint64_t b, const Format& fc,
            std::uint64_t c, const Format& out, const RoundSpec& r, std::uint32_t random) {
  const bool a_nan = is_nan(fa, a), b_nan = is_nan(fb, b), c_nan = is_nan(fc, c);
  const Flags snan = snan_flag(fa, a) | snan_flag(fb, b) | snan_flag(fc, c);
  if (a_nan) return propagate(fa, a, out, r, snan);
  if (b_nan) return propagate(fb, b, out, r, snan);

  const bool a_inf = is_inf(fa, a), b_inf = is_inf(fb, b);
  if (a_inf || b_inf) {
    if ((a_inf && is_zero(fb, b)) || (b_inf && is_zero(fa, a))) {
      Rounded z = default_nan(out);  // Inf * 0, whatever c is
      z.flags |= snan;
      return z;
    }
    if (c_nan) return propagate(fc, c, out, r, snan);
    const bool sign = sign_of(fa, a) != sign_of(fb, b);
    if (is_inf(fc, c) && sign_of(fc, c) != sign) return default_nan(out);  // Inf - Inf
    return infinity(a_inf ? fa : fb, sign, out, r);
  }
  if (c_nan) return propagate(fc, c, out, r, snan);
  if (is_inf(fc, c)) return convert(fc, c, out, r);

  return round_sum(product(fa, a, fb, b), term_of(fc, c), out, r, random);
}

Rounded fma(const Format& f, std::uint64_t a, std::uint64_t b, std::uint64_t c, const RoundSpec& r,
            std::uint32_t random) {
  return fma(f, a, f, b, f, c, f, r, random);
}

namespace {

/// a + b, or a - b when `negate_b` (a NaN b keeps its sign: it is propagated as is).
Rounded add_impl(const Format& f, std::uint64_t a, std::uint64_t b, bool negate_b,
                 const RoundSpec& r, std::uint32_t random) {
  const Flags snan = snan_flag(f, a) | snan_flag(f, b);
  if (is_nan(f, a)) return propagate(f, a, f, r, snan);
  if (is_nan(f, b)) return propagate(f, b, f, r, snan);
  const bool a_inf = is_inf(f, a), b_inf = is_inf(f, b);
  const bool b_sign = sign_of(f, b) != negate_b;
  if (a_inf && b_inf && sign_of(f, a) != b_sign) return default_nan(f);  // Inf - Inf
  if (a_inf) return {a, 0};
  if (b_inf) return {inf_code(f, b_sign), 0};
  Term tb = term_of(f, b);
  tb.sign = b_sign;
  return round_sum(term_of(f, a), tb, f, r, random);
}

}  // namespace

Rounded add(const Format& f, std::uint64_t a, std::uint64_t b, const RoundSpec& r,
            std::uint32_t random) {
  return add_impl(f, a, b, false, r, random);
}

Rounded sub(const Format& f, std::uint64_t a, std::uint64_t b, const RoundSpec& r,
            std::uint32_t random) {
  return add_impl(f, a, b, true, r, random);
}

Rounded mul(const Format& f, std::uint64_t a, std::uint64_t b, const RoundSpec& r,
            std::uint32_t random) {
  const Flags snan = snan_flag(f, a) | snan_flag(f, b);
  if (is_nan(f, a)) return propagate(f, a, f, r, snan);
  if (is_nan(f, b)) return propagate(f, b, f, r, snan);
  const bool a_inf = is_inf(f, a), b_inf = is_inf(f, b);
  const bool sign = sign_of(f, a) != sign_of(f, b);
  if (a_inf || b_inf) {
    if (is_zero(f, a) || is_zero(f, b)) return default_nan(f);  // Inf * 0
    return {inf_code(f, sign), 0};
  }
  const Term p = product(f, a, f, b);
  return round_pack(f, Unrounded{p.sign, p.exp, p.sig, false}, r, random);
}

}  // namespace fp8sim
