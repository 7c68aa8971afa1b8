// workloads/nn/toml_words.hpp — internal: how the TOML readers (recipes, sweep experiments)
// name a value's type and its place in their messages.
#pragma once

#include <string>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace fp8sim::workloads {

/// "a string", "an integer", "a floating-point number", ... for a message.
inline const char* toml_type_words(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

/// "FILE:LINE:COLUMN" of a region.
inline std::string toml_where(const std::string& file, const toml::source_region& s) {
  return fmt::format("{}:{}:{}", file, s.begin.line, s.begin.column);
}

}  // namespace fp8sim::workloads
