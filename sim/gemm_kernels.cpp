// sim/gemm_kernels.cpp — GEMM kernels, compiled once per ISA level (see gemm_kernels.hpp).
//
//  fp32_tile      the native FMA chain: s = fma(a, b, s) in binary32, RNE; optionally the
//                 number of inexact steps per output (TwoSum residual != 0).
//  emulated_tile  any accumulator of <= 51 significand bits with any rounding: each step's
//                 exact sum s + p is formed as a binary64 pair (TwoSum), collapsed by round-
//                 to-odd (exact for any later rounding to <= 51 bits), then rounded into
//                 the accumulator format with bit operations on 8 lanes (one per output).
//                 Also multiterm (aligned integer significands) and chunking.
#include "sim/gemm_kernels.hpp"

#include <immintrin.h>

#include <bit>

#include <cmath>
#include <cstring>
#include <limits>
#include "rounding/simd_mask.hpp"

#ifndef FP8SIM_ISA
#error "compile with -DFP8SIM_ISA=v4|v3|v1"
#endif

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

// ------------------------------------------------------------- emulated accumulators --

namespace {

// Lanes (outputs) per vector: 4 with AVX2, where GCC turns comparisons of 8-lane vectors of
// doubles into scalar code but keeps 4-lane ones in registers (10x faster measured); 8 with
// AVX-512, and in the baseline build (scalar code either way, 8 lanes measured faster).
#if defined(__AVX2__) && !defined(__AVX512F__)
constexpr int L8 = 4;
#else
constexpr int L8 = 8;
#endif
using vd = double __attribute__((vector_size(8 * L8)));
using vu = std::uint64_t __attribute__((vector_size(8 * L8)));
using vi = std::int64_t __attribute__((vector_size(8 * L8)));

template <class V>
[[gnu::always_inline]] inline V splat(std::remove_reference_t<decltype(V{}[0])> x) {
  return broadcast<V>(x);
}
[[gnu::always_inline]] inline vu as_u(vi m) {
  return std::bit_cast<vu>(m);
}
[[gnu::always_inline]] inline vi as_i(vu m) {
  return std::bit_cast<vi>(m);
}

constexpr std::uint64_t kSign = 0x8000000000000000ull;
constexpr std::uint64_t kMant = 0x000fffffffffffffull;

// 2^e as a double, e in [-1022, 1023].
[[gnu::always_inline]] inline vd pow2(vi e) {
  return std::bit_cast<vd>(as_u(e + 1023) << 52);
}

// Round-to-odd collapse of hi + lo (|lo| <= ulp(hi)/2): if lo != 0 and hi's last bit is
// even, step hi one ulp toward lo. hi must be finite and non-zero where lo != 0.
[[gnu::always_inline]] inline vd to_odd(vd hi, vd lo, vi& lo_nz) {
  lo_nz = lo != 0.0;
  const vu hb = std::bit_cast<vu>(hi);
  const vi even = (hb & 1u) == 0u;
  // moving away from zero adds 1 to the magnitude bits, toward zero subtracts 1
  const vi same_sign = ((std::bit_cast<vu>(lo) ^ hb) >> 63) == 0u;
  const vu step = as_u(lo_nz & even) & 1u;
  return std::bit_cast<vd>(same_sign ? hb + step : hb - step);
}

struct StepFlags {
  vu inexact{}, underflow{}, overflow{};
};

// Rounds finite values x (with sticky lo_nz below them) into the target. Zero x must not
// carry lo_nz. Returns the rounded values; adds each lane's flags (as 0/1) to f.
[[gnu::always_inline]] inline vd round_to(const RoundTarget& t, vd x, vi lo_nz, vu rnd,
                                          vu& fl_inexact, vu& fl_underflow, vu& fl_overflow) {
  const vu u = std::bit_cast<vu>(x);
  const vu sign = u >> 63;
  const vi neg = sign != 0u;
  const vu a = u & ~kSign;
  const vi is_zero = a == 0u;
  const vi E = as_i(a >> 52) - 1023;
  const vu sig = (a & kMant) | (std::uint64_t{1} << 52);
  const int m = t.m;
  const vi tiny = E < t.emin;
  const vi s_tiny = splat<vi>(t.subn ? 52 - m + t.emin : 52 + t.emin) - E;
  const vi s = tiny ? s_tiny : splat<vi>(52 - m);
  const vi sc = s < 63 ? s : splat<vi>(63);
  const vu scu = as_u(sc);
  const vu q = sig >> scu;
  const vu rem = sig & ((splat<vu>(1) << scu) - 1u);
  const vi inexact = (rem != 0u) | lo_nz;
  const vu cb_odd = (m == 0) ? (as_u(E + (t.bias - 1)) & 1u) & ~as_u(tiny) : vu{};
  const vi odd = ((q + cb_odd) & 1u) != 0u;
  vu up{};
  switch (t.mode) {
    case 0: {  // rne
      const vi half = ((sig >> (scu - 1u)) & 1u) != 0u;
      const vi below = ((sig & ((splat<vu>(1) << (scu - 1u)) - 1u)) != 0u) | lo_nz;
      up = as_u(half & (below | odd)) & 1u;
      break;
    }
    case 1:  // rna
      up = as_u(((sig >> (scu - 1u)) & 1u) != 0u) & 1u;
      break;
    case 2:  // rtz
      break;
    case 3:  // rup
      up = as_u(inexact & ~neg) & 1u;
      break;
    case 4:  // rdn
      up = as_u(inexact & neg) & 1u;
      break;
    case 5:  // rto
      up = as_u(inexact & ~odd) & 1u;
      break;
    default: {  // sr
      const int r = t.sr_bits;
      const std::uint64_t maskr = (std::uint64_t{1} << r) - 1u;
      const vi d = s - r;  // >= 0 by the kernel's conditions (m + r <= 52)
      const vi dc = d < 63 ? d : splat<vi>(63);
      const vu tt = (sig >> as_u(dc)) & maskr;
      const vu rv = rnd >> (32 - r);
      up = as_u(tt > (maskr - rv)) & 1u;
      break;
    }
  }
  const vu mq = q + up;
  const vi qe = tiny ? splat<vi>(t.subn ? t.emin - m : t.emin) : E - m;
  vd val = __builtin_convertvector(as_i(mq), vd) * pow2(qe);
  const vi ovf = ~is_zero & ((E > t.emax) | (val > t.max_finite));
  const vi flush = t.ftz ? (tiny & ~is_zero) : vi{};
  // tininess after rounding: only E == emin - 1 can round up out of the tiny range
  vi tiny_fl = tiny;
  if (!t.tiny_before && !t.ftz) {
    const vi edge = E == (t.emin - 1);
    const vu s2 = splat<vu>(static_cast<std::uint64_t>(52 - m));
    const vu q2 = sig >> s2;
    const vu rem2 = sig & ((splat<vu>(1) << s2) - 1u);
    const vi inex2 = (rem2 != 0u) | lo_nz;
    const vi odd2 = ((q2 + ((m == 0) ? (as_u(E + (t.bias - 1)) & 1u) : vu{})) & 1u) != 0u;
    vu up2{};
    switch (t.mode) {
      case 0: {
        const vi half = ((sig >> (s2 - 1u)) & 1u) != 0u;
        const vi below = ((sig & ((splat<vu>(1) << (s2 - 1u)) - 1u)) != 0u) | lo_nz;
        up2 = as_u(half & (below | odd2)) & 1u;
        break;
      }
      case 1:
        up2 = as_u(((sig >> (s2 - 1u)) & 1u) != 0u) & 1u;
        break;
      case 2:
        break;
      case 3:
        up2 = as_u(inex2 & ~neg) & 1u;
        break;
      case 4:
        up2 = as_u(inex2 & neg) & 1u;
        break;
      case 5:
        up2 = as_u(inex2 & ~odd2) & 1u;
        break;
      default: {
        const int r = t.sr_bits;
        const std::uint64_t maskr = (std::uint64_t{1} << r) - 1u;
        const vu tt = (sig >> (s2 - static_cast<std::uint64_t>(r))) & maskr;
        const vu rv = rnd >> (32 - r);
        up2 = as_u(tt > (maskr - rv)) & 1u;
        break;
      }
    }
    const vi reaches = (q2 + up2) >= (std::uint64_t{1} << (m + 1));
    tiny_fl = tiny & ~(edge & reaches);
  }
  const vi inexact_res = (inexact | ovf | flush) & ~is_zero;
  // results
  val = flush ? vd{} : val;
  const vi zero_out = (val == 0.0) | is_zero;
  const vu sbit = (t.neg_zero ? sign : (sign & ~as_u(zero_out))) << 63;
  val = std::bit_cast<vd>(std::bit_cast<vu>(val) | sbit);
  val = ovf ? (neg ? splat<vd>(t.ovf_val[1]) : splat<vd>(t.ovf_val[0])) : val;
  fl_inexact = as_u(inexact_res) & 1u;
  fl_overflow = as_u(ovf) & 1u;
  fl_underflow = as_u(((tiny_fl & inexact) | flush) & ~ovf & ~is_zero) & 1u;
  return val;
}

// Exact x + y as (hi, lo) (Knuth's TwoSum); both finite.
[[gnu::always_inline]] inline void two_sum(vd x, vd y, vd& hi, vd& lo) {
  hi = x + y;
  const vd bb = hi - x;
  lo = (x - (hi - bb)) + (y - bb);
}

struct Lanes {
  vu flags{};  // OR of flag bits per lane
  vu n_inexact{}, n_underflow{}, n_overflow{};
  void add(const vu& fi, const vu& fu, const vu& fo) {
    flags |= fi | (fu << 1) | (fo << 2);
    n_inexact += fi;
    n_underflow += fu;
    n_overflow += fo;
  }
};

// s + p rounded into t, with the IEEE zero-sign rules; Inf and NaN follow IEEE addition
// (Inf - Inf raises invalid). Callers guarantee t has Inf wherever an Inf can arrive.
[[gnu::always_inline]] inline vd add_round(const RoundTarget& t, vd s, vd p, vu rnd, Lanes& ln) {
  const vi fin = ((s - s) == 0.0) & ((p - p) == 0.0);
  vd hi, lo;
  two_sum(fin ? s : vd{}, fin ? p : vd{}, hi, lo);
  vi lo_nz;
  const vd x = to_odd(hi, lo, lo_nz);
  vu fi, fu, fo;
  vd r = round_to(t, x, lo_nz & fin, rnd, fi, fu, fo);
  // exact zero sum: -0 only if both are -0, or under rdn unless both are +0
  const vu sb = std::bit_cast<vu>(s) >> 63, pb = std::bit_cast<vu>(p) >> 63;
  const vi exact_zero = fin & (hi == 0.0) & (lo == 0.0);
  const vu zneg = t.mode == 4 ? (sb | pb) : (sb & pb);
  const vu zbits = t.neg_zero ? (zneg << 63) : vu{};
  r = exact_zero ? std::bit_cast<vd>(zbits) : r;
  fi &= as_u(fin);
  fu &= as_u(fin);
  fo &= as_u(fin);
  // non-finite: IEEE addition; a NaN made here from two non-NaN values is invalid
  const vd nf = s + p;
  const vi made_nan = ~fin & (nf != nf) & (s == s) & (p == p);
  ln.flags |= as_u(made_nan) & 0x10u;
  ln.add(fi, fu, fo);
  return fin ? r : nf;
}

[[gnu::always_inline]] inline bool any(vi m) {
  return any_lane(m);
}

// The common case of add_round, for rne and sr with man_bits >= 1: every lane's exact sum
// in the normal range of t, no overflow. The rounding uses the FPU: adding and subtracting
// c = 1.5 * 2^(E+52-m) rounds to a multiple of the quantum 2^(E-m) to nearest even. Lanes
// outside the common case send the whole vector to add_round. kFlags: also inexact flags.
template <bool kFlags>
[[gnu::always_inline]] inline vd add_round_fast(const RoundTarget& t, vd s, vd p, vu rnd,
                                                Lanes& ln) {
  const bool sr = t.mode == 6;
  vd hi, lo{};
  if (sr || kFlags) {
    two_sum(s, p, hi, lo);
  } else {
    hi = s + p;  // RNE twice (53 >= 2*(m+1)+2 bits) equals RNE once; no flags needed
  }
  vi lo_nz{};
  const vd x = sr ? to_odd(hi, lo, lo_nz) : hi;
  const vu xb = std::bit_cast<vu>(x);
  const vu sign = xb & kSign;
  const vi E = as_i((xb >> 52) & 0x7ffu) - 1023;
  const vi special = (E < t.emin) | (E > t.emax) | ((s - s) != 0.0);  // tiny, zero, huge, Inf/NaN
  if (any(special)) return add_round(t, s, p, rnd, ln);
  const vi qe = E - t.m;
  const vd q = pow2(qe);
  const vd c = std::bit_cast<vd>(as_u(qe + (1023 + 52)) << 52 | (std::uint64_t{1} << 51) | sign);
  const vd rne = (x + c) - c;
  vd r;
  if (!sr) {
    r = rne;
  } else {
    const vd ax = std::bit_cast<vd>(xb & ~kSign);
    const vd arne = std::bit_cast<vd>(std::bit_cast<vu>(rne) & ~kSign);
    const vd atz = arne > ax ? arne - q : arne;  // truncated magnitude
    const vd scale = pow2(splat<vi>(t.sr_bits) - qe);
    const vu tt = std::bit_cast<vu>(__builtin_convertvector((ax - atz) * scale, vi));
    const std::uint64_t maskr = (std::uint64_t{1} << t.sr_bits) - 1u;
    const vu rv = rnd >> (32 - t.sr_bits);
    const vi up = tt > (maskr - rv);
    r = std::bit_cast<vd>(std::bit_cast<vu>(up ? atz + q : atz) | sign);
  }
  const vd ar = std::bit_cast<vd>(std::bit_cast<vu>(r) & ~kSign);
  if (any(ar > t.max_finite)) return add_round(t, s, p, rnd, ln);
  if constexpr (kFlags) {
    const vu fi = as_u((r != x) | (lo != 0.0)) & 1u;
    ln.add(fi, vu{}, vu{});
  }
  return r;
}

// The random words of one site for L8 outputs, as packed_random_bits defines them: step i
// uses field i % f of stream word i / f (f = floor(32/r)), returned moved to the top of a
// 32-bit word (consumers read the top r bits). Words come 64 at a time.
struct Rng {
  std::uint32_t w[L8][64];
  std::uint64_t group = ~std::uint64_t{0};
  [[gnu::always_inline]] vu get(const EmuParams& p, RandomSite site, std::size_t o0,
                                std::uint64_t step, int r) {
    const auto f = static_cast<std::uint64_t>(random_fields_per_word(r));
    const std::uint64_t wi = step / f;
    const int shift = r * static_cast<int>(step % f);
    if ((wi >> 6) != group) {
      group = wi >> 6;
      for (int l = 0; l < L8; ++l)
        stream_words64(
            mac_random_key(p.seed, site, p.output_offset + o0 + static_cast<std::size_t>(l)), group,
            w[l]);
    }
    vu out;
    for (int l = 0; l < L8; ++l) out[l] = static_cast<std::uint32_t>(w[l][wi & 63] << shift);
    return out;
  }
};

// One multiterm group: s and the products pk[0..n) aligned, truncated, summed, rounded.
[[gnu::always_inline]] inline vd multiterm_group(const EmuParams& p, vd s, const vd* pk, int n,
                                                 vu rnd, Lanes& ln, vu& swamped, vu& carry) {
  const RoundTarget& t = p.acc;
  const vi fin = (s - s) == 0.0;
  vd terms[65];
  terms[0] = fin ? s : vd{};
  for (int i = 0; i < n; ++i) terms[i + 1] = pk[i];
  // largest leading exponent among non-zero terms
  vi emax = splat<vi>(-100000);
  vi all_zero = splat<vi>(-1), all_neg = splat<vi>(-1), any_neg{};
  for (int i = 0; i <= n; ++i) {
    const vu u = std::bit_cast<vu>(terms[i]);
    const vu a = u & ~kSign;
    const vi nz = a != 0u;
    const vi e = as_i(a >> 52) - 1023;
    emax = (nz & (e > emax)) ? e : emax;
    all_zero &= ~nz;
    const vi ng = (u >> 63) != 0u;
    all_neg &= ng;
    any_neg |= ng;
  }
  const vi L = emax - p.align;  // weight of the last kept bit
  vi total{};
  vi lost{};
  for (int i = 0; i <= n; ++i) {
    const vu u = std::bit_cast<vu>(terms[i]);
    const vu a = u & ~kSign;
    const vi nz = a != 0u;
    const vi e = as_i(a >> 52) - 1023;
    const vu sig = nz ? ((a & kMant) | (std::uint64_t{1} << 52)) : vu{};
    const vi lsb = e - 52;  // weight of sig's last bit
    const vi sh = L - lsb;  // > 0: shift right (truncate); <= 0: shift left
    const vi shr = sh > 0 ? (sh < 63 ? sh : splat<vi>(63)) : vi{};
    const vi shl = sh < 0 ? -sh : vi{};
    vu kept = (sig >> as_u(shr)) << as_u(shl);
    kept = (sh >= 64) ? vu{} : kept;
    const vi dropped = nz & ((kept >> as_u(shl)) << as_u(shr) != sig);
    lost |= dropped;
    if (i > 0) swamped -= as_u(fin & nz & (kept == 0u));
    const vi ng = (u >> 63) != 0u;
    total += ng ? -as_i(kept) : as_i(kept);
  }
  const vi tneg = total < 0;
  const vu mag = as_u(tneg ? -total : total);
  carry -= as_u(fin & ((mag >> static_cast<std::uint64_t>(p.align + 1 + p.carry)) != 0u));
  // exact integer total -> binary64 pair (hi exact to 53 bits, lo the rest) -> round to odd
  const vd hi0 = __builtin_convertvector(total, vd);
  const vi back = __builtin_convertvector(hi0, vi);
  const vd lo0 = __builtin_convertvector(total - back, vd);
  vi lo_nz;
  vd x = to_odd(hi0, lo0, lo_nz);
  x = x * pow2(L);  // exact scaling (kernel conditions keep it in range)
  vu fi, fu, fo;
  vd r = round_to(t, x, lo_nz, rnd, fi, fu, fo);
  const vi zero_sum = total == 0;
  const vu zneg = as_u(all_zero ? (all_neg | (t.mode == 4 ? any_neg : vi{}))
                                : (t.mode == 4 ? splat<vi>(-1) : vi{})) &
                  1u;
  const vu zbits = t.neg_zero ? (zneg << 63) : vu{};
  r = zero_sum ? std::bit_cast<vd>(zbits) : r;
  fi = (fi | (as_u(lost) & 1u)) & as_u(fin);
  fu &= as_u(fin & ~zero_sum);
  fo &= as_u(fin & ~zero_sum);
  fi &= as_u(~zero_sum | lost);
  ln.add(fi, fu, fo);
  return fin ? r : s;
}

// The plain sequential MAC (no chunks, no product rounding, rne or sr): NV vectors of 8
// outputs advance together so that their dependency chains overlap.
template <int NV, bool kFlags>
void sequential_fast(const EmuParams& p, const double* A, const double* B, const double* C0,
                     std::size_t i, std::size_t j, const TileOut& out) {
  const std::size_t K = p.K, N = p.N;
  const bool sr = p.acc.mode == 6;
  vd s[NV];
  Lanes ln[NV];
  Rng rng[NV];
  for (int v = 0; v < NV; ++v) {
    s[v] = vd{};
    if (C0) std::memcpy(&s[v], C0 + i * N + j + L8 * v, sizeof(vd));
  }
  for (std::size_t k = 0; k < K; ++k) {
    const vd a = splat<vd>(A[i * K + k]);
    for (int v = 0; v < NV; ++v) {
      vd b;
      std::memcpy(&b, B + k * N + j + L8 * v, sizeof b);
      vu rnd{};
      if (sr) {
        rnd = rng[v].get(p, RandomSite::acc, i * N + j + L8 * static_cast<std::size_t>(v), k,
                         p.acc.sr_bits);
      }
      s[v] = add_round_fast<kFlags>(p.acc, s[v], a * b, rnd, ln[v]);
    }
  }
  for (int v = 0; v < NV; ++v)
    for (int l = 0; l < L8; ++l) {
      const std::size_t o =
          i * N + j + L8 * static_cast<std::size_t>(v) + static_cast<std::size_t>(l);
      out.value[o] = s[v][l];
      if (out.flags) out.flags[o] = static_cast<Flags>(ln[v].flags[l]);
      if (out.counts) {
        out.counts->inexact += ln[v].n_inexact[l];
        out.counts->underflow += ln[v].n_underflow[l];
        out.counts->overflow += ln[v].n_overflow[l];
      }
    }
}

struct Totals {
  std::uint64_t inexact = 0, underflow = 0, overflow = 0, swamped = 0, carry = 0;
  std::uint64_t redone = 0;
};

// Outputs (i, j .. j+lanes) of the general emulated path (any structure the kernel takes,
// every rounding mode, special cases included), L8 lanes at a time.
void generic_block(const EmuParams& p, const double* A, const double* B, const double* C0,
                   std::size_t i, std::size_t j, std::size_t lanes, const TileOut& out,
                   Totals& tot) {
  const std::size_t K = p.K, N = p.N;
  Rng rng_acc, rng_outer, rng_prod;
  const std::size_t o0 = i * N + j;
  vd c0{};
  if (C0)
    for (std::size_t l = 0; l < lanes; ++l) c0[l] = C0[i * N + j + l];
  Lanes ln;
  vu swamped{}, carry{};
  vd outer = c0;  // chunked: outer accumulator
  vd s = p.chunk ? vd{} : c0;
  std::uint64_t acc_step = 0, outer_step = 0;
  vd group[64];
  int in_group = 0;
  std::size_t in_chunk = 0;
  auto flush_group = [&] {
    if (in_group == 0) return;
    const std::uint64_t g = acc_step++;
    vu rnd{};
    if (p.acc.mode == 6) {
      rnd = rng_acc.get(p, RandomSite::acc, o0, g, p.acc.sr_bits);
    }
    s = multiterm_group(p, s, group, in_group, rnd, ln, swamped, carry);
    in_group = 0;
  };
  auto flush_chunk = [&] {
    vu rnd{};
    if (p.outer.mode == 6) {
      rnd = rng_outer.get(p, RandomSite::outer, o0, outer_step, p.outer.sr_bits);
    }
    ++outer_step;
    outer = add_round(p.outer, s, outer, rnd, ln);
    s = vd{};
  };
  for (std::size_t k = 0; k < K; ++k) {
    vd b{};
    for (std::size_t l = 0; l < lanes; ++l) b[l] = B[k * N + j + l];
    vd prod = splat<vd>(A[i * K + k]) * b;  // exact
    if (p.has_prod) {
      vu rnd{};
      if (p.prod.mode == 6) {
        rnd = rng_prod.get(p, RandomSite::product, o0, k, p.prod.sr_bits);
      }
      vu fi, fu, fo;
      vd pr = round_to(p.prod, prod, vi{}, rnd, fi, fu, fo);
      // a zero product stays the exact (signed) zero
      pr = (prod == 0.0) ? prod : pr;
      ln.add(fi, fu, fo);
      prod = pr;
    }
    if (p.multiterm) {
      group[in_group++] = prod;
      if (in_group == p.terms) flush_group();
    } else {
      vu rnd{};
      if (p.acc.mode == 6) {
        rnd = rng_acc.get(p, RandomSite::acc, o0, k, p.acc.sr_bits);
      }
      if (p.acc_fast) {
        s = p.flags ? add_round_fast<true>(p.acc, s, prod, rnd, ln)
                    : add_round_fast<false>(p.acc, s, prod, rnd, ln);
      } else {
        s = add_round(p.acc, s, prod, rnd, ln);
      }
    }
    if (p.chunk && ++in_chunk == p.chunk) {
      if (p.multiterm) flush_group();
      flush_chunk();
      in_chunk = 0;
    }
  }
  if (p.multiterm) flush_group();
  if (p.chunk && in_chunk) flush_chunk();
  const vd res = p.chunk ? outer : s;
  for (std::size_t l = 0; l < lanes; ++l) {
    out.value[o0 + l] = res[l];
    if (out.flags) out.flags[o0 + l] = static_cast<Flags>(ln.flags[l]);
    if (out.counts) {
      tot.inexact += ln.n_inexact[l];
      tot.underflow += ln.n_underflow[l];
      tot.overflow += ln.n_overflow[l];
      tot.swamped += swamped[l];
      tot.carry += carry[l];
    }
  }
}

#if defined(__AVX2__)
// The end of a binary32 kernel's row of n outputs from (ii, jj): all n handed to
// generic_block (L8 at a time) if any lane must be recomputed, else the values and (with
// flags) an inexact flag for each lane that counted inexact steps.
template <bool kFlags>
void finish_row(const EmuParams& p, const double* A, const double* B, const double* C0,
                std::size_t ii, std::size_t jj, std::size_t n, bool redo, const float* val,
                const std::uint32_t* cnt, const TileOut& out, Totals& tot) {
  if (redo) {
    tot.redone += n;
    for (std::size_t l = 0; l < n; l += L8) generic_block(p, A, B, C0, ii, jj + l, L8, out, tot);
    return;
  }
  for (std::size_t l = 0; l < n; ++l) {
    const std::size_t o = ii * p.N + jj + l;
    out.value[o] = val[l];
    if constexpr (kFlags) {
      if (out.flags) out.flags[o] = cnt[l] ? Flags{kInexact} : Flags{0};
      tot.inexact += cnt[l];
    }
  }
}

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
#endif

#if defined(__AVX2__) && !defined(__AVX512F__)
// --------------------------------------- binary32 kernel for narrow accumulators, AVX2 --
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

// R rows x NV vectors of 16 outputs at (i, j): the whole reduction.
// kTrack = false (no flags, p.narrow_track false): the steps need no range checks.
// kBytes (sr, ta.sr_bytes): the random fields are moved by one byte shuffle.
template <int Acc, int Outer, bool kFlags, int R, int NV, bool kTrack = true, bool kBytes = false>
void narrow_block(const EmuParams& p, const NarrowTarget& ta, const NarrowTarget& tout,
                  std::size_t i, std::size_t j, const double* A, const double* B, const double* C0,
                  const TileOut& out, Totals& tot) {
  const std::size_t K = p.K, N = p.N;
  const float* Af = p.Af;
  const float* Bf = p.Bf;
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
      for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(Bf + k * N + j + 16 * v);
        // unrolled before GCC decides where the arrays live, so that sv stays in registers
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 a = _mm512_set1_ps(Af[(i + r) * K + k]);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
          NarrowChain& c = ch[r][v];
          // sr reads only the top m + r <= 22 fraction bits, which truncation keeps exactly;
          // the flags need round-to-odd (y != x exactly when the step is inexact)
          const __m512 x =
              kSr && !kFlags
                  ? _mm512_fmadd_round_ps(a, b[v], sv[r][v], _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC)
                  : odd_fma(a, b[v], sv[r][v]);
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

template <int Acc, int Outer>
void narrow_rows(const EmuParams& p, const double* A, const double* B, const double* C0,
                 std::size_t i0, std::size_t in, std::size_t j0, std::size_t jn, const TileOut& out,
                 Totals& tot) {
  // rows per block: 8 without flags (more chains in flight), 4 with flags (their counters
  // would not fit the registers); narrow_tile uses the same numbers
  constexpr int NV = 2;
  const NarrowTarget ta(p.acc), tout(p.outer);
  for (std::size_t j = j0; j < jn; j += 16 * NV) {
    if (p.flags) {
      for (std::size_t i = i0; i < in; i += 4)
        narrow_block<Acc, Outer, true, 4, NV>(p, ta, tout, i, j, A, B, C0, out, tot);
    } else if (Acc == kNarrowSr && !p.narrow_track && ta.sr_bytes) {
      for (std::size_t i = i0; i < in; i += 8)
        narrow_block<Acc, Outer, false, 8, NV, false, true>(p, ta, tout, i, j, A, B, C0, out, tot);
    } else if (Acc != kNarrowF16 && !p.narrow_track) {
      for (std::size_t i = i0; i < in; i += 8)
        narrow_block<Acc, Outer, false, 8, NV, false>(p, ta, tout, i, j, A, B, C0, out, tot);
    } else {
      for (std::size_t i = i0; i < in; i += 8)
        narrow_block<Acc, Outer, false, 8, NV>(p, ta, tout, i, j, A, B, C0, out, tot);
    }
  }
}

// The part of the tile the binary32 kernel covers: [i0, in) x [j0, jn).
void narrow_tile(const EmuParams& p, const double* A, const double* B, const double* C0,
                 std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1, const TileOut& out,
                 Totals& tot, std::size_t& in, std::size_t& jn) {
  const std::size_t R = p.flags ? 4 : 8, W = 32;
  in = i0 + (i1 - i0) / R * R;
  jn = j0 + (j1 - j0) / W * W;
  if (in == i0 || jn == j0) {
    in = i0;
    jn = j0;
    return;
  }
  auto by_outer = [&]<int Acc>() {
    switch (p.chunk ? p.narrow_outer : 0) {
      case 0:
        return narrow_rows<Acc, 0>(p, A, B, C0, i0, in, j0, jn, out, tot);
      case kNarrowF16:
        return narrow_rows<Acc, kNarrowF16>(p, A, B, C0, i0, in, j0, jn, out, tot);
      case kNarrowRne:
        return narrow_rows<Acc, kNarrowRne>(p, A, B, C0, i0, in, j0, jn, out, tot);
      default:
        return narrow_rows<Acc, kNarrowF32>(p, A, B, C0, i0, in, j0, jn, out, tot);
    }
  };
  by_narrow_kind(p.narrow, by_outer);
}

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
}  // namespace

void emulated_tile(const EmuParams& p, const double* A, const double* B, const double* C0,
                   std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1,
                   const TileOut& out) {
  Totals tot;
  std::size_t jn = j0, in = i0;  // [i0, in) x [j0, jn) done by the binary32 kernel
#if defined(__AVX2__)
  if (p.narrow != 0) narrow_tile(p, A, B, C0, i0, i1, j0, j1, out, tot, in, jn);
#endif
#if defined(__AVX512F__)
  if (p.multiterm_fp32) multiterm_tile(p, A, B, C0, i0, i1, j0, j1, out, tot, in, jn);
#endif
  for (std::size_t i = i0; i < i1; ++i) {
    const std::size_t ja = i < in ? jn : j0;  // rows the binary32 kernel covered start at jn
    std::size_t jf = ja;
    if (p.acc_fast && !p.has_prod && !p.chunk && !p.multiterm) {
      constexpr std::size_t kW = 4 * L8;
      for (; jf + kW <= j1; jf += kW) {
        if (p.flags) {
          sequential_fast<4, true>(p, A, B, C0, i, jf, out);
        } else {
          sequential_fast<4, false>(p, A, B, C0, i, jf, out);
        }
      }
    }
    for (std::size_t j = jf; j < j1; j += L8)
      generic_block(p, A, B, C0, i, j, std::min<std::size_t>(L8, j1 - j), out, tot);
  }
  if (out.counts) {
    out.counts->inexact += tot.inexact;
    out.counts->underflow += tot.underflow;
    out.counts->overflow += tot.overflow;
    out.counts->swamped += tot.swamped;
    out.counts->carry_overflow += tot.carry;
  }
  if (out.redone) *out.redone += tot.redone;
}

}  // namespace fp8sim::detail::FP8SIM_ISA
