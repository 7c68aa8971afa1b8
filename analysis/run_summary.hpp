// analysis/run_summary.hpp — reading a recorded run back: one summary per quantization
// point, GEMM and gradient (what `fp8sim report` prints).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fp8sim::analysis {

struct PointSummary {
  std::string path;  ///< e.g. /quantizers/A/activation
  std::string kind;  ///< "quantizer", "gemm" or "gradient"
  std::string format, rounding;
  std::uint64_t rows = 0;      ///< complete rows (steps recorded)
  std::uint64_t cut_rows = 0;  ///< rows cut off by a crash (step column still -1)
  std::int64_t first_step = -1, last_step = -1;
  // quantizers and GEMMs: totals over all rows, as % of elements
  std::uint64_t elements = 0;
  double underflow_pct = 0, flushed_pct = 0, subnormal_pct = 0, overflow_pct = 0, saturated_pct = 0,
         nonfinite_out_pct = 0;
  double sqnr_db_mean = 0, sqnr_db_min = 0, sqnr_db_last = 0;  ///< over finite-SQNR rows
  double rel_error_mean = 0;                                   ///< mean over rows
  double amax_max = 0;
  // GEMMs
  double inexact_step_pct = 0;  ///< MAC rounding steps that were inexact
  double swamped_fraction = 0;  ///< swamped products / products over all rows
  // gradients (means over rows, fractions as %)
  double norm_last = 0, below_min_subnormal_pct = 0, below_min_subnormal_scaled_pct = 0,
         above_max_pct = 0;
};

struct RunSummary {
  std::string file;
  std::vector<std::pair<std::string, std::string>> attributes;  ///< root attributes as text
  std::vector<PointSummary> points;
};

/// Reads a file written by the Recorder (also one whose writer was killed). Throws IoError
/// when it cannot be opened or is not an fp8sim recording.
[[nodiscard]] RunSummary summarize_run(const std::string& path);

}  // namespace fp8sim::analysis
