// sim/kernels/multiterm_fp32.cpp — the "multiterm-fp32" kernel (AVX-512): multiterm units
// into a binary32 (or binary32-grid) accumulator, the terms aligned and truncated by
// binary64 (or int32) arithmetic, one rounding per group by a conversion with embedded
// rounding. gemm.cpp decides when it is exact (sim/kernels/kernels.hpp).
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

#if defined(__AVX512F__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which it then reports as
// "used uninitialized" (a false positive in the system header).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

// ------------------------------------------------------ multiterm into binary32, AVX-512 --
//
// multiterm(n, align) with a binary32 accumulator (rne, rtz or rup), on 8 outputs per
// vector: the largest magnitude of the group (vrangepd) gives the exponent; each term is
// truncated toward zero to a multiple of 2^(emax - align) by adding and subtracting
// 1.5 * 2^(emax - align + 52) with round-toward-zero (the sign of the term); the truncated
// terms sum exactly in binary64 (align + 1 + log2(n + 1) <= 53 bits), and one conversion
// with embedded rounding rounds the sum into binary32. A partial last group is padded with
// -0 products, which change nothing in these modes. Lanes that overflow, or (with flags)
// round inexactly below the normal range, are recomputed by generic_block.

constexpr std::int64_t kSign64 = std::numeric_limits<std::int64_t>::min();

struct MtChain {
  __m512d s, o;
  __m512i inex, swamp, carry;
  __mmask8 redo;
};

// The embedded-rounding control of the multiterm kernels' accumulator mode (0 rne, 2 rtz,
// 3 rup).
constexpr int mt_rounding(int mode) {
  return (mode == 0   ? _MM_FROUND_TO_NEAREST_INT
          : mode == 2 ? _MM_FROUND_TO_ZERO
                      : _MM_FROUND_TO_POS_INF) |
         _MM_FROUND_NO_EXC;
}

template <int Mode, int NT, bool kFlags, int R, int NV>
void multiterm_block(const EmuParams& p, std::size_t i, std::size_t j, const double* A,
                     const double* B, const double* C0, const TileOut& out, Totals& tot) {
  constexpr int kRound = mt_rounding(Mode);
  const std::size_t K = p.K, N = p.N;
  const __m512i sign = _mm512_set1_epi64(kSign64);
  const __m512i expo = _mm512_set1_epi64(0x7ff0000000000000);
  const __m512i c_add = _mm512_set1_epi64(
      static_cast<std::int64_t>((static_cast<std::uint64_t>(52 - p.align) << 52) | (1ull << 51)));
  const __m512i carry_add =
      _mm512_set1_epi64(static_cast<std::int64_t>(static_cast<std::uint64_t>(1 + p.carry) << 52));
  const __m512i one = _mm512_set1_epi64(1);
  const __m512d tiny = _mm512_set1_pd(0x1p-126);
  const __m512d fmax = _mm512_set1_pd(static_cast<double>(std::numeric_limits<float>::max()));
  const __m512d neg0 = _mm512_set1_pd(-0.0);
  MtChain ch[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      MtChain& c = ch[r][v];
      const __m512d c0 = C0 ? _mm512_loadu_pd(C0 + (i + r) * N + j + 8 * v) : _mm512_setzero_pd();
      c.s = p.chunk ? _mm512_setzero_pd() : c0;
      c.o = c0;
      c.inex = c.swamp = c.carry = _mm512_setzero_si512();
      c.redo = 0;
    }
  const std::size_t chunk = p.chunk ? p.chunk : K;
  for (std::size_t k0 = 0; k0 < K; k0 += chunk) {
    const std::size_t kend = std::min(K, k0 + chunk);
    for (std::size_t g = k0; g < kend; g += NT) {
      const std::size_t nn = std::min<std::size_t>(NT, kend - g);
      __m512d b[NT][NV];
      for (std::size_t q = 0; q < NT; ++q)
        for (int v = 0; v < NV; ++v)
          b[q][v] = q < nn ? _mm512_loadu_pd(B + (g + q) * N + j + 8 * v) : neg0;
      for (int r = 0; r < R; ++r) {
        __m512d a[NT];
        for (std::size_t q = 0; q < NT; ++q)
          a[q] = q < nn ? _mm512_set1_pd(A[(i + r) * K + g + q]) : _mm512_set1_pd(1.0);
        for (int v = 0; v < NV; ++v) {
          MtChain& c = ch[r][v];
          __m512d t[NT + 1];
          t[0] = c.s;
          for (int q = 0; q < NT; ++q) t[q + 1] = _mm512_mul_pd(a[q], b[q][v]);
          // max |.| (vrangepd): the products' tree first, off the accumulator's dependency chain
          __m512d pm[NT];
          for (int q = 0; q < NT; ++q) pm[q] = t[q + 1];
          for (int w = NT; w > 1; w /= 2)
            for (int q = 0; q < w / 2; ++q) pm[q] = _mm512_range_pd(pm[q], pm[q + w / 2], 0x0B);
          const __m512d mabs = _mm512_range_pd(pm[0], t[0], 0x0B);
          const __m512i eb = _mm512_and_si512(_mm512_castpd_si512(mabs), expo);
          const __m512i cabs = _mm512_add_epi64(eb, c_add);
          __m512d tr[NT + 1];
          for (int q = 0; q <= NT; ++q) {
            const __m512d ct = _mm512_castsi512_pd(
                _mm512_ternarylogic_epi64(cabs, _mm512_castpd_si512(t[q]), sign, 0xF8));
            tr[q] = _mm512_sub_pd(
                _mm512_add_round_pd(t[q], ct, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), ct);
          }
          // exact in any order: a tree of the products, the accumulator's term last
          __m512d sm[NT];
          for (int q = 0; q < NT; ++q) sm[q] = tr[q + 1];
          for (int w = NT; w > 1; w /= 2)
            for (int q = 0; q < w / 2; ++q) sm[q] = _mm512_add_pd(sm[q], sm[q + w / 2]);
          const __m512d total = _mm512_add_pd(sm[0], tr[0]);
          __m512d res = _mm512_cvtps_pd(_mm512_cvt_roundpd_ps(total, kRound));
          // all terms zero: -0 only if every term is -0 (IEEE, modes other than rdn)
          const __mmask8 all_zero = _mm512_cmp_pd_mask(mabs, _mm512_setzero_pd(), _CMP_EQ_OQ);
          if (all_zero) {
            __m512i andbits = _mm512_castpd_si512(t[0]);
            for (int q = 1; q <= NT; ++q)
              andbits = _mm512_and_si512(andbits, _mm512_castpd_si512(t[q]));
            res = _mm512_mask_mov_pd(res, all_zero, _mm512_castsi512_pd(andbits));
          }
          if constexpr (kFlags) {
            __mmask8 lost = 0;
            for (int q = 0; q <= NT; ++q) {
              const __mmask8 dropped = _mm512_cmp_pd_mask(tr[q], t[q], _CMP_NEQ_UQ);
              lost |= dropped;
              if (q > 0) {
                const __mmask8 gone = _mm512_mask_cmp_pd_mask(
                    _mm512_cmp_pd_mask(t[q], _mm512_setzero_pd(), _CMP_NEQ_UQ), tr[q],
                    _mm512_setzero_pd(), _CMP_EQ_OQ);
                c.swamp = _mm512_mask_add_epi64(c.swamp, gone, c.swamp, one);
              }
            }
            const __m512i tmag = _mm512_andnot_si512(sign, _mm512_castpd_si512(total));
            c.carry = _mm512_mask_add_epi64(
                c.carry, _mm512_cmpge_epu64_mask(tmag, _mm512_add_epi64(eb, carry_add)), c.carry,
                one);
            const __mmask8 inexact =
                lost |
                _mm512_mask_cmp_pd_mask(static_cast<__mmask8>(~all_zero), res, total, _CMP_NEQ_UQ);
            c.inex = _mm512_mask_add_epi64(c.inex, inexact, c.inex, one);
            const __m512d atot = _mm512_castsi512_pd(tmag);
            // (a zero sum raises no underflow, however much alignment dropped)
            c.redo |= _mm512_mask_cmp_pd_mask(
                _mm512_mask_cmp_pd_mask(inexact, atot, _mm512_setzero_pd(), _CMP_NEQ_UQ), atot,
                tiny, _CMP_LT_OQ);
            c.redo |= _mm512_cmp_pd_mask(atot, fmax, _CMP_GT_OQ);
          }
          c.s = res;
        }
      }
    }
    if (p.chunk) {  // outer binary32 rne: double rounding via binary64 is innocuous here
      for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) {
          MtChain& c = ch[r][v];
          const __m512d hi = _mm512_add_pd(c.o, c.s);
          const __m512d res = _mm512_cvtps_pd(_mm512_cvtpd_ps(hi));
          if constexpr (kFlags) {
            const __m512d bb = _mm512_sub_pd(hi, c.o);
            const __m512d lo =
                _mm512_add_pd(_mm512_sub_pd(c.o, _mm512_sub_pd(hi, bb)), _mm512_sub_pd(c.s, bb));
            const __mmask8 inexact = _mm512_cmp_pd_mask(lo, _mm512_setzero_pd(), _CMP_NEQ_UQ) |
                                     _mm512_cmp_pd_mask(res, hi, _CMP_NEQ_UQ);
            c.inex = _mm512_mask_add_epi64(c.inex, inexact, c.inex, one);
          }
          c.o = res;
          c.s = _mm512_setzero_pd();
        }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      MtChain& c = ch[r][v];
      const __m512d res = p.chunk ? c.o : c.s;
      // Inf or NaN: an overflow happened; the general path has its exact IEEE story
      const __mmask8 redo =
          c.redo | _mm512_cmp_pd_mask(_mm512_sub_pd(res, res), _mm512_setzero_pd(), _CMP_NEQ_UQ);
      const std::size_t ii = i + static_cast<std::size_t>(r),
                        jj = j + 8 * static_cast<std::size_t>(v);
      if (redo) {
        tot.redone += 8;
        generic_block(p, A, B, C0, ii, jj, 8, out, tot);
        continue;
      }
      alignas(64) double val[8];
      alignas(64) std::uint64_t inex[8], swamp[8], carry[8];
      _mm512_store_pd(val, res);
      _mm512_store_si512(inex, c.inex);
      _mm512_store_si512(swamp, c.swamp);
      _mm512_store_si512(carry, c.carry);
      for (int l = 0; l < 8; ++l) {
        const std::size_t o = ii * N + jj + static_cast<std::size_t>(l);
        out.value[o] = val[l];
        if constexpr (kFlags) {
          if (out.flags) out.flags[o] = inex[l] ? Flags{kInexact} : Flags{0};
          tot.inexact += inex[l];
          tot.swamped += swamp[l];
          tot.carry += carry[l];
        }
      }
    }
}

// Without flags, when products and C are exact binary32 values and the aligned sum fits
// 31 bits (align + 1 + log2(n + 1) <= 31; p.Af set): the same multiterm on 16 lanes of
// binary32 and int32. With E the group's largest exponent (vgetexpps of the vrangeps
// maximum), each term scaled by 2^(align - E) (exact) and truncated by vcvttps2dq is its
// aligned, truncated significand, an integer below 2^(align + 1); the integers sum exactly;
// one conversion with embedded rounding rounds the sum to 24 bits and a scaling by
// 2^(E - align) places it, exact unless the result is subnormal or overflows, and those
// lanes (with Inf or NaN) go to generic_block.
template <int Mode, int NT, int R>
void multiterm_block32(const EmuParams& p, std::size_t i, std::size_t j, const double* A,
                       const double* B, const double* C0, const TileOut& out, Totals& tot) {
  constexpr int kRound = mt_rounding(Mode);
  const std::size_t K = p.K, N = p.N;
  const float* Af = p.Af;
  const float* Bf = p.Bf;
  const __m512 align = _mm512_set1_ps(static_cast<float>(p.align));
  __m512 sv[R], ov[R];
  __mmask16 redo[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 c0 = p.Cf ? _mm512_loadu_ps(p.Cf + (i + r) * N + j) : _mm512_setzero_ps();
    sv[r] = p.chunk ? _mm512_setzero_ps() : c0;
    ov[r] = c0;
    redo[r] = 0;
  }
  const std::size_t chunk = p.chunk ? p.chunk : K;
  for (std::size_t k0 = 0; k0 < K; k0 += chunk) {
    const std::size_t kend = std::min(K, k0 + chunk);
    for (std::size_t g = k0; g < kend; g += NT) {
      const std::size_t nn = std::min<std::size_t>(NT, kend - g);
      __m512 b[NT];
      for (std::size_t q = 0; q < NT; ++q)
        b[q] = q < nn ? _mm512_loadu_ps(Bf + (g + q) * N + j) : _mm512_set1_ps(-0.0f);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        __m512 t[NT + 1];
        t[0] = sv[r];
        for (std::size_t q = 0; q < NT; ++q)
          t[q + 1] = _mm512_mul_ps(
              q < nn ? _mm512_set1_ps(Af[(i + r) * K + g + q]) : _mm512_set1_ps(1.0f), b[q]);
        // max |.|: the products' tree first, off the accumulator's dependency chain
        __m512 pm[NT];
        for (int q = 0; q < NT; ++q) pm[q] = t[q + 1];
        for (int w = NT; w > 1; w /= 2)
          for (int q = 0; q < w / 2; ++q) pm[q] = _mm512_range_ps(pm[q], pm[q + w / 2], 0x0B);
        const __m512 mabs = _mm512_range_ps(pm[0], t[0], 0x0B);
        const __m512 e = _mm512_getexp_ps(mabs);
        const __m512 up = _mm512_sub_ps(align, e);  // exact: small integers
        __m512i sum = _mm512_cvtt_roundps_epi32(_mm512_scalef_ps(t[0], up), _MM_FROUND_NO_EXC);
        for (int q = 1; q <= NT; ++q)
          sum = _mm512_add_epi32(
              sum, _mm512_cvtt_roundps_epi32(_mm512_scalef_ps(t[q], up), _MM_FROUND_NO_EXC));
        __m512 res =
            _mm512_scalef_ps(_mm512_cvt_roundepi32_ps(sum, kRound), _mm512_sub_ps(e, align));
        // all terms zero: -0 only if every term is -0 (IEEE, modes other than rdn)
        const __mmask16 all_zero = _mm512_cmp_ps_mask(mabs, _mm512_setzero_ps(), _CMP_EQ_OQ);
        if (all_zero) {
          __m512i andbits = _mm512_castps_si512(t[0]);
          for (int q = 1; q <= NT; ++q)
            andbits = _mm512_and_si512(andbits, _mm512_castps_si512(t[q]));
          res = _mm512_mask_mov_ps(res, all_zero, _mm512_castsi512_ps(andbits));
        }
        redo[r] |= _mm512_fpclass_ps_mask(res, 0x20);  // subnormal: rounded twice
        sv[r] = res;
      }
    }
    if (p.chunk) {  // outer binary32 rne
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        ov[r] = _mm512_add_ps(ov[r], sv[r]);
        sv[r] = _mm512_setzero_ps();
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 res = p.chunk ? ov[r] : sv[r];
    // Inf or NaN (an overflow happened): the general path has the exact IEEE story
    const __mmask16 bad =
        redo[r] | _mm512_cmp_ps_mask(_mm512_sub_ps(res, res), _mm512_setzero_ps(), _CMP_NEQ_UQ);
    alignas(64) float val[16];
    _mm512_store_ps(val, res);
    finish_row<false>(p, A, B, C0, i + static_cast<std::size_t>(r), j, 16, bad != 0, val, nullptr,
                      out, tot);
  }
}

}  // namespace

// The part of the tile the multiterm kernel covers: [i0, in) x [j0, jn).
void multiterm_tile(const EmuParams& p, const double* A, const double* B, const double* C0,
                    std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1,
                    const TileOut& out, Totals& tot, std::size_t& in, std::size_t& jn) {
  constexpr int R = 4, NV = 2;
  in = i0 + (i1 - i0) / R * R;
  jn = j0 + (j1 - j0) / (8 * NV) * (8 * NV);
  if (in == i0 || jn == j0) {
    in = i0;
    jn = j0;
    return;
  }
  const bool int32 = !p.flags && p.Af != nullptr;  // gemm.cpp checks the sum's width
  auto run = [&]<int Mode, int NT>() {
    for (std::size_t j = j0; j < jn; j += 8 * NV)
      for (std::size_t i = i0; i < in; i += R) {
        if (int32) {
          multiterm_block32<Mode, NT, R>(p, i, j, A, B, C0, out, tot);
        } else if (p.flags) {
          multiterm_block<Mode, NT, true, R, NV>(p, i, j, A, B, C0, out, tot);
        } else {
          multiterm_block<Mode, NT, false, R, NV>(p, i, j, A, B, C0, out, tot);
        }
      }
  };
  const bool eight = p.terms == 8;
  switch (p.acc.mode) {
    case 0:
      return eight ? run.template operator()<0, 8>() : run.template operator()<0, 4>();
    case 2:
      return eight ? run.template operator()<2, 8>() : run.template operator()<2, 4>();
    default:
      return eight ? run.template operator()<3, 8>() : run.template operator()<3, 4>();
  }
}
#endif  // __AVX512F__

}  // namespace fp8sim::detail::FP8SIM_ISA
