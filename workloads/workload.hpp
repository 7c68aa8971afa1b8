// workloads/workload.hpp — what the training loop needs of a workload, behind one interface:
// its data (Fashion-MNIST images, or translation sequence pairs), its model (mlp, resnet,
// transformer) and its loss. train.cpp runs any of them the same way.
//
// Contract:
//  - A sample is an image or a sentence pair; splits hold samples, batches are taken from
//    them in an order (EpochOrder over the training split) or in stored order.
//  - forward_loss() runs the model on a batch and the loss on its logits: images by softmax
//    cross-entropy over 10 classes, sequences by token cross-entropy (label smoothing,
//    padding ignored, the target after bos and up to its eos); the loss gradient is
//    multiplied by `scale` (loss scaling). `units` is what accuracy counts: images, or the
//    target tokens (eos included).
//  - exact_match() is the share of a split's samples whose greedy decoding equals the target
//    (sequence workloads; NaN for image workloads).
//  - Everything is a function of the options (seed included), for any thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "workloads/data/translation.hpp"
#include "workloads/nn/conv_layers.hpp"
#include "workloads/nn/layers.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"

namespace fp8sim::workloads {

struct TrainOptions;

enum class Split { train, validation, test };

/// One batch: images and labels, or padded source and target sequences.
struct Batch {
  std::size_t n = 0;
  std::vector<float> images;  ///< n * 784
  std::vector<std::uint8_t> labels;
  std::vector<std::vector<std::int32_t>> src, tgt_in;  ///< tgt_in: bos + target
  std::vector<std::int32_t> targets;                   ///< n * T: target + eos, then padding (kPad)
};

struct BatchLoss {
  double loss = 0;
  std::size_t correct = 0, units = 0;
  Tensor2 grad;
};

class Workload {
 public:
  virtual ~Workload() = default;
  [[nodiscard]] virtual std::size_t size(Split s) const = 0;
  /// Samples [first, first + n) of split s, through `order` when given.
  virtual void gather(Split s, const std::vector<std::size_t>* order, std::size_t first,
                      std::size_t n, Batch& b) const = 0;
  /// A batch of n samples of synthetic data (benchmarks: no data set needed).
  virtual void synthetic(std::size_t n, std::uint64_t seed, Batch& b) const = 0;
  [[nodiscard]] virtual BatchLoss forward_loss(const Batch& b, const Recipe& r,
                                               const StepContext& ctx, double scale,
                                               bool train) = 0;
  virtual void backward(const Tensor2& dlogits, const Recipe& r, const StepContext& ctx) = 0;
  [[nodiscard]] virtual double exact_match(Split s, std::size_t batch, const Recipe& r,
                                           const StepContext& ctx) {
    (void)s, (void)batch, (void)r, (void)ctx;
    return std::nan("");
  }
  [[nodiscard]] virtual std::vector<Param*> params() = 0;
  /// The non-trainable tensors (BatchNorm running statistics), for checkpoints.
  [[nodiscard]] virtual std::vector<Buffer*> buffers() = 0;
  [[nodiscard]] virtual std::string first_layer() const = 0;
  [[nodiscard]] virtual std::string last_layer() const = 0;
  /// "images" or "tokens" (progress and benchmarks)
  [[nodiscard]] virtual const char* unit() const = 0;
};

/// The workload the options name (mlp, resnet, transformer) with its data loaded (none when
/// with_data is false: synthetic batches only) and its model initialised from opt.seed.
/// Throws std::invalid_argument on bad options, DataError when the data cannot be read.
[[nodiscard]] std::unique_ptr<Workload> make_workload(const TrainOptions& opt, bool with_data);

}  // namespace fp8sim::workloads
