// sim/kernels/family.hpp — internal to the kernel files (each compiled once per ISA level,
// FP8SIM_ISA = v4 | v3 | v1): what the kernel families share inside one ISA build. The
// faster families cover the part of a tile they can and hand any lane they cannot finish
// exactly to generic_block, the exact binary64 path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sim/kernels/kernels.hpp"

#ifndef FP8SIM_ISA
#error "compile with -DFP8SIM_ISA=v4|v3|v1"
#endif

namespace fp8sim::detail::FP8SIM_ISA {

// Lanes (outputs) per vector of generic_block: 4 with AVX2, where GCC turns comparisons of
// 8-lane vectors of doubles into scalar code but keeps 4-lane ones in registers (10x
// faster measured); 8 with AVX-512, and in the baseline build (scalar code either way, 8
// lanes measured faster).
#if defined(__AVX2__) && !defined(__AVX512F__)
inline constexpr int L8 = 4;
#else
inline constexpr int L8 = 8;
#endif

/// Counts summed over a tile's outputs.
struct Totals {
  std::uint64_t inexact = 0, underflow = 0, overflow = 0, swamped = 0, carry = 0;
  std::uint64_t redone = 0;
};

/// Outputs (i, j .. j+lanes) of the general emulated path (any structure the kernel
/// takes, every rounding mode, special cases included), lanes <= L8.
void generic_block(const EmuParams& p, const double* A, const double* B, const double* C0,
                   std::size_t i, std::size_t j, std::size_t lanes, const TileOut& out,
                   Totals& tot);

/// The part [i0, in) x [j0, jn) of the tile [i0, i1) x [j0, j1) that the binary32 kernel
/// for narrow accumulators (AVX2 and up) covers.
void narrow_tile(const EmuParams& p, const double* A, const double* B, const double* C0,
                 std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1, const TileOut& out,
                 Totals& tot, std::size_t& in, std::size_t& jn);

/// The same for the multiterm kernel into binary32 (AVX-512).
void multiterm_tile(const EmuParams& p, const double* A, const double* B, const double* C0,
                    std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1,
                    const TileOut& out, Totals& tot, std::size_t& in, std::size_t& jn);

/// The end of a binary32 kernel's row of n outputs from (ii, jj): all n handed to
/// generic_block (L8 at a time) if any lane must be recomputed, else the values and (with
/// flags) an inexact flag for each lane that counted inexact steps.
template <bool kFlags>
void finish_row(const EmuParams& p, const double* A, const double* B, const double* C0,
                std::size_t ii, std::size_t jj, std::size_t n, bool redo, const float* val,
                const std::uint32_t* cnt, const TileOut& out, Totals& tot) {
  if (redo) {
    tot.redone += n;
    for (std::size_t l = 0; l < n; l += L8) generic_block(p, A, B, C0, ii, jj + l, L8, out, tot);
    return;
  }
  for (std::size_t l = 0; l < n; ++l) {
    const std::size_t o = ii * p.N + jj + l;
    out.value[o] = val[l];
    if constexpr (kFlags) {
      if (out.flags) out.flags[o] = cnt[l] ? Flags{kInexact} : Flags{0};
      tot.inexact += cnt[l];
    }
  }
}

}  // namespace fp8sim::detail::FP8SIM_ISA
