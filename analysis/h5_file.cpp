// analysis/h5_file.cpp
#include "analysis/h5_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace fp8sim::analysis::detail {

void H5Id::reset() {
  (void)close();
}

bool H5Id::close() {
  if (id_ < 0) return true;
  herr_t st = 0;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      st = H5Fclose(id_);
      break;
    case H5I_GROUP:
      st = H5Gclose(id_);
      break;
    case H5I_DATASET:
      st = H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      st = H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      st = H5Tclose(id_);
      break;
    case H5I_ATTR:
      st = H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      st = H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = H5I_INVALID_HID;
  return st >= 0;
}

void quiet_hdf5() {
  static const bool done = [] {
    // HDF5 1.10 crashes in its exit handler (H5F__close_cb) when a file's H5Fclose failed
    // (a full disk): every object is closed by its owner here, so skip that handler.
    // (Effective when this is the process's first HDF5 call, as in fp8sim.)
    H5dont_atexit();
    const char* debug = std::getenv("FP8SIM_DEBUG_HDF5");
    if (!debug || !*debug || std::strcmp(debug, "0") == 0)
      H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

namespace {

std::string errno_words(int err) {
  switch (err) {
    case ENOSPC:
      return "no space left on device";
    case EDQUOT:
      return "disk quota exceeded";
    case EROFS:
      return "read-only file system";
    case EACCES:
    case EPERM:
      return "permission denied";
    case EIO:
      return "input/output error";
    case EFBIG:
      return "file too large (the file size limit was reached)";
    case ENOENT:
      return "no such file";
    case EISDIR:
      return "is a directory";
    case ENOTDIR:
      return "a part of the path is not a directory";
    case ENAMETOOLONG:
      return "file name too long";
    case ELOOP:
      return "too many levels of symbolic links";
    case EAGAIN:
      return "it is locked by another program (an fp8sim run still writing it?)";
    default: {
      std::string s = std::strerror(err);
      if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
      return s;
    }
  }
}

// What HDF5's error stack says, reduced to facts we can put in the user's words.
struct StackFacts {
  int sys_errno = 0;
  bool locked = false, open_for_write = false, truncated = false;
};

StackFacts stack_facts() {
  StackFacts facts;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* f = static_cast<StackFacts*>(data);
        if (!e->desc) return 0;
        const std::string d = e->desc;
        const auto at = d.find("errno = ");
        if (at != std::string::npos && f->sys_errno == 0)
          f->sys_errno = std::atoi(d.c_str() + at + 8);
        if (d.find("unable to lock file") != std::string::npos) f->locked = true;
        if (d.find("already open for write") != std::string::npos ||
            d.find("consistency flags") != std::string::npos)
          f->open_for_write = true;
        if (d.find("truncated file") != std::string::npos) f->truncated = true;
        return 0;
      },
      &facts);
  H5Eclear2(H5E_DEFAULT);
  return facts;
}

}  // namespace

std::string hdf5_failure(const std::string& fallback) {
  const int err = errno;
  const StackFacts f = stack_facts();
  if (f.locked) return errno_words(EAGAIN);
  if (f.sys_errno) return errno_words(f.sys_errno);
  if (err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES || err == EIO || err == EFBIG)
    return errno_words(err);
  return fallback;
}

hid_t check(hid_t id, const std::string& what, const std::string& file) {
  if (id >= 0) return id;
  throw IoError(fmt::format("{} {}: {}", what, shown(file), hdf5_failure()));
}

void check_status(herr_t st, const std::string& what, const std::string& file) {
  if (st >= 0) return;
  (void)check(H5I_INVALID_HID, what, file);
}

std::uint64_t check_readable(const std::string& path) {
  if (path.empty()) throw IoError("cannot open '': an empty file name");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot open {}: {}", shown(path),
                              err == ENOTDIR ? errno_words(ENOENT) : errno_words(err)));
  }
  if (S_ISDIR(st.st_mode))
    throw IoError(fmt::format("cannot open {}: is a directory", shown(path)));
  if (!S_ISREG(st.st_mode))
    throw IoError(fmt::format("cannot open {}: not a regular file", shown(path)));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot open {}: {}", shown(path), errno_words(err)));
  }
  ::close(fd);
  return static_cast<std::uint64_t>(st.st_size);
}

void remove_created(const std::string& path) noexcept {
  if (!path.empty()) (void)::unlink(path.c_str());
}

void rethrow_for_file(const IoError& e, const std::string& file) {
  const std::string msg = e.what();
  if (msg.find(shown(file)) != std::string::npos) throw e;
  throw IoError(fmt::format("writing {}: {}", shown(file), msg));
}

namespace {

H5Id file_access(bool swmr_format) {
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (swmr_format) H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  return fapl;
}

// The HDF5 signature at offset 0, 512, 1024, 2048, ... (a user block may come first).
bool has_hdf5_signature(const std::string& path, std::uint64_t size) {
  static const unsigned char kSig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool found = false;
  for (std::uint64_t at = 0; at + 8 <= size && !found; at = at ? 2 * at : 512) {
    unsigned char buf[8];
    if (::pread(fd, buf, 8, static_cast<off_t>(at)) != 8) break;
    found = std::memcmp(buf, kSig, 8) == 0;
  }
  ::close(fd);
  return found;
}

}  // namespace

H5Id open_for_write(const std::string& path, OpenMode mode, bool swmr_format, bool* appended,
                    bool* created) {
  quiet_hdf5();
  namespace fs = std::filesystem;
  if (appended) *appended = false;
  if (created) *created = false;
  if (path.empty()) throw IoError("cannot write '': an empty file name");
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  const int stat_err = exists ? 0 : errno;
  if (!exists && stat_err != ENOENT && stat_err != ENOTDIR)
    throw IoError(fmt::format("cannot write {}: {}", shown(path), errno_words(stat_err)));
  struct stat lst {};
  if (!exists && ::lstat(path.c_str(), &lst) == 0)
    throw IoError(fmt::format("cannot write {}: a symbolic link to a missing file", shown(path)));
  if (exists && S_ISDIR(st.st_mode))
    throw IoError(fmt::format("cannot write {}: is a directory", shown(path)));
  if (exists && mode == OpenMode::create)
    throw IoError(fmt::format("{} exists: pass --overwrite to replace it or --append to add to it",
                              shown(path)));
  const fs::path parent =
      fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  if (!exists) {
    struct stat pst {};
    if (::stat(parent.c_str(), &pst) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR)
        throw IoError(fmt::format("cannot write {}: directory {} does not exist", shown(path),
                                  shown(parent.string())));
      throw IoError(fmt::format("cannot write {}: {}", shown(path), errno_words(err)));
    }
    if (!S_ISDIR(pst.st_mode))
      throw IoError(fmt::format("cannot write {}: {} is not a directory", shown(path),
                                shown(parent.string())));
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
      const int err = errno;
      throw IoError(fmt::format("cannot create {}: directory {} is not writable ({})", shown(path),
                                shown(parent.string()), errno_words(err)));
    }
  } else if (::access(path.c_str(), W_OK) != 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot write {}: {}", shown(path), errno_words(err)));
  }
  H5Id fapl = file_access(swmr_format);
  if (mode == OpenMode::append && exists) {  // appending to a missing file creates it
    if (!S_ISREG(st.st_mode) || !has_hdf5_signature(path, static_cast<std::uint64_t>(st.st_size)))
      throw IoError(fmt::format("cannot append to {}: it is not an HDF5 file", shown(path)));
    errno = 0;
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get());
    if (f < 0) {
      const int err = errno;
      const StackFacts facts = stack_facts();
      if (facts.locked)
        throw IoError(fmt::format("cannot append to {}: {}", shown(path), errno_words(EAGAIN)));
      if (facts.open_for_write)
        throw IoError(fmt::format(
            "cannot append to {}: its writer did not close it (killed?); if no fp8sim is "
            "writing it any more, run 'h5clear -s {}' once, then append",
            shown(path), path.size() <= 48 ? path : "FILE"));
      if (facts.sys_errno || err == EACCES || err == EROFS)
        throw IoError(fmt::format("cannot append to {}: {}", shown(path),
                                  errno_words(facts.sys_errno ? facts.sys_errno : err)));
      throw IoError(fmt::format("cannot append to {}: it is truncated or damaged ({} bytes)",
                                shown(path), st.st_size));
    }
    if (appended) *appended = true;
    return H5Id(f);
  }
  errno = 0;
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (f < 0) {
    const std::string why = hdf5_failure();
    if (!exists) remove_created(path);  // a 0-byte leftover would make a retry say "exists"
    throw IoError(fmt::format("cannot create {}: {}", shown(path), why));
  }
  if (created) *created = !exists;
  return H5Id(f);
}

H5Id open_for_read(const std::string& path, bool* writer_open) {
  quiet_hdf5();
  if (writer_open) *writer_open = false;
  const std::uint64_t size = check_readable(path);
  if (size == 0) throw IoError(fmt::format("{} is empty (0 bytes), not an HDF5 file", shown(path)));
  if (!has_hdf5_signature(path, size))
    throw IoError(fmt::format("{} is not an HDF5 file", shown(path)));
  errno = 0;
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  StackFacts facts;
  if (f < 0) {
    facts = stack_facts();
    // a file its writer has not closed (killed, or still running) opens in SWMR-read mode
    f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f >= 0) {
      if (writer_open) *writer_open = true;
    } else {
      const StackFacts again = stack_facts();
      facts.locked |= again.locked;
      facts.truncated |= again.truncated;
      if (!facts.sys_errno) facts.sys_errno = again.sys_errno;
    }
  }
  if (f >= 0) return H5Id(f);
  if (facts.locked)
    throw IoError(fmt::format("cannot open {}: {}", shown(path), errno_words(EAGAIN)));
  if (!facts.truncated && (facts.sys_errno == EACCES || facts.sys_errno == EIO))
    throw IoError(fmt::format("cannot open {}: {}", shown(path), errno_words(facts.sys_errno)));
  throw IoError(fmt::format("{} is truncated or damaged ({} bytes)", shown(path), size));
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
  const htri_t r = H5Aexists(obj, name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

std::string read_string_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return {};
  H5Id a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!a.valid()) return {};
  H5Id ftype(H5Aget_type(a.get()));
  H5Id space(H5Aget_space(a.get()));
  if (H5Tget_class(ftype.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1)
    return {};
  if (H5Tis_variable_str(ftype.get()) > 0) {
    H5Id type = vlen_string_type();
    char* p = nullptr;
    if (H5Aread(a.get(), type.get(), &p) < 0 || !p) {
      H5Eclear2(H5E_DEFAULT);
      return {};
    }
    std::string s = p;
    H5free_memory(p);
    return s;
  }
  const std::size_t n = H5Tget_size(ftype.get());
  if (n == 0 || n > (1u << 24)) return {};
  std::string s(n, '\0');
  H5Id mtype(H5Tcopy(H5T_C_S1));
  H5Tset_size(mtype.get(), n);
  if (H5Aread(a.get(), mtype.get(), s.data()) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return {};
  }
  return s.substr(0, s.find('\0'));
}

std::int64_t read_int_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return 0;
  H5Id a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!a.valid()) return 0;
  H5Id ftype(H5Aget_type(a.get()));
  H5Id space(H5Aget_space(a.get()));
  if (H5Tget_class(ftype.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
    return 0;
  std::int64_t v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  return v;
}

std::string type_name(hid_t type) {
  const std::size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", 8 * size);
    case H5T_FLOAT:
      return fmt::format("float{}", 8 * size);
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound (structured or complex)";
    case H5T_ENUM:
      return "enum (bool or enum)";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_REFERENCE:
      return "reference";
    case H5T_VLEN:
      return "variable-length";
    case H5T_ARRAY:
      return "array";
    case H5T_TIME:
      return "time";
    default:
      return "unknown";
  }
}

std::string attr_type_name(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return {};
  H5Id a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!a.valid()) {
    H5Eclear2(H5E_DEFAULT);
    return "unreadable";
  }
  H5Id type(H5Aget_type(a.get()));
  H5Id space(H5Aget_space(a.get()));
  std::string t = type_name(type.get());
  if (H5Sget_simple_extent_type(space.get()) != H5S_SCALAR &&
      H5Sget_simple_extent_npoints(space.get()) != 1)
    t += " array";
  return t;
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
    if (!prefix.empty() && prefix != "/") {
      const htri_t r = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
      if (r <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    if (pos == std::string::npos) return true;
  }
}

H5O_type_t object_type(hid_t loc, const std::string& path) {
  if (path != "/" && !link_exists(loc, path)) return H5O_TYPE_UNKNOWN;
  if (H5Oexists_by_name(loc, path.c_str(), H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return H5O_TYPE_UNKNOWN;
  }
  H5O_info_t info;
  if (H5Oget_info_by_name2(loc, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return H5O_TYPE_UNKNOWN;
  }
  return info.type;
}

H5Id ensure_group(hid_t file, const std::string& path) {
  if (link_exists(file, path))
    return H5Id(check(H5Gopen2(file, path.c_str(), H5P_DEFAULT), "cannot open group", path));
  H5Id lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  return H5Id(check(H5Gcreate2(file, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                    "cannot create group", path));
}

}  // namespace fp8sim::analysis::detail
