// cli/cmd_sweep.cpp — `fp8sim sweep EXPERIMENT.toml`: every point of an experiment
// (cli/sweep_plan.hpp), run on up to --threads workers, each point's record written to its
// own file in OUT.parts/ (whole or not at all), then joined into OUT with the summary
// table (analysis/sweep_file.hpp). Killed at any moment, `--resume` finishes the missing
// points only. `--shard i/N` runs every N-th point for job arrays; `fp8sim merge` joins
// the shards' files. docs/sweeps.md.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "analysis/analysis.hpp"
#include "cli/commands.hpp"
#include "cli/files.hpp"
#include "cli/options.hpp"
#include "cli/resources.hpp"
#include "cli/run_config.hpp"
#include "cli/stop_signals.hpp"
#include "cli/sweep_mpi.hpp"
#include "cli/sweep_plan.hpp"
#include "cli/sweep_points.hpp"

namespace fp8sim::cli {

namespace {

namespace fs = std::filesystem;

std::string point_file(const std::string& parts, std::size_t index, bool failed) {
  return fmt::format("{}/p{:06d}{}.h5", parts, index, failed ? ".failed" : "");
}

analysis::SettingValue to_setting(const ConfigValue& v) {
  return std::visit([](const auto& x) { return analysis::SettingValue(x); }, v);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "--shard i/N": 0 <= i < N <= 1000000.
std::pair<std::size_t, std::size_t> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  auto bad = [&] {
    return UsageError(
        fmt::format("--shard {} is not allowed (I/N: this job's number I from 0 "
                    "to N-1 and the number of jobs N, e.g. 0/4)",
                    shown(s)));
  };
  if (slash == std::string::npos) throw bad();
  const std::string a = s.substr(0, slash), b = s.substr(slash + 1);
  auto digits = [](const std::string& t) {
    return !t.empty() && t.size() <= 7 &&
           std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(a) || !digits(b)) throw bad();
  const std::size_t i = std::stoul(a), n = std::stoul(b);
  if (n == 0 || n > 1000000 || i >= n) throw bad();
  return {i, n};
}

// The setting keys of the summary: those of the first point, in order.
std::vector<std::string> setting_keys(const SweepPlan& plan) {
  std::vector<std::string> keys;
  if (!plan.points.empty())
    for (const auto& [k, v] : plan.points.front().settings) keys.push_back(k);
  return keys;
}

std::string human_count(double x) {
  if (x >= 1e12) return fmt::format("{:.3g} T", x / 1e12);
  if (x >= 1e9) return fmt::format("{:.3g} G", x / 1e9);
  if (x >= 1e6) return fmt::format("{:.3g} M", x / 1e6);
  return fmt::format("{:.0f}", x);
}

// Runs point p and writes its complete record file at `path` (a temporary name): the
// record with its attributes, or, when the point fails, a file of attributes only (status
// failed and the error). Returns the error ("" when the point ran).
std::string produce_point(const SweepPlan& plan, const SweepPoint& p, const std::string& path) {
  analysis::SweepPointRecord rec;
  rec.index = static_cast<std::int64_t>(p.index);
  for (const auto& [k, v] : p.settings) rec.settings.emplace_back(k, to_setting(v));
  try {
    const char* hook = std::getenv("FP8SIM_SWEEP_FAIL_POINT");  // tests: fail this point
    if (hook && std::to_string(p.index) == hook)
      throw std::runtime_error("failed on purpose (FP8SIM_SWEEP_FAIL_POINT)");
    const PointMetrics m = run_point(plan, p, 1, path);
    rec.kernel = m.kernel;
    rec.metrics = m.values;
    analysis::annotate_point_file(path, rec, false);
    return "";
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    rec.status = "failed";
    rec.error = e.what();
    rec.kernel.clear();
    rec.metrics.clear();
    analysis::annotate_point_file(path, rec, true);
    return rec.error;
  }
}

}  // namespace

void add_sweep_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "sweep",
      "Run every point of an experiment file (gemm, quantize or train points over grids, zips "
      "and explicit lists) into one HDF5 file with a summary table; resumable, threaded, "
      "shardable, MPI");
  struct Opts {
    std::string experiment, out, shard;
    int threads = 0;
    bool resume = false, overwrite = false, dry_run = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("EXPERIMENT", o->experiment, "The experiment file (TOML; docs/sweeps.md)")
      ->required()
      ->type_name("FILE");
  add_text(*cmd, "-o,--out", o->out, "FILE",
           "Results file (HDF5; default: the experiment's name with .h5, in this folder)");
  add_integer(*cmd, "--threads", o->threads, 0, 1024,
              "Points run at once, one thread each (0 = all cores); results never depend on it");
  cmd->add_flag("--resume", o->resume,
                "Finish an interrupted sweep: run only the points OUT.parts/ does not hold yet");
  cmd->add_flag("--overwrite", o->overwrite,
                "Replace an existing results file (and the parts of an interrupted run)")
      ->excludes(cmd->get_option("--resume"));
  cmd->add_flag("--dry-run", o->dry_run,
                "List the points, the work and the memory, and run nothing");
  add_text(*cmd, "--shard", o->shard, "I/N",
           "Run only points I, I+N, I+2N, ... (job arrays; join the files with fp8sim merge)");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress lines on stderr");
  cmd->footer(fmt::format(
      "An experiment file names a [base] (kind = \"gemm\", \"quantize\" or \"train\" and settings\n"
      "named as the command's options, \"mac.KEY\" for one key of the MAC spec, \"recipe.KEY\"\n"
      "for a recipe field) and axes: [grid]\n"
      "(every combination), [zip] (lists in lock step), [[points]] (explicit settings).\n"
      "Points = each [[points]] entry (or the base alone) x grid x zip.\n"
      "  [base]\n"
      "  kind = \"gemm\"\n"
      "  m = 96\n"
      "  n = 96\n"
      "  k = 2048\n"
      "  [grid]\n"
      "  \"mac.acc\" = [\"fp32\", \"fp16\", \"bf16\", \"e5m7\"]\n"
      "  \"mac.round\" = [\"rne\", \"rtz\", \"sr\"]\n"
      "  seed = [1, 2]\n"
      "Each point's record is written to OUT.parts/ as it completes (whole or not at all);\n"
      "when all are done OUT gets /points/pNNNNNN and /summary, and the parts go. Exit status\n"
      "64 + the number of failed points (at most 127) when points failed; 130/143 when stopped\n"
      "(run again with --resume).\n"
      "Under mpirun (this build: {}) rank 0 hands the points out to the other ranks, one at a\n"
      "time, and writes OUT; --threads then has no effect.\n"
      "Examples:\n"
      "  fp8sim sweep workloads/experiments/swamping.toml --dry-run\n"
      "  fp8sim sweep workloads/experiments/swamping.toml --out swamping.h5 --threads 2\n"
      "  fp8sim sweep exp.toml --shard 0/4 --out part0.h5   (then: fp8sim merge all.h5 part*.h5)\n"
      "  python3 -c \"import h5py, pandas; print(pandas.DataFrame(h5py.File('swamping.h5')\n"
      "    ['summary'][:]))\"",
      mpi_built() ? "with MPI" : "without MPI"));
  cmd->callback([o, &ctx] {
    const MpiSession mpi;
    // ranks > 0 of an MPI job: wait for rank 0's word, then run the points it hands out
    if (mpi.rank() > 0) {
      int status = 0;
      mpi.broadcast(status);
      if (status != 0) {  // rank 0 refused (and said why) or has nothing to run
        ctx.exit_status = status > 0 ? status : 0;
        return;
      }
      std::string text, name;
      mpi.broadcast(text);
      mpi.broadcast(name);
      const SweepPlan plan = sweep_plan_from_text(text, name);
      const StopSignals stop;
      mpi_work(mpi, [&](std::size_t index, const std::string& path) {
        return !produce_point(plan, plan.points[index], path).empty();
      });
      return;
    }
    bool released = false;  // the other ranks were told how to go on
    auto release = [&](int status) {
      if (!released) mpi.broadcast(status);
      released = true;
    };
    struct Release {  // a refusal (an exception) releases them with status 2
      std::function<void(int)> f;
      ~Release() { f(2); }
    } on_exit{release};
    check_input_file({"EXPERIMENT", o->experiment});
    const SweepPlan plan = read_sweep_plan(o->experiment);
    std::size_t shard_i = 0, shard_n = 1;
    if (!o->shard.empty()) std::tie(shard_i, shard_n) = parse_shard(o->shard);
    std::vector<const SweepPoint*> mine;
    for (const auto& p : plan.points)
      if (p.index % shard_n == shard_i) mine.push_back(&p);
    // under MPI every rank but 0 runs one point at a time
    const int workers = mpi.size() > 1
                            ? mpi.size() - 1
                            : std::max(1, o->threads > 0 ? o->threads : omp_get_max_threads());
    double work = 0;
    std::uint64_t peak = 0;
    for (const SweepPoint* p : mine) {
      work += plan.work(*p);
      peak = std::max(peak, plan.memory(*p));
    }
    const std::uint64_t concurrent = mul_sat(
        peak, static_cast<std::uint64_t>(std::min<std::size_t>(
                  static_cast<std::size_t>(workers), std::max<std::size_t>(mine.size(), 1))));
    if (o->dry_run) {
      release(-1);
      fmt::print(
          "{}: {} {} points{}, axes: {}\n", o->experiment, plan.points.size(), plan.kind,
          shard_n > 1 ? fmt::format(" ({} in shard {})", mine.size(), o->shard) : "",
          plan.axes.empty() ? std::string("none") : fmt::format("{}", fmt::join(plan.axes, ", ")));
      for (const SweepPoint* p : mine) {
        std::vector<std::string> kv;
        for (const auto& k : plan.axes) kv.push_back(k + "=" + setting_text(p->at(k)));
        fmt::print("  p{:06d}  {}\n", p->index, fmt::join(kv, "  "));
      }
      fmt::print("work: {}{} in all; memory: {} MiB per point, {} MiB with {} at once\n",
                 human_count(work),
                 plan.kind == "gemm"    ? "MAC"
                 : plan.kind == "train" ? " samples"
                                        : " values",
                 peak >> 20, concurrent >> 20,
                 std::min<std::size_t>(static_cast<std::size_t>(workers), mine.size()));
      return;
    }
    if (mpi.size() == 1)
      require_memory(concurrent,
                     fmt::format("sweep {} with {} points at once", o->experiment, workers));
    const std::string out =
        !o->out.empty() ? o->out : fs::path(o->experiment).stem().string() + ".h5";
    const std::string parts = out + ".parts";
    check_file_roles({{"EXPERIMENT", o->experiment}}, {{"--out", out}});
    const std::string identity = plan.text + "\n# shard " + (o->shard.empty() ? "-" : o->shard);
    if (o->resume) {
      if (!file_exists(parts)) {
        if (file_exists(out)) {
          const analysis::SweepFileInfo info = analysis::read_sweep_info(out);
          if (info.experiment != plan.text)
            throw UsageError(
                fmt::format("--resume: {} holds the results of another experiment "
                            "(its experiment text differs from {})",
                            shown(out), shown(o->experiment)));
          release(-1);
          if (!o->quiet)
            fmt::print(stderr, "sweep: {} already holds every point; nothing to do\n", out);
          return;
        }
      } else if (read_text(parts + "/experiment.toml") != identity) {
        throw UsageError(fmt::format(
            "--resume: {} was made by another experiment or shard than "
            "{}{} (start over with --overwrite)",
            shown(parts), shown(o->experiment), o->shard.empty() ? "" : " --shard " + o->shard));
      }
    } else {
      if (file_exists(parts) && !o->overwrite)
        throw UsageError(
            fmt::format("{} holds the points of an interrupted sweep: finish it with "
                        "--resume, or start over with --overwrite",
                        shown(parts)));
      if (file_exists(out) && !o->overwrite)
        throw UsageError(fmt::format("{} exists (give --overwrite to replace it)", shown(out)));
      std::error_code ec;
      fs::remove_all(parts, ec);
    }
    std::error_code ec;
    fs::create_directories(parts, ec);
    if (ec)
      throw analysis::IoError(
          fmt::format("cannot create the folder {}: {}", shown(parts), ec.message()));
    if (!file_exists(parts + "/experiment.toml")) {
      std::ofstream f(parts + "/experiment.toml", std::ios::binary);
      f << identity;
      if (!f) throw analysis::IoError(fmt::format("cannot write {}/experiment.toml", shown(parts)));
    }
    // the points still to run (a failed one runs again)
    std::vector<const SweepPoint*> todo;
    for (const SweepPoint* p : mine)
      if (!file_exists(point_file(parts, p->index, false))) {
        fs::remove(point_file(parts, p->index, true), ec);
        todo.push_back(p);
      }
    const std::size_t already = mine.size() - todo.size();
    const StopSignals stop;
    std::atomic<std::size_t> done{0}, failed{0};
    std::mutex io;
    const auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    // after each point: its failure, and progress every 2 s
    auto report = [&](std::size_t index, const std::string& error) {
      std::lock_guard<std::mutex> lock(io);
      if (!error.empty()) {
        ++failed;
        fmt::print(stderr, "sweep: point {} failed: {}\n", index, error);
      }
      ++done;
      const auto now = std::chrono::steady_clock::now();
      if (!o->quiet &&
          (std::chrono::duration<double>(now - last).count() >= 2.0 || done == todo.size())) {
        const double el = std::chrono::duration<double>(now - t0).count();
        const double rate = static_cast<double>(done) / std::max(el, 1e-9);
        fmt::print(stderr, "sweep: {}/{} points done{}{}, {:.2f} points/s, ETA {:.0f} s\n",
                   already + done, mine.size(), already ? fmt::format(" ({} before)", already) : "",
                   failed ? fmt::format(", {} failed", failed.load()) : "", rate,
                   static_cast<double>(todo.size() - done) / std::max(rate, 1e-9));
        last = now;
      }
    };
    if (mpi.size() > 1) {
      release(0);
      std::string text = plan.text, name = o->experiment;
      mpi.broadcast(text);
      mpi.broadcast(name);
      std::vector<std::size_t> indices;
      for (const SweepPoint* p : todo) indices.push_back(p->index);
      // (the ranks wait on rank 0 from here: a failure must end the whole job)
      try {
        mpi_coordinate(
            mpi, indices,
            [&](std::size_t index, const std::string& bytes, bool bad) {
              const std::string dst = point_file(parts, index, bad);
              {
                std::ofstream f(dst + ".tmp", std::ios::binary);
                f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
                if (!f)
                  throw analysis::IoError(fmt::format("cannot write {}", shown(dst + ".tmp")));
              }
              fs::rename(dst + ".tmp", dst);
              report(index, bad ? analysis::read_point_record({dst, "/"}).error : std::string());
            },
            [] { return StopSignals::received() != 0; });
      } catch (const std::exception& e) {
        fmt::print(stderr, "fp8sim: error: {}\n", e.what());
        mpi.abort(2);
      }
    } else {
      release(0);
      std::atomic<std::size_t> next{0};
      auto worker = [&] {
        while (!StopSignals::received()) {
          const std::size_t t = next.fetch_add(1);
          if (t >= todo.size()) return;
          const SweepPoint& p = *todo[t];
          const std::string tmp = point_file(parts, p.index, false) + ".tmp";
          const std::string error = produce_point(plan, p, tmp);
          fs::rename(tmp, point_file(parts, p.index, !error.empty()));
          report(p.index, error);
        }
      };
      std::vector<std::thread> pool;
      const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(workers),
                                                  std::max<std::size_t>(todo.size(), 1));
      for (std::size_t w = 1; w < n; ++w) pool.emplace_back(worker);
      worker();
      for (auto& th : pool) th.join();
    }
    if (const int sig = StopSignals::received()) {
      ctx.exit_status = StopSignals::exit_status(sig);
      if (!o->quiet)
        fmt::print(stderr,
                   "sweep: stopped by {} with {} of {} points in {}; run again with --resume\n",
                   StopSignals::name(sig), already + done.load(), mine.size(), parts);
      return;
    }
    // every point of this run is in the parts: join them
    std::vector<analysis::PointSource> sources;
    std::size_t n_failed = 0;
    for (const SweepPoint* p : mine) {
      const bool ok = file_exists(point_file(parts, p->index, false));
      n_failed += ok ? 0 : 1;
      sources.push_back({point_file(parts, p->index, !ok), "/"});
    }
    analysis::SweepFileInfo info;
    info.kind = plan.kind;
    info.experiment = plan.text;
    info.shard = o->shard;
    info.total_points = static_cast<std::int64_t>(plan.points.size());
    info.run =
        analysis::current_run("sweep", command_line(),
                              to_toml("sweep", {{"experiment", o->experiment},
                                                {"out", out},
                                                {"threads", static_cast<std::int64_t>(o->threads)},
                                                {"shard", o->shard}}));
    analysis::write_sweep_file(out, info, sources, setting_keys(plan), metric_names(plan.kind));
    fs::remove_all(parts, ec);
    if (!o->quiet)
      fmt::print(stderr, "sweep: {} points{} in {:.1f} s -> {}\n", mine.size(),
                 n_failed ? fmt::format(" ({} failed)", n_failed) : "",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), out);
    if (n_failed) ctx.exit_status = 64 + static_cast<int>(std::min<std::size_t>(n_failed, 63));
  });

  auto* mg = app.add_subcommand(
      "merge", "Join the results files of a sweep's shards (--shard I/N) into one file");
  struct MergeOpts {
    std::string out;
    std::vector<std::string> inputs;
    bool overwrite = false, partial = false;
  };
  auto mo = std::make_shared<MergeOpts>();
  mg->add_option("OUT", mo->out, "The joined results file")->required()->type_name("FILE");
  mg->add_option("SHARDS", mo->inputs, "The shards' results files")->required()->type_name("FILE");
  mg->add_flag("--overwrite", mo->overwrite, "Replace OUT if it exists");
  mg->add_flag("--partial", mo->partial, "Join even when the shards miss some points");
  mg->footer(
      "The shards must come from the same experiment file (its text is compared) and hold\n"
      "disjoint points; OUT then equals the results of one unsharded run, point for point.\n"
      "Examples:\n"
      "  fp8sim merge all.h5 part0.h5 part1.h5 part2.h5 part3.h5");
  mg->callback([mo] {
    std::vector<FileRole> ins;
    for (const auto& f : mo->inputs) {
      ins.push_back({"SHARDS", f});
      check_input_file(ins.back());
    }
    check_file_roles(ins, {{"OUT", mo->out}});
    if (file_exists(mo->out) && !mo->overwrite)
      throw UsageError(fmt::format("{} exists (give --overwrite to replace it)", shown(mo->out)));
    std::vector<analysis::PointSource> sources;
    analysis::SweepFileInfo first;
    for (std::size_t i = 0; i < mo->inputs.size(); ++i) {
      const analysis::SweepFileInfo info = analysis::read_sweep_info(mo->inputs[i], &sources);
      if (i == 0) {
        first = info;
      } else if (info.experiment != first.experiment || info.kind != first.kind) {
        throw UsageError(
            fmt::format("{} comes from another experiment than {} (their experiment "
                        "texts differ)",
                        shown(mo->inputs[i]), shown(mo->inputs[0])));
      }
    }
    {  // a point held twice: two shards of different runs, or a file given twice
      std::map<std::string, std::string> seen;
      for (const auto& src : sources) {
        const auto [it, fresh] = seen.emplace(src.group, src.file);
        if (!fresh)
          throw UsageError(fmt::format("point {} is in {} and in {}",
                                       src.group.substr(src.group.rfind('/') + 1),
                                       shown(it->second), shown(src.file)));
      }
    }
    // the settings' order and the metrics: from the experiment itself
    const SweepPlan plan =
        sweep_plan_from_text(first.experiment, mo->inputs[0] + ":/@sweep_experiment");
    if (!mo->partial && static_cast<std::int64_t>(sources.size()) != first.total_points)
      throw UsageError(
          fmt::format("the shards hold {} of the experiment's {} points (give every "
                      "shard, or --partial)",
                      sources.size(), first.total_points));
    analysis::SweepFileInfo info = first;
    info.shard.clear();
    info.run = analysis::current_run("merge", command_line(), to_toml("merge", {{"out", mo->out}}));
    analysis::write_sweep_file(mo->out, info, sources, setting_keys(plan), metric_names(plan.kind));
    fmt::print(stderr, "merge: {} points from {} files -> {}\n", sources.size(), mo->inputs.size(),
               mo->out);
  });
}

}  // namespace fp8sim::cli
