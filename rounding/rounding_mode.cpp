// rounding/rounding_mode.cpp — names of rounding modes and flags.
#include "rounding/rounding_mode.hpp"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "rounding/flags.hpp"

namespace fp8sim {

std::string_view to_string(RoundingMode m) {
  switch (m) {
    case RoundingMode::rne:
      return "rne";
    case RoundingMode::rna:
      return "rna";
    case RoundingMode::rtz:
      return "rtz";
    case RoundingMode::rup:
      return "rup";
    case RoundingMode::rdn:
      return "rdn";
    case RoundingMode::rto:
      return "rto";
    case RoundingMode::sr:
      return "sr";
  }
  return "?";
}

std::string to_string(const RoundSpec& r) {
  if (r.mode == RoundingMode::sr) return fmt::format("sr:{}", r.sr_bits);
  return std::string(to_string(r.mode));
}

void validate(const RoundSpec& r) {
  if (r.mode == RoundingMode::sr && (r.sr_bits < 1 || r.sr_bits > 32))
    throw std::invalid_argument(
        fmt::format("stochastic rounding bits r = {} is out of range (allowed: 1..32)", r.sr_bits));
}

RoundSpec parse_rounding(std::string_view text, RoundSpec base) {
  static constexpr std::pair<std::string_view, RoundingMode> kModes[] = {
      {"rne", RoundingMode::rne}, {"rna", RoundingMode::rna}, {"rtz", RoundingMode::rtz},
      {"rup", RoundingMode::rup}, {"rdn", RoundingMode::rdn}, {"rto", RoundingMode::rto},
      {"sr", RoundingMode::sr}};
  std::string_view head = text;
  std::string_view bits;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    head = text.substr(0, colon);
    bits = text.substr(colon + 1);
  }
  for (const auto& [name, mode] : kModes) {
    if (head != name) continue;
    base.mode = mode;
    if (!bits.empty()) {
      if (mode != RoundingMode::sr)
        throw std::invalid_argument(
            fmt::format("rounding '{}': only 'sr' takes a bit count (e.g. sr:8)", text));
      int r = 0;
      auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), r);
      if (ec != std::errc{} || p != bits.data() + bits.size())
        throw std::invalid_argument(fmt::format(
            "rounding '{}': '{}' is not a number of random bits (allowed: 1..32)", text, bits));
      base.sr_bits = r;
    }
    validate(base);
    return base;
  }
  throw std::invalid_argument(fmt::format(
      "unknown rounding mode '{}' (allowed: rne, rna, rtz, rup, rdn, rto, sr, sr:R with "
      "R = 1..32)",
      text));
}

std::string flags_to_string(Flags f) {
  if (f == 0) return "none";
  std::string s;
  auto add = [&](Flags bit, const char* name) {
    if (f & bit) {
      if (!s.empty()) s += '|';
      s += name;
    }
  };
  add(kInvalid, "invalid");
  add(kInfinite, "divbyzero");
  add(kOverflow, "overflow");
  add(kUnderflow, "underflow");
  add(kInexact, "inexact");
  return s;
}

}  // namespace fp8sim
