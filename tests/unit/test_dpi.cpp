// tests/unit/test_dpi.cpp — libfp8sim_dpi.so through its C ABI (sim/dpi/fp8sim_dpi.h):
// fp8sim_mac_step equals the mac-step vectors, fp8sim_dot_* equals mac_dot and the dot
// vectors, fp8sim_quantize equals the quantize vectors, on random cases; bad arguments give 0
// or NULL and a message, never an exception.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "sim/dpi/fp8sim_dpi.h"
#include "sim/mac.hpp"
#include "sim/vectors/vectors.hpp"

namespace {

namespace v = fp8sim::vectors;

struct Unit {
  void* h;
  explicit Unit(const char* spec) : h(fp8sim_mac_new(spec)) {}
  ~Unit() { fp8sim_mac_free(h); }
  Unit(const Unit&) = delete;
  Unit& operator=(const Unit&) = delete;
};

std::uint32_t packed_random(const v::Spec& s, const v::Case& c) {
  std::uint32_t bits = 0;
  int at = 0;
  const auto steps = v::random_steps(s);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    bits |= c.random[i] << at;
    at += steps[i].bits;
  }
  return bits;
}

}  // namespace

TEST_CASE("dpi: fp8sim_mac_step equals the mac-step vectors") {
  for (const char* spec : {"mellempudi2019", "ab=e4m3fn,acc=fp32,round=rne",
                           "ab=e5m2,acc=fp16,round=rtz", "ab=e5m2,acc=bf16,round=sr:8",
                           "ab=e5m2,acc=bf16,round=sr:8,prod=e5m7,prod_round=sr:4,ftz=1",
                           "tensorcore-v100", "fp8-tensorcore"}) {
    INFO(spec);
    Unit u(spec);
    REQUIRE(u.h != nullptr);
    v::Spec s;
    s.kind = v::Kind::mac_step;
    s.mac = fp8sim::parse_mac(spec);
    s.seed = 3;
    CHECK(fp8sim_mac_width(u.h, "random") == [&] {
      std::uint32_t b = 0;
      for (const auto& r : v::random_steps(s)) b += static_cast<std::uint32_t>(r.bits);
      return b;
    }());
    v::GenOptions o;
    o.count = 2000;
    o.corners = true;
    (void)v::generate(s, o, [&](const v::Case& c) {
      std::uint32_t flags = 0xFF;
      const std::uint64_t r =
          fp8sim_mac_step(u.h, c.c, c.a[0], c.b[0], packed_random(s, c), &flags);
      CHECK(std::string(fp8sim_last_error()).empty());
      CHECK(r == c.result);
      CHECK(flags == c.flags);
    });
  }
}

TEST_CASE("dpi: fp8sim_dot_* equals mac_dot and the dot vectors") {
  for (const char* spec :
       {"mellempudi2019", "tensorcore-v100", "fp8-tensorcore", "wang2018",
        "ab=e5m2,acc=bf16,round=sr:8,out=e5m2,out_round=sr:4", "h100-e4m3-fp16"}) {
    INFO(spec);
    Unit u(spec);
    REQUIRE(u.h != nullptr);
    v::Spec s;
    s.kind = v::Kind::dot;
    s.mac = fp8sim::parse_mac(spec);
    s.terms = v::natural_terms(s.mac);
    s.seed = 11;
    v::GenOptions o;
    o.count = 200;
    std::uint64_t index = 0;
    (void)v::generate(s, o, [&](const v::Case& c) {
      fp8sim_dot_begin(u.h, c.c, 1, s.seed, index);
      for (std::size_t k = 0; k < c.a.size(); ++k) fp8sim_dot_push(u.h, c.a[k], c.b[k]);
      std::uint32_t flags = 0;
      const std::uint64_t r = fp8sim_dot_end(u.h, &flags);
      CHECK(r == c.result);
      CHECK(flags == c.flags);
      const fp8sim::MacResult m = fp8sim::mac_dot(s.mac, c.a, c.b, c.c, s.seed, index);
      CHECK(r == m.code);
      CHECK(flags == m.flags);
      ++index;
    });
    // without C
    fp8sim_dot_begin(u.h, 0, 0, 5, 6);
    fp8sim_dot_push(u.h, fp8sim::parse_mac(spec).a.max_finite_code(), 0);
    std::uint32_t flags = 0;
    const std::uint64_t r = fp8sim_dot_end(u.h, &flags);
    const std::uint64_t a[] = {s.mac.a.max_finite_code()}, b[] = {0};
    const fp8sim::MacResult m = fp8sim::mac_dot(s.mac, a, b, std::nullopt, 5, 6);
    CHECK(r == m.code);
    CHECK(flags == m.flags);
  }
}

TEST_CASE("dpi: fp8sim_quantize equals the quantize vectors") {
  for (auto [format, rounding] : {std::pair{"e4m3fn", "rne"},
                                  {"e5m2", "sr:8"},
                                  {"fp16", "rtz"},
                                  {"e2m1", "rna"},
                                  {"bf16", "sr:3"}}) {
    INFO(format << " " << rounding);
    v::Spec s;
    s.kind = v::Kind::quantize;
    s.format = fp8sim::parse_format(format);
    s.round = fp8sim::parse_rounding(rounding);
    s.seed = 2;
    v::GenOptions o;
    o.count = 2000;
    o.corners = true;
    (void)v::generate(s, o, [&](const v::Case& c) {
      std::uint32_t flags = 0;
      const std::uint64_t r =
          fp8sim_quantize(format, rounding, c.a[0], c.random.empty() ? 0 : c.random[0], &flags);
      CHECK(r == c.result);
      CHECK(flags == c.flags);
    });
  }
  std::uint32_t flags = 0;
  // 2^-10 into e4m3fn (min normal 2^-6) with tininess before and ftz: flushed
  CHECK(fp8sim_quantize("e4m3fn", "rne,tininess=before,ftz=1", 0x3F50000000000000ull, 0, &flags) ==
        0);
  CHECK(flags == (fp8sim::kUnderflow | fp8sim::kInexact));
}

TEST_CASE("dpi: bad arguments give 0 or NULL and a message") {
  std::uint32_t flags = 7;
  CHECK(fp8sim_mac_new("nosuch") == nullptr);
  CHECK(std::string(fp8sim_last_error()).find("unknown preset 'nosuch'") != std::string::npos);
  CHECK(fp8sim_mac_new(nullptr) == nullptr);
  CHECK(fp8sim_mac_step(nullptr, 0, 0, 0, 0, &flags) == 0);
  CHECK(flags == 0);
  CHECK(std::string(fp8sim_last_error()).find("NULL") != std::string::npos);
  Unit u("mellempudi2019");
  CHECK(fp8sim_mac_step(u.h, 0, 0x100, 0x3C, 0, &flags) == 0);
  CHECK(std::string(fp8sim_last_error()).find("does not fit the 8 bits of e5m2") !=
        std::string::npos);
  CHECK(fp8sim_mac_width(u.h, "nosuch") == 0);
  CHECK(fp8sim_mac_width(u.h, "acc") == 32);
  CHECK(std::string(fp8sim_last_error()).empty());
  CHECK(fp8sim_dot_end(u.h, &flags) == 0);
  CHECK(std::string(fp8sim_last_error()).find("without fp8sim_dot_begin") != std::string::npos);
  fp8sim_dot_push(u.h, 0x3C, 0x3C);
  CHECK(std::string(fp8sim_last_error()).find("without fp8sim_dot_begin") != std::string::npos);
  CHECK(fp8sim_quantize("e99m2", "rne", 0, 0, &flags) == 0);
  CHECK(!std::string(fp8sim_last_error()).empty());
  CHECK(fp8sim_quantize("e4m3fn", "rne,nosuch", 0, 0, &flags) == 0);
  CHECK(std::string(fp8sim_last_error()).find("unknown option") != std::string::npos);
  CHECK(std::string(fp8sim_mac_spec(u.h)) ==
        fp8sim::to_string(fp8sim::parse_mac("mellempudi2019")));
  CHECK(fp8sim_mac_new("ab=e5m2,acc=bf16,round=sr:24,prod=e5m7,prod_round=sr:16") == nullptr);
  CHECK(std::string(fp8sim_last_error()).find("random bits") != std::string::npos);
  fp8sim_mac_free(nullptr);
}
