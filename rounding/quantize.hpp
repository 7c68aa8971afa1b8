// rounding/quantize.hpp — array quantizers: fp32/fp64 arrays in; codes and/or dequantized
// values out; counters of what happened (the seed of analysis/ statistics).
//
// Element i of a call uses random bits of index (options.first_index + i), so splitting an
// array over calls or threads never changes a result. Every element is rounded exactly as
// from_float/from_double (round_pack) would round it; the fp32 SIMD kernel is checked
// against that path bit for bit in tests.
#pragma once

#include <cstdint>
#include <span>

#include "formats/formats.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/rounding_mode.hpp"

namespace fp8sim {

/// What a quantization saw. Error statistics cover elements whose input and output are
/// both finite; error = output - input.
struct QuantizeCounters {
  std::uint64_t count = 0;              ///< elements
  std::uint64_t exact = 0;              ///< output == input (NaN in -> NaN out counts)
  std::uint64_t zeros_in = 0;           ///< input +-0
  std::uint64_t underflow_to_zero = 0;  ///< non-zero finite input, zero output
  std::uint64_t subnormal_out = 0;      ///< output is subnormal
  std::uint64_t overflow = 0;           ///< finite input beyond max finite after rounding
  std::uint64_t saturated = 0;          ///< ... of which clamped to +-max finite
  std::uint64_t nan_in = 0;             ///< NaN inputs
  std::uint64_t inf_in = 0;             ///< +-Inf inputs
  std::uint64_t nan_out = 0;            ///< NaN outputs
  std::uint64_t inf_out = 0;            ///< +-Inf outputs
  std::uint64_t error_count = 0;        ///< elements in the error statistics
  double error_sum = 0;                 ///< sum of (out - in)
  double error_sq = 0;                  ///< sum of (out - in)^2
  double signal_sq = 0;                 ///< sum of in^2 (same elements)
  double max_abs_error = 0;

  void merge(const QuantizeCounters& o);
  [[nodiscard]] double error_mean() const;
  [[nodiscard]] double error_rms() const;
  /// 10 log10(sum in^2 / sum err^2); +Inf when there is no error.
  [[nodiscard]] double sqnr_db() const;
};

struct QuantizeOptions {
  RoundSpec round{};
  RandomKey key{};
  std::uint64_t first_index = 0;  ///< random-bit index of element 0
  int threads = 0;                ///< 0: all (OpenMP default); 1: serial
  bool allow_simd = true;         ///< false forces the scalar path (tests compare the two)
  /// false skips the error statistics (error_*, signal_sq, max_abs_error stay 0; the
  /// counts are still exact): the cheapest way to quantize a large tensor.
  bool error_stats = true;
};

/// Quantizes `in` to `f`. `codes` (if non-empty) must have in.size() elements of a width
/// that holds f.width() bits; `values` (if non-empty) receives the dequantized values.
/// Throws std::invalid_argument on a size or width mismatch or an invalid RoundSpec.
template <class In, class Code>
QuantizeCounters quantize(const Format& f, std::span<const In> in, const QuantizeOptions& opt,
                          std::span<Code> codes, std::span<In> values = {});

/// Without codes.
template <class In>
QuantizeCounters quantize_values(const Format& f, std::span<const In> in,
                                 const QuantizeOptions& opt, std::span<In> values = {}) {
  return quantize<In, std::uint64_t>(f, in, opt, {}, values);
}

}  // namespace fp8sim
