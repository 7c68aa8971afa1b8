// workloads/optim/optimizer.hpp — optimizer update rules, apart from the parameter list.
//
// Contract: an optimizer knows parameters only by an index 0..P-1 and a size, registered
// with add_param. update() reads a parameter's current weights and gradient and writes
// `delta`, what to add to the weights; it never touches the weights itself (the master
// copy does: workloads/optim/master_weights.hpp). The rules are exactly PyTorch's
// torch.optim.SGD and torch.optim.AdamW (single-tensor CPU path, fp32 state), operation by
// operation in fp32 with the same roundings, including where PyTorch's CPU kernels fuse a
// multiply-add (`add(x, alpha=a)` and `addcmul` are fused multiply-adds there):
//
//   SGD (lr, momentum, dampening, weight_decay, nesterov), per element:
//     d = g;  if weight_decay != 0: d = fma(wd, w, d)
//     if momentum != 0:
//       first step: buf = d;  later: buf = fma(1 - dampening, d, buf * momentum)
//       d = nesterov ? fma(momentum, buf, d) : buf
//     delta = -lr * d
//   AdamW (lr, beta1, beta2, eps, weight_decay), step t = 1, 2, ... per parameter:
//     w1 = w * (1 - lr*wd)                         (decoupled decay)
//     m = fma(1 - beta1, g, m * beta1);  v = fma((1 - beta2) * g, g, v * beta2)
//     denom = sqrt(v) / sqrt(1 - beta2^t) + eps;  u = (-(lr / (1 - beta1^t)) * m) / denom
//     delta = (w1 - w) + u
// Scalars are formed in double as PyTorch's Python code forms them, then rounded to fp32
// where PyTorch's kernels take them as fp32. State (momentum buffer, exp_avg, exp_avg_sq) is
// fp32, as PyTorch keeps it.
//
// delta is double so that nothing is rounded before the master copy adds it: -lr * d (two
// fp32 factors) is exact in double, so an fp32 master with rne computes round(w + delta) =
// PyTorch's fused param.add_(d, alpha=-lr) bit for bit; AdamW's (w1 - w) + u is exact in
// double as well, so round(w + delta) = PyTorch's w1 + u. A narrower master (fp16 + sr)
// then rounds the true update once, not an fp32 pre-rounding of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fp8sim::workloads {

/// A checkpoint of an optimizer's state.
struct OptimizerState {
  std::string kind;                         ///< "sgd" or "adamw"; import checks it
  std::vector<std::size_t> sizes;           ///< element count of each parameter
  std::vector<std::uint64_t> steps;         ///< updates done, per parameter
  std::vector<std::vector<float>> buffers;  ///< per parameter: Optimizer::state_per_element()
                                            ///< arrays of `size` floats, one after another
};

/// The base of every optimizer: the parameter table, step counters and flat fp32 state.
class Optimizer {
 public:
  Optimizer() = default;
  Optimizer(const Optimizer&) = default;
  Optimizer& operator=(const Optimizer&) = default;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(Optimizer&&) = default;
  virtual ~Optimizer() = default;

  /// Registers a parameter of `size` elements; returns its index (0, 1, ... in order).
  std::size_t add_param(std::size_t size);
  [[nodiscard]] std::size_t param_count() const { return sizes_.size(); }
  /// Throws std::out_of_range for an unknown index.
  [[nodiscard]] std::size_t param_size(std::size_t param) const;
  /// Updates done so far for `param` (AdamW's t is steps + 1 in the next update).
  [[nodiscard]] std::uint64_t steps(std::size_t param) const;

  /// One step for one parameter: writes delta (what to add to weight) and advances the
  /// parameter's state and step counter. weight, grad and delta must have param_size
  /// elements; lr must be finite and >= 0 (std::invalid_argument otherwise). Elements are
  /// independent, so the result never depends on how the caller splits work.
  virtual void update(std::size_t param, std::span<const float> weight, std::span<const float> grad,
                      double lr, std::span<double> delta) = 0;
  /// Same, with the configured base learning rate.
  void update(std::size_t param, std::span<const float> weight, std::span<const float> grad,
              std::span<double> delta) {
    update(param, weight, grad, base_lr(), delta);
  }

  /// "sgd" or "adamw".
  [[nodiscard]] virtual std::string_view kind() const = 0;
  /// The learning rate of the configuration (the base an LrSchedule scales).
  [[nodiscard]] virtual double base_lr() const = 0;
  /// fp32 state arrays per element: SGD 1 with momentum (the momentum buffer), else 0;
  /// AdamW 2 (exp_avg, then exp_avg_sq).
  [[nodiscard]] virtual std::size_t state_per_element() const = 0;

  [[nodiscard]] OptimizerState export_state() const;
  /// Replaces the state. The kind, parameter count and sizes must equal this optimizer's
  /// (parameters are registered first, as in PyTorch's load_state_dict); throws
  /// std::invalid_argument naming the mismatch.
  void import_state(const OptimizerState& state);

 protected:
  /// Checks the index and the span sizes of an update; returns the parameter's state.
  std::vector<float>& checked_state(std::size_t param, std::span<const float> weight,
                                    std::span<const float> grad, double lr,
                                    std::span<double> delta);

  std::vector<std::size_t> sizes_;
  std::vector<std::uint64_t> steps_;
  std::vector<std::vector<float>> state_;
};

/// torch.optim.SGD's hyper-parameters and defaults (lr 1e-3 as in PyTorch 2.x).
struct SgdConfig {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

/// Throws std::invalid_argument (PyTorch's checks): lr, momentum, weight_decay finite and
/// >= 0, dampening finite; nesterov needs momentum > 0 and dampening 0.
void validate(const SgdConfig& c);

class Sgd final : public Optimizer {
 public:
  explicit Sgd(SgdConfig config);
  void update(std::size_t param, std::span<const float> weight, std::span<const float> grad,
              double lr, std::span<double> delta) override;
  using Optimizer::update;
  [[nodiscard]] std::string_view kind() const override { return "sgd"; }
  [[nodiscard]] double base_lr() const override { return config_.lr; }
  [[nodiscard]] std::size_t state_per_element() const override {
    return config_.momentum != 0 ? 1 : 0;
  }
  [[nodiscard]] const SgdConfig& config() const { return config_; }

 private:
  SgdConfig config_;
};

/// torch.optim.AdamW's hyper-parameters and defaults (amsgrad and maximize not modelled).
struct AdamWConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

/// Throws std::invalid_argument (PyTorch's checks): lr, eps, weight_decay finite and >= 0;
/// 0 <= beta1, beta2 < 1.
void validate(const AdamWConfig& c);

class AdamW final : public Optimizer {
 public:
  explicit AdamW(AdamWConfig config);
  void update(std::size_t param, std::span<const float> weight, std::span<const float> grad,
              double lr, std::span<double> delta) override;
  using Optimizer::update;
  [[nodiscard]] std::string_view kind() const override { return "adamw"; }
  [[nodiscard]] double base_lr() const override { return config_.lr; }
  [[nodiscard]] std::size_t state_per_element() const override { return 2; }
  [[nodiscard]] const AdamWConfig& config() const { return config_; }

 private:
  AdamWConfig config_;
};

}  // namespace fp8sim::workloads
