// cli/sweep_plan.hpp — a sweep's experiment file (TOML) read into its points: a base
// configuration of one kind (a `gemm`, `quantize` or `train` experiment, keys named as the
// command's options, dotted for the MAC spec's keys ("mac.acc") and the recipe's fields
// ("recipe.master_weights")) and axes over any of those
// keys: [grid] (every combination), [zip] (lists walked in lock step) and [[points]]
// (explicit settings). The points are (each [[points]] entry, or the base alone) x grid x
// zip, numbered in that order, the last grid key varying fastest. Every point is checked
// before anything runs, with the file, line and column of a bad key or value
// (docs/sweeps.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli/run_config.hpp"
#include "sim/mac.hpp"
#include "workloads/train.hpp"

namespace fp8sim::cli {

/// One point: its number and its settings (every key of the kind, base values filled in).
struct SweepPoint {
  std::size_t index = 0;
  std::vector<std::pair<std::string, ConfigValue>> settings;
  /// The value of `key` (which every point has).
  [[nodiscard]] const ConfigValue& at(const std::string& key) const;
};

/// A gemm point: C = A*B on random inputs through the MAC unit.
struct GemmPointConfig {
  std::size_t m = 96, n = 96, k = 256;
  MacConfig mac;
  std::string mac_text, dist = "normal";
  std::uint64_t seed = 1;
  bool flags = true;
};
/// A quantize point: n random values rounded into a format.
struct QuantizePointConfig {
  Format format;
  RoundSpec rounding;
  std::string dist = "normal";
  std::size_t count = 1 << 16;
  std::uint64_t seed = 1;
};

struct SweepPlan {
  std::string path;               ///< the experiment file
  std::string text;               ///< its contents (stored in the results: resume checks them)
  std::string kind;               ///< "gemm" or "quantize"
  std::vector<std::string> axes;  ///< the keys the axes set, in order of appearance
  std::vector<SweepPoint> points;
  /// MACs (gemm), elements (quantize) or training samples (train) of point p, and the
  /// bytes it holds at its peak (train: a rough bound).
  [[nodiscard]] double work(const SweepPoint& p) const;
  [[nodiscard]] std::uint64_t memory(const SweepPoint& p) const;
};

/// Reads and checks `path`. Throws UsageError "FILE:LINE:COLUMN: ..." naming the bad key or
/// value and what is allowed.
[[nodiscard]] SweepPlan read_sweep_plan(const std::string& path);
/// The same from the file's text (`path` names it in messages).
[[nodiscard]] SweepPlan sweep_plan_from_text(const std::string& text, const std::string& path);

[[nodiscard]] GemmPointConfig gemm_point(const SweepPoint& p);
/// A train point: a training run (its recipe a preset or file with "recipe.KEY" overrides).
[[nodiscard]] workloads::TrainOptions train_point(const SweepPoint& p);
[[nodiscard]] QuantizePointConfig quantize_point(const SweepPoint& p);

/// A setting as text (strings as they are, numbers as TOML writes them).
[[nodiscard]] std::string setting_text(const ConfigValue& v);

}  // namespace fp8sim::cli
