// tests/workloads/test_conv.cpp — workloads/nn conv layers and the resnet model: Conv2d
// against a direct fp64 convolution, every layer's backward against central finite
// differences with quantization off (recipe "fp32"), BatchNorm2d's running statistics and
// eval mode by hand, and a quantized resnet step.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "normal_values.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/rounding.hpp"
#include "workloads/nn/conv_layers.hpp"
#include "workloads/nn/layers.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"
#include "workloads/nn/resnet.hpp"

using namespace fp8sim;
using namespace fp8sim::workloads;

namespace {

using fp8sim::testing::normal_values;

Tensor4 random_tensor(std::size_t n, std::size_t c, std::size_t h, std::size_t w,
                      std::uint64_t seed, double sigma = 1.0) {
  Tensor4 t = xt::zeros<float>({n, c, h, w});
  const auto v = normal_values(t.size(), seed, sigma);
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

// sum_i w_i y_i in double: a loss whose gradient w.r.t. y is w
template <class T>
double weighted_sum(const T& y, const std::vector<float>& w) {
  REQUIRE(y.size() == w.size());
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(w[i]) * y.data()[i];
  return s;
}

template <class T>
T like(const T& t, const std::vector<float>& v) {
  T r = t;
  std::copy(v.begin(), v.end(), r.data());
  return r;
}

// Central differences of loss() w.r.t. every element of v (or the listed ones) against g.
// Returns the largest |fd - g| seen.
struct FdCheck {
  double h, abs_tol, rel_tol;
  template <class Loss>
  double operator()(const std::string& what, float* v, const float* g, std::size_t n,
                    const Loss& loss, std::vector<std::size_t> idx = {}) const {
    if (idx.empty()) {
      idx.resize(n);
      std::iota(idx.begin(), idx.end(), std::size_t{0});
    }
    double worst = 0;
    for (const std::size_t i : idx) {
      const float keep = v[i];
      v[i] = keep + static_cast<float>(h);
      const double hp = static_cast<double>(v[i]) - keep;  // the steps taken in fp32
      const double lp = loss();
      v[i] = keep - static_cast<float>(h);
      const double hm = keep - static_cast<double>(v[i]);
      const double lm = loss();
      v[i] = keep;
      const double fd = (lp - lm) / (hp + hm);
      INFO(what << "[" << i << "]: fd " << fd << ", backward " << g[i]);
      CHECK(std::abs(fd - g[i]) <= abs_tol + rel_tol * std::abs(fd));
      worst = std::max(worst, std::abs(fd - g[i]));
    }
    return worst;
  }
};

const StepContext kCtx{1, 0, 1, nullptr};

}  // namespace

TEST_CASE("conv.conv2d_forward_equals_direct_convolution") {
  // y[b][o][oy][ox] = bias[o] + sum_{i,ky,kx} W[o][i][ky][kx] x[b][i][oy*s+ky-p][ox*s+kx-p]
  // in fp64 against the layer's fp32 GEMM (a sequential binary32 FMA chain over K = in*k*k
  // terms, then the bias added): |err| <= (K + 1) u sum |terms| + u |y| with u = 2^-24.
  const Recipe r = recipe_preset("fp32");
  struct Case {
    std::size_t n, in, h, w, out, k, s, p;
    bool bias;
  };
  for (const Case& c : {Case{2, 3, 9, 7, 5, 3, 2, 1, true}, Case{1, 2, 6, 11, 3, 2, 1, 0, false},
                        Case{3, 4, 5, 8, 2, 1, 2, 0, false}}) {
    CAPTURE(c.h);
    CAPTURE(c.w);
    CAPTURE(c.k);
    Conv2d conv("c", c.in, c.out, c.k, c.s, c.p, c.bias);
    conv.init(3);
    const Tensor4 x = random_tensor(c.n, c.in, c.h, c.w, 5);
    const Tensor4 y = conv.forward(x, r, kCtx);
    const std::size_t oh = (c.h + 2 * c.p - c.k) / c.s + 1, ow = (c.w + 2 * c.p - c.k) / c.s + 1;
    REQUIRE(y.shape(0) == c.n);
    REQUIRE(y.shape(1) == c.out);
    REQUIRE(y.shape(2) == oh);
    REQUIRE(y.shape(3) == ow);
    const double u = 0x1p-24, K = static_cast<double>(c.in * c.k * c.k);
    const auto& W = conv.weight.value;
    for (std::size_t b = 0; b < c.n; ++b)
      for (std::size_t o = 0; o < c.out; ++o)
        for (std::size_t oy = 0; oy < oh; ++oy)
          for (std::size_t ox = 0; ox < ow; ++ox) {
            double ref = 0, mag = 0;
            for (std::size_t i = 0; i < c.in; ++i)
              for (std::size_t ky = 0; ky < c.k; ++ky)
                for (std::size_t kx = 0; kx < c.k; ++kx) {
                  const auto iy =
                      static_cast<std::ptrdiff_t>(oy * c.s + ky) - static_cast<std::ptrdiff_t>(c.p);
                  const auto ix =
                      static_cast<std::ptrdiff_t>(ox * c.s + kx) - static_cast<std::ptrdiff_t>(c.p);
                  if (iy < 0 || ix < 0 || iy >= static_cast<std::ptrdiff_t>(c.h) ||
                      ix >= static_cast<std::ptrdiff_t>(c.w))
                    continue;
                  const double t =
                      static_cast<double>(W[((o * c.in + i) * c.k + ky) * c.k + kx]) *
                      x(b, i, static_cast<std::size_t>(iy), static_cast<std::size_t>(ix));
                  ref += t;
                  mag += std::abs(t);
                }
            if (c.bias) ref += conv.bias.value[o];
            const double got = y(b, o, oy, ox);
            REQUIRE(std::abs(got - ref) <= (K + 1) * u * mag + u * std::abs(ref) + 1e-30);
          }
  }
  // shapes are checked
  Conv2d conv("c", 3, 4, 3, 1, 0);
  CHECK_THROWS_AS((void)conv.forward(random_tensor(1, 2, 5, 5, 1), r, kCtx),
                  std::invalid_argument);  // channels
  CHECK_THROWS_AS((void)conv.forward(random_tensor(1, 3, 2, 5, 1), r, kCtx),
                  std::invalid_argument);  // smaller than the kernel
}

TEST_CASE("conv.conv2d_backward_matches_central_differences") {
  // L = sum w_i y_i with fixed random w. L is linear in each single input or weight element,
  // so a central difference has no truncation error and h can be large (h = 0.5, exact in
  // fp32): what is left is fp32 rounding in the few outputs an element touches, ~1e-7 / h.
  // Tolerance 1e-4 absolute + 1e-4 relative.
  const Recipe r = recipe_preset("fp32");
  Conv2d conv("c", 3, 4, 3, 2, 1, true);
  conv.init(9);
  Tensor4 x = random_tensor(2, 3, 7, 6, 11);
  const Tensor4 y0 = conv.forward(x, r, kCtx);
  const auto w = normal_values(y0.size(), 12);
  const Tensor4 dx = conv.backward(like(y0, w), r, kCtx);
  REQUIRE(dx.shape() == x.shape());
  const std::vector<float> dW = conv.weight.grad, db = conv.bias.grad;
  auto loss = [&] { return weighted_sum(conv.forward(x, r, kCtx), w); };
  const FdCheck fd{0.5, 1e-4, 1e-4};
  const double e1 = fd("x", x.data(), dx.data(), x.size(), loss);
  const double e2 = fd("weight", conv.weight.value.data(), dW.data(), dW.size(), loss);
  const double e3 = fd("bias", conv.bias.value.data(), db.data(), db.size(), loss);
  MESSAGE(fmt::format("conv2d worst |fd - backward|: x {:.2g}, weight {:.2g}, bias {:.2g}", e1, e2,
                      e3));
  // without need_dx no dgrad runs and dx is empty
  StepStats st;
  const StepContext c2{1, 0, 1, &st};
  (void)conv.forward(x, r, c2);
  CHECK(conv.backward(like(y0, w), r, c2, false).size() == 0);
  CHECK(st.gemm.count("c/wgrad") == 1);
  CHECK(st.gemm.count("c/dgrad") == 0);
  CHECK(conv.weight.grad == dW);
}

TEST_CASE("conv.batchnorm_backward_matches_central_differences") {
  // Train mode (batch statistics): L = sum w_i y_i is smooth but not linear in x; h = 1e-2
  // leaves a truncation error ~h^2 |L'''| / 6 ~ 1e-5, and fp32 rounding of the outputs
  // (~6e-8 |y| each, y ~ 1, 120 of them) ~1e-6 / 2h ~ 1e-4 at worst: tolerance 1e-3 absolute
  // + 1e-3 relative. Eval mode is affine in x (exact differences).
  const Recipe r = recipe_preset("fp32");
  BatchNorm2d bn("bn", 3);
  const auto gv = normal_values(3, 21, 0.5), bv = normal_values(3, 22);
  for (std::size_t c = 0; c < 3; ++c) {
    bn.gamma.value[c] = 1.0f + gv[c];
    bn.beta.value[c] = bv[c];
  }
  Tensor4 x = random_tensor(2, 3, 4, 5, 23, 2.0);
  for (const bool train : {true, false}) {
    CAPTURE(train);
    const Tensor4 y0 = bn.forward(x, train);
    const auto w = normal_values(y0.size(), 24);
    const Tensor4 dx = bn.backward(like(y0, w));
    const std::vector<float> dg = bn.gamma.grad, dbeta = bn.beta.grad;
    auto loss = [&] { return weighted_sum(bn.forward(x, train), w); };
    const FdCheck fd{1e-2, 1e-3, 1e-3};
    const double e1 = fd("x", x.data(), dx.data(), x.size(), loss);
    const double e2 = fd("gamma", bn.gamma.value.data(), dg.data(), 3, loss);
    const double e3 = fd("beta", bn.beta.value.data(), dbeta.data(), 3, loss);
    MESSAGE(
        fmt::format("batchnorm ({}) worst |fd - backward|: x {:.2g}, gamma {:.2g}, beta "
                    "{:.2g}",
                    train ? "train" : "eval", e1, e2, e3));
  }
}

TEST_CASE("conv.batchnorm_running_statistics_and_eval") {
  // one channel holding 1, 2, 3, 4 (two images of 1x2), the other 0, 0, 2, 2
  BatchNorm2d bn("bn", 2, 1e-5, 0.1);
  CHECK(bn.gamma.name == "bn.weight");
  CHECK(bn.running_var.name == "bn.running_var");
  bn.gamma.value = {2.0f, 1.0f};
  bn.beta.value = {0.5f, -1.0f};
  Tensor4 x = xt::zeros<float>({std::size_t{2}, std::size_t{2}, std::size_t{1}, std::size_t{2}});
  x(0, 0, 0, 0) = 1;
  x(0, 0, 0, 1) = 2;
  x(1, 0, 0, 0) = 3;
  x(1, 0, 0, 1) = 4;
  x(0, 1, 0, 0) = 0;
  x(0, 1, 0, 1) = 0;
  x(1, 1, 0, 0) = 2;
  x(1, 1, 0, 1) = 2;
  // train: mean 2.5 and 1, biased variance 1.25 and 1 normalise; the unbiased 5/3 and 4/3
  // update running = 0.9 running + 0.1 stat
  Tensor4 y = bn.forward(x, true);
  CHECK(y(0, 0, 0, 0) == doctest::Approx(2.0 * (1 - 2.5) / std::sqrt(1.25 + 1e-5) + 0.5));
  CHECK(y(1, 0, 0, 1) == doctest::Approx(2.0 * (4 - 2.5) / std::sqrt(1.25 + 1e-5) + 0.5));
  CHECK(y(0, 1, 0, 0) == doctest::Approx(-1.0 / std::sqrt(1 + 1e-5) - 1.0));
  CHECK(bn.running_mean.value[0] == doctest::Approx(0.25));
  CHECK(bn.running_mean.value[1] == doctest::Approx(0.1));
  CHECK(bn.running_var.value[0] == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));
  CHECK(bn.running_var.value[1] == doctest::Approx(0.9 + 0.1 * 4.0 / 3.0));
  // a second step compounds
  (void)bn.forward(x, true);
  const double rm0 = 0.9 * 0.25 + 0.1 * 2.5, rv0 = 0.9 * (0.9 + 0.5 / 3.0) + 0.1 * 5.0 / 3.0;
  CHECK(bn.running_mean.value[0] == doctest::Approx(rm0));
  CHECK(bn.running_var.value[0] == doctest::Approx(rv0));
  // eval: running statistics, and they stay put
  y = bn.forward(x, false);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t j = 0; j < 2; ++j)
      CHECK(y(b, 0, 0, j) ==
            doctest::Approx(2.0 * (x(b, 0, 0, j) - rm0) / std::sqrt(rv0 + 1e-5) + 0.5));
  CHECK(bn.running_mean.value[0] == doctest::Approx(rm0));
  // one value per channel cannot train
  CHECK_THROWS_AS(
      (void)bn.forward(
          xt::zeros<float>({std::size_t{1}, std::size_t{2}, std::size_t{1}, std::size_t{1}}), true),
      std::invalid_argument);
}

TEST_CASE("conv.maxpool_and_global_avg_pool_backward") {
  // Distinct inputs 0.1 apart and h = 0.01: no perturbation changes an argmax, and max pool is
  // linear between argmax changes, so differences are exact up to fp32 rounding (~1e-7/h);
  // the average pool is linear. Tolerance 1e-4.
  const FdCheck fd{1e-2, 1e-4, 1e-4};
  for (const auto [k, s, p] : {std::array<std::size_t, 3>{3, 2, 1}, {2, 2, 0}, {3, 1, 1}}) {
    CAPTURE(k);
    CAPTURE(s);
    MaxPool2d pool(k, s, p);
    Tensor4 x = xt::zeros<float>({std::size_t{2}, std::size_t{2}, std::size_t{7}, std::size_t{6}});
    std::vector<std::size_t> perm(x.size());
    std::iota(perm.begin(), perm.end(), std::size_t{0});
    const RandomKey key{5, 5};
    for (std::size_t i = perm.size(); i-- > 1;)
      std::swap(perm[i], perm[random_word(key, i) % (i + 1)]);
    for (std::size_t i = 0; i < x.size(); ++i)
      x.data()[i] = 0.1f * static_cast<float>(perm[i]) - 5.0f;
    const Tensor4 y0 = pool.forward(x);
    REQUIRE(y0.shape(2) == (7 + 2 * p - k) / s + 1);
    // forward: the window maxima
    for (std::size_t bc = 0; bc < 4; ++bc)
      for (std::size_t oy = 0; oy < y0.shape(2); ++oy)
        for (std::size_t ox = 0; ox < y0.shape(3); ++ox) {
          float m = -1e30f;
          for (std::size_t ky = 0; ky < k; ++ky)
            for (std::size_t kx = 0; kx < k; ++kx) {
              const std::size_t iy = oy * s + ky, ix = ox * s + kx;
              if (iy < p || ix < p || iy - p >= 7 || ix - p >= 6) continue;
              m = std::max(m, x.data()[(bc * 7 + iy - p) * 6 + ix - p]);
            }
          REQUIRE(y0.data()[(bc * y0.shape(2) + oy) * y0.shape(3) + ox] == m);
        }
    const auto w = normal_values(y0.size(), 31);
    const Tensor4 dx = pool.backward(like(y0, w));
    (void)fd("maxpool x", x.data(), dx.data(), x.size(),
             [&] { return weighted_sum(pool.forward(x), w); });
  }
  // ties: the first maximum in scan order takes the gradient
  MaxPool2d pool(2, 2);
  const Tensor4 flat =
      xt::ones<float>({std::size_t{1}, std::size_t{1}, std::size_t{2}, std::size_t{2}});
  (void)pool.forward(flat);
  const Tensor4 g = pool.backward(
      xt::ones<float>({std::size_t{1}, std::size_t{1}, std::size_t{1}, std::size_t{1}}));
  CHECK(g(0, 0, 0, 0) == 1.0f);
  CHECK(g(0, 0, 0, 1) == 0.0f);
  CHECK(g(0, 0, 1, 0) == 0.0f);
  CHECK(g(0, 0, 1, 1) == 0.0f);

  GlobalAvgPool gap;
  Tensor4 x = random_tensor(2, 3, 4, 5, 41);
  const Tensor2 y0 = gap.forward(x);
  REQUIRE(y0.shape(0) == 2);
  REQUIRE(y0.shape(1) == 3);
  double m = 0;
  for (std::size_t i = 0; i < 20; ++i) m += x.data()[20 + i];  // image 0, channel 1
  CHECK(y0(0, 1) == doctest::Approx(m / 20).epsilon(1e-6));
  const auto w = normal_values(y0.size(), 42);
  const Tensor4 dx = gap.backward(like(y0, w));
  (void)fd("gap x", x.data(), dx.data(), x.size(), [&] { return weighted_sum(gap.forward(x), w); });

  // relu and the residual add
  Relu4 relu;
  const Tensor4 a = random_tensor(1, 2, 3, 3, 43), b = random_tensor(1, 2, 3, 3, 44);
  const Tensor4 ra = relu.forward(a), da = relu.backward(b);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(ra.data()[i] == std::max(a.data()[i], 0.0f));
    CHECK(da.data()[i] == (a.data()[i] > 0 ? b.data()[i] : 0.0f));
  }
  const Tensor4 sum = residual_add(a, b);
  CHECK(sum(0, 1, 2, 0) == a(0, 1, 2, 0) + b(0, 1, 2, 0));
  CHECK_THROWS_AS((void)residual_add(a, random_tensor(1, 2, 3, 4, 1)), std::invalid_argument);
}

TEST_CASE("conv.resnet_structure") {
  Resnet net;  // c = 16, one block per stage
  net.init(1);
  std::vector<std::string> names;
  for (Param* p : net.params()) names.push_back(p->name);
  CHECK(names.front() == "stem.conv.weight");
  CHECK(names.back() == "fc.bias");
  CHECK(std::count(names.begin(), names.end(), "stage2.block1.shortcut.conv.weight") == 1);
  CHECK(std::count(names.begin(), names.end(), "stage3.block1.bn2.weight") == 1);
  CHECK(std::count(names.begin(), names.end(), "stage1.block1.shortcut.conv.weight") == 0);
  // stem conv + bn(2), stage1: 2 convs + 2 bn(4), stages 2, 3: 3 convs + 3 bn(6) each, fc(2)
  CHECK(names.size() == 3 + 6 + 9 + 9 + 2);
  const auto layers = net.gemm_layers();
  CHECK(layers.size() == 1 + 2 + 3 + 3 + 1);
  CHECK(layers[0] == "stem.conv");
  CHECK(layers[5] == "stage2.block1.shortcut.conv");
  const auto buf = net.buffers();
  CHECK(buf.size() == 2 * (1 + 2 + 3 + 3));
  CHECK(buf[0]->name == "stem.bn.running_mean");
  CHECK(buf[1]->value == std::vector<float>(16, 1.0f));
  std::size_t count = 0;
  for (Param* p : net.params()) count += p->size();
  // stem 144 + 32 | stage1 2*2304 + 2*32 | stage2 4608 + 9216 + 512 + 3*64 | stage3
  // 18432 + 36864 + 2048 + 3*128 | fc 640 + 10
  CHECK(count == 176 + 4672 + 14528 + 57728 + 650);
  Resnet deeper({8, 2});
  CHECK(deeper.gemm_layers().size() == 1 + 4 + 5 + 5 + 1);
  CHECK(deeper.gemm_layers()[3] == "stage1.block2.conv1");
}

TEST_CASE("conv.resnet_backward_matches_central_differences") {
  // The whole model (c = 4, batch 2, BN in train mode) against central differences of the
  // softmax cross-entropy, 3 sampled elements of every parameter. Inputs 14x14 (14 -> 7 -> 4:
  // an odd size into a stride-2 stage) keep it fast; the layers do not depend on the size.
  // The loss is piecewise smooth: every ReLU input crossing zero inside [p - h, p + h] bends
  // it, and with batch statistics a weight moves every element of its layer, so the
  // difference quotient drifts from the derivative roughly linearly in h (by ~30% at
  // h = 1e-2 for stem weights, as measured). Small h cannot fix that alone: the loss (~2.3)
  // runs through ~10 fp32 layers, relative rounding ~1e-7..1e-6, i.e. ~1e-4 in a quotient at
  // h = 1e-4. So each element is tried at h = 3e-3, 1e-3, 3e-4, 1e-4 and passes when one
  // quotient agrees within 2e-4 absolute + 3e-2 relative: a wiring error (a branch's gradient
  // lost, a wrong BN mode, a transposed GEMM) is off at every h.
  const Recipe r = recipe_preset("fp32");
  Resnet net({4, 1});
  net.init(7);
  const Tensor4 x = random_tensor(2, 1, 14, 14, 51);
  const std::vector<std::uint8_t> labels{3, 8};
  const LossResult lr = softmax_cross_entropy(net.forward(x, r, kCtx, true), labels);
  net.backward(lr.grad, r, kCtx);
  auto loss = [&] { return softmax_cross_entropy(net.forward(x, r, kCtx, true), labels).loss; };
  const std::array<double, 4> hs{3e-3, 1e-3, 3e-4, 1e-4};
  std::array<std::size_t, 4> matched_at{};
  std::size_t checked = 0;
  for (Param* p : net.params()) {
    const std::vector<float> g = p->grad;
    const RandomKey key{99, name_key(p->name)};
    for (std::uint64_t j = 0; j < 3; ++j) {
      const std::size_t i = random_word(key, j) % p->size();
      const float keep = p->value[i];
      std::string seen;
      bool ok = false;
      for (std::size_t k = 0; k < hs.size() && !ok; ++k) {
        p->value[i] = keep + static_cast<float>(hs[k]);
        const double hp = static_cast<double>(p->value[i]) - keep;
        const double lp = loss();
        p->value[i] = keep - static_cast<float>(hs[k]);
        const double hm = keep - static_cast<double>(p->value[i]);
        const double lm = loss();
        p->value[i] = keep;
        const double fd = (lp - lm) / (hp + hm);
        seen += fmt::format(" {:.6g}", fd);
        ok = std::abs(fd - g[i]) <= 2e-4 + 3e-2 * std::abs(fd);
        if (ok) ++matched_at[k];
      }
      INFO(p->name << "[" << i << "]: backward " << g[i] << ", differences" << seen);
      CHECK(ok);
      ++checked;
    }
  }
  CHECK(checked == 3 * 29);
  MESSAGE(
      fmt::format("resnet: {} sampled parameters, matched at h = 3e-3: {}, 1e-3: {}, 3e-4: "
                  "{}, 1e-4: {}",
                  checked, matched_at[0], matched_at[1], matched_at[2], matched_at[3]));
}

TEST_CASE("conv.resnet_quantized_step_records") {
  // mellempudi2019: every conv quantizes its roles and records its GEMMs; weight gradients
  // of convolutions and fc are E5M2 values
  const Recipe r = recipe_preset("mellempudi2019");
  Resnet net({8, 1});
  net.init(2);
  const Tensor4 x = random_tensor(2, 1, 28, 28, 61);
  const std::vector<std::uint8_t> labels{1, 4};
  StepStats stats;
  const StepContext ctx{3, 0, 2, &stats};
  const Tensor2 logits = net.forward(x, r, ctx, true);
  for (const float v : logits) REQUIRE(std::isfinite(v));
  const LossResult lr = softmax_cross_entropy(logits, labels, 1024.0);
  net.backward(lr.grad, r, ctx);
  for (const auto& layer : net.gemm_layers()) {
    CAPTURE(layer);
    for (const char* role : {"/activation", "/weight", "/error", "/weight_grad"}) {
      CAPTURE(role);
      REQUIRE(stats.quant.count(layer + role) == 1);
      CHECK(stats.quant.at(layer + role).counters.count > 0);
    }
    CHECK(stats.gemm.count(layer + "/fprop") == 1);
    CHECK(stats.gemm.count(layer + "/wgrad") == 1);
    CHECK(stats.gemm.count(layer + "/dgrad") == (layer == "stem.conv" ? 0 : 1));
  }
  CHECK(stats.quant.count("stage2.block1.conv1/error") == 1);
  CHECK(stats.quant.at("stage2.block1.conv1/activation").counters.count == 2 * 8 * 28 * 28);
  const Format e5m2 = parse_format("e5m2");
  std::size_t nonzero = 0;
  for (Param* p : net.params()) {
    if (p->name.find("conv.weight") == std::string::npos &&
        p->name.find("conv1.weight") == std::string::npos &&
        p->name.find("conv2.weight") == std::string::npos && p->name != "fc.weight")
      continue;
    CAPTURE(p->name);
    for (const float g : p->grad) {
      REQUIRE(static_cast<float>(to_double(e5m2, from_double(g, e5m2, {}).code)) == g);
      nonzero += g != 0;
    }
  }
  CHECK(nonzero > 0);
  // an exempt layer runs without quantizers
  Recipe ex = r;
  ex.exempt = {"stem.conv", "fc"};
  stats.clear();
  (void)net.forward(x, ex, ctx, false);
  CHECK(stats.quant.count("stem.conv/activation") == 0);
  CHECK(stats.quant.count("fc/weight") == 0);
  CHECK(stats.quant.count("stage1.block1.conv1/activation") == 1);
  CHECK(stats.gemm.count("stem.conv/fprop") == 1);
}
