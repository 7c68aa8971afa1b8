// tests/conformance/conformance_dir.hpp — where the conformance vectors are.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

namespace fp8sim::testing {

// $FP8SIM_CONFORMANCE_DIR (set by meson), else ../shared/conformance relative to the source
// root. __FILE__ is this source file, relative to the build root when meson compiles it, so
// it is resolved against the build root (two levels above this executable, which lives in
// <build>/tests/) and against the working directory.
inline std::filesystem::path conformance_dir() {
  if (const char* env = std::getenv("FP8SIM_CONFORMANCE_DIR"); env != nullptr && *env != 0)
    return env;
  const std::filesystem::path src =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  std::vector<std::filesystem::path> roots;
  if (src.is_absolute()) {
    roots.push_back(src);
  } else {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) roots.push_back(exe.parent_path().parent_path() / src);
    roots.push_back(std::filesystem::current_path() / src);
  }
  for (const auto& root : roots)
    if (std::filesystem::is_directory(root / ".." / "shared" / "conformance"))
      return (root / ".." / "shared" / "conformance").lexically_normal();
  return (roots.front() / ".." / "shared" / "conformance").lexically_normal();
}

}  // namespace fp8sim::testing
