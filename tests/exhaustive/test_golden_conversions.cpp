// tests/exhaustive/test_golden_conversions.cpp — every fp16 and every bf16 encoding converted
// to every preset of at most 8 bits: the fast path (fp8sim::convert) must equal the golden
// model (sim/golden) bit for bit, flags included.
//
// Default suite: the deterministic modes (rne rna rtz rup rdn rto) x tininess after/before x
// ftz off/on, for each target and its -sat and -nonsat variants.
// Slow suite ("slow" in the name): the -nosub variants and stochastic rounding with several
// r, the random bits of input code c being random_bits(key, c, r).
//
// The golden value of each input is computed once (value_of) and rounded with
// golden::round_value, which is what golden::convert does for a finite input; NaN and Inf
// inputs go through golden::convert.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/round_pack.hpp"
#include "sim/golden/golden.hpp"

namespace {

using fp8sim::Format;
using fp8sim::RoundingMode;
using fp8sim::RoundSpec;
using fp8sim::Tininess;

/// Every encoding of a 16-bit format with its exact value.
struct Source {
  Format format;
  std::vector<fp8sim::golden::Rational> value;  ///< exact value (finite encodings)
  std::vector<bool> special;                    ///< NaN or Inf
  std::vector<bool> negative;
};

const Source& source(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, Source> cache;
  const std::lock_guard lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Source s;
  s.format = fp8sim::parse_format(name);
  const std::uint64_t n = s.format.code_mask() + 1;
  s.value.resize(n);
  s.special.resize(n);
  s.negative.resize(n);
  for (std::uint64_t c = 0; c < n; ++c) {
    const auto cls = fp8sim::classify(s.format, c);
    s.special[c] = cls == fp8sim::Class::nan || cls == fp8sim::Class::infinite;
    s.negative[c] = fp8sim::sign_of(s.format, c);
    if (!s.special[c]) s.value[c] = fp8sim::golden::value_of(s.format, c);
  }
  return cache.emplace(name, std::move(s)).first->second;
}

const std::vector<std::string> kTargets = {"e5m2",        "e4m3fn", "e4m3fnuz", "e5m2fnuz",
                                           "e4m3b11fnuz", "e4m3",   "e3m4",     "e3m2",
                                           "e2m3",        "e2m1",   "e8m0"};

const RoundingMode kDeterministic[] = {RoundingMode::rne, RoundingMode::rna, RoundingMode::rtz,
                                       RoundingMode::rup, RoundingMode::rdn, RoundingMode::rto};

std::string describe(const RoundSpec& r) {
  return fmt::format("{} tininess {}{}", fp8sim::to_string(r),
                     r.tininess == Tininess::after ? "after" : "before", r.ftz ? " ftz" : "");
}

/// Converts every encoding of `src` to `to` with both models. Returns the number of
/// mismatches; the first few are described in `report`.
std::uint64_t sweep(const Source& src, const Format& to, const RoundSpec& r,
                    std::vector<std::string>& report) {
  const fp8sim::RandomKey key{0x5EED, 7};
  const auto n = static_cast<std::int64_t>(src.value.size());
  std::atomic<std::uint64_t> bad{0};
  std::mutex mu;
#pragma omp parallel for schedule(dynamic, 2048)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::uint64_t>(i);
    const std::uint32_t rnd =
        r.mode == RoundingMode::sr ? fp8sim::random_bits(key, c, r.sr_bits) : 0;
    const fp8sim::golden::Result g =
        src.special[c] ? fp8sim::golden::convert(src.format, c, to, r, rnd)
                       : fp8sim::golden::round_value(to, src.value[c], src.negative[c], r, rnd);
    const fp8sim::Rounded q = fp8sim::convert(src.format, c, to, r, rnd);
    if (g.code == q.code && g.flags == q.flags) continue;
    if (bad.fetch_add(1) < 4) {
      const std::lock_guard lock(mu);
      report.push_back(fmt::format(
          "{} 0x{:04x} ({:a}) -> {} {} random {}: golden 0x{:x} [{}], fast 0x{:x} [{}]",
          src.format.name, c, fp8sim::to_double(src.format, c), to.name, describe(r), rnd, g.code,
          fp8sim::flags_to_string(g.flags), q.code, fp8sim::flags_to_string(q.flags)));
    }
  }
  return bad.load();
}

/// Runs `sweep` for each target and spec; one CHECK per (target, spec) that fails.
void sweep_all(const std::string& from, const std::vector<std::string>& targets,
               const std::vector<RoundSpec>& specs) {
  const Source& src = source(from);
  std::uint64_t total = 0;
  for (const std::string& name : targets) {
    const Format to = fp8sim::parse_format(name);
    for (const RoundSpec& r : specs) {
      std::vector<std::string> report;
      const std::uint64_t bad = sweep(src, to, r, report);
      total += bad;
      if (bad != 0) {
        std::string msg = fmt::format("{} -> {} {}: {} mismatches", from, name, describe(r), bad);
        for (const auto& line : report) msg += "\n  " + line;
        FAIL_CHECK(msg);
      }
    }
  }
  CHECK(total == 0);
}

std::vector<std::string> with_suffixes(const std::vector<std::string>& suffixes) {
  std::vector<std::string> out;
  for (const auto& t : kTargets)
    for (const auto& s : suffixes) out.push_back(t + s);
  return out;
}

std::vector<RoundSpec> deterministic_specs() {
  std::vector<RoundSpec> specs;
  for (RoundingMode m : kDeterministic)
    for (Tininess t : {Tininess::after, Tininess::before})
      for (bool ftz : {false, true}) {
        RoundSpec r;
        r.mode = m;
        r.tininess = t;
        r.ftz = ftz;
        specs.push_back(r);
      }
  return specs;
}

std::vector<RoundSpec> sr_specs() {
  std::vector<RoundSpec> specs;
  for (int bits : {1, 3, 8, 13, 32})
    for (Tininess t : {Tininess::after, Tininess::before}) {
      RoundSpec r;
      r.mode = RoundingMode::sr;
      r.sr_bits = bits;
      r.tininess = t;
      specs.push_back(r);
    }
  return specs;
}

std::vector<RoundSpec> all_specs() {
  std::vector<RoundSpec> specs = deterministic_specs();
  for (const RoundSpec& r : sr_specs()) specs.push_back(r);
  return specs;
}

}  // namespace

TEST_CASE("golden.conversions.fp16_to_narrow_formats") {
  sweep_all("fp16", with_suffixes({"", "-sat", "-nonsat"}), deterministic_specs());
}

TEST_CASE("golden.conversions.bf16_to_narrow_formats") {
  sweep_all("bf16", with_suffixes({"", "-sat", "-nonsat"}), deterministic_specs());
}

TEST_CASE("golden.conversions.fp16_bf16_to_each_other") {
  sweep_all("fp16", {"bf16", "bf16-sat", "bf16-nosub"}, deterministic_specs());
  sweep_all("bf16", {"fp16", "fp16-sat", "fp16-nonsat", "fp16-nosub"}, deterministic_specs());
}

TEST_CASE("golden.conversions.slow.nosub_variants") {
  for (const char* from : {"fp16", "bf16"})
    sweep_all(from, with_suffixes({"-nosub", "-nosub-sat"}), deterministic_specs());
}

TEST_CASE("golden.conversions.slow.stochastic_rounding") {
  for (const char* from : {"fp16", "bf16"}) {
    sweep_all(from, with_suffixes({"", "-sat", "-nosub"}), sr_specs());
  }
}

TEST_CASE("golden.conversions.slow.custom_formats") {
  // Corners the presets do not reach: 1- and 2-bit exponents, odd biases, subnormals off,
  // wide exponents.
  const std::vector<std::string> targets = {
      "e5m1",     "e5m1-nosub",   "e3m1fnuz",   "e6m3b20", "e4m3b2",
      "e4m3b0fn", "e2m2",         "e2m2-nosub", "e1m2fn",  "e1m3fnuz",
      "e1m5fn",   "e3m2fn-nosub", "e8m7b100",   "e6m9",    "e5m10b20-nonsat"};
  for (const char* from : {"fp16", "bf16"}) sweep_all(from, targets, all_specs());
}

TEST_CASE("golden.conversions.slow.no_mantissa_formats") {
  // man_bits = 0 with a zero: every significand is 1, so "even" and "odd" can only mean the
  // encoding (the exponent field), also in the rounding with unbounded exponent that decides
  // tininess after rounding (see sim/golden/golden_convert.cpp and test_golden.cpp
  // "golden.no_mantissa.*").
  const std::vector<std::string> targets = {"e4m0fn", "e4m0fnuz", "e2m0fn", "e5m0fn-nosub",
                                            "e3m0fnuz-sat"};
  for (const char* from : {"fp16", "bf16"}) sweep_all(from, targets, all_specs());
}
