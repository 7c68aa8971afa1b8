// workloads/nn/transformer.cpp — the transformer workload.
#include "workloads/nn/transformer.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace fp8sim::workloads {

std::vector<std::int32_t> pad_batch(const std::vector<std::vector<std::int32_t>>& seqs,
                                    std::size_t len) {
  if (len == 0)
    for (const auto& s : seqs) len = std::max(len, s.size());
  std::vector<std::int32_t> t(seqs.size() * len, kPad);
  for (std::size_t b = 0; b < seqs.size(); ++b) {
    if (seqs[b].size() > len)
      throw std::invalid_argument(fmt::format("pad_batch: sequence {} has {} tokens, more than {}",
                                              b, seqs[b].size(), len));
    std::copy(seqs[b].begin(), seqs[b].end(), t.begin() + static_cast<std::ptrdiff_t>(b * len));
  }
  return t;
}

std::vector<std::uint8_t> padding_flags(const std::vector<std::int32_t>& tokens) {
  std::vector<std::uint8_t> f(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) f[i] = tokens[i] == kPad;
  return f;
}

// ---------------------------------------------------------------------------- EncoderLayer

EncoderLayer::EncoderLayer(const std::string& name, const TransformerOptions& o)
    : norm1_(name + ".norm1", o.d_model),
      attn_(name + ".attn", o.d_model, o.heads, o.dropout),
      drop1_(name + ".dropout1", o.dropout),
      norm2_(name + ".norm2", o.d_model),
      ff1_(name + ".ff1", o.d_model, o.ff),
      ff_drop_(name + ".ff.dropout", o.dropout),
      ff2_(name + ".ff2", o.ff, o.d_model),
      drop2_(name + ".dropout2", o.dropout) {}

void EncoderLayer::init(std::uint64_t seed) {
  norm1_.init();
  attn_.init(seed);
  norm2_.init();
  ff1_.init(seed);
  ff2_.init(seed);
}

Tensor2 EncoderLayer::forward(const Tensor2& x, std::size_t batch, const AttentionMask& mask,
                              const Recipe& r, const StepContext& ctx, bool train) {
  Tensor2 h =
      x + drop1_.forward(attn_.forward(norm1_.forward(x), batch, mask, r, ctx, train), ctx, train);
  const Tensor2 f = ff1_.forward(norm2_.forward(h), r, ctx);
  h += drop2_.forward(ff2_.forward(ff_drop_.forward(gelu_.forward(f), ctx, train), r, ctx), ctx,
                      train);
  return h;
}

Tensor2 EncoderLayer::backward(const Tensor2& dy, const Recipe& r, const StepContext& ctx) {
  // y = h + F(h), h = x + A(x): dh = dy + F'(dy), dx = dh + A'(dh)
  const Tensor2 df = ff2_.backward(drop2_.backward(dy), r, ctx);
  Tensor2 dh = dy + norm2_.backward(ff1_.backward(gelu_.backward(ff_drop_.backward(df)), r, ctx));
  const AttentionGrads ga = attn_.backward(drop1_.backward(dh), r, ctx);
  dh += norm1_.backward(ga.query);
  return dh;
}

std::vector<Param*> EncoderLayer::params() {
  std::vector<Param*> p;
  auto add = [&](std::vector<Param*> q) { p.insert(p.end(), q.begin(), q.end()); };
  add(norm1_.params());
  add(attn_.params());
  add(norm2_.params());
  add({&ff1_.weight, &ff1_.bias, &ff2_.weight, &ff2_.bias});
  return p;
}

std::vector<std::string> EncoderLayer::gemm_layers() const {
  std::vector<std::string> n = attn_.gemm_layers();
  n.push_back(ff1_.name());
  n.push_back(ff2_.name());
  return n;
}

// ---------------------------------------------------------------------------- DecoderLayer

DecoderLayer::DecoderLayer(const std::string& name, const TransformerOptions& o)
    : norm1_(name + ".norm1", o.d_model),
      attn_(name + ".attn", o.d_model, o.heads, o.dropout),
      drop1_(name + ".dropout1", o.dropout),
      norm2_(name + ".norm2", o.d_model),
      cross_(name + ".cross", o.d_model, o.heads, o.dropout),
      drop2_(name + ".dropout2", o.dropout),
      norm3_(name + ".norm3", o.d_model),
      ff1_(name + ".ff1", o.d_model, o.ff),
      ff_drop_(name + ".ff.dropout", o.dropout),
      ff2_(name + ".ff2", o.ff, o.d_model),
      drop3_(name + ".dropout3", o.dropout) {}

void DecoderLayer::init(std::uint64_t seed) {
  norm1_.init();
  attn_.init(seed);
  norm2_.init();
  cross_.init(seed);
  norm3_.init();
  ff1_.init(seed);
  ff2_.init(seed);
}

Tensor2 DecoderLayer::forward(const Tensor2& x, const Tensor2& memory, std::size_t batch,
                              const AttentionMask& self_mask, const AttentionMask& cross_mask,
                              const Recipe& r, const StepContext& ctx, bool train) {
  Tensor2 h = x + drop1_.forward(attn_.forward(norm1_.forward(x), batch, self_mask, r, ctx, train),
                                 ctx, train);
  h += drop2_.forward(cross_.forward(norm2_.forward(h), memory, batch, cross_mask, r, ctx, train),
                      ctx, train);
  const Tensor2 f = ff1_.forward(norm3_.forward(h), r, ctx);
  h += drop3_.forward(ff2_.forward(ff_drop_.forward(gelu_.forward(f), ctx, train), r, ctx), ctx,
                      train);
  return h;
}

Tensor2 DecoderLayer::backward(const Tensor2& dy, Tensor2& dmemory, const Recipe& r,
                               const StepContext& ctx) {
  const Tensor2 df = ff2_.backward(drop3_.backward(dy), r, ctx);
  Tensor2 dh = dy + norm3_.backward(ff1_.backward(gelu_.backward(ff_drop_.backward(df)), r, ctx));
  const AttentionGrads gc = cross_.backward(drop2_.backward(dh), r, ctx);
  dmemory += gc.memory;
  dh += norm2_.backward(gc.query);
  const AttentionGrads ga = attn_.backward(drop1_.backward(dh), r, ctx);
  dh += norm1_.backward(ga.query);
  return dh;
}

std::vector<Param*> DecoderLayer::params() {
  std::vector<Param*> p;
  auto add = [&](std::vector<Param*> q) { p.insert(p.end(), q.begin(), q.end()); };
  add(norm1_.params());
  add(attn_.params());
  add(norm2_.params());
  add(cross_.params());
  add(norm3_.params());
  add({&ff1_.weight, &ff1_.bias, &ff2_.weight, &ff2_.bias});
  return p;
}

std::vector<std::string> DecoderLayer::gemm_layers() const {
  std::vector<std::string> n = attn_.gemm_layers();
  for (auto& s : cross_.gemm_layers()) n.push_back(s);
  n.push_back(ff1_.name());
  n.push_back(ff2_.name());
  return n;
}

// ----------------------------------------------------------------------------- Transformer

namespace {

TransformerOptions checked(TransformerOptions o) {
  if (o.src_vocab <= static_cast<std::size_t>(kEos) ||
      o.tgt_vocab <= static_cast<std::size_t>(kEos))
    throw std::invalid_argument(
        fmt::format("transformer: vocabularies must hold the pad, bos and eos ids (got {} and {})",
                    o.src_vocab, o.tgt_vocab));
  if (o.d_model == 0 || o.heads == 0 || o.d_model % o.heads != 0 || o.ff == 0 || o.max_len == 0)
    throw std::invalid_argument(fmt::format(
        "transformer: d_model ({}) must be a positive multiple of heads ({}), ff and max_len at "
        "least 1",
        o.d_model, o.heads));
  if (o.encoder_layers == 0 || o.decoder_layers == 0)
    throw std::invalid_argument("transformer: needs at least one encoder and one decoder layer");
  return o;
}

}  // namespace

Transformer::Transformer(TransformerOptions o)
    : opt_(checked(o)),
      enc_embed_("enc.embed", opt_.src_vocab, opt_.d_model, opt_.max_len, kPad),
      enc_drop_("enc.embed.dropout", opt_.dropout),
      enc_norm_("enc.norm", opt_.d_model),
      dec_embed_("dec.embed", opt_.tgt_vocab, opt_.d_model, opt_.max_len, kPad),
      dec_drop_("dec.embed.dropout", opt_.dropout),
      dec_norm_("dec.norm", opt_.d_model),
      out_("out", opt_.d_model, opt_.tgt_vocab) {
  for (std::size_t l = 0; l < opt_.encoder_layers; ++l)
    enc_.emplace_back(fmt::format("enc{}", l + 1), opt_);
  for (std::size_t l = 0; l < opt_.decoder_layers; ++l)
    dec_.emplace_back(fmt::format("dec{}", l + 1), opt_);
}

void Transformer::init(std::uint64_t seed) {
  enc_embed_.init(seed);
  for (auto& l : enc_) l.init(seed);
  enc_norm_.init();
  dec_embed_.init(seed);
  for (auto& l : dec_) l.init(seed);
  dec_norm_.init();
  out_.init(seed);
}

Tensor2 Transformer::encode(const std::vector<std::int32_t>& src, std::size_t batch,
                            std::size_t len, const Recipe& r, const StepContext& ctx, bool train) {
  src_mask_.key_padding = padding_flags(src);
  src_mask_.causal = false;
  Tensor2 h = enc_drop_.forward(enc_embed_.forward(src, batch, len), ctx, train);
  for (auto& l : enc_) h = l.forward(h, batch, src_mask_, r, ctx, train);
  return enc_norm_.forward(h);
}

Tensor2 Transformer::decode(const std::vector<std::int32_t>& tgt, std::size_t batch,
                            std::size_t len, const Tensor2& memory, const Recipe& r,
                            const StepContext& ctx, bool train) {
  tgt_mask_.key_padding = padding_flags(tgt);
  tgt_mask_.causal = true;
  Tensor2 h = dec_drop_.forward(dec_embed_.forward(tgt, batch, len), ctx, train);
  for (auto& l : dec_) h = l.forward(h, memory, batch, tgt_mask_, src_mask_, r, ctx, train);
  return out_.forward(dec_norm_.forward(h), r, ctx);
}

Tensor2 Transformer::forward(const std::vector<std::vector<std::int32_t>>& src,
                             const std::vector<std::vector<std::int32_t>>& tgt_in, const Recipe& r,
                             const StepContext& ctx, bool train) {
  if (src.empty() || src.size() != tgt_in.size())
    throw std::invalid_argument(
        fmt::format("transformer: {} source and {} target sequences (need the same, at least 1)",
                    src.size(), tgt_in.size()));
  const std::vector<std::int32_t> s = pad_batch(src), t = pad_batch(tgt_in);
  batch_ = src.size();
  src_len_ = s.size() / batch_;
  tgt_len_ = t.size() / batch_;
  if (src_len_ == 0 || tgt_len_ == 0)
    throw std::invalid_argument("transformer: every source or every target sequence is empty");
  const Tensor2 memory = encode(s, batch_, src_len_, r, ctx, train);
  return decode(t, batch_, tgt_len_, memory, r, ctx, train);
}

void Transformer::backward(const Tensor2& dlogits, const Recipe& r, const StepContext& ctx) {
  if (batch_ == 0) throw std::logic_error("transformer: backward without a forward");
  if (dlogits.shape(0) != batch_ * tgt_len_ || dlogits.shape(1) != opt_.tgt_vocab)
    throw std::invalid_argument(fmt::format("transformer: gradient is {}x{}, the logits were {}x{}",
                                            dlogits.shape(0), dlogits.shape(1), batch_ * tgt_len_,
                                            opt_.tgt_vocab));
  Tensor2 g = dec_norm_.backward(out_.backward(dlogits, r, ctx));
  Tensor2 dmemory = xt::zeros<float>({batch_ * src_len_, opt_.d_model});
  for (std::size_t l = dec_.size(); l-- > 0;) g = dec_[l].backward(g, dmemory, r, ctx);
  dec_embed_.backward(dec_drop_.backward(g));
  g = enc_norm_.backward(dmemory);
  for (std::size_t l = enc_.size(); l-- > 0;) g = enc_[l].backward(g, r, ctx);
  enc_embed_.backward(enc_drop_.backward(g));
}

std::vector<std::vector<std::int32_t>> Transformer::greedy_decode(
    const std::vector<std::vector<std::int32_t>>& src, std::int32_t bos, std::int32_t eos,
    std::size_t max_len, const Recipe& r, const StepContext& ctx) {
  if (max_len > opt_.max_len)
    throw std::invalid_argument(fmt::format(
        "transformer: decoding {} tokens, the positional table holds {}", max_len, opt_.max_len));
  for (const std::int32_t id : {bos, eos})
    if (id < 0 || static_cast<std::size_t>(id) >= opt_.tgt_vocab)
      throw std::invalid_argument(
          fmt::format("transformer: token id {} outside the target vocabulary", id));
  const std::size_t B = src.size();
  std::vector<std::vector<std::int32_t>> out(B);
  if (B == 0 || max_len == 0) return out;
  const std::vector<std::int32_t> s = pad_batch(src);
  const std::size_t S = s.size() / B;
  if (S == 0) throw std::invalid_argument("transformer: every source sequence is empty");
  const Tensor2 memory = encode(s, B, S, r, ctx, false);
  std::vector<std::vector<std::int32_t>> prefix(B, std::vector<std::int32_t>{bos});
  std::vector<bool> done(B, false);
  const std::size_t V = opt_.tgt_vocab;
  for (std::size_t step = 0; step < max_len; ++step) {
    const std::size_t T = step + 1;
    const Tensor2 logits = decode(pad_batch(prefix, T), B, T, memory, r, ctx, false);
    bool all_done = true;
    for (std::size_t b = 0; b < B; ++b) {
      if (done[b]) {
        prefix[b].push_back(kPad);  // keeps the batch rectangular; masked as a key
        continue;
      }
      const float* z = logits.data() + (b * T + T - 1) * V;
      const auto next = static_cast<std::int32_t>(std::max_element(z, z + V) - z);
      out[b].push_back(next);
      prefix[b].push_back(next);
      done[b] = next == eos;
      all_done = all_done && done[b];
    }
    if (all_done) break;
  }
  return out;
}

std::vector<Param*> Transformer::params() {
  std::vector<Param*> p;
  auto add = [&](std::vector<Param*> q) { p.insert(p.end(), q.begin(), q.end()); };
  add(enc_embed_.params());
  for (auto& l : enc_) add(l.params());
  add(enc_norm_.params());
  add(dec_embed_.params());
  for (auto& l : dec_) add(l.params());
  add(dec_norm_.params());
  add({&out_.weight, &out_.bias});
  return p;
}

std::vector<std::string> Transformer::gemm_layers() const {
  std::vector<std::string> n;
  for (const auto& l : enc_)
    for (auto& s : l.gemm_layers()) n.push_back(s);
  for (const auto& l : dec_)
    for (auto& s : l.gemm_layers()) n.push_back(s);
  n.push_back(out_.name());
  return n;
}

}  // namespace fp8sim::workloads
