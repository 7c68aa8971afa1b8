// rounding/quantize_kernel.cpp — the fp32 -> (<= 16-bit format) quantization kernel,
// compiled once per ISA level (see quantize_kernel.hpp). Bit-for-bit the semantics of
// round_pack; tests/exhaustive/test_quantize_kernel.cpp checks it against the scalar path.
#include "rounding/quantize_kernel.hpp"

#include <immintrin.h>

#include <algorithm>
#include <bit>

#include <cstring>
#include <type_traits>
#include "rounding/simd_mask.hpp"
#if defined(__AVX512F__)
#include "rounding/philox_avx512.hpp"
#endif

#ifndef FP8SIM_ISA
#error "compile with -DFP8SIM_ISA=v4|v3|v1"
#endif

namespace fp8sim::detail::FP8SIM_ISA {

namespace {

// 16 lanes of 32 bits written with GCC vector extensions: every operation below is one
// lane-wise instruction (AVX-512), two (AVX2) or four (SSE2), whatever the auto-vectoriser
// thinks. Masks are -1 (true) / 0 (false) per lane.
// Everything here is internal to one ISA build of this file: no vector crosses an ABI.
#pragma GCC diagnostic ignored "-Wpsabi"
using vu = std::uint32_t __attribute__((vector_size(64)));
using vi = std::int32_t __attribute__((vector_size(64)));
using vf = float __attribute__((vector_size(64)));
using v16u8 = std::uint8_t __attribute__((vector_size(16)));
using v16u16 = std::uint16_t __attribute__((vector_size(32)));
using vd = double __attribute__((vector_size(64)));  // 8 doubles
using vf8 = float __attribute__((vector_size(32)));  // 8 floats

struct GroupSums {
  vu exact{}, zeros_in{}, uf0{}, subn{}, ovf{}, sat{}, nan_in{}, inf_in{}, nan_out{}, inf_out{};
  vd esum{}, esq{}, ssq{}, emax{};  // lanes 0-7 and 8-15 folded together
};

template <class V>
[[gnu::always_inline]] inline V splat(typename std::remove_reference_t<decltype(V{}[0])> v) {
  return broadcast<V>(v);
}
[[gnu::always_inline]] inline vu as_u(vi m) {
  return std::bit_cast<vu>(m);
}
[[gnu::always_inline]] inline vu ones(vi mask) {
  return as_u(mask) & 1u;
}  // mask -> 0/1

[[gnu::always_inline]] inline bool any(vi m) {
  return any_lane(m);
}

template <RoundingMode M, bool kValues>
[[gnu::always_inline]] inline void kernel16(const KParams& p, const float* __restrict x,
                                            const std::uint32_t* __restrict rnd,
                                            char* __restrict codes, float* __restrict vals,
                                            GroupSums& g) {
  const int m = p.m;
  vu u;
  std::memcpy(&u, x, sizeof u);
  const vu sign = u >> 31;
  const vi neg = sign != 0u;
  const vu a = u & 0x7fffffffu;
  const vu efield = a >> 23;
  const vu mant = a & 0x7fffffu;
  const vi ef_zero = efield == 0u;
  const vu sig = ef_zero ? mant : (mant | 0x800000u);
  const vi eeff = std::bit_cast<vi>(efield) + (ef_zero & 1) - 127;  // max(field,1)-127
  const vi is_nan = a > 0x7f800000u, is_inf = a == 0x7f800000u, is_zero = a == 0u;
  const vi finite = a < 0x7f800000u;
  const vi tiny = ef_zero | (eeff < p.emin);
  const vi s_tiny = splat<vi>(p.subn ? 23 - m + p.emin : 23 + p.emin) - eeff;
  const vi s = tiny ? s_tiny : splat<vi>(23 - m);
  const vi sc = s < 31 ? s : splat<vi>(31);
  const vu scu = as_u(sc);
  // code step per unit of q: 1, or 2^m below min normal without subnormals
  const vu unit_shift = p.subn ? vu{} : (tiny ? splat<vu>(static_cast<std::uint32_t>(m)) : vu{});
  const vu code_base = tiny ? vu{} : as_u(eeff + (p.bias - 1)) << m;
  const vu q = sig >> scu;
  const vu rem = sig & ((splat<vu>(1u) << scu) - 1u);
  const vi inexact = rem != 0u;
  vu up{};
  if constexpr (M == RoundingMode::rne || M == RoundingMode::rna) {
    const vi half = ((sig >> (scu - 1u)) & 1u) != 0u;
    if constexpr (M == RoundingMode::rne) {
      const vi below = (sig & ((splat<vu>(1u) << (scu - 1u)) - 1u)) != 0u;
      const vu par = p.subn ? (code_base + q) : (tiny ? q : code_base + q);
      const vi odd = (par & 1u) != 0u;
      up = ones(half & (below | odd));
    } else {
      up = ones(half);
    }
  } else if constexpr (M == RoundingMode::rup) {
    up = ones(inexact & ~neg);
  } else if constexpr (M == RoundingMode::rdn) {
    up = ones(inexact & neg);
  } else if constexpr (M == RoundingMode::rto) {
    const vu par = p.subn ? (code_base + q) : (tiny ? q : code_base + q);
    up = ones(inexact & ((par & 1u) == 0u));
  } else if constexpr (M == RoundingMode::sr) {
    const int r = p.sr_bits;
    const std::uint32_t maskr = r == 32 ? 0xffffffffu : (1u << r) - 1u;
    const vi d = s - r;
    const vi dc = d < 24 ? d : splat<vi>(24);  // sig < 2^24: shifting by >= 24 gives 0
    const vu t_hi = dc >= 24 ? vu{} : (sig >> as_u(dc)) & maskr;
    const vu t_lo = (rem << as_u(-d)) & maskr;  // only used where d < 0, so -d in 1..31
    const vu t = d >= 0 ? t_hi : t_lo;
    vu rv;
    std::memcpy(&rv, rnd, sizeof rv);
    rv = rv >> (32 - r);
    up = ones(t > (maskr - rv));
  }
  vu mag = code_base + ((q + up) << unit_shift);
  const vi flush = p.ftz ? tiny : vi{};
  const vi ovf = finite & ~is_zero & ~flush & ((eeff > p.emax) | (mag > p.max_code));
  const vi zero_in_or_flush = flush | is_zero;
  mag = zero_in_or_flush ? vu{} : mag;
  const vi zero_out = mag == 0u;
  const vi negs = neg & ~(zero_out & (p.neg_zero ? vi{} : splat<vi>(-1)));
  vu code = mag | (as_u(negs) & p.sign_mask);
  // dequantized values: (q + up) * 2^qe with the sign (skipped when nobody needs them)
  auto values = [&] {
    const vi qe = tiny ? splat<vi>(p.subn ? p.emin - m : p.emin) : eeff - m;
    const vu pow2 = qe >= -126 ? as_u(qe + 127) << 23 : splat<vu>(1u) << as_u(qe + 149);
    const vf fq = __builtin_convertvector(std::bit_cast<vi>(q) + std::bit_cast<vi>(up), vf);
    const vf fmag = fq * std::bit_cast<vf>(pow2);
    vu vb = std::bit_cast<vu>(fmag);
    vb = zero_in_or_flush ? vu{} : vb;
    return vb | (as_u(negs) & 0x80000000u);
  };
  vu vbits{};
  if constexpr (kValues) vbits = values();
  const vu nan_code_in = p.ieee_target ? ((neg ? splat<vu>(p.sign_mask) : vu{}) | p.inf_code_pos |
                                          (mant >> (23 - m)) | (1u << (m - 1)))
                                       : (neg ? splat<vu>(p.nan_code1) : splat<vu>(p.nan_code0));
  const vu nan_bits = neg ? splat<vu>(p.nan_bits1) : splat<vu>(p.nan_bits0);
  // NaN, Inf and overflow are rare: their selects and counters run only when present.
  const vi rare = is_nan | is_inf | ovf;
  const bool any_rare = any(rare);
  if (any_rare) {
    if constexpr (!kValues) vbits = values();
    code = ovf ? (neg ? splat<vu>(p.ovf_code1) : splat<vu>(p.ovf_code0)) : code;
    vbits = ovf ? (neg ? splat<vu>(std::bit_cast<std::uint32_t>(p.ovf_val1))
                       : splat<vu>(std::bit_cast<std::uint32_t>(p.ovf_val0)))
                : vbits;
    code = is_inf ? (neg ? splat<vu>(p.inf_in_code1) : splat<vu>(p.inf_in_code0)) : code;
    vbits = is_inf ? (neg ? splat<vu>(std::bit_cast<std::uint32_t>(p.inf_in_val1))
                          : splat<vu>(std::bit_cast<std::uint32_t>(p.inf_in_val0)))
                   : vbits;
    code = is_nan ? nan_code_in : code;
    vbits = is_nan ? nan_bits : vbits;
  }
  switch (p.code_bytes) {  // store the codes at the caller's width
    case 1: {
      const v16u8 c8 = __builtin_convertvector(code, v16u8);
      std::memcpy(codes, &c8, sizeof c8);
      break;
    }
    case 2: {
      const v16u16 c16 = __builtin_convertvector(code, v16u16);
      std::memcpy(codes, &c16, sizeof c16);
      break;
    }
    default:
      std::memcpy(codes, &code, sizeof code);
  }
  if constexpr (kValues) std::memcpy(vals, &vbits, sizeof vbits);

  const vf val = std::bit_cast<vf>(vbits);
  const vf xv = std::bit_cast<vf>(u);
  const vu vabs = vbits & 0x7fffffffu;
  const vi val_nan = vabs > 0x7f800000u, val_inf = vabs == 0x7f800000u;
  // exact: the value comes back unchanged (NaN -> NaN counts); without rare lanes that is
  // "nothing discarded and not flushed"
  g.exact -=
      any_rare ? as_u((is_nan & val_nan) | (val == xv)) : as_u((~inexact & ~flush) | is_zero);
  g.zeros_in -= as_u(is_zero);
  g.uf0 -= as_u(finite & ~is_zero & zero_out & ~ovf);
  if (p.subn) g.subn -= as_u(finite & ~ovf & (mag != 0u) & (mag < (1u << m)));
  if (any_rare) {
    g.ovf -= as_u(ovf);
    g.sat -= as_u(ovf & (neg ? splat<vi>(p.ovf_sat1 ? -1 : 0) : splat<vi>(p.ovf_sat0 ? -1 : 0)));
    g.nan_in -= as_u(is_nan);
    g.inf_in -= as_u(is_inf);
    g.nan_out -= as_u(val_nan);
    g.inf_out -= as_u(val_inf);
  }
  // error statistics in double: (val - x) is exact there. (error_count itself is derived
  // from the other counters when they are flushed.)
  if (!kValues || !p.error_stats) return;
  const vi in_err = any_rare ? finite & (vabs < 0x7f800000u) : finite;
  const vu valm = vbits & as_u(in_err);
  const vu xm = u & as_u(in_err);
  for (int half = 0; half < 2; ++half) {
    vf8 vh, xh;
    std::memcpy(&vh, reinterpret_cast<const char*>(&valm) + 32 * half, sizeof vh);
    std::memcpy(&xh, reinterpret_cast<const char*>(&xm) + 32 * half, sizeof xh);
    const vd vdh = __builtin_convertvector(vh, vd);
    const vd xd = __builtin_convertvector(xh, vd);
    const vd e = vdh - xd;
    g.esum += e;
    g.esq += e * e;
    g.ssq += xd * xd;
    const vd ae = e < 0 ? -e : e;
    g.emax = ae > g.emax ? ae : g.emax;
  }
}

#if defined(__AVX512F__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which it then reports as
// "used uninitialized" (a false positive in the system header).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The code, value and counters of 16 lanes rounded on the FPU to y = |value| (on the
// format's grid, <= max finite), for fast_rne16 and fast_sr16.
template <bool kValues>
[[gnu::always_inline]] inline void fast_store16(const KParams& p, __m512i u, __m512i a, __m512 y,
                                                char* __restrict codes, float* __restrict vals,
                                                GroupSums& g) {
  const int m = p.m;
  const __m512 scale = _mm512_castsi512_ps(_mm512_set1_epi32(p.bias << 23));  // 2^(bias-127)
  const __m512i mag = _mm512_srli_epi32(_mm512_castps_si512(_mm512_mul_ps(y, scale)), 23 - m);
  const __m512i sign = _mm512_and_si512(u, _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  // the sign from bit 31 to the code's top bit
  const __m512i code =
      _mm512_or_si512(mag, _mm512_srli_epi32(sign, 31 - __builtin_ctz(p.sign_mask)));
  switch (p.code_bytes) {
    case 1:
      _mm_storeu_si128(reinterpret_cast<__m128i*>(codes), _mm512_cvtepi32_epi8(code));
      break;
    case 2:
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes), _mm512_cvtepi32_epi16(code));
      break;
    default:
      _mm512_storeu_si512(codes, code);
  }
  if constexpr (kValues) _mm512_storeu_si512(vals, _mm512_or_si512(_mm512_castps_si512(y), sign));
  const __m512i zero = _mm512_setzero_si512(), minus1 = _mm512_set1_epi32(-1);
  auto count = [&](vu& v, __mmask16 k) {
    v = std::bit_cast<vu>(
        _mm512_mask_sub_epi32(std::bit_cast<__m512i>(v), k, std::bit_cast<__m512i>(v), minus1));
  };
  const __mmask16 is_zero = _mm512_cmpeq_epi32_mask(a, zero);
  const __mmask16 zero_out = _mm512_cmpeq_epi32_mask(mag, zero);
  count(g.exact, _mm512_cmpeq_epi32_mask(_mm512_castps_si512(y), a));
  count(g.zeros_in, is_zero);
  count(g.uf0, static_cast<__mmask16>(zero_out & ~is_zero));
  count(g.subn, static_cast<__mmask16>(~zero_out &
                                       _mm512_cmplt_epu32_mask(mag, _mm512_set1_epi32(1 << m))));
}

// rne of 16 values on the FPU (p.fast_rne): with E = max(e, emin) the exponent of |x|
// (emin below the normal range, where the grid is fixed), c = 1.5 * 2^(E + 23 - m) and
// y = (|x| + c) - c round |x| to m fraction bits, ties to even (the sum lies in c's binade,
// whose ulp is the target's ulp at E); y * 2^(bias - 127) then holds the target's code in
// its binary32 bits, >> (23 - m) (below the target's normal range these are binary32
// subnormals on the same grid). The counters as kernel16 keeps them. false, writing
// nothing, when a lane holds a value above the max finite (or Inf/NaN): kernel16's job.
template <bool kValues>
[[gnu::always_inline]] inline bool fast_rne16(const KParams& p, const float* __restrict x,
                                              char* __restrict codes, float* __restrict vals,
                                              GroupSums& g) {
  const __m512i u = _mm512_loadu_si512(x);
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  if (_mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(p.max_bits)))) return false;
  const __m512i e = _mm512_max_epu32(_mm512_and_si512(a, _mm512_set1_epi32(0x7f800000)),
                                     _mm512_set1_epi32((p.emin + 127) << 23));
  const __m512 c =
      _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_set1_epi32(((23 - p.m) << 23) | 0x400000)));
  const __m512 y = _mm512_sub_ps(_mm512_add_ps(_mm512_castsi512_ps(a), c), c);
  fast_store16<kValues>(p, u, a, y, codes, vals, g);
  return true;
}

// Stochastic rounding of 16 values on the FPU (p.fast_sr): with E as in fast_rne16 and
// u = 2^(E - m - r), |x| truncated to a multiple of u (RZ of |x| + 2^(E + 23 - m - r), whose
// binade has that ulp), plus R * u (R the word's top r bits; exact), truncated to a multiple
// of 2^(E - m) the same way: a carry exactly when the top r discarded bits plus R reach 2^r,
// as kernel16 decides. (A carry out of the binade stays below 2^(E+1) + 2^(E-m), which the
// last truncation takes to 2^(E+1).) false when a lane is above the max finite before or
// after rounding, or Inf/NaN: kernel16 then does all 16.
template <bool kValues>
[[gnu::always_inline]] inline bool fast_sr16(const KParams& p, const float* __restrict x,
                                             const std::uint32_t* __restrict rnd,
                                             char* __restrict codes, float* __restrict vals,
                                             GroupSums& g) {
  const __m512i u = _mm512_loadu_si512(x);
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __m512i max_bits = _mm512_set1_epi32(static_cast<int>(p.max_bits));
  if (_mm512_cmpgt_epu32_mask(a, max_bits)) return false;
  const int m = p.m, r = p.sr_bits;
  const __m512i e = _mm512_max_epu32(_mm512_and_si512(a, _mm512_set1_epi32(0x7f800000)),
                                     _mm512_set1_epi32((p.emin + 127) << 23));
  const __m512 c_r =
      _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_set1_epi32((23 - m - r) << 23)));
  const __m512 c = _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_set1_epi32((23 - m) << 23)));
  const __m512 ulp_r = _mm512_castsi512_ps(_mm512_sub_epi32(e, _mm512_set1_epi32((m + r) << 23)));
  const __m512 af = _mm512_castsi512_ps(a);
  const __m512 t =
      _mm512_sub_ps(_mm512_add_round_ps(af, c_r, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), c_r);
  const __m512 rv = _mm512_cvtepi32_ps(_mm512_srli_epi32(_mm512_loadu_si512(rnd), 32 - r));
  const __m512 s = _mm512_fmadd_ps(rv, ulp_r, t);  // exact
  const __m512 y =
      _mm512_sub_ps(_mm512_add_round_ps(s, c, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), c);
  if (_mm512_cmpgt_epu32_mask(_mm512_castps_si512(y), max_bits)) return false;
  fast_store16<kValues>(p, u, a, y, codes, vals, g);
  return true;
}

#endif

template <RoundingMode M, bool kValues>
[[gnu::always_inline]] inline void kernel_group(const KParams& p, const float* __restrict x,
                                                const std::uint32_t* __restrict rnd,
                                                char* __restrict codes, float* __restrict vals,
                                                GroupSums& g) {
  for (int k = 0; k < 4; ++k) {
#if defined(__AVX512F__)
    if constexpr (M == RoundingMode::rne)
      if (p.fast_rne &&
          fast_rne16<kValues>(p, x + 16 * k, codes + 16 * k * p.code_bytes, vals + 16 * k, g))
        continue;
    if constexpr (M == RoundingMode::sr)
      if (p.fast_sr && fast_sr16<kValues>(p, x + 16 * k, rnd + 16 * k,
                                          codes + 16 * k * p.code_bytes, vals + 16 * k, g))
        continue;
#endif
    kernel16<M, kValues>(p, x + 16 * k, rnd + 16 * k, codes + 16 * k * p.code_bytes, vals + 16 * k,
                         g);
  }
}

// random_group (rounding/random_bits.hpp) for this ISA: with AVX-512, Philox4x32-10 of the
// group's 16 counters on vpmuludq (each 32-bit state word in a 64-bit lane, whose high half
// carries garbage that nothing reads: vpmuludq reads the low halves, the outputs keep them);
// GCC's vectorisation of the portable loop picks vpmullq, several times slower. The
// kernel-against-scalar tests compare every stochastic rounding with Random123's words.
[[gnu::always_inline]] inline void group_random_words(const RandomKey& key, std::uint64_t group,
                                                      std::uint32_t* out) {
#if defined(__AVX512F__)
  const std::uint64_t base = group << 4;
  __m512i x0[2], x1[2], x2[2], x3[2];
  for (int h = 0; h < 2; ++h) {
    const auto lo = static_cast<std::int64_t>(static_cast<std::uint32_t>(base) | (8u * h));
    x0[h] = _mm512_add_epi64(_mm512_set1_epi64(lo), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    x1[h] = _mm512_set1_epi64(static_cast<std::uint32_t>(base >> 32));
    x2[h] = _mm512_set1_epi64(static_cast<std::uint32_t>(key.stream));
    x3[h] = _mm512_set1_epi64(static_cast<std::uint32_t>(key.stream >> 32));
  }
  philox_rounds_epi64<2>(x0, x1, x2, x3, static_cast<std::uint32_t>(key.seed),
                         static_cast<std::uint32_t>(key.seed >> 32));
  for (int h = 0; h < 2; ++h) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * h), _mm512_cvtepi64_epi32(x0[h]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 + 8 * h), _mm512_cvtepi64_epi32(x1[h]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 + 8 * h), _mm512_cvtepi64_epi32(x2[h]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 48 + 8 * h), _mm512_cvtepi64_epi32(x3[h]));
  }
#else
  random_group(key, group, out);
#endif
}

template <RoundingMode M>
[[gnu::always_inline]] inline void kernel_range_body(const KParams& p, const float* x,
                                                     std::uint64_t n_groups,
                                                     std::uint64_t first_group, void* codes,
                                                     float* vals, QuantizeCounters& c) {
  alignas(64) std::uint32_t rnd[64] = {};
  alignas(64) char ctmp[64 * 4];
  alignas(64) float vtmp[64];
  GroupSums g;
  std::uint64_t window_start = 0;
  for (std::uint64_t gi = 0; gi < n_groups; ++gi) {
    if constexpr (M == RoundingMode::sr) group_random_words(p.key, first_group + gi, rnd);
    char* cout =
        codes ? static_cast<char*>(codes) + 64 * gi * static_cast<std::uint64_t>(p.code_bytes)
              : ctmp;
    float* vout = vals ? vals + 64 * gi : vtmp;
    if (vals || p.error_stats) {
      kernel_group<M, true>(p, x + 64 * gi, rnd, cout, vout, g);
    } else {
      kernel_group<M, false>(p, x + 64 * gi, rnd, cout, vout, g);
    }
    if ((gi & 1023) == 1023 || gi + 1 == n_groups) {  // flush 32-bit lane counters
      auto sum = [](const vu& v) {
        std::uint64_t t = 0;
        for (int l = 0; l < 16; ++l) t += v[l];
        return t;
      };
      c.exact += sum(g.exact);
      c.zeros_in += sum(g.zeros_in);
      c.underflow_to_zero += sum(g.uf0);
      c.subnormal_out += sum(g.subn);
      c.overflow += sum(g.ovf);
      c.saturated += sum(g.sat);
      c.nan_in += sum(g.nan_in);
      c.inf_in += sum(g.inf_in);
      c.nan_out += sum(g.nan_out);
      c.inf_out += sum(g.inf_out);
      {  // finite in and finite out: all but NaN/Inf inputs and non-saturated overflows
        const std::uint64_t window = 64 * (gi + 1 - window_start);
        c.error_count += window - sum(g.nan_in) - sum(g.inf_in) - (sum(g.ovf) - sum(g.sat));
        window_start = gi + 1;
      }
      for (int l = 0; l < 8; ++l) {
        c.error_sum += g.esum[l];
        c.error_sq += g.esq[l];
        c.signal_sq += g.ssq[l];
        c.max_abs_error = std::max(c.max_abs_error, g.emax[l]);
      }
      g = GroupSums{};
    }
  }
  c.count += 64 * n_groups;
}

}  // namespace

void kernel_range(const KParams& p, RoundingMode mode, const float* x, std::uint64_t n_groups,
                  std::uint64_t first_group, void* codes, float* vals, QuantizeCounters& c) {
  switch (mode) {
    case RoundingMode::rne:
      return kernel_range_body<RoundingMode::rne>(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rna:
      return kernel_range_body<RoundingMode::rna>(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rtz:
      return kernel_range_body<RoundingMode::rtz>(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rup:
      return kernel_range_body<RoundingMode::rup>(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rdn:
      return kernel_range_body<RoundingMode::rdn>(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rto:
      return kernel_range_body<RoundingMode::rto>(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::sr:
      return kernel_range_body<RoundingMode::sr>(p, x, n_groups, first_group, codes, vals, c);
  }
}

}  // namespace fp8sim::detail::FP8SIM_ISA
