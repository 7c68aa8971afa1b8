// sim/vectors/codes.cpp — exact values and encodings (see codes.hpp).
#include "sim/vectors/codes.hpp"

#include <algorithm>

#include "rounding/round_pack.hpp"

namespace fp8sim::vectors::detail {

Exact exact_of(const Format& f, std::uint64_t code) {
  Exact x;
  const Decoded d = decode(f, code);
  x.neg = d.sign;
  if (d.cls == Class::nan) {
    x.kind = Exact::Kind::nan;
  } else if (d.cls == Class::infinite) {
    x.kind = Exact::Kind::inf;
  } else {
    x.mag = d.sig;
    x.exp = d.exp;
  }
  return x;
}

long lead(const Exact& x) {
  return static_cast<long>(boost::multiprecision::msb(x.mag)) + x.exp;
}

int compare_magnitude(const Exact& x, const Exact& y) {
  if (x.mag == 0 || y.mag == 0) return (x.mag != 0) - (y.mag != 0);
  const long e = std::min(x.exp, y.exp);
  const Int a = x.mag << static_cast<unsigned>(x.exp - e);
  const Int b = y.mag << static_cast<unsigned>(y.exp - e);
  return a < b ? -1 : (a > b ? 1 : 0);
}

Exact product(const Exact& x, const Exact& y) {
  Exact p;
  p.neg = x.neg != y.neg;
  p.mag = x.mag * y.mag;
  p.exp = x.exp + y.exp;
  return p;
}

Exact sum(std::span<const Exact> terms) {
  long e = 0;
  bool any = false;
  for (const Exact& t : terms)
    if (t.mag != 0) {
      e = any ? std::min(e, t.exp) : t.exp;
      any = true;
    }
  Exact r;
  if (!any) return r;
  Int s = 0;
  for (const Exact& t : terms) {
    if (t.mag == 0) continue;
    const Int v = t.mag << static_cast<unsigned>(t.exp - e);
    if (t.neg) {
      s -= v;
    } else {
      s += v;
    }
  }
  r.neg = s < 0;
  r.mag = r.neg ? Int(-s) : s;
  r.exp = e;
  return r;
}

Exact truncated(const Exact& x, long q) {
  Exact r = x;
  if (r.mag == 0 || r.exp >= q) return r;
  r.mag >>= static_cast<unsigned>(q - r.exp);
  r.exp = q;
  return r;
}

Exact power_of_two(long e, bool neg) {
  Exact r;
  r.neg = neg;
  r.mag = 1;
  r.exp = e;
  return r;
}

std::optional<std::uint64_t> encode(const Format& f, bool neg, const Int& mag, long exp) {
  Int m = mag;
  long e = exp;
  if (m != 0) {
    const auto tz = static_cast<long>(boost::multiprecision::lsb(m));
    m >>= static_cast<unsigned>(tz);
    e += tz;
    if (boost::multiprecision::msb(m) >= 120) return std::nullopt;
    if (e < -100000 || e > 100000) return std::nullopt;
  }
  const u128 sig = (static_cast<u128>(static_cast<std::uint64_t>(m >> 64)) << 64) |
                   static_cast<std::uint64_t>(m & 0xffffffffffffffffull);
  if (neg && !f.is_signed) return std::nullopt;
  if (m == 0 && !f.has_zero) return std::nullopt;
  const Rounded r = round_pack(f, Unrounded{neg, e, sig, false}, RoundSpec{});
  if (r.flags != 0) return std::nullopt;
  if (m == 0 && neg && !f.has_negative_zero()) return std::nullopt;
  return r.code;
}

std::optional<std::uint64_t> encode(const Format& f, const Exact& x) {
  if (!finite(x)) return std::nullopt;
  return encode(f, x.neg, x.mag, x.exp);
}

long lowest_lead(const Format& f, bool no_subnormals) {
  return (f.subnormals && !no_subnormals) ? f.emin() - f.man_bits : f.emin();
}

long highest_lead(const Format& f) {
  return f.emax();
}

std::optional<std::uint64_t> code_at(const Format& f, bool neg, long lead_exp,
                                     std::uint64_t fraction) {
  if (lead_exp > f.emax() || lead_exp < lowest_lead(f)) return std::nullopt;
  const long q = lead_exp >= f.emin() ? lead_exp - f.man_bits : f.emin() - f.man_bits;
  const long nbits = lead_exp - q;  // fraction bits below the leading one
  Int mag = 1;
  mag <<= static_cast<unsigned>(nbits);
  // bit i of `fraction` is the i-th bit below the leading one
  std::uint64_t low = 0;
  for (long i = 0; i < nbits && i < 64; ++i)
    if ((fraction >> i) & 1) low |= std::uint64_t{1} << (nbits - 1 - i);
  mag += low;
  if (auto c = encode(f, neg, mag, q)) return c;
  if (fraction == kAllOnes && lead_exp == f.emax()) {  // fn formats: max finite is below
    const std::uint64_t code = max_finite_code_signed(f, neg);
    return code;
  }
  return std::nullopt;
}

}  // namespace fp8sim::vectors::detail
