// cli/input_values.cpp — parsing of input numbers (see input_values.hpp).
#include "cli/input_values.hpp"

#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/files.hpp"

namespace fp8sim::cli {

namespace {

std::string kind_name(InputKind k) {
  switch (k) {
    case InputKind::decimal:
      return "a decimal number";
    case InputKind::f32_bits:
      return "fp32 bits (8 hex digits)";
    case InputKind::f64_bits:
      return "fp64 bits (16 hex digits)";
  }
  return "?";
}

bool parse_hex(const std::string& tok, int max_digits, std::uint64_t& out) {
  std::string_view s = tok;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty() || static_cast<int>(s.size()) > max_digits) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool parse_decimal(const std::string& tok, double& out) {
  errno = 0;
  char* end = nullptr;
  out = std::strtod(tok.c_str(), &end);
  return end != tok.c_str() && *end == '\0';
}

// A decimal beyond binary64's range would silently become +-Inf or 0 (docs/cli-conventions.md:
// refused; write inf for infinity). A gradual underflow to a binary64 subnormal is kept.
void check_decimal_range(const std::string& tok, double v, const std::string& where) {
  if (errno != ERANGE) return;
  if (std::isinf(v))
    throw UsageError(fmt::format(
        "{}{} is beyond binary64's range (|x| <= 1.7976931348623157e308); write inf for "
        "infinity",
        shown(tok), where));
  if (v == 0)
    throw UsageError(fmt::format(
        "{}{} is below binary64's smallest subnormal (4.9e-324) and would read as 0; write 0 "
        "for zero",
        shown(tok), where));
}

void add_token(InputValues& iv, const std::string& tok, InputKind kind, const std::string& where) {
  iv.text.push_back(tok);
  std::uint64_t bits = 0;
  switch (kind) {
    case InputKind::decimal:
      iv.f64.push_back(read_decimal(tok, where));
      return;
    case InputKind::f32_bits:
      if (!parse_hex(tok, 8, bits))
        throw UsageError(fmt::format("cannot read {}{} as {}", shown(tok), where, kind_name(kind)));
      iv.f32.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
      return;
    case InputKind::f64_bits:
      if (!parse_hex(tok, 16, bits))
        throw UsageError(fmt::format("cannot read {}{} as {}", shown(tok), where, kind_name(kind)));
      iv.f64.push_back(std::bit_cast<double>(bits));
      return;
  }
}

void read_stream(InputValues& iv, std::istream& in, const std::string& name, InputKind kind) {
  std::string line;
  std::uint64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    for (char& c : line)
      if (c == ',' || c == '\t' || c == '\r') c = ' ';
    std::istringstream ls(line);
    std::string tok;
    while (ls >> tok) add_token(iv, tok, kind, fmt::format(" (line {} of {})", lineno, name));
  }
  if (in.bad()) throw UsageError(fmt::format("error reading {}", name));
}

}  // namespace

double read_decimal(const std::string& tok, const std::string& where) {
  double v = 0;
  if (!parse_decimal(tok, v))
    throw UsageError(
        fmt::format("cannot read {}{} as {}", shown(tok), where, kind_name(InputKind::decimal)));
  check_decimal_range(tok, v, where);
  return v;
}

InputKind parse_input_kind(const std::string& s) {
  if (s == "decimal") return InputKind::decimal;
  if (s == "f32-bits") return InputKind::f32_bits;
  if (s == "f64-bits") return InputKind::f64_bits;
  throw UsageError(
      fmt::format("unknown input kind {} (allowed: decimal, f32-bits, f64-bits)", shown(s)));
}

InputValues read_inputs(const std::vector<std::string>& values, const std::string& file,
                        InputKind kind) {
  InputValues iv;
  iv.is_f32 = kind == InputKind::f32_bits;
  for (const auto& v : values) add_token(iv, v, kind, "");
  if (!file.empty()) {
    if (file == "-") {
      read_stream(iv, std::cin, "standard input", kind);
    } else {
      check_input_file({"--input", file});
      std::ifstream in(file);
      if (!in) throw UsageError(fmt::format("cannot open input file {}", shown(file)));
      read_stream(iv, in, file, kind);
    }
  }
  return iv;
}

}  // namespace fp8sim::cli
