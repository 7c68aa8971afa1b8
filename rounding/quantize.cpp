// rounding/quantize.cpp — array quantizers: a scalar path through round_pack for every
// format, and a branch-free SIMD kernel for fp32 input into formats of <= 16 bits.
#include "rounding/quantize.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "rounding/isa_level.hpp"
#include "rounding/quantize_kernel.hpp"
#include "rounding/round_pack.hpp"

namespace fp8sim {

void QuantizeCounters::merge(const QuantizeCounters& o) {
  count += o.count;
  exact += o.exact;
  zeros_in += o.zeros_in;
  underflow_to_zero += o.underflow_to_zero;
  subnormal_out += o.subnormal_out;
  overflow += o.overflow;
  saturated += o.saturated;
  nan_in += o.nan_in;
  inf_in += o.inf_in;
  nan_out += o.nan_out;
  inf_out += o.inf_out;
  error_count += o.error_count;
  error_sum += o.error_sum;
  error_sq += o.error_sq;
  signal_sq += o.signal_sq;
  max_abs_error = std::max(max_abs_error, o.max_abs_error);
}

double QuantizeCounters::error_mean() const {
  return error_count ? error_sum / static_cast<double>(error_count) : 0.0;
}
double QuantizeCounters::error_rms() const {
  return error_count ? std::sqrt(error_sq / static_cast<double>(error_count)) : 0.0;
}
double QuantizeCounters::sqnr_db() const {
  if (error_sq == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal_sq / error_sq);
}

namespace {

// ---------------------------------------------------------------- scalar path ----------

template <class In>
void scalar_element(const Format& f, In x, const QuantizeOptions& opt, std::uint64_t index,
                    std::uint64_t& code_out, In& value_out, QuantizeCounters& c) {
  const std::uint32_t rnd =
      opt.round.mode == RoundingMode::sr ? random_bits(opt.key, index, opt.round.sr_bits) : 0;
  Rounded r;
  if constexpr (std::is_same_v<In, float>) {
    r = from_float(x, f, opt.round, rnd);
  } else {
    r = from_double(x, f, opt.round, rnd);
  }
  code_out = r.code;
  const double v = to_double(f, r.code);
  value_out = static_cast<In>(v);
  const Class cls = classify(f, r.code);
  ++c.count;
  const bool x_nan = std::isnan(x), x_inf = std::isinf(x);
  c.nan_in += x_nan;
  c.inf_in += x_inf;
  c.zeros_in += x == 0;
  c.nan_out += cls == Class::nan;
  c.inf_out += cls == Class::infinite;
  c.exact += (x_nan && cls == Class::nan) || static_cast<double>(x) == v;
  const bool x_finite = !x_nan && !x_inf;
  c.underflow_to_zero += x_finite && x != 0 && cls == Class::zero;
  c.subnormal_out += cls == Class::subnormal;
  if (x_finite && (r.flags & kOverflow)) {
    ++c.overflow;
    c.saturated += cls != Class::nan && cls != Class::infinite;
  }
  if (x_finite && (cls != Class::nan && cls != Class::infinite)) {
    ++c.error_count;
    if (!opt.error_stats) return;
    const double e = v - static_cast<double>(x);
    c.error_sum += e;
    c.error_sq += e * e;
    c.signal_sq += static_cast<double>(x) * static_cast<double>(x);
    c.max_abs_error = std::max(c.max_abs_error, std::abs(e));
  }
}

// ---------------------------------------------------------------- SIMD kernel ----------

using detail::KParams;

// Picks the kernel built for the ISA level simd_isa_level() names.
void kernel_range(const KParams& p, RoundingMode mode, const float* x, std::uint64_t n_groups,
                  std::uint64_t first_group, void* codes, float* vals, QuantizeCounters& c) {
  const int level = simd_isa_level();
  if (level == 4)
    return detail::v4::kernel_range(p, mode, x, n_groups, first_group, codes, vals, c);
  if (level == 3)
    return detail::v3::kernel_range(p, mode, x, n_groups, first_group, codes, vals, c);
  detail::v1::kernel_range(p, mode, x, n_groups, first_group, codes, vals, c);
}

bool kernel_applies(const Format& f) {
  return f.width() <= 16 && f.man_bits <= 22 && f.man_bits >= 1 && f.emin() >= -126 &&
         f.emax() <= 127 && f.has_zero && f.is_signed;
}

KParams make_params(const Format& f, const QuantizeOptions& opt) {
  KParams p{};
  p.m = f.man_bits;
  p.emin = f.emin();
  p.emax = f.emax();
  p.bias = f.bias;
  p.sr_bits = opt.round.sr_bits;
  p.error_stats = opt.error_stats;
  p.subn = f.subnormals;
  p.ftz = opt.round.ftz;
  p.ieee_target = f.specials == Specials::ieee;
  p.neg_zero = f.has_negative_zero();
  p.nan_target = f.has_nan();
  p.sign_mask = static_cast<std::uint32_t>(f.sign_mask());
  p.max_code = static_cast<std::uint32_t>(f.max_finite_code());
  p.inf_code_pos = f.has_inf() ? static_cast<std::uint32_t>(inf_code(f, false)) : 0;
  p.key = opt.key;
  p.max_bits = std::bit_cast<std::uint32_t>(static_cast<float>(to_double(f, f.max_finite_code())));
  const bool fast_layout = !opt.round.ftz && !opt.error_stats && f.subnormals &&
                           f.has_negative_zero() && f.man_bits <= 20 &&
                           f.emax() + 24 - f.man_bits <= 127 && f.emin() - f.man_bits >= -149 &&
                           f.sign_mask() == (std::uint64_t{1} << (f.width() - 1)) &&
                           f.width() == 1 + f.exp_bits + f.man_bits;
  p.fast_rne = fast_layout && opt.round.mode == RoundingMode::rne;
  p.fast_sr = fast_layout && opt.round.mode == RoundingMode::sr &&
              f.man_bits + opt.round.sr_bits <= 22 &&
              f.emin() - f.man_bits - opt.round.sr_bits >= -126;
  for (int s = 0; s < 2; ++s) {
    // Overflow and Inf results come from the scalar path itself, so both agree by design.
    const float big = s ? -std::numeric_limits<float>::max() : std::numeric_limits<float>::max();
    const Rounded ro = from_float(big, f, opt.round, 0);
    const bool ovf = (ro.flags & kOverflow) != 0;
    // big always overflows the <= 16-bit formats the kernel accepts except those whose
    // range reaches 2^127 (bf16-like): then ask for an overflowing exact value directly.
    Rounded ovr = ro;
    if (!ovf) {
      Unrounded huge{s != 0, 1 << 20, 1, false};
      ovr = round_pack(f, huge, opt.round, 0);
    }
    const Class oc = classify(f, ovr.code);
    const Rounded ri = from_float(s ? -INFINITY : INFINITY, f, opt.round, 0);
    const auto nc = f.has_nan() ? static_cast<std::uint32_t>(nan_code(f, s != 0)) : 0u;
    (s ? p.ovf_code1 : p.ovf_code0) = static_cast<std::uint32_t>(ovr.code);
    (s ? p.ovf_val1 : p.ovf_val0) = static_cast<float>(to_double(f, ovr.code));
    (s ? p.ovf_sat1 : p.ovf_sat0) = oc != Class::nan && oc != Class::infinite;
    (s ? p.inf_in_code1 : p.inf_in_code0) = static_cast<std::uint32_t>(ri.code);
    (s ? p.inf_in_val1 : p.inf_in_val0) = static_cast<float>(to_double(f, ri.code));
    (s ? p.nan_code1 : p.nan_code0) = nc;
    const Rounded rn = from_float(s ? -NAN : NAN, f, opt.round, 0);
    (s ? p.nan_bits1 : p.nan_bits0) =
        std::bit_cast<std::uint32_t>(static_cast<float>(to_double(f, rn.code)));
  }
  return p;
}

template <class Code>
void check_code_width(const Format& f) {
  if (static_cast<int>(sizeof(Code) * 8) < f.width())
    throw std::invalid_argument(
        fmt::format("codes of format '{}' need {} bits; the output array holds {}-bit codes",
                    f.name, f.width(), sizeof(Code) * 8));
}

}  // namespace

template <class In, class Code>
QuantizeCounters quantize(const Format& f, std::span<const In> in, const QuantizeOptions& opt,
                          std::span<Code> codes, std::span<In> values) {
  validate(opt.round);
  if (!codes.empty()) {
    check_code_width<Code>(f);
    if (codes.size() != in.size())
      throw std::invalid_argument(
          fmt::format("quantize: {} inputs but room for {} codes", in.size(), codes.size()));
  }
  if (!values.empty() && values.size() != in.size())
    throw std::invalid_argument(
        fmt::format("quantize: {} inputs but room for {} values", in.size(), values.size()));
  const std::uint64_t n = in.size();
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  const bool simd = std::is_same_v<In, float> && opt.allow_simd && kernel_applies(f);
  // the kernel writes 1-, 2- or 4-byte codes itself; 8-byte codes go through a buffer
  constexpr int kDirect = sizeof(Code) <= 4 ? static_cast<int>(sizeof(Code)) : 4;
  KParams params = simd ? make_params(f, opt) : KParams{};
  params.code_bytes = kDirect;

  auto scalar_range = [&](std::uint64_t lo, std::uint64_t hi, QuantizeCounters& c) {
    for (std::uint64_t i = lo; i < hi; ++i) {
      std::uint64_t code = 0;
      In v{};
      scalar_element<In>(f, in[i], opt, opt.first_index + i, code, v, c);
      if (!codes.empty()) codes[i] = static_cast<Code>(code);
      if (!values.empty()) values[i] = v;
    }
  };

  // Split into chunks aligned to 64-element random groups (global index), so every thread
  // processes whole groups; each element's result depends only on its global index.
  constexpr std::uint64_t kChunk = 64 * 256;
  const std::uint64_t head = std::min<std::uint64_t>(n, (64 - opt.first_index % 64) % 64);
  const std::uint64_t body_groups = (n - head) / 64;
  const std::uint64_t tail_start = head + body_groups * 64;
  const std::uint64_t n_chunks = (body_groups * 64 + kChunk - 1) / kChunk;

  std::vector<QuantizeCounters> per_thread(static_cast<std::size_t>(threads));
  scalar_range(0, head, per_thread[0]);
  scalar_range(tail_start, n, per_thread[0]);

#pragma omp parallel num_threads(threads) if (n_chunks > 1)
  {
    QuantizeCounters& c = per_thread[static_cast<std::size_t>(omp_get_thread_num())];
    std::vector<std::uint32_t> cbuf;
    std::vector<float> vbuf;
#pragma omp for schedule(static)
    for (std::uint64_t ch = 0; ch < n_chunks; ++ch) {
      const std::uint64_t lo = head + ch * kChunk;
      const std::uint64_t hi = std::min(lo + kChunk, tail_start);
      if (!simd) {
        scalar_range(lo, hi, c);
        continue;
      }
      const std::uint64_t groups = (hi - lo) / 64;
      void* cptr = nullptr;
      if (!codes.empty()) {
        if constexpr (sizeof(Code) <= 4) {
          cptr = codes.data() + lo;
        } else {
          cbuf.resize(hi - lo);
          cptr = cbuf.data();
        }
      }
      float* vptr = nullptr;
      if (!values.empty()) {
        if constexpr (std::is_same_v<In, float>) vptr = values.data() + lo;
      }
      if constexpr (std::is_same_v<In, float>) {
        kernel_range(params, opt.round.mode, in.data() + lo, groups, (opt.first_index + lo) / 64,
                     cptr, vptr, c);
      }
      if constexpr (sizeof(Code) > 4) {
        if (!codes.empty())
          for (std::uint64_t i = lo; i < hi; ++i) codes[i] = static_cast<Code>(cbuf[i - lo]);
      }
    }
  }
  QuantizeCounters total;
  for (const auto& c : per_thread) total.merge(c);
  return total;
}

#define FP8SIM_INST(IN, CODE)                   \
  template QuantizeCounters quantize<IN, CODE>( \
      const Format&, std::span<const IN>, const QuantizeOptions&, std::span<CODE>, std::span<IN>);
FP8SIM_INST(float, std::uint8_t)
FP8SIM_INST(float, std::uint16_t)
FP8SIM_INST(float, std::uint32_t)
FP8SIM_INST(float, std::uint64_t)
FP8SIM_INST(double, std::uint8_t)
FP8SIM_INST(double, std::uint16_t)
FP8SIM_INST(double, std::uint32_t)
FP8SIM_INST(double, std::uint64_t)
#undef FP8SIM_INST

}  // namespace fp8sim
