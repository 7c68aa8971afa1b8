// tests/exhaustive/test_fp32_midpoints.cpp — fp32 inputs where rounding decides: for each
// target (every preset of at most 8 bits, their -sat variants, fp16, bf16), every
// representable value, every exact midpoint between neighbouring values (including 0 and
// the smallest value, and max finite and the next value the format would have with an
// unbounded exponent: the overflow threshold), each also one fp32 ulp below and above, both
// signs, plus +-0, +-Inf and NaNs. Every mode (rne rna rtz rup rdn rto, sr with r = 1, 8, 13
// fed random_bits(key, input index, r)), tininess after/before, ftz off/on:
// fp8sim::convert (from fp32 codes) and fp8sim::from_float must equal the golden model.
// Slow suite: the -nosub variants and tf32.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
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

/// Adds f, its fp32 neighbours and their negations (only if f is an exact float).
void add_point(double v, std::vector<std::uint32_t>& out) {
  const auto f = static_cast<float>(v);
  if (static_cast<double>(f) != v || std::isinf(f)) return;
  for (float p : {f, std::nextafter(f, std::numeric_limits<float>::infinity()),
                  std::nextafter(f, -std::numeric_limits<float>::infinity())}) {
    out.push_back(std::bit_cast<std::uint32_t>(p));
    out.push_back(std::bit_cast<std::uint32_t>(-p));
  }
}

/// The fp32 inputs for target `to` (sorted, distinct).
std::vector<std::uint32_t> inputs_for(const Format& to) {
  std::vector<double> values{0.0};  // 0 also for E8M0: the midpoint 0..min is tested
  for (std::uint64_t c = 0; c <= to.code_mask(); ++c) {
    if ((c & to.sign_mask()) != 0) continue;
    const auto cls = fp8sim::classify(to, c);
    if (cls == fp8sim::Class::nan || cls == fp8sim::Class::infinite) continue;
    values.push_back(fp8sim::to_double(to, c));
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  // The value after max finite with an unbounded exponent: max + 2^(emax - man_bits).
  values.push_back(values.back() + std::ldexp(1.0, to.emax() - to.man_bits));
  std::vector<std::uint32_t> in;
  for (std::size_t i = 0; i < values.size(); ++i) {
    add_point(values[i], in);
    if (i + 1 < values.size()) add_point((values[i] + values[i + 1]) / 2, in);  // exact
  }
  const float inf = std::numeric_limits<float>::infinity();
  for (float s :
       {inf, -inf, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
        std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min()})
    in.push_back(std::bit_cast<std::uint32_t>(s));
  for (std::uint32_t nan : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFA00000u, 0x7FFFFFFFu})
    in.push_back(nan);
  std::sort(in.begin(), in.end());
  in.erase(std::unique(in.begin(), in.end()), in.end());
  return in;
}

std::vector<RoundSpec> all_specs() {
  std::vector<RoundSpec> specs;
  auto add = [&](RoundingMode m, int bits) {
    for (Tininess t : {Tininess::after, Tininess::before})
      for (bool ftz : {false, true}) {
        RoundSpec r;
        r.mode = m;
        r.sr_bits = bits;
        r.tininess = t;
        r.ftz = ftz;
        specs.push_back(r);
      }
  };
  for (RoundingMode m : {RoundingMode::rne, RoundingMode::rna, RoundingMode::rtz, RoundingMode::rup,
                         RoundingMode::rdn, RoundingMode::rto})
    add(m, 8);
  for (int bits : {1, 8, 13}) add(RoundingMode::sr, bits);
  return specs;
}

std::string describe(const RoundSpec& r) {
  return fmt::format("{} tininess {}{}", fp8sim::to_string(r),
                     r.tininess == Tininess::after ? "after" : "before", r.ftz ? " ftz" : "");
}

/// fast == golden for every input and spec; one failed CHECK per (spec) with examples.
void check_target(const std::string& name) {
  const Format fp32 = fp8sim::parse_format("fp32");
  const Format to = fp8sim::parse_format(name);
  const std::vector<std::uint32_t> in = inputs_for(to);
  std::vector<fp8sim::golden::Rational> value(in.size());
  std::vector<bool> special(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto cls = fp8sim::classify(fp32, in[i]);
    special[i] = cls == fp8sim::Class::nan || cls == fp8sim::Class::infinite;
    if (!special[i]) value[i] = fp8sim::golden::value_of(fp32, in[i]);
  }
  const fp8sim::RandomKey key{2024, 3};
  std::uint64_t total = 0;
  for (const RoundSpec& r : all_specs()) {
    std::atomic<std::uint64_t> bad{0};
    std::mutex mu;
    std::vector<std::string> report;
    const auto n = static_cast<std::int64_t>(in.size());
#pragma omp parallel for schedule(dynamic, 1024)
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint32_t bits = in[static_cast<std::size_t>(i)];
      const std::uint32_t rnd =
          r.mode == RoundingMode::sr
              ? fp8sim::random_bits(key, static_cast<std::uint64_t>(i), r.sr_bits)
              : 0;
      const bool negative = (bits >> 31) != 0;
      const fp8sim::golden::Result g =
          special[static_cast<std::size_t>(i)]
              ? fp8sim::golden::convert(fp32, bits, to, r, rnd)
              : fp8sim::golden::round_value(to, value[static_cast<std::size_t>(i)], negative, r,
                                            rnd);
      const fp8sim::Rounded q = fp8sim::convert(fp32, bits, to, r, rnd);
      const fp8sim::Rounded h = fp8sim::from_float(std::bit_cast<float>(bits), to, r, rnd);
      if (g.code == q.code && g.flags == q.flags && g.code == h.code && g.flags == h.flags)
        continue;
      if (bad.fetch_add(1) < 4) {
        const std::lock_guard lock(mu);
        report.push_back(
            fmt::format("fp32 0x{:08x} ({:a}) random {}: golden 0x{:x} [{}], convert 0x{:x} [{}], "
                        "from_float 0x{:x} [{}]",
                        bits, static_cast<double>(std::bit_cast<float>(bits)), rnd, g.code,
                        fp8sim::flags_to_string(g.flags), q.code, fp8sim::flags_to_string(q.flags),
                        h.code, fp8sim::flags_to_string(h.flags)));
      }
    }
    total += bad.load();
    if (bad.load() != 0) {
      std::string msg = fmt::format("fp32 -> {} {}: {} of {} inputs wrong", name, describe(r),
                                    bad.load(), in.size());
      for (const auto& line : report) msg += "\n  " + line;
      FAIL_CHECK(msg);
    }
  }
  CHECK(total == 0);
}

}  // namespace

TEST_CASE("golden.fp32_midpoints.narrow_formats") {
  for (const char* name : {"e5m2", "e4m3fn", "e4m3fnuz", "e5m2fnuz", "e4m3b11fnuz", "e4m3", "e3m4",
                           "e3m2", "e2m3", "e2m1", "e8m0"}) {
    INFO(name);
    check_target(name);
    check_target(std::string(name) + "-sat");
  }
}

TEST_CASE("golden.fp32_midpoints.fp16") {
  check_target("fp16");
}

TEST_CASE("golden.fp32_midpoints.bf16") {
  check_target("bf16");
}

TEST_CASE("golden.fp32_midpoints.slow.nosub_variants") {
  for (const char* name : {"e5m2", "e4m3fn", "e4m3fnuz", "e5m2fnuz", "e4m3b11fnuz", "e4m3", "e3m4",
                           "e3m2", "e2m3", "e2m1", "fp16", "bf16"}) {
    INFO(name);
    check_target(std::string(name) + "-nosub");
  }
}

TEST_CASE("golden.fp32_midpoints.slow.tf32") {
  check_target("tf32");
}
