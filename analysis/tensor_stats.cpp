// analysis/tensor_stats.cpp — the extra statistics pass and the element-wise comparison
// against a reference.
#include "analysis/tensor_stats.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

namespace fp8sim::analysis {

Binades Binades::of(const Format& f) {
  const FormatProperties p = properties(f);
  Binades b;
  b.first = std::ilogb(p.min_subnormal);
  b.binades = p.emax + 1 - b.first;
  return b;
}

void ExtraCounts::merge(const ExtraCounts& o) {
  flushed_subnormal += o.flushed_subnormal;
  rel_count += o.rel_count;
  rel_error_sum += o.rel_error_sum;
  amax = std::max(amax, o.amax);
  if (histogram.size() < o.histogram.size()) histogram.resize(o.histogram.size());
  for (std::size_t i = 0; i < o.histogram.size(); ++i) histogram[i] += o.histogram[i];
}

namespace {

// IEEE layout of the input type.
template <class T>
struct Bits;
template <>
struct Bits<float> {
  using U = std::uint32_t;
  static constexpr int kMan = 23, kBias = 127, kFields = 256;
};
template <>
struct Bits<double> {
  using U = std::uint64_t;
  static constexpr int kMan = 52, kBias = 1023, kFields = 2048;
};

std::size_t bin_of_log2(const Binades& b, int e) {
  if (e < b.first) return 0;
  if (e >= b.first + b.binades) return b.bins() - 1;
  return static_cast<std::size_t>(e - b.first + 1);
}

// Histogram of log2|x| over [lo, hi): counts of the raw exponent field first (four
// interleaved copies so consecutive increments do not wait on each other), mapped onto
// the format's bins afterwards. Subnormal inputs and NaN/Inf (fields 0 and all-ones) are
// resolved element by element; they are rare.
template <class T>
void histogram_range(const Binades& b, const T* x, std::size_t lo, std::size_t hi,
                     std::vector<std::uint64_t>& hist) {
  using U = typename Bits<T>::U;
  constexpr int kF = Bits<T>::kFields;
  std::vector<std::uint32_t> raw(4 * kF, 0);
  auto flush_raw = [&] {
    for (int fld = 1; fld < kF - 1; ++fld) {
      const std::uint64_t n =
          std::uint64_t{raw[fld]} + raw[kF + fld] + raw[2 * kF + fld] + raw[3 * kF + fld];
      if (n) hist[bin_of_log2(b, fld - Bits<T>::kBias)] += n;
    }
    std::fill(raw.begin(), raw.end(), 0u);
  };
  auto special = [&](U a) {
    const int fld = static_cast<int>(a >> Bits<T>::kMan);
    if (fld == 0) {
      if (a == 0) return;  // zero: not binned
      const int e = 1 - Bits<T>::kBias - Bits<T>::kMan + (std::bit_width(a) - 1);
      ++hist[bin_of_log2(b, e)];
    } else if (a == (U{static_cast<U>(kF - 1)} << Bits<T>::kMan)) {
      ++hist[b.bins() - 1];  // +-Inf
    }                        // NaN: not binned
  };
  constexpr std::size_t kBlock = 1u << 30;  // 32-bit raw counters never wrap within a block
  for (std::size_t blo = lo; blo < hi; blo += kBlock) {
    const std::size_t bhi = std::min(hi, blo + kBlock);
    std::size_t i = blo;
    for (; i + 4 <= bhi; i += 4) {
      for (int k = 0; k < 4; ++k) {
        const U a = std::bit_cast<U>(x[i + k]) & (~U{0} >> 1);
        const int fld = static_cast<int>(a >> Bits<T>::kMan);
        ++raw[k * kF + fld];
      }
    }
    for (; i < bhi; ++i) ++raw[std::bit_cast<U>(x[i]) >> Bits<T>::kMan & (kF - 1)];
    // fields 0 and kF-1 were counted raw; resolve them element by element if present
    const std::uint64_t rare = std::uint64_t{raw[0]} + raw[kF] + raw[2 * kF] + raw[3 * kF] +
                               raw[kF - 1] + raw[2 * kF - 1] + raw[3 * kF - 1] + raw[4 * kF - 1];
    if (rare)
      for (std::size_t j = blo; j < bhi; ++j) {
        const U a = std::bit_cast<U>(x[j]) & (~U{0} >> 1);
        const int fld = static_cast<int>(a >> Bits<T>::kMan);
        if (fld == 0 || fld == kF - 1) special(a);
      }
    flush_raw();
  }
}

}  // namespace

template <class T>
ExtraCounts extra_counts(const Format& f, std::span<const T> in, std::span<const T> out,
                         int threads) {
  if (!out.empty() && out.size() != in.size())
    throw std::invalid_argument(
        fmt::format("statistics: {} inputs but {} outputs", in.size(), out.size()));
  const Binades b = Binades::of(f);
  const double sub_min = std::ldexp(1.0, f.emin() - f.man_bits);
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const std::size_t n = in.size();
  constexpr std::size_t kChunk = 1u << 16;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<ExtraCounts> part(static_cast<std::size_t>(nt));
#pragma omp parallel num_threads(nt) if (chunks > 1)
  {
    ExtraCounts& e = part[static_cast<std::size_t>(omp_get_thread_num())];
    e.histogram.assign(b.bins(), 0);
#pragma omp for schedule(static)
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
      const T* x = in.data();
      T amax = 0;  // NaN compares false: skipped; Inf excluded below
      for (std::size_t i = lo; i < hi; ++i) {
        const T a = std::abs(x[i]);
        amax = a > amax && a <= std::numeric_limits<T>::max() ? a : amax;
      }
      e.amax = std::max(e.amax, static_cast<double>(amax));
      histogram_range<T>(b, x, lo, hi, e.histogram);
      if (out.empty()) continue;
      const T* y = out.data();
      double rel = 0;
      std::uint64_t rel_n = 0, flushed = 0;
      for (std::size_t i = lo; i < hi; ++i) {
        const double xi = x[i], yi = y[i], ax = std::abs(xi);
        const bool fin = ax <= std::numeric_limits<double>::max() &&
                         std::abs(yi) <= std::numeric_limits<double>::max();
        const bool use = fin && xi != 0;
        rel += use ? std::abs(yi - xi) / ax : 0.0;
        rel_n += use;
        flushed += use && yi == 0 && ax >= sub_min;
      }
      e.rel_error_sum += rel;
      e.rel_count += rel_n;
      e.flushed_subnormal += flushed;
    }
  }
  ExtraCounts total;
  total.histogram.assign(b.bins(), 0);
  for (const auto& p : part) total.merge(p);
  return total;
}

template ExtraCounts extra_counts<float>(const Format&, std::span<const float>,
                                         std::span<const float>, int);
template ExtraCounts extra_counts<double>(const Format&, std::span<const double>,
                                          std::span<const double>, int);

TensorStats tensor_stats(const QuantizeCounters& c, const ExtraCounts& x) {
  TensorStats s;
  s.count = c.count;
  s.zeros_in = c.zeros_in;
  s.underflow = c.underflow_to_zero;
  s.flushed_subnormal = x.flushed_subnormal;
  s.subnormal_out = c.subnormal_out;
  s.overflow = c.overflow;
  s.saturated = c.saturated;
  s.nan_in = c.nan_in;
  s.inf_in = c.inf_in;
  s.nan_out = c.nan_out;
  s.inf_out = c.inf_out;
  s.error_count = c.error_count;
  if (c.error_count) {
    const double n = static_cast<double>(c.error_count);
    s.error_mean = c.error_sum / n;
    s.error_var = std::max(0.0, c.error_sq / n - s.error_mean * s.error_mean);
  }
  s.max_abs_error = c.max_abs_error;
  s.rel_error_mean = x.rel_count ? x.rel_error_sum / static_cast<double>(x.rel_count) : 0.0;
  s.sqnr_db = c.error_sq == 0 ? std::numeric_limits<double>::infinity()
                              : 10.0 * std::log10(c.signal_sq / c.error_sq);
  s.amax = x.amax;
  s.histogram = x.histogram;
  return s;
}

TensorStats compare_to_reference(const Format& f, std::span<const double> ref,
                                 std::span<const double> out, int threads) {
  if (ref.size() != out.size())
    throw std::invalid_argument(
        fmt::format("statistics: {} reference values but {} outputs", ref.size(), out.size()));
  const FormatProperties p = properties(f);
  QuantizeCounters c;
  const std::size_t n = ref.size();
  std::uint64_t zeros = 0, uf = 0, subn = 0, ovf = 0, sat = 0, nan_in = 0, inf_in = 0, nan_out = 0,
                inf_out = 0, ecount = 0;
  double esum = 0, esq = 0, ssq = 0, emax = 0;
  const int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for num_threads(nt) if (n > 65536) reduction(+ : zeros, uf, subn, ovf, sat, nan_in, inf_in, nan_out, inf_out, ecount, esum, esq, ssq) reduction(max : emax)
  for (std::size_t i = 0; i < n; ++i) {
    const double x = ref[i], y = out[i];
    const bool xf = std::isfinite(x), yf = std::isfinite(y);
    zeros += x == 0;
    nan_in += std::isnan(x);
    inf_in += std::isinf(x);
    nan_out += std::isnan(y);
    inf_out += std::isinf(y);
    uf += xf && x != 0 && y == 0;
    subn += yf && y != 0 && std::abs(y) < p.min_normal;
    const bool o = xf && (!yf || std::abs(x) > p.max_finite);
    ovf += o;
    sat += o && yf;
    if (xf && yf) {
      const double e = y - x;
      ++ecount;
      esum += e;
      esq += e * e;
      ssq += x * x;
      emax = std::max(emax, std::abs(e));
    }
  }
  c.count = n;
  c.zeros_in = zeros;
  c.underflow_to_zero = uf;
  c.subnormal_out = subn;
  c.overflow = ovf;
  c.saturated = sat;
  c.nan_in = nan_in;
  c.inf_in = inf_in;
  c.nan_out = nan_out;
  c.inf_out = inf_out;
  c.error_count = ecount;
  c.error_sum = esum;
  c.error_sq = esq;
  c.signal_sq = ssq;
  c.max_abs_error = emax;
  return tensor_stats(c, extra_counts<double>(f, ref, out, threads));
}

}  // namespace fp8sim::analysis
