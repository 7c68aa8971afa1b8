// cli/main.cpp — the fp8sim command line: subcommands for formats, quantize, mac,
// gemm, dump, report, vectors and bench. Bad input anywhere gives one line on stderr and exit
// status 2.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <stdexcept>

#include <fmt/format.h>

#include "analysis/run_info.hpp"
#include "cli/commands.hpp"
#include "cli/run_config.hpp"
#include "formats/formats.hpp"
#include "rounding/isa_level.hpp"

int main(int argc, char** argv) {
  using namespace fp8sim::cli;
  // GEMMs and quantizers allocate large buffers again and again: keep them in the heap
  // instead of mapping (and page-faulting) fresh memory for every call.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{
      "fp8sim: bit-accurate simulation of low-precision floating-point formats, rounding and "
      "multiply-accumulate hardware.",
      "fp8sim"};
  app.set_version_flag("--version", "fp8sim 0.1.0");
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  fp8sim formats                         every preset with its range\n"
      "  fp8sim formats e4m3fn --table          every encoding of OCP E4M3\n"
      "  fp8sim quantize --format e5m2 --rounding sr:8 --seed 1 0.1 1e-5 60000\n"
      "  fp8sim vectors check --testfloat f16_mul --rounding rne FILE.tv\n"
      "  fp8sim gemm --mac fp8-tensorcore --steps 100 --record run.h5\n"
      "  fp8sim report run.h5                   what every quantizer and GEMM saw\n"
      "  fp8sim bench quantize\n"
      "Run 'fp8sim SUBCOMMAND --help' for the options of each.");
  set_command_line(fp8sim::analysis::join_command_line(argc, argv));
  Context ctx;
  add_formats_command(app, ctx);
  add_quantize_command(app, ctx);
  add_mac_command(app, ctx);
  add_gemm_command(app, ctx);
  add_dump_command(app, ctx);
  add_report_command(app, ctx);
  add_vectors_command(app, ctx);
  add_bench_command(app, ctx);
  try {
    // a bad FP8SIM_ISA is refused here, before any kernel (inside a parallel region) asks
    (void)fp8sim::simd_isa_level();
    if (argc > 1 && argv[1][0] != '-') {
      bool known = false;
      for (const auto* sub : app.get_subcommands({}))
        if (sub->get_name() == argv[1]) known = true;
      if (!known) {
        fmt::print(stderr,
                   "fp8sim: error: unknown command '{}' (allowed: formats, quantize, mac, "
                   "gemm, dump, report, vectors, bench; run fp8sim --help)\n",
                   argv[1]);
        return 2;
      }
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return app.exit(CLI::CallForHelp());
  } catch (const CLI::CallForAllHelp&) {
    return app.exit(CLI::CallForAllHelp());
  } catch (const CLI::CallForVersion&) {
    std::puts("fp8sim 0.1.0");
    return 0;
  } catch (const CLI::Success&) {
    return 0;
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "fp8sim: error: {} (run with --help for usage)\n", e.what());
    return 2;
  } catch (const UsageError& e) {
    fmt::print(stderr, "fp8sim: error: {}\n", e.what());
    return 2;
  } catch (const fp8sim::analysis::IoError& e) {  // files: exists, unwritable, full, ...
    fmt::print(stderr, "fp8sim: error: {}\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {  // FormatError, bad rounding, bad vectors, ...
    fmt::print(stderr, "fp8sim: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "fp8sim: internal error: {}\n", e.what());
    return 3;
  }
  return ctx.exit_status;
}
