// workloads/train.hpp — a training run: a model (mlp, resnet) on Fashion-MNIST under a
// precision recipe, every GEMM of forward, backward-data and backward-weight on the
// emulated MAC unit, master weights in the recipe's format, loss scaling, SGD or AdamW.
//
// Contract: the run is a pure function of its options (seed included): the same options
// give the same result bit for bit for any thread count (every random bit is keyed by
// seed, step, tensor and element; reductions never depend on threads). What happens is
// reported through TrainObserver (the command line records it in HDF5 and prints progress).
//
// Checkpoints (workloads/checkpoint.hpp): with checkpoint_every N the run hands its whole
// state to TrainObserver::on_checkpoint after every N-th step and when it stops early; a run
// resumed from such a state (train(opt, observer, &state)) continues exactly where it was:
// the rest of the run is the same bit for bit as without the interruption.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"
#include "workloads/optim/loss_scaler.hpp"
#include "workloads/optim/lr_schedule.hpp"
#include "workloads/optim/master_weights.hpp"

namespace fp8sim::workloads {

struct TrainOptions {
  std::string workload = "mlp";  ///< mlp, resnet (Fashion-MNIST), transformer (sequences)
  Recipe recipe = recipe_preset("fp32");
  std::size_t epochs = 1;
  /// samples: images, or sentence pairs (transformer)
  std::size_t train_size = 10000;      ///< 0: all 60000 minus validation (pairs: the whole split)
  std::size_t validation_size = 1000;  ///< 0: none
  std::size_t test_size = 0;           ///< 0: all 10000 (pairs: the whole split)
  std::size_t batch = 128;
  std::uint64_t seed = 0;
  int threads = 0;
  std::string optimizer = "sgd";  ///< sgd, adamw
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 0;
  std::string schedule = "constant";  ///< lr schedule (workloads/optim/lr_schedule.hpp)
  std::filesystem::path data_dir;     ///< empty: the dataset's default folder
  std::uint64_t stats_every = 1;  ///< collect quantizer/GEMM statistics every N steps (0: never)
  std::vector<std::size_t> mlp_sizes = {784, 256, 128, 10};
  std::size_t resnet_width = 16;
  /// transformer: its data (freedict: English -> German from dict-freedict-eng-deu;
  /// numbers: the synthetic numbers -> words task, 0..max_number), label smoothing, dropout
  std::string task = "freedict";
  std::uint64_t max_number = 9999;
  double label_smoothing = 0.1;
  double dropout = 0.1;
  /// on_checkpoint after every N-th step (step + 1 a multiple of N), after the run's last
  /// step and when the run stops early (0: never)
  std::uint64_t checkpoint_every = 0;
};

/// The loss scaler a recipe names: none, static[:S], dynamic, enhanced.
[[nodiscard]] LossScalerConfig parse_loss_scaler(const std::string& spec);

struct StepReport {
  std::uint64_t step = 0, epoch = 0;
  double loss = 0, accuracy = 0, lr = 0, loss_scale = 1;
  bool skipped = false;
  std::uint64_t overflow_events = 0, images = 0;  ///< images: samples so far
  std::uint64_t units = 0;  ///< what accuracy counts, so far: images, or target tokens
  const char* unit = "images";
  double seconds = 0;
  const StepStats* stats = nullptr;  ///< null on steps without statistics
  /// per parameter: the master update of this step (empty when skipped)
  std::vector<std::pair<std::string, MasterUpdateStats>> updates;
  /// per parameter: the unscaled gradient (for gradient statistics), when stats is set
  std::vector<std::pair<std::string, const std::vector<float>*>> grads;
};
struct EvalReport {
  double loss = 0, accuracy = 0;  ///< per unit (image, or target token, teacher-forced)
  std::size_t count = 0;          ///< samples
  /// sequences: the share of samples whose greedy decoding is the target (NaN otherwise)
  double exact_match = std::nan("");
};
struct EpochReport {
  std::uint64_t step = 0, epoch = 0;
  double train_loss = 0, train_accuracy = 0;
  EvalReport validation;  ///< count 0 without a validation split
  double seconds = 0;
};
struct TrainResult {
  EvalReport test, validation;
  double final_loss = 0;
  std::uint64_t steps = 0, skipped_steps = 0;
  double final_scale = 1;
  bool stopped = false;  ///< stop_requested() ended it early
};

struct TrainState;  // workloads/checkpoint.hpp

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  /// Before the first step: the parameter names and sizes, the steps the run will take.
  virtual void on_start(const std::vector<std::pair<std::string, std::size_t>>& /*params*/,
                        std::uint64_t /*total_steps*/) {}
  virtual void on_step(const StepReport&) {}
  virtual void on_epoch(const EpochReport&) {}
  virtual void on_test(std::uint64_t /*step*/, const EvalReport&) {}
  /// Polled between steps: true ends the run after the current step.
  [[nodiscard]] virtual bool stop_requested() { return false; }
  /// TrainOptions::checkpoint_every > 0: the whole state after step state.step - 1 (after
  /// that step's on_step, before its epoch's on_epoch), every checkpoint_every steps, after
  /// the last step (before the last epoch report and the test: a resumed run with more
  /// epochs goes on from there) and when stop_requested() ends the run.
  /// train(opt, observer, &state) resumes it.
  virtual void on_checkpoint(const TrainState& /*state*/) {}
};

/// Benchmark: `steps` training steps (after one warm-up step) of the workload on a
/// synthetic batch (uniform pixels, fixed labels), no data set needed; with_stats: every
/// quantizer's and GEMM's statistics collected every step (what a recording with
/// --sample-every 1 computes, without writing it), else none.
struct StepTiming {
  double seconds = 0;            ///< wall time of the timed steps
  double images_per_second = 0;  ///< samples per second
  double units_per_second = 0;   ///< images, or target tokens, per second
  const char* unit = "images";
  /// of which in layer GEMMs, role quantizers, the convolutions' lowering (im2col, col2im,
  /// layout changes), batch normalisation, and the update (unscaling, optimizer, master
  /// weights and their re-quantization)
  double gemm = 0, quantize = 0, lowering = 0, norm = 0, update = 0;
};
[[nodiscard]] StepTiming time_training_steps(const TrainOptions& opt, std::size_t steps,
                                             bool with_stats = false);

/// Runs the training. Throws std::invalid_argument on bad options (naming them) and
/// std::runtime_error when the data cannot be read.
///
/// resume: continue from a state on_checkpoint handed out (or load_checkpoint read). Its
/// options (checkpoint_config: workload, recipe, seed, sizes, batch, optimizer, lr, ...)
/// must equal opt's; threads, data_dir, stats_every, checkpoint_every and epochs may differ
/// (epochs: as long as the state lies within the run). Throws std::invalid_argument naming
/// the first difference or what in the state does not fit the model. The observer then
/// sees on_start and the steps from state.step on; an epoch's on_epoch and the final
/// on_test are the same as without the interruption.
TrainResult train(const TrainOptions& opt, TrainObserver& observer,
                  const TrainState* resume = nullptr);

}  // namespace fp8sim::workloads
