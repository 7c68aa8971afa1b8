// workloads/nn/resnet.cpp — the resnet workload.
#include "workloads/nn/resnet.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace fp8sim::workloads {

BasicBlock::BasicBlock(const std::string& name, std::size_t in_ch, std::size_t out_ch,
                       std::size_t stride)
    : conv1_(name + ".conv1", in_ch, out_ch, 3, stride, 1),
      bn1_(name + ".bn1", out_ch),
      conv2_(name + ".conv2", out_ch, out_ch, 3, 1, 1),
      bn2_(name + ".bn2", out_ch) {
  if (stride != 1 || in_ch != out_ch) {
    sc_conv_.emplace(name + ".shortcut.conv", in_ch, out_ch, 1, stride, 0);
    sc_bn_.emplace(name + ".shortcut.bn", out_ch);
  }
}

void BasicBlock::init(std::uint64_t seed) {
  conv1_.init(seed);
  bn1_.init();
  conv2_.init(seed);
  bn2_.init();
  if (sc_conv_) {
    sc_conv_->init(seed);
    sc_bn_->init();
  }
}

Tensor4 BasicBlock::forward(const Tensor4& x, const Recipe& r, const StepContext& ctx, bool train) {
  const int th = ctx.threads;
  Tensor4 h = relu1_.forward(bn1_.forward(conv1_.forward(x, r, ctx), train, th), th);
  h = bn2_.forward(conv2_.forward(h, r, ctx), train, th);
  if (sc_conv_)
    return relu_out_.forward(
        residual_add(h, sc_bn_->forward(sc_conv_->forward(x, r, ctx), train, th), th), th);
  return relu_out_.forward(residual_add(h, x, th), th);
}

Tensor4 BasicBlock::backward(const Tensor4& dy, const Recipe& r, const StepContext& ctx) {
  const int th = ctx.threads;
  const Tensor4 g = relu_out_.backward(dy, th);  // the add's gradient, to both branches
  Tensor4 dx = conv2_.backward(bn2_.backward(g, th), r, ctx);
  dx = conv1_.backward(bn1_.backward(relu1_.backward(dx, th), th), r, ctx);
  if (sc_conv_) return residual_add(dx, sc_conv_->backward(sc_bn_->backward(g, th), r, ctx), th);
  return residual_add(dx, g, th);
}

std::vector<Param*> BasicBlock::params() {
  std::vector<Param*> p;
  auto add = [&](std::vector<Param*> q) { p.insert(p.end(), q.begin(), q.end()); };
  add(conv1_.params());
  add(bn1_.params());
  add(conv2_.params());
  add(bn2_.params());
  if (sc_conv_) {
    add(sc_conv_->params());
    add(sc_bn_->params());
  }
  return p;
}

std::vector<Buffer*> BasicBlock::buffers() {
  std::vector<Buffer*> b;
  auto add = [&](std::vector<Buffer*> q) { b.insert(b.end(), q.begin(), q.end()); };
  add(bn1_.buffers());
  add(bn2_.buffers());
  if (sc_bn_) add(sc_bn_->buffers());
  return b;
}

std::vector<std::string> BasicBlock::gemm_layers() const {
  std::vector<std::string> n{conv1_.name(), conv2_.name()};
  if (sc_conv_) n.push_back(sc_conv_->name());
  return n;
}

namespace {

ResnetOptions checked(ResnetOptions o) {
  if (o.width == 0 || o.blocks == 0 || o.in_channels == 0 || o.classes == 0)
    throw std::invalid_argument(
        fmt::format("resnet: width, blocks, input channels and classes must be at least 1 (got "
                    "{}, {}, {}, {})",
                    o.width, o.blocks, o.in_channels, o.classes));
  return o;
}

}  // namespace

Resnet::Resnet(ResnetOptions o)
    : opt_(checked(o)),
      stem_conv_("stem.conv", opt_.in_channels, opt_.width, 3, 1, 1),
      stem_bn_("stem.bn", opt_.width),
      fc_("fc", 4 * opt_.width, opt_.classes) {
  std::size_t ch = opt_.width;
  for (std::size_t s = 1; s <= 3; ++s) {
    const std::size_t width = opt_.width << (s - 1);
    for (std::size_t b = 1; b <= opt_.blocks; ++b) {
      const std::size_t stride = s > 1 && b == 1 ? 2 : 1;
      blocks_.emplace_back(fmt::format("stage{}.block{}", s, b), ch, width, stride);
      ch = width;
    }
  }
}

void Resnet::init(std::uint64_t seed) {
  stem_conv_.init(seed);
  stem_bn_.init();
  for (auto& b : blocks_) b.init(seed);
  fc_.init(seed);
}

Tensor2 Resnet::forward(const Tensor4& x, const Recipe& r, const StepContext& ctx, bool train) {
  Tensor4 h = stem_relu_.forward(
      stem_bn_.forward(stem_conv_.forward(x, r, ctx), train, ctx.threads), ctx.threads);
  for (auto& b : blocks_) h = b.forward(h, r, ctx, train);
  return fc_.forward(pool_.forward(h), r, ctx);
}

void Resnet::backward(const Tensor2& dlogits, const Recipe& r, const StepContext& ctx) {
  Tensor4 g = pool_.backward(fc_.backward(dlogits, r, ctx));
  for (std::size_t b = blocks_.size(); b-- > 0;) g = blocks_[b].backward(g, r, ctx);
  (void)stem_conv_.backward(stem_bn_.backward(stem_relu_.backward(g, ctx.threads), ctx.threads), r,
                            ctx, false);
}

std::vector<Param*> Resnet::params() {
  std::vector<Param*> p = stem_conv_.params();
  for (Param* q : stem_bn_.params()) p.push_back(q);
  for (auto& b : blocks_)
    for (Param* q : b.params()) p.push_back(q);
  p.push_back(&fc_.weight);
  p.push_back(&fc_.bias);
  return p;
}

std::vector<Buffer*> Resnet::buffers() {
  std::vector<Buffer*> v = stem_bn_.buffers();
  for (auto& b : blocks_)
    for (Buffer* q : b.buffers()) v.push_back(q);
  return v;
}

std::vector<std::string> Resnet::gemm_layers() const {
  std::vector<std::string> n{stem_conv_.name()};
  for (const auto& b : blocks_)
    for (auto& s : b.gemm_layers()) n.push_back(s);
  n.push_back(fc_.name());
  return n;
}

}  // namespace fp8sim::workloads
