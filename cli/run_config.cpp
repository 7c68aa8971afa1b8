// cli/run_config.cpp
#include "cli/run_config.hpp"

#include <sstream>

#include <toml++/toml.h>

namespace fp8sim::cli {

std::string to_toml(const std::string& command,
                    const std::vector<std::pair<std::string, ConfigValue>>& opts) {
  toml::table t;
  for (const auto& [k, v] : opts)
    std::visit([&, &key = k](const auto& x) { t.insert_or_assign(key, x); }, v);
  toml::table root;
  root.insert_or_assign(command, std::move(t));
  std::ostringstream os;
  os << root << '\n';
  return os.str();
}

namespace {
std::string& stored_command_line() {
  static std::string s;
  return s;
}
}  // namespace

void set_command_line(std::string line) {
  stored_command_line() = std::move(line);
}
const std::string& command_line() {
  return stored_command_line();
}

}  // namespace fp8sim::cli
