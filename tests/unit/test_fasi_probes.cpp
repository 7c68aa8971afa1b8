// tests/unit/test_fasi_probes.cpp — the numerical probes of Fasi, Higham, Mikaitis and
// Pranesh 2021, "Numerical behavior of NVIDIA tensor cores" (PeerJ Comput. Sci. 7:e330), as
// they apply to the V100 in fp16 -> fp32 mode, on the measured preset v100-fp16-fp32
// (ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field,nan=canonical).
//
// The probes are the binary32-mode experiments of the paper's test suite
// (north-numerical-computing/tensor-cores-numerical-behavior, tc_test_numerics-V100.cu,
// sections A-D; the binary16-mode ones, A1, A4, B2 and C3, need an fp16 output and are not
// here), plus three on what the measured model adds: alignment to the exponent field
// (Khattak and Mikaitis 2025; docs/gpu-models/findings.md) and the order of the groups of 4.
// Every expected code and flag is worked out by hand in the comments; each probe runs
// through the golden model, the reference model and gemm() (M = N = 1 here, a 16x16 block
// through the fast kernels below), and all must agree with it. Each probe also states what
// the superseded leading-bit spec (tensorcore-v100: multiterm:4:24:2, align=lead) gives; it
// differs on 7 of the 21.
//
// Notation: R = the group's largest alignment exponent; with align=field a product a*b
// counts at e(a) + e(b) (e = the exponent field, emin = -14 for a subnormal fp16) and C at
// its leading bit. Every term is truncated toward zero to a multiple of 2^(R-23) (old spec:
// R = every term's leading bit, grid 2^(R-24)); the exact sum is rounded toward zero into
// fp32 (ulp 2^-23 in [1,2), 2^-22 in [2,4), 2^-21 in [4,8)). A probe of length <= 4 is one
// group with C; a longer one is cut into groups of 4, the first with C, each group's result
// the accumulator of the next.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "../mac_check.hpp"
#include "formats/formats.hpp"
#include "sim/gemm.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"
#include "sim/mac_config.hpp"

namespace {

using fp8sim::Flags;
using fp8sim::testing::Codes;
using fp8sim::testing::hex_list;

constexpr Flags X = fp8sim::kInexact;

constexpr const char* kV100 = "v100-fp16-fp32";
constexpr const char* kV100Spec =
    "ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field,nan=canonical";
/// The superseded spec of preset tensorcore-v100 (leading-bit alignment, 24 bits).
constexpr const char* kOldSpec = "ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:24:2";

// fp16 codes.
constexpr std::uint64_t kH0 = 0x0000;       // +0
constexpr std::uint64_t kH1 = 0x3C00;       // 1
constexpr std::uint64_t kHm1 = 0xBC00;      // -1
constexpr std::uint64_t kH2 = 0x4000;       // 2
constexpr std::uint64_t kHm2 = 0xC000;      // -2
constexpr std::uint64_t kH4 = 0x4400;       // 4
constexpr std::uint64_t kHhalf = 0x3800;    // 2^-1
constexpr std::uint64_t kH1p5 = 0x3E00;     // 1.5 = 1.1b
constexpr std::uint64_t kH1p75 = 0x3F00;    // 1.75 = 1.11b
constexpr std::uint64_t kH1p875 = 0x3F80;   // 1.875 = 1.111b
constexpr std::uint64_t kHbelow1 = 0x3BFF;  // 1 - 2^-11, the largest fp16 below 1
constexpr std::uint64_t kH2m12 = 0x0C00;    // 2^-12
constexpr std::uint64_t kH2m14 = 0x0400;    // 2^-14, the smallest normal
constexpr std::uint64_t kHm2m11 = 0x9000;   // -2^-11
constexpr std::uint64_t kHsub1 = 0x0001;    // 2^-24 = 2^-10 * 2^-14, the smallest subnormal
constexpr std::uint64_t kHmsub1 = 0x8001;   // -2^-24
constexpr std::uint64_t kHsub2 = 0x0002;    // 2^-23 (subnormal)
constexpr std::uint64_t kHsub3 = 0x0003;    // 3 * 2^-24 = 2^-23 + 2^-24 (subnormal)
constexpr std::uint64_t kHmsub3 = 0x8003;   // -(2^-23 + 2^-24)

// fp32 codes.
constexpr std::uint64_t kF0 = 0x00000000;          // +0
constexpr std::uint64_t kF1 = 0x3F800000;          // 1
constexpr std::uint64_t kFbelow1 = 0x3F7FFFFF;     // 1 - 2^-24, the largest fp32 below 1
constexpr std::uint64_t kFmbelow1 = 0xBF7FFFFF;    // -(1 - 2^-24)
constexpr std::uint64_t kF1p2m23 = 0x3F800001;     // 1 + 2^-23
constexpr std::uint64_t kF1p2m22 = 0x3F800002;     // 1 + 2^-22
constexpr std::uint64_t kF1p3u = 0x3F800003;       // 1 + 2^-22 + 2^-23
constexpr std::uint64_t kFm1p3u = 0xBF800003;      // -(1 + 2^-22 + 2^-23)
constexpr std::uint64_t kFm1p2m23 = 0xBF800001;    // -(1 + 2^-23)
constexpr std::uint64_t kF1p875 = 0x3FF00000;      // 1.875
constexpr std::uint64_t kF2 = 0x40000000;          // 2
constexpr std::uint64_t kFm2 = 0xC0000000;         // -2
constexpr std::uint64_t kF4p2m21 = 0x40800001;     // 4 + 2^-21
constexpr std::uint64_t kF5 = 0x40A00000;          // 5
constexpr std::uint64_t kFm5 = 0xC0A00000;         // -5
constexpr std::uint64_t kF8 = 0x41000000;          // 8
constexpr std::uint64_t kF2m15 = 0x38000000;       // 2^-15
constexpr std::uint64_t kFm2m15 = 0xB8000000;      // -2^-15
constexpr std::uint64_t kF2m22 = 0x34800000;       // 2^-22
constexpr std::uint64_t kF2m23 = 0x34000000;       // 2^-23
constexpr std::uint64_t kF2m24 = 0x33800000;       // 2^-24
constexpr std::uint64_t kF2m40 = 0x2B800000;       // 2^-40
constexpr std::uint64_t kF2m24p2m40 = 0x33800080;  // 2^-24 + 2^-40
constexpr std::uint64_t kFmin = 0x00000001;        // 2^-149, the smallest subnormal
constexpr std::uint64_t kFbelow1sq = 0x3F7FC004;   // (1 - 2^-11)^2 = 1 - 2^-10 + 2^-22
constexpr std::uint64_t kF4below1sq = 0x407FC004;  // 4 (1 - 2^-11)^2 = 4 - 2^-8 + 2^-20
constexpr std::uint64_t kF1p25m2m23 = 0x3F9FFFFF;  // 1.25 - 2^-23
constexpr std::uint64_t kF2p25m2m22 = 0x400FFFFF;  // 2.25 - 2^-22

struct Result {
  std::uint64_t code;
  Flags flags;
};

/// One dot product: sum_k a[k] b[k] + c, its result on the V100 preset and on the old spec.
struct Variant {
  Codes a, b;
  std::uint64_t c;
  Result v100, old;
};

struct Probe {
  const char* id;    ///< the paper's test (section and item of the suite), or ours
  const char* what;  ///< the feature it shows
  std::vector<Variant> variants;
};

/// a = all ones, b = `fill` with `special` at position j (the suite's loops over positions).
Variant at_position(std::size_t j, std::uint64_t fill, std::uint64_t special, std::uint64_t c,
                    Result v100, Result old) {
  Codes b(4, fill);
  b[j] = special;
  return {Codes(4, kH1), b, c, v100, old};
}

std::vector<Variant> all_positions(std::uint64_t fill, std::uint64_t special, std::uint64_t c,
                                   Result v100, Result old) {
  std::vector<Variant> v;
  for (std::size_t j = 0; j < 4; ++j) v.push_back(at_position(j, fill, special, c, v100, old));
  return v;
}

const std::vector<Probe>& probes() {
  static const std::vector<Probe> list = {
      // 1. A2, binary16 subnormals in input (binary32 mode): 2^-24 * 4. The subnormal
      // 0x0001 = 2^-10 * 2^-14 counts at e = emin + 2 = -12, significand 2^-10: R = -12,
      // grid 2^-35; the product 2^-22 is kept exactly (C = +0 has no exponent).
      // 2^-22 = 0x34800000, exact. Old spec: R = -22 (leading bit), the same.
      {"A2",
       "fp16 subnormal inputs are used, not flushed",
       {{{kHsub1}, {kH4}, kF0, {kF2m22, 0}, {kF2m22, 0}}}},
      // 2. A3, binary32 subnormals in input: all products +0, C = 2^-149 (0x00000001). The
      // only non-zero term is C: R = -149 (its leading bit), kept; the result 2^-149 is exact,
      // so no underflow (IEEE: underflow needs tiny and inexact). Old spec: the same.
      {"A3",
       "an fp32 subnormal C is kept and returned",
       {{Codes(4, kH0), Codes(4, kH0), kFmin, {kFmin, 0}, {kFmin, 0}}}},
      // 3. A5 (first half), binary16 subnormals in output (binary32 mode): 2^-14 * 2^-1 =
      // 2^-15, below fp16's normal range but normal in fp32: 0x38000000, exact. Old: same.
      {"A5a",
       "a product below fp16's normal range is returned in fp32",
       {{{kH2m14}, {kHhalf}, kF0, {kF2m15, 0}, {kF2m15, 0}}}},
      // 4. A5 (second half): 2^-14 * 1 + C, C = -2^-15. R = -14 (the product), grid 2^-37,
      // both exact: 2^-14 - 2^-15 = 2^-15 = 0x38000000, exact. Old: same.
      {"A5b",
       "a sum below fp16's normal range is returned in fp32",
       {{{kH2m14}, {kH1}, kFm2m15, {kF2m15, 0}, {kF2m15, 0}}}},
      // 5. B1 (first half), products are computed exactly: (1 - 2^-11)^2 = 1 - 2^-10 +
      // 2^-22, 22 significant bits. field: e = -1 + -1 = -2, significand (2 - 2^-10)^2 in
      // [2,4): R = -2, grid 2^-25, kept; in fp32 (ulp 2^-24 in [1/2,1)) exact: 0x3F7FC004.
      // Old: R = -1, grid 2^-25: the same.
      {"B1a",
       "a product of two fp16 values is exact",
       {{{kHbelow1}, {kHbelow1}, kF0, {kFbelow1sq, 0}, {kFbelow1sq, 0}}}},
      // 6. B1 (second half): four such products, C = +0: 4 - 2^-8 + 2^-20, R = -2, grid
      // 2^-25, all kept; fp32 ulp in [2,4) is 2^-22: exact, 0x407FC004. Old: the same.
      {"B1b",
       "four exact products are summed exactly",
       {{Codes(4, kHbelow1), Codes(4, kHbelow1), kF0, {kF4below1sq, 0}, {kF4below1sq, 0}}}},
      // 7. B3, products are accumulated in binary32: 1 * 2^-24 four times, C = 1. The
      // products count at e = 0 + emin = -14; R = 0 (C), grid 2^-23: every 2^-24 truncates to
      // 0, the result is 1 = 0x3F800000, inexact (as the paper's V100 gives 1).
      // Old spec: grid 2^-24 keeps them: 1 + 2^-22 = 0x3F800002, exact. DIFFERS.
      {"B3",
       "accumulation to fp32 precision: 2^-24 terms below 1 are lost",
       {{Codes(4, kH1), Codes(4, kHsub1), kF1, {kF1, X}, {kF1p2m22, 0}}}},
      // 8. B4, the sum starts from the largest element: one product 1 * 1 at position j (all
      // four positions), the other three 1 * 2^-24, C = 2^-24. R = 0 wherever the 1 is, grid
      // 2^-23: the four 2^-24 terms truncate to 0: 1, inexact, at every j (order-free).
      // Old spec: grid 2^-24 keeps them: 1 + 4 * 2^-24 = 1 + 2^-22, exact. DIFFERS.
      {"B4", "the terms are aligned to the largest, wherever it is",
       all_positions(kHsub1, kH1, kF2m24, {kF1, X}, {kF1p2m22, 0})},
      // 9. C1, round-down for positive values: 1 * 2 + 1 * (2^-23 + 2^-24), C = +0. R = 1,
      // grid 2^-22: 3 * 2^-24 = 0.75 * 2^-22 truncates to 0: 2 = 0x40000000, inexact.
      // Old: grid 2^-23 keeps 2^-23; 2 + 2^-23 rounded toward zero into fp32 (ulp 2^-22):
      // 2, inexact. The same.
      {"C1",
       "positive results are rounded down (toward zero)",
       {{Codes(4, kH1), {kH2, kHsub3, kH0, kH0}, kF0, {kF2, X}, {kF2, X}}}},
      // 10. C2, round-up for negative values: the same negated: -2 = 0xC0000000, inexact
      // (toward zero, not down). Old: the same.
      {"C2",
       "negative results are rounded up (toward zero)",
       {{Codes(4, kH1), {kHm2, kHmsub3, kH0, kH0}, kF0, {kFm2, X}, {kFm2, X}}}},
      // 11. D1, extra bits in the significand alignment: 1 * 1 + C, C = -(1 - 2^-24)
      // (leading bit -1). R = 0 (the product), grid 2^-23: C truncates toward zero to
      // -(1 - 2^-23); the sum is 2^-23 = 0x34000000, inexact: no guard bit (the measured
      // V100 gives 2^-23). Old spec: grid 2^-24 keeps C: 2^-24 = 0x33800000, exact. DIFFERS.
      {"D1",
       "no guard bits: aligned significands truncated 23 bits below R",
       {{{kH1}, {kH1}, kFmbelow1, {kF2m23, X}, {kF2m24, 0}}}},
      // 12. D2, normalisation in addition: 1 * 2^-24 four times, C = 1 - 2^-24. R = -1 (C's
      // leading bit; the products count at -14), grid 2^-24: all kept, the sum 1 + 3 * 2^-24
      // is normalised once at the end and rounded toward zero: 1 + 2^-23 = 0x3F800001,
      // inexact (had the partial sum been normalised when it reached 1, the later 2^-24
      // would be lost). Old: R = -1, grid 2^-25: the same.
      {"D2",
       "no normalisation between the additions (same signs)",
       {{Codes(4, kH1), Codes(4, kHsub1), kFbelow1, {kF1p2m23, X}, {kF1p2m23, X}}}},
      // 13. D3, normalisation in subtraction: 1 * 1 + 1 * (-2^-24), C = -(1 - 2^-24). R = 0,
      // grid 2^-23: -2^-24 truncates to 0, C to -(1 - 2^-23): 1 - 1 + 2^-23 = 2^-23 =
      // 0x34000000, inexact. Old: grid 2^-24 keeps both: 1 - 2^-24 - 1 + 2^-24 = +0, exact.
      // DIFFERS.
      {"D3",
       "no normalisation between the additions (opposite signs)",
       {{{kH1, kH1, kH0, kH0}, {kH1, kHmsub1, kH0, kH0}, kFmbelow1, {kF2m23, X}, {kF0, 0}}}},
      // 14. D4 (first part), extra bits for carry-out: three products 1 * 1 and one 1 *
      // 2^-23 (at each of the four positions), C = 1 + 2^-22 + 2^-23. R = 0, grid 2^-23,
      // all kept: 3 + 2^-23 + 1 + 3 * 2^-23 = 4 + 2^-21 (two bits above the leading one),
      // exact in fp32 (ulp 2^-21 in [4,8)): 0x40800001, exact. Old: the same.
      {"D4a", "two carry-out bits: a sum in [4,8) keeps every aligned bit",
       all_positions(kH1, kHsub2, kF1p3u, {kF4p2m21, 0}, {kF4p2m21, 0})},
      // 15. D4 (third bit): 1 + 1.5 + 1.75 + 1.875 + C, C = 1.875. R = 0, every term exact
      // on the grid 2^-23: the sum is 8 = 0x41000000, exact (the suite expects 8). 8 =
      // 2^(R+1+2) is beyond two carry bits: the model never wraps and counts one carry
      // overflow (checked below). Old: the same.
      {"D4b",
       "a sum of 8 is not wrapped (third carry bit)",
       {{Codes(4, kH1), {kH1, kH1p5, kH1p75, kH1p875}, kF1p875, {kF8, 0}, {kF8, 0}}}},
      // 16. D4 (round-down in normalisation, positive): four 1 * 1, C = 1 + 2^-22 + 2^-23.
      // R = 0, grid 2^-23, all kept: 5 + 3 * 2^-23; normalised to [4,8) (ulp 2^-21) and
      // rounded toward zero: 5 = 0x40A00000, inexact. Old: the same.
      {"D4c",
       "the carried-out sum is rounded toward zero (positive)",
       {{Codes(4, kH1), Codes(4, kH1), kF1p3u, {kF5, X}, {kF5, X}}}},
      // 17. D4 (round-up in normalisation, negative): four 1 * -1, C = -(1 + 2^-22 +
      // 2^-23): -5 = 0xC0A00000, inexact. Old: the same.
      {"D4d",
       "the carried-out sum is rounded toward zero (negative)",
       {{Codes(4, kH1), Codes(4, kHm1), kFm1p3u, {kFm5, X}, {kFm5, X}}}},
      // 18. D5, monotonicity of the dot product: the products of D2 with C = 1 instead of
      // 1 - 2^-24. R = 0 now (C), grid 2^-23: the four 2^-24 truncate to 0: 1 = 0x3F800000,
      // inexact, below D2's 1 + 2^-23 although C grew: not monotonic (checked below).
      // Old: grid 2^-24 keeps them: 1 + 2^-22, exact, above D2's 1 + 2^-23 (monotonic).
      // DIFFERS.
      {"D5",
       "the dot product is not monotonic (a larger C, a smaller result)",
       {{Codes(4, kH1), Codes(4, kHsub1), kF1, {kF1, X}, {kF1p2m22, 0}}}},
      // 19. (Khattak and Mikaitis) alignment to the exponent field: 1.5 * 1.5 = 2.25 =
      // 1.001b * 2^1 counts at e = 0 + 0 = 0, keeping one bit more than a term led at R.
      //  (a) C = -(1 + 2^-23): R = 0, grid 2^-23: C exact: 2.25 - 1 - 2^-23 = 1.25 - 2^-23
      //      = 0x3F9FFFFF, exact.
      //  (b) + 2^-12 * -2^-11 = -2^-23 (e = -23), C = +0: R = 0, grid 2^-23: kept;
      //      2.25 - 2^-23 rounded toward zero in [2,4) (ulp 2^-22): 2.25 - 2^-22 =
      //      0x400FFFFF, inexact.
      // Old spec: R = 1 (leading bit) and grid 2^(1-24) = 2^-23: the same grid, the same
      // results. (Leading-bit alignment with 23 bits, grid 2^-22, differs: see the
      // contrasts below.)
      {"field-a",
       "a product in [2,4) is aligned by its exponent field ea+eb",
       {{{kH1p5}, {kH1p5}, kFm1p2m23, {kF1p25m2m23, 0}, {kF1p25m2m23, 0}},
        {{kH1p5, kH2m12}, {kH1p5, kHm2m11}, kF0, {kF2p25m2m22, X}, {kF2p25m2m22, X}}}},
      // 20. (A2 with the exponent field) a subnormal input counts at emin: 2^-24 * 1 + C,
      // C = 2^-40. The product counts at e = emin + 0 = -14 (significand 2^-10): R = -14,
      // grid 2^-37: C truncates to 0: 2^-24 = 0x33800000, inexact. Old spec: R = -24 (the
      // product's leading bit), grid 2^-48 keeps C: 2^-24 + 2^-40 = 0x33800080, exact.
      // DIFFERS. (The measured data has no subnormal inputs; the rule is the model's and the
      // MATLAB model's, max(exponent, emin).)
      {"field-b",
       "a subnormal input's product is aligned at emin",
       {{{kHsub1}, {kH1}, kF2m40, {kF2m24, X}, {kF2m24p2m40, 0}}}},
      // 21. Order: the 5-term fused addition (4 products + C), the groups chained in order
      // k = 0..3 then 4..7 (the wmma dot product of the paper, done in steps of 4; the
      // measured model: C in the first group).
      //  (a) group 0 = 2^-12 * 2^-12 = 2^-24 (+ C = +0): exact, s = 2^-24. Group 1 = s + 1 *
      //      1 + 1 * -1: R = 0, grid 2^-23: s truncates to 0: +0, inexact.
      //  (b) the same products in the other order: group 0 = 1 - 1 = +0 (exact); group 1 =
      //      +0 + 2^-24: 2^-24 = 0x33800000, exact.
      // So the groups are not one fused addition and their order matters. Old spec: grid
      // 2^-24 keeps s in (a): 2^-24, exact, in both orders. DIFFERS.
      {"order",
       "groups of 4 products (+C) are summed one after the other, in order",
       {{{kH2m12, kH0, kH0, kH0, kH1, kH1, kH0, kH0},
         {kH2m12, kH0, kH0, kH0, kH1, kHm1, kH0, kH0},
         kF0,
         {kF0, X},
         {kF2m24, 0}},
        {{kH1, kH1, kH0, kH0, kH2m12, kH0, kH0, kH0},
         {kH1, kHm1, kH0, kH0, kH2m12, kH0, kH0, kH0},
         kF0,
         {kF2m24, 0},
         {kF2m24, 0}}}},
  };
  return list;
}

std::string show(std::uint64_t code, Flags flags) {
  return fmt::format("0x{:08x} [{}]", code, fp8sim::flags_to_string(flags));
}

std::string describe(const Probe& p, std::size_t v, const char* spec) {
  const Variant& t = p.variants[v];
  return fmt::format("probe {} ({}), variant {}\n  spec {}\n  a {}\n  b {}\n  c {:#010x}", p.id,
                     p.what, v, spec, hex_list(t.a), hex_list(t.b), t.c);
}

/// The three paths on one dot product (M = N = 1 for gemm), against `want`.
void check_paths(const fp8sim::MacConfig& m, const Variant& t, const Result& want) {
  const auto g = fp8sim::golden::mac_dot(m, t.a, t.b, t.c, 0, 0);
  CHECK(show(g.code, g.flags) == show(want.code, want.flags));
  const fp8sim::MacResult r = fp8sim::mac_dot(m, t.a, t.b, t.c, 0, 0);
  CHECK(show(r.code, r.flags) == show(want.code, want.flags));
  const Codes c0{t.c};
  const fp8sim::GemmResult e = fp8sim::gemm(m, 1, 1, t.a.size(), t.a, t.b, c0);
  REQUIRE(e.codes.size() == 1);
  REQUIRE(e.flags.size() == 1);
  INFO("gemm kernel " << e.kernel);
  CHECK(show(e.codes[0], e.flags[0]) == show(want.code, want.flags));
}

/// The probe replicated into a 16x16 output block, K = `K` (the probe's products, then
/// zeros: a zero product has no exponent, and the accumulator is on its own grid, so the
/// extra groups of 4 change nothing). Every output must be `want`.
void check_block(const fp8sim::MacConfig& m, const Variant& t, const Result& want, std::size_t K) {
  constexpr std::size_t M = 16, N = 16;
  Codes A(M * K, kH0), B(K * N, kH0);
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t k = 0; k < t.a.size(); ++k) A[i * K + k] = t.a[k];
  for (std::size_t k = 0; k < t.b.size(); ++k)
    for (std::size_t j = 0; j < N; ++j) B[k * N + j] = t.b[k];
  const Codes C0(M * N, t.c);
  struct Run {
    const char* name;
    fp8sim::GemmOptions opt;
  };
  fp8sim::GemmOptions codes_only, reference, one_thread;
  codes_only.flags = false;  // the codes-only forms of the kernels (multiterm int32 form)
  reference.allow_fast = false;
  one_thread.threads = 1;
  one_thread.tile_m = 4;
  one_thread.tile_n = 8;
  const Run runs[] = {{"fast", {}},
                      {"fast, codes only", codes_only},
                      {"fast, 1 thread, 4x8 tiles", one_thread},
                      {"reference", reference}};
  for (const Run& run : runs) {
    const fp8sim::GemmResult e = fp8sim::gemm(m, M, N, K, A, B, C0, run.opt);
    INFO(fmt::format("gemm {} (kernel {}, {} slow outputs), K = {}", run.name, e.kernel,
                     e.slow_outputs, K));
    if (run.opt.allow_fast) CHECK(e.kernel != "reference");
    REQUIRE(e.codes.size() == M * N);
    int bad = 0;
    for (std::size_t o = 0; o < M * N; ++o) {
      const Flags f = run.opt.flags ? e.flags.at(o) : want.flags;
      if (e.codes[o] == want.code && f == want.flags) continue;
      if (++bad <= 3)
        FAIL_CHECK(fmt::format("output {}: {}, expected {}", o, show(e.codes[o], f),
                               show(want.code, want.flags)));
    }
    CHECK(bad == 0);
  }
}

}  // namespace

TEST_CASE("fasi2021.v100_probes") {
  const fp8sim::MacConfig v100 = fp8sim::parse_mac(kV100);
  const fp8sim::MacConfig old = fp8sim::parse_mac(kOldSpec);
  // the preset is the measured spec this file works its expectations out for
  REQUIRE(fp8sim::to_string(v100) == fp8sim::to_string(fp8sim::parse_mac(kV100Spec)));

  const auto& list = probes();
  CHECK(list.size() == 21);
  int differ = 0;
  std::vector<std::string> differing;
  for (const Probe& p : list) {
    bool d = false;
    for (std::size_t v = 0; v < p.variants.size(); ++v) {
      const Variant& t = p.variants[v];
      {
        INFO(describe(p, v, kV100));
        check_paths(v100, t, t.v100);
      }
      {
        INFO(describe(p, v, kOldSpec));
        check_paths(old, t, t.old);
      }
      d = d || t.v100.code != t.old.code || t.v100.flags != t.old.flags;
    }
    if (d) {
      ++differ;
      differing.emplace_back(p.id);
    }
  }
  // the old leading-bit spec fails 7 of the 21: B3, B4, D1, D3, D5, field-b, order
  CHECK(fmt::format("{}", fmt::join(differing, " ")) == "B3 B4 D1 D3 D5 field-b order");
  CHECK(differ == 7);
}

TEST_CASE("fasi2021.v100_probes_carry_and_monotonicity") {
  const fp8sim::MacConfig v100 = fp8sim::parse_mac(kV100);
  const fp8sim::MacConfig old = fp8sim::parse_mac(kOldSpec);
  const auto find = [](const char* id) -> const Variant& {
    for (const Probe& p : probes())
      if (std::string(p.id) == id) return p.variants.front();
    FAIL("no probe " << id);
    return probes().front().variants.front();
  };
  // D4b: 1 + 1.5 + 1.75 + 1.875 + 1.875 = 8 = 2^(R+1+CARRY) with R = 0, CARRY = 2: the
  // reference model counts one carry overflow (the result is not wrapped: 8, as measured).
  const Variant& d4b = find("D4b");
  CHECK(fp8sim::mac_dot(v100, d4b.a, d4b.b, d4b.c, 0, 0).counts.carry_overflow == 1);
  // B3: the four 2^-24 products are truncated to nothing (swamped) on the V100 only.
  const Variant& b3 = find("B3");
  CHECK(fp8sim::mac_dot(v100, b3.a, b3.b, b3.c, 0, 0).counts.swamped == 4);
  CHECK(fp8sim::mac_dot(old, b3.a, b3.b, b3.c, 0, 0).counts.swamped == 0);
  // D5 against D2: C grows from 1 - 2^-24 to 1, the result falls from 1 + 2^-23 to 1 on the
  // V100 (positive fp32 codes order as their values); the old spec rises to 1 + 2^-22.
  const Variant& d2 = find("D2");
  const Variant& d5 = find("D5");
  CHECK(d5.c > d2.c);
  CHECK(fp8sim::golden::mac_dot(v100, d5.a, d5.b, d5.c, 0, 0).code <
        fp8sim::golden::mac_dot(v100, d2.a, d2.b, d2.c, 0, 0).code);
  CHECK(fp8sim::golden::mac_dot(old, d5.a, d5.b, d5.c, 0, 0).code >
        fp8sim::golden::mac_dot(old, d2.a, d2.b, d2.c, 0, 0).code);
}

TEST_CASE("fasi2021.v100_probes_gemm_kernel_block") {
  // Every probe as a 16x16 block of outputs (all equal), K = its length and K = 16 (the
  // suite's wmma 16x16x16 shape, zeros after the probe), through the fast kernels (default,
  // codes only, one thread with small tiles) and the reference path. The test name has
  // "kernel" in it, so the AVX2 and baseline x86-64 builds run it too (tests/meson.build).
  const fp8sim::MacConfig v100 = fp8sim::parse_mac(kV100);
  const fp8sim::MacConfig old = fp8sim::parse_mac(kOldSpec);
  for (const Probe& p : probes()) {
    for (std::size_t v = 0; v < p.variants.size(); ++v) {
      const Variant& t = p.variants[v];
      for (const std::size_t K : {t.a.size(), std::size_t{16}}) {
        {
          INFO(describe(p, v, kV100));
          check_block(v100, t, t.v100, K);
        }
        {
          INFO(describe(p, v, kOldSpec));
          check_block(old, t, t.old, K);
        }
      }
    }
  }
}

TEST_CASE("fasi2021.contrasts") {
  // Not V100 probes: the same inputs on neighbouring specs, to show what each one decides.
  struct Case {
    const char* spec;
    Codes a, b;
    std::uint64_t c;
    Result want;
  };
  const Case cases[] = {
      // D1 with 24 bits (A100, bf16 1 = 0x3F80): the grid 2^-24 keeps C = -(1 - 2^-24):
      // 2^-24 = 0x33800000, exact.
      {"ab=bf16,acc=fp32,round=rtz,struct=multiterm:8:24:2,align=field",
       {0x3F80},
       {0x3F80},
       kFmbelow1,
       {kF2m24, 0}},
      // field-a (a) aligned to the leading bit with 23 bits: R = 1, grid 2^-22: C =
      // -(1 + 2^-23) truncates to -1: 1.25 = 0x3FA00000, inexact (field: 0x3F9FFFFF, exact).
      {"ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2",
       {kH1p5},
       {kH1p5},
       kFm1p2m23,
       {0x3FA00000, X}},
      // field-a (b) likewise: the grid 2^-22 drops -2^-23: 2.25 = 0x40100000, inexact
      // (field: 0x400FFFFF).
      {"ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2",
       {kH1p5, kH2m12},
       {kH1p5, kHm2m11},
       kF0,
       {0x40100000, X}},
  };
  for (const Case& t : cases) {
    const fp8sim::MacConfig m = fp8sim::parse_mac(t.spec);
    INFO(
        fmt::format("{}\n  a {}\n  b {}\n  c {:#010x}", t.spec, hex_list(t.a), hex_list(t.b), t.c));
    check_paths(m, {t.a, t.b, t.c, t.want, t.want}, t.want);
  }
}
