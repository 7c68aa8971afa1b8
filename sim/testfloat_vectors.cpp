// sim/testfloat_vectors.cpp — checks Berkeley TestFloat testfloat_gen lines against fp8sim
// (see testfloat_vectors.hpp).
#include "sim/testfloat_vectors.hpp"

#include <array>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"
#include "sim/fma.hpp"

namespace fp8sim {

namespace {

enum class OpKind { add, sub, mul, mul_add, convert };

struct OpInfo {
  OpKind kind = OpKind::add;
  Format in;         // operand format
  Format out;        // result format
  int operands = 2;  // hex operands before RESULT FLAGS
};

constexpr std::array<const char*, 3> kTypes = {"f16", "f32", "f64"};

const Format& type_format(std::string_view t) {
  static const Format f16 = parse_format("fp16"), f32 = parse_format("fp32"),
                      f64 = parse_format("fp64");
  if (t == "f16") return f16;
  if (t == "f32") return f32;
  return f64;
}

int hex_digits(const Format& f) {
  return f.width() / 4;
}

[[noreturn]] void unknown_op(std::string_view op) {
  throw std::invalid_argument(fmt::format("unknown TestFloat operation '{}' (allowed: {})", op,
                                          fmt::join(testfloat_ops(), ", ")));
}

OpInfo op_info(std::string_view op) {
  bool known = false;
  for (const auto& name : testfloat_ops()) known = known || name == op;
  if (!known) unknown_op(op);
  OpInfo info;
  const std::string_view t = op.substr(0, 3);
  const std::string_view rest = op.substr(4);  // after "fNN_"
  info.in = type_format(t);
  info.out = info.in;
  if (rest == "add") {
    info.kind = OpKind::add;
  } else if (rest == "sub") {
    info.kind = OpKind::sub;
  } else if (rest == "mul") {
    info.kind = OpKind::mul;
  } else if (rest == "mulAdd") {
    info.kind = OpKind::mul_add;
    info.operands = 3;
  } else {  // "to_fNN"
    info.kind = OpKind::convert;
    info.operands = 1;
    info.out = type_format(rest.substr(3));
  }
  return info;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

std::uint64_t parse_hex(std::string_view field, int digits, std::uint64_t line_no,
                        std::string_view what) {
  if (static_cast<int>(field.size()) != digits)
    throw std::invalid_argument(
        fmt::format("line {}: {} '{}' must have exactly {} hex digits, has {}", line_no, what,
                    field, digits, field.size()));
  std::uint64_t v = 0;
  for (const char ch : field) {
    const int h = hex_value(ch);
    if (h < 0)
      throw std::invalid_argument(
          fmt::format("line {}: {} '{}' is not hexadecimal (bad '{}')", line_no, what, field, ch));
    v = (v << 4) | static_cast<std::uint64_t>(h);
  }
  return v;
}

std::string show(const Format& f, std::uint64_t code, Flags flags) {
  return fmt::format("{:0{}X} {:02X}", code, hex_digits(f), flags);
}

}  // namespace

const std::vector<std::string>& testfloat_ops() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (const char* t : kTypes)
      for (const char* o : {"add", "sub", "mul", "mulAdd"}) v.push_back(fmt::format("{}_{}", t, o));
    for (const char* x : kTypes)
      for (const char* y : kTypes)
        if (std::string_view(x) != y) v.push_back(fmt::format("{}_to_{}", x, y));
    return v;
  }();
  return ops;
}

VectorCheckResult check_testfloat(std::istream& in, std::string_view op, const RoundSpec& r,
                                  bool exact_nan, std::size_t max_report) {
  validate(r);
  const OpInfo info = op_info(op);
  const int in_digits = hex_digits(info.in);
  const int out_digits = hex_digits(info.out);
  const std::size_t n_fields = static_cast<std::size_t>(info.operands) + 2;
  static constexpr const char* kOperandNames[] = {"operand A", "operand B", "operand C"};

  VectorCheckResult result;
  std::string line;
  std::uint64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto fields = split_fields(line);
    if (fields.size() != n_fields)
      throw std::invalid_argument(fmt::format(
          "line {}: {} needs {} fields ({}RESULT FLAGS), found {}: '{}'", line_no, op, n_fields,
          info.operands == 1 ? "A " : (info.operands == 2 ? "A B " : "A B C "), fields.size(),
          line.size() > 48 ? line.substr(0, 48) + "…" : line));
    std::uint64_t x[3] = {0, 0, 0};
    for (int i = 0; i < info.operands; ++i)
      x[i] = parse_hex(fields[static_cast<std::size_t>(i)], in_digits, line_no, kOperandNames[i]);
    const std::uint64_t want = parse_hex(fields[n_fields - 2], out_digits, line_no, "result");
    const std::uint64_t want_flags = parse_hex(fields[n_fields - 1], 2, line_no, "flags");
    if (want_flags & ~std::uint64_t{0x1F})
      throw std::invalid_argument(fmt::format(
          "line {}: flags '{}' has bits outside 1F (01 inexact, 02 underflow, 04 overflow, "
          "08 infinite, 10 invalid)",
          line_no, fields[n_fields - 1]));

    Rounded got;
    switch (info.kind) {
      case OpKind::add:
        got = add(info.in, x[0], x[1], r);
        break;
      case OpKind::sub:
        got = sub(info.in, x[0], x[1], r);
        break;
      case OpKind::mul:
        got = mul(info.in, x[0], x[1], r);
        break;
      case OpKind::mul_add:
        got = fma(info.in, x[0], x[1], x[2], r);
        break;
      case OpKind::convert:
        got = convert(info.in, x[0], info.out, r);
        break;
    }
    const bool code_ok =
        got.code == want || (!exact_nan && classify(info.out, got.code) == Class::nan &&
                             classify(info.out, want) == Class::nan);
    if (code_ok && got.flags == want_flags) {
      ++result.passed;
      continue;
    }
    ++result.failed;
    if (result.mismatches.size() < max_report)
      result.mismatches.push_back(
          VectorMismatch{line_no, line, show(info.out, want, static_cast<Flags>(want_flags)),
                         show(info.out, got.code, got.flags)});
  }
  return result;
}

}  // namespace fp8sim
