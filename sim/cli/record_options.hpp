// sim/cli/record_options.hpp — the options every recording command shares: --record,
// --dump and how to treat an existing file.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "analysis/analysis.hpp"

namespace fp8sim::cli {

struct RecordOptions {
  std::string record;  ///< statistics file (empty: none)
  std::string dump;    ///< tensor dump file (empty: none)
  std::string dump_select = "*", dump_steps = "0";
  bool overwrite = false, append = false;
  std::uint64_t flush_every = 16, sample_every = 1;
};

/// Registers --dump, --dump-select, --dump-steps, --overwrite, --append and, when
/// `with_record`, --record, --flush-every and --sample-every.
void add_record_options(CLI::App& cmd, RecordOptions& o, bool with_record);

/// create, overwrite or append.
[[nodiscard]] analysis::OpenMode open_mode(const RecordOptions& o);

}  // namespace fp8sim::cli
