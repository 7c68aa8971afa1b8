// rounding/random_bits.hpp — reproducible random bits for stochastic rounding.
//
// Every random word is a pure function of (seed, stream, index): Philox4x32-10
// (Random123) with key = (seed low 32, seed high 32) and counter
//   ctr = ( ((i >> 6) << 4) | (i & 15)  as 64 bits: low word, high word ; stream low ; stream high
//   )
// and the word taken is number (i >> 4) & 3 of the four Philox outputs. (One Philox block
// thus serves elements i, i+16, i+32, i+48 of a 64-element group, which lets the SIMD
// kernels draw 16 lanes at once.) An r-bit random integer is the top r bits of the word.
// Results therefore never depend on thread count, tiling or call order.
#pragma once

#include <cstdint>

namespace fp8sim {

struct RandomKey {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;
};

/// The 32-bit random word of element `index` (Random123 Philox4x32-10, see above).
[[nodiscard]] std::uint32_t random_word(const RandomKey& key, std::uint64_t index);

/// The r-bit random integer (1 <= r <= 32) of element `index`: top r bits of random_word.
[[nodiscard]] inline std::uint32_t random_bits(const RandomKey& key, std::uint64_t index, int r) {
  return random_word(key, index) >> (32 - r);
}

/// Writes the 64 random words of group `group` (elements 64*group .. 64*group+63) to
/// out[0..63], in element order. Vectorised; equal to random_word for each element.
void random_group(const RandomKey& key, std::uint64_t group, std::uint32_t* out);

}  // namespace fp8sim
