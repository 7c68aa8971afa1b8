// sim/kernels/narrow_fp32.cpp — the "emulated-fp32" kernel: narrow accumulators (<= 21
// fraction bits, rne or sr; the outer accumulator of a chunked unit too) computed on
// binary32 with round-to-odd, 16 outputs per vector with AVX-512, 8 with AVX2 (sequential,
// no chunks). gemm.cpp decides when it is exact (sim/kernels/kernels.hpp).
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
#if defined(__AVX512F__)
#include "rounding/philox_avx512.hpp"
#endif

// Everything here is internal to one ISA build of this file: no vector crosses an ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fp8sim::detail::FP8SIM_ISA {

#if defined(__AVX2__)
namespace {

// f.template operator()<Kind>() for the binary32 kernel's accumulator kind.
template <class F>
[[gnu::always_inline]] inline void by_narrow_kind(int kind, F&& f) {
  switch (kind) {
    case kNarrowF16:
      return f.template operator()<kNarrowF16>();
    case kNarrowRne:
      return f.template operator()<kNarrowRne>();
    default:
      return f.template operator()<kNarrowSr>();
  }
}

}  // namespace

#if defined(__AVX2__) && !defined(__AVX512F__)
// --------------------------------------- binary32 kernel for narrow accumulators, AVX2 --
namespace {
//
// The AVX-512 kernel below without embedded rounding: sequential structure only, 8 outputs
// per vector, 4 rows in flight. Each step's exact s + a*b (a*b exact in binary32) is
// x = fl(s + p) plus the TwoSum error e, exact; round to odd is x stepped one ulp toward e
// when e != 0 and x is even, truncation (sr without flags) x stepped toward zero when e has
// the other sign. Then the same rounding into the accumulator: vcvtps2ph (fp16) or integer
// arithmetic on the bits (rne, sr). Lanes that meet a value below the accumulator's normal
// range or above its max finite (with flags: an inexact tiny fp16 result or an overflow) go
// to generic_block, as in the AVX-512 kernel.

struct NarrowTarget2 {
  int sh = 0;         // discarded bits: 23 - m
  __m256i keep{};     // ~(2^sh - 1)
  __m256i half_m1{};  // 2^(sh-1) - 1
  __m256i sr_mask{};  // sr: the r bits under the top r discarded bits
  int sr_bits = 0, sr_fields = 1;
  std::uint32_t emin_bits = 0, max_bits = 0;
  explicit NarrowTarget2(const RoundTarget& t) {
    sh = 23 - t.m;
    keep = _mm256_set1_epi32(static_cast<int>(~((1u << sh) - 1u)));
    half_m1 = _mm256_set1_epi32(static_cast<int>((1u << (sh - 1)) - 1u));
    if (t.mode == 6) {
      sr_bits = t.sr_bits;
      sr_fields = random_fields_per_word(sr_bits);
      sr_mask = _mm256_set1_epi32(static_cast<int>(((1u << sr_bits) - 1u) << (sh - sr_bits)));
    }
    emin_bits = static_cast<std::uint32_t>(t.emin + 127) << 23;
    max_bits = std::bit_cast<std::uint32_t>(static_cast<float>(t.max_finite));
  }
};

[[gnu::always_inline]] inline __m256i bits2(__m256 x) {
  return _mm256_castps_si256(x);
}

// Philox4x32-10 for the 8 streams stream[0..8) and one block: buf[w][l] = stream word
// 4 * block + w of lane l (rounding/random_bits.hpp). 32-bit state words in 64-bit lanes.
[[gnu::always_inline]] inline void philox8(std::uint64_t seed, const std::uint64_t* stream,
                                           std::uint64_t block, std::uint32_t (*buf)[8]) {
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53u);
  const __m256i m1 = _mm256_set1_epi64x(0xCD9E8D57u);
  const __m256i lo_words = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  __m256i x0[2], x1[2], x2[2], x3[2];
  for (int h = 0; h < 2; ++h) {
    x0[h] = _mm256_set1_epi64x(static_cast<std::uint32_t>(block));
    x1[h] = _mm256_set1_epi64x(static_cast<std::uint32_t>(block >> 32));
    x2[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(stream + 4 * h));
    x3[h] = _mm256_srli_epi64(x2[h], 32);
  }
  auto a = static_cast<std::uint32_t>(seed), b = static_cast<std::uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m256i ka = _mm256_set1_epi64x(a), kb = _mm256_set1_epi64x(b);
    for (int h = 0; h < 2; ++h) {
      const __m256i p0 = _mm256_mul_epu32(x0[h], m0);
      const __m256i p1 = _mm256_mul_epu32(x2[h], m1);
      x0[h] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1[h]), ka);
      x2[h] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3[h]), kb);
      x1[h] = p1;
      x3[h] = p0;
    }
    a += 0x9E3779B9u;
    b += 0xBB67AE85u;
  }
  const __m256i* xs[4] = {x0, x1, x2, x3};
  for (int w = 0; w < 4; ++w)
    for (int h = 0; h < 2; ++h)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(buf[w] + 4 * h),
                       _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(xs[w][h], lo_words)));
}

// R rows x 8 outputs at (i, j): the whole reduction.
template <int Acc, bool kFlags, int R>
void narrow_block2(const EmuParams& p, const NarrowTarget2& ta, std::size_t i, std::size_t j,
                   const double* A, const double* B, const double* C0, const TileOut& out,
                   Totals& tot) {
  const std::size_t K = p.K, N = p.N;
  const float* Af = p.Af;
  const float* Bf = p.Bf;
  constexpr bool kSr = Acc == kNarrowSr;
  __m256 sv[R];
  __m256i cnt[R];
  for (int r = 0; r < R; ++r) {
    sv[r] = p.Cf ? _mm256_loadu_ps(p.Cf + (i + r) * N + j) : _mm256_setzero_ps();
    cnt[r] = _mm256_setzero_si256();
  }
  __m256i mn = _mm256_set1_epi32(-1), mx = _mm256_setzero_si256();
  const __m256i one = _mm256_set1_epi32(1), mag_mask = _mm256_set1_epi32(0x7fffffff);
  alignas(32) std::uint32_t rb[kSr ? R : 1][4][8];
  alignas(32) std::uint64_t st[kSr ? R : 1][8];
  if constexpr (kSr)
    for (int r = 0; r < R; ++r)
      for (int l = 0; l < 8; ++l)
        st[r][l] = (static_cast<std::uint64_t>(RandomSite::acc) << 56) |
                   (p.output_offset + (i + static_cast<std::size_t>(r)) * N + j +
                    static_cast<std::size_t>(l));
  std::uint64_t wi = 0;
  int q = 0;
  for (std::size_t k = 0; k < K; ++k) {
    __m128i lsh{}, rsh{};
    if constexpr (kSr) {
      if (q == 0 && (wi & 3) == 0)
        for (int r = 0; r < R; ++r) philox8(p.seed, st[r], wi >> 2, rb[r]);
      // field q of the word under the top r discarded bits: (w << r*q) >> (32 - sh), masked
      lsh = _mm_cvtsi32_si128(ta.sr_bits * q);
      rsh = _mm_cvtsi32_si128(32 - ta.sh);
    }
    const __m256 b = _mm256_loadu_ps(Bf + k * N + j);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 pr = _mm256_mul_ps(_mm256_set1_ps(Af[(i + r) * K + k]), b);  // exact
      const __m256 s = sv[r];
      const __m256 x = _mm256_add_ps(s, pr);
      const __m256 bb = _mm256_sub_ps(x, s);
      const __m256 e = _mm256_add_ps(_mm256_sub_ps(s, _mm256_sub_ps(x, bb)), _mm256_sub_ps(pr, bb));
      const __m256i xb = bits2(x);
      // (ordered: after an overflow to Inf, e is NaN and x must stay Inf)
      const __m256i e_nz = bits2(_mm256_cmp_ps(e, _mm256_setzero_ps(), _CMP_NEQ_OQ));
      // -1 where e points toward zero from x (signs differ), else 0
      const __m256i toward0 = _mm256_srai_epi32(_mm256_xor_si256(bits2(e), xb), 31);
      __m256i xr;
      if constexpr (kSr && !kFlags) {
        xr = _mm256_add_epi32(xb, _mm256_and_si256(e_nz, toward0));  // truncated
      } else {
        const __m256i even = _mm256_cmpeq_epi32(_mm256_and_si256(xb, one), _mm256_setzero_si256());
        const __m256i step =
            _mm256_and_si256(_mm256_and_si256(e_nz, even), _mm256_or_si256(toward0, one));
        xr = _mm256_add_epi32(xb, step);  // rounded to odd
      }
      __m256 y;
      if constexpr (Acc == kNarrowF16) {
        y = _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_castsi256_ps(xr), _MM_FROUND_TO_NEAREST_INT));
      } else if constexpr (Acc == kNarrowRne) {
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(xr, ta.sh), one);
        y = _mm256_castsi256_ps(
            _mm256_and_si256(_mm256_add_epi32(_mm256_add_epi32(xr, ta.half_m1), lsb), ta.keep));
      } else {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(rb[r][wi & 3]));
        const __m256i add =
            _mm256_and_si256(_mm256_srl_epi32(_mm256_sll_epi32(w, lsh), rsh), ta.sr_mask);
        y = _mm256_castsi256_ps(_mm256_and_si256(_mm256_add_epi32(xr, add), ta.keep));
      }
      const __m256i mag = _mm256_and_si256(xr, mag_mask);
      if constexpr (Acc == kNarrowF16) {
        if constexpr (kFlags) {
          const __m256i inex = bits2(_mm256_cmp_ps(y, _mm256_castsi256_ps(xr), _CMP_NEQ_UQ));
          cnt[r] = _mm256_sub_epi32(cnt[r], inex);
          mn = _mm256_min_epu32(
              mn, _mm256_or_si256(mag, _mm256_andnot_si256(inex, _mm256_set1_epi32(-1))));
        }
      } else {
        mn = _mm256_min_epu32(mn, _mm256_sub_epi32(mag, one));
        mx = _mm256_max_epu32(mx, mag);
        if constexpr (kFlags)
          cnt[r] = _mm256_sub_epi32(cnt[r],
                                    bits2(_mm256_cmp_ps(y, _mm256_castsi256_ps(xr), _CMP_NEQ_UQ)));
      }
      sv[r] = y;
    }
    if constexpr (kSr) {
      if (++q == ta.sr_fields) {
        q = 0;
        ++wi;
      }
    }
  }
  // lanes to recompute, as in the AVX-512 kernel (unsigned compares by the sign flip)
  const __m256i flip = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  auto ult = [&](__m256i u, std::uint32_t c) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(c ^ 0x80000000u)),
                              _mm256_xor_si256(u, flip));
  };
  auto ugt = [&](__m256i u, std::uint32_t c) {
    return _mm256_cmpgt_epi32(_mm256_xor_si256(u, flip),
                              _mm256_set1_epi32(static_cast<int>(c ^ 0x80000000u)));
  };
  __m256i redo_all = _mm256_setzero_si256();
  if constexpr (Acc == kNarrowF16) {
    if constexpr (kFlags) redo_all = ult(mn, ta.emin_bits);
  } else {
    redo_all = _mm256_or_si256(ult(mn, ta.emin_bits - 1), ugt(mx, ta.max_bits));
  }
  for (int r = 0; r < R; ++r) {
    __m256i redo = redo_all;
    if constexpr (kFlags)
      redo = _mm256_or_si256(redo, _mm256_cmpeq_epi32(_mm256_and_si256(bits2(sv[r]), mag_mask),
                                                      _mm256_set1_epi32(0x7f800000)));
    alignas(32) float val[8];
    alignas(32) std::uint32_t c[8];
    _mm256_store_ps(val, sv[r]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), cnt[r]);
    finish_row<kFlags>(p, A, B, C0, i + static_cast<std::size_t>(r), j, 8,
                       !_mm256_testz_si256(redo, redo), val, c, out, tot);
  }
}

}  // namespace

// The part of the tile the AVX2 binary32 kernel covers: [i0, in) x [j0, jn).
void narrow_tile(const EmuParams& p, const double* A, const double* B, const double* C0,
                 std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1, const TileOut& out,
                 Totals& tot, std::size_t& in, std::size_t& jn) {
  constexpr std::size_t R = 4, W = 8;
  in = i0 + (i1 - i0) / R * R;
  jn = j0 + (j1 - j0) / W * W;
  if (in == i0 || jn == j0 || p.chunk) {
    in = i0;
    jn = j0;
    return;
  }
  const NarrowTarget2 ta(p.acc);
  auto run = [&]<int Acc>() {
    for (std::size_t j = j0; j < jn; j += W)
      for (std::size_t i = i0; i < in; i += R) {
        if (p.flags)
          narrow_block2<Acc, true, R>(p, ta, i, j, A, B, C0, out, tot);
        else
          narrow_block2<Acc, false, R>(p, ta, i, j, A, B, C0, out, tot);
      }
  };
  by_narrow_kind(p.narrow, run);
}
#endif  // AVX2 without AVX-512

#if defined(__AVX512F__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which it then reports as
// "used uninitialized" (a false positive in the system header).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

// ------------------------------------------------ binary32 kernel for narrow accumulators --
//
// For accumulators of <= 21 significand bits whose every value, product and sum lies on a
// grid binary32 can hold (gemm.cpp checks this): each step's exact s + a*b is rounded to
// odd in binary32 (two FMAs with embedded round-down and round-up: equal means exact,
// otherwise the odd one of the two), which loses nothing for any later rounding to <= 22
// bits. That value is rounded into the accumulator by vcvtps2ph (fp16), or by integer
// arithmetic on its bits (rne, sr). 16 outputs per vector, R x NV vectors in flight.
//
// Lanes that meet anything the fast arithmetic does not cover (a non-zero value below the
// accumulator's normal range, a value above its max finite; with flags, an overflow or an
// inexact tiny result) are recomputed, 16 outputs at a time, by generic_block.

struct NarrowTarget {
  __m128i sh{};       // discarded bits: 23 - m
  __m512i keep{};     // ~(2^sh - 1)
  __m512i half_m1{};  // 2^(sh-1) - 1
  __m512i sr_mask{};  // sr: the r bits under the top r discarded bits
  // sr with byte-aligned fields (r = 8, 8 | sh - 8): vpshufb controls that move field q
  // (byte 3 - q of each 32-bit word) under the top 8 discarded bits and zero the rest
  bool sr_bytes = false;
  __m512i byte_sel[4]{};
  int sr_bits = 0, sr_fields = 1;
  std::uint32_t emin_bits = 0, max_bits = 0;
  explicit NarrowTarget(const RoundTarget& t) {
    if (t.m < 1 || t.m > 21) return;  // not a target of this kernel (e.g. a binary32 outer sum)
    const int s = 23 - t.m;
    sh = _mm_cvtsi32_si128(s);
    keep = _mm512_set1_epi32(static_cast<int>(~((1u << s) - 1u)));
    half_m1 = _mm512_set1_epi32(static_cast<int>((1u << (s - 1)) - 1u));
    if (t.mode == 6) {
      sr_bits = t.sr_bits;
      sr_fields = random_fields_per_word(sr_bits);
      sr_mask = _mm512_set1_epi32(static_cast<int>(((1u << sr_bits) - 1u) << (s - sr_bits)));
      sr_bytes = sr_bits == 8 && (s - 8) % 8 == 0;
      if (sr_bytes)
        for (int q = 0; q < 4; ++q) {
          alignas(64) std::uint8_t sel[64];
          for (int b = 0; b < 64; ++b)
            sel[b] = b % 4 == (s - 8) / 8 ? static_cast<std::uint8_t>(b % 16 - b % 4 + 3 - q)
                                          : std::uint8_t{0x80};
          byte_sel[q] = _mm512_load_si512(sel);
        }
    }
    emin_bits = static_cast<std::uint32_t>(t.emin + 127) << 23;
    max_bits = std::bit_cast<std::uint32_t>(static_cast<float>(t.max_finite));
  }
};

[[gnu::always_inline]] inline __m512i bits(__m512 x) {
  return _mm512_castps_si512(x);
}
[[gnu::always_inline]] inline __m512i magnitude(__m512 x) {
  return _mm512_and_si512(bits(x), _mm512_set1_epi32(0x7fffffff));
}

// s + a*b rounded to odd in binary32 (a*b exact). An exact zero sum is +0 unless both are
// -0 (the round-up sum), as in every mode but rdn.
[[gnu::always_inline]] inline __m512 odd_fma(__m512 a, __m512 b, __m512 s) {
  const __m512 rd = _mm512_fmadd_round_ps(a, b, s, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512 ru = _mm512_fmadd_round_ps(a, b, s, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
  const __mmask16 ne = _mm512_cmp_ps_mask(rd, ru, _CMP_NEQ_UQ);
  const __mmask16 odd = _mm512_mask_test_epi32_mask(ne, bits(rd), _mm512_set1_epi32(1));
  return _mm512_mask_blend_ps(odd, ru, rd);
}
[[gnu::always_inline]] inline __m512 odd_add(__m512 x, __m512 y) {
  const __m512 rd = _mm512_add_round_ps(x, y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512 ru = _mm512_add_round_ps(x, y, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
  const __mmask16 ne = _mm512_cmp_ps_mask(rd, ru, _CMP_NEQ_UQ);
  const __mmask16 odd = _mm512_mask_test_epi32_mask(ne, bits(rd), _mm512_set1_epi32(1));
  return _mm512_mask_blend_ps(odd, ru, rd);
}

// x (rounded to odd, on the normal grid of the target or an fp16 value) into the target;
// sr: x truncated (or rounded to odd) with its top m + r fraction bits exact, `add` the r
// random bits placed under the top r discarded bits.
template <int Kind>
[[gnu::always_inline]] inline __m512 narrow_round(const NarrowTarget& t, __m512 x, __m512i add) {
  if constexpr (Kind == kNarrowF16) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else if constexpr (Kind == kNarrowRne) {
    const __m512i u = bits(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srl_epi32(u, t.sh), _mm512_set1_epi32(1));
    const __m512i up = _mm512_add_epi32(_mm512_add_epi32(u, t.half_m1), lsb);
    return _mm512_castsi512_ps(_mm512_and_si512(up, t.keep));
  } else {
    static_assert(Kind == kNarrowSr);
    // a carry out of the discarded field happens exactly when t + R >= 2^r
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_add_epi32(bits(x), add), t.keep));
  }
}

// Philox rounds first..9 on H half-vectors of 8 lanes (keys a, b of round `first`), then
// the low halves of the four words of half h to buf[h / 2][w] + 8 * (h % 2).
template <int H>
[[gnu::always_inline]] inline void philox_rounds_store(__m512i* x0, __m512i* x1, __m512i* x2,
                                                       __m512i* x3, std::uint32_t a,
                                                       std::uint32_t b, int first,
                                                       std::uint32_t (*const* buf)[16]) {
  philox_rounds_epi64<H>(x0, x1, x2, x3, a, b, first);
  for (int h = 0; h < H; ++h) {
    std::uint32_t(*o)[16] = buf[h / 2];
    const int off = 8 * (h % 2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(o[0] + off), _mm512_cvtepi64_epi32(x0[h]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(o[1] + off), _mm512_cvtepi64_epi32(x1[h]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(o[2] + off), _mm512_cvtepi64_epi32(x2[h]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(o[3] + off), _mm512_cvtepi64_epi32(x3[h]));
  }
}

// Philox4x32-10 for 16 streams (lane l: stream[l]) and one counter: buf[w][l] = word
// 4 * block + w of stream_word({seed, stream[l]}, .), as rounding/random_bits.hpp defines.
// Each 32-bit state word sits in a 64-bit lane, so vpmuludq yields the whole 64-bit product
// (high half by a shift); the high halves of the lanes carry garbage that nothing reads
// (vpmuludq reads the low halves only, and the outputs keep the low halves).
template <int C>
[[gnu::always_inline]] inline void philox16(std::uint64_t seed, const std::uint64_t (*stream)[16],
                                            std::uint64_t block, std::uint32_t (*const* buf)[16]) {
  // C chains x 2 halves of 8 lanes, interleaved round by round: independent work for the
  // multipliers while each product's latency runs
  constexpr int H = 2 * C;
  __m512i x0[H], x1[H], x2[H], x3[H];
  for (int h = 0; h < H; ++h) {
    x0[h] = _mm512_set1_epi64(static_cast<std::uint32_t>(block));
    x1[h] = _mm512_set1_epi64(static_cast<std::uint32_t>(block >> 32));
    x2[h] = _mm512_loadu_si512(stream[h / 2] + 8 * (h % 2));  // low word (high half: garbage)
    x3[h] = _mm512_srli_epi64(x2[h], 32);
  }
  philox_rounds_store<H>(x0, x1, x2, x3, static_cast<std::uint32_t>(seed),
                         static_cast<std::uint32_t>(seed >> 32), 0, buf);
}

// The first two Philox rounds of a stream whose counter's high word is 0 depend on the
// block only through its low word L, which is the same in every lane: with x = (L, 0, S_lo,
// S_hi) and keys (a_r, b_r), round 1 gives x0 = hi(S_lo*M1) ^ a_0, x1 = lo(S_lo*M1),
// x2 = S_hi ^ hi(L*M0) ^ b_0, x3 = lo(L*M0); round 2's product x0*M0 is then a constant
// of the stream. PhiloxPre keeps those constants per chain (two halves of 8 lanes), so
// the two rounds cost one multiplication instead of four. philox16 stays the reference.
struct PhiloxPre {
  __m512i s_hi[2];  // x3 at the start: the stream's high word
  __m512i bk[2];    // lo(S_lo*M1) ^ a_1: round 2's x1 ^ key
  __m512i p0h[2];   // hi(x0*M0) of round 2 (x0 from round 1)
  __m512i p0[2];    // x0*M0 of round 2 (its low half is round 2's x3)
};

[[gnu::always_inline]] inline void philox_pre(std::uint64_t seed, const std::uint64_t* stream,
                                              PhiloxPre& pre) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53u);
  const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57u);
  const auto a0 = static_cast<std::uint32_t>(seed);
  const std::uint32_t a1 = a0 + 0x9E3779B9u;
  for (int h = 0; h < 2; ++h) {
    const __m512i s_lo = _mm512_loadu_si512(stream + 8 * h);
    pre.s_hi[h] = _mm512_srli_epi64(s_lo, 32);
    const __m512i p1 = _mm512_mul_epu32(s_lo, m1);
    const __m512i x0 = _mm512_xor_si512(_mm512_srli_epi64(p1, 32), _mm512_set1_epi64(a0));
    pre.bk[h] = _mm512_xor_si512(p1, _mm512_set1_epi64(a1));
    pre.p0[h] = _mm512_mul_epu32(x0, m0);
    pre.p0h[h] = _mm512_srli_epi64(pre.p0[h], 32);
  }
}

// philox16 for C chains and a block < 2^32, from their PhiloxPre.
template <int C>
[[gnu::always_inline]] inline void philox16_pre(std::uint64_t seed, const PhiloxPre* pre,
                                                std::uint32_t block,
                                                std::uint32_t (*const* buf)[16]) {
  constexpr int H = 2 * C;
  const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57u);
  auto a = static_cast<std::uint32_t>(seed), b = static_cast<std::uint32_t>(seed >> 32);
  const std::uint64_t q0 = std::uint64_t{0xD2511F53u} * block;  // round 1's L*M0
  const auto q_hi = static_cast<std::uint32_t>(q0 >> 32), q_lo = static_cast<std::uint32_t>(q0);
  const std::uint32_t b1 = b + 0xBB67AE85u;
  const __m512i r1_x2 = _mm512_set1_epi64(q_hi ^ b);   // round 1: x2 = S_hi ^ this
  const __m512i r2_x2 = _mm512_set1_epi64(q_lo ^ b1);  // round 2: x2 = hi(p0) ^ this
  __m512i x0[H], x1[H], x2[H], x3[H];
#pragma GCC unroll 8
  for (int h = 0; h < H; ++h) {
    const PhiloxPre& pc = pre[h / 2];
    const int hh = h % 2;
    // round 2 from round 1's results
    const __m512i p1 = _mm512_mul_epu32(_mm512_xor_si512(pc.s_hi[hh], r1_x2), m1);
    x0[h] = _mm512_xor_si512(_mm512_srli_epi64(p1, 32), pc.bk[hh]);
    x2[h] = _mm512_xor_si512(pc.p0h[hh], r2_x2);
    x1[h] = p1;
    x3[h] = pc.p0[hh];
  }
  philox_rounds_store<H>(x0, x1, x2, x3, a + 2 * 0x9E3779B9u, b + 2 * 0xBB67AE85u, 2, buf);
}

struct NarrowChain {
  __m512 s, o;     // accumulator; outer accumulator (chunked)
  __m512i cnt;     // inexact steps
  __mmask16 redo;  // lanes to recompute
};

// R rows x NV vectors of 16 outputs at (i, j): the whole reduction, from the packed panels
// Ap (row k: the R rows' a values) and Bp (row k: the 16 * NV columns' b values).
// kTrack = false (no flags, p.narrow_track false): the steps need no range checks.
// kBytes (sr, ta.sr_bytes): the random fields are moved by one byte shuffle.
// kPlain (rne, p.narrow_plain): each step's sum rounded to nearest binary32, not to odd.
template <int Acc, int Outer, bool kFlags, int R, int NV, bool kTrack = true, bool kBytes = false,
          bool kPlain = false>
void narrow_block(const EmuParams& p, const NarrowTarget& ta, const NarrowTarget& tout,
                  std::size_t i, std::size_t j, const float* Ap, const float* Bp, const double* A,
                  const double* B, const double* C0, const TileOut& out, Totals& tot) {
  const std::size_t K = p.K, N = p.N;
  NarrowChain ch[R][NV];
  __m512 sv[R][NV];  // the accumulators, apart from ch so that they stay in registers
  // smallest (|x| - 1) and largest |x| met in column vector v, over all R rows (unsigned
  // bits): per column, not per chain, so that the chains stay in registers; a lane that
  // meets a rare value makes its column of R outputs take the general path
  __m512i mn[NV], mx[NV];
  for (int v = 0; v < NV; ++v) {
    mn[v] = _mm512_set1_epi32(-1);
    mx[v] = _mm512_setzero_si512();
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      NarrowChain& c = ch[r][v];
      const __m512 c0 =
          p.Cf ? _mm512_loadu_ps(p.Cf + (i + r) * N + j + 16 * v) : _mm512_setzero_ps();
      c.s = Outer ? _mm512_setzero_ps() : c0;
      sv[r][v] = c.s;
      c.o = c0;
      c.cnt = _mm512_setzero_si512();
      c.redo = 0;
    }
  constexpr bool kSr = Acc == kNarrowSr;
  // sr: the 4 words of the current Philox block, per chain and lane; the streams' keys
  alignas(64) std::uint32_t rb[kSr ? R * NV : 1][4][16];
  alignas(64) std::uint64_t st[kSr ? R * NV : 1][16];
  if constexpr (kSr)
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v)
        for (int l = 0; l < 16; ++l)
          st[r * NV + v][l] = (static_cast<std::uint64_t>(RandomSite::acc) << 56) |
                              (p.output_offset + (i + static_cast<std::size_t>(r)) * N + j +
                               16 * static_cast<std::size_t>(v) + static_cast<std::size_t>(l));
  PhiloxPre pre[kSr ? R * NV : 1];
  if constexpr (kSr)
    for (int c = 0; c < R * NV; ++c) philox_pre(p.seed, st[c], pre[c]);
  const int ta_m = p.acc.m;
  const __m512i one = _mm512_set1_epi32(1);
  std::size_t in_chunk = 0;
  auto outer_step = [&] {  // chunked only (Outer != 0): s into the outer sum, s = 0
    if constexpr (Outer != 0)
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
          NarrowChain& c = ch[r][v];
          c.s = sv[r][v];
          sv[r][v] = _mm512_setzero_ps();
          if constexpr (Outer == kNarrowF32) {
            if constexpr (kFlags) {
              const __m512 rd =
                  _mm512_add_round_ps(c.o, c.s, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
              const __m512 ru =
                  _mm512_add_round_ps(c.o, c.s, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
              c.cnt =
                  _mm512_mask_add_epi32(c.cnt, _mm512_cmp_ps_mask(rd, ru, _CMP_NEQ_UQ), c.cnt, one);
            }
            c.o = _mm512_add_ps(c.o, c.s);
          } else {
            const __m512 x = odd_add(c.s, c.o);
            const __m512 y = narrow_round<Outer>(tout, x, __m512i{});
            const __mmask16 inex = _mm512_cmp_ps_mask(y, x, _CMP_NEQ_UQ);
            if constexpr (kFlags) c.cnt = _mm512_mask_add_epi32(c.cnt, inex, c.cnt, one);
            const __m512i mag = magnitude(x);
            if constexpr (Outer == kNarrowF16) {
              if constexpr (kFlags)
                c.redo |= _mm512_mask_cmplt_epu32_mask(
                    inex, mag, _mm512_set1_epi32(static_cast<int>(tout.emin_bits)));
            } else {
              c.redo |=
                  _mm512_cmplt_epu32_mask(_mm512_sub_epi32(mag, one),
                                          _mm512_set1_epi32(static_cast<int>(tout.emin_bits - 1)));
              c.redo |=
                  _mm512_cmpgt_epu32_mask(mag, _mm512_set1_epi32(static_cast<int>(tout.max_bits)));
            }
            c.o = y;
          }
          c.s = _mm512_setzero_ps();
        }
  };
  // sr: step k uses field q of word wi (packed_random_bits), moved under the top r
  // discarded bits by a rotation. The steps run in segments of one Philox block (4 words of
  // f fields), the block drawn before the segment's loop so that the accumulators stay in
  // registers inside it.
  std::uint64_t wi = 0;
  int q = 0;
  const std::size_t seg = kSr ? 4 * static_cast<std::size_t>(ta.sr_fields) : K;
  for (std::size_t k0 = 0; k0 < K; k0 += seg) {
    if constexpr (kSr)
      for (int c = 0; c < R * NV; c += 2) {
        std::uint32_t(*const bufs[2])[16] = {rb[c], rb[c + 1]};
        if ((wi >> 2) >> 32 == 0)
          philox16_pre<2>(p.seed, pre + c, static_cast<std::uint32_t>(wi >> 2), bufs);
        else
          philox16<2>(p.seed, st + c, wi >> 2, bufs);
      }
    for (std::size_t k = k0; k < std::min(K, k0 + seg); ++k) {
      __m512i rot{};
      if constexpr (kBytes)
        rot = ta.byte_sel[q];
      else if constexpr (kSr)
        rot = _mm512_set1_epi32((ta.sr_bits * q + (23 - ta_m)) & 31);
      __m512 b[NV];
      for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(Bp + k * (16 * NV) + 16 * v);
        // unrolled before GCC decides where the arrays live, so that sv stays in registers
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 a = _mm512_set1_ps(Ap[k * R + static_cast<std::size_t>(r)]);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
          NarrowChain& c = ch[r][v];
          // sr reads only the top m + r <= 22 fraction bits, which truncation keeps exactly;
          // the flags need round-to-odd (y != x exactly when the step is inexact)
          __m512 x;
          if constexpr (kSr && !kFlags)
            x = _mm512_fmadd_round_ps(a, b[v], sv[r][v], _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
          else if constexpr (kPlain)
            x = _mm512_fmadd_ps(a, b[v], sv[r][v]);
          else
            x = odd_fma(a, b[v], sv[r][v]);
          __m512i add{};
          if constexpr (kBytes)
            add = _mm512_shuffle_epi8(_mm512_load_si512(rb[r * NV + v][wi & 3]), rot);
          else if constexpr (kSr)
            add = _mm512_and_si512(
                _mm512_rolv_epi32(_mm512_load_si512(rb[r * NV + v][wi & 3]), rot), ta.sr_mask);
          const __m512 y = narrow_round<Acc>(ta, x, add);
          if constexpr (Acc == kNarrowF16) {
            if constexpr (kFlags) {
              const __mmask16 inex = _mm512_cmp_ps_mask(y, x, _CMP_NEQ_UQ);
              c.cnt = _mm512_mask_add_epi32(c.cnt, inex, c.cnt, one);
              mn[v] = _mm512_mask_min_epu32(mn[v], inex, mn[v], magnitude(x));
            }
          } else if constexpr (kTrack) {
            const __m512i mag = magnitude(x);
            mn[v] = _mm512_min_epu32(mn[v], _mm512_sub_epi32(mag, one));
            mx[v] = _mm512_max_epu32(mx[v], mag);
            if constexpr (kFlags)
              c.cnt =
                  _mm512_mask_add_epi32(c.cnt, _mm512_cmp_ps_mask(y, x, _CMP_NEQ_UQ), c.cnt, one);
          }
          sv[r][v] = y;
        }
      }
      if constexpr (kSr) {
        if (++q == ta.sr_fields) {
          q = 0;
          ++wi;
        }
      }
      if constexpr (Outer != 0) {
        if (++in_chunk == p.chunk) {
          outer_step();
          in_chunk = 0;
        }
      }
    }
  }
  if constexpr (Outer != 0) {
    if (in_chunk) outer_step();
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) ch[r][v].s = sv[r][v];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      NarrowChain& c = ch[r][v];
      const __m512 res = Outer ? c.o : c.s;
      __mmask16 redo = c.redo;
      if constexpr (Acc == kNarrowF16) {
        if constexpr (kFlags)
          redo |= _mm512_cmplt_epu32_mask(mn[v], _mm512_set1_epi32(static_cast<int>(ta.emin_bits)));
      } else {
        redo |=
            _mm512_cmplt_epu32_mask(mn[v], _mm512_set1_epi32(static_cast<int>(ta.emin_bits - 1)));
        redo |= _mm512_cmpgt_epu32_mask(mx[v], _mm512_set1_epi32(static_cast<int>(ta.max_bits)));
      }
      // an overflow (Inf) needs the exact flags and counts of the general path
      if constexpr (kFlags)
        redo |= _mm512_cmpeq_epu32_mask(magnitude(res), _mm512_set1_epi32(0x7f800000));
      alignas(64) float val[16];
      alignas(64) std::uint32_t cnt[16];
      _mm512_store_ps(val, res);
      _mm512_store_si512(cnt, c.cnt);
      finish_row<kFlags>(p, A, B, C0, i + static_cast<std::size_t>(r),
                         j + 16 * static_cast<std::size_t>(v), 16, redo != 0, val, cnt, out, tot);
    }
}

// Panels of the tile's inputs, reused across its blocks: A's rows in blocks of R, row k of
// block b at (b * K + k) * R; one column block of B, row k at k * W. Contiguous panels keep
// the loads sequential (B's rows are N floats apart: a page each for N >= 1024).
struct NarrowPanels {
  std::vector<float> a, b;
};
NarrowPanels& narrow_panels() {
  static thread_local NarrowPanels panels;
  return panels;
}

template <int Acc, int Outer, int NV>
void narrow_rows(const EmuParams& p, const double* A, const double* B, const double* C0,
                 std::size_t i0, std::size_t in, std::size_t j0, std::size_t jn, const TileOut& out,
                 Totals& tot) {
  // rows per block: 8 without flags (more chains in flight), 4 with flags (their counters
  // would not fit the registers); narrow_tile uses the same numbers. Columns: NV vectors of
  // 16 per block (2; 1 for a last 16 columns, e.g. a 16-channel convolution)
  const NarrowTarget ta(p.acc), tout(p.outer);
  const std::size_t K = p.K, N = p.N, R = p.flags ? 4 : 8, W = 16 * NV;
  NarrowPanels& pan = narrow_panels();
  if (pan.a.size() < (in - i0) * K) pan.a.resize((in - i0) * K);
  if (pan.b.size() < K * W) pan.b.resize(K * W);
  for (std::size_t i = i0; i < in; i += R) {
    float* dst = pan.a.data() + (i - i0) * K;
    for (std::size_t r = 0; r < R; ++r) {
      const float* src = p.Af + (i + r) * K;
      for (std::size_t k = 0; k < K; ++k) dst[k * R + r] = src[k];
    }
  }
  for (std::size_t j = j0; j < jn; j += W) {
    for (std::size_t k = 0; k < K; ++k)
      std::memcpy(pan.b.data() + k * W, p.Bf + k * N + j, W * sizeof(float));
    const float* Bp = pan.b.data();
    auto run = [&]<int kR, bool kFlags, bool kTrack, bool kBytes, bool kPlain>() {
      for (std::size_t i = i0; i < in; i += kR)
        narrow_block<Acc, Outer, kFlags, kR, NV, kTrack, kBytes, kPlain>(
            p, ta, tout, i, j, pan.a.data() + (i - i0) * K, Bp, A, B, C0, out, tot);
    };
    if (p.flags) {
      run.template operator()<4, true, true, false, false>();
    } else if (Acc == kNarrowSr && !p.narrow_track && ta.sr_bytes) {
      run.template operator()<8, false, false, true, false>();
    } else if (Acc == kNarrowSr) {
      if (p.narrow_track)
        run.template operator()<8, false, true, false, false>();
      else
        run.template operator()<8, false, false, false, false>();
    } else if (Acc == kNarrowF16 || p.narrow_track) {
      // (fp16: vcvtps2ph rounds every range; without flags nothing needs tracking)
      if (p.narrow_plain)
        run.template operator()<8, false, true, false, true>();
      else
        run.template operator()<8, false, true, false, false>();
    } else {
      if (p.narrow_plain)
        run.template operator()<8, false, false, false, true>();
      else
        run.template operator()<8, false, false, false, false>();
    }
  }
}

}  // namespace

// The part of the tile the binary32 kernel covers: [i0, in) x [j0, jn).
void narrow_tile(const EmuParams& p, const double* A, const double* B, const double* C0,
                 std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1, const TileOut& out,
                 Totals& tot, std::size_t& in, std::size_t& jn) {
  const std::size_t R = p.flags ? 4 : 8, W = 32;
  in = i0 + (i1 - i0) / R * R;
  const std::size_t j2 = j0 + (j1 - j0) / W * W;  // two-vector blocks up to here
  jn = j2 + (j1 - j2) / 16 * 16;                  // and one 16-column block after them
  if (in == i0 || jn == j0) {
    in = i0;
    jn = j0;
    return;
  }
  auto by_outer = [&]<int Acc>() {
    auto run = [&]<int Outer>() {
      if (j2 > j0) narrow_rows<Acc, Outer, 2>(p, A, B, C0, i0, in, j0, j2, out, tot);
      if (jn > j2) narrow_rows<Acc, Outer, 1>(p, A, B, C0, i0, in, j2, jn, out, tot);
    };
    switch (p.chunk ? p.narrow_outer : 0) {
      case 0:
        return run.template operator()<0>();
      case kNarrowF16:
        return run.template operator()<kNarrowF16>();
      case kNarrowRne:
        return run.template operator()<kNarrowRne>();
      default:
        return run.template operator()<kNarrowF32>();
    }
  };
  by_narrow_kind(p.narrow, by_outer);
}
#endif  // __AVX512F__
#endif  // __AVX2__

}  // namespace fp8sim::detail::FP8SIM_ISA
