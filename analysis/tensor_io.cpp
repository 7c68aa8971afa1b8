// analysis/tensor_io.cpp — .npy and HDF5 tensor reading; tensor dumps.
#include "analysis/tensor_io.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace fp8sim::analysis {

using detail::check;
using detail::check_status;
using detail::H5Id;

namespace {

static_assert(std::endian::native == std::endian::little,
              "the .npy reader assumes a little-endian host ('=' and '<' are the same)");

constexpr std::size_t kMaxRank = 64;

std::string shape_text(const std::vector<std::size_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  std::string s = fmt::format("({})", fmt::join(shape, ", "));
  return s.size() > 60 ? s.substr(0, 57) + "...)" : s;
}

// ---- .npy -----------------------------------------------------------------------------

struct NpyType {
  const char* code;  // as numpy writes it
  const char* name;
  unsigned size;
};
constexpr NpyType kNpyTypes[] = {{"<f4", "float32", 4}, {"<f8", "float64", 8}, {"<i4", "int32", 4},
                                 {"<i8", "int64", 8},   {"|u1", "uint8", 1},   {"<u2", "uint16", 2},
                                 {"<u4", "uint32", 4}};
constexpr const char* kNpyAllowed =
    "allowed: float32 '<f4', float64 '<f8', int32 '<i4', int64 '<i8', uint8 '|u1', uint16 "
    "'<u2', uint32 '<u4'";

struct NpyHeader {
  const NpyType* type = nullptr;
  bool fortran = false;
  std::vector<std::size_t> shape;
  std::uint64_t data_offset = 0, elements = 1, data_bytes = 0;
};

[[noreturn]] void npy_fail(const std::string& path, const std::string& what) {
  throw IoError(fmt::format("{}: {}", shown(path), what));
}

// The dtype of a descr string, or a refusal that names what the dtype is.
const NpyType& npy_type(const std::string& path, const std::string& descr) {
  const std::string bad = shown(descr);
  if (descr.find(',') != std::string::npos)
    npy_fail(path, fmt::format("dtype {} is a structured dtype (comma-separated fields), not "
                               "supported ({})",
                               bad, kNpyAllowed));
  std::string body = descr;
  char order = '=';
  if (!body.empty() && std::strchr("<>|=", body[0])) {
    order = body[0];
    body = body.substr(1);
  }
  if (body.empty()) npy_fail(path, fmt::format("dtype {} is not a dtype ({})", bad, kNpyAllowed));
  const char kind = body[0];
  const char* what = nullptr;
  switch (kind) {
    case 'c':
      what = "a complex dtype";
      break;
    case 'O':
      what = "an object dtype (Python objects)";
      break;
    case 'U':
    case 'S':
    case 'a':
      what = "a string dtype";
      break;
    case 'V':
      what = "a raw (void) dtype";
      break;
    case 'b':
    case '?':
      what = "a bool dtype";
      break;
    case 'M':
    case 'm':
      what = "a date/time dtype";
      break;
    default:
      break;
  }
  if (what)
    npy_fail(path, fmt::format("dtype {} is {}, not supported ({})", bad, what, kNpyAllowed));
  for (const NpyType& t : kNpyTypes) {
    if (body != t.code + 1) continue;
    if (order == '>' && t.size > 1)
      npy_fail(path, fmt::format("dtype {} is big-endian, not supported (save it as '<{}'; {})",
                                 bad, body, kNpyAllowed));
    if (order == '|' && t.size > 1)
      npy_fail(path, fmt::format("dtype {} is not a valid dtype ({})", bad, kNpyAllowed));
    return t;  // '<', '=' (native: little-endian here), none (native), any order for 1 byte
  }
  npy_fail(path, fmt::format("dtype {} is not supported ({})", bad, kNpyAllowed));
}

// A minimal reader of the Python literal dict of a .npy header.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_fortran = false, have_shape = false;
    std::string descr;
    skip();
    expect('{', "the header is not a dict");
    skip();
    while (peek() != '}') {
      if (peek() != '\'' && peek() != '"') fail("a header key is not a string");
      const std::string key = string_literal();
      skip();
      expect(':', fmt::format("no ':' after key {}", shown(key)));
      skip();
      if (key == "descr") {
        if (have_descr) fail("key 'descr' appears twice");
        have_descr = true;
        if (peek() == '[')
          npy_fail(path_, fmt::format("dtype is a structured dtype (a list of fields), not "
                                      "supported ({})",
                                      kNpyAllowed));
        if (peek() != '\'' && peek() != '"') fail("'descr' is not a dtype string");
        descr = string_literal();
      } else if (key == "fortran_order") {
        if (have_fortran) fail("key 'fortran_order' appears twice");
        have_fortran = true;
        const std::string w = word();
        if (w == "True")
          h.fortran = true;
        else if (w == "False")
          h.fortran = false;
        else
          fail(fmt::format("'fortran_order' is {}, not True or False", shown(w)));
      } else if (key == "shape") {
        if (have_shape) fail("key 'shape' appears twice");
        have_shape = true;
        h.shape = shape();
      } else {
        fail(
            fmt::format("unknown key {} (allowed: 'descr', 'fortran_order', 'shape')", shown(key)));
      }
      skip();
      if (peek() == ',') {
        ++p_;
        skip();
      } else if (peek() != '}') {
        fail("no ',' between the header's entries");
      }
    }
    ++p_;
    skip();
    if (p_ != s_.size()) fail("text after the header's closing '}'");
    if (!have_descr) fail("the header has no 'descr' key");
    if (!have_fortran) fail("the header has no 'fortran_order' key");
    if (!have_shape) fail("the header has no 'shape' key");
    h.type = &npy_type(path_, descr);
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    npy_fail(path_, "broken .npy header: " + what);
  }
  char peek() const {
    if (p_ >= s_.size()) fail("it ends before its closing '}'");
    return s_[p_];
  }
  void skip() {
    while (p_ < s_.size() && std::strchr(" \t\r\n", s_[p_]) && s_[p_] != '\0') ++p_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) fail(what);
    ++p_;
  }
  std::string string_literal() {
    const char q = s_[p_++];
    std::string out;
    while (true) {
      const char c = peek();
      ++p_;
      if (c == q) break;
      if (c == '\\') {
        out += peek();
        ++p_;
        continue;
      }
      out += c;
    }
    return out;
  }
  std::string word() {  // up to the next separator
    const std::size_t b = p_;
    while (p_ < s_.size() && !std::strchr(",}) \t\r\n", s_[p_])) ++p_;
    return s_.substr(b, p_ - b);
  }
  std::vector<std::size_t> shape() {
    if (peek() != '(')
      fail(peek() == '[' ? "'shape' is a list, not a tuple" : "'shape' is not a tuple");
    ++p_;
    std::vector<std::size_t> dims;
    skip();
    while (peek() != ')') {
      std::string w = word();
      if (w.empty()) fail("'shape' holds an empty entry");
      if (w.size() > 1 && (w.back() == 'L' || w.back() == 'l')) w.pop_back();  // Python 2
      if (w[0] == '-' && w.size() > 1 && w.find_first_not_of("0123456789", 1) == std::string::npos)
        npy_fail(path_, fmt::format("negative dimension {} in the shape", w));
      if (w.find_first_not_of("0123456789") != std::string::npos)
        npy_fail(path_, fmt::format("dimension {} in the shape is not an integer", shown(w)));
      std::uint64_t v = 0;
      for (char c : w) {
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
          npy_fail(path_,
                   fmt::format("dimension {} in the shape does not fit in 64 bits", shown(w)));
        v = v * 10 + d;
      }
      dims.push_back(static_cast<std::size_t>(v));
      if (dims.size() > kMaxRank) fail(fmt::format("more than {} dimensions", kMaxRank));
      skip();
      if (peek() == ',') {
        ++p_;
        skip();
      } else if (peek() != ')') {
        fail("'shape' entries are not separated by ','");
      }
    }
    ++p_;
    return dims;
  }

  const std::string& path_;
  const std::string& s_;
  std::size_t p_ = 0;
};

// Opens a .npy file and checks everything the header says against the file.
class NpyFile {
 public:
  explicit NpyFile(const std::string& path) : path_(path) {
    const std::uint64_t size = detail::check_readable(path);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      throw IoError(fmt::format("cannot open {}: {}", shown(path), std::strerror(err)));
    }
    if (size == 0) npy_fail(path, "the file is empty (0 bytes), not a .npy file");
    unsigned char pre[12] = {};
    const std::size_t got = read_at(pre, std::min<std::uint64_t>(size, 12), 0);
    if (got < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
      npy_fail(path, "not a .npy file (it does not start with the .npy magic string)");
    const unsigned major = pre[6], minor = pre[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
      npy_fail(path, fmt::format(".npy format version {}.{} is not supported (1.0, 2.0, 3.0)",
                                 major, minor));
    std::uint64_t hlen = 0, prefix = 10;
    if (major == 1) {
      hlen = pre[8] | (pre[9] << 8);
    } else {
      if (got < 12) npy_fail(path, "the file ends inside the .npy header");
      hlen = static_cast<std::uint64_t>(pre[8]) | (static_cast<std::uint64_t>(pre[9]) << 8) |
             (static_cast<std::uint64_t>(pre[10]) << 16) |
             (static_cast<std::uint64_t>(pre[11]) << 24);
      prefix = 12;
    }
    if (hlen > (1u << 20))
      npy_fail(path, fmt::format("broken .npy header: it claims {} bytes (at most 1 MiB)", hlen));
    if (prefix + hlen > size)
      npy_fail(path, fmt::format("the file ends inside its .npy header ({} bytes, the header "
                                 "needs {})",
                                 size, prefix + hlen));
    std::string text(static_cast<std::size_t>(hlen), '\0');
    if (read_at(text.data(), hlen, prefix) != hlen) npy_fail(path, "cannot read the .npy header");
    if (text.find('\0') != std::string::npos) npy_fail(path, "broken .npy header: a NUL byte");
    header_ = HeaderParser(path, text).parse();
    header_.data_offset = prefix + hlen;
    std::uint64_t n = 1;
    bool over = false;
    for (auto d : header_.shape) {
      if (d != 0 && n > std::numeric_limits<std::uint64_t>::max() / d) over = true;
      n *= d;
    }
    bool zero = std::find(header_.shape.begin(), header_.shape.end(), 0) != header_.shape.end();
    if (over && !zero)
      npy_fail(path,
               fmt::format("shape {} holds more than 2^64 elements", shape_text(header_.shape)));
    if (zero) n = 0;
    header_.elements = n;
    if (n > std::numeric_limits<std::uint64_t>::max() / header_.type->size)
      npy_fail(path, fmt::format("shape {} of {} takes more than 2^64 bytes",
                                 shape_text(header_.shape), header_.type->name));
    header_.data_bytes = n * header_.type->size;
    const std::uint64_t present = size - header_.data_offset;
    if (present < header_.data_bytes)
      npy_fail(path, fmt::format("its header declares {} bytes of data (shape {} of {}) but the "
                                 "file holds only {} (truncated?)",
                                 header_.data_bytes, shape_text(header_.shape), header_.type->name,
                                 present));
    if (present > header_.data_bytes)
      npy_fail(path, fmt::format("its header declares {} bytes of data (shape {} of {}) but the "
                                 "file holds {}: {} bytes too many",
                                 header_.data_bytes, shape_text(header_.shape), header_.type->name,
                                 present, present - header_.data_bytes));
  }
  ~NpyFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  NpyFile(const NpyFile&) = delete;
  NpyFile& operator=(const NpyFile&) = delete;

  [[nodiscard]] const NpyHeader& header() const { return header_; }

  // Reads the values in row-major order into out (size = elements).
  void read(std::vector<double>& out) {
    const NpyHeader& h = header_;
    const std::size_t rank = h.shape.size();
    // file order -> row-major index; Fortran order walks the first index fastest
    std::vector<std::size_t> idx(rank, 0), stride(rank, 1);
    for (std::size_t k = rank; k-- > 1;) stride[k - 1] = stride[k] * h.shape[k];
    std::size_t dest = 0;
    auto advance = [&] {
      if (!h.fortran || rank < 2) {
        ++dest;
        return;
      }
      for (std::size_t k = 0; k < rank; ++k) {
        dest += stride[k];
        if (++idx[k] < h.shape[k]) return;
        dest -= stride[k] * h.shape[k];
        idx[k] = 0;
      }
    };
    constexpr std::size_t kChunk = 1 << 20;
    std::vector<unsigned char> buf(
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, h.data_bytes)));
    std::uint64_t done = 0;
    const unsigned sz = h.type->size;
    auto convert = [&]<class T>(const unsigned char* p, std::size_t n) {
      for (std::size_t i = 0; i < n; i += sizeof(T)) {
        out[dest] = static_cast<double>(load<T>(p + i));
        advance();
      }
    };
    while (done < h.data_bytes) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, h.data_bytes - done));
      if (read_at(buf.data(), want, h.data_offset + done) != want)
        npy_fail(path_, "the file is shorter than its header says (changed while read?)");
      const std::size_t n = want - want % sz;
      switch (h.type - kNpyTypes) {
        case 0:
          convert.template operator()<float>(buf.data(), n);
          break;
        case 1:
          convert.template operator()<double>(buf.data(), n);
          break;
        case 2:
          convert.template operator()<std::int32_t>(buf.data(), n);
          break;
        case 3:
          convert.template operator()<std::int64_t>(buf.data(), n);
          break;
        case 4:
          convert.template operator()<std::uint8_t>(buf.data(), n);
          break;
        case 5:
          convert.template operator()<std::uint16_t>(buf.data(), n);
          break;
        default:
          convert.template operator()<std::uint32_t>(buf.data(), n);
          break;
      }
      done += want;
    }
  }

 private:
  template <class T>
  static T load(const unsigned char* p) {
    T t;
    std::memcpy(&t, p, sizeof t);
    return t;
  }
  std::size_t read_at(void* buf, std::uint64_t n, std::uint64_t at) const {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, static_cast<char*>(buf) + done,
                                static_cast<std::size_t>(n - done), static_cast<off_t>(at + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        const int err = errno;
        npy_fail(path_, fmt::format("cannot read: {}", std::strerror(err)));
      }
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

  std::string path_;
  int fd_ = -1;
  NpyHeader header_;
};

TensorInfo npy_info(const std::string& path, const NpyHeader& h) {
  TensorInfo t;
  t.file = path;
  t.shape = h.shape;
  t.elements = h.elements;
  t.dtype = h.type->name;
  t.bytes = h.elements * sizeof(double);  // elements <= file size: no overflow
  t.fortran_order = h.fortran;
  return t;
}

// ---- HDF5 -----------------------------------------------------------------------------

std::size_t h5_split(const std::string& spec) {
  std::size_t at = std::string::npos;
  for (const char* ext : {".h5:", ".hdf5:"}) {
    const auto p = spec.find(ext);
    if (p != std::string::npos && (at == std::string::npos || p < at))
      at = p + std::strlen(ext) - 1;
  }
  return at;
}

bool is_h5_spec(const std::string& spec) {
  return h5_split(spec) != std::string::npos;
}

struct H5Dataset {
  H5Id file, ds, type;
  TensorInfo info;
};

H5Dataset open_h5(const std::string& spec) {
  const auto colon = h5_split(spec);
  H5Dataset d;
  d.info.file = spec.substr(0, colon);
  d.info.dataset = spec.substr(colon + 1);
  const std::string& file = d.info.file;
  const std::string& dset = d.info.dataset;
  if (dset.empty())
    throw IoError(fmt::format("{}: name an HDF5 dataset as FILE.h5:/path/to/dataset", shown(spec)));
  d.file = detail::open_for_read(file);
  switch (detail::object_type(d.file.get(), dset)) {
    case H5O_TYPE_DATASET:
      break;
    case H5O_TYPE_GROUP:
      throw IoError(fmt::format("{} in {} is a group, not a dataset", shown(dset), shown(file)));
    case H5O_TYPE_UNKNOWN:
      throw IoError(fmt::format("{} has no dataset {}", shown(file), shown(dset)));
    default:
      throw IoError(fmt::format("{} in {} is not a dataset", shown(dset), shown(file)));
  }
  d.ds = H5Id(H5Dopen2(d.file.get(), dset.c_str(), H5P_DEFAULT));
  if (!d.ds.valid())
    throw IoError(fmt::format("cannot open dataset {} in {}: {}", shown(dset), shown(file),
                              detail::hdf5_failure("the file is damaged")));
  d.type = H5Id(H5Dget_type(d.ds.get()));
  const auto cls = H5Tget_class(d.type.get());
  const std::string tname = detail::type_name(d.type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw IoError(
        fmt::format("dataset {} in {} holds {} values, not numbers (allowed: integer "
                    "and floating-point datasets)",
                    shown(dset), shown(file), tname));
  d.info.dtype = tname;
  H5Id sp(H5Dget_space(d.ds.get()));
  const H5S_class_t sc = H5Sget_simple_extent_type(sp.get());
  if (sc == H5S_NULL)
    throw IoError(fmt::format("dataset {} in {} holds no values (a null dataspace)", shown(dset),
                              shown(file)));
  const int rank = H5Sget_simple_extent_ndims(sp.get());
  if (rank < 0)
    throw IoError(
        fmt::format("dataset {} in {} is damaged (unreadable shape)", shown(dset), shown(file)));
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank) H5Sget_simple_extent_dims(sp.get(), dims.data(), nullptr);
  std::uint64_t n = 1;
  bool over = false, zero = false;
  for (auto x : dims) {
    if (x == 0) zero = true;
    if (x != 0 && n > std::numeric_limits<std::uint64_t>::max() / x) over = true;
    n *= x;
    d.info.shape.push_back(static_cast<std::size_t>(x));
  }
  if (zero) n = 0;
  if ((over && !zero) || n > std::numeric_limits<std::uint64_t>::max() / sizeof(double))
    throw IoError(fmt::format("dataset {} in {} has shape {}: more than 2^64 bytes as doubles",
                              shown(dset), shown(file), shape_text(d.info.shape)));
  d.info.elements = n;
  d.info.bytes = n * sizeof(double);
  // contiguous storage shorter than the shape needs: a damaged or forged file
  H5Id dcpl(H5Dget_create_plist(d.ds.get()));
  const std::uint64_t stored = H5Dget_storage_size(d.ds.get());
  const std::uint64_t tsize = H5Tget_size(d.type.get());
  if (dcpl.valid() && H5Pget_layout(dcpl.get()) == H5D_CONTIGUOUS && stored != 0 && tsize != 0 &&
      n <= std::numeric_limits<std::uint64_t>::max() / tsize && stored < n * tsize)
    throw IoError(
        fmt::format("dataset {} in {} is damaged: shape {} of {} needs {} bytes, {} are "
                    "stored",
                    shown(dset), shown(file), shape_text(d.info.shape), tname, n * tsize, stored));
  H5Eclear2(H5E_DEFAULT);
  return d;
}

[[noreturn]] void no_memory(const std::string& spec, std::uint64_t bytes) {
  throw IoError(
      fmt::format("not enough memory to read {}: its values need {} bytes", shown(spec), bytes));
}

void allocate(Tensor& t, const TensorInfo& info, const std::string& spec) {
  try {
    t.shape = info.shape;
    t.values.resize(static_cast<std::size_t>(info.elements));
  } catch (const std::bad_alloc&) {
    no_memory(spec, info.bytes);
  } catch (const std::length_error&) {
    no_memory(spec, info.bytes);
  }
}

Tensor read_h5(const std::string& spec) {
  H5Dataset d = open_h5(spec);
  Tensor t;
  allocate(t, d.info, spec);
  if (!t.values.empty() &&
      H5Dread(d.ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.values.data()) < 0)
    throw IoError(fmt::format("cannot read dataset {} in {}: {}", shown(d.info.dataset),
                              shown(d.info.file),
                              detail::hdf5_failure("the file is truncated or damaged")));
  return t;
}

[[noreturn]] void not_a_tensor_spec(const std::string& spec) {
  throw IoError(fmt::format("{}: name a .npy file or an HDF5 dataset as FILE.h5:/path/to/dataset",
                            shown(spec)));
}

}  // namespace

bool is_tensor_file(const std::string& spec) {
  return is_h5_spec(spec) || spec.ends_with(".npy");
}

TensorInfo inspect_tensor(const std::string& spec) {
  if (is_h5_spec(spec)) return open_h5(spec).info;
  if (spec.ends_with(".npy")) {
    NpyFile f(spec);
    return npy_info(spec, f.header());
  }
  not_a_tensor_spec(spec);
}

Tensor read_tensor(const std::string& spec) {
  if (is_h5_spec(spec)) return read_h5(spec);
  if (!spec.ends_with(".npy")) not_a_tensor_spec(spec);
  NpyFile f(spec);
  const TensorInfo info = npy_info(spec, f.header());
  Tensor t;
  allocate(t, info, spec);
  f.read(t.values);
  return t;
}

Tensor read_matrix(const std::string& spec) {
  const TensorInfo info = inspect_tensor(spec);
  if (info.shape.size() != 2)
    throw IoError(fmt::format("{}: expected a 2-D array, got {} dimensions (shape {})", shown(spec),
                              info.shape.size(), shape_text(info.shape)));
  return read_tensor(spec);
}

bool DumpSelection::wants(const std::string& name, std::int64_t step) const {
  bool step_ok = false;
  for (const auto& [lo, hi] : steps) step_ok |= step >= lo && step <= hi;
  if (!step_ok) return false;
  for (const auto& p : patterns)
    if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

DumpSelection parse_dump_selection(const std::string& names, const std::string& steps) {
  DumpSelection s;
  s.patterns.clear();
  s.steps.clear();
  auto split = [](const std::string& text) {
    std::vector<std::string> out;
    std::size_t p = 0;
    while (p <= text.size()) {
      const auto q = text.find(',', p);
      out.push_back(text.substr(p, q == std::string::npos ? std::string::npos : q - p));
      if (q == std::string::npos) break;
      p = q + 1;
    }
    return out;
  };
  for (const auto& n : split(names)) {
    if (n.empty())
      throw std::invalid_argument(
          fmt::format("--dump-select '{}': empty pattern (use NAME or a glob like 'A*')", names));
    s.patterns.push_back(n);
  }
  for (const auto& r : split(steps)) {
    const auto dash = r.find('-', 1);
    try {
      std::size_t used = 0;
      const std::string lo = r.substr(0, dash),
                        hi = dash == std::string::npos ? lo : r.substr(dash + 1);
      const long long a = std::stoll(lo, &used);
      if (used != lo.size()) throw std::invalid_argument("");
      const long long b = std::stoll(hi, &used);
      if (used != hi.size() || a < 0 || b < a) throw std::invalid_argument("");
      s.steps.emplace_back(a, b);
    } catch (const std::exception&) {
      throw std::invalid_argument(fmt::format(
          "--dump-steps '{}': bad range '{}' (allowed: STEP or FIRST-LAST, comma-separated, "
          "e.g. 0,10-20)",
          steps, r));
    }
  }
  return s;
}

DumpWriter::DumpWriter(const std::string& path, OpenMode mode, const RunInfo& info)
    : path_(path), uncaught_(std::uncaught_exceptions()) {
  if (mode == OpenMode::append && ::access(path.c_str(), F_OK) == 0) {
    // check the file read-only first: a refused append leaves it exactly as it was
    H5Id f;
    try {
      f = detail::open_for_read(path);
    } catch (const IoError& e) {
      throw IoError(fmt::format("cannot append: {}", e.what()));
    }
    const H5O_type_t dumps = detail::object_type(f.get(), "/dumps");
    H5Id root(H5Gopen2(f.get(), "/", H5P_DEFAULT));
    const std::int64_t v = detail::read_int_attr(root.get(), "schema_version");
    if (dumps != H5O_TYPE_GROUP) {
      const bool recording = detail::link_exists(f.get(), "/quantizers") ||
                             detail::link_exists(f.get(), "/gemms") ||
                             detail::link_exists(f.get(), "/gradients");
      throw IoError(fmt::format("cannot append to {}: it is {}", shown(path),
                                recording ? "a recording, not a tensor dump"
                                          : "not an fp8sim tensor dump (no /dumps group)"));
    }
    if (v < 1 || v > kSchemaVersion)
      throw IoError(fmt::format(
          "cannot append to {}: schema_version {} (this fp8sim appends to versions 1 to {})",
          shown(path), v, kSchemaVersion));
  }
  bool appended = false;
  file_ = detail::open_for_write(path, mode, false, &appended, &created_);
  try {
    if (!appended) {
      detail::write_run_attrs(file_.get(), info);
      (void)detail::ensure_group(file_.get(), "/dumps");
    }
    check_status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "cannot write", path_);
  } catch (const IoError& e) {
    file_.reset();
    if (created_) detail::remove_created(path_);
    created_ = false;
    detail::rethrow_for_file(e, path_);
  }
}

DumpWriter::~DumpWriter() {
  if (std::uncaught_exceptions() > uncaught_) {  // the command failed: drop what it made
    file_.reset();
    if (created_) detail::remove_created(path_);
    return;
  }
  try {
    close();
  } catch (...) {  // a destructor must not throw; call close() to see errors
  }
}

void DumpWriter::close() {
  if (!file_.valid()) return;
  const herr_t flushed = H5Fflush(file_.get(), H5F_SCOPE_GLOBAL);
  const bool closed = file_.close();
  if (flushed < 0 || !closed)
    throw IoError(fmt::format("cannot write {}: {}", shown(path_), detail::hdf5_failure()));
}

namespace {

void write_dataset(hid_t group, const char* name, hid_t ftype, hid_t mtype,
                   const std::vector<hsize_t>& dims, const void* data, const std::string& where) {
  H5Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                          : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  hsize_t total = 1;
  for (auto d : dims) total *= d;
  if (!dims.empty() && total >= 4096) {  // big tensors: chunked and compressed
    std::vector<hsize_t> chunk(dims);
    hsize_t c = 1;
    for (std::size_t i = chunk.size(); i-- > 0;) {
      chunk[i] = std::max<hsize_t>(1, std::min<hsize_t>(chunk[i], 65536 / c));
      c *= chunk[i];
    }
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_deflate(dcpl.get(), 4);
  }
  H5Id ds(check(H5Dcreate2(group, name, ftype, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                "cannot create dataset", where));
  if (total)
    check_status(H5Dwrite(ds.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "cannot write",
                 where);
}

}  // namespace

void DumpWriter::write(std::int64_t step, const std::string& name,
                       const std::vector<std::size_t>& shape, std::span<const double> input,
                       std::span<const std::uint64_t> codes, const Format& f,
                       const std::string& rounding) {
  std::size_t n = 1;
  for (auto d : shape) n *= d;
  if (input.size() != n || codes.size() != n)
    throw std::invalid_argument(
        fmt::format("dump '{}': shape holds {} elements but {} inputs and {} codes were given",
                    name, n, input.size(), codes.size()));
  if (name.empty() || name.find('/') != std::string::npos)
    throw std::invalid_argument(fmt::format("dump name '{}' is not allowed (no '/')", name));
  if (!file_.valid()) throw std::logic_error("DumpWriter::write after close()");
  const std::string gpath = fmt::format("/dumps/step_{}/{}", step, name);
  if (detail::link_exists(file_.get(), gpath))
    throw IoError(fmt::format("{} already holds {}", shown(path_), gpath));
  try {
    write_group(step, name, gpath, shape, input, codes, f, rounding);
  } catch (const IoError& e) {
    detail::rethrow_for_file(e, path_);
  }
  ++written_;
}

void DumpWriter::write_group(std::int64_t step, const std::string& name, const std::string& gpath,
                             const std::vector<std::size_t>& shape, std::span<const double> input,
                             std::span<const std::uint64_t> codes, const Format& f,
                             const std::string& rounding) {
  const std::size_t n = input.size();
  H5Id g = detail::ensure_group(file_.get(), gpath);
  detail::write_string_attr(g.get(), "name", name);
  detail::write_int_attr(g.get(), "step", step);
  detail::write_string_attr(g.get(), "format", f.name);
  detail::write_string_attr(g.get(), "rounding", rounding);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  write_dataset(g.get(), "input", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, input.data(),
                gpath + "/input");
  const int w = f.width();
  const hid_t ctype = w <= 8    ? H5T_STD_U8LE
                      : w <= 16 ? H5T_STD_U16LE
                      : w <= 32 ? H5T_STD_U32LE
                                : H5T_STD_U64LE;
  write_dataset(g.get(), "codes", ctype, H5T_NATIVE_UINT64, dims, codes.data(), gpath + "/codes");
  std::vector<double> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = to_double(f, codes[i]);
  write_dataset(g.get(), "values", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, values.data(),
                gpath + "/values");
  check_status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "cannot write", path_);
}

}  // namespace fp8sim::analysis
