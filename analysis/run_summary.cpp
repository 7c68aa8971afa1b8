// analysis/run_summary.cpp — reading a recording back, checked against the schema.
#include "analysis/run_summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "analysis/h5_file.hpp"
#include "analysis/train_series.hpp"

namespace fp8sim::analysis {

using detail::H5Id;

namespace {

// ---- what the schema wants (docs/hdf5-schema.md) --------------------------------------

enum class Col { i64, u64, f64 };

struct ColSpec {
  std::string name;
  Col type;
  bool histogram = false;  ///< 2-D [steps, bins]
};

const char* col_name(Col c) {
  return c == Col::i64 ? "int64" : c == Col::u64 ? "uint64" : "float64";
}

std::vector<ColSpec> columns_of(const std::string& kind) {
  std::vector<ColSpec> c = {{"step", Col::i64}};
  if (kind == "gradient") {
    for (const char* n : {"count", "nonfinite"}) c.push_back({n, Col::u64});
    for (const char* n : {"norm", "amax", "loss_scale", "below_min_subnormal",
                          "below_min_subnormal_scaled", "above_max"})
      c.push_back({n, Col::f64});
    return c;
  }
  for (const char* n :
       {"count", "zeros_in", "underflow", "flushed_subnormal", "subnormal_out", "overflow",
        "saturated", "nan_in", "inf_in", "nan_out", "inf_out", "error_count"})
    c.push_back({n, Col::u64});
  for (const char* n :
       {"error_mean", "error_var", "max_abs_error", "rel_error_mean", "sqnr_db", "amax"})
    c.push_back({n, Col::f64});
  c.push_back({"histogram", Col::u64, true});
  if (kind == "gemm") {
    for (const char* n : {"mac_steps", "mac_inexact", "mac_underflow", "mac_overflow",
                          "mac_invalid", "mac_swamped", "mac_carry_overflow", "products"})
      c.push_back({n, Col::u64});
    c.push_back({"swamped_fraction", Col::f64});
  }
  return c;
}

struct AttrSpec {
  const char* name;
  bool string;  ///< else an integer
};

std::vector<AttrSpec> attrs_of(const std::string& kind) {
  if (kind == "quantizer")
    return {{"tensor", true},
            {"role", true},
            {"format", true},
            {"rounding", true},
            {"histogram_first_log2", false},
            {"histogram_binades", false}};
  if (kind == "gemm")
    return {{"name", true},
            {"mac", true},
            {"format", true},
            {"m", false},
            {"n", false},
            {"k", false},
            {"histogram_first_log2", false},
            {"histogram_binades", false}};
  return {{"tensor", true}, {"format", true}};
}

constexpr const char* kRootStrings[] = {
    "kind", "fp8sim_version", "git_commit", "command_line", "start_time", "host", "config"};

// ---- checking -------------------------------------------------------------------------

class Checker {
 public:
  Checker(std::string file, int version) : file_(std::move(file)), version_(version) {}

  [[noreturn]] void bad(const std::string& object, const std::string& what) const {
    throw IoError(fmt::format("{}: {} {} (schema_version {}, docs/hdf5-schema.md)", shown(file_),
                              object, what, version_));
  }

  // An attribute of the wanted kind; returns its type in words.
  void attr(hid_t obj, const std::string& obj_path, const std::string& name, bool string) const {
    const std::string where = (obj_path == "/" ? "/" : obj_path) + "@" + name;
    const std::string t = detail::attr_type_name(obj, name);
    if (t.empty()) bad(where, "is missing");
    const bool ok = string ? t == "string" : (t.rfind("int", 0) == 0 || t.rfind("uint", 0) == 0);
    if (!ok)
      bad(where, fmt::format("is {}, not {}", article(t), string ? "a string" : "an integer"));
  }

  static std::string article(const std::string& t) {
    return (std::strchr("aeiou", t[0]) ? "an " : "a ") + t;
  }

  // The names inside a group, each with its object type.
  std::vector<std::pair<std::string, H5O_type_t>> children(hid_t loc,
                                                           const std::string& path) const {
    std::vector<std::pair<std::string, H5O_type_t>> out;
    H5Id g(H5Gopen2(loc, path.c_str(), H5P_DEFAULT));
    if (!g.valid()) bad(path, "cannot be read (the file is damaged)");
    std::vector<std::string> names;
    const herr_t st = H5Literate(
        g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
        [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
          static_cast<std::vector<std::string>*>(data)->push_back(name);
          return 0;
        },
        &names);
    if (st < 0) bad(path, "cannot be listed (the file is damaged)");
    for (const auto& n : names) {
      const std::string full = (path == "/" ? "/" : path + "/") + n;
      out.emplace_back(n, detail::object_type(loc, full));
    }
    H5Eclear2(H5E_DEFAULT);
    return out;
  }

  void need_group(hid_t loc, const std::string& path) const {
    const H5O_type_t t = detail::object_type(loc, path);
    if (t == H5O_TYPE_UNKNOWN) bad(path, "is missing");
    if (t != H5O_TYPE_GROUP) bad(path, "is not a group");
  }

  const std::string& file() const { return file_; }
  int version() const { return version_; }

 private:
  std::string file_;
  int version_;
};

// One column read and checked: its rows as uint64 (i64/u64) or doubles.
struct Column {
  std::vector<std::uint64_t> u;
  std::vector<double> d;
  hsize_t rows = 0;
};

Column read_checked(const Checker& ck, hid_t group, const std::string& gpath, const ColSpec& spec,
                    hsize_t bins) {
  const std::string where = gpath + "/" + spec.name;
  const H5O_type_t ot = detail::object_type(group, spec.name);
  if (ot == H5O_TYPE_UNKNOWN) ck.bad(where, "is missing");
  if (ot != H5O_TYPE_DATASET) ck.bad(where, "is not a dataset");
  H5Id ds(H5Dopen2(group, spec.name.c_str(), H5P_DEFAULT));
  if (!ds.valid()) ck.bad(where, "cannot be opened (the file is damaged)");
  H5Id type(H5Dget_type(ds.get()));
  H5Id space(H5Dget_space(ds.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  const int want_rank = spec.histogram ? 2 : 1;
  const std::string tname = detail::type_name(type.get());
  const bool is_int = H5Tget_class(type.get()) == H5T_INTEGER;
  const bool is_signed = is_int && H5Tget_sign(type.get()) != H5T_SGN_NONE;
  if (rank != want_rank)
    ck.bad(where, fmt::format("has {} dimensions, the schema says {} ([steps{}])", rank, want_rank,
                              spec.histogram ? ", bins" : ""));
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  if (spec.histogram && dims[1] != bins)
    ck.bad(where, fmt::format("has {} bins, its attributes say {} (histogram_binades + 2)", dims[1],
                              bins));
  Column c;
  c.rows = dims[0];
  const hsize_t n = dims[0] * (spec.histogram ? dims[1] : 1);
  auto read = [&](hid_t mtype, void* out) {
    if (n && H5Dread(ds.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
      H5Eclear2(H5E_DEFAULT);
      ck.bad(where, "cannot be read (the file is truncated or damaged)");
    }
  };
  try {
    if (spec.type == Col::u64 && is_signed) {  // a count stored signed: negative?
      std::vector<std::int64_t> v(n);
      read(H5T_NATIVE_INT64, v.data());
      for (hsize_t i = 0; i < n; ++i)
        if (v[i] < 0)
          ck.bad(where, fmt::format("holds a negative count ({} in row {})", v[i],
                                    spec.histogram ? i / dims[1] : i));
    }
    const bool type_ok = spec.type == Col::f64
                             ? tname == "float64"
                             : (spec.type == Col::i64 ? tname == "int64" : tname == "uint64");
    if (!type_ok)
      ck.bad(where, fmt::format("is {}, the schema says {}", Checker::article(tname),
                                col_name(spec.type)));
    if (spec.type == Col::f64) {
      c.d.resize(n);
      read(H5T_NATIVE_DOUBLE, c.d.data());
    } else {
      c.u.resize(n);
      read(spec.type == Col::i64 ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, c.u.data());
    }
  } catch (const std::bad_alloc&) {
    ck.bad(where, fmt::format("has {} rows: not enough memory to read them", dims[0]));
  }
  if (spec.type == Col::u64)
    for (hsize_t i = 0; i < n; ++i)
      if (c.u[i] >> 63)
        ck.bad(where, fmt::format("holds an impossible count {} in row {} (a negative number "
                                  "stored as uint64?)",
                                  c.u[i], spec.histogram ? i / dims[1] : i));
  return c;
}

double pct(double part, double whole) {
  return whole > 0 ? 100.0 * part / whole : 0.0;
}

// One table (a point or a series) read and checked: the group holds exactly the datasets
// of `specs`, with their dtypes and shapes, equally long in a file closed normally
// (`strict`), steps >= 0 and increasing; `idx` lists its complete rows.
struct TableRows {
  std::vector<ColSpec> specs;
  std::vector<Column> cols;
  std::vector<std::size_t> idx;
  std::uint64_t cut_rows = 0;  ///< rows cut off by a crash (step still -1)
  const Column& col(const char* name) const {
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (specs[i].name == name) return cols[i];
    throw std::logic_error(std::string("run_summary: no column ") + name);
  }
  std::int64_t step(std::size_t row) const { return static_cast<std::int64_t>(cols[0].u[row]); }
};

TableRows read_table(const Checker& ck, hid_t file, hid_t g, const std::string& path,
                     std::vector<ColSpec> specs, hsize_t bins, bool strict,
                     const std::string& what) {
  TableRows t;
  t.specs = std::move(specs);
  std::set<std::string> known;
  for (const auto& s : t.specs) known.insert(s.name);
  for (const auto& [name, type] : ck.children(file, path))
    if (!known.contains(name)) ck.bad(path + "/" + name, "is not part of " + what);
  for (const auto& s : t.specs) t.cols.push_back(read_checked(ck, g, path, s, bins));

  // rows: every column the same length in a file closed normally; else the shortest
  hsize_t rows = t.cols[0].rows;
  for (std::size_t i = 1; i < t.cols.size(); ++i) {
    if (strict && t.cols[i].rows != t.cols[0].rows)
      ck.bad(path + "/" + t.specs[i].name,
             fmt::format("has {} rows, {}/step has {} (every column of {} has one row per "
                         "recorded step)",
                         t.cols[i].rows, path, t.cols[0].rows,
                         what.ends_with(" point") ? "a point" : "a series"));
    rows = std::min(rows, t.cols[i].rows);
  }
  std::int64_t prev = -1;
  for (std::size_t i = 0; i < rows; ++i) {
    const auto s = t.step(i);
    if (s == -1 && !strict) {  // a row cut off by a crash: its step was never written
      ++t.cut_rows;
      continue;
    }
    if (s < 0)
      ck.bad(path + "/step", fmt::format("holds step {} in row {} (steps are >= 0)", s, i));
    if (s <= prev)
      ck.bad(path + "/step",
             fmt::format("holds step {} in row {} after step {} (steps increase)", s, i, prev));
    prev = s;
    t.idx.push_back(i);
  }
  return t;
}

void summarize_point(const Checker& ck, hid_t file, const std::string& path,
                     const std::string& kind, bool strict, std::vector<PointSummary>& out) {
  ck.need_group(file, path);
  H5Id g(H5Gopen2(file, path.c_str(), H5P_DEFAULT));
  if (!g.valid()) ck.bad(path, "cannot be opened (the file is damaged)");
  for (const AttrSpec& a : attrs_of(kind)) ck.attr(g.get(), path, a.name, a.string);
  hsize_t bins = 0;
  if (kind != "gradient") {
    const std::int64_t b = detail::read_int_attr(g.get(), "histogram_binades");
    if (b < 1 || b > 100000)
      ck.bad(path + "@histogram_binades", fmt::format("is {} (allowed: 1 to 100000)", b));
    bins = static_cast<hsize_t>(b) + 2;
  }
  const TableRows t =
      read_table(ck, file, g.get(), path, columns_of(kind), bins, strict, "a " + kind + " point");
  auto col = [&](const char* name) -> const Column& { return t.col(name); };
  PointSummary p;
  p.path = path;
  p.kind = kind;
  p.format = detail::read_string_attr(g.get(), "format");
  p.rounding = detail::read_string_attr(g.get(), kind == "gemm" ? "mac" : "rounding");
  p.cut_rows = t.cut_rows;
  const auto& stepc = t.cols[0].u;
  const std::vector<std::size_t>& idx = t.idx;
  if (kind == "gradient") {
    const auto& norm = col("norm").d;
    const auto& amax = col("amax").d;
    const auto& below = col("below_min_subnormal").d;
    const auto& below_s = col("below_min_subnormal_scaled").d;
    const auto& above = col("above_max").d;
    for (auto i : idx) {
      p.norm_last = norm[i];
      p.amax_max = std::max(p.amax_max, amax[i]);
      p.below_min_subnormal_pct += 100 * below[i];
      p.below_min_subnormal_scaled_pct += 100 * below_s[i];
      p.above_max_pct += 100 * above[i];
    }
    if (!idx.empty()) {
      const double r = static_cast<double>(idx.size());
      p.below_min_subnormal_pct /= r;
      p.below_min_subnormal_scaled_pct /= r;
      p.above_max_pct /= r;
    }
  } else {
    const auto& count = col("count").u;
    const auto& uf = col("underflow").u;
    const auto& fl = col("flushed_subnormal").u;
    const auto& sub = col("subnormal_out").u;
    const auto& ovf = col("overflow").u;
    const auto& sat = col("saturated").u;
    const auto& nan_out = col("nan_out").u;
    const auto& inf_out = col("inf_out").u;
    const auto& sqnr = col("sqnr_db").d;
    const auto& rel = col("rel_error_mean").d;
    const auto& amax = col("amax").d;
    double t_uf = 0, t_fl = 0, t_sub = 0, t_ovf = 0, t_sat = 0, t_nf = 0, s_sum = 0, s_n = 0;
    double t_steps = 0, t_inexact = 0, t_sw = 0, t_prod = 0;
    const bool gemm = kind == "gemm";
    const std::vector<std::uint64_t> none;
    const auto& steps = gemm ? col("mac_steps").u : none;
    const auto& inexact = gemm ? col("mac_inexact").u : none;
    const auto& swamped = gemm ? col("mac_swamped").u : none;
    const auto& products = gemm ? col("products").u : none;
    p.sqnr_db_min = std::numeric_limits<double>::infinity();
    for (auto i : idx) {
      p.elements += count[i];
      t_uf += static_cast<double>(uf[i]);
      t_fl += static_cast<double>(fl[i]);
      t_sub += static_cast<double>(sub[i]);
      t_ovf += static_cast<double>(ovf[i]);
      t_sat += static_cast<double>(sat[i]);
      t_nf += static_cast<double>(nan_out[i]) + static_cast<double>(inf_out[i]);
      if (std::isfinite(sqnr[i])) {
        s_sum += sqnr[i];
        ++s_n;
      }
      p.sqnr_db_min = std::min(p.sqnr_db_min, sqnr[i]);
      p.sqnr_db_last = sqnr[i];
      p.rel_error_mean += rel[i];
      p.amax_max = std::max(p.amax_max, amax[i]);
      if (gemm) {
        t_steps += static_cast<double>(steps[i]);
        t_inexact += static_cast<double>(inexact[i]);
        t_sw += static_cast<double>(swamped[i]);
        t_prod += static_cast<double>(products[i]);
      }
    }
    const double e = static_cast<double>(p.elements);
    p.underflow_pct = pct(t_uf, e);
    p.flushed_pct = pct(t_fl, e);
    p.subnormal_pct = pct(t_sub, e);
    p.overflow_pct = pct(t_ovf, e);
    p.saturated_pct = pct(t_sat, e);
    p.nonfinite_out_pct = pct(t_nf, e);
    p.sqnr_db_mean = s_n ? s_sum / s_n : std::numeric_limits<double>::infinity();
    if (idx.empty()) p.sqnr_db_min = 0;
    p.rel_error_mean = idx.empty() ? 0 : p.rel_error_mean / static_cast<double>(idx.size());
    p.inexact_step_pct = pct(t_inexact, t_steps);
    p.swamped_fraction = t_prod > 0 ? t_sw / t_prod : 0.0;
  }
  p.rows = idx.size();
  if (!idx.empty()) {
    p.first_step = static_cast<std::int64_t>(stepc[idx.front()]);
    p.last_step = static_cast<std::int64_t>(stepc[idx.back()]);
  }
  out.push_back(std::move(p));
}

// ---- training recordings (/@kind train) ----------------------------------------------

std::vector<ColSpec> specs_of(const std::vector<SeriesColumn>& cols) {
  std::vector<ColSpec> c = {{"step", Col::i64}};
  for (const auto& sc : cols)
    c.push_back({sc.name, sc.type == SeriesColumn::Type::i64   ? Col::i64
                          : sc.type == SeriesColumn::Type::u64 ? Col::u64
                                                               : Col::f64});
  return c;
}

TableRows read_series(const Checker& ck, hid_t file, const std::string& path,
                      const std::vector<SeriesColumn>& cols, bool strict) {
  ck.need_group(file, path);
  H5Id g(H5Gopen2(file, path.c_str(), H5P_DEFAULT));
  if (!g.valid()) ck.bad(path, "cannot be opened (the file is damaged)");
  return read_table(ck, file, g.get(), path, specs_of(cols), 0, strict, "the " + path + " series");
}

// The last complete row's value of a float64 column (NaN when there is none).
double last_f64(const TableRows& t, const char* name) {
  return t.idx.empty() ? TrainSummary::kNone : t.col(name).d[t.idx.back()];
}

TrainSummary read_train(const Checker& ck, hid_t file, bool strict) {
  const std::string tp = std::string("/") + kTrainGroup;
  ck.need_group(file, tp);
  TrainSummary ts;
  {
    H5Id g(H5Gopen2(file, tp.c_str(), H5P_DEFAULT));
    if (!g.valid()) ck.bad(tp, "cannot be opened (the file is damaged)");
    for (const char* a : {"workload", "recipe", "recipe_text"}) ck.attr(g.get(), tp, a, true);
    ck.attr(g.get(), tp, "classes", false);
    ts.workload = detail::read_string_attr(g.get(), "workload");
    ts.recipe = detail::read_string_attr(g.get(), "recipe");
    ts.classes = detail::read_int_attr(g.get(), "classes");
    if (ts.classes < 1)
      ck.bad(tp + "@classes", fmt::format("is {} (a classifier has at least 1 class)", ts.classes));
  }
  const std::string steps_p = "/" + std::string(kTrainSteps),
                    epochs_p = "/" + std::string(kTrainEpochs),
                    test_p = "/" + std::string(kTrainTest),
                    updates_p = "/" + std::string(kTrainUpdates);
  for (const auto& [name, type] : ck.children(file, tp)) {
    const std::string p = tp + "/" + name;
    if (p != steps_p && p != epochs_p && p != test_p && p != updates_p)
      ck.bad(p, "is not part of a train recording");
    if (type != H5O_TYPE_GROUP) ck.bad(p, "is not a group");
  }

  const TableRows st = read_series(ck, file, steps_p, train_step_columns(), strict);
  ts.steps = st.idx.size();
  ts.cut_rows += st.cut_rows;
  if (!st.idx.empty()) {
    const std::size_t last = st.idx.back();
    ts.first_step = st.step(st.idx.front());
    ts.last_step = st.step(last);
    ts.final_loss = st.col("loss").d[last];
    ts.final_accuracy = st.col("accuracy").d[last];
    ts.final_lr = st.col("lr").d[last];
    ts.final_loss_scale = st.col("loss_scale").d[last];
    ts.seconds = st.col("seconds").d[last];
    ts.overflow_events = st.col("overflow_events").u[last];
    ts.images = st.col("images").u[last];
    const auto& skipped = st.col("skipped").u;
    for (auto i : st.idx) {
      if (skipped[i] > 1)
        ck.bad(steps_p + "/skipped",
               fmt::format("holds {} in row {} (allowed: 0 or 1)", skipped[i], i));
      ts.skipped_steps += skipped[i];
    }
  }

  const TableRows ep = read_series(ck, file, epochs_p, train_epoch_columns(), strict);
  ts.epochs = ep.idx.size();
  ts.cut_rows += ep.cut_rows;
  if (!ep.idx.empty()) {
    ts.last_epoch = static_cast<std::int64_t>(ep.col("epoch").u[ep.idx.back()]);
    ts.train_loss = last_f64(ep, "train_loss");
    ts.train_accuracy = last_f64(ep, "train_accuracy");
    ts.val_loss = last_f64(ep, "val_loss");
    ts.val_accuracy = last_f64(ep, "val_accuracy");
  }

  const TableRows te = read_series(ck, file, test_p, train_test_columns(), strict);
  ts.tests = te.idx.size();
  ts.cut_rows += te.cut_rows;
  if (!te.idx.empty()) {
    ts.test_step = te.step(te.idx.back());
    ts.test_loss = last_f64(te, "test_loss");
    ts.test_accuracy = last_f64(te, "test_accuracy");
    ts.test_exact_match = last_f64(te, "test_exact_match");
  }

  if (detail::link_exists(file, updates_p))
    for (const auto& [param, type] : ck.children(file, updates_p)) {
      const std::string pp = updates_p + "/" + param;
      const TableRows u = read_series(ck, file, pp, train_update_columns(), strict);
      UpdateSummary us;
      us.param = param;
      us.rows = u.idx.size();
      ts.cut_rows += u.cut_rows;
      const auto& nonzero = u.col("nonzero").u;
      const auto& vanished = u.col("vanished").u;
      const auto& frac = u.col("vanished_fraction").d;
      const auto& maxu = u.col("max_abs_update").d;
      for (auto i : u.idx) {
        us.nonzero += nonzero[i];
        us.vanished += vanished[i];
        us.vanished_fraction_last = frac[i];
        if (!std::isnan(maxu[i])) us.max_abs_update = std::max(us.max_abs_update, maxu[i]);
      }
      us.vanished_fraction =
          us.nonzero ? static_cast<double>(us.vanished) / static_cast<double>(us.nonzero) : 0.0;
      ts.updates.push_back(std::move(us));
    }
  return ts;
}

std::string signal_name(int s) {
  switch (s) {
    case 1:
      return "SIGHUP";
    case 2:
      return "SIGINT";
    case 3:
      return "SIGQUIT";
    case 6:
      return "SIGABRT";
    case 9:
      return "SIGKILL";
    case 10:
      return "SIGUSR1";
    case 12:
      return "SIGUSR2";
    case 15:
      return "SIGTERM";
    default:
      return fmt::format("signal {}", s);
  }
}

// /status (schema 2): four scalar int64 datasets.
RunStatus read_status(const Checker& ck, hid_t file) {
  ck.need_group(file, "/status");
  std::int64_t v[4] = {0, 0, -1, 0};
  const char* fields[4] = {"state", "signal", "last_step", "end_time"};
  std::set<std::string> known(fields, fields + 4);
  for (const auto& [name, type] : ck.children(file, "/status"))
    if (!known.contains(name)) ck.bad("/status/" + name, "is not part of /status");
  for (int i = 0; i < 4; ++i) {
    const std::string p = std::string("/status/") + fields[i];
    const H5O_type_t ot = detail::object_type(file, p);
    if (ot == H5O_TYPE_UNKNOWN) ck.bad(p, "is missing");
    if (ot != H5O_TYPE_DATASET) ck.bad(p, "is not a dataset");
    H5Id ds(H5Dopen2(file, p.c_str(), H5P_DEFAULT));
    H5Id type(H5Dget_type(ds.get()));
    H5Id space(H5Dget_space(ds.get()));
    const std::string t = detail::type_name(type.get());
    if (t != "int64") ck.bad(p, fmt::format("is {}, the schema says int64", Checker::article(t)));
    if (H5Sget_simple_extent_type(space.get()) != H5S_SCALAR) ck.bad(p, "is not a scalar");
    if (H5Dread(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v[i]) < 0) {
      H5Eclear2(H5E_DEFAULT);
      ck.bad(p, "cannot be read (the file is damaged)");
    }
  }
  if (v[0] < 0 || v[0] > 3)
    ck.bad("/status/state", fmt::format("is {} (allowed: 0 running, 1 complete, 2 stopped, 3 "
                                        "failed)",
                                        v[0]));
  if (v[1] < 0 || v[1] > 64)
    ck.bad("/status/signal", fmt::format("is {} (allowed: 0, or a signal number up to 64)", v[1]));
  if (v[2] < -1) ck.bad("/status/last_step", fmt::format("is {} (allowed: -1 or a step)", v[2]));
  RunStatus s;
  switch (static_cast<RunState>(v[0])) {
    case RunState::running:
      s.state = "killed";
      break;
    case RunState::complete:
      s.state = "complete";
      break;
    case RunState::stopped:
      s.state = "stopped";
      break;
    case RunState::failed:
      s.state = "failed";
      break;
  }
  s.signal = static_cast<int>(v[1]);
  if (s.state == "stopped" && s.signal > 0) s.signal_name = signal_name(s.signal);
  s.last_step = v[2];
  s.end_time = v[3];
  s.cut_short = s.state != "complete";
  return s;
}

}  // namespace

RunSummary summarize_run(const std::string& path) {
  bool writer_open = false;
  H5Id f = detail::open_for_read(path, &writer_open);
  RunSummary s;
  s.file = path;
  H5Id root(H5Gopen2(f.get(), "/", H5P_DEFAULT));
  if (!root.valid()) throw IoError(fmt::format("{} is truncated or damaged", shown(path)));
  if (detail::object_type(f.get(), "/dumps") == H5O_TYPE_GROUP)
    throw IoError(
        fmt::format("{} is a tensor dump, not a recording: use fp8sim dump --list", shown(path)));
  const std::string vtype = detail::attr_type_name(root.get(), "schema_version");
  if (vtype.empty())
    throw IoError(
        fmt::format("{} is not an fp8sim recording (no schema_version attribute)", shown(path)));
  if (vtype.rfind("int", 0) != 0 && vtype.rfind("uint", 0) != 0) {
    const std::string text = detail::read_string_attr(root.get(), "schema_version");
    throw IoError(fmt::format("{}: /@schema_version is {}{}, not an integer", shown(path),
                              Checker::article(vtype),
                              vtype == "string" ? " (" + shown(text) + ")" : ""));
  }
  const std::int64_t version = detail::read_int_attr(root.get(), "schema_version");
  if (version < kOldestSchemaVersion || version > kSchemaVersion)
    throw IoError(
        fmt::format("{}: /@schema_version is {}, a version this fp8sim does not read "
                    "(it reads {} {} {})",
                    shown(path), version, kOldestSchemaVersion,
                    kSchemaVersion == kOldestSchemaVersion + 1 ? "and" : "to", kSchemaVersion));
  const Checker ck(path, static_cast<int>(version));
  s.schema_version = static_cast<int>(version);
  for (const char* a : kRootStrings) ck.attr(root.get(), "/", a, true);
  if (detail::has_attr(root.get(), "appended_runs"))
    ck.attr(root.get(), "/", "appended_runs", false);
  s.attributes.emplace_back("schema_version", std::to_string(version));
  for (const char* a :
       {"kind", "fp8sim_version", "git_commit", "command_line", "start_time", "host"})
    s.attributes.emplace_back(a, detail::read_string_attr(root.get(), a));
  s.kind = detail::read_string_attr(root.get(), "kind");
  const bool train = s.kind == "train";

  // the top level: point groups, /status from version 2 on, /train in a train recording
  for (const auto& [name, type] : ck.children(f.get(), "/")) {
    if (name == kTrainGroup && !train)
      ck.bad("/" + name,
             fmt::format("is only part of a train recording (/@kind is {})", shown(s.kind)));
    const bool known = name == "quantizers" || name == "gemms" || name == "gradients" ||
                       (name == "status" && version >= 2) || (name == kTrainGroup && train);
    if (!known) ck.bad("/" + name, "is not part of a recording");
    if (type != H5O_TYPE_GROUP) ck.bad("/" + name, "is not a group");
  }
  if (version >= 2) {
    s.status = read_status(ck, f.get());
  } else {
    s.status.state = writer_open ? "killed" : "closed";
    s.status.cut_short = writer_open;
  }
  s.status.writer_open = writer_open;
  // a file closed normally has every column of a point equally long
  const bool strict = !writer_open && (s.status.state == "complete" || s.status.state == "stopped");

  if (detail::link_exists(f.get(), "/quantizers"))
    for (const auto& [tensor, t1] : ck.children(f.get(), "/quantizers")) {
      const std::string tp = "/quantizers/" + tensor;
      if (t1 != H5O_TYPE_GROUP) ck.bad(tp, "is not a group");
      for (const auto& [role, t2] : ck.children(f.get(), tp))
        summarize_point(ck, f.get(), tp + "/" + role, "quantizer", strict, s.points);
    }
  if (detail::link_exists(f.get(), "/gemms"))
    for (const auto& [g, t] : ck.children(f.get(), "/gemms"))
      summarize_point(ck, f.get(), "/gemms/" + g, "gemm", strict, s.points);
  if (detail::link_exists(f.get(), "/gradients"))
    for (const auto& [g, t] : ck.children(f.get(), "/gradients"))
      summarize_point(ck, f.get(), "/gradients/" + g, "gradient", strict, s.points);
  if (train) s.train = read_train(ck, f.get(), strict);

  if (s.status.state == "killed" || s.status.state == "closed") {
    for (const auto& p : s.points) s.status.last_step = std::max(s.status.last_step, p.last_step);
    if (s.train) s.status.last_step = std::max(s.status.last_step, s.train->last_step);
  }
  return s;
}

}  // namespace fp8sim::analysis
