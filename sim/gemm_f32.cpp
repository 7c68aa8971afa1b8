// sim/gemm_f32.cpp — the fused GEMM path for training: binary32 arrays in (quantized on the
// way in, or checked to hold values of the input formats), the engine's kernels run on them
// directly (the binary32 FMA kernel reads them in place), binary32 values out.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "sim/gemm.hpp"
#include "sim/gemm_choice.hpp"
#include "sim/gemm_operand.hpp"

namespace fp8sim {

namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

// The first element of v that is not a value of f (kNone if all are), and in the same pass
// the engine's scan of the values (magnitudes below flush_below counted as zero). Formats
// inside binary32's exponent range with <= 23 fraction bits are checked on the bits (the
// common case: e5m2, e4m3, fp16, bf16, fp32); others through binary64 arithmetic.
std::size_t first_not_in(const Format& f, std::span<const float> v, int threads, double flush_below,
                         detail::OperandScan& scan) {
  const int mb = f.man_bits, emin = f.emin();
  const double maxf = to_double(f, f.max_finite_code());
  const bool neg_ok = f.is_signed, negzero_ok = f.has_negative_zero();
  const bool inf_ok = f.has_inf(), nan_ok = f.has_nan();
  const auto special_ok = [&](float x) {
    if (std::isnan(x)) return nan_ok;
    return inf_ok && (neg_ok || x > 0);
  };
  std::size_t first = kNone;
  if (emin >= -126 && mb <= 23) {
    detail::ValueCheck c;
    c.man_bits = mb;
    c.emin = emin;
    c.max_mag = std::bit_cast<std::uint32_t>(static_cast<float>(maxf));  // exact: f fits binary32
    c.neg_ok = neg_ok;
    c.negzero_ok = negzero_ok;
    c.subnormals = f.subnormals;
    c.tiny = static_cast<float>(flush_below);
    const detail::ValueScanPartSum r = detail::check_values(c, v, threads);
    const std::size_t wrong = r.wrong;
    const bool bad = r.scan.nonfinite;
    const std::uint32_t max_mag = c.max_mag;
    if (wrong != 0 || bad) {  // rare: find the first offending element
      for (std::size_t x = 0; x < v.size() && first == kNone; ++x) {
        const std::uint32_t bits = std::bit_cast<std::uint32_t>(v[x]);
        const std::uint32_t mag = bits & 0x7fffffffu;
        if (mag >= 0x7f800000u) {
          if (!special_ok(v[x])) first = x;
          continue;
        }
        const bool neg = (bits >> 31) != 0;
        const int E = static_cast<int>(mag >> 23);
        const int e = E == 0 ? -126 : E - 127;
        const int below = emin > e ? emin - e : 0;
        const int shift = 23 - mb + below;
        const bool ok = mag == 0 ? (!neg || negzero_ok)
                                 : shift <= 23 && (mag & ((std::uint32_t{1} << shift) - 1)) == 0 &&
                                       mag <= max_mag && (below == 0 || f.subnormals) &&
                                       (!neg || neg_ok);
        if (!ok) first = x;
      }
    }
    scan = r.scan;
    return first;
  }
  scan = detail::scan_values(v, flush_below, threads);
  for (std::size_t x = 0; x < v.size(); ++x) {
    const double a = std::abs(static_cast<double>(v[x]));
    const bool neg = std::signbit(v[x]);
    bool ok;
    if (!std::isfinite(v[x])) {
      ok = special_ok(v[x]);
    } else if (a == 0) {
      ok = !neg || negzero_ok;
    } else {
      const int e = std::max(std::ilogb(a), emin);
      const double q = std::ldexp(a, mb - e);
      ok = q == std::trunc(q) && a <= maxf && (f.subnormals || a >= std::ldexp(1.0, emin)) &&
           (!neg || neg_ok);
    }
    if (!ok) return x;
  }
  return kNone;
}

// The binary32 values of an input: quantized into `buf`, or the caller's, checked unless the
// caller vouches for them (when checked, *scanned holds their scan; else it is left alone).
std::span<const float> prepare(const Format& f, std::span<const float> in, const GemmInputQuant* q,
                               std::vector<float>& buf, int threads, const char* name,
                               double flush_below, bool check,
                               std::optional<detail::OperandScan>& scanned) {
  if (q) {
    buf.resize(in.size());
    QuantizeOptions o = q->options;
    o.threads = threads;
    const QuantizeCounters c = quantize_values<float>(f, in, o, buf);
    if (q->counters) *q->counters = c;
    return buf;
  }
  if (check && !detail::is_plain_ieee_binary32(f)) {
    detail::OperandScan s;
    const std::size_t bad = first_not_in(f, in, threads, flush_below, s);
    scanned = s;
    if (bad != kNone)
      throw std::invalid_argument(
          fmt::format("gemm_f32: {}[{}] = {} is not a value of {} (quantize it first, or pass "
                      "a GemmInputQuant)",
                      name, bad, in[bad], f.name));
  }
  return in;
}

}  // namespace

GemmF32Result gemm_f32(const MacConfig& m, std::size_t M, std::size_t N, std::size_t K,
                       std::span<const float> A, const GemmInputQuant* quant_a,
                       std::span<const float> B, const GemmInputQuant* quant_b, std::span<float> C,
                       const GemmOptions& opt) {
  validate(m);
  const Format& rf = result_format(m);
  if (rf.man_bits > 23 || rf.emax() > 127 || rf.emin() < -126)
    throw std::invalid_argument(fmt::format(
        "gemm_f32: the result format {} does not fit binary32 (use gemm() for its codes)",
        rf.name));
  if (A.size() != M * K || B.size() != K * N || C.size() != M * N)
    throw std::invalid_argument(
        fmt::format("gemm_f32: A, B, C have {}, {}, {} values; M x N x K = {} x {} x {} needs "
                    "{}, {}, {}",
                    A.size(), B.size(), C.size(), M, N, K, M * K, K * N, M * N));
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  std::vector<float> abuf, bbuf;
  std::optional<detail::OperandScan> scan_a, scan_b;
  const auto flush = [&](const Format& f) {
    return m.ftz_inputs ? std::ldexp(1.0, f.emin()) : 0.0;
  };
  const auto Av =
      prepare(m.a, A, quant_a, abuf, threads, "A", flush(m.a), opt.check_inputs, scan_a);
  const auto Bv =
      prepare(m.b, B, quant_b, bbuf, threads, "B", flush(m.b), opt.check_inputs, scan_b);
  detail::GemmOperand oa = detail::GemmOperand::of_values(m.a, Av, "A");
  detail::GemmOperand ob = detail::GemmOperand::of_values(m.b, Bv, "B");
  if (scan_a) oa.scan = &*scan_a;
  if (scan_b) ob.scan = &*scan_b;
  bool wrote = false;
  GemmResult r = detail::gemm_operands(m, M, N, K, oa, ob, {}, opt, C.data(), &wrote);
  if (wrote) {
    // the values are in C already
  } else if (detail::is_plain_ieee_binary32(rf)) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t o = 0; o < M * N; ++o)
      C[o] = std::bit_cast<float>(static_cast<std::uint32_t>(r.codes[o]));
  } else if (rf.width() <= 16 && M * N > (std::size_t{1} << rf.width())) {
    std::vector<float> table(std::size_t{1} << rf.width());
    for (std::uint64_t c = 0; c < table.size(); ++c)
      table[c] = static_cast<float>(to_double(rf, c));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t o = 0; o < M * N; ++o) C[o] = table[r.codes[o]];
  } else {
    for (std::size_t o = 0; o < M * N; ++o) C[o] = static_cast<float>(to_double(rf, r.codes[o]));
  }
  GemmF32Result out;
  out.flags = std::move(r.flags);
  out.counts = r.counts;
  out.kernel = std::move(r.kernel);
  out.slow_outputs = r.slow_outputs;
  return out;
}

}  // namespace fp8sim
