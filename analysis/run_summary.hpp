// analysis/run_summary.hpp — reading a recorded run back: one summary per quantization
// point, GEMM and gradient (what `fp8sim report` prints), after checking the file against
// docs/hdf5-schema.md (summarize_run is a validator: anything the schema does not allow
// is refused by name).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
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

/// How the run ended (/status, schema_version 2; guessed from HDF5's marks for version 1).
struct RunStatus {
  /// "complete", "stopped" (by a signal), "failed" (ended by an error), "killed" (never
  /// closed: /status still says running), "closed" (schema 1: closed, how is not recorded)
  std::string state;
  bool cut_short = false;    ///< stopped, failed or killed: fewer steps than asked for
  bool writer_open = false;  ///< HDF5's "open for writing" mark is set (read in SWMR mode)
  int signal = 0;            ///< stopped: the signal's number (2 SIGINT, 15 SIGTERM)
  std::string signal_name;   ///< "SIGTERM", ...; empty when no signal
  /// The last step the run completed: as recorded in /status when it was closed, else (killed,
  /// schema 1) the last complete row of any point; -1: none.
  std::int64_t last_step = -1;
  std::int64_t end_time = 0;  ///< when it was closed (Unix seconds); 0: never closed / unknown
};

/// One parameter's /train/updates/{param} series, over all its complete rows.
struct UpdateSummary {
  std::string param;  ///< e.g. fc1.weight
  std::uint64_t rows = 0;
  std::uint64_t nonzero = 0, vanished = 0;  ///< totals over the rows
  double vanished_fraction = 0;             ///< vanished / nonzero over all rows (0: none)
  double vanished_fraction_last = 0;        ///< the last row's
  double max_abs_update = 0;                ///< over all rows
};

/// What a training recording (/@kind train) says about the run; NaN where a value was not
/// recorded (no rows yet, no validation split, no test evaluation).
struct TrainSummary {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  std::string workload, recipe;                       ///< /train@workload, /train@recipe
  std::int64_t classes = 0;                           ///< /train@classes
  std::uint64_t steps = 0;                            ///< rows of /train/steps
  std::int64_t first_step = -1, last_step = -1;       ///< of /train/steps
  std::uint64_t epochs = 0;                           ///< rows of /train/epochs
  std::int64_t last_epoch = -1;                       ///< the last row's epoch
  double final_loss = kNone, final_accuracy = kNone;  ///< the last step's batch
  double final_lr = kNone, final_loss_scale = kNone;  ///< the last step's
  double seconds = kNone;                             ///< the last step's (since the start)
  std::uint64_t skipped_steps = 0;    ///< steps whose update was skipped (sum of `skipped`)
  std::uint64_t overflow_events = 0;  ///< the last step's (cumulative)
  std::uint64_t images = 0;           ///< the last step's (cumulative)
  double train_loss = kNone, train_accuracy = kNone;  ///< the last epoch's
  double val_loss = kNone, val_accuracy = kNone;      ///< the last epoch's (NaN: no split)
  std::uint64_t tests = 0;                            ///< rows of /train/test
  std::int64_t test_step = -1;                        ///< the last evaluation's step
  double test_loss = kNone, test_accuracy = kNone;    ///< the last evaluation's
  double test_exact_match = kNone;     ///< ... sequences: greedy decoding = target (NaN: images)
  std::vector<UpdateSummary> updates;  ///< by parameter name
  std::uint64_t cut_rows = 0;          ///< rows of the /train series cut off by a crash
};

struct RunSummary {
  std::string file;
  int schema_version = 0;
  std::string kind;                                             ///< /@kind: gemm, train, ...
  std::vector<std::pair<std::string, std::string>> attributes;  ///< root attributes as text
  RunStatus status;
  std::vector<PointSummary> points;
  std::optional<TrainSummary> train;  ///< kind train: /train
};

/// Reads a file written by the Recorder (also one whose writer was killed), checking it
/// against docs/hdf5-schema.md: schema_version (an integer this build knows: 1 or 2),
/// every group, dataset and attribute with its dtype and shape, every column of a point
/// with the same number of rows (except in a file that was not closed normally, where a
/// cut-off flush may leave some longer), steps increasing, counts non-negative. Throws
/// IoError naming the file, the object and what is wrong; a tensor dump is refused as
/// "a tensor dump, not a recording". A `train` recording also has /train (its attributes,
/// the series steps, epochs and test, and optionally updates/{param}: the columns of
/// analysis/train_series.hpp), summarized in `train`; /train in any other kind is refused.
[[nodiscard]] RunSummary summarize_run(const std::string& path);

}  // namespace fp8sim::analysis
