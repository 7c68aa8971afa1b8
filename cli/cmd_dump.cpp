// cli/cmd_dump.cpp — `fp8sim dump`: quantize a tensor from a .npy file or an HDF5
// dataset and write it as a tensor dump (input, codes, decoded values, format and
// rounding as attributes); `--list` shows what a dump file holds.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/analysis.hpp"
#include "analysis/h5_file.hpp"
#include "cli/commands.hpp"
#include "cli/run_config.hpp"
#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

namespace fp8sim::cli {

namespace {

// `dump --list FILE`: one line per dumped tensor; a file that is not a dump is refused.
void list_dumps(const std::string& path) {
  using analysis::detail::H5Id;
  H5Id f = analysis::detail::open_for_read(path);
  if (analysis::detail::object_type(f.get(), "/dumps") != H5O_TYPE_GROUP) {
    for (const char* g : {"/quantizers", "/gemms", "/gradients", "/status"})
      if (analysis::detail::link_exists(f.get(), g))
        throw analysis::IoError(
            fmt::format("{} is a recording, not a tensor dump: use fp8sim report {}", shown(path),
                        path.size() <= 48 ? path : "FILE"));
    throw analysis::IoError(
        fmt::format("{} is not an fp8sim tensor dump (it has no /dumps group)", shown(path)));
  }
  struct Visit {
    std::vector<std::string> groups;
  } v;
  if (H5Ovisit(
          f.get(), H5_INDEX_NAME, H5_ITER_INC,
          [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
            const std::string n = name;
            if (info->type == H5O_TYPE_GROUP && n.starts_with("dumps/step_") &&
                std::count(n.begin(), n.end(), '/') == 2)
              static_cast<Visit*>(data)->groups.push_back("/" + n);
            return 0;
          },
          &v) < 0)
    throw analysis::IoError(
        fmt::format("{} is damaged: its /dumps group cannot be listed", shown(path)));
  // check every dump before printing any
  struct Row {
    std::string group, format, rounding;
    std::vector<hsize_t> dims;
  };
  std::vector<Row> rows;
  for (const auto& g : v.groups) {
    for (const char* d : {"input", "codes", "values"})
      if (analysis::detail::object_type(f.get(), g + "/" + d) != H5O_TYPE_DATASET)
        throw analysis::IoError(fmt::format("{} is damaged: {}/{} is missing (docs/hdf5-schema.md)",
                                            shown(path), g, d));
    H5Id grp(H5Gopen2(f.get(), g.c_str(), H5P_DEFAULT));
    H5Id ds(H5Dopen2(grp.get(), "input", H5P_DEFAULT));
    H5Id sp(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(sp.get());
    if (!grp.valid() || !ds.valid() || rank < 0)
      throw analysis::IoError(
          fmt::format("{} is damaged: {}/input cannot be read", shown(path), g));
    Row r{g, analysis::detail::read_string_attr(grp.get(), "format"),
          analysis::detail::read_string_attr(grp.get(), "rounding"),
          std::vector<hsize_t>(static_cast<std::size_t>(rank))};
    if (rank) H5Sget_simple_extent_dims(sp.get(), r.dims.data(), nullptr);
    rows.push_back(std::move(r));
  }
  fmt::print("{:<40} {:<10} {:<12} {}\n", "dump", "format", "rounding", "shape");
  for (const auto& r : rows)
    fmt::print("{:<40} {:<10} {:<12} ({})\n", r.group, r.format, r.rounding,
               fmt::join(r.dims, ", "));
  if (rows.empty()) fmt::print("(no dumps)\n");
}

}  // namespace

void add_dump_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand(
      "dump",
      "Quantize a tensor from a .npy file or HDF5 dataset and write a tensor dump (input, "
      "codes, decoded values) to HDF5; or list a dump file");
  struct Opts {
    std::string input, format, rounding = "rne", output, name, list;
    std::int64_t step = 0;
    std::uint64_t seed = 0;
    bool overwrite = false, append = false;
  };
  auto o = std::make_shared<Opts>();
  add_text(*cmd, "-i,--input", o->input, "TENSOR", "Tensor: FILE.npy or FILE.h5:/path/to/dataset");
  add_text(*cmd, "-f,--format", o->format, "FORMAT", "Target format (see 'fp8sim formats')");
  add_text(*cmd, "-r,--rounding", o->rounding, "MODE", "Rounding (see 'fp8sim quantize --help')");
  add_integer(*cmd, "--seed", o->seed, std::uint64_t{0}, ~std::uint64_t{0},
              "Seed of stochastic rounding");
  add_text(*cmd, "-o,--output", o->output, "FILE", "Dump file to write");
  add_text(*cmd, "--name", o->name, "NAME",
           "Name of the tensor in the dump (default: from the input)", false);
  add_integer(*cmd, "--step", o->step, std::int64_t{0}, std::int64_t{1} << 62,
              "Step number to file it under");
  auto* ow = cmd->add_flag("--overwrite", o->overwrite, "Replace an existing output file");
  cmd->add_flag("--append", o->append, "Add to an existing dump file")->excludes(ow);
  add_text(*cmd, "--list", o->list, "FILE",
           "List the dumps in FILE, a dump file (no other option needed)", false);
  cmd->footer(
      "Layout: /dumps/step_<STEP>/<NAME>/{input (float64), codes (uint8/16/32/64), values\n"
      "(float64)} with attributes name, step, format, rounding (docs/hdf5-schema.md).\n"
      "Read a dump back: fp8sim quantize --input FILE.h5:/dumps/step_0/x/values ...\n"
      "Examples:\n"
      "  fp8sim dump --input acts.npy --format e4m3fn --output d.h5 --name acts\n"
      "  fp8sim dump --input run.h5:/dumps/step_0/A/input -f e5m2 -r sr:8 -o d2.h5\n"
      "  fp8sim dump --list d.h5");
  cmd->callback([o, cmd] {
    if (!o->list.empty()) {
      for (const char* opt : {"--input", "--output", "--format", "--rounding", "--seed", "--name",
                              "--step", "--overwrite", "--append"})
        if (given(*cmd, opt))
          throw UsageError(fmt::format("--list FILE takes no {} (it only reads FILE)", opt));
      check_input_file({"--list", o->list});
      list_dumps(o->list);
      return;
    }
    if (o->input.empty() || o->format.empty() || o->output.empty())
      throw UsageError("dump needs --input TENSOR, --format F and --output FILE (or --list FILE)");
    const Format f = parse_format(o->format);
    const RoundSpec spec = parse_rounding(o->rounding);
    if (given(*cmd, "--seed") && spec.mode != RoundingMode::sr)
      throw UsageError(fmt::format("--seed has no effect with --rounding {} (only sr:N uses it)",
                                   shown(o->rounding)));
    std::string name = o->name;
    if (name.empty()) {  // the dataset's or file's base name
      std::string base = o->input.substr(o->input.find_last_of("/:") + 1);
      if (base.ends_with(".npy")) base.resize(base.size() - 4);
      name = base.empty() ? "tensor" : base;
    }
    if (name.find('/') != std::string::npos || name == "." || name == "..")
      throw UsageError(fmt::format("--name {} is not allowed (no '/')", shown(name)));
    const FileRole in{"--input", tensor_file(o->input)};
    check_input_file(in);
    check_file_roles({in}, {{"--output", o->output}});
    const analysis::TensorInfo info = analysis::inspect_tensor(o->input);
    // the values, their codes, the decoded values of the dump, the quantizer's output
    require_memory(mul_sat(info.elements, 32), fmt::format("dump of {}", shown(o->input)));
    const analysis::Tensor t = analysis::read_tensor(o->input);
    std::vector<std::uint64_t> codes(t.values.size());
    QuantizeOptions qo;
    qo.round = spec;
    qo.key = RandomKey{o->seed, 0};
    const QuantizeCounters c = quantize<double, std::uint64_t>(f, t.values, qo, codes);
    const std::string config = to_toml("dump", {{"input", o->input},
                                                {"format", f.name},
                                                {"rounding", to_string(spec)},
                                                {"seed", static_cast<std::int64_t>(o->seed)},
                                                {"output", o->output},
                                                {"name", name},
                                                {"step", o->step}});
    if (!o->append && !file_exists(o->output)) will_create(o->output);
    analysis::DumpWriter w(o->output,
                           o->overwrite ? analysis::OpenMode::overwrite
                           : o->append  ? analysis::OpenMode::append
                                        : analysis::OpenMode::create,
                           analysis::current_run("dump", command_line(), config));
    if (o->overwrite) will_create(o->output);
    w.write(o->step, name, t.shape, t.values, codes, f, to_string(spec));
    w.close();
    fmt::print("{}: /dumps/step_{}/{} ({} values, {} -> {} with {}; {} underflow, {} overflow)\n",
               o->output, o->step, name, t.values.size(), o->input, f.name, to_string(spec),
               c.underflow_to_zero, c.overflow);
  });
}

}  // namespace fp8sim::cli
