// tests/unit/test_random_bits.cpp — the counter-based random bits.
#include <doctest/doctest.h>

#include <Random123/philox.h>

#include <array>

#include "rounding/random_bits.hpp"

using namespace fp8sim;

TEST_CASE("random_bits.known_answer_philox4x32_10") {
  // Random123's published known-answer vector: ctr = key = 0 ->
  // 6627e8d5 e169c58d bc57ac4c 9b00dbd8. Element i uses word (i >> 4) & 3 of counter
  // ((i >> 6) << 4) | (i & 15); word w of the sequential stream is word w & 3 of block w >> 2.
  const RandomKey k{0, 0};
  const std::uint32_t kat[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
  for (std::uint64_t w = 0; w < 4; ++w) {
    CHECK(random_word(k, 16 * w) == kat[w]);
    CHECK(stream_word(k, w) == kat[w]);
  }
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

TEST_CASE("random_bits.sequential_stream_equals_random123") {
  for (std::uint64_t seed : {0ull, 1ull, 0xdeadbeefcafef00dull}) {
    for (std::uint64_t stream : {0ull, 7ull, (2ull << 56) | 0x123456789abcull}) {
      const RandomKey k{seed, stream};
      for (std::uint64_t g : {0ull, 1ull, 12345ull, (1ull << 40) + 3}) {
        std::array<std::uint32_t, 64> w{};
        stream_words64(k, g, w.data());
        for (std::uint64_t i = 0; i < 64; ++i) {
          CAPTURE(i);
          // block (64 g + i) / 4, word i % 4, straight from Random123
          r123::Philox4x32 philox;
          const std::uint64_t ctr = (64 * g + i) / 4;
          const r123::Philox4x32::ctr_type c = {
              {static_cast<std::uint32_t>(ctr), static_cast<std::uint32_t>(ctr >> 32),
               static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
          const r123::Philox4x32::key_type kk = {
              {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
          CHECK(w[i] == philox(c, kk)[i % 4]);
          CHECK(stream_word(k, 64 * g + i) == w[i]);
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

TEST_CASE("random_bits.packed_fields_come_from_the_top_of_each_word") {
  const RandomKey k{0x1234, 0x5678};
  for (int r : {1, 3, 5, 8, 11, 16, 17, 32}) {
    CAPTURE(r);
    const int f = 32 / r;
    CHECK(random_fields_per_word(r) == f);
    for (std::uint64_t i = 0; i < 300; ++i) {
      CAPTURE(i);
      // field j of word w, counted from the most significant bit
      const std::uint64_t w = i / static_cast<std::uint64_t>(f);
      const int j = static_cast<int>(i % static_cast<std::uint64_t>(f));
      const std::uint64_t word = stream_word(k, w);
      const std::uint64_t want = (word >> (32 - r * (j + 1))) & ((std::uint64_t{1} << r) - 1);
      CHECK(packed_random_bits(k, i, r) == want);
    }
    if (r > 16) CHECK(packed_random_bits(k, 123, r) == stream_word(k, 123) >> (32 - r));
  }
  // Random123's known answer (ctr = key = 0: first word 6627e8d5): r = 8 takes its bytes
  CHECK(packed_random_bits({0, 0}, 0, 8) == 0x66u);
  CHECK(packed_random_bits({0, 0}, 1, 8) == 0x27u);
  CHECK(packed_random_bits({0, 0}, 2, 8) == 0xe8u);
  CHECK(packed_random_bits({0, 0}, 3, 8) == 0xd5u);
}
