// analysis/tensor_io.hpp — tensors in and out: reading .npy files and HDF5 datasets, and
// tensor dumps (full-precision input, codes, decoded values, with format and rounding).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analysis/h5_file.hpp"
#include "analysis/run_info.hpp"
#include "formats/formats.hpp"

namespace fp8sim::analysis {

/// A dense row-major tensor of doubles.
struct Tensor {
  std::vector<std::size_t> shape;
  std::vector<double> values;
};

/// True when `spec` names an HDF5 dataset ("FILE.h5:/path", also .hdf5) or a .npy file.
[[nodiscard]] bool is_tensor_file(const std::string& spec);

/// Reads "FILE.h5:/path/to/dataset" (any numeric dtype, converted by HDF5; files left
/// open by a killed writer are read in SWMR mode) or "FILE.npy" (little-endian float32,
/// float64, int32/64, uint8/16/32, C order, any rank). Throws IoError naming the file and
/// what is wrong.
[[nodiscard]] Tensor read_tensor(const std::string& spec);

/// The same, requiring a 2-D tensor (rows, cols).
[[nodiscard]] Tensor read_matrix(const std::string& spec);

/// Which tensors to dump: names matching a glob pattern (fnmatch: *, ?, [..]) at steps in
/// a list of ranges. Text form: `--dump-select 'A*,B'` and `--dump-steps 0,10-20,100`.
struct DumpSelection {
  std::vector<std::string> patterns{"*"};
  std::vector<std::pair<std::int64_t, std::int64_t>> steps{{0, 0}};  ///< inclusive ranges
  [[nodiscard]] bool wants(const std::string& name, std::int64_t step) const;
};
/// Parses the two options; throws std::invalid_argument naming the bad part.
[[nodiscard]] DumpSelection parse_dump_selection(const std::string& names,
                                                 const std::string& steps);

/// Writes tensor dumps to one HDF5 file: /dumps/step_<step>/<name>/{input,codes,values}
/// (docs/hdf5-schema.md). The file is written with the default (most compatible) HDF5
/// format and flushed after every tensor.
class DumpWriter {
 public:
  DumpWriter(const std::string& path, OpenMode mode, const RunInfo& info);
  /// `input` holds the full-precision values, `codes` their encodings in `f` (stored as
  /// uint8/16/32/64, the narrowest that holds f's width), decoded values are computed.
  /// Throws std::invalid_argument on size mismatches, IoError on write failure or when
  /// (step, name) was dumped already.
  void write(std::int64_t step, const std::string& name, const std::vector<std::size_t>& shape,
             std::span<const double> input, std::span<const std::uint64_t> codes, const Format& f,
             const std::string& rounding);
  [[nodiscard]] std::uint64_t tensors_written() const { return written_; }

 private:
  std::string path_;
  detail::H5Id file_;
  std::uint64_t written_ = 0;
};

}  // namespace fp8sim::analysis
