// workloads/nn/conv_layers.cpp — Conv2d (im2col + layer_gemm), BatchNorm2d, MaxPool2d,
// GlobalAvgPool, residual add.
#include "workloads/nn/conv_layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <omp.h>

#include "rounding/random_bits.hpp"

namespace fp8sim::workloads {

namespace {

// The geometry of a convolution (or pooling) window over an NCHW input.
struct Window {
  std::size_t n, c, h, w, k, stride, pad, oh, ow;
  [[nodiscard]] std::size_t rows() const { return n * oh * ow; }  // im2col rows
  [[nodiscard]] std::size_t cols() const { return c * k * k; }    // im2col columns
  // the input row (column) of output row oy (column ox) and kernel offset ky (kx); false
  // when it falls in the padding
  [[nodiscard]] bool at(std::size_t o, std::size_t kk, std::size_t extent, std::size_t& i) const {
    const std::size_t p = o * stride + kk;  // position in the padded input
    if (p < pad || p - pad >= extent) return false;
    i = p - pad;
    return true;
  }
};

// The threads a layer's own loops use (the run's count; 0: OpenMP's default).
int layer_threads(const StepContext& ctx) {
  return ctx.threads > 0 ? ctx.threads : omp_get_max_threads();
}

std::size_t window_out(std::size_t n, std::size_t k, std::size_t stride, std::size_t pad) {
  return (n + 2 * pad - k) / stride + 1;
}

// cols[(b*oh*ow + oy*ow + ox)][(ci*k + ky)*k + kx] = x[b][ci][oy*s + ky - p][ox*s + kx - p]
// (0 in the padding).
// Threaded over images (each writes its own rows).
std::vector<float> im2col(const std::vector<float>& x, const Window& g, int threads) {
  const std::size_t K = g.cols();
  std::vector<float> cols(g.rows() * K, 0.0f);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t b = 0; b < g.n; ++b)
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        float* row = cols.data() + ((b * g.oh + oy) * g.ow + ox) * K;
        for (std::size_t ci = 0; ci < g.c; ++ci)
          for (std::size_t ky = 0; ky < g.k; ++ky) {
            std::size_t iy = 0;
            if (!g.at(oy, ky, g.h, iy)) continue;
            const float* src = x.data() + ((b * g.c + ci) * g.h + iy) * g.w;
            for (std::size_t kx = 0; kx < g.k; ++kx) {
              std::size_t ix = 0;
              if (g.at(ox, kx, g.w, ix)) row[(ci * g.k + ky) * g.k + kx] = src[ix];
            }
          }
      }
  return cols;
}

// The adjoint of im2col: dx[b][ci][iy][ix] = sum of the patch entries that copied it.
// Threaded over images: each sums into its own image in the same order for any thread count.
void col2im(const std::vector<float>& cols, const Window& g, float* dx, int threads) {
  const std::size_t K = g.cols();
  std::fill(dx, dx + g.n * g.c * g.h * g.w, 0.0f);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t b = 0; b < g.n; ++b)
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        const float* row = cols.data() + ((b * g.oh + oy) * g.ow + ox) * K;
        for (std::size_t ci = 0; ci < g.c; ++ci)
          for (std::size_t ky = 0; ky < g.k; ++ky) {
            std::size_t iy = 0;
            if (!g.at(oy, ky, g.h, iy)) continue;
            float* dst = dx + ((b * g.c + ci) * g.h + iy) * g.w;
            for (std::size_t kx = 0; kx < g.k; ++kx) {
              std::size_t ix = 0;
              if (g.at(ox, kx, g.w, ix)) dst[ix] += row[(ci * g.k + ky) * g.k + kx];
            }
          }
      }
}

std::string shape_text(const Tensor4& t) {
  return fmt::format("{}x{}x{}x{}", t.shape(0), t.shape(1), t.shape(2), t.shape(3));
}

}  // namespace

// ---------------------------------------------------------------------------------- Conv2d

Conv2d::Conv2d(std::string name, std::size_t in_ch, std::size_t out_ch, std::size_t kernel,
               std::size_t stride, std::size_t padding, bool with_bias)
    : name_(std::move(name)),
      in_(in_ch),
      out_(out_ch),
      k_(kernel),
      stride_(stride),
      pad_(padding),
      has_bias_(with_bias) {
  if (in_ == 0 || out_ == 0 || k_ == 0 || stride_ == 0)
    throw std::invalid_argument(
        fmt::format("{}: channels, kernel and stride must be at least 1", name_));
  weight.name = name_ + ".weight";
  weight.shape = {out_, in_, k_, k_};
  weight.value.assign(out_ * in_ * k_ * k_, 0.0f);
  weight.grad.assign(weight.value.size(), 0.0f);
  bias.name = name_ + ".bias";
  if (has_bias_) {
    bias.shape = {out_};
    bias.value.assign(out_, 0.0f);
    bias.grad.assign(out_, 0.0f);
  }
}

void Conv2d::init(std::uint64_t seed) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_ * k_ * k_));
  for (Param* p : params()) {
    const RandomKey key{seed, name_key(p->name)};
    for (std::size_t i = 0; i < p->size(); ++i) {
      const double u = (random_word(key, i) + 0.5) * 0x1p-32;  // (0, 1)
      p->value[i] = static_cast<float>((2 * u - 1) * bound);
    }
  }
}

std::size_t Conv2d::out_size(std::size_t n) const {
  if (n + 2 * pad_ < k_)
    throw std::invalid_argument(
        fmt::format("{}: input size {} with padding {} is below the "
                    "kernel size {}",
                    name_, n, pad_, k_));
  return window_out(n, k_, stride_, pad_);
}

std::vector<Param*> Conv2d::params() {
  if (has_bias_) return {&weight, &bias};
  return {&weight};
}

Tensor4 Conv2d::forward(const Tensor4& x, const Recipe& r, const StepContext& ctx) {
  if (x.shape(1) != in_)
    throw std::invalid_argument(
        fmt::format("{}: input has {} channels, the layer takes {}", name_, x.shape(1), in_));
  n_ = x.shape(0);
  h_ = x.shape(2);
  w_ = x.shape(3);
  const Window g{n_, in_, h_, w_, k_, stride_, pad_, out_size(h_), out_size(w_)};
  const bool exempt = r.is_exempt(name_);
  const RoleQuant none{};
  xq_.resize(x.size());
  sx_ = quantize_role(exempt ? none : r.activation, name_ + "/activation",
                      std::span(x.data(), x.size()), xq_, ctx);
  wq_.resize(weight.size());
  sw_ = quantize_role(exempt ? none : r.weight, name_ + "/weight", weight.value, wq_, ctx);
  const std::size_t M = g.rows(), K = g.cols(), P = g.oh * g.ow;
  const int th = layer_threads(ctx);
  const std::vector<float> cols = im2col(xq_, g, th);
  std::vector<float> wt(K * out_);  // Wq^T: K x out
  for (std::size_t o = 0; o < out_; ++o)
    for (std::size_t i = 0; i < K; ++i) wt[i * out_ + o] = wq_[o * K + i];
  std::vector<float> ym(M * out_);
  layer_gemm(exempt ? fp32_mac() : r.fprop, name_ + "/fprop", M, out_, K, cols, wt, ym, ctx);
  Tensor4 y = xt::zeros<float>({n_, out_, g.oh, g.ow});
  float* yd = y.data();
  const float descale = 1.0f / (sx_ * sw_);  // per-tensor scaling (1 without)
#pragma omp parallel for num_threads(th) schedule(static)
  for (std::size_t b = 0; b < n_; ++b)
    for (std::size_t o = 0; o < out_; ++o) {
      const float add = has_bias_ ? bias.value[o] : 0.0f;
      for (std::size_t p = 0; p < P; ++p) {
        const float v = ym[(b * P + p) * out_ + o];
        yd[(b * out_ + o) * P + p] = (descale != 1.0f ? v * descale : v) + add;
      }
    }
  return y;
}

Tensor4 Conv2d::backward(const Tensor4& dy, const Recipe& r, const StepContext& ctx, bool need_dx) {
  if (xq_.empty()) throw std::logic_error(fmt::format("{}: backward without a forward", name_));
  const Window g{n_, in_, h_, w_, k_, stride_, pad_, out_size(h_), out_size(w_)};
  if (dy.shape(0) != n_ || dy.shape(1) != out_ || dy.shape(2) != g.oh || dy.shape(3) != g.ow)
    throw std::invalid_argument(fmt::format("{}: gradient is {}, the output was {}x{}x{}x{}", name_,
                                            shape_text(dy), n_, out_, g.oh, g.ow));
  const bool exempt = r.is_exempt(name_);
  const RoleQuant none{};
  const std::size_t M = g.rows(), K = g.cols(), P = g.oh * g.ow;
  std::vector<float> dyq(dy.size());
  const float sdy = quantize_role(exempt ? none : r.error, name_ + "/error",
                                  std::span(dy.data(), dy.size()), dyq, ctx);
  // dW = dyq^T · cols (out x K); dyq^T is [out][b][p], dyq is [b][out][p]
  const int th = layer_threads(ctx);
  std::vector<float> dyt(out_ * M);
#pragma omp parallel for num_threads(th) schedule(static)
  for (std::size_t b = 0; b < n_; ++b)
    for (std::size_t o = 0; o < out_; ++o)
      for (std::size_t p = 0; p < P; ++p) dyt[o * M + b * P + p] = dyq[(b * out_ + o) * P + p];
  {
    const std::vector<float> cols = im2col(xq_, g, th);
    layer_gemm(exempt ? fp32_mac() : r.wgrad, name_ + "/wgrad", out_, K, M, dyt, cols, weight.grad,
               ctx);
  }
  if (sdy * sx_ != 1.0f)
    for (float& gv : weight.grad) gv *= 1.0f / (sdy * sx_);
  const float sg = quantize_role(exempt ? none : r.weight_grad, name_ + "/weight_grad", weight.grad,
                                 weight.grad, ctx);
  if (sg != 1.0f)
    for (float& gv : weight.grad) gv /= sg;
  if (has_bias_)
    for (std::size_t o = 0; o < out_; ++o) {
      double s = 0;
      for (std::size_t i = 0; i < M; ++i) s += dyt[o * M + i];
      bias.grad[o] = static_cast<float>(s / sdy);
    }
  if (!need_dx) return Tensor4{};
  // dcols = dyq · Wq (M x K), dyq as [b*P + p][out]
  std::vector<float> dym(M * out_);
#pragma omp parallel for num_threads(th) schedule(static)
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t o = 0; o < out_; ++o) dym[i * out_ + o] = dyt[o * M + i];
  std::vector<float> dcols(M * K);
  layer_gemm(exempt ? fp32_mac() : r.dgrad, name_ + "/dgrad", M, K, out_, dym, wq_, dcols, ctx);
  if (sdy * sw_ != 1.0f)
    for (float& v : dcols) v *= 1.0f / (sdy * sw_);
  Tensor4 dx = xt::zeros<float>({n_, in_, h_, w_});
  col2im(dcols, g, dx.data(), th);
  return dx;
}

// ----------------------------------------------------------------------------- BatchNorm2d

BatchNorm2d::BatchNorm2d(std::string name, std::size_t ch, double eps, double momentum)
    : name_(std::move(name)), ch_(ch), eps_(eps), momentum_(momentum) {
  if (ch_ == 0) throw std::invalid_argument(fmt::format("{}: needs at least 1 channel", name_));
  if (!(eps_ > 0) || !(momentum_ >= 0 && momentum_ <= 1))
    throw std::invalid_argument(fmt::format(
        "{}: eps must be > 0 and momentum in [0, 1] (got {}, {})", name_, eps_, momentum_));
  gamma.name = name_ + ".weight";
  beta.name = name_ + ".bias";
  running_mean.name = name_ + ".running_mean";
  running_var.name = name_ + ".running_var";
  for (Param* p : {&gamma, &beta}) {
    p->shape = {ch_};
    p->grad.assign(ch_, 0.0f);
  }
  running_mean.shape = running_var.shape = {ch_};
  init();
}

void BatchNorm2d::init() {
  gamma.value.assign(ch_, 1.0f);
  beta.value.assign(ch_, 0.0f);
  running_mean.value.assign(ch_, 0.0f);
  running_var.value.assign(ch_, 1.0f);
}

Tensor4 BatchNorm2d::forward(const Tensor4& x, bool train, int threads) {
  if (x.shape(1) != ch_)
    throw std::invalid_argument(
        fmt::format("{}: input has {} channels, the layer takes {}", name_, x.shape(1), ch_));
  n_ = x.shape(0);
  h_ = x.shape(2);
  w_ = x.shape(3);
  const std::size_t P = h_ * w_, count = n_ * P;
  if (train && count < 2)
    throw std::invalid_argument(fmt::format(
        "{}: training needs more than 1 value per channel (input {})", name_, shape_text(x)));
  train_ = train;
  xhat_.resize(x.size());
  inv_std_.assign(ch_, 0.0);
  Tensor4 y = xt::zeros<float>({n_, ch_, h_, w_});
  const float* xd = x.data();
  float* yd = y.data();
  // threaded over channels: each channel's sums keep their order for any thread count
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) schedule(static)
  for (std::size_t c = 0; c < ch_; ++c) {
    double mean = running_mean.value[c], var = running_var.value[c];
    if (train) {
      double s = 0;
      for (std::size_t b = 0; b < n_; ++b)
        for (std::size_t p = 0; p < P; ++p) s += xd[(b * ch_ + c) * P + p];
      mean = s / static_cast<double>(count);
      double ss = 0;
      for (std::size_t b = 0; b < n_; ++b)
        for (std::size_t p = 0; p < P; ++p) {
          const double d = xd[(b * ch_ + c) * P + p] - mean;
          ss += d * d;
        }
      var = ss / static_cast<double>(count);  // biased: normalises
      const double unbiased = ss / static_cast<double>(count - 1);
      running_mean.value[c] =
          static_cast<float>((1 - momentum_) * running_mean.value[c] + momentum_ * mean);
      running_var.value[c] =
          static_cast<float>((1 - momentum_) * running_var.value[c] + momentum_ * unbiased);
    }
    const double inv = 1.0 / std::sqrt(var + eps_);
    inv_std_[c] = inv;
    for (std::size_t b = 0; b < n_; ++b)
      for (std::size_t p = 0; p < P; ++p) {
        const std::size_t i = (b * ch_ + c) * P + p;
        const double xh = (xd[i] - mean) * inv;
        xhat_[i] = static_cast<float>(xh);
        yd[i] = static_cast<float>(gamma.value[c] * xh + beta.value[c]);
      }
  }
  return y;
}

Tensor4 BatchNorm2d::backward(const Tensor4& dy, int threads) {
  if (inv_std_.empty())
    throw std::logic_error(fmt::format("{}: backward without a forward", name_));
  if (dy.shape(0) != n_ || dy.shape(1) != ch_ || dy.shape(2) != h_ || dy.shape(3) != w_)
    throw std::invalid_argument(fmt::format("{}: gradient is {}, the output was {}x{}x{}x{}", name_,
                                            shape_text(dy), n_, ch_, h_, w_));
  const std::size_t P = h_ * w_;
  const double count = static_cast<double>(n_ * P);
  Tensor4 dx = xt::zeros<float>({n_, ch_, h_, w_});
  const float* g = dy.data();
  float* dxd = dx.data();
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) schedule(static)
  for (std::size_t c = 0; c < ch_; ++c) {
    double sdy = 0, sdyx = 0;
    for (std::size_t b = 0; b < n_; ++b)
      for (std::size_t p = 0; p < P; ++p) {
        const std::size_t i = (b * ch_ + c) * P + p;
        sdy += g[i];
        sdyx += static_cast<double>(g[i]) * xhat_[i];
      }
    gamma.grad[c] = static_cast<float>(sdyx);
    beta.grad[c] = static_cast<float>(sdy);
    const double scale = gamma.value[c] * inv_std_[c];
    for (std::size_t b = 0; b < n_; ++b)
      for (std::size_t p = 0; p < P; ++p) {
        const std::size_t i = (b * ch_ + c) * P + p;
        // train: the batch statistics depend on x too
        // dx = gamma/sigma * (dy - mean(dy) - xhat * mean(dy * xhat))
        const double d = train_ ? g[i] - sdy / count - xhat_[i] * sdyx / count : g[i];
        dxd[i] = static_cast<float>(scale * d);
      }
  }
  return dx;
}

// ------------------------------------------------------------------------------- MaxPool2d

MaxPool2d::MaxPool2d(std::size_t kernel, std::size_t stride, std::size_t padding)
    : k_(kernel), stride_(stride), pad_(padding) {
  if (k_ == 0 || stride_ == 0)
    throw std::invalid_argument("maxpool: kernel and stride must be at least 1");
  if (2 * pad_ > k_)
    throw std::invalid_argument(
        fmt::format("maxpool: padding {} is more than half the kernel size {}", pad_, k_));
}

std::size_t MaxPool2d::out_size(std::size_t n) const {
  if (n + 2 * pad_ < k_)
    throw std::invalid_argument(fmt::format(
        "maxpool: input size {} with padding {} is below the kernel size {}", n, pad_, k_));
  return window_out(n, k_, stride_, pad_);
}

Tensor4 MaxPool2d::forward(const Tensor4& x) {
  const std::size_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
  const Window g{N, C, H, W, k_, stride_, pad_, out_size(H), out_size(W)};
  in_shape_ = {N, C, H, W};
  out_shape_ = {N, C, g.oh, g.ow};
  Tensor4 y = xt::zeros<float>({N, C, g.oh, g.ow});
  argmax_.assign(y.size(), 0);
  const float* xd = x.data();
  float* yd = y.data();
  for (std::size_t bc = 0; bc < N * C; ++bc)
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        // as PyTorch: start at -inf and the window's first element, take a value when it is
        // larger (so the first maximum wins) or NaN (a NaN propagates)
        float best = -std::numeric_limits<float>::infinity();
        std::size_t arg = std::numeric_limits<std::size_t>::max();
        for (std::size_t ky = 0; ky < k_; ++ky) {
          std::size_t iy = 0;
          if (!g.at(oy, ky, H, iy)) continue;
          for (std::size_t kx = 0; kx < k_; ++kx) {
            std::size_t ix = 0;
            if (!g.at(ox, kx, W, ix)) continue;
            const std::size_t i = (bc * H + iy) * W + ix;
            if (arg == std::numeric_limits<std::size_t>::max()) arg = i;
            if (xd[i] > best || std::isnan(xd[i])) {
              best = xd[i];
              arg = i;
            }
          }
        }
        const std::size_t o = (bc * g.oh + oy) * g.ow + ox;
        yd[o] = best;
        argmax_[o] = arg;
      }
  return y;
}

Tensor4 MaxPool2d::backward(const Tensor4& dy) const {
  for (std::size_t d = 0; d < 4; ++d)
    if (dy.shape(d) != out_shape_[d])
      throw std::invalid_argument(fmt::format("maxpool: gradient is {}, the output was {}x{}x{}x{}",
                                              shape_text(dy), out_shape_[0], out_shape_[1],
                                              out_shape_[2], out_shape_[3]));
  Tensor4 dx = xt::zeros<float>(in_shape_);
  for (std::size_t o = 0; o < dy.size(); ++o) dx.data()[argmax_[o]] += dy.data()[o];
  return dx;
}

// --------------------------------------------------------------------------- GlobalAvgPool

Tensor2 GlobalAvgPool::forward(const Tensor4& x) {
  const std::size_t N = x.shape(0), C = x.shape(1), P = x.shape(2) * x.shape(3);
  if (P == 0) throw std::invalid_argument("global average pool: empty input");
  in_shape_ = {N, C, x.shape(2), x.shape(3)};
  Tensor2 y = xt::zeros<float>({N, C});
  for (std::size_t bc = 0; bc < N * C; ++bc) {
    double s = 0;
    for (std::size_t p = 0; p < P; ++p) s += x.data()[bc * P + p];
    y.data()[bc] = static_cast<float>(s / static_cast<double>(P));
  }
  return y;
}

Tensor4 GlobalAvgPool::backward(const Tensor2& dy) const {
  if (dy.shape(0) != in_shape_[0] || dy.shape(1) != in_shape_[1])
    throw std::invalid_argument(
        fmt::format("global average pool: gradient is {}x{}, the output "
                    "was {}x{}",
                    dy.shape(0), dy.shape(1), in_shape_[0], in_shape_[1]));
  const std::size_t P = in_shape_[2] * in_shape_[3];
  Tensor4 dx = xt::zeros<float>(in_shape_);
  for (std::size_t bc = 0; bc < in_shape_[0] * in_shape_[1]; ++bc) {
    const float v = static_cast<float>(dy.data()[bc] / static_cast<double>(P));
    for (std::size_t p = 0; p < P; ++p) dx.data()[bc * P + p] = v;
  }
  return dx;
}

// ---------------------------------------------------------------------------- residual add

Tensor4 residual_add(const Tensor4& a, const Tensor4& b) {
  if (a.shape() != b.shape())
    throw std::invalid_argument(
        fmt::format("residual add: shapes {} and {} differ", shape_text(a), shape_text(b)));
  Tensor4 y = a;
  for (std::size_t i = 0; i < y.size(); ++i) y.data()[i] += b.data()[i];
  return y;
}

}  // namespace fp8sim::workloads
