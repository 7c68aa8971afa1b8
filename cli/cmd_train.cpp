// cli/cmd_train.cpp — `fp8sim train`: a network trained on Fashion-MNIST under a precision
// recipe, every GEMM on the emulated MAC unit (workloads/train.hpp); progress on stderr, a
// summary on stdout; checkpoints (--checkpoint-every) and --resume (workloads/checkpoint.hpp,
// cli/train_checkpoint.hpp).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/analysis.hpp"
#include "cli/commands.hpp"
#include "cli/files.hpp"
#include "cli/record_options.hpp"
#include "cli/run_config.hpp"
#include "cli/train_checkpoint.hpp"
#include "workloads/checkpoint.hpp"
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
    if (quiet_) return;
    fmt::print(stderr, "training {} parameters in {} tensors, {} steps\n", n, params.size(), total);
    if (resumed_at_)
      fmt::print(stderr, "resuming at step {} from {}\n", *resumed_at_ + 1, resumed_from_);
  }
  void resuming(std::uint64_t step, const std::string& checkpoint) {
    resumed_at_ = step;
    resumed_from_ = shown(checkpoint);
  }
  void on_step(const StepReport& r) override {
    last_ = r;
    if (quiet_) return;
    const double done = static_cast<double>(r.step + 1) / static_cast<double>(total_);
    const bool line_due = done >= next_line_ || r.step + 1 == total_;
    if (!tty_ && !line_due) return;
    if (line_due) next_line_ = (std::floor(done / 0.05 + 1e-9) + 1) * 0.05;
    // units (images or target tokens) per second since this process's first step
    const auto now = std::chrono::steady_clock::now();
    if (!t0_) {
      t0_ = now;
      first_units_ = r.units;
    }
    const double since = std::chrono::duration<double>(now - *t0_).count();
    const double rate = since > 0 ? static_cast<double>(r.units - first_units_) / since : 0;
    const double eta = done > 0 ? r.seconds * (1 - done) / done : 0;
    const int w = 24, filled = static_cast<int>(done * w);
    const std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                            std::string(static_cast<std::size_t>(w - filled), '.');
    fmt::print(stderr,
               "{}[{}] step {}/{} epoch {} loss {:.4f} acc {:.3f} scale {:g} {:.0f} {}/s "
               "ETA {}{}",
               tty_ ? "\r" : "", bar, r.step + 1, total_, r.epoch + 1, r.loss, r.accuracy,
               r.loss_scale, rate, std::string_view(r.unit) == "images" ? "img" : "tok",
               duration_text(eta), tty_ ? "" : "\n");
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
  std::optional<std::uint64_t> resumed_at_;
  std::string resumed_from_;
  std::optional<std::chrono::steady_clock::time_point> t0_;
  std::uint64_t first_units_ = 0;
};

// The HDF5 recording (docs/hdf5-schema.md, kind train). SWMR files take no new objects
// once started, and the quantization points are known only when the first step has run:
// the points are declared and the file started at the first step.
class Recording final : public workloads::TrainObserver {
 public:
  /// The recorder, and for a resumed run the points of the recording it continues
  /// (declared again as they are).
  struct Opened {
    std::unique_ptr<analysis::Recorder> rec;
    std::optional<RecordedPoints> resumed;
  };
  /// open_now false: the file is opened at on_start (a resumed run: once train() has
  /// checked the checkpoint, so that a refused one leaves the recording as it was).
  Recording(Progress& progress, std::function<Opened()> open, bool open_now,
            const workloads::TrainOptions& t, std::string recipe_name)
      : progress_(progress), open_(std::move(open)), t_(t), recipe_(std::move(recipe_name)) {
    if (open_now) open_file();
  }

  void on_start(const std::vector<std::pair<std::string, std::size_t>>& params,
                std::uint64_t total) override {
    if (!rec_) open_file();
    progress_.on_start(params, total);
    params_ = params;
    if (resumed_) start(nullptr);  // a resumed run may have no step left, only reports
  }
  void on_step(const StepReport& r) override {
    if (!started_) start(r.stats);
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
        const auto it = gemm_ids_.find(gemm_name(name));
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
      rec_->record_series(test_id_, static_cast<std::int64_t>(step),
                          {t.loss, t.accuracy, t.exact_match});
  }
  bool stop_requested() override { return progress_.stop_requested(); }
  /// Writes every row so far to the file (a checkpoint is taken right after).
  void flush() {
    if (started_) rec_->flush();
  }
  void finish(bool stopped, int signo) {
    if (!rec_ || !started_) return;  // no step ran: the Recorder removes the file it made
    if (stopped) rec_->mark_stopped(signo, last_step_);
    rec_->close();
  }

 private:
  // The points: those of the file being continued, else those the first step's statistics
  // name (stats: null without statistics).
  void start(const workloads::StepStats* stats) {
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
    if (resumed_) {  // the points the file has, as they are (append checks them)
      for (const auto& q : resumed_->quantizers)
        quant_ids_[q.tensor + "/" + q.role] =
            rec_->add_quantizer(q.tensor, q.role, parse_format(q.format), q.rounding);
      for (const auto& g : resumed_->gemms)
        gemm_ids_[g.name] = rec_->add_gemm(g.name, parse_format(g.format), g.mac, g.m, g.n, g.k);
      for (const auto& g : resumed_->gradients)
        grad_ids_[g.tensor] = rec_->add_gradient(g.tensor, parse_format(g.format));
    } else if (stats) {
      for (const auto& [name, q] : stats->quant) {
        const auto slash = name.find('/');
        quant_ids_[name] = rec_->add_quantizer(name.substr(0, slash), name.substr(slash + 1),
                                               parse_format(q.format), q.rounding);
      }
      for (const auto& [name, g] : stats->gemm)
        gemm_ids_[gemm_name(name)] =
            rec_->add_gemm(gemm_name(name), parse_format(g.out_format), g.mac, g.m, g.n, g.k);
      for (const auto& [name, size] : params_)
        if (name.find("weight") != std::string::npos)
          grad_ids_[name] = rec_->add_gradient(name, grad_format_);
    }
    rec_->start();
    started_ = true;
    last_step_ = rec_->next_step() - 1;  // appending: the checkpoint's last step
  }
  void open_file() {
    Opened o = open_();
    rec_ = std::move(o.rec);
    resumed_ = std::move(o.resumed);
  }
  // "fc1/fprop" -> "fc1.fprop" (the group name of a GEMM)
  static std::string gemm_name(std::string name) {
    std::replace(name.begin(), name.end(), '/', '.');
    return name;
  }
  Progress& progress_;
  std::function<Opened()> open_;
  std::unique_ptr<analysis::Recorder> rec_;
  const workloads::TrainOptions& t_;
  std::string recipe_;
  std::optional<RecordedPoints> resumed_;
  std::vector<std::pair<std::string, std::size_t>> params_;
  bool started_ = false;
  std::int64_t last_step_ = -1;
  int steps_id_ = -1, epochs_id_ = -1, test_id_ = -1;
  std::map<std::string, int> update_ids_, quant_ids_, gemm_ids_, grad_ids_;
  Format grad_format_ = parse_format("fp32");
};

// Checkpoints (--checkpoint-every): every other call goes to the inner observer; a
// checkpoint flushes the recording first, so that the file holds every row up to the
// checkpoint (resume cuts the rest off: cli/train_checkpoint.hpp).
class Checkpointing final : public workloads::TrainObserver {
 public:
  Checkpointing(workloads::TrainObserver& inner, Recording* recording,
                workloads::CheckpointFile& file, analysis::RunInfo info,
                std::vector<std::pair<std::string, std::string>> extra)
      : inner_(inner),
        recording_(recording),
        file_(file),
        info_(std::move(info)),
        extra_(std::move(extra)) {}
  void on_start(const std::vector<std::pair<std::string, std::size_t>>& params,
                std::uint64_t total) override {
    inner_.on_start(params, total);
  }
  void on_step(const StepReport& r) override { inner_.on_step(r); }
  void on_epoch(const EpochReport& e) override { inner_.on_epoch(e); }
  void on_test(std::uint64_t step, const EvalReport& t) override { inner_.on_test(step, t); }
  bool stop_requested() override { return inner_.stop_requested(); }
  void on_checkpoint(const workloads::TrainState& s) override {
    if (recording_) recording_->flush();
    file_.save(s, info_, extra_);
    saved_ = s.step;
  }
  /// The step count of the last checkpoint written (0: none).
  [[nodiscard]] std::uint64_t saved() const { return saved_; }

 private:
  workloads::TrainObserver& inner_;
  Recording* recording_;
  workloads::CheckpointFile& file_;
  analysis::RunInfo info_;
  std::vector<std::pair<std::string, std::string>> extra_;
  std::uint64_t saved_ = 0;
};

// The command-line option of a checkpoint_config() key, for messages.
std::string option_of(const std::string& key) {
  if (key == "recipe") return "--recipe/--set";
  if (key == "mlp_sizes") return "the mlp sizes";
  if (key == "resnet_width") return "the resnet width";
  std::string o = "--" + key;
  std::replace(o.begin(), o.end(), '_', '-');
  return o;
}

// Refuses to resume from `s` with options that differ from those it was written with.
void check_resumable(const workloads::TrainState& s, const workloads::TrainOptions& t,
                     const RecordOptions& rec, const std::string& path) {
  const auto diffs = workloads::config_differences(s, t);
  if (!diffs.empty()) {
    const auto& d = diffs.front();
    if (d.key == "recipe") {
      auto value = [](const std::string& line) {
        const auto eq = line.find(" = ");
        return line.empty()              ? std::string("(none)")
               : eq == std::string::npos ? line
                                         : line.substr(eq + 3);
      };
      throw UsageError(fmt::format(
          "--resume: checkpoint {} was written with another recipe: {} is {} there, {} here "
          "(resume with the options of the run it continues)",
          shown(path), d.detail, shown(value(d.saved)), shown(value(d.current))));
    }
    throw UsageError(fmt::format(
        "--resume: checkpoint {} was written with {} {}, this run has {} {} (resume with the "
        "options of the run it continues)",
        shown(path), option_of(d.key), shown(d.saved), option_of(d.key), shown(d.current)));
  }
  const std::string* recorded = workloads::config_value(s, "record");
  const std::string* sample = workloads::config_value(s, "sample_every");
  if (!recorded || !sample)
    throw UsageError(
        fmt::format("--resume: checkpoint {} was not written by fp8sim train", shown(path)));
  if (!recorded->empty() && rec.record.empty())
    throw UsageError(fmt::format(
        "--resume: the run was recorded to {}: pass --record FILE to continue its recording",
        shown(*recorded)));
  if (recorded->empty() && !rec.record.empty())
    throw UsageError(fmt::format(
        "--record: the run checkpoint {} holds was not recorded (a recording starts with its "
        "run)",
        shown(path)));
  if (!recorded->empty() && *sample != std::to_string(rec.sample_every))
    throw UsageError(
        fmt::format("--resume: checkpoint {} was written with --sample-every {}, this run has "
                    "--sample-every {}",
                    shown(path), shown(*sample), rec.sample_every));
}

// Refuses a checkpoint path whose folder does not exist or cannot be written.
void check_output_folder(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw UsageError(fmt::format("--checkpoint {}: directory {} does not exist", shown(path),
                                 shown(dir.string())));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw UsageError(fmt::format("--checkpoint {}: directory {} is not writable", shown(path),
                                 shown(dir.string())));
}

}  // namespace

void add_train_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "train", "Train a network on Fashion-MNIST with every GEMM on the emulated MAC unit");
  struct Opts {
    workloads::TrainOptions t;
    std::string recipe = "mellempudi2019", data_dir;
    std::vector<std::string> sets;  ///< --set KEY=VALUE, in order
    bool json = false, quiet = false, print_recipe = false, resume = false;
    RecordOptions rec;
    std::string checkpoint;
  };
  auto o = std::make_shared<Opts>();
  const auto names = workloads::recipe_preset_names();
  add_choice(*cmd, "--workload", o->t.workload, {"mlp", "resnet", "transformer"},
             "Network: mlp (784-256-128-10) or resnet (stem, 3 stages of basic blocks, width 16) "
             "on Fashion-MNIST; transformer (pre-LN encoder-decoder, d_model 64, 4 heads, 2+2 "
             "layers, character tokens, greedy decoding) on --task");
  add_choice(*cmd, "--task", o->t.task, {"freedict", "numbers"},
             "The transformer's data: freedict (English -> German headwords from Debian's "
             "dict-freedict-eng-deu, at most 24 characters a side) or numbers (synthetic: "
             "digits -> English words, 0..--max-number)");
  add_integer(*cmd, "--max-number", o->t.max_number, std::uint64_t{10}, std::uint64_t{999999},
              "--task numbers: the largest number");
  add_real(*cmd, "--label-smoothing", o->t.label_smoothing, RealRange{0, 1, false, true},
           "transformer: label smoothing of the token loss (PyTorch's rule)");
  add_real(*cmd, "--dropout", o->t.dropout, RealRange{0, 1, false, true},
           "transformer: dropout (embeddings, attention, residual, feed-forward)");
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
              "Training images (0 = all 60000 minus the validation split); transformer: "
              "sentence pairs (0 = the whole training split)");
  add_integer(*cmd, "--validation-size", o->t.validation_size, std::size_t{0}, std::size_t{60000},
              "Validation images, held out of the training file (pairs: of the validation "
              "split; 0 = none)");
  add_integer(*cmd, "--test-size", o->t.test_size, std::size_t{0}, std::size_t{10000},
              "Test images (0 = all 10000; pairs: the whole test split)");
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
           "/usr/share/datasets/fashion-mnist from the Debian package dataset-fashion-mnist); "
           "transformer --task freedict: the dictd folder (default /usr/share/dictd, package "
           "dict-freedict-eng-deu)");
  add_record_options(*cmd, o->rec, true);
  add_integer(*cmd, "--checkpoint-every", o->t.checkpoint_every, std::uint64_t{1},
              std::uint64_t{1} << 40,
              "Save the whole training state to the checkpoint file every N steps, after the "
              "last step and when stopped by SIGINT/SIGTERM (atomically: a kill leaves the "
              "previous one whole); without it none (with --resume: the "
              "checkpoint's own N)");
  add_text(*cmd, "--checkpoint", o->checkpoint, "FILE",
           "Checkpoint file (HDF5, docs/hdf5-schema.md); default: the --record file with .h5 "
           "replaced by .ckpt.h5 (run.h5 -> run.ckpt.h5); needed without --record",
           false);
  cmd->add_flag("--resume", o->resume,
                "Continue the run the checkpoint file holds (same options; --epochs may grow, "
                "--threads differ: the training is the same, the recorded quantizer error "
                "statistics then differ in their last bits): its --record file is cut back to the "
                "checkpoint and continued, and the run ends bit for bit as it would have "
                "without the stop")
      ->excludes("--overwrite");
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
      "\nCheckpoints: --checkpoint-every N saves weights, master weights, optimizer, loss\n"
      "scaler and delayed-scaling state, the data order and the step (the position of every\n"
      "random bit) to FILE.ckpt.h5 beside the --record FILE.h5 (or --checkpoint FILE);\n"
      "--resume continues from it after a kill, a crash or SIGINT, cuts the recording back\n"
      "to the checkpoint, and ends with the same weights, rows and summary as an\n"
      "uninterrupted run (only times differ: the seconds columns, start and end times).\n"
      "\nExamples:\n"
      "  fp8sim train --recipe fp32 --epochs 2\n"
      "  fp8sim train --recipe mellempudi2019 --train-size 20000 --epochs 3 --seed 1\n"
      "  fp8sim train --recipe ocp-fp8 --optimizer adamw --lr 1e-3 --json\n"
      "  fp8sim train --epochs 5 --record run.h5 --checkpoint-every 100   # run.ckpt.h5\n"
      "  fp8sim train --epochs 5 --record run.h5 --resume     # after a kill or Ctrl-C\n"
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
          "--append is not supported by train (continue a run with --checkpoint-every and "
          "--resume)");
    needs_one_of(*cmd, "--checkpoint", {"--checkpoint-every", "--resume"});
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
      for (const char* opt : {"--checkpoint-every", "--resume"})
        if (given(*cmd, opt))
          throw UsageError(
              fmt::format("{} has no effect with --print-recipe (it trains nothing)", opt));
      fmt::print("{}", workloads::recipe_to_toml(o->t.recipe));
      return;
    }
    o->t.data_dir = o->data_dir;
    // statistics are collected on recorded steps only (--sample-every N: every N steps)
    o->t.stats_every = o->rec.record.empty() ? 0 : o->rec.sample_every;
    const bool checkpointing = o->t.checkpoint_every > 0 || o->resume;
    std::string ckpt = o->checkpoint;
    if (checkpointing && ckpt.empty()) {
      if (o->rec.record.empty())
        throw UsageError(fmt::format(
            "{} needs --checkpoint FILE, or --record FILE (the checkpoint is then FILE with .h5 "
            "replaced by .ckpt.h5)",
            o->resume ? "--resume" : "--checkpoint-every"));
      ckpt = default_checkpoint_path(o->rec.record);
    }
    auto outputs = output_roles(o->rec);
    if (checkpointing) outputs.push_back({"--checkpoint", ckpt});
    check_file_roles({{"--recipe", recipe_file ? o->recipe : std::string()}}, outputs);
    std::optional<workloads::TrainState> resumed;
    workloads::CheckpointFile ckpt_file(ckpt);
    if (o->resume) {
      if (!file_exists(ckpt))
        throw UsageError(fmt::format(
            "--resume: no checkpoint {} (the run saved none yet: start it again without "
            "--resume)",
            shown(ckpt)));
      try {
        ckpt_file.lock_existing();  // refused while the run that writes it still runs
        resumed = workloads::load_checkpoint(ckpt);
      } catch (const workloads::CheckpointError& e) {
        throw UsageError(fmt::format("--resume: {}", e.what()));
      } catch (const analysis::IoError& e) {  // cannot open 'x': ..., 'x' is truncated ...
        const std::string what = e.what();
        throw UsageError(
            fmt::format("--resume: {}{}", what.starts_with("cannot") ? "" : "checkpoint ", what));
      }
      check_resumable(*resumed, o->t, o->rec, ckpt);
      if (!given(*cmd, "--checkpoint-every")) o->t.checkpoint_every = resumed->checkpoint_every;
      if (!o->rec.record.empty() && !file_exists(o->rec.record))
        throw UsageError(fmt::format(
            "--record {}: no such file (a resumed run continues the recording of the run it "
            "resumes)",
            shown(o->rec.record)));
    } else if (checkpointing) {
      if (file_exists(ckpt) && !o->rec.overwrite)
        throw UsageError(fmt::format(
            "--checkpoint {} exists: pass --resume to continue from it, or --overwrite (with "
            "--record) to start over",
            shown(ckpt)));
      check_output_folder(ckpt);
    }
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
                          {"sample_every", static_cast<std::int64_t>(o->rec.sample_every)},
                          {"checkpoint_every", static_cast<std::int64_t>(o->t.checkpoint_every)},
                          {"checkpoint", checkpointing ? ckpt : std::string()},
                          {"resume", o->resume}});
    const StopSignals signals;
    Progress progress(o->quiet);
    std::unique_ptr<Recording> recording;
    if (!o->rec.record.empty()) {
      const std::optional<std::pair<std::uint64_t, std::uint64_t>> at =
          resumed ? std::optional(std::pair(resumed->step, resumed->epoch)) : std::nullopt;
      auto open = [o, config, at] {
        Recording::Opened r;
        if (at) {  // cut back to the checkpoint, then appended to
          rewind_recording(o->rec.record, at->first, at->second);
          r.resumed = read_recorded_points(o->rec.record);
        } else {
          declare_outputs(o->rec);
        }
        r.rec = std::make_unique<analysis::Recorder>(
            o->rec.record, at ? analysis::OpenMode::append : open_mode(o->rec),
            analysis::current_run("train", command_line(), config), o->rec.flush_every);
        if (!at) declare_opened(o->rec, o->rec.record);
        return r;
      };
      recording = std::make_unique<Recording>(progress, open, !resumed, o->t, o->t.recipe.name);
    }
    workloads::TrainObserver& inner =
        recording ? static_cast<workloads::TrainObserver&>(*recording) : progress;
    std::unique_ptr<Checkpointing> checkpoints;
    if (o->t.checkpoint_every > 0) {
      if (!resumed) {  // --overwrite: the old checkpoint belongs to the run replaced
        std::error_code ec;
        if (std::filesystem::is_regular_file(ckpt, ec)) std::filesystem::remove(ckpt, ec);
        will_create(ckpt);
      }
      checkpoints = std::make_unique<Checkpointing>(
          inner, recording.get(), ckpt_file, analysis::current_run("train", command_line(), config),
          std::vector<std::pair<std::string, std::string>>{
              {"record", o->rec.record}, {"sample_every", std::to_string(o->rec.sample_every)}});
    }
    workloads::TrainObserver& obs =
        checkpoints ? static_cast<workloads::TrainObserver&>(*checkpoints) : inner;
    if (resumed) progress.resuming(resumed->step, ckpt);
    workloads::TrainResult r;
    try {
      r = workloads::train(o->t, obs, resumed ? &*resumed : nullptr);
    } catch (const workloads::DataError& e) {  // missing or malformed data: a refusal
      throw UsageError(e.what());
    } catch (const std::invalid_argument& e) {  // a checkpoint that does not fit the run
      constexpr std::string_view prefix = "cannot resume from the checkpoint: ";
      const std::string_view what = e.what();
      if (!resumed || !what.starts_with(prefix)) throw;
      throw UsageError(
          fmt::format("--resume: checkpoint {}: {}", shown(ckpt), what.substr(prefix.size())));
    }
    if (recording) recording->finish(r.stopped, StopSignals::received());
    if (r.stopped) {
      const int sig = StopSignals::received();
      fmt::print(stderr, "\nstopped by {} after step {}\n", StopSignals::name(sig), r.steps);
      if (checkpoints && checkpoints->saved() == r.steps)
        fmt::print(stderr, "checkpoint saved to {}: continue with --resume\n", shown(ckpt));
      ctx.exit_status = StopSignals::exit_status(sig);
      return;
    }
    if (o->json) {
      fmt::print(
          "{{\"workload\": {}, \"recipe\": {}, \"steps\": {}, \"skipped_steps\": {}, "
          "\"final_loss\": {}, \"final_loss_scale\": {}, \"val_accuracy\": {}, "
          "\"val_loss\": {}, \"test_accuracy\": {}, \"test_loss\": {}, \"test_exact_match\": {}, "
          "\"seed\": {}}}\n",
          json_string(o->t.workload), json_string(o->t.recipe.name), r.steps, r.skipped_steps,
          json_number(r.final_loss), json_number(r.final_scale),
          r.validation.count ? json_number(r.validation.accuracy) : "null",
          r.validation.count ? json_number(r.validation.loss) : "null",
          json_number(r.test.accuracy), json_number(r.test.loss),
          std::isnan(r.test.exact_match) ? "null" : json_number(r.test.exact_match), o->t.seed);
    } else {
      fmt::print("{} / {}: {} steps ({} skipped), final loss {:.4f}, loss scale {:g}\n",
                 o->t.workload, o->t.recipe.name, r.steps, r.skipped_steps, r.final_loss,
                 r.final_scale);
      const bool seq = o->t.workload == "transformer";
      const auto line = [&](const char* what, const EvalReport& e) {
        fmt::print("{}: accuracy {:.4f}, loss {:.4f} ({} {}{})\n", what, e.accuracy, e.loss,
                   e.count, seq ? "pairs; per target token, teacher-forced" : "images",
                   std::isnan(e.exact_match)
                       ? std::string()
                       : fmt::format("; greedy decoding exact {:.4f}", e.exact_match));
      };
      if (r.validation.count) line("validation", r.validation);
      line("test", r.test);
    }
  });
}

}  // namespace fp8sim::cli
