// cli/files.hpp — the file rules every command shares (docs/cli-conventions.md): inputs
// are checked before they are read; an output may not be an input or another output
// (same device and inode, whatever the spelling); the files a command creates are removed
// when it fails, so a refused or failed run leaves nothing half-written behind.
#pragma once

#include <string>
#include <vector>

namespace fp8sim::cli {

/// A file a command reads or writes, with the option that named it (for messages).
struct FileRole {
  std::string option;  ///< "--input", "--record", "file", ...
  std::string path;    ///< the file itself (for FILE.h5:/dataset, FILE.h5)
};

/// The file part of a tensor spec: "run.h5:/dumps/x" -> "run.h5"; "a.npy" -> "a.npy".
[[nodiscard]] std::string tensor_file(const std::string& spec);

/// Refuses, with UsageError, a missing input, a directory, one that cannot be read.
/// "-" (standard input) passes.
void check_input_file(const FileRole& in);

/// Refuses an output that is a directory, that is one of the inputs, or that another
/// output names too. Outputs that do not exist yet are compared by their resolved path.
void check_file_roles(const std::vector<FileRole>& inputs, const std::vector<FileRole>& outputs);

/// True when `path` names an existing file or folder.
[[nodiscard]] bool file_exists(const std::string& path);

/// Declares that the command is about to create (or replace) `path`: if it then fails,
/// main removes the file. Declare a new file just before opening it, a file replaced
/// (--overwrite) just after; files opened to be appended to are not declared. Only regular
/// files (or paths that do not exist yet) are ever removed: never a device or a folder.
void will_create(const std::string& path);

/// Called by main when a command fails: removes every file declared by will_create().
void remove_created_outputs() noexcept;

}  // namespace fp8sim::cli
