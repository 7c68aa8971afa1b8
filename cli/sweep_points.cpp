// cli/sweep_points.cpp — see sweep_points.hpp.
#include "cli/sweep_points.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "analysis/analysis.hpp"
#include "cli/gemm_measure.hpp"
#include "cli/record_options.hpp"
#include "cli/run_config.hpp"
#include "rounding/rounding.hpp"
#include "workloads/checkpoint.hpp"
#include "workloads/train.hpp"

namespace fp8sim::cli {

namespace {

double share(std::uint64_t part, std::uint64_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// The point's settings as the run's config (the `config` attribute of its record).
std::string point_config(const SweepPlan& plan, const SweepPoint& p) {
  std::vector<std::pair<std::string, ConfigValue>> s = p.settings;
  s.emplace_back("point", static_cast<std::int64_t>(p.index));
  s.emplace_back("experiment", plan.path);
  return to_toml(plan.kind, s);
}

PointMetrics gemm_point_run(const SweepPlan& plan, const SweepPoint& p, int threads,
                            const std::string& tmp) {
  const GemmPointConfig g = gemm_point(p);
  const Dist dist = parse_dist(g.dist);
  const std::vector<double> av = random_values(g.m * g.k, dist, g.seed);
  const std::vector<double> bv = random_values(g.k * g.n, dist, g.seed + 1);
  analysis::TensorStats qa, qb;
  const auto A = quantize_recorded(g.mac.a, av, threads, &qa);
  const auto B = quantize_recorded(g.mac.b, bv, threads, &qb);
  GemmOptions go;
  go.threads = threads;
  go.flags = g.flags;
  go.seed = g.seed;
  const GemmMeasure gm = measure_gemm(g.mac, g.m, g.n, g.k, A, B, go, threads);
  {
    analysis::Recorder rec(tmp, analysis::OpenMode::create,
                           analysis::current_run("sweep", command_line(), point_config(plan, p)),
                           1);
    const int ia = rec.add_quantizer("A", "activation", g.mac.a, "rne");
    const int ib = rec.add_quantizer("B", "weight", g.mac.b, "rne");
    const int ic = rec.add_gemm("C", result_format(g.mac), to_string(g.mac), g.m, g.n, g.k);
    rec.start();
    rec.record_quantizer(ia, 0, qa);
    rec.record_quantizer(ib, 0, qb);
    rec.record_gemm(ic, 0, gemm_stats(g.mac, g.m, g.n, g.k, gm, threads));
    rec.end_step();
    rec.close();
  }
  const MacCounts& c = gm.r.counts;
  const double macs =
      static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  PointMetrics out;
  out.kernel = gm.r.kernel;
  out.values = {{"max_rel_error", gm.max_rel},
                {"mean_rel_error", gm.mean_rel},
                {"max_ulp_error", gm.max_ulp},
                {"mean_ulp_error", gm.mean_ulp},
                {"nonfinite", static_cast<double>(gm.nonfinite)},
                {"inexact_steps", static_cast<double>(c.inexact)},
                {"swamped", static_cast<double>(c.swamped)},
                {"underflow_steps", static_cast<double>(c.underflow)},
                {"overflow_steps", static_cast<double>(c.overflow)},
                {"seconds", gm.seconds},
                {"gmacs", gm.seconds > 0 ? macs / gm.seconds / 1e9 : 0.0}};
  return out;
}

PointMetrics quantize_point_run(const SweepPlan& plan, const SweepPoint& p, int threads,
                                const std::string& tmp) {
  const QuantizePointConfig q = quantize_point(p);
  const std::vector<double> x = random_values(q.count, parse_dist(q.dist), q.seed);
  QuantizeOptions qo;
  qo.round = q.rounding;
  qo.key = RandomKey{q.seed, 0};
  qo.threads = threads;
  std::vector<double> vals(x.size());
  const QuantizeCounters qc = quantize_values<double>(q.format, x, qo, std::span<double>(vals));
  const analysis::TensorStats ts = analysis::tensor_stats(
      qc, analysis::extra_counts<double>(q.format, x, std::span<const double>(vals), threads));
  {
    analysis::Recorder rec(tmp, analysis::OpenMode::create,
                           analysis::current_run("sweep", command_line(), point_config(plan, p)),
                           1);
    const int id = rec.add_quantizer("x", "tensor", q.format, to_string(q.rounding));
    rec.start();
    rec.record_quantizer(id, 0, ts);
    rec.end_step();
    rec.close();
  }
  PointMetrics out;
  out.values = {{"sqnr_db", ts.sqnr_db},
                {"underflow_share", share(ts.underflow, ts.count)},
                {"subnormal_share", share(ts.subnormal_out, ts.count)},
                {"overflow_share", share(ts.overflow, ts.count)},
                {"saturated_share", share(ts.saturated, ts.count)},
                {"rel_error_mean", ts.rel_error_mean},
                {"max_abs_error", ts.max_abs_error},
                {"error_mean", ts.error_mean}};
  return out;
}

// A train point: the run's epochs as the series /train/epochs, its test, validation and
// final figures as metrics. It checkpoints every 50 steps beside its record (NAME.ckpt.h5,
// with the epochs reported so far): run again after a kill, it resumes from there, bit for
// bit, and removes the checkpoint once its record is complete.
class EpochLog : public workloads::TrainObserver {
 public:
  EpochLog(workloads::CheckpointFile& ck, analysis::RunInfo info)
      : ck_(ck), info_(std::move(info)) {}
  std::vector<workloads::EpochReport> epochs;
  void on_epoch(const workloads::EpochReport& e) override { epochs.push_back(e); }
  void on_checkpoint(const workloads::TrainState& state) override {
    ck_.save(state, info_, {{"sweep_epochs", text()}});
  }
  // the epochs as text: step,epoch,train_loss,train_accuracy,validation loss,accuracy,count,
  // seconds; one per ';'
  [[nodiscard]] std::string text() const {
    std::string t;
    for (const auto& e : epochs)
      t += fmt::format("{},{},{:.17g},{:.17g},{:.17g},{:.17g},{},{:.17g};", e.step, e.epoch,
                       e.train_loss, e.train_accuracy, e.validation.loss, e.validation.accuracy,
                       e.validation.count, e.seconds);
    return t;
  }
  void read(const std::string& t) {
    std::stringstream ss(t);
    std::string item;
    while (std::getline(ss, item, ';')) {
      if (item.empty()) continue;
      workloads::EpochReport e;
      unsigned long long step = 0, epoch = 0, count = 0;
      if (std::sscanf(item.c_str(), "%llu,%llu,%lg,%lg,%lg,%lg,%llu,%lg", &step, &epoch,
                      &e.train_loss, &e.train_accuracy, &e.validation.loss, &e.validation.accuracy,
                      &count, &e.seconds) != 8)
        throw std::runtime_error("a sweep point's checkpoint holds malformed epoch reports");
      e.step = step;
      e.epoch = epoch;
      e.validation.count = count;
      epochs.push_back(e);
    }
  }

 private:
  workloads::CheckpointFile& ck_;
  analysis::RunInfo info_;
};

PointMetrics train_point_run(const SweepPlan& plan, const SweepPoint& p, int threads,
                             const std::string& tmp) {
  workloads::TrainOptions t = train_point(p);
  t.threads = threads;
  t.checkpoint_every = 50;
  std::string ck_path = tmp;  // NAME.h5[.tmp] -> NAME.ckpt.h5
  if (ck_path.size() > 4 && ck_path.ends_with(".tmp")) ck_path.resize(ck_path.size() - 4);
  if (ck_path.ends_with(".h5")) ck_path.resize(ck_path.size() - 3);
  ck_path += ".ckpt.h5";
  workloads::CheckpointFile ck(ck_path);
  EpochLog log(ck, analysis::current_run("sweep", command_line(), point_config(plan, p)));
  std::optional<workloads::TrainState> resume;
  if (std::filesystem::exists(ck_path)) {
    ck.lock_existing();
    resume = workloads::load_checkpoint(ck_path);
    if (const std::string* e = workloads::config_value(*resume, "sweep_epochs")) log.read(*e);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const workloads::TrainResult r = workloads::train(t, log, resume ? &*resume : nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() +
      (resume ? resume->seconds : 0.0);
  {
    analysis::Recorder rec(tmp, analysis::OpenMode::create,
                           analysis::current_run("sweep", command_line(), point_config(plan, p)),
                           1);
    using T = analysis::SeriesColumn::Type;
    const int id = rec.add_series(
        "train/epochs", {{"epoch", T::i64, "", "epoch number, from 0"},
                         {"train_loss", T::f64, "", "mean training loss of the epoch"},
                         {"train_accuracy", T::f64, "", "training accuracy of the epoch"},
                         {"validation_loss", T::f64, "", "validation loss after the epoch"},
                         {"validation_accuracy", T::f64, "", "validation accuracy after it"},
                         {"seconds", T::f64, "s", "wall time of the epoch"}});
    rec.start();
    for (const auto& e : log.epochs) {
      rec.record_series(id, static_cast<std::int64_t>(e.step),
                        {static_cast<double>(e.epoch), e.train_loss, e.train_accuracy,
                         e.validation.loss, e.validation.accuracy, e.seconds});
      rec.end_step();
    }
    rec.close();
  }
  std::error_code ec;
  std::filesystem::remove(ck_path, ec);  // the record is complete
  PointMetrics out;
  out.values = {{"test_accuracy", r.test.accuracy},
                {"test_loss", r.test.loss},
                {"validation_accuracy", r.validation.accuracy},
                {"final_loss", r.final_loss},
                {"steps", static_cast<double>(r.steps)},
                {"skipped_steps", static_cast<double>(r.skipped_steps)},
                {"final_scale", r.final_scale},
                {"seconds", seconds}};
  return out;
}

}  // namespace

std::vector<std::string> metric_names(const std::string& kind) {
  if (kind == "train")
    return {"test_accuracy", "test_loss",     "validation_accuracy", "final_loss",
            "steps",         "skipped_steps", "final_scale",         "seconds"};
  if (kind == "gemm")
    return {"max_rel_error",  "mean_rel_error", "max_ulp_error", "mean_ulp_error",
            "nonfinite",      "inexact_steps",  "swamped",       "underflow_steps",
            "overflow_steps", "seconds",        "gmacs"};
  return {"sqnr_db",         "underflow_share", "subnormal_share", "overflow_share",
          "saturated_share", "rel_error_mean",  "max_abs_error",   "error_mean"};
}

PointMetrics run_point(const SweepPlan& plan, const SweepPoint& p, int threads,
                       const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);  // a leftover of a killed run
  try {
    if (plan.kind == "train") return train_point_run(plan, p, threads, path);
    return plan.kind == "gemm" ? gemm_point_run(plan, p, threads, path)
                               : quantize_point_run(plan, p, threads, path);
  } catch (...) {
    std::filesystem::remove(path, ec);
    throw;
  }
}

}  // namespace fp8sim::cli
