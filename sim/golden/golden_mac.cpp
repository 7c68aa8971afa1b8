// sim/golden/golden_mac.cpp — the golden model of the MAC unit.
//
// Written from docs/mac-semantics.md ("The MAC unit") alone: it shares no code with
// sim/mac.cpp, sim/fma.cpp, the GEMM kernels or rounding/round_pack. Values are exact
// dyadic numbers mag * 2^exp on cpp_int (no gcd in sums); every rounding goes through
// golden::round_value (exact rationals), every encoding is read with formats/ decode.
//
// The rules it implements, step by step (the doc's numbering):
//  1. Inputs: with ftz_in, subnormal a/b inputs read as zero of the same sign (+0 in fnuz).
//  2. Products exact; NaN.x = NaN, 0.Inf = NaN + invalid, signalling NaN input: invalid;
//     Inf.x = Inf. With prod=F, each product is rounded into F (site 1, step k).
//  3. Accumulation by structure (sequential, multiterm, pairwise, exact; chunking for
//     sequential and multiterm), every rounding into the accumulator at site 2, into the
//     outer accumulator at site 3. Zero sums: terms not all zero -> +0 (-0 under rdn); all
//     zeros -> -0 iff all are -0 (under rdn: iff any is). A value never rounded into the
//     accumulator is converted into it at the end (step K). multiterm: each product keeps
//     its field exponent ea + eb next to its exact value (align=field aligns by it; C, the
//     accumulator and rounded products by their leading bit); interleave=W deals runs of W
//     products of a chunk to its groups in turn (multiterm_groups).
//  4. Output conversion (site 4, step 0).
//  5. Every NaN result is the format's default NaN (nan_code(f, true)), or with
//     nan=canonical the positive NaN with all fraction bits set where the format has one;
//     flags are OR-ed.
#include "sim/golden/golden_mac.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <span>
#include <vector>

#include "rounding/random_bits.hpp"
#include "sim/golden/golden.hpp"
#include "sim/mac.hpp"

namespace fp8sim::golden {

namespace {

using Int = boost::multiprecision::cpp_int;

enum class Kind : std::uint8_t { finite, inf, nan };

/// A value: NaN, +-Inf, or the exact finite (-1)^neg * mag * 2^exp (zero: mag == 0, the
/// sign kept).
struct Num {
  Kind kind = Kind::finite;
  bool neg = false;
  Int mag;
  long exp = 0;
  /// align=field: an exact product a*b carries ea + eb, the sum of its inputs' exponents
  /// (input_exponent); every other value (C, an accumulator, a rounded product) has none.
  bool has_field = false;
  long field = 0;

  [[nodiscard]] bool finite() const { return kind == Kind::finite; }
  [[nodiscard]] bool zero() const { return kind == Kind::finite && mag == 0; }
  [[nodiscard]] bool nan() const { return kind == Kind::nan; }
  [[nodiscard]] bool inf() const { return kind == Kind::inf; }
};

Num make_nan() {
  Num n;
  n.kind = Kind::nan;
  return n;
}
Num make_inf(bool neg) {
  Num n;
  n.kind = Kind::inf;
  n.neg = neg;
  return n;
}
Num make_zero(bool neg) {
  Num n;
  n.neg = neg;
  return n;
}

/// The value of an encoding of f. `ftz_in`: subnormals read as zero of the same sign (+0
/// where the format has no -0).
Num read(const Format& f, std::uint64_t code, bool ftz_in) {
  const Decoded d = decode(f, code);
  switch (d.cls) {
    case Class::nan:
      return make_nan();
    case Class::infinite:
      return make_inf(d.sign);
    case Class::zero:
      return make_zero(d.sign && f.has_negative_zero());
    case Class::subnormal:
      if (ftz_in) return make_zero(d.sign && f.has_negative_zero());
      break;
    case Class::normal:
      break;
  }
  Num n;
  n.neg = d.sign;
  n.mag = Int(d.sig);
  n.exp = d.exp;
  return n;
}

/// The exact product (specials per IEEE 754; 0 * Inf raises invalid).
Num multiply(const Num& a, const Num& b, Flags& flags) {
  if (a.nan() || b.nan()) return make_nan();
  if ((a.inf() && b.zero()) || (a.zero() && b.inf())) {
    flags |= kInvalid;
    return make_nan();
  }
  const bool neg = a.neg != b.neg;
  if (a.inf() || b.inf()) return make_inf(neg);
  Num p;
  p.neg = neg;
  p.mag = a.mag * b.mag;
  p.exp = a.exp + b.exp;
  return p;
}

/// Exponent of the leading bit of a non-zero finite value.
long lead_exp(const Num& x) {
  return static_cast<long>(msb(x.mag)) + x.exp;
}

/// The exponent of a finite non-zero input encoding (align=field): floor(log2|x|) for a
/// normal number, the format's emin for a subnormal one (its significand is 0.f).
long input_exponent(const Format& f, std::uint64_t code) {
  const Decoded d = decode(f, code);
  if (d.cls == Class::subnormal) return f.emin();
  return static_cast<long>(std::bit_width(d.sig)) - 1 + d.exp;
}

/// The exact sum of finite terms, with the zero-sign rules of the MAC (`rdn`: the step
/// rounds toward -Inf).
Num exact_sum(std::span<const Num* const> terms, bool rdn) {
  long e = 0;
  bool any_nonzero = false;
  bool all_neg_zero = true;
  bool any_neg_zero = false;
  for (const Num* t : terms) {
    if (t->mag != 0) {
      e = any_nonzero ? std::min(e, t->exp) : t->exp;
      any_nonzero = true;
    } else {
      all_neg_zero = all_neg_zero && t->neg;
      any_neg_zero = any_neg_zero || t->neg;
    }
  }
  if (!any_nonzero) return make_zero(rdn ? any_neg_zero : all_neg_zero);
  Int s = 0;
  for (const Num* t : terms) {
    if (t->mag == 0) continue;
    const Int v = t->mag << static_cast<unsigned>(t->exp - e);
    if (t->neg) {
      s -= v;
    } else {
      s += v;
    }
  }
  if (s == 0) return make_zero(rdn);
  Num r;
  r.neg = s < 0;
  r.mag = r.neg ? Int(-s) : s;
  r.exp = e;
  return r;
}

/// The finite value as a Rational.
Rational to_rational(const Num& x) {
  if (x.mag == 0) return Rational(0);
  Int m = x.mag;
  long e = x.exp;
  if (e < 0) {
    const long tz = static_cast<long>(lsb(m));
    const long s = std::min(tz, -e);
    m >>= static_cast<unsigned>(s);
    e += s;
  }
  if (x.neg) m = -m;
  if (e >= 0) return Rational(m << static_cast<unsigned>(e));
  return Rational(m, Int(1) << static_cast<unsigned>(-e));
}

struct Dot {
  const MacConfig& m;
  std::uint64_t seed;
  std::uint64_t output;
  Flags flags = 0;

  const MacHooks* hooks = nullptr;
  // the terms of the sum being rounded, for the observer (set just before round())
  std::vector<ExactValue> pending_terms{};
  bool pending_multiterm = false;
  long pending_ref = 0;

  std::uint32_t random(RandomSite site, const RoundSpec& r, std::uint64_t step) const {
    if (r.mode != RoundingMode::sr) return 0;
    if (hooks != nullptr && hooks->random) return hooks->random(site, step, r.sr_bits);
    return packed_random_bits(mac_random_key(seed, site, output), step, r.sr_bits);
  }

  [[nodiscard]] bool observed() const { return hooks != nullptr && hooks->observe; }

  static ExactValue exact_of(const Num& x) {
    ExactValue v;
    v.kind = x.nan()   ? ExactValue::Kind::nan
             : x.inf() ? ExactValue::Kind::inf
                       : ExactValue::Kind::finite;
    v.neg = x.neg;
    v.mag = x.mag;
    v.exp = x.exp;
    return v;
  }

  void set_terms(std::span<const Num* const> terms, bool multiterm, long ref) {
    if (!observed()) return;
    pending_terms.clear();
    for (const Num* t : terms) pending_terms.push_back(exact_of(*t));
    pending_multiterm = multiterm;
    pending_ref = ref;
  }

  /// One rounding step of x into f: the resulting value (NaN/Inf included) and its code.
  Num round(const Format& f, const Num& x, const RoundSpec& r, RandomSite site, std::uint64_t step,
            std::uint64_t* code = nullptr) {
    std::uint64_t c = 0;
    Flags got = 0;
    if (x.nan()) {
      if (f.has_nan()) {
        c = nan_code(f, true);
      } else {
        c = 0;
        got |= kInvalid;
      }
    } else if (x.inf()) {
      if (f.has_inf()) {
        c = inf_code(f, x.neg);
      } else if (f.has_nan()) {
        c = nan_code(f, true);
        got |= kInvalid;
      } else {
        c = max_finite_code_signed(f, x.neg);
        got |= kInvalid;
      }
    } else {
      const Result res = round_value(f, to_rational(x), x.neg, r, random(site, r, step));
      got |= res.flags;
      c = res.code;
    }
    flags |= got;
    if (observed()) {
      RoundingEvent e;
      e.site = site;
      e.step = step;
      e.to = &f;
      e.round = r;
      e.terms = std::move(pending_terms);
      e.multiterm = pending_multiterm;
      e.align_ref = pending_ref;
      e.align_bits = m.align_bits;
      e.exact = exact_of(x);
      e.code = c;
      e.flags = got;
      hooks->observe(e);
    }
    pending_terms.clear();
    pending_multiterm = false;
    if (code != nullptr) *code = c;
    return read(f, c, false);
  }

  /// round(a + b) into f: one fused step.
  Num add_round(const Format& f, const Num& a, const Num& b, const RoundSpec& r, RandomSite site,
                std::uint64_t step, std::uint64_t* code = nullptr) {
    const std::array<const Num*, 2> both{&a, &b};
    set_terms(both, false, 0);
    Num s;
    if (a.nan() || b.nan()) {
      s = make_nan();
    } else if (a.inf() && b.inf() && a.neg != b.neg) {
      flags |= kInvalid;
      s = make_nan();
    } else if (a.inf()) {
      s = a;
    } else if (b.inf()) {
      s = b;
    } else {
      const std::array<const Num*, 2> two{&a, &b};
      s = exact_sum(two, r.mode == RoundingMode::rdn);
    }
    return round(f, s, r, site, step, code);
  }

  /// The specials rule for a sum of terms: NaN if any is NaN, NaN + invalid if +Inf meets
  /// -Inf, else an Inf wins. `special` is false (and the result unused) when all are finite.
  Num special_sum(const std::vector<const Num*>& terms, bool& special) {
    bool nan = false, pinf = false, ninf = false;
    for (const Num* t : terms) {
      nan = nan || t->nan();
      pinf = pinf || (t->inf() && !t->neg);
      ninf = ninf || (t->inf() && t->neg);
    }
    special = true;
    if (nan) return make_nan();
    if (pinf && ninf) {
      flags |= kInvalid;
      return make_nan();
    }
    if (pinf || ninf) return make_inf(ninf);
    special = false;
    return {};
  }

  /// The exponent a non-zero multiterm term is aligned by: align=field, an exact product's
  /// ea + eb; otherwise (align=lead, C, the accumulator, a rounded product) its leading bit.
  long align_exp(const Num& t) const {
    if (m.align_ref == AlignRef::exponent_field && t.has_field) return t.field;
    return lead_exp(t);
  }

  /// One multiterm group: s and the group's products, aligned to the largest alignment
  /// exponent R, truncated toward zero to multiples of 2^(R - align_bits), summed exactly,
  /// rounded once into the accumulator.
  Num multiterm_group(const Num& s, const std::vector<const Num*>& products, std::uint64_t step,
                      std::uint64_t* code) {
    std::vector<const Num*> terms{&s};
    terms.insert(terms.end(), products.begin(), products.end());
    bool special = false;
    Num sum = special_sum(terms, special);
    set_terms(terms, false, 0);
    if (!special) {
      bool any_nonzero = false;
      long emax = 0;  // R
      for (const Num* t : terms) {
        if (t->mag == 0) continue;  // zero terms have no exponent
        emax = any_nonzero ? std::max(emax, align_exp(*t)) : align_exp(*t);
        any_nonzero = true;
      }
      if (any_nonzero) {
        pending_multiterm = true;
        pending_ref = emax;
      }
      if (!any_nonzero) {
        sum = exact_sum(terms, m.acc_round.mode == RoundingMode::rdn);
      } else {
        const long q = emax - m.align_bits;  // every term truncated to a multiple of 2^q
        bool dropped = false;
        std::vector<Num> trunc;
        trunc.reserve(terms.size());
        for (const Num* t : terms) {
          Num u = *t;
          if (u.mag != 0 && u.exp < q) {
            const unsigned sh = static_cast<unsigned>(q - u.exp);
            const Int kept = u.mag >> sh;
            if ((kept << sh) != u.mag) dropped = true;
            u.mag = kept;
            u.exp = q;
          }
          trunc.push_back(std::move(u));
        }
        std::vector<const Num*> tp;
        for (const Num& u : trunc) tp.push_back(&u);
        // The original terms are not all zero: an exact zero sum is +0 (-0 under rdn).
        sum = exact_sum(tp, m.acc_round.mode == RoundingMode::rdn);
        if (sum.zero()) sum = make_zero(m.acc_round.mode == RoundingMode::rdn);
        if (dropped) flags |= kInexact;
      }
    }
    return round(m.acc, sum, m.acc_round, RandomSite::acc, step, code);
  }

  /// The multiterm groups of products [k0, k1) (one chunk, or the whole dot product), as
  /// the doc defines them. interleave = 0: consecutive runs of `terms` products (the last
  /// may be shorter). interleave = W > 0: G = ceil(len / terms) groups; the products are
  /// cut into runs of W (the last may be shorter) and run r is dealt to group r mod G; a
  /// group holds what it is dealt, and a group dealt nothing is dropped.
  std::vector<std::vector<const Num*>> multiterm_groups(const std::vector<Num>& p, std::size_t k0,
                                                        std::size_t k1) const {
    const std::size_t len = k1 - k0;
    const auto n = static_cast<std::size_t>(m.terms);
    std::vector<std::vector<const Num*>> groups((len + n - 1) / n);
    if (m.interleave <= 0) {
      for (std::size_t i = 0; i < len; ++i) groups[i / n].push_back(&p[k0 + i]);
      return groups;
    }
    const auto w = static_cast<std::size_t>(m.interleave);
    for (std::size_t i = 0; i < len; ++i) {
      const std::size_t run = i / w;
      groups[run % groups.size()].push_back(&p[k0 + i]);
    }
    std::erase_if(groups, [](const std::vector<const Num*>& g) { return g.empty(); });
    return groups;
  }

  /// Sequential or multiterm over products [k0, k1) starting from s. Random steps:
  /// sequential, the product index k; multiterm, `group` (the group number, advanced).
  Num inner(const std::vector<Num>& p, std::size_t k0, std::size_t k1, Num s, std::uint64_t& group,
            std::uint64_t* code) {
    if (m.structure == Structure::multiterm) {
      for (const auto& g : multiterm_groups(p, k0, k1)) s = multiterm_group(s, g, group++, code);
      return s;
    }
    for (std::size_t k = k0; k < k1; ++k)
      s = add_round(m.acc, s, p[k], m.acc_round, RandomSite::acc, k, code);
    return s;
  }

  std::uint64_t run(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b,
                    std::optional<std::uint64_t> c) {
    const std::size_t K = a.size();
    std::vector<Num> p(K);
    for (std::size_t k = 0; k < K; ++k) {
      if (is_signaling_nan(m.a, a[k]) || is_signaling_nan(m.b, b[k])) flags |= kInvalid;
      p[k] = multiply(read(m.a, a[k], m.ftz_inputs), read(m.b, b[k], m.ftz_inputs), flags);
      if (p[k].finite() && !p[k].zero()) {
        // align=field: the exact product keeps ea + eb next to its value.
        p[k].has_field = true;
        p[k].field = input_exponent(m.a, a[k]) + input_exponent(m.b, b[k]);
      }
      if (m.product) p[k] = round(*m.product, p[k], m.product_round, RandomSite::product, k);
    }
    const Format& cf = m.c ? *m.c : m.acc;
    Num cv;  // C, or +0
    if (c) {
      if (is_signaling_nan(cf, *c)) flags |= kInvalid;
      cv = read(cf, *c, false);
    }

    std::uint64_t code = 0;
    Num v;
    const Format* vf = &m.acc;
    if (m.chunk > 0) {
      vf = &m.outer;
      if (K == 0) {
        v = round(m.outer, cv, m.outer_round, RandomSite::outer, 0, &code);
      } else {
        const auto n = static_cast<std::size_t>(m.chunk);
        std::uint64_t group = 0, j = 0;
        v = cv;
        for (std::size_t k0 = 0; k0 < K; k0 += n, ++j) {
          const Num t = inner(p, k0, std::min(k0 + n, K), Num{}, group, nullptr);
          v = add_round(m.outer, v, t, m.outer_round, RandomSite::outer, j, &code);
        }
      }
    } else {
      switch (m.structure) {
        case Structure::sequential:
        case Structure::multiterm: {
          std::uint64_t group = 0;
          if (K == 0) {
            v = round(m.acc, cv, m.acc_round, RandomSite::acc, K, &code);
          } else {
            v = inner(p, 0, K, cv, group, &code);
          }
          break;
        }
        case Structure::pairwise: {
          std::uint64_t step = 0;
          std::vector<Num> level = std::move(p);
          while (level.size() > 1) {
            std::vector<Num> next;
            for (std::size_t i = 0; i + 1 < level.size(); i += 2)
              next.push_back(add_round(m.acc, level[i], level[i + 1], m.acc_round, RandomSite::acc,
                                       step++, &code));
            if (level.size() % 2 == 1) next.push_back(std::move(level.back()));
            level = std::move(next);
          }
          // For K >= 2 the root is the last sum made (its code is in `code`).
          if (c && K > 0) {
            v = add_round(m.acc, level[0], cv, m.acc_round, RandomSite::acc, step, &code);
          } else if (K >= 2) {
            v = std::move(level[0]);
          } else {
            // Never rounded into the accumulator: C alone, +0, or a single leaf.
            v = round(m.acc, K == 0 ? cv : level[0], m.acc_round, RandomSite::acc, K, &code);
          }
          break;
        }
        case Structure::exact: {
          std::vector<const Num*> terms;
          if (c) terms.push_back(&cv);
          for (const Num& x : p) terms.push_back(&x);
          Num s;
          if (terms.empty()) {
            s = make_zero(false);
          } else {
            bool special = false;
            s = special_sum(terms, special);
            if (!special) s = exact_sum(terms, m.acc_round.mode == RoundingMode::rdn);
          }
          v = round(m.acc, s, m.acc_round, RandomSite::acc, 0, &code);
          break;
        }
      }
    }
    if (m.out) {
      vf = &*m.out;
      v = round(*m.out, v, m.out_round, RandomSite::out, 0, &code);
    }
    if (v.nan() && vf->has_nan()) {
      code = nan_code(*vf, true);
      // nan=canonical: the positive NaN with every fraction bit set, where the format has it
      const std::uint64_t ones = vf->code_mask() & ~vf->sign_mask();
      if (m.canonical_nan && classify(*vf, ones) == Class::nan) code = ones;
    }
    return code;
  }
};

}  // namespace

MacOutcome mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                   std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                   std::uint64_t seed, std::uint64_t output) {
  Dot d{m, seed, output};
  const std::uint64_t code = d.run(a, b, c);
  return {code, d.flags};
}

MacOutcome mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                   std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                   std::uint64_t seed, std::uint64_t output, const MacHooks& hooks) {
  Dot d{m, seed, output};
  d.hooks = &hooks;
  const std::uint64_t code = d.run(a, b, c);
  return {code, d.flags};
}

}  // namespace fp8sim::golden
