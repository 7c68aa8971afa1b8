// rounding/random_bits.hpp — reproducible random bits for stochastic rounding.
//
// Every random word is a pure function of (seed, stream, index): Philox4x32-10
// (Random123) with key = (seed low 32, seed high 32) and counter
//   ctr = ( ((i >> 6) << 4) | (i & 15)  as 64 bits: low word, high word ; stream low ; stream high
//   )
// and the word taken is number (i >> 4) & 3 of the four Philox outputs. (One Philox block
// thus serves elements i, i+16, i+32, i+48 of a 64-element group, which lets the SIMD
// kernels draw 16 lanes at once.) An r-bit random integer is the top r bits of the word.
// The MAC unit's roundings instead walk a sequential stream (stream_word, packed_random_bits
// below), four words to a Philox block and several r-bit fields to a word.
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

/// Word w of the sequential stream of `key`: word w % 4 of the Philox4x32-10 block with
/// counter (w / 4 as 64 bits: low word, high word; stream low; stream high) and the key
/// above. Consecutive words come from the same block, so a consumer that walks the stream
/// in order needs one Philox evaluation per 4 words and no buffer beyond them.
[[nodiscard]] std::uint32_t stream_word(const RandomKey& key, std::uint64_t w);

/// Writes words 64*g .. 64*g+63 of the sequential stream to out[0..63]. Vectorised.
void stream_words64(const RandomKey& key, std::uint64_t g, std::uint32_t* out);

/// Random integers of r bits packed several to a word, for the roundings of a MAC unit (one
/// stream per output and rounding site, element i = step i): each word of the sequential
/// stream serves f = floor(32/r) consecutive elements, field j (0 = the top r bits) going
/// to element i with i / f = the word's index and i % f = j. An r-bit field of a Philox
/// word is as uniform and independent of the others as a whole word, and packing divides
/// the generator's cost by f (4 for r = 8).
[[nodiscard]] inline int random_fields_per_word(int r) {
  return 32 / r;
}
[[nodiscard]] inline std::uint32_t packed_random_bits(const RandomKey& key, std::uint64_t index,
                                                      int r) {
  const auto f = static_cast<std::uint64_t>(random_fields_per_word(r));
  const std::uint32_t w = stream_word(key, index / f);
  return (w << (r * static_cast<int>(index % f))) >> (32 - r);
}

/// Writes the 64 random words of group `group` (elements 64*group .. 64*group+63) to
/// out[0..63], in element order. Vectorised; equal to random_word for each element.
void random_group(const RandomKey& key, std::uint64_t group, std::uint32_t* out);

}  // namespace fp8sim
