// workloads/data/fashion_mnist.hpp — the public header of the Fashion-MNIST loader.
//
// Contract:
// - load_fashion_mnist reads the four gzip IDX files of Fashion-MNIST (Zalando Research, MIT
//   licence) from one folder: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
//   t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (where a .gz file is absent, the
//   same name without .gz is read instead). The folder is FashionMnistOptions::dir, or when
//   that is empty $FP8SIM_FASHION_MNIST_DIR, or when that is unset or empty
//   /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist).
// - Checks: the strict IDX checks of idx.hpp, images of 28x28, as many labels as images in
//   each pair of files, every label < 10, requested sizes no larger than what the files hold.
//   The counts themselves are whatever the files hold (60000 and 10000 for the real data
//   set, fewer for the subset in tests/data/fashion-mnist). Every failure is a
//   DataError (a std::runtime_error, data/idx.hpp) naming the file or option and what is wrong; a
//   missing folder or file says how to install the data set.
// - Pixels become floats byte / 255.0f (0 to 1, exactly as float division rounds it), image
//   after image, row-major.
// - Splits: the training file is shuffled with the seed (Fisher-Yates over Philox words,
//   below), then validation takes the first validation_size images of that order and train
//   the next train_size; the two are disjoint, and for a fixed seed the validation set does
//   not depend on train_size. The test set is the first test_size images of the test file, in
//   file order. ImageSet::source_index records where each image came from.
// - Randomness is a pure function of the seed: Fisher-Yates draws its integers from
//   rounding/random_bits.hpp's stream_word (Random123 Philox4x32-10) by Lemire's unbiased
//   multiply-and-reject, never from std::shuffle or std:: distributions, so a split and an
//   epoch order are the same on every platform, compiler and standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "workloads/data/idx.hpp"

namespace fp8sim::workloads {

/// Images with their labels. pixels.size() == count * rows * cols, labels.size() == count,
/// source_index.size() == count.
struct ImageSet {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<float> pixels;              ///< count*rows*cols, value = byte / 255
  std::vector<std::uint8_t> labels;       ///< 0..9, see fashion_mnist_class_names()
  std::vector<std::size_t> source_index;  ///< image i is image source_index[i] of its file

  [[nodiscard]] std::size_t pixels_per_image() const { return rows * cols; }
  /// The rows*cols pixels of image i, row-major (i < count).
  [[nodiscard]] std::span<const float> image(std::size_t i) const {
    return {pixels.data() + i * pixels_per_image(), pixels_per_image()};
  }
  [[nodiscard]] std::span<float> image(std::size_t i) {
    return {pixels.data() + i * pixels_per_image(), pixels_per_image()};
  }
};

/// Environment variable naming the data folder when FashionMnistOptions::dir is empty.
inline constexpr const char* fashion_mnist_dir_env = "FP8SIM_FASHION_MNIST_DIR";
/// The folder of Debian's dataset-fashion-mnist package.
inline constexpr const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

struct FashionMnistOptions {
  std::filesystem::path dir;        ///< empty: $FP8SIM_FASHION_MNIST_DIR, else the default
  std::size_t train_size = 0;       ///< 0: all training images minus validation
  std::size_t validation_size = 0;  ///< taken from the (shuffled) training file
  std::size_t test_size = 0;        ///< 0: all test images
  std::uint64_t seed = 0;           ///< shuffles the training file before the split
};

struct FashionMnist {
  ImageSet train, validation, test;
  std::filesystem::path dir;  ///< the folder read
};

/// The folder load_fashion_mnist reads for `dir` (see the contract above); reads nothing.
[[nodiscard]] std::filesystem::path fashion_mnist_dir(const std::filesystem::path& dir = {});

/// Reads and splits Fashion-MNIST (see the contract above). Throws std::runtime_error.
[[nodiscard]] FashionMnist load_fashion_mnist(const FashionMnistOptions& options = {});

/// The ten class names, index = label: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal,
/// Shirt, Sneaker, Bag, Ankle boot.
[[nodiscard]] std::vector<std::string> fashion_mnist_class_names();

/// A uniformly random permutation of [0, n): Fisher-Yates (i from n-1 down to 1 swaps element
/// i with j uniform in [0, i]) starting from the identity, each j drawn by Lemire's method from
/// 64-bit words (w0 << 32 | w1, two consecutive words of stream_word({seed, stream}, .)).
/// A pure function of its arguments.
[[nodiscard]] std::vector<std::size_t> random_permutation(std::size_t n, std::uint64_t seed,
                                                          std::uint64_t stream);

/// Philox stream of the training split's shuffle (random_permutation(count, seed, this)).
inline constexpr std::uint64_t fashion_mnist_split_stream = 0x5350'4C49'5400'0000;  // "SPLIT"

/// The order in which a training run visits n examples, epoch by epoch: epoch e's order is
/// random_permutation(n, seed, epoch_stream(e)), a pure function of (n, seed, e), so a run can
/// resume at (epoch, position) by recomputing the epoch's order. The streams differ from the
/// split's, so the loader's seed may serve here too.
class EpochOrder {
 public:
  static constexpr std::uint64_t epoch_stream_base = 0x4550'4F43'4800'0000;  // "EPOCH"
  [[nodiscard]] static constexpr std::uint64_t epoch_stream(std::uint64_t epoch) {
    return epoch_stream_base + epoch;
  }

  EpochOrder(std::size_t n, std::uint64_t seed) : n_(n), seed_(seed) {}

  [[nodiscard]] std::size_t size() const { return n_; }
  [[nodiscard]] std::uint64_t seed() const { return seed_; }
  /// The permutation of [0, n) for epoch `epoch`.
  [[nodiscard]] std::vector<std::size_t> permutation(std::uint64_t epoch) const {
    return random_permutation(n_, seed_, epoch_stream(epoch));
  }

 private:
  std::size_t n_;
  std::uint64_t seed_;
};

}  // namespace fp8sim::workloads
