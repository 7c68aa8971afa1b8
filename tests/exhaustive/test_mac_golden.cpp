// tests/exhaustive/test_mac_golden.cpp — long random sweeps of the MAC reference model
// (sim/mac.hpp) against the golden model (sim/golden/golden_mac.hpp): codes and flags.
//
//  golden_mac.presets               ~10^4 dot products per preset (level2)
//  golden_mac.slow_random_sweep     10^5 dot products per configuration of a subset covering
//                                   every structure (slow suite, by its name)
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "../mac_check.hpp"
#include "formats/formats.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"

using namespace fp8sim;

namespace {

using namespace fp8sim::testing;

/// `count` random dot products of lengths 0..max_len (C half the time); returns the number
/// of mismatches, reporting the first few in full.
long sweep(const std::string& spec, long count, std::size_t max_len, std::uint64_t seed) {
  const MacConfig m = parse_mac(spec);
  const Format& cf = m.c ? *m.c : m.acc;
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  long failures = 0, known = 0;
  for (long i = 0; i < count; ++i) {
    const std::size_t K = len(g);
    const double sigma = (i & 3) == 0 ? 0.7 : 3.0;  // a quarter narrow: ties, cancellation
    const Codes a = random_codes(m.a, K, g, sigma);
    const Codes b = random_codes(m.b, K, g, sigma);
    std::optional<std::uint64_t> c;
    if (g() & 1) c = random_codes(cf, 1, g, 2 * sigma)[0];
    const std::uint64_t s = g() % 1000, o = g() % 1000000;
    const MacResult r = mac_dot(m, a, b, c, s, o);
    const golden::MacOutcome gd = golden::mac_dot(m, a, b, c, s, o);
    if (r.code == gd.code && r.flags == gd.flags) continue;
    if (known_disagreement(m, K, c, r, gd)) {
      ++known;
      continue;
    }
    if (++failures > 3) continue;
    FAIL_CHECK(fmt::format(
        "spec '{}' seed {} output {} K {}\n  a {}\n  b {}\n  c {}\n  reference {:#x} [{}], "
        "golden {:#x} [{}]",
        to_string(m), s, o, K, hex_list(a), hex_list(b),
        c ? fmt::format("{:#x}", *c) : std::string("none"), r.code, flags_to_string(r.flags),
        gd.code, flags_to_string(gd.flags)));
  }
  if (known > 0) MESSAGE(spec << ": " << known << " known disagreements");
  return failures;
}

}  // namespace

TEST_CASE("golden_mac.presets") {
  for (const auto& p : mac_presets()) {
    CAPTURE(p.name);
    CHECK(sweep(p.name, 10000, 80, 1000 + p.name.size()) == 0);
  }
}

TEST_CASE("golden_mac.slow_random_sweep") {
  const char* specs[] = {
      "ab=e5m2,acc=fp16,round=rne",
      "ab=e4m3fn,acc=bf16,round=sr:8,c=fp32",
      "ab=e5m2,acc=e5m7-sat,round=rdn,ftz_in=1",
      "ab=e4m3fn,acc=e5m2,round=rto,tininess=before",
      "ab=e5m2,acc=fp16,round=sr:13,struct=chunked:16:fp32:rne",
      "ab=e4m3fn,acc=fp32,round=rtz,struct=multiterm:4:13:2,chunk=32,outer=fp32,outer_round=sr:8",
      "ab=fp16,acc=fp32,round=rup,struct=multiterm:8:24:1",
      "ab=e5m2,acc=bf16,round=rna,struct=pairwise,prod=bf16,prod_round=sr:1",
      "ab=e4m3fn,acc=e4m3fn,round=sr:1,struct=exact,out=e5m2,out_round=rne",
      "ab=bf16,acc=fp32,round=rne,ftz=1,struct=sequential,out=e4m3fn,out_round=sr:8",
  };
  std::uint64_t seed = 1;
  for (const std::string spec : specs) {
    CAPTURE(spec);
    CHECK(sweep(spec, 100000, 48, seed++) == 0);
  }
}
