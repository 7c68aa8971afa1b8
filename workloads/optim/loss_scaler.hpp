// workloads/optim/loss_scaler.hpp — loss scaling: none, static, dynamic (PyTorch GradScaler)
// and enhanced (Mellempudi et al. 2019: dynamic with a rising minimum).
//
// Contract, per training step:
//   1. multiply the loss by scale() before the backward pass;
//   2. unscale(grads) each gradient tensor (x float(1/scale), the reciprocal in fp64 as
//      GradScaler.unscale_ does), OR-ing the found_inf results;
//   3. update(found_inf, step): returns whether the optimizer step is applied, and moves the
//      scale for the next step.
// update() is PyTorch's _amp_update_scale_cpu_kernel for dynamic and enhanced: the scale is
// an fp32 value; on found_inf: scale = float(scale * backoff_factor), growth_tracker = 0,
// step skipped; else growth_tracker += 1 and when it reaches growth_interval: scale =
// float(scale * growth_factor) unless that is Inf ("do not grow past fp32 bounds"), and
// growth_tracker = 0. (Products in double, rounded once to fp32, as the kernel does.)
//   none:     scale 1, never skips (as training without a scaler: a non-finite gradient
//             reaches the optimizer); overflow events are still counted.
//   static:   fixed scale = init_scale; steps with Inf/NaN gradients are skipped.
//   dynamic:  as above (GradScaler defaults: 65536, 2, 0.5, 2000).
//   enhanced: dynamic, with the scale never below the minimum in force: min_schedule is a
//             list of (from_step, minimum) pairs, the minimum of step s being that of the
//             last pair with from_step <= s (none before the first). After each update the
//             scale for the next step is max(dynamic scale, minimum), so the dynamic scale
//             itself is floored: backing off from the floor stays at the floor and growth
//             restarts from there (the paper's "minimum threshold"; whether the paper floors
//             the state or only the value used is not public — we floor the state).
// The paper's schedule values are not public; default_enhanced_min_schedule() is an
// assumption (see there).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace fp8sim::workloads {

enum class LossScalerKind : std::uint8_t { none, fixed, dynamic, enhanced };

/// "none", "static" (LossScalerKind::fixed), "dynamic", "enhanced".
[[nodiscard]] std::string_view to_string(LossScalerKind k);

/// One rise of the enhanced scaler's minimum.
struct MinScaleStep {
  std::uint64_t from_step = 0;  ///< first step (0-based) this minimum applies to
  double min_scale = 1;         ///< finite, > 0
};

/// ASSUMPTION (Mellempudi et al. 2019 tune the schedule per model and do not publish it):
/// minimum 2^10 from step 0, 2^13 from step 10000, 2^15 from step 50000. The idea the
/// numbers follow: start well below GradScaler's 2^16 so early overflows can still back
/// the scale off, then raise the floor by 2^3 twice as gradients shrink during training.
[[nodiscard]] std::vector<MinScaleStep> default_enhanced_min_schedule();

struct LossScalerConfig {
  LossScalerKind kind = LossScalerKind::dynamic;
  double init_scale = 65536.0;           ///< static: the scale; dynamic/enhanced: the start
  double growth_factor = 2.0;            ///< > 1
  double backoff_factor = 0.5;           ///< in (0, 1)
  std::uint64_t growth_interval = 2000;  ///< >= 1 (and < 2^31, PyTorch's int tracker)
  /// enhanced only (must be empty otherwise); from_step strictly increasing, minimum
  /// non-decreasing (it rises).
  std::vector<MinScaleStep> min_schedule;

  /// enhanced with default_enhanced_min_schedule().
  [[nodiscard]] static LossScalerConfig enhanced_default();
};

/// Throws std::invalid_argument naming the field, its value and what is allowed.
void validate(const LossScalerConfig& c);

/// A checkpoint of a scaler (GradScaler's state_dict plus our counters).
struct LossScalerState {
  double scale = 1;                  ///< fp32 value
  std::uint64_t growth_tracker = 0;  ///< clean steps since the last growth or backoff
  std::uint64_t updates = 0;         ///< update() calls
  std::uint64_t skipped_steps = 0;
  std::uint64_t overflow_events = 0;  ///< update() calls with found_inf
};

/// True if any element is +-Inf or NaN.
[[nodiscard]] bool has_inf_or_nan(std::span<const float> values);

class LossScaler {
 public:
  /// Validates; the first scale is init_scale (1 for none), floored by the minimum of step 0.
  explicit LossScaler(LossScalerConfig config);

  /// The scale for the current step (the loss is multiplied by it).
  [[nodiscard]] double scale() const { return static_cast<double>(scale_); }
  /// Unscales one gradient tensor in place, as GradScaler.unscale_: found_inf if any element
  /// is non-finite (looked at before the multiply), then every element times
  /// float(1 / double(scale)) (elements left as they are when that is 1). Returns found_inf.
  bool unscale(std::span<float> grads) const;
  /// Ends step `step` (0-based): returns whether its optimizer step is applied and sets
  /// the scale for step + 1 (see the file comment).
  bool update(bool found_inf, std::uint64_t step);
  /// The enhanced minimum in force at `step` (0 when there is none).
  [[nodiscard]] double min_scale_at(std::uint64_t step) const;

  [[nodiscard]] std::uint64_t growth_tracker() const { return tracker_; }
  [[nodiscard]] std::uint64_t skipped_steps() const { return skipped_; }
  [[nodiscard]] std::uint64_t overflow_events() const { return overflows_; }
  [[nodiscard]] std::uint64_t updates() const { return updates_; }
  [[nodiscard]] const LossScalerConfig& config() const { return config_; }

  [[nodiscard]] LossScalerState export_state() const;
  /// Throws std::invalid_argument for a scale that is not a positive finite fp32 value or a
  /// tracker >= growth_interval.
  void import_state(const LossScalerState& s);

 private:
  LossScalerConfig config_;
  float scale_ = 1;
  std::uint64_t tracker_ = 0;
  std::uint64_t updates_ = 0;
  std::uint64_t skipped_ = 0;
  std::uint64_t overflows_ = 0;
};

}  // namespace fp8sim::workloads
