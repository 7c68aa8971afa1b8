// workloads/checkpoint.hpp — the whole state of a training run between two steps, and its
// file: an HDF5 checkpoint (layout: docs/hdf5-schema.md, "Training checkpoints").
//
// Contract:
//  - TrainState holds everything the rest of a run depends on: every parameter's working
//    values and master codes, the BatchNorm running statistics, the optimizer's state and
//    step counters, the loss scaler's state, the delayed-scaling states, where the run is
//    (step, epoch, position in the epoch's order, images so far) and what the epoch report
//    still needs (the epoch's loss sum and counts, the last validation). Random bits are
//    keyed by (seed, step, tensor, element): their position is the step. The epoch order is
//    a pure function of (train size, seed, epoch) (EpochOrder); the state keeps the epoch's
//    order as well, and a resumed run checks it.
//  - config: the options a resumed run must share (checkpoint_config), as text, then any
//    the caller adds (save_checkpoint's extra; the command line's own).
//  - save_checkpoint writes atomically: a temporary file in the same folder
//    (".NAME.tmp"), flushed to disk (fsync), renamed over `path`, the folder fsynced: a
//    process killed at any moment leaves the old checkpoint or the new one, whole. The
//    file is a plain HDF5 file (default format, no SWMR): h5dump and h5py read it as is.
//  - load_checkpoint reads and checks the layout (kind, version, every object, dtype and
//    shape); what does not fit the model is found by train() when it resumes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "analysis/run_info.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/optim/loss_scaler.hpp"
#include "workloads/train.hpp"

namespace fp8sim::workloads {

/// The root attribute /@kind of a checkpoint, and the version of its layout.
inline constexpr const char* kCheckpointKind = "train_checkpoint";
inline constexpr std::int64_t kCheckpointVersion = 1;

/// One parameter: its working values, master codes and optimizer state.
struct ParamState {
  std::string name;  ///< "fc1.weight"
  std::vector<std::size_t> shape;
  std::vector<float> value;            ///< the working weights (= the master values decoded)
  std::vector<std::uint64_t> master;   ///< master codes (MasterWeights::export_codes)
  std::uint64_t optimizer_steps = 0;   ///< updates done (Optimizer::steps)
  std::vector<float> optimizer_state;  ///< state_per_element arrays of size() floats
};
/// A non-trainable tensor (BatchNorm running mean and variance).
struct BufferState {
  std::string name;  ///< "stem.bn.running_mean"
  std::vector<std::size_t> shape;
  std::vector<float> value;
};

struct TrainState {
  // where the run is
  std::uint64_t step = 0;            ///< steps done: the number of the next step
  std::uint64_t epoch = 0;           ///< the epoch in progress
  std::uint64_t position = 0;        ///< images of the epoch's order done; the train size: the
                                     ///< epoch's steps are done, its report is still to come
  std::uint64_t images = 0;          ///< images trained on so far
  std::vector<std::uint64_t> order;  ///< the epoch's order (EpochOrder::permutation(epoch))
  // what the epoch report and the result still need
  double epoch_loss_sum = 0;  ///< sum over the epoch's batches so far of loss x units
  std::uint64_t epoch_correct = 0, epoch_seen = 0;  ///< units correct; samples seen
  std::uint64_t epoch_units = 0;                    ///< units (images, or target tokens) seen
  double final_loss = 0;                            ///< the loss of step `step` - 1
  EvalReport validation;     ///< the last epoch report's validation (count 0: none yet)
  double seconds = 0;        ///< training time so far (the time between runs not counted)
  std::uint64_t epochs = 0;  ///< the run's epochs (information: a resumed run may differ)
  std::uint64_t checkpoint_every = 0;
  // the model, master weights, optimizer, loss scaler, delayed scaling
  std::vector<ParamState> params;  ///< in the model's order
  std::vector<BufferState> buffers;
  std::string master_format, master_round;  ///< the recipe's (information; checked)
  std::string optimizer;                    ///< "sgd" or "adamw"
  std::size_t optimizer_state_per_element = 0;
  std::string loss_scaler;  ///< the scaler's kind (none, static, dynamic, enhanced)
  LossScalerState scaler;
  double min_scale = 0;  ///< the enhanced floor in force at `step` (information; 0: none)
  ScaleStates scales;
  /// the options a resumed run must share: checkpoint_config(), then the caller's
  std::vector<std::pair<std::string, std::string>> config;
};

/// The options a resumed run must share with the checkpoint, as (key, text): workload,
/// recipe (the recipe as TOML, recipe_to_toml), seed, train_size, validation_size,
/// test_size, batch, optimizer, lr, momentum, weight_decay, schedule, mlp_sizes,
/// resnet_width. Numbers are written exactly (shortest round-trip text).
[[nodiscard]] std::vector<std::pair<std::string, std::string>> checkpoint_config(
    const TrainOptions& o);

/// One option that differs between a checkpoint and a run. For the recipe, `key` is
/// "recipe" and `detail` the first recipe key that differs ("weight.round"), saved and
/// current that key's lines; otherwise detail is empty and saved/current the values.
struct ConfigDifference {
  std::string key, detail, saved, current;
};
/// The differences between state.config and checkpoint_config(o), in that order (keys
/// the state does not have count as differences, saved "(none)").
[[nodiscard]] std::vector<ConfigDifference> config_differences(const TrainState& state,
                                                               const TrainOptions& o);
/// The value of `key` in state.config (nullptr when absent).
[[nodiscard]] const std::string* config_value(const TrainState& state, const std::string& key);

/// A checkpoint file that cannot be read or is not one: the message names the file and
/// what is wrong.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The temporary file save_checkpoint writes before renaming it: ".NAME.tmp" beside path.
[[nodiscard]] std::filesystem::path checkpoint_temp_path(const std::filesystem::path& path);

/// Writes `state` (its config followed by `extra`) to `path` atomically (see the contract).
/// `info`: the root attributes (its kind is replaced by kCheckpointKind). Throws
/// analysis::IoError naming the file (the temporary file is removed then).
void save_checkpoint(const std::filesystem::path& path, const TrainState& state,
                     const analysis::RunInfo& info,
                     const std::vector<std::pair<std::string, std::string>>& extra = {});

/// The checkpoints of one run, written to one path (save_checkpoint's way). While alive it
/// holds a shared lock (flock) on the file it last wrote or locked, so that another
/// process's lock_existing() — `fp8sim train --resume` of the same file — is refused while
/// this run lives; readers (h5dump, h5py, HDF5's shared locks) are not disturbed.
class CheckpointFile {
 public:
  explicit CheckpointFile(std::filesystem::path path);
  ~CheckpointFile();
  CheckpointFile(const CheckpointFile&) = delete;
  CheckpointFile& operator=(const CheckpointFile&) = delete;

  /// Takes the lock of the existing file (a resumed run, before it reads it). Throws
  /// CheckpointError when it cannot be opened or another process holds it (a reader's
  /// moment is waited for, about a second).
  void lock_existing();
  /// save_checkpoint(path, ...), the lock moving to the new file.
  void save(const TrainState& state, const analysis::RunInfo& info,
            const std::vector<std::pair<std::string, std::string>>& extra = {});
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

/// Reads a checkpoint. Throws analysis::IoError when the file cannot be opened or is not
/// HDF5 (no such file, truncated, ...), CheckpointError when it is not a checkpoint of
/// this version or an object is missing or malformed.
[[nodiscard]] TrainState load_checkpoint(const std::filesystem::path& path);

}  // namespace fp8sim::workloads
