// cli/cmd_report.cpp — `fp8sim report FILE.h5`: checks a recording against
// docs/hdf5-schema.md, then prints a terminal summary of the run, one table per kind of
// point (quantizers, GEMMs, gradients), or one JSON object; says when the run was cut
// short (killed, stopped by a signal, ended by an error) and at which step. A training
// recording (/@kind train) gets a training summary first: loss, accuracies, skipped steps,
// loss scale, the quantizers that underflow most and the parameters whose updates vanish.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

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

constexpr std::size_t kTop = 5;  ///< quantizers and parameters listed in a train summary

// The quantizers with the largest underflow fraction, largest first (at most kTop).
std::vector<const analysis::PointSummary*> top_underflow(const analysis::RunSummary& s) {
  std::vector<const analysis::PointSummary*> q;
  for (const auto& p : s.points)
    if (p.kind == "quantizer") q.push_back(&p);
  std::stable_sort(q.begin(), q.end(), [](const auto* a, const auto* b) {
    return a->underflow_pct > b->underflow_pct;
  });
  if (q.size() > kTop) q.resize(kTop);
  return q;
}

// The parameters with the largest vanished fraction, largest first (at most kTop).
std::vector<const analysis::UpdateSummary*> top_vanished(const analysis::TrainSummary& t) {
  std::vector<const analysis::UpdateSummary*> u;
  for (const auto& p : t.updates) u.push_back(&p);
  std::stable_sort(u.begin(), u.end(), [](const auto* a, const auto* b) {
    return a->vanished_fraction > b->vanished_fraction;
  });
  if (u.size() > kTop) u.resize(kTop);
  return u;
}

std::string num(double v) {
  return std::isnan(v) ? std::string("-") : fmt::format("{:.4g}", v);
}
std::string percent(double fraction) {
  return std::isnan(fraction) ? std::string("-") : fmt::format("{:.2f}%", 100 * fraction);
}
// A JSON number, null when not recorded (NaN).
std::string json_or_null(double v) {
  return std::isnan(v) ? std::string("null") : json_number(v);
}

void print_train(const analysis::RunSummary& s) {
  const analysis::TrainSummary& t = *s.train;
  fmt::print("\ntraining (/train)\n");
  fmt::print("  {:<15} {}\n", "workload", t.workload);
  fmt::print("  {:<15} {} ({} classes)\n", "recipe", t.recipe, t.classes);
  if (t.steps == 0) {
    fmt::print("  {:<15} none recorded\n", "steps");
  } else {
    fmt::print(
        "  {:<15} {} (steps {} to {}), {} skipped (Inf/NaN gradients), {} images, {:.1f} s\n",
        "steps", t.steps, t.first_step, t.last_step, t.skipped_steps, t.images, t.seconds);
    fmt::print("  {:<15} {} (batch accuracy {}, lr {}, loss scale {}, {} overflow events)\n",
               "final loss", num(t.final_loss), percent(t.final_accuracy), num(t.final_lr),
               num(t.final_loss_scale), t.overflow_events);
  }
  if (t.epochs == 0)
    fmt::print("  {:<15} none completed\n", "epochs");
  else
    fmt::print("  {:<15} {} (last: epoch {}, train loss {}, accuracy {})\n", "epochs", t.epochs,
               t.last_epoch, num(t.train_loss), percent(t.train_accuracy));
  if (t.epochs == 0 || (std::isnan(t.val_loss) && std::isnan(t.val_accuracy)))
    fmt::print("  {:<15} {}\n", "validation",
               t.epochs ? "none (no validation split)" : "none (no epoch completed)");
  else
    fmt::print("  {:<15} accuracy {}, loss {} (last epoch)\n", "validation",
               percent(t.val_accuracy), num(t.val_loss));
  if (t.tests == 0)
    fmt::print("  {:<15} not evaluated\n", "test");
  else
    fmt::print("  {:<15} accuracy {}, loss {} (at step {}){}\n", "test", percent(t.test_accuracy),
               num(t.test_loss), t.test_step,
               std::isnan(t.test_exact_match)
                   ? std::string()
                   : fmt::format(", greedy decoding exact {}", percent(t.test_exact_match)));
  const auto uq = top_underflow(s);
  if (!uq.empty()) {
    fmt::print("\nquantizers with the most underflow (% of elements over all recorded steps)\n");
    fmt::print("  {:<28} {:<9} {:>9} {:>9}\n", "point", "format", "underfl%", "flushed%");
    for (const auto* p : uq)
      fmt::print("  {:<28} {:<9} {:>9.4f} {:>9.4f}\n", p->path.substr(12), p->format,
                 p->underflow_pct, p->flushed_pct);
  }
  const auto uv = top_vanished(t);
  if (!uv.empty()) {
    fmt::print(
        "\nparameters with the most vanished updates (non-zero updates that left the master "
        "weight unchanged)\n");
    fmt::print("  {:<28} {:>6} {:>10} {:>10} {:>12}\n", "parameter", "steps", "vanished%", "last%",
               "max|update|");
    for (const auto* u : uv)
      fmt::print("  {:<28} {:>6} {:>10.4f} {:>10.4f} {:>12.4g}\n", u->param, u->rows,
                 100 * u->vanished_fraction, 100 * u->vanished_fraction_last, u->max_abs_update);
  }
  if (t.cut_rows)
    fmt::print("  ({} rows of /train were cut off by an interrupted write: not counted)\n",
               t.cut_rows);
}

void print_text(const analysis::RunSummary& s) {
  fmt::print("fp8sim report: {}\n", s.file);
  for (const auto& [k, v] : s.attributes)
    if (!v.empty()) fmt::print("  {:<15} {}\n", k, v);
  fmt::print("  {:<15} {}\n", "status", status_text(s.status));
  if (s.train) print_train(s);
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
  if (s.points.empty() && !s.train) fmt::print("\nno recorded points\n");
  if (cut) fmt::print("\n{} rows were cut off by an interrupted write (not counted)\n", cut);
}

// A train recording's keys: the headline numbers at the top level, the rest in "train".
void print_train_json(const analysis::RunSummary& s) {
  const analysis::TrainSummary& t = *s.train;
  fmt::print(
      ", \"steps\": {}, \"skipped_steps\": {}, \"final_loss\": {}, \"val_accuracy\": {}, "
      "\"test_accuracy\": {}, \"test_loss\": {}, \"test_exact_match\": {}",
      t.steps, t.skipped_steps, json_or_null(t.final_loss), json_or_null(t.val_accuracy),
      json_or_null(t.test_accuracy), json_or_null(t.test_loss), json_or_null(t.test_exact_match));
  fmt::print(
      ", \"train\": {{\"workload\": {}, \"recipe\": {}, \"classes\": {}, \"steps\": {}, "
      "\"first_step\": {}, \"last_step\": {}, \"epochs\": {}, \"last_epoch\": {}, "
      "\"final_loss\": {}, \"final_accuracy\": {}, \"final_lr\": {}, \"final_loss_scale\": {}, "
      "\"seconds\": {}, \"skipped_steps\": {}, \"overflow_events\": {}, \"images\": {}, "
      "\"train_loss\": {}, \"train_accuracy\": {}, \"val_loss\": {}, \"val_accuracy\": {}, "
      "\"tests\": {}, \"test_step\": {}, \"test_loss\": {}, \"test_accuracy\": {}, "
      "\"cut_rows\": {}",
      json_string(t.workload), json_string(t.recipe), t.classes, t.steps, t.first_step, t.last_step,
      t.epochs, t.last_epoch, json_or_null(t.final_loss), json_or_null(t.final_accuracy),
      json_or_null(t.final_lr), json_or_null(t.final_loss_scale), json_or_null(t.seconds),
      t.skipped_steps, t.overflow_events, t.images, json_or_null(t.train_loss),
      json_or_null(t.train_accuracy), json_or_null(t.val_loss), json_or_null(t.val_accuracy),
      t.tests, t.test_step, json_or_null(t.test_loss), json_or_null(t.test_accuracy), t.cut_rows);
  fmt::print(", \"top_underflow\": [");
  const auto uq = top_underflow(s);
  for (std::size_t i = 0; i < uq.size(); ++i)
    fmt::print("{}{{\"path\": {}, \"format\": {}, \"underflow_pct\": {}, \"flushed_pct\": {}}}",
               i ? ", " : "", json_string(uq[i]->path), json_string(uq[i]->format),
               json_number(uq[i]->underflow_pct), json_number(uq[i]->flushed_pct));
  fmt::print("], \"updates\": [");
  for (std::size_t i = 0; i < t.updates.size(); ++i) {
    const auto& u = t.updates[i];
    fmt::print(
        "{}{{\"param\": {}, \"steps\": {}, \"nonzero\": {}, \"vanished\": {}, "
        "\"vanished_fraction\": {}, \"vanished_fraction_last\": {}, \"max_abs_update\": {}}}",
        i ? ", " : "", json_string(u.param), u.rows, u.nonzero, u.vanished,
        json_number(u.vanished_fraction), json_number(u.vanished_fraction_last),
        json_number(u.max_abs_update));
  }
  fmt::print("]}}");
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
  if (s.train) print_train_json(s);
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
      "for a training run also loss, accuracies and vanished updates; says whether the run "
      "was cut short");
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
      "training recordings (/@kind train, fp8sim train --record) first get a summary:\n"
      "  workload, recipe, steps (recorded, skipped for Inf/NaN gradients), final loss\n"
      "  (the last step's batch, with its accuracy, lr and loss scale), epochs (the last\n"
      "  one's train loss and accuracy), validation and test accuracy and loss (the last\n"
      "  epoch's, the last evaluation's), the 5 quantizers with the largest underfl%, the\n"
      "  5 parameters with the largest vanished% (non-zero updates that left the master\n"
      "  weight unchanged, % over all steps; last% the last step's), then the tables above.\n"
      "--json: {file, schema_version, attributes, status {state: complete|stopped|failed|\n"
      "killed|closed, cut_short, signal, signal_name, last_step, end_time, writer_open,\n"
      "text}, points [{path, kind, format, steps, cut_rows, first_step, last_step, ...the\n"
      "columns above: underflow_pct, sqnr_db_mean, swamped_fraction, ...}]}; a training\n"
      "recording adds steps, skipped_steps, final_loss, val_accuracy, test_accuracy,\n"
      "test_loss (null: not recorded) and train {workload, recipe, epochs, ..., top_underflow,\n"
      "updates [{param, vanished_fraction, ...}]}.\n"
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
