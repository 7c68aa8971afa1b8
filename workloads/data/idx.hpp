// workloads/data/idx.hpp — reading IDX files (the format of MNIST and Fashion-MNIST).
//
// An IDX file is a big-endian header, magic 0x0000TTNN (TT the element type, 0x08 for
// uint8; NN the number of dimensions), NN uint32 dimensions, then the elements in row-major
// order. Two kinds are read here, both uint8: label files (magic 0x00000801, 1-D: count) and
// image files (magic 0x00000803, 3-D: count, rows, cols). Files may be gzip-compressed or
// plain (zlib's gzread reads both).
//
// The reader is strict: the magic must be the kind asked for, every dimension of an image
// must be non-zero, the data must not exceed `max_bytes`, and the file must hold exactly the
// bytes its header promises (a short file, trailing bytes or a cut gzip stream are errors).
// Every error is a std::runtime_error whose message starts with the file's path and says
// what is wrong, e.g. "<path>: not an IDX image file (magic 0x00000801, want 0x00000803;
// 0x00000801 is an IDX label file)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace fp8sim::workloads {

/// What the data readers throw: a missing, unreadable or malformed data file (the message
/// names the file and what is wrong). The command line reports it as a refusal (exit 2).
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::uint32_t idx_labels_magic = 0x00000801;  ///< uint8, 1-D
inline constexpr std::uint32_t idx_images_magic = 0x00000803;  ///< uint8, 3-D

/// Default limit on the data of one IDX file (the header's promise), 1 GiB; the full
/// Fashion-MNIST training images are 47 MB.
inline constexpr std::uint64_t idx_default_max_bytes = std::uint64_t{1} << 30;

/// The contents of an IDX image file: `count` images of rows x cols bytes, row-major,
/// image after image (pixels.size() == count * rows * cols).
struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;
};

/// Reads an IDX image file (magic 0x00000803). Throws std::runtime_error (see above).
[[nodiscard]] IdxImages read_idx_images(const std::filesystem::path& file,
                                        std::uint64_t max_bytes = idx_default_max_bytes);

/// Reads an IDX label file (magic 0x00000801): one byte per item. Throws std::runtime_error.
[[nodiscard]] std::vector<std::uint8_t> read_idx_labels(
    const std::filesystem::path& file, std::uint64_t max_bytes = idx_default_max_bytes);

}  // namespace fp8sim::workloads
