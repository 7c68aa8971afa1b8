// workloads/data/fashion_mnist.cpp — the Fashion-MNIST loader (see fashion_mnist.hpp).
#include "workloads/data/fashion_mnist.hpp"

#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "rounding/random_bits.hpp"
#include "workloads/data/idx.hpp"

namespace fp8sim::workloads {
namespace {

constexpr std::size_t kSide = 28;
constexpr unsigned kClasses = 10;
constexpr const char* kInstallHint =
    "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
    "or set FP8SIM_FASHION_MNIST_DIR";

// hi:lo = a * b, portably.
void mul_64x64(std::uint64_t a, std::uint64_t b, std::uint64_t& hi, std::uint64_t& lo) {
  constexpr std::uint64_t mask = 0xFFFF'FFFFU;
  const std::uint64_t p0 = (a & mask) * (b & mask);
  const std::uint64_t p1 = (a & mask) * (b >> 32);
  const std::uint64_t p2 = (a >> 32) * (b & mask);
  const std::uint64_t p3 = (a >> 32) * (b >> 32);
  const std::uint64_t mid = (p0 >> 32) + (p1 & mask) + (p2 & mask);
  lo = (mid << 32) | (p0 & mask);
  hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
}

// 64-bit words from the sequential Philox stream of `key`, two 32-bit words each.
class WordStream {
 public:
  explicit WordStream(RandomKey key) : key_(key) {}
  std::uint64_t next() {
    const std::uint64_t high = stream_word(key_, w_);
    const std::uint64_t low = stream_word(key_, w_ + 1);
    w_ += 2;
    return (high << 32) | low;
  }
  // Uniform in [0, s), s > 0: Lemire's multiply-and-reject (unbiased).
  std::uint64_t below(std::uint64_t s) {
    std::uint64_t hi = 0, lo = 0;
    mul_64x64(next(), s, hi, lo);
    if (lo < s) {
      const std::uint64_t threshold = (0 - s) % s;
      while (lo < threshold) mul_64x64(next(), s, hi, lo);
    }
    return hi;
  }

 private:
  RandomKey key_;
  std::uint64_t w_ = 0;
};

std::string dir_origin(const std::filesystem::path& requested) {
  if (!requested.empty()) return "the folder given (--data-dir)";
  if (const char* env = std::getenv(fashion_mnist_dir_env); env != nullptr && *env != '\0') {
    return fmt::format("from ${}", fashion_mnist_dir_env);
  }
  return "the default folder";
}

// The file `name` of `dir`, or its uncompressed twin when only that exists.
std::filesystem::path data_file(const std::filesystem::path& dir, const std::string& name) {
  std::error_code ec;
  const std::filesystem::path gz = dir / name;
  if (std::filesystem::exists(gz, ec)) return gz;
  std::filesystem::path plain = gz;
  plain.replace_extension();
  if (std::filesystem::exists(plain, ec)) return plain;
  throw DataError(fmt::format("Fashion-MNIST: {}: no such file; {}", gz.string(), kInstallHint));
}

struct RawPair {
  IdxImages images;
  std::vector<std::uint8_t> labels;
  std::filesystem::path images_file;
};

RawPair read_pair(const std::filesystem::path& dir, const std::string& prefix) {
  RawPair raw;
  raw.images_file = data_file(dir, prefix + "-images-idx3-ubyte.gz");
  const std::filesystem::path labels_file = data_file(dir, prefix + "-labels-idx1-ubyte.gz");
  raw.images = read_idx_images(raw.images_file);
  raw.labels = read_idx_labels(labels_file);
  if (raw.images.rows != kSide || raw.images.cols != kSide) {
    throw DataError(fmt::format("{}: images of {}x{}; Fashion-MNIST's are {}x{}",
                                raw.images_file.string(), raw.images.rows, raw.images.cols, kSide,
                                kSide));
  }
  if (raw.labels.size() != raw.images.count) {
    throw DataError(fmt::format("Fashion-MNIST: {} holds {} images but {} holds {} labels",
                                raw.images_file.string(), raw.images.count, labels_file.string(),
                                raw.labels.size()));
  }
  for (std::size_t i = 0; i < raw.labels.size(); ++i) {
    if (raw.labels[i] >= kClasses) {
      throw DataError(
          fmt::format("{}: label {} of item {} is out of range (Fashion-MNIST has {} classes, "
                      "labels 0 to {})",
                      labels_file.string(), raw.labels[i], i, kClasses, kClasses - 1));
    }
  }
  return raw;
}

// The images raw[first], raw[first+1], ... of `order` (or of the identity when order is
// empty), `count` of them.
ImageSet gather(const RawPair& raw, const std::vector<std::size_t>& order, std::size_t first,
                std::size_t count) {
  ImageSet set;
  set.count = count;
  set.rows = raw.images.rows;
  set.cols = raw.images.cols;
  const std::size_t per_image = set.pixels_per_image();
  set.pixels.resize(count * per_image);
  set.labels.resize(count);
  set.source_index.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t src = order.empty() ? first + i : order[first + i];
    const std::uint8_t* in = raw.images.pixels.data() + src * per_image;
    float* out = set.pixels.data() + i * per_image;
    for (std::size_t p = 0; p < per_image; ++p) out[p] = static_cast<float>(in[p]) / 255.0f;
    set.labels[i] = raw.labels[src];
    set.source_index[i] = src;
  }
  return set;
}

}  // namespace

std::filesystem::path fashion_mnist_dir(const std::filesystem::path& dir) {
  if (!dir.empty()) return dir;
  if (const char* env = std::getenv(fashion_mnist_dir_env); env != nullptr && *env != '\0') {
    return env;
  }
  return fashion_mnist_default_dir;
}

FashionMnist load_fashion_mnist(const FashionMnistOptions& options) {
  FashionMnist out;
  out.dir = fashion_mnist_dir(options.dir);
  std::error_code ec;
  if (!std::filesystem::is_directory(out.dir, ec)) {
    const bool exists = std::filesystem::exists(out.dir, ec);
    throw DataError(fmt::format("Fashion-MNIST: {} {} ({}); {}",
                                exists ? "not a folder:" : "no folder", out.dir.string(),
                                dir_origin(options.dir), kInstallHint));
  }

  const RawPair train = read_pair(out.dir, "train");
  const RawPair test = read_pair(out.dir, "t10k");

  const std::size_t available = train.images.count;
  if (options.validation_size > available) {
    throw DataError(
        fmt::format("Fashion-MNIST: validation_size = {} exceeds the maximum {} (the images of {})",
                    options.validation_size, available, train.images_file.string()));
  }
  const std::size_t train_max = available - options.validation_size;
  if (options.train_size > train_max) {
    throw DataError(fmt::format(
        "Fashion-MNIST: train_size = {} exceeds the maximum {} (the {} images of {} minus "
        "validation_size = {})",
        options.train_size, train_max, available, train.images_file.string(),
        options.validation_size));
  }
  if (options.test_size > test.images.count) {
    throw DataError(
        fmt::format("Fashion-MNIST: test_size = {} exceeds the maximum {} (the images of {})",
                    options.test_size, test.images.count, test.images_file.string()));
  }

  const std::vector<std::size_t> order =
      random_permutation(available, options.seed, fashion_mnist_split_stream);
  const std::size_t train_count = options.train_size == 0 ? train_max : options.train_size;
  out.validation = gather(train, order, 0, options.validation_size);
  out.train = gather(train, order, options.validation_size, train_count);
  out.test = gather(test, {}, 0, options.test_size == 0 ? test.images.count : options.test_size);
  return out;
}

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

std::vector<std::size_t> random_permutation(std::size_t n, std::uint64_t seed,
                                            std::uint64_t stream) {
  std::vector<std::size_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = i;
  WordStream words(RandomKey{seed, stream});
  for (std::size_t i = n; i > 1; --i) {
    const auto j = static_cast<std::size_t>(words.below(i));  // uniform in [0, i-1]
    std::swap(perm[i - 1], perm[j]);
  }
  return perm;
}

}  // namespace fp8sim::workloads
