// cli/cmd_report.cpp — `fp8sim report FILE.h5`: checks a recording against
// docs/hdf5-schema.md, then prints a terminal summary of the run, one table per kind of
// point (quantizers, GEMMs, gradients), or one JSON object; says when the run was cut
// short (killed, stopped by a signal, ended by an error) and at which step.
#include <cmath>
#include <ctime>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "analysis/analysis.hpp"
#include "cli/commands.hpp"

namespace fp8sim::cli {

namespace {

std::string db(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.2f}", v);
}

std::string iso_time(std::int64_t t) {
  if (t <= 0) return {};
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string after_step(std::int64_t step) {
  return step >= 0 ? fmt::format("after step {}", step) : std::string("before its first step");
}

// One line on how the run ended.
std::string status_text(const analysis::RunStatus& st) {
  const std::string closed =
      st.end_time > 0 ? fmt::format(", closed {}", iso_time(st.end_time)) : std::string();
  if (st.state == "complete") return "complete" + closed;
  if (st.state == "stopped")
    return fmt::format("cut short: stopped by {} {}{}",
                       st.signal_name.empty() ? "a signal" : st.signal_name,
                       after_step(st.last_step), closed);
  if (st.state == "failed")
    return fmt::format("cut short: ended by an error {}{}", after_step(st.last_step), closed);
  if (st.state == "killed")
    return fmt::format(
        "cut short: killed (the file was never closed{}); steps up to the last flush kept, {}",
        st.writer_open ? ", unless its writer is still running"
                       : "; its HDF5 open-for-writing mark was cleared",
        st.last_step >= 0 ? fmt::format("the last complete one is {}", st.last_step)
                          : std::string("none complete"));
  return "closed (schema_version 1 does not record whether a signal stopped it)";
}

void print_text(const analysis::RunSummary& s) {
  fmt::print("fp8sim report: {}\n", s.file);
  for (const auto& [k, v] : s.attributes)
    if (!v.empty()) fmt::print("  {:<15} {}\n", k, v);
  fmt::print("  {:<15} {}\n", "status", status_text(s.status));
  auto any = [&](const char* kind) {
    for (const auto& p : s.points)
      if (p.kind == kind) return true;
    return false;
  };
  std::uint64_t cut = 0;
  for (const auto& p : s.points) cut += p.cut_rows;
  if (any("quantizer")) {
    fmt::print("\nquantizers (% of elements over all recorded steps; SQNR over steps)\n");
    fmt::print("{:<28} {:<9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}\n",
               "point", "format", "steps", "underfl%", "flushed%", "subnorm%", "overfl%", "satur%",
               "SQNR avg", "SQNR min", "rel.err", "amax");
    for (const auto& p : s.points) {
      if (p.kind != "quantizer") continue;
      fmt::print(
          "{:<28} {:<9} {:>6} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.4f} {:>9} {:>9} {:>10.4g} "
          "{:>10.4g}\n",
          p.path.substr(12), p.format, p.rows, p.underflow_pct, p.flushed_pct, p.subnormal_pct,
          p.overflow_pct, p.saturated_pct, db(p.sqnr_db_mean), db(p.sqnr_db_min), p.rel_error_mean,
          p.amax_max);
    }
  }
  if (any("gemm")) {
    fmt::print(
        "\nGEMMs (output vs fp64 reference; MAC steps; swamped = products lost to "
        "alignment)\n");
    fmt::print("{:<12} {:<9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}\n", "gemm",
               "format", "steps", "underfl%", "satur%", "nonfin%", "SQNR avg", "SQNR min",
               "rel.err", "inexact%", "swamped");
    for (const auto& p : s.points) {
      if (p.kind != "gemm") continue;
      fmt::print(
          "{:<12} {:<9} {:>6} {:>9.4f} {:>9.4f} {:>9.4f} {:>9} {:>9} {:>10.4g} {:>10.4f} "
          "{:>10.4g}\n",
          p.path.substr(7), p.format, p.rows, p.underflow_pct, p.saturated_pct, p.nonfinite_out_pct,
          db(p.sqnr_db_mean), db(p.sqnr_db_min), p.rel_error_mean, p.inexact_step_pct,
          p.swamped_fraction);
    }
  }
  if (any("gradient")) {
    fmt::print("\ngradients (% of elements, mean over steps)\n");
    fmt::print("{:<12} {:<9} {:>6} {:>12} {:>12} {:>12} {:>14} {:>9}\n", "tensor", "format",
               "steps", "norm (last)", "amax", "<minsub%", "<minsub scal%", ">max%");
    for (const auto& p : s.points) {
      if (p.kind != "gradient") continue;
      fmt::print("{:<12} {:<9} {:>6} {:>12.5g} {:>12.5g} {:>12.4f} {:>14.4f} {:>9.4f}\n",
                 p.path.substr(11), p.format, p.rows, p.norm_last, p.amax_max,
                 p.below_min_subnormal_pct, p.below_min_subnormal_scaled_pct, p.above_max_pct);
    }
  }
  if (s.points.empty()) fmt::print("\nno recorded points\n");
  if (cut) fmt::print("\n{} rows were cut off by an interrupted write (not counted)\n", cut);
}

void print_json(const analysis::RunSummary& s) {
  fmt::print("{{\"file\": {}, \"schema_version\": {}, \"attributes\": {{", json_string(s.file),
             s.schema_version);
  for (std::size_t i = 0; i < s.attributes.size(); ++i)
    fmt::print("{}{}: {}", i ? ", " : "", json_string(s.attributes[i].first),
               json_string(s.attributes[i].second));
  const analysis::RunStatus& st = s.status;
  fmt::print(
      "}}, \"status\": {{\"state\": {}, \"cut_short\": {}, \"signal\": {}, \"signal_name\": {}, "
      "\"last_step\": {}, \"end_time\": {}, \"writer_open\": {}, \"text\": {}}}",
      json_string(st.state), st.cut_short, st.signal, json_string(st.signal_name), st.last_step,
      json_string(iso_time(st.end_time)), st.writer_open, json_string(status_text(st)));
  fmt::print(", \"points\": [");
  for (std::size_t i = 0; i < s.points.size(); ++i) {
    const auto& p = s.points[i];
    fmt::print(
        "{}{{\"path\": {}, \"kind\": \"{}\", \"format\": {}, \"steps\": {}, "
        "\"cut_rows\": {}, \"first_step\": {}, \"last_step\": {}",
        i ? ", " : "", json_string(p.path), p.kind, json_string(p.format), p.rows, p.cut_rows,
        p.first_step, p.last_step);
    if (p.kind == "gradient") {
      fmt::print(
          ", \"norm_last\": {}, \"amax\": {}, \"below_min_subnormal_pct\": {}, "
          "\"below_min_subnormal_scaled_pct\": {}, \"above_max_pct\": {}}}",
          json_number(p.norm_last), json_number(p.amax_max), json_number(p.below_min_subnormal_pct),
          json_number(p.below_min_subnormal_scaled_pct), json_number(p.above_max_pct));
      continue;
    }
    fmt::print(
        ", \"rounding\": {}, \"elements\": {}, \"underflow_pct\": {}, \"flushed_pct\": {}, "
        "\"subnormal_pct\": {}, \"overflow_pct\": {}, \"saturated_pct\": {}, "
        "\"nonfinite_out_pct\": {}, \"sqnr_db_mean\": {}, \"sqnr_db_min\": {}, "
        "\"sqnr_db_last\": {}, \"rel_error_mean\": {}, \"amax\": {}",
        json_string(p.rounding), p.elements, json_number(p.underflow_pct),
        json_number(p.flushed_pct), json_number(p.subnormal_pct), json_number(p.overflow_pct),
        json_number(p.saturated_pct), json_number(p.nonfinite_out_pct), json_number(p.sqnr_db_mean),
        json_number(p.sqnr_db_min), json_number(p.sqnr_db_last), json_number(p.rel_error_mean),
        json_number(p.amax_max));
    if (p.kind == "gemm")
      fmt::print(", \"inexact_step_pct\": {}, \"swamped_fraction\": {}",
                 json_number(p.inexact_step_pct), json_number(p.swamped_fraction));
    fmt::print("}}");
  }
  fmt::print("]}}\n");
}

}  // namespace

void add_report_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand(
      "report",
      "Check a recording (fp8sim gemm --record FILE.h5) against docs/hdf5-schema.md and "
      "summarize it: per quantizer, GEMM and gradient, underflow %, saturation %, SQNR, ...; "
      "says whether the run was cut short");
  struct Opts {
    std::string file;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  add_positional(*cmd, "file", o->file, "FILE", "HDF5 file written with --record")->required();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of the tables");
  cmd->footer(
      "FILE is checked first: schema_version (1 or 2), every group, dataset and attribute\n"
      "with its dtype and length, counts >= 0. A file that does not match, a tensor dump\n"
      "(use fp8sim dump --list) or a file that is not HDF5 is refused (exit status 2).\n"
      "A run cut short is reported with its last step, exit status 0: stopped by SIGINT or\n"
      "SIGTERM, ended by an error, or killed (never closed: the steps up to its last flush;\n"
      "rows a killed writer left half-written are not counted).\n"
      "\n"
      "Header: the run's attributes and its status (complete, or cut short and how).\n"
      "Percentages are of all elements over all recorded steps; SQNR avg/min over steps.\n"
      "quantizers (one row per /quantizers/TENSOR/ROLE):\n"
      "  point        TENSOR/ROLE            format   the target format\n"
      "  steps        recorded steps (rows)\n"
      "  underfl%     non-zero finite inputs that became 0, % of elements\n"
      "  flushed%     of those, inputs a subnormal could hold (lost to FTZ or -nosub), %\n"
      "  subnorm%     subnormal results, %\n"
      "  overfl%      finite inputs beyond max finite after rounding, %\n"
      "  satur%       of those, clamped to +-max finite, %\n"
      "  SQNR avg     mean over steps of 10 log10(sum in^2 / sum err^2), dB (inf: exact)\n"
      "  SQNR min     the worst step's SQNR, dB\n"
      "  rel.err      mean over steps of mean |out - in| / |in| (a fraction, not %)\n"
      "  amax         largest |input| over all steps (the tensor's unit)\n"
      "GEMMs (one row per /gemms/NAME: the output C against its fp64 reference):\n"
      "  gemm, format, steps, underfl%, satur%, SQNR avg/min, rel.err: as above, for C\n"
      "  nonfin%      outputs that are NaN or +-Inf, %\n"
      "  inexact%     the MAC unit's rounding steps that were inexact, % of its steps\n"
      "  swamped      products lost entirely to alignment / all M*N*K products (fraction)\n"
      "gradients (one row per /gradients/TENSOR, against the format it is quantized to):\n"
      "  tensor, format, steps\n"
      "  norm (last)  L2 norm of the finite elements at the last step (unscaled)\n"
      "  amax         largest finite |g| over all steps (unscaled)\n"
      "  <minsub%     non-zero |g| below the format's smallest subnormal, % (mean of steps)\n"
      "  <minsub scal% the same after multiplying by the loss scale, %\n"
      "  >max%        |g| * loss scale above max finite (Inf included), %\n"
      "--json: {file, schema_version, attributes, status {state: complete|stopped|failed|\n"
      "killed|closed, cut_short, signal, signal_name, last_step, end_time, writer_open,\n"
      "text}, points [{path, kind, format, steps, cut_rows, first_step, last_step, ...the\n"
      "columns above: underflow_pct, sqnr_db_mean, swamped_fraction, ...}]}.\n"
      "Examples:\n"
      "  fp8sim gemm --mac fp8-tensorcore --steps 20 --record run.h5 && fp8sim report run.h5\n"
      "  fp8sim report run.h5 --json\n"
      "  fp8sim report killed.h5        a killed run: the steps up to its last flush");
  cmd->callback([o] {
    const analysis::RunSummary s = analysis::summarize_run(o->file);
    if (o->json) {
      print_json(s);
    } else {
      print_text(s);
    }
  });
}

}  // namespace fp8sim::cli
