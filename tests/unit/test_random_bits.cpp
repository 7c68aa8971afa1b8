// tests/unit/test_random_bits.cpp — the counter-based random bits.
#include <doctest/doctest.h>

#include <Random123/philox.h>

#include <array>

#include "rounding/random_bits.hpp"

using namespace fp8sim;

TEST_CASE("random_bits.known_answer_philox4x32_10") {
  // Random123's published known-answer vector: ctr = key = 0 ->
  // 6627e8d5 e169c58d bc57ac4c 9b00dbd8; element i uses word (i >> 4) & 3 of counter
  // ((i >> 6) << 4) | (i & 15).
  const RandomKey k{0, 0};
  CHECK(random_word(k, 0) == 0x6627e8d5u);
  CHECK(random_word(k, 16) == 0xe169c58du);
  CHECK(random_word(k, 32) == 0xbc57ac4cu);
  CHECK(random_word(k, 48) == 0x9b00dbd8u);
  CHECK(random_bits(k, 0, 8) == 0x66u);
}

TEST_CASE("random_bits.vectorised_group_equals_random123") {
  for (std::uint64_t seed : {0ull, 1ull, 0xdeadbeefcafef00dull}) {
    for (std::uint64_t stream : {0ull, 7ull, 0x123456789abcull}) {
      const RandomKey k{seed, stream};
      for (std::uint64_t group : {0ull, 1ull, 12345ull, (1ull << 40) + 3}) {
        std::array<std::uint32_t, 64> w{};
        random_group(k, group, w.data());
        for (std::uint64_t i = 0; i < 64; ++i) {
          CAPTURE(i);
          CHECK(w[i] == random_word(k, group * 64 + i));
        }
      }
    }
  }
}

TEST_CASE("random_bits.streams_and_seeds_differ") {
  int same_stream = 0, same_seed = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    same_stream += random_word({1, 0}, i) == random_word({1, 1}, i);
    same_seed += random_word({1, 0}, i) == random_word({2, 0}, i);
  }
  CHECK(same_stream < 3);
  CHECK(same_seed < 3);
}
