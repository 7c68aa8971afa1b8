// cli/options.hpp — the one set of rules by which every fp8sim command reads its options
// (docs/cli-conventions.md): strict integers that never wrap, reals with their range,
// choices that list what is allowed, option types as words in --help, bounded echoes of
// bad values, and refusals of options that would have no effect.
//
// Every option of every command is registered through these adders; tests/cli/test_cli.sh
// checks that no --help shows CLI11's own type names (INT, UINT, FLOAT, TEXT), which would
// mean an option bypassed them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "formats/formats.hpp"  // shown(): the bounded echo of a bad value

namespace fp8sim::cli {

/// Bad input from the user: main prints "fp8sim: error: <what>" and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- strict parsers (throw UsageError naming `what`, the value and the allowed range)

/// Decimal digits only (a leading '-' where lo < 0): no wrap-around, no "1e3", no "12abc".
[[nodiscard]] std::int64_t parse_int(std::string_view text, std::int64_t lo, std::int64_t hi,
                                     std::string_view what);
[[nodiscard]] std::uint64_t parse_uint(std::string_view text, std::uint64_t lo, std::uint64_t hi,
                                       std::string_view what);

/// The allowed values of a real option. NaN is never allowed.
struct RealRange {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  /// "a finite number > 0", "a number from 0 to 1", ...
  [[nodiscard]] std::string words() const;
  [[nodiscard]] bool contains(double v) const;
};
inline constexpr RealRange finite_positive{0.0, std::numeric_limits<double>::max(), true, false};
inline constexpr RealRange finite_real{-std::numeric_limits<double>::max(),
                                       std::numeric_limits<double>::max(), false, false};

/// strtod's whole-string syntax (decimal, hex float, inf, nan), then the range.
[[nodiscard]] double parse_real(std::string_view text, const RealRange& range,
                                std::string_view what);

/// One of `allowed`; else "unknown WHAT 'x' (allowed: a, b, c)".
void check_choice(std::string_view value, std::initializer_list<std::string_view> allowed,
                  std::string_view what);

// ---- adders: register an option whose value is checked by the parsers above. The help
// line says the type as a word (N, X, NAME, ...), the range and the default.

template <class T>
CLI::Option* add_integer(CLI::App& cmd, const std::string& names, T& var, T lo, T hi,
                         const std::string& help, const std::string& type_word = "N");
/// A list of integers (`--sizes 256 1024`), each checked like add_integer.
template <class T>
CLI::Option* add_integer_list(CLI::App& cmd, const std::string& names, std::vector<T>& var, T lo,
                              T hi, const std::string& help);
CLI::Option* add_real(CLI::App& cmd, const std::string& names, double& var, const RealRange& range,
                      const std::string& help, const std::string& type_word = "X");
/// A string option; `type_word` names what it holds (SPEC, FILE, NAME, LIST, ...).
CLI::Option* add_text(CLI::App& cmd, const std::string& names, std::string& var,
                      const std::string& type_word, const std::string& help,
                      bool show_default = true);
/// A string option that must be one of `allowed` (checked while parsing).
CLI::Option* add_choice(CLI::App& cmd, const std::string& names, std::string& var,
                        std::vector<std::string> allowed, const std::string& help);
/// Positional arguments.
CLI::Option* add_positional(CLI::App& cmd, const std::string& name, std::string& var,
                            const std::string& type_word, const std::string& help);
CLI::Option* add_positionals(CLI::App& cmd, const std::string& name, std::vector<std::string>& var,
                             const std::string& type_word, const std::string& help);

// ---- contradictions

/// True when the option (long name with dashes) was given on the command line.
[[nodiscard]] bool given(const CLI::App& cmd, const std::string& name);
/// Refuses `option` when none of `needs` was given: "--append has no effect without
/// --record or --dump".
void needs_one_of(const CLI::App& cmd, const std::string& option,
                  std::initializer_list<std::string> needs);

/// Checks before parsing that every subcommand word names a known subcommand, so that
/// `fp8sim bench nosuch` says "unknown bench command 'nosuch' (allowed: ...)" instead of
/// CLI11's "A subcommand is required".
void check_subcommand_words(const CLI::App& app, int argc, const char* const* argv);

// ---- implementation of the template

namespace detail {
std::string integer_help(const std::string& help, std::int64_t lo, std::int64_t hi,
                         std::int64_t def);
std::string unsigned_help(const std::string& help, std::uint64_t lo, std::uint64_t hi,
                          std::uint64_t def);
}  // namespace detail

template <class T>
CLI::Option* add_integer(CLI::App& cmd, const std::string& names, T& var, T lo, T hi,
                         const std::string& help, const std::string& type_word) {
  static_assert(std::is_integral_v<T>);
  const std::string what =
      names.substr(names.rfind(',') == std::string::npos ? 0 : names.rfind(',') + 1);
  std::string text;
  if constexpr (std::is_signed_v<T>)
    text = detail::integer_help(help, lo, hi, var);
  else
    text = detail::unsigned_help(help, lo, hi, var);
  return cmd
      .add_option_function<std::string>(
          names,
          [&var, lo, hi, what](const std::string& s) {
            if constexpr (std::is_signed_v<T>)
              var = static_cast<T>(parse_int(s, lo, hi, what));
            else
              var = static_cast<T>(parse_uint(s, lo, hi, what));
          },
          text)
      ->type_name(type_word);
}

template <class T>
CLI::Option* add_integer_list(CLI::App& cmd, const std::string& names, std::vector<T>& var, T lo,
                              T hi, const std::string& help) {
  const std::string what =
      names.substr(names.rfind(',') == std::string::npos ? 0 : names.rfind(',') + 1);
  std::string def;
  for (auto v : var) def += (def.empty() ? "" : " ") + std::to_string(v);
  return cmd
      .add_option_function<std::vector<std::string>>(
          names,
          [&var, lo, hi, what](const std::vector<std::string>& items) {
            var.clear();
            for (const auto& s : items) {
              if constexpr (std::is_signed_v<T>)
                var.push_back(static_cast<T>(parse_int(s, lo, hi, what)));
              else
                var.push_back(static_cast<T>(parse_uint(s, lo, hi, what)));
            }
          },
          help + " (integers from " + std::to_string(lo) + " to " + std::to_string(hi) +
              "; default " + def + ")")
      ->type_name("N ...");
}

}  // namespace fp8sim::cli
