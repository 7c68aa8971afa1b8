// workloads/nn/layers.hpp — layers with hand-written backward passes on fp32 tensors
// (xtensor), every GEMM through layer_gemm with the recipe's MAC unit for its kind and every
// GEMM input through its role's quantizer.
//
// Contract (Linear): forward y = x·W^T + b with x quantized as an activation and W as a
// weight (once per step: backward reuses the same quantized values, so stochastic rounding
// draws each tensor once); backward quantizes dy once as an error, dx = dy·W (dgrad),
// dW = dy^T·x (wgrad, then quantized as a weight gradient), db = sum of dy over the batch in
// fp32. Gradients are those of whatever loss produced dy (a scaled loss gives scaled ones).
// An exempt layer (Recipe::exempt) runs everything in fp32. With per-tensor scaling the
// GEMMs run on the scaled, quantized values and their outputs are divided by the scales.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"

namespace fp8sim::workloads {

using Tensor2 = xt::xtensor<float, 2>;

/// A trainable tensor: its values (the working copy the layers read) and gradient.
struct Param {
  std::string name;  ///< "fc1.weight"
  std::vector<std::size_t> shape;
  std::vector<float> value, grad;
  [[nodiscard]] std::size_t size() const { return value.size(); }
};

class Linear {
 public:
  Linear(std::string name, std::size_t in, std::size_t out);
  /// PyTorch's default: W and b uniform in +-1/sqrt(in), from Philox (seed, layer name).
  void init(std::uint64_t seed);
  [[nodiscard]] Tensor2 forward(const Tensor2& x, const Recipe& r, const StepContext& ctx);
  /// need_dx false (the first layer): no dgrad GEMM, an empty result.
  [[nodiscard]] Tensor2 backward(const Tensor2& dy, const Recipe& r, const StepContext& ctx,
                                 bool need_dx = true);
  [[nodiscard]] const std::string& name() const { return name_; }
  Param weight, bias;

 private:
  std::string name_;
  std::size_t in_, out_;
  std::vector<float> xq_, wq_;  // the quantized input and weight of the last forward
  float sx_ = 1, sw_ = 1;       // ... and their scales (delayed scaling; else 1)
  std::size_t batch_ = 0;
};

/// ReLU: y = max(x, 0); dx = dy where x > 0.
class Relu {
 public:
  [[nodiscard]] Tensor2 forward(const Tensor2& x);
  [[nodiscard]] Tensor2 backward(const Tensor2& dy) const;

 private:
  std::vector<std::uint8_t> mask_;
};

/// Mean softmax cross-entropy over a batch of logits (fp32, max-subtracted), its gradient
/// w.r.t. the logits times `scale` (loss scaling), and the number of correct argmaxes.
struct LossResult {
  double loss = 0;
  std::size_t correct = 0;
  Tensor2 grad;
};
[[nodiscard]] LossResult softmax_cross_entropy(const Tensor2& logits,
                                               std::span<const std::uint8_t> labels,
                                               double scale = 1.0);

}  // namespace fp8sim::workloads
