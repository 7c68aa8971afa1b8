// cli/record_options.cpp
#include "cli/record_options.hpp"

namespace fp8sim::cli {

void add_record_options(CLI::App& cmd, RecordOptions& o, bool with_record) {
  if (with_record) {
    cmd.add_option("--record", o.record,
                   "Record per-step statistics to this HDF5 file (layout: docs/hdf5-schema.md)");
    cmd.add_option("--flush-every", o.flush_every,
                   "Write and flush the recording every N recorded steps (and at exit); a "
                   "killed run keeps every step up to the last flush")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
        ->capture_default_str();
    cmd.add_option("--sample-every", o.sample_every,
                   "Record statistics every N steps only (1 = every step)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
        ->capture_default_str();
  }
  cmd.add_option("--dump", o.dump,
                 "Write selected tensors (input values, codes, decoded values) to this HDF5 "
                 "file");
  cmd.add_option("--dump-select", o.dump_select,
                 "Tensors to dump: comma-separated names or globs (A, B, C*, ...)")
      ->capture_default_str();
  cmd.add_option("--dump-steps", o.dump_steps,
                 "Steps to dump: comma-separated STEP or FIRST-LAST (e.g. 0,10-20)")
      ->capture_default_str();
  auto* ow = cmd.add_flag("--overwrite", o.overwrite, "Replace existing output files");
  cmd.add_flag("--append", o.append,
               "Add to existing output files (same layout; steps continue after the last)")
      ->excludes(ow);
}

analysis::OpenMode open_mode(const RecordOptions& o) {
  if (o.overwrite) return analysis::OpenMode::overwrite;
  if (o.append) return analysis::OpenMode::append;
  return analysis::OpenMode::create;
}

}  // namespace fp8sim::cli
