// analysis/h5_file.hpp — internal: thin RAII over the HDF5 C API (the C++ API of HDF5
// 1.10 has no SWMR calls) and the file policies every writer shares: refuse to replace
// an existing file unless asked, clear one-line errors, the root attributes.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "analysis/run_info.hpp"

namespace fp8sim::analysis {

/// What to do when the output file exists: refuse (create), replace it, or add to it.
enum class OpenMode { create, overwrite, append };

namespace detail {

/// Owns one HDF5 identifier of any kind (file, group, dataset, space, type, plist, attr).
class H5Id {
 public:
  H5Id() = default;
  explicit H5Id(hid_t id) : id_(id) {}
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id(H5Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~H5Id() { reset(); }
  void reset();
  [[nodiscard]] hid_t get() const { return id_; }
  [[nodiscard]] bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

/// Turns off HDF5's error printing (once) so that failures become our one-line messages.
void quiet_hdf5();
/// The innermost message on HDF5's error stack (e.g. "unable to open file").
[[nodiscard]] std::string hdf5_error_text();
/// Throws IoError("<what> '<path>': <hdf5 message>[: <errno text>]") when id < 0.
hid_t check(hid_t id, const std::string& what, const std::string& path);
void check_status(herr_t st, const std::string& what, const std::string& path);

/// Opens a file for writing according to `mode` (create refuses an existing path;
/// overwrite truncates; append opens read-write). `swmr_format` selects the newest file
/// format (needed for SWMR). Checks first that the directory exists and is writable.
H5Id open_for_write(const std::string& path, OpenMode mode, bool swmr_format, bool* appended);
/// Opens for reading; a file left marked "open for writing" by a killed writer is opened
/// in SWMR-read mode instead.
H5Id open_for_read(const std::string& path);

void write_string_attr(hid_t obj, const std::string& name, const std::string& value);
void write_int_attr(hid_t obj, const std::string& name, std::int64_t value);
void write_double_attr(hid_t obj, const std::string& name, double value);
/// Empty string / 0 / NaN when absent.
[[nodiscard]] bool has_attr(hid_t obj, const std::string& name);
[[nodiscard]] std::string read_string_attr(hid_t obj, const std::string& name);
[[nodiscard]] std::int64_t read_int_attr(hid_t obj, const std::string& name);
/// The root attributes: schema_version and the RunInfo fields (config as `config`).
void write_run_attrs(hid_t file, const RunInfo& r);
/// Creates (or opens) the group at an absolute path, making parents.
H5Id ensure_group(hid_t file, const std::string& path);
[[nodiscard]] bool link_exists(hid_t loc, const std::string& path);

}  // namespace detail
}  // namespace fp8sim::analysis
