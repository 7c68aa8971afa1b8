// cli/cpu_info.hpp — what the benchmarks say about the machine they ran on: the CPU model
// and the ISA level the SIMD kernels run at (measured tables name both).
#pragma once

#include <string>

namespace fp8sim::cli {

/// The CPU's model name (/proc/cpuinfo), or "unknown CPU".
[[nodiscard]] std::string cpu_model();

/// The level the quantizer and GEMM kernels run at, e.g. "x86-64-v4 (AVX-512)", with
/// "; AVX512-FP16 present" where the CPU has it.
[[nodiscard]] std::string kernel_isa();

}  // namespace fp8sim::cli
