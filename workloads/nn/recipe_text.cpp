// workloads/nn/recipe_text.cpp — recipes as TOML, --set assignments, resolve_recipe.
#include "workloads/nn/recipe_text.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include "workloads/nn/toml_words.hpp"

#include "workloads/train.hpp"  // parse_loss_scaler

namespace fp8sim::workloads {

namespace {

/// A bad value: the message without its place (the caller adds "FILE:L:C: key: ").
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

constexpr std::string_view kTopKeys[] = {"name", "source", "loss_scaler", "exempt"};
constexpr std::string_view kRoleSections[] = {"weight", "activation", "error", "weight_grad"};
constexpr std::string_view kRoleKeys[] = {"format",  "round",        "tininess", "ftz",
                                          "scaling", "amax_history", "margin"};
constexpr std::string_view kGemmKeys[] = {"fprop", "dgrad", "wgrad"};
constexpr std::string_view kMasterKeys[] = {"format", "round", "tininess", "ftz"};
constexpr std::int64_t kMaxAmaxHistory = std::int64_t{1} << 20;
constexpr std::int64_t kMaxMargin = 64;
constexpr std::size_t kMaxFileBytes = std::size_t{1} << 20;

template <std::size_t N>
bool among(std::string_view s, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

template <std::size_t N>
std::string joined(const std::string_view (&list)[N]) {
  return fmt::format("{}", fmt::join(list, ", "));
}

/// The keys of a section ("" for the top level), for messages.
std::string section_keys(std::string_view section) {
  if (section.empty())
    return fmt::format("base, {}, {}, gemm, master", joined(kTopKeys), joined(kRoleSections));
  if (among(section, kRoleSections)) return joined(kRoleKeys);
  if (section == "gemm") return joined(kGemmKeys);
  return joined(kMasterKeys);
}

bool utf8_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const std::uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

/// One value to assign: a TOML node, or the text of a --set assignment.
class Value {
 public:
  explicit Value(const toml::node& n) : node_(&n) {}
  explicit Value(std::string_view text) : text_(text) {}

  [[nodiscard]] std::string string() const {
    if (!node_) return std::string(text_);
    if (const auto* s = node_->as_string()) return s->get();
    throw ValueError(fmt::format("want a string, not {}", toml_type_words(*node_)));
  }
  [[nodiscard]] std::int64_t integer(std::int64_t lo, std::int64_t hi) const {
    std::int64_t v = 0;
    std::string seen;
    if (node_) {
      const auto* i = node_->as_integer();
      if (!i) throw ValueError(fmt::format("want an integer, not {}", toml_type_words(*node_)));
      v = i->get();
      seen = std::to_string(v);
    } else {
      seen = shown(text_);
      const bool digits = !text_.empty() &&
                          std::all_of(text_.begin() + (text_[0] == '-' ? 1 : 0), text_.end(),
                                      [](char c) { return c >= '0' && c <= '9'; }) &&
                          text_ != "-";
      const auto [p, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), v);
      if (!digits || ec != std::errc{} || p != text_.data() + text_.size())
        throw ValueError(fmt::format("{} is not allowed (an integer from {} to {})", seen, lo, hi));
    }
    if (v < lo || v > hi)
      throw ValueError(fmt::format("{} is not allowed (an integer from {} to {})", seen, lo, hi));
    return v;
  }
  [[nodiscard]] bool boolean() const {
    if (node_) {
      if (const auto* b = node_->as_boolean()) return b->get();
      throw ValueError(
          fmt::format("want a boolean (true or false), not {}", toml_type_words(*node_)));
    }
    if (text_ == "true" || text_ == "1") return true;
    if (text_ == "false" || text_ == "0") return false;
    throw ValueError(fmt::format("{} is not allowed (allowed: true, false, 1, 0)", shown(text_)));
  }
  /// A TOML array of strings, or a comma-separated list (empty text: no items).
  [[nodiscard]] std::vector<std::string> list() const {
    std::vector<std::string> items;
    if (node_) {
      const auto* a = node_->as_array();
      if (!a)
        throw ValueError(fmt::format("want an array of strings, not {}", toml_type_words(*node_)));
      for (const auto& e : *a) {
        const auto* s = e.as_string();
        if (!s)
          throw ValueError(
              fmt::format("want an array of strings, not one holding {}", toml_type_words(e)));
        items.push_back(s->get());
      }
    } else if (!text_.empty()) {
      std::string_view rest = text_;
      for (;;) {
        const auto comma = rest.find(',');
        items.emplace_back(rest.substr(0, comma));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    return items;
  }

 private:
  const toml::node* node_ = nullptr;
  std::string_view text_;
};

std::string text_value(const Value& v, const char* what) {
  std::string s = v.string();
  if (!utf8_valid(s)) throw ValueError(fmt::format("{} is not valid UTF-8", what));
  return s;
}

std::optional<Format> format_value(const Value& v, bool allow_none) {
  const std::string s = v.string();
  if (s == "none") {
    if (allow_none) return std::nullopt;
    throw ValueError("'none' is not allowed (the master weights need a format, e.g. fp32)");
  }
  return parse_format(s);
}

Tininess tininess_value(const Value& v) {
  const std::string s = v.string();
  if (s == "after") return Tininess::after;
  if (s == "before") return Tininess::before;
  throw ValueError(fmt::format("unknown tininess {} (allowed: after, before)", shown(s)));
}

/// Assigns round, tininess or ftz of `spec`; false for another key.
bool set_round_key(RoundSpec& spec, std::string_view key, const Value& v) {
  if (key == "round") {
    const std::string s = v.string();
    if (s.size() > 32)  // parse_rounding echoes the whole value: never a valid one
      throw ValueError(fmt::format(
          "unknown rounding mode {} (allowed: rne, rna, rtz, rup, rdn, rto, sr, sr:R with "
          "R = 1..32)",
          shown(s)));
    spec = parse_rounding(s, spec);
  } else if (key == "tininess") {
    spec.tininess = tininess_value(v);
  } else if (key == "ftz") {
    spec.ftz = v.boolean();
  } else {
    return false;
  }
  return true;
}

bool set_role_key(RoleQuant& q, std::string_view key, const Value& v) {
  if (set_round_key(q.round, key, v)) return true;
  if (key == "format") {
    q.format = format_value(v, true);
  } else if (key == "scaling") {
    const std::string s = v.string();
    if (s == "none")
      q.scaling = Scaling::none;
    else if (s == "delayed")
      q.scaling = Scaling::delayed;
    else
      throw ValueError(fmt::format("unknown scaling {} (allowed: none, delayed)", shown(s)));
  } else if (key == "amax_history") {
    q.amax_history = static_cast<int>(v.integer(1, kMaxAmaxHistory));
  } else if (key == "margin") {
    q.margin = static_cast<int>(v.integer(0, kMaxMargin));
  } else {
    return false;
  }
  return true;
}

RoleQuant* role_of(Recipe& r, std::string_view section) {
  if (section == "weight") return &r.weight;
  if (section == "activation") return &r.activation;
  if (section == "error") return &r.error;
  if (section == "weight_grad") return &r.weight_grad;
  return nullptr;
}
const RoleQuant& role_of(const Recipe& r, std::string_view section) {
  if (section == "weight") return r.weight;  // section: one of kRoleSections
  if (section == "activation") return r.activation;
  if (section == "error") return r.error;
  return r.weight_grad;
}

std::vector<std::string> exempt_value(const Value& v) {
  std::vector<std::string> items = v.list();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) throw ValueError("an empty layer name is not allowed");
    if (!utf8_valid(items[i])) throw ValueError("a layer name is not valid UTF-8");
    if (items[i].find(',') != std::string::npos)
      throw ValueError(fmt::format("layer name {} holds a comma", shown(items[i])));
    if (std::find(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(i), items[i]) !=
        items.begin() + static_cast<std::ptrdiff_t>(i))
      throw ValueError(fmt::format("layer {} is given twice", shown(items[i])));
  }
  return items;
}

/// Assigns section.key ("" section: the top level); false for an unknown key. Throws
/// ValueError (or the parsers' std::invalid_argument) for a bad value.
bool set_key(Recipe& r, std::string_view section, std::string_view key, const Value& v) {
  if (section.empty()) {
    if (key == "name") {
      std::string s = text_value(v, "the name");
      if (s.empty()) throw ValueError("an empty name is not allowed");
      r.name = std::move(s);
    } else if (key == "source") {
      r.source = text_value(v, "the source");
    } else if (key == "loss_scaler") {
      std::string s = v.string();
      (void)parse_loss_scaler(s);
      r.loss_scaler = std::move(s);
    } else if (key == "exempt") {
      r.exempt = exempt_value(v);
    } else {
      return false;
    }
    return true;
  }
  if (RoleQuant* q = role_of(r, section)) return set_role_key(*q, key, v);
  if (section == "gemm") {
    MacConfig* m = key == "fprop"   ? &r.fprop
                   : key == "dgrad" ? &r.dgrad
                   : key == "wgrad" ? &r.wgrad
                                    : nullptr;
    if (!m) return false;
    *m = parse_mac(v.string());
    return true;
  }
  if (section == "master") {
    if (key == "format") {
      r.master = *format_value(v, false);
      return true;
    }
    return set_round_key(r.master_round, key, v);
  }
  return false;
}

bool is_section(std::string_view s) {
  return among(s, kRoleSections) || s == "gemm" || s == "master";
}

// ---- TOML text

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7F)
          out += fmt::format("\\u{:04X}", c);
        else
          out += ch;
    }
  }
  return out + "\"";
}

std::string round_lines(const RoundSpec& s) {
  return fmt::format("round = {}\ntininess = {}\nftz = {}\n", toml_string(to_string(s)),
                     toml_string(s.tininess == Tininess::before ? "before" : "after"),
                     s.ftz ? "true" : "false");
}

std::string where(const std::string& source_name, const toml::source_region& s) {
  return toml_where(source_name, s);
}

/// Runs `f`, giving a bad value's message its place and key.
void at(const std::string& place, std::string_view key, const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{}: {}: {}", place, key, e.what()));
  }
}

}  // namespace

// toml++ nests one table per part of a dotted key without a limit (a key of 100000 parts
// overflows the stack), so a line with more dots outside strings and comments than any
// recipe needs is refused before parsing.
void check_toml_key_depth(std::string_view text, const std::string& source_name) {
  constexpr std::size_t kMaxDots = 256;
  enum class In { code, comment, basic, literal, ml_basic, ml_literal } in = In::code;
  const auto triple = [&](std::size_t i, char q) {
    return i + 2 < text.size() && text[i] == q && text[i + 1] == q && text[i + 2] == q;
  };
  // the end of a multi-line string: three quotes, and up to two more that belong to it
  const auto close = [&](std::size_t& i, char q) {
    i += 2;
    for (int extra = 0; extra < 2 && i + 1 < text.size() && text[i + 1] == q; ++extra) ++i;
    in = In::code;
  };
  std::size_t line = 1, dots = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      dots = 0;
      if (in == In::comment || in == In::basic || in == In::literal) in = In::code;
      continue;
    }
    switch (in) {
      case In::code:
        if (c == '#') {
          in = In::comment;
        } else if (c == '"' || c == '\'') {
          const bool multi = triple(i, c);
          in = c == '"' ? (multi ? In::ml_basic : In::basic)
                        : (multi ? In::ml_literal : In::literal);
          if (multi) i += 2;
        } else if (c == '.' && ++dots > kMaxDots) {
          throw std::invalid_argument(
              fmt::format("{}:{}:1: more than {} dots outside strings in a line (a key nested "
                          "too deep for a recipe)",
                          source_name, line, kMaxDots));
        }
        break;
      case In::comment:
        break;
      case In::basic:
      case In::ml_basic:
        if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n')
          ++i;
        else if (in == In::basic && c == '"')
          in = In::code;
        else if (in == In::ml_basic && triple(i, '"'))
          close(i, '"');
        break;
      case In::literal:
        if (c == '\'') in = In::code;
        break;
      case In::ml_literal:
        if (triple(i, '\'')) close(i, '\'');
        break;
    }
  }
}

namespace {

Recipe from_toml_unchecked(std::string_view text, const std::string& source_name) {
  check_toml_key_depth(text, source_name);
  toml::table doc;
  try {
    doc = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument(
        fmt::format("{}: {}", where(source_name, e.source()), e.description()));
  }
  Recipe r;
  if (const toml::node* base = doc.get("base")) {
    at(where(source_name, base->source()), "base", [&] {
      const std::string name = Value(*base).string();
      const auto names = recipe_preset_names();
      if (std::find(names.begin(), names.end(), name) == names.end())
        throw ValueError(
            fmt::format("unknown recipe {} (allowed: {})", shown(name), fmt::join(names, ", ")));
      r = recipe_preset(name);
    });
  } else {
    r = recipe_preset("fp32");
    const std::string stem = std::filesystem::path(source_name).stem().string();
    r.name = !stem.empty() && utf8_valid(stem) ? stem : "custom";
    r.source.clear();
  }
  for (auto&& [key, node] : doc) {
    const std::string_view k = key.str();
    if (k == "base") continue;
    if (among(k, kTopKeys)) {
      at(where(source_name, node.source()), k, [&] { (void)set_key(r, "", k, Value(node)); });
      continue;
    }
    if (!is_section(k))
      throw std::invalid_argument(fmt::format("{}: unknown key {} (allowed: {})",
                                              where(source_name, key.source()), shown(k),
                                              section_keys("")));
    const toml::table* t = node.as_table();
    if (!t)
      throw std::invalid_argument(fmt::format("{}: {}: want a table ([{}]), not {}",
                                              where(source_name, node.source()), k, k,
                                              toml_type_words(node)));
    for (auto&& [key2, node2] : *t) {
      const std::string_view k2 = key2.str();
      bool known = false;
      at(where(source_name, node2.source()), fmt::format("{}.{}", k, k2),
         [&] { known = set_key(r, k, k2, Value(node2)); });
      if (!known)
        throw std::invalid_argument(fmt::format("{}: unknown key {} in [{}] (allowed: {})",
                                                where(source_name, key2.source()), shown(k2), k,
                                                section_keys(k)));
    }
  }
  return r;
}

std::string format_of(const RoleQuant& q) {
  return q.format ? q.format->name : std::string("fp32");
}

/// recipe_check() with the keys named and a hint; then recipe_check_values().
void check_all(const Recipe& r) {
  struct Gemm {
    GemmKind kind;
    const char *ra, *rb;
    const RoleQuant &qa, &qb;
  };
  const Gemm gemms[] = {{GemmKind::fprop, "activation", "weight", r.activation, r.weight},
                        {GemmKind::dgrad, "error", "weight", r.error, r.weight},
                        {GemmKind::wgrad, "error", "activation", r.error, r.activation}};
  for (const auto& g : gemms) {
    const MacConfig& m = r.mac(g.kind);
    const std::string fa = format_of(g.qa), fb = format_of(g.qb);
    if (same_encoding(m.a, role_format(g.qa)) && same_encoding(m.b, role_format(g.qb))) continue;
    const char* k = gemm_kind_name(g.kind);
    throw std::invalid_argument(
        fmt::format("recipe {}: the {} GEMM takes {} x {} but its inputs are quantized to {} x {} "
                    "({}.format x {}.format): set the formats and gemm.{} together (gemm.{} with "
                    "a={},b={}, or the formats to {} x {})",
                    shown(r.name), k, m.a.name, m.b.name, fa, fb, g.ra, g.rb, k, k, fa, fb,
                    m.a.name, m.b.name));
  }
  recipe_check(r);
  recipe_check_values(r);
}

std::string read_recipe_file(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    throw std::invalid_argument(
        fmt::format("recipe file {}: no such file (a recipe is a preset: {}, or a TOML file)",
                    shown(path), fmt::join(recipe_preset_names(), ", ")));
  if (std::filesystem::is_directory(st))
    throw std::invalid_argument(
        fmt::format("recipe file {} is a directory, not a file", shown(path)));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(fmt::format("recipe file {}: cannot read it", shown(path)));
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad())
    throw std::invalid_argument(fmt::format("recipe file {}: cannot read it", shown(path)));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes)
    throw std::invalid_argument(
        fmt::format("recipe file {} is larger than 1 MiB (not a recipe)", shown(path)));
  return text;
}

}  // namespace

std::string recipe_to_toml(const Recipe& r) {
  std::string s =
      "# fp8sim training recipe (fp8sim train --recipe FILE; the keys: fp8sim train --help)\n";
  s += fmt::format("name = {}\nsource = {}\nloss_scaler = {}\n", toml_string(r.name),
                   toml_string(r.source), toml_string(r.loss_scaler));
  std::string list;
  for (const auto& e : r.exempt) list += (list.empty() ? "" : ", ") + toml_string(e);
  s += fmt::format("exempt = [{}]\n", list);
  for (const auto section : kRoleSections) {
    const RoleQuant& q = role_of(r, section);
    s += fmt::format("\n[{}]\nformat = {}\n", section,
                     toml_string(q.format ? q.format->name : "none"));
    s += round_lines(q.round);
    s += fmt::format("scaling = {}\namax_history = {}\nmargin = {}\n",
                     toml_string(q.scaling == Scaling::delayed ? "delayed" : "none"),
                     q.amax_history, q.margin);
  }
  s +=
      fmt::format("\n[gemm]\nfprop = {}\ndgrad = {}\nwgrad = {}\n", toml_string(to_string(r.fprop)),
                  toml_string(to_string(r.dgrad)), toml_string(to_string(r.wgrad)));
  s += fmt::format("\n[master]\nformat = {}\n", toml_string(r.master.name));
  s += round_lines(r.master_round);
  return s;
}

Recipe recipe_from_toml(std::string_view text, const std::string& source_name) {
  Recipe r = from_toml_unchecked(text, source_name);
  try {
    check_all(r);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{}: {}", source_name, e.what()));
  }
  return r;
}

void recipe_set(Recipe& r, std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw std::invalid_argument(
        fmt::format("{}: want KEY=VALUE (e.g. weight.format=e4m3fn; keys: fp8sim train --help)",
                    shown(assignment)));
  const std::string_view key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const auto dot = key.find('.');
  const std::string_view section = dot == std::string_view::npos ? "" : key.substr(0, dot);
  const std::string_view leaf = dot == std::string_view::npos ? key : key.substr(dot + 1);
  if (dot != std::string_view::npos && !is_section(section))
    throw std::invalid_argument(
        fmt::format("unknown key {} (allowed: {}, {}, and the keys of {}, gemm, master)",
                    shown(key), joined(kTopKeys), joined(kRoleSections), joined(kRoleSections)));
  bool known = false;
  try {
    known = set_key(r, section, leaf, Value(value));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{}: {}", key, e.what()));
  }
  if (known) return;
  if (section.empty())
    throw std::invalid_argument(
        fmt::format("unknown key {} (allowed: {}, and SECTION.KEY with SECTION one of {}, "
                    "gemm, master)",
                    shown(key), joined(kTopKeys), joined(kRoleSections)));
  throw std::invalid_argument(fmt::format("unknown key {} (allowed in {}: {})", shown(key), section,
                                          section_keys(section)));
}

void recipe_check_values(const Recipe& r) {
  for (const auto section : kRoleSections) {
    const RoleQuant& q = role_of(r, section);
    if (q.scaling == Scaling::delayed && !q.format)
      throw std::invalid_argument(
          fmt::format("recipe {}: {}.scaling = delayed needs a format ({}.format is none)",
                      shown(r.name), section, section));
  }
}

bool recipe_names_file(const std::string& preset_or_file) {
  const auto names = recipe_preset_names();
  if (std::find(names.begin(), names.end(), preset_or_file) != names.end()) return false;
  std::error_code ec;
  return preset_or_file.ends_with(".toml") || preset_or_file.find('/') != std::string::npos ||
         std::filesystem::exists(preset_or_file, ec);
}

Recipe resolve_recipe(const std::string& preset_or_file, const std::vector<std::string>& sets) {
  Recipe r;
  const bool file = recipe_names_file(preset_or_file);
  if (file) {
    r = from_toml_unchecked(read_recipe_file(preset_or_file), preset_or_file);
  } else {
    const auto names = recipe_preset_names();
    if (std::find(names.begin(), names.end(), preset_or_file) == names.end())
      throw std::invalid_argument(
          fmt::format("unknown recipe {} (allowed: a preset {}, or a TOML file: FILE.toml)",
                      shown(preset_or_file), fmt::join(names, ", ")));
    r = recipe_preset(preset_or_file);
  }
  for (const auto& s : sets) {
    try {
      recipe_set(r, s);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("--set: {}", e.what()));
    }
  }
  try {
    check_all(r);
  } catch (const std::invalid_argument& e) {
    if (file && sets.empty())
      throw std::invalid_argument(fmt::format("{}: {}", preset_or_file, e.what()));
    throw;
  }
  return r;
}

}  // namespace fp8sim::workloads
