// analysis/tensor_stats.hpp — what one quantization (or one GEMM output) did to a tensor:
// counts of zeros, underflow, flushed subnormals, subnormal results, overflow, saturation
// and NaN/Inf; error mean, variance, max, relative error and SQNR; amax; and a histogram
// of log2|x| on the format's binades.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/quantize.hpp"  // QuantizeCounters (the struct only)

namespace fp8sim::analysis {

/// Fixed bins of log2|x| spanning a format's window. Bin 0 holds non-zero finite |x| below
/// 2^first (below the format's smallest positive value); bin i (1..binades) holds
/// [2^(first+i-1), 2^(first+i)); the last bin holds |x| >= 2^(first+binades) and +-Inf.
/// Zeros and NaNs are not binned (they are counted in zeros_in and nan_in).
struct Binades {
  int first = 0;    ///< log2 of the lower edge of bin 1: the format's smallest positive value
  int binades = 0;  ///< emax + 1 - first
  [[nodiscard]] std::size_t bins() const { return static_cast<std::size_t>(binades) + 2; }
  /// Lower log2 edge of bin i >= 1 (bin 0 has none).
  [[nodiscard]] int lower_edge(std::size_t bin) const { return first + static_cast<int>(bin) - 1; }
  /// The bins of format f: from its smallest positive value (min subnormal, or min normal
  /// without subnormals) up to 2^(emax+1).
  [[nodiscard]] static Binades of(const Format& f);
};

/// Everything recorded for one quantization point (or GEMM output) at one step. Error
/// statistics cover elements whose input and output are both finite; error = out - in.
struct TensorStats {
  std::uint64_t count = 0;
  std::uint64_t zeros_in = 0;           ///< input +-0
  std::uint64_t underflow = 0;          ///< non-zero finite input, zero output
  std::uint64_t flushed_subnormal = 0;  ///< ... of which |input| >= the format's subnormal
                                        ///< minimum 2^(emin-man_bits): representable with
                                        ///< gradual underflow, lost to FTZ or -nosub
  std::uint64_t subnormal_out = 0;      ///< output non-zero and below min normal
  std::uint64_t overflow = 0;           ///< finite input beyond max finite after rounding
  std::uint64_t saturated = 0;          ///< ... of which clamped to +-max finite
  std::uint64_t nan_in = 0, inf_in = 0, nan_out = 0, inf_out = 0;
  std::uint64_t error_count = 0;  ///< elements in the error statistics
  double error_mean = 0;          ///< mean of (out - in)
  double error_var = 0;           ///< population variance of (out - in)
  double max_abs_error = 0;
  double rel_error_mean = 0;             ///< mean of |out - in| / |in| over non-zero inputs
  double sqnr_db = 0;                    ///< 10 log10(sum in^2 / sum (out-in)^2); +Inf when exact
  double amax = 0;                       ///< max |in| over finite inputs
  std::vector<std::uint64_t> histogram;  ///< Binades::of(format).bins() counts of log2|in|
};

/// What the quantize kernel does not count, from one cheap pass over inputs and their
/// dequantized outputs (`out` may be empty: then only amax and the histogram).
struct ExtraCounts {
  std::uint64_t flushed_subnormal = 0;
  std::uint64_t rel_count = 0;
  double rel_error_sum = 0;
  double amax = 0;
  std::vector<std::uint64_t> histogram;
  void merge(const ExtraCounts& o);
};

/// The extra pass (OpenMP over `threads`, 0 = all). Throws std::invalid_argument when
/// out is non-empty and its size differs from in's.
template <class T>
[[nodiscard]] ExtraCounts extra_counts(const Format& f, std::span<const T> in,
                                       std::span<const T> out, int threads = 0);

/// Statistics of a quantization from the kernel's counters and the extra pass.
[[nodiscard]] TensorStats tensor_stats(const QuantizeCounters& c, const ExtraCounts& x);

/// Statistics of `out` (values of format f) against `ref` (e.g. an fp64 reference of a
/// GEMM output), computed element by element from the values alone. Overflow here: finite
/// reference whose output is +-Inf or NaN, or |ref| > max finite with a finite output
/// (saturated). Throws std::invalid_argument on a size mismatch.
[[nodiscard]] TensorStats compare_to_reference(const Format& f, std::span<const double> ref,
                                               std::span<const double> out, int threads = 0);

}  // namespace fp8sim::analysis
