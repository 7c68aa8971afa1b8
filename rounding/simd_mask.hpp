// rounding/simd_mask.hpp — internal helpers of the per-ISA kernels (quantize_kernel.cpp,
// sim/gemm_kernels.cpp) on GCC vectors: broadcast and "is any lane set?".
#pragma once

#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <cstring>

#ifndef FP8SIM_ISA
#error "simd_mask.hpp belongs to the per-ISA kernel builds (FP8SIM_ISA)"
#endif

// Inside the ISA's own namespace: each ISA build has its own definition (no ODR clash);
// everything is inlined, so no vector crosses an ABI.
#pragma GCC diagnostic ignored "-Wpsabi"
namespace fp8sim::detail::FP8SIM_ISA {

/// x in every lane (one broadcast instruction; `V{} + x` would also turn -0 into +0).
template <class V, class T>
[[gnu::always_inline]] inline V broadcast(T x) {
  constexpr int n = sizeof(V) / sizeof(T);
  V v{};
  v[0] = x;
  if constexpr (n == 16) {
    return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  } else if constexpr (n == 8) {
    return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0);
  } else {
    static_assert(n == 4, "4, 8 or 16 lanes");
    return __builtin_shufflevector(v, v, 0, 0, 0, 0);
  }
}

/// True if any bit of the 32- or 64-byte mask vector is set.
template <class V>
[[gnu::always_inline]] inline bool any_lane(const V& m) {
  static_assert(sizeof(V) == 64 || sizeof(V) == 32, "32- or 64-byte vectors only");
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) {
    const __m512i v = std::bit_cast<__m512i>(m);
    return _mm512_test_epi64_mask(v, v) != 0;
  }
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) {
    const __m256i v = std::bit_cast<__m256i>(m);
    return !_mm256_testz_si256(v, v);
  } else {
    __m256i h[2];
    std::memcpy(h, &m, sizeof h);
    const __m256i o = _mm256_or_si256(h[0], h[1]);
    return !_mm256_testz_si256(o, o);
  }
#else
  std::uint64_t w[sizeof(V) / 8];
  std::memcpy(w, &m, sizeof w);
  std::uint64_t o = 0;
  for (const std::uint64_t x : w) o |= x;
  return o != 0;
#endif
}

}  // namespace fp8sim::detail::FP8SIM_ISA
