// rounding/random_bits.cpp — Philox4x32-10 words keyed by (seed, stream, index).
#include "rounding/random_bits.hpp"

#include <Random123/philox.h>

namespace fp8sim {

std::uint32_t random_word(const RandomKey& key, std::uint64_t index) {
  r123::Philox4x32 philox;
  const std::uint64_t ctr = ((index >> 6) << 4) | (index & 15);
  const r123::Philox4x32::ctr_type c = {
      {static_cast<std::uint32_t>(ctr), static_cast<std::uint32_t>(ctr >> 32),
       static_cast<std::uint32_t>(key.stream), static_cast<std::uint32_t>(key.stream >> 32)}};
  const r123::Philox4x32::key_type k = {
      {static_cast<std::uint32_t>(key.seed), static_cast<std::uint32_t>(key.seed >> 32)}};
  return philox(c, k)[(index >> 4) & 3];
}

// The same Philox4x32-10 rounds written lane-wise so that the compiler vectorises the 16
// lanes (Random123's array types defeat GCC's loop vectoriser). tests/unit/test_random_bits
// checks it equals Random123 word for word.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void random_group(
    const RandomKey& key, std::uint64_t group, std::uint32_t* out) {
  const auto k0 = static_cast<std::uint32_t>(key.seed);
  const auto k1 = static_cast<std::uint32_t>(key.seed >> 32);
  const auto s0 = static_cast<std::uint32_t>(key.stream);
  const auto s1 = static_cast<std::uint32_t>(key.stream >> 32);
  const std::uint64_t base = group << 4;
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
    out[j] = x0;
    out[16 + j] = x1;
    out[32 + j] = x2;
    out[48 + j] = x3;
  }
}

}  // namespace fp8sim
