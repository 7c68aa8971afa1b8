// tests/workloads/temp_dir.hpp — a fresh folder under the system's temporary folder,
// removed with everything in it (tests that write files).
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace fp8sim::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "fp8sim-test-") {
    std::random_device rd;
    const auto tag = (std::uint64_t{rd()} << 32) | rd();
    path_ = std::filesystem::temp_directory_path() / (prefix + std::to_string(tag));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace fp8sim::testing
