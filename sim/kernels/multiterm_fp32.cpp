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
#include <vector>

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

// The end of a chunk: the chunk's sum c.s added into the binary32 outer sum c.o with rne
// (double rounding via binary64 is innocuous here), its inexactness counted.
template <bool kFlags>
[[gnu::always_inline]] inline void add_chunk(MtChain& c, __m512i one) {
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

// The 8 outputs (ii, jj .. jj+7) of a finished chain: stored with their flags and counts, or
// (an overflow, or a lane flagged for redo) recomputed by generic_block.
template <bool kFlags>
void store_chain(const EmuParams& p, const MtChain& c, std::size_t ii, std::size_t jj,
                 const double* A, const double* B, const double* C0, const TileOut& out,
                 Totals& tot) {
  const __m512d res = p.chunk ? c.o : c.s;
  // Inf or NaN: an overflow happened; the general path has its exact IEEE story
  const __mmask8 redo =
      c.redo | _mm512_cmp_pd_mask(_mm512_sub_pd(res, res), _mm512_setzero_pd(), _CMP_NEQ_UQ);
  if (redo) {
    tot.redone += 8;
    generic_block(p, A, B, C0, ii, jj, 8, out, tot);
    return;
  }
  alignas(64) double val[8];
  alignas(64) std::uint64_t inex[8], swamp[8], carry[8];
  _mm512_store_pd(val, res);
  _mm512_store_si512(inex, c.inex);
  _mm512_store_si512(swamp, c.swamp);
  _mm512_store_si512(carry, c.carry);
  for (int l = 0; l < 8; ++l) {
    const std::size_t o = ii * p.N + jj + static_cast<std::size_t>(l);
    out.value[o] = val[l];
    if constexpr (kFlags) {
      if (out.flags) out.flags[o] = inex[l] ? Flags{kInexact} : Flags{0};
      tot.inexact += inex[l];
      tot.swamped += swamp[l];
      tot.carry += carry[l];
    }
  }
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
    if (p.chunk)
      for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) add_chunk<kFlags>(ch[r][v], one);
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      store_chain<kFlags>(p, ch[r][v], i + static_cast<std::size_t>(r),
                          j + 8 * static_cast<std::size_t>(v), A, B, C0, out, tot);
    }
}

// The columns j .. j + lanes of B (and of the exponent fields Fb) that a call reads, row k
// at b + k * ld, packed contiguously once per column block (rows of a wide B are a page
// apart, and those rows' lines compete for the same few L1 sets); or a block of rows of A
// (and Fa), interleaved (pack_rows).
template <class T>
struct Panel {
  const T* b;
  const T* fb;
  std::size_t ld;
};

// Packs columns [j, j + w) of the K x N matrices X and (if given) F into buf.
template <class T>
Panel<T> pack_panel(const T* X, const T* F, std::size_t K, std::size_t N, std::size_t j,
                    std::size_t w, std::vector<T>& buf) {
  buf.resize(K * w * (F ? 2 : 1));
  T* b = buf.data();
  T* f = F ? b + K * w : nullptr;
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t l = 0; l < w; ++l) b[k * w + l] = X[k * N + j + l];
  if (F)
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t l = 0; l < w; ++l) f[k * w + l] = F[k * N + j + l];
  return {b, f, w};
}

// Rows [i, i + R) of the M x K matrices X and (if given) F, interleaved (row r of column k
// at k * R + r) so that a call's broadcasts read consecutive memory: the rows are K apart.
template <class T>
Panel<T> pack_rows(const T* X, const T* F, std::size_t K, std::size_t i, std::size_t R,
                   std::vector<T>& buf) {
  buf.resize(K * R * (F ? 2 : 1));
  T* a = buf.data();
  T* f = F ? a + K * R : nullptr;
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t k = 0; k < K; ++k) {
      a[k * R + r] = X[(i + r) * K + k];
      if (F) f[k * R + r] = F[(i + r) * K + k];
    }
  return {a, f, R};
}

// Without flags, when products and C are exact binary32 values and the aligned sum fits
// 31 bits (align + 1 + log2(n + 1) <= 31; p.Af set): the same multiterm on 16 lanes of
// binary32 and int32. With E the group's largest exponent (the exponent bits of the
// vrangeps maximum), each term multiplied by 2^(align - E) (exact: a power of two built
// from E's bits) and truncated by vcvttps2dq is its aligned, truncated significand, an
// integer below 2^(align + 1); the integers sum exactly; one conversion with embedded
// rounding rounds the sum to 24 bits and a multiplication by 2^(E - align) places it,
// exact unless the result is subnormal or overflows. Those lanes, and lanes whose E is
// outside [align - 126, 127] (both powers of two must be normal binary32: a tiny or
// subnormal maximum, Inf or NaN), go to generic_block. (Multiplications rather than
// vscalefps, which issues at half the rate on some cores.)
template <int Mode, int NT, int R>
void multiterm_block32(const EmuParams& p, std::size_t i, std::size_t j, const double* A,
                       const double* B, const double* C0, const Panel<float>& pan,
                       const TileOut& out, Totals& tot) {
  constexpr int kRound = mt_rounding(Mode);
  const std::size_t K = p.K, N = p.N;
  const float* Af = p.Af;
  const auto align = static_cast<std::uint32_t>(p.align);
  const __m512i exp_mask = _mm512_set1_epi32(0x7f800000);
  const __m512i up_base = _mm512_set1_epi32(static_cast<int>((align + 254u) << 23));
  const __m512i down_off = _mm512_set1_epi32(static_cast<int>(align << 23));
  // E in range: Ebits - lo_bits <= span (unsigned)
  const __m512i lo_bits = _mm512_set1_epi32(static_cast<int>((align + 1u) << 23));
  const __m512i span = _mm512_set1_epi32(static_cast<int>(0x7f000000u - ((align + 1u) << 23)));
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
  // one group of nn <= NT products (kFull: nn == NT) into every row's accumulator
  auto group = [&]<bool kFull>(std::size_t g, std::size_t nn) {
    __m512 b[NT];
    for (std::size_t q = 0; q < NT; ++q)
      b[q] = kFull || q < nn ? _mm512_loadu_ps(pan.b + (g + q) * pan.ld) : _mm512_set1_ps(-0.0f);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m512 t[NT + 1];
      t[0] = sv[r];
      for (std::size_t q = 0; q < NT; ++q)
        t[q + 1] = _mm512_mul_ps(
            kFull || q < nn ? _mm512_set1_ps(Af[(i + r) * K + g + q]) : _mm512_set1_ps(1.0f), b[q]);
      // max |.|: the products' tree first, off the accumulator's dependency chain
      __m512 pm[NT];
      for (int q = 0; q < NT; ++q) pm[q] = t[q + 1];
      for (int w = NT; w > 1; w /= 2)
        for (int q = 0; q < w / 2; ++q) pm[q] = _mm512_range_ps(pm[q], pm[q + w / 2], 0x0B);
      const __m512 mabs = _mm512_range_ps(pm[0], t[0], 0x0B);  // sign cleared
      const __m512i mbits = _mm512_castps_si512(mabs);
      const __m512i ebits = _mm512_and_si512(mbits, exp_mask);
      const __m512 up = _mm512_castsi512_ps(_mm512_sub_epi32(up_base, ebits));     // 2^(align-E)
      const __m512 down = _mm512_castsi512_ps(_mm512_sub_epi32(ebits, down_off));  // 2^(E-align)
      __m512i sum = _mm512_cvtt_roundps_epi32(_mm512_mul_ps(t[0], up), _MM_FROUND_NO_EXC);
      for (int q = 1; q <= NT; ++q)
        sum = _mm512_add_epi32(
            sum, _mm512_cvtt_roundps_epi32(_mm512_mul_ps(t[q], up), _MM_FROUND_NO_EXC));
      __m512 res = _mm512_mul_ps(_mm512_cvt_roundepi32_ps(sum, kRound), down);
      // all terms zero: -0 only if every term is -0 (IEEE, modes other than rdn)
      const __mmask16 nonzero = _mm512_test_epi32_mask(mbits, mbits);
      if (nonzero != 0xffff) {
        const auto all_zero = static_cast<__mmask16>(~nonzero);
        __m512i andbits = _mm512_castps_si512(t[0]);
        for (int q = 1; q <= NT; ++q)
          andbits = _mm512_and_si512(andbits, _mm512_castps_si512(t[q]));
        res = _mm512_mask_mov_ps(res, all_zero, _mm512_castsi512_ps(andbits));
      }
      redo[r] |= _mm512_mask_cmpgt_epu32_mask(nonzero, _mm512_sub_epi32(ebits, lo_bits), span);
      redo[r] |= _mm512_fpclass_ps_mask(res, 0x20);  // subnormal: rounded twice
      sv[r] = res;
    }
  };
  for (std::size_t k0 = 0; k0 < K; k0 += chunk) {
    const std::size_t kend = std::min(K, k0 + chunk);
    std::size_t g = k0;
    for (; g + NT <= kend; g += NT) group.template operator()<true>(g, NT);
    if (g < kend) group.template operator()<false>(g, kend - g);
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

// ------------------------------------------- streaming form: any group size, align=field --
//
// align=field (kField): a product's alignment reference is its exponent field 2^(ea+eb)
// (Fa * Fb, exact powers of two, 0 for a zero product) instead of its leading bit; the
// accumulator's is its leading bit. An accumulator with fewer fraction bits on binary32's
// grid (kKeep, rtz only): the conversion truncates to 24 bits, clearing the low bits of the
// result truncates further (truncations compose).
//
// The same arithmetic in two passes over each group, for groups of 16 or 32 products and for
// align=field: the first pass finds the alignment reference (the largest |term|, or with
// kField the largest product exponent field Fa * Fb and the accumulator's leading bit), the
// second forms each product, truncates it to the grid 2^(E - align) and adds it to the
// exact sum. Nothing is held per term, so R rows share each row of B while it is in a
// register and the group size costs no registers.

// The sign of an all-zero group's result: the AND of every term's bits (IEEE: -0 only if
// every term is -0, modes other than rdn). Rare: a separate pass.
template <int R>
[[gnu::always_inline]] inline void zero_signs(const EmuParams& p, std::size_t i, std::size_t j,
                                              std::size_t g, std::size_t nn, const double* A,
                                              const double* B, const __m512d* s, __m512i* andbits) {
  for (int r = 0; r < R; ++r) andbits[r] = _mm512_castpd_si512(s[r]);
  for (std::size_t q = 0; q < nn; ++q) {
    const __m512d b = _mm512_loadu_pd(B + (g + q) * p.N + j);
    for (int r = 0; r < R; ++r)
      andbits[r] = _mm512_and_si512(andbits[r], _mm512_castpd_si512(_mm512_mul_pd(
                                                    _mm512_set1_pd(A[(i + r) * p.K + g + q]), b)));
  }
}

template <int Mode, bool kFlags, bool kField, bool kKeep, int R>
void multiterm_stream(const EmuParams& p, std::size_t i, std::size_t j, const double* A,
                      const double* B, const double* C0, const Panel<double>& pan,
                      const Panel<double>& ap, const TileOut& out, Totals& tot) {
  constexpr int kRound = mt_rounding(Mode);
  const std::size_t K = p.K, N = p.N, NT = static_cast<std::size_t>(p.terms);
  const __m512i sign = _mm512_set1_epi64(kSign64);
  const __m512i expo = _mm512_set1_epi64(0x7ff0000000000000);
  const __m512i c_add = _mm512_set1_epi64(
      static_cast<std::int64_t>((static_cast<std::uint64_t>(52 - p.align) << 52) | (1ull << 51)));
  const __m512i carry_add =
      _mm512_set1_epi64(static_cast<std::int64_t>(static_cast<std::uint64_t>(1 + p.carry) << 52));
  const __m512i one = _mm512_set1_epi64(1);
  const __m512d tiny = _mm512_set1_pd(0x1p-126);
  const __m512d fmax = _mm512_set1_pd(p.acc.max_finite);
  const __m256 keep = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(p.acc_keep)));
  MtChain ch[R];
  for (int r = 0; r < R; ++r) {
    MtChain& c = ch[r];
    const __m512d c0 = C0 ? _mm512_loadu_pd(C0 + (i + r) * N + j) : _mm512_setzero_pd();
    c.s = p.chunk ? _mm512_setzero_pd() : c0;
    c.o = c0;
    c.inex = c.swamp = c.carry = _mm512_setzero_si512();
    c.redo = 0;
  }
  const std::size_t chunk = p.chunk ? p.chunk : K;
  for (std::size_t k0 = 0; k0 < K; k0 += chunk) {
    const std::size_t kend = std::min(K, k0 + chunk);
    for (std::size_t g = k0; g < kend; g += NT) {
      const std::size_t nn = std::min(NT, kend - g);
      // pass 1: the alignment reference of each lane
      __m512d mx[R];
      for (int r = 0; r < R; ++r)
        mx[r] = _mm512_castsi512_pd(_mm512_andnot_si512(sign, _mm512_castpd_si512(ch[r].s)));
      for (std::size_t q = 0; q < nn; ++q) {
        if constexpr (kField) {
          const __m512d fb = _mm512_loadu_pd(pan.fb + (g + q) * pan.ld);
          for (int r = 0; r < R; ++r)
            mx[r] = _mm512_max_pd(mx[r], _mm512_mul_pd(_mm512_set1_pd(ap.fb[(g + q) * R + r]), fb));
        } else {
          const __m512d b = _mm512_loadu_pd(pan.b + (g + q) * pan.ld);
          for (int r = 0; r < R; ++r)
            mx[r] = _mm512_range_pd(mx[r], _mm512_mul_pd(_mm512_set1_pd(ap.b[(g + q) * R + r]), b),
                                    0x0B);
        }
      }
      // pass 2: the truncated terms' exact sum
      __m512i cabs[R], lost[R];
      __m512d sum[R];
      __mmask8 all_zero[R], any_zero = 0;
      for (int r = 0; r < R; ++r) {
        cabs[r] = _mm512_add_epi64(_mm512_and_si512(_mm512_castpd_si512(mx[r]), expo), c_add);
        all_zero[r] = _mm512_cmp_pd_mask(mx[r], _mm512_setzero_pd(), _CMP_EQ_OQ);
        any_zero |= all_zero[r];
        const __m512d t = ch[r].s;
        const __m512d ct = _mm512_castsi512_pd(
            _mm512_ternarylogic_epi64(cabs[r], _mm512_castpd_si512(t), sign, 0xF8));
        sum[r] =
            _mm512_sub_pd(_mm512_add_round_pd(t, ct, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), ct);
        lost[r] = _mm512_setzero_si512();
        if constexpr (kFlags)
          lost[r] = _mm512_movm_epi64(_mm512_cmp_pd_mask(sum[r], t, _CMP_NEQ_UQ));
      }
      for (std::size_t q = 0; q < nn; ++q) {
        const __m512d b = _mm512_loadu_pd(pan.b + (g + q) * pan.ld);
        for (int r = 0; r < R; ++r) {
          const __m512d t = _mm512_mul_pd(_mm512_set1_pd(ap.b[(g + q) * R + r]), b);
          const __m512d ct = _mm512_castsi512_pd(
              _mm512_ternarylogic_epi64(cabs[r], _mm512_castpd_si512(t), sign, 0xF8));
          const __m512d tr =
              _mm512_sub_pd(_mm512_add_round_pd(t, ct, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), ct);
          sum[r] = _mm512_add_pd(sum[r], tr);
          if constexpr (kFlags) {
            lost[r] =
                _mm512_or_si512(lost[r], _mm512_movm_epi64(_mm512_cmp_pd_mask(tr, t, _CMP_NEQ_UQ)));
            const __mmask8 gone =
                _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(t, _mm512_setzero_pd(), _CMP_NEQ_UQ), tr,
                                        _mm512_setzero_pd(), _CMP_EQ_OQ);
            ch[r].swamp = _mm512_mask_add_epi64(ch[r].swamp, gone, ch[r].swamp, one);
          }
        }
      }
      __m512i andbits[R];
      if (any_zero) {
        __m512d s[R];
        for (int r = 0; r < R; ++r) s[r] = ch[r].s;
        zero_signs<R>(p, i, j, g, nn, A, B, s, andbits);
      }
      for (int r = 0; r < R; ++r) {
        MtChain& c = ch[r];
        const __m512d total = sum[r];
        __m256 rf = _mm512_cvt_roundpd_ps(total, kRound);
        if constexpr (kKeep) rf = _mm256_and_ps(rf, keep);
        __m512d res = _mm512_cvtps_pd(rf);
        if (any_zero) res = _mm512_mask_mov_pd(res, all_zero[r], _mm512_castsi512_pd(andbits[r]));
        if constexpr (kFlags) {
          const __mmask8 lostm = _mm512_movepi64_mask(lost[r]);
          const __m512i tmag = _mm512_andnot_si512(sign, _mm512_castpd_si512(total));
          const __m512i eb = _mm512_and_si512(_mm512_castpd_si512(mx[r]), expo);
          c.carry = _mm512_mask_add_epi64(
              c.carry, _mm512_cmpge_epu64_mask(tmag, _mm512_add_epi64(eb, carry_add)), c.carry,
              one);
          const __mmask8 inexact =
              lostm |
              _mm512_mask_cmp_pd_mask(static_cast<__mmask8>(~all_zero[r]), res, total, _CMP_NEQ_UQ);
          c.inex = _mm512_mask_add_epi64(c.inex, inexact, c.inex, one);
          const __m512d atot = _mm512_castsi512_pd(tmag);
          // (a zero sum raises no underflow, however much alignment dropped)
          c.redo |= _mm512_mask_cmp_pd_mask(
              _mm512_mask_cmp_pd_mask(inexact, atot, _mm512_setzero_pd(), _CMP_NEQ_UQ), atot, tiny,
              _CMP_LT_OQ);
          c.redo |= _mm512_cmp_pd_mask(atot, fmax, _CMP_GT_OQ);
        }
        c.s = res;
      }
    }
    if (p.chunk)
      for (int r = 0; r < R; ++r) add_chunk<kFlags>(ch[r], one);
  }
  for (int r = 0; r < R; ++r)
    store_chain<kFlags>(p, ch[r], i + static_cast<std::size_t>(r), j, A, B, C0, out, tot);
}

// The int32 form of the streaming kernel (no flags, exact binary32 products and C, the
// aligned sum within 31 bits), 16 outputs per vector, as multiterm_block32.
template <int Mode, bool kField, bool kKeep, int R>
void multiterm_stream32(const EmuParams& p, std::size_t i, std::size_t j, const double* A,
                        const double* B, const double* C0, const Panel<float>& pan,
                        const Panel<float>& ap, const TileOut& out, Totals& tot) {
  constexpr int kRound = mt_rounding(Mode);
  const std::size_t K = p.K, N = p.N, NT = static_cast<std::size_t>(p.terms);
  const __m512 align = _mm512_set1_ps(static_cast<float>(p.align));
  const __m512 keep = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(p.acc_keep)));
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  __m512 sv[R], ov[R];
  __mmask16 redo[R];
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
      const std::size_t nn = std::min(NT, kend - g);
      __m512 mx[R];
      for (int r = 0; r < R; ++r)
        mx[r] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(sv[r]), abs_mask));
      for (std::size_t q = 0; q < nn; ++q) {
        if constexpr (kField) {
          const __m512 fb = _mm512_loadu_ps(pan.fb + (g + q) * pan.ld);
          for (int r = 0; r < R; ++r)
            mx[r] = _mm512_max_ps(mx[r], _mm512_mul_ps(_mm512_set1_ps(ap.fb[(g + q) * R + r]), fb));
        } else {
          const __m512 b = _mm512_loadu_ps(pan.b + (g + q) * pan.ld);
          for (int r = 0; r < R; ++r)
            mx[r] = _mm512_range_ps(mx[r], _mm512_mul_ps(_mm512_set1_ps(ap.b[(g + q) * R + r]), b),
                                    0x0B);
        }
      }
      __m512 e[R], up[R];
      __m512i sum[R];
      __mmask16 all_zero[R], any_zero = 0;
      for (int r = 0; r < R; ++r) {
        e[r] = _mm512_getexp_ps(mx[r]);
        up[r] = _mm512_sub_ps(align, e[r]);  // exact: small integers
        sum[r] = _mm512_cvtt_roundps_epi32(_mm512_scalef_ps(sv[r], up[r]), _MM_FROUND_NO_EXC);
        all_zero[r] = _mm512_cmp_ps_mask(mx[r], _mm512_setzero_ps(), _CMP_EQ_OQ);
        any_zero |= all_zero[r];
      }
      for (std::size_t q = 0; q < nn; ++q) {
        const __m512 b = _mm512_loadu_ps(pan.b + (g + q) * pan.ld);
        for (int r = 0; r < R; ++r)
          sum[r] = _mm512_add_epi32(
              sum[r],
              _mm512_cvtt_roundps_epi32(
                  _mm512_scalef_ps(_mm512_mul_ps(_mm512_set1_ps(ap.b[(g + q) * R + r]), b), up[r]),
                  _MM_FROUND_NO_EXC));
      }
      __m512i andbits[R];
      if (any_zero) {
        for (int r = 0; r < R; ++r) andbits[r] = _mm512_castps_si512(sv[r]);
        for (std::size_t q = 0; q < nn; ++q) {
          const __m512 b = _mm512_loadu_ps(pan.b + (g + q) * pan.ld);
          for (int r = 0; r < R; ++r)
            andbits[r] = _mm512_and_si512(
                andbits[r],
                _mm512_castps_si512(_mm512_mul_ps(_mm512_set1_ps(ap.b[(g + q) * R + r]), b)));
        }
      }
      for (int r = 0; r < R; ++r) {
        __m512 res =
            _mm512_scalef_ps(_mm512_cvt_roundepi32_ps(sum[r], kRound), _mm512_sub_ps(e[r], align));
        if (any_zero) res = _mm512_mask_mov_ps(res, all_zero[r], _mm512_castsi512_ps(andbits[r]));
        redo[r] |= _mm512_fpclass_ps_mask(res, 0x20);  // subnormal: rounded twice
        if constexpr (kKeep) res = _mm512_and_ps(res, keep);
        sv[r] = res;
      }
    }
    if (p.chunk) {  // outer binary32 rne
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
  const bool int32 = !p.flags && p.Af != nullptr;  // gemm.cpp checks the sum's width
  // groups of 4 or 8 aligned to the leading bit: the register form; else streaming
  const bool stream = p.field || p.terms > 8 || p.acc_keep != 0xffffffffu;
  // rows per call: the int32 streaming form holds 2 vectors per row in its inner loops
  constexpr std::size_t R = 4, R32 = 8;
  const std::size_t rows = int32 && stream ? R32 : R;
  const std::size_t cols = int32 ? 16 : (stream ? 8 : 16);
  in = i0 + (i1 - i0) / rows * rows;
  jn = j0 + (j1 - j0) / cols * cols;
  if (in == i0 || jn == j0) {
    in = i0;
    jn = j0;
    return;
  }
  std::vector<float> buf32;
  std::vector<double> buf64;
  // the tile's row blocks, packed once for all its column blocks
  const std::size_t nblk = (in - i0) / rows;
  std::vector<std::vector<float>> rows32(int32 && stream ? nblk : 0);
  std::vector<std::vector<double>> rows64(!int32 && stream ? nblk : 0);
  std::vector<Panel<float>> ap32(rows32.size());
  std::vector<Panel<double>> ap64(rows64.size());
  for (std::size_t b = 0; b < rows32.size(); ++b)
    ap32[b] = pack_rows(p.Af, p.field ? p.Fa32 : nullptr, p.K, i0 + b * rows, rows, rows32[b]);
  for (std::size_t b = 0; b < rows64.size(); ++b)
    ap64[b] = pack_rows(A, p.field ? p.Fa : nullptr, p.K, i0 + b * rows, rows, rows64[b]);
  auto run_stream = [&]<int Mode, bool kField, bool kKeep>() {
    for (std::size_t j = j0; j < jn; j += cols) {
      if (int32) {
        const Panel<float> pan =
            pack_panel(p.Bf, kField ? p.Fb32 : nullptr, p.K, p.N, j, cols, buf32);
        for (std::size_t b = 0; b < nblk; ++b)
          multiterm_stream32<Mode, kField, kKeep, R32>(p, i0 + b * rows, j, A, B, C0, pan, ap32[b],
                                                       out, tot);
      } else {
        const Panel<double> pan = pack_panel(B, kField ? p.Fb : nullptr, p.K, p.N, j, cols, buf64);
        for (std::size_t b = 0; b < nblk; ++b) {
          const std::size_t i = i0 + b * rows;
          if (p.flags) {
            multiterm_stream<Mode, true, kField, kKeep, R>(p, i, j, A, B, C0, pan, ap64[b], out,
                                                           tot);
          } else {
            multiterm_stream<Mode, false, kField, kKeep, R>(p, i, j, A, B, C0, pan, ap64[b], out,
                                                            tot);
          }
        }
      }
    }
  };
  auto run = [&]<int Mode, int NT>() {
    for (std::size_t j = j0; j < jn; j += cols) {
      Panel<float> pan{};
      if (int32)
        pan = pack_panel(p.Bf, static_cast<const float*>(nullptr), p.K, p.N, j, cols, buf32);
      for (std::size_t i = i0; i < in; i += rows) {
        if (int32) {
          multiterm_block32<Mode, NT, R>(p, i, j, A, B, C0, pan, out, tot);
        } else if (p.flags) {
          multiterm_block<Mode, NT, true, R, 2>(p, i, j, A, B, C0, out, tot);
        } else {
          multiterm_block<Mode, NT, false, R, 2>(p, i, j, A, B, C0, out, tot);
        }
      }
    }
  };
  auto by_kind = [&]<int Mode, bool kKeep>() {
    if (stream) {
      return p.field ? run_stream.template operator()<Mode, true, kKeep>()
                     : run_stream.template operator()<Mode, false, kKeep>();
    }
    if constexpr (!kKeep) {
      return p.terms == 8 ? run.template operator()<Mode, 8>() : run.template operator()<Mode, 4>();
    }
  };
  if (p.acc_keep != 0xffffffffu) {  // rtz only; the register form keeps all 24 bits
    if (stream) return by_kind.template operator()<2, true>();
  }
  switch (p.acc.mode) {
    case 0:
      return by_kind.template operator()<0, false>();
    case 2:
      return by_kind.template operator()<2, false>();
    default:
      return by_kind.template operator()<3, false>();
  }
}
#endif  // __AVX512F__

}  // namespace fp8sim::detail::FP8SIM_ISA
