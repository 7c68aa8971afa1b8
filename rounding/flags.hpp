// rounding/flags.hpp — IEEE-style exception flags, OR-ed up every pipeline.
// Bit values are those of Berkeley SoftFloat/TestFloat so vectors compare directly.
#pragma once

#include <cstdint>
#include <string>

namespace fp8sim {

enum Flag : std::uint8_t {
  kInexact = 0x01,
  kUnderflow = 0x02,
  kOverflow = 0x04,
  kInfinite = 0x08,  ///< division by zero (never raised by conversions or MACs)
  kInvalid = 0x10,
};

/// A set of Flag bits.
using Flags = std::uint8_t;

/// "inexact|underflow" (or "none").
std::string flags_to_string(Flags f);

}  // namespace fp8sim
