// workloads/nn/quantized_gemm.hpp — what a layer calls: the quantizer at a tensor role and
// the GEMM of a layer, on fp32 arrays, through fp8sim's quantizers and MAC unit; and the
// statistics they saw, by name ("fc1/error", "fc1/wgrad").
//
// Contract:
//  - quantize_role() rounds an fp32 array into its role's format exactly as
//    fp8sim::quantize does (same random bits for a given seed, site, role and step, any
//    thread count) and hands back the values as fp32 (every E5M2/FP16/BF16 value is one).
//  - layer_gemm() computes C = A·B through fp8sim::gemm_f32, the fused path (binary32
//    arrays in and out, no 8-byte codes): A and B must already hold values of the
//    MacConfig's input formats (quantize_role's output; an fp32 input any float; a layer
//    quantizes each tensor once per step and reuses it in two GEMMs, so the quantization
//    itself stays in quantize_role); the result format must fit binary32. It gives the same
//    bits as quantizing to codes and calling gemm() directly (tests check both paths). The
//    inputs are checked to be values of the formats in builds with assertions only (a
//    logic_error naming the layer); release builds trust the layers.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "analysis/tensor_stats.hpp"
#include "rounding/quantize.hpp"
#include "sim/gemm.hpp"
#include "workloads/nn/recipe.hpp"

namespace fp8sim::workloads {

/// What one quantization point saw in a step: the quantizer's counters and the extra pass
/// (amax, log2 histogram, relative error; analysis/tensor_stats.hpp), its format and rounding.
struct QuantPointStats {
  QuantizeCounters counters;
  analysis::ExtraCounts extra;
  std::string format, rounding;
};
/// What one GEMM saw: its MAC unit's flag counts, shape and configuration.
struct GemmPointStats {
  MacCounts counts;
  std::uint64_t m = 0, n = 0, k = 0;
  std::string mac, out_format;
};
/// Statistics of one training step, by name.
struct StepStats {
  std::map<std::string, QuantPointStats> quant;  ///< "fc1/error", ...
  std::map<std::string, GemmPointStats> gemm;    ///< "fc1/fprop", ...
  void clear() {
    quant.clear();
    gemm.clear();
  }
};

/// The delayed-scaling state of one tensor (RoleQuant::scaling == delayed).
struct ScaleState {
  double scale = 1.0;
  std::vector<double> history;  ///< amax of the last steps (ring)
  std::size_t next = 0;         ///< where the next amax goes
};
/// Scale states by tensor name ("fc1/activation"); the trainer keeps (and checkpoints) them.
using ScaleStates = std::map<std::string, ScaleState>;

/// Where a call sits: the run's seed, the step, threads, where statistics go and the
/// delayed-scaling states.
struct StepContext {
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  int threads = 0;
  StepStats* stats = nullptr;     ///< null: no statistics (faster)
  ScaleStates* scales = nullptr;  ///< needed by roles with delayed scaling
  bool update_scales = true;      ///< false (evaluation): use the scales, record no amax
};

/// out = in·s rounded into q's format (out may alias in); q without a format copies. Name:
/// "layer/role" (keys the random bits, the statistics and the scale state). Returns the
/// scale s (1 without scaling): out holds values of q's format, in ≈ out / s.
float quantize_role(const RoleQuant& q, const std::string& name, std::span<const float> in,
                    std::span<float> out, const StepContext& ctx);

/// The next delayed scale from an amax history (Transformer Engine's rule, see Scaling).
[[nodiscard]] double delayed_scale(double previous, double amax, double max_finite, int margin);

/// C (M x N) = A (M x K) · B (K x N), row-major, through m. Name: "layer/kind".
void layer_gemm(const MacConfig& m, const std::string& name, std::size_t M, std::size_t N,
                std::size_t K, std::span<const float> A, std::span<const float> B,
                std::span<float> C, const StepContext& ctx);

/// Wall time spent in layer_gemm (the simulator's GEMM with its input check), in
/// quantize_role, in the convolutions' lowering (im2col, col2im and the layout changes around
/// their GEMMs) and in batch normalisation, summed since the last reset (benchmarks: where the
/// time goes). Layers call these from one thread; the sums are not for concurrent callers.
struct LayerTimes {
  double gemm = 0, quantize = 0, lowering = 0, norm = 0;
};
[[nodiscard]] LayerTimes& layer_times();

/// Adds the wall time of its scope to `sum` (one of layer_times()'s).
class ScopedTime {
 public:
  explicit ScopedTime(double& sum);
  ~ScopedTime();
  ScopedTime(const ScopedTime&) = delete;
  ScopedTime& operator=(const ScopedTime&) = delete;

 private:
  double& sum_;
  double t0_;
};

/// A stable 64-bit key of a name (FNV-1a), for random-bit streams.
[[nodiscard]] std::uint64_t name_key(const std::string& name);

}  // namespace fp8sim::workloads
