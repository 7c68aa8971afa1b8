// workloads/nn/mlp.hpp — the `mlp` workload: Linear layers with ReLU between them, e.g.
// 784-256-128-10 for Fashion-MNIST, layers named fc1, fc2, ... .
#pragma once

#include <cstdint>
#include <vector>

#include "workloads/nn/layers.hpp"

namespace fp8sim::workloads {

class Mlp {
 public:
  /// sizes: input, hidden..., classes (at least two entries).
  explicit Mlp(std::vector<std::size_t> sizes);
  void init(std::uint64_t seed);
  [[nodiscard]] Tensor2 forward(const Tensor2& x, const Recipe& r, const StepContext& ctx);
  /// Back from the loss gradient w.r.t. the logits; fills every parameter's grad.
  void backward(const Tensor2& dlogits, const Recipe& r, const StepContext& ctx);
  /// fc1.weight, fc1.bias, fc2.weight, ...
  [[nodiscard]] std::vector<Param*> params();
  [[nodiscard]] const std::vector<std::size_t>& sizes() const { return sizes_; }

 private:
  std::vector<std::size_t> sizes_;
  std::vector<Linear> fc_;
  std::vector<Relu> relu_;
};

}  // namespace fp8sim::workloads
