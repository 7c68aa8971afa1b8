// rounding/isa_level.cpp — the SIMD build to run: the CPU's best, or FP8SIM_ISA's.
#include "rounding/isa_level.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace fp8sim {

namespace {

int detect() {
  const int cpu = __builtin_cpu_supports("x86-64-v4")   ? 4
                  : __builtin_cpu_supports("x86-64-v3") ? 3
                                                        : 1;
  const char* env = std::getenv("FP8SIM_ISA");
  if (env == nullptr || *env == '\0') return cpu;
  const std::string s = env;
  const int want = s == "v4" ? 4 : s == "v3" ? 3 : s == "v1" ? 1 : 0;
  if (want == 0)
    throw std::invalid_argument(
        fmt::format("FP8SIM_ISA='{}' is not an ISA level (allowed: v4, v3, v1)", s));
  if (want > cpu) {
    fmt::print(stderr, "fp8sim: FP8SIM_ISA={} asks for more than this CPU supports; using v{}\n", s,
               cpu);
    return cpu;
  }
  return want;
}

}  // namespace

int simd_isa_level() {
  static const int level = detect();
  return level;
}

}  // namespace fp8sim
