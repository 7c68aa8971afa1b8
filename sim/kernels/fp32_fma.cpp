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
#include <vector>

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

constexpr std::size_t KB = 256;  // k-block: a packed B panel (KB x 2W floats) stays in L1/L2

// Rows per register block, for panels one (R1) and two (R2) vectors wide: the accumulators,
// and with flags their inexact counters, fit the register file (32 vectors with AVX-512, 16
// with AVX2) beside the B vectors and the broadcast A value.
template <bool kFlags>
struct Blocking {
#if defined(__AVX512F__)
  static constexpr std::size_t R1 = 8, R2 = kFlags ? 4 : 8;
#elif defined(__AVX2__)
  static constexpr std::size_t R1 = kFlags ? 4 : 8, R2 = kFlags ? 2 : 6;
#else
  static constexpr std::size_t R1 = kFlags ? 4 : 8, R2 = kFlags ? 2 : 4;
#endif
};

// One binary32 FMA step of R x NV accumulators, counting inexact steps when asked.
template <bool kFlags>
[[gnu::always_inline]] inline void fma_step(vf a, vf b, vf& s, vfi& cnt) {
  if constexpr (kFlags) {
#if defined(__AVX512F__)
    // inexact iff the round-down and round-up results differ (NaN: never inexact)
    const __m512 av = std::bit_cast<__m512>(a), bv = std::bit_cast<__m512>(b),
                 sv = std::bit_cast<__m512>(s);
    const __mmask16 inexact = _mm512_cmp_ps_mask(
        _mm512_fmadd_round_ps(av, bv, sv, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC),
        _mm512_fmadd_round_ps(av, bv, sv, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC), _CMP_NEQ_OQ);
    const __m512i c = std::bit_cast<__m512i>(cnt);
    cnt = std::bit_cast<vfi>(_mm512_mask_sub_epi32(c, inexact, c, _mm512_set1_epi32(-1)));
    s = vfma(a, b, s);
#else
    const vf p = a * b;  // exact: products fit binary32
    const vf z = vfma(a, b, s);
    const vf bb = z - s;
    const vf err = (s - (z - bb)) + (p - bb);
    cnt -= (err != 0.0f) & (z == z);
    s = z;
#endif
  } else {
    s = vfma(a, b, s);
  }
}

// The register block: R rows x NV vectors of outputs at c (row stride ldc) advance through
// kb steps; row r's k-th input is a[kk * R + r] (a packed A panel) or, with lda != 0,
// a[r * lda + kk] (A in place); b + kk * ldb is the k-th row of the B panel. The partial sums
// live in c between k-blocks, so every output still sums its products in k order. inexact
// (same layout as c) += the inexact steps.
template <std::size_t R, std::size_t NV, bool kFlags>
void fp32_micro(const float* a, std::size_t lda, const float* b, std::size_t ldb, std::size_t kb,
                float* c, std::size_t ldc, std::uint32_t* inexact) {
  vf s[R][NV];
  vfi cnt[R][NV] = {};
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < NV; ++h) std::memcpy(&s[r][h], c + r * ldc + h * W, sizeof(vf));
  for (std::size_t kk = 0; kk < kb; ++kk) {
    vf bv[NV];
    for (std::size_t h = 0; h < NV; ++h) std::memcpy(&bv[h], b + kk * ldb + h * W, sizeof(vf));
    for (std::size_t r = 0; r < R; ++r) {
      const vf av = splat_load(lda ? a + r * lda + kk : a + kk * R + r);
      for (std::size_t h = 0; h < NV; ++h) fma_step<kFlags>(av, bv[h], s[r][h], cnt[r][h]);
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < NV; ++h) {
      std::memcpy(c + r * ldc + h * W, &s[r][h], sizeof(vf));
      if constexpr (kFlags)
        for (std::size_t l = 0; l < W; ++l)
          inexact[r * ldc + h * W + l] += static_cast<std::uint32_t>(cnt[r][h][l]);
    }
}

// dst[0, PW) = src[0, cols) and zeros (a constant-size copy when whole: a memcpy of variable
// size compiles to rep movsq here, which cost 97% of the packing).
template <std::size_t PW>
[[gnu::always_inline]] inline void copy_padded(float* dst, const float* src, std::size_t cols) {
  if (cols == PW) {
    std::memcpy(dst, src, PW * sizeof(float));
    return;
  }
  for (std::size_t l = 0; l < PW; ++l) dst[l] = l < cols ? src[l] : 0.0f;
}

// Per-thread scratch of the tile function (reused across calls: tiles are small).
struct Scratch {
  std::vector<float> apack, arest, bpanel, ctmp;
  std::vector<std::uint32_t> itmp;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// One panel of columns [j, j + cols) (cols <= NV * W) through one k-block for all of the
// tile's register blocks: B's rows packed (zero columns past the tile; read in place when the
// panel is whole and used by one register block only), A's rows packed (ap) or read in place;
// a block at the tile's edge runs on a padded copy of its outputs.
template <std::size_t R, std::size_t NV, bool kFlags>
void fp32_panel(const float* A, const float* ap, std::size_t ap_stride, bool pack_a, const float* B,
                const float* bpacked, std::size_t K, std::size_t N, std::size_t k0, std::size_t kb,
                std::size_t i0, std::size_t i1, std::size_t j, std::size_t cols, float* out,
                std::uint32_t* inexact, Scratch& sc) {
  constexpr std::size_t PW = NV * W;  // panel width
  const std::size_t blocks = (i1 - i0 + R - 1) / R;
  const float* bp = B + k0 * N + j;
  std::size_t ldb = N;
  if (bpacked) {  // the engine's packed copy of B: panels 2W wide, zero-padded
    bp = bpacked + ((j / (2 * W)) * K + k0) * (2 * W) + j % (2 * W);
    ldb = 2 * W;
  } else if (cols < PW || blocks > 1) {
    float* panel = sc.bpanel.data();
    for (std::size_t kk = 0; kk < kb; ++kk)
      copy_padded<PW>(panel + kk * PW, B + (k0 + kk) * N + j, cols);
    bp = panel;
    ldb = PW;
  }
  for (std::size_t rb = 0; rb < blocks; ++rb) {
    const std::size_t i = i0 + rb * R, rows = std::min(R, i1 - i);
    float* rest = sc.arest.data();
    if (!pack_a && rows < R) {  // the rows left over: packed after all
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t kk = 0; kk < kb; ++kk)
          rest[kk * R + r] = r < rows ? A[(i + r) * K + k0 + kk] : 0.0f;
    }
    const bool in_place = !pack_a && rows == R;
    const float* a = in_place ? A + i * K + k0 : pack_a ? ap + rb * ap_stride : rest;
    const std::size_t lda = in_place ? K : 0;
    if (rows == R && cols == PW) {
      fp32_micro<R, NV, kFlags>(a, lda, bp, ldb, kb, out + i * N + j, N,
                                kFlags ? inexact + i * N + j : nullptr);
      continue;
    }
    float* ct = sc.ctmp.data();
    std::uint32_t* it = kFlags ? sc.itmp.data() : nullptr;
    if (kFlags) std::fill(it, it + R * PW, 0u);
    for (std::size_t r = 0; r < R; ++r) {
      if (r < rows) {
        copy_padded<PW>(ct + r * PW, out + (i + r) * N + j, cols);
      } else {
        std::fill(ct + r * PW, ct + (r + 1) * PW, 0.0f);
      }
    }
    fp32_micro<R, NV, kFlags>(a, lda, bp, ldb, kb, ct, PW, it);
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t l = 0; l < cols; ++l) out[(i + r) * N + j + l] = ct[r * PW + l];
      if (kFlags)
        for (std::size_t l = 0; l < cols; ++l) inexact[(i + r) * N + j + l] += it[r * PW + l];
    }
  }
}

// The tile with panels NV vectors wide, R rows per register block. Per k-block: A's rows
// packed R at a time (zero rows past the tile) when several panels read them (or read from
// the engine's packed copy, apacked: fp32_pack_a's layout with R rows per block), then the
// panels; a last panel of at most one vector takes the one-vector register block when that
// has as many rows (no padded half).
template <std::size_t R, std::size_t NV, bool kFlags>
void fp32_tile_nv(const float* A, const float* apacked, const float* B, const float* bpacked,
                  std::size_t K, std::size_t N, std::size_t i0, std::size_t i1, std::size_t j0,
                  std::size_t j1, float* out, std::uint32_t* inexact) {
  constexpr std::size_t PW = NV * W;  // panel width
  constexpr bool narrow_last = NV == 2 && Blocking<kFlags>::R1 == R;
  const std::size_t blocks = (i1 - i0 + R - 1) / R;
  Scratch& sc = scratch();
  sc.apack.resize(blocks * R * KB);
  sc.arest.resize(R * KB);
  sc.bpanel.resize(KB * PW);
  sc.ctmp.resize(R * PW);
  if (kFlags) sc.itmp.resize(R * PW);
  float* ap = sc.apack.data();
  // A is packed when several panels read it; a tile one panel wide (a convolution of 16
  // channels) reads it in place, whole register blocks of rows at least
  const bool pack_a = j1 - j0 > PW;
  const bool global_a = pack_a && apacked && i0 % R == 0;
  for (std::size_t k0 = 0; k0 < K; k0 += KB) {
    const std::size_t kb = std::min(KB, K - k0);
    const float* apk = global_a ? apacked + ((i0 / R) * K + k0) * R : ap;
    const std::size_t ap_stride = global_a ? R * K : R * kb;
    for (std::size_t rb = 0; rb < blocks && pack_a && !global_a; ++rb)
      for (std::size_t r = 0; r < R; ++r) {
        const std::size_t i = i0 + rb * R + r;
        float* dst = ap + rb * R * kb + r;
        if (i < i1) {
          const float* src = A + i * K + k0;
          for (std::size_t kk = 0; kk < kb; ++kk) dst[kk * R] = src[kk];
        } else {
          for (std::size_t kk = 0; kk < kb; ++kk) dst[kk * R] = 0.0f;
        }
      }
    for (std::size_t j = j0; j < j1; j += PW) {
      const std::size_t cols = std::min(PW, j1 - j);
      if (narrow_last && cols <= W) {
        fp32_panel<R, 1, kFlags>(A, apk, ap_stride, pack_a, B, bpacked, K, N, k0, kb, i0, i1, j,
                                 cols, out, inexact, sc);
      } else {
        fp32_panel<R, NV, kFlags>(A, apk, ap_stride, pack_a, B, bpacked, K, N, k0, kb, i0, i1, j,
                                  cols, out, inexact, sc);
      }
    }
  }
}

// Whether every output of the tile is finite (else the engine hands those to the reference
// model). On the bits, branch-free, while the tile is still in cache.
bool tile_finite(const float* out, std::size_t N, std::size_t i0, std::size_t i1, std::size_t j0,
                 std::size_t j1) {
  std::uint32_t special = 0;
  for (std::size_t i = i0; i < i1; ++i)
    for (std::size_t j = j0; j < j1; ++j) {
      std::uint32_t b;
      std::memcpy(&b, out + i * N + j, sizeof b);
      special |= (b & 0x7f800000u) == 0x7f800000u ? 1u : 0u;
    }
  return special == 0;
}

template <bool kFlags>
bool fp32_tile_impl(const float* A, const float* apacked, const float* B, const float* bpacked,
                    const float* C0, std::size_t K, std::size_t N, std::size_t i0, std::size_t i1,
                    std::size_t j0, std::size_t j1, float* out, std::uint32_t* inexact) {
  for (std::size_t i = i0; i < i1; ++i) {
    if (C0) {
      std::memcpy(out + i * N + j0, C0 + i * N + j0, (j1 - j0) * sizeof(float));
    } else {
      std::fill(out + i * N + j0, out + i * N + j1, 0.0f);
    }
    if (inexact) std::fill(inexact + i * N + j0, inexact + i * N + j1, 0u);
  }
  if (K == 0 || i0 >= i1 || j0 >= j1) return tile_finite(out, N, i0, i1, j0, j1);
  using Bl = Blocking<kFlags>;
  // one vector wide when the tile's columns fit one vector (a 16-channel convolution)
  if (j1 - j0 <= W) {
    fp32_tile_nv<Bl::R1, 1, kFlags>(A, nullptr, B, bpacked, K, N, i0, i1, j0, j1, out, inexact);
  } else {
    fp32_tile_nv<Bl::R2, 2, kFlags>(A, apacked, B, bpacked, K, N, i0, i1, j0, j1, out, inexact);
  }
  return tile_finite(out, N, i0, i1, j0, j1);
}

}  // namespace

bool fp32_tile(const float* A, const float* apacked, const float* B, const float* bpacked,
               const float* C0, std::size_t K, std::size_t N, std::size_t i0, std::size_t i1,
               std::size_t j0, std::size_t j1, float* out, std::uint32_t* inexact_steps) {
  if (inexact_steps)
    return fp32_tile_impl<true>(A, apacked, B, bpacked, C0, K, N, i0, i1, j0, j1, out,
                                inexact_steps);
  return fp32_tile_impl<false>(A, apacked, B, bpacked, C0, K, N, i0, i1, j0, j1, out, nullptr);
}

std::size_t fp32_pack_rows(bool flags) {
  return flags ? Blocking<true>::R2 : Blocking<false>::R2;
}

void fp32_pack_a(const float* A, std::size_t M, std::size_t K, std::size_t R, std::size_t b_lo,
                 std::size_t b_hi, float* packed) {
  for (std::size_t b = b_lo; b < b_hi; ++b)
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t i = b * R + r;
      float* dst = packed + b * K * R + r;
      if (i < M) {
        const float* src = A + i * K;
        for (std::size_t k = 0; k < K; ++k) dst[k * R] = src[k];
      } else {
        for (std::size_t k = 0; k < K; ++k) dst[k * R] = 0.0f;
      }
    }
}

std::size_t fp32_pack_width() {
  return 2 * W;
}

void fp32_pack_b(const float* B, std::size_t K, std::size_t N, std::size_t k_lo, std::size_t k_hi,
                 float* packed) {
  constexpr std::size_t PW = 2 * W;
  for (std::size_t p = 0; p * PW < N; ++p) {
    const std::size_t cols = std::min(PW, N - p * PW);
    for (std::size_t k = k_lo; k < k_hi; ++k)
      copy_padded<PW>(packed + (p * K + k) * PW, B + k * N + p * PW, cols);
  }
}

}  // namespace fp8sim::detail::FP8SIM_ISA
