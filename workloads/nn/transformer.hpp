// workloads/nn/transformer.hpp — the `transformer` workload: a small pre-LN encoder-decoder
// Transformer (PyTorch's nn.Transformer with norm_first=True and GELU) on token sequences.
//
//   source: Embedding (token + learned position) "enc.embed", dropout "enc.embed.dropout"
//   encoder layer l (l = 1..E), "encl":
//     x += dropout1(attn(norm1(x)))                   "encl.norm1", "encl.attn", "encl.dropout1"
//     x += dropout2(ff2(ff.dropout(gelu(ff1(norm2(x))))))
//                                  "encl.norm2", "encl.ff1", "encl.ff.dropout", "encl.ff2",
//                                  "encl.dropout2"
//   memory = norm(x)                                  "enc.norm"
//   target: Embedding "dec.embed", dropout "dec.embed.dropout"
//   decoder layer l, "decl":
//     x += dropout1(attn(norm1(x)))      causal self-attention, "decl.attn"
//     x += dropout2(cross(norm2(x), memory))  cross-attention, "decl.cross"
//     x += dropout3(ff2(ff.dropout(gelu(ff1(norm3(x))))))
//   logits = out(norm(x))                              "dec.norm", "out" (untied: its own
//                                                      weight, not the target embedding)
// Attention dropout (on the probabilities, "<attn>.dropout") and every other dropout use
// `dropout`. Padding (id kPad) is masked as keys everywhere (source padding in the encoder's
// self-attention and the cross-attention, target padding in the decoder's self-attention);
// the padding rows' own outputs are computed and ignored (a loss ignores pad targets).
// Every GEMM runs through layer_gemm (transformer_layers.hpp names them); the embeddings'
// lookups are not GEMMs and have no quantizer. The embeddings receive gradients, so every
// Linear computes its dgrad.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workloads/nn/layers.hpp"
#include "workloads/nn/transformer_layers.hpp"

namespace fp8sim::workloads {

/// Token ids by convention: padding, beginning and end of sequence.
inline constexpr std::int32_t kPad = 0, kBos = 1, kEos = 2;

struct TransformerOptions {
  std::size_t src_vocab = 16, tgt_vocab = 16;  ///< vocabularies, the special ids included
  std::size_t d_model = 64, heads = 4, ff = 128;
  std::size_t encoder_layers = 2, decoder_layers = 2;
  std::size_t max_len = 32;  ///< longest source or target sequence (positional table)
  double dropout = 0.1;
};

/// The sequences padded with kPad to `len` (0: the longest), row-major (b*len + t).
/// Throws std::invalid_argument when a sequence is longer than len.
[[nodiscard]] std::vector<std::int32_t> pad_batch(
    const std::vector<std::vector<std::int32_t>>& seqs, std::size_t len = 0);
/// The key padding flags of padded tokens: 1 where the token is kPad.
[[nodiscard]] std::vector<std::uint8_t> padding_flags(const std::vector<std::int32_t>& tokens);

class EncoderLayer {
 public:
  EncoderLayer(const std::string& name, const TransformerOptions& o);
  void init(std::uint64_t seed);
  [[nodiscard]] Tensor2 forward(const Tensor2& x, std::size_t batch, const AttentionMask& mask,
                                const Recipe& r, const StepContext& ctx, bool train);
  [[nodiscard]] Tensor2 backward(const Tensor2& dy, const Recipe& r, const StepContext& ctx);
  [[nodiscard]] std::vector<Param*> params();
  [[nodiscard]] std::vector<std::string> gemm_layers() const;

 private:
  LayerNorm norm1_;
  MultiHeadAttention attn_;
  Dropout drop1_;
  LayerNorm norm2_;
  Linear ff1_;
  Gelu gelu_;
  Dropout ff_drop_;
  Linear ff2_;
  Dropout drop2_;
};

class DecoderLayer {
 public:
  DecoderLayer(const std::string& name, const TransformerOptions& o);
  void init(std::uint64_t seed);
  /// self_mask: causal with the target padding; cross_mask: the source padding.
  [[nodiscard]] Tensor2 forward(const Tensor2& x, const Tensor2& memory, std::size_t batch,
                                const AttentionMask& self_mask, const AttentionMask& cross_mask,
                                const Recipe& r, const StepContext& ctx, bool train);
  /// Returns dx and adds the memory's gradient to dmemory.
  [[nodiscard]] Tensor2 backward(const Tensor2& dy, Tensor2& dmemory, const Recipe& r,
                                 const StepContext& ctx);
  [[nodiscard]] std::vector<Param*> params();
  [[nodiscard]] std::vector<std::string> gemm_layers() const;

 private:
  LayerNorm norm1_;
  MultiHeadAttention attn_;
  Dropout drop1_;
  LayerNorm norm2_;
  MultiHeadAttention cross_;
  Dropout drop2_;
  LayerNorm norm3_;
  Linear ff1_;
  Gelu gelu_;
  Dropout ff_drop_;
  Linear ff2_;
  Dropout drop3_;
};

class Transformer {
 public:
  explicit Transformer(TransformerOptions o = {});
  /// Linear layers as PyTorch's nn.Linear default and embeddings N(0, 1) with the pad row 0
  /// (Philox, seed and parameter name); LayerNorms weight 1, bias 0.
  void init(std::uint64_t seed);
  /// src, tgt_in: token sequences (ids below src_vocab, tgt_vocab; at most max_len long,
  /// at least one token in some sequence of each), padded with kPad to the batch's longest
  /// (S, T). Returns logits (batch*T) x tgt_vocab, row b*T + t. train: dropout on.
  [[nodiscard]] Tensor2 forward(const std::vector<std::vector<std::int32_t>>& src,
                                const std::vector<std::vector<std::int32_t>>& tgt_in,
                                const Recipe& r, const StepContext& ctx, bool train);
  /// Back from the loss gradient w.r.t. the last forward's logits; fills every parameter's
  /// grad (weight.grad of embeddings: rows of the tokens seen; the pad row stays 0).
  void backward(const Tensor2& dlogits, const Recipe& r, const StepContext& ctx);
  /// Greedy decoding in eval mode: each output starts after bos and takes the argmax (first
  /// maximum) token at each step until it produces eos (kept) or max_len tokens (max_len <=
  /// options().max_len). No cache: every step reruns the decoder on the prefix. Clobbers what
  /// backward needs.
  [[nodiscard]] std::vector<std::vector<std::int32_t>> greedy_decode(
      const std::vector<std::vector<std::int32_t>>& src, std::int32_t bos, std::int32_t eos,
      std::size_t max_len, const Recipe& r, const StepContext& ctx);
  /// enc.embed.weight, enc.embed.position, enc1.norm1.weight, ..., out.weight, out.bias.
  [[nodiscard]] std::vector<Param*> params();
  /// In forward order: enc1.attn.q, .k, .v, .scores, .context, .o, enc1.ff1, enc1.ff2, ...,
  /// dec1.attn.*, dec1.cross.*, dec1.ff1, dec1.ff2, ..., out.
  [[nodiscard]] std::vector<std::string> gemm_layers() const;
  [[nodiscard]] const TransformerOptions& options() const { return opt_; }

 private:
  [[nodiscard]] Tensor2 encode(const std::vector<std::int32_t>& src, std::size_t batch,
                               std::size_t len, const Recipe& r, const StepContext& ctx,
                               bool train);
  [[nodiscard]] Tensor2 decode(const std::vector<std::int32_t>& tgt, std::size_t batch,
                               std::size_t len, const Tensor2& memory, const Recipe& r,
                               const StepContext& ctx, bool train);

  TransformerOptions opt_;
  Embedding enc_embed_;
  Dropout enc_drop_;
  std::vector<EncoderLayer> enc_;
  LayerNorm enc_norm_;
  Embedding dec_embed_;
  Dropout dec_drop_;
  std::vector<DecoderLayer> dec_;
  LayerNorm dec_norm_;
  Linear out_;
  AttentionMask src_mask_, tgt_mask_;  // of the last forward
  std::size_t batch_ = 0, src_len_ = 0, tgt_len_ = 0;
};

}  // namespace fp8sim::workloads
