// analysis/h5_file.cpp
#include "analysis/h5_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace fp8sim::analysis::detail {

void H5Id::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = H5I_INVALID_HID;
}

void quiet_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

std::string hdf5_error_text() {
  std::string text;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        auto* t = static_cast<std::string*>(data);
        if (n == 0 && e->desc) *t = e->desc;
        return 0;
      },
      &text);
  H5Eclear2(H5E_DEFAULT);
  if (text.empty()) return "HDF5 error";
  // low-level I/O errors carry a multi-line report: keep what failed and the system's reason
  const auto msg = text.find("error message = '");
  if (msg != std::string::npos) {
    const auto end = text.find('\'', msg + 17);
    text = text.substr(0, text.find(':')) + ": " + text.substr(msg + 17, end - msg - 17);
  }
  for (auto& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

hid_t check(hid_t id, const std::string& what, const std::string& path) {
  if (id >= 0) return id;
  const int err = errno;
  std::string msg = fmt::format("{} '{}': {}", what, path, hdf5_error_text());
  if ((err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES || err == EIO) &&
      msg.find(std::strerror(err)) == std::string::npos)
    msg += fmt::format(" ({})", std::strerror(err));
  throw IoError(msg);
}

void check_status(herr_t st, const std::string& what, const std::string& path) {
  if (st >= 0) return;
  (void)check(H5I_INVALID_HID, what, path);
}

namespace {

H5Id file_access(bool swmr_format) {
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (swmr_format) H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  return fapl;
}

}  // namespace

H5Id open_for_write(const std::string& path, OpenMode mode, bool swmr_format, bool* appended) {
  quiet_hdf5();
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (appended) *appended = false;
  if (exists && mode == OpenMode::create)
    throw IoError(
        fmt::format("'{}' exists: pass --overwrite to replace it or --append to add to it", path));
  const fs::path parent =
      fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  if (!fs::is_directory(parent, ec))
    throw IoError(
        fmt::format("cannot write '{}': directory '{}' does not exist", path, parent.string()));
  if (exists && access(path.c_str(), W_OK) != 0)
    throw IoError(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  if (!exists && access(parent.c_str(), W_OK) != 0)
    throw IoError(fmt::format("cannot create '{}': directory '{}' is not writable ({})", path,
                              parent.string(), std::strerror(errno)));
  H5Id fapl = file_access(swmr_format);
  if (exists && mode == OpenMode::append) {
    if (H5Fis_hdf5(path.c_str()) <= 0)
      throw IoError(fmt::format("cannot append to '{}': not an HDF5 file", path));
    errno = 0;
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get());
    if (f < 0) {
      const std::string why = hdf5_error_text();
      if (why.find("already open for write") != std::string::npos ||
          why.find("consistency flags") != std::string::npos)
        throw IoError(fmt::format(
            "cannot append to '{}': its writer did not close it (killed?); run 'h5clear -s {}' "
            "once, then append",
            path, path));
      throw IoError(fmt::format("cannot append to '{}': {}", path, why));
    }
    if (appended) *appended = true;
    return H5Id(f);
  }
  errno = 0;
  return H5Id(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                    "cannot create", path));
}

H5Id open_for_read(const std::string& path) {
  quiet_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw IoError(fmt::format("cannot open '{}': no such file", path));
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw IoError(fmt::format("cannot open '{}': not an HDF5 file", path));
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    H5Eclear2(H5E_DEFAULT);
    f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  }
  return H5Id(check(f, "cannot open", path));
}

namespace {

H5Id vlen_string_type() {
  H5Id t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

void replace_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
}

}  // namespace

void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  replace_attr(obj, name);
  H5Id type = vlen_string_type();
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id a(check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
               "cannot write attribute", name));
  const char* p = value.c_str();
  check_status(H5Awrite(a.get(), type.get(), &p), "cannot write attribute", name);
}

void write_int_attr(hid_t obj, const std::string& name, std::int64_t value) {
  replace_attr(obj, name);
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id a(check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
               "cannot write attribute", name));
  check_status(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), "cannot write attribute", name);
}

void write_double_attr(hid_t obj, const std::string& name, double value) {
  replace_attr(obj, name);
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id a(check(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
               "cannot write attribute", name));
  check_status(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value), "cannot write attribute", name);
}

bool has_attr(hid_t obj, const std::string& name) {
  return H5Aexists(obj, name.c_str()) > 0;
}

std::string read_string_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return {};
  H5Id a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  H5Id ftype(H5Aget_type(a.get()));
  if (H5Tget_class(ftype.get()) != H5T_STRING) return {};
  if (H5Tis_variable_str(ftype.get()) > 0) {
    H5Id type = vlen_string_type();
    char* p = nullptr;
    if (H5Aread(a.get(), type.get(), &p) < 0 || !p) return {};
    std::string s = p;
    H5free_memory(p);
    return s;
  }
  const std::size_t n = H5Tget_size(ftype.get());
  std::string s(n, '\0');
  H5Id mtype(H5Tcopy(H5T_C_S1));
  H5Tset_size(mtype.get(), n);
  if (H5Aread(a.get(), mtype.get(), s.data()) < 0) return {};
  return s.substr(0, s.find('\0'));
}

std::int64_t read_int_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return 0;
  H5Id a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  std::int64_t v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) return 0;
  return v;
}

void write_run_attrs(hid_t file, const RunInfo& r) {
  H5Id root(H5Gopen2(file, "/", H5P_DEFAULT));
  write_int_attr(root.get(), "schema_version", kSchemaVersion);
  write_string_attr(root.get(), "kind", r.kind);
  write_string_attr(root.get(), "fp8sim_version", r.version);
  write_string_attr(root.get(), "git_commit", r.git_commit);
  write_string_attr(root.get(), "command_line", r.command_line);
  write_string_attr(root.get(), "start_time", r.start_time);
  write_string_attr(root.get(), "host", r.host);
  write_string_attr(root.get(), "config", r.config_toml);
}

bool link_exists(hid_t loc, const std::string& path) {
  // every prefix must exist for H5Lexists to answer cleanly
  std::size_t pos = 0;
  while (true) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (!prefix.empty() && prefix != "/" && H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0)
      return false;
    if (pos == std::string::npos) return true;
  }
}

H5Id ensure_group(hid_t file, const std::string& path) {
  if (link_exists(file, path)) return H5Id(H5Gopen2(file, path.c_str(), H5P_DEFAULT));
  H5Id lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  return H5Id(check(H5Gcreate2(file, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                    "cannot create group", path));
}

}  // namespace fp8sim::analysis::detail
