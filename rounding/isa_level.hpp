// rounding/isa_level.hpp — which build of the SIMD kernels runs.
//
// The quantizer and GEMM kernels are compiled once per x86-64 ISA level (v4: AVX-512,
// v3: AVX2 + FMA, v1: baseline SSE2) and one is chosen at run time. The environment variable
// FP8SIM_ISA=v4|v3|v1 lowers the choice, so that the AVX2 and baseline builds can be tested
// and benchmarked on a newer CPU; every level computes the same bits.
#pragma once

namespace fp8sim {

/// 4, 3 or 1: the best level this CPU supports, or FP8SIM_ISA's if set and lower (read
/// once; a higher one is refused with a warning on stderr). Throws std::invalid_argument
/// naming the value if FP8SIM_ISA is not v4, v3 or v1.
[[nodiscard]] int simd_isa_level();

}  // namespace fp8sim
