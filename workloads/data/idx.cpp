// workloads/data/idx.cpp — the strict IDX reader (see idx.hpp).
#include "workloads/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <fmt/format.h>

namespace fp8sim::workloads {
namespace {

struct GzClose {
  void operator()(gzFile f) const { gzclose(f); }
};

// An open IDX file (gzip or plain) whose errors name the file.
class IdxStream {
 public:
  explicit IdxStream(const std::filesystem::path& file) : path_(file.string()) {
    errno = 0;
    file_.reset(gzopen(path_.c_str(), "rb"));
    if (!file_) {
      const int err = errno;
      fail(fmt::format("cannot open ({})", err != 0 ? std::strerror(err) : "out of memory"));
    }
    gzbuffer(file_.get(), 1U << 17);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(fmt::format("{}: {}", path_, what));
  }

  // Reads up to n bytes, fewer only at the end of the data; throws on a read error, on
  // corrupt compressed data and on a gzip stream that ends early.
  std::size_t read(void* buffer, std::size_t n) {
    auto* out = static_cast<unsigned char*>(buffer);
    std::size_t got = 0;
    while (got < n) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1U << 20));
      const int r = gzread(file_.get(), out + got, chunk);
      if (r < 0) check_error();
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    if (got < n) check_error();
    return got;
  }

  // Counts the bytes left in the file (reading them).
  std::uint64_t count_rest() {
    std::array<unsigned char, 1U << 16> scratch{};
    std::uint64_t rest = 0;
    for (;;) {
      const std::size_t r = read(scratch.data(), scratch.size());
      rest += r;
      if (r < scratch.size()) return rest;
    }
  }

  // Reads one big-endian uint32; `what` names it for the error of a short file.
  std::uint32_t read_u32(const char* what, std::uint64_t offset) {
    std::array<unsigned char, 4> b{};
    const std::size_t got = read(b.data(), b.size());
    if (got != b.size()) {
      if (offset + got == 0) fail("empty file, not an IDX file");
      fail(
          fmt::format("truncated header: file ends after {} bytes, in the {}", offset + got, what));
    }
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
  }

 private:
  void check_error() {
    int errnum = Z_OK;
    const char* msg = gzerror(file_.get(), &errnum);
    switch (errnum) {
      case Z_OK:
        return;
      case Z_BUF_ERROR:
        fail("gzip stream cut short (the compressed file is truncated)");
      case Z_DATA_ERROR:
        fail(fmt::format("corrupt gzip data ({})", msg));
      case Z_ERRNO:
        fail(fmt::format("read error ({})", std::strerror(errno)));
      default:
        fail(fmt::format("read error ({})", msg));
    }
  }

  std::string path_;
  std::unique_ptr<std::remove_pointer_t<gzFile>, GzClose> file_;
};

// "an IDX file of 2-D float32" for a magic that looks like IDX, else "".
std::string describe_magic(std::uint32_t magic) {
  if (magic == idx_labels_magic) return "; 0x00000801 is an IDX label file";
  if (magic == idx_images_magic) return "; 0x00000803 is an IDX image file";
  if ((magic >> 16) != 0) return "";
  const char* type = nullptr;
  switch ((magic >> 8) & 0xFF) {
    case 0x08:
      type = "uint8";
      break;
    case 0x09:
      type = "int8";
      break;
    case 0x0B:
      type = "int16";
      break;
    case 0x0C:
      type = "int32";
      break;
    case 0x0D:
      type = "float32";
      break;
    case 0x0E:
      type = "float64";
      break;
    default:
      return "";
  }
  return fmt::format("; 0x{:08x} is an IDX file of {}-D {}", magic, magic & 0xFF, type);
}

void check_magic(IdxStream& in, std::uint32_t want, const char* kind) {
  const std::uint32_t magic = in.read_u32("magic number", 0);
  if (magic != want) {
    in.fail(fmt::format("not an IDX {} file (magic 0x{:08x}, want 0x{:08x}{})", kind, magic, want,
                        describe_magic(magic)));
  }
}

// Reads exactly `bytes` bytes of data, then checks nothing follows. `promise` says what the
// header promised ("60000 images of 28x28"), `what` the kind of data ("pixel").
std::vector<std::uint8_t> read_data(IdxStream& in, std::uint64_t bytes, const std::string& promise,
                                    const char* what, std::uint64_t header_bytes) {
  // Grow as data arrives, so that a short file with a large promise costs little.
  constexpr std::uint64_t chunk = std::uint64_t{1} << 22;
  std::vector<std::uint8_t> data;
  data.reserve(static_cast<std::size_t>(std::min(bytes, chunk * 16)));
  while (data.size() < bytes) {
    const std::size_t have = data.size();
    const auto want = static_cast<std::size_t>(std::min(bytes - have, chunk));
    data.resize(have + want);
    const std::size_t got = in.read(data.data() + have, want);
    if (got < want) {
      in.fail(fmt::format("truncated: header says {}, file holds {} bytes of {} data (want {})",
                          promise, have + got, what, bytes));
    }
  }
  if (const std::uint64_t rest = in.count_rest(); rest != 0) {
    in.fail(
        fmt::format("{} trailing bytes after the {} its header promises (file has {} bytes, "
                    "want {})",
                    rest, promise, header_bytes + bytes + rest, header_bytes + bytes));
  }
  return data;
}

}  // namespace

IdxImages read_idx_images(const std::filesystem::path& file, std::uint64_t max_bytes) {
  IdxStream in(file);
  check_magic(in, idx_images_magic, "image");
  const std::uint32_t count = in.read_u32("image count", 4);
  const std::uint32_t rows = in.read_u32("row count", 8);
  const std::uint32_t cols = in.read_u32("column count", 12);
  if (rows == 0 || cols == 0) {
    in.fail(
        fmt::format("header says images of {}x{}; an image needs at least one pixel", rows, cols));
  }
  const std::uint64_t per_image = std::uint64_t{rows} * cols;
  const std::string promise = fmt::format("{} images of {}x{}", count, rows, cols);
  if (per_image > max_bytes || count > max_bytes / per_image) {
    const bool wraps = count != 0 && per_image > UINT64_MAX / count;
    in.fail(fmt::format("header says {} ({} bytes), over the limit of {} bytes", promise,
                        wraps ? std::string("over 2^64") : std::to_string(count * per_image),
                        max_bytes));
  }
  IdxImages out;
  out.count = count;
  out.rows = rows;
  out.cols = cols;
  out.pixels = read_data(in, count * per_image, promise, "pixel", 16);
  return out;
}

std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& file,
                                          std::uint64_t max_bytes) {
  IdxStream in(file);
  check_magic(in, idx_labels_magic, "label");
  const std::uint32_t count = in.read_u32("label count", 4);
  const std::string promise = fmt::format("{} labels", count);
  if (count > max_bytes) {
    in.fail(fmt::format("header says {}, over the limit of {} bytes", promise, max_bytes));
  }
  return read_data(in, count, promise, "label", 8);
}

}  // namespace fp8sim::workloads
