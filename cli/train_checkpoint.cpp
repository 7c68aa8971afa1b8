// cli/train_checkpoint.cpp — a training recording cut back to a checkpoint.
#include "cli/train_checkpoint.hpp"

#include <hdf5.h>

#include <algorithm>
#include <functional>
#include <limits>

#include <fmt/format.h>

#include "analysis/h5_file.hpp"
#include "analysis/train_series.hpp"
#include "formats/formats.hpp"

namespace fp8sim::cli {

namespace {

using analysis::IoError;
using analysis::detail::H5Id;

std::vector<std::string> members(hid_t g, const std::string& file) {
  H5G_info_t gi{};
  if (H5Gget_info(g, &gi) < 0)
    throw IoError(fmt::format("cannot read {}: {}", shown(file), analysis::detail::hdf5_failure()));
  std::vector<std::string> out;
  for (hsize_t i = 0; i < gi.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0)
      throw IoError(
          fmt::format("cannot read {}: {}", shown(file), analysis::detail::hdf5_failure()));
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    out.push_back(std::move(name));
  }
  return out;
}

// The rows of a 1-D int64 dataset.
std::vector<std::int64_t> read_i64(hid_t ds, hsize_t n, const std::string& where) {
  std::vector<std::int64_t> v(n);
  if (n == 0) return v;
  H5Id fs(H5Dget_space(ds));
  const hsize_t start[1] = {0}, count[1] = {n};
  H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  H5Id ms(H5Screate_simple(1, count, nullptr));
  analysis::detail::check_status(
      H5Dread(ds, H5T_NATIVE_INT64, ms.get(), fs.get(), H5P_DEFAULT, v.data()), "cannot read",
      where);
  return v;
}

struct Rewind {
  std::string file;
  std::int64_t step, epoch;
  std::int64_t steps_kept = -1;  ///< rows /train/steps keeps

  // A group holding a `step` dataset is a table: every dataset in it is cut to the rows kept.
  void table(hid_t g, const std::string& path) {
    const std::vector<std::string> names = members(g, file);
    hsize_t rows = std::numeric_limits<hsize_t>::max();
    std::vector<std::pair<H5Id, int>> sets;
    for (const std::string& n : names) {
      if (analysis::detail::object_type(g, n) != H5O_TYPE_DATASET) continue;
      H5Id ds(H5Dopen2(g, n.c_str(), H5P_DEFAULT));
      H5Id space(H5Dget_space(ds.get()));
      const int rank = H5Sget_simple_extent_ndims(space.get());
      if (rank < 1 || rank > 2)
        throw IoError(
            fmt::format("cannot continue {}: {}/{} is not a column of rows", shown(file), path, n));
      hsize_t dims[2] = {0, 0};
      H5Sget_simple_extent_dims(space.get(), dims, nullptr);
      rows = std::min(rows, dims[0]);
      sets.emplace_back(std::move(ds), rank);
    }
    H5Id step_ds(H5Dopen2(g, "step", H5P_DEFAULT));
    const std::vector<std::int64_t> steps = read_i64(step_ds.get(), rows, file + ":" + path);
    std::vector<std::int64_t> epochs;
    const bool is_epochs = path == std::string("/") + analysis::kTrainEpochs;
    const bool is_test = path == std::string("/") + analysis::kTrainTest;
    if (is_epochs && analysis::detail::object_type(g, "epoch") == H5O_TYPE_DATASET) {
      H5Id e(H5Dopen2(g, "epoch", H5P_DEFAULT));
      epochs = read_i64(e.get(), rows, file + ":" + path + "/epoch");
    }
    hsize_t keep = 0;
    if (!is_test)
      while (keep < rows && steps[keep] >= 0 && steps[keep] < step &&
             (!is_epochs || (keep < epochs.size() && epochs[keep] < epoch)))
        ++keep;
    for (auto& [ds, rank] : sets) {
      hsize_t dims[2] = {0, 0};
      H5Id space(H5Dget_space(ds.get()));
      H5Sget_simple_extent_dims(space.get(), dims, nullptr);
      dims[0] = keep;
      analysis::detail::check_status(H5Dset_extent(ds.get(), dims), "cannot cut back",
                                     file + ":" + path);
    }
    if (path == std::string("/") + analysis::kTrainSteps)
      steps_kept = static_cast<std::int64_t>(keep);
  }

  void walk(hid_t g, const std::string& path, int depth) {
    if (depth > 16) return;
    if (analysis::detail::object_type(g, "step") == H5O_TYPE_DATASET) {
      table(g, path);
      return;
    }
    for (const std::string& n : members(g, file)) {
      if (analysis::detail::object_type(g, n) != H5O_TYPE_GROUP) continue;
      H5Id c(H5Gopen2(g, n.c_str(), H5P_DEFAULT));
      walk(c.get(), (path == "/" ? "/" : path + "/") + n, depth + 1);
    }
  }
};

}  // namespace

std::string default_checkpoint_path(const std::string& record) {
  const std::string stem =
      record.size() > 3 && record.ends_with(".h5") ? record.substr(0, record.size() - 3) : record;
  return stem + ".ckpt.h5";
}

void rewind_recording(const std::string& path, std::uint64_t step, std::uint64_t epoch) {
  analysis::detail::quiet_hdf5();
  (void)analysis::detail::check_readable(path);
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  hbool_t clear = 1;  // h5clear -s: the mark a killed SWMR writer leaves
  (void)H5Pset(fapl.get(), "clear_status_flags", &clear);
  H5Id f(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()));
  if (!f.valid())
    throw IoError(fmt::format("cannot continue the recording {}: {}", shown(path),
                              analysis::detail::hdf5_failure("not an HDF5 file, or damaged")));
  {
    H5Id root(H5Gopen2(f.get(), "/", H5P_DEFAULT));
    const std::string kind = analysis::detail::attr_type_name(root.get(), "kind") == "string"
                                 ? analysis::detail::read_string_attr(root.get(), "kind")
                                 : std::string();
    if (kind != "train" || analysis::detail::object_type(
                               f.get(), std::string("/") + analysis::kTrainSteps) != H5O_TYPE_GROUP)
      throw IoError(fmt::format("cannot continue {}: not a training recording (/@kind {})",
                                shown(path), shown(kind)));
  }
  Rewind r{path, static_cast<std::int64_t>(step), static_cast<std::int64_t>(epoch)};
  r.walk(f.get(), "/", 0);
  if (r.steps_kept != static_cast<std::int64_t>(step))
    throw IoError(fmt::format(
        "cannot continue {}: it holds {} steps, the checkpoint {} (not the recording of the "
        "checkpoint's run?)",
        shown(path), std::max<std::int64_t>(r.steps_kept, 0), step));
  analysis::detail::check_status(H5Fflush(f.get(), H5F_SCOPE_GLOBAL), "cannot write", path);
  if (!f.close())
    throw IoError(
        fmt::format("cannot write {}: {}", shown(path), analysis::detail::hdf5_failure()));
}

RecordedPoints read_recorded_points(const std::string& path) {
  H5Id f = analysis::detail::open_for_read(path);
  RecordedPoints p;
  auto str = [&](hid_t g, const char* name) { return analysis::detail::read_string_attr(g, name); };
  auto num = [&](hid_t g, const char* name) {
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, analysis::detail::read_int_attr(g, name)));
  };
  if (analysis::detail::object_type(f.get(), "/quantizers") == H5O_TYPE_GROUP) {
    H5Id q(H5Gopen2(f.get(), "/quantizers", H5P_DEFAULT));
    for (const std::string& t : members(q.get(), path)) {
      H5Id tg(H5Gopen2(q.get(), t.c_str(), H5P_DEFAULT));
      for (const std::string& role : members(tg.get(), path)) {
        H5Id g(H5Gopen2(tg.get(), role.c_str(), H5P_DEFAULT));
        p.quantizers.push_back({t, role, str(g.get(), "format"), str(g.get(), "rounding")});
      }
    }
  }
  if (analysis::detail::object_type(f.get(), "/gemms") == H5O_TYPE_GROUP) {
    H5Id q(H5Gopen2(f.get(), "/gemms", H5P_DEFAULT));
    for (const std::string& n : members(q.get(), path)) {
      H5Id g(H5Gopen2(q.get(), n.c_str(), H5P_DEFAULT));
      p.gemms.push_back({n, str(g.get(), "mac"), str(g.get(), "format"), num(g.get(), "m"),
                         num(g.get(), "n"), num(g.get(), "k")});
    }
  }
  if (analysis::detail::object_type(f.get(), "/gradients") == H5O_TYPE_GROUP) {
    H5Id q(H5Gopen2(f.get(), "/gradients", H5P_DEFAULT));
    for (const std::string& n : members(q.get(), path)) {
      H5Id g(H5Gopen2(q.get(), n.c_str(), H5P_DEFAULT));
      p.gradients.push_back({n, str(g.get(), "format")});
    }
  }
  return p;
}

}  // namespace fp8sim::cli
