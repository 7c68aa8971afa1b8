// cli/input_values.hpp — numbers from the command line, a file or stdin.
#pragma once

#include <string>
#include <vector>

namespace fp8sim::cli {

enum class InputKind { decimal, f32_bits, f64_bits };

/// Input numbers with their original spelling. Decimal numbers (also nan, inf, -inf and
/// C hex floats like 0x1.8p-3) are read as fp64, correctly rounded; f32-bits / f64-bits
/// are hex bit patterns (with or without 0x). Tokens are separated by whitespace or
/// commas; '#' starts a comment to the end of the line.
struct InputValues {
  std::vector<std::string> text;
  std::vector<double> f64;  ///< filled for decimal and f64-bits
  std::vector<float> f32;   ///< filled for f32-bits
  bool is_f32 = false;
};

/// Reads `values` (from the command line) and, if `file` is non-empty, the file ("-" =
/// stdin). Throws UsageError naming the bad token (and its line in a file) or the file.
InputValues read_inputs(const std::vector<std::string>& values, const std::string& file,
                        InputKind kind);

InputKind parse_input_kind(const std::string& s);

/// One decimal number (as above), refused when beyond binary64's range or when a nonzero
/// decimal would read as 0 (docs/cli-conventions.md). `where` ends the message
/// (" (line 3 of values.txt)", " in --a").
[[nodiscard]] double read_decimal(const std::string& tok, const std::string& where);

}  // namespace fp8sim::cli
