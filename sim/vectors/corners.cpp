// sim/vectors/corners.cpp — the corner classes: their names, which a Spec can reach, and which
// a case hits, decided on the case's inputs and on the golden model's own roundings.
#include <algorithm>
#include <array>
#include <cfloat>
#include <cstring>

#include "sim/golden/golden.hpp"
#include "sim/vectors/codes.hpp"
#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

using detail::Exact;
using detail::Int;

struct CornerInfo {
  std::string_view name, meaning;
};

constexpr std::array<CornerInfo, kCorners> kInfo{{
    {"zero+", "an input is +0"},
    {"zero-", "an input is -0"},
    {"subnormal-min", "an input is +-min subnormal"},
    {"subnormal-max", "an input is +-max subnormal"},
    {"normal-min", "an input is +-min normal"},
    {"max-finite", "an input is +-max finite"},
    {"inf", "an input is +-Inf"},
    {"nan", "an input is a NaN"},
    {"tie", "a rounding's exact value lies exactly halfway between two neighbours"},
    {"carry", "a rounding carried into the next binade (a significand of all ones rounded up)"},
    {"tiny", "a rounding's exact value is non-zero and below min normal"},
    {"saturation", "a rounding overflowed (to Inf, or max finite / NaN as the format says)"},
    {"cancellation", "a sum of non-zero terms is exactly zero"},
    {"align-at-width",
     "a term's leading bit lies exactly W bits below the largest term's (W: the accumulator's "
     "significand bits, or a multiterm unit's alignment bits)"},
    {"align-past-width", "a term lies more than W bits below the largest term"},
    {"carry-chain",
     "the largest term is all ones down to the last kept bit and the sum carries out of it"},
    {"product-underflow", "an exact product is non-zero and below the accumulator's min normal"},
    {"product-overflow", "an exact product exceeds the accumulator's max finite"},
}};

const Format& fp64() {
  static const Format f = *find_preset("fp64");
  return f;
}

bool can_round_up(const RoundSpec& r) {
  return r.mode != RoundingMode::rtz && r.mode != RoundingMode::rto;
}

void input_classes(const Format& f, std::uint64_t code, CornerSet& out) {
  const std::uint64_t mag = code & ~f.sign_mask();
  switch (classify(f, code)) {
    case Class::zero:
      out.set(static_cast<std::size_t>(sign_of(f, code) ? Corner::zero_neg : Corner::zero_pos));
      return;
    case Class::infinite:
      out.set(static_cast<std::size_t>(Corner::inf));
      return;
    case Class::nan:
      out.set(static_cast<std::size_t>(Corner::nan));
      return;
    case Class::subnormal:
      if (mag == detail::min_subnormal_code(f))
        out.set(static_cast<std::size_t>(Corner::subnormal_min));
      if (mag == detail::max_subnormal_code(f))
        out.set(static_cast<std::size_t>(Corner::subnormal_max));
      return;
    case Class::normal:
      if (mag == detail::min_normal_code(f)) out.set(static_cast<std::size_t>(Corner::normal_min));
      if (mag == f.max_finite_code()) out.set(static_cast<std::size_t>(Corner::max_finite));
      return;
  }
}

// quantize: the input value against the target format's special values.
void value_classes(const Format& f, std::uint64_t bits, CornerSet& out) {
  const Exact v = detail::exact_of(fp64(), bits);
  if (!detail::finite(v)) {
    out.set(static_cast<std::size_t>(v.kind == Exact::Kind::nan ? Corner::nan : Corner::inf));
    return;
  }
  if (v.mag == 0) {
    out.set(static_cast<std::size_t>(v.neg ? Corner::zero_neg : Corner::zero_pos));
    return;
  }
  auto same = [&](std::uint64_t code, Corner c) {
    if (detail::compare_magnitude(v, detail::exact_of(f, code)) == 0)
      out.set(static_cast<std::size_t>(c));
  };
  if (f.subnormals && f.man_bits > 0) {
    same(detail::min_subnormal_code(f), Corner::subnormal_min);
    same(detail::max_subnormal_code(f), Corner::subnormal_max);
  }
  same(detail::min_normal_code(f), Corner::normal_min);
  same(f.max_finite_code(), Corner::max_finite);
}

bool is_tie(const Format& f, const Exact& x) {
  const long E = detail::lead(x);
  if (E < f.emin() && !f.subnormals)  // between 0 and min normal: the midpoint 2^(emin-1)
    return E == f.emin() - 1 && (x.mag & (x.mag - 1)) == 0;
  const long q = E >= f.emin() ? E - f.man_bits : f.emin() - f.man_bits;
  const long shift = q - x.exp;  // bits of mag below the quantum
  if (shift <= 0) return false;
  // the discarded bits are 100..0: the lowest set bit of mag is the one just below q
  return static_cast<long>(boost::multiprecision::lsb(x.mag)) == shift - 1;
}

void event_classes(const golden::RoundingEvent& e, CornerSet& out) {
  const Format& to = *e.to;
  const Exact& x = e.exact;
  auto hit = [&](Corner c) { out.set(static_cast<std::size_t>(c)); };
  if (e.flags & kOverflow) hit(Corner::saturation);
  if (detail::finite(x) && x.mag != 0) {
    const long E = detail::lead(x);
    if (E < to.emin()) hit(Corner::tiny);
    if (is_tie(to, x)) hit(Corner::tie);
    const Class rc = classify(to, e.code);
    if ((rc == Class::normal || rc == Class::subnormal) &&
        detail::lead(detail::exact_of(to, e.code)) > E)
      hit(Corner::carry);
  }
  if (e.terms.empty()) return;
  std::vector<const Exact*> nonzero;
  for (const Exact& t : e.terms) {
    if (!detail::finite(t)) return;  // NaN/Inf: no arithmetic happened
    if (t.mag != 0) nonzero.push_back(&t);
  }
  if (nonzero.empty()) return;
  if (detail::sum(e.terms).mag == 0) hit(Corner::cancellation);
  if (nonzero.size() < 2) return;
  const Exact* big = nonzero.front();
  for (const Exact* t : nonzero)
    if (detail::compare_magnitude(*t, *big) > 0) big = t;
  const long R = e.multiterm ? e.align_ref : detail::lead(*big);
  const long W = e.multiterm ? e.align_bits : to.man_bits + 1;
  for (const Exact* t : nonzero) {
    const long d = R - detail::lead(*t);
    if (d == W) hit(Corner::align_at_width);
    if (d > W) hit(Corner::align_past_width);
  }
  // carry chain: every term of one sign, the largest all ones down to the last kept bit q,
  // and the (aligned) sum carrying out of the largest's top bit
  const bool neg = big->neg;
  for (const Exact* t : nonzero)
    if (t->neg != neg) return;
  const long q = e.multiterm ? R - e.align_bits : detail::lead(*big) - to.man_bits;
  const Exact M = detail::truncated(*big, q);
  if (M.mag == 0 || (!e.multiterm && detail::compare_magnitude(M, *big) != 0)) return;
  const long lm = detail::lead(M);
  const std::array<Exact, 2> up{M, detail::power_of_two(q, neg)};
  const Exact next = detail::sum(up);  // all ones plus one unit is a power of two
  if ((next.mag & (next.mag - 1)) != 0 || detail::lead(next) != lm + 1) return;
  std::vector<Exact> kept;
  for (const Exact* t : nonzero) kept.push_back(e.multiterm ? detail::truncated(*t, q) : *t);
  const Exact s = detail::sum(kept);
  if (s.mag != 0 && detail::lead(s) > lm) hit(Corner::carry_chain);
}

// Whether the largest inputs (every one the max finite of its format, one sign, random bits
// all ones) overflow some rounding.
bool largest_overflow(const Spec& s) {
  for (bool neg : {false, true}) {
    Case c;
    auto big = [neg](const Format& f) { return max_finite_code_signed(f, neg && f.is_signed); };
    if (s.kind == Kind::quantize) {
      double v = neg ? -DBL_MAX : DBL_MAX;
      std::uint64_t bits = 0;
      std::memcpy(&bits, &v, sizeof bits);
      c.a = {bits};
    } else {
      const std::size_t n = s.kind == Kind::dot ? static_cast<std::size_t>(s.terms) : 1;
      c.a.assign(n, big(a_format(s)));
      c.b.assign(n, big(b_format(s)));
      if (neg) c.b.assign(n, big(b_format(s)) & ~b_format(s).sign_mask());
      c.c = big(c_format(s));
    }
    for (const RandomStep& r : random_steps(s))
      c.random.push_back(r.bits >= 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << r.bits) - 1);
    if (golden_outcome(s, c).flags & kOverflow) return true;
  }
  return false;
}

}  // namespace

std::string_view corner_name(Corner c) {
  return kInfo[static_cast<std::size_t>(c)].name;
}

std::string_view corner_meaning(Corner c) {
  return kInfo[static_cast<std::size_t>(c)].meaning;
}

CornerSet applicable_corners(const Spec& s) {
  CornerSet a;
  auto set = [&](Corner c, bool on) { a.set(static_cast<std::size_t>(c), on); };
  if (s.kind == Kind::quantize) {
    const Format& f = s.format;
    const bool narrower = f.man_bits < 52 || f.emin() > -1022 || !f.subnormals;
    for (Corner c : {Corner::zero_pos, Corner::zero_neg, Corner::normal_min, Corner::max_finite,
                     Corner::inf, Corner::nan})
      set(c, true);
    set(Corner::subnormal_min, f.subnormals && f.man_bits > 0);
    set(Corner::subnormal_max, f.subnormals && f.man_bits > 0);
    set(Corner::tie, narrower);
    set(Corner::carry, narrower && can_round_up(s.round));
    set(Corner::tiny, f.emin() > -1074);
    set(Corner::saturation, largest_overflow(s));
    return a;
  }
  const MacConfig& m = s.mac;
  const std::array<const Format*, 3> in{&a_format(s), &b_format(s), &c_format(s)};
  auto any = [&](auto pred) {
    return std::any_of(in.begin(), in.end(), [&](const Format* f) { return pred(*f); });
  };
  set(Corner::zero_pos, any([](const Format& f) { return f.has_zero; }));
  set(Corner::zero_neg, any([](const Format& f) { return f.has_negative_zero(); }));
  set(Corner::subnormal_min, any([](const Format& f) { return f.subnormals && f.man_bits > 0; }));
  set(Corner::subnormal_max, any([](const Format& f) { return f.subnormals && f.man_bits > 0; }));
  set(Corner::normal_min, true);
  set(Corner::max_finite, true);
  set(Corner::inf, any([](const Format& f) { return f.has_inf(); }));
  set(Corner::nan, any([](const Format& f) { return f.has_nan(); }));
  set(Corner::tie, true);
  bool up = can_round_up(m.acc_round) || (m.product && can_round_up(m.product_round));
  if (s.kind == Kind::dot)
    up = up || (m.chunk > 0 && can_round_up(m.outer_round)) || (m.out && can_round_up(m.out_round));
  set(Corner::carry, up);
  set(Corner::tiny, true);
  set(Corner::saturation, largest_overflow(s));
  set(Corner::cancellation, any([](const Format& f) { return f.is_signed; }));
  set(Corner::align_at_width, true);
  set(Corner::align_past_width, true);
  set(Corner::carry_chain, true);
  // the products' range against the accumulator's
  const long lo = detail::lowest_lead(m.a, m.ftz_inputs) + detail::lowest_lead(m.b, m.ftz_inputs);
  set(Corner::product_underflow, lo < m.acc.emin());
  const Exact pmax = detail::product(detail::exact_of(m.a, m.a.max_finite_code()),
                                     detail::exact_of(m.b, m.b.max_finite_code()));
  set(Corner::product_overflow,
      detail::compare_magnitude(pmax, detail::exact_of(m.acc, m.acc.max_finite_code())) > 0);
  return a;
}

Classified classify(const Spec& s, const Case& c) {
  CornerSet hits;
  const RoundingObserver observe = [&hits](const golden::RoundingEvent& e) {
    event_classes(e, hits);
  };
  Classified out;
  out.golden = golden_outcome(s, c, &observe);
  if (s.kind == Kind::quantize) {
    value_classes(s.format, c.a[0], hits);
  } else {
    const MacConfig& m = s.mac;
    for (std::uint64_t x : c.a) input_classes(m.a, x, hits);
    for (std::uint64_t x : c.b) input_classes(m.b, x, hits);
    input_classes(c_format(s), c.c, hits);
    const Exact amax = detail::exact_of(m.acc, m.acc.max_finite_code());
    for (std::size_t k = 0; k < c.a.size(); ++k) {
      const Class ka = classify(m.a, c.a[k]), kb = classify(m.b, c.b[k]);
      auto usable = [&](Class k2) {
        return k2 == Class::normal || (k2 == Class::subnormal && !m.ftz_inputs);
      };
      if (!usable(ka) || !usable(kb)) continue;
      const Exact p = detail::product(detail::exact_of(m.a, c.a[k]), detail::exact_of(m.b, c.b[k]));
      if (detail::lead(p) < m.acc.emin())
        hits.set(static_cast<std::size_t>(Corner::product_underflow));
      if (detail::compare_magnitude(p, amax) > 0)
        hits.set(static_cast<std::size_t>(Corner::product_overflow));
    }
  }
  out.corners = hits;
  return out;
}

}  // namespace fp8sim::vectors
