// workloads/nn/recipe.hpp — a precision recipe for training: per tensor role (weight,
// activation, error = gradient w.r.t. activations, weight gradient) its quantizer; per GEMM
// kind (fprop, dgrad, wgrad) the MAC unit; the layers kept out of it; the master weights'
// format and update rounding; the loss scaler.
//
// Contract: every GEMM input is quantized to its role's format first, and that format is
// the GEMM's input format (recipe_check() refuses a recipe where they differ), so a GEMM
// sees exactly the values the quantizer produced. A role without a quantizer is fp32.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/rounding_mode.hpp"
#include "sim/mac_config.hpp"

namespace fp8sim::workloads {

/// Per-tensor scaling of a role's quantizer. delayed: Transformer Engine's delayed scaling
/// (the tensor is multiplied by a scale before it is quantized, and the GEMM output divided
/// by the scales of its inputs; the scale for step t + 1 is max finite / amax / 2^margin with
/// amax the largest |x| of the last `amax_history` steps; an amax of zero or non-finite
/// keeps the previous scale, a scale beyond binary32 becomes binary32's max; first scale 1).
enum class Scaling { none, delayed };

/// A quantizer at a tensor role: format and rounding (nullopt format: none, fp32 values).
struct RoleQuant {
  std::optional<Format> format;
  RoundSpec round{};
  Scaling scaling = Scaling::none;
  int amax_history = 1024;  ///< delayed: steps of amax history (TE's default)
  int margin = 0;           ///< delayed: scale divided by 2^margin
  /// "e5m2 rne", or "fp32 (none)".
  [[nodiscard]] std::string text() const;
};

enum class Role { weight, activation, error, weight_grad };
[[nodiscard]] const char* role_name(Role r);

enum class GemmKind { fprop, dgrad, wgrad };
[[nodiscard]] const char* gemm_kind_name(GemmKind k);

struct Recipe {
  std::string name;
  std::string source;  ///< where it comes from, and what is assumed
  RoleQuant weight, activation, error, weight_grad;
  /// MAC units of the three GEMM kinds: fprop y = x·W^T (activation x weight), dgrad
  /// dx = dy·W (error x weight), wgrad dW = dy^T·x (error x activation).
  MacConfig fprop, dgrad, wgrad;
  /// Layers (by name, e.g. "fc1"; "first" and "last": the model's first and last layers
  /// with weights) that run in fp32: no quantizers, fp32 GEMMs.
  std::vector<std::string> exempt;
  Format master = parse_format("fp32");  ///< master weights' format
  RoundSpec master_round{};              ///< how an update is rounded into it
  std::string loss_scaler = "none";      ///< loss scaler spec (workloads/optim/loss_scaler.hpp)

  [[nodiscard]] const RoleQuant& quant(Role r) const;
  [[nodiscard]] const MacConfig& mac(GemmKind k) const;
  [[nodiscard]] bool is_exempt(const std::string& layer) const;
  /// Replaces "first" and "last" in exempt by the model's layer names.
  void resolve_exempt(const std::string& first, const std::string& last);
};

/// The fp32 MAC unit of exempt layers and of the fp32 recipe: binary32 inputs, a sequential
/// binary32 FMA chain with RNE.
[[nodiscard]] const MacConfig& fp32_mac();

/// Presets: fp32, fp16-mpt, mellempudi2019, wang2018, hfp8, ocp-fp8, h100-fp8 (each with
/// its source and assumptions in `source`). Throws std::invalid_argument naming the bad
/// name and the allowed ones.
[[nodiscard]] Recipe recipe_preset(const std::string& name);
[[nodiscard]] std::vector<std::string> recipe_preset_names();

/// The same encodings and values (overflow behaviour aside): a role's quantizer may
/// saturate (e4m3fn-sat) where its GEMM reads the plain format (e4m3fn).
[[nodiscard]] bool same_encoding(const Format& a, const Format& b);
/// The format a role's values have (fp32 without a quantizer).
[[nodiscard]] Format role_format(const RoleQuant& q);

/// Throws std::invalid_argument when a GEMM's input format is not its roles' format.
void recipe_check(const Recipe& r);

}  // namespace fp8sim::workloads
