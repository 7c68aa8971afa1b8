// sim/vectors/check.cpp — hardware results against the golden model: each mismatch decoded
// field by field, its distance in ulps, and the hypotheses that reproduce it.
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rounding/round_pack.hpp"
#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

std::string bits_text(const Format& f, std::uint64_t code) {
  const std::string sign = f.is_signed ? fmt::format("{} ", sign_of(f, code) ? 1 : 0) : "";
  const std::string frac =
      f.man_bits ? fmt::format(" {:0{}b}", frac_field(f, code), f.man_bits) : "";
  return fmt::format("{}{:0{}b}{}", sign, exp_field(f, code), f.exp_bits, frac);
}

std::string value_text(const Format& f, std::uint64_t code) {
  switch (classify(f, code)) {
    case Class::nan:
      return sign_of(f, code) ? "-NaN" : "NaN";
    case Class::infinite:
      return sign_of(f, code) ? "-Inf" : "+Inf";
    default:
      return fmt::format("{}", to_double(f, code));
  }
}

std::string hex(const Format& f, std::uint64_t code) {
  return fmt::format("{:0{}X}", code, (f.width() + 3) / 4);
}

std::string flags_text(Flags f) {
  return flags_to_string(f);
}

std::string inputs_text(const Spec& s, const Case& c) {
  auto list = [](const Format& f, const std::vector<std::uint64_t>& v) {
    std::vector<std::string> t;
    for (auto x : v) t.push_back(fmt::format("{}={}", hex(f, x), value_text(f, x)));
    return fmt::format("[{}]", fmt::join(t, " "));
  };
  std::string t;
  switch (s.kind) {
    case Kind::mac_step:
      t = fmt::format("a = {}, b = {}, acc_in = {}", decoded(s.mac.a, c.a[0]),
                      decoded(s.mac.b, c.b[0]), decoded(s.mac.acc, c.c));
      break;
    case Kind::dot:
      t = fmt::format("a = {}, b = {}, c = {}", list(s.mac.a, c.a), list(s.mac.b, c.b),
                      decoded(c_format(s), c.c));
      break;
    case Kind::quantize: {
      static const Format f64 = *find_preset("fp64");
      t = fmt::format("value = {}", decoded(f64, c.a[0]));
      break;
    }
  }
  if (!c.random.empty()) {
    std::vector<std::string> r;
    for (auto x : c.random) r.push_back(fmt::format("{:X}", x));
    t += fmt::format(", random bits = {}",
                     c.random.size() == 1 ? r[0] : fmt::format("[{}]", fmt::join(r, " ")));
  }
  return t;
}

// What differs between two results: sign, exponent, fraction fields and flags.
std::vector<std::string> differences(const Format& f, const Outcome& e, const Outcome& g) {
  std::vector<std::string> d;
  if (sign_of(f, e.code) != sign_of(f, g.code)) d.push_back("sign");
  if (exp_field(f, e.code) != exp_field(f, g.code)) d.push_back("exponent");
  if (frac_field(f, e.code) != frac_field(f, g.code)) d.push_back("fraction");
  if (e.flags != g.flags)
    d.push_back(
        fmt::format("flags (expected {}, got {})", flags_text(e.flags), flags_text(g.flags)));
  return d;
}

}  // namespace

std::string decoded(const Format& f, std::uint64_t code) {
  return fmt::format("{} ({}) = {}", hex(f, code), bits_text(f, code), value_text(f, code));
}

std::optional<std::uint64_t> ulp_distance(const Format& f, std::uint64_t x, std::uint64_t y) {
  auto ordinal = [&f](std::uint64_t c) -> std::optional<i128> {
    const Class k = classify(f, c);
    if (k == Class::nan) return std::nullopt;
    const std::uint64_t mag = k == Class::infinite ? f.max_finite_code() + 1 : (c & ~f.sign_mask());
    const auto v = static_cast<i128>(mag);
    return sign_of(f, c) ? -v : v;
  };
  const auto a = ordinal(x), b = ordinal(y);
  if (!a || !b) return std::nullopt;
  const i128 d = *a > *b ? *a - *b : *b - *a;
  return static_cast<std::uint64_t>(d);
}

CheckResult check(const Spec& s, std::span<const Case> cases,
                  std::span<const std::optional<Outcome>> got, std::span<const std::uint64_t> lines,
                  const CheckOptions& o) {
  CheckResult res;
  const std::vector<Hypothesis> hyps = hypotheses(s);
  std::vector<CauseCount> tally(hyps.size());
  for (std::size_t h = 0; h < hyps.size(); ++h) {
    tally[h].id = hyps[h].id;
    tally[h].description = hyps[h].description;
  }
  // 1. compare every case with the golden model
  std::vector<Outcome> expected(cases.size());
  std::vector<std::size_t> failing;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    expected[i] = golden_outcome(s, cases[i]);
    if (got[i] && *got[i] == expected[i]) {
      ++res.passed;
    } else {
      ++res.failed;
      failing.push_back(i);
    }
  }
  // 2. diagnose the failures; a hypothesis must also agree with the passing cases
  if (!failing.empty()) {
    for (std::size_t i = 0; i < cases.size() && res.consistency_checked < o.consistency_limit;
         ++i) {
      if (!got[i] || !(*got[i] == expected[i])) continue;
      ++res.consistency_checked;
      for (std::size_t h = 0; h < hyps.size(); ++h)
        if (!(run_hypothesis(s, hyps[h], cases[i]) == expected[i])) ++tally[h].contradicted;
    }
  }
  for (std::size_t i : failing) {
    Mismatch mm;
    mm.index = i;
    mm.line = lines[i];
    mm.missing = !got[i];
    mm.expected = expected[i];
    if (got[i]) mm.got = *got[i];
    if (!mm.missing && res.diagnosed < o.diagnose_limit) {
      ++res.diagnosed;
      mm.diagnosed = true;
      for (std::size_t h = 0; h < hyps.size(); ++h) {
        const Outcome r = run_hypothesis(s, hyps[h], cases[i]);
        if (r == mm.got) {
          mm.causes.push_back(hyps[h].id);
          ++tally[h].exact;
        } else if (r.code == mm.got.code && mm.got.code != mm.expected.code) {  // a wrong result
          mm.result_only.push_back(hyps[h].id);
          ++tally[h].result_only;
        }
      }
    }
    if (res.mismatches.size() < o.max_report) res.mismatches.push_back(std::move(mm));
  }
  // 2. causes, most failures reproduced first
  std::map<std::string, std::size_t> rank;
  {
    std::vector<std::size_t> order(hyps.size());
    for (std::size_t h = 0; h < hyps.size(); ++h) order[h] = h;
    auto net = [&](std::size_t h) {
      return static_cast<std::int64_t>(tally[h].exact) -
             static_cast<std::int64_t>(tally[h].contradicted);
    };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      if (net(x) != net(y)) return net(x) > net(y);
      if (tally[x].exact != tally[y].exact) return tally[x].exact > tally[y].exact;
      return tally[x].result_only > tally[y].result_only;
    });
    for (std::size_t r = 0; r < order.size(); ++r) rank[hyps[order[r]].id] = r;
    for (std::size_t h : order)
      if (tally[h].exact + tally[h].result_only > 0) res.causes.push_back(tally[h]);
  }
  std::map<std::string, std::string> words;
  for (const auto& h : hyps) words[h.id] = h.description;
  auto described = [&](std::vector<std::string> ids) {
    std::stable_sort(ids.begin(), ids.end(),
                     [&](const std::string& x, const std::string& y) { return rank[x] < rank[y]; });
    std::vector<std::string> t;
    for (std::size_t k = 0; k < ids.size() && k < 3; ++k)
      t.push_back(fmt::format("{} ({})", ids[k], words[ids[k]]));
    if (ids.size() > 3) {
      std::vector<std::string> rest(ids.begin() + 3, ids.end());
      t.push_back(fmt::format("also {}", fmt::join(rest, ", ")));
    }
    return fmt::format("{}", fmt::join(t, "; "));
  };
  // 3. the report of each mismatch shown
  const Format& rf = result_format(s);
  for (Mismatch& mm : res.mismatches) {
    std::string t =
        fmt::format("case {}{}: {}\n", mm.index, mm.line ? fmt::format(" (line {})", mm.line) : "",
                    inputs_text(s, cases[mm.index]));
    t += fmt::format("  expected {}, flags {}\n", decoded(rf, mm.expected.code),
                     flags_text(mm.expected.flags));
    if (mm.missing) {
      t += "  got      nothing: the results have no line for this case\n";
    } else {
      t += fmt::format("  got      {}, flags {}\n", decoded(rf, mm.got.code),
                       flags_text(mm.got.flags));
      const auto ulps = ulp_distance(rf, mm.expected.code, mm.got.code);
      t += fmt::format("  differs in {}; {}\n",
                       fmt::join(differences(rf, mm.expected, mm.got), ", "),
                       ulps ? fmt::format("{} ulp of {}", *ulps, rf.name)
                            : std::string("a NaN (no distance in ulps)"));
      if (!mm.causes.empty()) {
        t += fmt::format("  likely cause: {}\n", described(mm.causes));
        if (!mm.result_only.empty())
          t += fmt::format("  (the result, not the flags: {})\n", described(mm.result_only));
      } else if (!mm.result_only.empty()) {
        t += fmt::format("  likely cause (the result, not the flags): {}\n",
                         described(mm.result_only));
      } else if (mm.diagnosed) {
        t += "  likely cause: none of the hypotheses reproduces it (docs/vectors.md, "
             "\"Diagnosis\")\n";
      }
    }
    mm.text = std::move(t);
  }
  return res;
}

}  // namespace fp8sim::vectors
