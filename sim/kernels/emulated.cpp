// sim/kernels/emulated.cpp — the "emulated" and "multiterm" kernels on binary64, and the
// dispatch of a tile among the kernel families (sim/kernels/kernels.hpp). Any accumulator
// of <= 51 significand bits with any rounding: each step's exact sum s + p is formed as a
// binary64 pair (TwoSum), collapsed by round-to-odd (exact for any later rounding to <= 51
// bits), then rounded into the accumulator format with bit operations on L8 lanes (one per
// output). Also multiterm (aligned integer significands), chunking and products rounded
// to a product format. generic_block is the exact path the faster families hand rare lanes
// back to.
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
// One multiterm group: the accumulator s and n products pk; fk (align=field, else null):
// the products' alignment references 2^(ea+eb) (0 for a zero product).
[[gnu::always_inline]] inline vd multiterm_group(const EmuParams& p, vd s, const vd* pk,
                                                 const vd* fk, int n, vu rnd, Lanes& ln,
                                                 vu& swamped, vu& carry) {
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
    // the reference: the leading bit, or a product's exponent field (align=field)
    const vu ref = (fk && i > 0) ? std::bit_cast<vu>(fk[i - 1]) : a;
    const vi e = as_i(ref >> 52) - 1023;
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
}  // namespace

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
  vd group[64], gfield[64];  // a group's products and (align=field) their references
  vd span[64], sfield[64];   // interleave: the chunk's products, dealt at its end
  int in_group = 0, in_span = 0;
  std::size_t in_chunk = 0;
  const bool field = p.field && !p.has_prod;
  auto flush_group = [&] {
    if (in_group == 0) return;
    const std::uint64_t g = acc_step++;
    vu rnd{};
    if (p.acc.mode == 6) {
      rnd = rng_acc.get(p, RandomSite::acc, o0, g, p.acc.sr_bits);
    }
    s = multiterm_group(p, s, group, field ? gfield : nullptr, in_group, rnd, ln, swamped, carry);
    in_group = 0;
  };
  // interleave=W: runs of W products dealt to the span's ceil(len/terms) groups in turn
  // (a group dealt nothing is dropped), groups in order
  auto flush_span = [&] {
    const int W = p.interleave, groups = (in_span + p.terms - 1) / p.terms;
    for (int g = 0; g < groups; ++g) {
      for (int k = 0; k < in_span; ++k)
        if ((k / W) % groups == g) {
          group[in_group] = span[k];
          gfield[in_group++] = sfield[k];
        }
      flush_group();
    }
    in_span = 0;
  };
  // the end of a chunk's (or the whole K's) multiterm products
  auto flush_products = [&] {
    if (p.interleave) {
      flush_span();
    } else {
      flush_group();
    }
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
      vd fld{};
      if (field) {
        vd fb{};
        for (std::size_t l = 0; l < lanes; ++l) fb[l] = p.Fb[k * N + j + l];
        fld = splat<vd>(p.Fa[i * K + k]) * fb;  // 2^(ea+eb), exact
      }
      if (p.interleave) {
        span[in_span] = prod;
        sfield[in_span++] = fld;
      } else {
        group[in_group] = prod;
        gfield[in_group++] = fld;
        if (in_group == p.terms) flush_group();
      }
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
      if (p.multiterm) flush_products();
      flush_chunk();
      in_chunk = 0;
    }
  }
  if (p.multiterm) flush_products();
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

// One tile: the families the plan switched on cover what they can, generic_block (and the
// sequential fast path) the rest.
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
