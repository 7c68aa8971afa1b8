// rounding/philox_avx512.hpp — internal: Philox4x32-10 rounds (rounding/random_bits.hpp's
// generator) on AVX-512 vectors, for the kernels compiled with -march=x86-64-v4 (the
// quantizer's groups, the narrow GEMM kernel's accumulator streams). Each 32-bit state word
// sits in a 64-bit lane, so vpmuludq yields the whole 32x32 -> 64-bit product (high half
// by a shift); the lanes' high halves carry garbage that nothing reads (vpmuludq reads the
// low halves, and callers keep the low halves, e.g. by vpmovqd). Include only where
// __AVX512F__ is defined.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace fp8sim::detail {

/// Rounds first..9 on H vectors of 8 lanes each: state words x0..x3, keys (a, b) of round
/// `first`.
template <int H>
[[gnu::always_inline]] inline void philox_rounds_epi64(__m512i* x0, __m512i* x1, __m512i* x2,
                                                       __m512i* x3, std::uint32_t a,
                                                       std::uint32_t b, int first = 0) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53u);
  const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57u);
  for (int round = first; round < 10; ++round) {
    const __m512i ka = _mm512_set1_epi64(a), kb = _mm512_set1_epi64(b);
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) {
      const __m512i p0 = _mm512_mul_epu32(x0[h], m0);
      const __m512i p1 = _mm512_mul_epu32(x2[h], m1);
      x0[h] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x1[h], ka, 0x96);
      x2[h] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3[h], kb, 0x96);
      x1[h] = p1;
      x3[h] = p0;
    }
    a += 0x9E3779B9u;
    b += 0xBB67AE85u;
  }
}

}  // namespace fp8sim::detail
