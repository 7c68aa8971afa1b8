// sim/gemm_operand.hpp — internal to sim/: one input matrix of the GEMM engine, held either as
// codes of its format (gemm) or as binary32 values of that format (gemm_f32, the fused path
// for training), so that one engine serves both without turning values into 8-byte codes.
#pragma once

#include <cstdint>
#include <span>

#include "formats/formats.hpp"
#include "sim/gemm.hpp"
#include "sim/kernels/kernels.hpp"

namespace fp8sim::detail {

/// What the engine needs to know of an input's values before it picks a kernel: the largest
/// and smallest non-zero magnitude (amin = Inf when all are zero) and whether any is NaN/Inf.
struct OperandScan {
  double amax = 0, amin = 0;
  bool nonfinite = false;
};
/// The threads a piece of work gets: max_threads, or fewer so that each has at least
/// per_thread of it (at least 1).
[[nodiscard]] int threads_for_work(int max_threads, double work, double per_thread);

/// The scan of binary32 values, magnitudes below flush_below counted as zero (NaN and Inf
/// only set nonfinite); threaded, vectorized.
[[nodiscard]] OperandScan scan_values(std::span<const float> v, double flush_below, int threads);

/// The scan, and how many finite elements are not values of the format c describes.
struct ValueScanPartSum {
  OperandScan scan;
  std::size_t wrong = 0;
};
[[nodiscard]] ValueScanPartSum check_values(const ValueCheck& c, std::span<const float> v,
                                            int threads);

struct GemmOperand {
  const Format* f = nullptr;
  bool by_values = false;
  std::span<const std::uint64_t> codes;  ///< !by_values
  std::span<const float> values;         ///< by_values: every one a value of *f (or NaN/Inf)
  const char* name = "A";
  const OperandScan* scan = nullptr;  ///< by_values: the caller's scan of them, if it made one

  static GemmOperand of_codes(const Format& f, std::span<const std::uint64_t> c, const char* n) {
    return GemmOperand{&f, false, c, {}, n, nullptr};
  }
  static GemmOperand of_values(const Format& f, std::span<const float> v, const char* n) {
    return GemmOperand{&f, true, {}, v, n, nullptr};
  }
  [[nodiscard]] std::size_t size() const { return by_values ? values.size() : codes.size(); }
  [[nodiscard]] const char* what() const { return by_values ? "values" : "codes"; }
  /// The code of element x (values are encoded exactly: they are values of *f).
  [[nodiscard]] std::uint64_t code(std::size_t x) const;
};

/// The engine behind gemm() and gemm_f32(): C = A·B (+C0) as gemm() documents. With
/// `values` (M*N floats, gemm_f32's output; the result format must fit binary32) a fast
/// kernel, when the result needs no output conversion, writes the values there and leaves
/// the result's codes empty (`*wrote_values` true); otherwise the codes are filled as usual.
[[nodiscard]] GemmResult gemm_operands(const MacConfig& m, std::size_t M, std::size_t N,
                                       std::size_t K, const GemmOperand& A, const GemmOperand& B,
                                       std::span<const std::uint64_t> C0, const GemmOptions& opt,
                                       float* values = nullptr, bool* wrote_values = nullptr);

}  // namespace fp8sim::detail
