// cli/resources.cpp — memory estimates (see resources.hpp).
#include "cli/resources.hpp"

#include <sys/resource.h>

#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "cli/options.hpp"

namespace fp8sim::cli {

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::uint64_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return mul_sat(kb, 1024);
  return kMax;
}

std::uint64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s == "max") return kMax;
  try {
    return std::stoull(s);
  } catch (...) {
    return kMax;
  }
}

std::uint64_t cgroup_available() {
  const std::uint64_t limit = read_number("/sys/fs/cgroup/memory.max");
  if (limit == kMax) return kMax;
  const std::uint64_t used = read_number("/sys/fs/cgroup/memory.current");
  return used == kMax || used >= limit ? 0 : limit - used;
}

std::uint64_t rlimit_available(int which) {
  rlimit r{};
  if (getrlimit(which, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return kMax;
  return r.rlim_cur;
}

}  // namespace

std::uint64_t mul_sat(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > kMax / a) return kMax;
  return a * b;
}
std::uint64_t mul_sat(std::initializer_list<std::uint64_t> factors) {
  std::uint64_t p = 1;
  for (auto f : factors) p = mul_sat(p, f);
  return p;
}
std::uint64_t add_sat(std::uint64_t a, std::uint64_t b) {
  return b > kMax - a ? kMax : a + b;
}

std::uint64_t available_memory() {
  std::uint64_t v = meminfo_available();
  v = std::min(v, cgroup_available());
  v = std::min(v, rlimit_available(RLIMIT_AS));
  v = std::min(v, rlimit_available(RLIMIT_DATA));
  return v;
}

std::string bytes_text(std::uint64_t bytes) {
  if (bytes == kMax) return "more than 16 EiB";
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

void require_memory(std::uint64_t bytes, std::string_view what) {
  const std::uint64_t avail = available_memory();
  if (bytes > avail)
    throw UsageError(fmt::format("{} needs {} of memory; {} is available", what, bytes_text(bytes),
                                 bytes_text(avail)));
}

}  // namespace fp8sim::cli
