// tests/unit/test_gemm.cpp — the GEMM engine's fast kernels against the reference MAC
// model (mac_dot per output): codes, flags and counts, bit for bit; any thread count and
// tile size; convolution lowering.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <ios>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rounding/rounding.hpp"
#include "sim/gemm.hpp"
#include "sim/gemm_operand.hpp"

using namespace fp8sim;

namespace {

// Random finite codes of f: values spread over many binades (log-normal magnitudes),
// some exact zeros and subnormals.
std::vector<std::uint64_t> random_codes(const Format& f, std::size_t n, std::uint64_t seed,
                                        double sigma = 3.0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> e(0.0, sigma);
  std::uniform_int_distribution<int> pick(0, 19);
  std::uniform_int_distribution<std::uint64_t> raw(0, f.code_mask());
  std::vector<std::uint64_t> v(n);
  for (auto& c : v) {
    const int k = pick(g);
    if (k == 0) {
      c = zero_code(f, g() & 1);
    } else if (k == 1) {  // any finite encoding, subnormals included
      do c = raw(g);
      while (classify(f, c) == Class::nan || classify(f, c) == Class::infinite);
    } else {
      const double x = std::exp2(e(g)) * ((g() & 1) ? -1 : 1);
      c = from_double(x, f, RoundSpec{}).code;
      if (classify(f, c) == Class::nan || classify(f, c) == Class::infinite)
        c = max_finite_code_signed(f, x < 0);
    }
  }
  return v;
}

// Codes of standard normal values (typical activations and weights).
std::vector<std::uint64_t> normal_codes(const Format& f, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<std::uint64_t> v(n);
  for (auto& c : v) c = from_double(d(g), f, RoundSpec{}).code;
  return v;
}

void check_same(const GemmResult& fast, const GemmResult& ref, const MacConfig& m) {
  REQUIRE(fast.codes.size() == ref.codes.size());
  std::size_t bad = 0;
  for (std::size_t o = 0; o < ref.codes.size() && bad < 5; ++o) {
    if (fast.codes[o] != ref.codes[o] || fast.flags[o] != ref.flags[o]) {
      ++bad;
      FAIL_CHECK(to_string(m) << " output " << o << ": kernel " << fast.kernel << " code 0x"
                              << std::hex << fast.codes[o] << " flags " << int(fast.flags[o])
                              << ", reference code 0x" << ref.codes[o] << " flags "
                              << int(ref.flags[o]));
    }
  }
  CHECK(bad == 0);
  CHECK(fast.counts.steps == ref.counts.steps);
  CHECK(fast.counts.inexact == ref.counts.inexact);
  CHECK(fast.counts.underflow == ref.counts.underflow);
  CHECK(fast.counts.overflow == ref.counts.overflow);
  CHECK(fast.counts.swamped == ref.counts.swamped);
  CHECK(fast.counts.carry_overflow == ref.counts.carry_overflow);
}

const char* kConfigs[] = {
    "fp32-fma",
    "ab=e4m3fn,acc=fp32,round=rne",
    "ab=fp16,acc=fp32,round=rne,c=fp32",
    "ab=e5m2,acc=fp16,round=rne",
    "ab=e5m2,acc=fp16,round=rtz",
    "ab=e5m2,acc=fp16,round=rup",
    "ab=e5m2,acc=fp16,round=rdn",
    "ab=e5m2,acc=fp16,round=rna",
    "ab=e5m2,acc=fp16,round=rto",
    "ab=e5m2,acc=bf16,round=sr:8",
    "ab=e4m3fn,acc=bf16,round=sr:1",
    "ab=e4m3fn,acc=fp16,round=sr:13,tininess=before",
    "ab=e5m2,acc=e5m7,round=rne,ftz=1",
    "ab=e5m2,acc=e5m7-sat,round=rne",
    "ab=e5m2,acc=e5m2,round=rne",
    "ab=e5m2,acc=e4m3fn,round=rne",
    "ab=e5m2,acc=fp32,round=rtz",
    "ab=bf16,acc=fp32,round=rne",
    "ab=bf16,acc=bf16,round=sr:16",
    "ab=e5m2,acc=fp32,round=sr:20",
    "wang2018",
    "ab=e5m2,acc=fp16,round=rne,struct=chunked:16:fp32:rne",
    "ab=e5m2,acc=fp16,round=sr:8,struct=chunked:7:bf16:sr:4",
    "tensorcore-v100",
    "fp8-tensorcore",
    "ab=e4m3fn,acc=bf16,round=sr:8,struct=multiterm:4:13:2",
    "ab=e5m2,acc=fp16,round=rne,struct=multiterm:8:10:1",
    "ab=e5m2,acc=fp32,round=rne,struct=multiterm:3:30:3,chunk=10,outer=fp32",
    "ab=e5m2,acc=fp32,round=rne,prod=e5m2,prod_round=rne",
    "ab=e4m3fn,acc=fp16,round=rne,prod=fp16,prod_round=sr:8",
    "ab=e5m2,acc=fp32,round=rne,out=e5m2,out_round=sr:8",
    "mellempudi2019",
    "ab=e5m2,acc=fp16,round=rne,ftz_in=1",
};

// The binary32 narrow-accumulator kernel needs AVX-512 (embedded rounding); FP8SIM_ISA
// can lower the level (the unit-avx2 and unit-x86-64 test runs).
bool avx512() {
  return simd_isa_level() >= 4;
}

// An AVX-512 kernel against the reference model: each config picks `kernel` (on AVX-512
// machines); wide-ranged inputs (many lanes handed to the general path) and typical ones
// (the kernel's own lanes), flags on and off, 2 threads.
template <std::size_t NS>
void check_wide_kernel(const char* (&specs)[NS], const std::string& kernel, std::size_t M,
                       std::size_t N, std::size_t K, std::uint64_t seed) {
  for (const char* spec_c : specs) {
    const std::string spec = spec_c;
    CAPTURE(spec);
    const MacConfig m = parse_mac(spec);
    if (avx512()) CHECK(gemm_kernel_name(m) == kernel);
    for (double sigma : {1.0, 4.0}) {
      CAPTURE(sigma);
      const auto A = random_codes(m.a, M * K, seed, sigma);
      const auto B = random_codes(m.b, K * N, seed + 1, sigma);
      const Format& cf = m.c ? *m.c : m.acc;
      const auto C = random_codes(cf, M * N, seed + 2, sigma);
      GemmOptions ref;
      ref.allow_fast = false;
      ref.seed = 77;
      GemmOptions fast = ref;
      fast.allow_fast = true;
      fast.threads = 2;
      fast.fit_threads = false;
      const GemmResult rf = gemm(m, M, N, K, A, B, C, ref);
      check_same(gemm(m, M, N, K, A, B, C, fast), rf, m);
      fast.flags = false;
      CHECK(gemm(m, M, N, K, A, B, C, fast).codes == rf.codes);
    }
    // typical data (normal values): the kernel's own lanes do nearly all of the work
    const auto A = normal_codes(m.a, M * K, seed + 3), B = normal_codes(m.b, K * N, seed + 4);
    GemmOptions ref;
    ref.allow_fast = false;
    const GemmResult rf = gemm(m, M, N, K, A, B, {}, ref);
    const GemmResult ff = gemm(m, M, N, K, A, B, {}, {});
    check_same(ff, rf, m);
    if (avx512()) CHECK(ff.slow_outputs <= M * N / 8);
    // and without flags (some kernels take other forms then)
    GemmOptions nf;
    nf.flags = false;
    const GemmResult fn = gemm(m, M, N, K, A, B, {}, nf);
    CHECK(fn.codes == rf.codes);
    if (avx512()) CHECK(fn.slow_outputs <= M * N / 8);
  }
}

}  // namespace

TEST_CASE("gemm.fast_kernels_equal_reference_model") {
  const std::size_t M = 5, N = 70, K = 45;  // N >= 32 reaches the 4-vector fast loop
  for (const char* spec_c : kConfigs) {
    const std::string spec = spec_c;
    CAPTURE(spec);
    const MacConfig m = parse_mac(spec);
    const auto A = random_codes(m.a, M * K, 1);
    const auto B = random_codes(m.b, K * N, 2);
    const Format& cf = m.c ? *m.c : m.acc;
    for (bool with_c : {false, true}) {
      const auto C = with_c ? random_codes(cf, M * N, 3) : std::vector<std::uint64_t>{};
      GemmOptions fast;
      fast.seed = 99;
      fast.threads = 2;
      fast.fit_threads = false;
      GemmOptions ref = fast;
      ref.allow_fast = false;
      const GemmResult rf = gemm(m, M, N, K, A, B, C, ref);
      const GemmResult ff = gemm(m, M, N, K, A, B, C, fast);
      CHECK(rf.kernel == "reference");
      check_same(ff, rf, m);
    }
  }
}

TEST_CASE("gemm.long_reductions_cross_k_blocks") {
  // K beyond the fp32 kernel's k-block (256) and an N with ragged edges
  for (const char* spec :
       {"fp32-fma", "ab=e4m3fn,acc=fp32,c=fp32", "ab=e5m2,acc=fp16,round=sr:8"}) {
    CAPTURE(std::string(spec));
    const MacConfig m = parse_mac(spec);
    const std::size_t M = 11, N = 37, K = 600;
    const auto A = random_codes(m.a, M * K, 21, 1.0);
    const auto B = random_codes(m.b, K * N, 22, 1.0);
    const Format& cf = m.c ? *m.c : m.acc;
    const auto C = random_codes(cf, M * N, 23, 1.0);
    GemmOptions ref;
    ref.allow_fast = false;
    ref.seed = 5;
    GemmOptions fast;
    fast.seed = 5;
    check_same(gemm(m, M, N, K, A, B, C, fast), gemm(m, M, N, K, A, B, C, ref), m);
  }
}

TEST_CASE("gemm.negative_zeros_keep_their_sign") {
  // -0 * x + -0 stays -0 in every kernel (a broadcast must not add +0)
  for (const char* spec :
       {"fp32-fma", "ab=e5m2,acc=fp16", "ab=e5m2,acc=bf16,round=sr:8", "tensorcore-v100"}) {
    CAPTURE(std::string(spec));
    const MacConfig m = parse_mac(spec);
    const std::size_t M = 9, N = 40, K = 3;
    std::vector<std::uint64_t> A(M * K, zero_code(m.a, true)), B(K * N);
    for (auto& b : B) b = from_double(1.5, m.b, {}).code;
    const Format& cf = m.c ? *m.c : m.acc;
    const std::vector<std::uint64_t> C(M * N, zero_code(cf, true));
    GemmOptions ref;
    ref.allow_fast = false;
    const GemmResult f = gemm(m, M, N, K, A, B, C, {});
    check_same(f, gemm(m, M, N, K, A, B, C, ref), m);
    CHECK(sign_of(result_format(m), f.codes[0]));
  }
}

TEST_CASE("gemm.fp32_overflow_outputs_match_the_reference") {
  // C at max finite plus positive products overflows mid-chain in some outputs: those go
  // back through the reference model, flags and counts included.
  // (a format with a large exponent range, so that products reach the top of binary32)
  const MacConfig m = parse_mac("a=e7m2b20,b=e5m2,acc=fp32,round=rne");
  const std::size_t M = 4, N = 40, K = 20;
  std::vector<std::uint64_t> A(M * K, from_double(0x1p100, m.a, {}).code), B(K * N);
  for (std::size_t x = 0; x < B.size(); ++x) B[x] = from_double(x % 3 ? 2048 : -2048, m.b, {}).code;
  std::vector<std::uint64_t> C(M * N, from_double(1.0, m.acc, {}).code);
  for (std::size_t o = 0; o < C.size(); o += 3) C[o] = m.acc.max_finite_code();
  GemmOptions ref;
  ref.allow_fast = false;
  const GemmResult f = gemm(m, M, N, K, A, B, C, {});
  CHECK(f.kernel == "fp32-fma");
  check_same(f, gemm(m, M, N, K, A, B, C, ref), m);
  CHECK(f.counts.overflow > 0);
}

TEST_CASE("gemm.kernels_every_edge_of_their_blocks") {
  // the register blocks (8-16 rows x one or two vectors), packed panels, zero-padded edges
  // and k-blocks of 256 of the binary32 FMA kernel and of the narrow-accumulator kernel
  // (fp16 rne; wang2018's chunks of 64 into fp32): shapes around every boundary, with C and
  // flags, against the reference model
  for (const char* spec : {"ab=e5m2,acc=fp32,round=rne", "ab=e5m2,acc=fp16", "wang2018"}) {
    CAPTURE(std::string(spec));
    const MacConfig m = parse_mac(spec);
    const Format& cf = m.c ? *m.c : m.acc;
    std::uint64_t seed = 40;
    for (const std::size_t M : {1, 9, 17})
      for (const std::size_t N : {1, 8, 16, 17, 33, 47})
        for (const std::size_t K : {1, 17, 257}) {
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          const auto A = random_codes(m.a, M * K, ++seed, 1.5);
          const auto B = random_codes(m.b, K * N, ++seed, 1.5);
          const auto C = random_codes(cf, M * N, ++seed, 1.5);
          GemmOptions ref;
          ref.allow_fast = false;
          const GemmResult rf = gemm(m, M, N, K, A, B, C, ref);
          GemmOptions fast;
          fast.threads = 2;
          const GemmResult ff = gemm(m, M, N, K, A, B, C, fast);
          CHECK(ff.kernel == gemm_kernel_name(m));
          check_same(ff, rf, m);
          fast.flags = false;
          CHECK(gemm(m, M, N, K, A, B, C, fast).codes == rf.codes);
          const GemmResult r0 = gemm(m, M, N, K, A, B, {}, ref);
          CHECK(gemm(m, M, N, K, A, B, {}, fast).codes == r0.codes);
        }
  }
}

TEST_CASE("gemm.f32_fused_path_writes_fma_results_in_place_and_handles_overflow") {
  // gemm_f32 lets the FMA kernel write its binary32 results straight into C; an output that
  // overflows mid-chain still comes out as the reference model's (Inf), with its flags
  // (a format with a large exponent range, so that products reach the top of binary32)
  const MacConfig m = parse_mac("a=e7m2b20,b=e5m2,acc=fp32,round=rne");
  const std::size_t M = 3, N = 20, K = 64;
  const auto amax = static_cast<float>(to_double(m.a, m.a.max_finite_code()));  // 1.75 * 2^106
  std::vector<float> A(M * K, amax), B(K * N, 1.0f);
  for (std::size_t k = 0; k < K; ++k) B[k * N + 5] = 57344.0f;  // output (i, 5) overflows
  for (std::size_t k = 0; k < K; ++k) B[k * N + 6] = k % 2 ? -57344.0f : 57344.0f;  // cancels
  std::vector<std::uint64_t> ca(A.size()), cb(B.size());
  for (std::size_t x = 0; x < A.size(); ++x) ca[x] = from_double(A[x], m.a, {}).code;
  for (std::size_t x = 0; x < B.size(); ++x) cb[x] = from_double(B[x], m.b, {}).code;
  for (const bool flags : {false, true}) {
    CAPTURE(flags);
    GemmOptions go;
    go.flags = flags;
    std::vector<float> C(M * N, -1.0f);
    const GemmF32Result r = gemm_f32(m, M, N, K, A, nullptr, B, nullptr, C, go);
    CHECK(r.kernel == "fp32-fma");
    CHECK(r.slow_outputs == M);  // the overflowed ones
    GemmOptions ref;
    ref.allow_fast = false;
    ref.flags = flags;
    const GemmResult want = gemm(m, M, N, K, ca, cb, {}, ref);
    for (std::size_t o = 0; o < M * N; ++o) {
      CAPTURE(o);
      CHECK(std::bit_cast<std::uint32_t>(C[o]) == want.codes[o]);
    }
    CHECK(std::isinf(C[5]));
    CHECK(C[6] == 0.0f);
    CHECK(C[0] == 64 * amax);
    if (flags) {
      CHECK(r.flags == want.flags);
      CHECK(r.counts.overflow == want.counts.overflow);
      CHECK(r.counts.inexact == want.counts.inexact);
      CHECK(r.counts.overflow > 0);
    }
  }
}

TEST_CASE("gemm.f32_unchecked_inputs_give_the_same_bits") {
  // check_inputs = false (a caller that vouches for its values) skips the pass, not the
  // semantics: the same values, flags and counts, NaN and Inf inputs included
  for (const char* spec : {"mellempudi2019", "ab=e5m2,acc=fp32,round=rne", "ab=e5m2,acc=fp16"}) {
    CAPTURE(spec);
    const MacConfig m = parse_mac(spec);
    const std::size_t M = 7, N = 19, K = 33;
    const auto ca = random_codes(m.a, M * K, 61, 2.0), cb = random_codes(m.b, K * N, 62, 2.0);
    std::vector<float> A(ca.size()), B(cb.size());
    for (std::size_t x = 0; x < A.size(); ++x) A[x] = static_cast<float>(to_double(m.a, ca[x]));
    for (std::size_t x = 0; x < B.size(); ++x) B[x] = static_cast<float>(to_double(m.b, cb[x]));
    A[3] = std::numeric_limits<float>::infinity();
    B[40] = std::numeric_limits<float>::quiet_NaN();
    for (const bool flags : {false, true}) {
      GemmOptions checked;
      checked.flags = flags;
      GemmOptions trusted = checked;
      trusted.check_inputs = false;
      std::vector<float> C1(M * N), C2(M * N);
      const GemmF32Result r1 = gemm_f32(m, M, N, K, A, nullptr, B, nullptr, C1, checked);
      const GemmF32Result r2 = gemm_f32(m, M, N, K, A, nullptr, B, nullptr, C2, trusted);
      CHECK(std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(float)) == 0);
      CHECK(r1.flags == r2.flags);
      CHECK(r1.counts.inexact == r2.counts.inexact);
      CHECK(r1.counts.steps == r2.counts.steps);
      CHECK(r1.kernel == r2.kernel);
      CHECK(!std::isfinite(C1[0]));      // row 0 met the Inf (A[3])
      CHECK(std::isnan(C1[1 * N + 2]));  // column 2 met the NaN (B[40]: k = 2, j = 2)
    }
  }
}

TEST_CASE("gemm.threads_chosen_from_the_work") {
  // a small GEMM gets fewer threads than it may use, never fewer than 1 or more than allowed
  CHECK(detail::threads_for_work(8, 100, 1 << 21) == 1);
  CHECK(detail::threads_for_work(8, 3.5 * (1 << 21), 1 << 21) == 3);
  CHECK(detail::threads_for_work(2, 1e12, 1 << 21) == 2);
  CHECK(detail::threads_for_work(1, 1e12, 1 << 21) == 1);
  CHECK(detail::threads_for_work(4, 0, 1 << 17) == 1);
}

TEST_CASE("gemm.kernel_choice") {
  // the binary32 kernel: AVX-512 (any structure it takes), AVX2 (sequential only)
  const std::string narrow = simd_isa_level() >= 3 ? "emulated-fp32" : "emulated";
  const std::string narrow_chunked = avx512() ? "emulated-fp32" : "emulated";
  CHECK(gemm_kernel_name(parse_mac("fp32-fma")) == "fp32-fma");
  CHECK(gemm_kernel_name(parse_mac("ab=e5m2,acc=fp16")) == narrow);
  CHECK(gemm_kernel_name(parse_mac("ab=e5m2,acc=bf16,round=sr:8")) == narrow);
  CHECK(gemm_kernel_name(parse_mac("wang2018")) == narrow_chunked);
  CHECK(gemm_kernel_name(parse_mac("ab=e5m2,acc=fp16,round=rtz")) == "emulated");
  CHECK(gemm_kernel_name(parse_mac("ab=e5m2,acc=bf16,round=sr:16")) == "emulated");  // m+r > 22
  CHECK(gemm_kernel_name(parse_mac("ab=bf16,acc=bf16,round=rne")) == "emulated");    // products
  CHECK(gemm_kernel_name(parse_mac("tensorcore-v100")) ==
        (avx512() ? "multiterm-fp32" : "multiterm"));
  CHECK(gemm_kernel_name(parse_mac("ab=e5m2,acc=fp32,struct=pairwise")) == "reference");
}

TEST_CASE("gemm.same_result_for_any_threads_and_tiles") {
  // (the FMA kernel: tiles of 8 and 16 rows read A from the engine's packed row blocks, of 1
  // and 5 rows pack their own; K crosses its 256-step k-blocks)
  for (const char* spec : {"ab=e5m2,acc=bf16,round=sr:8", "ab=e5m2,acc=fp32,round=rne"}) {
    CAPTURE(std::string(spec));
    const MacConfig m = parse_mac(spec);
    const std::size_t M = 33, N = 70, K = 300;
    const auto A = random_codes(m.a, M * K, 5);
    const auto B = random_codes(m.b, K * N, 6);
    for (bool flags : {true, false}) {
      CAPTURE(flags);
      GemmOptions o;
      o.seed = 3;
      o.threads = 1;
      o.flags = flags;
      o.fit_threads = false;  // exactly t threads, however small the GEMM
      const GemmResult base = gemm(m, M, N, K, A, B, {}, o);
      GemmOptions ref = o;
      ref.allow_fast = false;
      CHECK(gemm(m, M, N, K, A, B, {}, ref).codes == base.codes);
      for (int t : {2, 8}) {
        for (int tile : {1, 5, 8, 16, 64}) {
          o.threads = t;
          o.tile_m = tile;
          o.tile_n = tile * 3;
          CAPTURE(t);
          CAPTURE(tile);
          const GemmResult r = gemm(m, M, N, K, A, B, {}, o);
          CHECK(r.codes == base.codes);
          CHECK(r.flags == base.flags);
        }
      }
    }
  }
}

TEST_CASE("gemm.special_inputs_and_lengths") {
  const MacConfig m = parse_mac("ab=e5m2,acc=fp16,round=rne");
  for (std::size_t K : {0u, 1u, 2u, 3u, 127u, 128u, 129u}) {
    CAPTURE(K);
    auto A = random_codes(m.a, 3 * K, 7);
    auto B = random_codes(m.b, K * 4, 8);
    if (K > 2) {
      A[1] = 0x7c;      // +Inf
      B[5] = 0x7e;      // NaN
      A[K + 1] = 0xfc;  // -Inf
    }
    GemmOptions ref;
    ref.allow_fast = false;
    const GemmResult rf = gemm(m, 3, 4, K, A, B, {}, ref);
    const GemmResult ff = gemm(m, 3, 4, K, A, B, {}, {});
    CHECK(ff.codes == rf.codes);
    CHECK(ff.flags == rf.flags);
  }
}

TEST_CASE("gemm.conv2d_equals_direct_dot_products") {
  const MacConfig m = parse_mac("ab=e4m3fn,acc=fp16,round=sr:8");
  Conv2dShape s;
  s.batch = 2;
  s.in_ch = 3;
  s.h = 7;
  s.w = 6;
  s.out_ch = 4;
  s.kh = 3;
  s.kw = 2;
  s.stride = 2;
  s.pad = 1;
  const auto in = random_codes(m.b, s.batch * s.in_ch * s.h * s.w, 9, 1.0);
  const auto wt = random_codes(m.a, s.out_ch * s.in_ch * s.kh * s.kw, 10, 1.0);
  GemmOptions o;
  o.seed = 4;
  const GemmResult r = conv2d(m, s, in, wt, o);
  const std::size_t oh = s.out_h(), ow = s.out_w();
  std::size_t checked = 0;
  for (std::size_t n = 0; n < s.batch; ++n)
    for (std::size_t oc = 0; oc < s.out_ch; ++oc)
      for (std::size_t y = 0; y < oh; ++y)
        for (std::size_t x = 0; x < ow; ++x) {
          std::vector<std::uint64_t> a, b;
          for (std::size_t c = 0; c < s.in_ch; ++c)
            for (std::size_t ky = 0; ky < s.kh; ++ky)
              for (std::size_t kx = 0; kx < s.kw; ++kx) {
                a.push_back(wt[((oc * s.in_ch + c) * s.kh + ky) * s.kw + kx]);
                const long iy = long(y * s.stride + ky) - long(s.pad);
                const long ix = long(x * s.stride + kx) - long(s.pad);
                const bool in_img = iy >= 0 && ix >= 0 && iy < long(s.h) && ix < long(s.w);
                b.push_back(
                    in_img ? in[((n * s.in_ch + c) * s.h + std::size_t(iy)) * s.w + std::size_t(ix)]
                           : 0);
              }
          const std::size_t o_idx = ((n * s.out_ch + oc) * oh + y) * ow + x;
          const MacResult d = mac_dot(m, a, b, std::nullopt, 4, o_idx);
          CHECK(r.codes[o_idx] == d.code);
          ++checked;
        }
  CHECK(checked == r.codes.size());
}

TEST_CASE("gemm.binary32_narrow_kernel_equals_reference_model") {
  // Every accumulator class of the binary32 kernel (fp16 by conversion, rne and sr on bits,
  // chunked with a binary32 / fp16 / narrow outer sum), flags on and off, typical inputs
  // (the kernel's own lanes) and wide ones (many lanes handed to the general path); K
  // crosses several 64-step random-bit groups; M and N leave ragged edges.
  const char* specs[] = {
      "ab=e5m2,acc=fp16,round=rne",
      "ab=e4m3fn,acc=fp16,round=rne,tininess=before",
      "ab=e5m2,acc=bf16,round=rne",
      "ab=e5m2,acc=e5m7,round=rne",
      "ab=e5m2,acc=e5m7-sat,round=rne",
      "ab=e5m2,acc=e6m9b20,round=rne",
      "ab=e5m2,acc=bf16,round=sr:8",
      "ab=e5m2,acc=fp16,round=sr:8",
      "ab=e4m3fn,acc=bf16,round=sr:15",
      "ab=e5m2,acc=fp16,round=sr:1,c=fp32",
      "wang2018",
      "ab=e5m2,acc=fp16,round=rne,struct=chunked:16:fp32:rne",
      "ab=e5m2,acc=bf16,round=sr:4,struct=chunked:50:fp32:rne",
      "ab=e5m2,acc=fp16,round=rne,struct=chunked:32:e6m12:rne",
  };
  check_wide_kernel(specs, "emulated-fp32", 9, 70, 150, 31);
}

TEST_CASE("gemm.binary32_narrow_kernel_sr_across_random_word_groups") {
  // sr packs floor(32/r) steps into each random word, 64 words to a Philox group: K = 700
  // crosses group boundaries for r = 8 (256 steps per group), 5 (6 fields, 384) and 3
  // (10 fields, 640), and ends in the middle of a word
  const char* specs[] = {
      "ab=e5m2,acc=bf16,round=sr:8",
      "ab=e5m2,acc=fp16,round=sr:5",
      "ab=e4m3fn,acc=bf16,round=sr:3",
  };
  check_wide_kernel(specs, "emulated-fp32", 9, 40, 700, 43);
}

TEST_CASE("gemm.binary32_narrow_kernel_without_range_checks") {
  // Without flags, a bf16 accumulator fed finite products that are multiples of 2^-126 and
  // |C| <= max finite runs with no per-step range checks (and, for sr:8, random fields moved
  // by a byte shuffle). Typical inputs; C of typical values, and C at +-max finite, whose
  // first steps overflow to Inf (stochastically) or stay at max finite.
  const char* specs[] = {
      "ab=e5m2,acc=bf16,round=sr:8",         // byte-shuffled fields
      "ab=e4m3fn,acc=bf16,round=sr:5",       // rotated fields
      "ab=e5m2,acc=bf16,round=rne",          // rne on bits
      "ab=e5m2,acc=bf16,round=sr:8,c=fp32",  // C wider than the accumulator
      "ab=e5m2,acc=bf16,round=sr:8,struct=chunked:64:fp32:rne",
  };
  const std::size_t M = 17, N = 40, K = 300;
  for (const char* spec_c : specs) {
    const std::string spec = spec_c;
    CAPTURE(spec);
    const MacConfig m = parse_mac(spec);
    if (avx512()) CHECK(gemm_kernel_name(m) == "emulated-fp32");
    const Format& cf = m.c ? *m.c : m.acc;
    const auto A = normal_codes(m.a, M * K, 51), B = normal_codes(m.b, K * N, 52);
    auto C = normal_codes(cf, M * N, 53);
    const double big = to_double(m.acc, m.acc.max_finite_code());
    for (std::size_t o = 0; o < M * N; o += 3) C[o] = from_double(o % 2 ? big : -big, cf, {}).code;
    for (bool with_c : {false, true}) {
      CAPTURE(with_c);
      GemmOptions ref;
      ref.allow_fast = false;
      ref.seed = 9;
      ref.flags = false;
      GemmOptions fast = ref;
      fast.allow_fast = true;
      const auto& c = with_c ? C : std::vector<std::uint64_t>{};
      const GemmResult rf = gemm(m, M, N, K, A, B, c, ref);
      const GemmResult ff = gemm(m, M, N, K, A, B, c, fast);
      CHECK(ff.codes == rf.codes);
      if (avx512()) CHECK(ff.slow_outputs <= M * N / 8);
    }
  }
}

TEST_CASE("gemm.narrow_kernel_steps_at_every_double_rounding_hazard") {
  // Without flags the narrow kernel may round each step's sum to nearest binary32 before
  // rounding it into the accumulator (gemm_choice.cpp: narrow_plain_ok). One step s + a*b
  // (K = 1, C = s) for every pair of 256 input codes, s placed where double rounding bites:
  // 9 to 26 binades above or below the product (the binary32 sum inexact, or just exact),
  // powers of two, midpoints and their neighbours. fp16 takes vcvtps2ph, bf16 and e5m7 the
  // integer rounding; fp16 inputs (22-bit products, the proof's condition fails) the
  // round-to-odd steps. Every code must equal the reference model's.
  const char* specs[] = {
      "ab=e5m2,acc=fp16,round=rne",        "ab=e4m3fn,acc=fp16,round=rne",
      "ab=e5m2,acc=bf16,round=rne",        "ab=e4m3fn,acc=bf16,round=rne",
      "ab=e5m2,acc=e5m7,round=rne",        "ab=fp16,acc=fp16,round=rne",
      "ab=e5m2,acc=fp16,round=rne,c=e5m2",
  };
  for (const char* spec_c : specs) {
    const std::string spec = spec_c;
    CAPTURE(spec);
    const MacConfig m = parse_mac(spec);
    if (avx512()) CHECK(gemm_kernel_name(m) == "emulated-fp32");
    std::mt19937_64 g(0x5eed);
    auto finite_codes = [&](const Format& f) {
      std::vector<std::uint64_t> all, pick;
      for (std::uint64_t c = 0; c <= f.code_mask(); ++c)
        if (classify(f, c) != Class::nan && classify(f, c) != Class::infinite) all.push_back(c);
      std::shuffle(all.begin(), all.end(), g);
      pick.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(
                                                 std::min<std::size_t>(256, all.size())));
      return pick;
    };
    const auto a = finite_codes(m.a), b = finite_codes(m.b);
    const std::size_t M = a.size(), N = b.size();
    const Format& cf = m.c ? *m.c : m.acc;
    std::uniform_int_distribution<int> off(9, 26), frac(0, (1 << cf.man_bits) - 1), kind(0, 3);
    for (int round = 0; round < 4; ++round) {
      std::vector<std::uint64_t> C(M * N);
      for (std::size_t i = 0; i < M; ++i)
        for (std::size_t j = 0; j < N; ++j) {
          const double p = to_double(m.a, a[i]) * to_double(m.b, b[j]);
          const int ep = p == 0 ? 0 : std::ilogb(p);
          const int d = (g() & 1) ? off(g) : -off(g);
          const double ulp = std::ldexp(1.0, -cf.man_bits);
          double sig = 1.0;
          switch (kind(g)) {
            case 0:
              sig = 1.0;
              break;  // a power of two
            case 1:
              sig = 1.0 + ulp * frac(g);
              break;  // any value
            case 2:
              sig = 2.0 - ulp;
              break;  // just below one
            default:
              sig = 1.0 + ulp * (frac(g) | 1);
              break;  // odd significand
          }
          const double s = std::ldexp(sig, ep + d) * ((g() & 1) ? -1 : 1);
          std::uint64_t c = from_double(s, cf, RoundSpec{}).code;
          if (classify(cf, c) == Class::nan || classify(cf, c) == Class::infinite)
            c = max_finite_code_signed(cf, s < 0);
          C[i * N + j] = c;
        }
      GemmOptions ref;
      ref.allow_fast = false;
      ref.flags = false;
      GemmOptions fast = ref;
      fast.allow_fast = true;
      const GemmResult rf = gemm(m, M, N, 1, a, b, C, ref);
      const GemmResult ff = gemm(m, M, N, 1, a, b, C, fast);
      std::size_t bad = 0;
      for (std::size_t o = 0; o < M * N; ++o)
        if (ff.codes[o] != rf.codes[o] && ++bad <= 3) {
          std::ostringstream msg;
          msg << std::hex << "a 0x" << a[o / N] << " b 0x" << b[o % N] << " c 0x" << C[o]
              << ": kernel 0x" << ff.codes[o] << ", reference 0x" << rf.codes[o];
          FAIL_CHECK(msg.str());
        }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("gemm.binary32_narrow_kernel_overflow_underflow_and_recovery") {
  // fp16 accumulators pushed past 65504 and back, and through the subnormal range; every
  // output still equals the reference, flags and counts included.
  for (const char* spec : {"ab=e5m2,acc=fp16,round=rne", "ab=e5m2,acc=e5m7,round=rne",
                           "ab=e5m2,acc=fp16,round=sr:8", "wang2018"}) {
    CAPTURE(std::string(spec));
    const MacConfig m = parse_mac(spec);
    const std::size_t M = 8, N = 32, K = 40;
    std::vector<std::uint64_t> A(M * K), B(K * N);
    for (std::size_t i = 0; i < M; ++i)
      for (std::size_t k = 0; k < K; ++k) {
        // rows 0-3: large values (overflow, then cancel back); rows 4-7: tiny values
        const double big = (k % 4 == 3) ? -240.0 : 224.0;
        const double tiny = (k % 3 == 0) ? -0x1p-14 : 0x1.8p-15;
        A[i * K + k] = from_double(i < 4 ? big : tiny, m.a, {}).code;
      }
    for (std::size_t x = 0; x < B.size(); ++x)
      B[x] = from_double((x % 5 == 0) ? 0x1p-3 : 160.0 + double(x % 7) * 16.0, m.b, {}).code;
    GemmOptions ref;
    ref.allow_fast = false;
    ref.seed = 3;
    GemmOptions fast;
    fast.seed = 3;
    const GemmResult rf = gemm(m, M, N, K, A, B, {}, ref);
    check_same(gemm(m, M, N, K, A, B, {}, fast), rf, m);
    fast.flags = false;
    CHECK(gemm(m, M, N, K, A, B, {}, fast).codes == rf.codes);
  }
}

TEST_CASE("gemm.multiterm_fp32_kernel_equals_reference_model") {
  // The AVX-512 multiterm kernel (binary32 accumulator, 4 or 8 terms): every mode it takes,
  // partial groups at the end of K and of chunks, chunked outer sums; flags, swamping and
  // carry counts; typical and wide inputs.
  const char* specs[] = {
      "tensorcore-v100",
      "fp8-tensorcore",
      "ab=e5m2,acc=fp32,round=rtz,struct=multiterm:4:24:2",
      "ab=e5m2,acc=fp32,round=rne,struct=multiterm:8:13:1",
      "ab=e4m3fn,acc=fp32,round=rup,struct=multiterm:4:3:0",
      "ab=e5m2,acc=fp32,round=rtz,struct=multiterm:4:24:2,chunk=6,outer=fp32,outer_round=rne",
      "ab=e5m2,acc=fp32,round=rne,struct=multiterm:8:40:3,c=fp32",
  };
  check_wide_kernel(specs, "multiterm-fp32", 7, 40, 150, 41);
  CHECK(gemm_kernel_name(parse_mac("ab=e5m2,acc=fp32,round=rdn,struct=multiterm:4:24:2")) ==
        "multiterm");
}

TEST_CASE("gemm.multiterm_int32_form_at_the_ends_of_binary32") {
  // The int32 form of the multiterm kernel (no flags) places terms by powers of two built
  // from the group's largest exponent E; both must be normal binary32, so lanes whose E is
  // below align - 126 (a tiny or subnormal accumulator met by zero products) or that
  // overflowed to Inf go to the general path. Rows of zero products over C of every binade
  // down to the subnormals, and rows of huge products over C near max finite.
  for (const char* spec_c : {"ab=e5m2,acc=fp32,round=rtz,struct=multiterm:4:24:2,c=fp32",
                             "ab=e5m2,acc=fp32,round=rne,struct=multiterm:8:13:1,c=fp32",
                             "ab=bf16,acc=fp32,round=rne,struct=multiterm:4:24:2,c=fp32"}) {
    const std::string spec = spec_c;
    CAPTURE(spec);
    const MacConfig m = parse_mac(spec);
    if (avx512()) CHECK(gemm_kernel_name(m) == "multiterm-fp32");
    const std::size_t M = 8, N = 32, K = 24;
    std::vector<std::uint64_t> A(M * K), B(K * N), C(M * N);
    const Format& f32 = *m.c;
    // the largest input whose products are normal binary32 values (the int32 form's data)
    const double big = m.a.exp_bits == 8 ? 0x1p63 : 57344.0;
    for (std::size_t i = 0; i < M; ++i)
      for (std::size_t k = 0; k < K; ++k) {
        // rows 0-1: zero products; rows 2-3: one small product, at k = 20; rows 4-7: big ones
        // (with bf16 inputs, sums over C near max finite that overflow to Inf)
        const double a = i < 2 ? 0.0 : i < 4 ? (k == 20 ? 0x1p-16 : 0.0) : (k % 3 ? big : -big);
        A[i * K + k] = from_double(a, m.a, {}).code;
      }
    for (std::size_t x = 0; x < B.size(); ++x) B[x] = from_double(big, m.b, {}).code;
    for (std::size_t i = 0; i < M; ++i)
      for (std::size_t j = 0; j < N; ++j) {
        // rows 0-3: C from 2^-100 down to 2^-149 (E below align - 126 in some lanes);
        // rows 4-7: C near max finite, the sums overflowing to Inf in some lanes
        const double c = i < 4 ? std::ldexp(1.0 + double(j % 4) / 4, -100 - int(i * N + j) % 50)
                               : (j % 2 ? 1.0 : -1.0) * 0x1.fffffep127 * (j % 3 ? 1.0 : 0.5);
        C[i * N + j] = from_double(c, f32, {}).code;
      }
    GemmOptions ref;
    ref.allow_fast = false;
    ref.flags = false;
    GemmOptions fast = ref;
    fast.allow_fast = true;
    const GemmResult rf = gemm(m, M, N, K, A, B, C, ref);
    const GemmResult ff = gemm(m, M, N, K, A, B, C, fast);
    std::size_t bad = 0;
    for (std::size_t o = 0; o < M * N; ++o)
      if (ff.codes[o] != rf.codes[o] && ++bad <= 3) {
        std::ostringstream msg;
        msg << std::hex << "output " << std::dec << o << std::hex << ": kernel 0x" << ff.codes[o]
            << ", reference 0x" << rf.codes[o];
        FAIL_CHECK(msg.str());
      }
    CHECK(bad == 0);
  }
}

TEST_CASE("gemm.measured_gpu_options_equal_reference_model") {
  // align=field (the products' exponent fields as alignment reference) and interleave=W
  // (the measured GPU presets, docs/gpu-presets.md): the AVX-512 multiterm kernel for
  // binary32-grid accumulators (4..32 terms, e8m13 with rtz), the binary64 kernel for the
  // rest (fp16 accumulators, interleaved groups), flags on and off, typical and wide inputs.
  const char* fast[] = {
      "v100-fp16-fp32",
      "a100-bf16-fp32",
      "a100-tf32-fp32",
      "h100-fp16-fp32",
      "ada-e4m3-fp32",
      "h100-e4m3-fp32",
      "b200-e5m2-fp32",
      "ab=fp16,acc=fp32,round=rne,struct=multiterm:16:25:2,align=field",
      "ab=bf16,acc=fp32,round=rup,struct=multiterm:4:30:1,align=field,chunk=10,outer=fp32",
      "ab=e5m2,acc=e8m10,round=rtz,struct=multiterm:8:12:2,align=field,c=fp32",
  };
  check_wide_kernel(fast, "multiterm-fp32", 7, 40, 150, 43);
  const char* general[] = {
      "v100-fp16-fp16",
      "h100-fp16-fp16",
      "ada-e4m3-fp16",
      "h100-e4m3-fp16",
      "ab=e5m2,acc=bf16,round=sr:8,struct=multiterm:8:13:2,align=field,interleave=3,chunk=20,"
      "outer=fp32",
      "ab=fp16,prod=bf16,acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field",
  };
  check_wide_kernel(general, "multiterm", 7, 40, 150, 47);
  // interleave deals a span of at most 64 products in the fast path; longer: the reference
  {
    const MacConfig m = parse_mac("ab=fp16,acc=fp16,struct=multiterm:4:23:2,interleave=2");
    const std::size_t K = 65;
    const auto A = normal_codes(m.a, K, 5), B = normal_codes(m.b, K * 8, 6);
    GemmOptions ref;
    ref.allow_fast = false;
    const GemmResult r = gemm(m, 1, 8, K, A, B, {}, {});
    CHECK(r.kernel == "reference");
    CHECK(r.codes == gemm(m, 1, 8, K, A, B, {}, ref).codes);
    CHECK(gemm(m, 1, 8, 64, std::span(A).first(64), std::span(B).first(64 * 8), {}, {}).kernel ==
          "multiterm");
  }
}

TEST_CASE("gemm.output_conversion_with_and_without_flags") {
  // Without flags, binary32 results are converted by the array quantizer; with flags (or
  // SR, or another source format) one convert() per output. Both equal the reference.
  for (const char* spec :
       {"mellempudi2019", "ab=e5m2,acc=fp32,round=rne,out=e4m3fn-sat",
        "ab=e5m2,acc=fp32,round=rne,c=fp32,out=e5m2,out_round=rtz",
        "ab=e4m3fn,acc=fp32,round=rne,out=fp16,out_round=rup",
        "ab=e5m2,acc=fp32,round=rne,out=e5m2,out_round=sr:8", "ab=e5m2,acc=fp16,out=e5m2"}) {
    CAPTURE(std::string(spec));
    const MacConfig m = parse_mac(spec);
    const std::size_t M = 6, N = 40, K = 50;
    const auto A = random_codes(m.a, M * K, 51, 4.0);
    const auto B = random_codes(m.b, K * N, 52, 4.0);
    const Format& cf = m.c ? *m.c : m.acc;
    const auto C = m.c ? random_codes(cf, M * N, 53, 4.0) : std::vector<std::uint64_t>{};
    GemmOptions ref;
    ref.allow_fast = false;
    ref.seed = 8;
    GemmOptions fast;
    fast.seed = 8;
    const GemmResult rf = gemm(m, M, N, K, A, B, C, ref);
    check_same(gemm(m, M, N, K, A, B, C, fast), rf, m);
    fast.flags = false;
    CHECK(gemm(m, M, N, K, A, B, C, fast).codes == rf.codes);
  }
}

TEST_CASE("gemm.output_offset_keys_random_bits_in_every_kernel") {
  // conv2d shifts output indices per image: every kernel must key its SR bits the same way
  for (const char* spec : {"ab=e5m2,acc=bf16,round=sr:8", "ab=e5m2,acc=fp16,round=sr:4",
                           "ab=e5m2,acc=fp32,round=rne,out=e5m2,out_round=sr:8"}) {
    CAPTURE(std::string(spec));
    const MacConfig m = parse_mac(spec);
    const std::size_t M = 8, N = 48, K = 70;
    const auto A = normal_codes(m.a, M * K, 61), B = normal_codes(m.b, K * N, 62);
    GemmOptions ref;
    ref.allow_fast = false;
    ref.seed = 4;
    ref.output_offset = (std::uint64_t{1} << 32) - 100;  // crosses a 32-bit stream word
    GemmOptions fast = ref;
    fast.allow_fast = true;
    const GemmResult rf = gemm(m, M, N, K, A, B, {}, ref);
    check_same(gemm(m, M, N, K, A, B, {}, fast), rf, m);
    ref.output_offset = 0;
    CHECK(gemm(m, M, N, K, A, B, {}, ref).codes != rf.codes);  // the offset does matter
  }
}

TEST_CASE("gemm.fp32_inputs_without_flags_take_the_fma_chain") {
  // Without flags the native FMA chain takes any binary32 inputs (fma rounds a·b + s once
  // whatever a·b is); with flags the per-step inexact flag needs exact products (emulated).
  const MacConfig m = parse_mac("ab=fp32,acc=fp32,round=rne,struct=sequential");
  const std::size_t M = 9, N = 40, K = 300;
  for (double sigma : {1.0, 30.0}) {
    CAPTURE(sigma);
    const auto A = random_codes(m.a, M * K, 61, sigma), B = random_codes(m.b, K * N, 62, sigma);
    const auto C = random_codes(m.acc, M * N, 63, sigma);
    GemmOptions ref, nf;
    ref.allow_fast = false;
    nf.flags = false;
    const GemmResult r = gemm(m, M, N, K, A, B, C, ref);
    const GemmResult f = gemm(m, M, N, K, A, B, C, nf);
    CHECK(f.kernel == "fp32-fma");
    CHECK(f.codes == r.codes);
    CHECK(gemm(m, M, N, K, A, B, C, {}).kernel == "emulated");
  }
}

namespace {

// fp32 values for the fused path: log-normal magnitudes over many binades, zeros of both
// signs, a few beyond every input format's range and a few subnormal in most of them.
std::vector<float> wide_floats(std::size_t n, std::uint64_t seed, double sigma) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> e(0.0, sigma);
  std::vector<float> v(n);
  for (std::size_t x = 0; x < n; ++x) {
    const int k = static_cast<int>(g() % 50);
    const double s = (g() & 1) ? -1.0 : 1.0;
    v[x] = k == 0   ? static_cast<float>(s * 0.0)
           : k == 1 ? static_cast<float>(s * 1e6)   // beyond e5m2, e4m3 and fp16
           : k == 2 ? static_cast<float>(s * 3e-6)  // subnormal or below e5m2/fp16
                    : static_cast<float>(s * std::exp2(e(g)));
  }
  return v;
}

// The fused path against quantize-then-gemm: same quantizer counters, same output values
// (the decoded result codes), flags and counts.
void check_fused(const MacConfig& m, std::size_t M, std::size_t N, std::size_t K,
                 const std::vector<float>& A, const std::vector<float>& B, const RoundSpec& ra,
                 const RoundSpec& rb, int threads, bool flags) {
  GemmInputQuant qa, qb;
  qa.options.round = ra;
  qa.options.key = RandomKey{5, 1};
  qa.options.first_index = 1000;
  qb.options.round = rb;
  qb.options.key = RandomKey{5, 2};
  QuantizeCounters ca, cb;
  qa.counters = &ca;
  qb.counters = &cb;
  GemmOptions go;
  go.threads = threads;
  go.seed = 99;
  go.flags = flags;
  std::vector<float> C(M * N);
  const GemmF32Result fr = gemm_f32(m, M, N, K, A, &qa, B, &qb, C, go);

  std::vector<std::uint64_t> codes_a(A.size()), codes_b(B.size());
  std::vector<float> vals_a(A.size()), vals_b(B.size());
  QuantizeOptions oa = qa.options, ob = qb.options;
  oa.threads = ob.threads = 1;
  const QuantizeCounters ra_c = quantize<float, std::uint64_t>(m.a, A, oa, codes_a, vals_a);
  const QuantizeCounters rb_c = quantize<float, std::uint64_t>(m.b, B, ob, codes_b, vals_b);
  CHECK(ca.count == ra_c.count);
  CHECK(ca.exact == ra_c.exact);
  CHECK(ca.overflow == ra_c.overflow);
  CHECK(ca.underflow_to_zero == ra_c.underflow_to_zero);
  CHECK(cb.exact == rb_c.exact);
  CHECK(cb.saturated == rb_c.saturated);
  CHECK(ca.error_sq == ra_c.error_sq);
  const GemmResult r = gemm(m, M, N, K, codes_a, codes_b, {}, go);
  const Format& rf = result_format(m);
  std::size_t bad = 0;
  for (std::size_t o = 0; o < M * N; ++o) {
    const auto want = static_cast<float>(to_double(rf, r.codes[o]));
    if (std::bit_cast<std::uint32_t>(want) != std::bit_cast<std::uint32_t>(C[o]) &&
        !(std::isnan(want) && std::isnan(C[o])))
      ++bad;
  }
  CHECK(bad == 0);
  CHECK(fr.kernel == r.kernel);
  if (flags) {
    CHECK(fr.flags == r.flags);
    CHECK(fr.counts.steps == r.counts.steps);
    CHECK(fr.counts.inexact == r.counts.inexact);
    CHECK(fr.counts.underflow == r.counts.underflow);
    CHECK(fr.counts.overflow == r.counts.overflow);
    CHECK(fr.counts.swamped == r.counts.swamped);
  }
  // pre-quantized values without a GemmInputQuant: the same outputs again
  std::vector<float> C2(M * N);
  (void)gemm_f32(m, M, N, K, vals_a, nullptr, vals_b, nullptr, C2, go);
  CHECK(std::memcmp(C.data(), C2.data(), C.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("gemm.f32_fused_path_equals_quantize_then_gemm") {
  // every configuration whose result fits binary32; rne and stochastic input rounding
  for (const char* spec : kConfigs) {
    CAPTURE(spec);
    const MacConfig m = parse_mac(spec);
    const Format& rf = result_format(m);
    if (rf.man_bits > 23 || rf.emax() > 127 || rf.emin() < -126) continue;
    for (double sigma : {1.5, 5.0}) {
      CAPTURE(sigma);
      const auto A = wide_floats(24 * 40, 11, sigma), B = wide_floats(40 * 20, 12, sigma);
      check_fused(m, 24, 20, 40, A, B, parse_rounding("rne"), parse_rounding("sr:8"), 2, true);
      check_fused(m, 24, 20, 40, A, B, parse_rounding("sr:4"), parse_rounding("rtz"), 1, false);
    }
  }
}

TEST_CASE("gemm.f32_fused_path_specials_and_refusals") {
  const MacConfig m = parse_mac("mellempudi2019");
  // NaN and Inf inputs (the reference path) and ftz of subnormal inputs
  auto A = wide_floats(8 * 16, 3, 2.0), B = wide_floats(16 * 8, 4, 2.0);
  A[5] = std::numeric_limits<float>::infinity();
  B[9] = std::numeric_limits<float>::quiet_NaN();
  check_fused(m, 8, 8, 16, A, B, parse_rounding("rne"), parse_rounding("rne"), 2, true);
  check_fused(parse_mac("ab=e5m2,acc=fp16,round=rne,ftz_in=1"), 8, 8, 16, wide_floats(128, 5, 6),
              wide_floats(128, 6, 6), parse_rounding("rne"), parse_rounding("rne"), 1, true);
  // a value not of the input format, without a quantizer: named
  std::vector<float> a(4 * 4, 1.0f), b(4 * 4, 0.5f), c(4 * 4);
  a[3] = 1.1f;
  CHECK_THROWS_WITH_AS((void)gemm_f32(m, 4, 4, 4, a, nullptr, b, nullptr, c),
                       doctest::Contains("A[3] = 1.1 is not a value of e5m2"),
                       std::invalid_argument);
  a[3] = 1.0f;
  b[7] = 0x1p-17f;  // below e5m2's smallest subnormal 2^-16
  CHECK_THROWS_WITH_AS((void)gemm_f32(m, 4, 4, 4, a, nullptr, b, nullptr, c),
                       doctest::Contains("B[7]"), std::invalid_argument);
  b[7] = 0x1p-16f;  // the smallest subnormal itself, and e5m2's max finite: fine
  b[8] = -57344.0f;
  CHECK_NOTHROW((void)gemm_f32(m, 4, 4, 4, a, nullptr, b, nullptr, c));
  b[8] = 61440.0f;  // beyond max finite
  CHECK_THROWS_AS((void)gemm_f32(m, 4, 4, 4, a, nullptr, b, nullptr, c), std::invalid_argument);
  b[8] = 1.0f;
  b[7] = 0.5f;
  // e4m3fn has no Inf and no value 480
  const MacConfig m43 = parse_mac("ab=e4m3fn,acc=fp32,round=rne");
  std::vector<float> e(16, 448.0f);
  CHECK_NOTHROW((void)gemm_f32(m43, 4, 4, 4, e, nullptr, b, nullptr, c));
  e[2] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS((void)gemm_f32(m43, 4, 4, 4, e, nullptr, b, nullptr, c), std::invalid_argument);
  // a result format beyond binary32, and sizes that do not match
  CHECK_THROWS_WITH_AS(
      (void)gemm_f32(parse_mac("ab=fp32,acc=fp64,round=rne"), 4, 4, 4, a, nullptr, b, nullptr, c),
      doctest::Contains("does not fit binary32"), std::invalid_argument);
  CHECK_THROWS_AS((void)gemm_f32(m, 4, 4, 5, a, nullptr, b, nullptr, c), std::invalid_argument);
}

namespace {

std::string fmt_spec(const char* name) {
  return std::string("ab=") + name + ",acc=fp32,round=rne";
}

}  // namespace

TEST_CASE("gemm.f32_input_check_accepts_exactly_the_formats_values") {
  // every finite code (and Inf/NaN where the format has them) of each format is accepted as
  // an unquantized input; the next binary32 value above each finite non-zero one is not a
  // value of any of these formats and is refused (a subnormal of the format included)
  for (const char* name : {"e5m2", "e4m3fn", "fp16", "bf16", "e5m7", "e4m3fnuz"}) {
    CAPTURE(name);
    const Format f = parse_format(name);
    const MacConfig m = parse_mac(fmt_spec(name));
    std::vector<float> b(1, 1.0f), c(1);
    std::size_t accepted = 0, refused = 0;
    for (std::uint64_t code = 0; code <= f.code_mask(); ++code) {
      const double v = to_double(f, code);
      if (std::isnan(v) && !f.has_nan()) continue;
      std::vector<float> a(1, static_cast<float>(v));
      try {
        (void)gemm_f32(m, 1, 1, 1, a, nullptr, b, nullptr, c);
        ++accepted;
      } catch (const std::invalid_argument& e) {
        FAIL_CHECK("code " << code << " (" << v << ") refused: " << e.what());
      }
      if (!std::isfinite(v) || v == 0) continue;
      a[0] = std::nextafter(static_cast<float>(v), std::numeric_limits<float>::infinity());
      CHECK_THROWS_AS((void)gemm_f32(m, 1, 1, 1, a, nullptr, b, nullptr, c), std::invalid_argument);
      ++refused;
    }
    CHECK(accepted > 200);
    CHECK(refused > 200);
  }
}
