// sim/gpu_vectors.hpp — reader and checker for the GPU tensor-core dot products (gpu/ of the
// conformance vectors, see tests/data/conformance/README.md): one file GPU-IN-OUT.txt per GPU,
// input format and output format, each case D = A·B + C as fp32 bit patterns.
//
//   # fields: gpu=h100 in=e4m3 out=fp32 k=32 c=zero cases=2500
//   # ...comment lines...
//   a_1 .. a_k ; b_1 .. b_k ; c ; d
//
// The reader checks the structure only (fields, counts, 8-hex-digit patterns, optionally the
// file name matching the fields) and throws GpuVectorError naming the file and line
// otherwise. check_gpu_vectors() runs the cases through a MAC spec (`fp8sim vectors check
// --gpu`).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fp8sim {

/// A malformed file (bad input: the command line exits 2).
class GpuVectorError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// One measured dot product: d = a·b + c (every number an fp32 bit pattern; k values each
/// in a and b). How c entered is the file's c_mode.
struct GpuCase {
  std::vector<std::uint32_t> a, b;
  std::uint32_t c = 0;
  std::uint32_t d = 0;
};

/// One file: its `# fields:` line and its cases.
struct GpuVectorFile {
  std::filesystem::path path;
  std::string gpu;     ///< v100, a100, a2, ada, l40s, h100, h200, b200
  std::string in;      ///< input format as the file names it: fp16, bf16, tf32, e4m3, e5m2
  std::string out;     ///< output format: fp32 or fp16
  int k = 0;           ///< dot-product length of one instruction
  std::string c_mode;  ///< fp32 (c as given), fp16 (c rounded to nearest even into fp16), zero
  std::vector<GpuCase> cases;
};

/// The fp8sim format name of a file's format name. NVIDIA's E4M3 is OCP E4M3FN (no Inf, max
/// 448), fp8sim's preset "e4m3fn"; fp8sim's "e4m3" is the IEEE-like ml_dtypes type.
inline std::string gpu_format_name(std::string_view name) {
  if (name == "e4m3") return "e4m3fn";
  return std::string(name);
}

namespace gpu_vectors_detail {

[[noreturn]] inline void fail(const std::filesystem::path& p, std::uint64_t line,
                              const std::string& what) {
  throw GpuVectorError(p.string() + ":" + std::to_string(line) + ": " + what);
}

inline bool is_one_of(const std::string& s, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), s) != allowed.end();
}

inline std::uint64_t parse_count(const std::filesystem::path& p, std::uint64_t line,
                                 const std::string& key, const std::string& v) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
      v == "0")
    fail(p, line, "field " + key + "='" + v + "' is not a positive integer");
  return std::stoull(v);
}

// Exactly `count` 8-hex-digit patterns separated by white space.
inline std::vector<std::uint32_t> parse_patterns(const std::filesystem::path& p, std::uint64_t line,
                                                 const std::string& part, std::size_t count,
                                                 const char* what) {
  std::vector<std::uint32_t> out;
  out.reserve(count);
  std::istringstream ss(part);
  for (std::string tok; ss >> tok;) {
    if (tok.size() != 8 || tok.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      fail(p, line, std::string(what) + ": '" + tok + "' is not an 8-hex-digit fp32 pattern");
    out.push_back(static_cast<std::uint32_t>(std::stoul(tok, nullptr, 16)));
  }
  if (out.size() != count)
    fail(p, line,
         std::string(what) + ": " + std::to_string(out.size()) + " values, wanted " +
             std::to_string(count));
  return out;
}

}  // namespace gpu_vectors_detail

/// Reads and checks one file. Throws GpuVectorError on anything malformed.
/// `check_name`: the file must be named GPU-IN-OUT.txt after its fields line.
inline GpuVectorFile read_gpu_vectors(const std::filesystem::path& p, bool check_name = true) {
  using gpu_vectors_detail::fail;
  std::ifstream in(p);
  if (!in) fail(p, 0, "cannot open");
  GpuVectorFile f;
  f.path = p;
  std::string line;
  std::uint64_t line_no = 1;
  if (!std::getline(in, line)) fail(p, 1, "empty file");
  const std::string head = "# fields:";
  if (!line.starts_with(head)) fail(p, 1, "first line does not start with '" + head + "'");
  std::map<std::string, std::string> fields;
  {
    std::istringstream ss(line.substr(head.size()));
    for (std::string kv; ss >> kv;) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size())
        fail(p, 1, "'" + kv + "' is not key=value");
      const std::string key = kv.substr(0, eq);
      if (!gpu_vectors_detail::is_one_of(key, {"gpu", "in", "out", "k", "c", "cases"}))
        fail(p, 1, "unknown field '" + key + "'");
      if (!fields.emplace(key, kv.substr(eq + 1)).second)
        fail(p, 1, "field '" + key + "' given twice");
    }
  }
  for (const char* key : {"gpu", "in", "out", "k", "c", "cases"})
    if (!fields.contains(key)) fail(p, 1, std::string("field '") + key + "' missing");
  f.gpu = fields["gpu"];
  f.in = fields["in"];
  f.out = fields["out"];
  f.c_mode = fields["c"];
  if (!gpu_vectors_detail::is_one_of(f.in, {"fp16", "bf16", "tf32", "e4m3", "e5m2"}))
    fail(p, 1, "unknown input format in=" + f.in);
  if (!gpu_vectors_detail::is_one_of(f.out, {"fp32", "fp16"}))
    fail(p, 1, "unknown output format out=" + f.out);
  if (!gpu_vectors_detail::is_one_of(f.c_mode, {"fp32", "fp16", "zero"}))
    fail(p, 1, "unknown c=" + f.c_mode + " (fp32, fp16 or zero)");
  const std::uint64_t k = gpu_vectors_detail::parse_count(p, 1, "k", fields["k"]);
  if (k > 1024) fail(p, 1, "k=" + fields["k"] + " is implausibly large");
  f.k = static_cast<int>(k);
  const std::uint64_t n = gpu_vectors_detail::parse_count(p, 1, "cases", fields["cases"]);
  const std::string stem = f.gpu + "-" + f.in + "-" + f.out + ".txt";
  if (check_name && p.filename().string() != stem)
    fail(p, 1, "file name does not match the fields: " + stem);

  f.cases.reserve(n);
  bool in_data = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.starts_with("#")) {
      if (in_data) fail(p, line_no, "comment line after the first case");
      continue;
    }
    in_data = true;
    std::vector<std::string> parts;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, ';');) parts.push_back(part);
    if (parts.size() != 4 || line.ends_with(";"))
      fail(p, line_no, "not 'a_1 .. a_k ; b_1 .. b_k ; c ; d'");
    GpuCase c;
    c.a = gpu_vectors_detail::parse_patterns(p, line_no, parts[0], f.k, "a");
    c.b = gpu_vectors_detail::parse_patterns(p, line_no, parts[1], f.k, "b");
    c.c = gpu_vectors_detail::parse_patterns(p, line_no, parts[2], 1, "c").front();
    c.d = gpu_vectors_detail::parse_patterns(p, line_no, parts[3], 1, "d").front();
    f.cases.push_back(std::move(c));
  }
  if (f.cases.size() != n)
    fail(
        p, line_no,
        std::to_string(f.cases.size()) + " cases, the fields line says cases=" + std::to_string(n));
  return f;
}

/// The GPU-IN-OUT.txt files of a folder, sorted by name (throws GpuVectorError when the
/// folder is missing).
inline std::vector<std::filesystem::path> gpu_vector_files(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir))
    throw GpuVectorError("GPU vector folder is missing: " + dir.string());
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

struct MacConfig;

/// One case's inputs as codes of m's formats, C as the file says it entered (converted to
/// m's C format; none for c=zero), and the measured D in m's result format. Throws
/// GpuVectorError naming the case when an input is not exact in m's input formats.
struct GpuCaseCodes {
  std::vector<std::uint64_t> a, b;
  std::optional<std::uint64_t> c;
  std::uint64_t d = 0;
};
[[nodiscard]] GpuCaseCodes gpu_case_codes(const GpuVectorFile& f, std::size_t i,
                                          const MacConfig& m);

struct GpuMismatch {
  std::size_t index = 0;  ///< case number (0-based)
  std::string text;       ///< inputs, expected and got, decoded
};
struct GpuCheckResult {
  std::size_t passed = 0, failed = 0;
  std::vector<GpuMismatch> mismatches;  ///< the first max_report
};
/// Every case of f through m (mac_dot, output index = case number).
[[nodiscard]] GpuCheckResult check_gpu_vectors(const GpuVectorFile& f, const MacConfig& m,
                                               std::size_t max_report);

}  // namespace fp8sim
