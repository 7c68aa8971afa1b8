// cli/cmd_quantize.cpp — `fp8sim quantize`: round numbers into a format, one row each,
// then the counters of what happened.
#include <cmath>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "analysis/analysis.hpp"
#include "cli/commands.hpp"
#include "cli/input_values.hpp"
#include "cli/record_options.hpp"
#include "cli/run_config.hpp"
#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

namespace fp8sim::cli {

namespace {

std::string num_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

std::string counters_text(const QuantizeCounters& c) {
  auto pct = [&](std::uint64_t k) {
    return c.count ? 100.0 * static_cast<double>(k) / static_cast<double>(c.count) : 0.0;
  };
  std::string s;
  s += fmt::format("count {}  exact {} ({:.2f}%)  zeros in {}\n", c.count, c.exact, pct(c.exact),
                   c.zeros_in);
  s += fmt::format("underflow to zero {} ({:.2f}%)  subnormal results {} ({:.2f}%)\n",
                   c.underflow_to_zero, pct(c.underflow_to_zero), c.subnormal_out,
                   pct(c.subnormal_out));
  s += fmt::format("overflow {} ({:.2f}%), of which saturated {}\n", c.overflow, pct(c.overflow),
                   c.saturated);
  s +=
      fmt::format("NaN in {} out {}  Inf in {} out {}\n", c.nan_in, c.nan_out, c.inf_in, c.inf_out);
  s += fmt::format(
      "error over {} finite values: mean {:.6g}  rms {:.6g}  max abs {:.6g}  SQNR {}\n",
      c.error_count, c.error_mean(), c.error_rms(), c.max_abs_error,
      std::isinf(c.sqnr_db()) ? std::string("inf dB") : fmt::format("{:.2f} dB", c.sqnr_db()));
  return s;
}

std::string counters_json(const QuantizeCounters& c) {
  return fmt::format(
      "{{\"count\": {}, \"exact\": {}, \"zeros_in\": {}, \"underflow_to_zero\": {}, "
      "\"subnormal_out\": {}, \"overflow\": {}, \"saturated\": {}, \"nan_in\": {}, "
      "\"nan_out\": {}, \"inf_in\": {}, \"inf_out\": {}, \"error_count\": {}, "
      "\"error_mean\": {}, \"error_rms\": {}, \"max_abs_error\": {}, \"sqnr_db\": {}}}",
      c.count, c.exact, c.zeros_in, c.underflow_to_zero, c.subnormal_out, c.overflow, c.saturated,
      c.nan_in, c.nan_out, c.inf_in, c.inf_out, c.error_count, json_number(c.error_mean()),
      json_number(c.error_rms()), json_number(c.max_abs_error), json_number(c.sqnr_db()));
}

// The statistics the analysis module adds: flushed subnormals, relative error, amax and
// the log2|x| histogram on the format's binades.
std::string stats_text(const Format& f, const analysis::TensorStats& s) {
  const analysis::Binades b = analysis::Binades::of(f);
  std::string out = fmt::format(
      "flushed subnormals {}  relative error mean {:.6g}  amax {:.6g}  error variance {:.6g}\n"
      "log2|x| histogram on {}'s binades (bin: count):",
      s.flushed_subnormal, s.rel_error_mean, s.amax, s.error_var, f.name);
  for (std::size_t i = 0; i < s.histogram.size(); ++i) {
    if (!s.histogram[i]) continue;
    const std::string label = i == 0              ? fmt::format("<2^{}", b.first)
                              : i + 1 == b.bins() ? fmt::format(">=2^{}", b.first + b.binades)
                                                  : fmt::format("2^{}", b.lower_edge(i));
    out += fmt::format(" {}: {}", label, s.histogram[i]);
  }
  return out + "\n";
}

}  // namespace

void add_quantize_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand(
      "quantize",
      "Round numbers into a format: code, value, error and flags per input, then "
      "counters (underflow, overflow, SQNR, ...).");
  struct Opts {
    std::string format, rounding = "rne", tininess = "after", input, input_kind = "decimal";
    int sr_bits = 8;
    std::uint64_t seed = 0;
    bool ftz = false, csv = false, json = false, stats = false, no_rows = false;
    std::vector<std::string> values;
    RecordOptions rec;
  };
  auto o = std::make_shared<Opts>();
  add_text(*cmd, "-f,--format", o->format, "FORMAT",
           "Target format: preset (e5m2, e4m3fn, fp16, bf16, ...) or "
           "eXmY[bB][fn|fnuz][-nosub][-sat|-nonsat]; see 'fp8sim formats'")
      ->required();
  add_text(*cmd, "-r,--rounding", o->rounding, "MODE",
           "rne (ties to even), rna (ties away), rtz, rup (to +Inf), rdn (to -Inf), rto "
           "(round to odd), sr or sr:R (stochastic, R random bits)");
  add_integer(*cmd, "--sr-bits", o->sr_bits, 1, 32,
              "Random bits r for stochastic rounding (same as --rounding sr:R)");
  add_integer(*cmd, "--seed", o->seed, std::uint64_t{0}, ~std::uint64_t{0},
              "Seed of the random bits (input i uses index i)");
  add_choice(*cmd, "--tininess", o->tininess, {"after", "before"},
             "Underflow detection, after or before rounding");
  cmd->add_flag("--ftz", o->ftz, "Flush results below min normal to zero");
  add_text(*cmd, "-i,--input", o->input, "FILE",
           "Read more inputs from FILE ('-' = stdin), or a tensor from FILE.npy or an "
           "HDF5 dataset FILE.h5:/path (any shape, read as fp64)");
  add_choice(*cmd, "--input-kind", o->input_kind, {"decimal", "f32-bits", "f64-bits"},
             "How inputs are written: decimal (read as fp64; also nan, inf, 0x1.8p-3), or hex "
             "bit patterns of fp32 / fp64");
  auto* csv = cmd->add_flag("--csv", o->csv, "CSV rows: input,code,value,error,flags");
  cmd->add_flag("--json", o->json, "JSON rows")->excludes(csv);
  cmd->add_flag("--stats", o->stats,
                "Also the analysis statistics: flushed subnormals, relative error, amax, log2|x| "
                "histogram");
  cmd->add_flag("--no-rows", o->no_rows, "Only the counters (for large tensors)");
  add_record_options(*cmd, o->rec, false);
  add_positionals(*cmd, "values", o->values, "X ...", "Input numbers");
  cmd->footer(
      "Every input is rounded once, straight from its fp64 (or fp32) value. Counters go to\n"
      "stdout after the table, or to stderr with --csv/--json.\n"
      "Examples:\n"
      "  fp8sim quantize --format e4m3fn 0.3 448 500 1e-4\n"
      "  fp8sim quantize --format e5m2 --rounding sr --sr-bits 8 --seed 7 --csv 0.1 0.1 0.1\n"
      "  fp8sim quantize --format e5m2 --input-kind f32-bits 3f800000 7f800000\n"
      "  fp8sim quantize --format e4m3fn --input acts.h5:/layer1/x --no-rows --stats\n"
      "  fp8sim quantize --format e4m3fn --input x.npy --no-rows --dump d.h5   (tensor 'x')");
  cmd->callback([o, cmd] {
    check_record_options(*cmd, o->rec);
    const Format f = parse_format(o->format);
    RoundSpec spec = parse_rounding(o->rounding);
    if (given(*cmd, "--sr-bits")) {
      if (spec.mode != RoundingMode::sr)
        throw UsageError(
            fmt::format("--sr-bits {} needs --rounding sr (got '{}')", o->sr_bits, o->rounding));
      if (o->rounding.find(':') != std::string::npos && spec.sr_bits != o->sr_bits)
        throw UsageError(
            fmt::format("--rounding {} and --sr-bits {} disagree", o->rounding, o->sr_bits));
      spec.sr_bits = o->sr_bits;
      validate(spec);
    }
    spec.tininess = o->tininess == "before" ? Tininess::before : Tininess::after;
    spec.ftz = o->ftz;
    const bool tensor_in = analysis::is_tensor_file(o->input);
    if (tensor_in && o->input_kind != "decimal")
      throw UsageError(fmt::format("--input-kind {} applies to text inputs, not to {}",
                                   o->input_kind, shown(o->input)));
    if (tensor_in && !o->values.empty())
      throw UsageError("give input numbers on the command line or a tensor --input, not both");
    const analysis::DumpSelection dump_sel =
        analysis::parse_dump_selection(o->rec.dump_select, o->rec.dump_steps);
    std::vector<FileRole> inputs;
    if (!o->input.empty()) inputs.push_back({"--input", tensor_file(o->input)});
    for (const auto& in : inputs) check_input_file(in);
    check_file_roles(inputs, output_roles(o->rec));
    // per value: its text, fp64 value, code, rounded value, table row
    constexpr std::uint64_t per_value = 96;
    if (tensor_in) {
      const analysis::TensorInfo ti = analysis::inspect_tensor(o->input);
      require_memory(mul_sat(ti.elements, per_value),
                     fmt::format("quantize of {} ({} values)", shown(o->input), ti.elements));
    } else if (!o->input.empty() && o->input != "-") {
      // at most one value per two bytes of text
      require_memory(mul_sat(std::filesystem::file_size(o->input) / 2 + 1, per_value),
                     fmt::format("quantize of {}", shown(o->input)));
    }
    InputValues in = read_inputs(o->values, tensor_in ? std::string() : o->input,
                                 parse_input_kind(o->input_kind));
    std::vector<std::size_t> shape;
    if (tensor_in) {
      analysis::Tensor t = analysis::read_tensor(o->input);
      shape = t.shape;
      for (double v : t.values) in.text.push_back(num_text(v));
      in.f64 = std::move(t.values);
    } else {
      shape = {in.text.size()};
    }
    if (in.text.empty())
      throw UsageError("no input values: give numbers after the options or --input FILE");

    QuantizeOptions qo;
    qo.round = spec;
    qo.key = RandomKey{o->seed, 0};
    const std::size_t n = in.text.size();
    std::vector<std::uint64_t> codes(n);
    QuantizeCounters counters;
    analysis::ExtraCounts extra;
    if (in.is_f32) {
      std::vector<float> out(n);
      counters = quantize<float, std::uint64_t>(f, in.f32, qo, codes, out);
      extra = analysis::extra_counts<float>(f, in.f32, std::span<const float>(out));
    } else {
      std::vector<double> out(n);
      counters = quantize<double, std::uint64_t>(f, in.f64, qo, codes, out);
      extra = analysis::extra_counts<double>(f, in.f64, std::span<const double>(out));
    }
    if (!o->rec.dump.empty() && dump_sel.wants("x", 0)) {
      std::vector<double> x64 = in.f64;
      if (in.is_f32) x64.assign(in.f32.begin(), in.f32.end());
      const std::string config = to_toml("quantize", {{"format", f.name},
                                                      {"rounding", to_string(spec)},
                                                      {"seed", static_cast<std::int64_t>(o->seed)},
                                                      {"input", o->input},
                                                      {"dump", o->rec.dump}});
      declare_outputs(o->rec);
      analysis::DumpWriter w(o->rec.dump, open_mode(o->rec),
                             analysis::current_run("quantize", command_line(), config));
      declare_opened(o->rec, o->rec.dump);
      w.write(0, "x", shape, x64, codes, f, to_string(spec));
    }
    const std::string extra_text =
        o->stats ? stats_text(f, analysis::tensor_stats(counters, extra)) : std::string();
    const int hex = (f.width() + 3) / 4;
    if (o->csv) fmt::print("input,code,value,error,flags\n");
    if (o->json)
      fmt::print("{{\"format\": {}, \"rounding\": \"{}\", \"rows\": [", json_string(f.name),
                 to_string(spec));
    if (!o->csv && !o->json)
      fmt::print("{:>24} {:>{}} {:>24} {:>14} {}\n", "input", "code", std::max(hex, 4), "value",
                 "error", "flags");
    for (std::size_t i = 0; i < (o->no_rows ? 0 : n); ++i) {
      const double x = in.is_f32 ? static_cast<double>(in.f32[i]) : in.f64[i];
      const std::uint32_t rnd =
          spec.mode == RoundingMode::sr ? random_bits(qo.key, i, spec.sr_bits) : 0;
      const Rounded r =
          in.is_f32 ? from_float(in.f32[i], f, spec, rnd) : from_double(x, f, spec, rnd);
      if (r.code != codes[i])  // the array quantizer and the scalar path must agree
        throw std::runtime_error(fmt::format("quantizer disagreement on input {}", in.text[i]));
      const double v = to_double(f, r.code);
      const double err = std::isfinite(v) && std::isfinite(x) ? v - x : std::nan("");
      const std::string code = fmt::format("{:0{}x}", r.code, hex);
      if (o->csv) {
        fmt::print("{},{},{},{},{}\n", in.text[i], code, num_text(v), num_text(err),
                   flags_to_string(r.flags));
      } else if (o->json) {
        fmt::print(
            "{}{{\"input\": {}, \"code\": \"{}\", \"value\": {}, \"error\": {}, "
            "\"flags\": \"{}\"}}",
            i ? ", " : "", json_string(in.text[i]), code, json_number(v), json_number(err),
            flags_to_string(r.flags));
      } else {
        fmt::print("{:>24} {:>{}} {:>24} {:>14} {}\n", in.text[i], code, std::max(hex, 4),
                   num_text(v), std::isnan(err) ? "-" : fmt::format("{:.6g}", err),
                   flags_to_string(r.flags));
      }
    }
    if (o->json) fmt::print("]}}\n");
    if (o->csv || o->json) {
      fmt::print(stderr, "{}{}", o->json ? counters_json(counters) + "\n" : counters_text(counters),
                 extra_text);
    } else {
      fmt::print("\n{} with {}\n{}{}", f.name, to_string(spec), counters_text(counters),
                 extra_text);
    }
  });
}

}  // namespace fp8sim::cli
