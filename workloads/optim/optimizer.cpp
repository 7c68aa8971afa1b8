// workloads/optim/optimizer.cpp — PyTorch's SGD and AdamW, operation by operation in fp32.
//
// Which PyTorch operations fuse was read from its CPU kernels (ATen ufunc::add on vectors is
// vec::fmadd(other, alpha, self); addcmul is self + value * t1 * t2, which GCC contracts in
// the AVX2 build; addcdiv is self + value * t1 / t2, whose last step follows a division and
// cannot fuse) and checked against torch 1.13 (tests/workloads/test_optim.cpp). This file
// is built with -ffp-contract=off, so every std::fma below is the only fused operation.
#include "workloads/optim/optimizer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace fp8sim::workloads {

namespace {

void require(bool ok, std::string_view config, std::string_view name, double value,
             std::string_view allowed) {
  if (!ok)
    throw std::invalid_argument(
        fmt::format("{}: {} = {} is not allowed (allowed: {})", config, name, value, allowed));
}

}  // namespace

// ---- Optimizer --------------------------------------------------------------------------

std::size_t Optimizer::add_param(std::size_t size) {
  sizes_.push_back(size);
  steps_.push_back(0);
  state_.emplace_back(size * state_per_element(), 0.0f);
  return sizes_.size() - 1;
}

std::size_t Optimizer::param_size(std::size_t param) const {
  if (param >= sizes_.size())
    throw std::out_of_range(
        fmt::format("{}: parameter {} is not registered (have {})", kind(), param, sizes_.size()));
  return sizes_[param];
}

std::uint64_t Optimizer::steps(std::size_t param) const {
  (void)param_size(param);  // checks the index
  return steps_[param];
}

std::vector<float>& Optimizer::checked_state(std::size_t param, std::span<const float> weight,
                                             std::span<const float> grad, double lr,
                                             std::span<double> delta) {
  const std::size_t n = param_size(param);
  if (weight.size() != n || grad.size() != n || delta.size() != n)
    throw std::invalid_argument(
        fmt::format("{} update of parameter {}: weight, grad and delta have {}, {} and {} elements "
                    "(expected {})",
                    kind(), param, weight.size(), grad.size(), delta.size(), n));
  require(std::isfinite(lr) && lr >= 0, kind(), "lr", lr, "finite, >= 0");
  return state_[param];
}

OptimizerState Optimizer::export_state() const {
  return OptimizerState{std::string(kind()), sizes_, steps_, state_};
}

void Optimizer::import_state(const OptimizerState& s) {
  if (s.kind != kind())
    throw std::invalid_argument(
        fmt::format("optimizer state of kind '{}' cannot be loaded into '{}'", s.kind, kind()));
  if (s.sizes != sizes_ || s.steps.size() != sizes_.size() || s.buffers.size() != sizes_.size())
    throw std::invalid_argument(
        fmt::format("{} state: {} parameters with other sizes than the {} registered", kind(),
                    s.sizes.size(), sizes_.size()));
  for (std::size_t p = 0; p < sizes_.size(); ++p)
    if (s.buffers[p].size() != sizes_[p] * state_per_element())
      throw std::invalid_argument(
          fmt::format("{} state: parameter {} has {} state values (expected {})", kind(), p,
                      s.buffers[p].size(), sizes_[p] * state_per_element()));
  steps_ = s.steps;
  state_ = s.buffers;
}

// ---- SGD --------------------------------------------------------------------------------

void validate(const SgdConfig& c) {
  require(std::isfinite(c.lr) && c.lr >= 0, "sgd", "lr", c.lr, "finite, >= 0");
  require(std::isfinite(c.momentum) && c.momentum >= 0, "sgd", "momentum", c.momentum,
          "finite, >= 0");
  require(std::isfinite(c.dampening), "sgd", "dampening", c.dampening, "finite");
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "sgd", "weight_decay",
          c.weight_decay, "finite, >= 0");
  if (c.nesterov && (c.momentum <= 0 || c.dampening != 0))
    throw std::invalid_argument(fmt::format(
        "sgd: nesterov needs momentum > 0 and dampening = 0 (have momentum = {}, dampening = "
        "{})",
        c.momentum, c.dampening));
}

Sgd::Sgd(SgdConfig config) : config_(config) {
  validate(config_);
}

void Sgd::update(std::size_t param, std::span<const float> weight, std::span<const float> grad,
                 double lr, std::span<double> delta) {
  std::vector<float>& buf = checked_state(param, weight, grad, lr, delta);
  const SgdConfig& c = config_;
  // PyTorch passes these Python floats to fp32 kernels.
  const auto wd = static_cast<float>(c.weight_decay);
  const auto momentum = static_cast<float>(c.momentum);
  const auto keep = static_cast<float>(1.0 - c.dampening);
  const auto neg_lr = static_cast<double>(static_cast<float>(-lr));
  const bool first = steps_[param] == 0;  // PyTorch: no momentum_buffer yet
  for (std::size_t i = 0; i < weight.size(); ++i) {
    float d = grad[i];
    if (c.weight_decay != 0) d = std::fma(wd, weight[i], d);
    if (c.momentum != 0) {
      buf[i] = first ? d : std::fma(keep, d, buf[i] * momentum);
      d = c.nesterov ? std::fma(momentum, buf[i], d) : buf[i];
    }
    delta[i] = neg_lr * static_cast<double>(d);  // exact: 24 x 24 bits
  }
  ++steps_[param];
}

// ---- AdamW ------------------------------------------------------------------------------

void validate(const AdamWConfig& c) {
  require(std::isfinite(c.lr) && c.lr >= 0, "adamw", "lr", c.lr, "finite, >= 0");
  require(std::isfinite(c.eps) && c.eps >= 0, "adamw", "eps", c.eps, "finite, >= 0");
  require(c.beta1 >= 0 && c.beta1 < 1, "adamw", "beta1", c.beta1, "0 <= beta1 < 1");
  require(c.beta2 >= 0 && c.beta2 < 1, "adamw", "beta2", c.beta2, "0 <= beta2 < 1");
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "adamw", "weight_decay",
          c.weight_decay, "finite, >= 0");
}

AdamW::AdamW(AdamWConfig config) : config_(config) {
  validate(config_);
}

void AdamW::update(std::size_t param, std::span<const float> weight, std::span<const float> grad,
                   double lr, std::span<double> delta) {
  std::vector<float>& st = checked_state(param, weight, grad, lr, delta);
  const AdamWConfig& c = config_;
  const std::size_t n = weight.size();
  const auto t = static_cast<double>(steps_[param] + 1);
  // Python-side scalars, in double as torch/optim/adamw.py computes them.
  const double bias_correction1 = 1 - std::pow(c.beta1, t);
  const double bias_correction2 = 1 - std::pow(c.beta2, t);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  // ... and as the fp32 kernels receive them.
  const auto decay = static_cast<float>(1 - lr * c.weight_decay);
  const auto beta1 = static_cast<float>(c.beta1);
  const auto one_minus_beta1 = static_cast<float>(1 - c.beta1);
  const auto beta2 = static_cast<float>(c.beta2);
  const auto one_minus_beta2 = static_cast<float>(1 - c.beta2);
  const auto bc2_sqrt = static_cast<float>(bias_correction2_sqrt);
  const auto eps = static_cast<float>(c.eps);
  const auto neg_step_size = static_cast<float>(-step_size);
  float* m = st.data();
  float* v = st.data() + n;
  for (std::size_t i = 0; i < n; ++i) {
    const float w1 = weight[i] * decay;
    m[i] = std::fma(one_minus_beta1, grad[i], m[i] * beta1);
    v[i] = std::fma(one_minus_beta2 * grad[i], grad[i], v[i] * beta2);
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    const float u = (neg_step_size * m[i]) / denom;
    // w1 - w is exact in double (their exponents differ by less than 29 for any decay
    // factor >= 2^-28), and so is the sum with u unless their exponents are > 29 apart,
    // where the bits lost lie far below w's fp32 rounding.
    delta[i] = (static_cast<double>(w1) - static_cast<double>(weight[i])) + static_cast<double>(u);
  }
  ++steps_[param];
}

}  // namespace fp8sim::workloads
