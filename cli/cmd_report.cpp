// cli/cmd_report.cpp — `fp8sim report FILE.h5`: a terminal summary of a recorded run,
// one table per kind of point (quantizers, GEMMs, gradients), or one JSON object.
#include <cmath>
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

void print_text(const analysis::RunSummary& s) {
  fmt::print("fp8sim report: {}\n", s.file);
  for (const auto& [k, v] : s.attributes)
    if (!v.empty()) fmt::print("  {:<15} {}\n", k, v);
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
  fmt::print("{{\"file\": {}, \"attributes\": {{", json_string(s.file));
  for (std::size_t i = 0; i < s.attributes.size(); ++i)
    fmt::print("{}{}: {}", i ? ", " : "", json_string(s.attributes[i].first),
               json_string(s.attributes[i].second));
  fmt::print("}}, \"points\": [");
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
      "Summary of a recorded run (fp8sim gemm --record FILE.h5): per quantizer, GEMM "
      "and gradient, underflow %, saturation %, SQNR, ...");
  struct Opts {
    std::string file;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("file", o->file, "HDF5 file written with --record")->required();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->footer(
      "Percentages are of all elements over all recorded steps; SQNR avg/min over steps.\n"
      "A file whose writer was killed is read as is (rows up to its last flush).\n"
      "Examples:\n"
      "  fp8sim gemm --mac fp8-tensorcore --steps 20 --record run.h5 && fp8sim report run.h5\n"
      "  fp8sim report run.h5 --json");
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
