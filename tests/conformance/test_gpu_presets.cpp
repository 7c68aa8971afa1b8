// tests/conformance/test_gpu_presets.cpp — every measured GPU set (tests/data/conformance/
// gpu, 48 files of 2500 dot products D = A*B + C from real tensor cores) through its preset
// GPU-IN-OUT, bit for bit: by the reference MAC model (what mac, gemm and the fallback of
// every kernel compute), by the golden model (exact numbers, written separately) and by
// gemm's fast kernels (16 cases at a time: case i is output (i, i) of a 16 x 16 GEMM).
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/rounding.hpp"
#include "sim/gemm.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"

#include "conformance_dir.hpp"
#include "sim/gpu_vectors.hpp"

namespace fs = std::filesystem;
using namespace fp8sim;

namespace {

struct Tally {
  std::size_t reference_ok = 0, golden_ok = 0, gemm_ok = 0, cases = 0;
  std::string kernel;
};

// Cases [i0, i0 + n) as the diagonal of an n x n GEMM (A's rows the a vectors, B's columns
// the b vectors, C0's diagonal the C values), with flags and without (the kernels take
// other forms then): how many of the n diagonal outputs match the GPU in both.
std::size_t gemm_block(const GpuVectorFile& f, const MacConfig& m, std::size_t i0, std::size_t n,
                       std::string& kernel) {
  const std::size_t K = static_cast<std::size_t>(f.k);
  std::vector<std::uint64_t> A(n * K), B(K * n), C;
  std::vector<GpuCaseCodes> in;
  for (std::size_t r = 0; r < n; ++r) in.push_back(gpu_case_codes(f, i0 + r, m));
  const bool has_c = in[0].c.has_value();
  if (has_c) C.assign(n * n, *in[0].c);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t k = 0; k < K; ++k) {
      A[r * K + k] = in[r].a[k];
      B[k * n + r] = in[r].b[k];
    }
    if (has_c) C[r * n + r] = *in[r].c;
  }
  std::size_t ok = 0;
  GemmOptions with, without;
  without.flags = false;
  const GemmResult g1 = gemm(m, n, n, K, A, B, C, with);
  const GemmResult g2 = gemm(m, n, n, K, A, B, C, without);
  kernel = g1.kernel;
  for (std::size_t r = 0; r < n; ++r)
    ok += g1.codes[r * n + r] == in[r].d && g2.codes[r * n + r] == in[r].d;
  return ok;
}

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
  for (std::size_t i = 0; i < f.cases.size(); i += 16)
    t.gemm_ok += gemm_block(f, m, i, std::min<std::size_t>(16, f.cases.size() - i), t.kernel);
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
    CHECK(t.gemm_ok == t.cases);
    MESSAGE(fmt::format("{}: gemm kernel {}", p.stem().string(), t.kernel));
    ++sets;
    perfect += t.reference_ok == t.cases && t.golden_ok == t.cases && t.gemm_ok == t.cases;
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
