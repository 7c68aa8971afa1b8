// tests/conformance/test_gpu_presets.cpp — every measured GPU set (tests/data/conformance/
// gpu, 48 files of 2500 dot products D = A*B + C from real tensor cores) through its preset
// GPU-IN-OUT, bit for bit: by the reference MAC model (what mac, gemm and the fallback of
// every kernel compute) and by the golden model (exact numbers, written separately).
#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/rounding.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"

#include "conformance_dir.hpp"
#include "sim/gpu_vectors.hpp"

namespace fs = std::filesystem;
using namespace fp8sim;

namespace {

struct Tally {
  std::size_t reference_ok = 0, golden_ok = 0, cases = 0;
};

// The reference model through check_gpu_vectors (what `vectors check --gpu` runs), the
// golden model case by case.
Tally run_set(const GpuVectorFile& f) {
  const MacConfig m = parse_mac(f.path.stem().string());
  const GpuCheckResult r = check_gpu_vectors(f, m, 3);
  for (const auto& mm : r.mismatches)
    MESSAGE(fmt::format("{} case {}: {}", f.path.stem().string(), mm.index, mm.text));
  Tally t;
  t.cases = f.cases.size();
  t.reference_ok = r.passed;
  for (std::size_t i = 0; i < f.cases.size(); ++i) {
    const GpuCaseCodes in = gpu_case_codes(f, i, m);
    t.golden_ok += golden::mac_dot(m, in.a, in.b, in.c, 0, i).code == in.d;
  }
  return t;
}

}  // namespace

TEST_CASE("gpu presets: every measured set, every case, bit for bit") {
  const fs::path dir = testing::conformance_dir() / "gpu";
  REQUIRE_MESSAGE(fs::is_directory(dir),
                  "GPU vector folder is missing: " << dir.string() << testing::conformance_hint());
  std::size_t sets = 0, perfect = 0;
  for (const auto& p : gpu_vector_files(dir)) {
    const GpuVectorFile f = read_gpu_vectors(p);
    CAPTURE(p.stem().string());
    const Tally t = run_set(f);
    CHECK(t.cases == 2500);
    CHECK(t.reference_ok == t.cases);
    CHECK(t.golden_ok == t.cases);
    ++sets;
    perfect += t.reference_ok == t.cases && t.golden_ok == t.cases;
  }
  MESSAGE(perfect << " of " << sets << " measured sets reproduced bit for bit");
  CHECK(sets == 48);
  CHECK(perfect == 48);
}

TEST_CASE("gpu presets: one per measured set, named after it") {
  std::size_t n = 0;
  for (const auto& p : gpu_mac_presets()) {
    CAPTURE(p.name);
    CHECK_NOTHROW((void)parse_mac(p.name));
    CHECK(p.source.find("Measured") != std::string::npos);
    ++n;
  }
  CHECK(n == 48);
}

TEST_CASE("gpu presets: the Fasi et al. 2021 V100 probe") {
  // a = [1], b = [1], C = -(1 - 2^-24): 23 bits below the alignment point drop C's last
  // bit, so a V100 gives 2^-23 (an exact sum would give 2^-24).
  const MacConfig m = parse_mac("v100-fp16-fp32");
  const Format fp16 = parse_format("fp16");
  const std::uint64_t one = convert(parse_format("fp32"), 0x3F800000u, fp16, RoundSpec{}).code;
  const std::vector<std::uint64_t> a{one}, b{one};
  const MacResult r = mac_dot(m, a, b, std::uint64_t{0xBF7FFFFFu}, 0, 0);
  CHECK(r.code == 0x34000000u);
  CHECK(golden::mac_dot(m, a, b, std::uint64_t{0xBF7FFFFFu}, 0, 0).code == 0x34000000u);
}
