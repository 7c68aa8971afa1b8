// tests/unit/test_round_pack.cpp — the rounding primitive on hand-picked cases (the
// exhaustive comparison with the golden model is in tests/exhaustive/).
#include <doctest/doctest.h>

#include <cmath>

#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

using namespace fp8sim;

namespace {
RoundSpec mode(RoundingMode m) {
  RoundSpec r;
  r.mode = m;
  return r;
}
Rounded q(const char* fmt, double v, RoundSpec r = {}, std::uint32_t rnd = 0) {
  return from_double(v, parse_format(fmt), r, rnd);
}
}  // namespace

TEST_CASE("round_pack.e4m3fn.overflow_to_nan_and_ties_to_even_below_it") {
  CHECK(q("e4m3fn", 448).code == 0x7e);
  CHECK(q("e4m3fn", 464).code == 0x7e);  // tie between 448 (even) and 480 (NaN slot)
  CHECK(q("e4m3fn", 464).flags == kInexact);
  CHECK(q("e4m3fn", 465).code == 0x7f);
  CHECK(q("e4m3fn", 465).flags == (kOverflow | kInexact));
  CHECK(q("e4m3fn", -1e9).code == 0xff);
  CHECK(q("e4m3fn-sat", 1e9).code == 0x7e);
  CHECK(q("e4m3fn-sat", -1e9).code == 0xfe);
  CHECK(q("e4m3fn-sat", 1e9).flags == (kOverflow | kInexact));
  CHECK(q("e4m3fn", 1e9, mode(RoundingMode::rtz)).code == 0x7e);         // IEEE: toward zero
  CHECK(q("e4m3fn-nonsat", 480, mode(RoundingMode::rtz)).code == 0x7f);  // OCP: NaN
}

TEST_CASE("round_pack.e5m2.overflow_depends_on_direction") {
  CHECK(q("e5m2", 1e6).code == 0x7c);
  CHECK(q("e5m2", 1e6, mode(RoundingMode::rtz)).code == 0x7b);
  CHECK(q("e5m2", 1e6, mode(RoundingMode::rto)).code == 0x7b);
  CHECK(q("e5m2", 1e6, mode(RoundingMode::rup)).code == 0x7c);
  CHECK(q("e5m2", -1e6, mode(RoundingMode::rup)).code == 0xfb);
  CHECK(q("e5m2", -1e6, mode(RoundingMode::rdn)).code == 0xfc);
  CHECK(q("e5m2", 1e6, mode(RoundingMode::rdn)).code == 0x7b);
  CHECK(q("e5m2", 61440).code == 0x7c);  // tie between max (odd) and 2^16: overflow
  CHECK(q("e5m2", 61439).code == 0x7b);
}

TEST_CASE("round_pack.e5m2.subnormal_ties_and_underflow") {
  CHECK(q("e5m2", 1.5 * 0x1p-16).code == 0x02);  // tie 1 | 2 -> even 2
  CHECK(q("e5m2", 2.5 * 0x1p-16).code == 0x02);  // tie 2 | 3 -> even 2
  CHECK(q("e5m2", 0.5 * 0x1p-16).code == 0x00);  // tie 0 | 1 -> 0
  CHECK(q("e5m2", 0.5 * 0x1p-16).flags == (kUnderflow | kInexact));
  CHECK(q("e5m2", -0.5 * 0x1p-16).code == 0x80);  // keeps the sign
  CHECK(q("e4m3fnuz", -1e-9).code == 0x00);       // no -0 in fnuz
  CHECK(q("e5m2", 0x1p-16).flags == 0);           // exact subnormal: no underflow
  CHECK(q("e5m2", 0.6 * 0x1p-16, mode(RoundingMode::rna)).code == 0x01);
}

TEST_CASE("round_pack.tininess_before_and_after") {
  // 0.9375 * 2^-14 rounds (RNE) to 2^-14; with an unbounded exponent it rounds to 2^-14
  // too, so it is tiny before rounding but not after.
  const double x = 0.9375 * 0x1p-14;
  RoundSpec after;
  RoundSpec before;
  before.tininess = Tininess::before;
  CHECK(q("e5m2", x, after).code == 0x04);
  CHECK(q("e5m2", x, after).flags == kInexact);
  CHECK(q("e5m2", x, before).flags == (kUnderflow | kInexact));
  // 0.75 * 2^-14 is exact as a subnormal: no flags at all
  CHECK(q("e5m2", 0.75 * 0x1p-14, before).flags == 0);
}

TEST_CASE("round_pack.round_to_odd") {
  const RoundSpec rto = mode(RoundingMode::rto);
  CHECK(q("e5m2", 1.1, rto).code == 0x3d);  // 1.0 is even: jam to 1.25
  CHECK(q("e5m2", 1.3, rto).code == 0x3d);  // truncates to 1.25, already odd
  CHECK(q("e5m2", 1.0, rto).code == 0x3c);  // exact stays
  CHECK(q("e5m2", -1.1, rto).code == 0xbd);
}

TEST_CASE("round_pack.stochastic_rule") {
  // 1 + 1/16 in e5m2 (quantum 1/4): discarded fraction 1/4 -> with r = 2, t = 1;
  // rounds up iff t + random >= 4, i.e. random == 3.
  RoundSpec sr = mode(RoundingMode::sr);
  sr.sr_bits = 2;
  for (std::uint32_t rnd = 0; rnd < 4; ++rnd)
    CHECK(q("e5m2", 1.0625, sr, rnd).code == (rnd == 3 ? 0x3d : 0x3c));
  // bits below the top r discarded bits are ignored: 1 + 1/16 + 1/64 has t = 1 too
  CHECK(q("e5m2", 1.0625 + 1.0 / 64, sr, 2).code == 0x3c);
  // only the low r bits of `random` are used
  CHECK(q("e5m2", 1.0625, sr, 0xff).code == 0x3d);
  // exact values never move
  for (std::uint32_t rnd = 0; rnd < 4; ++rnd) CHECK(q("e5m2", 1.25, sr, rnd).code == 0x3d);
}

TEST_CASE("round_pack.flush_to_zero_and_no_subnormals") {
  RoundSpec ftz;
  ftz.ftz = true;
  CHECK(q("e5m2", 0x1p-15, ftz).code == 0x00);
  CHECK(q("e5m2", 0x1p-15, ftz).flags == (kUnderflow | kInexact));
  CHECK(q("e5m2", -0x1p-15, ftz).code == 0x80);
  CHECK(q("e5m2", 0x1p-14, ftz).code == 0x04);
  // without subnormals the values below min normal are {0, min normal}
  CHECK(q("e5m2-nosub", 0.6 * 0x1p-14).code == 0x04);
  CHECK(q("e5m2-nosub", 0.4 * 0x1p-14).code == 0x00);
  CHECK(q("e5m2-nosub", 0.5 * 0x1p-14).code == 0x00);  // tie: 0 is even
  CHECK(q("e5m2-nosub", 0.1 * 0x1p-14, mode(RoundingMode::rup)).code == 0x04);
}

TEST_CASE("round_pack.e8m0.scale_rules") {
  CHECK(q("e8m0", 1).code == 0x7f);
  CHECK(q("e8m0", 3).code == 0x80);  // tie 2 | 4: code 0x80 is even
  CHECK(q("e8m0", 3.1).code == 0x81);
  CHECK(q("e8m0", 0).code == 0xff);
  CHECK(q("e8m0", 0).flags == kInvalid);
  CHECK(q("e8m0", -1).code == 0xff);
  CHECK(q("e8m0", 0x1p-130).code == 0x00);
  CHECK(q("e8m0", 0x1p-130).flags == (kUnderflow | kInexact));
  CHECK(q("e8m0", 0x1p128).code == 0xff);  // overflow -> NaN (no Inf)
}

TEST_CASE("round_pack.mx_fp4_saturates_and_nan_becomes_zero") {
  CHECK(q("e2m1", 100).code == 0x7);
  CHECK(q("e2m1", 100).flags == (kOverflow | kInexact));
  CHECK(q("e2m1", -INFINITY).code == 0xf);
  CHECK(q("e2m1", -INFINITY).flags == kInvalid);
  CHECK(q("e2m1", NAN).code == 0x0);
  CHECK(q("e2m1", NAN).flags == kInvalid);
  CHECK(q("e2m1", 2.5).code == 0x4);  // tie 2 | 3 -> even (2)
  CHECK(q("e2m1", 5).code == 0x6);    // tie 4 | 6 -> even (4)
}

TEST_CASE("convert.nan_payload_and_signalling") {
  const Format fp32 = parse_format("fp32");
  const Format fp16 = parse_format("fp16");
  const Rounded s = convert(fp32, 0x7fa00000, fp16, {});  // signalling: quiet bit clear
  CHECK(s.flags == kInvalid);
  CHECK(s.code == 0x7f00);  // quiet bit set, top payload bit kept
  const Rounded qn = convert(fp32, 0xffc00000, fp16, {});
  CHECK(qn.flags == 0);
  CHECK(qn.code == 0xfe00);
  CHECK(convert(fp32, 0x7f800000, parse_format("e4m3fn"), {}).code == 0x7f);
  CHECK(convert(fp32, 0x7f800000, parse_format("e4m3fn"), {}).flags == kInvalid);
  CHECK(convert(fp32, 0x7f800000, parse_format("e5m2"), {}).code == 0x7c);
}

TEST_CASE("round_pack.wide_significands_with_sticky") {
  // 1 + 2^-60 with a sticky bit below: rounds like a value just above 1 + 2^-60
  Unrounded x{false, -100, (u128{1} << 100) | (u128{1} << 40), true};
  const Format fp64 = parse_format("fp64");
  const Rounded r = round_pack(fp64, x, mode(RoundingMode::rup));
  CHECK(r.code == 0x3ff0000000000001);
  CHECK(r.flags == kInexact);
  const Rounded z = round_pack(fp64, x, mode(RoundingMode::rtz));
  CHECK(z.code == 0x3ff0000000000000);
}

TEST_CASE("rounding.parse_names") {
  CHECK(parse_rounding("rne").mode == RoundingMode::rne);
  CHECK(parse_rounding("sr:13").sr_bits == 13);
  CHECK(parse_rounding("sr").sr_bits == 8);
  CHECK_THROWS_WITH_AS(parse_rounding("sr:0"), doctest::Contains("1..32"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_rounding("nearest"), doctest::Contains("rne, rna"),
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_rounding("rne:3"), std::invalid_argument);
  CHECK(flags_to_string(kUnderflow | kInexact) == "underflow|inexact");
}
