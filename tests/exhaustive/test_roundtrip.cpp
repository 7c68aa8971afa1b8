// tests/exhaustive/test_roundtrip.cpp — every encoding of every preset of at most 16 bits
// decodes and re-encodes to itself, in every deterministic rounding mode:
//   * fp8sim::convert(f, code, f, ...) and golden::convert(f, code, f, ...);
//   * fp8sim::from_double(fp8sim::to_double(f, code), f, ...) (all these formats' values are
//     doubles exactly).
// Finite values and infinities come back unchanged with no flags.
//
// NaN payload rule:
//   * convert to the same format: an IEEE NaN keeps its whole payload and gets its quiet bit
//     (fraction MSB) set: a quiet NaN comes back unchanged with no flags, a signalling NaN
//     comes back quieted (code | quiet bit) with `invalid`. The other formats have one NaN
//     per sign (fn: S.1111.111) or one NaN (fnuz 0x80, E8M0 0xFF), all quiet: unchanged.
//   * through a double: to_double gives the default quiet NaN of the sign (no payload), so
//     every NaN comes back as the canonical quiet NaN of its sign (fp8sim::nan_code), no flags.
// Formats without subnormals (-nosub): field 0 with a non-zero fraction reads as zero
// (denormals-are-zero), so such codes come back as the zero of their sign.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"
#include "sim/golden/golden.hpp"

namespace {

using fp8sim::Flags;
using fp8sim::Format;
using fp8sim::RoundingMode;
using fp8sim::RoundSpec;

const RoundingMode kDeterministic[] = {RoundingMode::rne, RoundingMode::rna, RoundingMode::rtz,
                                       RoundingMode::rup, RoundingMode::rdn, RoundingMode::rto};

std::vector<Format> small_presets() {
  std::vector<Format> out;
  for (const std::string& name : fp8sim::preset_names()) {
    const Format f = *fp8sim::find_preset(name);
    if (f.width() <= 16) out.push_back(f);
  }
  return out;
}

struct Expected {
  std::uint64_t code;
  Flags flags;
};

/// What convert(f, code, f) must give (see the NaN payload rule above).
Expected self_convert(const Format& f, std::uint64_t code) {
  const auto cls = fp8sim::classify(f, code);
  if (cls == fp8sim::Class::nan && f.specials == fp8sim::Specials::ieee) {
    const std::uint64_t quiet = std::uint64_t{1} << (f.man_bits - 1);
    return {code | quiet, fp8sim::is_signaling_nan(f, code) ? Flags{fp8sim::kInvalid} : Flags{0}};
  }
  if (cls == fp8sim::Class::zero) return {fp8sim::zero_code(f, fp8sim::sign_of(f, code)), 0};
  return {code, 0};
}

/// What from_double(to_double(f, code), f) must give.
Expected through_double(const Format& f, std::uint64_t code) {
  const auto cls = fp8sim::classify(f, code);
  if (cls == fp8sim::Class::nan) return {fp8sim::nan_code(f, fp8sim::sign_of(f, code)), 0};
  return self_convert(f, code);
}

std::string show(std::uint64_t code, Flags flags) {
  return fmt::format("0x{:x} [{}]", code, fp8sim::flags_to_string(flags));
}

/// Checks every code of f with `got(code, spec)` against `want(f, code)`.
template <class Got, class Want>
void check_all_codes(const Format& f, const char* what, Got got, Want want) {
  for (RoundingMode m : kDeterministic) {
    RoundSpec r;
    r.mode = m;
    std::uint64_t bad = 0;
    std::string first;
    for (std::uint64_t c = 0; c <= f.code_mask(); ++c) {
      const Expected e = want(f, c);
      const auto [code, flags] = got(c, r);
      if (code == e.code && flags == e.flags) continue;
      if (bad++ == 0)
        first =
            fmt::format("0x{:x}: got {}, expected {}", c, show(code, flags), show(e.code, e.flags));
    }
    CHECK_MESSAGE(bad == 0, fmt::format("{} {} {}: {} codes wrong, first {}", f.name, what,
                                        fp8sim::to_string(m), bad, first));
  }
}

}  // namespace

TEST_CASE("roundtrip.presets.convert_to_itself") {
  for (const Format& f : small_presets()) {
    check_all_codes(
        f, "fast convert",
        [&](std::uint64_t c, const RoundSpec& r) {
          const auto q = fp8sim::convert(f, c, f, r);
          return std::pair{q.code, q.flags};
        },
        self_convert);
    check_all_codes(
        f, "golden convert",
        [&](std::uint64_t c, const RoundSpec& r) {
          const auto g = fp8sim::golden::convert(f, c, f, r);
          return std::pair{g.code, g.flags};
        },
        self_convert);
  }
}

TEST_CASE("roundtrip.presets.through_double") {
  for (const Format& f : small_presets()) {
    check_all_codes(
        f, "from_double(to_double)",
        [&](std::uint64_t c, const RoundSpec& r) {
          const auto q = fp8sim::from_double(fp8sim::to_double(f, c), f, r);
          return std::pair{q.code, q.flags};
        },
        through_double);
  }
}

TEST_CASE("roundtrip.nosub_and_sat_variants.convert_to_itself") {
  // -nosub: subnormal codes read as zero; -sat / -nonsat change nothing for representable
  // values.
  for (const Format& base : small_presets()) {
    for (const char* suffix : {"-nosub", "-sat", "-nonsat"}) {
      const Format f = fp8sim::parse_format(base.name + suffix);
      check_all_codes(
          f, "fast convert",
          [&](std::uint64_t c, const RoundSpec& r) {
            const auto q = fp8sim::convert(f, c, f, r);
            return std::pair{q.code, q.flags};
          },
          self_convert);
      check_all_codes(
          f, "golden convert",
          [&](std::uint64_t c, const RoundSpec& r) {
            const auto g = fp8sim::golden::convert(f, c, f, r);
            return std::pair{g.code, g.flags};
          },
          self_convert);
    }
  }
}

TEST_CASE("roundtrip.presets.sr_keeps_representable_values") {
  // Stochastic rounding of a representable value is exact whatever the random bits.
  for (const Format& f : small_presets()) {
    for (std::uint32_t rnd : {0u, 1u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
      RoundSpec r;
      r.mode = RoundingMode::sr;
      r.sr_bits = 32;
      std::uint64_t bad = 0;
      for (std::uint64_t c = 0; c <= f.code_mask(); ++c) {
        const Expected e = self_convert(f, c);
        const auto q = fp8sim::convert(f, c, f, r, rnd);
        if (q.code != e.code || q.flags != e.flags) ++bad;
      }
      CHECK_MESSAGE(bad == 0, fmt::format("{} sr:32 random {:#x}", f.name, rnd));
    }
  }
}
