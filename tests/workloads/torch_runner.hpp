// tests/workloads/torch_runner.hpp — what the PyTorch reference tests share: raw float32
// files exchanged with a script, and running that script so that a missing torch or a
// failing script fails the test (never passes silently).
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/wait.h>

#include <array>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fp8sim::testing {

// The files are raw little-endian float32 (as numpy's "<f4").
static_assert(std::endian::native == std::endian::little);

inline void write_bytes(const std::filesystem::path& file, const void* data, std::size_t bytes) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  REQUIRE_MESSAGE(out.good(), "cannot write ", file.string());
}

/// n float32 values the script wrote (exactly n: a short or long file fails the test).
inline std::vector<float> read_f32(const std::filesystem::path& file, std::size_t n) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  REQUIRE_MESSAGE(in.good(), "the reference did not write ", file.string());
  const auto bytes = static_cast<std::size_t>(in.tellg());
  REQUIRE_MESSAGE(bytes == n * sizeof(float), file.string(), ": ", bytes, " bytes, want ",
                  n * sizeof(float));
  std::vector<float> v(n);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  REQUIRE(in.good());
  return v;
}

/// Runs `/usr/bin/python3 script dir`; fails the test when python, torch or the script does
/// not work, or when its output lacks `ok_marker`. Returns its first line.
inline std::string run_torch_script(const std::filesystem::path& script,
                                    const std::filesystem::path& dir,
                                    const std::string& ok_marker) {
  const std::string cmd =
      fmt::format("/usr/bin/python3 '{}' '{}' 2>&1", script.string(), dir.string());
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, "cannot start ", cmd);
  std::string text;
  std::array<char, 4096> buf{};
  std::size_t got = 0;
  while ((got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), got);
  const int status = ::pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 3 || text.find("FP8SIM_NO_TORCH") != std::string::npos)
    FAIL(
        "torch is not importable by /usr/bin/python3: install Debian's python3-torch (and "
        "python3-numpy; scripts/setup.sh installs both). This test needs it and does not pass "
        "without it. The script said: "
        << text);
  if (code == 127) FAIL("cannot run /usr/bin/python3 (" << cmd << "): " << text);
  REQUIRE_MESSAGE(code == 0, "the torch reference failed (exit ", code, "): ", cmd, "\n", text);
  REQUIRE_MESSAGE(text.find(ok_marker) != std::string::npos,
                  "the torch reference did not say ok: ", text);
  return text.substr(0, text.find('\n'));
}

}  // namespace fp8sim::testing
