// workloads/optim/lr_schedule.cpp — constant, step and cosine schedules with linear warm-up.
#include "workloads/optim/lr_schedule.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <system_error>

#include "formats/formats.hpp"  // shown()

namespace fp8sim::workloads {

namespace {

[[noreturn]] void bad(std::string_view text, std::string_view what) {
  throw std::invalid_argument(fmt::format("lr schedule {}: {}", shown(text), what));
}

std::uint64_t parse_count(std::string_view text, std::string_view key, std::string_view value,
                          std::uint64_t min) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc{} || p != value.data() + value.size() || v < min)
    bad(text, fmt::format("{} = {} is not allowed (allowed: a whole number >= {})", key,
                          shown(value), min));
  return v;
}

double parse_real(std::string_view text, std::string_view key, std::string_view value,
                  std::string_view allowed) {
  double v = 0;
  const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc{} || p != value.data() + value.size())
    bad(text, fmt::format("{} = {} is not a number (allowed: {})", key, shown(value), allowed));
  return v;
}

}  // namespace

std::string_view to_string(LrScheduleKind k) {
  switch (k) {
    case LrScheduleKind::constant:
      return "constant";
    case LrScheduleKind::step:
      return "step";
    case LrScheduleKind::cosine:
      return "cosine";
  }
  return "?";
}

void validate(const LrScheduleConfig& c) {
  auto fail = [](std::string_view name, double v, std::string_view allowed) {
    throw std::invalid_argument(
        fmt::format("lr schedule: {} = {} is not allowed (allowed: {})", name, v, allowed));
  };
  if (!std::isfinite(c.base_lr) || c.base_lr < 0) fail("base_lr", c.base_lr, "finite, >= 0");
  if (c.kind == LrScheduleKind::step) {
    if (c.step_size < 1) fail("step_size", static_cast<double>(c.step_size), ">= 1");
    if (!std::isfinite(c.gamma) || c.gamma <= 0) fail("gamma", c.gamma, "finite, > 0");
  }
  if (c.kind == LrScheduleKind::cosine) {
    if (c.t_max < 1) fail("t_max", static_cast<double>(c.t_max), ">= 1");
    if (!std::isfinite(c.eta_min) || c.eta_min < 0) fail("eta_min", c.eta_min, "finite, >= 0");
  }
}

LrScheduleConfig parse_lr_schedule(std::string_view text, double base_lr) {
  LrScheduleConfig c;
  c.base_lr = base_lr;
  // "kind[:key=value,...]", or a bare list ("warmup=100", a constant schedule).
  std::string_view kind = text;
  std::string_view params;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    kind = text.substr(0, colon);
    params = text.substr(colon + 1);
    if (params.empty()) bad(text, "nothing after ':' (expected key=value,...)");
  } else if (text.find('=') != std::string_view::npos) {
    kind = "constant";
    params = text;
  }
  if (kind == "constant") {
    c.kind = LrScheduleKind::constant;
  } else if (kind == "step") {
    c.kind = LrScheduleKind::step;
  } else if (kind == "cosine") {
    c.kind = LrScheduleKind::cosine;
  } else {
    bad(text, fmt::format("unknown kind {} (allowed: constant, step, cosine; or warmup=W alone)",
                          shown(kind)));
  }
  bool have_step_size = false, have_t_max = false, have_gamma = false, have_eta_min = false,
       have_warmup = false;
  auto once = [&](bool& seen, std::string_view key) {
    if (seen) bad(text, fmt::format("{} is given twice", key));
    seen = true;
  };
  while (!params.empty()) {
    const auto comma = params.find(',');
    const std::string_view item = params.substr(0, comma);
    params = comma == std::string_view::npos ? std::string_view{} : params.substr(comma + 1);
    if (comma != std::string_view::npos && params.empty()) bad(text, "trailing ','");
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0)
      bad(text, fmt::format("{} is not key=value", shown(item)));
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "warmup") {
      once(have_warmup, key);
      c.warmup = parse_count(text, key, value, 0);
    } else if (key == "step_size" && c.kind == LrScheduleKind::step) {
      once(have_step_size, key);
      c.step_size = parse_count(text, key, value, 1);
    } else if (key == "gamma" && c.kind == LrScheduleKind::step) {
      once(have_gamma, key);
      c.gamma = parse_real(text, key, value, "a finite number > 0");
      if (!std::isfinite(c.gamma) || c.gamma <= 0)
        bad(text,
            fmt::format("gamma = {} is not allowed (allowed: a finite number > 0)", shown(value)));
    } else if (key == "t_max" && c.kind == LrScheduleKind::cosine) {
      once(have_t_max, key);
      c.t_max = parse_count(text, key, value, 1);
    } else if (key == "eta_min" && c.kind == LrScheduleKind::cosine) {
      once(have_eta_min, key);
      c.eta_min = parse_real(text, key, value, "a finite number >= 0");
      if (!std::isfinite(c.eta_min) || c.eta_min < 0)
        bad(text, fmt::format("eta_min = {} is not allowed (allowed: a finite number >= 0)",
                              shown(value)));
    } else {
      const std::string_view allowed = c.kind == LrScheduleKind::step ? "step_size, gamma, warmup"
                                       : c.kind == LrScheduleKind::cosine ? "t_max, eta_min, warmup"
                                                                          : "warmup";
      bad(text, fmt::format("unknown key {} for {} (allowed: {})", shown(key), to_string(c.kind),
                            allowed));
    }
  }
  if (c.kind == LrScheduleKind::step && !have_step_size)
    bad(text, "step needs step_size=N (N >= 1)");
  if (c.kind == LrScheduleKind::cosine && !have_t_max) bad(text, "cosine needs t_max=N (N >= 1)");
  validate(c);
  return c;
}

std::string to_string(const LrScheduleConfig& c) {
  std::string s(to_string(c.kind));
  std::string params;
  auto add = [&params](const std::string& item) { params += params.empty() ? item : "," + item; };
  if (c.kind == LrScheduleKind::step)
    add(fmt::format("step_size={},gamma={}", c.step_size, c.gamma));
  if (c.kind == LrScheduleKind::cosine) add(fmt::format("t_max={},eta_min={}", c.t_max, c.eta_min));
  if (c.warmup != 0) add(fmt::format("warmup={}", c.warmup));
  return params.empty() ? s : s + ":" + params;
}

LrSchedule::LrSchedule(LrScheduleConfig config) : config_(config) {
  validate(config_);
}

double LrSchedule::lr_at(std::uint64_t step) const {
  const LrScheduleConfig& c = config_;
  if (step < c.warmup)
    return c.base_lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup);
  const std::uint64_t t = step - c.warmup;
  switch (c.kind) {
    case LrScheduleKind::constant:
      return c.base_lr;
    case LrScheduleKind::step:
      return c.base_lr * std::pow(c.gamma, static_cast<double>(t / c.step_size));
    case LrScheduleKind::cosine:
      if (t >= c.t_max) return c.eta_min;
      return c.eta_min + (c.base_lr - c.eta_min) *
                             (1 + std::cos(std::numbers::pi * static_cast<double>(t) /
                                           static_cast<double>(c.t_max))) /
                             2;
  }
  return c.base_lr;
}

}  // namespace fp8sim::workloads
