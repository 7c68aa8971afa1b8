// workloads/checkpoint.cpp — a training run's state in an HDF5 file, written atomically.
#include "workloads/checkpoint.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/h5_file.hpp"
#include "formats/formats.hpp"
#include "workloads/nn/recipe_text.hpp"

namespace fp8sim::workloads {

namespace {

using analysis::IoError;
using analysis::detail::check;
using analysis::detail::check_status;
using analysis::detail::H5Id;

std::string num(double v) {
  return fmt::format("{}", v);
}

// The key (section.key) and line of the first line that differs between two TOML texts of
// recipe_to_toml; empty key when they are equal.
ConfigDifference recipe_difference(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
      const std::size_t end = s.find('\n', start);
      out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return out;
  };
  const auto la = lines(a), lb = lines(b);
  std::string section;
  for (std::size_t i = 0; i < std::max(la.size(), lb.size()); ++i) {
    const std::string x = i < la.size() ? la[i] : std::string(), y = i < lb.size() ? lb[i] : "";
    if (x == y) {
      if (x.size() > 2 && x.front() == '[' && x.find(']') != std::string::npos)
        section = x.substr(1, x.find(']') - 1);
      continue;
    }
    const std::string& line = x.empty() ? y : x;
    std::string key = line.substr(0, line.find('='));
    while (!key.empty() && key.back() == ' ') key.pop_back();
    if (key.empty() || key.front() == '[' || key.front() == '#')
      key = "recipe";
    else if (!section.empty())
      key = section + "." + key;
    return {"recipe", key, x, y};
  }
  return {};
}

// ---- writing

void write_str(hid_t obj, const std::string& name, const std::string& v) {
  analysis::detail::write_string_attr(obj, name, v);
}
void write_i64(hid_t obj, const std::string& name, std::uint64_t v) {
  analysis::detail::write_int_attr(obj, name, static_cast<std::int64_t>(v));
}
void write_f64(hid_t obj, const std::string& name, double v) {
  analysis::detail::write_double_attr(obj, name, v);
}

H5Id make_group(hid_t loc, const std::string& name, const std::string& file) {
  return H5Id(check(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    "cannot create group", file + ":" + name));
}

H5Id write_dataset(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type,
                   const std::vector<hsize_t>& dims, const void* data, const std::string& file) {
  H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  H5Id ds(check(
      H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      "cannot create dataset", file + ":" + name));
  check_status(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "cannot write",
               file + ":" + name);
  return ds;
}

std::vector<hsize_t> dims_of(const std::vector<std::size_t>& shape) {
  return {shape.begin(), shape.end()};
}

// Creates the groups of a name with '/' ("fc1/activation") under loc, returns the last.
H5Id make_path(hid_t loc, const std::string& name, const std::string& file) {
  H5Id g(H5Gopen2(loc, ".", H5P_DEFAULT));
  std::size_t start = 0;
  while (true) {
    const std::size_t end = name.find('/', start);
    const std::string seg = name.substr(start, end == std::string::npos ? end : end - start);
    H5Id next(H5Lexists(g.get(), seg.c_str(), H5P_DEFAULT) > 0
                  ? H5Gopen2(g.get(), seg.c_str(), H5P_DEFAULT)
                  : H5Gcreate2(g.get(), seg.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    check(next.get(), "cannot create group", file + ":" + name);
    g = std::move(next);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return g;
}

void write_state(hid_t f, const TrainState& s, const analysis::RunInfo& info,
                 const std::vector<std::pair<std::string, std::string>>& extra,
                 const std::string& file) {
  analysis::RunInfo ri = info;
  ri.kind = kCheckpointKind;
  analysis::detail::write_run_attrs(f, ri);
  {
    H5Id root(H5Gopen2(f, "/", H5P_DEFAULT));
    write_i64(root.get(), "checkpoint_version", kCheckpointVersion);
  }
  {
    H5Id g = make_group(f, "/config", file);
    for (const auto& [k, v] : s.config) write_str(g.get(), k, v);
    for (const auto& [k, v] : extra) write_str(g.get(), k, v);
  }
  {
    H5Id g = make_group(f, "/progress", file);
    write_i64(g.get(), "step", s.step);
    write_i64(g.get(), "epoch", s.epoch);
    write_i64(g.get(), "position", s.position);
    write_i64(g.get(), "images", s.images);
    write_f64(g.get(), "epoch_loss_sum", s.epoch_loss_sum);
    write_i64(g.get(), "epoch_correct", s.epoch_correct);
    write_i64(g.get(), "epoch_seen", s.epoch_seen);
    write_i64(g.get(), "epoch_units", s.epoch_units);
    write_f64(g.get(), "final_loss", s.final_loss);
    write_f64(g.get(), "validation_loss", s.validation.loss);
    write_f64(g.get(), "validation_accuracy", s.validation.accuracy);
    write_i64(g.get(), "validation_count", s.validation.count);
    write_f64(g.get(), "validation_exact_match", s.validation.exact_match);
    write_f64(g.get(), "seconds", s.seconds);
    write_i64(g.get(), "epochs", s.epochs);
    write_i64(g.get(), "checkpoint_every", s.checkpoint_every);
    (void)write_dataset(g.get(), "order", H5T_STD_U64LE, H5T_NATIVE_UINT64, {s.order.size()},
                        s.order.data(), file + ":/progress");
  }
  {
    H5Id p = make_group(f, "/params", file);
    H5Id m = make_group(f, "/master", file);
    H5Id o = make_group(f, "/optimizer", file);
    write_str(m.get(), "format", s.master_format);
    write_str(m.get(), "round", s.master_round);
    write_str(o.get(), "kind", s.optimizer);
    // codes in the narrowest unsigned type that holds the format's width (as dumps do)
    const int width = parse_format(s.master_format).width();
    const hid_t code_type = width <= 8    ? H5T_STD_U8LE
                            : width <= 16 ? H5T_STD_U16LE
                            : width <= 32 ? H5T_STD_U32LE
                                          : H5T_STD_U64LE;
    write_i64(o.get(), "state_per_element", s.optimizer_state_per_element);
    for (std::size_t i = 0; i < s.params.size(); ++i) {
      const ParamState& ps = s.params[i];
      H5Id ds = write_dataset(p.get(), ps.name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims_of(ps.shape),
                              ps.value.data(), file + ":/params");
      write_i64(ds.get(), "index", i);
      (void)write_dataset(m.get(), ps.name, code_type, H5T_NATIVE_UINT64, {ps.master.size()},
                          ps.master.data(), file + ":/master");
      H5Id g = make_group(o.get(), ps.name, file + ":/optimizer");
      write_i64(g.get(), "steps", ps.optimizer_steps);
      if (s.optimizer_state_per_element > 0)
        (void)write_dataset(g.get(), "state", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                            {s.optimizer_state_per_element, ps.value.size()},
                            ps.optimizer_state.data(), file + ":/optimizer/" + ps.name);
    }
  }
  {
    H5Id b = make_group(f, "/buffers", file);
    for (std::size_t i = 0; i < s.buffers.size(); ++i) {
      const BufferState& bs = s.buffers[i];
      H5Id ds = write_dataset(b.get(), bs.name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims_of(bs.shape),
                              bs.value.data(), file + ":/buffers");
      write_i64(ds.get(), "index", i);
    }
  }
  {
    H5Id g = make_group(f, "/loss_scaler", file);
    write_str(g.get(), "kind", s.loss_scaler);
    write_f64(g.get(), "scale", s.scaler.scale);
    write_i64(g.get(), "growth_tracker", s.scaler.growth_tracker);
    write_i64(g.get(), "updates", s.scaler.updates);
    write_i64(g.get(), "skipped_steps", s.scaler.skipped_steps);
    write_i64(g.get(), "overflow_events", s.scaler.overflow_events);
    write_f64(g.get(), "min_scale", s.min_scale);
  }
  {
    H5Id g = make_group(f, "/scales", file);
    for (const auto& [name, st] : s.scales) {
      H5Id leaf = make_path(g.get(), name, file + ":/scales");
      write_str(leaf.get(), "name", name);
      write_f64(leaf.get(), "scale", st.scale);
      write_i64(leaf.get(), "next", st.next);
      (void)write_dataset(leaf.get(), "history", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                          {st.history.size()}, st.history.data(), file + ":/scales/" + name);
    }
  }
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// fsync(path); keep_open: returns the descriptor (else -1).
int fsync_path(const std::string& path, bool directory, const std::string& shown_file,
               bool keep_open = false) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot write {}: {}", shown(shown_file), errno_text(err)));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  // a folder on a file system that cannot sync folders (EINVAL) is as synced as it gets
  if (rc != 0 && !(directory && (err == EINVAL || err == EROFS))) {
    ::close(fd);
    throw IoError(fmt::format("cannot write {}: {}", shown(shown_file), errno_text(err)));
  }
  if (keep_open) return fd;
  ::close(fd);
  return -1;
}

// Writes the checkpoint atomically; lock: the new file's descriptor, locked shared before
// it takes the checkpoint's name, is returned (else -1).
int write_checkpoint(const std::filesystem::path& path, const TrainState& state,
                     const analysis::RunInfo& info,
                     const std::vector<std::pair<std::string, std::string>>& extra, bool lock) {
  const std::string file = path.string();
  const std::filesystem::path tmp_path = checkpoint_temp_path(path);
  const std::string tmp = tmp_path.string();
  int fd = -1;
  try {
    {
      H5Id f = analysis::detail::open_for_write(tmp, analysis::OpenMode::overwrite, false, nullptr);
      write_state(f.get(), state, info, extra, tmp);
      if (!f.close())
        throw IoError(
            fmt::format("cannot write {}: {}", shown(tmp), analysis::detail::hdf5_failure()));
    }
    fd = fsync_path(tmp, false, tmp, lock);
    if (lock) (void)::flock(fd, LOCK_SH);
    if (std::rename(tmp.c_str(), file.c_str()) != 0) {
      const int err = errno;
      throw IoError(fmt::format("cannot write {}: {}", shown(file), errno_text(err)));
    }
  } catch (const IoError& e) {
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    const std::string msg = e.what();
    if (msg.find(shown(file)) != std::string::npos) throw;
    throw IoError(fmt::format("writing checkpoint {}: {}", shown(file), msg));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  try {
    (void)fsync_path(dir.string(), true, file);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
  return fd;
}

// ---- reading

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  throw CheckpointError(fmt::format("checkpoint {}: {}", shown(file), what));
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  H5Id group(hid_t loc, const std::string& path) const {
    if (analysis::detail::object_type(loc, path) != H5O_TYPE_GROUP)
      bad(file_, fmt::format("{} is missing (not a training checkpoint of this version?)", path));
    return H5Id(H5Gopen2(loc, path.c_str(), H5P_DEFAULT));
  }
  std::string str(hid_t obj, const std::string& where, const std::string& name) const {
    if (analysis::detail::attr_type_name(obj, name) != "string")
      bad(file_, fmt::format("{}@{} is missing or not a string", where, name));
    return analysis::detail::read_string_attr(obj, name);
  }
  std::uint64_t u64(hid_t obj, const std::string& where, const std::string& name) const {
    const std::string t = analysis::detail::attr_type_name(obj, name);
    if (t.rfind("int", 0) != 0 && t.rfind("uint", 0) != 0)
      bad(file_, fmt::format("{}@{} is missing or not an integer", where, name));
    const std::int64_t v = analysis::detail::read_int_attr(obj, name);
    if (v < 0) bad(file_, fmt::format("{}@{} is negative ({})", where, name, v));
    return static_cast<std::uint64_t>(v);
  }
  double f64(hid_t obj, const std::string& where, const std::string& name) const {
    if (analysis::detail::attr_type_name(obj, name).rfind("float", 0) != 0)
      bad(file_, fmt::format("{}@{} is missing or not a float", where, name));
    H5Id a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
    double v = 0;
    if (!a.valid() || H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0)
      bad(file_, fmt::format("{}@{} cannot be read", where, name));
    return v;
  }
  // A dataset of the class (H5T_FLOAT or H5T_INTEGER) and element size, any shape; its
  // dimensions in *dims. Returns the open dataset.
  // size 0: an unsigned integer of any size
  H5Id dataset(hid_t loc, const std::string& where, const std::string& name, H5T_class_t cls,
               std::size_t size, std::vector<std::size_t>& dims) const {
    const std::string path = where + "/" + name;
    if (analysis::detail::object_type(loc, name) != H5O_TYPE_DATASET)
      bad(file_, fmt::format("{} is missing", path));
    H5Id ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT));
    H5Id type(H5Dget_type(ds.get()));
    H5Id space(H5Dget_space(ds.get()));
    const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    const bool size_ok =
        size ? H5Tget_size(type.get()) == size
             : H5Tget_size(type.get()) <= 8 && H5Tget_sign(type.get()) == H5T_SGN_NONE;
    if (!ds.valid() || H5Tget_class(type.get()) != cls || !size_ok || rank < 0 || rank > 8)
      bad(file_, fmt::format("{} is not {}", path,
                             cls == H5T_FLOAT ? fmt::format("float{}", 8 * size)
                             : size           ? fmt::format("an integer of {} bytes", size)
                                              : std::string("an unsigned integer")));
    std::vector<hsize_t> d(static_cast<std::size_t>(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
    dims.assign(d.begin(), d.end());
    return ds;
  }
  // T uint64_t reads any unsigned integer type
  template <class T>
  std::vector<T> read(hid_t loc, const std::string& where, const std::string& name,
                      std::vector<std::size_t>& dims, std::size_t max_elements) const {
    constexpr bool is_float = std::is_floating_point_v<T>;
    H5Id ds = dataset(loc, where, name, is_float ? H5T_FLOAT : H5T_INTEGER,
                      is_float ? sizeof(T) : 0, dims);
    std::size_t n = 1;
    for (const std::size_t d : dims) {
      if (d != 0 && n > max_elements / d)
        bad(file_, fmt::format("{}/{} is too large", where, name));
      n *= d;
    }
    if (n > max_elements) bad(file_, fmt::format("{}/{} is too large", where, name));
    std::vector<T> out(n);
    hid_t mem = H5T_NATIVE_UINT64;
    if constexpr (std::is_same_v<T, float>) mem = H5T_NATIVE_FLOAT;
    if constexpr (std::is_same_v<T, double>) mem = H5T_NATIVE_DOUBLE;
    if (n && H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      bad(file_, fmt::format("{}/{} cannot be read ({})", where, name,
                             analysis::detail::hdf5_failure("damaged")));
    return out;
  }
  // The names of the links in a group, in name order.
  std::vector<std::string> members(hid_t g) const {
    H5G_info_t gi{};
    if (H5Gget_info(g, &gi) < 0) bad(file_, "a group cannot be read");
    std::vector<std::string> out;
    for (hsize_t i = 0; i < gi.nlinks; ++i) {
      const ssize_t len =
          H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) bad(file_, "a group cannot be read");
      std::string name(static_cast<std::size_t>(len) + 1, '\0');
      H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                         H5P_DEFAULT);
      name.resize(static_cast<std::size_t>(len));
      out.push_back(std::move(name));
    }
    return out;
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

herr_t collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

constexpr std::size_t kMaxElements = std::size_t{1} << 32;  // 32 GiB of floats: never real

void read_scales(const Reader& r, hid_t g, const std::string& prefix, ScaleStates& out, int depth) {
  if (depth > 16) bad(r.file(), "/scales is nested too deeply");
  for (const std::string& m : r.members(g)) {
    const std::string where = "/scales/" + prefix + m;
    if (analysis::detail::object_type(g, m) != H5O_TYPE_GROUP)
      bad(r.file(), fmt::format("{} is not a group", where));
    H5Id c(H5Gopen2(g, m.c_str(), H5P_DEFAULT));
    if (!analysis::detail::has_attr(c.get(), "scale")) {
      read_scales(r, c.get(), prefix + m + "/", out, depth + 1);
      continue;
    }
    ScaleState st;
    const std::string name = r.str(c.get(), where, "name");
    if (name != prefix + m)
      bad(r.file(),
          fmt::format("{}@name is {}, its path says {}", where, shown(name), shown(prefix + m)));
    st.scale = r.f64(c.get(), where, "scale");
    st.next = r.u64(c.get(), where, "next");
    std::vector<std::size_t> dims;
    st.history = r.read<double>(c.get(), where, "history", dims, kMaxElements);
    if (dims.size() != 1) bad(r.file(), fmt::format("{}/history is not 1-D", where));
    out[name] = std::move(st);
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> checkpoint_config(const TrainOptions& o) {
  return {{"workload", o.workload},
          {"recipe", recipe_to_toml(o.recipe)},
          {"seed", std::to_string(o.seed)},
          {"train_size", std::to_string(o.train_size)},
          {"validation_size", std::to_string(o.validation_size)},
          {"test_size", std::to_string(o.test_size)},
          {"batch", std::to_string(o.batch)},
          {"optimizer", o.optimizer},
          {"lr", num(o.lr)},
          {"momentum", num(o.momentum)},
          {"weight_decay", num(o.weight_decay)},
          {"schedule", o.schedule},
          {"mlp_sizes", fmt::format("{}", fmt::join(o.mlp_sizes, ","))},
          {"resnet_width", std::to_string(o.resnet_width)},
          {"task", o.task},
          {"max_number", std::to_string(o.max_number)},
          {"label_smoothing", num(o.label_smoothing)},
          {"dropout", num(o.dropout)}};
}

const std::string* config_value(const TrainState& s, const std::string& key) {
  for (const auto& [k, v] : s.config)
    if (k == key) return &v;
  return nullptr;
}

std::vector<ConfigDifference> config_differences(const TrainState& s, const TrainOptions& o) {
  std::vector<ConfigDifference> out;
  for (const auto& [k, v] : checkpoint_config(o)) {
    const std::string* have = config_value(s, k);
    if (have && *have == v) continue;
    if (have && k == "recipe") {
      out.push_back(recipe_difference(*have, v));
      continue;
    }
    out.push_back({k, {}, have ? *have : "(none)", v});
  }
  return out;
}

std::filesystem::path checkpoint_temp_path(const std::filesystem::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".tmp");
}

void save_checkpoint(const std::filesystem::path& path, const TrainState& state,
                     const analysis::RunInfo& info,
                     const std::vector<std::pair<std::string, std::string>>& extra) {
  (void)write_checkpoint(path, state, info, extra, false);
}

CheckpointFile::CheckpointFile(std::filesystem::path path) : path_(std::move(path)) {}

CheckpointFile::~CheckpointFile() {
  if (fd_ >= 0) ::close(fd_);
}

void CheckpointFile::lock_existing() {
  const std::string file = path_.string();
  // A writer holds a shared lock on the file under the name as long as it runs (it locks a
  // new checkpoint before renaming it over the old one); readers (h5dump, h5py) only for a
  // moment: try for about a second. A file replaced while we locked it is tried again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      throw CheckpointError(fmt::format("cannot open {}: {}", shown(file), errno_text(err)));
    }
    bool got = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (!got && errno != EWOULDBLOCK && errno != EINTR) got = true;  // no locks on this fs
    struct stat a {
    }, b{};
    if (got && ::fstat(fd, &a) == 0 && ::stat(file.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
      (void)::flock(fd, LOCK_SH);
      if (fd_ >= 0) ::close(fd_);
      fd_ = fd;
      return;
    }
    ::close(fd);
    ::usleep(10000);
  }
  throw CheckpointError(fmt::format(
      "{} is in use: a running fp8sim train writes it (stop that run first)", shown(file)));
}

void CheckpointFile::save(const TrainState& state, const analysis::RunInfo& info,
                          const std::vector<std::pair<std::string, std::string>>& extra) {
  const int fd = write_checkpoint(path_, state, info, extra, true);
  if (fd_ >= 0) ::close(fd_);  // the lock of the file the new one replaced
  fd_ = fd;
}

TrainState load_checkpoint(const std::filesystem::path& path) {
  const std::string file = path.string();
  H5Id f = analysis::detail::open_for_read(file);
  const Reader r(file);
  TrainState s;
  {
    H5Id root(H5Gopen2(f.get(), "/", H5P_DEFAULT));
    const std::string kind = analysis::detail::attr_type_name(root.get(), "kind") == "string"
                                 ? analysis::detail::read_string_attr(root.get(), "kind")
                                 : std::string();
    if (kind != kCheckpointKind)
      throw CheckpointError(fmt::format(
          "{} is not a training checkpoint ({}; fp8sim train --checkpoint-every writes them)",
          shown(file), kind.empty() ? std::string("no /@kind") : "/@kind " + shown(kind)));
    const std::uint64_t v = r.u64(root.get(), "/", "checkpoint_version");
    if (v != static_cast<std::uint64_t>(kCheckpointVersion))
      bad(file, fmt::format("checkpoint_version {} (this fp8sim reads version {})", v,
                            kCheckpointVersion));
  }
  {
    H5Id g = r.group(f.get(), "/config");
    std::vector<std::string> names;
    hsize_t idx = 0;
    if (H5Aiterate2(g.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, &names) < 0)
      bad(file, "/config cannot be read");
    for (const std::string& name : names)
      s.config.emplace_back(name, r.str(g.get(), "/config", name));
  }
  {
    H5Id g = r.group(f.get(), "/progress");
    const hid_t p = g.get();
    const std::string w = "/progress";
    s.step = r.u64(p, w, "step");
    s.epoch = r.u64(p, w, "epoch");
    s.position = r.u64(p, w, "position");
    s.images = r.u64(p, w, "images");
    s.epoch_loss_sum = r.f64(p, w, "epoch_loss_sum");
    s.epoch_correct = r.u64(p, w, "epoch_correct");
    s.epoch_seen = r.u64(p, w, "epoch_seen");
    s.epoch_units = r.u64(p, w, "epoch_units");
    s.final_loss = r.f64(p, w, "final_loss");
    s.validation.loss = r.f64(p, w, "validation_loss");
    s.validation.accuracy = r.f64(p, w, "validation_accuracy");
    s.validation.count = r.u64(p, w, "validation_count");
    s.validation.exact_match = r.f64(p, w, "validation_exact_match");
    s.seconds = r.f64(p, w, "seconds");
    s.epochs = r.u64(p, w, "epochs");
    s.checkpoint_every = r.u64(p, w, "checkpoint_every");
    std::vector<std::size_t> dims;
    s.order = r.read<std::uint64_t>(p, w, "order", dims, kMaxElements);
    if (dims.size() != 1) bad(file, "/progress/order is not 1-D");
  }
  {
    H5Id pg = r.group(f.get(), "/params");
    H5Id mg = r.group(f.get(), "/master");
    H5Id og = r.group(f.get(), "/optimizer");
    s.master_format = r.str(mg.get(), "/master", "format");
    s.master_round = r.str(mg.get(), "/master", "round");
    s.optimizer = r.str(og.get(), "/optimizer", "kind");
    s.optimizer_state_per_element = r.u64(og.get(), "/optimizer", "state_per_element");
    if (s.optimizer_state_per_element > 2)
      bad(file, fmt::format("/optimizer@state_per_element is {} (at most 2)",
                            s.optimizer_state_per_element));
    std::vector<std::pair<std::uint64_t, ParamState>> params;
    for (const std::string& name : r.members(pg.get())) {
      ParamState ps;
      ps.name = name;
      std::vector<std::size_t> dims;
      {
        H5Id ds = r.dataset(pg.get(), "/params", name, H5T_FLOAT, 4, dims);
        const std::uint64_t index = r.u64(ds.get(), "/params/" + name, "index");
        ps.value = r.read<float>(pg.get(), "/params", name, ps.shape, kMaxElements);
        params.emplace_back(index, std::move(ps));
      }
      ParamState& p = params.back().second;
      p.master = r.read<std::uint64_t>(mg.get(), "/master", name, dims, kMaxElements);
      if (p.master.size() != p.value.size())
        bad(file, fmt::format("/master/{} has {} codes, /params/{} {} values", name,
                              p.master.size(), name, p.value.size()));
      if (analysis::detail::object_type(og.get(), name) != H5O_TYPE_GROUP)
        bad(file, fmt::format("/optimizer/{} is missing", name));
      H5Id o(H5Gopen2(og.get(), name.c_str(), H5P_DEFAULT));
      p.optimizer_steps = r.u64(o.get(), "/optimizer/" + name, "steps");
      if (s.optimizer_state_per_element > 0) {
        p.optimizer_state =
            r.read<float>(o.get(), "/optimizer/" + name, "state", dims, kMaxElements);
        if (dims.size() != 2 || dims[0] != s.optimizer_state_per_element ||
            dims[1] != p.value.size())
          bad(file, fmt::format("/optimizer/{}/state is not [{}, {}]", name,
                                s.optimizer_state_per_element, p.value.size()));
      }
    }
    std::sort(params.begin(), params.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i].first != i)
        bad(file, fmt::format("/params@index values are not 0 to {}", params.size() - 1));
      s.params.push_back(std::move(params[i].second));
    }
  }
  {
    H5Id g = r.group(f.get(), "/buffers");
    std::vector<std::pair<std::uint64_t, BufferState>> buffers;
    for (const std::string& name : r.members(g.get())) {
      BufferState b;
      b.name = name;
      std::vector<std::size_t> dims;
      H5Id ds = r.dataset(g.get(), "/buffers", name, H5T_FLOAT, 4, dims);
      const std::uint64_t index = r.u64(ds.get(), "/buffers/" + name, "index");
      b.value = r.read<float>(g.get(), "/buffers", name, b.shape, kMaxElements);
      buffers.emplace_back(index, std::move(b));
    }
    std::sort(buffers.begin(), buffers.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      if (buffers[i].first != i)
        bad(file, fmt::format("/buffers@index values are not 0 to {}", buffers.size() - 1));
      s.buffers.push_back(std::move(buffers[i].second));
    }
  }
  {
    H5Id g = r.group(f.get(), "/loss_scaler");
    const hid_t p = g.get();
    const std::string w = "/loss_scaler";
    s.loss_scaler = r.str(p, w, "kind");
    s.scaler.scale = r.f64(p, w, "scale");
    s.scaler.growth_tracker = r.u64(p, w, "growth_tracker");
    s.scaler.updates = r.u64(p, w, "updates");
    s.scaler.skipped_steps = r.u64(p, w, "skipped_steps");
    s.scaler.overflow_events = r.u64(p, w, "overflow_events");
    s.min_scale = r.f64(p, w, "min_scale");
  }
  {
    H5Id g = r.group(f.get(), "/scales");
    read_scales(r, g.get(), "", s.scales, 0);
  }
  return s;
}

}  // namespace fp8sim::workloads
