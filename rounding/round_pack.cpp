// rounding/round_pack.cpp — the one rounding primitive (see round_pack.hpp).
#include "rounding/round_pack.hpp"

#include <bit>

namespace fp8sim {

namespace {

int msb_index(u128 v) {
  const auto hi = static_cast<std::uint64_t>(v >> 64);
  if (hi != 0) return 127 - std::countl_zero(hi);
  return 63 - std::countl_zero(static_cast<std::uint64_t>(v));
}

u128 shr(u128 v, std::int64_t n) {
  return n >= 128 ? 0 : v >> n;
}
u128 low_bits(u128 v, std::int64_t n) {
  return n >= 128 ? v : v & ((u128{1} << n) - 1);
}

// The rounding decision for dropping the low `s` (>= 1) bits of `sig`.
struct Decision {
  u128 q = 0;       // truncated magnitude, in units of the quantum
  bool up = false;  // add one unit
  bool inexact = false;
};

Decision decide(u128 sig, bool sticky, std::int64_t s, const RoundSpec& r, bool sign,
                bool odd_lsb_of(u128 q, const void* ctx), const void* ctx, std::uint32_t random) {
  Decision d;
  d.q = shr(sig, s);
  const u128 rem = low_bits(sig, s);
  d.inexact = rem != 0 || sticky;
  if (!d.inexact) return d;
  const bool half = s - 1 < 128 && ((sig >> (s - 1)) & 1) != 0;
  const bool below_half = sticky || low_bits(sig, s - 1) != 0;
  switch (r.mode) {
    case RoundingMode::rne:
      d.up = half && (below_half || odd_lsb_of(d.q, ctx));
      break;
    case RoundingMode::rna:
      d.up = half;
      break;
    case RoundingMode::rtz:
      break;
    case RoundingMode::rup:
      d.up = !sign;
      break;
    case RoundingMode::rdn:
      d.up = sign;
      break;
    case RoundingMode::rto:
      d.up = !odd_lsb_of(d.q, ctx);
      break;
    case RoundingMode::sr: {
      const int rb = r.sr_bits;
      // top r bits of the s-bit discarded field (zero-padded when s < r)
      const std::uint64_t t = s >= rb ? static_cast<std::uint64_t>(shr(rem, s - rb))
                                      : static_cast<std::uint64_t>(rem << (rb - s));
      const std::uint64_t mask = (std::uint64_t{1} << rb) - 1;
      d.up = ((t + (random & mask)) >> rb) != 0;
      break;
    }
  }
  return d;
}

struct ParityCtx {
  const Format* f;
  std::int64_t code_base;  // code of q == 0 (may be negative for E8M0)
  std::int64_t unit;       // code step per unit of q
};

bool code_is_odd(u128 q, const void* ctx) {
  const auto* c = static_cast<const ParityCtx*>(ctx);
  if (c->unit != 1) return (q & 1) != 0;  // no-subnormal region: parity of q (0 is even)
  return ((c->code_base + static_cast<std::int64_t>(q)) & 1) != 0;
}

Rounded overflow_result(const Format& f, bool sign, const RoundSpec& r) {
  const Flags fl = kOverflow | kInexact;
  bool to_inf = false;
  switch (f.overflow) {
    case Overflow::saturate:
      to_inf = false;
      break;
    case Overflow::nonsat:
      to_inf = true;
      break;
    case Overflow::ieee:
      to_inf = r.mode == RoundingMode::rne || r.mode == RoundingMode::rna ||
               r.mode == RoundingMode::sr || (r.mode == RoundingMode::rup && !sign) ||
               (r.mode == RoundingMode::rdn && sign);
      break;
  }
  if (to_inf && f.has_inf()) return {inf_code(f, sign), fl};
  if (to_inf && f.has_nan()) return {nan_code(f, sign), fl};
  return {max_finite_code_signed(f, sign && f.is_signed), fl};
}

std::uint64_t with_sign(const Format& f, bool sign, std::uint64_t mag) {
  if (mag == 0) return zero_code(f, sign);
  return sign ? (mag | f.sign_mask()) : mag;
}

}  // namespace

Rounded round_pack(const Format& f, const Unrounded& x, const RoundSpec& r, std::uint32_t random) {
  if (x.sig == 0 && !x.sticky) {
    if (!f.has_zero) return {nan_code(f), kInvalid};
    return {zero_code(f, x.sign), 0};
  }
  if (!f.is_signed && x.sign) return {nan_code(f), kInvalid};

  const int m = f.man_bits;
  const std::int64_t emin = f.emin();
  const std::int64_t E = x.exp + msb_index(x.sig);  // value in [2^E, 2^(E+1))
  const bool tiny_before = E < emin;

  if (tiny_before && (r.ftz || !f.has_zero)) {
    if (!f.has_zero) return {0, kUnderflow | kInexact};  // E8M0: clamp to 2^-127
    return {zero_code(f, x.sign), kUnderflow | kInexact};
  }
  if (E > f.emax()) return overflow_result(f, x.sign, r);

  // Quantum exponent and the code of q == 0 at this binade.
  std::int64_t qe;
  ParityCtx ctx{&f, 0, 1};
  if (!tiny_before) {
    qe = E - m;
    ctx.code_base = ((E + f.bias - 1) * (std::int64_t{1} << m));
  } else if (f.subnormals) {
    qe = emin - m;
  } else {
    qe = emin;  // only 0 and min normal are representable below min normal
    ctx.unit = std::int64_t{1} << m;
  }

  const std::int64_t s = qe - x.exp;
  Decision d;
  if (s <= 0) {
    d.q = x.sig << (-s);  // exact: fewer than m+2 bits
  } else {
    d = decide(x.sig, x.sticky, s, r, x.sign, code_is_odd, &ctx, random);
  }
  const std::int64_t code =
      ctx.code_base + static_cast<std::int64_t>(d.q + (d.up ? 1 : 0)) * ctx.unit;

  Flags flags = d.inexact ? kInexact : 0;
  if (static_cast<std::uint64_t>(code) > f.max_finite_code()) return overflow_result(f, x.sign, r);

  if (tiny_before && d.inexact) {
    bool tiny = true;
    if (r.tininess == Tininess::after && E == emin - 1) {
      // Round again as if the exponent range were unbounded: tiny unless that reaches
      // 2^emin. Stochastic rounding reuses the same random bits.
      const std::int64_t s2 = (E - m) - x.exp;
      if (s2 > 0) {
        // parity of the encoding this binade would have (matters when man_bits == 0)
        const ParityCtx ctx2{&f, (E + f.bias - 1) * (std::int64_t{1} << m), 1};
        const Decision d2 = decide(x.sig, x.sticky, s2, r, x.sign, code_is_odd, &ctx2, random);
        tiny = (d2.q + (d2.up ? 1 : 0)) < (u128{1} << (m + 1));
      }
    }
    if (tiny) flags |= kUnderflow;
  }
  return {with_sign(f, x.sign, static_cast<std::uint64_t>(code)), flags};
}

}  // namespace fp8sim
