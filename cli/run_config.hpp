// cli/run_config.hpp — the options of a run as a TOML document (the `config` root
// attribute of every HDF5 file a command writes) and the command line that started it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace fp8sim::cli {

using ConfigValue = std::variant<std::int64_t, double, bool, std::string>;

/// key = value pairs under a [command] table, e.g. [gemm] m = 256 ... (toml++).
[[nodiscard]] std::string to_toml(const std::string& command,
                                  const std::vector<std::pair<std::string, ConfigValue>>& opts);

/// The process's command line (argv joined), set once by main.
void set_command_line(std::string line);
[[nodiscard]] const std::string& command_line();

}  // namespace fp8sim::cli
