// workloads/nn/conv_layers.hpp — the layers of convolutional models on NCHW fp32 tensors
// (xtensor, row-major): Conv2d (lowered to layer_gemm by im2col/col2im), BatchNorm2d,
// MaxPool2d, GlobalAvgPool, an elementwise ReLU for any tensor, and the residual add.
//
// Contract (Conv2d): the three GEMMs keep the recipe's operand roles (recipe_check):
//  - fprop  Y = cols(xq) · Wq^T: A = im2col of the quantized input, [N*oh*ow][in*k*k]
//           (activation), B = Wq^T [in*k*k][out] (weight); Y [N*oh*ow][out] becomes NCHW.
//  - dgrad  dcols = dyq · Wq: A = dyq [N*oh*ow][out] (error), B = Wq [out][in*k*k]
//           (weight); dx = col2im(dcols) (the patches' overlaps summed in fp32).
//  - wgrad  dW = dyq^T · cols(xq): A = dyq^T [out][N*oh*ow] (error), B = cols (activation);
//           then quantized as a weight gradient.
// x is quantized (as "<layer>/activation") once per forward BEFORE im2col, so every patch copy
// of an element carries the same quantized value; W once per forward ("<layer>/weight",
// backward reuses it); dy once per backward ("<layer>/error", random-bit index = position in
// the NCHW tensor). One GEMM per kind for the whole batch ("<layer>/fprop", "/dgrad",
// "/wgrad"); the dot products run over (in_ch, ky, kx) in that order, as sim's conv2d. The
// bias gradient is the fp32 (double-accumulated) sum of dyq. An exempt layer runs in fp32.
//
// BatchNorm2d, pooling, ReLU and the residual add run in fp32 without quantizers (the norms
// of the recipes run in fp32). Every layer keeps what its backward needs from its last
// forward: call forward, then backward, once each per step.
#pragma once

#include <omp.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "workloads/nn/layers.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"

namespace fp8sim::workloads {

using Tensor4 = xt::xtensor<float, 4>;

/// A non-trainable tensor of a model (BatchNorm running statistics), for checkpoints.
struct Buffer {
  std::string name;  ///< "stem.bn.running_mean"
  std::vector<std::size_t> shape;
  std::vector<float> value;
  [[nodiscard]] std::size_t size() const { return value.size(); }
};

/// 2-D convolution, square kernel, zero padding. Weight [out][in][k][k] (PyTorch's layout).
class Conv2d {
 public:
  Conv2d(std::string name, std::size_t in_ch, std::size_t out_ch, std::size_t kernel,
         std::size_t stride = 1, std::size_t padding = 0, bool bias = false);
  /// PyTorch's default (Kaiming-uniform, a = sqrt(5)): W and b uniform in +-1/sqrt(fan_in),
  /// fan_in = in*k*k, from Philox (seed, parameter name) as Linear::init.
  void init(std::uint64_t seed);
  [[nodiscard]] Tensor4 forward(const Tensor4& x, const Recipe& r, const StepContext& ctx);
  /// Fills weight.grad (and bias.grad); returns dx, or an empty tensor without the dgrad
  /// GEMM when need_dx is false (a first layer).
  [[nodiscard]] Tensor4 backward(const Tensor4& dy, const Recipe& r, const StepContext& ctx,
                                 bool need_dx = true);
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool has_bias() const { return has_bias_; }
  /// Output height (or width) for an input of height (width) n.
  [[nodiscard]] std::size_t out_size(std::size_t n) const;
  /// weight, and bias when it has one.
  [[nodiscard]] std::vector<Param*> params();
  Param weight, bias;  ///< bias: empty without one

 private:
  std::string name_;
  std::size_t in_, out_, k_, stride_, pad_;
  bool has_bias_;
  std::vector<float> xq_, wq_;  // the quantized input and weight of the last forward
  std::vector<float> cols_;     // ... the input's im2col (the backward's wgrad reads it)
  float sx_ = 1, sw_ = 1;       // ... and their scales (delayed scaling; else 1)
  std::size_t n_ = 0, h_ = 0, w_ = 0;
};

/// Batch normalisation over (N, H, W) per channel, as PyTorch's BatchNorm2d (affine, running
/// statistics). Train: normalises with the batch mean and biased variance, and updates
/// running = (1 - momentum) * running + momentum * batch statistic (the variance unbiased,
/// n/(n-1)); eval: normalises with the running statistics. fp32 tensors, statistics and
/// backward accumulated in double; the exact backward of the mode of the last forward.
class BatchNorm2d {
 public:
  BatchNorm2d(std::string name, std::size_t ch, double eps = 1e-5, double momentum = 0.1);
  /// gamma = 1, beta = 0, running mean 0, running variance 1.
  void init();
  /// threads: for its per-channel loops (0: OpenMP's default; results do not depend on it).
  [[nodiscard]] Tensor4 forward(const Tensor4& x, bool train, int threads = 1);
  /// Fills gamma.grad and beta.grad; returns dx.
  [[nodiscard]] Tensor4 backward(const Tensor4& dy, int threads = 1);
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::vector<Param*> params() { return {&gamma, &beta}; }
  [[nodiscard]] std::vector<Buffer*> buffers() { return {&running_mean, &running_var}; }
  /// PyTorch's names: "<name>.weight" (gamma), "<name>.bias" (beta), "<name>.running_mean",
  /// "<name>.running_var" (PyTorch's num_batches_tracked is not kept: momentum is fixed).
  Param gamma, beta;
  Buffer running_mean, running_var;

 private:
  std::string name_;
  std::size_t ch_;
  double eps_, momentum_;
  bool train_ = true;
  std::vector<float> xhat_;      // the normalised input of the last forward
  std::vector<double> inv_std_;  // per channel, 1/sqrt(var + eps) of the last forward
  std::size_t n_ = 0, h_ = 0, w_ = 0;
};

/// Max pooling, square window, padding counted as -inf (never chosen). Backward routes each
/// gradient to its window's argmax, the first maximum in (ky, kx) scan order on ties (as
/// PyTorch); overlapping windows add.
class MaxPool2d {
 public:
  MaxPool2d(std::size_t kernel, std::size_t stride, std::size_t padding = 0);
  [[nodiscard]] Tensor4 forward(const Tensor4& x);
  [[nodiscard]] Tensor4 backward(const Tensor4& dy) const;
  [[nodiscard]] std::size_t out_size(std::size_t n) const;

 private:
  std::size_t k_, stride_, pad_;
  std::vector<std::size_t> argmax_;  // per output, the flat input index
  std::array<std::size_t, 4> in_shape_{}, out_shape_{};
};

/// Mean over H and W: NCHW -> [N][C]; backward spreads dy / (H*W).
class GlobalAvgPool {
 public:
  [[nodiscard]] Tensor2 forward(const Tensor4& x);
  [[nodiscard]] Tensor4 backward(const Tensor2& dy) const;

 private:
  std::array<std::size_t, 4> in_shape_{};
};

/// y = max(x, 0), dx = dy where x > 0, for any xtensor type (Relu of layers.hpp is the 2-D
/// one). threads: for the element loops (0: OpenMP's default); results never depend on it.
template <class T>
class ReluOf {
 public:
  [[nodiscard]] T forward(const T& x, int threads = 1) {
    T y = xt::empty<float>(x.shape());
    mask_.resize(x.size());
    const float* xd = x.data();
    float* yd = y.data();
    std::uint8_t* m = mask_.data();
    const std::size_t n = x.size();
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) \
    schedule(static) if (n > 65536)
    for (std::size_t i = 0; i < n; ++i) {
      m[i] = xd[i] > 0;
      yd[i] = m[i] ? xd[i] : 0.0f;
    }
    return y;
  }
  [[nodiscard]] T backward(const T& dy, int threads = 1) const {
    if (dy.size() != mask_.size())
      throw std::invalid_argument("relu: gradient size differs from the last forward's input");
    T dx = xt::empty<float>(dy.shape());
    const float* g = dy.data();
    float* d = dx.data();
    const std::uint8_t* m = mask_.data();
    const std::size_t n = dy.size();
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) \
    schedule(static) if (n > 65536)
    for (std::size_t i = 0; i < n; ++i) d[i] = m[i] ? g[i] : 0.0f;
    return dx;
  }

 private:
  std::vector<std::uint8_t> mask_;
};
using Relu4 = ReluOf<Tensor4>;

/// The residual add a + b (same shapes, else std::invalid_argument). Its backward is the
/// identity to both inputs: pass the output gradient on to each branch. threads as ReluOf's.
[[nodiscard]] Tensor4 residual_add(const Tensor4& a, const Tensor4& b, int threads = 1);

}  // namespace fp8sim::workloads
