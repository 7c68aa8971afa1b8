// cli/cmd_vectors.cpp — `fp8sim vectors check`: compare fp8sim against test-vector
// files made by independent tools (Berkeley TestFloat's testfloat_gen format) or measured
// on hardware (GPU tensor-core dot products, sim/gpu_vectors.hpp), and hardware results for
// fp8sim's own vector files (cli/cmd_vectors_check.cpp); `vectors gen` writes those
// (cli/cmd_vectors_gen.cpp).
#include <fstream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "rounding/rounding.hpp"
#include "sim/gpu_vectors.hpp"
#include "sim/mac.hpp"
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
  auto* vec = app.add_subcommand(
      "vectors",
      "Test vectors: write them for hardware, check hardware results and files from "
      "independent tools");
  vec->require_subcommand(1);
  vec->footer(
      "Examples:\n"
      "  fp8sim vectors gen --mac mellempudi2019 --corners --count 1000 --out mac.txt\n"
      "  fp8sim vectors check rtl_results.txt\n"
      "  fp8sim vectors check --testfloat f16_mulAdd --rounding rtz f16_mulAdd.rtz.tv\n"
      "  fp8sim vectors check --testfloat f32_to_f16 --rounding rne --tininess before FILE.tv\n"
      "  fp8sim vectors check --gpu h100-e4m3-fp16.txt\n"
      "Run 'fp8sim vectors check --help' for the file formats and exit statuses.");
  add_vectors_gen_command(*vec, ctx);
  auto* check = vec->add_subcommand(
      "check",
      "Check results against fp8sim: hardware results for 'vectors gen' files, Berkeley "
      "TestFloat (testfloat_gen) vectors, or dot products measured on GPU tensor cores");
  struct Opts {
    std::string op, rounding = "rne", tininess = "after", file, mac, vectors;
    bool exact_nan = false, gpu = false;
    std::size_t max_report = 20;
  };
  auto o = std::make_shared<Opts>();
  auto* tf =
      add_text(*check, "--testfloat", o->op, "OP",
               "TestFloat operation: {f16,f32,f64}_{add,sub,mul,mulAdd} or X_to_Y for X,Y in "
               "f16/f32/f64");
  auto* gpu = check->add_flag(
      "--gpu", o->gpu, "FILE holds measured GPU dot products (GPU-IN-OUT.txt format, below)");
  tf->excludes(gpu);
  add_text(*check, "-m,--mac", o->mac, "SPEC",
           "With --gpu: the MAC spec to check (default: the preset GPU-IN-OUT named by the "
           "file's fields line); with fp8sim vectors: the unit they were made for (checked "
           "against their header)",
           false);
  add_text(*check, "--vectors", o->vectors, "FILE",
           "FILE is a plain 'INDEX RESULT FLAGS' dump (hex) of hardware results for the cases "
           "of this vector file (made by 'vectors gen')",
           false);
  add_choice(*check, "-r,--rounding", o->rounding,
             {"rne", "rna", "rtz", "rup", "rdn", "rto", "near_even", "near_maxMag", "minMag", "max",
              "min", "odd"},
             "Rounding mode (TestFloat's own names work too)");
  add_choice(*check, "--tininess", o->tininess, {"after", "before"},
             "Underflow detection, after or before rounding");
  check->add_flag("--exact-nan", o->exact_nan,
                  "NaN results must match bit for bit (default: any NaN matches any NaN)");
  add_integer(*check, "--max-report", o->max_report, std::size_t{0}, std::size_t{1} << 30,
              "Mismatches to print");
  add_positional(*check, "file", o->file, "FILE",
                 "Vector file (one case per line: operands, result, flags in hex)")
      ->required();
  check->footer(
      "fp8sim vectors (no --testfloat, no --gpu): FILE is a file of 'fp8sim vectors gen' whose\n"
      "result and flags fields hold the hardware's results, or with --vectors GEN a dump of\n"
      "lines 'INDEX RESULT FLAGS' (hex). Each mismatch shows the inputs, expected and got in hex\n"
      "and decoded, the fields that differ, the distance in ulps and the likely causes: the\n"
      "hypotheses (rounding mode, ties, tininess, flush to zero, saturation, sticky bit,\n"
      "alignment and accumulator widths, NaN) under which the reference model reproduces the\n"
      "hardware's result (docs/vectors.md).\n"
      "  fp8sim vectors check results.txt\n"
      "  fp8sim vectors check --vectors mac.txt --max-report 5 rtl_dump.txt\n"
      "Prints each mismatch (the first --max-report) and a last line 'N passed, N failed'.\n"
      "Exit status: 0 all passed, 1 any failed, 2 bad input (also a file with no cases).\n"
      "File format: Berkeley TestFloat's testfloat_gen output, one case a line, upper-case hex\n"
      "without 0x: 'A B RESULT FLAGS' (A B C for mulAdd, A for conversions); FLAGS 01 inexact,\n"
      "02 underflow, 04 overflow, 08 infinite, 10 invalid. Make one with e.g.\n"
      "  testfloat_gen -rmin -tininessafter f16_mulAdd > f16_mulAdd.rdn.tv\n"
      "Examples:\n"
      "  fp8sim vectors check --testfloat f16_mulAdd --rounding rtz f16_mulAdd.rtz.tv\n"
      "  fp8sim vectors check --testfloat f32_to_f16 --rounding min --tininess before FILE.tv\n"
      "  fp8sim vectors check --testfloat f64_mul --exact-nan --max-report 5 f64_mul.rne.tv\n"
      "GPU file format (--gpu; tests/data/conformance/README.md): a first line\n"
      "  # fields: gpu=h100 in=e4m3 out=fp16 k=32 c=fp16 cases=2500\n"
      "then comment lines, then one case a line 'a_1 .. a_k ; b_1 .. b_k ; c ; d', every number\n"
      "an fp32 bit pattern in hex; c=fp32 (C as given), fp16 (C rounded to nearest even into\n"
      "fp16) or zero (no C). Each mismatch is printed decoded, with its distance in ulps.\n"
      "  fp8sim vectors check --gpu b200-e5m2-fp32.txt\n"
      "  fp8sim vectors check --gpu h100-fp16-fp32.txt --mac \"ab=fp16,acc=fp32,round=rtz,"
      "struct=multiterm:16:25:2\"");
  check->callback([o, &ctx, check] {
    if (!o->gpu && o->op.empty()) {  // fp8sim's own vector files
      for (const char* opt : {"--rounding", "--tininess", "--exact-nan"})
        if (given(*check, opt))
          throw UsageError(fmt::format(
              "{} applies to --testfloat vectors (an fp8sim vector file's header holds its "
              "configuration)",
              opt));
      check_fp8sim_vectors({o->file, o->vectors, o->mac, o->max_report}, ctx);
      return;
    }
    if (given(*check, "--vectors"))
      throw UsageError("--vectors applies to fp8sim vector files, not to --testfloat or --gpu");
    check_input_file({"vector file", o->file});
    if (o->gpu) {
      for (const char* opt : {"--rounding", "--tininess", "--exact-nan"})
        if (given(*check, opt))
          throw UsageError(fmt::format("{} applies to --testfloat vectors, not to --gpu", opt));
      const GpuVectorFile f = read_gpu_vectors(o->file, false);
      if (f.cases.empty())
        throw UsageError(fmt::format("vector file {} holds no test cases", shown(o->file)));
      const std::string spec = o->mac.empty() ? f.gpu + "-" + f.in + "-" + f.out : o->mac;
      const MacConfig m = parse_mac(spec);
      validate(m);
      const GpuCheckResult res = check_gpu_vectors(f, m, o->max_report);
      fmt::print("{}: {} cases of {} (k = {}, C {}) through {}\n", o->file, f.cases.size(), f.gpu,
                 f.k, f.c_mode, spec);
      for (const auto& mm : res.mismatches) fmt::print("case {}: {}\n", mm.index, mm.text);
      fmt::print("{} passed, {} failed\n", res.passed, res.failed);
      ctx.exit_status = res.failed ? 1 : 0;
      return;
    }
    if (given(*check, "--mac"))
      throw UsageError("--mac applies to --gpu and fp8sim vectors, not to --testfloat");
    RoundSpec spec = parse_rounding(normalise_rounding(o->rounding));
    if (o->tininess == "before") spec.tininess = Tininess::before;
    std::ifstream in(o->file);
    if (!in) throw UsageError(fmt::format("cannot open vector file {}", shown(o->file)));
    const VectorCheckResult res = check_testfloat(in, o->op, spec, o->exact_nan, o->max_report);
    if (res.passed + res.failed == 0)  // zero cases prove nothing
      throw UsageError(fmt::format("vector file {} holds no test cases", shown(o->file)));
    for (const auto& m : res.mismatches)
      fmt::print("line {}: {}: expected {}, got {}\n", m.line, m.input, m.expected, m.got);
    fmt::print("{} passed, {} failed\n", res.passed, res.failed);
    ctx.exit_status = res.failed ? 1 : 0;
  });
}

}  // namespace fp8sim::cli
