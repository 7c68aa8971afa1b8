// tests/unit/test_formats.cpp — the Format type: presets, name grammar, validation,
// classification and exact decoding.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "formats/formats.hpp"

using namespace fp8sim;

namespace {
struct PresetFacts {
  const char* name;
  int width;
  double max_finite, min_normal, min_subnormal;
};
// Exact values from shared/BRIEF.md ("Formats") and the OCP / ml_dtypes definitions.
const PresetFacts kFacts[] = {
    {"e5m2", 8, 57344, 0x1p-14, 0x1p-16},
    {"e4m3fn", 8, 448, 0x1p-6, 0x1p-9},
    {"e4m3fnuz", 8, 240, 0x1p-7, 0x1p-10},
    {"e5m2fnuz", 8, 57344, 0x1p-15, 0x1p-17},
    {"e4m3b11fnuz", 8, 30, 0x1p-10, 0x1p-13},
    {"e4m3", 8, 240, 0x1p-6, 0x1p-9},
    {"e3m4", 8, 15.5, 0x1p-2, 0x1p-6},
    {"fp16", 16, 65504, 0x1p-14, 0x1p-24},
    {"bf16", 16, 0x1.fep127, 0x1p-126, 0x1p-133},
    {"tf32", 19, 0x1.ffcp127, 0x1p-126, 0x1p-136},
    {"fp32", 32, 0x1.fffffep127, 0x1p-126, 0x1p-149},
    {"fp64", 64, 0x1.fffffffffffffp1023, 0x1p-1022, 0x1p-1074},
    {"e3m2", 6, 28, 0x1p-2, 0x1p-4},
    {"e2m3", 6, 7.5, 1, 0x1p-3},
    {"e2m1", 4, 6, 1, 0x1p-1},
    {"e8m0", 8, 0x1p127, 0x1p-127, 0x1p-127},
};

std::string error_of(const char* name) {
  try {
    (void)parse_format(name);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("formats.presets.exact_ranges") {
  CHECK(preset_names().size() == std::size(kFacts));
  for (const auto& f : kFacts) {
    CAPTURE(f.name);
    const Format fmt = parse_format(f.name);
    const FormatProperties p = properties(fmt);
    CHECK(fmt.width() == f.width);
    CHECK(p.max_finite == f.max_finite);
    CHECK(p.min_normal == f.min_normal);
    CHECK(p.min_subnormal == f.min_subnormal);
  }
}

TEST_CASE("formats.presets.specials") {
  const Format e5m2 = parse_format("e5m2");
  CHECK(classify(e5m2, 0x7c) == Class::infinite);
  CHECK(classify(e5m2, 0xfc) == Class::infinite);
  CHECK(classify(e5m2, 0x7d) == Class::nan);
  CHECK(is_signaling_nan(e5m2, 0x7d));
  CHECK_FALSE(is_signaling_nan(e5m2, 0x7e));
  CHECK(properties(e5m2).nan_encodings == 6);
  CHECK(properties(e5m2).inf_encodings == 2);

  const Format e4m3fn = parse_format("e4m3fn");
  CHECK(classify(e4m3fn, 0x7f) == Class::nan);
  CHECK(classify(e4m3fn, 0xff) == Class::nan);
  CHECK(classify(e4m3fn, 0x7e) == Class::normal);
  CHECK(to_double(e4m3fn, 0x7e) == 448);
  CHECK(classify(e4m3fn, 0x78) == Class::normal);  // 256: no Inf in E4M3FN
  CHECK(properties(e4m3fn).nan_encodings == 2);

  const Format fnuz = parse_format("e4m3fnuz");
  CHECK(classify(fnuz, 0x80) == Class::nan);
  CHECK(classify(fnuz, 0x00) == Class::zero);
  CHECK(!fnuz.has_negative_zero());
  CHECK(to_double(fnuz, 0xff) == -240);

  const Format e8m0 = parse_format("e8m0");
  CHECK(!e8m0.is_signed);
  CHECK(classify(e8m0, 0xff) == Class::nan);
  CHECK(to_double(e8m0, 0x00) == 0x1p-127);
  CHECK(to_double(e8m0, 0x7f) == 1);
  CHECK(to_double(e8m0, 0xfe) == 0x1p127);

  const Format e2m1 = parse_format("e2m1");
  for (std::uint64_t c = 0; c < 16; ++c) CHECK(classify(e2m1, c) != Class::nan);
  CHECK(to_double(e2m1, 0x7) == 6);
  CHECK(to_double(e2m1, 0x1) == 0.5);
}

TEST_CASE("formats.decode.exact_triples") {
  const Format fp16 = parse_format("fp16");
  const Decoded d = decode(fp16, 0x3c01);  // 1 + 2^-10
  CHECK(d.cls == Class::normal);
  CHECK(d.sig == 0x401);
  CHECK(d.exp == -10);
  const Decoded s = decode(fp16, 0x8001);  // -2^-24
  CHECK(s.cls == Class::subnormal);
  CHECK(s.sign);
  CHECK(s.sig == 1);
  CHECK(s.exp == -24);
}

TEST_CASE("formats.parse.grammar") {
  CHECK(parse_format("E5M2").name == "e5m2");
  CHECK(parse_format("half").name == "fp16");
  CHECK(parse_format("f6e2m3fn").name == "e2m3");
  const Format sat = parse_format("e4m3fn-sat");
  CHECK(sat.overflow == Overflow::saturate);
  CHECK(sat.man_bits == 3);
  CHECK(parse_format("e5m2-nonsat").overflow == Overflow::nonsat);
  const Format custom = parse_format("e5m7");
  CHECK(custom.bias == 15);
  CHECK(custom.specials == Specials::ieee);
  CHECK(custom.width() == 13);
  const Format b11 = parse_format("e4m3b11fnuz");
  CHECK(b11.bias == 11);
  CHECK(b11.specials == Specials::fnuz);
  const Format fnuz_default = parse_format("e3m4fnuz");
  CHECK(fnuz_default.bias == 4);  // fnuz: bias 2^(X-1)
  const Format nosub = parse_format("e5m2-nosub-sat");
  CHECK_FALSE(nosub.subnormals);
  CHECK(nosub.overflow == Overflow::saturate);
  CHECK(nosub.name == "e5m2-nosub-sat");
  CHECK(parse_format("e11m52").width() == 64);
  CHECK(parse_format("e5m0fn").max_finite_code() == 0x1e);
}

TEST_CASE("formats.parse.errors_name_the_field_and_the_range") {
  CHECK(error_of("e12m3").find("exponent bits = 12") != std::string::npos);
  CHECK(error_of("e12m3").find("1..11") != std::string::npos);
  CHECK(error_of("e5m53").find("mantissa bits = 53") != std::string::npos);
  CHECK(error_of("e5m53").find("0..52") != std::string::npos);
  CHECK(error_of("e11m53").find("mantissa") != std::string::npos);
  CHECK(error_of("bogus").find("e4m3fn") != std::string::npos);  // lists the presets
  CHECK(error_of("e5m2-foo").find("-foo") != std::string::npos);
  CHECK(error_of("e5m2xx").find("xx") != std::string::npos);
  CHECK(error_of("e5m0").find("NaN") != std::string::npos);  // IEEE needs a fraction bit
  CHECK(error_of("e1m3").find("2 exponent bits") != std::string::npos);
  CHECK(error_of("").find("empty") != std::string::npos);
  CHECK_THROWS_AS(make_format(4, 3, 5000, Specials::fn), FormatError);
}
