// analysis/sweep_file.cpp — see sweep_file.hpp.
#include "analysis/sweep_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "analysis/h5_file.hpp"

namespace fp8sim::analysis {

using detail::check;
using detail::check_status;
using detail::H5Id;

namespace {

constexpr const char* kSetting = "setting:";
constexpr const char* kMetric = "metric:";

void write_setting_attr(hid_t obj, const std::string& name, const SettingValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return detail::write_string_attr(obj, name, *s);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return detail::write_int_attr(obj, name, *i);
  if (const auto* b = std::get_if<bool>(&v))  // booleans as the strings TOML writes
    return detail::write_string_attr(obj, name, *b ? "true" : "false");
  detail::write_double_attr(obj, name, std::get<double>(v));
}

// Every attribute of obj: name and HDF5 class.
std::vector<std::pair<std::string, H5T_class_t>> attributes(hid_t obj) {
  std::vector<std::pair<std::string, H5T_class_t>> out;
  H5O_info_t info;
  if (H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return out;
  for (hsize_t a = 0; a < info.num_attrs; ++a) {
    H5Id attr(
        H5Aopen_by_idx(obj, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, a, H5P_DEFAULT, H5P_DEFAULT));
    if (!attr.valid()) {  // files without creation-order tracking: by name
      H5Eclear2(H5E_DEFAULT);
      attr =
          H5Id(H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, a, H5P_DEFAULT, H5P_DEFAULT));
    }
    if (!attr.valid()) continue;
    const ssize_t len = H5Aget_name(attr.get(), 0, nullptr);
    std::string name(static_cast<std::size_t>(std::max<ssize_t>(len, 0)), '\0');
    H5Aget_name(attr.get(), name.size() + 1, name.data());
    H5Id type(H5Aget_type(attr.get()));
    out.emplace_back(name, H5Tget_class(type.get()));
  }
  return out;
}

double read_double_attr(hid_t obj, const std::string& name) {
  H5Id attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  double v = std::numeric_limits<double>::quiet_NaN();
  if (attr.valid()) H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v);
  return v;
}

// Copies every attribute of src to dst: variable-length strings as strings, anything else
// as raw bytes of its own type and shape. (H5Ocopy's own attribute copy crashes HDF5 1.10
// on objects whose attributes are stored densely, as in every recording's root.)
void copy_attrs(hid_t src, hid_t dst, const std::string& file) {
  for (const auto& [name, cls] : attributes(src)) {
    H5Id a(H5Aopen(src, name.c_str(), H5P_DEFAULT));
    if (!a.valid()) continue;
    H5Id type(H5Aget_type(a.get()));
    if (cls == H5T_STRING && H5Tis_variable_str(type.get()) > 0) {
      detail::write_string_attr(dst, name, detail::read_string_attr(src, name));
      continue;
    }
    H5Id space(H5Aget_space(a.get()));
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    std::vector<unsigned char> buf(H5Tget_size(type.get()) *
                                   static_cast<std::size_t>(std::max<hssize_t>(n, 1)));
    check_status(H5Aread(a.get(), type.get(), buf.data()), "reading an attribute of", file);
    if (H5Aexists(dst, name.c_str()) > 0) H5Adelete(dst, name.c_str());
    H5Id b(check(H5Acreate2(dst, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                 "copying an attribute from", file));
    check_status(H5Awrite(b.get(), type.get(), buf.data()), "copying an attribute from", file);
  }
}

struct CopyAttrsVisit {
  hid_t src, dst;
  const std::string* file;
  bool failed = false;
};

herr_t copy_attrs_of(hid_t src_root, const char* name, const H5O_info_t*, void* data) {
  auto* v = static_cast<CopyAttrsVisit*>(data);
  try {
    H5Id s(H5Oopen(src_root, name, H5P_DEFAULT));
    H5Id d(H5Oopen(v->dst, name, H5P_DEFAULT));
    if (s.valid() && d.valid()) copy_attrs(s.get(), d.get(), *v->file);
  } catch (...) {
    v->failed = true;
    return -1;
  }
  return 0;
}

// src_group of src_file (with everything below it, attributes included) to dst_name in dst.
void copy_object(hid_t src_file, const std::string& src_group, hid_t dst,
                 const std::string& dst_name, const std::string& file) {
  H5Id ocpy(H5Pcreate(H5P_OBJECT_COPY));
  H5Pset_copy_object(ocpy.get(), H5O_COPY_WITHOUT_ATTR_FLAG);
  check_status(H5Ocopy(src_file, src_group.c_str(), dst, dst_name.c_str(), ocpy.get(), H5P_DEFAULT),
               "copying a point from", file);
  H5Id s(check(H5Oopen(src_file, src_group.c_str(), H5P_DEFAULT), "opening a point in", file));
  H5Id d(check(H5Oopen(dst, dst_name.c_str(), H5P_DEFAULT), "opening a copied point of", file));
  CopyAttrsVisit v{s.get(), d.get(), &file};
  // (the visit includes the object itself, as ".")
  if (H5Ovisit2(s.get(), H5_INDEX_NAME, H5_ITER_INC, copy_attrs_of, &v, H5O_INFO_BASIC) < 0 ||
      v.failed)
    throw IoError(fmt::format("copying the attributes of a point from '{}': {}", file,
                              detail::hdf5_failure()));
}

std::string point_group_name(std::int64_t index) {
  return fmt::format("p{:06d}", index);
}

// A summary column: a fixed-length string, an int64 or a float64 field.
struct Column {
  std::string name;
  enum Kind { text, integer, real } kind = text;
  std::size_t width = 1, offset = 0;
};

}  // namespace

void annotate_point_file(const std::string& path, const SweepPointRecord& r, bool create) {
  detail::quiet_hdf5();
  H5Id file;
  if (create) {
    file = detail::open_for_write(path, OpenMode::create, false, nullptr);
  } else {
    file = H5Id(check(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "opening", path));
  }
  H5Id root(check(H5Gopen2(file.get(), "/", H5P_DEFAULT), "opening the root of", path));
  detail::write_int_attr(root.get(), "sweep_point", r.index);
  detail::write_string_attr(root.get(), "status", r.status);
  detail::write_string_attr(root.get(), "error", r.error);
  detail::write_string_attr(root.get(), "kernel", r.kernel);
  for (const auto& [k, v] : r.settings) write_setting_attr(root.get(), kSetting + k, v);
  for (const auto& [k, v] : r.metrics) detail::write_double_attr(root.get(), kMetric + k, v);
  root.reset();
  if (!file.close()) throw IoError(fmt::format("writing '{}': {}", path, detail::hdf5_failure()));
}

SweepPointRecord read_point_record(const PointSource& src) {
  detail::quiet_hdf5();
  H5Id file = detail::open_for_read(src.file);
  H5Id g(H5Oopen(file.get(), src.group.c_str(), H5P_DEFAULT));
  if (!g.valid() || !detail::has_attr(g.get(), "sweep_point"))
    throw IoError(fmt::format("'{}' {} is not a sweep point's record (no sweep_point attribute)",
                              src.file, src.group));
  SweepPointRecord r;
  r.index = detail::read_int_attr(g.get(), "sweep_point");
  r.status = detail::read_string_attr(g.get(), "status");
  r.error = detail::read_string_attr(g.get(), "error");
  r.kernel = detail::read_string_attr(g.get(), "kernel");
  for (const auto& [name, cls] : attributes(g.get())) {
    if (name.rfind(kSetting, 0) == 0) {
      const std::string key = name.substr(std::strlen(kSetting));
      if (cls == H5T_STRING)
        r.settings.emplace_back(key, detail::read_string_attr(g.get(), name));
      else if (cls == H5T_INTEGER)
        r.settings.emplace_back(key, detail::read_int_attr(g.get(), name));
      else
        r.settings.emplace_back(key, read_double_attr(g.get(), name));
    } else if (name.rfind(kMetric, 0) == 0) {
      r.metrics.emplace_back(name.substr(std::strlen(kMetric)), read_double_attr(g.get(), name));
    }
  }
  return r;
}

void write_sweep_file(const std::string& out, const SweepFileInfo& info,
                      const std::vector<PointSource>& points,
                      const std::vector<std::string>& setting_keys,
                      const std::vector<std::string>& metric_names) {
  detail::quiet_hdf5();
  std::vector<std::pair<SweepPointRecord, const PointSource*>> recs;
  recs.reserve(points.size());
  for (const auto& p : points) recs.emplace_back(read_point_record(p), &p);
  std::sort(recs.begin(), recs.end(),
            [](const auto& a, const auto& b) { return a.first.index < b.first.index; });
  for (std::size_t i = 1; i < recs.size(); ++i)
    if (recs[i].first.index == recs[i - 1].first.index)
      throw IoError(fmt::format("point {} is in '{}' and in '{}'", recs[i].first.index,
                                recs[i - 1].second->file, recs[i].second->file));
  const std::string tmp = out + ".tmp";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  try {
    {
      H5Id file = detail::open_for_write(tmp, OpenMode::create, true, nullptr);
      detail::write_run_attrs(file.get(), info.run);
      H5Id root(check(H5Gopen2(file.get(), "/", H5P_DEFAULT), "opening the root of", tmp));
      detail::write_string_attr(root.get(), "sweep_kind", info.kind);
      detail::write_string_attr(root.get(), "sweep_experiment", info.experiment);
      detail::write_string_attr(root.get(), "sweep_shard", info.shard);
      detail::write_int_attr(root.get(), "sweep_points", info.total_points);
      H5Id pts = detail::ensure_group(file.get(), "/points");
      for (const auto& [r, src] : recs) {
        H5Id sf = detail::open_for_read(src->file);
        copy_object(sf.get(), src->group, pts.get(), point_group_name(r.index), src->file);
      }
      // the summary: a compound row per point
      std::vector<Column> cols = {{"point", Column::integer},
                                  {"status", Column::text},
                                  {"kernel", Column::text},
                                  {"error", Column::text}};
      std::map<std::string, Column::Kind> skind;
      for (const auto& [r, src] : recs)
        for (const auto& [k, v] : r.settings)
          skind[k] = std::holds_alternative<std::int64_t>(v) ? Column::integer
                     : std::holds_alternative<double>(v)     ? Column::real
                                                             : Column::text;
      for (const auto& k : setting_keys)
        cols.push_back({k, skind.count(k) ? skind[k] : Column::text});
      for (const auto& m : metric_names) cols.push_back({m, Column::real});
      auto text_of = [&](const SweepPointRecord& r, const Column& c) -> std::string {
        if (c.name == "status") return r.status;
        if (c.name == "kernel") return r.kernel;
        if (c.name == "error") return r.error;
        for (const auto& [k, v] : r.settings)
          if (k == c.name) {
            if (const auto* s = std::get_if<std::string>(&v)) return *s;
            if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
          }
        return "";
      };
      std::size_t offset = 0;
      for (auto& c : cols) {
        if (c.kind == Column::text) {
          c.width = 1;
          for (const auto& [r, src] : recs) c.width = std::max(c.width, text_of(r, c).size() + 1);
        } else {
          c.width = 8;
        }
        c.offset = offset;
        offset += c.width;
      }
      const std::size_t row = std::max<std::size_t>(offset, 1);
      H5Id type(H5Tcreate(H5T_COMPOUND, row));
      std::vector<H5Id> strtypes;
      for (const auto& c : cols) {
        hid_t member = H5T_NATIVE_INT64;
        if (c.kind == Column::real) member = H5T_NATIVE_DOUBLE;
        if (c.kind == Column::text) {
          strtypes.emplace_back(H5Tcopy(H5T_C_S1));
          H5Tset_size(strtypes.back().get(), c.width);
          H5Tset_strpad(strtypes.back().get(), H5T_STR_NULLTERM);
          H5Tset_cset(strtypes.back().get(), H5T_CSET_UTF8);
          member = strtypes.back().get();
        }
        check_status(H5Tinsert(type.get(), c.name.c_str(), c.offset, member),
                     "making the summary table of", tmp);
      }
      std::vector<unsigned char> buf(row * recs.size(), 0);
      for (std::size_t i = 0; i < recs.size(); ++i) {
        const SweepPointRecord& r = recs[i].first;
        unsigned char* b = buf.data() + i * row;
        for (const auto& c : cols) {
          if (c.kind == Column::text) {
            const std::string t = text_of(r, c);
            std::memcpy(b + c.offset, t.data(), t.size());
          } else if (c.kind == Column::integer) {
            std::int64_t v = c.name == "point" ? r.index : 0;
            for (const auto& [k, sv] : r.settings)
              if (k == c.name && std::holds_alternative<std::int64_t>(sv))
                v = std::get<std::int64_t>(sv);
            std::memcpy(b + c.offset, &v, 8);
          } else {
            double v = std::numeric_limits<double>::quiet_NaN();
            for (const auto& [k, sv] : r.settings)
              if (k == c.name && std::holds_alternative<double>(sv)) v = std::get<double>(sv);
            for (const auto& [k, mv] : r.metrics)
              if (k == c.name) v = mv;
            std::memcpy(b + c.offset, &v, 8);
          }
        }
      }
      const hsize_t dims[1] = {recs.size()};
      H5Id space(H5Screate_simple(1, dims, nullptr));
      H5Id ds(check(H5Dcreate2(file.get(), "/summary", type.get(), space.get(), H5P_DEFAULT,
                               H5P_DEFAULT, H5P_DEFAULT),
                    "creating the summary of", tmp));
      if (!recs.empty())
        check_status(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()),
                     "writing the summary of", tmp);
      ds.reset();
      root.reset();
      pts.reset();
      if (!file.close())
        throw IoError(fmt::format("writing '{}': {}", tmp, detail::hdf5_failure()));
    }
    std::filesystem::rename(tmp, out);
  } catch (...) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

SweepFileInfo read_sweep_info(const std::string& path, std::vector<PointSource>* points) {
  detail::quiet_hdf5();
  H5Id file = detail::open_for_read(path);
  H5Id root(H5Gopen2(file.get(), "/", H5P_DEFAULT));
  if (!detail::has_attr(root.get(), "sweep_kind"))
    throw IoError(
        fmt::format("'{}' is not a sweep's results file (no sweep_kind attribute)", path));
  SweepFileInfo info;
  info.kind = detail::read_string_attr(root.get(), "sweep_kind");
  info.experiment = detail::read_string_attr(root.get(), "sweep_experiment");
  info.shard = detail::read_string_attr(root.get(), "sweep_shard");
  info.total_points = detail::read_int_attr(root.get(), "sweep_points");
  if (points) {
    H5Id pts(H5Gopen2(file.get(), "/points", H5P_DEFAULT));
    if (!pts.valid()) throw IoError(fmt::format("'{}' has no /points group", path));
    H5G_info_t gi;
    H5Gget_info(pts.get(), &gi);
    for (hsize_t i = 0; i < gi.nlinks; ++i) {
      const ssize_t len = H5Lget_name_by_idx(pts.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr,
                                             0, H5P_DEFAULT);
      std::string name(static_cast<std::size_t>(std::max<ssize_t>(len, 0)), '\0');
      H5Lget_name_by_idx(pts.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                         name.size() + 1, H5P_DEFAULT);
      points->push_back({path, "/points/" + name});
    }
  }
  return info;
}

}  // namespace fp8sim::analysis
