// workloads/nn/resnet.hpp — the `resnet` workload: a small ResNet-18-like network for 1x28x28
// inputs (Fashion-MNIST), 10 classes.
//
//   stem:    conv3x3(in -> c, stride 1, pad 1) + BN + ReLU          "stem.conv", "stem.bn"
//   stage s (s = 1, 2, 3; width c, 2c, 4c): `blocks` basic blocks    "stage2.block1.conv1"
//     block: conv3x3 + BN + ReLU, conv3x3 + BN, + shortcut, ReLU    ".conv1", ".bn1", ".conv2",
//            the first block of stages 2 and 3 has stride 2 and a    ".bn2",
//            1x1 conv (stride 2) + BN projection shortcut;           ".shortcut.conv",
//            the others the identity                                 ".shortcut.bn"
//   global average pool, Linear(4c -> classes)                       "fc"
//
// 28x28 -> 28 -> 14 -> 7 -> 1. Convolutions have no bias (BN follows). Any input size works
// (the pool is global). The stem's input gradient is not computed (no dgrad GEMM there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "workloads/nn/conv_layers.hpp"
#include "workloads/nn/layers.hpp"

namespace fp8sim::workloads {

struct ResnetOptions {
  std::size_t width = 16;       ///< c: the stages' widths are c, 2c, 4c
  std::size_t blocks = 1;       ///< basic blocks per stage
  std::size_t in_channels = 1;  ///< input channels
  std::size_t classes = 10;
};

/// Two conv3x3 + BN with a residual add and a ReLU after it; a projection shortcut (1x1
/// conv + BN) when the stride or the width changes.
class BasicBlock {
 public:
  BasicBlock(const std::string& name, std::size_t in_ch, std::size_t out_ch, std::size_t stride);
  void init(std::uint64_t seed);
  [[nodiscard]] Tensor4 forward(const Tensor4& x, const Recipe& r, const StepContext& ctx,
                                bool train);
  [[nodiscard]] Tensor4 backward(const Tensor4& dy, const Recipe& r, const StepContext& ctx);
  [[nodiscard]] std::vector<Param*> params();
  [[nodiscard]] std::vector<Buffer*> buffers();
  /// The convolutions' names (the layers a recipe can exempt).
  [[nodiscard]] std::vector<std::string> gemm_layers() const;

 private:
  Conv2d conv1_;
  BatchNorm2d bn1_;
  Relu4 relu1_;
  Conv2d conv2_;
  BatchNorm2d bn2_;
  std::optional<Conv2d> sc_conv_;
  std::optional<BatchNorm2d> sc_bn_;
  Relu4 relu_out_;
};

class Resnet {
 public:
  explicit Resnet(ResnetOptions o = {});
  /// Convolutions and fc as PyTorch's default initialisation (Philox, seed and parameter
  /// name); BN gamma 1, beta 0, running mean 0, running variance 1.
  void init(std::uint64_t seed);
  /// x: N x in_channels x H x W. train: BN with batch statistics (and running updates), else
  /// with the running statistics.
  [[nodiscard]] Tensor2 forward(const Tensor4& x, const Recipe& r, const StepContext& ctx,
                                bool train);
  /// Back from the loss gradient w.r.t. the logits of the last forward; fills every
  /// parameter's grad.
  void backward(const Tensor2& dlogits, const Recipe& r, const StepContext& ctx);
  /// stem.conv.weight, stem.bn.weight, stem.bn.bias, stage1.block1.conv1.weight, ...,
  /// fc.weight, fc.bias (BN gamma/beta under PyTorch's names weight/bias).
  [[nodiscard]] std::vector<Param*> params();
  /// The BN running statistics: stem.bn.running_mean, stem.bn.running_var, ... (checkpoints).
  [[nodiscard]] std::vector<Buffer*> buffers();
  /// The layers with GEMMs, in forward order: stem.conv, stage1.block1.conv1, ..., fc.
  [[nodiscard]] std::vector<std::string> gemm_layers() const;
  [[nodiscard]] const ResnetOptions& options() const { return opt_; }

 private:
  ResnetOptions opt_;
  Conv2d stem_conv_;
  BatchNorm2d stem_bn_;
  Relu4 stem_relu_;
  std::vector<BasicBlock> blocks_;
  GlobalAvgPool pool_;
  Linear fc_;
};

}  // namespace fp8sim::workloads
