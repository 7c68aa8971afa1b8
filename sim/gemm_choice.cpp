// sim/gemm_choice.cpp — the one place that decides which GEMM kernel family runs
// (sim/gemm_choice.hpp).
#include "sim/gemm_choice.hpp"

#include <tuple>
#include <utility>

#include "rounding/isa_level.hpp"
#include "sim/kernels/kernels.hpp"

namespace fp8sim::detail {

// Lowest exponent of a non-zero value of f (its min subnormal) and of its max finite.
int min_exp(const Format& f) {
  return f.subnormals ? f.emin() - f.man_bits : f.emin();
}

bool is_plain_ieee_binary32(const Format& f) {
  return f.exp_bits == 8 && f.man_bits == 23 && f.bias == 127 && f.specials == Specials::ieee &&
         f.subnormals && f.overflow == Overflow::ieee;
}

namespace {

// Values of f are exactly binary32 values.
bool fits_fp32(const Format& f) {
  return f.man_bits <= 23 && min_exp(f) >= -149 && f.emax() <= 127;
}

// The accumulator-like format can be emulated on binary64 with round-to-odd.
bool emulable(const Format& f, const RoundSpec& r) {
  const int extra = r.mode == RoundingMode::sr ? r.sr_bits : 2;
  return f.man_bits + 1 + extra <= 52 + (r.mode == RoundingMode::sr ? 0 : 1) &&
         min_exp(f) >= -900 && f.emax() <= 1000 && f.has_zero && f.is_signed;
}

// Every product a*b, and C, is exactly a binary32 value (the fp32 and binary32 kernels).
bool binary32_operands(const MacConfig& m) {
  const int prod_sig = (m.a.man_bits + 1) + (m.b.man_bits + 1);
  const int prod_min = min_exp(m.a) + min_exp(m.b);
  return !m.product && prod_sig <= 24 && prod_min >= -149 && m.a.emax() + m.b.emax() + 2 <= 127 &&
         fits_fp32(m.c ? *m.c : m.acc);
}

// Bits needed to count n + 1 terms of a multiterm group: ceil(log2(n + 1)).
int group_bits(int terms) {
  int lg = 0;
  while ((1 << lg) < terms + 1) ++lg;
  return lg;
}

// How the binary32 kernel for narrow accumulators rounds into f (kNarrowOff: it cannot).
// Its values must sit on binary32's normal grid with two bits to spare (m <= 21, the
// exponent range inside binary32's), zeros signed as in IEEE.
int narrow_kind(const Format& f, const RoundSpec& r, bool allow_sr) {
  const bool grid = f.man_bits >= 1 && f.man_bits <= 21 && f.emin() >= -126 && f.emax() <= 127 &&
                    f.has_zero && f.is_signed && f.has_negative_zero();
  if (!grid || r.ftz) return detail::kNarrowOff;
  if (r.mode == RoundingMode::rne) {
    const bool fp16 = f.exp_bits == 5 && f.man_bits == 10 && f.bias == 15 &&
                      f.specials == Specials::ieee && f.subnormals && f.overflow == Overflow::ieee;
    return fp16 ? detail::kNarrowF16 : detail::kNarrowRne;
  }
  if (r.mode == RoundingMode::sr && allow_sr && f.man_bits + r.sr_bits <= 22)
    return detail::kNarrowSr;
  return detail::kNarrowOff;
}

// The binary32 kernel's accumulator and outer kinds for m (kNarrowOff: not this kernel).
// Products and C must be exact binary32 values. AVX-512 (embedded rounding), or AVX2 for the
// sequential structure without chunks (TwoSum).
std::pair<int, int> narrow_kinds(const MacConfig& m) {
  // AVX-512: embedded rounding; AVX2: TwoSum, sequential without chunks
  if (simd_isa_level() < 3 || (simd_isa_level() < 4 && m.chunk) ||
      m.structure != Structure::sequential || !binary32_operands(m))
    return {detail::kNarrowOff, detail::kNarrowOff};
  const int acc = narrow_kind(m.acc, m.acc_round, true);
  int outer = detail::kNarrowOff;
  if (m.chunk) {
    outer = is_plain_ieee_binary32(m.outer) && m.outer_round.mode == RoundingMode::rne &&
                    !m.outer_round.ftz
                ? detail::kNarrowF32
                : narrow_kind(m.outer, m.outer_round, false);
    if (outer == detail::kNarrowOff) return {detail::kNarrowOff, detail::kNarrowOff};
  }
  return {acc, acc == detail::kNarrowOff ? detail::kNarrowOff : outer};
}

// Rounding s + a*b first to nearest binary32, then (rne) into the accumulator, gives the
// once-rounded result when the accumulator has P <= 11 significant bits, every product
// q <= P with q + P <= 21, and C lies on the accumulator's grid. The binary32 sum is
// inexact only when one operand has bits 24 places below the other's leading bit; then
//  - the larger is s (P bits): |p| < 2^(e-23+q) <= 2^(e-P-2), and with the binary32 error
//    (<= 2^(e-24)) the sum stays closer to s than the nearest accumulator midpoint
//    (>= 2^(e-P-1) away, the half ulp below a power of two);
//  - the larger is p (q <= P bits, so on the accumulator's grid): |s| < 2^(e-24+P) (2^(e-25+P)
//    when the sum falls below the power of two p), closer to p than its nearest midpoint
//    (2^(e-P), or 2^(e-P-1) below a power of two) for P <= 11.
// Below the accumulator's normal range its grid is fixed, the same arguments hold; the
// tracked range checks (or vcvtps2ph for fp16) are unchanged. Without flags only: the
// inexact count needs to know whether the step was exact.
bool narrow_plain_ok(const MacConfig& m, int kind) {
  if (kind != kNarrowF16 && kind != kNarrowRne) return false;
  const int P = m.acc.man_bits + 1;
  const int q = (m.a.man_bits + 1) + (m.b.man_bits + 1);
  const Format& cf = m.c ? *m.c : m.acc;
  const bool c_on_grid =
      cf.man_bits <= m.acc.man_bits && min_exp(cf) >= min_exp(m.acc) && cf.emax() <= m.acc.emax();
  return P <= 11 && q <= P && q + P <= 21 && c_on_grid && m.acc.subnormals;
}

// The AVX-512 multiterm kernel: an accumulator on binary32's grid rounded once per group by
// a conversion (binary32 with rne, rtz, rup: modes whose zero signs the kernel reproduces;
// fewer fraction bits with rtz, the conversion's truncation then cut further), the aligned
// terms' sum exact in binary64, chunks (if any) summed in binary32 rne. With align=field a
// term reaches 2^(E+2) (an unnormalised product in [1,4)), one bit more than with the
// leading bit.
bool multiterm_fp32_ok(const MacConfig& m, int field_bit) {
  const RoundingMode md = m.acc_round.mode;
  const Format& f = m.acc;
  const bool grid = f.exp_bits == 8 && f.bias == 127 && f.specials == Specials::ieee &&
                    f.subnormals && f.overflow == Overflow::ieee && f.has_negative_zero() &&
                    f.man_bits >= 1 && f.man_bits <= 23;
  const bool mode = f.man_bits == 23 ? (md == RoundingMode::rne || md == RoundingMode::rtz ||
                                        md == RoundingMode::rup)
                                     : md == RoundingMode::rtz;
  return simd_isa_level() >= 4 && m.structure == Structure::multiterm && !m.product && grid &&
         mode && !m.acc_round.ftz && m.interleave == 0 &&
         (m.terms == 4 || m.terms == 8 || m.terms == 16 || m.terms == 32) &&
         m.align_bits + field_bit <= 50 &&
         m.align_bits + 1 + field_bit + group_bits(m.terms) <= 53 &&
         (!m.chunk || (is_plain_ieee_binary32(m.outer) && m.outer_round.mode == RoundingMode::rne &&
                       !m.outer_round.ftz));
}

}  // namespace

KernelPlan plan_kernel(const MacConfig& m, std::size_t K, bool flags) {
  KernelPlan plan;
  plan.multiterm = m.structure == Structure::multiterm;
  const int prod_min = min_exp(m.a) + min_exp(m.b);
  const Format& cf = m.c ? *m.c : m.acc;
  // without flags: any binary32 inputs (the FMA's product is exact internally)
  const bool fma_operands = binary32_operands(m) || (!flags && !m.product && fits_fp32(m.a) &&
                                                     fits_fp32(m.b) && fits_fp32(cf));
  if (m.structure == Structure::sequential && m.chunk == 0 && is_plain_ieee_binary32(m.acc) &&
      m.acc_round.mode == RoundingMode::rne && !m.acc_round.ftz && fma_operands) {
    plan.kernel = Kernel::fp32;
    return plan;
  }
  const bool seq_or_mt =
      m.structure == Structure::sequential || m.structure == Structure::multiterm;
  bool ok = seq_or_mt && emulable(m.acc, m.acc_round) && prod_min >= -900 &&
            m.a.emax() + m.b.emax() + 2 <= 1000 && cf.man_bits <= 52 && min_exp(cf) >= -900 &&
            cf.emax() <= 1000;
  if (m.chunk)
    ok = ok && emulable(m.outer, m.outer_round) && (m.outer.has_inf() || !m.acc.has_inf());
  if (m.product) ok = ok && emulable(*m.product, m.product_round);
  // align=field: a term up to 2^(E+2) (one bit more than aligned to the leading bit)
  const int field_bit = m.align_ref == AlignRef::exponent_field && !m.product ? 1 : 0;
  if (m.structure == Structure::multiterm)
    ok = ok && m.terms <= 64 && m.align_bits + 2 + field_bit + group_bits(m.terms) <= 62 &&
         m.align_bits >= 1;
  // interleave: generic_block deals a span (a chunk, or all K) of at most 64 products
  if (m.interleave > 0) {
    const std::size_t span = m.chunk ? static_cast<std::size_t>(m.chunk) : K;
    ok = ok && span <= 64;
  }
  if (!ok) return plan;
  plan.kernel = Kernel::emulated;
  std::tie(plan.narrow, plan.narrow_outer) = narrow_kinds(m);
  plan.narrow_plain = !flags && narrow_plain_ok(m, plan.narrow);
  plan.multiterm_fp32 = multiterm_fp32_ok(m, field_bit);
  // the int32 form: exact binary32 products and C, the aligned sum of n + 1 terms in 31 bits
  const bool width32 = m.align_bits + 1 + field_bit + group_bits(m.terms) <= 31;
  plan.multiterm_int32 = plan.multiterm_fp32 && binary32_operands(m) && width32;
  plan.multiterm_int32_data = plan.multiterm_fp32 && width32 &&
                              (m.a.man_bits + 1) + (m.b.man_bits + 1) <= 24 &&
                              fits_fp32(m.c ? *m.c : m.acc) && fits_fp32(m.a) && fits_fp32(m.b);
  if (plan.multiterm_fp32) plan.acc_keep = ~((1u << (23 - m.acc.man_bits)) - 1u);
  return plan;
}

std::string KernelPlan::name() const {
  switch (kernel) {
    case Kernel::fp32:
      return "fp32-fma";
    case Kernel::emulated:
      if (multiterm) return multiterm_fp32 ? "multiterm-fp32" : "multiterm";
      return narrow != kNarrowOff ? "emulated-fp32" : "emulated";
    case Kernel::reference:
      break;
  }
  return "reference";
}

}  // namespace fp8sim::detail
