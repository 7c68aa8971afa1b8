// tests/statistical/test_stochastic.cpp — stochastic rounding (SR) with r random bits:
//  * bit-exact: the fast path equals the golden model fed the same random bits;
//  * unbiased: inputs 1/4, 1/2, 3/4 of the way between neighbours round up with probability
//    floor(f * 2^r) / 2^r (= f once 2^r resolves f), checked within a binomial 5-sigma bound,
//    and the mean rounding error of random inputs is zero within 5 sigma;
//  * reproducible: a seed gives the same codes, another seed other codes;
//  * independent of thread count, of how an array is split over calls (first_index) and of
//    the SIMD kernel: fp8sim::quantize gives identical codes and counters.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/quantize.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/round_pack.hpp"
#include "sim/golden/golden.hpp"

namespace {

using fp8sim::Format;
using fp8sim::RoundingMode;
using fp8sim::RoundSpec;

RoundSpec sr(int bits, fp8sim::Tininess t = fp8sim::Tininess::after) {
  RoundSpec r;
  r.mode = RoundingMode::sr;
  r.sr_bits = bits;
  r.tininess = t;
  return r;
}

constexpr int kBits[] = {1, 2, 8, 13, 32};

/// Random fp32 inputs for `to`: half arbitrary bit patterns (NaN, Inf, huge, tiny), half
/// values whose exponent lies in or just around the target's range.
std::vector<std::uint32_t> random_inputs(const Format& to, std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<std::uint32_t> out;
  const int lo = std::max(-149, to.emin() - to.man_bits - 3);
  const int hi = std::min(127, to.emax() + 2);
  std::uniform_int_distribution<int> exp(lo, hi);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t bits = static_cast<std::uint32_t>(gen());
    if (i % 2 == 0) {
      out.push_back(bits);
    } else {
      const float mant = 1.0f + static_cast<float>(bits & 0x7FFFFF) * 0x1p-23f;
      float v = std::ldexp(mant, exp(gen));
      if ((bits >> 31) != 0) v = -v;
      out.push_back(std::bit_cast<std::uint32_t>(v));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("stochastic.sr.fast_equals_golden") {
  const Format fp32 = fp8sim::parse_format("fp32");
  const fp8sim::RandomKey key{12345, 9};
  for (const char* name : {"e5m2", "e4m3fn", "e4m3fnuz", "e5m2fnuz", "e3m2", "e2m1", "e8m0", "fp16",
                           "bf16", "e4m3fn-sat", "e5m2-nosub"}) {
    const Format to = fp8sim::parse_format(name);
    const std::vector<std::uint32_t> in = random_inputs(to, 3000, 77);
    for (int bits : kBits) {
      for (auto t : {fp8sim::Tininess::after, fp8sim::Tininess::before}) {
        const RoundSpec r = sr(bits, t);
        std::uint64_t bad = 0;
        std::string first;
        for (std::size_t i = 0; i < in.size(); ++i) {
          const std::uint32_t rnd = fp8sim::random_bits(key, i, bits);
          const auto g = fp8sim::golden::convert(fp32, in[i], to, r, rnd);
          const auto q = fp8sim::convert(fp32, in[i], to, r, rnd);
          const auto h = fp8sim::from_float(std::bit_cast<float>(in[i]), to, r, rnd);
          if (g.code == q.code && g.flags == q.flags && g.code == h.code && g.flags == h.flags)
            continue;
          if (bad++ == 0)
            first = fmt::format(
                "fp32 0x{:08x} random {:#x}: golden 0x{:x} [{}], convert 0x{:x} [{}], "
                "from_float 0x{:x} [{}]",
                in[i], rnd, g.code, fp8sim::flags_to_string(g.flags), q.code,
                fp8sim::flags_to_string(q.flags), h.code, fp8sim::flags_to_string(h.flags));
        }
        CHECK_MESSAGE(
            bad == 0,
            fmt::format("{} {} tininess {}: {} wrong, first {}", name, fp8sim::to_string(r),
                        t == fp8sim::Tininess::after ? "after" : "before", bad, first));
      }
    }
  }
}

TEST_CASE("stochastic.sr.round_up_frequency_is_unbiased") {
  // (format, lo, hi): two neighbours. Inputs lo + f (hi - lo) for f = 1/4, 1/2, 3/4.
  struct Place {
    const char* format;
    double lo, hi;
  };
  const Place places[] = {
      {"e5m2", 1.0, 1.25},           // normal
      {"e5m2", -1.0, -1.25},         // negative: "up" is away from zero
      {"e5m2", 0x1p-16, 0x2p-16},    // subnormal
      {"e5m2", 0.0, 0x1p-16},        // between zero and the smallest subnormal
      {"e5m2-nosub", 0.0, 0x1p-14},  // the gap of a format without subnormals
      {"e4m3fn", 416, 448},          // just below max finite
      {"e2m1", 4, 6},                // FP4, quantum 2
      {"bf16", 3.0, 3.0 + 0x1p-6},   // 16 bits
      {"e8m0", 0x1p10, 0x1p11},      // power-of-two scale
  };
  const fp8sim::RandomKey key{99, 1};
  constexpr std::uint64_t kN = 40000;
  for (const Place& p : places) {
    const Format f = fp8sim::parse_format(p.format);
    const auto lo_code = fp8sim::from_double(p.lo, f, {}).code;
    const auto hi_code = fp8sim::from_double(p.hi, f, {}).code;
    for (double frac : {0.25, 0.5, 0.75}) {
      const double x = p.lo + frac * (p.hi - p.lo);  // exact
      for (int bits : kBits) {
        // P(up) = floor(frac * 2^r) / 2^r: with r = 1 a quarter rounds up with probability 0.
        const double prob = std::floor(std::ldexp(frac, bits)) / std::ldexp(1.0, bits);
        std::uint64_t ups = 0, other = 0;
        double err_sum = 0;
        for (std::uint64_t i = 0; i < kN; ++i) {
          const auto q = fp8sim::from_double(x, f, sr(bits), fp8sim::random_bits(key, i, bits));
          if (q.code == hi_code) {
            ++ups;
          } else if (q.code != lo_code) {
            ++other;
          }
          err_sum += fp8sim::to_double(f, q.code) - x;
        }
        INFO(fmt::format("{} between {} and {}, x = {}, sr:{}: {} of {} up, expected p = {}",
                         p.format, p.lo, p.hi, x, bits, ups, kN, prob));
        CHECK(other == 0);
        const double mean = static_cast<double>(kN) * prob;
        const double sigma = std::sqrt(static_cast<double>(kN) * prob * (1 - prob));
        CHECK(std::abs(static_cast<double>(ups) - mean) <= 5 * sigma);
        // Expected value: E[rounded] = lo + prob (hi - lo), which is x itself once
        // frac * 2^r is an integer (r >= 2 here).
        const double q = std::abs(p.hi - p.lo);
        const double err_mean = err_sum / static_cast<double>(kN);
        const double expected_err = (prob - frac) * (p.hi - p.lo);
        CHECK(std::abs(err_mean - expected_err) <=
              5 * q * std::sqrt(prob * (1 - prob) / static_cast<double>(kN)) + 1e-12 * q);
        if (bits >= 2) CHECK(expected_err == 0);
      }
    }
  }
}

TEST_CASE("stochastic.sr.mean_error_of_random_inputs_is_zero") {
  // Random inputs in [1, 2^4) of e5m2 (no overflow, no underflow), sr:32: the rounding
  // errors are independent with mean 0; their sum is within 5 sigma of 0.
  const Format f = fp8sim::parse_format("e5m2");
  const fp8sim::RandomKey key{7, 7};
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> dist(1.0, 16.0);
  double sum = 0, var = 0;
  for (std::uint64_t i = 0; i < 200000; ++i) {
    const double x = dist(gen);
    const auto q = fp8sim::from_double(x, f, sr(32), fp8sim::random_bits(key, i, 32));
    const double y = fp8sim::to_double(f, q.code);
    const double quantum = std::ldexp(1.0, std::ilogb(x) - f.man_bits);
    const double frac = (x - std::floor(x / quantum) * quantum) / quantum;
    sum += y - x;
    var += quantum * quantum * frac * (1 - frac);
  }
  INFO(fmt::format("sum of errors {}, sigma {}", sum, std::sqrt(var)));
  CHECK(std::abs(sum) <= 5 * std::sqrt(var));
}

namespace {

std::vector<float> quantize_inputs(std::size_t n) {
  std::mt19937 gen(2718);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> scale(-30, 20);
  std::vector<float> in(n);
  for (std::size_t i = 0; i < n; ++i) in[i] = std::ldexp(normal(gen), scale(gen));
  // a few specials and exact values
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f, -0.0f, inf,   -inf,   std::numeric_limits<float>::quiet_NaN(),
                            1.0f, -1.5f, 1e30f, -1e30f, 1e-30f};
  for (std::size_t i = 0; i < std::size(specials); ++i) in[i * 97] = specials[i];
  return in;
}

struct Run {
  std::vector<std::uint16_t> codes;
  fp8sim::QuantizeCounters counters;
};

/// Quantizes `in` in pieces cut at `cuts` (each piece with first_index = its offset plus
/// `base`), merging the counters.
Run quantize_split(const Format& f, const std::vector<float>& in, fp8sim::QuantizeOptions opt,
                   const std::vector<std::size_t>& cuts) {
  Run run;
  run.codes.assign(in.size(), 0xDEAD);
  const std::uint64_t base = opt.first_index;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(in.size());
  for (std::size_t end : ends) {
    opt.first_index = base + start;
    const auto c = fp8sim::quantize<float, std::uint16_t>(
        f, std::span<const float>(in).subspan(start, end - start), opt,
        std::span<std::uint16_t>(run.codes).subspan(start, end - start));
    run.counters.merge(c);
    start = end;
  }
  return run;
}

/// The integer counters (the floating-point sums may differ in the last bits with the
/// summation order).
std::string integer_counters(const fp8sim::QuantizeCounters& c) {
  return fmt::format(
      "count {} exact {} zeros_in {} underflow_to_zero {} subnormal_out {} overflow {} "
      "saturated {} nan_in {} inf_in {} nan_out {} inf_out {} error_count {}",
      c.count, c.exact, c.zeros_in, c.underflow_to_zero, c.subnormal_out, c.overflow, c.saturated,
      c.nan_in, c.inf_in, c.nan_out, c.inf_out, c.error_count);
}

}  // namespace

TEST_CASE("stochastic.quantize.reproducible_for_a_seed") {
  const Format f = fp8sim::parse_format("e5m2");
  const std::vector<float> in = quantize_inputs(1 << 16);
  fp8sim::QuantizeOptions opt;
  opt.round = sr(8);
  opt.key = {42, 1};
  const Run a = quantize_split(f, in, opt, {});
  const Run b = quantize_split(f, in, opt, {});
  CHECK(a.codes == b.codes);
  // Each element uses the random bits of its index.
  std::uint64_t bad = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto q = fp8sim::from_float(in[i], f, opt.round, fp8sim::random_bits(opt.key, i, 8));
    if (q.code != a.codes[i]) ++bad;
  }
  CHECK(bad == 0);
  // Another seed, or another stream, changes a good part of the inexact elements.
  for (const fp8sim::RandomKey other : {fp8sim::RandomKey{43, 1}, fp8sim::RandomKey{42, 2}}) {
    opt.key = other;
    const Run c = quantize_split(f, in, opt, {});
    std::size_t differ = 0;
    for (std::size_t i = 0; i < in.size(); ++i) differ += a.codes[i] != c.codes[i] ? 1 : 0;
    INFO(fmt::format("seed {} stream {}: {} of {} codes differ", other.seed, other.stream, differ,
                     in.size()));
    CHECK(differ > in.size() / 10);
  }
}

TEST_CASE("stochastic.quantize.independent_of_threads_splits_and_simd") {
  // Large enough for every thread to get several SIMD blocks; pieces cut inside and at the
  // edges of 64-element random-bit groups.
  const std::vector<float> in = quantize_inputs((1 << 16) + 13);
  const std::vector<std::vector<std::size_t>> splits = {
      {}, {1, 65}, {1000, 40001, 40002}, {in.size() - 5}};
  for (const char* name : {"e5m2", "e4m3fn", "e2m1", "fp16", "bf16", "e8m0"}) {
    const Format f = fp8sim::parse_format(name);
    for (const RoundSpec& r : {sr(8), sr(13), sr(32), RoundSpec{}}) {
      fp8sim::QuantizeOptions opt;
      opt.round = r;
      opt.key = {2026, 5};
      opt.first_index = 1000;
      opt.threads = 1;
      opt.allow_simd = false;
      const Run ref = quantize_split(f, in, opt, {});
      // Against the scalar definition: element i uses random bits of first_index + i.
      std::uint64_t bad = 0;
      for (std::size_t i = 0; i < in.size(); i += 3) {
        const std::uint32_t rnd =
            r.mode == RoundingMode::sr ? fp8sim::random_bits(opt.key, 1000 + i, r.sr_bits) : 0;
        if (fp8sim::from_float(in[i], f, r, rnd).code != ref.codes[i]) ++bad;
      }
      CHECK_MESSAGE(bad == 0,
                    fmt::format("{} {}: reference vs from_float", name, fp8sim::to_string(r)));
      for (int threads : {1, 2, 8}) {
        for (bool simd : {false, true}) {
          for (const auto& cuts : splits) {
            if (threads != 2 && !cuts.empty()) continue;  // splits: with 2 threads
            opt.threads = threads;
            opt.allow_simd = simd;
            const Run run = quantize_split(f, in, opt, cuts);
            std::size_t first = in.size();
            for (std::size_t i = 0; i < in.size() && first == in.size(); ++i)
              if (run.codes[i] != ref.codes[i]) first = i;
            CHECK_MESSAGE(first == in.size(),
                          fmt::format("{} {} threads {} simd {} {} pieces: first difference at "
                                      "{} (input {:a})",
                                      name, fp8sim::to_string(r), threads, simd, cuts.size() + 1,
                                      first, first < in.size() ? in[first] : 0.0f));
            CHECK_MESSAGE(integer_counters(run.counters) == integer_counters(ref.counters),
                          fmt::format("{} {} threads {} simd {} {} pieces", name,
                                      fp8sim::to_string(r), threads, simd, cuts.size() + 1));
          }
        }
      }
    }
  }
}
