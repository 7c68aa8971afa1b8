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

void Recipe::resolve_exempt(const std::string& first, const std::string& last) {
  for (auto& e : exempt) {
    if (e == "first") e = first;
    if (e == "last") e = last;
  }
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

Recipe fp16_mpt() {
  Recipe r;
  r.name = "fp16-mpt";
  r.source =
      "Micikevicius et al. 2017 (mixed precision training): FP16 weights, activations, errors "
      "and weight gradients (RNE), FP16 products accumulated in FP32, FP32 master weights, "
      "dynamic loss scaling (PyTorch GradScaler's defaults).";
  r.weight = r.activation = r.error = r.weight_grad = role("fp16", "rne");
  r.fprop = r.dgrad = r.wgrad = parse_mac("ab=fp16,acc=fp32,round=rne,struct=sequential");
  r.loss_scaler = "dynamic";
  return r;
}

Recipe wang2018() {
  Recipe r;
  r.name = "wang2018";
  r.source =
      "Wang et al. 2018 (IBM): E5M2 data, GEMMs accumulated in FP16 in chunks of 64 (preset "
      "wang2018), the weight update rounded stochastically into FP16 master weights. Assumed: "
      "RNE for every FP8 tensor, chunk length 64, 13 random bits for the update, dynamic loss "
      "scaling.";
  r.weight = r.activation = r.error = r.weight_grad = role("e5m2", "rne");
  r.fprop = r.dgrad = r.wgrad = parse_mac("wang2018");
  r.master = parse_format("fp16");
  r.master_round = parse_rounding("sr:13");
  r.loss_scaler = "dynamic";
  return r;
}

Recipe hfp8() {
  Recipe r;
  r.name = "hfp8";
  r.source =
      "Sun et al. 2019 (IBM, hybrid FP8): 1-4-3 for the forward tensors (weights, "
      "activations), 1-5-2 for the backward ones (errors, weight gradients), first and last "
      "layers in higher precision. Assumed: OCP E4M3 (e4m3fn, bias 7) for 1-4-3, where the "
      "paper shifts the exponent bias; RNE; FP32 accumulation; the exempt layers in FP32; "
      "FP32 master weights; dynamic loss scaling.";
  r.weight = r.activation = role("e4m3fn", "rne");
  r.error = r.weight_grad = role("e5m2", "rne");
  r.fprop = parse_mac("ab=e4m3fn,acc=fp32,round=rne,struct=sequential");
  r.dgrad = parse_mac("a=e5m2,b=e4m3fn,acc=fp32,round=rne,struct=sequential");
  r.wgrad = parse_mac("a=e5m2,b=e4m3fn,acc=fp32,round=rne,struct=sequential");
  r.exempt = {"first", "last"};
  r.loss_scaler = "dynamic";
  return r;
}

Recipe ocp_fp8(bool h100) {
  Recipe r;
  r.name = h100 ? "h100-fp8" : "ocp-fp8";
  r.source =
      h100 ? "ocp-fp8 with every GEMM on the measured Hopper FP8 unit as DeepSeek-V3 uses it "
             "(preset fp8-tensorcore: h100-e4m3-fp32 groups of 32 products with exponent-field "
             "alignment and 13 fraction bits, promoted to FP32 every 128 products); the "
             "backward GEMMs mix E5M2 and E4M3 inputs on the same unit (assumed)."
           : "OCP FP8 with Transformer Engine's delayed scaling (the HYBRID format): E4M3 "
             "(e4m3fn) weights and activations, E5M2 errors and weight gradients, each tensor "
             "scaled by max finite / amax over the last 1024 steps (margin 0) before it is "
             "quantized (RNE, saturating at max finite as TE's casts do); FP32 accumulation; FP32 "
             "master weights; no loss scaling (the "
             "scales take its place).";
  auto scaled = [](const char* f) {  // saturating, as Transformer Engine's casts
    RoleQuant q = role(f, "rne");
    q.scaling = Scaling::delayed;
    return q;
  };
  r.weight = r.activation = scaled("e4m3fn-sat");
  r.error = r.weight_grad = scaled("e5m2-sat");
  if (h100) {
    r.fprop = parse_mac("fp8-tensorcore");
    r.dgrad = parse_mac("fp8-tensorcore,a=e5m2");
    r.wgrad = parse_mac("fp8-tensorcore,a=e5m2");
  } else {
    r.fprop = parse_mac("ab=e4m3fn,acc=fp32,round=rne,struct=sequential");
    r.dgrad = r.wgrad = parse_mac("a=e5m2,b=e4m3fn,acc=fp32,round=rne,struct=sequential");
  }
  return r;
}

}  // namespace

std::vector<std::string> recipe_preset_names() {
  return {"fp32", "fp16-mpt", "mellempudi2019", "wang2018", "hfp8", "ocp-fp8", "h100-fp8"};
}

Recipe recipe_preset(const std::string& name) {
  Recipe r;
  if (name == "fp32") {
    r = fp32_recipe();
  } else if (name == "fp16-mpt") {
    r = fp16_mpt();
  } else if (name == "mellempudi2019") {
    r = mellempudi2019();
  } else if (name == "wang2018") {
    r = wang2018();
  } else if (name == "hfp8") {
    r = hfp8();
  } else if (name == "ocp-fp8") {
    r = ocp_fp8(false);
  } else if (name == "h100-fp8") {
    r = ocp_fp8(true);
  } else {
    throw std::invalid_argument(fmt::format("unknown recipe {} (allowed: {})", shown(name),
                                            fmt::join(recipe_preset_names(), ", ")));
  }
  recipe_check(r);
  return r;
}

bool same_encoding(const Format& g, const Format& f) {
  return g.exp_bits == f.exp_bits && g.man_bits == f.man_bits && g.bias == f.bias &&
         g.subnormals == f.subnormals && g.specials == f.specials && g.is_signed == f.is_signed &&
         g.has_zero == f.has_zero;
}

Format role_format(const RoleQuant& q) {
  return q.format ? *q.format : parse_format("fp32");
}

void recipe_check(const Recipe& r) {
  auto fmt_of = [](const RoleQuant& q) { return q.format ? q.format->name : std::string("fp32"); };
  auto check = [&](GemmKind k, const RoleQuant& qa, const RoleQuant& qb) {
    const MacConfig& m = r.mac(k);
    if (!same_encoding(m.a, role_format(qa)) || !same_encoding(m.b, role_format(qb)))
      throw std::invalid_argument(fmt::format(
          "recipe {}: the {} GEMM takes {} x {} but its inputs are quantized to {} x {}", r.name,
          gemm_kind_name(k), m.a.name, m.b.name, fmt_of(qa), fmt_of(qb)));
  };
  check(GemmKind::fprop, r.activation, r.weight);
  check(GemmKind::dgrad, r.error, r.weight);
  check(GemmKind::wgrad, r.error, r.activation);
}

}  // namespace fp8sim::workloads
