// cli/cpu_info.cpp — the CPU model and the kernels' ISA level, for benchmark headers.
#include "cli/cpu_info.hpp"

#include <fstream>

#include "rounding/isa_level.hpp"

namespace fp8sim::cli {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown CPU" : line.substr(start);
  }
  return "unknown CPU";
}

std::string kernel_isa() {
  const int level = simd_isa_level();
  std::string s = level >= 4   ? "x86-64-v4 (AVX-512)"
                  : level == 3 ? "x86-64-v3 (AVX2, FMA)"
                               : "x86-64 baseline (SSE2)";
  if (__builtin_cpu_supports("avx512fp16")) s += "; AVX512-FP16 present";
  return s;
}

}  // namespace fp8sim::cli
