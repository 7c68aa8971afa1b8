// analysis/run_info.hpp — who wrote a file: the root attributes of every HDF5 file fp8sim
// writes (see docs/hdf5-schema.md).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace fp8sim::analysis {

/// Version of the HDF5 layout (docs/hdf5-schema.md), stored as the root attribute
/// `schema_version`. Bump it when a path, dtype or meaning changes.
/// 1: the first layout. 2: recordings gain /status (how the run ended); dumps unchanged.
inline constexpr int kSchemaVersion = 2;
/// The oldest version this build still reads and appends to.
inline constexpr int kOldestSchemaVersion = 1;

/// How a recorded run ended: the value of /status/state (docs/hdf5-schema.md). A file
/// whose state is still `running` once its writer is gone was killed (never closed).
enum class RunState : std::int64_t { running = 0, complete = 1, stopped = 2, failed = 3 };

struct RunInfo {
  std::string kind;          ///< what wrote the file: "gemm", "quantize", "dump"
  std::string command_line;  ///< argv joined by spaces (each argument quoted if needed)
  std::string config_toml;   ///< every option of the run as a TOML document
  std::string version;       ///< fp8sim version (meson project version)
  std::string git_commit;    ///< `git describe --always --dirty` at build time, or "unknown"
  std::string start_time;    ///< ISO 8601 UTC, e.g. 2026-11-28T12:00:00Z
  std::string host;          ///< gethostname()
};

/// A RunInfo with version, commit, start time (now) and host filled in.
[[nodiscard]] RunInfo current_run(std::string kind, std::string command_line,
                                  std::string config_toml);

/// argv joined into one line; arguments with spaces or quotes are single-quoted.
[[nodiscard]] std::string join_command_line(int argc, const char* const* argv);

/// Problems with files: cannot create, exists, read-only, disk full, not our layout. The
/// message is one line naming the file and what to do.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace fp8sim::analysis
