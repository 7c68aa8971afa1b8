// tests/conformance/test_testfloat.cpp — every Berkeley TestFloat vector file in testfloat/
// of the conformance vectors (see tests/data/conformance/README.md) must pass with zero
// failures, NaN results compared bit for bit (fp8sim models SoftFloat's 8086-SSE NaN rules).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "conformance_dir.hpp"
#include "rounding/rounding_mode.hpp"
#include "sim/testfloat_vectors.hpp"

namespace fs = std::filesystem;

namespace {

using fp8sim::testing::conformance_dir;

struct VectorFile {
  fs::path path;
  std::string op;
  fp8sim::RoundSpec round;
};

// OP.MODE[.tininess-before].tv
VectorFile parse_name(const fs::path& p) {
  const std::string name = p.filename().string();
  VectorFile v{p, {}, {}};
  const std::string suffix = ".tv";
  REQUIRE_MESSAGE(name.size() > suffix.size(), "unexpected file name " << name);
  REQUIRE_MESSAGE(name.ends_with(suffix), "unexpected file name " << name);
  std::vector<std::string> parts;
  std::stringstream ss(name.substr(0, name.size() - suffix.size()));
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  REQUIRE_MESSAGE((parts.size() == 2 || parts.size() == 3),
                  "file name " << name << " is not OP.MODE[.tininess-before].tv");
  v.op = parts[0];
  v.round = fp8sim::parse_rounding(parts[1]);
  REQUIRE_MESSAGE(v.round.mode != fp8sim::RoundingMode::sr, "unexpected mode in " << name);
  if (parts.size() == 3) {
    REQUIRE_MESSAGE(parts[2] == "tininess-before", "unknown modifier in " << name);
    v.round.tininess = fp8sim::Tininess::before;
  }
  return v;
}

std::vector<VectorFile> vector_files() {
  const fs::path dir = conformance_dir() / "testfloat";
  INFO("conformance directory: " << dir.string());
  REQUIRE_MESSAGE(fs::is_directory(dir),
                  "TestFloat vector directory is missing: " << dir.string()
                                                            << fp8sim::testing::conformance_hint());
  std::vector<VectorFile> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".tv") files.push_back(parse_name(e.path()));
  std::sort(files.begin(), files.end(),
            [](const VectorFile& a, const VectorFile& b) { return a.path < b.path; });
  REQUIRE_MESSAGE(!files.empty(), "no .tv files in " << dir.string());
  return files;
}

std::uint64_t count_lines(const fs::path& p) {
  std::ifstream in(p);
  std::uint64_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

}  // namespace

TEST_CASE("testfloat: every vector file passes with zero failures (NaNs bit-exact)") {
  const auto files = vector_files();
  std::uint64_t total = 0, total_lines = 0;
  for (const auto& f : files) {
    INFO("file " << f.path.filename().string());
    std::ifstream in(f.path);
    REQUIRE(in.good());
    const auto res = fp8sim::check_testfloat(in, f.op, f.round, /*exact_nan=*/true, 10);
    for (const auto& m : res.mismatches) {
      INFO("line " << m.line << ": '" << m.input << "' expected " << m.expected << ", got "
                   << m.got);
      CHECK(m.expected == m.got);
    }
    CHECK_MESSAGE(res.failed == 0, res.failed << " of " << res.passed + res.failed
                                              << " cases fail in " << f.path.filename().string());
    const std::uint64_t lines = count_lines(f.path);
    CHECK_MESSAGE(res.passed + res.failed == lines, "checked " << res.passed + res.failed
                                                               << " cases but the file has "
                                                               << lines << " lines");
    total += res.passed + res.failed;
    total_lines += lines;
  }
  MESSAGE("TestFloat: " << files.size() << " files, " << total << " cases checked");
  CHECK(total == total_lines);
  CHECK(files.size() >= 120);
}

TEST_CASE("testfloat: the file set covers every op and mode") {
  const auto files = vector_files();
  for (const auto& op : fp8sim::testfloat_ops()) {
    for (const char* mode : {"rne", "rtz", "rdn", "rup", "rna", "rto"}) {
      const bool found = std::any_of(files.begin(), files.end(), [&](const VectorFile& f) {
        return f.op == op && fp8sim::to_string(f.round.mode) == mode &&
               f.round.tininess == fp8sim::Tininess::after;
      });
      CHECK_MESSAGE(found, "no vector file for " << op << "." << std::string(mode));
    }
  }
}

TEST_CASE("testfloat: malformed input gives clear errors") {
  using fp8sim::check_testfloat;
  const fp8sim::RoundSpec rne{};
  auto run = [&](const std::string& text, std::string_view op) {
    std::istringstream in(text);
    return check_testfloat(in, op, rne, false);
  };
  auto message_of = [&](const std::string& text, std::string_view op) -> std::string {
    try {
      (void)run(text, op);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no error)";
  };
  SUBCASE("a good file") {
    const auto r = run("3C00 3C00 4000 00\n3C00 0001 3C00 01\n", "f16_add");
    CHECK(r.passed == 2);
    CHECK(r.failed == 0);
  }
  SUBCASE("mismatch is reported with line and both results") {
    const auto r = run("3C00 3C00 4000 00\n3C00 3C00 4001 00\n", "f16_add");
    CHECK(r.passed == 1);
    REQUIRE(r.failed == 1);
    REQUIRE(r.mismatches.size() == 1);
    CHECK(r.mismatches[0].line == 2);
    CHECK(r.mismatches[0].expected == "4001 00");
    CHECK(r.mismatches[0].got == "4000 00");
  }
  SUBCASE("any NaN matches any NaN unless exact_nan") {
    // Inf - Inf gives the default NaN FE00; the file claims 7E00.
    const std::string text = "7C00 FC00 7E00 10\n";
    CHECK(run(text, "f16_add").failed == 0);
    std::istringstream in(text);
    CHECK(check_testfloat(in, "f16_add", rne, true).failed == 1);
    // flags must match even for NaNs
    CHECK(run("7C00 FC00 7E00 00\n", "f16_add").failed == 1);
  }
  SUBCASE("unknown op lists the allowed ones") {
    const std::string msg = message_of("", "f16_div");
    CHECK(msg.find("f16_div") != std::string::npos);
    CHECK(msg.find("f32_mulAdd") != std::string::npos);
    CHECK(msg.find("f64_to_f16") != std::string::npos);
    CHECK(message_of("", "f16_to_f16").find("allowed") != std::string::npos);
  }
  SUBCASE("wrong field count names the line") {
    const std::string msg = message_of("3C00 3C00 4000 00\n3C00 4000 00\n", "f16_add");
    CHECK(msg.find("line 2") != std::string::npos);
    CHECK(msg.find("fields") != std::string::npos);
  }
  SUBCASE("wrong width names the line and the field") {
    const std::string msg = message_of("3C00 3C00 40000 00\n", "f16_add");
    CHECK(msg.find("line 1") != std::string::npos);
    CHECK(msg.find("result") != std::string::npos);
    CHECK(message_of("3C00 3C00 00\n", "f32_to_f16").find("operand A") != std::string::npos);
  }
  SUBCASE("non-hex digits and bad flags") {
    CHECK(message_of("3C0G 3C00 4000 00\n", "f16_add").find("hexadecimal") != std::string::npos);
    CHECK(message_of("3C00 3C00 4000 20\n", "f16_add").find("flags") != std::string::npos);
  }
  SUBCASE("blank line is an error, not a silent skip") {
    CHECK(message_of("3C00 3C00 4000 00\n\n", "f16_add").find("line 2") != std::string::npos);
  }
  SUBCASE("CRLF line ends are accepted") {
    CHECK(run("3C00 3C00 4000 00\r\n", "f16_add").passed == 1);
  }
}
