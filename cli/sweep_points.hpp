// cli/sweep_points.hpp — running one point of a sweep: its full record written to its own
// HDF5 file (the layout of `fp8sim gemm --record`, one step; a quantize point records its
// tensor as /quantizers/x/tensor), and its headline metrics for the summary.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cli/sweep_plan.hpp"

namespace fp8sim::cli {

/// A point's metrics: (name, value) pairs, the same names for every point of a kind, plus
/// the kernel that ran (gemm).
struct PointMetrics {
  std::vector<std::pair<std::string, double>> values;
  std::string kernel;
};

/// The metric names of a kind, in order (NaN fills them for a failed point).
[[nodiscard]] std::vector<std::string> metric_names(const std::string& kind);

/// Runs point p of `plan` with `threads` threads (results never depend on it) and writes its
/// record to `path`, a temporary name the caller renames into place once the record is
/// complete. Throws on failure, leaving no file at `path`.
PointMetrics run_point(const SweepPlan& plan, const SweepPoint& p, int threads,
                       const std::string& path);

}  // namespace fp8sim::cli
