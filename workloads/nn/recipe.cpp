// workloads/nn/recipe.cpp — recipe presets and their checks.
#include "workloads/nn/recipe.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace fp8sim::workloads {

std::string RoleQuant::text() const {
  return format ? fmt::format("{} {}", format->name, to_string(round)) : "fp32 (none)";
}

const char* role_name(Role r) {
  switch (r) {
    case Role::weight:
      return "weight";
    case Role::activation:
      return "activation";
    case Role::error:
      return "error";
    case Role::weight_grad:
      return "weight_grad";
  }
  return "?";
}

const char* gemm_kind_name(GemmKind k) {
  switch (k) {
    case GemmKind::fprop:
      return "fprop";
    case GemmKind::dgrad:
      return "dgrad";
    case GemmKind::wgrad:
      return "wgrad";
  }
  return "?";
}

const RoleQuant& Recipe::quant(Role r) const {
  switch (r) {
    case Role::weight:
      return weight;
    case Role::activation:
      return activation;
    case Role::error:
      return error;
    case Role::weight_grad:
      break;
  }
  return weight_grad;
}

const MacConfig& Recipe::mac(GemmKind k) const {
  switch (k) {
    case GemmKind::fprop:
      return fprop;
    case GemmKind::dgrad:
      return dgrad;
    case GemmKind::wgrad:
      break;
  }
  return wgrad;
}

bool Recipe::is_exempt(const std::string& layer) const {
  return std::find(exempt.begin(), exempt.end(), layer) != exempt.end();
}

const MacConfig& fp32_mac() {
  static const MacConfig m = parse_mac("ab=fp32,acc=fp32,round=rne,struct=sequential");
  return m;
}

namespace {

RoleQuant role(const char* format, const char* round) {
  return RoleQuant{parse_format(format), parse_rounding(round)};
}

Recipe fp32_recipe() {
  Recipe r;
  r.name = "fp32";
  r.source =
      "Every tensor in IEEE binary32, every GEMM a binary32 FMA chain (RNE), fp32 master "
      "weights, no loss scaling: the baseline.";
  r.fprop = r.dgrad = r.wgrad = fp32_mac();
  return r;
}

Recipe mellempudi2019() {
  Recipe r;
  r.name = "mellempudi2019";
  r.source =
      "Mellempudi et al. 2019: E5M2 weights, activations, errors and weight gradients; GEMMs "
      "on E5M2 inputs accumulate in FP32; FP16 master weights updated with stochastic "
      "rounding; enhanced loss scaling. Following Intel's emulation toolkit for the paper: RNE "
      "for weights and activations, SR (8 random bits) for errors and weight gradients, "
      "13 random bits for the FP16 master update. Assumed: sequential FP32 accumulation "
      "(RNE), no exempt layers (the toolkit keeps the first conv, its batchnorm and the last "
      "linear in higher precision: add them with exempt), the enhanced scaler's schedule "
      "(the paper's values are not public; see workloads/optim/loss_scaler.hpp).";
  r.weight = role("e5m2", "rne");
  r.activation = role("e5m2", "rne");
  r.error = role("e5m2", "sr:8");
  r.weight_grad = role("e5m2", "sr:8");
  r.fprop = r.dgrad = r.wgrad = parse_mac("ab=e5m2,acc=fp32,round=rne,struct=sequential");
  r.master = parse_format("fp16");
  r.master_round = parse_rounding("sr:13");
  r.loss_scaler = "enhanced";
  return r;
}

}  // namespace

std::vector<std::string> recipe_preset_names() {
  return {"fp32", "mellempudi2019"};
}

Recipe recipe_preset(const std::string& name) {
  Recipe r;
  if (name == "fp32") {
    r = fp32_recipe();
  } else if (name == "mellempudi2019") {
    r = mellempudi2019();
  } else {
    throw std::invalid_argument(fmt::format("unknown recipe {} (allowed: {})", shown(name),
                                            fmt::join(recipe_preset_names(), ", ")));
  }
  recipe_check(r);
  return r;
}

void recipe_check(const Recipe& r) {
  auto fmt_of = [](const RoleQuant& q) { return q.format ? q.format->name : std::string("fp32"); };
  auto check = [&](GemmKind k, const RoleQuant& qa, const RoleQuant& qb) {
    const MacConfig& m = r.mac(k);
    if (m.a.name != fmt_of(qa) || m.b.name != fmt_of(qb))
      throw std::invalid_argument(fmt::format(
          "recipe {}: the {} GEMM takes {} x {} but its inputs are quantized to {} x {}", r.name,
          gemm_kind_name(k), m.a.name, m.b.name, fmt_of(qa), fmt_of(qb)));
  };
  check(GemmKind::fprop, r.activation, r.weight);
  check(GemmKind::dgrad, r.error, r.weight);
  check(GemmKind::wgrad, r.error, r.activation);
}

}  // namespace fp8sim::workloads
