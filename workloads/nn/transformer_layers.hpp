// workloads/nn/transformer_layers.hpp — the layers of the transformer workload, with
// hand-written backward passes on fp32 tensors: GELU, Dropout, LayerNorm, Embedding (token +
// learned position), multi-head attention, and the label-smoothed token cross-entropy.
//
// Sequences: a batch of `batch` sequences of length len (padded to the batch's longest) is a
// Tensor2 of (batch*len) x d, row b*len + t. Token ids are int32; the pad id marks padding.
//
// Contract (MultiHeadAttention "<name>", d_model = heads * dh):
//  - Q, K, V, O projections are Linear layers "<name>.q", ".k", ".v", ".o" (their own GEMMs,
//    quantizers and statistics; layers.hpp). Q comes from the query sequence, K and V from
//    the memory (self-attention: the same sequence).
//  - The two attention GEMMs per (batch row, head) are Linear's pattern with a tensor in the
//    weight slot, so every operand takes the quantizer of its slot (K and V the recipe's
//    weight quantizer) and recipe_check's formats hold:
//      "<name>.scores":  S = Q·K^T          Q: activation, K: weight slot
//      "<name>.context": O = P~·V           P~: activation, V: weight slot
//    fprop "<layer>/fprop" (activation x weight), dgrad "<layer>/dgrad" (error x weight:
//    dQ = dS·K, dP~ = dO·V^T), wgrad "<layer>/wgrad" (error x activation: dK = dS^T·Q,
//    dV^T = dO^T·P~). Q, K, V, P~ are quantized once per forward ("<layer>/activation",
//    "<layer>/weight"), dO and dS once per backward ("<layer>/error"), each as one whole
//    tensor (random-bit index = position in it: Q, K, V as (batch*len) x d_model, P~ and dS
//    as [batch][head][query][key]). The per-(b, h) GEMMs share their layer's name and
//    statistics; their MAC random bits are keyed by a seed mixed with b*heads + h (small ones
//    run on one thread: the same bits, without a parallel region per tiny GEMM).
//  - Scores are scaled by 1/sqrt(dh) in fp32 after the GEMM (Q is not pre-scaled); masked
//    scores are -inf; softmax in fp32 (max-subtracted, the sum in double). A query row whose
//    keys are all masked gets P = 0 (output 0 before the O projection, no gradient), where
//    PyTorch gives NaN. P~ = dropout(P) with the layer's attention dropout ("<name>.dropout").
//  - Exempt: "<name>" in Recipe::exempt runs the whole module (projections included) in fp32;
//    "<name>.scores" or "<name>.context" only that GEMM pair; a projection's own name only it.
//
// Dropout (p in [0, 1)): element e of step s is dropped when Philox word
// random_word({seed, name_key(name)}, s * 2^36 + e) < round(p * 2^32); kept ones are scaled
// by 1/(1-p) (fp32). Deterministic for any thread count; eval (or p = 0) is the identity.
// LayerNorm, GELU, softmax and the loss run in fp32 (statistics in double), as the norms of
// the other workloads. Every layer keeps what its backward needs from its last forward.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "workloads/nn/layers.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"

namespace fp8sim::workloads {

/// GELU, the exact form y = x * Phi(x) = x/2 (1 + erf(x/sqrt 2)) (torch.nn.GELU()).
class Gelu {
 public:
  [[nodiscard]] Tensor2 forward(const Tensor2& x);
  /// dx = dy * (Phi(x) + x phi(x)).
  [[nodiscard]] Tensor2 backward(const Tensor2& dy) const;

 private:
  std::vector<float> x_;
};

/// The keep mask of a dropout layer (see the contract above): keep[e] = 1 unless dropped.
void dropout_keep_mask(const std::string& name, double p, const StepContext& ctx, std::size_t n,
                       std::vector<std::uint8_t>& keep);

/// Inverted dropout: y = x * keep / (1 - p) in train mode, y = x in eval mode.
class Dropout {
 public:
  Dropout(std::string name, double p);
  [[nodiscard]] Tensor2 forward(const Tensor2& x, const StepContext& ctx, bool train);
  /// dx = dy * keep / (1 - p) with the mask of the last forward (identity after eval).
  [[nodiscard]] Tensor2 backward(const Tensor2& dy) const;
  /// The last forward's mask (empty: it was the identity).
  [[nodiscard]] const std::vector<std::uint8_t>& keep() const { return keep_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] double p() const { return p_; }

 private:
  std::string name_;
  double p_;
  std::size_t size_ = 0;
  std::vector<std::uint8_t> keep_;
};

/// Layer normalisation over the last dimension (PyTorch's LayerNorm(d), eps 1e-5, biased
/// variance, elementwise affine "<name>.weight" = 1, "<name>.bias" = 0 at init).
class LayerNorm {
 public:
  LayerNorm(std::string name, std::size_t d, double eps = 1e-5);
  void init();
  [[nodiscard]] Tensor2 forward(const Tensor2& x);
  /// Fills weight.grad and bias.grad; returns dx.
  [[nodiscard]] Tensor2 backward(const Tensor2& dy);
  [[nodiscard]] std::vector<Param*> params() { return {&weight, &bias}; }
  [[nodiscard]] const std::string& name() const { return name_; }
  Param weight, bias;

 private:
  std::string name_;
  std::size_t d_;
  double eps_;
  std::vector<float> xhat_;      // normalised input of the last forward
  std::vector<double> inv_std_;  // per row
};

/// Token embedding plus a learned positional embedding: y[b*len + t] = weight[id] +
/// position[t]. "<name>.weight" (vocab x d) and "<name>.position" (max_len x d), both
/// N(0, 1) at init (nn.Embedding's default); the padding id's row is 0 at init and never
/// receives a gradient (PyTorch's padding_idx; a negative id: none). The position of a
/// padded slot still receives its (usually zero) gradient.
class Embedding {
 public:
  Embedding(std::string name, std::size_t vocab, std::size_t d, std::size_t max_len,
            std::int32_t padding_id = 0);
  void init(std::uint64_t seed);
  /// ids: batch*len tokens, row-major; every id in [0, vocab), len <= max_len.
  [[nodiscard]] Tensor2 forward(std::span<const std::int32_t> ids, std::size_t batch,
                                std::size_t len);
  /// Sets weight.grad and position.grad: the rows of dy summed in fp32 in row order.
  void backward(const Tensor2& dy);
  [[nodiscard]] std::vector<Param*> params() { return {&weight, &position}; }
  [[nodiscard]] const std::string& name() const { return name_; }
  Param weight, position;

 private:
  std::string name_;
  std::size_t vocab_, d_, max_len_;
  std::int32_t pad_;
  std::vector<std::int32_t> ids_;
  std::size_t len_ = 0;
};

/// Masks of one attention call. key_padding: empty (none) or batch*key_len flags, 1 = that
/// key is padding. causal: query t sees keys s <= t only (top-left aligned, as PyTorch's
/// is_causal).
struct AttentionMask {
  std::vector<std::uint8_t> key_padding;
  bool causal = false;
};

/// Gradients of an attention call w.r.t. its inputs. Self-attention: query holds the whole
/// input gradient and memory is empty.
struct AttentionGrads {
  Tensor2 query, memory;
};

class MultiHeadAttention {
 public:
  /// dropout: on the attention probabilities (train mode).
  MultiHeadAttention(std::string name, std::size_t d_model, std::size_t heads,
                     double dropout = 0.0);
  /// The projections as Linear::init (PyTorch's nn.Linear default).
  void init(std::uint64_t seed);
  /// Self-attention: x (batch*len) x d_model.
  [[nodiscard]] Tensor2 forward(const Tensor2& x, std::size_t batch, const AttentionMask& mask,
                                const Recipe& r, const StepContext& ctx, bool train);
  /// Cross-attention: query (batch*lq) x d_model, memory (batch*lk) x d_model; key_padding
  /// (if any) has batch*lk flags. Returns (batch*lq) x d_model.
  [[nodiscard]] Tensor2 forward(const Tensor2& query, const Tensor2& memory, std::size_t batch,
                                const AttentionMask& mask, const Recipe& r, const StepContext& ctx,
                                bool train);
  /// Fills every projection's grads; returns the input gradients.
  [[nodiscard]] AttentionGrads backward(const Tensor2& dy, const Recipe& r, const StepContext& ctx);
  /// q, k, v, o weights and biases.
  [[nodiscard]] std::vector<Param*> params();
  /// In forward order: <name>.q, .k, .v, .scores, .context, .o.
  [[nodiscard]] std::vector<std::string> gemm_layers() const;
  /// The softmax output P of the last forward (before dropout), [batch][head][query][key].
  [[nodiscard]] const std::vector<float>& probabilities() const { return p_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::size_t heads() const { return heads_; }

 private:
  // The recipe the projections see (r, or r with them exempt when the module is).
  [[nodiscard]] const Recipe& projection_recipe(const Recipe& r);
  [[nodiscard]] Tensor2 attend(const Tensor2& query, const Tensor2& memory, std::size_t batch,
                               const AttentionMask& mask, const Recipe& r, const StepContext& ctx,
                               bool train, bool self);

  std::string name_;
  std::size_t d_, heads_, dh_;
  double p_drop_;
  Linear q_, k_, v_, o_;
  Recipe exempt_recipe_;  // projection_recipe's copy
  bool self_ = true;
  std::size_t batch_ = 0, lq_ = 0, lk_ = 0;
  std::vector<float> qq_, kq_, vq_;  // quantized Q, K, V of the last forward
  float sq_ = 1, sk_ = 1, sv_ = 1, sp_ = 1;
  std::vector<float> p_, pq_;  // P, and the quantized dropped P~
  std::vector<std::uint8_t> keep_;
};

/// Mean softmax cross-entropy over tokens with label smoothing, PyTorch's
/// CrossEntropyLoss(label_smoothing = eps, ignore_index = ignore): per counted token
/// (1 - eps) * (-log p_target) + eps * mean_c(-log p_c), averaged over the tokens whose
/// target is not `ignore` (none counted: loss 0 and a zero gradient, where PyTorch gives NaN).
/// grad = scale * d loss / d logits. correct: counted tokens whose argmax (the first maximum)
/// is the target. fp32 logits, computed in double.
struct TokenLossResult {
  double loss = 0;
  std::size_t correct = 0;
  std::size_t count = 0;  ///< tokens counted (target != ignore)
  Tensor2 grad;
};
[[nodiscard]] TokenLossResult token_cross_entropy(const Tensor2& logits,
                                                  std::span<const std::int32_t> targets,
                                                  double label_smoothing = 0.0,
                                                  std::int32_t ignore = 0, double scale = 1.0);

}  // namespace fp8sim::workloads
