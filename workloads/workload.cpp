// workloads/workload.cpp — the image workloads (mlp, resnet on Fashion-MNIST) and the sequence
// workload (transformer on translation pairs) behind the training loop's one interface.
#include "workloads/workload.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "rounding/random_bits.hpp"
#include "workloads/data/fashion_mnist.hpp"
#include "workloads/nn/mlp.hpp"
#include "workloads/nn/resnet.hpp"
#include "workloads/nn/transformer.hpp"
#include "workloads/train.hpp"

namespace fp8sim::workloads {

namespace {

// ------------------------------------------------------------------------ image workloads

class ImageWorkload : public Workload {
 public:
  ImageWorkload(const TrainOptions& o, bool with_data) {
    if (!with_data) return;
    FashionMnistOptions fo;
    fo.dir = o.data_dir;
    fo.train_size = o.train_size;
    fo.validation_size = o.validation_size;
    fo.test_size = o.test_size;
    fo.seed = o.seed;
    data_ = load_fashion_mnist(fo);
  }
  std::size_t size(Split s) const override { return set(s).count; }
  void gather(Split s, const std::vector<std::size_t>* order, std::size_t first, std::size_t n,
              Batch& b) const override {
    const ImageSet& set_ = set(s);
    const std::size_t px = set_.pixels_per_image();
    b.n = n;
    b.images.resize(n * px);
    b.labels.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = order ? (*order)[first + k] : first + k;
      const auto img = set_.image(i);
      std::copy(img.begin(), img.end(), b.images.begin() + static_cast<std::ptrdiff_t>(k * px));
      b.labels[k] = set_.labels[i];
    }
  }
  void synthetic(std::size_t n, std::uint64_t seed, Batch& b) const override {
    b.n = n;
    b.images.resize(n * 784);
    b.labels.resize(n);
    const RandomKey key{seed, 0xBE9C4ull};
    for (std::size_t i = 0; i < b.images.size(); ++i)
      b.images[i] = static_cast<float>(random_word(key, i) * 0x1p-32);
    for (std::size_t k = 0; k < n; ++k) b.labels[k] = static_cast<std::uint8_t>(k % 10);
  }
  BatchLoss forward_loss(const Batch& b, const Recipe& r, const StepContext& ctx, double scale,
                         bool train) override {
    LossResult lr = softmax_cross_entropy(logits(b, r, ctx, train), b.labels, scale);
    return BatchLoss{lr.loss, lr.correct, b.n, std::move(lr.grad)};
  }
  const char* unit() const override { return "images"; }

 protected:
  virtual Tensor2 logits(const Batch& b, const Recipe& r, const StepContext& ctx, bool train) = 0;

 private:
  const ImageSet& set(Split s) const {
    return s == Split::train ? data_.train : s == Split::validation ? data_.validation : data_.test;
  }
  FashionMnist data_;
};

class MlpWorkload final : public ImageWorkload {
 public:
  MlpWorkload(const TrainOptions& o, bool with_data)
      : ImageWorkload(o, with_data), net_(o.mlp_sizes) {
    net_.init(o.seed);
  }
  void backward(const Tensor2& d, const Recipe& r, const StepContext& ctx) override {
    net_.backward(d, r, ctx);
  }
  std::vector<Param*> params() override { return net_.params(); }
  std::vector<Buffer*> buffers() override { return {}; }
  std::string first_layer() const override { return "fc1"; }
  std::string last_layer() const override { return fmt::format("fc{}", net_.sizes().size() - 1); }

 private:
  Tensor2 logits(const Batch& b, const Recipe& r, const StepContext& ctx, bool) override {
    const std::size_t in = net_.sizes().front();
    Tensor2 x = xt::zeros<float>({b.n, in});
    std::copy(b.images.begin(), b.images.begin() + static_cast<std::ptrdiff_t>(b.n * in), x.data());
    return net_.forward(x, r, ctx);
  }
  Mlp net_;
};

class ResnetWorkload final : public ImageWorkload {
 public:
  ResnetWorkload(const TrainOptions& o, bool with_data)
      : ImageWorkload(o, with_data), net_(options(o)) {
    net_.init(o.seed);
  }
  void backward(const Tensor2& d, const Recipe& r, const StepContext& ctx) override {
    net_.backward(d, r, ctx);
  }
  std::vector<Param*> params() override { return net_.params(); }
  std::vector<Buffer*> buffers() override { return net_.buffers(); }
  std::string first_layer() const override { return net_.gemm_layers().front(); }
  std::string last_layer() const override { return net_.gemm_layers().back(); }

 private:
  static ResnetOptions options(const TrainOptions& o) {
    ResnetOptions ro;
    ro.width = o.resnet_width;
    return ro;
  }
  Tensor2 logits(const Batch& b, const Recipe& r, const StepContext& ctx, bool train) override {
    Tensor4 x = xt::zeros<float>({b.n, std::size_t{1}, std::size_t{28}, std::size_t{28}});
    std::copy(b.images.begin(), b.images.begin() + static_cast<std::ptrdiff_t>(b.n * 784),
              x.data());
    return net_.forward(x, r, ctx, train);
  }
  Resnet net_;
};

// --------------------------------------------------------------------- sequence workload

// Sizes of the synthetic benchmark batch: vocabularies and sequence lengths typical of the
// translation data (about 110 characters, 12-character words).
constexpr std::size_t kSynthVocab = 110, kSynthLen = 12;

TranslationData load_sequences(const TrainOptions& o) {
  TranslationData d;
  if (o.task == "freedict") {
    TranslationOptions t;
    t.dir = o.data_dir;
    t.train_size = o.train_size;
    t.validation_size = o.validation_size;
    t.test_size = o.test_size;
    t.seed = o.seed;
    d = load_freedict_eng_deu(t);
  } else if (o.task == "numbers") {
    NumberWordsOptions n;
    n.max_number = o.max_number;
    n.train_size = o.train_size;
    n.validation_size = o.validation_size;
    n.test_size = o.test_size;
    n.seed = o.seed;
    d = make_number_words(n);
  } else {
    throw std::invalid_argument(fmt::format(
        "unknown task {} for the transformer (allowed: freedict, numbers)", shown(o.task)));
  }
  // a validation size of 0 means none (the loaders read 0 as the whole split)
  if (o.validation_size == 0) d.validation = SequencePairs{};
  return d;
}

std::size_t longest(const TranslationData& d) {
  std::size_t n = 0;
  for (const SequencePairs* p : {&d.train, &d.validation, &d.test})
    for (std::size_t i = 0; i < p->size(); ++i)
      n = std::max({n, p->src[i].size(), p->tgt[i].size()});
  return n;
}

class TransformerWorkload final : public Workload {
 public:
  TransformerWorkload(const TrainOptions& o, bool with_data)
      : smoothing_(o.label_smoothing),
        data_(with_data ? load_sequences(o) : TranslationData{}),
        net_(options(o, data_, with_data)) {
    net_.init(o.seed);
  }
  std::size_t size(Split s) const override { return pairs(s).size(); }
  void gather(Split s, const std::vector<std::size_t>* order, std::size_t first, std::size_t n,
              Batch& b) const override {
    gather_from(pairs(s), order, first, n, b);
  }
  void synthetic(std::size_t n, std::uint64_t seed, Batch& b) const override {
    const RandomKey key{seed, 0x5E9ull};
    SequencePairs p;
    for (std::size_t k = 0; k < n; ++k) {
      std::vector<std::int32_t> s(kSynthLen), t(kSynthLen);
      for (std::size_t j = 0; j < kSynthLen; ++j) {
        s[j] = static_cast<std::int32_t>(4 + random_word(key, 2 * (k * kSynthLen + j)) %
                                                 (kSynthVocab - 4));
        t[j] = static_cast<std::int32_t>(4 + random_word(key, 2 * (k * kSynthLen + j) + 1) %
                                                 (kSynthVocab - 4));
      }
      p.src.push_back(std::move(s));
      p.tgt.push_back(std::move(t));
    }
    gather_from(p, nullptr, 0, n, b);
  }
  BatchLoss forward_loss(const Batch& b, const Recipe& r, const StepContext& ctx, double scale,
                         bool train) override {
    const Tensor2 logits = net_.forward(b.src, b.tgt_in, r, ctx, train);
    TokenLossResult lr = token_cross_entropy(logits, b.targets, smoothing_, kPad, scale);
    return BatchLoss{lr.loss, lr.correct, lr.count, std::move(lr.grad)};
  }
  void backward(const Tensor2& d, const Recipe& r, const StepContext& ctx) override {
    net_.backward(d, r, ctx);
  }
  double exact_match(Split s, std::size_t batch, const Recipe& r, const StepContext& ctx) override {
    const SequencePairs& p = pairs(s);
    if (p.size() == 0) return std::nan("");
    std::size_t hits = 0;
    for (std::size_t first = 0; first < p.size(); first += batch) {
      const std::size_t n = std::min(batch, p.size() - first);
      const std::vector<std::vector<std::int32_t>> src(
          p.src.begin() + static_cast<std::ptrdiff_t>(first),
          p.src.begin() + static_cast<std::ptrdiff_t>(first + n));
      const auto out = net_.greedy_decode(src, kBos, kEos, net_.options().max_len, r, ctx);
      for (std::size_t k = 0; k < n; ++k) {
        std::vector<std::int32_t> want = p.tgt[first + k];
        want.push_back(kEos);
        hits += out[k] == want;
      }
    }
    return static_cast<double>(hits) / static_cast<double>(p.size());
  }
  std::vector<Param*> params() override { return net_.params(); }
  std::vector<Buffer*> buffers() override { return {}; }
  std::string first_layer() const override { return "enc1.attn"; }
  std::string last_layer() const override { return "out"; }
  const char* unit() const override { return "tokens"; }

 private:
  // Pairs [first, first + n) of p (through order): the source, bos + target, target + eos.
  static void gather_from(const SequencePairs& p, const std::vector<std::size_t>* order,
                          std::size_t first, std::size_t n, Batch& b) {
    b.n = n;
    b.src.resize(n);
    b.tgt_in.resize(n);
    std::vector<std::vector<std::int32_t>> out(n);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = order ? (*order)[first + k] : first + k;
      b.src[k] = p.src[i];
      b.tgt_in[k].assign(1, kBos);
      b.tgt_in[k].insert(b.tgt_in[k].end(), p.tgt[i].begin(), p.tgt[i].end());
      out[k] = p.tgt[i];
      out[k].push_back(kEos);
    }
    b.targets = pad_batch(out);
  }
  static TransformerOptions options(const TrainOptions& o, const TranslationData& d,
                                    bool with_data) {
    TransformerOptions t;
    t.dropout = o.dropout;
    t.src_vocab = with_data ? d.src_vocab.size() : kSynthVocab;
    t.tgt_vocab = with_data ? d.tgt_vocab.size() : kSynthVocab;
    // room for bos + target and for target + eos
    t.max_len = (with_data ? longest(d) : kSynthLen) + 1;
    return t;
  }
  const SequencePairs& pairs(Split s) const {
    return s == Split::train ? data_.train : s == Split::validation ? data_.validation : data_.test;
  }
  double smoothing_;
  TranslationData data_;
  Transformer net_;
};

}  // namespace

std::unique_ptr<Workload> make_workload(const TrainOptions& o, bool with_data) {
  if (o.workload == "resnet") return std::make_unique<ResnetWorkload>(o, with_data);
  if (o.workload == "mlp") {
    if (o.mlp_sizes.size() < 2 || o.mlp_sizes.front() != 784 || o.mlp_sizes.back() != 10)
      throw std::invalid_argument(
          "mlp sizes must start with 784 and end with 10 (28x28 images, 10 classes)");
    return std::make_unique<MlpWorkload>(o, with_data);
  }
  if (o.workload == "transformer") {
    if (!(o.label_smoothing >= 0 && o.label_smoothing < 1))
      throw std::invalid_argument(
          fmt::format("label smoothing {} is outside [0, 1)", o.label_smoothing));
    if (!(o.dropout >= 0 && o.dropout < 1))
      throw std::invalid_argument(fmt::format("dropout {} is outside [0, 1)", o.dropout));
    return std::make_unique<TransformerWorkload>(o, with_data);
  }
  throw std::invalid_argument(
      fmt::format("unknown workload {} (allowed: mlp, resnet, transformer)", shown(o.workload)));
}

}  // namespace fp8sim::workloads
