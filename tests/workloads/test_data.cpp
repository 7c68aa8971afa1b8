// tests/workloads/test_data.cpp — the IDX reader and the Fashion-MNIST loader
// (workloads/data/). Reads only the bundled subset tests/data/fashion-mnist (1000 training and
// 500 test images, see its README.md) and small files written to a temporary folder.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "workloads/data/fashion_mnist.hpp"
#include "workloads/data/idx.hpp"

namespace fs = std::filesystem;
using namespace fp8sim::workloads;

namespace {

const fs::path kBundled = fs::path(FP8SIM_TEST_DATA_DIR) / "fashion-mnist";

// A fresh folder under the system's temporary folder, removed with everything in it.
struct TempDir : fp8sim::testing::TempDir {
  TempDir() : fp8sim::testing::TempDir("fp8sim-test-data-") {}
};

// The whole decompressed contents of a (gzip) file, read with zlib directly.
std::vector<std::uint8_t> read_gz(const fs::path& file) {
  gzFile f = gzopen(file.string().c_str(), "rb");
  REQUIRE(f != nullptr);
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> buffer(1 << 16);
  for (;;) {
    const int r = gzread(f, buffer.data(), static_cast<unsigned>(buffer.size()));
    REQUIRE(r >= 0);
    if (r == 0) break;
    out.insert(out.end(), buffer.begin(), buffer.begin() + r);
  }
  gzclose(f);
  return out;
}

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// Header (magic, dims) followed by `body`.
std::vector<std::uint8_t> idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> out;
  put_u32(out, magic);
  for (const std::uint32_t d : dims) put_u32(out, d);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void write_file(const fs::path& file, const std::vector<std::uint8_t>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(file.string().c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) {
      REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
              static_cast<int>(bytes.size()));
    }
    REQUIRE(gzclose(f) == Z_OK);
  } else {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }
}

// Pixel bytes of n images of rows x cols, image k filled with (k * 7 + p) % 256.
std::vector<std::uint8_t> pattern(std::size_t n, std::size_t rows, std::size_t cols) {
  std::vector<std::uint8_t> px(n * rows * cols);
  for (std::size_t i = 0; i < px.size(); ++i) {
    px[i] = static_cast<std::uint8_t>(((i / (rows * cols)) * 7 + i) % 256);
  }
  return px;
}

std::vector<std::uint8_t> labels_of(std::size_t n) {
  std::vector<std::uint8_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  return labels;
}

// A small well-formed data set in `dir`: 30 training, 12 test images of 28x28.
void write_valid_set(const fs::path& dir) {
  for (const auto& [prefix, n] : {std::pair<const char*, std::uint32_t>{"train", 30},
                                  std::pair<const char*, std::uint32_t>{"t10k", 12}}) {
    write_file(dir / (std::string(prefix) + "-images-idx3-ubyte.gz"),
               idx_bytes(idx_images_magic, {n, 28, 28}, pattern(n, 28, 28)), true);
    write_file(dir / (std::string(prefix) + "-labels-idx1-ubyte.gz"),
               idx_bytes(idx_labels_magic, {n}, labels_of(n)), true);
  }
}

// The message of the std::runtime_error f throws ("" and a failed check when it throws none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  FAIL_CHECK("no std::runtime_error thrown");
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

FashionMnistOptions bundled(std::size_t validation = 0, std::size_t train = 0,
                            std::uint64_t seed = 0) {
  FashionMnistOptions o;
  o.dir = kBundled;
  o.validation_size = validation;
  o.train_size = train;
  o.seed = seed;
  return o;
}

bool is_permutation_of_iota(std::vector<std::size_t> v) {
  std::sort(v.begin(), v.end());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != i) return false;
  }
  return true;
}

// Restores an environment variable on scope exit.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) {
      had_ = true;
      old_ = v;
    }
  }
  ~EnvGuard() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

}  // namespace

TEST_CASE("data.bundled subset: counts, shapes, pixel and label ranges") {
  const FashionMnist d = load_fashion_mnist(bundled());
  CHECK(d.dir == kBundled);
  CHECK(d.train.count == 1000);
  CHECK(d.validation.count == 0);
  CHECK(d.test.count == 500);
  for (const ImageSet* s : {&d.train, &d.test}) {
    CHECK(s->rows == 28);
    CHECK(s->cols == 28);
    CHECK(s->pixels.size() == s->count * 784);
    CHECK(s->labels.size() == s->count);
    CHECK(s->source_index.size() == s->count);
    CHECK(s->image(s->count - 1).size() == 784);
    const auto [lo, hi] = std::minmax_element(s->pixels.begin(), s->pixels.end());
    CHECK(*lo == 0.0f);
    CHECK(*hi == 1.0f);
    CHECK(*std::max_element(s->labels.begin(), s->labels.end()) == 9);
    CHECK(is_permutation_of_iota(s->source_index));
  }
  // the label histogram of the first 1000 training images (verified with Python)
  std::vector<int> hist(10);
  for (const std::uint8_t l : d.train.labels) ++hist[l];
  CHECK(hist == std::vector<int>{107, 104, 86, 92, 95, 100, 100, 115, 102, 99});
}

TEST_CASE("data.bundled subset: image 0 matches the raw file") {
  const FashionMnist d = load_fashion_mnist(bundled());
  const std::vector<std::uint8_t> raw_train = read_gz(kBundled / "train-images-idx3-ubyte.gz");
  const std::vector<std::uint8_t> raw_test = read_gz(kBundled / "t10k-images-idx3-ubyte.gz");
  const std::vector<std::uint8_t> raw_test_labels = read_gz(kBundled / "t10k-labels-idx1-ubyte.gz");
  REQUIRE(raw_train.size() == 16 + 1000 * 784);
  REQUIRE(raw_test.size() == 16 + 500 * 784);

  // test set: file order
  CHECK(d.test.source_index[0] == 0);
  CHECK(d.test.labels[0] == 9);  // Ankle boot
  CHECK(d.test.labels[0] == raw_test_labels[8]);
  for (std::size_t p = 0; p < 784; ++p) {
    CHECK(d.test.image(0)[p] == static_cast<float>(raw_test[16 + p]) / 255.0f);
  }
  CHECK(d.test.image(0)[14 * 28 + 14] == 110.0f / 255.0f);  // verified with Python

  // training set: shuffled; find training image 0 of the file
  const auto at = std::find(d.train.source_index.begin(), d.train.source_index.end(), 0U);
  REQUIRE(at != d.train.source_index.end());
  const auto k = static_cast<std::size_t>(at - d.train.source_index.begin());
  CHECK(d.train.labels[k] == 9);
  const auto img = d.train.image(k);
  double sum = 0;
  for (std::size_t p = 0; p < 784; ++p) {
    CHECK(img[p] == static_cast<float>(raw_train[16 + p]) / 255.0f);
    sum += raw_train[16 + p];
  }
  CHECK(sum == 76247);  // the byte sum of training image 0 (verified with Python)
  CHECK(img[96] == 1.0f / 255.0f);
  CHECK(img[99] == 13.0f / 255.0f);
  CHECK(img[417] == 1.0f);
  CHECK(img[0] == 0.0f);

  // the IDX reader on its own returns the file's bytes
  const IdxImages idx = read_idx_images(kBundled / "train-images-idx3-ubyte.gz");
  CHECK(idx.count == 1000);
  CHECK(idx.rows == 28);
  CHECK(idx.cols == 28);
  CHECK(std::equal(idx.pixels.begin(), idx.pixels.end(), raw_train.begin() + 16));
  const std::vector<std::uint8_t> labels = read_idx_labels(kBundled / "train-labels-idx1-ubyte.gz");
  REQUIRE(labels.size() == 1000);
  CHECK(labels[0] == 9);
  CHECK(labels[3] == 3);
  CHECK(labels[999] == 8);
}

TEST_CASE("data.split: validation and train are disjoint, seeded and reproducible") {
  const FashionMnist a = load_fashion_mnist(bundled(200, 500, 7));
  CHECK(a.validation.count == 200);
  CHECK(a.train.count == 500);
  CHECK(a.test.count == 500);
  std::set<std::size_t> seen(a.validation.source_index.begin(), a.validation.source_index.end());
  seen.insert(a.train.source_index.begin(), a.train.source_index.end());
  CHECK(seen.size() == 700);  // no image in both, none twice
  CHECK(*seen.rbegin() < 1000);

  // each image is the file's image source_index[i], with its label
  const std::vector<std::uint8_t> raw = read_gz(kBundled / "train-images-idx3-ubyte.gz");
  const std::vector<std::uint8_t> raw_labels = read_gz(kBundled / "train-labels-idx1-ubyte.gz");
  for (std::size_t i = 0; i < a.train.count; i += 37) {
    const std::size_t src = a.train.source_index[i];
    CHECK(a.train.labels[i] == raw_labels[8 + src]);
    CHECK(a.train.image(i)[400] == static_cast<float>(raw[16 + src * 784 + 400]) / 255.0f);
  }

  // same seed: the same split, bit for bit
  const FashionMnist b = load_fashion_mnist(bundled(200, 500, 7));
  CHECK(b.validation.source_index == a.validation.source_index);
  CHECK(b.train.source_index == a.train.source_index);
  CHECK(b.train.pixels == a.train.pixels);
  CHECK(b.validation.labels == a.validation.labels);

  // another seed: another split
  const FashionMnist c = load_fashion_mnist(bundled(200, 500, 8));
  CHECK(c.validation.source_index != a.validation.source_index);
  CHECK(c.train.source_index != a.train.source_index);

  // the validation set does not depend on train_size; train_size 0 takes all the rest
  const FashionMnist all = load_fashion_mnist(bundled(200, 0, 7));
  CHECK(all.validation.source_index == a.validation.source_index);
  CHECK(all.train.count == 800);
  CHECK(std::equal(a.train.source_index.begin(), a.train.source_index.end(),
                   all.train.source_index.begin()));

  // test_size takes the first images of the test file
  FashionMnistOptions o = bundled();
  o.test_size = 100;
  const FashionMnist t = load_fashion_mnist(o);
  CHECK(t.test.count == 100);
  std::vector<std::size_t> first(100);
  std::iota(first.begin(), first.end(), 0U);
  CHECK(t.test.source_index == first);
}

TEST_CASE("data.epoch order: permutations, per epoch, reproducible, uniform") {
  const EpochOrder order(1000, 42);
  CHECK(order.size() == 1000);
  const std::vector<std::size_t> e0 = order.permutation(0);
  const std::vector<std::size_t> e1 = order.permutation(1);
  CHECK(e0.size() == 1000);
  CHECK(is_permutation_of_iota(e0));
  CHECK(is_permutation_of_iota(e1));
  CHECK(e0 != e1);
  CHECK(EpochOrder(1000, 42).permutation(1) == e1);  // resume: recompute the epoch's order
  CHECK(EpochOrder(1000, 43).permutation(1) != e1);
  // the epoch streams are not the split's
  CHECK(random_permutation(1000, 42, fashion_mnist_split_stream) != e0);
  CHECK(random_permutation(0, 1, 2).empty());
  CHECK(random_permutation(1, 1, 2) == std::vector<std::size_t>{0});

  // pinned values, computed by an independent Python implementation of Philox4x32-10 and of
  // the algorithm (tests/data/fashion-mnist/permutation_reference.py): a change here changes
  // every split and epoch order recorded so far
  using V = std::vector<std::size_t>;
  CHECK(random_permutation(10, 1, 2) == V{0, 8, 6, 4, 7, 3, 1, 5, 2, 9});
  CHECK(random_permutation(10, 0x123456789abcdef0U, fashion_mnist_split_stream) ==
        V{9, 1, 8, 2, 3, 4, 6, 5, 0, 7});
  CHECK(EpochOrder(20, 42).permutation(3) ==
        V{14, 17, 19, 3, 10, 0, 4, 12, 5, 16, 8, 7, 9, 18, 1, 15, 11, 2, 13, 6});

  // every permutation of 3 elements about equally often (a Sattolo or off-by-one slip would
  // never give some of them)
  std::map<std::vector<std::size_t>, int> freq;
  const EpochOrder three(3, 5);
  for (std::uint64_t e = 0; e < 6000; ++e) ++freq[three.permutation(e)];
  CHECK(freq.size() == 6);
  for (const auto& [perm, n] : freq) {
    CHECK(n > 850);  // expectation 1000, sd about 29
    CHECK(n < 1150);
  }
}

TEST_CASE("data.class names") {
  const std::vector<std::string> names = fashion_mnist_class_names();
  REQUIRE(names.size() == 10);
  CHECK(names[0] == "T-shirt/top");
  CHECK(names[1] == "Trouser");
  CHECK(names[6] == "Shirt");
  CHECK(names[9] == "Ankle boot");
}

TEST_CASE("data.missing folder or file says how to install the data set") {
  TempDir tmp;
  FashionMnistOptions o;
  o.dir = tmp.path() / "no-such-folder";
  const std::string msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(msg, o.dir.string()));
  CHECK(contains(msg, "dataset-fashion-mnist"));
  CHECK(contains(msg, "apt-get install dataset-fashion-mnist"));
  CHECK(contains(msg, "FP8SIM_FASHION_MNIST_DIR"));

  {  // the folder from the environment, named as such
    EnvGuard guard(fashion_mnist_dir_env);
    setenv(fashion_mnist_dir_env, o.dir.string().c_str(), 1);
    CHECK(fashion_mnist_dir() == o.dir);
    CHECK(fashion_mnist_dir("/elsewhere") == fs::path("/elsewhere"));
    const std::string env_msg = error_of([] { (void)load_fashion_mnist({}); });
    CHECK(contains(env_msg, o.dir.string()));
    CHECK(contains(env_msg, "from $FP8SIM_FASHION_MNIST_DIR"));
    unsetenv(fashion_mnist_dir_env);
    CHECK(fashion_mnist_dir() == fs::path("/usr/share/datasets/fashion-mnist"));
  }

  // a file missing from an existing folder
  write_valid_set(tmp.path());
  fs::remove(tmp.path() / "t10k-labels-idx1-ubyte.gz");
  o.dir = tmp.path();
  const std::string file_msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(file_msg, (tmp.path() / "t10k-labels-idx1-ubyte.gz").string()));
  CHECK(contains(file_msg, "no such file"));
  CHECK(contains(file_msg, "apt-get install dataset-fashion-mnist"));

  // an uncompressed file stands in for a missing .gz one
  write_file(tmp.path() / "t10k-labels-idx1-ubyte",
             idx_bytes(idx_labels_magic, {12}, labels_of(12)), false);
  const FashionMnist d = load_fashion_mnist(o);
  CHECK(d.train.count == 30);
  CHECK(d.test.count == 12);
  CHECK(d.test.labels == labels_of(12));
  CHECK(d.test.image(11)[5] == static_cast<float>((11 * 7 + 11 * 784 + 5) % 256) / 255.0f);
}

TEST_CASE("data.idx: wrong magic") {
  TempDir tmp;
  const fs::path labels = tmp.path() / "labels.gz";
  write_file(labels, idx_bytes(idx_labels_magic, {3}, {1, 2, 3}), true);
  std::string msg = error_of([&] { (void)read_idx_images(labels); });
  CHECK(contains(msg, labels.string() + ": not an IDX image file (magic 0x00000801, want "
                                        "0x00000803; 0x00000801 is an IDX label file)"));

  const fs::path images = tmp.path() / "images";
  write_file(images, idx_bytes(idx_images_magic, {1, 2, 2}, {1, 2, 3, 4}), false);
  msg = error_of([&] { (void)read_idx_labels(images); });
  CHECK(contains(msg, images.string() + ": not an IDX label file (magic 0x00000803, want "
                                        "0x00000801; 0x00000803 is an IDX image file)"));

  const fs::path junk = tmp.path() / "junk.gz";
  write_file(junk, idx_bytes(0x12345678, {1, 1, 1}, {0}), true);
  msg = error_of([&] { (void)read_idx_images(junk); });
  CHECK(
      contains(msg, junk.string() + ": not an IDX image file (magic 0x12345678, want 0x00000803)"));

  const fs::path floats = tmp.path() / "floats";
  write_file(floats, idx_bytes(0x00000D02, {1, 1}, {0, 0, 0, 0}), false);
  msg = error_of([&] { (void)read_idx_images(floats); });
  CHECK(contains(msg, "0x00000d02 is an IDX file of 2-D float32"));

  const fs::path empty = tmp.path() / "empty.gz";
  write_file(empty, {}, true);
  msg = error_of([&] { (void)read_idx_labels(empty); });
  CHECK(contains(msg, empty.string() + ": empty file"));

  // a folder read through its loader names the file
  write_valid_set(tmp.path());
  write_file(tmp.path() / "train-images-idx3-ubyte.gz",
             idx_bytes(idx_labels_magic, {30}, labels_of(30)), true);
  FashionMnistOptions o;
  o.dir = tmp.path();
  msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(msg, "train-images-idx3-ubyte.gz: not an IDX image file"));
}

TEST_CASE("data.idx: truncated files") {
  TempDir tmp;
  const fs::path short_body = tmp.path() / "short.gz";
  write_file(short_body, idx_bytes(idx_images_magic, {60000, 28, 28}, pattern(1, 1234, 1)), true);
  std::string msg = error_of([&] { (void)read_idx_images(short_body); });
  CHECK(contains(msg, short_body.string() + ": truncated: header says 60000 images of 28x28, file "
                                            "holds 1234 bytes of pixel data (want 47040000)"));

  const fs::path short_labels = tmp.path() / "short-labels";
  write_file(short_labels, idx_bytes(idx_labels_magic, {10}, {1, 2, 3}), false);
  msg = error_of([&] { (void)read_idx_labels(short_labels); });
  CHECK(contains(msg, "truncated: header says 10 labels, file holds 3 bytes of label data"));

  const fs::path short_header = tmp.path() / "header.gz";
  std::vector<std::uint8_t> header = idx_bytes(idx_images_magic, {5, 28}, {});
  write_file(short_header, header, true);
  msg = error_of([&] { (void)read_idx_images(short_header); });
  CHECK(contains(msg, short_header.string() + ": truncated header: file ends after 12 bytes, in "
                                              "the column count"));

  // a gzip stream cut in the middle
  const fs::path whole = tmp.path() / "whole.gz";
  write_file(whole, idx_bytes(idx_images_magic, {20, 28, 28}, pattern(20, 28, 28)), true);
  const auto size = fs::file_size(whole);
  fs::resize_file(whole, size / 2);
  msg = error_of([&] { (void)read_idx_images(whole); });
  CHECK(contains(msg, whole.string() + ": gzip stream cut short"));

  // the loader passes the reader's error on
  write_valid_set(tmp.path());
  write_file(tmp.path() / "t10k-images-idx3-ubyte.gz",
             idx_bytes(idx_images_magic, {12, 28, 28}, pattern(11, 28, 28)), true);
  FashionMnistOptions o;
  o.dir = tmp.path();
  msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(msg,
                 "t10k-images-idx3-ubyte.gz: truncated: header says 12 images of 28x28, file "
                 "holds 8624 bytes of pixel data"));
}

TEST_CASE("data.idx: trailing bytes and the size limit") {
  TempDir tmp;
  const fs::path images = tmp.path() / "images.gz";
  std::vector<std::uint8_t> body = pattern(2, 3, 4);
  body.insert(body.end(), {9, 9, 9, 9, 9});
  write_file(images, idx_bytes(idx_images_magic, {2, 3, 4}, body), true);
  std::string msg = error_of([&] { (void)read_idx_images(images); });
  CHECK(contains(msg, images.string() + ": 5 trailing bytes after the 2 images of 3x4 its header "
                                        "promises"));

  const fs::path labels = tmp.path() / "labels";
  write_file(labels, idx_bytes(idx_labels_magic, {2}, {1, 2, 3}), false);
  msg = error_of([&] { (void)read_idx_labels(labels); });
  CHECK(contains(msg, "1 trailing bytes after the 2 labels its header promises"));

  // exact files pass, gzip or plain
  write_file(images, idx_bytes(idx_images_magic, {2, 3, 4}, pattern(2, 3, 4)), false);
  const IdxImages ok = read_idx_images(images);
  CHECK(ok.count == 2);
  CHECK(ok.rows == 3);
  CHECK(ok.cols == 4);
  CHECK(ok.pixels == pattern(2, 3, 4));

  // the header's promise is checked against the limit before anything is read
  const fs::path huge = tmp.path() / "huge.gz";
  write_file(huge, idx_bytes(idx_images_magic, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}), true);
  msg = error_of([&] { (void)read_idx_images(huge); });
  CHECK(contains(msg, "over the limit of 1073741824 bytes"));
  msg = error_of([&] { (void)read_idx_images(images, 23); });
  CHECK(contains(msg, "header says 2 images of 3x4 (24 bytes), over the limit of 23 bytes"));
  write_file(huge, idx_bytes(idx_images_magic, {1, 0, 28}, {}), true);
  msg = error_of([&] { (void)read_idx_images(huge); });
  CHECK(contains(msg, "images of 0x28"));
}

TEST_CASE("data.loader: labels out of range, mismatched counts, wrong image size") {
  TempDir tmp;
  FashionMnistOptions o;
  o.dir = tmp.path();
  write_valid_set(tmp.path());
  std::vector<std::uint8_t> labels = labels_of(30);
  labels[3] = 10;
  write_file(tmp.path() / "train-labels-idx1-ubyte.gz", idx_bytes(idx_labels_magic, {30}, labels),
             true);
  std::string msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(msg, "train-labels-idx1-ubyte.gz: label 10 of item 3 is out of range"));

  write_valid_set(tmp.path());
  write_file(tmp.path() / "t10k-labels-idx1-ubyte.gz",
             idx_bytes(idx_labels_magic, {11}, labels_of(11)), true);
  msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(msg, "t10k-images-idx3-ubyte.gz holds 12 images but"));
  CHECK(contains(msg, "t10k-labels-idx1-ubyte.gz holds 11 labels"));

  write_valid_set(tmp.path());
  write_file(tmp.path() / "train-images-idx3-ubyte.gz",
             idx_bytes(idx_images_magic, {30, 32, 32}, pattern(30, 32, 32)), true);
  msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(msg, "train-images-idx3-ubyte.gz: images of 32x32; Fashion-MNIST's are 28x28"));

  write_valid_set(tmp.path());
  CHECK(load_fashion_mnist(o).train.count == 30);
}

TEST_CASE("data.loader: requested sizes larger than the files") {
  std::string msg = error_of([] { (void)load_fashion_mnist(bundled(1001)); });
  CHECK(contains(msg, "validation_size = 1001 exceeds the maximum 1000"));
  msg = error_of([] { (void)load_fashion_mnist(bundled(100, 901)); });
  CHECK(contains(msg, "train_size = 901 exceeds the maximum 900"));
  FashionMnistOptions o = bundled();
  o.test_size = 501;
  msg = error_of([&] { (void)load_fashion_mnist(o); });
  CHECK(contains(msg, "test_size = 501 exceeds the maximum 500"));
  // the largest sizes are fine
  o.test_size = 500;
  o.validation_size = 100;
  o.train_size = 900;
  const FashionMnist d = load_fashion_mnist(o);
  CHECK(d.train.count == 900);
  CHECK(d.validation.count == 100);
  CHECK(d.test.count == 500);
}
