// cli/main.cpp — the fp8sim command line: subcommands for formats, quantize, mac,
// gemm, dump, report, vectors and bench. Exit statuses and errors follow
// docs/cli-conventions.md: bad input anywhere gives one line on stderr and status 2.
#include <malloc.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "analysis/run_info.hpp"
#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/run_config.hpp"
#include "formats/formats.hpp"
#include "rounding/isa_level.hpp"

namespace {

// A message on one line, at most 360 characters (the bounded echo of docs/cli-conventions.md).
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 360) s = s.substr(0, 357) + "...";
  return s;
}

// Standard output is checked like every other file: a write that failed (a full disk,
// a closed pipe) is an error, not a silent success.
template <class Fail>
int finish_output(int status, Fail&& fail) {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int err = errno;
    std::clearerr(stdout);
    return fail(
        fmt::format("cannot write standard output: {}", err ? std::strerror(err) : "write error"));
  }
  return status;
}

}  // namespace

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
  add_train_command(app, ctx);
  add_sweep_command(app, ctx);
  add_vectors_command(app, ctx);
  add_bench_command(app, ctx);
  // Every failure ends here, as one line on stderr and status 2 (docs/cli-conventions.md);
  // the files the command created are removed first, so nothing half-written stays.
  auto fail = [](const std::string& what, int status = 2) {
    remove_created_outputs();
    std::fflush(stdout);
    fmt::print(stderr, "fp8sim: error: {}\n", one_line(what));
    return status;
  };
  try {
    // a bad FP8SIM_ISA is refused here, before any kernel (inside a parallel region) asks
    (void)fp8sim::simd_isa_level();
    check_subcommand_words(app, argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return finish_output(app.exit(CLI::CallForHelp()), fail);
  } catch (const CLI::CallForAllHelp&) {
    return finish_output(app.exit(CLI::CallForAllHelp()), fail);
  } catch (const CLI::CallForVersion&) {
    std::puts("fp8sim 0.1.0");
    return finish_output(0, fail);
  } catch (const CLI::Success&) {
    return finish_output(0, fail);
  } catch (const CLI::ParseError& e) {
    return fail(fmt::format("{} (run with --help for usage)", e.what()));
  } catch (const UsageError& e) {
    return fail(e.what());
  } catch (const fp8sim::analysis::IoError& e) {  // files: exists, unwritable, full, ...
    return fail(e.what());
  } catch (const std::invalid_argument& e) {  // FormatError, bad rounding, bad vectors, ...
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail(fmt::format("not enough memory ({} available)", bytes_text(available_memory())));
  } catch (const std::system_error& e) {  // fmt::print to a full or closed stdout
    if (std::ferror(stdout))
      return fail(fmt::format("cannot write standard output: {}", e.code().message()));
    return fail(fmt::format("internal error: {}", e.what()), 3);
  } catch (const std::exception& e) {
    return fail(fmt::format("internal error: {}", e.what()), 3);
  }
  return finish_output(ctx.exit_status, fail);
}
