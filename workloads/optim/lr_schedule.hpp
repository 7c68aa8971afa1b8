// workloads/optim/lr_schedule.hpp — learning rate as a function of the optimizer step.
//
// Contract: lr_at(step) is a pure function of the 0-based step (the number of optimizer
// steps taken before this one). A linear warm-up of W steps comes first:
//   step < W:  lr = base_lr * (step + 1) / W          (reaches base_lr at step W - 1)
// then the main schedule runs on t = step - W (it starts when the warm-up ends):
//   constant:  base_lr
//   step:      base_lr * gamma^floor(t / step_size)                      (torch StepLR)
//   cosine:    eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2 for t < t_max,
//              eta_min from t_max on (torch CosineAnnealingLR's closed form, which instead
//              keeps oscillating with period 2 t_max; the clamp is deliberate)
//
// Text form (parse_lr_schedule), the base learning rate given apart (it is the optimizer's):
//   constant | step:step_size=30,gamma=0.1 | cosine:t_max=1000,eta_min=0
// each optionally with ",warmup=W" in its list; "warmup=100" alone is a constant schedule
// with warm-up; "constant:warmup=100" likewise. Defaults: gamma 0.1, eta_min 0, warmup 0;
// step_size and t_max are required. Bad text throws std::invalid_argument naming the bad
// part and what is allowed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fp8sim::workloads {

enum class LrScheduleKind : std::uint8_t { constant, step, cosine };

struct LrScheduleConfig {
  LrScheduleKind kind = LrScheduleKind::constant;
  double base_lr = 1e-3;        ///< finite, >= 0
  std::uint64_t step_size = 1;  ///< step: >= 1
  double gamma = 0.1;           ///< step: finite, > 0
  std::uint64_t t_max = 1;      ///< cosine: >= 1
  double eta_min = 0;           ///< cosine: finite, >= 0
  std::uint64_t warmup = 0;     ///< linear warm-up steps, any kind
};

/// Throws std::invalid_argument naming the field, its value and what is allowed.
void validate(const LrScheduleConfig& c);

/// Parses the text form above (base_lr is the optimizer's learning rate).
[[nodiscard]] LrScheduleConfig parse_lr_schedule(std::string_view text, double base_lr);

/// "cosine:t_max=1000,eta_min=0,warmup=100" (the text form; base_lr is not part of it).
[[nodiscard]] std::string to_string(const LrScheduleConfig& c);
[[nodiscard]] std::string_view to_string(LrScheduleKind k);

class LrSchedule {
 public:
  /// Validates the configuration.
  explicit LrSchedule(LrScheduleConfig config);
  /// Parses and validates the text form.
  LrSchedule(std::string_view text, double base_lr)
      : LrSchedule(parse_lr_schedule(text, base_lr)) {}

  /// The learning rate of optimizer step `step` (0-based).
  [[nodiscard]] double lr_at(std::uint64_t step) const;
  [[nodiscard]] const LrScheduleConfig& config() const { return config_; }

 private:
  LrScheduleConfig config_;
};

}  // namespace fp8sim::workloads
