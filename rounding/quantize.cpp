// rounding/quantize.cpp — array quantizers: a scalar path through round_pack for every
// format, and a branch-free SIMD kernel for fp32 input into formats of <= 16 bits.
#include "rounding/quantize.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

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
  const std::uint32_t rnd = opt.round.mode == RoundingMode::sr
                                ? random_bits(opt.key, index, opt.round.sr_bits)
                                : 0;
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
    const double e = v - static_cast<double>(x);
    ++c.error_count;
    c.error_sum += e;
    c.error_sq += e * e;
    c.signal_sq += static_cast<double>(x) * static_cast<double>(x);
    c.max_abs_error = std::max(c.max_abs_error, std::abs(e));
  }
}

// ---------------------------------------------------------------- SIMD kernel ----------

// Constants of one (format, rounding) pair for the fp32 kernel.
struct KParams {
  int m, emin, emax, bias, sr_bits;
  bool subn, ftz, ieee_target, neg_zero, nan_target;
  std::uint32_t sign_mask, max_code, inf_code_pos;
  std::uint32_t ovf_code[2], inf_in_code[2], nan_code_[2];
  float ovf_val[2], inf_in_val[2];
  std::uint32_t ovf_sat[2];
  RandomKey key;
};

struct GroupSums {
  std::uint32_t exact = 0, zeros_in = 0, uf0 = 0, subn = 0, ovf = 0, sat = 0, nan_in = 0,
                inf_in = 0, nan_out = 0, inf_out = 0, err_n = 0;
  double esum = 0, esq = 0, ssq = 0, emax = 0;
};

inline float pow2f(int e) {  // e in [-149, 127]
  return std::bit_cast<float>(e >= -126 ? static_cast<std::uint32_t>(e + 127) << 23
                                        : std::uint32_t{1} << (e + 149));
}

template <RoundingMode M>
[[gnu::always_inline]] inline void kernel_group(const KParams& p, const float* __restrict x,
                                                const std::uint32_t* __restrict rnd,
                                                std::uint32_t* __restrict codes,
                                                float* __restrict vals, GroupSums& g) {
  std::uint32_t exact = 0, zeros_in = 0, uf0 = 0, subn = 0, ovf_n = 0, sat = 0, nan_in = 0,
                inf_in = 0, nan_out = 0, inf_out = 0, err_n = 0;
  double esum = 0, esq = 0, ssq = 0, emx = 0;
  const int m = p.m;
#pragma omp simd reduction(+ : exact, zeros_in, uf0, subn, ovf_n, sat, nan_in, inf_in, nan_out, \
                               inf_out, err_n, esum, esq, ssq) reduction(max : emx)
  for (int i = 0; i < 64; ++i) {
    const float xf = x[i];
    const std::uint32_t u = std::bit_cast<std::uint32_t>(xf);
    const std::uint32_t sign = u >> 31;
    const std::uint32_t a = u & 0x7fffffffu;
    const std::uint32_t efield = a >> 23;
    const std::uint32_t sig = efield ? ((a & 0x7fffffu) | 0x800000u) : (a & 0x7fffffu);
    const int eeff = static_cast<int>(efield ? efield : 1u) - 127;
    const bool is_nan = a > 0x7f800000u, is_inf = a == 0x7f800000u, is_zero = a == 0;
    const bool tiny = efield == 0 || eeff < p.emin;
    const int s = tiny ? (p.subn ? 23 - m + p.emin - eeff : 23 + p.emin - eeff) : 23 - m;
    const int sc = s < 31 ? s : 31;
    const std::uint32_t unit = (tiny && !p.subn) ? (1u << m) : 1u;
    const std::uint32_t code_base =
        tiny ? 0u : static_cast<std::uint32_t>(eeff + p.bias - 1) << m;
    const std::uint32_t q = sig >> sc;
    const std::uint32_t rem = sig & ((1u << sc) - 1u);
    const bool inexact = rem != 0;
    std::uint32_t up = 0;
    if constexpr (M == RoundingMode::rne || M == RoundingMode::rna) {
      const bool half = ((sig >> (sc - 1)) & 1u) != 0;
      if constexpr (M == RoundingMode::rne) {
        const bool below = (sig & ((1u << (sc - 1)) - 1u)) != 0;
        const bool odd = ((unit == 1u ? code_base + q : q) & 1u) != 0;
        up = half && (below || odd);
      } else {
        up = half;
      }
    } else if constexpr (M == RoundingMode::rup) {
      up = inexact && !sign;
    } else if constexpr (M == RoundingMode::rdn) {
      up = inexact && sign;
    } else if constexpr (M == RoundingMode::rto) {
      const bool odd = ((unit == 1u ? code_base + q : q) & 1u) != 0;
      up = inexact && !odd;
    } else if constexpr (M == RoundingMode::sr) {
      const int r = p.sr_bits;
      const std::uint32_t maskr = r == 32 ? 0xffffffffu : (1u << r) - 1u;
      const int d = s - r;
      const std::uint32_t t =
          d >= 0 ? (d >= 24 ? 0u : (sig >> d) & maskr) : (rem << (-d)) & maskr;
      const std::uint32_t rv = rnd[i] >> (32 - r);
      up = t > (maskr - rv);
    }
    std::uint32_t mag = code_base + (q + up) * unit;
    const bool finite = !is_nan && !is_inf;
    const bool flush = p.ftz && tiny;
    const bool ovf = finite && !is_zero && !flush && (eeff > p.emax || mag > p.max_code);
    if (flush || is_zero) mag = 0;
    const int qe = tiny ? (p.subn ? p.emin - m : p.emin) : eeff - m;
    float fv = static_cast<float>(static_cast<std::int32_t>(q + up)) * pow2f(qe);
    if (flush || is_zero) fv = 0.0f;
    const bool zero_out = mag == 0;
    const std::uint32_t sbit = (sign && !(zero_out && !p.neg_zero)) ? p.sign_mask : 0u;
    std::uint32_t code = mag | sbit;
    float val = (sign && !(zero_out && !p.neg_zero)) ? -fv : fv;
    if (ovf) {
      code = p.ovf_code[sign];
      val = p.ovf_val[sign];
    }
    if (is_inf) {
      code = p.inf_in_code[sign];
      val = p.inf_in_val[sign];
    }
    if (is_nan) {
      code = p.ieee_target ? ((sign ? p.sign_mask : 0u) | p.inf_code_pos |
                              ((a & 0x7fffffu) >> (23 - m)) | (1u << (m - 1)))
                           : p.nan_code_[sign];
      val = p.nan_target ? std::bit_cast<float>((sign << 31) | 0x7fc00000u) : 0.0f;
    }
    codes[i] = code;
    vals[i] = val;
    const bool val_nan = val != val;
    const bool val_inf = (std::bit_cast<std::uint32_t>(val) & 0x7fffffffu) == 0x7f800000u;
    exact += (is_nan && val_nan) || val == xf;
    zeros_in += is_zero;
    uf0 += finite && !is_zero && zero_out && !ovf;
    subn += finite && !ovf && p.subn && mag != 0 && mag < (1u << m);
    ovf_n += ovf;
    sat += ovf && p.ovf_sat[sign];
    nan_in += is_nan;
    inf_in += is_inf;
    nan_out += val_nan;
    inf_out += val_inf;
    const bool in_err = finite && !val_nan && !val_inf;
    const double e = in_err ? static_cast<double>(val) - static_cast<double>(xf) : 0.0;
    const double xd = in_err ? static_cast<double>(xf) : 0.0;
    err_n += in_err;
    esum += e;
    esq += e * e;
    ssq += xd * xd;
    emx = std::max(emx, std::abs(e));
  }
  g.exact += exact;
  g.zeros_in += zeros_in;
  g.uf0 += uf0;
  g.subn += subn;
  g.ovf += ovf_n;
  g.sat += sat;
  g.nan_in += nan_in;
  g.inf_in += inf_in;
  g.nan_out += nan_out;
  g.inf_out += inf_out;
  g.err_n += err_n;
  g.esum += esum;
  g.esq += esq;
  g.ssq += ssq;
  g.emax = std::max(g.emax, emx);
}

template <RoundingMode M>
inline void kernel_range_body(const KParams& p, const float* x, std::uint64_t n_groups,
                              std::uint64_t first_group, std::uint32_t* codes, float* vals,
                              QuantizeCounters& c) {
  alignas(64) std::uint32_t rnd[64] = {};
  alignas(64) std::uint32_t ctmp[64];
  alignas(64) float vtmp[64];
  GroupSums g;
  for (std::uint64_t gi = 0; gi < n_groups; ++gi) {
    if constexpr (M == RoundingMode::sr) random_group(p.key, first_group + gi, rnd);
    std::uint32_t* cout = codes ? codes + 64 * gi : ctmp;
    float* vout = vals ? vals + 64 * gi : vtmp;
    kernel_group<M>(p, x + 64 * gi, rnd, cout, vout, g);
    if ((gi & 1023) == 1023 || gi + 1 == n_groups) {  // flush 32-bit lane counters
      c.count += 0;
      c.exact += g.exact;
      c.zeros_in += g.zeros_in;
      c.underflow_to_zero += g.uf0;
      c.subnormal_out += g.subn;
      c.overflow += g.ovf;
      c.saturated += g.sat;
      c.nan_in += g.nan_in;
      c.inf_in += g.inf_in;
      c.nan_out += g.nan_out;
      c.inf_out += g.inf_out;
      c.error_count += g.err_n;
      c.error_sum += g.esum;
      c.error_sq += g.esq;
      c.signal_sq += g.ssq;
      c.max_abs_error = std::max(c.max_abs_error, g.emax);
      g = GroupSums{};
    }
  }
  c.count += 64 * n_groups;
}

#define FP8SIM_KERNEL(MODE)                                                                  \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void        \
      kernel_range_##MODE(const KParams& p, const float* x, std::uint64_t n_groups,        \
                          std::uint64_t first_group, std::uint32_t* codes, float* vals,    \
                          QuantizeCounters& c) {                                           \
    kernel_range_body<RoundingMode::MODE>(p, x, n_groups, first_group, codes, vals, c);    \
  }
FP8SIM_KERNEL(rne)
FP8SIM_KERNEL(rna)
FP8SIM_KERNEL(rtz)
FP8SIM_KERNEL(rup)
FP8SIM_KERNEL(rdn)
FP8SIM_KERNEL(rto)
FP8SIM_KERNEL(sr)
#undef FP8SIM_KERNEL

void kernel_range(const KParams& p, RoundingMode mode, const float* x, std::uint64_t n_groups,
                  std::uint64_t first_group, std::uint32_t* codes, float* vals,
                  QuantizeCounters& c) {
  switch (mode) {
    case RoundingMode::rne: return kernel_range_rne(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rna: return kernel_range_rna(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rtz: return kernel_range_rtz(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rup: return kernel_range_rup(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rdn: return kernel_range_rdn(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::rto: return kernel_range_rto(p, x, n_groups, first_group, codes, vals, c);
    case RoundingMode::sr: return kernel_range_sr(p, x, n_groups, first_group, codes, vals, c);
  }
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
  p.subn = f.subnormals;
  p.ftz = opt.round.ftz;
  p.ieee_target = f.specials == Specials::ieee;
  p.neg_zero = f.has_negative_zero();
  p.nan_target = f.has_nan();
  p.sign_mask = static_cast<std::uint32_t>(f.sign_mask());
  p.max_code = static_cast<std::uint32_t>(f.max_finite_code());
  p.inf_code_pos = f.has_inf() ? static_cast<std::uint32_t>(inf_code(f, false)) : 0;
  p.key = opt.key;
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
    p.ovf_code[s] = static_cast<std::uint32_t>(ovr.code);
    p.ovf_val[s] = static_cast<float>(to_double(f, ovr.code));
    const Class oc = classify(f, ovr.code);
    p.ovf_sat[s] = oc != Class::nan && oc != Class::infinite;
    const Rounded ri = from_float(s ? -INFINITY : INFINITY, f, opt.round, 0);
    p.inf_in_code[s] = static_cast<std::uint32_t>(ri.code);
    p.inf_in_val[s] = static_cast<float>(to_double(f, ri.code));
    p.nan_code_[s] = f.has_nan() ? static_cast<std::uint32_t>(nan_code(f, s != 0)) : 0;
  }
  return p;
}

template <class Code>
void check_code_width(const Format& f) {
  if (static_cast<int>(sizeof(Code) * 8) < f.width())
    throw std::invalid_argument(fmt::format(
        "codes of format '{}' need {} bits; the output array holds {}-bit codes", f.name,
        f.width(), sizeof(Code) * 8));
}

}  // namespace

template <class In, class Code>
QuantizeCounters quantize(const Format& f, std::span<const In> in, const QuantizeOptions& opt,
                          std::span<Code> codes, std::span<In> values) {
  validate(opt.round);
  if (!codes.empty()) {
    check_code_width<Code>(f);
    if (codes.size() != in.size())
      throw std::invalid_argument(fmt::format("quantize: {} inputs but room for {} codes",
                                              in.size(), codes.size()));
  }
  if (!values.empty() && values.size() != in.size())
    throw std::invalid_argument(
        fmt::format("quantize: {} inputs but room for {} values", in.size(), values.size()));
  const std::uint64_t n = in.size();
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  const bool simd = std::is_same_v<In, float> && opt.allow_simd && kernel_applies(f);
  const KParams params = simd ? make_params(f, opt) : KParams{};

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
      std::uint32_t* cptr = nullptr;
      if (!codes.empty()) {
        if constexpr (std::is_same_v<Code, std::uint32_t>) {
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
        kernel_range(params, opt.round.mode, in.data() + lo, groups,
                     (opt.first_index + lo) / 64, cptr, vptr, c);
      }
      if constexpr (!std::is_same_v<Code, std::uint32_t>) {
        if (!codes.empty())
          for (std::uint64_t i = lo; i < hi; ++i) codes[i] = static_cast<Code>(cbuf[i - lo]);
      }
    }
  }
  QuantizeCounters total;
  for (const auto& c : per_thread) total.merge(c);
  return total;
}

#define FP8SIM_INST(IN, CODE)                                                              \
  template QuantizeCounters quantize<IN, CODE>(const Format&, std::span<const IN>,         \
                                               const QuantizeOptions&, std::span<CODE>,    \
                                               std::span<IN>);
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
