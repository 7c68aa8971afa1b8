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

/// What a tensor file holds, known without reading its values (inspect_tensor).
struct TensorInfo {
  std::string file;                ///< the file ("run.h5" of "run.h5:/dumps/x")
  std::string dataset;             ///< the HDF5 dataset path; empty for .npy
  std::vector<std::size_t> shape;  ///< row-major dimensions (empty: a scalar)
  std::uint64_t elements = 0;      ///< product of the dimensions
  std::string dtype;               ///< "float32", "float64", "int32", "int64", "uint8", ...
  std::uint64_t bytes = 0;         ///< memory the values take once read: elements * 8
  bool fortran_order = false;      ///< .npy stored column-major (read_tensor transposes)
};

/// True when `spec` names an HDF5 dataset ("FILE.h5:/path", also .hdf5) or a .npy file.
[[nodiscard]] bool is_tensor_file(const std::string& spec);

/// Validates the file and its header (.npy) or dataset (HDF5) without reading the values,
/// so that a caller can check the memory `bytes` needs before read_tensor. For .npy files
/// the declared data size is checked against the file's size here.
/// .npy: versions 1.0, 2.0 and 3.0; the header dict must hold exactly the keys `descr`,
/// `fortran_order` and `shape` (any spacing, trailing comma); dtypes float32 '<f4',
/// float64 '<f8', int32 '<i4', int64 '<i8', uint8 '|u1', uint16 '<u2', uint32 '<u4'
/// ('=' native order is read as little-endian on this little-endian build; '<u1' and
/// '=u1' as '|u1'). Everything else is refused by name: big-endian, complex, object,
/// structured, string and other dtypes, unknown or missing keys, negative or non-integer
/// dimensions, element or byte counts that overflow 64 bits, a file shorter or longer
/// than its header says, a bad magic string, an empty file.
/// HDF5: "FILE.h5:/path/to/dataset" (also .hdf5); integer and floating-point datasets
/// (converted by HDF5; files left open by a killed writer are read in SWMR mode);
/// strings, compounds, enums (h5py bools), ... are refused by name.
/// Throws IoError naming the file and what is wrong.
[[nodiscard]] TensorInfo inspect_tensor(const std::string& spec);

/// Reads the tensor inspect_tensor describes, as doubles in row-major order (a
/// Fortran-order .npy is transposed). Throws IoError as inspect_tensor does, and when the
/// values cannot be read ("not enough memory" when the allocation fails).
[[nodiscard]] Tensor read_tensor(const std::string& spec);

/// The same, requiring a 2-D tensor (rows, cols); the rank is checked before reading.
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
  /// Opens `path` (create refuses an existing file; append wants an fp8sim dump file of
  /// schema version 1 or 2). Throws IoError; a file it created is removed on failure.
  DumpWriter(const std::string& path, OpenMode mode, const RunInfo& info);
  /// Closes the file. When the writer is destroyed by an exception (the command failed),
  /// a file it created is removed.
  ~DumpWriter();
  DumpWriter(const DumpWriter&) = delete;
  DumpWriter& operator=(const DumpWriter&) = delete;
  /// `input` holds the full-precision values, `codes` their encodings in `f` (stored as
  /// uint8/16/32/64, the narrowest that holds f's width), decoded values are computed.
  /// Throws std::invalid_argument on size mismatches, IoError on write failure or when
  /// (step, name) was dumped already.
  void write(std::int64_t step, const std::string& name, const std::vector<std::size_t>& shape,
             std::span<const double> input, std::span<const std::uint64_t> codes, const Format& f,
             const std::string& rounding);
  [[nodiscard]] std::uint64_t tensors_written() const { return written_; }
  /// Flushes and closes (idempotent). Throws IoError when the file cannot be closed.
  void close();

 private:
  void write_group(std::int64_t step, const std::string& name, const std::string& gpath,
                   const std::vector<std::size_t>& shape, std::span<const double> input,
                   std::span<const std::uint64_t> codes, const Format& f,
                   const std::string& rounding);

  std::string path_;
  detail::H5Id file_;
  std::uint64_t written_ = 0;
  bool created_ = false;
  int uncaught_ = 0;  ///< std::uncaught_exceptions() at construction
};

}  // namespace fp8sim::analysis
