// tests/conformance/conformance_dir.hpp — where the conformance vectors are.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace fp8sim::testing {

// $FP8SIM_CONFORMANCE_DIR when set (meson test sets it), else the folder meson chose when it
// compiled the tests (FP8SIM_DEFAULT_CONFORMANCE_DIR, set in tests/meson.build): the copy
// unpacked from tests/data/conformance/*.tar.xz into <build>/tests/data/conformance, or the
// folder given by -Dconformance_dir=DIR. So a test executable run by hand reads the same
// vectors as `meson test`.
inline std::filesystem::path conformance_dir() {
  if (const char* env = std::getenv("FP8SIM_CONFORMANCE_DIR"); env != nullptr && *env != 0)
    return env;
#ifdef FP8SIM_DEFAULT_CONFORMANCE_DIR
  return FP8SIM_DEFAULT_CONFORMANCE_DIR;
#else
  return "conformance";
#endif
}

// What to do when a vector folder or file is missing (appended to the failure message).
inline std::string conformance_hint() {
  return " (meson test reads the vectors unpacked from tests/data/conformance/*.tar.xz into"
         " <build>/tests/data/conformance: build the tests, e.g. ninja -C <build>, to unpack"
         " them; to read another folder: meson configure <build> -Dconformance_dir=DIR; a test"
         " executable run by hand also honours $FP8SIM_CONFORMANCE_DIR)";
}

}  // namespace fp8sim::testing
