// cli/options.cpp — the shared option rules (see options.hpp).
#include "cli/options.hpp"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace fp8sim::cli {

namespace {

// Digits only, accumulated with an overflow check: returns false past 2^64 - 1.
bool digits_to_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
      out = std::numeric_limits<std::uint64_t>::max();
      return false;
    }
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

[[noreturn]] void refuse_integer(std::string_view text, std::string_view what, std::string range) {
  throw UsageError(fmt::format("{} {} is not allowed (want {})", what, shown(text), range));
}

}  // namespace

std::int64_t parse_int(std::string_view text, std::int64_t lo, std::int64_t hi,
                       std::string_view what) {
  const std::string range = fmt::format("an integer from {} to {}", lo, hi);
  const bool neg = !text.empty() && text[0] == '-';
  const std::string_view digits = neg ? text.substr(1) : text;
  if (!all_digits(digits)) refuse_integer(text, what, range);
  std::uint64_t mag = 0;
  const bool fits = digits_to_u64(digits, mag);
  const std::uint64_t limit = neg ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
  if (!fits || mag > limit) refuse_integer(text, what, range);
  const std::int64_t v = neg ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
  if (v < lo || v > hi) refuse_integer(text, what, range);
  return v;
}

std::uint64_t parse_uint(std::string_view text, std::uint64_t lo, std::uint64_t hi,
                         std::string_view what) {
  const std::string range = fmt::format("an integer from {} to {}", lo, hi);
  std::uint64_t v = 0;
  if (!digits_to_u64(text, v) || v < lo || v > hi) refuse_integer(text, what, range);
  return v;
}

std::string RealRange::words() const {
  constexpr double big = std::numeric_limits<double>::max();
  const bool has_lo = !std::isinf(lo) && lo != -big, has_hi = !std::isinf(hi) && hi != big;
  const bool finite = lo >= -big && hi <= big;  // the infinities themselves excluded
  const std::string num = finite ? "a finite number" : "a number";
  const std::string low = fmt::format("{} {}", lo_open ? ">" : ">=", lo);
  const std::string high = fmt::format("{} {}", hi_open ? "<" : "<=", hi);
  if (has_lo && has_hi) {
    if (!lo_open && !hi_open) return fmt::format("a number from {} to {}", lo, hi);
    return fmt::format("a number {} and {}", low, high);
  }
  if (has_lo) return fmt::format("{} {}", num, low);
  if (has_hi) return fmt::format("{} {}", num, high);
  return finite ? num : "a number (not NaN)";
}

bool RealRange::contains(double v) const {
  if (std::isnan(v)) return false;
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

double parse_real(std::string_view text, const RealRange& range, std::string_view what) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = s.empty() || std::isspace(static_cast<unsigned char>(s[0]))
                       ? 0.0
                       : std::strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || *end != '\0')
    throw UsageError(
        fmt::format("{} {} is not a number (want {})", what, shown(text), range.words()));
  if (errno == ERANGE && std::isinf(v))
    throw UsageError(fmt::format("{} {} is beyond binary64's range (want {})", what, shown(text),
                                 range.words()));
  if (!range.contains(v))
    throw UsageError(
        fmt::format("{} {} is not allowed (want {})", what, shown(text), range.words()));
  return v;
}

void check_choice(std::string_view value, std::initializer_list<std::string_view> allowed,
                  std::string_view what) {
  for (auto a : allowed)
    if (a == value) return;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  throw UsageError(fmt::format("unknown {} {} (allowed: {})", what, shown(value), list));
}

namespace detail {

std::string integer_help(const std::string& help, std::int64_t lo, std::int64_t hi,
                         std::int64_t def) {
  return fmt::format("{} (an integer from {} to {}; default {})", help, lo, hi, def);
}
std::string unsigned_help(const std::string& help, std::uint64_t lo, std::uint64_t hi,
                          std::uint64_t def) {
  std::string top = std::to_string(hi);
  if (hi == std::numeric_limits<std::uint64_t>::max())
    top = "2^64-1";
  else if (hi >= (1u << 20) && (hi & (hi - 1)) == 0)
    top = fmt::format("2^{}", std::countr_zero(hi));
  return fmt::format("{} (an integer from {} to {}; default {})", help, lo, top, def);
}

}  // namespace detail

namespace {
std::string long_name(const std::string& names) {
  const auto comma = names.rfind(',');
  return comma == std::string::npos ? names : names.substr(comma + 1);
}
}  // namespace

CLI::Option* add_real(CLI::App& cmd, const std::string& names, double& var, const RealRange& range,
                      const std::string& help, const std::string& type_word) {
  const std::string what = long_name(names);
  return cmd
      .add_option_function<std::string>(
          names, [&var, range, what](const std::string& s) { var = parse_real(s, range, what); },
          fmt::format("{} ({}; default {})", help, range.words(), var))
      ->type_name(type_word);
}

CLI::Option* add_text(CLI::App& cmd, const std::string& names, std::string& var,
                      const std::string& type_word, const std::string& help, bool show_default) {
  auto* opt = cmd.add_option(
      names, var, show_default && !var.empty() ? fmt::format("{} (default {})", help, var) : help);
  opt->type_name(type_word);
  return opt;
}

CLI::Option* add_choice(CLI::App& cmd, const std::string& names, std::string& var,
                        std::vector<std::string> allowed, const std::string& help) {
  const std::string what = long_name(names);
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return cmd
      .add_option_function<std::string>(
          names,
          [&var, allowed, what, list](const std::string& s) {
            for (const auto& a : allowed)
              if (a == s) {
                var = s;
                return;
              }
            throw UsageError(
                fmt::format("{} {} is not allowed (allowed: {})", what, shown(s), list));
          },
          fmt::format("{}: {} (default {})", help, list, var))
      ->type_name("NAME");
}

CLI::Option* add_positional(CLI::App& cmd, const std::string& name, std::string& var,
                            const std::string& type_word, const std::string& help) {
  return cmd.add_option(name, var, help)->type_name(type_word);
}

CLI::Option* add_positionals(CLI::App& cmd, const std::string& name, std::vector<std::string>& var,
                             const std::string& type_word, const std::string& help) {
  return cmd.add_option(name, var, help)->type_name(type_word);
}

bool given(const CLI::App& cmd, const std::string& name) {
  return cmd.count(name) > 0;
}

void needs_one_of(const CLI::App& cmd, const std::string& option,
                  std::initializer_list<std::string> needs) {
  if (!given(cmd, option)) return;
  std::string list;
  std::size_t i = 0;
  for (const auto& n : needs) {
    if (given(cmd, n)) return;
    list += (i == 0 ? "" : (i + 1 == needs.size() ? " or " : ", ")) + n;
    ++i;
  }
  throw UsageError(fmt::format("{} has no effect without {}", option, list));
}

void check_subcommand_words(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* cur = &app;
  std::string path = "";
  for (int i = 1; i < argc; ++i) {
    const std::string_view w = argv[i];
    if (w.empty() || w[0] == '-') return;  // options: CLI11 takes over from here
    const auto subs = cur->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return;
    const CLI::App* next = nullptr;
    for (const auto* s : subs)
      if (s->get_name() == w) next = s;
    if (!next) {
      std::string list;
      for (const auto* s : subs) list += (list.empty() ? "" : ", ") + s->get_name();
      throw UsageError(fmt::format("unknown {}command {} (allowed: {}; run fp8sim {}--help)",
                                   path.empty() ? "" : path + " ", shown(w), list,
                                   path.empty() ? "" : path + " "));
    }
    path += (path.empty() ? "" : " ") + std::string(w);
    cur = next;
  }
  // every word was a command, and the last one needs another: say which
  const auto subs = cur->get_subcommands([](const CLI::App*) { return true; });
  if (!subs.empty() && cur->get_require_subcommand_min() > 0 && cur != &app) {
    std::string list;
    for (const auto* s : subs) list += (list.empty() ? "" : ", ") + s->get_name();
    throw UsageError(fmt::format("fp8sim {} needs a command (allowed: {}; run fp8sim {} --help)",
                                 path, list, path));
  }
}

}  // namespace fp8sim::cli
