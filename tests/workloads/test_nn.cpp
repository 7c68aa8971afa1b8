// tests/workloads/test_nn.cpp — workloads/nn: recipes, the role quantizers and layer GEMM
// (same bits as quantize-then-gemm), and the layers' backward passes against central finite
// differences with quantization off.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "normal_values.hpp"
#include "rounding/quantize.hpp"
#include "rounding/rounding.hpp"
#include "sim/gemm.hpp"
#include "workloads/nn/layers.hpp"
#include "workloads/nn/mlp.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"

using namespace fp8sim;
using namespace fp8sim::workloads;

namespace {

using fp8sim::testing::normal_values;

}  // namespace

TEST_CASE("nn.recipe_presets_and_checks") {
  for (const auto& n : recipe_preset_names()) {
    CAPTURE(n);
    const Recipe r = recipe_preset(n);
    CHECK(r.name == n);
    CHECK(!r.source.empty());
  }
  const Recipe m = recipe_preset("mellempudi2019");
  CHECK(m.weight.text() == "e5m2 rne");
  CHECK(m.error.text() == "e5m2 sr:8");
  CHECK(m.master.name == "fp16");
  try {
    (void)recipe_preset("fp9");
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("unknown recipe 'fp9' (allowed: fp32, fp16-mpt, "
                                     "mellempudi2019, wang2018, hfp8, ocp-fp8, h100-fp8)") !=
          std::string::npos);
  }
  Recipe bad = m;
  bad.activation = RoleQuant{parse_format("e4m3fn"), {}};
  CHECK_THROWS_WITH_AS(recipe_check(bad),
                       doctest::Contains("fprop GEMM takes e5m2 x e5m2 but its inputs are "
                                         "quantized to e4m3fn x e5m2"),
                       std::invalid_argument);
}

TEST_CASE("nn.quantize_role_is_the_quantizer") {
  // the same bits as fp8sim::quantize with the documented key, any thread count
  const auto x = normal_values(5000, 3, 0.01);
  const RoleQuant q{parse_format("e5m2"), parse_rounding("sr:8")};
  std::vector<float> a(x.size()), b(x.size()), ref(x.size());
  StepStats stats;
  StepContext c1{11, 5, 1, &stats};
  StepContext c2{11, 5, 2, nullptr};
  quantize_role(q, "fc1/error", x, a, c1);
  quantize_role(q, "fc1/error", x, b, c2);
  QuantizeOptions o;
  o.round = q.round;
  o.key = RandomKey{11, name_key("fc1/error")};
  o.first_index = std::uint64_t{5} << 36;
  (void)quantize_values<float>(*q.format, x, o, ref);
  CHECK(a == ref);
  CHECK(b == ref);
  CHECK(stats.quant.at("fc1/error").counters.count == x.size());
  // another step draws other bits
  StepContext c3{11, 6, 1, nullptr};
  quantize_role(q, "fc1/error", x, b, c3);
  CHECK(b != ref);
}

TEST_CASE("nn.layer_gemm_equals_quantize_then_gemm") {
  const Recipe r = recipe_preset("mellempudi2019");
  const std::size_t M = 13, N = 37, K = 50;
  auto A = normal_values(M * K, 1), B = normal_values(K * N, 2);
  const StepContext ctx{5, 0, 2, nullptr};
  quantize_role(r.activation, "t/activation", A, A, ctx);
  quantize_role(r.weight, "t/weight", B, B, ctx);
  std::vector<float> C(M * N);
  layer_gemm(r.fprop, "t/fprop", M, N, K, A, B, C, ctx);
  // by hand: codes, gemm, decode
  std::vector<std::uint64_t> ca(A.size()), cb(B.size());
  for (std::size_t i = 0; i < A.size(); ++i) ca[i] = from_double(A[i], r.fprop.a, {}).code;
  for (std::size_t i = 0; i < B.size(); ++i) cb[i] = from_double(B[i], r.fprop.b, {}).code;
  GemmOptions go;
  go.seed = 5 ^ name_key("t/fprop");
  go.flags = false;
  const GemmResult g = gemm(r.fprop, M, N, K, ca, cb, {}, go);
  for (std::size_t i = 0; i < C.size(); ++i)
    REQUIRE(std::bit_cast<std::uint32_t>(C[i]) == static_cast<std::uint32_t>(g.codes[i]));
  // inputs that are not values of the GEMM's formats are refused in builds with assertions
  // (the sanitizer run); release builds trust the layers and skip the pass
  auto raw = normal_values(M * K, 9);
#ifdef NDEBUG
  CHECK_NOTHROW(layer_gemm(r.fprop, "t/fprop", M, N, K, raw, B, C, ctx));
#else
  CHECK_THROWS_AS(layer_gemm(r.fprop, "t/fprop", M, N, K, raw, B, C, ctx), std::logic_error);
#endif
}

namespace {

// loss of the mlp on a batch in the fp32 recipe (as double)
double mlp_loss(Mlp& net, const Tensor2& x, const std::vector<std::uint8_t>& y, const Recipe& r) {
  const StepContext ctx{1, 0, 1, nullptr};
  return softmax_cross_entropy(net.forward(x, r, ctx), y).loss;
}

}  // namespace

TEST_CASE("nn.mlp_backward_matches_central_differences") {
  // fp32 recipe (quantization off): every parameter gradient of a 6-5-4-3 mlp against
  // (L(p + h) - L(p - h)) / 2h, h = 1e-2 on a loss of order 1 computed in fp32: agreement
  // to 2e-3 absolute (truncation error ~h^2, rounding ~1e-7 / h).
  const Recipe r = recipe_preset("fp32");
  Mlp net({6, 5, 4, 3});
  net.init(42);
  const std::size_t B = 4;
  const auto xv = normal_values(B * 6, 8);
  Tensor2 x = xt::zeros<float>({B, std::size_t{6}});
  std::copy(xv.begin(), xv.end(), x.data());
  const std::vector<std::uint8_t> y{0, 2, 1, 2};
  const StepContext ctx{1, 0, 1, nullptr};
  const LossResult lr = softmax_cross_entropy(net.forward(x, r, ctx), y);
  net.backward(lr.grad, r, ctx);
  int checked = 0;
  for (Param* p : net.params()) {
    const std::vector<float> g = p->grad;
    for (std::size_t i = 0; i < p->size(); ++i) {
      const float keep = p->value[i];
      const float h = 1e-2f;
      p->value[i] = keep + h;
      const double lp = mlp_loss(net, x, y, r);
      p->value[i] = keep - h;
      const double lm = mlp_loss(net, x, y, r);
      p->value[i] = keep;
      const double fd = (lp - lm) / (2.0 * h);
      INFO(p->name << "[" << i << "]");
      CHECK(std::abs(fd - g[i]) <= 2e-3 + 1e-2 * std::abs(fd));
      ++checked;
    }
  }
  CHECK(checked == 6 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3);
}

TEST_CASE("nn.softmax_cross_entropy_values") {
  Tensor2 z = {{0.0f, 0.0f}, {std::log(3.0f), 0.0f}};
  const std::vector<std::uint8_t> y{0, 0};
  const LossResult r = softmax_cross_entropy(z, y, 4.0);
  // sample 0: -log(1/2); sample 1: -log(3/4); mean
  CHECK(r.loss == doctest::Approx((std::log(2.0) + std::log(4.0 / 3.0)) / 2).epsilon(1e-6));
  CHECK(r.correct == 2);  // ties go to the first class
  // grad = scale * (p - onehot) / B
  CHECK(r.grad(0, 0) == doctest::Approx(4.0 * (0.5 - 1) / 2));
  CHECK(r.grad(1, 1) == doctest::Approx(4.0 * 0.25 / 2).epsilon(1e-6));
  const std::vector<std::uint8_t> bad{0, 5};
  CHECK_THROWS_AS((void)softmax_cross_entropy(z, bad), std::invalid_argument);
}

TEST_CASE("nn.mlp_quantized_step_runs_and_records") {
  // the paper's recipe: a forward/backward pass quantizes every role and records it
  const Recipe r = recipe_preset("mellempudi2019");
  Mlp net({20, 16, 10});
  net.init(1);
  const std::size_t B = 8;
  const auto xv = normal_values(B * 20, 4);
  Tensor2 x = xt::zeros<float>({B, std::size_t{20}});
  std::copy(xv.begin(), xv.end(), x.data());
  std::vector<std::uint8_t> y(B);
  for (std::size_t b = 0; b < B; ++b) y[b] = static_cast<std::uint8_t>(b % 10);
  StepStats stats;
  const StepContext ctx{3, 0, 2, &stats};
  const LossResult lr = softmax_cross_entropy(net.forward(x, r, ctx), y, 1024.0);
  net.backward(lr.grad, r, ctx);
  for (const char* name : {"fc1/activation", "fc1/weight", "fc1/error", "fc1/weight_grad",
                           "fc2/activation", "fc2/weight", "fc2/error", "fc2/weight_grad"}) {
    CAPTURE(name);
    REQUIRE(stats.quant.count(name) == 1);
    CHECK(stats.quant.at(name).counters.count > 0);
  }
  for (const char* name : {"fc1/fprop", "fc1/wgrad", "fc2/fprop", "fc2/dgrad", "fc2/wgrad"})
    CHECK(stats.gemm.count(name) == 1);
  CHECK(stats.gemm.count("fc1/dgrad") == 0);  // the input needs no gradient
  // every weight gradient is an E5M2 value
  for (Param* p : net.params()) {
    if (p->name.find("weight") == std::string::npos) continue;
    for (float g : p->grad)
      REQUIRE(static_cast<float>(to_double(parse_format("e5m2"),
                                           from_double(g, parse_format("e5m2"), {}).code)) == g);
  }
}
