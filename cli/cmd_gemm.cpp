// cli/cmd_gemm.cpp — `fp8sim gemm`: random (or .npy / HDF5) GEMMs through a MAC unit,
// their error against an fp64 reference and throughput; with --steps and --record, the
// statistics of every step in HDF5; with --dump, selected tensors.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "analysis/analysis.hpp"
#include "cli/commands.hpp"
#include "cli/gemm_measure.hpp"
#include "cli/record_options.hpp"
#include "cli/run_config.hpp"
#include "rounding/rounding.hpp"
#include "sim/gemm.hpp"
#include "sim/golden/golden_mac.hpp"

namespace fp8sim::cli {

void add_gemm_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "gemm",
      "C = A*B through a MAC unit: error against an fp64 reference, throughput; with --steps "
      "and --record, per-step statistics to HDF5");
  struct Opts {
    std::size_t m = 256, n = 256, k = 256;
    std::string mac = "fp32-fma", dist = "normal", a_file, b_file;
    std::uint64_t seed = 1, steps = 1;
    int threads = 0;
    double loss_scale = 1.0;
    bool check_golden = false, json = false, no_flags = false, quiet = false;
    RecordOptions rec;
  };
  auto o = std::make_shared<Opts>();
  add_integer(*cmd, "--m", o->m, std::size_t{1}, std::size_t{1} << 20,
              "Rows of A and C (taken from --a-file when given)");
  add_integer(*cmd, "--n", o->n, std::size_t{1}, std::size_t{1} << 20,
              "Columns of B and C (taken from --b-file when given)");
  add_integer(*cmd, "--k", o->k, std::size_t{0}, std::size_t{1} << 24,
              "Columns of A, rows of B (taken from the files when given)");
  add_text(*cmd, "-m,--mac", o->mac, "SPEC", "MAC spec (see 'fp8sim mac --help')");
  add_text(*cmd, "--dist", o->dist, "DIST",
           "Random inputs: normal, uniform, lognormal or lognormal:SIGMA (0 < SIGMA <= 64)");
  add_integer(*cmd, "--seed", o->seed, std::uint64_t{0}, ~std::uint64_t{0},
              "Seed of the inputs and of stochastic rounding");
  add_integer(*cmd, "--threads", o->threads, 0, 1024, "Threads (0 = all cores)");
  add_text(*cmd, "--a-file", o->a_file, "TENSOR",
           "A from a 2-D .npy file (float32/float64) or an HDF5 dataset FILE.h5:/path "
           "(values rounded rne into the input format)");
  add_text(*cmd, "--b-file", o->b_file, "TENSOR", "B, likewise");
  add_integer(*cmd, "--steps", o->steps, std::uint64_t{1}, std::uint64_t{1} << 40,
              "Run N GEMMs, each on fresh random inputs (the input seed advances per step; "
              "file inputs stay, the rounding seed advances)");
  add_real(*cmd, "--loss-scale", o->loss_scale, finite_positive,
           "Loss scale for the gradient statistics of C (recorded as /gradients/C)");
  add_record_options(*cmd, o->rec, true);
  cmd->add_flag("--check-golden", o->check_golden,
                "Check every output (at most 4096, sampled evenly) against the golden model");
  cmd->add_flag("--no-flags", o->no_flags, "Skip per-output flags (fastest)");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress lines on stderr");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->footer(
      "Output: error of C against an fp64 reference (exact products, compensated sum) and the\n"
      "MAC unit's rounding steps; with --steps N, of the last step.\n"
      "Recording (--record FILE.h5): per recorded step, statistics of the quantization of A\n"
      "(/quantizers/A/activation) and B (/quantizers/B/weight), of C against the reference\n"
      "with the MAC unit's flags and swamped products (/gemms/C), and of C as a gradient\n"
      "against A's format (/gradients/C). Read it with 'fp8sim report FILE.h5' or h5py\n"
      "(File(path, 'r', swmr=True) if the run was killed). Layout: docs/hdf5-schema.md.\n"
      "Examples:\n"
      "  fp8sim gemm --m 512 --n 512 --k 512 --mac wang2018 --dist lognormal:2 --check-golden\n"
      "  fp8sim gemm --mac fp8-tensorcore --steps 1000 --record run.h5 --flush-every 50\n"
      "  fp8sim gemm --mac fp8-tensorcore --dump t.h5 --dump-select 'A,C' --dump-steps 0-2 "
      "--steps 3");
  cmd->callback([o, &ctx, cmd] {
    check_record_options(*cmd, o->rec);
    const MacConfig m = parse_mac(o->mac);
    validate(m);
    const analysis::DumpSelection dump_sel =
        analysis::parse_dump_selection(o->rec.dump_select, o->rec.dump_steps);
    std::vector<FileRole> inputs;
    if (!o->a_file.empty()) inputs.push_back({"--a-file", tensor_file(o->a_file)});
    if (!o->b_file.empty()) inputs.push_back({"--b-file", tensor_file(o->b_file)});
    for (const auto& in : inputs) check_input_file(in);
    check_file_roles(inputs, output_roles(o->rec));
    const bool fixed_a = !o->a_file.empty(), fixed_b = !o->b_file.empty();
    const Dist dist = parse_dist(o->dist);
    if (fixed_a && fixed_b && given(*cmd, "--dist"))
      throw UsageError("--dist has no effect when both --a-file and --b-file are given");

    // The shapes: from the files where given (checked before anything is read), else the
    // options; an option that disagrees with a file is refused, not ignored.
    std::size_t M = o->m, N = o->n, K = o->k;
    auto agree = [&](const char* opt, std::size_t value, std::size_t from_file,
                     const std::string& file, const char* what) {
      if (given(*cmd, opt) && from_file != value)
        throw UsageError(fmt::format("{} {} disagrees with {}, which has {} {}", opt, value,
                                     shown(file), from_file, what));
    };
    if (fixed_a) {
      const analysis::TensorInfo ti = analysis::inspect_tensor(o->a_file);
      if (ti.shape.size() != 2)
        throw UsageError(fmt::format("--a-file {} has {} dimensions; A must be a matrix",
                                     shown(o->a_file), ti.shape.size()));
      agree("--m", o->m, ti.shape[0], o->a_file, "rows");
      agree("--k", o->k, ti.shape[1], o->a_file, "columns");
      M = ti.shape[0];
      K = ti.shape[1];
    }
    if (fixed_b) {
      const analysis::TensorInfo ti = analysis::inspect_tensor(o->b_file);
      if (ti.shape.size() != 2)
        throw UsageError(fmt::format("--b-file {} has {} dimensions; B must be a matrix",
                                     shown(o->b_file), ti.shape.size()));
      if (fixed_a && ti.shape[0] != K)
        throw UsageError(fmt::format("A ({}) is {}x{} but B ({}) has {} rows", shown(o->a_file), M,
                                     K, shown(o->b_file), ti.shape[0]));
      agree("--k", o->k, ti.shape[0], o->b_file, "rows");
      agree("--n", o->n, ti.shape[1], o->b_file, "columns");
      K = ti.shape[0];
      N = ti.shape[1];
    }
    if (M == 0 || N == 0)
      throw UsageError(fmt::format("an empty GEMM ({}x{}x{}) has nothing to compute", M, N, K));
    // What the run holds at once: inputs as doubles and codes (x2 for the reference's
    // decoded copies), packed panels inside gemm(), and per output the codes, flags,
    // reference and result.
    require_memory(add_sat(mul_sat(add_sat(mul_sat(M, K), mul_sat(K, N)), 40), mul_sat({M, N, 33})),
                   fmt::format("gemm {}x{}x{}", M, N, K));
    std::vector<double> av, bv;
    if (fixed_a) av = analysis::read_matrix(o->a_file).values;
    if (fixed_b) bv = analysis::read_matrix(o->b_file).values;
    const Format& rf = result_format(m);

    // Outputs: everything above was checked, so a file is never left half-made by bad input.
    const std::string config =
        to_toml("gemm", {{"m", static_cast<std::int64_t>(M)},
                         {"n", static_cast<std::int64_t>(N)},
                         {"k", static_cast<std::int64_t>(K)},
                         {"mac", to_string(m)},
                         {"dist", o->dist},
                         {"a_file", o->a_file},
                         {"b_file", o->b_file},
                         {"seed", static_cast<std::int64_t>(o->seed)},
                         {"steps", static_cast<std::int64_t>(o->steps)},
                         {"threads", static_cast<std::int64_t>(o->threads)},
                         {"loss_scale", o->loss_scale},
                         {"record", o->rec.record},
                         {"flush_every", static_cast<std::int64_t>(o->rec.flush_every)},
                         {"sample_every", static_cast<std::int64_t>(o->rec.sample_every)},
                         {"dump", o->rec.dump},
                         {"dump_select", o->rec.dump_select},
                         {"dump_steps", o->rec.dump_steps},
                         {"check_golden", o->check_golden},
                         {"flags", !o->no_flags}});
    declare_outputs(o->rec);
    std::unique_ptr<analysis::Recorder> rec;
    int id_a = -1, id_b = -1, id_c = -1, id_g = -1;
    std::int64_t first_step = 0;
    if (!o->rec.record.empty()) {
      rec = std::make_unique<analysis::Recorder>(
          o->rec.record, open_mode(o->rec), analysis::current_run("gemm", command_line(), config),
          o->rec.flush_every);
      id_a = rec->add_quantizer("A", "activation", m.a, "rne");
      id_b = rec->add_quantizer("B", "weight", m.b, "rne");
      id_c = rec->add_gemm("C", rf, to_string(m), M, N, K);
      id_g = rec->add_gradient("C", m.a);
      declare_opened(o->rec, o->rec.record);
      rec->start();
      first_step = rec->next_step();
    }
    std::unique_ptr<analysis::DumpWriter> dumper;
    if (!o->rec.dump.empty()) {
      dumper = std::make_unique<analysis::DumpWriter>(
          o->rec.dump, open_mode(o->rec), analysis::current_run("gemm", command_line(), config));
      declare_opened(o->rec, o->rec.dump);
    }

    const StopSignals stop;

    GemmOptions go;
    go.threads = o->threads;
    go.flags = !o->no_flags;
    GemmResult r;
    double sec = 0, max_rel = 0, mean_rel = 0, max_ulp = 0, mean_ulp = 0;
    std::size_t n_err = 0, nonfinite = 0, golden_checked = 0, golden_bad = 0;
    std::uint64_t steps_done = 0, steps_recorded = 0;
    const auto run_start = std::chrono::steady_clock::now();
    auto last_progress = run_start;
    const bool progress = !o->quiet && o->steps > 1;
    for (std::uint64_t s = 0; s < o->steps && !StopSignals::received(); ++s) {
      const std::int64_t step = first_step + static_cast<std::int64_t>(s);
      const bool record = rec && static_cast<std::uint64_t>(step) % o->rec.sample_every == 0;
      // fresh inputs per step: seeds spread by the golden-ratio increment
      const std::uint64_t step_seed =
          o->seed + static_cast<std::uint64_t>(step) * 0x9E3779B97F4A7C15ull;
      if (!fixed_a) av = random_values(M * K, dist, step_seed);
      if (!fixed_b) bv = random_values(K * N, dist, step_seed + 1);
      analysis::TensorStats qa, qb;
      const auto A = quantize_recorded(m.a, av, o->threads, record ? &qa : nullptr);
      const auto B = quantize_recorded(m.b, bv, o->threads, record ? &qb : nullptr);
      go.seed = o->seed + static_cast<std::uint64_t>(step);
      GemmMeasure gm = measure_gemm(m, M, N, K, A, B, go, o->threads);
      r = gm.r;
      sec = gm.seconds;
      max_rel = gm.max_rel;
      max_ulp = gm.max_ulp;
      mean_rel = gm.mean_rel;
      mean_ulp = gm.mean_ulp;
      n_err = gm.finite;
      nonfinite = gm.nonfinite;
      if (o->check_golden) {
        const std::size_t total = M * N, want = std::min<std::size_t>(total, 4096);
        std::vector<std::uint64_t> col(K);
        for (std::size_t t = 0; t < want; ++t) {
          const std::size_t o2 = t * total / want, i = o2 / N, j = o2 % N;
          for (std::size_t k = 0; k < K; ++k) col[k] = B[k * N + j];
          const golden::MacOutcome g =
              golden::mac_dot(m, std::span<const std::uint64_t>(A).subspan(i * K, K), col,
                              std::nullopt, go.seed, o2);
          ++golden_checked;
          if (g.code != r.codes[o2] || (go.flags && g.flags != r.flags[o2])) {
            if (golden_bad < 10)
              fmt::print(stderr,
                         "golden mismatch at step {} ({}, {}): engine {:#x} flags {}, golden "
                         "{:#x} flags {}\n",
                         step, i, j, r.codes[o2], go.flags ? flags_to_string(r.flags[o2]) : "-",
                         g.code, flags_to_string(g.flags));
            ++golden_bad;
          }
        }
        if (golden_bad) ctx.exit_status = 1;
      }
      if (record) {
        rec->record_quantizer(id_a, step, qa);
        rec->record_quantizer(id_b, step, qb);
        rec->record_gemm(id_c, step, gemm_stats(m, M, N, K, gm, o->threads));
        rec->record_gradient(id_g, step, analysis::gradient_stats(m.a, gm.ref, o->loss_scale));
        rec->end_step();
        ++steps_recorded;
      }
      if (dumper) {
        if (dump_sel.wants("A", step)) dumper->write(step, "A", {M, K}, av, A, m.a, "rne");
        if (dump_sel.wants("B", step)) dumper->write(step, "B", {K, N}, bv, B, m.b, "rne");
        if (dump_sel.wants("C", step))
          dumper->write(step, "C", {M, N}, gm.ref, r.codes, rf, to_string(m));
      }
      ++steps_done;
      const auto now = std::chrono::steady_clock::now();
      if (progress && (std::chrono::duration<double>(now - last_progress).count() >= 2.0 ||
                       s + 1 == o->steps)) {
        const double el = std::chrono::duration<double>(now - run_start).count();
        fmt::print(
            stderr, "gemm: step {}/{} ({:.1f} steps/s){}\n", s + 1, o->steps,
            static_cast<double>(s + 1) / el,
            rec ? fmt::format(", {} recorded, {} flushed", steps_recorded, rec->rows_flushed())
                : std::string());
        last_progress = now;
      }
    }
    const int stopped = StopSignals::received();
    if (rec && stopped)  // /status says: stopped by this signal after the last step done
      rec->mark_stopped(stopped, first_step + static_cast<std::int64_t>(steps_done) - 1);
    if (rec) rec->close();
    if (stopped) {  // files are closed: exit 128 + signal, with the figures of what was done
      ctx.exit_status = StopSignals::exit_status(stopped);
      if (!o->quiet)
        fmt::print(stderr, "gemm: stopped by {} after {} of {} steps{}\n",
                   StopSignals::name(stopped), steps_done, o->steps,
                   rec ? "; recording flushed and closed" : "");
      if (steps_done == 0) return;  // nothing was measured
    }

    const double flops =
        2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
    if (o->json) {
      fmt::print(
          "{{\"mac\": {}, \"kernel\": \"{}\", \"m\": {}, \"n\": {}, \"k\": {}, \"steps\": {}, "
          "\"recorded_steps\": {}, \"seconds\": {}, "
          "\"gflops\": {}, \"max_rel_error\": {}, \"mean_rel_error\": {}, \"max_ulp_error\": {}, "
          "\"mean_ulp_error\": {}, \"nonfinite\": {}, \"inexact_steps\": {}, \"overflow_steps\": "
          "{}, "
          "\"underflow_steps\": {}, \"swamped\": {}, \"golden_checked\": {}, "
          "\"golden_mismatches\": {}}}\n",
          json_string(to_string(m)), r.kernel, M, N, K, steps_done, steps_recorded,
          json_number(sec), json_number(flops / sec / 1e9), json_number(max_rel),
          json_number(mean_rel), json_number(max_ulp), json_number(mean_ulp), nonfinite,
          r.counts.inexact, r.counts.overflow, r.counts.underflow, r.counts.swamped, golden_checked,
          golden_bad);
      return;
    }
    fmt::print("MAC     {}\nkernel  {}   {}x{}x{}, {} threads\n", to_string(m), r.kernel, M, N, K,
               o->threads > 0 ? o->threads : omp_get_max_threads());
    if (steps_done > 1)
      fmt::print("steps   {} (figures below: the last step){}\n", steps_done,
                 rec ? fmt::format("; {} recorded to {}", steps_recorded, o->rec.record) : "");
    else if (rec)
      fmt::print("record  {} step to {}\n", steps_recorded, o->rec.record);
    fmt::print("time    {:.4f} s   {:.2f} GFLOP/s   {:.3g} MAC/s\n", sec, flops / sec / 1e9,
               flops / 2 / sec);
    fmt::print("error vs fp64 reference ({} finite outputs, {} non-finite):\n", n_err, nonfinite);
    fmt::print("  relative  max {:.4g}  mean {:.4g}\n", max_rel, mean_rel);
    fmt::print("  ulps of {} max {:.4g}  mean {:.4g}\n", rf.name, max_ulp, mean_ulp);
    if (go.flags)
      fmt::print(
          "steps   {} roundings: {} inexact, {} underflow, {} overflow, {} swamped products\n",
          r.counts.steps, r.counts.inexact, r.counts.underflow, r.counts.overflow,
          r.counts.swamped);
    if (o->check_golden)
      fmt::print("golden  {} outputs checked, {} mismatches\n", golden_checked, golden_bad);
    if (dumper) fmt::print("dump    {} tensors to {}\n", dumper->tensors_written(), o->rec.dump);
  });
}

}  // namespace fp8sim::cli
