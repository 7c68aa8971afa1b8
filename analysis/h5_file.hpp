// analysis/h5_file.hpp — internal: thin RAII over the HDF5 C API (the C++ API of HDF5
// 1.10 has no SWMR calls) and the file policies every reader and writer shares: refuse
// to replace an existing file unless asked, one-line errors in the user's words (never
// HDF5's internal text: set FP8SIM_DEBUG_HDF5=1 to see HDF5's own error stack), remove a
// file this process created when creating it fails, the root attributes.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "analysis/run_info.hpp"
#include "formats/formats.hpp"

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
  /// Closes now and reports whether HDF5 managed to (a file's last writes happen here).
  bool close();
  [[nodiscard]] hid_t get() const { return id_; }
  [[nodiscard]] bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

/// Turns off HDF5's error printing (once) so that failures become our one-line messages;
/// FP8SIM_DEBUG_HDF5=1 in the environment keeps HDF5's own report on stderr.
void quiet_hdf5();

/// Why the last HDF5 call failed, in the user's words: "no space left on device",
/// "permission denied", ... from the system error HDF5 saw, else `fallback`. Clears the
/// error stack.
[[nodiscard]] std::string hdf5_failure(const std::string& fallback = "the HDF5 library failed");
/// Throws IoError("<what> '<file>': <reason>") when id < 0 (reason: hdf5_failure()).
hid_t check(hid_t id, const std::string& what, const std::string& file);
void check_status(herr_t st, const std::string& what, const std::string& file);

/// Checks that `path` can be opened for reading as a regular file; throws IoError
/// "cannot open 'P': no such file" / "is a directory" / "permission denied" / "is not a
/// regular file". Returns the file's size in bytes.
std::uint64_t check_readable(const std::string& path);

/// Opens a file for writing according to `mode` (create refuses an existing path;
/// overwrite truncates; append opens read-write, and creates a missing file). `swmr_format` selects
/// the newest file format (needed for SWMR). Checks first that the path is not a directory and that
/// its folder exists and is writable. `*created` (if given) says whether this call created the file
/// (it did not exist before): the caller removes it if what follows fails (remove_created). A file
/// this call fails to create is removed here.
H5Id open_for_write(const std::string& path, OpenMode mode, bool swmr_format, bool* appended,
                    bool* created = nullptr);
/// Opens for reading with the messages of check_readable, then "'P' is not an HDF5 file"
/// or "'P' is truncated or damaged (N bytes)". A file left marked "open for writing" by a
/// killed (or still running) writer is opened in SWMR-read mode instead and
/// `*writer_open` (if given) is set.
H5Id open_for_read(const std::string& path, bool* writer_open = nullptr);
/// Removes a file this process created (unlink; errors ignored).
void remove_created(const std::string& path) noexcept;
/// Rethrows `e` naming `file` ("writing 'F': ...") when its message does not name it yet.
[[noreturn]] void rethrow_for_file(const IoError& e, const std::string& file);

void write_string_attr(hid_t obj, const std::string& name, const std::string& value);
void write_int_attr(hid_t obj, const std::string& name, std::int64_t value);
void write_double_attr(hid_t obj, const std::string& name, double value);
/// Empty string / 0 / NaN when absent.
[[nodiscard]] bool has_attr(hid_t obj, const std::string& name);
[[nodiscard]] std::string read_string_attr(hid_t obj, const std::string& name);
[[nodiscard]] std::int64_t read_int_attr(hid_t obj, const std::string& name);
/// An HDF5 datatype in words: "int64", "uint8", "float32", "string", "compound", ...
[[nodiscard]] std::string type_name(hid_t type);
/// The type of an attribute in words ("" when absent).
[[nodiscard]] std::string attr_type_name(hid_t obj, const std::string& name);
/// The root attributes: schema_version and the RunInfo fields (config as `config`).
void write_run_attrs(hid_t file, const RunInfo& r);
/// Creates (or opens) the group at an absolute path, making parents.
H5Id ensure_group(hid_t file, const std::string& path);
[[nodiscard]] bool link_exists(hid_t loc, const std::string& path);
/// What the object at `path` is: H5O_TYPE_GROUP, H5O_TYPE_DATASET, ...;
/// H5O_TYPE_UNKNOWN when absent (or a dangling link).
[[nodiscard]] H5O_type_t object_type(hid_t loc, const std::string& path);

}  // namespace detail
}  // namespace fp8sim::analysis
