// cli/cmd_vectors.cpp — `fp8sim vectors check`: compare fp8sim against test-vector
// files made by independent tools (Berkeley TestFloat's testfloat_gen format).
#include <fstream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "rounding/rounding.hpp"
#include "sim/testfloat_vectors.hpp"

namespace fp8sim::cli {

namespace {
// TestFloat's own names for the rounding modes are accepted too.
std::string normalise_rounding(const std::string& r) {
  if (r == "near_even") return "rne";
  if (r == "near_maxMag") return "rna";
  if (r == "minMag") return "rtz";
  if (r == "min") return "rdn";
  if (r == "max") return "rup";
  if (r == "odd") return "rto";
  return r;
}
}  // namespace

void add_vectors_command(CLI::App& app, Context& ctx) {
  auto* vec = app.add_subcommand("vectors", "Test vectors: check files from independent tools");
  vec->require_subcommand(1);
  auto* check = vec->add_subcommand(
      "check", "Check a Berkeley TestFloat (testfloat_gen) vector file against fp8sim");
  struct Opts {
    std::string op, rounding = "rne", tininess = "after", file;
    bool exact_nan = false;
    std::size_t max_report = 20;
  };
  auto o = std::make_shared<Opts>();
  check
      ->add_option("--testfloat", o->op,
                   "Operation: {f16,f32,f64}_{add,sub,mul,mulAdd} or X_to_Y for X,Y in "
                   "f16/f32/f64")
      ->required();
  check
      ->add_option("-r,--rounding", o->rounding,
                   "rne, rna, rtz, rup, rdn, rto (TestFloat names near_even, near_maxMag, "
                   "minMag, max, min, odd work too)")
      ->capture_default_str();
  check->add_option("--tininess", o->tininess, "before or after rounding")->capture_default_str();
  check->add_flag("--exact-nan", o->exact_nan,
                  "NaN results must match bit for bit (default: any NaN matches any NaN)");
  check->add_option("--max-report", o->max_report, "Mismatches to print")->capture_default_str();
  check
      ->add_option("file", o->file,
                   "Vector file (one case per line: operands, result, flags "
                   "in hex)")
      ->required();
  check->footer(
      "Prints each mismatch (the first --max-report) and a last line 'N passed, N failed'.\n"
      "Exit status: 0 all passed, 1 any failed, 2 bad input.\n"
      "Example:\n"
      "  fp8sim vectors check --testfloat f16_mulAdd --rounding rtz f16_mulAdd.rtz.tv");
  check->callback([o, &ctx] {
    RoundSpec spec = parse_rounding(normalise_rounding(o->rounding));
    if (spec.mode == RoundingMode::sr)
      throw UsageError(
          "TestFloat vectors have no stochastic rounding (allowed: rne, rna, rtz, "
          "rup, rdn, rto)");
    if (o->tininess == "before") {
      spec.tininess = Tininess::before;
    } else if (o->tininess != "after") {
      throw UsageError(
          fmt::format("unknown --tininess '{}' (allowed: before, after)", o->tininess));
    }
    std::ifstream in(o->file);
    if (!in) throw UsageError(fmt::format("cannot open vector file '{}'", o->file));
    const VectorCheckResult res = check_testfloat(in, o->op, spec, o->exact_nan, o->max_report);
    for (const auto& m : res.mismatches)
      fmt::print("line {}: {}: expected {}, got {}\n", m.line, m.input, m.expected, m.got);
    fmt::print("{} passed, {} failed\n", res.passed, res.failed);
    ctx.exit_status = res.failed ? 1 : 0;
  });
}

}  // namespace fp8sim::cli
