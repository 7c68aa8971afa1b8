// rounding/quantize_kernel.hpp — internal: the branch-free fp32 quantization kernel.
// quantize_kernel.cpp is compiled three times (-march=x86-64-v4, x86-64-v3 and the
// baseline), each into its own namespace; quantize.cpp picks one at run time.
#pragma once

#include <cstdint>

#include "rounding/quantize.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/rounding_mode.hpp"

namespace fp8sim::detail {

// Constants of one (format, rounding) pair for the fp32 kernel.
struct KParams {
  int m, emin, emax, bias, sr_bits;
  bool error_stats;
  int code_bytes;  ///< width of the caller's code array: 1, 2 or 4
  bool subn, ftz, ieee_target, neg_zero, nan_target;
  std::uint32_t sign_mask, max_code, inf_code_pos;
  std::uint32_t ovf_code0, ovf_code1, inf_in_code0, inf_in_code1, nan_code0, nan_code1;
  float ovf_val0, ovf_val1, inf_in_val0, inf_in_val1;
  bool ovf_sat0, ovf_sat1;
  std::uint32_t nan_bits0, nan_bits1;  ///< fp32 bits of the value of a NaN input's result
  RandomKey key;
  /// rne into an IEEE-like layout with subnormals, signed zeros, no ftz, the rounding
  /// constant 1.5 * 2^(e + 23 - m) inside binary32 for every e <= emax, and no error
  /// statistics: the AVX-512 fast path (quantize_kernel.cpp), which hands any 16 lanes
  /// holding a value above max_bits (overflow, Inf, NaN) to the general kernel.
  bool fast_rne = false;
  /// sr (r bits) under the same conditions with m + r <= 22 and 2^(emin - m - r) normal in
  /// binary32: the AVX-512 fast path for stochastic rounding (quantize_kernel.cpp).
  bool fast_sr = false;
  std::uint32_t max_bits = 0;  ///< binary32 bits of the format's max finite value
};

#define FP8SIM_DECLARE_KERNEL(ISA)                                                               \
  namespace ISA {                                                                                \
  void kernel_range(const KParams& p, RoundingMode mode, const float* x, std::uint64_t n_groups, \
                    std::uint64_t first_group, void* codes, float* vals, QuantizeCounters& c);   \
  }
FP8SIM_DECLARE_KERNEL(v4)
FP8SIM_DECLARE_KERNEL(v3)
FP8SIM_DECLARE_KERNEL(v1)
#undef FP8SIM_DECLARE_KERNEL

}  // namespace fp8sim::detail
