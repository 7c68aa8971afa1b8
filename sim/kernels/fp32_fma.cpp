// sim/kernels/fp32_fma.cpp — the "fp32-fma" kernel: the native binary32 FMA chain
// s = fma(a, b, s), RNE, in k order per output; optionally the number of inexact steps per
// output (TwoSum residual != 0). Compiled once per ISA level (sim/kernels/kernels.hpp).
#include "sim/kernels/family.hpp"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "rounding/simd_mask.hpp"

// Everything here is internal to one ISA build of this file: no vector crosses an ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fp8sim::detail::FP8SIM_ISA {

namespace {

// ------------------------------------------------------------------ binary32 FMA chain --

#if defined(__AVX512F__)
constexpr std::size_t W = 16;
using vf = float __attribute__((vector_size(64)));
[[gnu::always_inline]] inline vf vfma(vf a, vf b, vf c) {
  return std::bit_cast<vf>(_mm512_fmadd_ps(std::bit_cast<__m512>(a), std::bit_cast<__m512>(b),
                                           std::bit_cast<__m512>(c)));
}
#elif defined(__FMA__)
constexpr std::size_t W = 8;
using vf = float __attribute__((vector_size(32)));
[[gnu::always_inline]] inline vf vfma(vf a, vf b, vf c) {
  return std::bit_cast<vf>(_mm256_fmadd_ps(std::bit_cast<__m256>(a), std::bit_cast<__m256>(b),
                                           std::bit_cast<__m256>(c)));
}
#else
constexpr std::size_t W = 4;
using vf = float __attribute__((vector_size(16)));
[[gnu::always_inline]] inline vf vfma(vf a, vf b, vf c) {
  vf r;
  for (std::size_t l = 0; l < W; ++l) r[l] = std::fma(a[l], b[l], c[l]);
  return r;
}
#endif
using vfi = std::int32_t __attribute__((vector_size(sizeof(vf))));

// A scalar from memory in every lane: one vbroadcastss (the generic broadcast<> compiles to
// a masked load plus a shuffle here, which halved the FMA chain's speed).
[[gnu::always_inline]] inline vf splat_load(const float* p) {
#if defined(__AVX512F__)
  return std::bit_cast<vf>(_mm512_set1_ps(*p));
#elif defined(__AVX__)
  return std::bit_cast<vf>(_mm256_set1_ps(*p));
#else
  return broadcast<vf>(*p);
#endif
}

constexpr std::size_t KB = 256;  // k-block: the packed B panel (KB x 2W floats) stays in L1

// R rows x 2W columns of outputs advance through one k-block [k0, k0+kb): the partial sums
// live in `out` between k-blocks, so every output still sums its products in k order.
template <std::size_t R, bool kFlags>
void fp32_block(const float* A, const float* panel, std::size_t K, std::size_t N, std::size_t k0,
                std::size_t kb, std::size_t i, std::size_t j, float* out, std::uint32_t* inexact) {
  vf s[R][2];
  vfi cnt[R][2] = {};
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < 2; ++h)
      std::memcpy(&s[r][h], out + (i + r) * N + j + h * W, sizeof(vf));
  for (std::size_t kk = 0; kk < kb; ++kk) {
    vf b[2];
    std::memcpy(&b[0], panel + kk * 2 * W, sizeof(vf));
    std::memcpy(&b[1], panel + kk * 2 * W + W, sizeof(vf));
    for (std::size_t r = 0; r < R; ++r) {
      const vf a = splat_load(A + (i + r) * K + k0 + kk);
      for (std::size_t h = 0; h < 2; ++h) {
        if constexpr (kFlags) {
#if defined(__AVX512F__)
          // inexact iff the round-down and round-up results differ (NaN: never inexact)
          const __m512 av = std::bit_cast<__m512>(a), bv = std::bit_cast<__m512>(b[h]),
                       sv = std::bit_cast<__m512>(s[r][h]);
          const __mmask16 inexact = _mm512_cmp_ps_mask(
              _mm512_fmadd_round_ps(av, bv, sv, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC),
              _mm512_fmadd_round_ps(av, bv, sv, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC),
              _CMP_NEQ_OQ);
          const __m512i c = std::bit_cast<__m512i>(cnt[r][h]);
          cnt[r][h] =
              std::bit_cast<vfi>(_mm512_mask_sub_epi32(c, inexact, c, _mm512_set1_epi32(-1)));
          s[r][h] = vfma(a, b[h], s[r][h]);
#else
          const vf p = a * b[h];  // exact: products fit binary32
          const vf z = vfma(a, b[h], s[r][h]);
          const vf bb = z - s[r][h];
          const vf err = (s[r][h] - (z - bb)) + (p - bb);
          cnt[r][h] -= (err != 0.0f) & (z == z);
          s[r][h] = z;
#endif
        } else {
          s[r][h] = vfma(a, b[h], s[r][h]);
        }
      }
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < 2; ++h) {
      std::memcpy(out + (i + r) * N + j + h * W, &s[r][h], sizeof(vf));
      if constexpr (kFlags)
        for (std::size_t l = 0; l < W; ++l)
          inexact[(i + r) * N + j + h * W + l] += static_cast<std::uint32_t>(cnt[r][h][l]);
    }
}

// One output through one k-block, scalar (tile edges).
void fp32_scalar(const float* A, const float* B, std::size_t K, std::size_t N, std::size_t k0,
                 std::size_t kb, std::size_t i, std::size_t j, float* out, std::uint32_t* inexact) {
  float s = out[i * N + j];
  std::uint32_t n = 0;
  for (std::size_t k = k0; k < k0 + kb; ++k) {
    const float a = A[i * K + k], b = B[k * N + j];
    const float z = std::fma(a, b, s);
    if (inexact) {
      const float p = a * b;
      const float bb = z - s;
      const float err = (s - (z - bb)) + (p - bb);
      n += (err != 0.0f) && !std::isnan(z);
    }
    s = z;
  }
  out[i * N + j] = s;
  if (inexact) inexact[i * N + j] += n;
}

template <bool kFlags>
void fp32_tile_impl(const float* A, const float* B, const float* C0, std::size_t K, std::size_t N,
                    std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1, float* out,
                    std::uint32_t* inexact) {
  constexpr std::size_t R = kFlags ? 4 : 8;  // rows per register block
  for (std::size_t i = i0; i < i1; ++i)
    for (std::size_t j = j0; j < j1; ++j) {
      out[i * N + j] = C0 ? C0[i * N + j] : 0.0f;
      if (inexact) inexact[i * N + j] = 0;
    }
  alignas(64) float panel[KB * 2 * W];
  for (std::size_t k0 = 0; k0 < K; k0 += KB) {
    const std::size_t kb = std::min(KB, K - k0);
    std::size_t j = j0;
    for (; j + 2 * W <= j1; j += 2 * W) {
      for (std::size_t kk = 0; kk < kb; ++kk)
        std::memcpy(panel + kk * 2 * W, B + (k0 + kk) * N + j, 2 * W * sizeof(float));
      std::size_t i = i0;
      for (; i + R <= i1; i += R) fp32_block<R, kFlags>(A, panel, K, N, k0, kb, i, j, out, inexact);
      for (; i < i1; ++i)
        for (std::size_t jj = j; jj < j + 2 * W; ++jj)
          fp32_scalar(A, B, K, N, k0, kb, i, jj, out, inexact);
    }
    for (; j < j1; ++j)
      for (std::size_t i = i0; i < i1; ++i) fp32_scalar(A, B, K, N, k0, kb, i, j, out, inexact);
  }
}

}  // namespace

void fp32_tile(const float* A, const float* B, const float* C0, std::size_t K, std::size_t N,
               std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1, float* out,
               std::uint32_t* inexact_steps) {
  if (inexact_steps) {
    fp32_tile_impl<true>(A, B, C0, K, N, i0, i1, j0, j1, out, inexact_steps);
  } else {
    fp32_tile_impl<false>(A, B, C0, K, N, i0, i1, j0, j1, out, nullptr);
  }
}

}  // namespace fp8sim::detail::FP8SIM_ISA
