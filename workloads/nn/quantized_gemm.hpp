// workloads/nn/quantized_gemm.hpp — what a layer calls: the quantizer at a tensor role and
// the GEMM of a layer, on fp32 arrays, through fp8sim's quantizers and MAC unit; and the
// statistics they saw, by name ("fc1/error", "fc1/wgrad").
//
// Contract:
//  - quantize_role() rounds an fp32 array into its role's format exactly as
//    fp8sim::quantize does (same random bits for a given seed, site, role and step, any
//    thread count) and hands back the values as fp32 (every E5M2/FP16/BF16 value is one).
//  - layer_gemm() computes C = A·B through fp8sim::gemm: A and B must already hold values
//    of the MacConfig's input formats (quantize_role's output; an fp32 input any float);
//    the result is converted to fp32 values (exact for results of <= 24 bits). It gives the
//    same bits as quantizing to codes and calling gemm() directly (a test checks).
//  - Not yet fused: the inputs become 8-byte codes inside (memory ~ 8 bytes per element of
//    A and B); quantization while packing the GEMM's panels is future work.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "rounding/quantize.hpp"
#include "sim/gemm.hpp"
#include "workloads/nn/recipe.hpp"

namespace fp8sim::workloads {

/// Statistics of one training step, by name.
struct StepStats {
  std::map<std::string, QuantizeCounters> quant;  ///< "fc1/error", ...
  std::map<std::string, MacCounts> gemm;          ///< "fc1/fprop", ...
  void clear() {
    quant.clear();
    gemm.clear();
  }
};

/// Where a call sits: the run's seed, the step, threads, and where statistics go.
struct StepContext {
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  int threads = 0;
  StepStats* stats = nullptr;  ///< null: no statistics (faster)
};

/// out = in rounded into q's format (out may alias in); q without a format copies. Name:
/// "layer/role" (keys the random bits and the statistics).
void quantize_role(const RoleQuant& q, const std::string& name, std::span<const float> in,
                   std::span<float> out, const StepContext& ctx);

/// C (M x N) = A (M x K) · B (K x N), row-major, through m. Name: "layer/kind".
void layer_gemm(const MacConfig& m, const std::string& name, std::size_t M, std::size_t N,
                std::size_t K, std::span<const float> A, std::span<const float> B,
                std::span<float> C, const StepContext& ctx);

/// A stable 64-bit key of a name (FNV-1a), for random-bit streams.
[[nodiscard]] std::uint64_t name_key(const std::string& name);

}  // namespace fp8sim::workloads
