// formats/format_presets.cpp — the named formats and the name grammar
//   eXmY[bB][fn|fnuz][-nosub][-sat|-nonsat]
#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "formats/formats.hpp"

namespace fp8sim {

namespace {

struct PresetDef {
  const char* name;
  int e, m, bias;
  Specials specials;
  bool is_signed = true;
  bool has_zero = true;
};

// Exact definitions; see formats/README.md for the resulting values.
constexpr PresetDef kPresets[] = {
    {"e5m2", 5, 2, 15, Specials::ieee},               // OCP FP8 E5M2 (IEEE-like)
    {"e4m3fn", 4, 3, 7, Specials::fn},                // OCP FP8 E4M3: no Inf, NaN S.1111.111
    {"e4m3fnuz", 4, 3, 8, Specials::fnuz},            // Graphcore/AMD: NaN 0x80, no -0
    {"e5m2fnuz", 5, 2, 16, Specials::fnuz},           // Graphcore/AMD
    {"e4m3b11fnuz", 4, 3, 11, Specials::fnuz},        // Graphcore, bias 11
    {"e4m3", 4, 3, 7, Specials::ieee},                // IEEE-like E4M3 (ml_dtypes float8_e4m3)
    {"e3m4", 3, 4, 3, Specials::ieee},                // IEEE-like E3M4 (ml_dtypes float8_e3m4)
    {"fp16", 5, 10, 15, Specials::ieee},              // IEEE binary16
    {"bf16", 8, 7, 127, Specials::ieee},              // bfloat16
    {"tf32", 8, 10, 127, Specials::ieee},             // NVIDIA TensorFloat-32 (19 bits)
    {"fp32", 8, 23, 127, Specials::ieee},             // IEEE binary32
    {"fp64", 11, 52, 1023, Specials::ieee},           // IEEE binary64
    {"e3m2", 3, 2, 3, Specials::none},                // OCP MX FP6 E3M2
    {"e2m3", 2, 3, 1, Specials::none},                // OCP MX FP6 E2M3
    {"e2m1", 2, 1, 1, Specials::none},                // OCP MX FP4 E2M1
    {"e8m0", 8, 0, 127, Specials::fn, false, false},  // OCP MX scale: 2^(c-127), NaN 0xFF
};

constexpr std::pair<const char*, const char*> kAliases[] = {
    {"e8m0fnu", "e8m0"},  {"f6e2m3fn", "e2m3"}, {"f6e3m2fn", "e3m2"}, {"f4e2m1fn", "e2m1"},
    {"fp6e2m3", "e2m3"},  {"fp6e3m2", "e3m2"},  {"fp4e2m1", "e2m1"},  {"fp4", "e2m1"},
    {"half", "fp16"},     {"float16", "fp16"},  {"binary16", "fp16"}, {"f16", "fp16"},
    {"bfloat16", "bf16"}, {"float32", "fp32"},  {"single", "fp32"},   {"binary32", "fp32"},
    {"f32", "fp32"},      {"float64", "fp64"},  {"double", "fp64"},   {"binary64", "fp64"},
    {"f64", "fp64"},      {"fp8", "e5m2"},
};

Format from_def(const PresetDef& d) {
  Format f;
  f.name = d.name;
  f.exp_bits = d.e;
  f.man_bits = d.m;
  f.bias = d.bias;
  f.specials = d.specials;
  f.is_signed = d.is_signed;
  f.has_zero = d.has_zero;
  f.subnormals = d.has_zero;
  f.overflow = d.specials == Specials::none ? Overflow::saturate : Overflow::ieee;
  validate(f);
  return f;
}

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

[[noreturn]] void bad_name(std::string_view name, std::string_view why) {
  throw FormatError(fmt::format(
      "unknown format {}: {}. Presets: {}. Custom: eXmY[bB][fn|fnuz][-nosub][-sat|-nonsat] "
      "with X = 1..11 exponent bits, Y = 0..52 mantissa bits (e.g. e5m7, e4m3b11fnuz-sat)",
      shown(name), why, fmt::join(preset_names(), ", ")));
}

// Parses a decimal integer at s[pos..], advancing pos. Returns false if none; digits too
// many for an int are refused as out of range (`what` names the field).
bool read_int(std::string_view name, std::string_view s, std::size_t& pos, int& out,
              std::string_view what, std::string_view allowed) {
  const char* first = s.data() + pos;
  const char* last = s.data() + s.size();
  if (first != last && *first == '-' && (last - first) < 2) return false;
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec == std::errc::result_out_of_range)
    throw FormatError(fmt::format(
        "format {}: {} = {} is out of range (allowed: {})", shown(name), what,
        shown(std::string_view(first, static_cast<std::size_t>(ptr - first))), allowed));
  if (ec != std::errc{} || ptr == first) return false;
  pos += static_cast<std::size_t>(ptr - first);
  return true;
}

}  // namespace

std::string shown(std::string_view value) {
  constexpr std::size_t kMax = 48;
  if (value.size() <= kMax) return fmt::format("'{}'", value);
  std::size_t cut = kMax;  // do not split a UTF-8 sequence
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("'{}…' ({} characters)", value.substr(0, cut), value.size());
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : kPresets) v.emplace_back(d.name);
    return v;
  }();
  return names;
}

std::optional<Format> find_preset(std::string_view name) {
  std::string n = lower(name);
  for (const auto& [alias, target] : kAliases)
    if (n == alias) n = target;
  for (const auto& d : kPresets)
    if (n == d.name) return from_def(d);
  return std::nullopt;
}

Format parse_format(std::string_view name) {
  if (name.empty()) bad_name(name, "empty name");
  const std::string full = lower(name);
  // Split off "-suffix" modifiers.
  std::string base = full;
  std::vector<std::string> mods;
  if (auto dash = full.find('-', 1); dash != std::string::npos) {
    base = full.substr(0, dash);
    std::string rest = full.substr(dash + 1);
    std::size_t p = 0;
    while (p <= rest.size()) {
      std::size_t q = rest.find('-', p);
      if (q == std::string::npos) q = rest.size();
      mods.push_back(rest.substr(p, q - p));
      p = q + 1;
    }
  }
  Format f;
  if (auto preset = find_preset(base)) {
    f = *preset;
  } else {
    // eXmY[bB][fn|fnuz]
    std::size_t pos = 0;
    int e = 0, m = 0, bias = 0;
    bool has_bias = false;
    if (base.size() < 4 || base[0] != 'e') bad_name(name, "expected a preset or eXmY...");
    pos = 1;
    if (!read_int(name, base, pos, e, "exponent bits", "1..11"))
      bad_name(name, "expected exponent bits after 'e'");
    if (pos >= base.size() || base[pos] != 'm') bad_name(name, "expected 'm' after eX");
    ++pos;
    if (!read_int(name, base, pos, m, "mantissa bits", "0..52"))
      bad_name(name, "expected mantissa bits after 'm'");
    if (pos < base.size() && base[pos] == 'b') {
      ++pos;
      if (!read_int(name, base, pos, bias, "bias", "-4096..4096"))
        bad_name(name, "expected a bias after 'b'");
      has_bias = true;
    }
    const std::string tail = base.substr(pos);
    Specials sp = Specials::ieee;
    if (tail == "fn") {
      sp = Specials::fn;
    } else if (tail == "fnuz") {
      sp = Specials::fnuz;
    } else if (!tail.empty()) {
      bad_name(name, fmt::format("unknown part '{}' (allowed: fn, fnuz)", tail));
    }
    if (e < 1 || e > 11)
      throw FormatError(fmt::format(
          "format {}: exponent bits = {} is out of range (allowed: 1..11)", shown(name), e));
    if (m < 0 || m > 52)
      throw FormatError(fmt::format(
          "format {}: mantissa bits = {} is out of range (allowed: 0..52)", shown(name), m));
    if (!has_bias) bias = (1 << (e - 1)) - 1 + (sp == Specials::fnuz ? 1 : 0);
    f = make_format(e, m, bias, sp, true, Overflow::ieee, base);
  }
  for (std::size_t i = 0; i < mods.size(); ++i)
    for (std::size_t j = 0; j < i; ++j) {
      if (mods[i] == mods[j])
        throw FormatError(
            fmt::format("format {}: suffix '-{}' is given twice", shown(name), mods[i]));
      if ((mods[i] == "sat" && mods[j] == "nonsat") || (mods[i] == "nonsat" && mods[j] == "sat"))
        throw FormatError(fmt::format(
            "format {}: '-sat' and '-nonsat' contradict each other (give one)", shown(name)));
    }
  for (const auto& mod : mods) {
    if (mod == "nosub") {
      if (f.has_zero) f.subnormals = false;
    } else if (mod == "sat") {
      f.overflow = Overflow::saturate;
    } else if (mod == "nonsat") {
      if (f.specials != Specials::none) f.overflow = Overflow::nonsat;
    } else {
      bad_name(name, fmt::format("unknown suffix '-{}' (allowed: -nosub, -sat, -nonsat)", mod));
    }
  }
  for (const auto& mod : mods) f.name += "-" + mod;
  validate(f);
  return f;
}

}  // namespace fp8sim
