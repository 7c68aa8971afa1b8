// rounding/random_bits.cpp — Philox4x32-10 words keyed by (seed, stream, index).
#include "rounding/random_bits.hpp"

#include <Random123/philox.h>

namespace fp8sim {

namespace {

// Random123's Philox4x32-10 block of counter (ctr low, ctr high, stream low, stream high)
// under key (seed low, seed high).
r123::Philox4x32::ctr_type philox_block(const RandomKey& key, std::uint64_t ctr) {
  r123::Philox4x32 philox;
  const r123::Philox4x32::ctr_type c = {
      {static_cast<std::uint32_t>(ctr), static_cast<std::uint32_t>(ctr >> 32),
       static_cast<std::uint32_t>(key.stream), static_cast<std::uint32_t>(key.stream >> 32)}};
  const r123::Philox4x32::key_type k = {
      {static_cast<std::uint32_t>(key.seed), static_cast<std::uint32_t>(key.seed >> 32)}};
  return philox(c, k);
}

}  // namespace

std::uint32_t random_word(const RandomKey& key, std::uint64_t index) {
  return philox_block(key, ((index >> 6) << 4) | (index & 15))[(index >> 4) & 3];
}

std::uint32_t stream_word(const RandomKey& key, std::uint64_t w) {
  return philox_block(key, w >> 2)[w & 3];
}

namespace {

// Philox4x32-10 of 16 counters base | j (j = 0..15) under one key and stream, lane-wise so
// that GCC vectorises the 16 lanes (Random123's array types defeat its loop vectoriser).
// Word w of counter j goes to out[j + 16 * w] (Interleaved) or out[4 * j + w].
template <bool Interleaved>
[[gnu::always_inline]] inline void philox16_counters(const RandomKey& key, std::uint64_t base,
                                                     std::uint32_t* out) {
  const auto k0 = static_cast<std::uint32_t>(key.seed);
  const auto k1 = static_cast<std::uint32_t>(key.seed >> 32);
  const auto s0 = static_cast<std::uint32_t>(key.stream);
  const auto s1 = static_cast<std::uint32_t>(key.stream >> 32);
#pragma omp simd
  for (int j = 0; j < 16; ++j) {
    const std::uint64_t ctr = base | static_cast<std::uint64_t>(j);
    std::uint32_t x0 = static_cast<std::uint32_t>(ctr), x1 = static_cast<std::uint32_t>(ctr >> 32),
                  x2 = s0, x3 = s1, a = k0, b = k1;
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * x0;
      const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * x2;
      const std::uint32_t y0 = static_cast<std::uint32_t>(p1 >> 32) ^ x1 ^ a;
      const std::uint32_t y2 = static_cast<std::uint32_t>(p0 >> 32) ^ x3 ^ b;
      x1 = static_cast<std::uint32_t>(p1);
      x3 = static_cast<std::uint32_t>(p0);
      x0 = y0;
      x2 = y2;
      a += 0x9E3779B9u;
      b += 0xBB67AE85u;
    }
    if constexpr (Interleaved) {
      out[j] = x0;
      out[16 + j] = x1;
      out[32 + j] = x2;
      out[48 + j] = x3;
    } else {
      out[4 * j] = x0;
      out[4 * j + 1] = x1;
      out[4 * j + 2] = x2;
      out[4 * j + 3] = x3;
    }
  }
}

}  // namespace

// tests/unit/test_random_bits checks both against Random123 word for word.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void random_group(
    const RandomKey& key, std::uint64_t group, std::uint32_t* out) {
  philox16_counters<true>(key, group << 4, out);
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void stream_words64(
    const RandomKey& key, std::uint64_t g, std::uint32_t* out) {
  philox16_counters<false>(key, g << 4, out);
}

}  // namespace fp8sim
