// analysis/recorder.cpp — tables of per-step rows in extendible HDF5 datasets, SWMR.
#include "analysis/recorder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <exception>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace fp8sim::analysis {

using detail::check;
using detail::check_status;
using detail::H5Id;

namespace {

enum class Kind { i64, u64, f64 };

constexpr hsize_t kChunkRows = 256;

struct Column {
  std::string name;
  Kind kind;
  hsize_t width = 1;              ///< 1: a 1-D dataset [steps]; W: a 2-D dataset [steps, W]
  std::string unit, description;  ///< the dataset's @unit and @description (series; if set)
  H5Id ds;
  std::vector<std::uint64_t> ubuf;  ///< i64 (bit-cast) and u64 values
  std::vector<double> dbuf;
};

hid_t file_type(Kind k) {
  return k == Kind::i64 ? H5T_STD_I64LE : k == Kind::u64 ? H5T_STD_U64LE : H5T_IEEE_F64LE;
}
hid_t mem_type(Kind k) {
  return k == Kind::i64 ? H5T_NATIVE_INT64 : k == Kind::u64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_DOUBLE;
}

// One group of columns with one row per recorded step. Column 0 is `step` (int64, fill
// -1); it is written last in every flush, so a row whose step reads -1 was cut off.
class Table {
 public:
  Table(std::string path, std::string file) : path_(std::move(path)), file_(std::move(file)) {
    add("step", Kind::i64);
  }
  void add(std::string name, Kind k, hsize_t width = 1, std::string unit = {},
           std::string description = {}) {
    cols_.push_back(
        Column{std::move(name), k, width, std::move(unit), std::move(description), {}, {}, {}});
  }
  void describe(std::size_t col, std::string unit, std::string description) {
    cols_.at(col).unit = std::move(unit);
    cols_.at(col).description = std::move(description);
  }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::size_t columns() const { return cols_.size(); }
  [[nodiscard]] Kind kind(std::size_t col) const { return cols_.at(col).kind; }
  [[nodiscard]] const std::string& name(std::size_t col) const { return cols_.at(col).name; }

  void create(hid_t group) {
    for (auto& c : cols_) {
      const int rank = c.width == 1 ? 1 : 2;
      const hsize_t dims[2] = {0, c.width}, maxdims[2] = {H5S_UNLIMITED, c.width};
      const hsize_t chunk[2] = {c.width == 1 ? kChunkRows : 64, c.width};
      H5Id space(H5Screate_simple(rank, dims, maxdims));
      H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
      H5Pset_chunk(dcpl.get(), rank, chunk);
      H5Pset_deflate(dcpl.get(), 4);
      if (c.kind == Kind::i64) {
        const std::int64_t fill = -1;
        H5Pset_fill_value(dcpl.get(), H5T_NATIVE_INT64, &fill);
      }
      c.ds = H5Id(check(H5Dcreate2(group, c.name.c_str(), file_type(c.kind), space.get(),
                                   H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                        "cannot create dataset", file_ + ":" + path_ + "/" + c.name));
      if (!c.unit.empty()) detail::write_string_attr(c.ds.get(), "unit", c.unit);
      if (!c.description.empty())
        detail::write_string_attr(c.ds.get(), "description", c.description);
    }
  }

  // Opens the datasets of an existing group and checks them (nothing is changed yet);
  // rows = the shortest column (a crash may have left some longer), trailing rows whose
  // step is -1 dropped. trim() then cuts every column to that.
  void open(hid_t group) {
    hsize_t rows = std::numeric_limits<hsize_t>::max();
    for (auto& c : cols_) {
      if (detail::object_type(group, c.name) != H5O_TYPE_DATASET)
        throw IoError(fmt::format(
            "cannot append to {}: {}/{} is missing (the file was written by a different "
            "run layout)",
            shown(file_), path_, c.name));
      c.ds = H5Id(H5Dopen2(group, c.name.c_str(), H5P_DEFAULT));
      if (!c.ds.valid())
        throw IoError(
            fmt::format("cannot append to {}: {}/{} is damaged", shown(file_), path_, c.name));
      H5Id type(H5Dget_type(c.ds.get()));
      const bool type_ok = H5Tequal(type.get(), file_type(c.kind)) > 0;
      H5Id space(H5Dget_space(c.ds.get()));
      const int rank = H5Sget_simple_extent_ndims(space.get());
      hsize_t dims[2] = {0, 0}, maxdims[2] = {0, 0};
      if (rank == 1 || rank == 2) H5Sget_simple_extent_dims(space.get(), dims, maxdims);
      if (!type_ok || rank != (c.width == 1 ? 1 : 2) || (rank == 2 && dims[1] != c.width) ||
          maxdims[0] != H5S_UNLIMITED)
        throw IoError(fmt::format("cannot append to {}: {}/{} has a different dtype or shape",
                                  shown(file_), path_, c.name));
      rows = std::min(rows, dims[0]);
    }
    std::vector<std::int64_t> steps(rows);
    if (rows) read_column(0, 0, rows, steps.data());
    while (rows && steps[rows - 1] < 0) --rows;
    rows_ = rows;
    last_step_ = rows ? steps[rows - 1] : -1;
  }
  void trim() {
    for (auto& c : cols_) {
      hsize_t dims[2] = {rows_, c.width};
      check_status(H5Dset_extent(c.ds.get(), dims), "cannot resize",
                   file_ + ":" + path_ + "/" + c.name);
    }
  }

  [[nodiscard]] std::int64_t last_step() const { return last_step_; }
  [[nodiscard]] std::uint64_t buffered() const { return buffered_; }
  [[nodiscard]] std::uint64_t rows_on_disk() const { return rows_; }

  // Row building: values in column order after the step.
  void begin(std::int64_t step) {
    if (filled_ != 0) throw std::logic_error("recorder: row not finished");
    push_i64(step);
    last_step_ = std::max(last_step_, step);
  }
  void push_i64(std::int64_t v) {
    cols_.at(filled_++).ubuf.push_back(static_cast<std::uint64_t>(v));
  }
  void push_u64(std::uint64_t v) { cols_.at(filled_++).ubuf.push_back(v); }
  void push_f64(double v) { cols_.at(filled_++).dbuf.push_back(v); }
  void push_vec(const std::vector<std::uint64_t>& v) {
    Column& c = cols_.at(filled_++);
    if (v.size() != c.width)
      throw std::invalid_argument(fmt::format("recorder: {}/{} takes {} values per row, got {}",
                                              path_, c.name, c.width, v.size()));
    c.ubuf.insert(c.ubuf.end(), v.begin(), v.end());
  }
  void end() {
    if (filled_ != cols_.size())
      throw std::logic_error(
          fmt::format("recorder: {} row has {} of {} columns", path_, filled_, cols_.size()));
    filled_ = 0;
    ++buffered_;
  }

  void write() {
    if (!buffered_) return;
    const hsize_t n = buffered_;
    // step last: a row is complete once its step is on disk
    for (std::size_t j = 1; j <= cols_.size(); ++j) {
      Column& c = cols_[j % cols_.size()];
      const hsize_t dims[2] = {rows_ + n, c.width};
      const std::string where = file_ + ":" + path_ + "/" + c.name;
      check_status(H5Dset_extent(c.ds.get(), dims), "cannot extend", where);
      H5Id fs(H5Dget_space(c.ds.get()));
      const hsize_t start[2] = {rows_, 0}, count[2] = {n, c.width};
      const int rank = c.width == 1 ? 1 : 2;
      H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
      H5Id ms(H5Screate_simple(rank, count, nullptr));
      const void* data = c.kind == Kind::f64 ? static_cast<const void*>(c.dbuf.data())
                                             : static_cast<const void*>(c.ubuf.data());
      check_status(H5Dwrite(c.ds.get(), mem_type(c.kind), ms.get(), fs.get(), H5P_DEFAULT, data),
                   "cannot write", where);
      c.ubuf.clear();
      c.dbuf.clear();
    }
    rows_ += n;
    buffered_ = 0;
  }

 private:
  void read_column(std::size_t col, hsize_t first, hsize_t n, void* out) {
    Column& c = cols_[col];
    H5Id fs(H5Dget_space(c.ds.get()));
    const hsize_t start[1] = {first}, count[1] = {n};
    H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Id ms(H5Screate_simple(1, count, nullptr));
    check_status(H5Dread(c.ds.get(), mem_type(c.kind), ms.get(), fs.get(), H5P_DEFAULT, out),
                 "cannot read", file_ + ":" + path_ + "/" + c.name);
  }

  std::string path_, file_;
  std::vector<Column> cols_;
  std::size_t filled_ = 0;
  hsize_t buffered_ = 0, rows_ = 0;
  std::int64_t last_step_ = -1;
};

void add_stats_columns(Table& t, std::size_t bins) {
  for (const char* c :
       {"count", "zeros_in", "underflow", "flushed_subnormal", "subnormal_out", "overflow",
        "saturated", "nan_in", "inf_in", "nan_out", "inf_out", "error_count"})
    t.add(c, Kind::u64);
  for (const char* c :
       {"error_mean", "error_var", "max_abs_error", "rel_error_mean", "sqnr_db", "amax"})
    t.add(c, Kind::f64);
  t.add("histogram", Kind::u64, bins);
}

void push_stats(Table& t, const TensorStats& s) {
  for (std::uint64_t v :
       {s.count, s.zeros_in, s.underflow, s.flushed_subnormal, s.subnormal_out, s.overflow,
        s.saturated, s.nan_in, s.inf_in, s.nan_out, s.inf_out, s.error_count})
    t.push_u64(v);
  for (double v : {s.error_mean, s.error_var, s.max_abs_error, s.rel_error_mean, s.sqnr_db, s.amax})
    t.push_f64(v);
  t.push_vec(s.histogram);
}

void check_name(const std::string& what, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw std::invalid_argument(
        fmt::format("{} name '{}' is not allowed (non-empty, no '/')", what, name));
}

// A group path relative to the root ("train/updates/fc1.weight"): returns "/train/...".
std::string group_path(const std::string& what, const std::string& path) {
  auto refuse = [&](const char* why) {
    throw std::invalid_argument(
        fmt::format("recorder: {} path {} is not allowed ({}; a path relative to the root such as "
                    "train/steps)",
                    what, shown(path), why));
  };
  if (path.empty()) refuse("empty");
  if (path.front() == '/') refuse("a leading '/'");
  std::size_t start = 0;
  std::string first;
  while (true) {
    const std::size_t end = path.find('/', start);
    const std::string seg = path.substr(start, end == std::string::npos ? end : end - start);
    if (seg.empty()) refuse("an empty segment");
    if (seg == "." || seg == "..") refuse("'.' and '..' are not allowed");
    if (first.empty()) first = seg;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  for (const char* reserved : {"status", "quantizers", "gemms", "gradients", "dumps"})
    if (first == reserved)
      refuse("/status, /quantizers, /gemms, /gradients and /dumps are fp8sim's own");
  return "/" + path;
}

Kind kind_of(SeriesColumn::Type t) {
  switch (t) {
    case SeriesColumn::Type::i64:
      return Kind::i64;
    case SeriesColumn::Type::u64:
      return Kind::u64;
    case SeriesColumn::Type::f64:
      return Kind::f64;
  }
  throw std::invalid_argument("recorder: unknown series column type");
}

// /status: four scalar int64 datasets, made before SWMR starts and overwritten at close.
constexpr const char* kStatusFields[] = {"state", "signal", "last_step", "end_time"};
constexpr const char* kStatesText =
    "0 running (never closed if its writer is gone: killed), 1 complete, 2 stopped by a "
    "signal, 3 failed (ended by an error)";

struct StatusSets {
  H5Id ds[4];
};

void write_scalar(hid_t ds, std::int64_t v, const std::string& where) {
  check_status(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v), "cannot write",
               where);
}

StatusSets create_status(hid_t file, const std::string& path) {
  StatusSets s;
  H5Id g = detail::ensure_group(file, "/status");
  detail::write_string_attr(g.get(), "states", kStatesText);
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);  // storage exists before SWMR starts
  for (int i = 0; i < 4; ++i)
    s.ds[i] = H5Id(check(H5Dcreate2(g.get(), kStatusFields[i], H5T_STD_I64LE, space.get(),
                                    H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                         "cannot create dataset", path + ":/status/" + kStatusFields[i]));
  return s;
}

// Opens (and checks) the /status of a file being appended to; empty ids when it has none.
StatusSets open_status(hid_t file, const std::string& path) {
  StatusSets s;
  if (detail::object_type(file, "/status") != H5O_TYPE_GROUP)
    throw IoError(
        fmt::format("cannot append to {}: it has no /status group (schema_version 2 "
                    "wants one)",
                    shown(path)));
  for (int i = 0; i < 4; ++i) {
    const std::string p = std::string("/status/") + kStatusFields[i];
    bool ok = detail::object_type(file, p) == H5O_TYPE_DATASET;
    if (ok) {
      s.ds[i] = H5Id(H5Dopen2(file, p.c_str(), H5P_DEFAULT));
      H5Id type(H5Dget_type(s.ds[i].get()));
      H5Id space(H5Dget_space(s.ds[i].get()));
      ok = s.ds[i].valid() && H5Tget_class(type.get()) == H5T_INTEGER &&
           H5Tget_size(type.get()) == 8 && H5Sget_simple_extent_type(space.get()) == H5S_SCALAR;
    }
    if (!ok)
      throw IoError(
          fmt::format("cannot append to {}: {} is missing or not a scalar int64", shown(path), p));
  }
  return s;
}

void write_status(const StatusSets& s, RunState state, std::int64_t signo, std::int64_t last_step,
                  std::int64_t end_time, const std::string& path) {
  // state last: a file killed in the middle of this still says "running"
  write_scalar(s.ds[1].get(), signo, path + ":/status/signal");
  write_scalar(s.ds[2].get(), last_step, path + ":/status/last_step");
  write_scalar(s.ds[3].get(), end_time, path + ":/status/end_time");
  write_scalar(s.ds[0].get(), static_cast<std::int64_t>(state), path + ":/status/state");
}

}  // namespace

struct Recorder::Impl {
  std::string path;
  H5Id file;
  RunInfo info;
  bool appending = false, started = false, closed = false, created = false;
  int uncaught = 0;                ///< std::uncaught_exceptions() at construction
  std::uint64_t rows_written = 0;  ///< rows this process flushed (all points)
  int stop_signal = -1;            ///< mark_stopped(): the signal; -1: not stopped
  std::int64_t stop_step = -1;
  StatusSets status;
  std::uint64_t flush_every = 16, steps_since_flush = 0;
  std::vector<Table> tables;
  std::vector<std::map<std::string, std::string>> str_attrs;
  std::vector<std::map<std::string, std::int64_t>> int_attrs;
  std::vector<bool> is_series;  ///< per table: declared by add_series
  /// set_group_attr: absolute group path -> attribute -> value
  std::map<std::string, std::map<std::string, std::variant<std::string, std::int64_t>>> group_attrs;

  int declare(const std::string& group_path) {
    if (started) throw std::logic_error("recorder: points must be declared before start()");
    for (const auto& t : tables)
      if (t.path() == group_path)
        throw std::invalid_argument(fmt::format("recorder: {} declared twice", group_path));
    tables.emplace_back(group_path, path);
    str_attrs.emplace_back();
    int_attrs.emplace_back();
    is_series.push_back(false);
    return static_cast<int>(tables.size()) - 1;
  }
  // After a failure while the file is being made: close it and remove it if it is ours.
  void abandon() noexcept {
    tables.clear();
    status = StatusSets{};
    file.reset();
    closed = true;
    if (created && rows_written == 0) detail::remove_created(path);
  }
  Table& table(int id) {
    if (id < 0 || static_cast<std::size_t>(id) >= tables.size())
      throw std::invalid_argument(fmt::format("recorder: no point with id {}", id));
    return tables[static_cast<std::size_t>(id)];
  }
};

Recorder::Recorder(const std::string& path, OpenMode mode, const RunInfo& info,
                   std::uint64_t flush_every)
    : impl_(std::make_unique<Impl>()) {
  if (flush_every == 0)
    throw std::invalid_argument("flush interval 0 is not allowed (at least 1 step)");
  impl_->path = path;
  impl_->info = info;
  impl_->flush_every = flush_every;
  impl_->uncaught = std::uncaught_exceptions();
  impl_->file = detail::open_for_write(path, mode, true, &impl_->appending, &impl_->created);
}

Recorder::~Recorder() {
  Impl& r = *impl_;
  if (r.closed) return;
  if (std::uncaught_exceptions() > r.uncaught) {  // the command failed
    if (r.created && r.rows_written == 0) {
      r.abandon();
      return;
    }
    try {
      close(RunState::failed);
    } catch (...) {
    }
    return;
  }
  try {
    close();
  } catch (...) {  // a destructor must not throw; close() reports errors to callers who ask
  }
}

int Recorder::add_quantizer(const std::string& tensor, const std::string& role, const Format& f,
                            const std::string& rounding) {
  check_name("tensor", tensor);
  check_name("role", role);
  const int id = impl_->declare(fmt::format("/quantizers/{}/{}", tensor, role));
  const Binades b = Binades::of(f);
  add_stats_columns(impl_->table(id), b.bins());
  impl_->str_attrs[id] = {
      {"tensor", tensor}, {"role", role}, {"format", f.name}, {"rounding", rounding}};
  impl_->int_attrs[id] = {{"histogram_first_log2", b.first}, {"histogram_binades", b.binades}};
  return id;
}

int Recorder::add_gemm(const std::string& name, const Format& out, const std::string& mac,
                       std::uint64_t m, std::uint64_t n, std::uint64_t k) {
  check_name("GEMM", name);
  const int id = impl_->declare(fmt::format("/gemms/{}", name));
  Table& t = impl_->table(id);
  const Binades b = Binades::of(out);
  add_stats_columns(t, b.bins());
  for (const char* c : {"mac_steps", "mac_inexact", "mac_underflow", "mac_overflow", "mac_invalid",
                        "mac_swamped", "mac_carry_overflow", "products"})
    t.add(c, Kind::u64);
  t.add("swamped_fraction", Kind::f64);
  impl_->str_attrs[id] = {{"name", name}, {"mac", mac}, {"format", out.name}};
  impl_->int_attrs[id] = {{"m", static_cast<std::int64_t>(m)},
                          {"n", static_cast<std::int64_t>(n)},
                          {"k", static_cast<std::int64_t>(k)},
                          {"histogram_first_log2", b.first},
                          {"histogram_binades", b.binades}};
  return id;
}

int Recorder::add_gradient(const std::string& tensor, const Format& target) {
  check_name("tensor", tensor);
  const int id = impl_->declare(fmt::format("/gradients/{}", tensor));
  Table& t = impl_->table(id);
  for (const char* c : {"count", "nonfinite"}) t.add(c, Kind::u64);
  for (const char* c : {"norm", "amax", "loss_scale", "below_min_subnormal",
                        "below_min_subnormal_scaled", "above_max"})
    t.add(c, Kind::f64);
  impl_->str_attrs[id] = {{"tensor", tensor}, {"format", target.name}};
  return id;
}

int Recorder::add_series(const std::string& path, std::vector<SeriesColumn> cols) {
  Impl& r = *impl_;
  const std::string gp = group_path("series", path);
  if (r.started) throw std::logic_error("recorder: points must be declared before start()");
  for (const auto& t : r.tables)
    if (t.path().starts_with(gp + "/") || gp.starts_with(t.path() + "/"))
      throw std::invalid_argument(fmt::format(
          "recorder: series {} and {} are nested (a series' group holds only its columns)", gp,
          t.path()));
  if (cols.empty())
    throw std::invalid_argument(fmt::format("recorder: series {} has no columns", gp));
  std::set<std::string> names;
  for (const auto& c : cols) {
    check_name("column", c.name);
    if (c.name == "step")
      throw std::invalid_argument(
          fmt::format("recorder: series {}: 'step' is its first column already", gp));
    if (!names.insert(c.name).second)
      throw std::invalid_argument(
          fmt::format("recorder: series {}: column '{}' declared twice", gp, c.name));
  }
  const int id = r.declare(gp);
  Table& t = r.table(id);
  t.describe(0, "step", "step of the row (-1: row cut off by a crash)");
  for (auto& c : cols) t.add(std::move(c.name), kind_of(c.type), 1, c.unit, c.description);
  r.is_series[static_cast<std::size_t>(id)] = true;
  return id;
}

void Recorder::set_group_attr(const std::string& path, const std::string& name,
                              const std::string& value) {
  const std::string gp = group_path("group", path);
  if (impl_->started) throw std::logic_error("recorder: group attributes are set before start()");
  check_name("attribute", name);
  impl_->group_attrs[gp][name] = value;
}

void Recorder::set_group_attr(const std::string& path, const std::string& name,
                              std::int64_t value) {
  const std::string gp = group_path("group", path);
  if (impl_->started) throw std::logic_error("recorder: group attributes are set before start()");
  check_name("attribute", name);
  impl_->group_attrs[gp][name] = value;
}

void Recorder::start() {
  Impl& r = *impl_;
  if (r.started) return;
  if (r.closed) throw std::logic_error("recorder: start() after close()");
  try {
    for (const auto& [gp, attrs] : r.group_attrs)
      for (std::size_t i = 0; i < r.tables.size(); ++i)
        if (r.is_series[i] && gp.starts_with(r.tables[i].path() + "/"))
          throw std::invalid_argument(
              fmt::format("recorder: group {} is inside series {} (a series' group holds only "
                          "its columns)",
                          gp, r.tables[i].path()));
    const hid_t f = r.file.get();
    std::int64_t version = kSchemaVersion;
    if (r.appending) {
      // check everything first: a refused append leaves the file as it was
      H5Id root(H5Gopen2(f, "/", H5P_DEFAULT));
      if (detail::object_type(f, "/dumps") == H5O_TYPE_GROUP)
        throw IoError(fmt::format("cannot append to {}: it is a tensor dump, not a recording",
                                  shown(r.path)));
      if (detail::attr_type_name(root.get(), "schema_version").rfind("int", 0) != 0 &&
          detail::attr_type_name(root.get(), "schema_version").rfind("uint", 0) != 0)
        throw IoError(
            fmt::format("cannot append to {}: not an fp8sim recording (no integer "
                        "schema_version attribute)",
                        shown(r.path)));
      version = detail::read_int_attr(root.get(), "schema_version");
      if (version < kOldestSchemaVersion || version > kSchemaVersion)
        throw IoError(fmt::format(
            "cannot append to {}: schema_version {} (this fp8sim appends to versions {} to {})",
            shown(r.path), version, kOldestSchemaVersion, kSchemaVersion));
      const auto kind = detail::read_string_attr(root.get(), "kind");
      if (kind != r.info.kind)
        throw IoError(fmt::format("cannot append to {}: it records a {} run, this is {}",
                                  shown(r.path), shown(kind), shown(r.info.kind)));
      for (auto& t : r.tables) {
        if (detail::object_type(f, t.path()) != H5O_TYPE_GROUP)
          throw IoError(fmt::format("cannot append to {}: it has no {} (a different run layout)",
                                    shown(r.path), t.path()));
        H5Id g(H5Gopen2(f, t.path().c_str(), H5P_DEFAULT));
        const std::size_t i = static_cast<std::size_t>(&t - r.tables.data());
        for (const auto& [k, v] : r.str_attrs[i]) {  // the same point: format, rounding, ...
          const std::string have = detail::read_string_attr(g.get(), k);
          if (have != v)
            throw IoError(fmt::format("cannot append to {}: {}@{} is {}, this run's is {}",
                                      shown(r.path), t.path(), k, shown(have), shown(v)));
        }
        for (const auto& [k, v] : r.int_attrs[i]) {
          const std::int64_t have = detail::read_int_attr(g.get(), k);
          if (have != v)
            throw IoError(fmt::format("cannot append to {}: {}@{} is {}, this run's is {}",
                                      shown(r.path), t.path(), k, have, v));
        }
        t.open(g.get());
      }
      for (const auto& [gp, attrs] : r.group_attrs) {  // set_group_attr: the same values
        if (detail::object_type(f, gp) != H5O_TYPE_GROUP)
          throw IoError(fmt::format("cannot append to {}: it has no {} (a different run layout)",
                                    shown(r.path), gp));
        H5Id g(H5Gopen2(f, gp.c_str(), H5P_DEFAULT));
        for (const auto& [k, v] : attrs) {
          const std::string type = detail::attr_type_name(g.get(), k);
          if (type.empty())
            throw IoError(fmt::format("cannot append to {}: it has no {}@{} (a different run)",
                                      shown(r.path), gp, k));
          const bool is_int = type.rfind("int", 0) == 0 || type.rfind("uint", 0) == 0;
          std::string have = (std::strchr("aeiou", type[0]) ? "an " : "a ") + type, want;
          bool same = false;
          if (const auto* sv = std::get_if<std::string>(&v)) {
            want = shown(*sv);
            if (type == "string") {
              const std::string h = detail::read_string_attr(g.get(), k);
              same = h == *sv;
              have = shown(h);
            }
          } else {
            const std::int64_t iv = std::get<std::int64_t>(v);
            want = std::to_string(iv);
            if (is_int) {
              const std::int64_t h = detail::read_int_attr(g.get(), k);
              same = h == iv;
              have = std::to_string(h);
            }
          }
          if (!same)
            throw IoError(fmt::format("cannot append to {}: {}@{} is {}, this run's is {}",
                                      shown(r.path), gp, k, have, want));
        }
      }
      if (version >= 2) r.status = open_status(f, r.path);
      // then change it: every appending run leaves its command line and start time
      const auto n = detail::read_int_attr(root.get(), "appended_runs") + 1;
      detail::write_int_attr(root.get(), "appended_runs", n);
      detail::write_string_attr(root.get(), fmt::format("appended_{}_command_line", n),
                                r.info.command_line);
      detail::write_string_attr(root.get(), fmt::format("appended_{}_start_time", n),
                                r.info.start_time);
      for (auto& t : r.tables) t.trim();
      if (version < 2) {  // schema 1 -> 2: the same layout plus /status
        r.status = create_status(f, r.path);
        detail::write_int_attr(root.get(), "schema_version", kSchemaVersion);
      }
    } else {
      detail::write_run_attrs(f, r.info);
      for (std::size_t i = 0; i < r.tables.size(); ++i) {
        Table& t = r.tables[i];
        H5Id g = detail::ensure_group(f, t.path());
        for (const auto& [k, v] : r.str_attrs[i]) detail::write_string_attr(g.get(), k, v);
        for (const auto& [k, v] : r.int_attrs[i]) detail::write_int_attr(g.get(), k, v);
        t.create(g.get());
      }
      for (const auto& [gp, attrs] : r.group_attrs) {
        H5Id g = detail::ensure_group(f, gp);
        for (const auto& [k, v] : attrs) {
          if (const auto* sv = std::get_if<std::string>(&v))
            detail::write_string_attr(g.get(), k, *sv);
          else
            detail::write_int_attr(g.get(), k, std::get<std::int64_t>(v));
        }
      }
      r.status = create_status(f, r.path);
    }
    write_status(r.status, RunState::running, 0, next_step() - 1, 0, r.path);
    check_status(H5Fflush(f, H5F_SCOPE_GLOBAL), "cannot write", r.path);
    check_status(H5Fstart_swmr_write(f), "cannot switch to SWMR writing", r.path);
  } catch (const IoError& e) {
    r.abandon();
    detail::rethrow_for_file(e, r.path);
  } catch (...) {
    r.abandon();
    throw;
  }
  r.started = true;
}

std::int64_t Recorder::next_step() const {
  std::int64_t last = -1;
  for (const auto& t : impl_->tables) last = std::max(last, t.last_step());
  return last + 1;
}

void Recorder::record_quantizer(int id, std::int64_t step, const TensorStats& s) {
  Table& t = impl_->table(id);
  t.begin(step);
  push_stats(t, s);
  t.end();
}

void Recorder::record_gemm(int id, std::int64_t step, const GemmStats& s) {
  Table& t = impl_->table(id);
  t.begin(step);
  push_stats(t, s.output);
  for (std::uint64_t v : {s.mac.steps, s.mac.inexact, s.mac.underflow, s.mac.overflow,
                          s.mac.invalid, s.mac.swamped, s.mac.carry_overflow, s.products})
    t.push_u64(v);
  t.push_f64(s.swamped_fraction());
  t.end();
}

void Recorder::record_gradient(int id, std::int64_t step, const GradientStats& s) {
  Table& t = impl_->table(id);
  t.begin(step);
  t.push_u64(s.count);
  t.push_u64(s.nonfinite);
  for (double v : {s.norm, s.amax, s.loss_scale, s.below_min_subnormal,
                   s.below_min_subnormal_scaled, s.above_max})
    t.push_f64(v);
  t.end();
}

void Recorder::record_series(int id, std::int64_t step, std::span<const double> values) {
  Impl& r = *impl_;
  Table& t = r.table(id);
  if (!r.is_series[static_cast<std::size_t>(id)])
    throw std::invalid_argument(fmt::format("recorder: {} is not a series", t.path()));
  if (values.size() != t.columns() - 1)
    throw std::invalid_argument(fmt::format("recorder: series {} takes {} values per row, got {}",
                                            t.path(), t.columns() - 1, values.size()));
  if (step < 0)
    throw std::invalid_argument(
        fmt::format("recorder: series {}: step {} is negative", t.path(), step));
  if (step <= t.last_step())
    throw std::invalid_argument(
        fmt::format("recorder: series {}: step {} after step {} (steps increase)", t.path(), step,
                    t.last_step()));
  // check every value first: a refused row leaves nothing behind
  constexpr double k2to63 = 9223372036854775808.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const Kind k = t.kind(i + 1);
    const double v = values[i];
    if (k == Kind::f64) continue;
    const char* why = nullptr;
    if (std::isnan(v))
      why = "NaN";
    else if (v != std::floor(v))
      why = "not an integer";
    else if (k == Kind::u64 && v < 0)
      why = "negative (the column counts)";
    else if (v >= k2to63 || v < -k2to63)
      why = "out of range";
    if (why)
      throw std::invalid_argument(fmt::format("recorder: {}/{} ({}): value {} is {}", t.path(),
                                              t.name(i + 1), k == Kind::u64 ? "uint64" : "int64", v,
                                              why));
  }
  t.begin(step);
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (t.kind(i + 1)) {
      case Kind::i64:
        t.push_i64(static_cast<std::int64_t>(values[i]));
        break;
      case Kind::u64:
        t.push_u64(static_cast<std::uint64_t>(values[i]));
        break;
      case Kind::f64:
        t.push_f64(values[i]);
        break;
    }
  }
  t.end();
}

void Recorder::end_step() {
  if (++impl_->steps_since_flush >= impl_->flush_every) flush();
}

void Recorder::flush() {
  Impl& r = *impl_;
  if (!r.started || r.closed) return;
  std::uint64_t rows = 0;
  for (auto& t : r.tables) rows += t.buffered();
  try {
    for (auto& t : r.tables) t.write();
    check_status(H5Fflush(r.file.get(), H5F_SCOPE_GLOBAL), "cannot write", r.path);
  } catch (const IoError& e) {
    detail::rethrow_for_file(e, r.path);
  }
  r.rows_written += rows;
  r.steps_since_flush = 0;
}

void Recorder::mark_stopped(int signo, std::int64_t step) {
  impl_->stop_signal = signo < 0 ? 0 : signo;
  impl_->stop_step = step;
}

void Recorder::close() {
  close(impl_->stop_signal >= 0 ? RunState::stopped : RunState::complete);
}

void Recorder::close(RunState how) {
  Impl& r = *impl_;
  if (r.closed) return;
  if (!r.started) start();  // an empty run still leaves a valid file
  try {
    flush();
    const std::int64_t signo = how == RunState::stopped ? std::max(r.stop_signal, 0) : 0;
    const std::int64_t last =
        how == RunState::stopped && r.stop_signal >= 0 ? r.stop_step : next_step() - 1;
    write_status(r.status, how, signo, last, static_cast<std::int64_t>(std::time(nullptr)), r.path);
    check_status(H5Fflush(r.file.get(), H5F_SCOPE_GLOBAL), "cannot write", r.path);
    r.tables.clear();  // closes the datasets before the file
    r.status = StatusSets{};
    if (!r.file.close())
      throw IoError(fmt::format("cannot write {}: {}", shown(r.path), detail::hdf5_failure()));
    r.closed = true;
  } catch (const IoError& e) {
    r.abandon();
    detail::rethrow_for_file(e, r.path);
  } catch (...) {
    r.abandon();
    throw;
  }
}

std::uint64_t Recorder::rows_flushed() const {
  std::uint64_t n = 0;
  for (const auto& t : impl_->tables) n = std::max<std::uint64_t>(n, t.rows_on_disk());
  return n;
}

}  // namespace fp8sim::analysis
