// sim/gemm_choice.hpp — internal: which GEMM kernel family runs for a MacConfig, decided in
// one place (the kernel files are in sim/kernels/, kernels.hpp lists them). Every family
// computes what mac_dot computes, bit for bit; the conditions here are what each needs for
// that to hold (exact binary64 / binary32 arithmetic, ranges, supported rounding modes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sim/mac.hpp"

namespace fp8sim::detail {

enum class Kernel {
  fp32,       ///< the native binary32 FMA chain
  emulated,   ///< binary64 emulation (generic_block), possibly with a faster family in front
  reference,  ///< mac_dot per output
};

struct KernelPlan {
  Kernel kernel = Kernel::reference;
  int narrow = 0, narrow_outer = 0;  ///< NarrowKind of the binary32 narrow kernel (0: off)
  /// The narrow kernel's rne accumulator may take each step's sum rounded to nearest in
  /// binary32 instead of to odd: the double rounding is then innocuous (narrow_plain_ok)
  bool narrow_plain = false;
  bool multiterm_fp32 = false;   ///< the AVX-512 multiterm kernel (binary64 sums)
  bool multiterm_int32 = false;  ///< ... its int32 form, usable when flags are off
  /// ... the int32 form if every product of the data is a normal binary32 value (the
  /// formats allow others, e.g. bf16: gemm() checks the inputs' range)
  bool multiterm_int32_data = false;
  std::uint32_t acc_keep = 0xffffffffu;  ///< multiterm-fp32: binary32 bits the accumulator keeps
  /// The name gemm() reports: "fp32-fma", "emulated-fp32", "emulated", "multiterm-fp32",
  /// "multiterm" or "reference".
  [[nodiscard]] std::string name() const;
  bool multiterm = false;  // (for name())
};

/// The plan for m and K products per output (K = 0: not known yet; the K-dependent limit,
/// interleave's span of at most 64 products, is then not applied). Without flags the native
/// FMA chain also takes products that are not exact in binary32 (an FMA rounds a·b + s
/// once, whatever a·b is; only the per-step inexact flag needs the product exact).
[[nodiscard]] KernelPlan plan_kernel(const MacConfig& m, std::size_t K, bool flags = true);

/// Lowest exponent of a non-zero value of f (its min subnormal, or emin without them).
[[nodiscard]] int min_exp(const Format& f);
/// f is IEEE binary32 exactly (subnormals, Inf/NaN, IEEE overflow).
[[nodiscard]] bool is_plain_ieee_binary32(const Format& f);

}  // namespace fp8sim::detail
