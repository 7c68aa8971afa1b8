// workloads/optim/master_weights.hpp — master copies of the parameters in any Format.
//
// Contract: each parameter (index 0..P-1, in add_param order) is held as codes of the
// master Format; values() are their decoded fp32 working copies (exact for formats inside
// fp32, the nearest fp32 otherwise). apply(param, delta, seed, step) sets every element to
//   new master = round(master + delta)
// the sum exact and rounded ONCE into the master format with the configured RoundSpec
// (sim/fma.hpp: fma(delta, 1, master), so NaN, Inf, signed zeros and overflow follow the
// project's IEEE rules). An fp32 master with rne is therefore exactly fp32 addition
// w + d for an fp32 d, and the fused w + (-lr) * g of PyTorch's optimizers for the deltas of
// workloads/optim/optimizer.hpp.
//
// Stochastic rounding: element i of parameter p at step s uses the r-bit random integer
// random_bits(random_key(seed, step, p), i, r) (rounding/random_bits.hpp), so a result
// depends on (seed, step, param, i) only, never on the thread count or on how the work is
// split. The key's stream is (0x20 << 56) | (step << 24) | param: disjoint from the MAC
// unit's sites (1..4 << 56); it needs step < 2^32 and param < 2^24 (checked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/rounding_mode.hpp"

namespace fp8sim::workloads {

/// What one apply() did.
struct MasterUpdateStats {
  std::uint64_t count = 0;            ///< elements
  std::uint64_t nonzero = 0;          ///< deltas != 0 (NaN included)
  std::uint64_t vanished = 0;         ///< non-zero finite deltas on finite masters that left
                                      ///< the master code unchanged
  std::uint64_t nonfinite_delta = 0;  ///< deltas that are +-Inf or NaN
  std::uint64_t overflow = 0;         ///< roundings that overflowed the master format
  double max_abs_delta = 0;           ///< over finite deltas
  double sum_abs_delta = 0;           ///< over finite deltas

  /// Mean |delta| over the finite deltas (0 when there are none).
  [[nodiscard]] double mean_abs_delta() const;
  void merge(const MasterUpdateStats& o);
};

class MasterWeights {
 public:
  /// Throws std::invalid_argument for an invalid format or RoundSpec. threads: 0 = the
  /// OpenMP default, 1 = serial (results are the same for any value).
  MasterWeights(Format format, RoundSpec round, int threads = 0);

  /// Registers a parameter holding `initial` (rounded to nearest-even into the format: the
  /// usual cast of an fp32 initialisation); returns its index.
  std::size_t add_param(std::span<const float> initial);
  [[nodiscard]] std::size_t param_count() const { return codes_.size(); }
  /// Throws std::out_of_range for an unknown index.
  [[nodiscard]] std::size_t param_size(std::size_t param) const;

  /// The decoded fp32 working values of a parameter (the span stays valid; apply and
  /// import_codes change what it shows).
  [[nodiscard]] std::span<const float> values(std::size_t param) const;
  /// The master codes of a parameter.
  [[nodiscard]] std::span<const std::uint64_t> codes(std::size_t param) const;

  /// master = round(master + delta) element by element (delta.size() == param_size).
  MasterUpdateStats apply(std::size_t param, std::span<const double> delta, std::uint64_t seed,
                          std::uint64_t step);

  /// The key of the random bits of (seed, step, param): see the file comment. Throws
  /// std::out_of_range if step >= 2^32 or param >= 2^24.
  [[nodiscard]] static RandomKey random_key(std::uint64_t seed, std::uint64_t step,
                                            std::size_t param);

  /// Checkpoints: the codes of one parameter, and their replacement (size and every code
  /// checked against the format; std::invalid_argument otherwise).
  [[nodiscard]] std::vector<std::uint64_t> export_codes(std::size_t param) const;
  void import_codes(std::size_t param, std::span<const std::uint64_t> codes);

  [[nodiscard]] const Format& format() const { return format_; }
  [[nodiscard]] const RoundSpec& round() const { return round_; }
  [[nodiscard]] int threads() const { return threads_; }
  void set_threads(int threads) { threads_ = threads; }

 private:
  void decode_values(std::size_t param);

  Format format_;
  RoundSpec round_;
  int threads_ = 0;
  std::vector<std::vector<std::uint64_t>> codes_;
  std::vector<std::vector<float>> values_;
};

}  // namespace fp8sim::workloads
