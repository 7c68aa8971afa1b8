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

void list_dumps(const std::string& path) {
  using analysis::detail::H5Id;
  H5Id f = analysis::detail::open_for_read(path);
  if (!analysis::detail::link_exists(f.get(), "/dumps"))
    throw analysis::IoError(fmt::format("'{}' holds no /dumps group", path));
  struct Visit {
    std::vector<std::string> groups;
  } v;
  H5Ovisit(
      f.get(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        const std::string n = name;
        if (info->type == H5O_TYPE_GROUP && n.starts_with("dumps/step_") &&
            std::count(n.begin(), n.end(), '/') == 2)
          static_cast<Visit*>(data)->groups.push_back("/" + n);
        return 0;
      },
      &v);
  fmt::print("{:<40} {:<10} {:<12} {}\n", "dump", "format", "rounding", "shape");
  for (const auto& g : v.groups) {
    H5Id grp(H5Gopen2(f.get(), g.c_str(), H5P_DEFAULT));
    H5Id ds(H5Dopen2(grp.get(), "input", H5P_DEFAULT));
    H5Id sp(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(sp.get());
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(sp.get(), dims.data(), nullptr);
    fmt::print("{:<40} {:<10} {:<12} ({})\n", g,
               analysis::detail::read_string_attr(grp.get(), "format"),
               analysis::detail::read_string_attr(grp.get(), "rounding"), fmt::join(dims, ", "));
  }
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
  cmd->add_option("-i,--input", o->input, "Tensor: FILE.npy or FILE.h5:/path/to/dataset");
  cmd->add_option("-f,--format", o->format, "Target format (see 'fp8sim formats')");
  cmd->add_option("-r,--rounding", o->rounding, "Rounding (see 'fp8sim quantize --help')")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of stochastic rounding")->capture_default_str();
  cmd->add_option("-o,--output", o->output, "Dump file to write");
  cmd->add_option("--name", o->name, "Name of the tensor in the dump (default: from the input)");
  cmd->add_option("--step", o->step, "Step number to file it under")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 62))
      ->capture_default_str();
  auto* ow = cmd->add_flag("--overwrite", o->overwrite, "Replace an existing output file");
  cmd->add_flag("--append", o->append, "Add to an existing dump file")->excludes(ow);
  cmd->add_option("--list", o->list, "List the dumps in FILE (no other option needed)");
  cmd->footer(
      "Layout: /dumps/step_<STEP>/<NAME>/{input (float64), codes (uint8/16/32/64), values\n"
      "(float64)} with attributes name, step, format, rounding (docs/hdf5-schema.md).\n"
      "Read a dump back: fp8sim quantize --input FILE.h5:/dumps/step_0/x/values ...\n"
      "Examples:\n"
      "  fp8sim dump --input acts.npy --format e4m3fn --output d.h5 --name acts\n"
      "  fp8sim dump --input run.h5:/dumps/step_0/A/input -f e5m2 -r sr:8 -o d2.h5\n"
      "  fp8sim dump --list d.h5");
  cmd->callback([o] {
    if (!o->list.empty()) {
      if (!o->input.empty() || !o->output.empty())
        throw UsageError("--list FILE takes no --input or --output");
      list_dumps(o->list);
      return;
    }
    if (o->input.empty() || o->format.empty() || o->output.empty())
      throw UsageError("dump needs --input SPEC, --format F and --output FILE (or --list FILE)");
    const Format f = parse_format(o->format);
    const RoundSpec spec = parse_rounding(o->rounding);
    std::string name = o->name;
    if (name.empty()) {  // the dataset's or file's base name
      std::string base = o->input.substr(o->input.find_last_of("/:") + 1);
      if (base.ends_with(".npy")) base.resize(base.size() - 4);
      name = base.empty() ? "tensor" : base;
    }
    if (name.find('/') != std::string::npos)
      throw UsageError(fmt::format("--name '{}' is not allowed (no '/')", name));
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
    analysis::DumpWriter w(o->output,
                           o->overwrite ? analysis::OpenMode::overwrite
                           : o->append  ? analysis::OpenMode::append
                                        : analysis::OpenMode::create,
                           analysis::current_run("dump", command_line(), config));
    w.write(o->step, name, t.shape, t.values, codes, f, to_string(spec));
    fmt::print("{}: /dumps/step_{}/{} ({} values, {} -> {} with {}; {} underflow, {} overflow)\n",
               o->output, o->step, name, t.values.size(), o->input, f.name, to_string(spec),
               c.underflow_to_zero, c.overflow);
  });
}

}  // namespace fp8sim::cli
