// workloads/optim/loss_scaler.cpp — GradScaler's update rule, static and enhanced variants.
#include "workloads/optim/loss_scaler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace fp8sim::workloads {

namespace {

[[noreturn]] void bad(std::string_view name, double value, std::string_view allowed) {
  throw std::invalid_argument(
      fmt::format("loss scaler: {} = {} is not allowed (allowed: {})", name, value, allowed));
}

}  // namespace

std::string_view to_string(LossScalerKind k) {
  switch (k) {
    case LossScalerKind::none:
      return "none";
    case LossScalerKind::fixed:
      return "static";
    case LossScalerKind::dynamic:
      return "dynamic";
    case LossScalerKind::enhanced:
      return "enhanced";
  }
  return "?";
}

std::vector<MinScaleStep> default_enhanced_min_schedule() {
  return {{0, 1024.0}, {10000, 8192.0}, {50000, 32768.0}};
}

LossScalerConfig LossScalerConfig::enhanced_default() {
  LossScalerConfig c;
  c.kind = LossScalerKind::enhanced;
  c.min_schedule = default_enhanced_min_schedule();
  return c;
}

void validate(const LossScalerConfig& c) {
  constexpr double kFloatMax = std::numeric_limits<float>::max();
  if (!(c.init_scale > 0 && c.init_scale <= kFloatMax))
    bad("init_scale", c.init_scale, "> 0 and <= fp32 max");
  if (!(c.growth_factor > 1 && std::isfinite(c.growth_factor)))
    bad("growth_factor", c.growth_factor, "finite, > 1");
  if (!(c.backoff_factor > 0 && c.backoff_factor < 1))
    bad("backoff_factor", c.backoff_factor, "0 < backoff_factor < 1");
  if (c.growth_interval < 1 || c.growth_interval > std::numeric_limits<std::int32_t>::max())
    bad("growth_interval", static_cast<double>(c.growth_interval), "1 .. 2^31 - 1");
  if (c.kind != LossScalerKind::enhanced && !c.min_schedule.empty())
    throw std::invalid_argument(fmt::format(
        "loss scaler: min_schedule is only for kind enhanced (kind is {})", to_string(c.kind)));
  for (std::size_t i = 0; i < c.min_schedule.size(); ++i) {
    const MinScaleStep& m = c.min_schedule[i];
    if (!(m.min_scale > 0 && m.min_scale <= kFloatMax))
      bad(fmt::format("min_schedule[{}].min_scale", i), m.min_scale, "> 0 and <= fp32 max");
    if (i > 0 && m.from_step <= c.min_schedule[i - 1].from_step)
      bad(fmt::format("min_schedule[{}].from_step", i), static_cast<double>(m.from_step),
          "strictly increasing steps");
    if (i > 0 && m.min_scale < c.min_schedule[i - 1].min_scale)
      bad(fmt::format("min_schedule[{}].min_scale", i), m.min_scale,
          "a minimum that rises (>= the previous one)");
  }
}

bool has_inf_or_nan(std::span<const float> values) {
  bool found = false;
  for (const float v : values) found |= !std::isfinite(v);  // no early exit: vectorises
  return found;
}

LossScaler::LossScaler(LossScalerConfig config) : config_(std::move(config)) {
  validate(config_);
  scale_ = config_.kind == LossScalerKind::none ? 1.0f : static_cast<float>(config_.init_scale);
  scale_ = std::max(scale_, static_cast<float>(min_scale_at(0)));
}

double LossScaler::min_scale_at(std::uint64_t step) const {
  double m = 0;
  for (const MinScaleStep& s : config_.min_schedule) {
    if (s.from_step > step) break;
    m = s.min_scale;
  }
  return m;
}

bool LossScaler::unscale(std::span<float> grads) const {
  const bool found_inf = has_inf_or_nan(grads);
  // GradScaler: inv_scale = self._scale.double().reciprocal().float()
  const auto inv = static_cast<float>(1.0 / static_cast<double>(scale_));
  if (inv != 1.0f)
    for (float& g : grads) g *= inv;
  return found_inf;
}

bool LossScaler::update(bool found_inf, std::uint64_t step) {
  ++updates_;
  if (found_inf) ++overflows_;
  switch (config_.kind) {
    case LossScalerKind::none:
      return true;
    case LossScalerKind::fixed:
      if (found_inf) ++skipped_;
      return !found_inf;
    case LossScalerKind::dynamic:
    case LossScalerKind::enhanced:
      break;
  }
  // _amp_update_scale_cpu_kernel: float * double products, rounded once to float.
  if (found_inf) {
    scale_ = static_cast<float>(static_cast<double>(scale_) * config_.backoff_factor);
    tracker_ = 0;
    ++skipped_;
  } else if (tracker_ + 1 == config_.growth_interval) {
    const auto grown = static_cast<float>(static_cast<double>(scale_) * config_.growth_factor);
    if (std::isfinite(grown)) scale_ = grown;
    tracker_ = 0;
  } else {
    ++tracker_;
  }
  if (config_.kind == LossScalerKind::enhanced)
    scale_ = std::max(scale_, static_cast<float>(min_scale_at(step + 1)));
  return !found_inf;
}

LossScalerState LossScaler::export_state() const {
  return LossScalerState{static_cast<double>(scale_), tracker_, updates_, skipped_, overflows_};
}

void LossScaler::import_state(const LossScalerState& s) {
  if (!(s.scale >= 0 && s.scale <= std::numeric_limits<float>::max()) ||
      static_cast<double>(static_cast<float>(s.scale)) != s.scale)
    bad("state scale", s.scale, "a finite fp32 value >= 0");
  if (s.growth_tracker >= config_.growth_interval)
    bad("state growth_tracker", static_cast<double>(s.growth_tracker),
        fmt::format("< growth_interval = {}", config_.growth_interval));
  scale_ = static_cast<float>(s.scale);
  tracker_ = s.growth_tracker;
  updates_ = s.updates;
  skipped_ = s.skipped_steps;
  overflows_ = s.overflow_events;
}

}  // namespace fp8sim::workloads
