// analysis/train_series.hpp — the series of a training recording (/@kind `train`,
// docs/hdf5-schema.md): their paths and columns, shared by the writer (`fp8sim train`
// declares them with Recorder::add_series in this order) and the reader (summarize_run
// checks a file against them). A column added here must be added to the schema document.
#pragma once

#include <string>
#include <vector>

#include "analysis/recorder.hpp"

namespace fp8sim::analysis {

/// The group of a training run: /train, with the string attributes workload, recipe
/// (name), recipe_text (the recipe as TOML) and the integer attribute classes.
inline constexpr const char* kTrainGroup = "train";
inline constexpr const char* kTrainSteps = "train/steps";      ///< one row per step
inline constexpr const char* kTrainEpochs = "train/epochs";    ///< one row per epoch
inline constexpr const char* kTrainTest = "train/test";        ///< one row per test evaluation
inline constexpr const char* kTrainUpdates = "train/updates";  ///< one series per parameter

/// The series of parameter `param` ("fc1.weight"): train/updates/{param}.
inline std::string train_update_path(const std::string& param) {
  return std::string(kTrainUpdates) + "/" + param;
}

namespace train_detail {
inline SeriesColumn i64(const char* n, const char* unit, const char* d) {
  return {n, SeriesColumn::Type::i64, unit, d};
}
inline SeriesColumn u64(const char* n, const char* unit, const char* d) {
  return {n, SeriesColumn::Type::u64, unit, d};
}
inline SeriesColumn f64(const char* n, const char* unit, const char* d) {
  return {n, SeriesColumn::Type::f64, unit, d};
}
}  // namespace train_detail

/// train/steps: one row per optimizer step (skipped steps included).
inline std::vector<SeriesColumn> train_step_columns() {
  using namespace train_detail;
  return {i64("epoch", "epoch", "epoch the step belongs to (0 first)"),
          f64("loss", "-", "mean loss of the batch, unscaled"),
          f64("accuracy", "fraction", "fraction of the batch classified correctly"),
          f64("lr", "-", "learning rate of the step"),
          f64("loss_scale", "factor", "loss scale used in this step"),
          u64("skipped", "-", "1: the update was skipped (Inf/NaN gradients), else 0"),
          u64("overflow_events", "events", "overflow events (Inf/NaN gradients) so far"),
          u64("images", "images", "images trained on so far"),
          f64("seconds", "s", "time since the run started")};
}

/// train/epochs: one row per epoch, at its last step.
inline std::vector<SeriesColumn> train_epoch_columns() {
  using namespace train_detail;
  return {i64("epoch", "epoch", "the epoch (0 first)"),
          f64("train_loss", "-", "mean loss over the epoch's training batches"),
          f64("train_accuracy", "fraction", "accuracy over the epoch's training batches"),
          f64("val_loss", "-", "mean loss on the validation split (NaN: no validation split)"),
          f64("val_accuracy", "fraction", "accuracy on the validation split (NaN: none)"),
          f64("seconds", "s", "time since the run started")};
}

/// train/test: one row per evaluation on the test split (one at the end of the run).
inline std::vector<SeriesColumn> train_test_columns() {
  using namespace train_detail;
  return {f64("test_loss", "-", "mean loss on the test split (per image, or per target token)"),
          f64("test_accuracy", "fraction",
              "accuracy on the test split (images, or target tokens teacher-forced)"),
          f64("test_exact_match", "fraction",
              "sequences: share whose greedy decoding is the target (NaN: image workloads)")};
}

/// train/updates/{param}: one row per step that updated the parameter.
inline std::vector<SeriesColumn> train_update_columns() {
  using namespace train_detail;
  return {u64("count", "elements", "elements of the parameter"),
          u64("nonzero", "elements", "elements with a non-zero update"),
          u64("vanished", "elements",
              "non-zero updates that left the master weight unchanged (lost to rounding)"),
          f64("vanished_fraction", "fraction", "vanished / nonzero (0 when nonzero is 0)"),
          f64("max_abs_update", "parameter", "largest |update| (the parameter's unit)")};
}

}  // namespace fp8sim::analysis
