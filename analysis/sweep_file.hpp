// analysis/sweep_file.hpp — the results file of a sweep (docs/hdf5-schema.md, "Sweeps"):
//   /points/pNNNNNN   one group per point: the point's whole record (a copy of the root of
//                     its own recording: /quantizers, /gemms, ... and the run attributes),
//                     plus its settings (setting:KEY), metrics (metric:NAME), sweep_point,
//                     status ("ok" or "failed"), error and kernel as attributes
//   /summary          one row per point: point, status, kernel, error, every setting, every
//                     metric (NaN for a failed point); pandas reads it in one line
//   root attributes   sweep_kind, sweep_experiment (the TOML text), sweep_points (points in
//                     the whole experiment), sweep_shard ("i/N" or "") and the run's own
// A file is written under a temporary name and renamed into place once complete.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "analysis/run_info.hpp"

namespace fp8sim::analysis {

using SettingValue = std::variant<std::int64_t, double, bool, std::string>;

struct SweepPointRecord {
  std::int64_t index = 0;
  std::string status = "ok";  ///< "ok" or "failed"
  std::string error;          ///< why it failed
  std::string kernel;
  std::vector<std::pair<std::string, SettingValue>> settings;
  std::vector<std::pair<std::string, double>> metrics;
};

/// Adds r's attributes (sweep_point, status, error, kernel, setting:*, metric:*) to the
/// root of the HDF5 file at `path` (a point's record, or a new file for a failed point:
/// `create`). Throws IoError.
void annotate_point_file(const std::string& path, const SweepPointRecord& r, bool create);

/// Where a point's record lives: a file and the group in it ("/" for a point's own file,
/// "/points/pNNNNNN" in a sweep file).
struct PointSource {
  std::string file, group;
};
/// The record's attributes back. Throws IoError when they are missing.
[[nodiscard]] SweepPointRecord read_point_record(const PointSource& src);

struct SweepFileInfo {
  std::string kind, experiment, shard;
  std::int64_t total_points = 0;
  RunInfo run;
};

/// Writes `out` (through out + ".tmp", then renamed; refuses nothing: the caller decided)
/// holding every source's group under /points, ordered by point, and the summary.
void write_sweep_file(const std::string& out, const SweepFileInfo& info,
                      const std::vector<PointSource>& points,
                      const std::vector<std::string>& setting_keys,
                      const std::vector<std::string>& metric_names);

/// A sweep file's info and its points' groups (ordered by point). Throws IoError when
/// `path` is not a sweep file.
[[nodiscard]] SweepFileInfo read_sweep_info(const std::string& path,
                                            std::vector<PointSource>* points = nullptr);

}  // namespace fp8sim::analysis
