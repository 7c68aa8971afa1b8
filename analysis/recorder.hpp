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
// Usage: construct, declare every point (add_*), start(), then record_* and end_step()
// per step. SWMR allows no new objects after start(), hence the declare-first order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "analysis/gemm_stats.hpp"
#include "analysis/gradient_stats.hpp"
#include "analysis/h5_file.hpp"
#include "analysis/run_info.hpp"
#include "analysis/tensor_stats.hpp"
#include "formats/formats.hpp"

namespace fp8sim::analysis {

class Recorder {
 public:
  /// Opens `path` (OpenMode::create refuses an existing file). With append, the file must
  /// hold the same points (declared again before start()); rows continue after its last
  /// complete row. Throws IoError.
  Recorder(const std::string& path, OpenMode mode, const RunInfo& info,
           std::uint64_t flush_every = 16);
  ~Recorder();  ///< flushes and closes; errors at this point are swallowed (call close())
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  /// Declares points; each returns the id to record with. Names must be non-empty and
  /// free of '/'. Throws std::invalid_argument on a bad or repeated name.
  int add_quantizer(const std::string& tensor, const std::string& role, const Format& f,
                    const std::string& rounding);
  int add_gemm(const std::string& name, const Format& out, const std::string& mac, std::uint64_t m,
               std::uint64_t n, std::uint64_t k);
  int add_gradient(const std::string& tensor, const Format& target);
  /// Creates (or, appending, checks) the datasets and switches the file to SWMR mode.
  void start();

  /// The first step number to record: 0, or one past the last recorded step (append).
  [[nodiscard]] std::int64_t next_step() const;

  void record_quantizer(int id, std::int64_t step, const TensorStats& s);
  void record_gemm(int id, std::int64_t step, const GemmStats& s);
  void record_gradient(int id, std::int64_t step, const GradientStats& s);
  /// Marks the end of a step; writes and flushes every `flush_every` calls.
  void end_step();
  /// Writes buffered rows and flushes the file to the operating system.
  void flush();
  /// Flushes and closes (idempotent). Throws IoError if the last write fails.
  void close();
  /// Rows flushed so far by this process (over all points, max per point).
  [[nodiscard]] std::uint64_t rows_flushed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp8sim::analysis
