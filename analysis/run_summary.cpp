// analysis/run_summary.cpp
#include "analysis/run_summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "analysis/h5_file.hpp"

namespace fp8sim::analysis {

using detail::H5Id;

namespace {

template <class T>
std::vector<T> read_column(hid_t group, const char* name, hid_t mtype) {
  if (H5Lexists(group, name, H5P_DEFAULT) <= 0) return {};
  H5Id ds(H5Dopen2(group, name, H5P_DEFAULT));
  H5Id sp(H5Dget_space(ds.get()));
  if (H5Sget_simple_extent_ndims(sp.get()) != 1) return {};
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp.get(), &n, nullptr);
  std::vector<T> v(n);
  if (n && H5Dread(ds.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0) return {};
  return v;
}

std::vector<double> f64(hid_t g, const char* name) {
  return read_column<double>(g, name, H5T_NATIVE_DOUBLE);
}
std::vector<std::uint64_t> u64(hid_t g, const char* name) {
  return read_column<std::uint64_t>(g, name, H5T_NATIVE_UINT64);
}

double pct(double part, double whole) {
  return whole > 0 ? 100.0 * part / whole : 0.0;
}

std::vector<std::string> children(hid_t loc, const std::string& path) {
  std::vector<std::string> names;
  if (!detail::link_exists(loc, path)) return names;
  H5Id g(H5Gopen2(loc, path.c_str(), H5P_DEFAULT));
  H5Literate(
      g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &names);
  return names;
}

void summarize_point(hid_t file, const std::string& path, const std::string& kind,
                     std::vector<PointSummary>& out) {
  H5Id g(H5Gopen2(file, path.c_str(), H5P_DEFAULT));
  PointSummary p;
  p.path = path;
  p.kind = kind;
  p.format = detail::read_string_attr(g.get(), "format");
  p.rounding = detail::read_string_attr(g.get(), "rounding");
  if (kind == "gemm") p.rounding = detail::read_string_attr(g.get(), "mac");
  const auto step = read_column<std::int64_t>(g.get(), "step", H5T_NATIVE_INT64);
  // rows: complete ones only (step written, every column long enough)
  std::size_t n = step.size();
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < n; ++i) {
    if (step[i] < 0) {
      ++p.cut_rows;
      continue;
    }
    rows.push_back(i);
  }
  auto col = [&](auto v) {  // drops rows the column does not reach
    std::erase_if(rows, [&](std::size_t i) { return i >= v.size(); });
    return v;
  };
  if (kind == "gradient") {
    const auto norm = col(f64(g.get(), "norm")), amax = col(f64(g.get(), "amax"));
    const auto below = col(f64(g.get(), "below_min_subnormal"));
    const auto below_s = col(f64(g.get(), "below_min_subnormal_scaled"));
    const auto above = col(f64(g.get(), "above_max"));
    for (auto i : rows) {
      p.norm_last = norm[i];
      p.amax_max = std::max(p.amax_max, amax[i]);
      p.below_min_subnormal_pct += 100 * below[i];
      p.below_min_subnormal_scaled_pct += 100 * below_s[i];
      p.above_max_pct += 100 * above[i];
    }
    if (!rows.empty()) {
      const double r = static_cast<double>(rows.size());
      p.below_min_subnormal_pct /= r;
      p.below_min_subnormal_scaled_pct /= r;
      p.above_max_pct /= r;
    }
  } else {
    const auto count = col(u64(g.get(), "count")), uf = col(u64(g.get(), "underflow"));
    const auto fl = col(u64(g.get(), "flushed_subnormal"));
    const auto sub = col(u64(g.get(), "subnormal_out"));
    const auto ovf = col(u64(g.get(), "overflow")), sat = col(u64(g.get(), "saturated"));
    const auto nan_out = col(u64(g.get(), "nan_out")), inf_out = col(u64(g.get(), "inf_out"));
    const auto sqnr = col(f64(g.get(), "sqnr_db")), rel = col(f64(g.get(), "rel_error_mean"));
    const auto amax = col(f64(g.get(), "amax"));
    std::vector<std::uint64_t> steps, inexact, swamped, products;
    if (kind == "gemm") {
      steps = col(u64(g.get(), "mac_steps"));
      inexact = col(u64(g.get(), "mac_inexact"));
      swamped = col(u64(g.get(), "mac_swamped"));
      products = col(u64(g.get(), "products"));
    }
    double t_uf = 0, t_fl = 0, t_sub = 0, t_ovf = 0, t_sat = 0, t_nf = 0, s_sum = 0, s_n = 0;
    double t_steps = 0, t_inexact = 0, t_sw = 0, t_prod = 0;
    p.sqnr_db_min = std::numeric_limits<double>::infinity();
    for (auto i : rows) {
      p.elements += count[i];
      t_uf += static_cast<double>(uf[i]);
      t_fl += static_cast<double>(fl[i]);
      t_sub += static_cast<double>(sub[i]);
      t_ovf += static_cast<double>(ovf[i]);
      t_sat += static_cast<double>(sat[i]);
      t_nf += static_cast<double>(nan_out[i] + inf_out[i]);
      if (std::isfinite(sqnr[i])) {
        s_sum += sqnr[i];
        ++s_n;
      }
      p.sqnr_db_min = std::min(p.sqnr_db_min, sqnr[i]);
      p.sqnr_db_last = sqnr[i];
      p.rel_error_mean += rel[i];
      p.amax_max = std::max(p.amax_max, amax[i]);
      if (kind == "gemm") {
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
    if (rows.empty()) p.sqnr_db_min = 0;
    p.rel_error_mean = rows.empty() ? 0 : p.rel_error_mean / static_cast<double>(rows.size());
    p.inexact_step_pct = pct(t_inexact, t_steps);
    p.swamped_fraction = t_prod > 0 ? t_sw / t_prod : 0.0;
  }
  p.rows = rows.size();
  if (!rows.empty()) {
    p.first_step = step[rows.front()];
    p.last_step = step[rows.back()];
  }
  out.push_back(std::move(p));
}

}  // namespace

RunSummary summarize_run(const std::string& path) {
  H5Id f = detail::open_for_read(path);
  RunSummary s;
  s.file = path;
  H5Id root(H5Gopen2(f.get(), "/", H5P_DEFAULT));
  if (!detail::has_attr(root.get(), "schema_version"))
    throw IoError(
        fmt::format("'{}' is not an fp8sim recording (no schema_version attribute)", path));
  s.attributes.emplace_back("schema_version",
                            std::to_string(detail::read_int_attr(root.get(), "schema_version")));
  for (const char* a :
       {"kind", "fp8sim_version", "git_commit", "command_line", "start_time", "host"})
    s.attributes.emplace_back(a, detail::read_string_attr(root.get(), a));
  for (const auto& tensor : children(f.get(), "/quantizers"))
    for (const auto& role : children(f.get(), "/quantizers/" + tensor))
      summarize_point(f.get(), fmt::format("/quantizers/{}/{}", tensor, role), "quantizer",
                      s.points);
  for (const auto& g : children(f.get(), "/gemms"))
    summarize_point(f.get(), "/gemms/" + g, "gemm", s.points);
  for (const auto& g : children(f.get(), "/gradients"))
    summarize_point(f.get(), "/gradients/" + g, "gradient", s.points);
  return s;
}

}  // namespace fp8sim::analysis
