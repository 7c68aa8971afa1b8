// tests/unit/test_fma.cpp — fma/add/sub/mul (sim/fma.hpp): one rounding, IEEE zero signs,
// SoftFloat 8086-SSE NaN/Inf rules, overflow, subnormal results, ties; exhaustive FP8
// products into fp32 are exact.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <ios>
#include <sstream>
#include <string>
#include <string_view>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"
#include "sim/fma.hpp"

using fp8sim::Format;
using fp8sim::RoundingMode;
using fp8sim::RoundSpec;

namespace {

const Format& fmt_of(const char* name) {
  // a few cached formats (tests only use these names)
  static const Format fp16 = fp8sim::parse_format("fp16");
  static const Format fp32 = fp8sim::parse_format("fp32");
  static const Format fp64 = fp8sim::parse_format("fp64");
  static const Format e5m2 = fp8sim::parse_format("e5m2");
  static const Format e4m3fn = fp8sim::parse_format("e4m3fn");
  static const Format e4m3fn_sat = fp8sim::parse_format("e4m3fn-sat");
  static const Format e4m3fnuz = fp8sim::parse_format("e4m3fnuz");
  const std::string_view n = name;
  if (n == "fp16") return fp16;
  if (n == "fp32") return fp32;
  if (n == "fp64") return fp64;
  if (n == "e5m2") return e5m2;
  if (n == "e4m3fn") return e4m3fn;
  if (n == "e4m3fn-sat") return e4m3fn_sat;
  return e4m3fnuz;
}

RoundSpec rs(RoundingMode m) {
  RoundSpec r;
  r.mode = m;
  return r;
}

constexpr RoundingMode kRne = RoundingMode::rne, kRna = RoundingMode::rna, kRtz = RoundingMode::rtz,
                       kRup = RoundingMode::rup, kRdn = RoundingMode::rdn, kRto = RoundingMode::rto;

// fp16 encodings
constexpr std::uint64_t kP0 = 0x0000, kN0 = 0x8000, kOne = 0x3C00, kNegOne = 0xBC00, kTwo = 0x4000,
                        kHalf = 0x3800, kInf = 0x7C00, kNInf = 0xFC00, kQNaN = 0x7E00,
                        kSNaN = 0x7D00, kMax = 0x7BFF, kMinSub = 0x0001, kMinNorm = 0x0400,
                        kDefaultNaN = 0xFE00;

constexpr fp8sim::Flags kNone = 0, kIx = fp8sim::kInexact, kUf = fp8sim::kUnderflow,
                        kOf = fp8sim::kOverflow, kInv = fp8sim::kInvalid;

std::string hex_code(std::uint64_t v) {
  std::ostringstream ss;
  ss << "0x" << std::hex << std::uppercase << v;
  return ss.str();
}

#define CHECK_R(expr, code_, flags_)                                                    \
  do {                                                                                  \
    const fp8sim::Rounded r_ = (expr);                                                  \
    CHECK_MESSAGE(r_.code == (code_),                                                   \
                  "code " << hex_code(r_.code) << ", expected " << hex_code(code_));    \
    CHECK_MESSAGE(r_.flags == (flags_), "flags " << fp8sim::flags_to_string(r_.flags)); \
  } while (0)

}  // namespace

TEST_CASE("fma: exact zero results follow the IEEE sign rules") {
  const Format& h = fmt_of("fp16");
  for (RoundingMode m : {kRne, kRna, kRtz, kRup, kRdn, kRto}) {
    INFO("mode " << std::string(fp8sim::to_string(m)));
    const bool rdn = m == kRdn;
    const std::uint64_t cancel_zero = rdn ? kN0 : kP0;
    CHECK_R(fp8sim::add(h, kP0, kP0, rs(m)), kP0, kNone);
    CHECK_R(fp8sim::add(h, kN0, kN0, rs(m)), kN0, kNone);
    CHECK_R(fp8sim::add(h, kP0, kN0, rs(m)), cancel_zero, kNone);
    CHECK_R(fp8sim::add(h, kN0, kP0, rs(m)), cancel_zero, kNone);
    CHECK_R(fp8sim::add(h, kOne, kNegOne, rs(m)), cancel_zero, kNone);
    CHECK_R(fp8sim::sub(h, kOne, kOne, rs(m)), cancel_zero, kNone);
    CHECK_R(fp8sim::sub(h, kN0, kP0, rs(m)), kN0, kNone);  // -0 - +0 = -0 + -0
    CHECK_R(fp8sim::sub(h, kP0, kP0, rs(m)), cancel_zero, kNone);
    CHECK_R(fp8sim::mul(h, kNegOne, kP0, rs(m)), kN0, kNone);
    CHECK_R(fp8sim::mul(h, kNegOne, kN0, rs(m)), kP0, kNone);
    // product zero + zero addend
    CHECK_R(fp8sim::fma(h, kOne, kP0, kN0, rs(m)), cancel_zero, kNone);
    CHECK_R(fp8sim::fma(h, kNegOne, kP0, kN0, rs(m)), kN0, kNone);
    CHECK_R(fp8sim::fma(h, kNegOne, kN0, kP0, rs(m)), kP0, kNone);
    // non-zero product cancelled exactly by the addend
    CHECK_R(fp8sim::fma(h, kOne, kOne, kNegOne, rs(m)), cancel_zero, kNone);
    CHECK_R(fp8sim::fma(h, kTwo, kHalf, kNegOne, rs(m)), cancel_zero, kNone);
    // zero product + non-zero addend is the addend exactly
    CHECK_R(fp8sim::fma(h, kN0, kTwo, kMinSub, rs(m)), kMinSub, kNone);
    // non-zero product + zero addend keeps the product's sign when it rounds to zero
    CHECK_R(fp8sim::fma(h, kMinSub, 0xB400 /* -0.25 */, kP0, rs(m)),
            (m == kRdn   ? 0x8001u
             : m == kRto ? 0x8001u
                         : kN0),
            kUf | kIx);
  }
}

TEST_CASE("fma: Inf - Inf and Inf * 0 are invalid and give the x86 default NaN") {
  const Format& h = fmt_of("fp16");
  const RoundSpec r = rs(kRne);
  CHECK_R(fp8sim::add(h, kInf, kNInf, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::sub(h, kInf, kInf, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::sub(h, kNInf, kNInf, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::add(h, kInf, kInf, r), kInf, kNone);
  CHECK_R(fp8sim::sub(h, kInf, kNInf, r), kInf, kNone);
  CHECK_R(fp8sim::add(h, kNInf, kMax, r), kNInf, kNone);
  CHECK_R(fp8sim::sub(h, kMax, kInf, r), kNInf, kNone);
  CHECK_R(fp8sim::mul(h, kInf, kP0, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::mul(h, kN0, kNInf, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::mul(h, kInf, kNegOne, r), kNInf, kNone);
  CHECK_R(fp8sim::mul(h, kNInf, kNInf, r), kInf, kNone);
  // fma: Inf*0 is invalid whatever the addend, even a quiet NaN (SoftFloat s_mulAddF16)
  CHECK_R(fp8sim::fma(h, kInf, kP0, kOne, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::fma(h, kP0, kNInf, kQNaN, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::fma(h, kInf, kN0, kSNaN, r), kDefaultNaN, kInv);
  // fma: Inf product + opposite Inf
  CHECK_R(fp8sim::fma(h, kInf, kOne, kNInf, r), kDefaultNaN, kInv);
  CHECK_R(fp8sim::fma(h, kInf, kNegOne, kNInf, r), kNInf, kNone);
  CHECK_R(fp8sim::fma(h, kInf, kTwo, kMax, r), kInf, kNone);
  CHECK_R(fp8sim::fma(h, kOne, kTwo, kNInf, r), kNInf, kNone);
  CHECK_R(fp8sim::fma(h, kInf, kTwo, 0xFE01, r), 0xFE01, kNone);  // Inf product + qNaN
}

TEST_CASE("fma: NaN operands propagate (first NaN, quieted); a signalling NaN is invalid") {
  const Format& h = fmt_of("fp16");
  const RoundSpec r = rs(kRne);
  CHECK_R(fp8sim::add(h, kSNaN, kOne, r), 0x7F00, kInv);
  CHECK_R(fp8sim::add(h, kOne, 0x7E01, r), 0x7E01, kNone);
  CHECK_R(fp8sim::add(h, 0xFE05, kSNaN, r), 0xFE05, kInv);  // first NaN, sNaN second
  CHECK_R(fp8sim::add(h, kSNaN, 0x7E05, r), 0x7F00, kInv);
  CHECK_R(fp8sim::sub(h, kOne, kQNaN, r), kQNaN, kNone);  // the NaN's sign is not flipped
  CHECK_R(fp8sim::sub(h, kOne, 0xFD01, r), 0xFF01, kInv);
  CHECK_R(fp8sim::mul(h, kOne, 0xFD00, r), 0xFF00, kInv);
  CHECK_R(fp8sim::mul(h, kQNaN, kInf, r), kQNaN, kNone);
  CHECK_R(fp8sim::mul(h, kP0, kQNaN, r), kQNaN, kNone);  // 0 * NaN: no invalid
  CHECK_R(fp8sim::fma(h, kOne, kOne, kSNaN, r), 0x7F00, kInv);
  CHECK_R(fp8sim::fma(h, kOne, kOne, 0x7E12, r), 0x7E12, kNone);
  CHECK_R(fp8sim::fma(h, 0x7E34, kOne, kSNaN, r), 0x7E34, kInv);
  CHECK_R(fp8sim::fma(h, kOne, 0xFD34, kQNaN, r), 0xFF34, kInv);
  CHECK_R(fp8sim::fma(h, kInf, kQNaN, kNInf, r), kQNaN, kNone);
  // other formats: their NaNs are quiet
  const Format& e4 = fmt_of("e4m3fn");
  CHECK_R(fp8sim::mul(e4, 0x7F, 0x38, r), 0x7F, kNone);
  CHECK_R(fp8sim::add(e4, 0x38, 0xFF, r), 0xFF, kNone);
  const Format& e5 = fmt_of("e5m2");
  CHECK_R(fp8sim::add(e5, 0x7D, 0x3C, r), 0x7F, kInv);  // e5m2 sNaN quieted
  CHECK_R(fp8sim::sub(e5, 0x7C, 0x7C, r), 0xFE, kInv);  // default NaN, sign set
  // fnuz: negating a zero must not produce 0x80 (its NaN)
  const Format& uz = fmt_of("e4m3fnuz");
  CHECK_R(fp8sim::sub(uz, 0x40, 0x00, r), 0x40, kNone);
  CHECK_R(fp8sim::sub(uz, 0x00, 0x00, r), 0x00, kNone);
  CHECK_R(fp8sim::add(uz, 0x80, 0x40, r), 0x80, kNone);
}

TEST_CASE("fma: overflow follows the format's overflow policy and the rounding direction") {
  const Format& h = fmt_of("fp16");
  CHECK_R(fp8sim::mul(h, kMax, kTwo, rs(kRne)), kInf, kOf | kIx);
  CHECK_R(fp8sim::mul(h, kMax, kTwo, rs(kRna)), kInf, kOf | kIx);
  CHECK_R(fp8sim::mul(h, kMax, kTwo, rs(kRtz)), kMax, kOf | kIx);
  CHECK_R(fp8sim::mul(h, kMax, kTwo, rs(kRto)), kMax, kOf | kIx);
  CHECK_R(fp8sim::mul(h, kMax, kTwo, rs(kRdn)), kMax, kOf | kIx);
  CHECK_R(fp8sim::mul(h, kMax, kTwo, rs(kRup)), kInf, kOf | kIx);
  CHECK_R(fp8sim::add(h, kMax | 0x8000, kMax | 0x8000, rs(kRdn)), kNInf, kOf | kIx);
  CHECK_R(fp8sim::add(h, kMax | 0x8000, kMax | 0x8000, rs(kRup)), kMax | 0x8000, kOf | kIx);
  // max + half an ulp (2^4 = 0x4C00) rounds to even = Inf under rne; max under rtz
  CHECK_R(fp8sim::add(h, kMax, 0x4C00, rs(kRne)), kInf, kOf | kIx);
  CHECK_R(fp8sim::add(h, kMax, 0x4C00, rs(kRtz)), kMax, kIx);
  // just below half an ulp: stays at max, no overflow
  CHECK_R(fp8sim::add(h, kMax, 0x4BFF, rs(kRne)), kMax, kIx);
  // fma: the exact product overflows but the sum is back in range (one rounding)
  CHECK_R(fp8sim::fma(h, kMax, kTwo, kMax | 0x8000, rs(kRne)), kMax, kNone);

  const Format& e4 = fmt_of("e4m3fn");
  CHECK_R(fp8sim::mul(e4, 0x7E /* 448 */, 0x40 /* 2 */, rs(kRne)), 0x7F, kOf | kIx);  // NaN
  CHECK_R(fp8sim::mul(e4, 0x7E, 0x40, rs(kRtz)), 0x7E, kOf | kIx);
  CHECK_R(fp8sim::mul(fmt_of("e4m3fn-sat"), 0x7E, 0xC0, rs(kRne)), 0xFE, kOf | kIx);
  const Format& e5 = fmt_of("e5m2");
  CHECK_R(fp8sim::add(e5, 0x7B /* 57344 */, 0x7B, rs(kRne)), 0x7C, kOf | kIx);
  CHECK_R(fp8sim::add(e5, 0xFB, 0xFB, rs(kRne)), 0xFC, kOf | kIx);
}

TEST_CASE("fma: subnormal results, underflow and tininess") {
  const Format& h = fmt_of("fp16");
  // exact subnormal: no flags
  CHECK_R(fp8sim::mul(h, kMinNorm, kHalf, rs(kRne)), 0x0200, kNone);
  CHECK_R(fp8sim::sub(h, 0x0401, kMinNorm, rs(kRne)), 0x0001, kNone);
  // half the smallest subnormal: a tie between 0 and min subnormal
  CHECK_R(fp8sim::mul(h, kMinSub, kHalf, rs(kRne)), kP0, kUf | kIx);
  CHECK_R(fp8sim::mul(h, kMinSub, kHalf, rs(kRna)), kMinSub, kUf | kIx);
  CHECK_R(fp8sim::mul(h, kMinSub, kHalf, rs(kRup)), kMinSub, kUf | kIx);
  CHECK_R(fp8sim::mul(h, kMinSub, kHalf, rs(kRtz)), kP0, kUf | kIx);
  CHECK_R(fp8sim::mul(h, kMinSub | 0x8000, kHalf, rs(kRdn)), 0x8001, kUf | kIx);
  CHECK_R(fp8sim::mul(h, kMinSub, kHalf, rs(kRto)), kMinSub, kUf | kIx);
  // 3 * 2^-25 (1.5 min subnormal): rne to 2 min subnormals
  CHECK_R(fp8sim::mul(h, 0x0003, kHalf, rs(kRne)), 0x0002, kUf | kIx);
  // just below min normal, rounding up to it: tiny before rounding, not after.
  // (1 + 2^-6) * (1 - 2^-6) 2^-14 = (1 - 2^-12) 2^-14: with an unbounded exponent it rounds
  // (a tie, to even) to 2^-14, so it is not tiny after rounding.
  RoundSpec after = rs(kRne), before = rs(kRne);
  before.tininess = fp8sim::Tininess::before;
  CHECK_R(fp8sim::mul(h, 0x3C10, 0x03F0, after), kMinNorm, kIx);
  CHECK_R(fp8sim::mul(h, 0x3C10, 0x03F0, before), kMinNorm, kUf | kIx);
  // 0x07FF * 0.5 = (1 - 2^-11) 2^-14 is exact with an unbounded exponent: tiny either way
  CHECK_R(fp8sim::mul(h, 0x07FF, kHalf, after), kMinNorm, kUf | kIx);
  CHECK_R(fp8sim::mul(h, 0x07FF, kHalf, before), kMinNorm, kUf | kIx);
  // e5m2 subnormals: 0x01 = 2^-16
  const Format& e5 = fmt_of("e5m2");
  CHECK_R(fp8sim::mul(e5, 0x01, 0x38 /* 0.5 */, rs(kRne)), 0x00, kUf | kIx);
  CHECK_R(fp8sim::mul(e5, 0x03, 0x38, rs(kRne)), 0x02, kUf | kIx);
  CHECK_R(fp8sim::mul(e5, 0x04, 0x38, rs(kRne)), 0x02, kNone);
  // flush-to-zero of results
  RoundSpec ftz = rs(kRne);
  ftz.ftz = true;
  CHECK_R(fp8sim::mul(h, kMinNorm, kHalf, ftz), kP0, kUf | kIx);
}

TEST_CASE("fma: ties, sticky bits far below, and one rounding") {
  const Format& h = fmt_of("fp16");
  constexpr std::uint64_t kHalfUlp1 = 0x1000;  // 2^-11: half an ulp of 1.0
  CHECK_R(fp8sim::add(h, kOne, kHalfUlp1, rs(kRne)), kOne, kIx);
  CHECK_R(fp8sim::add(h, kOne, kHalfUlp1, rs(kRna)), 0x3C01, kIx);
  CHECK_R(fp8sim::add(h, 0x3C01, kHalfUlp1, rs(kRne)), 0x3C02, kIx);
  CHECK_R(fp8sim::add(h, 0x3C01, kHalfUlp1, rs(kRtz)), 0x3C01, kIx);
  CHECK_R(fp8sim::add(h, kOne, kHalfUlp1, rs(kRto)), 0x3C01, kIx);
  CHECK_R(fp8sim::add(h, 0x3C01, kHalfUlp1, rs(kRto)), 0x3C01, kIx);
  CHECK_R(fp8sim::add(h, kOne, 0x1001, rs(kRne)), 0x3C01, kIx);    // just above the tie
  CHECK_R(fp8sim::sub(h, kOne, 0x1000, rs(kRne)), 0x3BFF, kNone);  // 1 - 2^-11: exact
  CHECK_R(fp8sim::sub(h, kOne, 0x0C00, rs(kRne)), kOne, kIx);      // 1 - 2^-12: tie, to even
  CHECK_R(fp8sim::sub(h, kOne, 0x0C00, rs(kRtz)), 0x3BFF, kIx);
  CHECK_R(fp8sim::sub(h, kOne, 0x0800, rs(kRne)), kOne, kIx);  // 1 - 2^-13
  // far apart: the smaller term only survives as a sticky bit
  CHECK_R(fp8sim::add(h, kOne, kMinSub, rs(kRup)), 0x3C01, kIx);
  CHECK_R(fp8sim::add(h, kOne, kMinSub, rs(kRne)), kOne, kIx);
  CHECK_R(fp8sim::sub(h, kOne, kMinSub, rs(kRdn)), 0x3BFF, kIx);
  CHECK_R(fp8sim::sub(h, kOne, kMinSub, rs(kRtz)), 0x3BFF, kIx);
  CHECK_R(fp8sim::sub(h, kOne, kMinSub, rs(kRne)), kOne, kIx);
  CHECK_R(fp8sim::add(h, kMax, kMinSub, rs(kRup)), kInf, kOf | kIx);
  CHECK_R(fp8sim::add(h, kMax | 0x8000, kMinSub, rs(kRtz)), 0xFBFE, kIx);
  // e4m3fn: 1.0 = 0x38, half an ulp = 2^-4 = 0x18
  const Format& e4 = fmt_of("e4m3fn");
  CHECK_R(fp8sim::add(e4, 0x38, 0x18, rs(kRne)), 0x38, kIx);
  CHECK_R(fp8sim::add(e4, 0x38, 0x18, rs(kRna)), 0x39, kIx);
  CHECK_R(fp8sim::add(e4, 0x39, 0x18, rs(kRne)), 0x3A, kIx);
  CHECK_R(fp8sim::fma(e4, 0x38, 0x38, 0x18, rs(kRne)), 0x38, kIx);
  CHECK_R(fp8sim::fma(e4, 0x38, 0x38, 0x19, rs(kRne)), 0x39, kIx);
  // e5m2: 1.0 = 0x3C, 1.25 = 0x3D; 1.25 * 1.25 = 1.5625 -> 1.5 (0x3E) under rne
  const Format& e5 = fmt_of("e5m2");
  CHECK_R(fp8sim::mul(e5, 0x3D, 0x3D, rs(kRne)), 0x3E, kIx);
  CHECK_R(fp8sim::mul(e5, 0x3D, 0x3D, rs(kRup)), 0x3F, kIx);
  // fp64: fma gives the exact rounding error of a product (one rounding, no double rounding)
  const Format& d = fmt_of("fp64");
  const auto bits = [](double v) { return std::bit_cast<std::uint64_t>(v); };
  const double a = 1.0 + std::ldexp(1.0, -52);
  const double p = 1.0 + std::ldexp(1.0, -51);  // a*a rounded
  CHECK_R(fp8sim::fma(d, bits(a), bits(a), bits(-p), rs(kRne)), bits(std::ldexp(1.0, -104)), kNone);
  CHECK_R(fp8sim::mul(d, bits(a), bits(a), rs(kRne)), bits(p), kIx);
  CHECK_R(fp8sim::mul(d, bits(a), bits(a), rs(kRup)), bits(p + std::ldexp(1.0, -52)), kIx);
  // fp64: a huge exact product plus a tiny addend (only a sticky bit), both signs
  const double big = std::ldexp(1.5, 1000), b20 = std::ldexp(1.0, 20);
  const double prod = big * b20;  // exact
  const double tiny = 5e-324;
  CHECK_R(fp8sim::fma(d, bits(big), bits(b20), bits(tiny), rs(kRup)),
          bits(std::nextafter(prod, INFINITY)), kIx);
  CHECK_R(fp8sim::fma(d, bits(big), bits(b20), bits(tiny), rs(kRne)), bits(prod), kIx);
  CHECK_R(fp8sim::fma(d, bits(big), bits(b20), bits(-tiny), rs(kRne)), bits(prod), kIx);
  CHECK_R(fp8sim::fma(d, bits(big), bits(b20), bits(-tiny), rs(kRtz)),
          bits(std::nextafter(prod, 0.0)), kIx);
  CHECK_R(fp8sim::fma(d, bits(tiny), bits(tiny), bits(-big), rs(kRdn)), bits(-big), kIx);
  CHECK_R(fp8sim::fma(d, bits(tiny), bits(tiny), bits(-big), rs(kRup)),
          bits(-std::nextafter(big, 0.0)), kIx);
  CHECK_R(fp8sim::fma(d, bits(tiny), bits(-tiny), bits(big), rs(kRdn)),
          bits(std::nextafter(big, 0.0)), kIx);
  // catastrophic cancellation in fp64 fma: a*b - c exactly
  const double b = 1.0 - std::ldexp(1.0, -53);
  CHECK_R(fp8sim::fma(d, bits(a), bits(b), bits(-1.0), rs(kRne)),
          bits(std::ldexp(1.0, -52) - std::ldexp(1.0, -53) - std::ldexp(1.0, -105)), kNone);
  CHECK_R(fp8sim::fma(d, bits(a), bits(b), bits(-1.0), rs(kRne)), bits(std::fma(a, b, -1.0)),
          kNone);
}

TEST_CASE("fma: stochastic rounding uses the random bits once") {
  const Format& h = fmt_of("fp16");
  RoundSpec sr;
  sr.mode = RoundingMode::sr;
  sr.sr_bits = 1;
  CHECK_R(fp8sim::add(h, kOne, 0x1000, sr, 0), kOne, kIx);
  CHECK_R(fp8sim::add(h, kOne, 0x1000, sr, 1), 0x3C01, kIx);
  sr.sr_bits = 2;  // 1 + 2^-12 (a quarter ulp): up only when random == 3
  for (std::uint32_t rnd = 0; rnd < 4; ++rnd)
    CHECK_R(fp8sim::add(h, kOne, 0x0C00, sr, rnd), rnd == 3 ? 0x3C01u : kOne, kIx);
}

TEST_CASE("fma: mixed formats (FP8 inputs, fp32 accumulator)") {
  const Format& e4 = fmt_of("e4m3fn");
  const Format& f32 = fmt_of("fp32");
  const auto fbits = [](float v) { return std::bit_cast<std::uint32_t>(v); };
  // 448 * 448 + 1 = 200705 exactly in fp32
  CHECK_R(fp8sim::fma(e4, 0x7E, e4, 0x7E, f32, fbits(1.0f), f32, rs(kRne)), fbits(200705.0f),
          kNone);
  // e4m3fn NaN -> fp32 NaN (sign kept), no invalid
  const auto r = fp8sim::fma(e4, 0xFF, e4, 0x38, f32, fbits(1.0f), f32, rs(kRne));
  CHECK(fp8sim::classify(f32, r.code) == fp8sim::Class::nan);
  CHECK(fp8sim::sign_of(f32, r.code));
  CHECK(r.flags == kNone);
  // e5m2 Inf into an e4m3fn result: no Inf there, so NaN and invalid (as convert does)
  const Format& e5 = fmt_of("e5m2");
  CHECK_R(fp8sim::fma(e5, 0x7C, e5, 0x3C, e5, 0x3C, e4, rs(kRne)), 0x7F, kInv);
}

TEST_CASE("fma: exhaustive e5m2 x e5m2 and e4m3fn x e4m3fn products into fp32 are exact") {
  const Format& f32 = fmt_of("fp32");
  const RoundSpec r = rs(kRne);
  for (const char* name : {"e5m2", "e4m3fn"}) {
    const Format& f = fmt_of(name);
    std::uint64_t checked = 0, failures = 0;
    for (std::uint64_t a = 0; a < 256; ++a) {
      for (std::uint64_t b = 0; b < 256; ++b) {
        const double da = fp8sim::to_double(f, a), db = fp8sim::to_double(f, b);
        const bool nan_in = std::isnan(da) || std::isnan(db);
        const bool inf_zero = (std::isinf(da) && db == 0) || (std::isinf(db) && da == 0);
        const bool snan = fp8sim::is_signaling_nan(f, a) || fp8sim::is_signaling_nan(f, b);
        // mul() on the operands converted (exactly) to fp32
        const auto ca = fp8sim::convert(f, a, f32, r), cb = fp8sim::convert(f, b, f32, r);
        auto m = fp8sim::mul(f32, ca.code, cb.code, r);
        m.flags |= ca.flags | cb.flags;
        // fma with mixed formats: a*b + (-0) into fp32 (-0 is the additive identity)
        const auto x = fp8sim::fma(f, a, f, b, f32, 0x80000000u, f32, r);
        const double got_m = fp8sim::to_double(f32, m.code);
        const double got_x = fp8sim::to_double(f32, x.code);
        bool ok;
        if (nan_in || inf_zero) {
          const fp8sim::Flags want = (snan || (inf_zero && !nan_in)) ? kInv : kNone;
          ok = std::isnan(got_m) && std::isnan(got_x) && m.flags == want && x.flags == want;
        } else {
          const double want = da * db;  // exact: 4x4-bit significands, well inside double
          const auto wb = std::bit_cast<std::uint64_t>(want);
          ok = std::bit_cast<std::uint64_t>(got_m) == wb &&
               std::bit_cast<std::uint64_t>(got_x) == wb && m.flags == kNone && x.flags == kNone &&
               m.code == x.code;
        }
        ++checked;
        if (!ok && ++failures <= 10) {
          std::ostringstream msg;
          msg << name << std::hex << " a=0x" << a << " b=0x" << b << std::dec << " (" << da << " * "
              << db << "): mul " << got_m << " flags " << fp8sim::flags_to_string(m.flags)
              << ", fma " << got_x << " flags " << fp8sim::flags_to_string(x.flags);
          INFO(msg.str());
          CHECK(ok);
        }
      }
    }
    INFO(std::string(name));
    CHECK(checked == 65536);
    CHECK(failures == 0);
  }
}

TEST_CASE("fma: FP8 add and fma equal one rounding of the exact (double) result") {
  // Every e5m2 and e4m3fn sum, and e4m3fn fma triples (a*b+c), are exact in a double; one
  // rounding of that double (from_double -> round_pack) must give the same code and flags.
  std::uint64_t checked = 0, failures = 0;
  auto compare = [&](const Format& f, const fp8sim::Rounded& got, double exact, RoundingMode m,
                     const char* what, std::uint64_t a, std::uint64_t b, std::uint64_t c,
                     bool both_positive_zero) {
    ++checked;
    if (std::isnan(exact)) return;
    fp8sim::Rounded want;
    if (exact == 0 && !std::signbit(exact) && m == kRdn && !both_positive_zero) {
      want = fp8sim::from_double(-0.0, f, rs(m));  // a cancelling zero sum: -0 under rdn
    } else {
      want = fp8sim::from_double(exact, f, rs(m));
    }
    if ((got.code != want.code || got.flags != want.flags) && ++failures <= 10) {
      std::ostringstream msg;
      msg << what << " " << f.name << " " << fp8sim::to_string(m) << std::hex << " a=0x" << a
          << " b=0x" << b << " c=0x" << c << ": got 0x" << got.code << " flags "
          << fp8sim::flags_to_string(got.flags) << ", want 0x" << want.code << " flags "
          << fp8sim::flags_to_string(want.flags);
      INFO(msg.str());
      CHECK(false);
    }
  };
  for (RoundingMode m : {kRne, kRna, kRtz, kRup, kRdn, kRto}) {
    for (const char* name : {"e5m2", "e4m3fn"}) {
      const Format& f = fmt_of(name);
      for (std::uint64_t a = 0; a < 256; ++a) {
        for (std::uint64_t b = 0; b < 256; ++b) {
          const double da = fp8sim::to_double(f, a), db = fp8sim::to_double(f, b);
          if (std::isinf(da) || std::isinf(db)) continue;
          // exact zero sums of same-signed zeros keep the sign: the double sum does that too
          const bool pa = da == 0 && !std::signbit(da), pb = db == 0 && !std::signbit(db);
          const bool nb = db == 0 && std::signbit(db);
          compare(f, fp8sim::add(f, a, b, rs(m)), da + db, m, "add", a, b, 0, pa && pb);
          compare(f, fp8sim::sub(f, a, b, rs(m)), da - db, m, "sub", a, b, 0, pa && nb);
        }
      }
    }
    // e4m3fn fma: a deterministic sample of triples (a*b exact: 8 bits; a*b+c: <= 37 bits)
    const Format& f = fmt_of("e4m3fn");
    std::uint64_t state = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 40000; ++i) {
      state = state * 6364136223846793005u + 1442695040888963407u;
      const std::uint64_t a = (state >> 40) & 0xFF, b = (state >> 48) & 0xFF,
                          c = (state >> 56) & 0xFF;
      const double da = fp8sim::to_double(f, a), db = fp8sim::to_double(f, b),
                   dc = fp8sim::to_double(f, c);
      const double p = da * db;  // exact
      const bool pz = p == 0 && !std::signbit(p), cz = dc == 0 && !std::signbit(dc);
      compare(f, fp8sim::fma(f, a, b, c, rs(m)), std::fma(da, db, dc), m, "fma", a, b, c, pz && cz);
    }
  }
  CHECK(checked > 1000000);
  CHECK(failures == 0);
}
