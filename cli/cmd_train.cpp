// cli/cmd_train.cpp — `fp8sim train`: a network trained on Fashion-MNIST under a precision
// recipe, every GEMM on the emulated MAC unit (workloads/train.hpp); progress on stderr, a
// summary on stdout.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/analysis.hpp"
#include "cli/commands.hpp"
#include "cli/files.hpp"
#include "cli/record_options.hpp"
#include "cli/run_config.hpp"
#include "workloads/data/idx.hpp"
#include "workloads/nn/recipe_text.hpp"
#include "workloads/train.hpp"

namespace fp8sim::cli {

namespace {

using workloads::EpochReport;
using workloads::EvalReport;
using workloads::StepReport;

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<long long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02}", t / 60, t % 60);
}

// Progress on stderr: a bar redrawn in place on a terminal, a line per ~5% otherwise.
class Progress final : public workloads::TrainObserver {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}
  void on_start(const std::vector<std::pair<std::string, std::size_t>>& params,
                std::uint64_t total) override {
    total_ = total;
    std::size_t n = 0;
    for (const auto& p : params) n += p.second;
    if (!quiet_)
      fmt::print(stderr, "training {} parameters in {} tensors, {} steps\n", n, params.size(),
                 total);
  }
  void on_step(const StepReport& r) override {
    last_ = r;
    if (quiet_) return;
    const double done = static_cast<double>(r.step + 1) / static_cast<double>(total_);
    const bool line_due = done >= next_line_ || r.step + 1 == total_;
    if (!tty_ && !line_due) return;
    if (line_due) next_line_ += 0.05;
    const double rate = r.seconds > 0 ? static_cast<double>(r.images) / r.seconds : 0;
    const double eta = done > 0 ? r.seconds * (1 - done) / done : 0;
    const int w = 24, filled = static_cast<int>(done * w);
    const std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                            std::string(static_cast<std::size_t>(w - filled), '.');
    fmt::print(stderr,
               "{}[{}] step {}/{} epoch {} loss {:.4f} acc {:.3f} scale {:g} {:.0f} img/s "
               "ETA {}{}",
               tty_ ? "\r" : "", bar, r.step + 1, total_, r.epoch + 1, r.loss, r.accuracy,
               r.loss_scale, rate, duration_text(eta), tty_ ? "" : "\n");
    std::fflush(stderr);
  }
  void on_epoch(const EpochReport& e) override {
    if (quiet_) return;
    fmt::print(stderr, "{}epoch {}: train loss {:.4f} acc {:.4f}{}\n", tty_ ? "\n" : "",
               e.epoch + 1, e.train_loss, e.train_accuracy,
               e.validation.count ? fmt::format(", validation loss {:.4f} acc {:.4f}",
                                                e.validation.loss, e.validation.accuracy)
                                  : std::string());
  }
  bool stop_requested() override { return StopSignals::received() != 0; }
  [[nodiscard]] const StepReport& last() const { return last_; }

 private:
  bool quiet_, tty_;
  std::uint64_t total_ = 1;
  double next_line_ = 0.05;
  StepReport last_;
};

// The HDF5 recording (docs/hdf5-schema.md, kind train). SWMR files take no new objects
// once started, and the quantization points are known only when the first step has run:
// the points are declared and the file started at the first step.
class Recording final : public workloads::TrainObserver {
 public:
  Recording(Progress& progress, std::unique_ptr<analysis::Recorder> rec,
            const workloads::TrainOptions& t, std::string recipe_name)
      : progress_(progress), rec_(std::move(rec)), t_(t), recipe_(std::move(recipe_name)) {}

  void on_start(const std::vector<std::pair<std::string, std::size_t>>& params,
                std::uint64_t total) override {
    progress_.on_start(params, total);
    params_ = params;
  }
  void on_step(const StepReport& r) override {
    if (!started_) start(r);
    const auto step = static_cast<std::int64_t>(r.step);
    rec_->record_series(steps_id_, step,
                        {static_cast<double>(r.epoch), r.loss, r.accuracy, r.lr, r.loss_scale,
                         r.skipped ? 1.0 : 0.0, static_cast<double>(r.overflow_events),
                         static_cast<double>(r.images), r.seconds});
    for (const auto& [name, u] : r.updates) {
      const auto it = update_ids_.find(name);
      if (it == update_ids_.end()) continue;
      rec_->record_series(
          it->second, step,
          {static_cast<double>(u.count), static_cast<double>(u.nonzero),
           static_cast<double>(u.vanished),
           u.nonzero ? static_cast<double>(u.vanished) / static_cast<double>(u.nonzero) : 0.0,
           u.max_abs_delta});
    }
    if (r.stats) {
      for (const auto& [name, q] : r.stats->quant) {
        const auto it = quant_ids_.find(name);
        if (it != quant_ids_.end())
          rec_->record_quantizer(it->second, step, analysis::tensor_stats(q.counters, q.extra));
      }
      for (const auto& [name, g] : r.stats->gemm) {
        const auto it = gemm_ids_.find(name);
        if (it == gemm_ids_.end()) continue;
        analysis::GemmStats gs;  // no fp64 reference GEMM in training: output stats empty
        gs.output.histogram.assign(analysis::Binades::of(parse_format(g.out_format)).bins(), 0);
        gs.mac = {g.counts.steps,   g.counts.inexact, g.counts.underflow,     g.counts.overflow,
                  g.counts.invalid, g.counts.swamped, g.counts.carry_overflow};
        gs.products = g.m * g.n * g.k;
        rec_->record_gemm(it->second, step, gs);
      }
      for (const auto& [name, grad] : r.grads) {
        const auto it = grad_ids_.find(name);
        if (it == grad_ids_.end()) continue;
        std::vector<double> g(grad->begin(), grad->end());
        rec_->record_gradient(it->second, step,
                              analysis::gradient_stats(grad_format_, g, r.loss_scale));
      }
    }
    rec_->end_step();
    last_step_ = step;
    progress_.on_step(r);
  }
  void on_epoch(const EpochReport& e) override {
    progress_.on_epoch(e);
    if (!started_) return;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    rec_->record_series(epochs_id_, static_cast<std::int64_t>(e.step),
                        {static_cast<double>(e.epoch), e.train_loss, e.train_accuracy,
                         e.validation.count ? e.validation.loss : nan,
                         e.validation.count ? e.validation.accuracy : nan, e.seconds});
  }
  void on_test(std::uint64_t step, const EvalReport& t) override {
    if (started_)
      rec_->record_series(test_id_, static_cast<std::int64_t>(step), {t.loss, t.accuracy});
  }
  bool stop_requested() override { return progress_.stop_requested(); }
  void finish(bool stopped, int signo) {
    if (!started_) return;  // no step ran: the Recorder removes the file it made
    if (stopped) rec_->mark_stopped(signo, last_step_);
    rec_->close();
  }

 private:
  void start(const StepReport& r) {
    namespace a = analysis;
    rec_->set_group_attr(a::kTrainGroup, "workload", t_.workload);
    rec_->set_group_attr(a::kTrainGroup, "recipe", recipe_);
    rec_->set_group_attr(a::kTrainGroup, "recipe_text", workloads::recipe_to_toml(t_.recipe));
    rec_->set_group_attr(a::kTrainGroup, "classes", std::int64_t{10});
    steps_id_ = rec_->add_series(a::kTrainSteps, a::train_step_columns());
    epochs_id_ = rec_->add_series(a::kTrainEpochs, a::train_epoch_columns());
    test_id_ = rec_->add_series(a::kTrainTest, a::train_test_columns());
    for (const auto& [name, size] : params_)
      update_ids_[name] = rec_->add_series(a::train_update_path(name), a::train_update_columns());
    grad_format_ =
        t_.recipe.weight_grad.format ? *t_.recipe.weight_grad.format : parse_format("fp32");
    if (r.stats) {
      for (const auto& [name, q] : r.stats->quant) {
        const auto slash = name.find('/');
        quant_ids_[name] = rec_->add_quantizer(name.substr(0, slash), name.substr(slash + 1),
                                               parse_format(q.format), q.rounding);
      }
      for (const auto& [name, g] : r.stats->gemm) {
        std::string gname = name;
        std::replace(gname.begin(), gname.end(), '/', '.');
        gemm_ids_[name] = rec_->add_gemm(gname, parse_format(g.out_format), g.mac, g.m, g.n, g.k);
      }
      for (const auto& [name, size] : params_)
        if (name.find("weight") != std::string::npos)
          grad_ids_[name] = rec_->add_gradient(name, grad_format_);
    }
    rec_->start();
    started_ = true;
  }
  Progress& progress_;
  std::unique_ptr<analysis::Recorder> rec_;
  const workloads::TrainOptions& t_;
  std::string recipe_;
  std::vector<std::pair<std::string, std::size_t>> params_;
  bool started_ = false;
  std::int64_t last_step_ = -1;
  int steps_id_ = -1, epochs_id_ = -1, test_id_ = -1;
  std::map<std::string, int> update_ids_, quant_ids_, gemm_ids_, grad_ids_;
  Format grad_format_ = parse_format("fp32");
};

}  // namespace

void add_train_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "train", "Train a network on Fashion-MNIST with every GEMM on the emulated MAC unit");
  struct Opts {
    workloads::TrainOptions t;
    std::string recipe = "mellempudi2019", data_dir;
    std::vector<std::string> sets;  ///< --set KEY=VALUE, in order
    bool json = false, quiet = false, print_recipe = false;
    RecordOptions rec;
  };
  auto o = std::make_shared<Opts>();
  const auto names = workloads::recipe_preset_names();
  add_choice(*cmd, "--workload", o->t.workload, {"mlp", "resnet"},
             "Network: mlp (784-256-128-10) or resnet (stem, 3 stages of basic blocks, width 16)");
  add_text(*cmd, "--recipe", o->recipe, "NAME|FILE",
           fmt::format("Precision recipe: a preset ({}; below) or a TOML recipe file (below)",
                       fmt::join(names, ", ")));
  cmd->add_option("--set", o->sets,
                  "Change one key of the recipe, e.g. weight.format=e4m3fn (repeatable, applied "
                  "in order after --recipe; the keys: below)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->add_flag("--print-recipe", o->print_recipe,
                "Print the recipe (after --recipe and --set) as a TOML recipe file and exit "
                "without training");
  add_integer(*cmd, "--epochs", o->t.epochs, std::size_t{1}, std::size_t{1000}, "Epochs");
  add_integer(*cmd, "--train-size", o->t.train_size, std::size_t{0}, std::size_t{60000},
              "Training images (0 = all 60000 minus the validation split)");
  add_integer(*cmd, "--validation-size", o->t.validation_size, std::size_t{0}, std::size_t{60000},
              "Validation images, held out of the training file");
  add_integer(*cmd, "--test-size", o->t.test_size, std::size_t{0}, std::size_t{10000},
              "Test images (0 = all 10000)");
  add_integer(*cmd, "--batch", o->t.batch, std::size_t{1}, std::size_t{65536}, "Batch size");
  add_integer(*cmd, "--seed", o->t.seed, std::uint64_t{0}, ~std::uint64_t{0},
              "Seed: initial weights, data order, every random bit");
  add_integer(*cmd, "--threads", o->t.threads, 0, 1024, "Threads (0 = all cores)");
  add_choice(*cmd, "--optimizer", o->t.optimizer, {"sgd", "adamw"}, "Update rule");
  add_real(*cmd, "--lr", o->t.lr, finite_positive, "Learning rate");
  add_real(*cmd, "--momentum", o->t.momentum, RealRange{0, 1, false, true}, "SGD momentum");
  add_real(*cmd, "--weight-decay", o->t.weight_decay, RealRange{0, 1, false, false},
           "Weight decay (SGD: L2 in the gradient; AdamW: decoupled)");
  add_text(*cmd, "--schedule", o->t.schedule, "SPEC",
           "Learning-rate schedule: constant, step:step_size=S,gamma=G, cosine:t_max=T,"
           "eta_min=E, each optionally followed by ,warmup=W");
  add_text(*cmd, "--data-dir", o->data_dir, "DIR",
           "Fashion-MNIST folder (default: $FP8SIM_FASHION_MNIST_DIR, else "
           "/usr/share/datasets/fashion-mnist from the Debian package dataset-fashion-mnist)");
  add_record_options(*cmd, o->rec, true);
  cmd->add_flag("--json", o->json, "Print the summary as one JSON object");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress on stderr");
  std::string recipes;
  for (const auto& n : names)
    recipes += fmt::format("  {:<15} {}\n", n, workloads::recipe_preset(n).source);
  cmd->footer(
      "Recipes:\n" + recipes +
      "\nA recipe file (TOML; every key optional; --print-recipe writes every one):\n"
      "  base = \"mellempudi2019\"      # start from a preset (default: fp32's values)\n"
      "  name = \"my-recipe\"           # default: the base's name, else the file's\n"
      "  source = \"...\"               # where it comes from, what is assumed\n"
      "  loss_scaler = \"enhanced\"     # none | static | static:S | dynamic | enhanced\n"
      "  exempt = [\"first\", \"last\"]   # layers kept in fp32 (first, last or a name)\n"
      "  [weight]                     # and [activation], [error], [weight_grad]\n"
      "  format = \"e4m3fn\"            # a format (fp8sim formats) or none (fp32)\n"
      "  round = \"rne\"                # rne rna rtz rup rdn rto sr sr:R\n"
      "  tininess = \"after\"           # after | before\n"
      "  ftz = false                  # flush results below min normal to zero\n"
      "  scaling = \"delayed\"          # none | delayed (Transformer Engine)\n"
      "  amax_history = 1024          # delayed: steps of amax history, 1..1048576\n"
      "  margin = 0                   # delayed: scale / 2^margin, 0..64\n"
      "  [gemm]                       # MAC specs (fp8sim mac --help)\n"
      "  fprop = \"a=e5m2,b=e4m3fn,acc=fp32\"  # activation x weight\n"
      "  dgrad = \"...\"                # error x weight\n"
      "  wgrad = \"...\"                # error x activation\n"
      "  [master]                     # master weights: format (not none), round,\n"
      "  format = \"fp16\"              # tininess, ftz\n"
      "  round = \"sr:13\"\n"
      "A GEMM's a= and b= must be the formats of its roles: change both together.\n"
      "--set keys: the same, dotted (weight.format, gemm.fprop, master.round, ...); exempt\n"
      "takes a comma-separated list (empty: none), ftz true|false|1|0.\n"
      "\nExamples:\n"
      "  fp8sim train --recipe fp32 --epochs 2\n"
      "  fp8sim train --recipe mellempudi2019 --train-size 20000 --epochs 3 --seed 1\n"
      "  fp8sim train --recipe ocp-fp8 --optimizer adamw --lr 1e-3 --json\n"
      "  fp8sim train --recipe mellempudi2019 --print-recipe > mine.toml\n"
      "  fp8sim train --recipe mine.toml --set error.round=sr:4 --set exempt=first,last\n"
      "  fp8sim train --recipe hfp8 --set loss_scaler=static:1024 --set exempt=\n"
      "  fp8sim train --recipe mellempudi2019 --set activation.format=e4m3fn \\\n"
      "      --set gemm.fprop=a=e4m3fn,b=e5m2,acc=fp32 --set "
      "gemm.wgrad=a=e5m2,b=e4m3fn,acc=fp32\n");
  cmd->callback([o, &ctx, cmd, names] {
    check_record_options(*cmd, o->rec);
    if (!o->rec.dump.empty())
      throw UsageError("--dump is not supported by train yet (use --record for statistics)");
    if (o->rec.append)
      throw UsageError(
          "--append is not supported by train yet (a resumed run comes with "
          "checkpoints)");
    const bool recipe_file = workloads::recipe_names_file(o->recipe);
    if (recipe_file) {
      check_input_file({"--recipe", o->recipe});
    } else if (std::find(names.begin(), names.end(), o->recipe) == names.end()) {
      throw UsageError(fmt::format(
          "--recipe {} is not allowed (allowed: a preset {}, or a TOML recipe file FILE.toml)",
          shown(o->recipe), fmt::join(names, ", ")));
    }
    o->t.recipe = workloads::resolve_recipe(o->recipe, o->sets);
    if (o->print_recipe) {
      if (!o->rec.record.empty())
        throw UsageError("--record has no effect with --print-recipe (it trains nothing)");
      fmt::print("{}", workloads::recipe_to_toml(o->t.recipe));
      return;
    }
    o->t.data_dir = o->data_dir;
    // statistics are collected on recorded steps only (--sample-every N: every N steps)
    o->t.stats_every = o->rec.record.empty() ? 0 : o->rec.sample_every;
    check_file_roles({{"--recipe", recipe_file ? o->recipe : std::string()}}, output_roles(o->rec));
    const std::string config =
        to_toml("train", {{"workload", o->t.workload},
                          {"recipe", o->recipe},
                          {"set", fmt::format("{}", fmt::join(o->sets, "\n"))},
                          {"epochs", static_cast<std::int64_t>(o->t.epochs)},
                          {"train_size", static_cast<std::int64_t>(o->t.train_size)},
                          {"validation_size", static_cast<std::int64_t>(o->t.validation_size)},
                          {"test_size", static_cast<std::int64_t>(o->t.test_size)},
                          {"batch", static_cast<std::int64_t>(o->t.batch)},
                          {"seed", static_cast<std::int64_t>(o->t.seed)},
                          {"threads", static_cast<std::int64_t>(o->t.threads)},
                          {"optimizer", o->t.optimizer},
                          {"lr", o->t.lr},
                          {"momentum", o->t.momentum},
                          {"weight_decay", o->t.weight_decay},
                          {"schedule", o->t.schedule},
                          {"data_dir", o->data_dir},
                          {"record", o->rec.record},
                          {"flush_every", static_cast<std::int64_t>(o->rec.flush_every)},
                          {"sample_every", static_cast<std::int64_t>(o->rec.sample_every)}});
    const StopSignals signals;
    Progress progress(o->quiet);
    std::unique_ptr<Recording> recording;
    if (!o->rec.record.empty()) {
      declare_outputs(o->rec);
      auto rec = std::make_unique<analysis::Recorder>(
          o->rec.record, open_mode(o->rec), analysis::current_run("train", command_line(), config),
          o->rec.flush_every);
      declare_opened(o->rec, o->rec.record);
      recording = std::make_unique<Recording>(progress, std::move(rec), o->t, o->t.recipe.name);
    }
    workloads::TrainObserver& obs =
        recording ? static_cast<workloads::TrainObserver&>(*recording) : progress;
    workloads::TrainResult r;
    try {
      r = workloads::train(o->t, obs);
    } catch (const workloads::DataError& e) {  // missing or malformed data: a refusal
      throw UsageError(e.what());
    }
    if (recording) recording->finish(r.stopped, StopSignals::received());
    if (r.stopped) {
      const int sig = StopSignals::received();
      fmt::print(stderr, "\nstopped by {} after step {}\n", StopSignals::name(sig), r.steps);
      ctx.exit_status = StopSignals::exit_status(sig);
      return;
    }
    if (o->json) {
      fmt::print(
          "{{\"workload\": {}, \"recipe\": {}, \"steps\": {}, \"skipped_steps\": {}, "
          "\"final_loss\": {}, \"final_loss_scale\": {}, \"val_accuracy\": {}, "
          "\"val_loss\": {}, \"test_accuracy\": {}, \"test_loss\": {}, \"seed\": {}}}\n",
          json_string(o->t.workload), json_string(o->t.recipe.name), r.steps, r.skipped_steps,
          json_number(r.final_loss), json_number(r.final_scale),
          r.validation.count ? json_number(r.validation.accuracy) : "null",
          r.validation.count ? json_number(r.validation.loss) : "null",
          json_number(r.test.accuracy), json_number(r.test.loss), o->t.seed);
    } else {
      fmt::print("{} / {}: {} steps ({} skipped), final loss {:.4f}, loss scale {:g}\n",
                 o->t.workload, o->t.recipe.name, r.steps, r.skipped_steps, r.final_loss,
                 r.final_scale);
      if (r.validation.count)
        fmt::print("validation: accuracy {:.4f}, loss {:.4f} ({} images)\n", r.validation.accuracy,
                   r.validation.loss, r.validation.count);
      fmt::print("test: accuracy {:.4f}, loss {:.4f} ({} images)\n", r.test.accuracy, r.test.loss,
                 r.test.count);
    }
  });
}

}  // namespace fp8sim::cli
