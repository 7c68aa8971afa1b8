// workloads/nn/transformer_layers.cpp — GELU, Dropout, LayerNorm, Embedding, multi-head
// attention, label-smoothed token cross-entropy.
#include "workloads/nn/transformer_layers.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include <fmt/format.h>

#include "rounding/random_bits.hpp"

namespace fp8sim::workloads {

namespace {

// Element e of step s draws random-bit index s * 2^36 + e (as quantize_role does).
constexpr int kStepShift = 36;

std::span<const float> view(const Tensor2& t) {
  return {t.data(), t.size()};
}

void scale_by(std::span<float> v, float s) {
  if (s != 1.0f)
    for (float& x : v) x *= s;
}

// splitmix64's finaliser: a well-mixed 64-bit word of x.
std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The context of the GEMMs of part p (a batch row and head) with `work` = M*N*K each: the
// same step and statistics, a MAC seed of its own (part 0 keeps the caller's, so a single part
// is a plain layer_gemm), and one thread when the GEMM is small (results never depend on the
// thread count; a parallel region per tiny GEMM costs more than the GEMM).
StepContext part_context(const StepContext& ctx, std::uint64_t p, std::size_t work) {
  StepContext c = ctx;
  if (p != 0) c.seed ^= mix64(p);
  if (work < (std::size_t{1} << 18)) c.threads = 1;
  return c;
}

}  // namespace

// ------------------------------------------------------------------------------------ GELU

Tensor2 Gelu::forward(const Tensor2& x) {
  x_.assign(x.data(), x.data() + x.size());
  Tensor2 y = x;
  for (float& v : y) {
    const double d = v;
    v = static_cast<float>(0.5 * d * (1.0 + std::erf(d / std::numbers::sqrt2)));
  }
  return y;
}

Tensor2 Gelu::backward(const Tensor2& dy) const {
  if (dy.size() != x_.size())
    throw std::invalid_argument("gelu: gradient size differs from the last forward's input");
  Tensor2 dx = dy;
  const double inv_sqrt_2pi = std::numbers::inv_sqrtpi / std::numbers::sqrt2;  // 1/sqrt(2 pi)
  for (std::size_t i = 0; i < dx.size(); ++i) {
    const double x = x_[i];
    const double d =
        0.5 * (1.0 + std::erf(x / std::numbers::sqrt2)) + x * inv_sqrt_2pi * std::exp(-0.5 * x * x);
    dx.data()[i] = static_cast<float>(dx.data()[i] * d);
  }
  return dx;
}

// --------------------------------------------------------------------------------- Dropout

void dropout_keep_mask(const std::string& name, double p, const StepContext& ctx, std::size_t n,
                       std::vector<std::uint8_t>& keep) {
  if (!(p >= 0 && p < 1))
    throw std::invalid_argument(fmt::format("{}: dropout p must be in [0, 1), got {}", name, p));
  if (n >= (std::size_t{1} << kStepShift))
    throw std::invalid_argument(fmt::format("{}: {} elements are too many", name, n));
  keep.resize(n);
  const RandomKey key{ctx.seed, name_key(name)};
  const auto threshold = static_cast<std::uint64_t>(std::llround(p * 0x1p32));
  // whole groups of 64 words (random_group), starting at index step * 2^36
  const std::uint64_t first_group = ctx.step << (kStepShift - 6);
  std::array<std::uint32_t, 64> w{};
  for (std::size_t g = 0; g * 64 < n; ++g) {
    random_group(key, first_group + g, w.data());
    const std::size_t end = std::min<std::size_t>(64, n - g * 64);
    for (std::size_t i = 0; i < end; ++i) keep[g * 64 + i] = w[i] >= threshold;
  }
}

Dropout::Dropout(std::string name, double p) : name_(std::move(name)), p_(p) {
  if (!(p_ >= 0 && p_ < 1))
    throw std::invalid_argument(fmt::format("{}: dropout p must be in [0, 1), got {}", name_, p_));
}

Tensor2 Dropout::forward(const Tensor2& x, const StepContext& ctx, bool train) {
  size_ = x.size();
  if (!train || p_ == 0) {
    keep_.clear();
    return x;
  }
  dropout_keep_mask(name_, p_, ctx, x.size(), keep_);
  const auto scale = static_cast<float>(1.0 / (1.0 - p_));
  Tensor2 y = x;
  for (std::size_t i = 0; i < y.size(); ++i) y.data()[i] = keep_[i] ? y.data()[i] * scale : 0.0f;
  return y;
}

Tensor2 Dropout::backward(const Tensor2& dy) const {
  if (dy.size() != size_)
    throw std::invalid_argument(
        fmt::format("{}: gradient has {} elements, the last forward {}", name_, dy.size(), size_));
  if (keep_.empty()) return dy;
  const auto scale = static_cast<float>(1.0 / (1.0 - p_));
  Tensor2 dx = dy;
  for (std::size_t i = 0; i < dx.size(); ++i) dx.data()[i] = keep_[i] ? dx.data()[i] * scale : 0.0f;
  return dx;
}

// ------------------------------------------------------------------------------- LayerNorm

LayerNorm::LayerNorm(std::string name, std::size_t d, double eps)
    : name_(std::move(name)), d_(d), eps_(eps) {
  if (d_ == 0) throw std::invalid_argument(fmt::format("{}: needs at least 1 feature", name_));
  if (!(eps_ > 0)) throw std::invalid_argument(fmt::format("{}: eps must be > 0", name_));
  weight.name = name_ + ".weight";
  bias.name = name_ + ".bias";
  for (Param* p : {&weight, &bias}) {
    p->shape = {d_};
    p->grad.assign(d_, 0.0f);
  }
  init();
}

void LayerNorm::init() {
  weight.value.assign(d_, 1.0f);
  bias.value.assign(d_, 0.0f);
}

Tensor2 LayerNorm::forward(const Tensor2& x) {
  if (x.shape(1) != d_)
    throw std::invalid_argument(
        fmt::format("{}: input has {} features, the layer takes {}", name_, x.shape(1), d_));
  const std::size_t n = x.shape(0);
  xhat_.resize(x.size());
  inv_std_.assign(n, 0.0);
  Tensor2 y = xt::zeros<float>({n, d_});
  for (std::size_t r = 0; r < n; ++r) {
    const float* xr = x.data() + r * d_;
    double s = 0;
    for (std::size_t c = 0; c < d_; ++c) s += xr[c];
    const double mean = s / static_cast<double>(d_);
    double ss = 0;
    for (std::size_t c = 0; c < d_; ++c) ss += (xr[c] - mean) * (xr[c] - mean);
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d_) + eps_);
    inv_std_[r] = inv;
    for (std::size_t c = 0; c < d_; ++c) {
      const double xh = (xr[c] - mean) * inv;
      xhat_[r * d_ + c] = static_cast<float>(xh);
      y.data()[r * d_ + c] = static_cast<float>(weight.value[c] * xh + bias.value[c]);
    }
  }
  return y;
}

Tensor2 LayerNorm::backward(const Tensor2& dy) {
  if (dy.shape(0) != inv_std_.size() || dy.shape(1) != d_)
    throw std::invalid_argument(fmt::format("{}: gradient is {}x{}, the output was {}x{}", name_,
                                            dy.shape(0), dy.shape(1), inv_std_.size(), d_));
  const std::size_t n = dy.shape(0);
  std::vector<double> gw(d_, 0.0), gb(d_, 0.0);
  Tensor2 dx = xt::zeros<float>({n, d_});
  const double dd = static_cast<double>(d_);
  for (std::size_t r = 0; r < n; ++r) {
    const float* g = dy.data() + r * d_;
    const float* xh = xhat_.data() + r * d_;
    // with gx = dy * weight: dx = inv_std * (gx - mean(gx) - xhat * mean(gx * xhat))
    double sg = 0, sgx = 0;
    for (std::size_t c = 0; c < d_; ++c) {
      const double gx = static_cast<double>(g[c]) * weight.value[c];
      sg += gx;
      sgx += gx * xh[c];
      gw[c] += static_cast<double>(g[c]) * xh[c];
      gb[c] += g[c];
    }
    for (std::size_t c = 0; c < d_; ++c) {
      const double gx = static_cast<double>(g[c]) * weight.value[c];
      dx.data()[r * d_ + c] = static_cast<float>(inv_std_[r] * (gx - sg / dd - xh[c] * sgx / dd));
    }
  }
  for (std::size_t c = 0; c < d_; ++c) {
    weight.grad[c] = static_cast<float>(gw[c]);
    bias.grad[c] = static_cast<float>(gb[c]);
  }
  return dx;
}

// ------------------------------------------------------------------------------- Embedding

Embedding::Embedding(std::string name, std::size_t vocab, std::size_t d, std::size_t max_len,
                     std::int32_t padding_id)
    : name_(std::move(name)), vocab_(vocab), d_(d), max_len_(max_len), pad_(padding_id) {
  if (vocab_ == 0 || d_ == 0 || max_len_ == 0)
    throw std::invalid_argument(
        fmt::format("{}: vocabulary, width and maximum length must be at least 1", name_));
  if (pad_ >= 0 && static_cast<std::size_t>(pad_) >= vocab_)
    throw std::invalid_argument(
        fmt::format("{}: padding id {} outside the vocabulary of {}", name_, pad_, vocab_));
  weight.name = name_ + ".weight";
  weight.shape = {vocab_, d_};
  position.name = name_ + ".position";
  position.shape = {max_len_, d_};
  for (Param* p : params()) {
    p->value.assign(p->shape[0] * d_, 0.0f);
    p->grad.assign(p->value.size(), 0.0f);
  }
}

void Embedding::init(std::uint64_t seed) {
  for (Param* p : params()) {
    const RandomKey key{seed, name_key(p->name)};
    for (std::size_t i = 0; i < p->size(); ++i) {  // Box-Muller on two Philox words
      const double u1 = (random_word(key, 2 * i) + 0.5) * 0x1p-32;
      const double u2 = (random_word(key, 2 * i + 1) + 0.5) * 0x1p-32;
      p->value[i] =
          static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
  }
  if (pad_ >= 0)
    std::fill_n(weight.value.begin() + static_cast<std::ptrdiff_t>(pad_) * d_, d_, 0.0f);
}

Tensor2 Embedding::forward(std::span<const std::int32_t> ids, std::size_t batch, std::size_t len) {
  if (ids.size() != batch * len)
    throw std::invalid_argument(
        fmt::format("{}: {} ids for {} sequences of {}", name_, ids.size(), batch, len));
  if (len > max_len_)
    throw std::invalid_argument(
        fmt::format("{}: sequence length {} above the maximum {}", name_, len, max_len_));
  for (const std::int32_t id : ids)
    if (id < 0 || static_cast<std::size_t>(id) >= vocab_)
      throw std::invalid_argument(
          fmt::format("{}: token id {} outside the vocabulary of {}", name_, id, vocab_));
  ids_.assign(ids.begin(), ids.end());
  len_ = len;
  Tensor2 y = xt::zeros<float>({batch * len, d_});
  for (std::size_t r = 0; r < ids.size(); ++r) {
    const float* w = weight.value.data() + static_cast<std::size_t>(ids[r]) * d_;
    const float* p = position.value.data() + (r % len) * d_;
    float* out = y.data() + r * d_;
    for (std::size_t c = 0; c < d_; ++c) out[c] = w[c] + p[c];
  }
  return y;
}

void Embedding::backward(const Tensor2& dy) {
  if (dy.shape(0) != ids_.size() || dy.shape(1) != d_)
    throw std::invalid_argument(fmt::format("{}: gradient is {}x{}, the output was {}x{}", name_,
                                            dy.shape(0), dy.shape(1), ids_.size(), d_));
  std::fill(weight.grad.begin(), weight.grad.end(), 0.0f);
  std::fill(position.grad.begin(), position.grad.end(), 0.0f);
  for (std::size_t r = 0; r < ids_.size(); ++r) {
    const float* g = dy.data() + r * d_;
    float* pg = position.grad.data() + (r % len_) * d_;
    for (std::size_t c = 0; c < d_; ++c) pg[c] += g[c];
    if (ids_[r] == pad_) continue;
    float* wg = weight.grad.data() + static_cast<std::size_t>(ids_[r]) * d_;
    for (std::size_t c = 0; c < d_; ++c) wg[c] += g[c];
  }
}

// ---------------------------------------------------------------------- MultiHeadAttention

MultiHeadAttention::MultiHeadAttention(std::string name, std::size_t d_model, std::size_t heads,
                                       double dropout)
    : name_(std::move(name)),
      d_(d_model),
      heads_(heads),
      dh_(heads == 0 ? 0 : d_model / heads),
      p_drop_(dropout),
      q_(name_ + ".q", d_model, d_model),
      k_(name_ + ".k", d_model, d_model),
      v_(name_ + ".v", d_model, d_model),
      o_(name_ + ".o", d_model, d_model) {
  if (heads_ == 0 || d_ == 0 || d_ % heads_ != 0)
    throw std::invalid_argument(
        fmt::format("{}: d_model {} must be a positive multiple of heads {}", name_, d_, heads_));
  if (!(p_drop_ >= 0 && p_drop_ < 1))
    throw std::invalid_argument(
        fmt::format("{}: dropout p must be in [0, 1), got {}", name_, p_drop_));
}

void MultiHeadAttention::init(std::uint64_t seed) {
  for (Linear* l : {&q_, &k_, &v_, &o_}) l->init(seed);
}

std::vector<Param*> MultiHeadAttention::params() {
  std::vector<Param*> p;
  for (Linear* l : {&q_, &k_, &v_, &o_}) {
    p.push_back(&l->weight);
    p.push_back(&l->bias);
  }
  return p;
}

std::vector<std::string> MultiHeadAttention::gemm_layers() const {
  return {q_.name(), k_.name(), v_.name(), name_ + ".scores", name_ + ".context", o_.name()};
}

const Recipe& MultiHeadAttention::projection_recipe(const Recipe& r) {
  if (!r.is_exempt(name_)) return r;
  exempt_recipe_ = r;
  for (const Linear* l : {&q_, &k_, &v_, &o_}) exempt_recipe_.exempt.push_back(l->name());
  return exempt_recipe_;
}

Tensor2 MultiHeadAttention::forward(const Tensor2& x, std::size_t batch, const AttentionMask& mask,
                                    const Recipe& r, const StepContext& ctx, bool train) {
  return attend(x, x, batch, mask, r, ctx, train, true);
}

Tensor2 MultiHeadAttention::forward(const Tensor2& query, const Tensor2& memory, std::size_t batch,
                                    const AttentionMask& mask, const Recipe& r,
                                    const StepContext& ctx, bool train) {
  return attend(query, memory, batch, mask, r, ctx, train, false);
}

Tensor2 MultiHeadAttention::attend(const Tensor2& query, const Tensor2& memory, std::size_t batch,
                                   const AttentionMask& mask, const Recipe& r,
                                   const StepContext& ctx, bool train, bool self) {
  if (batch == 0 || query.shape(0) % batch != 0 || memory.shape(0) % batch != 0 ||
      query.shape(0) == 0 || memory.shape(0) == 0)
    throw std::invalid_argument(fmt::format("{}: {} query and {} memory rows for a batch of {}",
                                            name_, query.shape(0), memory.shape(0), batch));
  if (query.shape(1) != d_ || memory.shape(1) != d_)
    throw std::invalid_argument(
        fmt::format("{}: inputs have {} and {} features, the layer takes {}", name_, query.shape(1),
                    memory.shape(1), d_));
  const std::size_t B = batch, H = heads_, dh = dh_, LQ = query.shape(0) / batch,
                    LK = memory.shape(0) / batch;
  if (!mask.key_padding.empty() && mask.key_padding.size() != B * LK)
    throw std::invalid_argument(fmt::format("{}: {} key padding flags for {} sequences of {} keys",
                                            name_, mask.key_padding.size(), B, LK));
  batch_ = B;
  lq_ = LQ;
  lk_ = LK;
  self_ = self;
  const Recipe& rp = projection_recipe(r);
  const Tensor2 q = q_.forward(query, rp, ctx);
  const Tensor2 k = k_.forward(memory, rp, ctx);
  const Tensor2 v = v_.forward(memory, rp, ctx);

  const bool ex_s = r.is_exempt(name_) || r.is_exempt(name_ + ".scores");
  const bool ex_c = r.is_exempt(name_) || r.is_exempt(name_ + ".context");
  const RoleQuant none{};
  const std::string sn = name_ + ".scores", cn = name_ + ".context";
  qq_.resize(q.size());
  sq_ = quantize_role(ex_s ? none : r.activation, sn + "/activation", view(q), qq_, ctx);
  kq_.resize(k.size());
  sk_ = quantize_role(ex_s ? none : r.weight, sn + "/weight", view(k), kq_, ctx);
  vq_.resize(v.size());
  sv_ = quantize_role(ex_c ? none : r.weight, cn + "/weight", view(v), vq_, ctx);

  // scores and softmax, per (batch row, head): S = Q_bh · K_bh^T (LQ x LK)
  const MacConfig& ms = ex_s ? fp32_mac() : r.fprop;
  const float descale = 1.0f / (sq_ * sk_);
  const auto inv_sqrt = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)));
  p_.assign(B * H * LQ * LK, 0.0f);
  std::vector<float> a(LQ * dh), bt(dh * LK), bm(LK * dh);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h) {
      for (std::size_t i = 0; i < LQ; ++i)
        for (std::size_t c = 0; c < dh; ++c) a[i * dh + c] = qq_[(b * LQ + i) * d_ + h * dh + c];
      for (std::size_t j = 0; j < LK; ++j)
        for (std::size_t c = 0; c < dh; ++c) bt[c * LK + j] = kq_[(b * LK + j) * d_ + h * dh + c];
      const std::span<float> s(p_.data() + (b * H + h) * LQ * LK, LQ * LK);
      layer_gemm(ms, sn + "/fprop", LQ, LK, dh, a, bt, s,
                 part_context(ctx, b * H + h, LQ * LK * dh));
      for (std::size_t i = 0; i < LQ; ++i) {
        float* row = s.data() + i * LK;
        float mx = -std::numeric_limits<float>::infinity();
        bool any = false;
        for (std::size_t j = 0; j < LK; ++j) {
          const bool masked = (mask.causal && j > i) ||
                              (!mask.key_padding.empty() && mask.key_padding[b * LK + j] != 0);
          if (masked) {
            row[j] = -std::numeric_limits<float>::infinity();
            continue;
          }
          any = true;
          float z = row[j];
          if (descale != 1.0f) z *= descale;
          row[j] = z * inv_sqrt;
          mx = std::max(mx, row[j]);
        }
        if (!any) {  // every key masked: P = 0 (defined; PyTorch gives NaN)
          std::fill(row, row + LK, 0.0f);
          continue;
        }
        double sum = 0;
        for (std::size_t j = 0; j < LK; ++j) {
          row[j] = row[j] == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(row[j] - mx);
          sum += row[j];
        }
        for (std::size_t j = 0; j < LK; ++j) row[j] = static_cast<float>(row[j] / sum);
      }
    }

  // P~ = dropout(P), quantized as the context GEMM's activation
  pq_ = p_;
  if (train && p_drop_ > 0) {
    dropout_keep_mask(name_ + ".dropout", p_drop_, ctx, p_.size(), keep_);
    const auto scale = static_cast<float>(1.0 / (1.0 - p_drop_));
    for (std::size_t i = 0; i < pq_.size(); ++i) pq_[i] = keep_[i] ? pq_[i] * scale : 0.0f;
  } else {
    keep_.clear();
  }
  sp_ = quantize_role(ex_c ? none : r.activation, cn + "/activation", pq_, pq_, ctx);

  // context per (batch row, head): O_bh = P~_bh (LQ x LK) · V_bh (LK x dh)
  const MacConfig& mc = ex_c ? fp32_mac() : r.fprop;
  const float cdescale = 1.0f / (sp_ * sv_);
  Tensor2 concat = xt::zeros<float>({B * LQ, d_});
  std::vector<float> out(LQ * dh);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h) {
      for (std::size_t j = 0; j < LK; ++j)
        for (std::size_t c = 0; c < dh; ++c) bm[j * dh + c] = vq_[(b * LK + j) * d_ + h * dh + c];
      const std::span<const float> pb(pq_.data() + (b * H + h) * LQ * LK, LQ * LK);
      layer_gemm(mc, cn + "/fprop", LQ, dh, LK, pb, bm, out,
                 part_context(ctx, b * H + h, LQ * LK * dh));
      scale_by(out, cdescale);
      for (std::size_t i = 0; i < LQ; ++i)
        for (std::size_t c = 0; c < dh; ++c)
          concat.data()[(b * LQ + i) * d_ + h * dh + c] = out[i * dh + c];
    }
  return o_.forward(concat, rp, ctx);
}

AttentionGrads MultiHeadAttention::backward(const Tensor2& dy, const Recipe& r,
                                            const StepContext& ctx) {
  if (qq_.empty()) throw std::logic_error(fmt::format("{}: backward without a forward", name_));
  const std::size_t B = batch_, H = heads_, dh = dh_, LQ = lq_, LK = lk_;
  if (dy.shape(0) != B * LQ || dy.shape(1) != d_)
    throw std::invalid_argument(fmt::format("{}: gradient is {}x{}, the output was {}x{}", name_,
                                            dy.shape(0), dy.shape(1), B * LQ, d_));
  const Recipe& rp = projection_recipe(r);
  const bool ex_s = r.is_exempt(name_) || r.is_exempt(name_ + ".scores");
  const bool ex_c = r.is_exempt(name_) || r.is_exempt(name_ + ".context");
  const RoleQuant none{};
  const std::string sn = name_ + ".scores", cn = name_ + ".context";
  const Tensor2 dcat = o_.backward(dy, rp, ctx);

  // context: dP~ = dO · V^T (dgrad), dV^T = dO^T · P~ (wgrad)
  std::vector<float> doq(dcat.size());
  const float sdo = quantize_role(ex_c ? none : r.error, cn + "/error", view(dcat), doq, ctx);
  std::vector<float> dp(B * H * LQ * LK);
  Tensor2 dv = xt::zeros<float>({B * LK, d_});
  {
    std::vector<float> a(LQ * dh), at(dh * LQ), bt(dh * LK), out(dh * LK);
    const float ddesc = 1.0f / (sdo * sv_), wdesc = 1.0f / (sdo * sp_);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        const StepContext pc = part_context(ctx, b * H + h, LQ * LK * dh);
        for (std::size_t i = 0; i < LQ; ++i)
          for (std::size_t c = 0; c < dh; ++c) {
            const float g = doq[(b * LQ + i) * d_ + h * dh + c];
            a[i * dh + c] = g;
            at[c * LQ + i] = g;
          }
        for (std::size_t j = 0; j < LK; ++j)
          for (std::size_t c = 0; c < dh; ++c) bt[c * LK + j] = vq_[(b * LK + j) * d_ + h * dh + c];
        const std::size_t off = (b * H + h) * LQ * LK;
        const std::span<float> dpb(dp.data() + off, LQ * LK);
        layer_gemm(ex_c ? fp32_mac() : r.dgrad, cn + "/dgrad", LQ, LK, dh, a, bt, dpb, pc);
        scale_by(dpb, ddesc);
        layer_gemm(ex_c ? fp32_mac() : r.wgrad, cn + "/wgrad", dh, LK, LQ, at,
                   std::span<const float>(pq_.data() + off, LQ * LK), out, pc);
        scale_by(out, wdesc);
        for (std::size_t j = 0; j < LK; ++j)
          for (std::size_t c = 0; c < dh; ++c)
            dv.data()[(b * LK + j) * d_ + h * dh + c] = out[c * LK + j];
      }
  }

  // through dropout and softmax: dS = P * (dP - sum_j P dP) / sqrt(dh) (0 where masked)
  const auto inv_sqrt = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)));
  const auto dscale = static_cast<float>(1.0 / (1.0 - p_drop_));
  std::vector<float>& ds = dp;  // in place, row by row
  for (std::size_t row = 0; row < B * H * LQ; ++row) {
    float* g = ds.data() + row * LK;
    const float* p = p_.data() + row * LK;
    if (!keep_.empty()) {
      const std::uint8_t* kp = keep_.data() + row * LK;
      for (std::size_t j = 0; j < LK; ++j) g[j] = kp[j] ? g[j] * dscale : 0.0f;
    }
    double dot = 0;
    for (std::size_t j = 0; j < LK; ++j) dot += static_cast<double>(p[j]) * g[j];
    for (std::size_t j = 0; j < LK; ++j) g[j] = static_cast<float>(p[j] * (g[j] - dot)) * inv_sqrt;
  }
  std::vector<float> dsq(ds.size());
  const float sds = quantize_role(ex_s ? none : r.error, sn + "/error", ds, dsq, ctx);

  // scores: dQ = dS · K (dgrad), dK = dS^T · Q (wgrad)
  Tensor2 dq = xt::zeros<float>({B * LQ, d_});
  Tensor2 dk = xt::zeros<float>({B * LK, d_});
  {
    std::vector<float> kb(LK * dh), qb(LQ * dh), dst(LK * LQ), oq(LQ * dh), ok(LK * dh);
    const float ddesc = 1.0f / (sds * sk_), wdesc = 1.0f / (sds * sq_);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        const StepContext pc = part_context(ctx, b * H + h, LQ * LK * dh);
        for (std::size_t j = 0; j < LK; ++j)
          for (std::size_t c = 0; c < dh; ++c) kb[j * dh + c] = kq_[(b * LK + j) * d_ + h * dh + c];
        for (std::size_t i = 0; i < LQ; ++i)
          for (std::size_t c = 0; c < dh; ++c) qb[i * dh + c] = qq_[(b * LQ + i) * d_ + h * dh + c];
        const float* dsb = dsq.data() + (b * H + h) * LQ * LK;
        for (std::size_t i = 0; i < LQ; ++i)
          for (std::size_t j = 0; j < LK; ++j) dst[j * LQ + i] = dsb[i * LK + j];
        layer_gemm(ex_s ? fp32_mac() : r.dgrad, sn + "/dgrad", LQ, dh, LK,
                   std::span<const float>(dsb, LQ * LK), kb, oq, pc);
        scale_by(oq, ddesc);
        layer_gemm(ex_s ? fp32_mac() : r.wgrad, sn + "/wgrad", LK, dh, LQ, dst, qb, ok, pc);
        scale_by(ok, wdesc);
        for (std::size_t i = 0; i < LQ; ++i)
          for (std::size_t c = 0; c < dh; ++c)
            dq.data()[(b * LQ + i) * d_ + h * dh + c] = oq[i * dh + c];
        for (std::size_t j = 0; j < LK; ++j)
          for (std::size_t c = 0; c < dh; ++c)
            dk.data()[(b * LK + j) * d_ + h * dh + c] = ok[j * dh + c];
      }
  }

  AttentionGrads g;
  g.query = q_.backward(dq, rp, ctx);
  Tensor2 dmem = k_.backward(dk, rp, ctx);
  dmem += v_.backward(dv, rp, ctx);
  if (self_) {
    g.query += dmem;
  } else {
    g.memory = std::move(dmem);
  }
  return g;
}

// ------------------------------------------------------------------------------------ loss

TokenLossResult token_cross_entropy(const Tensor2& logits, std::span<const std::int32_t> targets,
                                    double label_smoothing, std::int32_t ignore, double scale) {
  const std::size_t N = logits.shape(0), C = logits.shape(1);
  if (targets.size() != N)
    throw std::invalid_argument(
        fmt::format("token_cross_entropy: {} targets for {} rows of logits", targets.size(), N));
  if (!(label_smoothing >= 0 && label_smoothing <= 1))
    throw std::invalid_argument(fmt::format(
        "token_cross_entropy: label smoothing must be in [0, 1], got {}", label_smoothing));
  TokenLossResult r;
  r.grad = xt::zeros<float>({N, C});
  for (const std::int32_t t : targets) {
    if (t == ignore) continue;
    if (t < 0 || static_cast<std::size_t>(t) >= C)
      throw std::invalid_argument(
          fmt::format("token_cross_entropy: target {} with {} classes", t, C));
    ++r.count;
  }
  if (r.count == 0) return r;
  const double eps = label_smoothing, n = static_cast<double>(r.count),
               uniform = eps / static_cast<double>(C);
  double total = 0;
  for (std::size_t i = 0; i < N; ++i) {
    if (targets[i] == ignore) continue;
    const auto y = static_cast<std::size_t>(targets[i]);
    const float* z = logits.data() + i * C;
    double mx = z[0], sz = 0;
    std::size_t arg = 0;
    for (std::size_t c = 0; c < C; ++c) {
      if (z[c] > mx) {
        mx = z[c];
        arg = c;
      }
      sz += z[c];
    }
    r.correct += arg == y;
    double e = 0;
    for (std::size_t c = 0; c < C; ++c) e += std::exp(static_cast<double>(z[c]) - mx);
    const double logz = std::log(e) + mx;
    // -log p_y and the mean over classes of -log p_c
    total += (1 - eps) * (logz - z[y]) + eps * (logz - sz / static_cast<double>(C));
    for (std::size_t c = 0; c < C; ++c) {
      const double p = std::exp(static_cast<double>(z[c]) - logz);
      const double target = (c == y ? 1 - eps : 0.0) + uniform;
      r.grad.data()[i * C + c] = static_cast<float>(scale * (p - target) / n);
    }
  }
  r.loss = total / n;
  return r;
}

}  // namespace fp8sim::workloads
