// sim/gemm.hpp — the fast GEMM engine: C = A·B (+C0) through a MAC unit, for row-major
// matrices of encodings. Every output is the dot product mac_dot() would compute for it
// (same structure, same reduction order, same random bits keyed by output index
// i*N + j), bit for bit and flags included, whatever the thread count or tile size.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "rounding/flags.hpp"
#include "rounding/quantize.hpp"
#include "sim/mac.hpp"

namespace fp8sim {

struct GemmOptions {
  int threads = 0;  ///< at most this many (0: OpenMP's default)
  /// true: fewer threads for a small GEMM (each gets ~50 us of work at least); false: exactly
  /// `threads` (tests of thread independence)
  bool fit_threads = true;
  std::uint64_t seed = 0;  ///< random bits of stochastic rounding
  int tile_m = 0;          ///< rows per tile (0: the kernel's choice)
  int tile_n = 0;          ///< columns per tile (0: the kernel's choice)
  bool flags = true;       ///< compute per-output flags and counts (else codes only)
  bool allow_fast = true;  ///< false: every output through the reference mac_dot
  /// Added to every output index i*N + j (keys random bits; conv2d uses it per image).
  std::uint64_t output_offset = 0;
  /// gemm_f32 only: false skips the pass that checks that A and B hold values of m.a and m.b
  /// (the caller vouches for them, e.g. its own quantizer's output: a training layer). An
  /// input that is not a value of its format then gives unspecified (never undefined) results.
  bool check_inputs = true;
};

struct GemmResult {
  std::vector<std::uint64_t> codes;  ///< M*N codes of result_format(m), row-major
  std::vector<Flags> flags;          ///< M*N flags (empty when options.flags is false)
  MacCounts counts;                  ///< summed over all outputs (when options.flags)
  std::string kernel;                ///< which kernel ran (for benchmarks and tests)
  /// Outputs the fast kernel handed to a slower exact path (rare values: overflow, results
  /// below the normal range, ...); a diagnostic for benchmarks and tests.
  std::uint64_t slow_outputs = 0;
};

/// C = A·B (+C0). A: M*K codes of m.a, B: K*N codes of m.b, C0: empty or M*N codes of
/// m.c (or m.acc). Throws std::invalid_argument on size mismatches or an invalid config.
[[nodiscard]] GemmResult gemm(const MacConfig& m, std::size_t M, std::size_t N, std::size_t K,
                              std::span<const std::uint64_t> A, std::span<const std::uint64_t> B,
                              std::span<const std::uint64_t> C0, const GemmOptions& opt = {});

/// How gemm_f32 rounds one fp32 input into the MAC unit's input format while it packs it:
/// exactly as fp8sim::quantize with `options` would (same rounding, same random bits keyed by
/// options.key and first_index + element index, same counters); options.threads is ignored
/// (the GEMM's thread count is used).
struct GemmInputQuant {
  QuantizeOptions options;
  QuantizeCounters* counters = nullptr;  ///< when set, receives the quantizer's counters
};

/// What gemm_f32 reports beside its values.
struct GemmF32Result {
  std::vector<Flags> flags;  ///< M*N flags (empty when options.flags is false)
  MacCounts counts;          ///< as GemmResult::counts
  std::string kernel;
  std::uint64_t slow_outputs = 0;
};

/// The fused path for training: C (M x N) = A (M x K) · B (K x N), row-major binary32 arrays
/// in and out, never 8-byte codes. An input with a GemmInputQuant is quantized to m.a (m.b)
/// on the way in; one without must already hold values of that format (NaN/Inf allowed where
/// the format has them), else std::invalid_argument names the first offending element. The
/// outputs are the values of gemm()'s result codes for the same inputs, bit for bit and
/// flags included, so result_format(m) must fit binary32 (<= 24 significand bits, its
/// range inside binary32's; otherwise std::invalid_argument). C may not alias A or B.
[[nodiscard]] GemmF32Result gemm_f32(const MacConfig& m, std::size_t M, std::size_t N,
                                     std::size_t K, std::span<const float> A,
                                     const GemmInputQuant* quant_a, std::span<const float> B,
                                     const GemmInputQuant* quant_b, std::span<float> C,
                                     const GemmOptions& opt = {});

/// The kernel gemm() would choose for this configuration and these inputs' formats:
/// "fp32-fma" (native FMA chain), "emulated-fp32" (narrow accumulator on binary32 with
/// round-to-odd, AVX-512), "emulated" (accumulator rounding emulated on binary64 bits),
/// "multiterm", or "reference" (mac_dot per output).
[[nodiscard]] std::string gemm_kernel_name(const MacConfig& m);

/// 2-D convolution lowered to gemm (im2col): input
/// [batch][in_ch][h][w] codes of m.b, weights [out_ch][in_ch][kh][kw] codes of m.a, zero
/// padding, stride; output [batch][out_ch][oh][ow] codes of result_format(m). Each output
/// element is the dot product of a weight row and an input patch over (in_ch, kh, kw) in
/// that order; its random-bit output index is its position in the output tensor.
struct Conv2dShape {
  std::size_t batch = 1, in_ch = 1, h = 1, w = 1, out_ch = 1, kh = 1, kw = 1;
  std::size_t stride = 1, pad = 0;
  [[nodiscard]] std::size_t out_h() const { return (h + 2 * pad - kh) / stride + 1; }
  [[nodiscard]] std::size_t out_w() const { return (w + 2 * pad - kw) / stride + 1; }
};
[[nodiscard]] GemmResult conv2d(const MacConfig& m, const Conv2dShape& s,
                                std::span<const std::uint64_t> input,
                                std::span<const std::uint64_t> weights,
                                const GemmOptions& opt = {});

}  // namespace fp8sim
