// sim/gpu_presets.cpp — MAC presets of NVIDIA tensor cores, one per measured set of
// tests/data/conformance/gpu (Khattak and Mikaitis 2025: D = A*B + C measured on V100, A100,
// A2, Ada (RTX 40), L40S, H100, H200, B200), named GPU-IN-OUT after the data files. Each
// spec reproduces its 2500 measured dot products bit for bit (tests/conformance); the
// models were found with docs/gpu-models/explore.py (findings.md there). Table and what is
// measured versus inferred: docs/gpu-presets.md.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/mac_config.hpp"

namespace fp8sim {

namespace {

struct Family {
  const char* gpus[4];  ///< data-file names of the GPUs sharing the model (nullptr ends)
  const char* ins[4];   ///< input formats (data-file names)
  const char* out;      ///< fp32 or fp16
  const char* spec;     ///< the MAC spec; {ab} is the input format
  const char* source;   ///< measured, inferred, and what the data cannot decide
};

constexpr const char* kMeasured =
    "Measured: 2500 dot products of Khattak and Mikaitis 2025 reproduced bit for bit "
    "(tests/data/conformance/gpu). ";
constexpr const char* kUntested =
    " Not in the data (so inferred): a NaN result is NVIDIA's canonical NaN 7FFFFFFF / 7FFF "
    "(nan=canonical; not measured here); Inf, subnormal inputs and outputs, overflow and carries "
    "beyond 2 bits "
    "follow fp8sim's IEEE rules.";

const Family kFamilies[] = {
    {{"v100"},
     {"fp16"},
     "fp32",
     "ab={ab},acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field,nan=canonical",
     "Fasi et al. 2021: groups of 4 exact products and C aligned to the largest exponent "
     "field (ea+eb, significand unnormalised in [1,4)), truncated 23 bits below it, summed, "
     "normalised and rounded toward zero into fp32."},
    {{"v100"},
     {"fp16"},
     "fp16",
     "ab={ab},acc=fp16,round=rne,struct=multiterm:4:23:2,align=field,c=fp16,nan=canonical",
     "As v100-fp16-fp32, the group rounded to nearest even into fp16 (C enters as fp16). The "
     "fp16 data bounds the truncation only (22..40 bits all match); 23 is taken from fp32."},
    {{"a100", "a2", "ada", "l40s"},
     {"fp16", "bf16", "tf32"},
     "fp32",
     "ab={ab},acc=fp32,round=rtz,struct=multiterm:8:24:2,align=field,nan=canonical",
     "Ampere/Ada: groups of 8 products (k = 8; tf32 k = 4, one group) and C aligned to the "
     "largest exponent field, truncated 24 bits below it, rounded toward zero into fp32. "
     "Inferred: a group larger than the instruction's k would not show in this data."},
    {{"a100", "a2", "ada", "l40s"},
     {"fp16"},
     "fp16",
     "ab={ab},acc=fp16,round=rne,struct=multiterm:8:24:2,align=field,c=fp16,nan=canonical",
     "As the fp32 output of the same GPU, rounded to nearest even into fp16 (C as fp16); "
     "24 bits from the fp32 data (fp16 bounds it to 24..40)."},
    {{"h100", "h200", "b200"},
     {"fp16", "bf16", "tf32"},
     "fp32",
     "ab={ab},acc=fp32,round=rtz,struct=multiterm:16:25:2,align=field,nan=canonical",
     "Hopper/Blackwell: groups of 16 products (k = 16; tf32 k = 4) and C aligned to the "
     "largest exponent field, truncated 25 bits below it, rounded toward zero into fp32."},
    {{"h100", "h200", "b200"},
     {"fp16"},
     "fp16",
     "ab={ab},acc=fp16,round=rne,struct=multiterm:16:25:2,align=field,c=fp16,nan=canonical",
     "As the fp32 output, rounded to nearest even into fp16 (C as fp16)."},
    {{"ada", "l40s"},
     {"e4m3", "e5m2"},
     "fp32",
     "ab={ab},acc=e8m13,round=rtz,struct=multiterm:16:13:2,align=field,c=fp32,out=fp32,nan="
     "canonical",
     "Ada FP8 mma.sync k32: two groups of 16 consecutive products, C in the first, aligned to "
     "the largest exponent field and truncated 13 bits below it; each group's sum rounded "
     "toward zero to 13 fraction bits (e8m13: every measured result has its low 10 fp32 "
     "fraction bits zero), the first group's result entering the second."},
    {{"ada"},
     {"e4m3", "e5m2"},
     "fp16",
     "ab={ab},acc=fp16,round=rne,struct=multiterm:16:13:2,align=field,c=fp16,nan=canonical",
     "Ada FP8 with fp16 output: as the fp32 output, but the value between the two groups and "
     "the result rounded to nearest even into fp16 (keeping the first group's sum in fp32 "
     "matches 1921 of 2500)."},
    {{"h100", "h200"},
     {"e4m3", "e5m2"},
     "fp32",
     "ab={ab},acc=e8m13,round=rtz,struct=multiterm:32:13:2,align=field,c=fp32,out=fp32,nan="
     "canonical",
     "Hopper FP8 wgmma: one group of 32 products aligned to the largest exponent field, "
     "truncated 13 bits below it, rounded toward zero to 13 fraction bits (e8m13), the ~14 "
     "bits DeepSeek-V3 reports for H800. Inferred: C was zero in every measured case, so how "
     "C enters (here: in the group, as fp32) is not tested."},
    {{"b200"},
     {"e4m3", "e5m2"},
     "fp32",
     "ab={ab},acc=fp32,round=rtz,struct=multiterm:32:25:2,align=field,chunk=32,outer=fp32,"
     "outer_round=rne,nan=canonical",
     "Blackwell FP8: 32 products summed alone (exponent-field alignment, 25 bits, truncated, "
     "rounded toward zero into fp32), then C added in fp32 with round to nearest even. "
     "Inferred: one group of 32 versus two chained groups of 16, and whether the product sum "
     "is rounded before C, all match the data."},
    {{"h100", "h200", "b200"},
     {"e4m3", "e5m2"},
     "fp16",
     "ab={ab},acc=fp16,round=rne,struct=multiterm:16:25:2,align=field,interleave=2,chunk=32,"
     "outer=fp16,outer_round=rne,c=fp16,nan=canonical",
     "FP8 mma.sync with fp16 output, emulated by two fp16 HMMA k16 operations: products "
     "k mod 4 in {0,1} form the first group, {2,3} the second (how the measuring program's "
     "registers become HMMA fragments), each aligned to its largest exponent field, "
     "truncated 25 bits below, rounded to nearest even into fp16, chained from +0; then C "
     "added by a separate fp16 round-to-nearest-even addition (consecutive halves match 1750 "
     "of 2500)."},
};

std::string input_format(const char* in) {
  // the data files' e4m3 is OCP E4M3 (fp8sim's e4m3fn; fp8sim's e4m3 is the IEEE-like type)
  return std::string(in) == "e4m3" ? "e4m3fn" : in;
}

}  // namespace

std::vector<MacPreset> gpu_mac_presets() {
  std::vector<MacPreset> out;
  for (const Family& f : kFamilies)
    for (const char* gpu : f.gpus) {
      if (!gpu) break;
      for (const char* in : f.ins) {
        if (!in) break;
        std::string spec = f.spec;
        spec.replace(spec.find("{ab}"), 4, input_format(in));
        out.push_back({fmt::format("{}-{}-{}", gpu, in, f.out), spec,
                       std::string(kMeasured) + f.source + kUntested});
      }
    }
  return out;
}

std::string gpu_presets_help() {
  std::string s =
      "Measured GPU presets (GPU-IN-OUT; products exact, terms aligned to the largest "
      "exponent field,\ntruncated; docs/gpu-presets.md):\n";
  for (const Family& f : kFamilies) {
    std::string names;
    for (const char* gpu : f.gpus) {
      if (!gpu) break;
      for (const char* in : f.ins) {
        if (!in) break;
        names += fmt::format("{}{}-{}-{}", names.empty() ? "" : " ", gpu, in, f.out);
      }
    }
    s += fmt::format("  {}\n    spec: {}\n", names, f.spec);
    s += detail::wrapped(f.source);
  }
  s += fmt::format("  All: {}{}\n", kMeasured, kUntested + 1);
  return s;
}

}  // namespace fp8sim
