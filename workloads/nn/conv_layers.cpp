// workloads/nn/conv_layers.cpp — Conv2d (im2col + layer_gemm), BatchNorm2d, MaxPool2d,
// GlobalAvgPool, residual add.
#include "workloads/nn/conv_layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
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

// Where each column of an im2col row reads the input, relative to the window's top left
// corner in the image: (ci*h + ky)*w + kx for column (ci*k + ky)*k + kx.
std::vector<std::ptrdiff_t> window_offsets(const Window& g) {
  std::vector<std::ptrdiff_t> off(g.cols());
  for (std::size_t ci = 0; ci < g.c; ++ci)
    for (std::size_t ky = 0; ky < g.k; ++ky)
      for (std::size_t kx = 0; kx < g.k; ++kx)
        off[(ci * g.k + ky) * g.k + kx] = static_cast<std::ptrdiff_t>((ci * g.h + ky) * g.w + kx);
  return off;
}

// Whether output pixel (oy, ox)'s window lies inside the image (no padding in it), and then
// its top left corner's offset in the image.
bool window_inside(const Window& g, std::size_t oy, std::size_t ox, std::ptrdiff_t& corner) {
  const auto y0 = static_cast<std::ptrdiff_t>(oy * g.stride) - static_cast<std::ptrdiff_t>(g.pad);
  const auto x0 = static_cast<std::ptrdiff_t>(ox * g.stride) - static_cast<std::ptrdiff_t>(g.pad);
  const auto k = static_cast<std::ptrdiff_t>(g.k);
  if (y0 < 0 || x0 < 0 || y0 + k > static_cast<std::ptrdiff_t>(g.h) ||
      x0 + k > static_cast<std::ptrdiff_t>(g.w))
    return false;
  corner = y0 * static_cast<std::ptrdiff_t>(g.w) + x0;
  return true;
}

// cols[(b*oh*ow + oy*ow + ox)][(ci*k + ky)*k + kx] = x[b][ci][oy*s + ky - p][ox*s + kx - p]
// (0 in the padding), into `cols` (resized; every element written, so a buffer reused from
// the last step needs no clearing). A window inside the image is a gather through a table of
// offsets; one on the border checks each position. Threaded over images (each writes its own
// rows).
void im2col(const std::vector<float>& x, const Window& g, int threads, std::vector<float>& cols) {
  const std::size_t K = g.cols();
  cols.resize(g.rows() * K);
  const std::vector<std::ptrdiff_t> off = window_offsets(g);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t b = 0; b < g.n; ++b) {
    const float* img = x.data() + b * g.c * g.h * g.w;
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        float* row = cols.data() + ((b * g.oh + oy) * g.ow + ox) * K;
        std::ptrdiff_t corner = 0;
        if (window_inside(g, oy, ox, corner)) {
          const float* src = img + corner;
          for (std::size_t q = 0; q < K; ++q) row[q] = src[off[q]];
          continue;
        }
        for (std::size_t ci = 0; ci < g.c; ++ci)
          for (std::size_t ky = 0; ky < g.k; ++ky) {
            float* dst = row + (ci * g.k + ky) * g.k;
            std::size_t iy = 0;
            if (!g.at(oy, ky, g.h, iy)) {
              std::fill(dst, dst + g.k, 0.0f);
              continue;
            }
            const float* src = img + (ci * g.h + iy) * g.w;
            for (std::size_t kx = 0; kx < g.k; ++kx) {
              std::size_t ix = 0;
              dst[kx] = g.at(ox, kx, g.w, ix) ? src[ix] : 0.0f;
            }
          }
      }
  }
}

// The adjoint of im2col: dx[b][ci][iy][ix] = sum of the patch entries that copied it, summed
// pixel by pixel and within a pixel in column order (a window inside the image through the
// offset table, the same order). Threaded over images: each clears and sums into its own
// image in the same order for any thread count.
void col2im(const float* cols, const Window& g, float* dx, int threads) {
  const std::size_t K = g.cols();
  const std::vector<std::ptrdiff_t> off = window_offsets(g);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t b = 0; b < g.n; ++b) {
    float* img = dx + b * g.c * g.h * g.w;
    std::fill(img, img + g.c * g.h * g.w, 0.0f);
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        const float* row = cols + ((b * g.oh + oy) * g.ow + ox) * K;
        std::ptrdiff_t corner = 0;
        if (window_inside(g, oy, ox, corner)) {
          float* dst = img + corner;
          for (std::size_t q = 0; q < K; ++q) dst[off[q]] += row[q];
          continue;
        }
        for (std::size_t ci = 0; ci < g.c; ++ci)
          for (std::size_t ky = 0; ky < g.k; ++ky) {
            std::size_t iy = 0;
            if (!g.at(oy, ky, g.h, iy)) continue;
            float* dst = img + (ci * g.h + iy) * g.w;
            for (std::size_t kx = 0; kx < g.k; ++kx) {
              std::size_t ix = 0;
              if (g.at(ox, kx, g.w, ix)) dst[ix] += row[(ci * g.k + ky) * g.k + kx];
            }
          }
      }
  }
}

// Buffers a convolution's forward or backward uses only while it runs, shared by every
// layer of the thread and kept from step to step (no allocation, page faults or clearing of
// arrays as large as an im2col per step).
// A float array that grows without clearing: resize keeps the allocation when it is large
// enough and never writes the elements (std::vector's would clear what a smaller layer left
// beyond its size, tens of MB per step).
class ScratchArray {
 public:
  void resize(std::size_t n) {
    if (n > cap_) {
      data_.reset(new float[n]);
      cap_ = n;
    }
    size_ = n;
  }
  [[nodiscard]] float* data() { return data_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }
  float& operator[](std::size_t i) { return data_[i]; }
  operator std::span<float>() { return {data_.get(), size_}; }
  operator std::span<const float>() const { return {data_.get(), size_}; }

 private:
  std::unique_ptr<float[]> data_;
  std::size_t size_ = 0, cap_ = 0;
};

struct ConvScratch {
  ScratchArray wt, ym, dyq, dyt, dym, dcols;
};
ConvScratch& conv_scratch() {
  thread_local ConvScratch s;
  return s;
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
  ConvScratch& sc = conv_scratch();
  {
    const ScopedTime t(layer_times().lowering);
    im2col(xq_, g, th, cols_);  // kept for the backward's wgrad
    sc.wt.resize(K * out_);     // Wq^T: K x out
    for (std::size_t o = 0; o < out_; ++o)
      for (std::size_t i = 0; i < K; ++i) sc.wt[i * out_ + o] = wq_[o * K + i];
    sc.ym.resize(M * out_);
  }
  layer_gemm(exempt ? fp32_mac() : r.fprop, name_ + "/fprop", M, out_, K, cols_, sc.wt, sc.ym, ctx);
  const ScopedTime t(layer_times().lowering);
  Tensor4 y = xt::empty<float>({n_, out_, g.oh, g.ow});
  float* yd = y.data();
  const float* ym = sc.ym.data();
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
  if (cols_.size() != M * K)
    throw std::logic_error(fmt::format("{}: backward without a matching forward", name_));
  ConvScratch& sc = conv_scratch();
  sc.dyq.resize(dy.size());
  const float sdy = quantize_role(exempt ? none : r.error, name_ + "/error",
                                  std::span(dy.data(), dy.size()), sc.dyq, ctx);
  // dW = dyq^T · cols (out x K); dyq^T is [out][b][p], dyq is [b][out][p]
  const int th = layer_threads(ctx);
  {
    const ScopedTime t(layer_times().lowering);
    sc.dyt.resize(out_ * M);
    float* dyt = sc.dyt.data();
    const float* dyq = sc.dyq.data();
#pragma omp parallel for num_threads(th) schedule(static)
    for (std::size_t b = 0; b < n_; ++b)
      for (std::size_t o = 0; o < out_; ++o)
        for (std::size_t p = 0; p < P; ++p) dyt[o * M + b * P + p] = dyq[(b * out_ + o) * P + p];
  }
  layer_gemm(exempt ? fp32_mac() : r.wgrad, name_ + "/wgrad", out_, K, M, sc.dyt, cols_,
             weight.grad, ctx);
  if (sdy * sx_ != 1.0f)
    for (float& gv : weight.grad) gv *= 1.0f / (sdy * sx_);
  const float sg = quantize_role(exempt ? none : r.weight_grad, name_ + "/weight_grad", weight.grad,
                                 weight.grad, ctx);
  if (sg != 1.0f)
    for (float& gv : weight.grad) gv /= sg;
  if (has_bias_)
    for (std::size_t o = 0; o < out_; ++o) {
      double s = 0;
      for (std::size_t i = 0; i < M; ++i) s += sc.dyt[o * M + i];
      bias.grad[o] = static_cast<float>(s / sdy);
    }
  if (!need_dx) return Tensor4{};
  // dcols = dyq · Wq (M x K), dyq as [b*P + p][out]
  {
    const ScopedTime t(layer_times().lowering);
    sc.dym.resize(M * out_);
    float* dym = sc.dym.data();
    const float* dyq = sc.dyq.data();
#pragma omp parallel for num_threads(th) schedule(static)
    for (std::size_t b = 0; b < n_; ++b)  // an image's [out][p] block transposed to [p][out]
      for (std::size_t o = 0; o < out_; ++o)
        for (std::size_t p = 0; p < P; ++p)
          dym[(b * P + p) * out_ + o] = dyq[(b * out_ + o) * P + p];
    sc.dcols.resize(M * K);
  }
  layer_gemm(exempt ? fp32_mac() : r.dgrad, name_ + "/dgrad", M, K, out_, sc.dym, wq_, sc.dcols,
             ctx);
  const ScopedTime t(layer_times().lowering);
  if (sdy * sw_ != 1.0f) {
    const float f = 1.0f / (sdy * sw_);
    float* dc = sc.dcols.data();
#pragma omp parallel for num_threads(th) schedule(static)
    for (std::size_t x = 0; x < M * K; ++x) dc[x] *= f;
  }
  Tensor4 dx = xt::empty<float>({n_, in_, h_, w_});
  col2im(sc.dcols.data(), g, dx.data(), th);
  return dx;
}

// ----------------------------------------------------------------------------- BatchNorm2d

namespace {

// Batch normalisation's loops over one (image, channel) run of P values, vectorized where the
// CPU allows (compiled for x86-64-v4, v3 and the baseline, chosen at load time). Sums go
// into 8 binary64 lanes in a fixed order (lane l takes the elements l, l + 8, ...) and the
// lanes are added in order, so that they never depend on the ISA or the thread count.
#define FP8SIM_BN_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

FP8SIM_BN_CLONES double bn_sum(const float* x, std::size_t n) {
  double a[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t l = 0; l < 8; ++l) a[l] += static_cast<double>(x[i + l]);
  for (std::size_t l = 0; i < n; ++i, ++l) a[l] += static_cast<double>(x[i]);
  double s = 0;
  for (const double v : a) s += v;
  return s;
}

FP8SIM_BN_CLONES double bn_sum_sq_dev(const float* x, std::size_t n, double mean) {
  double a[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t l = 0; l < 8; ++l) {
      const double d = static_cast<double>(x[i + l]) - mean;
      a[l] += d * d;
    }
  for (std::size_t l = 0; i < n; ++i, ++l) {
    const double d = static_cast<double>(x[i]) - mean;
    a[l] += d * d;
  }
  double s = 0;
  for (const double v : a) s += v;
  return s;
}

// xhat = (x - mean) * inv, y = gamma * xhat + beta
FP8SIM_BN_CLONES void bn_normalize(const float* x, std::size_t n, double mean, double inv,
                                   double gamma, double beta, float* xhat, float* y) {
  for (std::size_t i = 0; i < n; ++i) {
    const double xh = (static_cast<double>(x[i]) - mean) * inv;
    xhat[i] = static_cast<float>(xh);
    y[i] = static_cast<float>(gamma * xh + beta);
  }
}

// sum of g and of g * xhat
FP8SIM_BN_CLONES void bn_grad_sums(const float* g, const float* xhat, std::size_t n, double& sg,
                                   double& sgx) {
  double a[8] = {}, b[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t l = 0; l < 8; ++l) {
      a[l] += static_cast<double>(g[i + l]);
      b[l] += static_cast<double>(g[i + l]) * static_cast<double>(xhat[i + l]);
    }
  for (std::size_t l = 0; i < n; ++i, ++l) {
    a[l] += static_cast<double>(g[i]);
    b[l] += static_cast<double>(g[i]) * static_cast<double>(xhat[i]);
  }
  for (std::size_t l = 0; l < 8; ++l) {
    sg += a[l];
    sgx += b[l];
  }
}

// dx = scale * (g - mean_g - xhat * mean_gx) (train) or scale * g
FP8SIM_BN_CLONES void bn_dx(const float* g, const float* xhat, std::size_t n, double scale,
                            double mean_g, double mean_gx, bool train, float* dx) {
  if (train) {
    for (std::size_t i = 0; i < n; ++i)
      dx[i] = static_cast<float>(
          scale * (static_cast<double>(g[i]) - mean_g - static_cast<double>(xhat[i]) * mean_gx));
  } else {
    for (std::size_t i = 0; i < n; ++i) dx[i] = static_cast<float>(scale * g[i]);
  }
}

#undef FP8SIM_BN_CLONES

}  // namespace

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
  const ScopedTime timed(layer_times().norm);
  train_ = train;
  xhat_.resize(x.size());
  inv_std_.assign(ch_, 0.0);
  Tensor4 y = xt::empty<float>({n_, ch_, h_, w_});
  const float* xd = x.data();
  float* yd = y.data();
  // threaded over channels: each channel's sums keep their order for any thread count
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) schedule(static)
  for (std::size_t c = 0; c < ch_; ++c) {
    double mean = running_mean.value[c], var = running_var.value[c];
    if (train) {
      double s = 0;
      for (std::size_t b = 0; b < n_; ++b) s += bn_sum(xd + (b * ch_ + c) * P, P);
      mean = s / static_cast<double>(count);
      double ss = 0;
      for (std::size_t b = 0; b < n_; ++b) ss += bn_sum_sq_dev(xd + (b * ch_ + c) * P, P, mean);
      var = ss / static_cast<double>(count);  // biased: normalises
      const double unbiased = ss / static_cast<double>(count - 1);
      running_mean.value[c] =
          static_cast<float>((1 - momentum_) * running_mean.value[c] + momentum_ * mean);
      running_var.value[c] =
          static_cast<float>((1 - momentum_) * running_var.value[c] + momentum_ * unbiased);
    }
    const double inv = 1.0 / std::sqrt(var + eps_);
    inv_std_[c] = inv;
    for (std::size_t b = 0; b < n_; ++b) {
      const std::size_t i = (b * ch_ + c) * P;
      bn_normalize(xd + i, P, mean, inv, gamma.value[c], beta.value[c], xhat_.data() + i, yd + i);
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
  const ScopedTime timed(layer_times().norm);
  Tensor4 dx = xt::empty<float>({n_, ch_, h_, w_});
  const float* g = dy.data();
  float* dxd = dx.data();
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) schedule(static)
  for (std::size_t c = 0; c < ch_; ++c) {
    double sdy = 0, sdyx = 0;
    for (std::size_t b = 0; b < n_; ++b) {
      const std::size_t i = (b * ch_ + c) * P;
      bn_grad_sums(g + i, xhat_.data() + i, P, sdy, sdyx);
    }
    gamma.grad[c] = static_cast<float>(sdyx);
    beta.grad[c] = static_cast<float>(sdy);
    // train: the batch statistics depend on x too
    // dx = gamma/sigma * (dy - mean(dy) - xhat * mean(dy * xhat))
    const double scale = gamma.value[c] * inv_std_[c];
    for (std::size_t b = 0; b < n_; ++b) {
      const std::size_t i = (b * ch_ + c) * P;
      bn_dx(g + i, xhat_.data() + i, P, scale, sdy / count, sdyx / count, train_, dxd + i);
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

Tensor4 residual_add(const Tensor4& a, const Tensor4& b, int threads) {
  if (a.shape() != b.shape())
    throw std::invalid_argument(
        fmt::format("residual add: shapes {} and {} differ", shape_text(a), shape_text(b)));
  Tensor4 y = xt::empty<float>(a.shape());
  const float* ad = a.data();
  const float* bd = b.data();
  float* yd = y.data();
  const std::size_t n = y.size();
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) \
    schedule(static) if (n > 65536)
  for (std::size_t i = 0; i < n; ++i) yd[i] = ad[i] + bd[i];
  return y;
}

}  // namespace fp8sim::workloads
