// tests/conformance/test_gpu_vectors.cpp — the GPU tensor-core dot products (gpu/ of the
// conformance vectors, see tests/data/conformance/README.md) are all there and well formed:
// 48 files of 2500 cases, fields line, k values of a and of b, c and d as fp32 patterns,
// inputs exact in the input format, fp16 results exact in fp16. (Checking fp8sim's MAC
// presets against them is for the GPU tensor-core presets.)
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"

#include "conformance_dir.hpp"
#include "sim/gpu_vectors.hpp"

namespace fs = std::filesystem;

namespace {

using fp8sim::GpuVectorError;
using fp8sim::testing::conformance_dir;

fs::path gpu_dir() {
  const fs::path dir = conformance_dir() / "gpu";
  REQUIRE_MESSAGE(
      fs::is_directory(dir),
      "GPU vector folder is missing: " << dir.string() << fp8sim::testing::conformance_hint());
  return dir;
}

// Every GPU-IN-OUT.txt the set holds (README: V100 ... B200; FP8 only from Ada on).
std::set<std::string> expected_files() {
  const std::vector<std::string> common = {"bf16-fp32", "fp16-fp16", "fp16-fp32", "tf32-fp32"};
  const std::vector<std::string> fp8_fp32 = {"e4m3-fp32", "e5m2-fp32"};
  const std::vector<std::string> fp8_fp16 = {"e4m3-fp16", "e5m2-fp16"};
  std::set<std::string> names;
  auto add = [&](const std::string& gpu, const std::vector<std::string>& io) {
    for (const auto& s : io) names.insert(gpu + "-" + s + ".txt");
  };
  add("v100", {"fp16-fp16", "fp16-fp32"});
  for (const char* gpu : {"a100", "a2"}) add(gpu, common);
  for (const char* gpu : {"ada", "l40s", "h100", "h200", "b200"}) add(gpu, common);
  for (const char* gpu : {"ada", "l40s", "h100", "h200", "b200"}) add(gpu, fp8_fp32);
  for (const char* gpu : {"ada", "h100", "h200", "b200"}) add(gpu, fp8_fp16);
  return names;
}

// `bits` (an fp32 pattern) is a finite value of `f`, exactly: converting it raises no flag
// and the code decodes to the same value (sign of zero included).
bool exact_in(const fp8sim::Format& f, std::uint32_t bits) {
  const float x = std::bit_cast<float>(bits);
  if (!std::isfinite(x)) return false;
  const fp8sim::Rounded r = fp8sim::from_float(x, f, fp8sim::RoundSpec{});
  if (r.flags != 0) return false;
  const fp8sim::Class cls = fp8sim::classify(f, r.code);
  if (cls == fp8sim::Class::nan || cls == fp8sim::Class::infinite) return false;
  const double back = fp8sim::to_double(f, r.code);
  return back == static_cast<double>(x) && std::signbit(back) == std::signbit(x);
}

std::string hex8(std::uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digits[v & 15];
  return s;
}

}  // namespace

TEST_CASE("gpu vectors: all 48 files, 2500 well-formed cases each, inputs exact") {
  const fs::path dir = gpu_dir();
  INFO("GPU vector folder: " << dir.string());
  const std::set<std::string> want = expected_files();
  REQUIRE(want.size() == 48);
  std::set<std::string> have;
  for (const auto& p : fp8sim::gpu_vector_files(dir)) have.insert(p.filename().string());
  for (const auto& name : want) CHECK_MESSAGE(have.contains(name), "missing: " << name);
  for (const auto& name : have) CHECK_MESSAGE(want.contains(name), "unexpected file: " << name);
  CHECK_MESSAGE(fs::is_regular_file(dir / "LICENCE"), "gpu/LICENCE is missing");

  const fp8sim::Format fp16 = fp8sim::parse_format("fp16");
  std::uint64_t files = 0, cases = 0;
  for (const auto& name : want) {
    const fs::path p = dir / name;
    if (!fs::is_regular_file(p)) continue;  // reported above
    INFO("file " << p.string());
    fp8sim::GpuVectorFile v;
    try {
      v = fp8sim::read_gpu_vectors(p);
    } catch (const GpuVectorError& e) {
      FAIL_CHECK(std::string(e.what()));
      continue;
    }
    ++files;
    cases += v.cases.size();
    CHECK(v.cases.size() == 2500);
    // k: 4 (V100; tf32 everywhere), 8 (A100, A2, Ada, L40S), 16 (Hopper, B200), 32 (FP8)
    CHECK_MESSAGE((v.k == 4 || v.k == 8 || v.k == 16 || v.k == 32), "k=" << v.k);
    // c enters as the output format, or not at all (h100/h200 FP8 into fp32)
    CHECK_MESSAGE((v.c_mode == v.out || v.c_mode == "zero"), "c=" << v.c_mode);
    const fp8sim::Format in = fp8sim::parse_format(fp8sim::gpu_format_name(v.in));
    std::uint64_t inexact_inputs = 0, inexact_d = 0;
    std::string first_bad;
    for (std::size_t i = 0; i < v.cases.size(); ++i) {
      const auto& c = v.cases[i];
      for (const auto* values : {&c.a, &c.b})
        for (const std::uint32_t x : *values)
          if (!exact_in(in, x)) {
            if (inexact_inputs++ == 0)
              first_bad =
                  "case " + std::to_string(i + 1) + ": input " + hex8(x) + " not in " + in.name;
          }
      if (v.out == "fp16" && std::isfinite(std::bit_cast<float>(c.d)) && !exact_in(fp16, c.d))
        if (inexact_d++ == 0 && first_bad.empty())
          first_bad =
              "case " + std::to_string(i + 1) + ": fp16 result " + hex8(c.d) + " not an fp16 value";
    }
    CHECK_MESSAGE(inexact_inputs == 0, inexact_inputs << " inputs not exact; first: " << first_bad);
    CHECK_MESSAGE(inexact_d == 0, inexact_d << " fp16 results not fp16 values; " << first_bad);
  }
  CHECK(files == 48);
  CHECK(cases == 48 * 2500);
}

TEST_CASE("gpu vectors: the reader rejects malformed files") {
  const fs::path tmp =
      fs::temp_directory_path() / ("fp8sim-gpu-vectors-" + std::to_string(std::random_device{}()));
  fs::create_directories(tmp);
  const std::string fields = "# fields: gpu=x in=fp16 out=fp32 k=2 c=fp32 cases=2\n";
  const std::string good1 = "3c000000 3c000000 ; 3c000000 3c000000 ; 00000000 40000000\n";
  auto write = [&](const std::string& text) {
    const fs::path p = tmp / "x-fp16-fp32.txt";
    std::ofstream(p) << text;
    return p;
  };
  const std::string ok_line = "3f800000 3f800000 ; 3f800000 3f800000 ; 00000000 ; 40000000\n";
  // a good file reads
  {
    const auto v = fp8sim::read_gpu_vectors(write(fields + "# note\n" + ok_line + ok_line));
    CHECK(v.gpu == "x");
    CHECK(v.k == 2);
    REQUIRE(v.cases.size() == 2);
    CHECK(v.cases[1].a == std::vector<std::uint32_t>{0x3f800000, 0x3f800000});
    CHECK(v.cases[1].d == 0x40000000);
  }
  const std::vector<std::string> bad = {
      "",                                                                // empty
      "# gpu=x in=fp16 out=fp32 k=2 c=fp32 cases=2\n" + ok_line,         // no "# fields:"
      "# fields: gpu=x in=fp16 out=fp32 k=2 cases=2\n" + ok_line,        // c missing
      "# fields: gpu=x in=fp8 out=fp32 k=2 c=fp32 cases=2\n" + ok_line,  // unknown format
      "# fields: gpu=y in=fp16 out=fp32 k=2 c=fp32 cases=2\n" + ok_line + ok_line,  // name
      fields + ok_line,                      // one case short
      fields + ok_line + ok_line + ok_line,  // one case too many
      fields + ok_line + good1,              // three fields
      fields + ok_line + "3f800000 ; 3f800000 3f800000 ; 00000000 ; 40000000\n",  // k-1 a
      fields + ok_line + "3f800000 3f80000 ; 3f800000 3f800000 ; 00000000 ; 40000000\n",
      fields + ok_line + "3f800000 3f80000g ; 3f800000 3f800000 ; 00000000 ; 40000000\n",
      fields + ok_line + "3f800000 3f800000 ; 3f800000 3f800000 ; 00000000 ; 40000000 ;\n",
      fields + ok_line + "# late comment\n" + ok_line,
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    INFO("malformed example " << i);
    CHECK_THROWS_AS((void)fp8sim::read_gpu_vectors(write(bad[i])), GpuVectorError);
  }
  CHECK_THROWS_AS((void)fp8sim::read_gpu_vectors(tmp / "none.txt"), GpuVectorError);
  CHECK_THROWS_AS((void)fp8sim::gpu_vector_files(tmp / "none"), GpuVectorError);
  std::error_code ec;
  fs::remove_all(tmp, ec);
}
