// tests/unit/test_quantize.cpp — the array quantizers: SIMD kernel == scalar path,
// counters, thread and split independence, argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "../quantize_check.hpp"
#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

using namespace fp8sim;
using fp8sim::testing::all_modes;
using fp8sim::testing::check_kernel_equals_scalar;
using fp8sim::testing::kernel_format_names;

namespace {
std::vector<float> mixed_inputs(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> scale(-40, 40);
  std::uniform_int_distribution<std::uint32_t> bits;
  std::vector<float> x;
  x.reserve(n);
  const float specials[] = {0.0f,
                            -0.0f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::min(),
                            448.0f,
                            464.0f,
                            480.0f,
                            57344.0f,
                            61440.0f,
                            65504.0f,
                            65520.0f,
                            0x1p-14f,
                            0x1p-16f,
                            0x1.8p-17f,
                            0x1p-24f,
                            0x1p-126f,
                            0x1p-133f};
  for (float s : specials) x.push_back(s);
  while (x.size() < n) {
    switch (x.size() % 3) {
      case 0:
        x.push_back(std::ldexp(normal(gen), scale(gen)));
        break;
      case 1:
        x.push_back(std::bit_cast<float>(bits(gen)));
        break;
      default:
        x.push_back(normal(gen));
        break;
    }
  }
  return x;
}
}  // namespace

TEST_CASE("quantize.kernel_equals_scalar.random_and_special_inputs") {
  const std::vector<float> x = mixed_inputs(4096 + 37, 1);
  for (const auto& name : kernel_format_names()) {
    const Format f = parse_format(name);
    for (const RoundSpec& r : all_modes()) {
      QuantizeOptions opt;
      opt.round = r;
      opt.key = {3, 1};
      opt.first_index = 5;  // not a multiple of 64: head and tail take the scalar path
      CAPTURE(name);
      CAPTURE(to_string(r));
      check_kernel_equals_scalar(f, x, opt);
    }
  }
}

TEST_CASE("quantize.scalar_path_equals_from_float_and_from_double") {
  const std::vector<float> x = mixed_inputs(2000, 2);
  std::vector<double> xd(x.begin(), x.end());
  for (const char* name : {"e5m2", "e4m3fn", "fp16", "bf16", "fp32", "tf32", "e8m0", "e11m30"}) {
    const Format f = parse_format(name);
    QuantizeOptions opt;
    opt.round = parse_rounding("sr:8");
    opt.key = {9, 2};
    std::vector<std::uint64_t> c32(x.size()), c64(x.size());
    (void)quantize<float, std::uint64_t>(f, x, opt, c32);
    (void)quantize<double, std::uint64_t>(f, xd, opt, c64);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::uint32_t rnd = random_bits(opt.key, i, 8);
      CHECK(c32[i] == from_float(x[i], f, opt.round, rnd).code);
      CHECK(c64[i] == from_double(xd[i], f, opt.round, rnd).code);
    }
  }
}

TEST_CASE("quantize.same_result_for_any_thread_count_and_split") {
  const std::vector<float> x = mixed_inputs(200000, 3);
  const Format f = parse_format("e5m2");
  QuantizeOptions opt;
  opt.round = parse_rounding("sr:8");
  opt.key = {11, 0};
  std::vector<std::uint8_t> ref(x.size()), got(x.size());
  opt.threads = 1;
  const QuantizeCounters c1 = quantize<float, std::uint8_t>(f, x, opt, ref);
  for (int t : {2, 3, 8}) {
    opt.threads = t;
    const QuantizeCounters ct = quantize<float, std::uint8_t>(f, x, opt, got);
    CHECK(got == ref);
    CHECK(ct.exact == c1.exact);
    CHECK(ct.underflow_to_zero == c1.underflow_to_zero);
  }
  // the same array in three pieces, each with its first_index
  opt.threads = 2;
  const std::size_t cuts[] = {0, 1001, 77777, x.size()};
  for (int k = 0; k < 3; ++k) {
    QuantizeOptions part = opt;
    part.first_index = cuts[k];
    (void)quantize<float, std::uint8_t>(
        f, std::span<const float>(x).subspan(cuts[k], cuts[k + 1] - cuts[k]), part,
        std::span<std::uint8_t>(got).subspan(cuts[k], cuts[k + 1] - cuts[k]));
  }
  CHECK(got == ref);
}

TEST_CASE("quantize.counters_on_constructed_inputs") {
  const Format f = parse_format("e4m3fn");
  // 2 zeros, 1 underflow to zero, 1 subnormal, 2 overflows (NaN), 1 NaN, 1 Inf, 2 exact
  const std::vector<float> x = {0.0f,    -0.0f, 1e-4f,    0x1p-8f, 1000.0f,
                                -500.0f, NAN,   INFINITY, 1.0f,    2.0f};
  QuantizeOptions opt;
  const QuantizeCounters c = quantize_values<float>(f, x, opt);
  CHECK(c.count == 10);
  CHECK(c.zeros_in == 2);
  CHECK(c.underflow_to_zero == 1);
  CHECK(c.subnormal_out == 1);
  CHECK(c.overflow == 2);
  CHECK(c.saturated == 0);
  CHECK(c.nan_in == 1);
  CHECK(c.inf_in == 1);
  CHECK(c.nan_out == 4);  // two overflows, NaN, Inf (no Inf in e4m3fn)
  CHECK(c.exact == 6);    // 0, -0, 2^-8, NaN->NaN, 1, 2
  CHECK(c.error_count == 6);
  CHECK(c.error_sum == doctest::Approx(-1e-4));
  const QuantizeCounters s = quantize_values<float>(parse_format("e4m3fn-sat"), x, opt);
  CHECK(s.saturated == 2);
  CHECK(s.error_count == 8);
}

TEST_CASE("quantize.sqnr_of_a_uniform_grid_matches_theory") {
  // Uniform values spread evenly over [1, 2): fp16 has quantum 2^-10 there, so the error is
  // uniform on [-q/2, q/2]: rms = q / sqrt(12).
  std::vector<float> x(1 << 16);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = 1.0f + (static_cast<float>(i) + 0.37f) / static_cast<float>(x.size());
  const QuantizeCounters c = quantize_values<float>(parse_format("fp16"), x, {});
  CHECK(c.error_rms() == doctest::Approx(0x1p-10 / std::sqrt(12.0)).epsilon(0.01));
  CHECK(std::abs(c.error_mean()) < 1e-5);  // ~0.002 quantum: the grid is not random
}

TEST_CASE("quantize.argument_errors") {
  const std::vector<float> x(10, 1.0f);
  std::vector<std::uint8_t> small(5), fits(10);
  QuantizeOptions opt;
  CHECK_THROWS_AS((quantize<float, std::uint8_t>(parse_format("e5m2"), x, opt, small)),
                  std::invalid_argument);
  CHECK_THROWS_WITH((quantize<float, std::uint8_t>(parse_format("fp16"), x, opt, fits)),
                    doctest::Contains("16 bits"));
  opt.round.mode = RoundingMode::sr;
  opt.round.sr_bits = 40;
  CHECK_THROWS_AS((quantize<float, std::uint8_t>(parse_format("e5m2"), x, opt, fits)),
                  std::invalid_argument);
}
