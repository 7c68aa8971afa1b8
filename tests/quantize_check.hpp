// tests/quantize_check.hpp — shared by the quantizer tests: runs an array through the SIMD
// kernel and through the scalar path and checks codes, values (bitwise) and counters.
#pragma once

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <ios>
#include <span>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

namespace fp8sim::testing {

inline bool same_double(double a, double b) {
  if (a == b) return true;
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b));
}

/// Quantizes x with the SIMD kernel and the scalar path; everything must agree.
inline void check_kernel_equals_scalar(const Format& f, const std::vector<float>& x,
                                       QuantizeOptions opt) {
  std::vector<std::uint16_t> c_simd(x.size()), c_ref(x.size());
  std::vector<float> v_simd(x.size()), v_ref(x.size());
  opt.allow_simd = true;
  const QuantizeCounters a =
      quantize<float, std::uint16_t>(f, x, opt, c_simd, std::span<float>(v_simd));
  opt.allow_simd = false;
  const QuantizeCounters b =
      quantize<float, std::uint16_t>(f, x, opt, c_ref, std::span<float>(v_ref));
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size() && bad < 5; ++i) {
    if (c_simd[i] != c_ref[i] ||
        std::bit_cast<std::uint32_t>(v_simd[i]) != std::bit_cast<std::uint32_t>(v_ref[i])) {
      ++bad;
      FAIL_CHECK(f.name << " " << to_string(opt.round) << " input bits 0x" << std::hex
                        << std::bit_cast<std::uint32_t>(x[i]) << ": kernel code 0x" << c_simd[i]
                        << " value " << v_simd[i] << ", scalar code 0x" << c_ref[i] << " value "
                        << v_ref[i]);
    }
  }
  CHECK(bad == 0);
  CHECK(a.count == b.count);
  CHECK(a.exact == b.exact);
  CHECK(a.zeros_in == b.zeros_in);
  CHECK(a.underflow_to_zero == b.underflow_to_zero);
  CHECK(a.subnormal_out == b.subnormal_out);
  CHECK(a.overflow == b.overflow);
  CHECK(a.saturated == b.saturated);
  CHECK(a.nan_in == b.nan_in);
  CHECK(a.inf_in == b.inf_in);
  CHECK(a.nan_out == b.nan_out);
  CHECK(a.inf_out == b.inf_out);
  CHECK(a.error_count == b.error_count);
  CHECK(same_double(a.error_sum, b.error_sum));
  CHECK(same_double(a.error_sq, b.error_sq));
  CHECK(same_double(a.signal_sq, b.signal_sq));
  CHECK(a.max_abs_error == b.max_abs_error);

  // Codes only, no error statistics: the kernel skips the values entirely.
  std::vector<std::uint16_t> c_only(x.size());
  opt.allow_simd = true;
  opt.error_stats = false;
  const QuantizeCounters c = quantize<float, std::uint16_t>(f, x, opt, c_only);
  CHECK(c_only == c_ref);
  CHECK(c.exact == b.exact);
  CHECK(c.underflow_to_zero == b.underflow_to_zero);
  CHECK(c.subnormal_out == b.subnormal_out);
  CHECK(c.overflow == b.overflow);
  CHECK(c.saturated == b.saturated);
  CHECK(c.nan_out == b.nan_out);
  CHECK(c.inf_out == b.inf_out);
  CHECK(c.error_count == b.error_count);
  CHECK(c.zeros_in == b.zeros_in);
  CHECK(c.nan_in == b.nan_in);
  CHECK(c.inf_in == b.inf_in);
  CHECK(c.error_sq == 0);

  // Values only, no error statistics (rne into IEEE-like formats takes the FPU fast path).
  std::vector<float> v_only(x.size());
  const QuantizeCounters d = quantize_values<float>(f, x, opt, std::span<float>(v_only));
  std::size_t bad_v = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    bad_v += std::bit_cast<std::uint32_t>(v_only[i]) != std::bit_cast<std::uint32_t>(v_ref[i]);
  CHECK(bad_v == 0);
  CHECK(d.exact == b.exact);
  CHECK(d.zeros_in == b.zeros_in);
  CHECK(d.underflow_to_zero == b.underflow_to_zero);
  CHECK(d.subnormal_out == b.subnormal_out);
  CHECK(d.overflow == b.overflow);
  CHECK(d.nan_out == b.nan_out);
  CHECK(d.inf_out == b.inf_out);
}

/// Formats the fp32 kernel handles (<= 16 bits) plus the variants of their policies.
inline std::vector<std::string> kernel_format_names() {
  return {"e5m2",       "e4m3fn",     "e4m3fnuz",     "e5m2fnuz", "e4m3b11fnuz",
          "e4m3",       "e3m4",       "fp16",         "bf16",     "e3m2",
          "e2m3",       "e2m1",       "e4m3fn-sat",   "e5m2-sat", "e5m2-nonsat",
          "e5m2-nosub", "bf16-nosub", "e4m3fnuz-sat", "e6m5",     "e8m5"};
}

inline std::vector<RoundSpec> all_modes() {
  std::vector<RoundSpec> v;
  for (const char* r : {"rne", "rna", "rtz", "rup", "rdn", "rto", "sr:1", "sr:8", "sr:13", "sr:32"})
    v.push_back(parse_rounding(r));
  RoundSpec ftz = parse_rounding("rne");
  ftz.ftz = true;
  v.push_back(ftz);
  RoundSpec ftz_sr = parse_rounding("sr:4");
  ftz_sr.ftz = true;
  v.push_back(ftz_sr);
  return v;
}

}  // namespace fp8sim::testing
