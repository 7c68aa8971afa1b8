// sim/kernels/value_check.cpp — the pass gemm_f32 makes over each binary32 input before a
// kernel runs: whether every element is a value of the input format, and the engine's scan
// (largest and smallest non-zero magnitude, any NaN/Inf). Written on GCC's vector types
// (integer arithmetic on the bits, no branches; per-lane variable shifts need AVX2), compiled
// once per ISA level (sim/kernels/kernels.hpp).
#include <algorithm>
#include <bit>
#include <cstring>

#include "sim/kernels/kernels.hpp"

#ifndef FP8SIM_ISA
#error "compile with -DFP8SIM_ISA=v4|v3|v1"
#endif

// Everything here is internal to one ISA build of this file: no vector crosses an ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fp8sim::detail::FP8SIM_ISA {

namespace {

#if defined(__AVX512F__)
constexpr std::size_t L = 16;
#elif defined(__AVX2__)
constexpr std::size_t L = 8;
#else
constexpr std::size_t L = 4;
#endif
using vu = std::uint32_t __attribute__((vector_size(4 * L)));
using vi = std::int32_t __attribute__((vector_size(4 * L)));

constexpr std::uint32_t kInfBits = 0x7f800000u;

// The scan's reductions run on magnitude bits (non-negative binary32 values order as their
// bits); NaN and Inf stay out of hi and lo and set `special`.
struct Scan {
  vu hi{}, lo, special{};
  Scan() { lo = vu{} + kInfBits; }
  void add(vu mag, vu tiny) {
    mag = mag < tiny ? vu{} : mag;  // flushed
    const vu sp = mag >= kInfBits;  // all ones where NaN/Inf
    special |= sp;
    mag &= ~sp;
    hi = hi > mag ? hi : mag;
    const vu m = mag == 0 ? vu{} + kInfBits : mag;
    lo = lo < m ? lo : m;
  }
  [[nodiscard]] ValueScanPart finish() const {
    std::uint32_t h = 0, l = kInfBits, s = 0;
    for (std::size_t x = 0; x < L; ++x) {
      h = h > hi[x] ? h : hi[x];
      l = l < lo[x] ? l : lo[x];
      s |= special[x];
    }
    return ValueScanPart{std::bit_cast<float>(h), std::bit_cast<float>(l), s != 0 ? 1 : 0, 0};
  }
};

// L elements from v.
vu load(const float* v) {
  vu x;
  std::memcpy(&x, v, sizeof(vu));
  return x;
}
// The last n < L elements, padded with +0 (which every check and scan passes).
vu load_tail(const float* v, std::size_t n) {
  vu x{};
  std::memcpy(&x, v, n * sizeof(float));
  return x;
}

}  // namespace

ValueScanPart scan_part(const float* v, std::size_t n, float tiny) {
  const vu t = vu{} + std::bit_cast<std::uint32_t>(tiny);
  Scan s;
  std::size_t x = 0;
  for (; x + L <= n; x += L) s.add(load(v + x) & 0x7fffffffu, t);
  if (x < n) s.add(load_tail(v + x, n - x) & 0x7fffffffu, t);
  return s.finish();
}

// v = s * 2^(e - 23) with s its integer significand (a binary32 subnormal: e = -126, no
// implicit bit); the format keeps s down to 2^(max(e, emin) - mb), so the low
// 23 - mb + max(0, emin - e) bits of the fraction must be zero, and at most 23 of them can be
// (else v is below the format's smallest subnormal). NaN and Inf are not counted as wrong
// here (the caller checks them when the scan saw one).
ValueScanPart check_part(const ValueCheck& c, const float* v, std::size_t n) {
  const vu t = vu{} + std::bit_cast<std::uint32_t>(c.tiny);
  const vi emin = vi{} + c.emin, fixed = vi{} + (23 - c.man_bits);
  const vu ones = vu{} + 1u;
  const vu neg_bad = vu{} + (c.neg_ok ? 0u : 1u), negzero_bad = vu{} + (c.negzero_ok ? 0u : 1u);
  const vu sub_bad = vu{} + (c.subnormals ? 0u : 1u);
  Scan s;
  vu wrong{};
  const auto step = [&](const vu bits) {
    const vu mag = bits & 0x7fffffffu;
    s.add(mag, t);
    const vu neg = bits >> 31;
    const vi E = reinterpret_cast<vi>(mag >> 23);
    const vi e = E == 0 ? vi{} - 126 : E - 127;
    const vi below = emin > e ? emin - e : vi{};
    const vi shift = fixed + below;
    const vu sh = reinterpret_cast<vu>(shift > 23 ? vi{} + 23 : shift);
    const vu mask = (ones << sh) - 1u;
    const vu finite_bad = (reinterpret_cast<vu>(shift > 23) & 1u) | (((mag & mask) != 0) & 1u) |
                          ((mag > c.max_mag) & 1u) | (reinterpret_cast<vu>(below != 0) & sub_bad) |
                          (neg & neg_bad);
    const vu special = reinterpret_cast<vu>(E == 255);
    const vu is_bad = mag == 0 ? (neg & negzero_bad) : (finite_bad & ~special);
    wrong += is_bad;
  };
  std::size_t x = 0;
  for (; x + L <= n; x += L) step(load(v + x));
  if (x < n) step(load_tail(v + x, n - x));
  ValueScanPart r = s.finish();
  for (std::size_t x = 0; x < L; ++x) r.wrong += wrong[x];
  return r;
}

}  // namespace fp8sim::detail::FP8SIM_ISA
