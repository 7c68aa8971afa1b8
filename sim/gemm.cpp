// sim/gemm.cpp — the GEMM engine: picks a kernel for the MacConfig, packs the inputs once,
// splits the outputs over threads by tiles (each output's reduction order never changes)
// and finishes each output (code, output conversion, flags).
#include "sim/gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "rounding/isa_level.hpp"
#include "rounding/quantize.hpp"
#include "rounding/round_pack.hpp"
#include "sim/gemm_choice.hpp"
#include "sim/gemm_operand.hpp"
#include "sim/kernels/kernels.hpp"

namespace fp8sim {

namespace {

using detail::is_plain_ieee_binary32;
using detail::Kernel;
using detail::min_exp;

bool run_fp32_tile(const float* A, const float* apacked, const float* B, const float* bpacked,
                   const float* C0, std::size_t K, std::size_t N, std::size_t i0, std::size_t i1,
                   std::size_t j0, std::size_t j1, float* out, std::uint32_t* inexact) {
  switch (simd_isa_level()) {
    case 4:
      return detail::v4::fp32_tile(A, apacked, B, bpacked, C0, K, N, i0, i1, j0, j1, out, inexact);
    case 3:
      return detail::v3::fp32_tile(A, apacked, B, bpacked, C0, K, N, i0, i1, j0, j1, out, inexact);
    default:
      return detail::v1::fp32_tile(A, apacked, B, bpacked, C0, K, N, i0, i1, j0, j1, out, inexact);
  }
}

// A in the FMA kernel's row blocks (one pass, threaded over blocks): when several columns of
// tiles read it and the tiles' rows start on a block (tm a multiple of the block), so that no
// tile packs it again; null otherwise (the tiles pack their rows themselves).
std::unique_ptr<float[]> pack_fp32_a(const float* A, std::size_t M, std::size_t K, std::size_t tm,
                                     bool flags, int threads) {
  const int isa = simd_isa_level();
  const std::size_t R = isa >= 4   ? detail::v4::fp32_pack_rows(flags)
                        : isa == 3 ? detail::v3::fp32_pack_rows(flags)
                                   : detail::v1::fp32_pack_rows(flags);
  if (tm % R != 0) return {};
  const std::size_t blocks = (M + R - 1) / R;
  // (not cleared: every element is written, the zero rows included)
  std::unique_ptr<float[]> packed(new float[blocks * R * K]);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t b = 0; b < blocks; ++b) {
    if (isa >= 4) {
      detail::v4::fp32_pack_a(A, M, K, R, b, b + 1, packed.get());
    } else if (isa == 3) {
      detail::v3::fp32_pack_a(A, M, K, R, b, b + 1, packed.get());
    } else {
      detail::v1::fp32_pack_a(A, M, K, R, b, b + 1, packed.get());
    }
  }
  return packed;
}

std::size_t fp32_panel_width() {
  const int isa = simd_isa_level();
  return isa >= 4   ? detail::v4::fp32_pack_width()
         : isa == 3 ? detail::v3::fp32_pack_width()
                    : detail::v1::fp32_pack_width();
}

// B in the FMA kernel's panels (one pass, threaded over k): when several rows of tiles read
// it, so that no tile packs it again through strided loads.
std::unique_ptr<float[]> pack_fp32_b(const float* B, std::size_t K, std::size_t N, int threads) {
  const int isa = simd_isa_level();
  const std::size_t pw = fp32_panel_width();
  // (not cleared: every element is written, padding included)
  std::unique_ptr<float[]> packed(new float[((N + pw - 1) / pw) * K * pw]);
  constexpr std::size_t kRows = 64;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t k0 = 0; k0 < K; k0 += kRows) {
    const std::size_t k1 = std::min(K, k0 + kRows);
    if (isa >= 4) {
      detail::v4::fp32_pack_b(B, K, N, k0, k1, packed.get());
    } else if (isa == 3) {
      detail::v3::fp32_pack_b(B, K, N, k0, k1, packed.get());
    } else {
      detail::v1::fp32_pack_b(B, K, N, k0, k1, packed.get());
    }
  }
  return packed;
}

void run_emulated_tile(const detail::EmuParams& p, const double* A, const double* B,
                       const double* C0, std::size_t i0, std::size_t i1, std::size_t j0,
                       std::size_t j1, const detail::TileOut& out) {
  switch (simd_isa_level()) {
    case 4:
      return detail::v4::emulated_tile(p, A, B, C0, i0, i1, j0, j1, out);
    case 3:
      return detail::v3::emulated_tile(p, A, B, C0, i0, i1, j0, j1, out);
    default:
      return detail::v1::emulated_tile(p, A, B, C0, i0, i1, j0, j1, out);
  }
}

// Whether the binary32 kernel's rne and sr steps can skip their range checks (a non-zero
// value below the accumulator's normal range, one above its max finite): when neither can
// happen, or the bits already encode what happens. That holds for an accumulator with
// binary32's exponent range and IEEE overflow (bf16): its rounded bits are the format's
// encoding up to and including an overflow to Inf, which then stays Inf; when every
// product and C value is a multiple of 2^emin (sums and their roundings stay multiples of
// it, so no non-zero value falls below 2^emin); when |s + a*b| < 2^128 at every step
// (binary32 never saturates: |s| <= max finite, |C| too); and when the inputs are finite.
bool narrow_untracked(const MacConfig& m, const std::vector<double>& A,
                      const std::vector<double>& B, const std::vector<double>& C, int threads) {
  const Format& f = m.acc;
  if (f.emin() != -126 || f.emax() != 127 || f.overflow != Overflow::ieee ||
      f.specials != Specials::ieee || min_exp(m.a) + min_exp(m.b) < f.emin())
    return false;
  const double max_acc = to_double(f, f.max_finite_code());
  const double max_prod =
      to_double(m.a, m.a.max_finite_code()) * to_double(m.b, m.b.max_finite_code());
  if (!(max_acc + max_prod < 0x1p128)) return false;
  std::size_t bad = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : bad)
  for (std::size_t x = 0; x < A.size(); ++x) bad += !std::isfinite(A[x]);
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : bad)
  for (std::size_t x = 0; x < B.size(); ++x) bad += !std::isfinite(B[x]);
  for (const double x : C) {
    const double scaled = std::ldexp(x, -f.emin());  // an integer: a multiple of 2^emin
    bad += !(std::fabs(x) <= max_acc) || scaled != std::trunc(scaled);
  }
  return bad == 0;
}

detail::RoundTarget target(const Format& f, const RoundSpec& r) {
  detail::RoundTarget t;
  t.m = f.man_bits;
  t.emin = f.emin();
  t.emax = f.emax();
  t.bias = f.bias;
  t.subn = f.subnormals;
  t.neg_zero = f.has_negative_zero();
  t.max_finite = to_double(f, f.max_finite_code());
  t.mode = static_cast<int>(r.mode);
  t.sr_bits = r.sr_bits;
  t.ftz = r.ftz;
  t.tiny_before = r.tininess == Tininess::before;
  for (int s = 0; s < 2; ++s) {
    const Rounded o = round_pack(f, Unrounded{s != 0, f.emax() + 4, 1, false}, r, 0);
    t.ovf_val[s] = to_double(f, o.code);
    t.ovf_nan[s] = classify(f, o.code) == Class::nan;
  }
  return t;
}

// Values of many codes of one format: a lookup table for formats of <= 16 bits.
class Decoder {
 public:
  Decoder(const Format& f, std::size_t uses, bool ftz)
      : f_(f), ftz_(ftz), binary32_(is_plain_ieee_binary32(f) && !ftz) {
    if (!binary32_ && f.width() <= 16 && uses > (std::size_t{1} << f.width())) {
      table_.resize(std::size_t{1} << f.width());
      for (std::uint64_t c = 0; c < table_.size(); ++c) table_[c] = slow(c);
    }
  }
  double operator()(std::uint64_t code) const {
    if (binary32_) return std::bit_cast<float>(static_cast<std::uint32_t>(code));  // NaN too
    return table_.empty() ? slow(code) : table_[code];
  }
  /// The values of every code as binary32 (empty unless the format has a table).
  [[nodiscard]] std::vector<float> float_table() const {
    return std::vector<float>(table_.begin(), table_.end());
  }

  /// Largest and smallest non-zero magnitude among `codes` (amin = Inf when all are zero),
  /// and whether any is NaN or Inf. With a table, only the distinct codes are looked at (a
  /// byte per possible code marks the ones present).
  /// (Not inlined: inlined into gemm_operands, GCC 12 reports a false
  /// -Wfree-nonheap-object on `seen`.)
  [[gnu::noinline]] void scan(std::span<const std::uint64_t> codes, double& amax, double& amin,
                              bool& nonfinite) const {
    amax = 0;
    amin = std::numeric_limits<double>::infinity();
    nonfinite = false;
    auto visit = [&](double v) {
      nonfinite |= !std::isfinite(v);
      amax = std::max(amax, std::abs(v));
      if (v != 0) amin = std::min(amin, std::abs(v));
    };
    if (table_.empty()) {
      for (auto c : codes) visit((*this)(c));
      return;
    }
    std::vector<std::uint8_t> seen(table_.size(), 0);
    for (auto c : codes) seen[c] = 1;
    for (std::size_t c = 0; c < seen.size(); ++c)
      if (seen[c]) visit(table_[c]);
  }

 private:
  double slow(std::uint64_t code) const {
    const Class c = classify(f_, code);
    if (ftz_ && c == Class::subnormal) return sign_of(f_, code) ? -0.0 : 0.0;
    return to_double(f_, code);
  }
  const Format& f_;
  bool ftz_, binary32_;
  std::vector<double> table_;
};

// The code of a value known to be exactly representable in f (or NaN / +-Inf).
std::uint64_t encode_exact(const Format& f, double v) {
  if (std::isnan(v)) return nan_code(f, true);
  const bool neg = std::signbit(v);
  const std::uint64_t sgn = neg ? f.sign_mask() : 0;
  if (std::isinf(v)) return f.has_inf() ? inf_code(f, neg) : from_double(v, f, RoundSpec{}).code;
  if (v == 0) return zero_code(f, neg);
  const double a = std::abs(v);
  const int E = std::ilogb(a);
  if (E < f.emin()) {  // subnormal: a = q * 2^(emin - m)
    const auto q = static_cast<std::uint64_t>(std::ldexp(a, f.man_bits - f.emin()));
    return sgn | q;
  }
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(a);
  const std::uint64_t frac = (bits & 0x000fffffffffffffull) >> (52 - f.man_bits);
  return sgn | (static_cast<std::uint64_t>(E + f.bias) << f.man_bits) | frac;
}

// The values of one GEMM input (flushed to zero when the MAC unit flushes subnormal inputs),
// whether it holds codes or binary32 values.
class OperandValues {
 public:
  OperandValues(const detail::GemmOperand& op, bool ftz)
      : op_(op),
        ftz_(ftz),
        dec_(*op.f, op.by_values ? 0 : op.codes.size(), ftz),
        tiny_(std::ldexp(1.0, op.f->emin())) {}
  double operator()(std::size_t x) const {
    if (!op_.by_values) return dec_(op_.codes[x]);
    const double v = op_.values[x];
    return ftz_ && std::abs(v) < tiny_ ? (std::signbit(v) ? -0.0 : 0.0) : v;
  }
  /// As Decoder::scan, over all of the input.
  /// (binary32 values: the caller's scan when it made one, else a threaded pass)
  void scan(double& amax, double& amin, bool& nonfinite, int threads) const {
    if (!op_.by_values) return dec_.scan(op_.codes, amax, amin, nonfinite);
    if (op_.scan) {
      amax = op_.scan->amax;
      amin = op_.scan->amin;
      nonfinite = op_.scan->nonfinite;
      return;
    }
    const detail::OperandScan s = detail::scan_values(op_.values, ftz_ ? tiny_ : 0.0, threads);
    amax = s.amax;
    amin = s.amin;
    nonfinite = s.nonfinite;
  }
  /// The input as binary32 values: the operand's own array when it has one that needs no
  /// flush, else `buf` filled.
  // (buf: not cleared, every element is written here, in parallel)
  const float* floats(std::unique_ptr<float[]>& buf, int threads) const {
    if (op_.by_values && !ftz_) return op_.values.data();
    buf.reset(new float[op_.size()]);
    if (!op_.by_values) {  // codes: one lookup of a binary32 table each (no binary64, no branch)
      const std::vector<float> table = dec_.float_table();
      if (!table.empty()) {
        const std::uint64_t* c = op_.codes.data();
        const float* t = table.data();
        float* out = buf.get();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::size_t x = 0; x < op_.size(); ++x) out[x] = t[c[x]];
        return buf.get();
      }
    }
    float* out = buf.get();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t x = 0; x < op_.size(); ++x) out[x] = static_cast<float>((*this)(x));
    return buf.get();
  }

 private:
  const detail::GemmOperand& op_;
  bool ftz_;
  Decoder dec_;
  double tiny_;
};

}  // namespace

namespace {

// Runs one of value_check.cpp's passes over v in chunks, threaded, and merges the parts.
template <class Part>
detail::ValueScanPartSum scan_chunks(std::span<const float> v, int threads, Part part) {
  constexpr std::size_t kChunk = std::size_t{1} << 16;
  const std::size_t chunks = (v.size() + kChunk - 1) / kChunk;
  std::uint32_t hi = 0, lo = 0x7f800000u;
  int bad = 0;
  std::size_t wrong = 0;
#pragma omp parallel for num_threads(chunks > 1 ? threads : 1) schedule(static) \
    reduction(max : hi) reduction(min : lo) reduction(| : bad) reduction(+ : wrong)
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t x0 = c * kChunk;
    const detail::ValueScanPart r = part(v.data() + x0, std::min(kChunk, v.size() - x0));
    hi = std::max(hi, std::bit_cast<std::uint32_t>(r.hi));
    lo = std::min(lo, std::bit_cast<std::uint32_t>(r.lo));
    bad |= r.nonfinite;
    wrong += r.wrong;
  }
  return detail::ValueScanPartSum{
      detail::OperandScan{std::bit_cast<float>(hi), std::bit_cast<float>(lo), bad != 0}, wrong};
}

}  // namespace

int detail::threads_for_work(int max_threads, double work, double per_thread) {
  const double t = std::floor(work / per_thread);
  return t >= max_threads ? max_threads : std::max(1, static_cast<int>(t));
}

detail::OperandScan detail::scan_values(std::span<const float> v, double flush_below, int threads) {
  const auto tiny = static_cast<float>(flush_below);
  const int isa = simd_isa_level();
  return scan_chunks(v, threads,
                     [&](const float* p, std::size_t n) {
                       return isa >= 4   ? detail::v4::scan_part(p, n, tiny)
                              : isa == 3 ? detail::v3::scan_part(p, n, tiny)
                                         : detail::v1::scan_part(p, n, tiny);
                     })
      .scan;
}

detail::ValueScanPartSum detail::check_values(const ValueCheck& c, std::span<const float> v,
                                              int threads) {
  const int isa = simd_isa_level();
  return scan_chunks(v, threads, [&](const float* p, std::size_t n) {
    return isa >= 4   ? v4::check_part(c, p, n)
           : isa == 3 ? v3::check_part(c, p, n)
                      : v1::check_part(c, p, n);
  });
}

std::uint64_t detail::GemmOperand::code(std::size_t x) const {
  return by_values ? encode_exact(*f, values[x]) : codes[x];
}

std::string gemm_kernel_name(const MacConfig& m) {
  return detail::plan_kernel(m, 0).name();
}

GemmResult gemm(const MacConfig& m, std::size_t M, std::size_t N, std::size_t K,
                std::span<const std::uint64_t> A, std::span<const std::uint64_t> B,
                std::span<const std::uint64_t> C0, const GemmOptions& opt) {
  return detail::gemm_operands(m, M, N, K, detail::GemmOperand::of_codes(m.a, A, "A"),
                               detail::GemmOperand::of_codes(m.b, B, "B"), C0, opt);
}

GemmResult detail::gemm_operands(const MacConfig& m, std::size_t M, std::size_t N, std::size_t K,
                                 const GemmOperand& A, const GemmOperand& B,
                                 std::span<const std::uint64_t> C0, const GemmOptions& opt,
                                 float* values, bool* wrote_values) {
  validate(m);
  if (wrote_values) *wrote_values = false;
  if (A.size() != M * K)
    throw std::invalid_argument(
        fmt::format("gemm: A has {} {}, expected M*K = {}", A.size(), A.what(), M * K));
  if (B.size() != K * N)
    throw std::invalid_argument(
        fmt::format("gemm: B has {} {}, expected K*N = {}", B.size(), B.what(), K * N));
  if (!C0.empty() && C0.size() != M * N)
    throw std::invalid_argument(
        fmt::format("gemm: C has {} codes, expected M*N = {}", C0.size(), M * N));
  const int max_threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  const Format& cf = m.c ? *m.c : m.acc;
  const Format& rf = result_format(m);

  detail::KernelPlan plan = detail::plan_kernel(m, K, opt.flags);
  Kernel& kernel = plan.kernel;
  if (!opt.allow_fast || K == 0) kernel = Kernel::reference;
  // Threads from the work: a small GEMM runs on fewer threads than it may use, since waking
  // a thread costs more than its share (results never depend on the count). Each thread
  // gets at least ~50 us of work: 2^21 MACs of the FMA kernel, 2^17 of the others.
  const int threads =
      !opt.fit_threads ? max_threads
                       : detail::threads_for_work(max_threads,
                                                  static_cast<double>(M) * static_cast<double>(N) *
                                                      static_cast<double>(K),
                                                  kernel == Kernel::fp32 ? 0x1p21 : 0x1p17);
  // Non-finite inputs take the reference path (they are rare and full of IEEE corner cases).
  double amax = 0, bmax = 0, amin = 0, bmin = 0;
  const OperandValues val_a(A, m.ftz_inputs), val_b(B, m.ftz_inputs);
  const Decoder dec_c(cf, C0.size(), false);
  if (kernel != Kernel::reference) {
    bool nonfinite_a = false, nonfinite_b = false;
    // The FMA kernel needs no scan of its inputs: it runs on NaN and Inf too, and an output
    // whose dot product met one is NaN or Inf (finite inputs give no NaN), which sends it to
    // the reference model below. (The scan is a pass over the inputs as costly as streaming
    // them through the kernel when K is small.)
    if (kernel != Kernel::fp32) {
      val_a.scan(amax, amin, nonfinite_a, threads);
      val_b.scan(bmax, bmin, nonfinite_b, threads);
    }
    const bool nonfinite = nonfinite_a || nonfinite_b;
    if (nonfinite) kernel = Kernel::reference;
    for (auto c : C0)
      if (!std::isfinite(dec_c(c))) kernel = Kernel::reference;
    // a product format must not overflow (its Inf/NaN corner cases stay on the reference)
    if (m.product && amax * bmax >= to_double(*m.product, m.product->max_finite_code()))
      kernel = Kernel::reference;
  }

  GemmResult res;
  res.kernel = plan.name();
  // the FMA kernel's binary32 values straight into the caller's array (no codes)
  // (the emulated kernels' values too: exactly values of the result format, which fits
  // binary32 when gemm_f32 asks)
  const bool direct = values && kernel != Kernel::reference && !m.out;
  if (!direct) res.codes.assign(M * N, 0);
  if (opt.flags) res.flags.assign(M * N, 0);
  std::vector<MacCounts> counts(static_cast<std::size_t>(threads));

  std::size_t tm = opt.tile_m > 0 ? static_cast<std::size_t>(opt.tile_m) : 64;
  std::size_t tn = opt.tile_n > 0 ? static_cast<std::size_t>(opt.tile_n) : 256;
  // few outputs and long dot products (a convolution's wgrad: M, N small, K = batch x
  // pixels): smaller tiles, so that every thread has work (results never depend on tiles)
  const auto tiles = [&] { return ((M + tm - 1) / tm) * ((N + tn - 1) / tn); };
  const auto want = static_cast<std::size_t>(2 * threads);
  while (opt.tile_n <= 0 && tiles() < want && tn > 32) tn /= 2;
  while (opt.tile_m <= 0 && tiles() < want && tm > 8) tm /= 2;
  const std::size_t tiles_m = (M + tm - 1) / tm, tiles_n = (N + tn - 1) / tn;
  const std::size_t n_tiles = tiles_m * tiles_n;
  std::vector<std::uint8_t> redo;  // outputs a fast kernel hands back to the reference
  std::vector<std::uint64_t> redone(static_cast<std::size_t>(threads), 0);  // per thread

  // codes of the inputs for the reference model (the fused path's values encoded here only)
  std::vector<std::uint64_t> a_codes;
  std::span<const std::uint64_t> Ac = A.codes;
  if (kernel == Kernel::reference && A.by_values) {
    a_codes.resize(A.size());
    for (std::size_t x = 0; x < A.size(); ++x) a_codes[x] = A.code(x);
    Ac = a_codes;
  }
  if (kernel == Kernel::reference) {
    std::vector<std::uint64_t> Bt(N * K);
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < N; ++j) Bt[j * K + k] = B.code(k * N + j);
#pragma omp parallel for num_threads(threads) schedule(dynamic)
    for (std::size_t t = 0; t < n_tiles; ++t) {
      MacCounts& cnt = counts[static_cast<std::size_t>(omp_get_thread_num())];
      const std::size_t i0 = (t / tiles_n) * tm, j0 = (t % tiles_n) * tn;
      for (std::size_t i = i0; i < std::min(M, i0 + tm); ++i)
        for (std::size_t j = j0; j < std::min(N, j0 + tn); ++j) {
          const std::optional<std::uint64_t> c =
              C0.empty() ? std::nullopt : std::optional<std::uint64_t>(C0[i * N + j]);
          const MacResult r =
              mac_dot(m, Ac.subspan(i * K, K), std::span<const std::uint64_t>(Bt).subspan(j * K, K),
                      c, opt.seed, opt.output_offset + i * N + j);
          res.codes[i * N + j] = r.code;
          if (opt.flags) res.flags[i * N + j] = r.flags;
          cnt.merge(r.counts);
        }
    }
  } else if (kernel == Kernel::fp32) {
    // binary32 values of the inputs: the fused path's own arrays where they need no flush
    std::unique_ptr<float[]> Abuf, Bbuf;
    std::vector<float> Cf(C0.size());
    // (not cleared: every tile writes all of its outputs)
    std::unique_ptr<float[]> own(direct ? nullptr : new float[M * N]);
    float* out = direct ? values : own.get();
    std::vector<std::uint32_t> inexact(opt.flags ? M * N : 0);
    const float* Af = val_a.floats(Abuf, threads);
    const float* Bf = val_b.floats(Bbuf, threads);
    for (std::size_t x = 0; x < C0.size(); ++x) Cf[x] = static_cast<float>(dec_c(C0[x]));
    int nonfinite_out = 0;
    // B packed once for all rows of tiles when there are several (a BLAS's packing) and the
    // tiles' columns start on a panel; one row of tiles packs its panels itself (the same
    // cost, no extra copy)
    const std::unique_ptr<float[]> bpack = tiles_m > 1 && tn % fp32_panel_width() == 0
                                               ? pack_fp32_b(Bf, K, N, threads)
                                               : std::unique_ptr<float[]>{};
    const float* bp = bpack.get();
    // and A once for all columns of tiles (each would pack its rows again per k-block)
    const std::unique_ptr<float[]> apack =
        tiles_n > 1 ? pack_fp32_a(Af, M, K, tm, opt.flags, threads) : std::unique_ptr<float[]>{};
    const float* ap = apack.get();
#pragma omp parallel for num_threads(threads) schedule(dynamic) reduction(| : nonfinite_out)
    for (std::size_t t = 0; t < n_tiles; ++t) {
      const std::size_t i0 = (t / tiles_n) * tm, j0 = (t % tiles_n) * tn;
      nonfinite_out |= run_fp32_tile(Af, ap, Bf, bp, C0.empty() ? nullptr : Cf.data(), K, N, i0,
                                     std::min(M, i0 + tm), j0, std::min(N, j0 + tn), out,
                                     opt.flags ? inexact.data() : nullptr)
                           ? 0
                           : 1;
    }
    std::uint64_t inexact_sum = 0, finite = 0;
    int overflowed = 0;
    // (values straight in place, no flags, every output finite: nothing left to do)
    if (!direct || opt.flags || nonfinite_out) {
#pragma omp parallel for num_threads(threads) schedule(static) \
    reduction(+ : inexact_sum, finite) reduction(| : overflowed)
      for (std::size_t o = 0; o < M * N; ++o) {
        if (!direct) res.codes[o] = std::bit_cast<std::uint32_t>(out[o]);
        if (!std::isfinite(out[o])) {  // overflowed, or met NaN/Inf: the reference model's
          overflowed = 1;
          continue;
        }
        if (opt.flags) {
          res.flags[o] = inexact[o] ? kInexact : 0;
          inexact_sum += inexact[o];
          ++finite;
        }
      }
    }
    if (direct && overflowed) {  // rare: the codes after all, the reference for those outputs
      res.codes.resize(M * N);
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t o = 0; o < M * N; ++o) res.codes[o] = std::bit_cast<std::uint32_t>(out[o]);
    } else if (direct && wrote_values) {
      *wrote_values = true;
    }
    if (opt.flags) {
      counts[0].inexact += inexact_sum;
      counts[0].steps += finite * K;
    }
    if (overflowed) {
      redo.assign(M * N, 0);
      for (std::size_t o = 0; o < M * N; ++o) redo[o] = std::isfinite(out[o]) ? 0 : 1;
    }
  } else {
    std::vector<double> Ad(M * K), Bd(K * N), Cd(C0.size());
    std::unique_ptr<double[]> out_buf(new double[M * N]);  // (every output is written)
    double* out = out_buf.get();
    // (the O(n^2) passes are threaded too: at n = 512 they cost as much as the kernels)
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t x = 0; x < A.size(); ++x) Ad[x] = val_a(x);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t x = 0; x < B.size(); ++x) Bd[x] = val_b(x);
    for (std::size_t x = 0; x < C0.size(); ++x) Cd[x] = dec_c(C0[x]);
    detail::EmuParams p;
    p.acc = target(m.acc, m.acc_round);
    p.outer = target(m.outer, m.outer_round);
    if (m.product) p.prod = target(*m.product, m.product_round);
    p.has_prod = m.product.has_value();
    p.acc_fast = m.acc.man_bits >= 1 && !m.acc_round.ftz &&
                 m.acc_round.tininess == Tininess::after &&
                 (m.acc_round.mode == RoundingMode::rne || m.acc_round.mode == RoundingMode::sr);
    p.chunk = static_cast<std::size_t>(m.chunk);
    p.multiterm = m.structure == Structure::multiterm;
    p.terms = m.terms;
    p.align = m.align_bits;
    p.carry = m.carry_bits;
    p.flags = opt.flags;
    p.seed = opt.seed;
    p.output_offset = opt.output_offset;
    p.M = M;
    p.N = N;
    p.K = K;
    std::vector<float> Af, Bf, Cf;
    p.narrow = plan.narrow;
    p.narrow_outer = plan.narrow_outer;
    p.narrow_plain = plan.narrow_plain;
    p.multiterm_fp32 = plan.multiterm_fp32;
    p.acc_keep = plan.acc_keep;
    p.interleave = m.interleave;
    // the multiterm kernel's binary32/int32 form: no flags (the plan checked the rest)
    // (also when the format's range allows products beyond binary32's, e.g. bf16, but these
    // inputs' products are all normal binary32 values: |a||b| in [2^-126, 2^127))
    const bool data32 = amin * bmin >= 0x1p-126 && amax * bmax < 0x1p127;
    const bool mt32 = !opt.flags && (plan.multiterm_int32 || (plan.multiterm_int32_data && data32));
    // align=field: each input's exponent field as a power of two (0 for a zero)
    std::vector<double> Fa, Fb;
    std::vector<float> Fa32, Fb32;
    p.field = m.align_ref == AlignRef::exponent_field && !m.product;
    if (p.field) {
      // 2^max(floor(log2|x|), emin): x's exponent bits (every value here is a normal binary64)
      auto field_of = [](const Format& f, double x) {
        if (x == 0) return 0.0;
        const double lead =
            std::bit_cast<double>(std::bit_cast<std::uint64_t>(x) & 0x7ff0000000000000ull);
        return std::max(lead, std::ldexp(1.0, f.emin()));
      };
      Fa.resize(Ad.size());
      Fb.resize(Bd.size());
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t x = 0; x < Ad.size(); ++x) Fa[x] = field_of(m.a, Ad[x]);
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t x = 0; x < Bd.size(); ++x) Fb[x] = field_of(m.b, Bd[x]);
      p.Fa = Fa.data();
      p.Fb = Fb.data();
      if (mt32) {
        Fa32.assign(Fa.begin(), Fa.end());
        Fb32.assign(Fb.begin(), Fb.end());
        p.Fa32 = Fa32.data();
        p.Fb32 = Fb32.data();
      }
    }
    if (p.narrow != detail::kNarrowOff || mt32) {
      if (p.narrow != detail::kNarrowOff)
        p.narrow_track = !narrow_untracked(m, Ad, Bd, Cd, threads);
      // (threaded: at n = 512 a serial pass over the inputs costs a tenth of the kernel)
      Af.resize(Ad.size());
      Bf.resize(Bd.size());
      Cf.resize(Cd.size());
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t x = 0; x < Ad.size(); ++x) Af[x] = static_cast<float>(Ad[x]);
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t x = 0; x < Bd.size(); ++x) Bf[x] = static_cast<float>(Bd[x]);
      for (std::size_t x = 0; x < Cd.size(); ++x) Cf[x] = static_cast<float>(Cd[x]);
      p.Af = Af.data();
      p.Bf = Bf.data();
      p.Cf = C0.empty() ? nullptr : Cf.data();
    }
#pragma omp parallel for num_threads(threads) schedule(dynamic)
    for (std::size_t t = 0; t < n_tiles; ++t) {
      MacCounts& cnt = counts[static_cast<std::size_t>(omp_get_thread_num())];
      const std::size_t i0 = (t / tiles_n) * tm, j0 = (t % tiles_n) * tn;
      const detail::TileOut to{out, opt.flags ? res.flags.data() : nullptr,
                               opt.flags ? &cnt : nullptr,
                               &redone[static_cast<std::size_t>(omp_get_thread_num())]};
      run_emulated_tile(p, Ad.data(), Bd.data(), C0.empty() ? nullptr : Cd.data(), i0,
                        std::min(M, i0 + tm), j0, std::min(N, j0 + tn), to);
    }
    // steps per output: every product rounding, accumulator rounding and outer rounding
    std::uint64_t steps = m.product ? K : 0;
    if (m.chunk) {
      const std::uint64_t nch =
          (K + static_cast<std::uint64_t>(m.chunk) - 1) / static_cast<std::uint64_t>(m.chunk);
      steps += nch;
      if (m.structure == Structure::multiterm) {
        for (std::uint64_t c = 0; c < nch; ++c) {
          const std::uint64_t len = std::min<std::uint64_t>(
              static_cast<std::uint64_t>(m.chunk), K - c * static_cast<std::uint64_t>(m.chunk));
          steps +=
              (len + static_cast<std::uint64_t>(m.terms) - 1) / static_cast<std::uint64_t>(m.terms);
        }
      } else {
        steps += K;
      }
    } else {
      steps += m.structure == Structure::multiterm ? (K + static_cast<std::uint64_t>(m.terms) - 1) /
                                                         static_cast<std::uint64_t>(m.terms)
                                                   : K;
    }
    const Format& vf = m.chunk ? m.outer : m.acc;
    if (direct) {
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t o = 0; o < M * N; ++o) values[o] = static_cast<float>(out[o]);
      if (wrote_values) *wrote_values = true;
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t o = 0; o < M * N; ++o) res.codes[o] = encode_exact(vf, out[o]);
    }
    if (opt.flags) counts[0].steps += steps * M * N;
  }

  // Output conversion and the result's NaN rule (done here for the fast kernels; mac_dot
  // already did it for the reference).
  // (not of the outputs handed to the reference model: mac_dot converts those below)
  const auto redone_later = [&](std::size_t o) { return !redo.empty() && redo[o] != 0; };
  if (kernel != Kernel::reference && m.out) {
    const Format& from = m.chunk ? m.outer : m.acc;
    // an IEEE-like format with binary32's exponent field and fewer fraction bits (e8m13)
    // into binary32: exact, its bits shifted into place (no flags)
    const bool widen32 = is_plain_ieee_binary32(*m.out) && from.exp_bits == 8 && from.bias == 127 &&
                         from.man_bits < 23 && from.specials == Specials::ieee && from.subnormals &&
                         from.overflow == Overflow::ieee && from.has_negative_zero() &&
                         from.width() == 9 + from.man_bits;
    if (widen32) {
      const int sh = 23 - from.man_bits;
      const std::uint64_t nan = nan_code(rf, true);
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t o = 0; o < M * N; ++o) {
        if (redone_later(o)) continue;
        const std::uint64_t code = res.codes[o];
        const std::uint64_t sign = code >> (8 + from.man_bits);
        const std::uint64_t rest = code & ((std::uint64_t{1} << (8 + from.man_bits)) - 1);
        const std::uint64_t w = (sign << 31) | (rest << sh);
        res.codes[o] = (w & 0x7fffffffu) > 0x7f800000u ? nan : w;  // NaN: the default one
      }
      // one exact conversion step per output
      if (opt.flags)
        counts[0].steps +=
            M * N - static_cast<std::uint64_t>(std::count(redo.begin(), redo.end(), 1));
    } else if (m.out_round.mode != RoundingMode::sr && is_plain_ieee_binary32(from)) {
      // binary32 values: the array quantizer's SIMD kernel (it rounds exactly as convert()
      // does; tests compare the two paths). Flags, when asked: a value in the output's
      // normal range (or zero) can only be inexact, which its dequantized value shows; any
      // other value (tiny, beyond max finite, NaN/Inf) takes convert() for the exact flags.
      std::vector<float> v(M * N), back(opt.flags ? M * N : 0);
      for (std::size_t o = 0; o < M * N; ++o)
        v[o] = std::bit_cast<float>(static_cast<std::uint32_t>(res.codes[o]));
      QuantizeOptions qo;
      qo.round = m.out_round;
      qo.threads = threads;
      qo.error_stats = false;
      (void)quantize<float, std::uint64_t>(*m.out, v, qo, res.codes, back);
      const double lo = std::ldexp(1.0, m.out->emin());
      const double hi = to_double(*m.out, m.out->max_finite_code());
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t o = 0; o < M * N; ++o) {
        if (redone_later(o)) continue;
        if (opt.flags) {
          const double x = std::abs(static_cast<double>(v[o]));
          Flags f = 0;
          if (x == 0 || (x >= lo && x <= hi)) {
            f = back[o] != v[o] ? Flags{kInexact} : Flags{0};
          } else {
            const Rounded r =
                convert(from, std::bit_cast<std::uint32_t>(v[o]), *m.out, m.out_round, 0);
            res.codes[o] = r.code;
            f = r.flags;
          }
          res.flags[o] |= f;
          counts[static_cast<std::size_t>(omp_get_thread_num())].add(f);
        }
        if (classify(rf, res.codes[o]) == Class::nan) res.codes[o] = nan_code(rf, true);
      }
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t o = 0; o < M * N; ++o) {
        if (redone_later(o)) continue;
        const std::uint32_t rnd = m.out_round.mode == RoundingMode::sr
                                      ? packed_random_bits(mac_random_key(opt.seed, RandomSite::out,
                                                                          opt.output_offset + o),
                                                           0, m.out_round.sr_bits)
                                      : 0;
        const Rounded r = convert(from, res.codes[o], *m.out, m.out_round, rnd);
        res.codes[o] = classify(rf, r.code) == Class::nan ? nan_code(rf, true) : r.code;
        if (opt.flags) {
          res.flags[o] |= r.flags;
          counts[static_cast<std::size_t>(omp_get_thread_num())].add(r.flags);
        }
      }
    }
  }
  // Outputs a fast kernel could not finish exactly go through the reference model.
  if (!redo.empty()) {
    std::vector<std::uint64_t> row(K), col(K);
    for (std::size_t o = 0; o < M * N; ++o) {
      if (!redo[o]) continue;
      ++res.slow_outputs;
      const std::size_t i = o / N, j = o % N;
      for (std::size_t k = 0; k < K; ++k) {
        row[k] = A.code(i * K + k);
        col[k] = B.code(k * N + j);
      }
      const std::optional<std::uint64_t> c =
          C0.empty() ? std::nullopt : std::optional<std::uint64_t>(C0[o]);
      const MacResult r = mac_dot(m, row, col, c, opt.seed, opt.output_offset + o);
      if (opt.flags) {
        res.flags[o] = r.flags;
        counts[0].merge(r.counts);
      }
      res.codes[o] = r.code;
    }
  }

  for (const auto& c : counts) res.counts.merge(c);
  for (auto r : redone) res.slow_outputs += r;
  if (!opt.flags) res.counts = MacCounts{};
  if (m.canonical_nan && !res.codes.empty()) {  // the kernels give the default NaN; nan=canonical
                                                // replaces it (direct values: all finite)
    const std::uint64_t nan = result_nan_code(m);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t o = 0; o < M * N; ++o)
      if (classify(rf, res.codes[o]) == Class::nan) res.codes[o] = nan;
  }
  return res;
}

GemmResult conv2d(const MacConfig& m, const Conv2dShape& s, std::span<const std::uint64_t> input,
                  std::span<const std::uint64_t> weights, const GemmOptions& opt) {
  if (s.kh > s.h + 2 * s.pad || s.kw > s.w + 2 * s.pad || s.stride == 0)
    throw std::invalid_argument("conv2d: kernel larger than the padded input, or stride 0");
  if (input.size() != s.batch * s.in_ch * s.h * s.w)
    throw std::invalid_argument(fmt::format("conv2d: input has {} codes, expected {}", input.size(),
                                            s.batch * s.in_ch * s.h * s.w));
  const std::size_t Kd = s.in_ch * s.kh * s.kw;
  if (weights.size() != s.out_ch * Kd)
    throw std::invalid_argument(
        fmt::format("conv2d: weights have {} codes, expected {}", weights.size(), s.out_ch * Kd));
  const std::size_t oh = s.out_h(), ow = s.out_w(), P = oh * ow;
  const std::uint64_t zero = zero_code(m.b, false);
  GemmResult all;
  all.codes.resize(s.batch * s.out_ch * P);
  if (opt.flags) all.flags.resize(all.codes.size());
  std::vector<std::uint64_t> cols(Kd * P);
  for (std::size_t n = 0; n < s.batch; ++n) {
    // im2col: row (c, ky, kx), column (y, x)
    for (std::size_t c = 0; c < s.in_ch; ++c)
      for (std::size_t ky = 0; ky < s.kh; ++ky)
        for (std::size_t kx = 0; kx < s.kw; ++kx) {
          const std::size_t row = (c * s.kh + ky) * s.kw + kx;
          for (std::size_t y = 0; y < oh; ++y)
            for (std::size_t x = 0; x < ow; ++x) {
              const auto iy = static_cast<std::ptrdiff_t>(y * s.stride + ky) -
                              static_cast<std::ptrdiff_t>(s.pad);
              const auto ix = static_cast<std::ptrdiff_t>(x * s.stride + kx) -
                              static_cast<std::ptrdiff_t>(s.pad);
              const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<std::ptrdiff_t>(s.h) &&
                                  ix < static_cast<std::ptrdiff_t>(s.w);
              cols[row * P + y * ow + x] =
                  inside ? input[((n * s.in_ch + c) * s.h + static_cast<std::size_t>(iy)) * s.w +
                                 static_cast<std::size_t>(ix)]
                         : zero;
            }
        }
    GemmOptions o = opt;
    o.output_offset = opt.output_offset + n * s.out_ch * P;
    GemmResult r = gemm(m, s.out_ch, P, Kd, weights, cols, {}, o);
    std::copy(r.codes.begin(), r.codes.end(),
              all.codes.begin() + static_cast<std::ptrdiff_t>(n * s.out_ch * P));
    if (opt.flags)
      std::copy(r.flags.begin(), r.flags.end(),
                all.flags.begin() + static_cast<std::ptrdiff_t>(n * s.out_ch * P));
    all.counts.merge(r.counts);
    all.kernel = r.kernel;
  }
  return all;
}

}  // namespace fp8sim
