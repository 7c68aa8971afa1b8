// cli/resources.hpp — memory is bounded before it is allocated (docs/cli-conventions.md):
// every command estimates what its inputs need and refuses, naming the bytes needed and
// available, instead of ending in std::bad_alloc or the kernel's OOM killer.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace fp8sim::cli {

/// Bytes this process may still allocate: the lowest of MemAvailable (/proc/meminfo),
/// the cgroup's memory.max minus its use, and RLIMIT_AS / RLIMIT_DATA.
[[nodiscard]] std::uint64_t available_memory();

/// a*b and sums of such terms, saturating at 2^64-1 instead of wrapping.
[[nodiscard]] std::uint64_t mul_sat(std::uint64_t a, std::uint64_t b);
[[nodiscard]] std::uint64_t mul_sat(std::initializer_list<std::uint64_t> factors);
[[nodiscard]] std::uint64_t add_sat(std::uint64_t a, std::uint64_t b);

/// "1.5 GiB", "312 bytes"; "more than 16 EiB" at saturation.
[[nodiscard]] std::string bytes_text(std::uint64_t bytes);

/// Refuses (UsageError) when `bytes` exceed what is available: "WHAT needs 7.5 TiB of
/// memory; 20.1 GiB is available".
void require_memory(std::uint64_t bytes, std::string_view what);

}  // namespace fp8sim::cli
