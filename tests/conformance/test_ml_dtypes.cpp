// tests/conformance/test_ml_dtypes.cpp — Google ml_dtypes' decodings and float32
// conversions (ml_dtypes/ of the conformance vectors, see tests/data/conformance/README.md)
// against fp8sim: decode / to_double, from_float and the array quantizer (whose fp32 SIMD
// kernel must give the same codes).
//
// Known ml_dtypes artefacts that are not fp8sim semantics (per the README):
//  - fp6/fp4 types (no NaN) map a NaN input to a zero code: NaN inputs are skipped there;
//  - e8m0fnu rounds in the log domain (fp8sim rounds linearly, like every other format):
//    its ENCODE columns are informational (differences are counted and reported, never a
//    failure); its decodings must match.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/quantize.hpp"
#include "rounding/round_pack.hpp"

#include "conformance_dir.hpp"

namespace fs = std::filesystem;

namespace {

using fp8sim::testing::conformance_dir;

fs::path ml_file(const std::string& name) {
  const fs::path p = conformance_dir() / "ml_dtypes" / name;
  REQUIRE_MESSAGE(fs::is_regular_file(p), "ml_dtypes vector file is missing: "
                                              << p.string() << fp8sim::testing::conformance_hint());
  return p;
}

std::uint64_t hex(const std::string& s, std::uint64_t line_no) {
  INFO("line " << line_no << ": field '" << s << "'");
  REQUIRE(!s.empty());
  REQUIRE(s.find_first_not_of("0123456789ABCDEFabcdef") == std::string::npos);
  return std::stoull(s, nullptr, 16);
}

std::vector<std::string> fields_of(const std::string& line) {
  std::istringstream ss(line);
  std::vector<std::string> out;
  for (std::string f; ss >> f;) out.push_back(f);
  return out;
}

bool is_e8m0(const std::string& type) {
  return type == "e8m0fnu";
}

std::uint64_t double_bits(double d) {
  return std::bit_cast<std::uint64_t>(d);
}

// One encode file: inputs and, per column (type), the expected codes.
struct EncodeTable {
  std::vector<std::string> types;
  std::vector<float> inputs;
  std::vector<std::uint32_t> input_bits;
  std::vector<std::vector<std::uint8_t>> codes;  // [column][row]
};

EncodeTable read_encode(const std::string& name) {
  std::ifstream in(ml_file(name));
  REQUIRE(in.good());
  EncodeTable t;
  std::string line;
  REQUIRE(std::getline(in, line));
  auto head = fields_of(line);
  REQUIRE_MESSAGE((head.size() >= 2 && head[0] == "#" && head[1] == "f32bits"),
                  name << ": unexpected header '" << line << "'");
  t.types.assign(head.begin() + 2, head.end());
  REQUIRE(t.types.size() == 11);
  t.codes.resize(t.types.size());
  std::uint64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    const auto f = fields_of(line);
    REQUIRE_MESSAGE(f.size() == t.types.size() + 1, name << " line " << line_no << ": expected "
                                                         << t.types.size() + 1 << " fields, got "
                                                         << f.size());
    const auto bits = static_cast<std::uint32_t>(hex(f[0], line_no));
    t.input_bits.push_back(bits);
    t.inputs.push_back(std::bit_cast<float>(bits));
    for (std::size_t c = 0; c < t.types.size(); ++c)
      t.codes[c].push_back(static_cast<std::uint8_t>(hex(f[c + 1], line_no)));
  }
  REQUIRE(t.inputs.size() > 20000);
  return t;
}

std::string hex2(std::uint64_t v) {
  std::ostringstream ss;
  ss << std::hex << std::uppercase;
  ss.width(2);
  ss.fill('0');
  ss << v;
  return ss.str();
}
std::string hex8(std::uint32_t v) {
  std::ostringstream ss;
  ss << std::hex << std::uppercase;
  ss.width(8);
  ss.fill('0');
  ss << v;
  return ss.str();
}

// Checks one encode file: every column with `suffix` appended to the type name.
void check_encode(const std::string& file, const std::string& suffix, fp8sim::RoundingMode mode) {
  const EncodeTable t = read_encode(file);
  fp8sim::RoundSpec r;
  r.mode = mode;
  std::uint64_t checked = 0;
  for (std::size_t c = 0; c < t.types.size(); ++c) {
    const std::string& type = t.types[c];
    const fp8sim::Format f = fp8sim::parse_format(type + suffix);
    INFO(file << " column " << type << " (fp8sim format " << f.name << ")");
    const bool informational = is_e8m0(type);

    std::vector<std::uint8_t> q(t.inputs.size(), 0);
    fp8sim::QuantizeOptions opt;
    opt.round = r;
    (void)fp8sim::quantize<float, std::uint8_t>(f, t.inputs, opt, q);
    std::vector<std::uint8_t> qs(t.inputs.size(), 0);
    opt.allow_simd = false;
    (void)fp8sim::quantize<float, std::uint8_t>(f, t.inputs, opt, qs);

    std::uint64_t mismatches = 0, kernel_mismatches = 0, informational_diffs = 0;
    for (std::size_t i = 0; i < t.inputs.size(); ++i) {
      const float x = t.inputs[i];
      if (f.specials == fp8sim::Specials::none && std::isnan(x)) continue;  // artefact
      const auto got = fp8sim::from_float(x, f, r);
      const std::uint64_t want = t.codes[c][i];
      if (q[i] != got.code || qs[i] != got.code) {
        if (++kernel_mismatches <= 5) {
          INFO("input " << hex8(t.input_bits[i]) << " (" << x << "): from_float " << hex2(got.code)
                        << ", quantize (SIMD allowed) " << hex2(q[i]) << ", quantize (scalar) "
                        << hex2(qs[i]));
          CHECK(q[i] == got.code);
          CHECK(qs[i] == got.code);
        }
      }
      if (informational) {
        informational_diffs += got.code != want;
        continue;
      }
      ++checked;
      if (got.code != want && ++mismatches <= 10) {
        INFO("input " << hex8(t.input_bits[i]) << " (" << x << "): ml_dtypes " << hex2(want)
                      << ", fp8sim " << hex2(got.code) << " (flags "
                      << fp8sim::flags_to_string(got.flags) << ")");
        CHECK(hex2(got.code) == hex2(want));
      }
    }
    CHECK_MESSAGE(mismatches == 0, mismatches << " mismatches");
    CHECK_MESSAGE(kernel_mismatches == 0, kernel_mismatches << " quantizer/from_float mismatches");
    if (informational)
      MESSAGE(file << ": e8m0fnu (informational; ml_dtypes rounds in the log domain): "
                   << informational_diffs << " of " << t.inputs.size()
                   << " codes differ from fp8sim's linear rounding");
  }
  MESSAGE(file << ": " << t.inputs.size() << " inputs, " << checked
               << " (input, type) codes checked");
  CHECK(checked > 200000);
}

}  // namespace

TEST_CASE("ml_dtypes: decode.txt, every code of every type decodes to the same value") {
  std::ifstream in(ml_file("decode.txt"));
  REQUIRE(in.good());
  std::map<std::string, std::uint64_t> per_type;
  std::uint64_t line_no = 0, mismatches = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    const auto f = fields_of(line);
    REQUIRE_MESSAGE(f.size() == 4, "decode.txt line " << line_no << ": expected 4 fields");
    const fp8sim::Format fmt = fp8sim::parse_format(f[0]);
    const std::uint64_t code = hex(f[1], line_no);
    const float want = std::bit_cast<float>(static_cast<std::uint32_t>(hex(f[2], line_no)));
    REQUIRE(code <= fmt.code_mask());
    ++per_type[f[0]];
    const double got = fp8sim::to_double(fmt, code);
    const fp8sim::Class cls = fp8sim::classify(fmt, code);
    const bool ok = std::isnan(want)
                        ? (std::isnan(got) && cls == fp8sim::Class::nan)
                        : (double_bits(got) == double_bits(static_cast<double>(want)) &&
                           cls != fp8sim::Class::nan);
    if (!ok && ++mismatches <= 20) {
      INFO("decode.txt line " << line_no << ": " << line << " -> fp8sim " << got << " ("
                              << std::string(fp8sim::to_string(cls)) << ")");
      CHECK(ok);
    }
    // The exact decoded triple agrees with the double value.
    if (!std::isnan(want) && !std::isinf(want)) {
      const fp8sim::Decoded d = fp8sim::decode(fmt, code);
      const double v = std::ldexp(static_cast<double>(d.sig), d.exp);
      CHECK((d.sign ? -v : v) == static_cast<double>(want));
    }
  }
  CHECK(mismatches == 0);
  // every code of every type, each once
  REQUIRE(per_type.size() == 11);
  for (const auto& [type, n] : per_type) {
    INFO("type " << type);
    CHECK(n == (std::uint64_t{1} << fp8sim::parse_format(type).width()));
  }
  CHECK(line_no == 2192);
}

TEST_CASE("ml_dtypes: encode-rne.txt (default overflow, round to nearest even)") {
  check_encode("encode-rne.txt", "", fp8sim::RoundingMode::rne);
}

TEST_CASE("ml_dtypes: encode-rne-sat.txt (saturating, round to nearest even)") {
  check_encode("encode-rne-sat.txt", "-sat", fp8sim::RoundingMode::rne);
}

TEST_CASE("ml_dtypes: encode-rtz.txt (truncation, non-saturating overflow)") {
  check_encode("encode-rtz.txt", "-nonsat", fp8sim::RoundingMode::rtz);
}
