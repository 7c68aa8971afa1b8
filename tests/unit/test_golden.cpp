// tests/unit/test_golden.cpp — hand-picked cases for the golden model (sim/golden) and the
// fast path (rounding/round_pack.hpp): both must give the expected encoding and flags.
//
// Expected values come from the definitions (BRIEF.md "Formats", formats/formats.hpp,
// rounding/round_pack.hpp), worked out by hand in the comments.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"
#include "sim/golden/golden.hpp"

namespace {

using fp8sim::Flags;
using fp8sim::Format;
using fp8sim::RoundSpec;
using fp8sim::golden::Rational;

constexpr Flags X = fp8sim::kInexact;
constexpr Flags U = fp8sim::kUnderflow;
constexpr Flags O = fp8sim::kOverflow;
constexpr Flags V = fp8sim::kInvalid;

Rational pow2(int k) {
  Rational r(1);
  for (int i = 0; i < (k < 0 ? -k : k); ++i) r = k < 0 ? Rational(r / 2) : Rational(r * 2);
  return r;
}

std::string show(std::uint64_t code, Flags flags) {
  return fmt::format("0x{:x} [{}]", code, fp8sim::flags_to_string(flags));
}

/// One rounding of a value given as a double (exact in double): format, value, rounding
/// ("rne", "sr:8", ...), random bits, options; expected encoding and flags.
struct Case {
  const char* format;
  double x;
  const char* mode;
  std::uint64_t code;
  Flags flags;
  std::uint32_t random = 0;
  fp8sim::Tininess tininess = fp8sim::Tininess::after;
  bool ftz = false;
};

template <std::size_t N>
void check_cases(const Case (&cases)[N]) {
  for (const Case& c : cases) {
    const Format f = fp8sim::parse_format(c.format);
    RoundSpec r = fp8sim::parse_rounding(c.mode);
    r.tininess = c.tininess;
    r.ftz = c.ftz;
    const auto g = fp8sim::golden::round_value(f, Rational(c.x), std::signbit(c.x), r, c.random);
    const auto q = fp8sim::from_double(c.x, f, r, c.random);
    INFO(fmt::format("{} <- {} ({:a}) {} random {} tininess {} ftz {}: expected {}", c.format, c.x,
                     c.x, c.mode, c.random,
                     c.tininess == fp8sim::Tininess::after ? "after" : "before", c.ftz,
                     show(c.code, c.flags)));
    CHECK_MESSAGE(show(g.code, g.flags) == show(c.code, c.flags), "golden");
    CHECK_MESSAGE(show(q.code, q.flags) == show(c.code, c.flags), "fast");
  }
}

/// One conversion of an encoding.
struct ConvertCase {
  const char* from;
  std::uint64_t in;
  const char* to;
  std::uint64_t code;
  Flags flags;
};

template <std::size_t N>
void check_converts(const ConvertCase (&cases)[N]) {
  for (const ConvertCase& c : cases) {
    const Format from = fp8sim::parse_format(c.from);
    const Format to = fp8sim::parse_format(c.to);
    INFO(fmt::format("{} 0x{:x} -> {}: expected {}", c.from, c.in, c.to, show(c.code, c.flags)));
    for (const char* mode : {"rne", "rtz", "rdn", "sr:8"}) {
      const RoundSpec r = fp8sim::parse_rounding(mode);
      INFO(mode);
      const auto g = fp8sim::golden::convert(from, c.in, to, r, 77);
      const auto q = fp8sim::convert(from, c.in, to, r, 77);
      CHECK_MESSAGE(show(g.code, g.flags) == show(c.code, c.flags), "golden");
      CHECK_MESSAGE(show(q.code, q.flags) == show(c.code, c.flags), "fast");
    }
  }
}

constexpr auto kBefore = fp8sim::Tininess::before;

}  // namespace

TEST_CASE("golden.value_of.format_table") {
  // The BRIEF.md table: max finite, min normal, min subnormal.
  struct Row {
    const char* format;
    std::uint64_t max_code;
    Rational max;
    int emin;     // min normal 2^emin
    int min_sub;  // min subnormal 2^min_sub
  };
  const Row rows[] = {
      {"e5m2", 0x7B, Rational(57344), -14, -16},
      {"e4m3fn", 0x7E, Rational(448), -6, -9},
      {"e4m3fnuz", 0x7F, Rational(240), -7, -10},
      {"e5m2fnuz", 0x7F, Rational(57344), -15, -17},
      {"e4m3b11fnuz", 0x7F, Rational(30), -10, -13},
      {"fp16", 0x7BFF, Rational(65504), -14, -24},
      {"bf16", 0x7F7F, Rational(255) * pow2(120), -126, -133},
      {"e3m2", 0x1F, Rational(28), -2, -4},
      {"e2m3", 0x1F, Rational(15, 2), 0, -3},
      {"e2m1", 0x7, Rational(6), 0, -1},
  };
  for (const Row& row : rows) {
    INFO(row.format);
    const Format f = fp8sim::parse_format(row.format);
    CHECK(fp8sim::golden::value_of(f, row.max_code) == row.max);
    CHECK(fp8sim::golden::value_of(f, f.sign_mask() | row.max_code) == -row.max);
    CHECK(fp8sim::golden::value_of(f, std::uint64_t{1} << f.man_bits) == pow2(row.emin));
    CHECK(fp8sim::golden::value_of(f, 1) == pow2(row.min_sub));
    CHECK(fp8sim::golden::value_of(f, 0) == 0);
  }
  const Format e8m0 = fp8sim::parse_format("e8m0");
  CHECK(fp8sim::golden::value_of(e8m0, 0x00) == pow2(-127));
  CHECK(fp8sim::golden::value_of(e8m0, 0x7F) == 1);
  CHECK(fp8sim::golden::value_of(e8m0, 0xFE) == pow2(127));
}

TEST_CASE("golden.value_of.matches_to_double") {
  // Every finite encoding of every preset of at most 16 bits: the golden value equals the
  // formats module's double (exact for these formats).
  for (const std::string& name : fp8sim::preset_names()) {
    const Format f = *fp8sim::find_preset(name);
    if (f.width() > 16) continue;
    INFO(name);
    std::uint64_t bad = 0;
    for (std::uint64_t c = 0; c <= f.code_mask(); ++c) {
      const auto cls = fp8sim::classify(f, c);
      if (cls == fp8sim::Class::nan || cls == fp8sim::Class::infinite) continue;
      if (fp8sim::golden::value_of(f, c) != Rational(fp8sim::to_double(f, c))) ++bad;
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("golden.e5m2.overflow_and_max") {
  const Case cases[] = {
      {"e5m2", 57344, "rne", 0x7B, 0},
      {"e5m2", -57344, "rne", 0xFB, 0},
      // 61440 is the midpoint of 57344 (0x7B, odd) and 65536 (0x7C, even): overflows.
      {"e5m2", 61440, "rne", 0x7C, O | X},
      {"e5m2", -61440, "rne", 0xFC, O | X},
      {"e5m2", 61439, "rne", 0x7B, X},
      {"e5m2", 61440, "rtz", 0x7B, X},  // truncates to 57344: no overflow
      {"e5m2", 65536, "rtz", 0x7B, O | X},
      {"e5m2", 1e6, "rna", 0x7C, O | X},
      {"e5m2", 1e6, "rup", 0x7C, O | X},
      {"e5m2", -1e6, "rup", 0xFB, O | X},
      {"e5m2", 1e6, "rdn", 0x7B, O | X},
      {"e5m2", -1e6, "rdn", 0xFC, O | X},
      {"e5m2", 1e6, "rto", 0x7B, O | X},
      {"e5m2", -1e6, "rto", 0xFB, O | X},
      {"e5m2-sat", 1e6, "rne", 0x7B, O | X},
      {"e5m2-sat", -1e6, "rup", 0xFB, O | X},
      {"e5m2-sat", -1e6, "rdn", 0xFB, O | X},
      {"e5m2-nonsat", 1e6, "rtz", 0x7C, O | X},
      {"e5m2-nonsat", -1e6, "rup", 0xFC, O | X},
      {"fp16", 65504, "rne", 0x7BFF, 0},
      {"fp16", 65519, "rne", 0x7BFF, X},
      {"fp16", 65520, "rne", 0x7C00, O | X},
      {"fp16", 65520, "rdn", 0x7BFF, X},
      {"fp16", 65536, "rdn", 0x7BFF, O | X},
  };
  check_cases(cases);
}

TEST_CASE("golden.e4m3fn.overflow_to_nan") {
  const Case cases[] = {
      {"e4m3fn", 448, "rne", 0x7E, 0},
      {"e4m3fn", -448, "rne", 0xFE, 0},
      // 464 is the midpoint of 448 (0x7E, even) and 480 (0x7F would be, odd): 448.
      {"e4m3fn", 464, "rne", 0x7E, X},
      {"e4m3fn", 465, "rne", 0x7F, O | X},
      {"e4m3fn", -465, "rne", 0xFF, O | X},
      {"e4m3fn", 480, "rne", 0x7F, O | X},
      {"e4m3fn", 464, "rna", 0x7F, O | X},
      // rtz: 470 truncates to 448 without overflow; 500 truncates to 480 > 448: overflow.
      {"e4m3fn", 470, "rtz", 0x7E, X},
      {"e4m3fn", 500, "rtz", 0x7E, O | X},
      {"e4m3fn", 449, "rup", 0x7F, O | X},
      {"e4m3fn", -449, "rup", 0xFE, X},
      {"e4m3fn", -449, "rdn", 0xFF, O | X},
      {"e4m3fn", 449, "rdn", 0x7E, X},
      // rto: 448 is even, so the odd neighbour 480 is taken: it exceeds max finite, and an
      // rto overflow gives max finite.
      {"e4m3fn", 449, "rto", 0x7E, O | X},
  };
  check_cases(cases);
  const Case sat[] = {
      {"e4m3fn-sat", 1000, "rne", 0x7E, O | X},     {"e4m3fn-sat", -1000, "rne", 0xFE, O | X},
      {"e4m3fn-sat", 1e30, "rup", 0x7E, O | X},     {"e4m3fn-nonsat", 1000, "rtz", 0x7F, O | X},
      {"e4m3fn-nonsat", -1000, "rup", 0xFF, O | X},
  };
  check_cases(sat);
}

TEST_CASE("golden.fnuz.zero_nan_and_overflow") {
  const Case cases[] = {
      {"e4m3fnuz", 240, "rne", 0x7F, 0},
      {"e4m3fnuz", 247, "rne", 0x7F, X},
      // 248: midpoint of 240 (0x7F, odd) and 256 (even): overflow, NaN is 0x80.
      {"e4m3fnuz", 248, "rne", 0x80, O | X},
      {"e4m3fnuz", -248, "rne", 0x80, O | X},
      {"e4m3fnuz", 1000, "rtz", 0x7F, O | X},
      {"e4m3fnuz", -1000, "rtz", 0xFF, O | X},
      {"e4m3fnuz-sat", -1000, "rne", 0xFF, O | X},
      // No negative zero: -0 and negative underflows give +0.
      {"e4m3fnuz", -0.0, "rne", 0x00, 0},
      {"e4m3fnuz", -0x1p-12, "rne", 0x00, U | X},
      {"e4m3fnuz", -0x1p-12, "rdn", 0x81, U | X},
      {"e4m3fnuz", -0x1p-12, "rne", 0x00, U | X, 0, kBefore, true},
      {"e5m2fnuz", 57344, "rne", 0x7F, 0},
      {"e5m2fnuz", 0x1p-17, "rne", 0x01, 0},
      {"e5m2fnuz", 0x1p-18, "rne", 0x00, U | X},
      {"e5m2fnuz", -0x1p-18, "rna", 0x81, U | X},
      {"e5m2fnuz", -0.0, "rne", 0x00, 0},
      {"e4m3b11fnuz", 30, "rne", 0x7F, 0},
      {"e4m3b11fnuz", 0x1p-13, "rne", 0x01, 0},
      {"e4m3b11fnuz", 0x1p-10, "rne", 0x08, 0},
  };
  check_cases(cases);
}

TEST_CASE("golden.subnormals.ties_and_tininess") {
  const Case cases[] = {
      {"e5m2", 0x1p-14, "rne", 0x04, 0},  // min normal
      {"e5m2", 0x1p-16, "rne", 0x01, 0},  // min subnormal
      {"e5m2", -0.0, "rne", 0x80, 0},
      // 2^-17: midpoint of 0 (even) and 0x01: 0.
      {"e5m2", 0x1p-17, "rne", 0x00, U | X},
      {"e5m2", -0x1p-17, "rne", 0x80, U | X},
      {"e5m2", 0x1p-17, "rna", 0x01, U | X},
      {"e5m2", 0x1p-17, "rto", 0x01, U | X},
      {"e5m2", 0x1p-17, "rup", 0x01, U | X},
      {"e5m2", -0x1p-17, "rup", 0x80, U | X},
      {"e5m2", 0x1p-30, "rtz", 0x00, U | X},
      {"e5m2", 3 * 0x1p-17, "rne", 0x02, U | X},  // tie 0x01/0x02 -> 0x02
      {"e5m2", 5 * 0x1p-17, "rne", 0x02, U | X},  // tie 0x02/0x03 -> 0x02
      {"e5m2", 7 * 0x1p-17, "rne", 0x04, U | X},  // tie 0x03/0x04 (min normal)
      {"e4m3fn", 0x1p-9, "rne", 0x01, 0},
      {"e4m3fn", 0x1p-10, "rne", 0x00, U | X},
      {"e4m3fn", 0x1p-10, "rto", 0x01, U | X},
      {"e4m3fn", 3 * 0x1p-10, "rne", 0x02, U | X},
      {"fp16", 0x1p-24, "rne", 0x0001, 0},
      {"fp16", 0x1p-25, "rne", 0x0000, U | X},
      {"fp16", 0x1.8p-25, "rne", 0x0001, U | X},
      {"bf16", 0x1p-133, "rne", 0x0001, 0},
      {"bf16", 0x1p-126, "rne", 0x0080, 0},
      // 0.875 * 2^-14 = 3.5 * 2^-16: tie 0x03/0x04 -> 0x04 (min normal). With unbounded
      // exponent it is 1.11b * 2^-15, exact and below min normal: tiny either way.
      {"e5m2", 0.875 * 0x1p-14, "rne", 0x04, U | X},
      {"e5m2", 0.875 * 0x1p-14, "rne", 0x04, U | X, 0, kBefore},
      // 0.9375 * 2^-14 = 1.111b * 2^-15: with unbounded exponent it rounds (tie, to even) to
      // 2^-14, not tiny after rounding; before rounding it is tiny.
      {"e5m2", 0.9375 * 0x1p-14, "rne", 0x04, X},
      {"e5m2", 0.9375 * 0x1p-14, "rne", 0x04, U | X, 0, kBefore},
      {"e5m2", 0.9375 * 0x1p-14, "rtz", 0x03, U | X},
      {"e5m2", 0.9375 * 0x1p-14, "rup", 0x04, X},
      {"e5m2", -0.9375 * 0x1p-14, "rdn", 0x84, X},
      {"e5m2", -0.9375 * 0x1p-14, "rup", 0x83, U | X},
      // Exact subnormals raise nothing, whatever the tininess.
      {"e5m2", 3 * 0x1p-16, "rne", 0x03, 0, 0, kBefore},
  };
  check_cases(cases);
}

TEST_CASE("golden.ftz.flushes_below_min_normal") {
  const Case cases[] = {
      {"e5m2", 0x1p-15, "rne", 0x00, U | X, 0, fp8sim::Tininess::after, true},
      {"e5m2", -0x1p-15, "rne", 0x80, U | X, 0, fp8sim::Tininess::after, true},
      {"e5m2", 0x1p-16, "rup", 0x00, U | X, 0, fp8sim::Tininess::after, true},  // exact too
      {"e5m2", 0.9375 * 0x1p-14, "rne", 0x00, U | X, 0, fp8sim::Tininess::after, true},
      {"e5m2", 0x1p-14, "rne", 0x04, 0, 0, fp8sim::Tininess::after, true},
      {"e5m2", -0.0, "rne", 0x80, 0, 0, fp8sim::Tininess::after, true},
      {"e4m3fnuz", -0x1p-9, "rne", 0x00, U | X, 0, fp8sim::Tininess::after, true},
      {"e8m0", 0x1p-130, "rne", 0x00, U | X, 0, fp8sim::Tininess::after, true},
  };
  check_cases(cases);
}

TEST_CASE("golden.nosub.gap_between_zero_and_min_normal") {
  // e5m2-nosub: below min normal 2^-14 only 0 (even) and 2^-14 (0x04, counted as odd).
  const Case cases[] = {
      {"e5m2-nosub", 0x1p-14, "rne", 0x04, 0},
      {"e5m2-nosub", 0x1p-15, "rne", 0x00, U | X},  // the tie goes to 0
      {"e5m2-nosub", -0x1p-15, "rne", 0x80, U | X},
      {"e5m2-nosub", 0x1p-15, "rna", 0x04, U | X},
      {"e5m2-nosub", 0x1p-15, "rto", 0x04, U | X},
      {"e5m2-nosub", 0x1p-15, "rtz", 0x00, U | X},
      {"e5m2-nosub", 0x1p-15, "rup", 0x04, U | X},
      {"e5m2-nosub", -0x1p-15, "rup", 0x80, U | X},
      {"e5m2-nosub", -0x1p-15, "rdn", 0x84, U | X},
      {"e5m2-nosub", 0.25 * 0x1p-14, "rne", 0x00, U | X},
      {"e5m2-nosub", 0.75 * 0x1p-14, "rne", 0x04, U | X},
      // 1.111b * 2^-15 rounds to 2^-14 with unbounded exponent: not tiny after rounding.
      {"e5m2-nosub", 0.9375 * 0x1p-14, "rne", 0x04, X},
      {"e5m2-nosub", 0.9375 * 0x1p-14, "rne", 0x04, U | X, 0, kBefore},
      // sr:1 at exactly half way: the one discarded bit is 1.
      {"e5m2-nosub", 0x1p-15, "sr:1", 0x00, U | X, 0},
      {"e5m2-nosub", 0x1p-15, "sr:1", 0x04, U | X, 1},
  };
  check_cases(cases);
}

TEST_CASE("golden.modes.rne_rna_rto_sr") {
  // e5m2 around 1: 1.0 = 0x3C, 1.25 = 0x3D, 1.5 = 0x3E, 1.75 = 0x3F.
  const Case cases[] = {
      {"e5m2", 1.125, "rne", 0x3C, X},
      {"e5m2", 1.125, "rna", 0x3D, X},
      {"e5m2", 1.375, "rne", 0x3E, X},
      {"e5m2", -1.375, "rne", 0xBE, X},
      {"e5m2", 1.1, "rto", 0x3D, X},
      {"e5m2", 1.3, "rto", 0x3D, X},
      {"e5m2", 1.25, "rto", 0x3D, 0},
      {"e5m2", 1.6, "rto", 0x3F, X},
      {"e5m2", -1.6, "rto", 0xBF, X},
      {"e5m2", 1.1, "rup", 0x3D, X},
      {"e5m2", -1.1, "rup", 0xBC, X},
      {"e5m2", -1.1, "rdn", 0xBD, X},
      // sr: 1.125 is half way (discarded bits 1000...): t = 2^(r-1).
      {"e5m2", 1.125, "sr:1", 0x3C, X, 0},
      {"e5m2", 1.125, "sr:1", 0x3D, X, 1},
      {"e5m2", 1.125, "sr:8", 0x3C, X, 127},
      {"e5m2", 1.125, "sr:8", 0x3D, X, 128},
      {"e5m2", -1.125, "sr:8", 0xBD, X, 128},
      {"e5m2", 1.0, "sr:8", 0x3C, 0, 255},
      // 1.0625 is a quarter of the way: r = 1 sees a discarded bit 0 and never rounds up.
      {"e5m2", 1.0625, "sr:1", 0x3C, X, 1},
      {"e5m2", 1.0625, "sr:2", 0x3D, X, 3},
      {"e5m2", 1.0625, "sr:2", 0x3C, X, 2},
      // only the low r bits of `random` count
      {"e5m2", 1.125, "sr:1", 0x3C, X, 0xFFFFFFFE},
      // sr overflow goes to Inf
      {"e5m2", 61440, "sr:1", 0x7C, O | X, 1},
      {"e5m2", 61440, "sr:1", 0x7B, X, 0},
      {"e4m3fn", 464, "sr:4", 0x7F, O | X, 8},
      {"e4m3fn", 464, "sr:4", 0x7E, X, 7},
  };
  check_cases(cases);
}

TEST_CASE("golden.mx.fp6_fp4_saturate") {
  const Case cases[] = {
      {"e3m2", 28, "rne", 0x1F, 0},
      {"e3m2", 29, "rne", 0x1F, X},
      {"e3m2", 30, "rne", 0x1F, O | X},  // tie 28 (odd) / 32 (even): overflow, saturates
      {"e3m2", -100, "rup", 0x3F, O | X},
      {"e3m2-nonsat", 100, "rne", 0x1F, O | X},  // no Inf, no NaN: "Inf" is max finite
      {"e2m3", 7.5, "rne", 0x1F, 0},
      {"e2m3", 0.125, "rne", 0x01, 0},
      {"e2m3", 0.0625, "rne", 0x00, U | X},
      {"e2m1", 6, "rne", 0x7, 0},
      {"e2m1", 6.5, "rne", 0x7, X},
      {"e2m1", 7, "rne", 0x7, O | X},
      {"e2m1", -7, "rne", 0xF, O | X},
      {"e2m1", 0.5, "rne", 0x1, 0},
      {"e2m1", -0.25, "rne", 0x8, U | X},  // tie 0 / 0.5: -0
      {"e2m1", 2.5, "rne", 0x4, X},        // tie 2 (0x4) / 3 (0x5)
      {"e2m1", 2.5, "rto", 0x5, X},
  };
  check_cases(cases);
}

TEST_CASE("golden.e8m0.scale_format") {
  // E8M0: 2^(c-127), no zero, no sign, 0xFF NaN; no Inf: overflow gives NaN (or max).
  const Case cases[] = {
      {"e8m0", 1, "rne", 0x7F, 0},
      {"e8m0", 0x1p127, "rne", 0xFE, 0},
      {"e8m0", 0x1p-127, "rne", 0x00, 0},
      {"e8m0", 0.0, "rne", 0xFF, V},
      {"e8m0", -0.0, "rne", 0xFF, V},
      {"e8m0", -1, "rne", 0xFF, V},
      {"e8m0", 0x1p-128, "rne", 0x00, U | X},
      {"e8m0", 0x1p-128, "rup", 0x00, U | X},
      {"e8m0", 0x1p-200, "rtz", 0x00, U | X},
      {"e8m0", 0x1p-128, "rne", 0x00, U | X, 0, kBefore},
      {"e8m0", 3, "rne", 0x80, X},  // tie 2 (0x80, even) / 4 (0x81)
      {"e8m0", 6, "rne", 0x82, X},  // tie 4 (0x81) / 8 (0x82, even)
      {"e8m0", 6, "rna", 0x82, X},
      {"e8m0", 5, "rtz", 0x81, X},
      {"e8m0", 5, "rup", 0x82, X},
      {"e8m0", 1.5, "rto", 0x7F, X},  // 1 = 0x7F is odd
      {"e8m0", 3, "rto", 0x81, X},    // 2 = 0x80 is even: 4
      {"e8m0", 0x1p128, "rne", 0xFF, O | X},
      {"e8m0", 0x1p128, "rtz", 0xFE, O | X},
      {"e8m0", 0x1.8p127, "rne", 0xFE, X},  // tie 2^127 (0xFE, even) / 2^128: no overflow
      {"e8m0", 0x1.8p127, "rna", 0xFF, O | X},
      {"e8m0-sat", 0x1p200, "rne", 0xFE, O | X},
  };
  check_cases(cases);
}

TEST_CASE("golden.no_mantissa.encoding_parity") {
  // e4m0fn: man_bits 0, bias 7: 0 (code 0), 2^(c-7) for c = 1..14 (max 128), NaN 0x0F.
  // Every significand is 1: "even" / "odd" is the parity of the encoding (exponent field).
  const Case cases[] = {
      {"e4m0fn", 3, "rne", 0x08, X},    // tie 2 (0x08, even) / 4 (0x09)
      {"e4m0fn", 6, "rne", 0x0A, X},    // tie 4 (0x09) / 8 (0x0A, even)
      {"e4m0fn", 3, "rto", 0x09, X},    // 2 is even: 4
      {"e4m0fn", 5, "rto", 0x09, X},    // 4 is odd: stays
      {"e4m0fn", 192, "rne", 0x0E, X},  // tie 128 (0x0E, even) / 256: no overflow
      {"e4m0fn", 193, "rne", 0x0F, O | X},
      {"e4m0fn", 0x1p-7, "rne", 0x00, U | X},  // tie 0 (even) / 2^-6 (0x01)
      {"e4m0fn", 0x1p-7, "rto", 0x01, U | X},
  };
  check_cases(cases);
  // Tininess after rounding with unbounded exponent, where the encodings are extended
  // downwards (2^-7 would be field 0, even; 2^-6 is field 1, odd). Golden only: the fast
  // path disagrees on the underflow flag (it treats the significand 1 as odd and
  // 2 = 10b as even in this rounding), see the report of the golden model's author.
  const Format f = fp8sim::parse_format("e4m0fn");
  auto golden = [&](double x, const char* mode) {
    const auto g = fp8sim::golden::round_value(f, Rational(x), x < 0, fp8sim::parse_rounding(mode));
    return show(g.code, g.flags);
  };
  // 1.5 * 2^-7: bounded it rounds to 2^-6; unbounded it is a tie of 2^-7 (even) and 2^-6:
  // 2^-7, tiny.
  CHECK(golden(0x1.8p-7, "rne") == show(0x01, U | X));
  // (2^-7, 2^-6) rto: bounded 0x01 (odd); unbounded 2^-7 is even, so 2^-6: not tiny.
  CHECK(golden(0x1.004p-7, "rto") == show(0x01, X));
  CHECK(golden(-0x1.004p-7, "rto") == show(0x11, X));
}

TEST_CASE("golden.round_value.non_dyadic") {
  // 1/3 = 1.0101...b * 2^-2; e5m2 keeps 1.01b * 2^-2 = 0.3125 (field 13: 0x35).
  const Format f = fp8sim::parse_format("e5m2");
  const Rational third(1, 3);
  auto round = [&](const Rational& x, const char* mode) {
    const auto g = fp8sim::golden::round_value(f, x, x < 0, fp8sim::parse_rounding(mode));
    return show(g.code, g.flags);
  };
  CHECK(round(third, "rne") == show(0x35, X));
  CHECK(round(third, "rup") == show(0x36, X));
  CHECK(round(-third, "rdn") == show(0xB6, X));
  CHECK(round(-third, "rtz") == show(0xB5, X));
  // 1/3 of the way from 0.3125 to 0.375 (discarded fraction 0.0101...b): sr:2 has t = 1.
  CHECK(round(third, "sr:2") == show(0x35, X));
  const auto up = fp8sim::golden::round_value(f, third, false, fp8sim::parse_rounding("sr:2"), 3);
  CHECK(show(up.code, up.flags) == show(0x36, X));
  // Far below everything.
  CHECK(round(Rational(1, 3) * pow2(-40), "rne") == show(0x00, U | X));
  CHECK(round(Rational(1, 3) * pow2(-40), "rup") == show(0x01, U | X));
}

TEST_CASE("golden.convert.nan_and_inf") {
  const ConvertCase cases[] = {
      // IEEE -> IEEE: top payload bits kept, quiet bit set; signalling raises invalid.
      {"fp16", 0x7E00, "e5m2", 0x7E, 0},
      {"fp16", 0xFE00, "e5m2", 0xFE, 0},
      {"fp16", 0x7C01, "e5m2", 0x7E, V},  // sNaN, payload below e5m2's fraction
      {"fp16", 0x7D00, "e5m2", 0x7F, V},  // sNaN, fraction 01b...: 01b | quiet
      {"fp16", 0x7F00, "e5m2", 0x7F, 0},
      {"fp16", 0xFE01, "fp32", 0xFFC02000, 0},
      {"fp32", 0x7FE00000, "bf16", 0x7FE0, 0},
      {"fp32", 0x7F800001, "bf16", 0x7FC0, V},
      {"fp32", 0xFF800001, "fp16", 0xFE00, V},
      // Into formats with one NaN per sign (fn), or one NaN (fnuz, e8m0).
      {"fp16", 0x7E00, "e4m3fn", 0x7F, 0},
      {"fp16", 0xFE00, "e4m3fn", 0xFF, 0},
      {"fp16", 0x7C01, "e4m3fn", 0x7F, V},
      {"fp16", 0x7E00, "e4m3fnuz", 0x80, 0},
      {"fp16", 0xFE00, "e5m2fnuz", 0x80, 0},
      {"fp16", 0x7E00, "e8m0", 0xFF, 0},
      {"fp16", 0xFE00, "e8m0", 0xFF, 0},
      // Into formats without NaN: +0 and invalid.
      {"fp16", 0x7E00, "e2m1", 0x0, V},
      {"fp16", 0xFE00, "e3m2", 0x00, V},
      // Out of fn / fnuz / e8m0: canonical quiet NaN of the sign.
      {"e4m3fn", 0x7F, "fp16", 0x7E00, 0},
      {"e4m3fn", 0xFF, "fp16", 0xFE00, 0},
      {"e4m3fn", 0xFF, "e5m2", 0xFE, 0},
      {"e8m0", 0xFF, "fp32", 0x7FC00000, 0},
      {"e8m0", 0xFF, "e4m3fn", 0x7F, 0},
      // The fnuz NaN is the sign bit alone: it reads as a negative NaN.
      {"e4m3fnuz", 0x80, "fp16", 0xFE00, 0},
      {"e5m2fnuz", 0x80, "e5m2", 0xFE, 0},
      {"e4m3fnuz", 0x80, "e4m3fn", 0xFF, 0},
      {"e4m3fnuz", 0x80, "e8m0", 0xFF, 0},
      // Inf
      {"fp16", 0x7C00, "e5m2", 0x7C, 0},
      {"fp16", 0xFC00, "bf16", 0xFF80, 0},
      {"fp16", 0x7C00, "e4m3fn", 0x7F, V},
      {"fp16", 0xFC00, "e4m3fn", 0xFF, V},
      {"fp16", 0xFC00, "e4m3fn-sat", 0xFF, V},
      {"fp16", 0x7C00, "e4m3fnuz", 0x80, V},
      {"fp16", 0xFC00, "e5m2fnuz", 0x80, V},
      {"fp16", 0x7C00, "e2m1", 0x7, V},
      {"fp16", 0xFC00, "e2m1", 0xF, V},
      {"fp16", 0xFC00, "e3m2", 0x3F, V},
      {"fp16", 0x7C00, "e8m0", 0xFF, V},
      {"fp16", 0xFC00, "e8m0", 0xFF, V},
      // Finite edge cases through convert
      {"fp16", 0x8000, "e4m3fnuz", 0x00, 0},
      {"fp16", 0x8000, "e5m2", 0x80, 0},
      {"fp16", 0x8000, "e8m0", 0xFF, V},
      {"fp16", 0x3C00, "e8m0", 0x7F, 0},
      {"e4m3fn", 0x7E, "fp16", 0x5F00, 0},
      {"e4m3fn", 0x01, "bf16", 0x3B00, 0},
      {"e8m0", 0x00, "bf16", 0x0040, 0},
      {"e8m0", 0x00, "fp16", 0x0000, U | X},
  };
  check_converts(cases);
}

TEST_CASE("golden.convert.finite_equals_round_value_of_value") {
  // convert() of a finite encoding is round_value() of its exact value.
  const Format from = fp8sim::parse_format("fp16");
  const Format to = fp8sim::parse_format("e4m3fn");
  const RoundSpec r = fp8sim::parse_rounding("rne");
  std::uint64_t bad = 0;
  for (std::uint64_t c = 0; c < 0x10000; c += 7) {
    const auto cls = fp8sim::classify(from, c);
    if (cls == fp8sim::Class::nan || cls == fp8sim::Class::infinite) continue;
    const auto a = fp8sim::golden::convert(from, c, to, r);
    const auto b = fp8sim::golden::round_value(to, fp8sim::golden::value_of(from, c),
                                               fp8sim::sign_of(from, c), r);
    if (a.code != b.code || a.flags != b.flags) ++bad;
  }
  CHECK(bad == 0);
}
