// workloads/nn/layers.cpp — Linear, ReLU, softmax cross-entropy.
#include "workloads/nn/layers.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "rounding/random_bits.hpp"

namespace fp8sim::workloads {

Linear::Linear(std::string name, std::size_t in, std::size_t out)
    : name_(std::move(name)), in_(in), out_(out) {
  weight.name = name_ + ".weight";
  weight.shape = {out, in};
  weight.value.assign(out * in, 0.0f);
  weight.grad.assign(out * in, 0.0f);
  bias.name = name_ + ".bias";
  bias.shape = {out};
  bias.value.assign(out, 0.0f);
  bias.grad.assign(out, 0.0f);
}

void Linear::init(std::uint64_t seed) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_));
  auto fill = [&](Param& p) {
    const RandomKey key{seed, name_key(p.name)};
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double u = (random_word(key, i) + 0.5) * 0x1p-32;  // (0, 1)
      p.value[i] = static_cast<float>((2 * u - 1) * bound);
    }
  };
  fill(weight);
  fill(bias);
}

Tensor2 Linear::forward(const Tensor2& x, const Recipe& r, const StepContext& ctx) {
  if (x.shape(1) != in_)
    throw std::invalid_argument(
        fmt::format("{}: input has {} features, the layer takes {}", name_, x.shape(1), in_));
  batch_ = x.shape(0);
  const bool exempt = r.is_exempt(name_);
  const RoleQuant none{};
  const RoleQuant& qa = exempt ? none : r.activation;
  const RoleQuant& qw = exempt ? none : r.weight;
  const MacConfig& m = exempt ? fp32_mac() : r.fprop;
  xq_.resize(x.size());
  sx_ = quantize_role(qa, name_ + "/activation", std::span(x.data(), x.size()), xq_, ctx);
  wq_.resize(weight.size());
  sw_ = quantize_role(qw, name_ + "/weight", weight.value, wq_, ctx);
  std::vector<float> wt(in_ * out_);  // W^T: in x out
  for (std::size_t o = 0; o < out_; ++o)
    for (std::size_t i = 0; i < in_; ++i) wt[i * out_ + o] = wq_[o * in_ + i];
  Tensor2 y = xt::zeros<float>({batch_, out_});
  layer_gemm(m, name_ + "/fprop", batch_, out_, in_, xq_, wt, std::span(y.data(), y.size()), ctx);
  const float descale = 1.0f / (sx_ * sw_);
  for (std::size_t b = 0; b < batch_; ++b)
    for (std::size_t o = 0; o < out_; ++o) {
      if (descale != 1.0f) y(b, o) *= descale;
      y(b, o) += bias.value[o];
    }
  return y;
}

Tensor2 Linear::backward(const Tensor2& dy, const Recipe& r, const StepContext& ctx, bool need_dx) {
  if (dy.shape(0) != batch_ || dy.shape(1) != out_)
    throw std::invalid_argument(fmt::format("{}: gradient is {}x{}, the output was {}x{}", name_,
                                            dy.shape(0), dy.shape(1), batch_, out_));
  const bool exempt = r.is_exempt(name_);
  const RoleQuant none{};
  std::vector<float> dyq(dy.size());
  const float sdy = quantize_role(exempt ? none : r.error, name_ + "/error",
                                  std::span(dy.data(), dy.size()), dyq, ctx);
  // dx = dy · W (batch x in)
  Tensor2 dx;
  if (need_dx) {
    dx = xt::zeros<float>({batch_, in_});
    layer_gemm(exempt ? fp32_mac() : r.dgrad, name_ + "/dgrad", batch_, in_, out_, dyq, wq_,
               std::span(dx.data(), dx.size()), ctx);
    if (sdy * sw_ != 1.0f) dx *= 1.0f / (sdy * sw_);
  }
  // dW = dy^T · x (out x in)
  std::vector<float> dyt(out_ * batch_);
  for (std::size_t b = 0; b < batch_; ++b)
    for (std::size_t o = 0; o < out_; ++o) dyt[o * batch_ + b] = dyq[b * out_ + o];
  layer_gemm(exempt ? fp32_mac() : r.wgrad, name_ + "/wgrad", out_, in_, batch_, dyt, xq_,
             weight.grad, ctx);
  if (sdy * sx_ != 1.0f)
    for (float& g : weight.grad) g *= 1.0f / (sdy * sx_);
  const float sg = quantize_role(exempt ? none : r.weight_grad, name_ + "/weight_grad", weight.grad,
                                 weight.grad, ctx);
  if (sg != 1.0f)
    for (float& g : weight.grad) g /= sg;
  for (std::size_t o = 0; o < out_; ++o) {
    double s = 0;
    for (std::size_t b = 0; b < batch_; ++b) s += dyq[b * out_ + o];
    bias.grad[o] = static_cast<float>(s / sdy);
  }
  return dx;
}

Tensor2 Relu::forward(const Tensor2& x) {
  Tensor2 y = x;
  mask_.assign(x.size(), 0);
  for (std::size_t i = 0; i < y.size(); ++i) {
    mask_[i] = x.data()[i] > 0;
    if (!mask_[i]) y.data()[i] = 0;
  }
  return y;
}

Tensor2 Relu::backward(const Tensor2& dy) const {
  Tensor2 dx = dy;
  for (std::size_t i = 0; i < dx.size(); ++i)
    if (!mask_[i]) dx.data()[i] = 0;
  return dx;
}

LossResult softmax_cross_entropy(const Tensor2& logits, std::span<const std::uint8_t> labels,
                                 double scale) {
  const std::size_t B = logits.shape(0), C = logits.shape(1);
  if (labels.size() != B)
    throw std::invalid_argument(
        fmt::format("softmax_cross_entropy: {} labels for a batch of {}", labels.size(), B));
  LossResult r;
  r.grad = xt::zeros<float>({B, C});
  double total = 0;
  for (std::size_t b = 0; b < B; ++b) {
    if (labels[b] >= C)
      throw std::invalid_argument(
          fmt::format("softmax_cross_entropy: label {} with {} classes", labels[b], C));
    double mx = logits(b, 0);
    std::size_t arg = 0;
    for (std::size_t c = 1; c < C; ++c)
      if (logits(b, c) > mx) {
        mx = logits(b, c);
        arg = c;
      }
    r.correct += arg == labels[b];
    double z = 0;
    for (std::size_t c = 0; c < C; ++c) z += std::exp(static_cast<double>(logits(b, c)) - mx);
    total += std::log(z) + mx - logits(b, labels[b]);
    for (std::size_t c = 0; c < C; ++c) {
      const double p = std::exp(static_cast<double>(logits(b, c)) - mx) / z;
      r.grad(b, c) =
          static_cast<float>(scale * (p - (c == labels[b] ? 1.0 : 0.0)) / static_cast<double>(B));
    }
  }
  r.loss = total / static_cast<double>(B);
  return r;
}

}  // namespace fp8sim::workloads
