// workloads/nn/mlp.cpp — the mlp workload.
#include "workloads/nn/mlp.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace fp8sim::workloads {

Mlp::Mlp(std::vector<std::size_t> sizes) : sizes_(std::move(sizes)) {
  if (sizes_.size() < 2) throw std::invalid_argument("mlp: needs an input and an output size");
  for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
    if (sizes_[l] == 0 || sizes_[l + 1] == 0)
      throw std::invalid_argument("mlp: layer sizes must be at least 1");
    fc_.emplace_back(fmt::format("fc{}", l + 1), sizes_[l], sizes_[l + 1]);
  }
  relu_.resize(fc_.size() - 1);
}

void Mlp::init(std::uint64_t seed) {
  for (auto& f : fc_) f.init(seed);
}

Tensor2 Mlp::forward(const Tensor2& x, const Recipe& r, const StepContext& ctx) {
  Tensor2 h = x;
  for (std::size_t l = 0; l < fc_.size(); ++l) {
    h = fc_[l].forward(h, r, ctx);
    if (l + 1 < fc_.size()) h = relu_[l].forward(h);
  }
  return h;
}

void Mlp::backward(const Tensor2& dlogits, const Recipe& r, const StepContext& ctx) {
  Tensor2 g = dlogits;
  for (std::size_t l = fc_.size(); l-- > 0;) {
    g = fc_[l].backward(g, r, ctx, l > 0);  // the input needs no gradient
    if (l > 0) g = relu_[l - 1].backward(g);
  }
}

std::vector<Param*> Mlp::params() {
  std::vector<Param*> p;
  for (auto& f : fc_) {
    p.push_back(&f.weight);
    p.push_back(&f.bias);
  }
  return p;
}

}  // namespace fp8sim::workloads
