// sim/testfloat_vectors.hpp — checks files in Berkeley TestFloat's testfloat_gen format
// against fp8sim: one case per line, upper-case hex operands, result and flags
// (`A B RESULT FLAGS`, `A B C RESULT FLAGS` for mulAdd, `A RESULT FLAGS` for conversions).
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "rounding/rounding_mode.hpp"

namespace fp8sim {

struct VectorMismatch {
  std::uint64_t line = 0;  ///< 1-based line number in the file
  std::string input;       ///< the line as read
  std::string expected;    ///< "RESULT FLAGS" from the file
  std::string got;         ///< "RESULT FLAGS" from fp8sim
};

struct VectorCheckResult {
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  std::vector<VectorMismatch> mismatches;  ///< the first `max_report` failures
};

/// Operation names accepted: {f16,f32,f64}_{add,sub,mul,mulAdd} and X_to_Y for X != Y in
/// {f16,f32,f64}.
[[nodiscard]] const std::vector<std::string>& testfloat_ops();

/// Checks every line of `in`. The rounding (mode and tininess) comes from `r`. NaN results
/// match any NaN unless `exact_nan`; flags must always match exactly. Throws
/// std::invalid_argument for an unknown op (listing the allowed ones) or a malformed line
/// (naming the line number and what is wrong).
[[nodiscard]] VectorCheckResult check_testfloat(std::istream& in, std::string_view op,
                                                const RoundSpec& r, bool exact_nan,
                                                std::size_t max_report = 20);

}  // namespace fp8sim
