// cli/record_options.cpp
#include "cli/record_options.hpp"

#include "cli/options.hpp"

namespace fp8sim::cli {

void add_record_options(CLI::App& cmd, RecordOptions& o, bool with_record) {
  if (with_record) {
    add_text(cmd, "--record", o.record, "FILE",
             "Record per-step statistics to this HDF5 file (layout: docs/hdf5-schema.md)");
    add_integer(cmd, "--flush-every", o.flush_every, std::uint64_t{1}, std::uint64_t{1} << 40,
                "Write and flush the recording every N recorded steps (and at exit); a "
                "killed run keeps every step up to the last flush");
    add_integer(cmd, "--sample-every", o.sample_every, std::uint64_t{1}, std::uint64_t{1} << 40,
                "Record statistics every N steps only (1 = every step)");
  }
  add_text(cmd, "--dump", o.dump, "FILE",
           "Write selected tensors (input values, codes, decoded values) to this HDF5 file");
  add_text(cmd, "--dump-select", o.dump_select, "LIST",
           "Tensors to dump: comma-separated names or globs (A, B, C*, ...)");
  add_text(cmd, "--dump-steps", o.dump_steps, "LIST",
           "Steps to dump: comma-separated STEP or FIRST-LAST (e.g. 0,10-20)");
  auto* ow = cmd.add_flag("--overwrite", o.overwrite, "Replace existing output files");
  cmd.add_flag("--append", o.append,
               "Add to existing output files (same layout; steps continue after the last)")
      ->excludes(ow);
}

void check_record_options(const CLI::App& cmd, const RecordOptions& o) {
  (void)o;
  for (const char* opt : {"--flush-every", "--sample-every"})
    if (cmd.get_option_no_throw(opt)) needs_one_of(cmd, opt, {"--record"});
  for (const char* opt : {"--dump-select", "--dump-steps"}) needs_one_of(cmd, opt, {"--dump"});
  const bool has_record = cmd.get_option_no_throw("--record") != nullptr;
  for (const char* opt : {"--append", "--overwrite"}) {
    if (has_record)
      needs_one_of(cmd, opt, {"--record", "--dump"});
    else
      needs_one_of(cmd, opt, {"--dump"});
  }
}

std::vector<FileRole> output_roles(const RecordOptions& o) {
  return {{"--record", o.record}, {"--dump", o.dump}};
}

void declare_outputs(const RecordOptions& o) {
  if (o.append) return;  // an appended file is not removed on failure
  for (const auto& r : output_roles(o))
    if (!r.path.empty() && !file_exists(r.path)) will_create(r.path);
}

void declare_opened(const RecordOptions& o, const std::string& path) {
  if (o.overwrite) will_create(path);  // replaced: a failure from here on leaves no half file
}

analysis::OpenMode open_mode(const RecordOptions& o) {
  if (o.overwrite) return analysis::OpenMode::overwrite;
  if (o.append) return analysis::OpenMode::append;
  return analysis::OpenMode::create;
}

}  // namespace fp8sim::cli
