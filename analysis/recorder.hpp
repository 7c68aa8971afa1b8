// analysis/recorder.hpp — the HDF5 recorder: one file per run, one group per quantization
// point, GEMM and gradient, one row per recorded step in extendible, chunked, gzip
// datasets (layout: docs/hdf5-schema.md).
//
// Crash safety: after start() the file is in SWMR mode (single writer, multiple readers,
// HDF5 >= 1.10), which keeps it consistent on disk at every moment; rows are buffered and
// written, then flushed, every `flush_every` steps and at close. A process killed at any
// time leaves a file holding every row up to the last flush. Such a file still carries
// HDF5's "open for writing" mark: h5py reads it with File(path, 'r', swmr=True), `fp8sim
// report` reads it as is, and `h5clear -s FILE` clears the mark for every other tool.
//
// How the run ended is kept in /status (docs/hdf5-schema.md), made before start() and
// overwritten at close (SWMR forbids new objects afterwards, not writes): state running
// while the run goes on (still `running` in a file nobody writes any more: the writer was
// killed), complete after close(), stopped (with the signal and the step) after
// mark_stopped() and close(), failed when the Recorder is destroyed by an exception.
//
// Usage: construct, declare every point (add_*), start(), then record_* and end_step()
// per step, close(). SWMR allows no new objects after start(), hence the declare-first
// order. A file this Recorder created is removed again when creating it, start() or its
// first write fails, or when it is destroyed by an exception before any row was flushed.
//
// Series: besides quantizers, GEMMs and gradients a run can record its own tables
// (add_series: a training run's /train/steps, /train/epochs, ...), with the same row,
// flush, crash and append rules, and set attributes on any group (set_group_attr).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "analysis/gemm_stats.hpp"
#include "analysis/gradient_stats.hpp"
#include "analysis/h5_file.hpp"
#include "analysis/run_info.hpp"
#include "analysis/tensor_stats.hpp"
#include "formats/formats.hpp"

namespace fp8sim::analysis {

/// One column of a series (Recorder::add_series); the `step` column (int64) comes first
/// implicitly. `unit` and `description`, when not empty, become the dataset's @unit and
/// @description attributes.
struct SeriesColumn {
  enum class Type { i64, u64, f64 };
  std::string name;
  Type type = Type::f64;
  std::string unit;
  std::string description;
};

class Recorder {
 public:
  /// Opens `path` (OpenMode::create refuses an existing file). With append, the file must
  /// hold the same points (declared again before start()); rows continue after its last
  /// complete row. Throws IoError.
  /// Appending to a file of schema version 1 upgrades it to the current version (adds
  /// /status). Throws IoError.
  Recorder(const std::string& path, OpenMode mode, const RunInfo& info,
           std::uint64_t flush_every = 16);
  /// Flushes and closes; errors at this point are swallowed (call close()). Destroyed by
  /// an exception (the command failed), it marks the file `failed` instead, or removes it
  /// when it created the file and flushed no row yet.
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  /// Declares points; each returns the id to record with. Names must be non-empty and
  /// free of '/'. Throws std::invalid_argument on a bad or repeated name.
  int add_quantizer(const std::string& tensor, const std::string& role, const Format& f,
                    const std::string& rounding);
  int add_gemm(const std::string& name, const Format& out, const std::string& mac, std::uint64_t m,
               std::uint64_t n, std::uint64_t k);
  int add_gradient(const std::string& tensor, const Format& target);
  /// Declares a series: a group at `path`, relative to the root ("train/steps",
  /// "train/updates/fc1.weight"; segments non-empty, not "." or "..", no leading '/';
  /// intermediate groups are created), holding `step` (int64) and then one 1-D dataset
  /// per column, in order. Column names are non-empty, free of '/', unique and not
  /// "step"; there is at least one. Refused (std::invalid_argument): a bad path, a path
  /// under /status, /quantizers, /gemms, /gradients or /dumps, a path declared twice or
  /// inside another series, bad columns. Appending, the file's group must hold these
  /// columns with these dtypes.
  int add_series(const std::string& path, std::vector<SeriesColumn> cols);
  /// Sets a string or integer attribute on the group at `path` (relative to the root, the
  /// rules of add_series; the group of a series or any other group, created at start()
  /// when missing). A second call for the same name replaces the value. Appending, the
  /// file's group must already hold the same value (a different value is a different
  /// run: start() refuses it, IoError). Before start() only (std::logic_error).
  void set_group_attr(const std::string& path, const std::string& name, const std::string& value);
  void set_group_attr(const std::string& path, const std::string& name, std::int64_t value);
  /// Creates (or, appending, checks) the datasets and switches the file to SWMR mode.
  void start();

  /// The first step number to record: 0, or one past the last recorded step (append).
  [[nodiscard]] std::int64_t next_step() const;

  void record_quantizer(int id, std::int64_t step, const TensorStats& s);
  void record_gemm(int id, std::int64_t step, const GemmStats& s);
  void record_gradient(int id, std::int64_t step, const GradientStats& s);
  /// One row of a series: `values` holds one value per column, in declaration order.
  /// i64 and u64 columns take integral values (u64: 0 to 2^63 - 1, the counts the schema
  /// allows); f64 columns anything, NaN and Inf included. `step` must be >= 0 and above
  /// the series' previous step. Throws std::invalid_argument (nothing is recorded) on the
  /// wrong number of values, a non-integral, NaN, negative (u64) or out-of-range value,
  /// or a step that does not increase.
  void record_series(int id, std::int64_t step, std::span<const double> values);
  void record_series(int id, std::int64_t step, std::initializer_list<double> values) {
    record_series(id, step, std::span<const double>(values.begin(), values.size()));
  }
  /// Marks the end of a step; writes and flushes every `flush_every` calls.
  void end_step();
  /// Writes buffered rows and flushes the file to the operating system.
  void flush();
  /// Records that a signal (SIGINT, SIGTERM, ...: `signo`) stopped the run after `step`,
  /// the last step it completed (-1: none); close() then marks the file `stopped`.
  void mark_stopped(int signo, std::int64_t step);
  /// Flushes, writes /status (complete, or stopped after mark_stopped) and closes
  /// (idempotent). Throws IoError if the last write fails.
  void close();
  /// The same, saying how the run ended: RunState::complete, stopped (after
  /// mark_stopped, or with signal 0: unknown) or failed.
  void close(RunState how);
  /// Rows flushed so far by this process (over all points, max per point).
  [[nodiscard]] std::uint64_t rows_flushed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp8sim::analysis
