// sim/kernels/kernels.hpp — internal: the GEMM kernels, one file per family, each compiled
// once per x86-64 ISA level (-march=x86-64-v4 / -v3 / baseline) and chosen at run time:
//   fp32_fma.cpp        "fp32-fma"        the native binary32 FMA chain (fp32_tile: true when
//                                         every output of the tile is finite; B read from
//                                         fp32_pack_b's panels when given, packed per tile
//                                         otherwise: panel p, row k, lane l at
//                                         ((p * K + k) * fp32_pack_width() + l), zero-padded;
//                                         A likewise from fp32_pack_a's row blocks of
//                                         R = fp32_pack_rows(flags): block b, row k, row r at
//                                         ((b * K + k) * R + r), zero rows past M)
//   emulated.cpp        "emulated", "multiterm"  any accumulator on binary64 bits; the exact
//                                         path (generic_block) the others hand lanes back to
//   narrow_fp32.cpp     "emulated-fp32"   narrow accumulators on binary32 (AVX2, AVX-512)
//   multiterm_fp32.cpp  "multiterm-fp32"  multiterm into a binary32-grid accumulator (AVX-512)
// Which family runs is decided in one place, sim/gemm_choice.cpp (plan_kernel), from the
// MacConfig; emulated_tile runs the families the plan switched on over a tile. Values travel as
// binary64 (every input, product and accumulator value is exactly a double: sim/gemm.cpp checks the
// configuration before choosing a kernel).
#pragma once

#include <cstddef>
#include <cstdint>

#include "rounding/flags.hpp"
#include "rounding/random_bits.hpp"
#include "sim/mac.hpp"

namespace fp8sim::detail {

/// A target format and its rounding, in the form the vector rounding routine needs.
struct RoundTarget {
  int m = 0, emin = 0, emax = 0, bias = 0;
  bool subn = true, neg_zero = true;
  double max_finite = 0;
  int mode = 0;  // RoundingMode
  int sr_bits = 8;
  bool ftz = false, tiny_before = false;
  double ovf_val[2] = {0, 0};  // result of an overflow, by sign (Inf, max or NaN)
  bool ovf_nan[2] = {false, false};
};

/// The binary32 kernel for narrow accumulators (AVX-512 builds; gemm.cpp decides when it
/// is exact): how the accumulator (and the chunked outer accumulator) is rounded.
enum NarrowKind : int {
  kNarrowOff = 0,
  kNarrowF16 = 1,  ///< IEEE fp16, rne: vcvtps2ph
  kNarrowRne = 2,  ///< <= 21 fraction bits, rne: integer rounding of binary32 bits
  kNarrowSr = 3,   ///< ... stochastic with r bits, m + r <= 22 (accumulator only)
  kNarrowF32 = 4,  ///< binary32 rne: the FPU (outer accumulator only)
};

struct EmuParams {
  RoundTarget acc, outer, prod;
  bool has_prod = false;
  bool acc_fast = false;  // acc rounding is rne or sr with man_bits >= 1 (FPU fast path)
  std::size_t chunk = 0;  // 0: no chunking
  bool multiterm = false;
  int terms = 4, align = 24, carry = 2;
  bool flags = true;
  std::uint64_t seed = 0, output_offset = 0;
  std::size_t M = 0, N = 0, K = 0;
  int narrow = kNarrowOff, narrow_outer = kNarrowOff;
  /// false: no step of the narrow kernel (rne, sr) can leave the accumulator's normal range
  /// in a way its bits do not encode (gemm.cpp proves it per call), so it skips the checks
  bool narrow_track = true;
  /// rne accumulators without flags: each step's sum rounded to nearest binary32 instead of
  /// to odd (gemm_choice.cpp proves the double rounding innocuous for these formats)
  bool narrow_plain = false;
  /// multiterm of 4 or 8 terms into binary32 (rne, rtz, rup), chunks summed in binary32
  /// rne: the AVX-512 multiterm kernel (gemm.cpp checks the conditions).
  bool multiterm_fp32 = false;
  const float *Af = nullptr, *Bf = nullptr, *Cf = nullptr;  // the inputs as binary32 (narrow)
  /// multiterm align=field (products unrounded): each input's exponent field as a power of
  /// two (2^e, e its leading bit's exponent, emin when subnormal; 0 for a zero), so that
  /// Fa[i*K+k] * Fb[k*N+j] is 2^(ea+eb), the alignment reference of the product (0 when it
  /// is zero). Fa32/Fb32: the same as binary32 (the int32 multiterm kernel).
  bool field = false;
  const double *Fa = nullptr, *Fb = nullptr;
  const float *Fa32 = nullptr, *Fb32 = nullptr;
  /// multiterm interleave=W: a chunk's (or the whole K's) products dealt to its groups in
  /// runs of W; the span is at most 64 products (gemm.cpp checks).
  int interleave = 0;
  /// multiterm-fp32 accumulators of m < 23 fraction bits on binary32's grid (rtz only):
  /// the binary32 bits a group's result keeps (the rest cleared); ~0 for binary32.
  std::uint32_t acc_keep = 0xffffffffu;
};

/// Per-output results of a tile: value (binary64, exactly the accumulator/outer value),
/// flags and counts.
struct TileOut {
  double* value;  // M*N
  Flags* flags;   // M*N or null
  MacCounts* counts;
  std::uint64_t* redone = nullptr;  // += outputs recomputed by the general path
};

/// What check_part tests of binary32 values: the input format's fraction bits, emin, the
/// magnitude bits of its max finite value as binary32, and what it allows (the format must
/// fit binary32: emin >= -126, man_bits <= 23); magnitudes below tiny scan as zero.
struct ValueCheck {
  int man_bits = 23, emin = -126;
  std::uint32_t max_mag = 0x7f7fffffu;
  bool neg_ok = true, negzero_ok = true, subnormals = true;
  float tiny = 0;
};
/// A part of the scan of binary32 values (value_check.cpp): largest and smallest non-zero
/// magnitude (lo = Inf if none), whether any is NaN/Inf, and how many finite ones are not
/// values of the format (check_part only).
struct ValueScanPart {
  float hi, lo;
  int nonfinite;
  std::size_t wrong;
};

#define FP8SIM_DECLARE_GEMM_KERNELS(ISA)                                                          \
  namespace ISA {                                                                                 \
  bool fp32_tile(const float* A, const float* apacked, const float* B, const float* bpacked,      \
                 const float* C0, std::size_t K, std::size_t N, std::size_t i0, std::size_t i1,   \
                 std::size_t j0, std::size_t j1, float* out, std::uint32_t* inexact_steps);       \
  std::size_t fp32_pack_rows(bool flags);                                                         \
  void fp32_pack_a(const float* A, std::size_t M, std::size_t K, std::size_t R, std::size_t b_lo, \
                   std::size_t b_hi, float* packed);                                              \
  std::size_t fp32_pack_width();                                                                  \
  void fp32_pack_b(const float* B, std::size_t K, std::size_t N, std::size_t k_lo,                \
                   std::size_t k_hi, float* packed);                                              \
  void emulated_tile(const EmuParams& p, const double* A, const double* B, const double* C0,      \
                     std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1,              \
                     const TileOut& out);                                                         \
  ValueScanPart scan_part(const float* v, std::size_t n, float tiny);                             \
  ValueScanPart check_part(const ValueCheck& c, const float* v, std::size_t n);                   \
  }
FP8SIM_DECLARE_GEMM_KERNELS(v4)
FP8SIM_DECLARE_GEMM_KERNELS(v3)
FP8SIM_DECLARE_GEMM_KERNELS(v1)
#undef FP8SIM_DECLARE_GEMM_KERNELS

}  // namespace fp8sim::detail
