// sim/mac_config.hpp — what a multiply-accumulate unit is: input formats, the product,
// the accumulator and its rounding, the accumulation structure, and the output conversion.
// Semantics of every field: docs/mac-semantics.md, section "The MAC unit".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/rounding_mode.hpp"

namespace fp8sim {

/// How the products of one dot product are summed.
enum class Structure : std::uint8_t {
  sequential,  ///< s = round_acc(s + p_k), k = 1..K (a fused MAC chain)
  multiterm,   ///< groups of `terms` products plus the accumulator aligned to the largest
               ///< exponent, each truncated to `align_bits` fraction bits below it, summed
               ///< exactly, rounded once (Fasi et al. 2021)
  pairwise,    ///< binary tree over the products, every sum rounded to the accumulator
  exact,       ///< Kulisch accumulator: C + sum of products exactly, one rounding at the end
};

/// multiterm: the exponent each term is aligned by (Fasi et al. 2021; the measured GPU
/// data of docs/gpu-presets.md decides which a unit uses).
enum class AlignRef : std::uint8_t {
  leading_bit,     ///< `align=lead`: every term's leading bit (a normalised product)
  exponent_field,  ///< `align=field`: a product's ea+eb, its significand left unnormalised in
                   ///< [1,4) (a subnormal input counts as its format's emin); C and the
                   ///< accumulator still by their leading bit
};

struct MacConfig {
  std::string name;  ///< preset name, or the text form it was parsed from

  Format a;                 ///< format of A's elements
  Format b;                 ///< format of B's elements
  bool ftz_inputs = false;  ///< subnormal inputs read as zero (DAZ)

  /// Products: exact when empty, else each product is rounded to this format.
  std::optional<Format> product;
  RoundSpec product_round{};

  Format acc;             ///< accumulator format
  RoundSpec acc_round{};  ///< its rounding (mode, SR bits, tininess, ftz of results)

  Structure structure = Structure::sequential;
  int terms = 4;        ///< multiterm: products per group
  int align_bits = 24;  ///< multiterm: fraction bits kept below the largest exponent
  int carry_bits = 2;   ///< multiterm: headroom of the adder (reported, never wraps)
  AlignRef align_ref = AlignRef::leading_bit;  ///< multiterm: what "largest exponent" means
  /// multiterm: 0 = each group takes consecutive products. W > 0: within each chunk (or the
  /// whole dot product without chunks), products are dealt to the chunk's groups in runs of
  /// W, in turn (W = 2 with 2 groups: group 0 = k mod 4 in {0,1}, group 1 = {2,3}; how FP8
  /// mma.sync is emulated on two fp16 HMMA operations on Hopper and Blackwell).
  int interleave = 0;

  /// Chunking (sequential and multiterm): every `chunk` products the partial sum (started
  /// from +0) is added into an outer accumulator of format `outer` with `outer_round`.
  /// 0 = no chunking.
  int chunk = 0;
  Format outer;
  RoundSpec outer_round{};

  /// Initial value C: its format (default: the accumulator's). C enters the first step
  /// exactly (sequential), is the outer accumulator's start (chunked), or is added last
  /// (pairwise, exact).
  std::optional<Format> c;

  /// Output conversion: format and rounding (default: the accumulator, no conversion).
  std::optional<Format> out;
  RoundSpec out_round{};

  /// The NaN a result that is NaN is given: x86's default NaN (the negative quiet NaN, e.g.
  /// FFC00000; `nan=default`) or NVIDIA's canonical NaN (the positive NaN with every
  /// fraction bit set: 7FFFFFFF, 7FFF, 7F for e4m3fn; `nan=canonical`; where the format has
  /// no such NaN, as fnuz, its only NaN).
  bool canonical_nan = false;
};

/// A preset name (fp32-fma, wang2018, tensorcore-v100, fp8-tensorcore, ...) or the text
/// form "key=value,key=value". Keys: a, b, ab (both), ftz_in, prod, prod_round, acc, round,
/// ftz, tininess, struct (sequential | chunked:N[:OUTER[:ROUND]] | multiterm:N:ALIGN:CARRY |
/// pairwise | exact), chunk, outer, outer_round, c, out, out_round. Throws
/// std::invalid_argument naming the bad key or value and the allowed ones.
[[nodiscard]] MacConfig parse_mac(std::string_view text);

/// The canonical text form (parse_mac(to_string(m)) gives m back).
[[nodiscard]] std::string to_string(const MacConfig& m);

struct MacPreset {
  std::string name;
  std::string spec;    ///< its text form
  std::string source;  ///< where each part comes from; which parts are assumptions
};
/// Every preset: the classic ones, then the measured GPU presets.
[[nodiscard]] const std::vector<MacPreset>& mac_presets();
/// The measured NVIDIA tensor-core presets, GPU-IN-OUT (sim/gpu_presets.cpp).
[[nodiscard]] std::vector<MacPreset> gpu_mac_presets();
/// Their help text, one paragraph per family of GPUs sharing a model.
[[nodiscard]] std::string gpu_presets_help();

namespace detail {
/// Help text: words wrapped to 88 columns, each line indented by four spaces.
[[nodiscard]] std::string wrapped(std::string_view text);
}  // namespace detail

/// The help text documenting every key.
[[nodiscard]] std::string mac_spec_help();

/// The format of the values the structure adds: the product format, or an exact product.
[[nodiscard]] std::string_view to_string(Structure s);

}  // namespace fp8sim
