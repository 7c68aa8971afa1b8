// cli/cmd_mac.cpp — `fp8sim mac`: one dot product through a MAC configuration, with a
// step-by-step trace for hardware designers.
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/input_values.hpp"
#include "rounding/rounding.hpp"
#include "sim/mac.hpp"

namespace fp8sim::cli {

namespace {

// Values separated by spaces or commas: decimals (rounded RNE into the format) or, with
// codes, hex encodings.
std::vector<std::uint64_t> read_operands(const std::string& text, const Format& f, bool codes,
                                         const char* what, std::vector<std::string>& notes) {
  std::string t = text;
  for (char& ch : t)
    if (ch == ',') ch = ' ';
  std::istringstream in(t);
  std::string tok;
  std::vector<std::uint64_t> out;
  while (in >> tok) {
    if (codes) {
      std::uint64_t v = 0;
      std::size_t used = 0;
      try {
        v = std::stoull(tok, &used, 16);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != tok.size() || v > f.code_mask())
        throw UsageError(fmt::format("{}: {} is not a hex code of {} (0..{:#x})", what, shown(tok),
                                     f.name, f.code_mask()));
      out.push_back(v);
      continue;
    }
    const double v = read_decimal(tok, fmt::format(" in {}", what));
    const Rounded r = from_double(v, f, RoundSpec{});
    if (r.flags & kInexact)
      notes.push_back(fmt::format("{} value {} is not representable in {}: rounded (rne) to {}",
                                  what, tok, f.name, to_double(f, r.code)));
    out.push_back(r.code);
  }
  return out;
}

std::string json_value(const Format& f, std::uint64_t code) {
  const Class c = classify(f, code);
  if (c == Class::nan) return "\"nan\"";
  if (c == Class::infinite) return sign_of(f, code) ? "\"-inf\"" : "\"inf\"";
  return json_number(to_double(f, code));
}

}  // namespace

void add_mac_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand("mac", "One dot product through a MAC unit, with --trace");
  struct Opts {
    std::string mac = "fp32-fma", a, b, c;
    bool trace = false, json = false, codes = false;
    std::uint64_t seed = 0, output = 0;
  };
  auto o = std::make_shared<Opts>();
  add_text(*cmd, "-m,--mac", o->mac, "SPEC", "MAC spec: a preset or key=value pairs (below)");
  add_text(*cmd, "--a", o->a, "LIST", "A's elements, e.g. \"1 0.5 -2\"")->required();
  add_text(*cmd, "--b", o->b, "LIST", "B's elements (as many as A's)")->required();
  add_text(*cmd, "--c", o->c, "X", "Initial value C (in the accumulator's format, or c=)");
  cmd->add_flag("--codes", o->codes, "Operands are hex encodings instead of numbers");
  add_integer(*cmd, "--seed", o->seed, std::uint64_t{0}, ~std::uint64_t{0},
              "Seed of the random bits (stochastic rounding)");
  add_integer(*cmd, "--output-index", o->output, std::uint64_t{0}, ~std::uint64_t{0},
              "Index of this dot product in a GEMM (keys the random bits)");
  cmd->add_flag("--trace", o->trace,
                "Print every step: operand fields, exact product, alignment, exact sum, "
                "rounding cut, random bits, result, flags");
  cmd->add_flag("--json", o->json, "Print one JSON object (result, result_bits, flags, ...)");
  cmd->footer(mac_spec_help() +
              "Examples:\n"
              "  fp8sim mac --mac fp32-fma --a \"1 2 3\" --b \"0.5 0.25 1\" --trace\n"
              "  fp8sim mac --mac \"ab=e4m3fn,acc=bf16,round=sr:8,struct=multiterm:4:13:2\" "
              "--a \"1 1 1 1 1\" --b \"0.01 0.01 0.01 0.01 100\" --trace\n");
  cmd->callback([o] {
    const MacConfig m = parse_mac(o->mac);
    validate(m);
    std::vector<std::string> notes;
    const auto a = read_operands(o->a, m.a, o->codes, "--a", notes);
    const auto b = read_operands(o->b, m.b, o->codes, "--b", notes);
    if (a.size() != b.size())
      throw UsageError(fmt::format("--a has {} elements but --b has {}", a.size(), b.size()));
    std::optional<std::uint64_t> c;
    const Format& cf = m.c ? *m.c : m.acc;
    if (!o->c.empty()) {
      const auto cv = read_operands(o->c, cf, o->codes, "--c", notes);
      if (cv.size() != 1) throw UsageError("--c takes one value");
      c = cv[0];
    }
    std::vector<std::string> trace;
    const MacResult r = mac_dot(m, a, b, c, o->seed, o->output, o->trace ? &trace : nullptr);
    const Format& rf = result_format(m);
    const int hex = (rf.width() + 3) / 4;
    if (o->json) {
      std::string tr;
      for (std::size_t i = 0; i < trace.size(); ++i)
        tr += fmt::format("{}{}", i ? ", " : "", json_string(trace[i]));
      fmt::print(
          "{{\"mac\": {}, \"format\": {}, \"result\": {}, \"result_bits\": \"{:0{}x}\", "
          "\"flags\": \"{}\", \"steps\": {}, \"inexact_steps\": {}, \"underflow_steps\": {}, "
          "\"overflow_steps\": {}, \"invalid_steps\": {}, \"swamped\": {}, "
          "\"carry_overflow\": {}{}}}\n",
          json_string(to_string(m)), json_string(rf.name), json_value(rf, r.code), r.code, hex,
          flags_to_string(r.flags), r.counts.steps, r.counts.inexact, r.counts.underflow,
          r.counts.overflow, r.counts.invalid, r.counts.swamped, r.counts.carry_overflow,
          o->trace ? fmt::format(", \"trace\": [{}]", tr) : "");
      return;
    }
    for (const auto& n : notes) fmt::print("note: {}\n", n);
    if (o->trace) {
      fmt::print("MAC {}\n", to_string(m));
      for (const auto& line : trace) fmt::print("{}\n", line);
      fmt::print("\n");
    }
    const Class cls = classify(rf, r.code);
    fmt::print("result {} = {:0{}x} ({})\nflags  {}\n", rf.name, r.code, hex,
               cls == Class::nan ? "NaN" : fmt::format("{}", to_double(rf, r.code)),
               flags_to_string(r.flags));
    fmt::print("steps  {} roundings: {} inexact, {} underflow, {} overflow, {} invalid",
               r.counts.steps, r.counts.inexact, r.counts.underflow, r.counts.overflow,
               r.counts.invalid);
    if (m.structure == Structure::multiterm)
      fmt::print("; {} products swamped, {} carry overflows", r.counts.swamped,
                 r.counts.carry_overflow);
    fmt::print("\n");
  });
}

}  // namespace fp8sim::cli
