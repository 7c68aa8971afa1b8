// cli/cmd_formats.cpp — `fp8sim formats`: properties and encoding tables.
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "formats/formats.hpp"

namespace fp8sim::cli {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(ch));
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (std::isnan(v)) return "\"nan\"";
  if (std::isinf(v)) return v > 0 ? "\"inf\"" : "\"-inf\"";
  return fmt::format("{}", v);
}

namespace {

std::string value_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

std::string format_json(const Format& f, bool table) {
  const FormatProperties p = properties(f);
  std::string s = fmt::format(
      "{{\"name\": {}, \"width\": {}, \"exp_bits\": {}, \"man_bits\": {}, \"bias\": {}, "
      "\"signed\": {}, \"subnormals\": {}, \"specials\": \"{}\", \"overflow\": \"{}\", "
      "\"max_finite\": {}, \"min_normal\": {}, \"min_subnormal\": {}, \"epsilon\": {}, "
      "\"emin\": {}, \"emax\": {}, \"dynamic_range_binades\": {}, \"nan_encodings\": {}, "
      "\"inf_encodings\": {}",
      json_string(f.name), f.width(), f.exp_bits, f.man_bits, f.bias, f.is_signed, f.subnormals,
      to_string(f.specials), to_string(f.overflow), json_number(p.max_finite),
      json_number(p.min_normal), json_number(p.min_subnormal), json_number(p.epsilon), p.emin,
      p.emax, json_number(p.dynamic_range_binades), p.nan_encodings, p.inf_encodings);
  if (table) {
    s += ", \"encodings\": [";
    const std::uint64_t n = std::uint64_t{1} << f.width();
    for (std::uint64_t c = 0; c < n; ++c) {
      s += fmt::format(
          "{}{{\"code\": \"{:0{}x}\", \"sign\": {}, \"exp_field\": {}, \"frac_field\": {}, "
          "\"value\": {}, \"class\": \"{}\"}}",
          c ? ", " : "", c, (f.width() + 3) / 4, sign_of(f, c) ? 1 : 0, exp_field(f, c),
          frac_field(f, c), json_number(to_double(f, c)), to_string(classify(f, c)));
    }
    s += "]";
  }
  return s + "}";
}

void print_properties(const Format& f) {
  const FormatProperties p = properties(f);
  fmt::print("{}\n", f.name);
  fmt::print("  layout          {}{} exponent bits, {} fraction bits ({} bits), bias {}\n",
             f.is_signed ? "1 sign bit, " : "no sign bit, ", f.exp_bits, f.man_bits, f.width(),
             f.bias);
  fmt::print("  specials        {} ({}{})\n", to_string(f.specials),
             f.has_inf() ? "Inf, " : "no Inf, ",
             f.has_nan() ? fmt::format("{} NaN encodings", p.nan_encodings) : "no NaN");
  fmt::print("  subnormals      {}\n", f.subnormals ? "yes" : "no");
  fmt::print("  overflow        {}\n", to_string(f.overflow));
  fmt::print("  max finite      {}  (2^{} x {})\n", p.max_finite, p.emax,
             p.max_finite / std::ldexp(1.0, p.emax));
  fmt::print("  min normal      {}  (2^{})\n", p.min_normal, p.emin);
  fmt::print("  min subnormal   {}  (2^{})\n", p.min_subnormal,
             f.subnormals ? p.emin - f.man_bits : p.emin);
  fmt::print("  epsilon         {}  (2^-{})\n", p.epsilon, f.man_bits);
  fmt::print("  dynamic range   {:.2f} binades\n", p.dynamic_range_binades);
}

void print_table(const Format& f) {
  const int hex = (f.width() + 3) / 4;
  fmt::print("{:>6} {:>4} {:>9} {:>14} {:>24} {}\n", "code", "sign", "exp_field", "frac_field",
             "value", "class");
  const std::uint64_t n = std::uint64_t{1} << f.width();
  for (std::uint64_t c = 0; c < n; ++c) {
    fmt::print("{:>6} {:>4} {:>9} {:>14} {:>24} {}\n", fmt::format("{:0{}x}", c, hex),
               sign_of(f, c) ? 1 : 0, fmt::format("{:0{}b}", exp_field(f, c), f.exp_bits),
               f.man_bits ? fmt::format("{:0{}b}", frac_field(f, c), f.man_bits) : "-",
               value_text(to_double(f, c)), to_string(classify(f, c)));
  }
}

}  // namespace

void add_formats_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand(
      "formats",
      "Show floating-point formats: range, precision, specials; --table lists every encoding.");
  struct Opts {
    std::vector<std::string> names;
    bool table = false, json = false;
  };
  auto opts = std::make_shared<Opts>();
  add_positionals(*cmd, "names", opts->names, "FORMAT ...",
                  "Formats: a preset (e5m2, e4m3fn, fp16, ...) or eXmY[bB][fn|fnuz][-nosub]"
                  "[-sat|-nonsat]. Default: all presets");
  cmd->add_flag("--table", opts->table,
                "List every encoding: code, sign, exponent field, fraction field, value, class "
                "(formats of at most 16 bits)");
  cmd->add_flag("--json", opts->json, "Print JSON (one object for one name, else an array)");
  cmd->footer(
      "Examples:\n  fp8sim formats\n  fp8sim formats e4m3fn e5m2 --json\n"
      "  fp8sim formats e5m7 --table\n  fp8sim formats e4m3b11fnuz-sat");
  cmd->callback([opts] {
    std::vector<Format> formats;
    if (opts->names.empty()) {
      for (const auto& n : preset_names()) formats.push_back(parse_format(n));
    } else {
      for (const auto& n : opts->names) formats.push_back(parse_format(n));
    }
    if (opts->table)
      for (const auto& f : formats)
        if (f.width() > 16)
          throw UsageError(fmt::format(
              "--table needs a format of at most 16 bits; {} has {} bits (2^{} encodings)",
              shown(f.name), f.width(), f.width()));
    if (opts->json) {
      if (formats.size() == 1 && !opts->names.empty()) {
        fmt::print("{}\n", format_json(formats[0], opts->table));
        return;
      }
      fmt::print("[");
      for (std::size_t i = 0; i < formats.size(); ++i)
        fmt::print("{}{}", i ? ",\n " : "", format_json(formats[i], opts->table));
      fmt::print("]\n");
      return;
    }
    if (opts->names.empty() && !opts->table) {
      fmt::print("{:<12} {:>4} {:>3} {:>3} {:>5} {:>5} {:>4} {:>24} {:>14} {:>14} {:>8}\n",
                 "format", "bits", "e", "m", "bias", "spec", "sub", "max finite", "min normal",
                 "min subnormal", "binades");
      for (const auto& f : formats) {
        const auto p = properties(f);
        fmt::print(
            "{:<12} {:>4} {:>3} {:>3} {:>5} {:>5} {:>4} {:>24} {:>14.6g} {:>14.6g} "
            "{:>8.2f}\n",
            f.name, f.width(), f.exp_bits, f.man_bits, f.bias, to_string(f.specials),
            f.subnormals ? "yes" : "no", p.max_finite, p.min_normal, p.min_subnormal,
            p.dynamic_range_binades);
      }
      return;
    }
    for (std::size_t i = 0; i < formats.size(); ++i) {
      if (i) fmt::print("\n");
      print_properties(formats[i]);
      if (opts->table) {
        fmt::print("\n");
        print_table(formats[i]);
      }
    }
  });
}

}  // namespace fp8sim::cli
