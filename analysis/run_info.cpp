// analysis/run_info.cpp
#include "analysis/run_info.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#ifndef FP8SIM_VERSION
#error "build with -DFP8SIM_VERSION=\"x.y.z\" (meson does)"
#endif

namespace fp8sim::analysis {

namespace detail {
extern const char* const kGitCommit;
}

RunInfo current_run(std::string kind, std::string command_line, std::string config_toml) {
  RunInfo r;
  r.kind = std::move(kind);
  r.command_line = std::move(command_line);
  r.config_toml = std::move(config_toml);
  r.version = FP8SIM_VERSION;
  r.git_commit = detail::kGitCommit;
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  r.start_time = buf;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  r.host = host[0] ? host : "unknown";
  return r;
}

std::string join_command_line(int argc, const char* const* argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    if (i) s += ' ';
    s += a;
  }
  return s;
}

}  // namespace fp8sim::analysis
