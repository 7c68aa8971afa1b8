// sim/vectors/evaluate.cpp — the result of one case by the golden model and by the reference
// model, each fed the case's own random bits.
#include <array>

#include <fmt/format.h>

#include "rounding/round_pack.hpp"
#include "sim/golden/golden.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"
#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

const Format& fp64() {
  static const Format f = *find_preset("fp64");
  return f;
}

// The random bits of a case, looked up by (site, step) as the models ask for them. A step
// the case has no bits for (a hypothesis of another structure) gets 0.
class CaseRandom {
 public:
  CaseRandom(const Spec& s, const Case& c) : values_(c.random) {
    const std::vector<RandomStep> steps = random_steps(s);
    if (steps.size() != c.random.size())
      throw std::invalid_argument(fmt::format("a case of {} needs {} random values, it has {}",
                                              to_string(s.kind), steps.size(), c.random.size()));
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto& site = sites_[static_cast<std::size_t>(steps[i].site)];
      if (site.count == 0) site.first = i;
      ++site.count;
    }
  }
  std::uint32_t operator()(RandomSite site, std::uint64_t step, int r) const {
    const auto& st = sites_[static_cast<std::size_t>(site)];
    if (step >= st.count) return 0;
    const std::size_t i = st.first + step;
    const std::uint32_t mask = r >= 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << r) - 1;
    return values_[i] & mask;
  }

 private:
  struct Site {
    std::size_t first = 0;
    std::uint64_t count = 0;
  };
  std::array<Site, 5> sites_{};
  std::span<const std::uint32_t> values_;
};

void check_shape(const Spec& s, const Case& c) {
  const std::size_t want = s.kind == Kind::dot ? static_cast<std::size_t>(s.terms) : 1;
  if (c.a.size() != want || (s.kind != Kind::quantize && c.b.size() != want))
    throw std::invalid_argument(fmt::format("a case of {} needs {} values of a and b, it has {}",
                                            to_string(s.kind), want, c.a.size()));
}

// A result of `from` given back as a code of `to` (equal layouts: the same code; else
// converted, exactly for every value a hypothesis can give).
std::uint64_t as_code_of(const Format& from, std::uint64_t code, const Format& to,
                         std::optional<std::uint64_t> nan) {
  if (from.exp_bits == to.exp_bits && from.man_bits == to.man_bits && from.bias == to.bias &&
      from.specials == to.specials && from.is_signed == to.is_signed &&
      from.has_zero == to.has_zero)
    return code;
  if (nan && classify(from, code) == Class::nan) return *nan;
  return convert(from, code, to, RoundSpec{}).code;
}

Outcome run_mac(const MacConfig& m, const Case& c, const CaseRandom& random) {
  const MacRandomSource source = [&random](RandomSite site, std::uint64_t step, int r) {
    return random(site, step, r);
  };
  const MacResult r = mac_dot(m, c.a, c.b, c.c, source);
  return {r.code, r.flags};
}

// The r-bit random integer of a quantize case.
std::uint32_t quantize_bits(const Spec& s, const Case& c) {
  if (c.random.empty() || s.round.mode != RoundingMode::sr) return 0;
  const int r = s.round.sr_bits;
  return r >= 32 ? c.random[0] : c.random[0] & ((std::uint32_t{1} << r) - 1);
}

}  // namespace

Outcome golden_outcome(const Spec& s, const Case& c, const RoundingObserver* observe) {
  check_shape(s, c);
  const CaseRandom random(s, c);
  if (s.kind == Kind::quantize) {
    const std::uint32_t bits = quantize_bits(s, c);
    const golden::Result g = golden::convert(fp64(), c.a[0], s.format, s.round, bits);
    if (observe != nullptr && *observe) {
      golden::RoundingEvent e;
      e.site = RandomSite::out;
      e.to = &s.format;
      e.round = s.round;
      const Class k = classify(fp64(), c.a[0]);
      if (k == Class::nan) {
        e.exact.kind = golden::ExactValue::Kind::nan;
      } else if (k == Class::infinite) {
        e.exact.kind = golden::ExactValue::Kind::inf;
        e.exact.neg = sign_of(fp64(), c.a[0]);
      } else {
        const Decoded d = decode(fp64(), c.a[0]);
        e.exact.neg = d.sign;
        e.exact.mag = d.sig;
        e.exact.exp = d.exp;
      }
      e.code = g.code;
      e.flags = g.flags;
      (*observe)(e);
    }
    return {g.code, g.flags};
  }
  golden::MacHooks hooks;
  hooks.random = [&random](RandomSite site, std::uint64_t step, int r) {
    return random(site, step, r);
  };
  if (observe != nullptr) hooks.observe = *observe;
  if (s.kind == Kind::mac_step) {
    const MacConfig m = step_config(s.mac);
    const golden::MacOutcome g = golden::mac_dot(m, c.a, c.b, c.c, 0, 0, hooks);
    return {g.code, g.flags};
  }
  const golden::MacOutcome g = golden::mac_dot(s.mac, c.a, c.b, c.c, 0, 0, hooks);
  return {g.code, g.flags};
}

Outcome reference_outcome(const Spec& s, const Case& c) {
  if (s.kind == Kind::quantize) return reference_outcome_as(s, s.format, s.round, c);
  return reference_outcome_as(s, s.kind == Kind::mac_step ? step_config(s.mac) : s.mac, c);
}

Outcome reference_outcome_as(const Spec& s, const MacConfig& evaluated, const Case& c) {
  check_shape(s, c);
  const CaseRandom random(s, c);
  const Outcome r = run_mac(evaluated, c, random);
  const Format& want = result_format(s);
  const MacConfig base = s.kind == Kind::mac_step ? step_config(s.mac) : s.mac;
  return {as_code_of(fp8sim::result_format(evaluated), r.code, want, result_nan_code(base)),
          r.flags};
}

Outcome reference_outcome_as(const Spec& s, const Format& format, const RoundSpec& round,
                             const Case& c) {
  check_shape(s, c);
  const Rounded r = convert(fp64(), c.a[0], format, round, quantize_bits(s, c));
  return {as_code_of(format, r.code, s.format, std::nullopt), r.flags};
}

}  // namespace fp8sim::vectors
