// analysis/tensor_io.cpp — .npy and HDF5 tensor reading; tensor dumps.
#include "analysis/tensor_io.hpp"

#include <fnmatch.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace fp8sim::analysis {

using detail::check;
using detail::check_status;
using detail::H5Id;

namespace {

std::size_t product(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (auto d : shape) {
    if (d && n > std::numeric_limits<std::size_t>::max() / d)
      throw IoError("tensor shape overflows the address space");
    n *= d;
  }
  return n;
}

template <class T>
void read_raw(std::ifstream& in, std::vector<double>& v) {
  for (auto& x : v) {
    T t;
    in.read(reinterpret_cast<char*>(&t), sizeof t);
    x = static_cast<double>(t);
  }
}

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  char magic[6];
  in.read(magic, 6);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw IoError(fmt::format("'{}' is not a .npy file", path));
  unsigned char ver[2];
  in.read(reinterpret_cast<char*>(ver), 2);
  std::uint32_t hlen = 0;
  if (ver[0] == 1) {
    unsigned char l[2];
    in.read(reinterpret_cast<char*>(l), 2);
    hlen = static_cast<std::uint32_t>(l[0] | (l[1] << 8));
  } else {
    unsigned char l[4];
    in.read(reinterpret_cast<char*>(l), 4);
    hlen = static_cast<std::uint32_t>(l[0] | (l[1] << 8) | (l[2] << 16) | (l[3] << 24));
  }
  if (!in || hlen > (1u << 20)) throw IoError(fmt::format("'{}': broken .npy header", path));
  std::string header(hlen, ' ');
  in.read(header.data(), hlen);
  const auto descr_at = header.find("'descr':");
  const auto q1 = header.find('\'', descr_at + 8), q2 = header.find('\'', q1 + 1);
  if (descr_at == std::string::npos || q1 == std::string::npos || q2 == std::string::npos)
    throw IoError(fmt::format("'{}': broken .npy header", path));
  const std::string descr = header.substr(q1 + 1, q2 - q1 - 1);
  static const char* const kAllowed = "<f4, <f8, <i4, <i8, |u1, <u2, <u4";
  if (std::string(kAllowed).find(descr) == std::string::npos || descr.size() != 3)
    throw IoError(
        fmt::format("'{}': dtype '{}' is not supported (allowed: {})", path, descr, kAllowed));
  if (header.find("'fortran_order': True") != std::string::npos)
    throw IoError(fmt::format("'{}': Fortran-order arrays are not supported", path));
  const auto lp = header.find('('), rp = header.find(')');
  if (lp == std::string::npos || rp == std::string::npos)
    throw IoError(fmt::format("'{}': broken .npy header", path));
  Tensor t;
  const std::string shape = header.substr(lp + 1, rp - lp - 1);
  for (std::size_t p = 0; p < shape.size();) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    std::size_t used = 0;
    try {
      t.shape.push_back(std::stoull(shape.substr(p), &used));
    } catch (const std::exception&) {
      throw IoError(fmt::format("'{}': broken shape '({})' in the .npy header", path, shape));
    }
    p += used;
  }
  t.values.resize(product(t.shape));
  if (descr == "<f4") read_raw<float>(in, t.values);
  if (descr == "<f8") read_raw<double>(in, t.values);
  if (descr == "<i4") read_raw<std::int32_t>(in, t.values);
  if (descr == "<i8") read_raw<std::int64_t>(in, t.values);
  if (descr == "|u1") read_raw<std::uint8_t>(in, t.values);
  if (descr == "<u2") read_raw<std::uint16_t>(in, t.values);
  if (descr == "<u4") read_raw<std::uint32_t>(in, t.values);
  if (!in) throw IoError(fmt::format("'{}': file is shorter than its header says", path));
  return t;
}

Tensor read_h5(const std::string& spec) {
  const auto colon = spec.rfind(':');
  const std::string file = spec.substr(0, colon), dset = spec.substr(colon + 1);
  if (colon == std::string::npos || dset.empty())
    throw IoError(fmt::format("'{}': name an HDF5 dataset as FILE.h5:/path/to/dataset", spec));
  H5Id f = detail::open_for_read(file);
  if (!detail::link_exists(f.get(), dset) ||
      H5Oexists_by_name(f.get(), dset.c_str(), H5P_DEFAULT) <= 0)
    throw IoError(fmt::format("'{}' has no dataset '{}'", file, dset));
  H5O_info_t info;
  H5Oget_info_by_name2(f.get(), dset.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
  if (info.type != H5O_TYPE_DATASET)
    throw IoError(fmt::format("'{}': '{}' is a group, not a dataset", file, dset));
  H5Id ds(check(H5Dopen2(f.get(), dset.c_str(), H5P_DEFAULT), "cannot open dataset", spec));
  H5Id type(H5Dget_type(ds.get()));
  const auto cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw IoError(fmt::format("'{}': dataset '{}' is not numeric", file, dset));
  H5Id sp(H5Dget_space(ds.get()));
  const int rank = H5Sget_simple_extent_ndims(sp.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(sp.get(), dims.data(), nullptr);
  Tensor t;
  for (auto d : dims) t.shape.push_back(static_cast<std::size_t>(d));
  t.values.resize(product(t.shape));
  if (!t.values.empty())
    check_status(
        H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.values.data()),
        "cannot read dataset", spec);
  return t;
}

bool is_h5_spec(const std::string& spec) {
  return spec.find(".h5:") != std::string::npos || spec.find(".hdf5:") != std::string::npos;
}

}  // namespace

bool is_tensor_file(const std::string& spec) {
  return is_h5_spec(spec) || spec.ends_with(".npy");
}

Tensor read_tensor(const std::string& spec) {
  if (is_h5_spec(spec)) return read_h5(spec);
  if (spec.ends_with(".npy")) return read_npy(spec);
  throw IoError(
      fmt::format("'{}': name a .npy file or an HDF5 dataset as FILE.h5:/path/to/dataset", spec));
}

Tensor read_matrix(const std::string& spec) {
  Tensor t = read_tensor(spec);
  if (t.shape.size() != 2)
    throw IoError(
        fmt::format("'{}': expected a 2-D array, got {} dimensions", spec, t.shape.size()));
  return t;
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

DumpWriter::DumpWriter(const std::string& path, OpenMode mode, const RunInfo& info) : path_(path) {
  bool appended = false;
  file_ = detail::open_for_write(path, mode, false, &appended);
  if (appended) {
    H5Id root(H5Gopen2(file_.get(), "/", H5P_DEFAULT));
    if (detail::read_int_attr(root.get(), "schema_version") != kSchemaVersion ||
        !detail::link_exists(file_.get(), "/dumps"))
      throw IoError(
          fmt::format("cannot append to '{}': not an fp8sim dump file of schema version {}", path,
                      kSchemaVersion));
  } else {
    detail::write_run_attrs(file_.get(), info);
    (void)detail::ensure_group(file_.get(), "/dumps");
  }
  check_status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "cannot flush", path_);
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
  const std::string gpath = fmt::format("/dumps/step_{}/{}", step, name);
  if (detail::link_exists(file_.get(), gpath))
    throw IoError(fmt::format("'{}' already holds {}", path_, gpath));
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
  check_status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "cannot flush", path_);
  ++written_;
}

}  // namespace fp8sim::analysis
