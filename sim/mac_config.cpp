// sim/mac_config.cpp — MacConfig presets and the "key=value,..." text form.
#include "sim/mac_config.hpp"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace fp8sim {

namespace {

[[noreturn]] void bad(const std::string& msg) {
  throw std::invalid_argument("mac spec: " + msg);
}

int parse_int(std::string_view key, std::string_view v, int lo, int hi) {
  int x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc{} || p != v.data() + v.size() || x < lo || x > hi)
    bad(fmt::format("{} = '{}' is not an integer in {}..{}", key, v, lo, hi));
  return x;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t p = 0;
  while (true) {
    const std::size_t q = s.find(sep, p);
    out.push_back(s.substr(p, q == std::string_view::npos ? std::string_view::npos : q - p));
    if (q == std::string_view::npos) break;
    p = q + 1;
  }
  return out;
}

Format fmt_of(std::string_view key, std::string_view v) {
  try {
    return parse_format(v);
  } catch (const FormatError& e) {
    bad(fmt::format("{}: {}", key, e.what()));
  }
}

RoundSpec round_of(std::string_view key, std::string_view v, RoundSpec base) {
  try {
    return parse_rounding(v, base);
  } catch (const std::invalid_argument& e) {
    bad(fmt::format("{}: {}", key, e.what()));
  }
}

bool bool_of(std::string_view key, std::string_view v) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  bad(fmt::format("{} = '{}' is not a boolean (allowed: true, false, 1, 0)", key, v));
}

void parse_structure(MacConfig& m, std::string_view v) {
  const auto parts = split(v, ':');
  const std::string_view kind = parts[0];
  auto nargs = [&](std::size_t lo, std::size_t hi) {
    if (parts.size() - 1 < lo || parts.size() - 1 > hi)
      bad(fmt::format("struct = '{}': {} takes {}..{} arguments", v, kind, lo, hi));
  };
  if (kind == "sequential") {
    nargs(0, 0);
    m.structure = Structure::sequential;
  } else if (kind == "chunked") {
    nargs(1, 4);  // the outer rounding may itself be "sr:R"
    m.structure = Structure::sequential;
    m.chunk = parse_int("chunked length", parts[1], 1, 1 << 30);
    if (parts.size() > 2) m.outer = fmt_of("chunked outer format", parts[2]);
    if (parts.size() > 3) {
      const std::string r =
          parts.size() > 4 ? fmt::format("{}:{}", parts[3], parts[4]) : std::string(parts[3]);
      m.outer_round = round_of("chunked outer rounding", r, m.outer_round);
    }
  } else if (kind == "multiterm") {
    nargs(1, 3);
    m.structure = Structure::multiterm;
    m.terms = parse_int("multiterm terms", parts[1], 1, 1024);
    if (parts.size() > 2) m.align_bits = parse_int("multiterm align_bits", parts[2], 0, 60);
    if (parts.size() > 3) m.carry_bits = parse_int("multiterm carry_bits", parts[3], 0, 16);
  } else if (kind == "pairwise") {
    nargs(0, 0);
    m.structure = Structure::pairwise;
  } else if (kind == "exact") {
    nargs(0, 0);
    m.structure = Structure::exact;
  } else {
    bad(
        fmt::format("struct = '{}' is unknown (allowed: sequential, chunked:N[:OUTER[:ROUND]], "
                    "multiterm:N[:ALIGN[:CARRY]], pairwise, exact)",
                    v));
  }
}

MacConfig base_config() {
  MacConfig m;
  m.a = parse_format("e5m2");
  m.b = m.a;
  m.acc = parse_format("fp32");
  m.outer = m.acc;
  return m;
}

// The settings a key chooses: two keys of one text that choose the same setting contradict
// each other (ab=e4m3fn,ab=e5m2; ab=..,a=..; struct=chunked:64,chunk=32).
std::vector<std::string_view> settings_of(std::string_view key, std::string_view v) {
  if (key == "ab") return {"a", "b"};
  if (key == "struct" && v.starts_with("chunked:")) {
    const auto n = split(v, ':').size();
    std::vector<std::string_view> out = {"struct", "chunk"};
    if (n > 2) out.push_back("outer");
    if (n > 3) out.push_back("outer_round");
    return out;
  }
  return {key};
}

// outer_set says whether some earlier text (a preset) chose the outer format. A preset's
// own text may be overridden by the user's pairs, but a key may appear once in one text.
MacConfig parse_pairs(std::string_view text, MacConfig m, bool& outer_set) {
  std::vector<std::pair<std::string_view, std::string_view>> chosen;  // setting, by key
  for (std::string_view item : split(text, ',')) {
    if (item.empty()) continue;
    if (const std::size_t eq = item.find('='); eq != std::string_view::npos) {
      const std::string_view key = item.substr(0, eq);
      for (std::string_view setting : settings_of(key, item.substr(eq + 1)))
        for (const auto& [done, by] : chosen)
          if (done == setting)
            bad(by == key ? fmt::format("key '{}' is given twice", key)
                          : fmt::format("'{}' and '{}' both set {}", by, key, setting));
      for (std::string_view setting : settings_of(key, item.substr(eq + 1)))
        chosen.emplace_back(setting, key);
    }
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      bad(
          fmt::format("'{}' is not key=value (keys: a, b, ab, ftz_in, prod, prod_round, acc, "
                      "round, ftz, tininess, struct, align, interleave, chunk, outer, "
                      "outer_round, c, out, out_round, nan; or a preset: {})",
                      item, [] {
                        std::vector<std::string> n;
                        for (const auto& p : mac_presets()) n.push_back(p.name);
                        return fmt::format("{}", fmt::join(n, ", "));
                      }()));
    const std::string_view key = item.substr(0, eq);
    const std::string_view v = item.substr(eq + 1);
    if (key == "a") {
      m.a = fmt_of(key, v);
    } else if (key == "b") {
      m.b = fmt_of(key, v);
    } else if (key == "ab") {
      m.a = fmt_of(key, v);
      m.b = m.a;
    } else if (key == "ftz_in") {
      m.ftz_inputs = bool_of(key, v);
    } else if (key == "prod") {
      if (v == "exact") {
        m.product.reset();
      } else {
        m.product = fmt_of(key, v);
      }
    } else if (key == "prod_round") {
      m.product_round = round_of(key, v, m.product_round);
    } else if (key == "acc") {
      m.acc = fmt_of(key, v);
    } else if (key == "round") {
      m.acc_round = round_of(key, v, m.acc_round);
    } else if (key == "ftz") {
      m.acc_round.ftz = bool_of(key, v);
    } else if (key == "tininess") {
      if (v == "before") {
        m.acc_round.tininess = Tininess::before;
      } else if (v == "after") {
        m.acc_round.tininess = Tininess::after;
      } else {
        bad(fmt::format("tininess = '{}' (allowed: before, after)", v));
      }
    } else if (key == "struct") {
      parse_structure(m, v);
      if (v.starts_with("chunked:") && split(v, ':').size() > 2) outer_set = true;
    } else if (key == "align") {
      if (v == "lead") {
        m.align_ref = AlignRef::leading_bit;
      } else if (v == "field") {
        m.align_ref = AlignRef::exponent_field;
      } else {
        bad(fmt::format("align = '{}' (allowed: lead, field)", v));
      }
    } else if (key == "nan") {
      if (v == "default") {
        m.canonical_nan = false;
      } else if (v == "canonical") {
        m.canonical_nan = true;
      } else {
        bad(fmt::format("nan = '{}' (allowed: default, canonical)", v));
      }
    } else if (key == "interleave") {
      m.interleave = parse_int(key, v, 0, 1 << 20);
    } else if (key == "chunk") {
      m.chunk = parse_int(key, v, 0, 1 << 30);
    } else if (key == "outer") {
      m.outer = fmt_of(key, v);
      outer_set = true;
    } else if (key == "outer_round") {
      m.outer_round = round_of(key, v, m.outer_round);
    } else if (key == "c") {
      m.c = fmt_of(key, v);
    } else if (key == "out") {
      if (v == "acc") {
        m.out.reset();
      } else {
        m.out = fmt_of(key, v);
      }
    } else if (key == "out_round") {
      m.out_round = round_of(key, v, m.out_round);
    } else {
      bad(fmt::format(
          "unknown key '{}' (keys: a, b, ab, ftz_in, prod, prod_round, acc, round, "
          "ftz, tininess, struct, align, interleave, chunk, outer, outer_round, c, out, "
          "out_round)",
          key));
    }
  }
  if (!outer_set) m.outer = m.acc;
  if ((m.align_ref != AlignRef::leading_bit || m.interleave > 0) &&
      m.structure != Structure::multiterm)
    bad(fmt::format("align and interleave need struct multiterm (got {})", to_string(m.structure)));
  if (m.chunk > 0 && m.structure != Structure::sequential && m.structure != Structure::multiterm)
    bad(fmt::format("chunk = {} needs struct sequential or multiterm (got {})", m.chunk,
                    to_string(m.structure)));
  return m;
}

}  // namespace

std::string_view to_string(Structure s) {
  switch (s) {
    case Structure::sequential:
      return "sequential";
    case Structure::multiterm:
      return "multiterm";
    case Structure::pairwise:
      return "pairwise";
    case Structure::exact:
      return "exact";
  }
  return "?";
}

const std::vector<MacPreset>& mac_presets() {
  static const std::vector<MacPreset> presets = [] {
    std::vector<MacPreset> v = {
        {"fp32-fma", "ab=e5m2,acc=fp32,round=rne,struct=sequential",
         "A sequential chain of fused multiply-adds in IEEE binary32 with round-to-nearest-even "
         "(what a CPU FMA loop computes). Fact: IEEE 754. The e5m2 inputs are a default; set ab."},
        {"wang2018", "ab=e5m2,acc=fp16,round=rne,struct=chunked:64:fp16:rne",
         "Wang et al. 2018 (IBM): FP8 (1-5-2) data, FP16 accumulation made safe by chunk-based "
         "accumulation. Published: E5M2 inputs, FP16 accumulator, chunking. Assumed: chunk "
         "length 64 (BRIEF.md: 'believed to be 64'), RNE, FP16 for the outer sum."},
        {"tensorcore-v100",
         "ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field,nan=canonical",
         "Fasi, Higham, Mikaitis, Pranesh 2021 (V100 tensor cores), now an alias of the "
         "measured preset v100-fp16-fp32: products exact, 4 products and C aligned to the "
         "largest exponent field (ea+eb, significand unnormalised in [1,4)), truncated 23 bits "
         "below it (no guard bits), normalised at the end and rounded toward zero into FP32. "
         "Published: the 21 probes of the paper (tests/unit/test_fasi_probes.cpp); measured: "
         "2500 of 2500 V100 cases. It was multiterm:4:24:2 aligned to the leading bit, which "
         "fails 7 of the 21 probes."},
        {"fp8-tensorcore",
         "ab=e4m3fn,acc=e8m13,round=rtz,struct=multiterm:32:13:2,align=field,chunk=128,outer="
         "fp32,outer_round=rne,c=fp32,nan=canonical",
         "The FP8 training GEMM of DeepSeek-V3 (2024) on H800: the measured Hopper FP8 unit "
         "(h100-e4m3-fp32: groups of 32 products aligned to the largest exponent field, "
         "truncated 13 bits below it, each group's sum cut toward zero to 13 fraction bits), "
         "promoted into a full FP32 accumulator every 128 products (N_C = 128, the paper's "
         "CUDA-core promotion), C added there. Measured: the unit (2500 of 2500 H100 and H200 "
         "cases); published: the promotion interval; assumed: RNE for the FP32 promotion."},
        {"mellempudi2019", "ab=e5m2,acc=fp32,round=rne,struct=sequential,out=e5m2,out_round=rne",
         "Mellempudi et al. 2019: FP8 E5M2 GEMM inputs, FP32 accumulation, output converted to "
         "FP8. Published: E5M2, FP32 accumulate, FP8 output. Assumed: sequential RNE "
         "accumulation, RNE output (the paper uses SR for gradients: set out_round=sr:8)."},
    };
    for (auto& p : gpu_mac_presets()) v.push_back(std::move(p));
    return v;
  }();
  return presets;
}

MacConfig parse_mac(std::string_view text) {
  // A preset name, optionally followed by ",key=value" overrides.
  const std::string_view head = text.substr(0, text.find(','));
  if (head.find('=') == std::string_view::npos) {
    for (const auto& p : mac_presets()) {
      if (p.name != head) continue;
      bool outer_set = false;
      MacConfig m = parse_pairs(p.spec, base_config(), outer_set);
      if (head.size() < text.size()) m = parse_pairs(text.substr(head.size() + 1), m, outer_set);
      m.name = std::string(text);
      return m;
    }
    std::vector<std::string> names;
    for (const auto& p : mac_presets()) names.push_back(p.name);
    bad(fmt::format("unknown preset '{}' (presets: {}; or key=value pairs, see --help)", head,
                    fmt::join(names, ", ")));
  }
  bool outer_set = false;
  MacConfig m = parse_pairs(text, base_config(), outer_set);
  m.name = std::string(text);
  return m;
}

std::string to_string(const MacConfig& m) {
  std::string s = fmt::format("a={},b={}", m.a.name, m.b.name);
  if (m.ftz_inputs) s += ",ftz_in=1";
  if (m.product)
    s += fmt::format(",prod={},prod_round={}", m.product->name, to_string(m.product_round));
  s += fmt::format(",acc={},round={}", m.acc.name, to_string(m.acc_round));
  if (m.acc_round.ftz) s += ",ftz=1";
  if (m.acc_round.tininess == Tininess::before) s += ",tininess=before";
  switch (m.structure) {
    case Structure::multiterm:
      s += fmt::format(",struct=multiterm:{}:{}:{}", m.terms, m.align_bits, m.carry_bits);
      break;
    default:
      s += fmt::format(",struct={}", to_string(m.structure));
  }
  if (m.align_ref == AlignRef::exponent_field) s += ",align=field";
  if (m.interleave > 0) s += fmt::format(",interleave={}", m.interleave);
  if (m.chunk > 0)
    s += fmt::format(",chunk={},outer={},outer_round={}", m.chunk, m.outer.name,
                     to_string(m.outer_round));
  if (m.c) s += fmt::format(",c={}", m.c->name);
  if (m.out) s += fmt::format(",out={},out_round={}", m.out->name, to_string(m.out_round));
  if (m.canonical_nan) s += ",nan=canonical";
  return s;
}

std::string mac_spec_help() {
  std::string s =
      "MAC spec: a preset, optionally followed by ,key=value overrides, or key=value pairs:\n"
      "  a=F, b=F, ab=F     input formats (default e5m2)\n"
      "  ftz_in=0|1         subnormal inputs read as zero\n"
      "  prod=exact|F       products exact (default) or rounded to format F\n"
      "  prod_round=R       rounding of products (default rne)\n"
      "  acc=F              accumulator format (default fp32)\n"
      "  round=R            accumulator rounding: rne rna rtz rup rdn rto sr sr:R (sr = sr:8)\n"
      "  ftz=0|1            flush subnormal accumulator results to zero\n"
      "  tininess=after|before\n"
      "  struct=S           sequential | chunked:N[:OUTER[:ROUND]] | multiterm:N[:ALIGN[:CARRY]]\n"
      "                     | pairwise | exact   (multiterm defaults: 24 align bits, 2 carry)\n"
      "  align=lead|field   multiterm: align to the largest leading bit (default) or to the\n"
      "                     largest exponent field ea+eb of the unnormalised products\n"
      "  interleave=W       multiterm: deal products to a chunk's groups in runs of W (0: no)\n"
      "  chunk=N            every N products, add the partial sum into the outer accumulator\n"
      "  outer=F, outer_round=R   the outer accumulator (default: acc format, rne)\n"
      "  c=F                format of the initial value C (default: acc)\n"
      "  out=F|acc, out_round=R   output conversion (default: none)\n"
      "  nan=default|canonical    a NaN result: x86's default NaN (FFC00000) or NVIDIA's\n"
      "                     canonical NaN (7FFFFFFF, 7FFF)\n"
      "Presets:\n";
  for (const auto& p : mac_presets()) {
    if (p.source.starts_with("Measured:")) continue;  // the GPU presets: below, by family
    s += fmt::format("  {:<16} {}\n", p.name, p.spec);
    // where each part comes from, which parts are assumptions: wrapped under the spec
    s += detail::wrapped(p.source);
  }
  return s + gpu_presets_help();
}

namespace detail {
std::string wrapped(std::string_view text) {
  std::string s, line = "   ";
  for (std::string_view word : split(text, ' ')) {
    if (line.size() + 1 + word.size() > 88) {
      s += line + "\n";
      line = "   ";
    }
    line += fmt::format(" {}", word);
  }
  return s + line + "\n";
}
}  // namespace detail

}  // namespace fp8sim
