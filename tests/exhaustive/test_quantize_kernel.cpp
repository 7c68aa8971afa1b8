// tests/exhaustive/test_quantize_kernel.cpp — the fp32 SIMD kernel against the scalar
// path (round_pack) on structured sweeps: every sign and exponent, every pattern of the
// bits around the rounding position, several sticky patterns; and (slow) all 2^32 inputs.
#include <doctest/doctest.h>

#include <bit>
#include <vector>

#include "../quantize_check.hpp"
#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

using namespace fp8sim;
using fp8sim::testing::all_modes;
using fp8sim::testing::check_kernel_equals_scalar;
using fp8sim::testing::kernel_format_names;

namespace {
// For a target with m fraction bits, the fp32 fraction bits that rounding looks at in the
// normal range are bits 22 .. 23-m-1 (kept), 23-m-1 (round), below (sticky). Subnormal
// results shift that window; enumerating 8 bits at every window offset covers both.
std::vector<float> structured_inputs(int m) {
  std::vector<float> x;
  const std::uint32_t stickies[] = {0, 1, 0x100, 0x7f};
  for (std::uint32_t sign = 0; sign < 2; ++sign) {
    for (std::uint32_t e = 0; e < 256; ++e) {
      for (int off = -2; off <= 6; off += 4) {
        const int lo = std::max(0, 23 - m - 4 - off);
        for (std::uint32_t pat = 0; pat < 256; ++pat) {
          for (std::uint32_t st : stickies) {
            const std::uint32_t frac =
                ((pat << lo) | (st & ((1u << lo) - 1u) & ~(0xffu << lo))) & 0x7fffffu;
            x.push_back(std::bit_cast<float>((sign << 31) | (e << 23) | frac));
          }
        }
      }
    }
  }
  return x;
}
}  // namespace

TEST_CASE("quantize_kernel.structured_sweep_every_format_every_mode") {
  for (const auto& name : kernel_format_names()) {
    const Format f = parse_format(name);
    const std::vector<float> x = structured_inputs(f.man_bits);
    for (const RoundSpec& r : all_modes()) {
      QuantizeOptions opt;
      opt.round = r;
      opt.key = {17, 4};
      CAPTURE(name);
      CAPTURE(to_string(r));
      check_kernel_equals_scalar(f, x, opt);
    }
  }
}

TEST_CASE("quantize_kernel.slow.all_fp32_inputs") {
  std::vector<float> x(std::size_t{1} << 26);
  // two of the four (format, rounding) pairs, to keep the slow suite inside CI's time
  for (const auto& [name, r] : {std::pair{"e5m2", "rne"}, std::pair{"e4m3fn", "sr:8"}}) {
    {
      const Format f = parse_format(name);
      QuantizeOptions opt;
      opt.round = parse_rounding(r);
      opt.key = {5, 0};
      for (std::uint64_t block = 0; block < 64; ++block) {
        for (std::size_t i = 0; i < x.size(); ++i)
          x[i] = std::bit_cast<float>(static_cast<std::uint32_t>((block << 26) | i));
        opt.first_index = block << 26;
        CAPTURE(name);
        CAPTURE(r);
        CAPTURE(block);
        check_kernel_equals_scalar(f, x, opt);
      }
    }
  }
}
