// tests/workloads/test_transformer.cpp — workloads/nn transformer layers and model: every
// layer's backward (GELU, Dropout with its fixed mask, LayerNorm, Embedding, attention with
// padding and causal masks, self and cross, the label-smoothed loss) against central finite
// differences of a loss computed in double with quantization off (recipe "fp32"); attention
// against a direct fp64 computation; the whole model's parameter gradients on sampled
// entries; a quantized step's statistics; bit-identical results for 1 and 2 threads;
// padding, causality and greedy decoding.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "normal_values.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/rounding.hpp"
#include "workloads/nn/layers.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"
#include "workloads/nn/transformer.hpp"
#include "workloads/nn/transformer_layers.hpp"

using namespace fp8sim;
using namespace fp8sim::workloads;

namespace {

using fp8sim::testing::normal_values;

Tensor2 random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed, double sigma = 1.0) {
  Tensor2 t = xt::zeros<float>({rows, cols});
  const auto v = normal_values(t.size(), seed, sigma);
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

// sum_i w_i y_i in double: a loss whose gradient w.r.t. y is w
double weighted_sum(const Tensor2& y, const std::vector<float>& w) {
  REQUIRE(y.size() == w.size());
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(w[i]) * y.data()[i];
  return s;
}

Tensor2 like(const Tensor2& t, const std::vector<float>& v) {
  Tensor2 r = t;
  std::copy(v.begin(), v.end(), r.data());
  return r;
}

// Central differences of loss() w.r.t. the listed elements of v (all when empty) against g;
// the steps actually taken in fp32 divide. Returns the largest |fd - g|.
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
      const double hp = static_cast<double>(v[i]) - keep;
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

// n random tokens in [3, vocab) (no special ids)
std::vector<std::int32_t> random_tokens(std::size_t n, std::size_t vocab, std::uint64_t seed) {
  std::vector<std::int32_t> t(n);
  const RandomKey key{seed, 3};
  for (std::size_t i = 0; i < n; ++i)
    t[i] = static_cast<std::int32_t>(3 + random_word(key, i) % (vocab - 3));
  return t;
}

std::vector<std::vector<std::int32_t>> random_batch(const std::vector<std::size_t>& lengths,
                                                    std::size_t vocab, std::uint64_t seed) {
  std::vector<std::vector<std::int32_t>> b;
  for (std::size_t i = 0; i < lengths.size(); ++i)
    b.push_back(random_tokens(lengths[i], vocab, seed * 100 + i));
  return b;
}

bool same_bits(const float* a, const float* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}

Param* param_named(std::vector<Param*> ps, const std::string& name) {
  for (Param* p : ps)
    if (p->name == name) return p;
  FAIL("no parameter " << name);
  return nullptr;
}

}  // namespace

TEST_CASE("transformer.gelu_values_and_backward") {
  // exact GELU x Phi(x): Phi(1) = 0.8413447460685429
  Tensor2 x0 = {{0.0f, 1.0f, -1.0f, 3.0f}};
  Gelu gelu;
  const Tensor2 y0 = gelu.forward(x0);
  CHECK(y0(0, 0) == 0.0f);
  CHECK(y0(0, 1) == doctest::Approx(0.8413447460685429).epsilon(1e-7));
  CHECK(y0(0, 2) == doctest::Approx(-0.15865525393145707).epsilon(1e-6));
  CHECK(y0(0, 3) == doctest::Approx(3 * 0.9986501019683699).epsilon(1e-7));
  // smooth: h = 1e-2 leaves a truncation error h^2 |f'''| / 6 < 2e-5, and one output's fp32
  // rounding (~6e-8 |y|) over 2h ~ 1e-5: tolerance 1e-4 absolute + 1e-3 relative
  Tensor2 x = random_matrix(6, 7, 1, 2.0);
  const Tensor2 y = gelu.forward(x);
  const auto w = normal_values(y.size(), 2);
  const Tensor2 dx = gelu.backward(like(y, w));
  const double e = FdCheck{1e-2, 1e-4, 1e-3}("gelu x", x.data(), dx.data(), x.size(),
                                             [&] { return weighted_sum(gelu.forward(x), w); });
  MESSAGE(fmt::format("gelu worst |fd - backward|: {:.2g}", e));
}

TEST_CASE("transformer.dropout_mask_and_backward") {
  const double p = 0.25;
  Dropout drop("enc1.dropout1", p);
  const Tensor2 x = random_matrix(100, 100, 3);
  const StepContext c{7, 5, 1, nullptr};
  const Tensor2 y = drop.forward(x, c, true);
  const auto& keep = drop.keep();
  REQUIRE(keep.size() == x.size());
  // the documented rule: Philox word of (seed, name key, step * 2^36 + e) below p * 2^32
  const RandomKey key{7, name_key("enc1.dropout1")};
  std::size_t dropped = 0;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const bool kept = random_word(key, (std::uint64_t{5} << 36) + e) >= 0x40000000u;
    REQUIRE(keep[e] == kept);
    dropped += !kept;
    REQUIRE(y.data()[e] == (kept ? x.data()[e] * (4.0f / 3.0f) : 0.0f));
  }
  // the fraction dropped within 5 sigma of p (sigma = sqrt(p (1-p) / n) = 0.0043)
  CHECK(std::abs(static_cast<double>(dropped) / 1e4 - p) < 0.022);
  // the same for 2 threads; another step, another name: other masks; eval: identity
  const StepContext c2{7, 5, 2, nullptr};
  CHECK(same_bits(drop.forward(x, c2, true).data(), y.data(), y.size()));
  const std::vector<std::uint8_t> keep5 = drop.keep();
  (void)drop.forward(x, StepContext{7, 6, 1, nullptr}, true);
  CHECK(drop.keep() != keep5);
  Dropout other("enc1.dropout2", p);
  (void)other.forward(x, c, true);
  CHECK(other.keep() != keep5);
  CHECK(same_bits(drop.forward(x, c, false).data(), x.data(), x.size()));
  CHECK(drop.keep().empty());
  CHECK(same_bits(drop.backward(x).data(), x.data(), x.size()));
  // backward with the fixed mask of step 5: linear, so central differences are exact up to
  // one output's fp32 rounding
  Tensor2 xs = random_matrix(5, 8, 4);
  (void)drop.forward(xs, c, true);
  const auto w = normal_values(xs.size(), 5);
  const Tensor2 dx = drop.backward(like(xs, w));
  for (std::size_t i = 0; i < dx.size(); ++i)
    CHECK(dx.data()[i] == (drop.keep()[i] ? w[i] * (4.0f / 3.0f) : 0.0f));
  (void)FdCheck{0.5, 1e-5, 1e-5}("dropout x", xs.data(), dx.data(), xs.size(),
                                 [&] { return weighted_sum(drop.forward(xs, c, true), w); });
  CHECK_THROWS_AS(Dropout("d", 1.0), std::invalid_argument);
  CHECK_THROWS_AS(Dropout("d", -0.1), std::invalid_argument);
}

TEST_CASE("transformer.layernorm_values_and_backward") {
  LayerNorm ln("enc1.norm1", 6);
  CHECK(ln.weight.name == "enc1.norm1.weight");
  CHECK(ln.bias.name == "enc1.norm1.bias");
  Tensor2 x = random_matrix(5, 6, 11, 3.0);
  // weight 1, bias 0: every row has mean 0 and (biased) variance var / (var + eps) ~ 1
  const Tensor2 y1 = ln.forward(x);
  for (std::size_t r = 0; r < 5; ++r) {
    double m = 0, v = 0, xm = 0, xv = 0;
    for (std::size_t c = 0; c < 6; ++c) xm += x(r, c) / 6.0;
    for (std::size_t c = 0; c < 6; ++c) xv += (x(r, c) - xm) * (x(r, c) - xm) / 6.0;
    for (std::size_t c = 0; c < 6; ++c) m += y1(r, c) / 6.0;
    for (std::size_t c = 0; c < 6; ++c) v += (y1(r, c) - m) * (y1(r, c) - m) / 6.0;
    CHECK(std::abs(m) < 1e-6);
    CHECK(v == doctest::Approx(xv / (xv + 1e-5)).epsilon(1e-5));
    CHECK(y1(r, 2) == doctest::Approx((x(r, 2) - xm) / std::sqrt(xv + 1e-5)).epsilon(1e-5));
  }
  const auto gv = normal_values(6, 12, 0.5), bv = normal_values(6, 13);
  for (std::size_t c = 0; c < 6; ++c) {
    ln.weight.value[c] = 1.0f + gv[c];
    ln.bias.value[c] = bv[c];
  }
  // smooth, not linear in x: h = 1e-2 leaves a truncation error ~1e-5 and fp32 rounding of
  // the 6 outputs of a row ~1e-6 / 2h (measured 6e-5): tolerance 3e-4 absolute + 1e-3 relative
  // (weight and bias enter linearly)
  const Tensor2 y = ln.forward(x);
  const auto w = normal_values(y.size(), 14);
  const Tensor2 dx = ln.backward(like(y, w));
  const std::vector<float> dg = ln.weight.grad, db = ln.bias.grad;
  auto loss = [&] { return weighted_sum(ln.forward(x), w); };
  const FdCheck fd{1e-2, 3e-4, 1e-3};
  const double e1 = fd("x", x.data(), dx.data(), x.size(), loss);
  const double e2 = fd("weight", ln.weight.value.data(), dg.data(), 6, loss);
  const double e3 = fd("bias", ln.bias.value.data(), db.data(), 6, loss);
  MESSAGE(fmt::format("layernorm worst |fd - backward|: x {:.2g}, weight {:.2g}, bias {:.2g}", e1,
                      e2, e3));
  CHECK_THROWS_AS((void)ln.forward(random_matrix(2, 5, 1)), std::invalid_argument);
}

TEST_CASE("transformer.embedding_forward_backward") {
  Embedding emb("enc.embed", 7, 4, 5, kPad);
  emb.init(3);
  CHECK(emb.weight.name == "enc.embed.weight");
  CHECK(emb.position.name == "enc.embed.position");
  for (std::size_t c = 0; c < 4; ++c) CHECK(emb.weight.value[c] == 0.0f);  // the pad row
  // N(0, 1) at init: 28 + 20 values, mean and spread roughly right
  double s = 0, ss = 0;
  for (const float v : emb.position.value) {
    s += v;
    ss += v * v;
  }
  CHECK(std::abs(s / 20) < 0.8);
  CHECK(ss / 20 > 0.3);
  CHECK(ss / 20 < 2.5);
  // two sequences of 4: "3 5 3 0" and "6 1 0 0"
  const std::vector<std::int32_t> ids{3, 5, 3, 0, 6, 1, 0, 0};
  const Tensor2 y = emb.forward(ids, 2, 4);
  REQUIRE(y.shape(0) == 8);
  REQUIRE(y.shape(1) == 4);
  for (std::size_t r = 0; r < 8; ++r)
    for (std::size_t c = 0; c < 4; ++c)
      REQUIRE(y(r, c) == emb.weight.value[static_cast<std::size_t>(ids[r]) * 4 + c] +
                             emb.position.value[(r % 4) * 4 + c]);
  // linear in its parameters: exact differences; the pad row gets no gradient
  const auto w = normal_values(y.size(), 4);
  emb.backward(like(y, w));
  const std::vector<float> gw = emb.weight.grad, gp = emb.position.grad;
  for (std::size_t c = 0; c < 4; ++c) CHECK(gw[c] == 0.0f);
  CHECK(gw[3 * 4 + 1] == w[0 * 4 + 1] + w[2 * 4 + 1]);  // token 3 twice
  CHECK(gw[2 * 4] == 0.0f);                             // token 2 unseen
  auto loss = [&] { return weighted_sum(emb.forward(ids, 2, 4), w); };
  const FdCheck fd{0.5, 1e-5, 1e-5};
  std::vector<std::size_t> non_pad(24);
  std::iota(non_pad.begin(), non_pad.end(), std::size_t{4});
  (void)fd("weight", emb.weight.value.data(), gw.data(), gw.size(), loss, non_pad);
  (void)fd("position", emb.position.value.data(), gp.data(), gp.size(), loss);
  // ids and lengths are checked
  const std::vector<std::int32_t> bad{7};
  CHECK_THROWS_AS((void)emb.forward(bad, 1, 1), std::invalid_argument);
  const std::vector<std::int32_t> longer(6, 3);
  CHECK_THROWS_AS((void)emb.forward(longer, 1, 6), std::invalid_argument);
  CHECK_THROWS_AS((void)emb.forward(longer, 2, 2), std::invalid_argument);
}

namespace {

// y of attention in double from the layer's parameters, for a check of the forward.
std::vector<double> attention_reference(MultiHeadAttention& mha, const Tensor2& xq,
                                        const Tensor2& xkv, std::size_t B, std::size_t H,
                                        const AttentionMask& mask) {
  const std::size_t d = xq.shape(1), LQ = xq.shape(0) / B, LK = xkv.shape(0) / B, dh = d / H;
  const auto ps = mha.params();  // q.w q.b k.w k.b v.w v.b o.w o.b
  auto linear = [&](const Tensor2& x, int l) {
    const auto& W = ps[2 * l]->value;
    const auto& b = ps[2 * l + 1]->value;
    std::vector<double> y(x.shape(0) * d);
    for (std::size_t r = 0; r < x.shape(0); ++r)
      for (std::size_t o = 0; o < d; ++o) {
        double s = b[o];
        for (std::size_t i = 0; i < d; ++i) s += static_cast<double>(W[o * d + i]) * x(r, i);
        y[r * d + o] = s;
      }
    return y;
  };
  const auto q = linear(xq, 0), k = linear(xkv, 1), v = linear(xkv, 2);
  Tensor2 ctx = xt::zeros<float>({B * LQ, d});
  std::vector<double> ctxd(B * LQ * d, 0.0);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < LQ; ++i) {
        std::vector<double> s(LK, -std::numeric_limits<double>::infinity());
        double mx = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < LK; ++j) {
          if ((mask.causal && j > i) || (!mask.key_padding.empty() && mask.key_padding[b * LK + j]))
            continue;
          double z = 0;
          for (std::size_t c = 0; c < dh; ++c)
            z += q[(b * LQ + i) * d + h * dh + c] * k[(b * LK + j) * d + h * dh + c];
          s[j] = z / std::sqrt(static_cast<double>(dh));
          mx = std::max(mx, s[j]);
        }
        if (mx == -std::numeric_limits<double>::infinity()) continue;  // all masked: 0
        double sum = 0;
        for (std::size_t j = 0; j < LK; ++j) sum += std::exp(s[j] - mx);
        for (std::size_t j = 0; j < LK; ++j)
          for (std::size_t c = 0; c < dh; ++c)
            ctxd[(b * LQ + i) * d + h * dh + c] +=
                std::exp(s[j] - mx) / sum * v[(b * LK + j) * d + h * dh + c];
      }
  const auto& W = ps[6]->value;
  const auto& bo = ps[7]->value;
  std::vector<double> y(B * LQ * d);
  for (std::size_t r = 0; r < B * LQ; ++r)
    for (std::size_t o = 0; o < d; ++o) {
      double s = bo[o];
      for (std::size_t i = 0; i < d; ++i) s += W[o * d + i] * ctxd[r * d + i];
      y[r * d + o] = s;
    }
  return y;
}

}  // namespace

TEST_CASE("transformer.attention_forward_matches_direct_computation") {
  // fp32 recipe against fp64: every GEMM a binary32 FMA chain of <= 8 terms, softmax in fp32:
  // relative errors ~1e-6 of the terms' magnitudes; tolerance 2e-5 absolute on outputs ~1
  const Recipe r = recipe_preset("fp32");
  const std::size_t B = 3, H = 2, d = 8;
  MultiHeadAttention mha("dec1.cross", d, H);
  mha.init(5);
  CHECK(mha.gemm_layers() == std::vector<std::string>{"dec1.cross.q", "dec1.cross.k",
                                                      "dec1.cross.v", "dec1.cross.scores",
                                                      "dec1.cross.context", "dec1.cross.o"});
  SUBCASE("cross-attention with key padding (one row all padding)") {
    const std::size_t LQ = 4, LK = 5;
    const Tensor2 xq = random_matrix(B * LQ, d, 21), xkv = random_matrix(B * LK, d, 22);
    AttentionMask m;
    m.key_padding = {0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
    const Tensor2 y = mha.forward(xq, xkv, B, m, r, kCtx, false);
    REQUIRE(y.shape(0) == B * LQ);
    const auto ref = attention_reference(mha, xq, xkv, B, H, m);
    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(std::abs(y.data()[i] - ref[i]) < 2e-5);
    // batch row 2 has only padding keys: P = 0, the output is the O projection's bias
    const auto& bo = mha.params()[7]->value;
    for (std::size_t i = 0; i < LQ; ++i)
      for (std::size_t c = 0; c < d; ++c) CHECK(y((2 * LQ) + i, c) == bo[c]);
    const auto& P = mha.probabilities();
    REQUIRE(P.size() == B * H * LQ * LK);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t i = 0; i < LQ; ++i) {
          double s = 0;
          for (std::size_t j = 0; j < LK; ++j) {
            const float p = P[((b * H + h) * LQ + i) * LK + j];
            if (m.key_padding[b * LK + j]) CHECK(p == 0.0f);
            s += p;
          }
          CHECK(s == doctest::Approx(b == 2 ? 0.0 : 1.0).epsilon(1e-6));
        }
  }
  SUBCASE("causal self-attention with key padding") {
    const std::size_t L = 5;
    const Tensor2 x = random_matrix(B * L, d, 23);
    AttentionMask m;
    m.causal = true;
    m.key_padding = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1};
    const Tensor2 y = mha.forward(x, B, m, r, kCtx, false);
    const auto ref = attention_reference(mha, x, x, B, H, m);
    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(std::abs(y.data()[i] - ref[i]) < 2e-5);
    // query 0 sees key 0 only
    CHECK(mha.probabilities()[0] == 1.0f);
  }
  // shapes and masks are checked
  const Tensor2 x = random_matrix(6, d, 1);
  CHECK_THROWS_AS((void)mha.forward(x, 4, AttentionMask{}, r, kCtx, false), std::invalid_argument);
  AttentionMask bad;
  bad.key_padding = {0, 0};
  CHECK_THROWS_AS((void)mha.forward(x, 2, bad, r, kCtx, false), std::invalid_argument);
  CHECK_THROWS_AS(MultiHeadAttention("a", 8, 3), std::invalid_argument);
}

TEST_CASE("transformer.attention_backward_matches_central_differences") {
  // L = sum w_i y_i through projections, scores, masked softmax and attention dropout (train
  // mode, the fixed mask of the context's step). Smooth in every input: at h = 1e-2 the
  // truncation error is ~h^2 |L'''| / 6 ~ 1e-5 with outputs ~1; fp32 rounding of the ~100
  // outputs an input moves ~1e-5 / 2h ~ 1e-3 at worst (measured: 2e-5). Tolerance 2e-4
  // absolute + 2e-3 relative: a wiring error (a transposed GEMM, a lost mask, a missing
  // dropout scale, a head's columns swapped) is off by O(1).
  const Recipe r = recipe_preset("fp32");
  const std::size_t B = 2, H = 2, d = 8;
  const StepContext ctx{4, 3, 1, nullptr};
  const FdCheck fd{1e-2, 2e-4, 2e-3};
  for (const bool self : {true, false}) {
    CAPTURE(self);
    MultiHeadAttention mha(self ? "enc1.attn" : "dec1.cross", d, H, 0.2);
    mha.init(self ? 8 : 9);
    const std::size_t LQ = self ? 4 : 3, LK = self ? 4 : 5;
    Tensor2 xq = random_matrix(B * LQ, d, 31), xkv = random_matrix(B * LK, d, 32);
    AttentionMask m;
    m.causal = self;
    m.key_padding = self ? std::vector<std::uint8_t>{0, 0, 0, 1, 0, 0, 1, 1}
                         : std::vector<std::uint8_t>{0, 0, 0, 0, 1, 0, 0, 1, 1, 1};
    auto run = [&] {
      return self ? mha.forward(xq, B, m, r, ctx, true) : mha.forward(xq, xkv, B, m, r, ctx, true);
    };
    const Tensor2 y = run();
    const auto w = normal_values(y.size(), 33);
    const AttentionGrads g = mha.backward(like(y, w), r, ctx);
    REQUIRE(g.query.shape() == xq.shape());
    CHECK(g.memory.size() == (self ? 0 : xkv.size()));
    std::vector<std::vector<float>> grads;
    for (Param* p : mha.params()) grads.push_back(p->grad);
    auto loss = [&] { return weighted_sum(run(), w); };
    double worst = fd("query", xq.data(), g.query.data(), xq.size(), loss);
    if (!self) worst = std::max(worst, fd("memory", xkv.data(), g.memory.data(), xkv.size(), loss));
    const auto ps = mha.params();
    for (std::size_t k = 0; k < ps.size(); ++k)
      worst = std::max(worst,
                       fd(ps[k]->name, ps[k]->value.data(), grads[k].data(), ps[k]->size(), loss));
    // the masked keys' memory rows get no gradient through the scores or values
    if (!self)
      for (std::size_t c = 0; c < d; ++c) CHECK(g.memory(4, c) == 0.0f);
    MESSAGE(fmt::format("attention ({}) worst |fd - backward|: {:.2g}", self ? "self" : "cross",
                        worst));
  }
}

TEST_CASE("transformer.token_cross_entropy_values_and_gradient") {
  // rows: [log 3, 0] -> 0, [0, 0] ignored (pad), [0, log 3] -> 0 (wrong argmax)
  Tensor2 z = {{std::log(3.0f), 0.0f}, {0.0f, 0.0f}, {0.0f, std::log(3.0f)}};
  const std::vector<std::int32_t> t{0, kPad, 0};
  // the pad id is 0 here too: class 0 targets count only when ignore is elsewhere
  const TokenLossResult none = token_cross_entropy(z, t, 0.1, kPad);
  CHECK(none.count == 0);
  CHECK(none.loss == 0.0);
  CHECK(xt::amax(xt::abs(none.grad))() == 0.0f);
  const std::vector<std::int32_t> t1{0, -1, 0};
  const TokenLossResult res = token_cross_entropy(z, t1, 0.1, -1, 8.0);
  CHECK(res.count == 2);
  CHECK(res.correct == 1);
  // PyTorch: (1 - eps) * nll + eps * mean_c(-log p_c), averaged over counted tokens
  const double nll0 = -std::log(0.75), nll2 = -std::log(0.25),
               smooth = (-std::log(0.75) - std::log(0.25)) / 2;
  CHECK(res.loss == doctest::Approx((0.9 * nll0 + 0.9 * nll2 + 0.2 * smooth) / 2).epsilon(1e-6));
  // grad = scale * (p - (1 - eps) onehot - eps / C) / count; the ignored row 0
  CHECK(res.grad(0, 0) == doctest::Approx(8.0 * (0.75 - 0.9 - 0.05) / 2).epsilon(1e-6));
  CHECK(res.grad(2, 1) == doctest::Approx(8.0 * (0.75 - 0.05) / 2).epsilon(1e-6));
  CHECK(res.grad(1, 0) == 0.0f);
  CHECK(res.grad(1, 1) == 0.0f);
  // eps = 0 is layers.hpp's softmax_cross_entropy
  Tensor2 zz = random_matrix(6, 5, 41, 2.0);
  const std::vector<std::int32_t> lab{1, 4, 0, 2, 2, 3};
  const std::vector<std::uint8_t> lab8{1, 4, 0, 2, 2, 3};
  const TokenLossResult a = token_cross_entropy(zz, lab, 0.0, -100, 2.0);
  const LossResult b = softmax_cross_entropy(zz, lab8, 2.0);
  CHECK(a.loss == doctest::Approx(b.loss).epsilon(1e-12));
  CHECK(a.correct == b.correct);
  for (std::size_t i = 0; i < zz.size(); ++i)
    CHECK(a.grad.data()[i] == doctest::Approx(b.grad.data()[i]).epsilon(1e-6));
  // the gradient against central differences (smooth; the loss in double from fp32 logits:
  // h = 1e-2, truncation ~1e-5): tolerance 1e-4 absolute + 1e-3 relative
  const std::vector<std::int32_t> lab_pad{1, 0, 3, 2, 0, 4};  // two ignored (id 0)
  const TokenLossResult g = token_cross_entropy(zz, lab_pad, 0.2, kPad);
  CHECK(g.count == 4);
  (void)FdCheck{1e-2, 1e-4, 1e-3}("logits", zz.data(), g.grad.data(), zz.size(),
                                  [&] { return token_cross_entropy(zz, lab_pad, 0.2, kPad).loss; });
  const std::vector<std::int32_t> out_of_range{1, 0, 5, 2, 0, 4};
  CHECK_THROWS_AS((void)token_cross_entropy(zz, out_of_range, 0.1, kPad), std::invalid_argument);
  CHECK_THROWS_AS((void)token_cross_entropy(zz, lab, 1.5, kPad), std::invalid_argument);
}

TEST_CASE("transformer.structure") {
  Transformer net;  // the defaults: d 64, 4 heads, ff 128, 2 + 2 layers, max_len 32
  net.init(1);
  const TransformerOptions& o = net.options();
  CHECK(o.d_model == 64);
  CHECK(o.heads == 4);
  CHECK(o.ff == 128);
  CHECK(o.encoder_layers == 2);
  CHECK(o.decoder_layers == 2);
  CHECK(o.max_len == 32);
  CHECK(o.dropout == 0.1);
  std::vector<std::string> names;
  std::size_t count = 0;
  for (Param* p : net.params()) {
    names.push_back(p->name);
    count += p->size();
    CHECK(p->grad.size() == p->size());
  }
  CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  CHECK(names.front() == "enc.embed.weight");
  CHECK(names.back() == "out.bias");
  for (const char* n :
       {"enc1.attn.q.weight", "dec2.cross.k.bias", "dec1.ff1.weight", "enc2.norm2.bias",
        "dec1.norm3.weight", "enc.norm.weight", "dec.embed.position"})
    CHECK(std::count(names.begin(), names.end(), n) == 1);
  // embeddings 2 * (16 + 32) * 64; attention 4 * (64*64 + 64); ff 64*128 + 128 + 128*64 + 64;
  // norms 2*64 each; out 64*16 + 16
  const std::size_t emb = 2 * 48 * 64, attn = 4 * (4096 + 64), ff = 8192 + 128 + 8192 + 64,
                    norm = 128;
  CHECK(count == emb + 2 * (attn + ff + 2 * norm) + norm + 2 * (2 * attn + ff + 3 * norm) + norm +
                     64 * 16 + 16);
  const auto layers = net.gemm_layers();
  CHECK(layers.size() == 2 * 8 + 2 * 14 + 1);
  CHECK(layers.front() == "enc1.attn.q");
  CHECK(layers[3] == "enc1.attn.scores");
  CHECK(layers[4] == "enc1.attn.context");
  CHECK(layers.back() == "out");
  CHECK(std::count(layers.begin(), layers.end(), "dec2.cross.k") == 1);
  CHECK(std::count(layers.begin(), layers.end(), "dec1.ff1") == 1);
  // embeddings: the pad rows are 0
  for (std::size_t c = 0; c < 64; ++c) CHECK(net.params()[0]->value[c] == 0.0f);
  TransformerOptions bad;
  bad.heads = 5;
  CHECK_THROWS_AS(Transformer{bad}, std::invalid_argument);
  bad = {};
  bad.tgt_vocab = 2;
  CHECK_THROWS_AS(Transformer{bad}, std::invalid_argument);
  CHECK(pad_batch({{3, 4}, {5}, {}}) == std::vector<std::int32_t>{3, 4, 5, 0, 0, 0});
  CHECK_THROWS_AS((void)pad_batch({{3, 4, 5}}, 2), std::invalid_argument);
}

namespace {

TransformerOptions small_options() {
  TransformerOptions o;
  o.src_vocab = 9;
  o.tgt_vocab = 8;
  o.d_model = 8;
  o.heads = 2;
  o.ff = 12;
  o.max_len = 7;
  return o;  // 2 + 2 layers, dropout 0.1
}

// tgt_in = bos + y, tgt_out = y + eos
struct Pairs {
  std::vector<std::vector<std::int32_t>> src, tgt_in, tgt_out;
};
Pairs random_pairs(const std::vector<std::size_t>& src_len, const std::vector<std::size_t>& tgt_len,
                   const TransformerOptions& o, std::uint64_t seed) {
  Pairs p;
  p.src = random_batch(src_len, o.src_vocab, seed);
  const auto y = random_batch(tgt_len, o.tgt_vocab, seed + 1);
  for (const auto& s : y) {
    std::vector<std::int32_t> in{kBos}, out = s;
    in.insert(in.end(), s.begin(), s.end());
    out.push_back(kEos);
    p.tgt_in.push_back(in);
    p.tgt_out.push_back(out);
  }
  return p;
}

}  // namespace

TEST_CASE("transformer.model_backward_matches_central_differences") {
  // A 2 + 2 layer model (d 8, 2 heads) on 3 pairs of different lengths, train mode (every
  // dropout at 0.1 with the fixed masks of the step), label-smoothed loss (0.1, pad ignored);
  // 3 sampled entries of every parameter. The loss (~2) runs through ~30 fp32 layers:
  // relative rounding ~1e-7..1e-6, i.e. ~1e-4 in a quotient at h = 1e-3, while curvature
  // wants a small h. So each entry is tried at h = 1e-2, 3e-3, 1e-3, 3e-4 and passes when
  // one quotient agrees within 2e-4 absolute + 2e-2 relative (as conv.resnet's check): a
  // wiring error (a lost residual branch, memory gradient, mask or dropout) is off at every h.
  const Recipe r = recipe_preset("fp32");
  const TransformerOptions o = small_options();
  Transformer net(o);
  net.init(7);
  const Pairs d = random_pairs({4, 2, 5}, {3, 5, 1}, o, 17);
  const std::vector<std::int32_t> targets = pad_batch(d.tgt_out);
  const StepContext ctx{5, 2, 1, nullptr};
  const Tensor2 logits = net.forward(d.src, d.tgt_in, r, ctx, true);
  REQUIRE(logits.shape(0) == 3 * 6);
  REQUIRE(logits.shape(1) == 8);
  const TokenLossResult lr = token_cross_entropy(logits, targets, 0.1, kPad);
  CHECK(lr.count == 4 + 6 + 2);
  net.backward(lr.grad, r, ctx);
  auto loss = [&] {
    return token_cross_entropy(net.forward(d.src, d.tgt_in, r, ctx, true), targets, 0.1, kPad).loss;
  };
  const std::array<double, 4> hs{1e-2, 3e-3, 1e-3, 3e-4};
  std::array<std::size_t, 4> matched_at{};
  std::size_t checked = 0, params = 0;
  for (Param* p : net.params()) {
    ++params;
    const std::vector<float> g = p->grad;
    // every parameter receives a gradient (the pad rows and unseen tokens of the embeddings
    // excepted, so those are judged by their seen rows)
    CHECK_MESSAGE(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; }), p->name);
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
        ok = std::abs(fd - g[i]) <= 2e-4 + 2e-2 * std::abs(fd);
        if (ok) ++matched_at[k];
      }
      INFO(p->name << "[" << i << "]: backward " << g[i] << ", differences" << seen);
      CHECK(ok);
      ++checked;
    }
  }
  // embeddings 2 * 2, encoder layers 2 * (2 + 8 + 2 + 4), enc.norm 2, decoder layers
  // 2 * (2 + 8 + 2 + 8 + 2 + 4), dec.norm 2, out 2
  CHECK(params == 4 + 32 + 2 + 52 + 2 + 2);
  CHECK(checked == 3 * params);
  MESSAGE(
      fmt::format("transformer: {} sampled parameters, matched at h = 1e-2: {}, 3e-3: {}, "
                  "1e-3: {}, 3e-4: {}",
                  checked, matched_at[0], matched_at[1], matched_at[2], matched_at[3]));
}

TEST_CASE("transformer.quantized_step_records") {
  // mellempudi2019: every GEMM layer quantizes its operands and records its three GEMMs;
  // the weight gradients of Linear layers are E5M2 values; an exempt module runs in fp32
  const Recipe r = recipe_preset("mellempudi2019");
  TransformerOptions o = small_options();
  o.d_model = 16;
  Transformer net(o);
  net.init(2);
  const Pairs d = random_pairs({5, 3}, {4, 6}, o, 23);
  const std::size_t B = 2, S = 5, T = 7;
  StepStats stats;
  const StepContext ctx{3, 0, 2, &stats};
  const Tensor2 logits = net.forward(d.src, d.tgt_in, r, ctx, true);
  for (const float v : logits) REQUIRE(std::isfinite(v));
  const TokenLossResult lr = token_cross_entropy(logits, pad_batch(d.tgt_out), 0.1, kPad, 1024.0);
  net.backward(lr.grad, r, ctx);
  const Format e5m2 = parse_format("e5m2");
  for (const auto& layer : net.gemm_layers()) {
    CAPTURE(layer);
    const bool attention_gemm = layer.ends_with(".scores") || layer.ends_with(".context");
    for (const char* role : {"/activation", "/weight", "/error"}) {
      CAPTURE(role);
      REQUIRE(stats.quant.count(layer + role) == 1);
      CHECK(stats.quant.at(layer + role).counters.count > 0);
      CHECK(stats.quant.at(layer + role).format == "e5m2");
    }
    CHECK(stats.quant.count(layer + "/weight_grad") == (attention_gemm ? 0 : 1));
    for (const char* kind : {"/fprop", "/dgrad", "/wgrad"}) {
      CAPTURE(kind);
      CHECK(stats.gemm.count(layer + kind) == 1);
    }
  }
  // whole tensors: Q as (B*S) x d, P~ as [B][H][T][S]; the per-head GEMM shapes
  CHECK(stats.quant.at("enc1.attn.scores/activation").counters.count == B * S * 16);
  CHECK(stats.quant.at("dec2.cross.context/activation").counters.count == B * 2 * T * S);
  CHECK(stats.quant.at("dec2.cross.scores/error").counters.count == B * 2 * T * S);
  const GemmPointStats& gs = stats.gemm.at("dec1.cross.scores/fprop");
  CHECK(gs.m == T);
  CHECK(gs.n == S);
  CHECK(gs.k == 8);
  CHECK(stats.gemm.at("dec1.cross.context/wgrad").m == 8);
  for (Param* p : net.params()) {
    CAPTURE(p->name);
    for (const float g : p->grad) REQUIRE(std::isfinite(g));
    if (p->name.ends_with("q.weight") || p->name.ends_with("ff1.weight") || p->name == "out.weight")
      for (const float g : p->grad)
        REQUIRE(static_cast<float>(to_double(e5m2, from_double(g, e5m2, {}).code)) == g);
  }
  // exempt: the whole cross-attention of dec1, and only the scores pair of enc2
  Recipe ex = r;
  ex.exempt = {"dec1.cross", "enc2.attn.scores"};
  stats.clear();
  const Tensor2 l2 = net.forward(d.src, d.tgt_in, ex, ctx, false);
  for (const float v : l2) REQUIRE(std::isfinite(v));
  for (const char* n :
       {"dec1.cross.q/activation", "dec1.cross.o/weight", "dec1.cross.scores/activation",
        "dec1.cross.context/weight", "enc2.attn.scores/weight"})
    CHECK_MESSAGE(stats.quant.count(n) == 0, n);
  for (const char* n :
       {"dec2.cross.q/activation", "enc2.attn.context/activation", "enc2.attn.q/activation"})
    CHECK_MESSAGE(stats.quant.count(n) == 1, n);
  CHECK(stats.gemm.at("dec1.cross.scores/fprop").mac ==
        stats.gemm.at("enc2.attn.scores/fprop").mac);
  CHECK(stats.gemm.at("dec1.cross.scores/fprop").mac !=
        stats.gemm.at("dec2.cross.scores/fprop").mac);
}

TEST_CASE("transformer.threads_give_identical_bits") {
  // stochastic rounding of errors (mellempudi2019) and dropout: 1 and 2 threads, and a
  // repeat, give the same logits and gradients bit for bit; another step does not
  const Recipe r = recipe_preset("mellempudi2019");
  const TransformerOptions o = small_options();
  const Pairs d = random_pairs({6, 2, 4}, {5, 3, 6}, o, 31);
  const std::vector<std::int32_t> targets = pad_batch(d.tgt_out);
  auto run = [&](int threads, std::uint64_t step) {
    Transformer net(o);
    net.init(4);
    const StepContext ctx{9, step, threads, nullptr};
    const Tensor2 logits = net.forward(d.src, d.tgt_in, r, ctx, true);
    const TokenLossResult lr = token_cross_entropy(logits, targets, 0.1, kPad, 256.0);
    net.backward(lr.grad, r, ctx);
    std::vector<float> all(logits.begin(), logits.end());
    for (Param* p : net.params()) all.insert(all.end(), p->grad.begin(), p->grad.end());
    return all;
  };
  const auto a = run(1, 3), b = run(2, 3), c = run(1, 3), e = run(1, 4);
  REQUIRE(a.size() == b.size());
  CHECK(same_bits(a.data(), b.data(), a.size()));
  CHECK(same_bits(a.data(), c.data(), a.size()));
  CHECK(!same_bits(a.data(), e.data(), a.size()));
  for (const float v : a) REQUIRE(std::isfinite(v));
}

TEST_CASE("transformer.padding_and_causality") {
  // fp32: a sequence's logits do not depend on the other sequences of its batch, nor on the
  // padding added to reach their lengths (masked keys add exact zeros), bit for bit; a
  // target token changes no logit before it, and a source token changes the logits
  const Recipe r = recipe_preset("fp32");
  const TransformerOptions o = small_options();
  Transformer net(o);
  net.init(11);
  const Pairs d = random_pairs({5, 2, 3}, {2, 5, 4}, o, 41);
  const Tensor2 all = net.forward(d.src, d.tgt_in, r, kCtx, false);
  const std::size_t T = 6, V = 8;
  for (std::size_t b = 0; b < 3; ++b) {
    CAPTURE(b);
    const Tensor2 one = net.forward({d.src[b]}, {d.tgt_in[b]}, r, kCtx, false);
    const std::size_t t = d.tgt_in[b].size();
    REQUIRE(one.shape(0) == t);
    CHECK(same_bits(one.data(), all.data() + b * T * V, t * V));
  }
  auto changed = d;
  changed.tgt_in[1][3] = changed.tgt_in[1][3] == 3 ? 4 : 3;
  const Tensor2 c = net.forward(changed.src, changed.tgt_in, r, kCtx, false);
  CHECK(same_bits(c.data() + T * V, all.data() + T * V, 3 * V));  // positions 0..2
  CHECK(!same_bits(c.data() + T * V + 3 * V, all.data() + T * V + 3 * V, V));
  CHECK(same_bits(c.data(), all.data(), T * V));  // another sequence
  changed = d;
  changed.src[1][1] = changed.src[1][1] == 3 ? 4 : 3;
  const Tensor2 s = net.forward(changed.src, changed.tgt_in, r, kCtx, false);
  CHECK(!same_bits(s.data() + T * V, all.data() + T * V, V));
  CHECK(same_bits(s.data() + 2 * T * V, all.data() + 2 * T * V, T * V));
  // train mode: dropout changes the logits
  const Tensor2 tr = net.forward(d.src, d.tgt_in, r, kCtx, true);
  CHECK(!same_bits(tr.data(), all.data(), all.size()));
}

TEST_CASE("transformer.greedy_decode") {
  const Recipe r = recipe_preset("fp32");
  const TransformerOptions o = small_options();
  Transformer net(o);
  net.init(13);
  const auto src = random_batch({4, 1, 6}, o.src_vocab, 51);
  // the first token is the argmax of the logits after bos; at most max_len tokens, an eos
  // only at the end; a batch decodes as its sequences alone
  const auto dec = net.greedy_decode(src, kBos, kEos, 5, r, kCtx);
  REQUIRE(dec.size() == 3);
  for (std::size_t b = 0; b < 3; ++b) {
    CAPTURE(b);
    REQUIRE(!dec[b].empty());
    CHECK(dec[b].size() <= 5);
    for (std::size_t t = 0; t + 1 < dec[b].size(); ++t) CHECK(dec[b][t] != kEos);
    if (dec[b].size() < 5) CHECK(dec[b].back() == kEos);
    const Tensor2 z = net.forward({src[b]}, {{kBos}}, r, kCtx, false);
    const auto first = std::max_element(z.data(), z.data() + 8) - z.data();
    CHECK(dec[b][0] == first);
    CHECK(net.greedy_decode({src[b]}, kBos, kEos, 5, r, kCtx)[0] == dec[b]);
    // continuing the decoded prefix reproduces the next token
    if (dec[b].size() >= 2) {
      std::vector<std::int32_t> in{kBos, dec[b][0]};
      const Tensor2 z2 = net.forward({src[b]}, {in}, r, kCtx, false);
      const auto second = std::max_element(z2.data() + 8, z2.data() + 16) - (z2.data() + 8);
      CHECK(dec[b][1] == second);
    }
  }
  Param* bias = param_named(net.params(), "out.bias");
  // eos always wins: every output is just eos
  bias->value[kEos] = 1e4f;
  for (const auto& s : net.greedy_decode(src, kBos, kEos, 5, r, kCtx))
    CHECK(s == std::vector<std::int32_t>{kEos});
  // token 5 always wins: max_len tokens, no eos
  bias->value[kEos] = 0.0f;
  bias->value[5] = 1e4f;
  for (const std::size_t len : {std::size_t{1}, std::size_t{4}, o.max_len})
    for (const auto& s : net.greedy_decode(src, kBos, kEos, len, r, kCtx))
      CHECK(s == std::vector<std::int32_t>(len, 5));
  CHECK_THROWS_AS((void)net.greedy_decode(src, kBos, kEos, o.max_len + 1, r, kCtx),
                  std::invalid_argument);
  CHECK_THROWS_AS((void)net.greedy_decode(src, kBos, 8, 3, r, kCtx), std::invalid_argument);
}
