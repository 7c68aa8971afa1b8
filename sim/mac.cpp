// sim/mac.cpp — the reference MAC model: every structure of MacConfig, one dot product at
// a time, each rounding through round_pack (via fma/convert), with a readable trace.
#include "sim/mac.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/multiprecision/cpp_int.hpp>

#include "rounding/round_pack.hpp"
#include "sim/fma.hpp"

namespace fp8sim {

namespace mp = boost::multiprecision;

void MacCounts::add(Flags f) {
  ++steps;
  inexact += (f & kInexact) != 0;
  underflow += (f & kUnderflow) != 0;
  overflow += (f & kOverflow) != 0;
  invalid += (f & kInvalid) != 0;
}

void MacCounts::merge(const MacCounts& o) {
  steps += o.steps;
  inexact += o.inexact;
  underflow += o.underflow;
  overflow += o.overflow;
  invalid += o.invalid;
  swamped += o.swamped;
  carry_overflow += o.carry_overflow;
}

namespace {

const Format& fp64() {
  static const Format f = *find_preset("fp64");
  return f;
}
constexpr std::uint64_t kOne64 = 0x3ff0000000000000ull;
constexpr std::uint64_t kNegZero64 = 0x8000000000000000ull;

// A value carried between steps: an encoding and its format.
struct Val {
  const Format* f;
  std::uint64_t code;
  /// multiterm with align=field: a raw product's exponent field ea+eb (its significand
  /// unnormalised in [1,4)); kNoField: align by the leading bit.
  std::int64_t field = kNoField;
  static constexpr std::int64_t kNoField = INT64_MIN;
};

// An input's exponent field: its leading bit's exponent when normal, emin when subnormal.
std::int64_t exponent_field(const Format& f, std::uint64_t code) {
  if (classify(f, code) == Class::subnormal) return f.emin();
  const Decoded d = decode(f, code);
  return d.exp + 63 - std::countl_zero(d.sig);
}

// ---- trace helpers ---------------------------------------------------------------------

std::string fields(const Format& f, std::uint64_t code) {
  const std::string sign = f.is_signed ? fmt::format("{} ", sign_of(f, code) ? 1 : 0) : "";
  const std::string frac =
      f.man_bits ? fmt::format(" {:0{}b}", frac_field(f, code), f.man_bits) : "";
  return fmt::format("{}{:0{}b}{}", sign, exp_field(f, code), f.exp_bits, frac);
}

std::string value_text(const Format& f, std::uint64_t code) {
  const Class c = classify(f, code);
  if (c == Class::nan) return "NaN";
  if (c == Class::infinite) return sign_of(f, code) ? "-Inf" : "+Inf";
  return fmt::format("{}", to_double(f, code));
}

std::string describe(const Format& f, std::uint64_t code) {
  return fmt::format("{:#0{}x} ({}) = {}", code, (f.width() + 3) / 4 + 2, fields(f, code),
                     value_text(f, code));
}

// Exact dyadic numbers for the trace and the Kulisch accumulator: m * 2^e.
struct Dyadic {
  mp::cpp_int m = 0;
  std::int64_t e = 0;
};

Dyadic dyadic_of(const Format& f, std::uint64_t code) {
  const Decoded d = decode(f, code);
  Dyadic r;
  r.m = d.sig;
  if (d.sign) r.m = -r.m;
  r.e = d.exp;
  return r;
}

Dyadic add(const Dyadic& x, const Dyadic& y) {
  if (x.m == 0) return y;
  if (y.m == 0) return x;
  const std::int64_t e = std::min(x.e, y.e);
  Dyadic r;
  r.m = (x.m << static_cast<unsigned>(x.e - e)) + (y.m << static_cast<unsigned>(y.e - e));
  r.e = e;
  return r;
}

std::string dyadic_text(const Dyadic& x) {
  if (x.m == 0) return "0";
  mp::cpp_int a = x.m < 0 ? mp::cpp_int(-x.m) : x.m;
  std::int64_t e = x.e;
  while ((a & 1) == 0) {
    a >>= 1;
    ++e;
  }
  const double approx = static_cast<double>(a) * std::pow(2.0, static_cast<double>(e));
  return fmt::format("{}{} x 2^{} (~{:.9g})", x.m < 0 ? "-" : "", a.str(), e,
                     x.m < 0 ? -approx : approx);
}

// Where rounding into `f` cuts the exact value x: "kept bits | discarded bits".
std::string cut_text(const Format& f, const Dyadic& x) {
  if (x.m == 0) return "exact zero";
  const mp::cpp_int a = x.m < 0 ? mp::cpp_int(-x.m) : x.m;
  const auto msb = static_cast<std::int64_t>(mp::msb(a));
  const std::int64_t E = x.e + msb;
  const std::int64_t qe =
      (E >= f.emin()) ? E - f.man_bits : (f.subnormals ? f.emin() - f.man_bits : f.emin());
  const std::int64_t drop = qe - x.e;  // bits of a below the quantum
  std::string bits;
  for (std::int64_t i = msb; i >= 0; --i)
    bits += mp::bit_test(a, static_cast<unsigned>(i)) ? '1' : '0';
  if (drop <= 0)
    return fmt::format("binade 2^{}, quantum 2^{}: {} (nothing discarded)", E, qe, bits);
  const auto keep_len = static_cast<std::int64_t>(bits.size()) - drop;
  std::string kept = keep_len > 0 ? bits.substr(0, static_cast<std::size_t>(keep_len)) : "0";
  std::string dropped = keep_len > 0 ? bits.substr(static_cast<std::size_t>(keep_len))
                                     : std::string(static_cast<std::size_t>(-keep_len), '0') + bits;
  if (dropped.size() > 24) {
    const bool sticky = dropped.find('1', 24) != std::string::npos;
    dropped = dropped.substr(0, 24) + (sticky ? "...(sticky 1)" : "...(0)");
  }
  return fmt::format("binade 2^{}, quantum 2^{}: kept {} | discarded {}", E, qe, kept, dropped);
}

// ---- the model ---------------------------------------------------------------------------

class Dot {
 public:
  Dot(const MacConfig& m, std::uint64_t seed, std::uint64_t output, std::vector<std::string>* tr,
      const MacRandomSource* random = nullptr)
      : m_(m), seed_(seed), output_(output), trace_(tr), random_(random) {}

  MacResult run(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b,
                std::optional<std::uint64_t> c);

 private:
  std::uint32_t rnd(RandomSite site, std::uint64_t step, const RoundSpec& r) const {
    if (r.mode != RoundingMode::sr) return 0;
    if (random_ != nullptr) return (*random_)(site, step, r.sr_bits);
    return packed_random_bits(mac_random_key(seed_, site, output_), step, r.sr_bits);
  }
  void log(std::string s) {
    if (trace_) trace_->push_back(std::move(s));
  }
  void note_flags(Flags f) {
    flags_ |= f;
    counts_.add(f);
  }
  std::uint64_t input(const Format& f, std::uint64_t code) const {
    if (m_.ftz_inputs && classify(f, code) == Class::subnormal)
      return zero_code(f, sign_of(f, code));
    return code;
  }
  Val product(std::size_t k, std::uint64_t a, std::uint64_t b);
  // x + y rounded once into `to` (site/step key the random bits; `what` names it in the trace)
  Val sum(Val x, Val y, const Format& to, const RoundSpec& r, RandomSite site, std::uint64_t step,
          const char* what);
  Val sequential(std::span<const Val> p, Val start, std::uint64_t first_step);
  Val multiterm(std::span<const Val> p, Val start, std::uint64_t& group);
  Val pairwise(std::span<const Val> p);
  Val kulisch(std::span<const Val> p, std::optional<Val> c);

  const MacConfig& m_;
  std::uint64_t seed_, output_;
  std::vector<std::string>* trace_;
  const MacRandomSource* random_;  // caller's random bits (null: the Philox streams)
  Flags flags_ = 0;
  MacCounts counts_;
  std::uint64_t pair_step_ = 0;
};

Val Dot::product(std::size_t k, std::uint64_t a, std::uint64_t b) {
  // exact product as binary64 (validate() guarantees exactness)
  const Rounded p = fma(m_.a, a, m_.b, b, fp64(), kNegZero64, fp64(), RoundSpec{});
  flags_ |= p.flags;
  if (p.flags) counts_.invalid += (p.flags & kInvalid) != 0;
  Val v{&fp64(), p.code};
  const Class pc = classify(fp64(), p.code);
  if (m_.align_ref == AlignRef::exponent_field && !m_.product && pc != Class::zero &&
      pc != Class::nan && pc != Class::infinite)
    v.field = exponent_field(m_.a, a) + exponent_field(m_.b, b);
  if (trace_) {
    log(fmt::format("product {}: a = {} x b = {}", k, describe(m_.a, a), describe(m_.b, b)));
    log(fmt::format(
        "  exact product = {}{}",
        classify(fp64(), p.code) == Class::nan || classify(fp64(), p.code) == Class::infinite
            ? value_text(fp64(), p.code)
            : dyadic_text(dyadic_of(fp64(), p.code)),
        p.flags ? fmt::format("  flags {}", flags_to_string(p.flags)) : ""));
  }
  if (m_.product) {
    const Rounded r = convert(fp64(), p.code, *m_.product, m_.product_round,
                              rnd(RandomSite::product, k, m_.product_round));
    note_flags(r.flags);
    v = Val{&*m_.product, r.code};
    if (trace_)
      log(fmt::format("  rounded to product format {} ({}): {}  flags {}", m_.product->name,
                      to_string(m_.product_round), describe(*m_.product, r.code),
                      flags_to_string(r.flags)));
  }
  return v;
}

Val Dot::sum(Val x, Val y, const Format& to, const RoundSpec& r, RandomSite site,
             std::uint64_t step, const char* what) {
  const std::uint32_t random = rnd(site, step, r);
  const Rounded s = fma(*x.f, x.code, fp64(), kOne64, *y.f, y.code, to, r, random);
  note_flags(s.flags);
  if (trace_) {
    log(fmt::format("{} step {}: {} + {}", what, step, value_text(*x.f, x.code),
                    value_text(*y.f, y.code)));
    const Class cx = classify(*x.f, x.code), cy = classify(*y.f, y.code);
    const bool finite =
        cx != Class::nan && cx != Class::infinite && cy != Class::nan && cy != Class::infinite;
    if (finite) {
      const Dyadic exact = add(dyadic_of(*x.f, x.code), dyadic_of(*y.f, y.code));
      log(fmt::format("  exact sum = {}", dyadic_text(exact)));
      log(fmt::format("  into {} ({}): {}", to.name, to_string(r), cut_text(to, exact)));
    }
    if (r.mode == RoundingMode::sr)
      log(fmt::format("  random bits ({} of them) = {:#x}", r.sr_bits, random));
    log(fmt::format("  result {}  flags {}", describe(to, s.code), flags_to_string(s.flags)));
  }
  return Val{&to, s.code};
}

Val Dot::sequential(std::span<const Val> p, Val start, std::uint64_t first_step) {
  Val s = start;
  for (std::size_t k = 0; k < p.size(); ++k)
    s = sum(p[k], s, m_.acc, m_.acc_round, RandomSite::acc, first_step + k, "accumulate");
  return s;
}

// The groups of a multiterm span of `len` products (indices into it): consecutive runs of
// `terms`, or with interleave W the runs of W dealt to the ceil(len/terms) groups in turn
// (docs/mac-semantics.md).
std::vector<std::vector<std::size_t>> multiterm_groups(std::size_t len, std::size_t terms,
                                                       std::size_t interleave) {
  std::vector<std::vector<std::size_t>> g((len + terms - 1) / terms);
  for (std::size_t k = 0; k < len; ++k)
    g[interleave ? (k / interleave) % g.size() : k / terms].push_back(k);
  // fewer runs than groups: a group dealt nothing is dropped (no rounding, no step number)
  std::erase_if(g, [](const auto& members) { return members.empty(); });
  return g;
}

Val Dot::multiterm(std::span<const Val> p, Val start, std::uint64_t& group) {
  Val s = start;
  const auto groups = multiterm_groups(p.size(), static_cast<std::size_t>(m_.terms),
                                       static_cast<std::size_t>(m_.interleave));
  for (const auto& members : groups) {
    const std::size_t g0 = members.front(), g1 = members.back() + 1;
    std::vector<Val> terms{s};
    for (std::size_t k : members) terms.push_back(p[k]);
    // specials
    bool any_nan = false, pos_inf = false, neg_inf = false, all_zero = true, all_neg = true,
         any_neg = false;
    bool any_snan = false;
    for (const Val& t : terms) {
      const Class c = classify(*t.f, t.code);
      const bool neg = sign_of(*t.f, t.code);
      any_nan |= c == Class::nan;
      any_snan |= is_signaling_nan(*t.f, t.code);
      pos_inf |= c == Class::infinite && !neg;
      neg_inf |= c == Class::infinite && neg;
      all_zero &= c == Class::zero;
      all_neg &= neg;
      any_neg |= neg;
    }
    if (trace_)
      log(fmt::format("multiterm group {}: accumulator {} and products {}", group,
                      value_text(*s.f, s.code),
                      m_.interleave ? fmt::format("{}", fmt::join(members, ","))
                                    : fmt::format("{}..{}", g0, g1 - 1)));
    if (any_nan || pos_inf || neg_inf) {
      Flags f = 0;
      std::uint64_t code;
      if (any_snan) f |= kInvalid;
      if (any_nan || (pos_inf && neg_inf)) {
        if (!any_nan) f |= kInvalid;
        code = nan_code(m_.acc, true);
      } else if (m_.acc.has_inf()) {
        code = inf_code(m_.acc, neg_inf);
      } else if (m_.acc.has_nan()) {
        code = nan_code(m_.acc, true);
        f |= kInvalid;
      } else {
        code = max_finite_code_signed(m_.acc, neg_inf);
        f |= kInvalid;
      }
      note_flags(f);
      s = Val{&m_.acc, code};
      if (trace_)
        log(fmt::format("  specials: result {}  flags {}", describe(m_.acc, code),
                        flags_to_string(f)));
      ++group;
      continue;
    }
    // align every term to the largest exponent (a raw product's exponent field with
    // align=field, else the leading bit), truncate to align_bits below it
    std::int64_t emax = INT64_MIN;
    for (const Val& t : terms) {
      const Decoded d = decode(*t.f, t.code);
      if (d.sig)
        emax = std::max<std::int64_t>(
            emax, t.field != Val::kNoField ? t.field : d.exp + 63 - std::countl_zero(d.sig));
    }
    Flags f = 0;
    std::uint64_t code;
    if (emax == INT64_MIN) {  // every term is zero
      const bool neg = all_neg || (m_.acc_round.mode == RoundingMode::rdn && any_neg);
      code = zero_code(m_.acc, neg);
    } else {
      const std::int64_t L = emax - m_.align_bits;  // weight of the last kept bit
      if (trace_)
        log(
            fmt::format("  alignment reference 2^{} (the largest {}), {} bits kept below it: "
                        "terms truncated to multiples of 2^{}",
                        emax,
                        m_.align_ref == AlignRef::exponent_field
                            ? "exponent field: ea+eb of a product, leading bit of the accumulator"
                            : "leading bit",
                        m_.align_bits, L));
      i128 total = 0;
      bool lost = false;
      for (std::size_t i = 0; i < terms.size(); ++i) {
        const Decoded d = decode(*terms[i].f, terms[i].code);
        const u128 mag = d.sig;
        u128 kept;
        bool truncated = false;
        if (mag == 0) {
          kept = 0;  // a zero term (its exponent field means nothing)
        } else if (d.exp >= L) {
          kept = mag << (d.exp - L);  // d.exp - L <= align_bits: the largest term sets L
        } else {
          const std::int64_t sh = L - d.exp;
          kept = sh >= 128 ? 0 : mag >> sh;
          truncated = (sh >= 128 ? u128{0} : kept << sh) != mag;
        }
        lost |= truncated;
        if (i > 0 && d.sig != 0 && kept == 0) ++counts_.swamped;
        if (trace_ && d.sig != 0)
          log(fmt::format("  term {}: {} aligned to 2^{} -> {} units{}",
                          i == 0 ? std::string("acc") : fmt::format("p{}", members[i - 1]),
                          dyadic_text(dyadic_of(*terms[i].f, terms[i].code)), L,
                          static_cast<std::uint64_t>(kept),
                          truncated ? " (truncated: bits shifted out)" : ""));
        total += d.sign ? -static_cast<i128>(kept) : static_cast<i128>(kept);
      }
      const bool neg = total < 0;
      const u128 mag = neg ? static_cast<u128>(-total) : static_cast<u128>(total);
      if (mag >> (m_.align_bits + 1 + m_.carry_bits)) ++counts_.carry_overflow;
      const std::uint32_t random = rnd(RandomSite::acc, group, m_.acc_round);
      if (mag == 0) {
        code = zero_code(m_.acc, m_.acc_round.mode == RoundingMode::rdn);
      } else {
        const Rounded r = round_pack(m_.acc, Unrounded{neg, L, mag, false}, m_.acc_round, random);
        code = r.code;
        f = r.flags;
      }
      if (lost) f |= kInexact;
      if (trace_) {
        Dyadic sumd;
        sumd.m = static_cast<long long>(0);
        {
          mp::cpp_int mm = 0;
          mm = static_cast<std::uint64_t>(mag >> 64);
          mm <<= 64;
          mm += static_cast<std::uint64_t>(mag);
          sumd.m = neg ? mp::cpp_int(-mm) : mm;
          sumd.e = L;
        }
        log(fmt::format("  aligned sum = {}", dyadic_text(sumd)));
        log(fmt::format("  into {} ({}): {}", m_.acc.name, to_string(m_.acc_round),
                        cut_text(m_.acc, sumd)));
        if (m_.acc_round.mode == RoundingMode::sr)
          log(fmt::format("  random bits ({} of them) = {:#x}", m_.acc_round.sr_bits, random));
      }
    }
    note_flags(f);
    s = Val{&m_.acc, code};
    if (trace_)
      log(fmt::format("  result {}  flags {}", describe(m_.acc, code), flags_to_string(f)));
    ++group;
  }
  return s;
}

Val Dot::pairwise(std::span<const Val> p) {
  std::vector<Val> level(p.begin(), p.end());
  while (level.size() > 1) {
    std::vector<Val> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2)
      next.push_back(sum(level[i], level[i + 1], m_.acc, m_.acc_round, RandomSite::acc,
                         pair_step_++, "pairwise"));
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  return level[0];
}

Val Dot::kulisch(std::span<const Val> p, std::optional<Val> c) {
  std::vector<Val> all(p.begin(), p.end());
  if (c) all.push_back(*c);
  bool any_nan = false, pos_inf = false, neg_inf = false, all_zero = true, all_neg = true,
       any_neg = false;
  Dyadic total;
  bool any_snan = false;
  for (const Val& t : all) {
    const Class cl = classify(*t.f, t.code);
    const bool neg = sign_of(*t.f, t.code);
    any_nan |= cl == Class::nan;
    any_snan |= is_signaling_nan(*t.f, t.code);
    pos_inf |= cl == Class::infinite && !neg;
    neg_inf |= cl == Class::infinite && neg;
    all_zero &= cl == Class::zero;
    all_neg &= neg;
    any_neg |= neg;
    if (cl != Class::nan && cl != Class::infinite) total = add(total, dyadic_of(*t.f, t.code));
  }
  Flags f = any_snan ? kInvalid : 0;
  std::uint64_t code;
  if (any_nan || (pos_inf && neg_inf)) {
    if (!any_nan) f |= kInvalid;
    code = nan_code(m_.acc, true);
  } else if (pos_inf || neg_inf) {
    if (m_.acc.has_inf()) {
      code = inf_code(m_.acc, neg_inf);
    } else {
      f |= kInvalid;
      code = m_.acc.has_nan() ? nan_code(m_.acc, true) : max_finite_code_signed(m_.acc, neg_inf);
    }
  } else if (total.m == 0) {
    const bool neg = (all_zero && all_neg && !all.empty()) ||
                     (m_.acc_round.mode == RoundingMode::rdn && any_neg);
    code = zero_code(m_.acc, neg);
  } else {
    const bool neg = total.m < 0;
    mp::cpp_int a = neg ? mp::cpp_int(-total.m) : total.m;
    std::int64_t e = total.e;
    bool sticky = false;
    const auto bits = static_cast<std::int64_t>(mp::msb(a)) + 1;
    if (bits > 120) {
      const auto sh = static_cast<unsigned>(bits - 120);
      sticky = (a & ((mp::cpp_int(1) << sh) - 1)) != 0;
      a >>= sh;
      e += sh;
    }
    const u128 sig = (static_cast<u128>(static_cast<std::uint64_t>(a >> 64)) << 64) |
                     static_cast<std::uint64_t>(a & 0xffffffffffffffffull);
    const Rounded r = round_pack(m_.acc, Unrounded{neg, e, sig, sticky}, m_.acc_round,
                                 rnd(RandomSite::acc, 0, m_.acc_round));
    code = r.code;
    f = r.flags;
    if (trace_) {
      log(fmt::format("exact (Kulisch) sum of {} terms = {}", all.size(), dyadic_text(total)));
      log(fmt::format("  into {} ({}): {}", m_.acc.name, to_string(m_.acc_round),
                      cut_text(m_.acc, total)));
    }
  }
  note_flags(f);
  if (trace_) log(fmt::format("  result {}  flags {}", describe(m_.acc, code), flags_to_string(f)));
  return Val{&m_.acc, code};
}

MacResult Dot::run(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b,
                   std::optional<std::uint64_t> c) {
  if (a.size() != b.size())
    throw std::invalid_argument(
        fmt::format("mac: a has {} elements but b has {}", a.size(), b.size()));
  const Format& cfmt = m_.c ? *m_.c : m_.acc;
  std::vector<Val> p;
  p.reserve(a.size());
  for (std::size_t k = 0; k < a.size(); ++k)
    p.push_back(product(k, input(m_.a, a[k]), input(m_.b, b[k])));
  std::optional<Val> cv;
  if (c) cv = Val{&cfmt, *c};
  if (trace_ && cv) log(fmt::format("initial value C = {}", describe(cfmt, *c)));

  Val result{&m_.acc, zero_code(m_.acc, false)};
  const std::span<const Val> ps(p);
  if (m_.chunk > 0) {
    Val outer = cv ? *cv : Val{&m_.outer, zero_code(m_.outer, false)};
    std::uint64_t step = 0, group = 0, j = 0;
    const auto n = static_cast<std::size_t>(m_.chunk);
    for (std::size_t k0 = 0; k0 < p.size(); k0 += n, ++j) {
      const auto chunk = ps.subspan(k0, std::min(n, p.size() - k0));
      const Val zero{&m_.acc, zero_code(m_.acc, false)};
      if (trace_) log(fmt::format("chunk {}: products {}..{}", j, k0, k0 + chunk.size() - 1));
      const Val t = m_.structure == Structure::multiterm ? multiterm(chunk, zero, group)
                                                         : sequential(chunk, zero, step);
      step += chunk.size();
      outer = sum(t, outer, m_.outer, m_.outer_round, RandomSite::outer, j, "outer");
    }
    // no products: the outer accumulator is C (rounded into outer) or +0
    if (p.empty() && cv) {
      const Rounded r =
          convert(cfmt, *c, m_.outer, m_.outer_round, rnd(RandomSite::outer, 0, m_.outer_round));
      note_flags(r.flags);
      outer = Val{&m_.outer, r.code};
    }
    result = outer;
  } else {
    const Val start = cv ? *cv : Val{&m_.acc, zero_code(m_.acc, false)};
    // Whether the result came out of a rounding into the accumulator; if not (no
    // products, C alone, a single pairwise leaf) it is converted into it at step K.
    bool rounded = !p.empty();
    switch (m_.structure) {
      case Structure::sequential:
        result = sequential(ps, start, 0);
        break;
      case Structure::multiterm: {
        std::uint64_t group = 0;
        result = multiterm(ps, start, group);
        break;
      }
      case Structure::pairwise: {
        if (p.empty()) {
          result = start;
        } else {
          Val t = pairwise(ps);
          rounded = p.size() >= 2;
          if (cv) {
            t = sum(t, *cv, m_.acc, m_.acc_round, RandomSite::acc, pair_step_++, "pairwise + C");
            rounded = true;
          }
          result = t;
        }
        break;
      }
      case Structure::exact:
        result = kulisch(ps, cv);
        rounded = true;
        break;
    }
    if (!rounded) {
      const Rounded r = convert(*result.f, result.code, m_.acc, m_.acc_round,
                                rnd(RandomSite::acc, p.size(), m_.acc_round));
      note_flags(r.flags);
      if (trace_)
        log(fmt::format("convert into the accumulator: {}  flags {}", describe(m_.acc, r.code),
                        flags_to_string(r.flags)));
      result = Val{&m_.acc, r.code};
    }
  }
  if (m_.out) {
    const Rounded r = convert(*result.f, result.code, *m_.out, m_.out_round,
                              rnd(RandomSite::out, 0, m_.out_round));
    note_flags(r.flags);
    if (trace_)
      log(fmt::format("output conversion {} -> {} ({}): {}  flags {}", result.f->name, m_.out->name,
                      to_string(m_.out_round), describe(*m_.out, r.code),
                      flags_to_string(r.flags)));
    result = Val{&*m_.out, r.code};
  }
  // Every NaN a MAC produces is one NaN: the format's default NaN (negative quiet NaN, as
  // x86), or with nan=canonical NVIDIA's canonical NaN.
  if (classify(*result.f, result.code) == Class::nan) result.code = result_nan_code(m_);
  MacResult out;
  out.code = result.code;
  out.flags = flags_;
  out.counts = counts_;
  return out;
}

}  // namespace

void validate(const MacConfig& m) {
  for (const Format* f : {&m.a, &m.b}) validate(*f);
  const int sig_bits = (m.a.man_bits + 1) + (m.b.man_bits + 1);
  if (sig_bits > 53)
    throw std::invalid_argument(fmt::format(
        "mac: products of {} x {} have {} significand bits; fp8sim keeps products exact in "
        "binary64, so at most 53 are allowed (inputs up to fp32 x fp32)",
        m.a.name, m.b.name, sig_bits));
  const auto lo = static_cast<long>(m.a.emin() - m.a.man_bits) + (m.b.emin() - m.b.man_bits);
  const auto hi = static_cast<long>(m.a.emax()) + m.b.emax() + 1;
  if (lo < -1074 || hi > 1023)
    throw std::invalid_argument(
        fmt::format("mac: products of {} x {} span 2^{}..2^{}, outside binary64's exact range",
                    m.a.name, m.b.name, lo, hi));
  for (const RoundSpec* r : {&m.product_round, &m.acc_round, &m.outer_round, &m.out_round})
    validate(*r);
  if (m.structure == Structure::multiterm && (m.terms < 1 || m.align_bits < 0 || m.align_bits > 60))
    throw std::invalid_argument("mac: multiterm needs terms >= 1 and align_bits 0..60");
}

std::uint64_t result_nan_code(const MacConfig& m) {
  const Format& f = result_format(m);
  if (m.canonical_nan) {
    const std::uint64_t all_ones = f.code_mask() & ~f.sign_mask();
    if (classify(f, all_ones) == Class::nan) return all_ones;
  }
  return nan_code(f, true);
}

const Format& result_format(const MacConfig& m) {
  if (m.out) return *m.out;
  if (m.chunk > 0) return m.outer;
  return m.acc;
}

MacResult mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                  std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                  std::uint64_t seed, std::uint64_t output, std::vector<std::string>* trace) {
  Dot dot(m, seed, output, trace);
  return dot.run(a, b, c);
}

MacResult mac_dot(const MacConfig& m, std::span<const std::uint64_t> a,
                  std::span<const std::uint64_t> b, std::optional<std::uint64_t> c,
                  const MacRandomSource& random, std::vector<std::string>* trace) {
  Dot dot(m, 0, 0, trace, random ? &random : nullptr);
  return dot.run(a, b, c);
}

}  // namespace fp8sim
