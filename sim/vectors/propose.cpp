// sim/vectors/propose.cpp — the inputs of generated cases: random cases, and corner cases
// found by proposing inputs aimed at a class and keeping those the classifier confirms.
#include <algorithm>
#include <array>

#include "rounding/round_pack.hpp"
#include "sim/vectors/codes.hpp"
#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

using detail::code_at;
using detail::Exact;
using detail::kAllOnes;

const Format& fp64() {
  static const Format f = *find_preset("fp64");
  return f;
}

// A portable generator (SplitMix64): the same numbers on every platform and library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) {
    return n == 0 ? 0 : static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
  }
  /// Uniform in [lo, hi] (lo when hi < lo).
  long range(long lo, long hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<long>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }
  bool coin() { return (next() >> 63) != 0; }
  bool one_in(std::uint64_t n) { return below(n) == 0; }

 private:
  std::uint64_t s_;
};

std::uint64_t mix(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  Rng g(seed ^ (stream * 0xD1B54A32D192ED03ull));
  const std::uint64_t a = g.next();
  Rng h(a ^ (index * 0x9E3779B97F4A7C15ull));
  return h.next();
}

std::uint64_t signed_code(const Format& f, std::uint64_t mag, bool neg) {
  return (neg && f.is_signed) ? (mag | f.sign_mask()) : mag;
}

// A random finite non-zero code, its leading bit near 2^0 (a few binades either way) or,
// one time in four, anywhere in the format's range.
std::uint64_t moderate(const Format& f, Rng& g, bool no_subnormals = false) {
  const long lo = detail::lowest_lead(f, no_subnormals), hi = detail::highest_lead(f);
  for (int t = 0; t < 16; ++t) {
    const long L = g.one_in(4) ? g.range(lo, hi) : g.range(std::max(lo, -6L), std::min(hi, 6L));
    if (auto c = code_at(f, g.coin(), L, g.next())) return *c;
  }
  return detail::min_normal_code(f);
}

// A random input: one time in eight any bit pattern (specials at their natural rate), else
// a moderate finite value, now and then a zero.
std::uint64_t random_input(const Format& f, Rng& g, bool no_subnormals) {
  if (g.one_in(8)) return g.next() & f.code_mask();
  if (g.one_in(24) && f.has_zero) return zero_code(f, g.coin());
  return moderate(f, g, no_subnormals);
}

struct Ctx {
  const Spec& s;
  const MacConfig& m;
  const Format& fa;
  const Format& fb;
  const Format& fc;
  std::size_t n;  // products per case
  explicit Ctx(const Spec& spec)
      : s(spec),
        m(spec.mac),
        fa(a_format(spec)),
        fb(b_format(spec)),
        fc(c_format(spec)),
        n(spec.kind == Kind::dot ? static_cast<std::size_t>(spec.terms) : 1) {}
  [[nodiscard]] long plo() const {
    return detail::lowest_lead(fa, m.ftz_inputs) + detail::lowest_lead(fb, m.ftz_inputs);
  }
  [[nodiscard]] long phi() const { return detail::highest_lead(fa) + detail::highest_lead(fb); }
};

// Inputs a, b whose exact product has its leading bit at 2^L and the given sign: one of them
// a power of two, the other a power of two (pow2) or random.
std::optional<std::pair<std::uint64_t, std::uint64_t>> product_at(const Ctx& x, Rng& g, long L,
                                                                  bool neg, bool pow2) {
  const Format& fa = x.fa;
  const Format& fb = x.fb;
  const long loa = detail::lowest_lead(fa, x.m.ftz_inputs), hia = detail::highest_lead(fa);
  const long lob = detail::lowest_lead(fb, x.m.ftz_inputs), hib = detail::highest_lead(fb);
  const long lo = std::max(loa, L - hib), hi = std::min(hia, L - lob);
  if (lo > hi) return std::nullopt;
  for (int t = 0; t < 8; ++t) {
    const long la = g.range(lo, hi), lb = L - la;
    bool sa = g.coin();
    bool sb = sa != neg;
    if (!fb.is_signed) {
      sb = false;
      sa = neg;
    }
    if (!fa.is_signed) {
      sa = false;
      sb = neg;
    }
    if ((sa != sb) != neg) return std::nullopt;
    const bool a_random = !pow2 && g.coin();
    auto a = code_at(fa, sa, la, a_random ? g.next() : 0);
    auto b = code_at(fb, sb, lb, (!pow2 && !a_random) ? g.next() : 0);
    if (a && b) return std::make_pair(*a, *b);
  }
  return std::nullopt;
}

// A product lead in [lo, hi] intersected with the products' range.
long product_lead(const Ctx& x, Rng& g, long lo, long hi) {
  return g.range(std::max(lo, x.plo()), std::min(hi, x.phi()));
}

std::vector<std::uint32_t> all_ones(const Spec& s) {
  std::vector<std::uint32_t> v;
  for (const RandomStep& r : random_steps(s))
    v.push_back(r.bits >= 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << r.bits) - 1);
  return v;
}

// Zero products everywhere (a_k = +0, b_k random) and C = +0: the start of most proposals.
Case quiet_case(const Ctx& x, Rng& g) {
  Case c;
  c.a.assign(x.n, zero_code(x.fa, false));
  c.b.resize(x.n);
  for (auto& v : c.b) v = moderate(x.fb, g, x.m.ftz_inputs);
  c.c = zero_code(x.fc, false);
  return c;
}

bool set_product(Case& c, std::size_t k,
                 const std::optional<std::pair<std::uint64_t, std::uint64_t>>& p) {
  if (!p) return false;
  c.a[k] = p->first;
  c.b[k] = p->second;
  return true;
}

// The significand widths (fraction bits) a structure's roundings and aligners keep: the
// places where halfway points, carries and alignment limits are.
std::vector<long> widths(const Spec& s) {
  const MacConfig& m = s.mac;
  std::vector<long> w{m.acc.man_bits};
  if (s.kind == Kind::dot) {
    if (m.chunk > 0) w.push_back(m.outer.man_bits);
    if (m.out) w.push_back(m.out->man_bits);
    if (m.structure == Structure::multiterm) {
      w.push_back(m.align_bits);
      w.push_back(m.align_bits - 1);
    }
  }
  return w;
}

// Proposals aimed at one class, for mac-step and dot (two "actors": C against product 0, or
// product 0 against product 1, every other product zero).
std::optional<Case> propose_mac(const Ctx& x, Corner cls, Rng& g) {
  Case c = quiet_case(x, g);
  const std::vector<long> ws = widths(x.s);
  const long w = ws[g.below(ws.size())];  // fraction bits: ulp at lead - w
  const bool with_c = x.n < 2 || g.coin();
  const bool neg = g.coin();
  const Format& fc = x.fc;
  // the big actor at lead E (C: fraction style; product 1 otherwise), the small one at E - d
  auto pair = [&](long d, std::uint64_t big_fraction, bool same_sign, bool small_pow2) -> bool {
    if (with_c) {
      long lo = detail::lowest_lead(fc), hi = detail::highest_lead(fc);
      const bool c_small = g.one_in(3) && big_fraction != kAllOnes;
      if (c_small) {  // the product is the big one, C below it
        const long L = product_lead(x, g, lo + d, hi + d);
        auto cc = code_at(fc, g.coin() ? neg : !neg, L - d, g.next());
        if (!cc || !set_product(c, 0, product_at(x, g, L, neg, false))) return false;
        c.c = *cc;
        return true;
      }
      lo = std::max(lo, x.plo() + d);
      hi = std::min(hi, x.phi() + d);
      if (lo > hi) return false;
      const long E = g.range(lo, hi);
      auto cc = code_at(fc, neg, E,
                        big_fraction == kAllOnes ? kAllOnes
                        : big_fraction == 0      ? 0
                                                 : g.next());
      if (!cc) return false;
      c.c = *cc;
      return set_product(c, 0, product_at(x, g, E - d, same_sign ? neg : !neg, small_pow2));
    }
    const long L = product_lead(x, g, x.plo() + d, x.phi());
    if (!set_product(c, 0, product_at(x, g, L, neg, false))) return false;
    return set_product(c, 1, product_at(x, g, L - d, same_sign ? neg : !neg, small_pow2));
  };
  switch (cls) {
    case Corner::tie:
      if (x.n > 2 && g.one_in(3)) break;  // dense
      return pair(w + 1, g.next(), g.coin(), true) ? std::optional<Case>(c) : std::nullopt;
    case Corner::carry:
      if (x.n > 2 && g.one_in(3)) break;  // dense
      return pair(w + 1 - static_cast<long>(g.below(2)), kAllOnes, true, g.coin())
                 ? std::optional<Case>(c)
                 : std::nullopt;
    case Corner::carry_chain:
      return pair(w - static_cast<long>(g.below(2)), kAllOnes, true, true) ? std::optional<Case>(c)
                                                                           : std::nullopt;
    case Corner::align_at_width:
      return pair(w + (g.coin() ? 1 : 0), g.next(), g.coin(), g.coin()) ? std::optional<Case>(c)
                                                                        : std::nullopt;
    case Corner::align_past_width:
      return pair(w + 2 + static_cast<long>(g.one_in(4) ? 20 + g.below(20) : g.below(6)), g.next(),
                  g.coin(), g.coin())
                 ? std::optional<Case>(c)
                 : std::nullopt;
    case Corner::cancellation: {
      const long L = product_lead(x, g, detail::lowest_lead(fc), detail::highest_lead(fc));
      if (!set_product(c, 0, product_at(x, g, L, neg, g.coin()))) return std::nullopt;
      const Exact p =
          detail::product(detail::exact_of(x.fa, c.a[0]), detail::exact_of(x.fb, c.b[0]));
      if (with_c || x.n < 2) {
        auto cc = detail::encode(fc, !p.neg, p.mag, p.exp);
        if (!cc) return std::nullopt;
        c.c = *cc;
      } else {
        if (!x.fa.is_signed) return std::nullopt;
        c.a[1] = c.a[0] ^ x.fa.sign_mask();
        c.b[1] = c.b[0];
      }
      return c;
    }
    case Corner::tiny: {
      const std::vector<const Format*> targets = {&x.m.acc, &fc, x.m.out ? &*x.m.out : &x.m.acc};
      const Format& t = *targets[g.below(targets.size())];
      if (g.coin() && fc.subnormals) {
        auto cc = code_at(fc, neg, g.range(detail::lowest_lead(fc), fc.emin() - 1), g.next());
        if (!cc) return std::nullopt;
        c.c = *cc;
        return c;
      }
      const long L = product_lead(x, g, x.plo(), t.emin() - 1);
      if (L >= t.emin()) return std::nullopt;
      if (!set_product(c, 0, product_at(x, g, L, neg, g.coin()))) return std::nullopt;
      return c;
    }
    case Corner::saturation: {
      for (std::size_t k = 0; k < x.n; ++k) {
        if (!g.one_in(4) || k == 0) {
          c.a[k] = g.coin() ? signed_code(x.fa, x.fa.max_finite_code(), neg)
                            : code_at(x.fa, neg, x.fa.emax(), g.next()).value_or(c.a[k]);
          c.b[k] = x.fb.max_finite_code();
        }
      }
      c.c = g.coin() ? signed_code(fc, fc.max_finite_code(), neg)
                     : code_at(fc, neg, fc.emax(), g.next()).value_or(c.c);
      if (g.one_in(3)) c.c = zero_code(fc, false);
      return c;
    }
    case Corner::product_underflow: {
      const long L = product_lead(x, g, x.plo(), x.m.acc.emin() - 1);
      if (L >= x.m.acc.emin()) return std::nullopt;
      if (!set_product(c, 0, product_at(x, g, L, neg, g.coin()))) return std::nullopt;
      if (g.coin()) c.c = moderate(fc, g);
      return c;
    }
    case Corner::product_overflow: {
      const long L = product_lead(x, g, x.m.acc.emax() + 1, x.phi());
      if (L <= x.m.acc.emax()) return std::nullopt;
      if (!set_product(c, 0, product_at(x, g, L, neg, g.coin()))) return std::nullopt;
      if (g.coin()) c.c = moderate(fc, g);
      return c;
    }
    default:
      return std::nullopt;
  }
  // dense: every product near one binade, one sign, random significands; C there too
  const long L = product_lead(x, g, x.plo(), x.phi());
  for (std::size_t k = 0; k < x.n; ++k)
    if (!set_product(c, k, product_at(x, g, L - static_cast<long>(g.below(2)), neg, false)))
      return std::nullopt;
  c.c = g.coin()
            ? code_at(fc, neg, std::clamp(L + 1, detail::lowest_lead(fc), detail::highest_lead(fc)),
                      g.next())
                  .value_or(zero_code(fc, false))
            : zero_code(fc, false);
  return c;
}

// Binary64 bits of an exact value (nullopt when binary64 does not hold it).
std::optional<std::uint64_t> bits_of(const Exact& v) {
  return detail::encode(fp64(), v);
}

// Proposals for quantize: values around the target format's rounding points.
std::optional<Case> propose_quantize(const Spec& s, Corner cls, Rng& g) {
  const Format& f = s.format;
  const long m = f.man_bits;
  const bool neg = g.coin();
  Case c;
  auto lead_in = [&](long lo, long hi) {
    return g.range(std::max(lo, -1074L), std::min(hi, 1023L));
  };
  auto at_point = [&](bool all_ones, int extra) -> std::optional<std::uint64_t> {
    // a value of f's grid at lead L (kept bits random or all ones), then a half (and maybe
    // more bits) below its last kept bit
    const long L = lead_in(f.subnormals ? f.emin() - m : f.emin(), f.emax());
    const long q = L >= f.emin() ? L - m : f.emin() - m;
    Exact v;
    v.neg = neg;
    const long kept = L - q;  // bits below the leading one
    detail::Int k = 1;
    k <<= static_cast<unsigned>(kept);
    if (kept > 0) {
      detail::Int low = all_ones
                            ? (detail::Int(1) << static_cast<unsigned>(kept)) - 1
                            : detail::Int(g.next() & ((kept >= 64) ? ~0ull : ((1ull << kept) - 1)));
      k += low;
    }
    k = k * 2 + 1;  // the half
    long e = q - 1;
    for (int i = 0; i < extra; ++i) {
      k = k * 2 + (g.coin() ? 1 : 0);
      --e;
    }
    v.mag = k;
    v.exp = e;
    return bits_of(v);
  };
  std::optional<std::uint64_t> bits;
  switch (cls) {
    case Corner::tie:
      if (!f.subnormals && g.one_in(4)) {
        bits = bits_of(detail::power_of_two(f.emin() - 1, neg));
      } else {
        bits = at_point(false, 0);
      }
      break;
    case Corner::carry:
      bits = at_point(true, static_cast<int>(g.below(3)));
      break;
    case Corner::tiny:
      bits = code_at(fp64(), neg, lead_in(f.emin() - m - 4, f.emin() - 1), g.next());
      break;
    case Corner::saturation: {
      const Exact mx = detail::exact_of(f, f.max_finite_code());
      Exact v = mx;
      v.neg = neg;
      const long ulp = f.emax() - m;
      const std::uint64_t pick = g.below(4);
      Exact add =
          detail::power_of_two(pick == 0 ? ulp - 1 : ulp + static_cast<long>(g.below(8)), neg);
      const std::array<Exact, 2> t{v, add};
      bits = pick == 3 ? code_at(fp64(), neg, lead_in(f.emax() + 1, 1023), g.next())
                       : bits_of(detail::sum(t));
      break;
    }
    default:
      return std::nullopt;
  }
  if (!bits) return std::nullopt;
  c.a = {*bits};
  return c;
}

// The special values of a format (codes), both signs where it has them.
std::vector<std::uint64_t> specials(const Format& f) {
  std::vector<std::uint64_t> v;
  auto both = [&](std::uint64_t mag) {
    v.push_back(mag);
    if (f.is_signed) v.push_back(mag | f.sign_mask());
  };
  if (f.has_zero) v.push_back(zero_code(f, false));
  if (f.has_negative_zero()) v.push_back(zero_code(f, true));
  if (f.subnormals && f.man_bits > 0) {
    both(detail::min_subnormal_code(f));
    if (f.man_bits > 1) both(detail::max_subnormal_code(f));
  }
  both(detail::min_normal_code(f));
  both(f.max_finite_code());
  if (f.has_inf()) {
    v.push_back(inf_code(f, false));
    v.push_back(inf_code(f, true));
  }
  if (f.has_nan()) {
    v.push_back(nan_code(f, false));
    if (nan_code(f, true) != nan_code(f, false)) v.push_back(nan_code(f, true));
    if (f.specials == Specials::ieee && f.man_bits >= 2)  // a signalling NaN
      v.push_back(inf_code(f, false) | 1);
  }
  return v;
}

}  // namespace

Case random_case(const Spec& s, std::uint64_t index) {
  Rng g(mix(s.seed, 1, index));
  Case c;
  if (s.kind == Kind::quantize) {
    const Format& f = s.format;
    std::uint64_t bits = g.next();
    if (!g.one_in(16)) {
      const long L = g.range(std::max(-1074L, static_cast<long>(f.emin()) - f.man_bits - 3),
                             std::min(1023L, static_cast<long>(f.emax()) + 2));
      bits = code_at(fp64(), g.coin(), L, g.next()).value_or(bits);
    }
    c.a = {bits};
  } else {
    const Ctx x(s);
    c.a.resize(x.n);
    c.b.resize(x.n);
    for (std::size_t k = 0; k < x.n; ++k) {
      c.a[k] = random_input(x.fa, g, false);
      c.b[k] = random_input(x.fb, g, false);
    }
    // C near the first product's binade (within a few accumulator widths), or anywhere
    const Exact p0 =
        detail::product(detail::exact_of(x.fa, c.a[0]), detail::exact_of(x.fb, c.b[0]));
    const long W = s.mac.acc.man_bits + 1;
    if (g.one_in(8)) {
      c.c = g.next() & x.fc.code_mask();
    } else if (g.one_in(8) && x.fc.has_zero) {
      c.c = zero_code(x.fc, g.coin());
    } else if (detail::finite(p0) && p0.mag != 0) {
      const long L = detail::lead(p0) + g.range(-W - 3, W + 3);
      c.c = code_at(x.fc, g.coin(), L, g.next()).value_or(moderate(x.fc, g));
    } else {
      c.c = moderate(x.fc, g);
    }
  }
  c.random = seeded_random(s, index);
  return c;
}

std::vector<Case> corner_cases(const Spec& s, int per_class) {
  std::vector<Case> out;
  const CornerSet app = applicable_corners(s);
  Rng g(mix(s.seed, 2, 0));
  auto finish = [&](Case c, bool explicit_random) {
    if (!explicit_random) c.random = seeded_random(s, out.size());
    const Outcome r = golden_outcome(s, c);
    c.result = r.code;
    c.flags = r.flags;
    out.push_back(std::move(c));
  };
  // 1. every special value of every input position
  if (s.kind == Kind::quantize) {
    std::vector<std::uint64_t> values;
    for (std::uint64_t code : specials(s.format)) {
      const Class k = classify(s.format, code);
      if (k == Class::nan || k == Class::infinite) continue;
      if (auto b = bits_of(detail::exact_of(s.format, code))) values.push_back(*b);
    }
    for (std::uint64_t code : specials(fp64())) {
      const Class k = classify(fp64(), code);
      if (k == Class::nan || k == Class::infinite) values.push_back(code);
    }
    for (std::uint64_t v : values) {
      Case c;
      c.a = {v};
      finish(c, false);
    }
  } else {
    const Ctx x(s);
    for (int pos = 0; pos < 3; ++pos) {
      const Format& f = pos == 0 ? x.fa : pos == 1 ? x.fb : x.fc;
      for (std::uint64_t code : specials(f)) {
        Case c;
        c.a.resize(x.n);
        c.b.resize(x.n);
        for (std::size_t k = 0; k < x.n; ++k) {
          c.a[k] = moderate(x.fa, g);
          c.b[k] = moderate(x.fb, g);
        }
        c.c = moderate(x.fc, g);
        (pos == 0 ? c.a[0] : pos == 1 ? c.b[0] : c.c) = code;
        finish(c, false);
      }
    }
  }
  // 2. the classes of roundings, sums and products: proposals the classifier confirms
  for (std::size_t i = static_cast<std::size_t>(Corner::tie); i < kCorners; ++i) {
    if (!app.test(i)) continue;
    const Corner cls = corner_at(i);
    int hits = 0;
    for (int attempt = 0; attempt < 6000 && hits < per_class; ++attempt) {
      std::optional<Case> c =
          s.kind == Kind::quantize ? propose_quantize(s, cls, g) : propose_mac(Ctx(s), cls, g);
      if (!c) continue;
      const bool explicit_random =
          s.kind == Kind::mac_step && (cls == Corner::carry || cls == Corner::saturation);
      c->random = explicit_random ? all_ones(s) : seeded_random(s, out.size());
      const Classified k = classify(s, *c);
      if (!k.corners.test(i)) continue;
      c->result = k.golden.code;
      c->flags = k.golden.flags;
      out.push_back(std::move(*c));
      ++hits;
    }
  }
  return out;
}

}  // namespace fp8sim::vectors
