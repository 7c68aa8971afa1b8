// tests/unit/test_golden_gpu.cpp — the golden model (sim/golden/golden_mac.hpp) on the
// multiterm options that model NVIDIA tensor cores (docs/mac-semantics.md, "multiterm";
// docs/gpu-models/findings.md): align=field and interleave=W.
//
// Hand-worked cases (the arithmetic is in the comments; Fasi et al. 2021's V100 probes are in
// test_fasi_probes.cpp), then the first 200 cases of six measured sets of
// tests/data/conformance/gpu/, bit for bit (read with sim/gpu_vectors.hpp, converted with the
// golden conversions). Only the golden model runs here: the fast path is checked against the
// golden model elsewhere (test_mac.cpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../mac_check.hpp"
#include "conformance/conformance_dir.hpp"
#include "formats/formats.hpp"
#include "sim/golden/golden.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/gpu_vectors.hpp"
#include "sim/mac_config.hpp"

namespace {

using fp8sim::Flags;
using fp8sim::testing::Codes;
using fp8sim::testing::hex_list;

constexpr Flags X = fp8sim::kInexact;

// fp16 codes used below.
constexpr std::uint64_t kH1 = 0x3C00;        // 1
constexpr std::uint64_t kH1p5 = 0x3E00;      // 1.5 = 1.1b
constexpr std::uint64_t kH3_32 = 0x2E00;     // 0.09375 = 1.1b * 2^-4
constexpr std::uint64_t kHhalfUlp = 0x1000;  // 2^-11, half an fp16 ulp of 1

std::string show(std::uint64_t code, Flags flags) {
  return fmt::format("0x{:x} [{}]", code, fp8sim::flags_to_string(flags));
}

struct Case {
  const char* spec;
  Codes a, b;
  std::optional<std::uint64_t> c;
  std::uint64_t code;
  Flags flags;
  std::uint64_t seed = 0;
};

void check(const Case& t) {
  const fp8sim::MacConfig m = fp8sim::parse_mac(t.spec);
  const auto g = fp8sim::golden::mac_dot(m, t.a, t.b, t.c, t.seed, 0);
  INFO(fmt::format("{}\n  a {}\n  b {}\n  c {}", t.spec, hex_list(t.a), hex_list(t.b),
                   t.c ? fmt::format("{:#x}", *t.c) : std::string("none")));
  CHECK(show(g.code, g.flags) == show(t.code, t.flags));
}

/// K products, all zero (a = +0, b = 1) except `ones` (a = b = 1) and `halves` (a = 2^-11,
/// b = 1), in fp16.
Codes fp16_a(std::size_t K, std::initializer_list<std::size_t> ones,
             std::initializer_list<std::size_t> halves) {
  Codes a(K, 0);
  for (std::size_t k : ones) a[k] = kH1;
  for (std::size_t k : halves) a[k] = kHhalfUlp;
  return a;
}

}  // namespace

TEST_CASE("golden_gpu.field_vs_lead.significand_above_two") {
  // p0 = 1.5 * 1.5 = 2.25 = 1.001b * 2^1: field exponent 0 + 0 = 0, leading bit 1.
  // p1 = 0.09375 * 1 = 1.1b * 2^-4 (field = lead = -4). ALIGN = 4.
  //   lead:  R = 1, grid 2^-3: p1 = 0.75 * 2^-3 -> 0; sum 2.25 = 0x40100000, inexact.
  //   field: R = 0, grid 2^-4: p1 = 1.5 * 2^-4 -> 2^-4; sum 2.3125 = 1.00101b * 2^1
  //          = 0x40140000, inexact (half a grid step dropped).
  // With prod=fp32 the rounded product (2.25, exact) counts by its leading bit: as lead.
  const Codes a{kH1p5, kH3_32}, b{kH1p5, kH1};
  check({"ab=fp16,acc=fp32,round=rtz,struct=multiterm:2:4:2", a, b, std::nullopt, 0x40100000, X});
  check({"ab=fp16,acc=fp32,round=rtz,struct=multiterm:2:4:2,align=lead", a, b, std::nullopt,
         0x40100000, X});
  check({"ab=fp16,acc=fp32,round=rtz,struct=multiterm:2:4:2,align=field", a, b, std::nullopt,
         0x40140000, X});
  check({"ab=fp16,prod=fp32,acc=fp32,round=rtz,struct=multiterm:2:4:2,align=field", a, b,
         std::nullopt, 0x40100000, X});
}

TEST_CASE("golden_gpu.field.zero_product_has_no_exponent") {
  // p0 = 0 * 2^15 is zero: no exponent (ea + eb of its fields would be -14 + 15 = 1 and
  // would coarsen the grid to 2^-3). p1 = (1 + 2^-4) * 1: R = 0, grid 2^-4, kept exactly:
  // 1.0625 = 0x3F880000, exact.
  check({"ab=fp16,acc=fp32,round=rtz,struct=multiterm:2:4:2,align=field",
         {0x0000, 0x3C40},
         {0x7800, kH1},
         std::nullopt,
         0x3F880000,
         0});
}

TEST_CASE("golden_gpu.field.subnormal_input_counts_as_emin") {
  // fp16 emin = -14. p0 = 2^-15 (subnormal 0x0200 = 0.1b * 2^-14) * 1: field exponent
  // emin + 0 = -14, its significand 0.1b < 1; leading bit -15. p1 = 2^-9 * 2^-9 = 2^-18
  // (field = lead = -18). ALIGN = 3.
  //   field: R = -14, grid 2^-17: p1 -> 0; sum 2^-15 = 0x38000000, inexact.
  //   lead:  R = -15, grid 2^-18: p1 kept; 2^-15 + 2^-18 = 1.001b * 2^-15 = 0x38100000,
  //          exact.
  const Codes a{0x0200, 0x1800}, b{kH1, 0x1800};
  check({"ab=fp16,acc=fp32,round=rtz,struct=multiterm:2:3:2,align=field", a, b, std::nullopt,
         0x38000000, X});
  check({"ab=fp16,acc=fp32,round=rtz,struct=multiterm:2:3:2,align=lead", a, b, std::nullopt,
         0x38100000, 0});
  // With ftz_in the subnormal input reads as zero: only p1, 2^-18 = 0x36800000, exact.
  check({"ab=fp16,ftz_in=1,acc=fp32,round=rtz,struct=multiterm:2:3:2,align=field", a, b,
         std::nullopt, 0x36800000, 0});
}

TEST_CASE("golden_gpu.interleave.chunk32_terms16_w2_fp16_accumulator") {
  // H100 FP8 mma.sync -> fp16 (findings.md): chunk 32, 16 terms, runs of 2 dealt to the
  // chunk's 2 groups: group 0 = k mod 4 in {0,1}, group 1 = k mod 4 in {2,3}. x = 2^-11
  // is half an fp16 ulp of 1, so 1 + x is a tie (RNE: 1). p0 = 1, p1 = x, p3 = x.
  //   interleave=2: group 0 = p0 + p1 = 1 + x -> 1 (inexact); group 1 = 1 + p3 = 1 + x
  //     -> 1 (inexact); outer: C + 1.
  //   interleave=0: group 0 = p0 + p1 + p3 = 1 + 2^-10 exactly (0x3C01); group 1 holds
  //     only zeros; outer: C + (1 + 2^-10).
  // C = -1 (0xBC00): interleave 2 gives -1 + 1 = +0 (0x0000, inexact from the groups);
  // interleave 0 gives 2^-10 (0x1400), exact.
  const std::string base =
      "ab=fp16,acc=fp16,round=rne,struct=multiterm:16:25:2,align=field,chunk=32,outer=fp16,"
      "outer_round=rne,c=fp16";
  const Codes a = fp16_a(32, {0}, {1, 3});
  const Codes b(32, kH1);
  check({(base + ",interleave=2").c_str(), a, b, std::nullopt, 0x3C00, X});
  check({base.c_str(), a, b, std::nullopt, 0x3C01, 0});
  check({(base + ",interleave=2").c_str(), a, b, 0xBC00, 0x0000, X});
  check({base.c_str(), a, b, 0xBC00, 0x1400, 0});
  // The same with e5m2 inputs (the measured h100-e5m2-fp16 spec): 1 = 0x3C, 2^-11 = 0x10.
  Codes a8(32, 0), b8(32, 0x3C);
  a8[0] = 0x3C;
  a8[1] = 0x10;
  a8[3] = 0x10;
  const std::string h100 =
      "ab=e5m2,acc=fp16,round=rne,struct=multiterm:16:25:2,align=field,interleave=2,chunk=32,"
      "outer=fp16,outer_round=rne,c=fp16";
  check({h100.c_str(), a8, b8, 0xBC00, 0x0000, X});
  // Which run goes where: with interleave=1 (group 0 = even k) group 0 = p0 = 1, group 1 =
  // 1 + p1 + p3 = 1 + 2^-10: 0x3C01, exact, as consecutive groups.
  check({(base + ",interleave=1").c_str(), a, b, std::nullopt, 0x3C01, 0});
}

TEST_CASE("golden_gpu.interleave.dealt_per_chunk_or_over_the_dot_product") {
  // K = 64, 16 terms, runs of 2, p0 = 1, p1 = p2 = p4 = x = 2^-11.
  //   No chunk: G = 4 groups over all 64: group g takes runs g, g+4, ...: group 0 = {0,1,
  //     8,9,..}: 1 + x -> 1; group 1 = {2,3,10,11,..}: 1 + x -> 1; group 2 = {4,5,..}:
  //     1 + x -> 1; group 3: 1. Result 1 = 0x3C00, inexact.
  //   chunk=32: G = 2 per chunk: group 0 = {0,1,4,5,..}: 1 + 2x = 1 + 2^-10 exactly;
  //     group 1 = {2,3,..}: 1 + 3x, a tie between 0x3C01 (odd) and 0x3C02 -> 0x3C02; the
  //     second chunk is +0. Result 1 + 2^-9 = 0x3C02, inexact.
  const std::string base = "ab=fp16,acc=fp16,round=rne,struct=multiterm:16:25:2,align=field";
  const Codes a = fp16_a(64, {0}, {1, 2, 4});
  const Codes b(64, kH1);
  check({(base + ",interleave=2").c_str(), a, b, std::nullopt, 0x3C00, X});
  check({(base + ",interleave=2,chunk=32,outer=fp16,outer_round=rne").c_str(), a, b, std::nullopt,
         0x3C02, X});
}

TEST_CASE("golden_gpu.interleave.short_last_run") {
  // K = 19, 16 terms, runs of 2, no chunk: G = 2; runs {0,1}, {2,3}, .., {16,17}, {18}
  // (short). Group 0 = runs 0,2,4,6,8 = {0,1,4,5,8,9,12,13,16,17} (10 products), group 1 =
  // {2,3,6,7,10,11,14,15,18} (9). p0 = 1, p2 = p14 = p16 = x = 2^-11.
  //   Dealt: group 0 = 1 + p16 = 1 + x -> 1 (inexact); group 1 = 1 + p2 + p14 = 1 + 2^-10
  //     exactly: 0x3C01, inexact.
  //   (Consecutive groups {0..15}, {16..18} would give 1 + 2x, then + x: a tie -> 0x3C02;
  //   so would the dealt order cut again into 16 + 3.)
  const std::string base = "ab=fp16,acc=fp16,round=rne,struct=multiterm:16:25:2,align=field";
  const Codes a = fp16_a(19, {0}, {2, 14, 16});
  const Codes b(19, kH1);
  check({(base + ",interleave=2").c_str(), a, b, std::nullopt, 0x3C01, X});
  check({base.c_str(), a, b, std::nullopt, 0x3C02, X});
}

TEST_CASE("golden_gpu.interleave.fewer_runs_than_groups") {
  // K = 4, 2 terms, runs of 4: G = 2 but one run, so group 0 holds all 4 products (more
  // than `terms`) and group 1, dealt nothing, is dropped. p0 = 1, p1 = p2 = p3 = x:
  // group 0 = 1 + 3x, a tie -> 1 + 2^-9 = 0x3C02, inexact. Consecutive (interleave=0):
  // {p0,p1} = 1 + x -> 1, then 1 + 2x = 0x3C01, inexact.
  const std::string base = "ab=fp16,acc=fp16,round=rne,struct=multiterm:2:25:2";
  const Codes a = fp16_a(4, {0}, {1, 2, 3});
  const Codes b(4, kH1);
  check({(base + ",interleave=4").c_str(), a, b, std::nullopt, 0x3C02, X});
  check({base.c_str(), a, b, std::nullopt, 0x3C01, X});
  // A dropped group takes no step number: chunks of 4 with 2 terms and runs of 4 (one
  // group per chunk, steps 0, 1, ..) equal chunks of 4 with 4 terms, under sr.
  std::mt19937_64 rng(7);
  const fp8sim::Format e5m2 = fp8sim::parse_format("e5m2");
  const fp8sim::MacConfig dealt = fp8sim::parse_mac(
      "ab=e5m2,acc=fp16,round=sr:4,struct=multiterm:2:25:2,interleave=4,chunk=4,outer=fp32");
  const fp8sim::MacConfig one =
      fp8sim::parse_mac("ab=e5m2,acc=fp16,round=sr:4,struct=multiterm:4:25:2,chunk=4,outer=fp32");
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const Codes x = fp8sim::testing::random_codes(e5m2, 12, rng, 3.0);
    const Codes y = fp8sim::testing::random_codes(e5m2, 12, rng, 3.0);
    const auto g1 = fp8sim::golden::mac_dot(dealt, x, y, std::nullopt, seed, 3);
    const auto g2 = fp8sim::golden::mac_dot(one, x, y, std::nullopt, seed, 3);
    INFO(fmt::format("seed {} a {} b {}", seed, hex_list(x), hex_list(y)));
    CHECK(show(g1.code, g1.flags) == show(g2.code, g2.flags));
  }
}

TEST_CASE("golden_gpu.measured_sets_first_200_cases") {
  namespace fs = std::filesystem;
  struct Set {
    const char* file;
    const char* spec;
  };
  const Set sets[] = {
      {"v100-fp16-fp32", "ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field"},
      {"a100-bf16-fp32", "ab=bf16,acc=fp32,round=rtz,struct=multiterm:8:24:2,align=field"},
      {"h100-fp16-fp16", "ab=fp16,acc=fp16,round=rne,struct=multiterm:16:25:2,align=field,c=fp16"},
      {"ada-e4m3-fp32",
       "ab=e4m3fn,acc=e8m13,round=rtz,struct=multiterm:16:13:2,align=field,c=fp32,out=fp32"},
      {"h100-e5m2-fp16",
       "ab=e5m2,acc=fp16,round=rne,struct=multiterm:16:25:2,align=field,interleave=2,chunk=32,"
       "outer=fp16,outer_round=rne,c=fp16"},
      {"b200-e4m3-fp32",
       "ab=e4m3fn,acc=fp32,round=rtz,struct=multiterm:32:25:2,align=field,chunk=32,outer=fp32,"
       "outer_round=rne"},
  };
  const fs::path dir = fp8sim::testing::conformance_dir() / "gpu";
  REQUIRE_MESSAGE(fs::is_directory(dir),
                  fmt::format("GPU vector folder is missing: {}{}", dir.string(),
                              fp8sim::testing::conformance_hint()));
  const fp8sim::Format fp32 = fp8sim::parse_format("fp32");
  const fp8sim::RoundSpec rne{};
  for (const Set& s : sets) {
    INFO(fmt::format("{}: {}", s.file, s.spec));
    const fp8sim::GpuVectorFile f = fp8sim::read_gpu_vectors(dir / (std::string(s.file) + ".txt"));
    const fp8sim::MacConfig m = fp8sim::parse_mac(s.spec);
    const fp8sim::Format in = fp8sim::parse_format(fp8sim::gpu_format_name(f.in));
    REQUIRE(m.a.name == in.name);
    const fp8sim::Format& cf = m.c ? *m.c : m.acc;
    const fp8sim::Format& rf = m.out ? *m.out : (m.chunk > 0 ? m.outer : m.acc);
    REQUIRE(rf.name == f.out);
    REQUIRE(f.cases.size() >= 200);
    int matched = 0;
    for (std::size_t i = 0; i < 200; ++i) {
      const fp8sim::GpuCase& g = f.cases[i];
      Codes a, b;
      for (std::size_t k = 0; k < g.a.size(); ++k) {
        // the inputs are exact in the input format (tests/conformance checks it)
        const auto x = fp8sim::golden::convert(fp32, g.a[k], in, rne);
        const auto y = fp8sim::golden::convert(fp32, g.b[k], in, rne);
        REQUIRE(x.flags == 0);
        REQUIRE(y.flags == 0);
        a.push_back(x.code);
        b.push_back(y.code);
      }
      std::optional<std::uint64_t> c;
      if (f.c_mode == "fp32" || f.c_mode == "fp16") {
        // c=fp16: the GPU got c rounded to nearest even into fp16
        const auto cc = fp8sim::golden::convert(fp32, g.c, cf, rne);
        if (f.c_mode == "fp32") REQUIRE(cc.flags == 0);
        c = cc.code;
      }
      const auto r = fp8sim::golden::mac_dot(m, a, b, c, 0, i);
      const auto d = fp8sim::golden::convert(rf, r.code, fp32, rne);  // exact widening
      if (d.code == g.d) {
        ++matched;
      } else if (matched + 5 > static_cast<int>(i)) {
        FAIL_CHECK(
            fmt::format("{} case {}: measured d {:08x}, golden {:08x}\n  a {}\n  b {}\n"
                        "  c {:08x}",
                        s.file, i, g.d, d.code, hex_list(a), hex_list(b), g.c));
      }
    }
    CHECK_MESSAGE(matched == 200, fmt::format("{}: {} of 200 match", s.file, matched));
  }
}
