// cli/record_options.hpp — the options every recording command shares: --record,
// --dump and how to treat an existing file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "analysis/analysis.hpp"
#include "cli/files.hpp"
#include "rounding/quantize.hpp"

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

/// Refuses options that would have no effect: --flush-every/--sample-every without
/// --record, --dump-select/--dump-steps without --dump, --append/--overwrite without an
/// output. Call first thing in the command's callback.
void check_record_options(const CLI::App& cmd, const RecordOptions& o);

/// The output files, for check_file_roles().
[[nodiscard]] std::vector<FileRole> output_roles(const RecordOptions& o);

/// will_create() for each output file that does not exist yet (unless appending): call
/// just before they are opened, after every check.
void declare_outputs(const RecordOptions& o);
/// will_create() for an output just opened with --overwrite (the old file is gone now).
void declare_opened(const RecordOptions& o, const std::string& path);

/// create, overwrite or append.
[[nodiscard]] analysis::OpenMode open_mode(const RecordOptions& o);

/// Codes of `x` rounded rne into f; with `stats`, also everything a recording keeps of
/// that quantization (the kernel's counters and the extra pass).
template <class T>
std::vector<std::uint64_t> quantize_recorded(const Format& f, const std::vector<T>& x, int threads,
                                             analysis::TensorStats* stats) {
  std::vector<std::uint64_t> codes(x.size());
  QuantizeOptions qo;
  qo.threads = threads;
  qo.error_stats = stats != nullptr;
  std::vector<T> out(stats ? x.size() : 0);
  const QuantizeCounters c = quantize<T, std::uint64_t>(f, x, qo, codes, out);
  if (stats)
    *stats = analysis::tensor_stats(
        c, analysis::extra_counts<T>(f, x, std::span<const T>(out), threads));
  return codes;
}

}  // namespace fp8sim::cli
