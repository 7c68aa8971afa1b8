// workloads/optim/master_weights.cpp — master = round(master + delta), rounded once.
#include "workloads/optim/master_weights.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "rounding/round_pack.hpp"
#include "sim/fma.hpp"

namespace fp8sim::workloads {

namespace {

const Format& fp64_format() {
  static const Format f = parse_format("fp64");
  return f;
}

constexpr std::uint64_t kSite = 0x20;              // stream tag, above the MAC's 1..4
constexpr std::uint64_t kStepLimit = 1ull << 32;   // step field: bits 24..55
constexpr std::uint64_t kParamLimit = 1ull << 24;  // param field: bits 0..23
constexpr std::size_t kChunk = 4096;               // elements per task; a multiple of 64

bool finite_nonzero(const Format& f, std::uint64_t code) {
  const Class c = classify(f, code);
  return c == Class::normal || c == Class::subnormal;
}

bool finite(const Format& f, std::uint64_t code) {
  const Class c = classify(f, code);
  return c != Class::infinite && c != Class::nan;
}

}  // namespace

double MasterUpdateStats::mean_abs_delta() const {
  const std::uint64_t n = count - nonfinite_delta;
  return n == 0 ? 0.0 : sum_abs_delta / static_cast<double>(n);
}

void MasterUpdateStats::merge(const MasterUpdateStats& o) {
  count += o.count;
  nonzero += o.nonzero;
  vanished += o.vanished;
  nonfinite_delta += o.nonfinite_delta;
  overflow += o.overflow;
  max_abs_delta = std::max(max_abs_delta, o.max_abs_delta);
  sum_abs_delta += o.sum_abs_delta;
}

MasterWeights::MasterWeights(Format format, RoundSpec round, int threads)
    : format_(std::move(format)), round_(round), threads_(threads) {
  validate(format_);
  validate(round_);
  (void)fp64_format();  // built here, never first inside a parallel region
}

std::size_t MasterWeights::add_param(std::span<const float> initial) {
  std::vector<std::uint64_t> codes(initial.size());
  for (std::size_t i = 0; i < initial.size(); ++i)
    codes[i] = from_float(initial[i], format_, RoundSpec{}).code;
  codes_.push_back(std::move(codes));
  values_.emplace_back(initial.size());
  decode_values(codes_.size() - 1);
  return codes_.size() - 1;
}

std::size_t MasterWeights::param_size(std::size_t param) const {
  if (param >= codes_.size())
    throw std::out_of_range(fmt::format("master weights: parameter {} is not registered (have {})",
                                        param, codes_.size()));
  return codes_[param].size();
}

std::span<const float> MasterWeights::values(std::size_t param) const {
  (void)param_size(param);
  return values_[param];
}

std::span<const std::uint64_t> MasterWeights::codes(std::size_t param) const {
  (void)param_size(param);
  return codes_[param];
}

RandomKey MasterWeights::random_key(std::uint64_t seed, std::uint64_t step, std::size_t param) {
  if (step >= kStepLimit || param >= kParamLimit)
    throw std::out_of_range(
        fmt::format("master weights: random key of step {} and parameter {} (allowed: step < 2^32, "
                    "parameter < 2^24)",
                    step, param));
  return RandomKey{seed, (kSite << 56) | (step << 24) | static_cast<std::uint64_t>(param)};
}

void MasterWeights::decode_values(std::size_t param) {
  const std::vector<std::uint64_t>& c = codes_[param];
  std::vector<float>& v = values_[param];
  for (std::size_t i = 0; i < c.size(); ++i) v[i] = static_cast<float>(to_double(format_, c[i]));
}

MasterUpdateStats MasterWeights::apply(std::size_t param, std::span<const double> delta,
                                       std::uint64_t seed, std::uint64_t step) {
  const std::size_t n = param_size(param);
  if (delta.size() != n)
    throw std::invalid_argument(
        fmt::format("master weights: delta of parameter {} has {} elements (expected {})", param,
                    delta.size(), n));
  const RandomKey key = random_key(seed, step, param);
  const Format& f = format_;
  const Format& f64 = fp64_format();
  const RoundSpec r = round_;
  const bool sr = r.mode == RoundingMode::sr;
  const std::uint64_t one = std::bit_cast<std::uint64_t>(1.0);
  std::uint64_t* codes = codes_[param].data();
  float* values = values_[param].data();
  const auto chunks = static_cast<std::ptrdiff_t>((n + kChunk - 1) / kChunk);
  std::vector<MasterUpdateStats> part(static_cast<std::size_t>(chunks));
  const int threads = threads_ > 0 ? threads_ : omp_get_max_threads();

#pragma omp parallel for num_threads(threads) schedule(static) if (chunks > 1)
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    MasterUpdateStats s;
    std::array<std::uint32_t, 64> words{};
    const std::size_t lo = static_cast<std::size_t>(c) * kChunk;
    const std::size_t hi = std::min(n, lo + kChunk);
    for (std::size_t i = lo; i < hi; ++i) {
      // lo is a multiple of 64: one Philox group serves 64 elements (= random_word(key, i)).
      if (sr && i % 64 == 0) random_group(key, i / 64, words.data());
      const double d = delta[i];
      const std::uint64_t old = codes[i];
      ++s.count;
      if (std::isfinite(d)) {
        s.max_abs_delta = std::max(s.max_abs_delta, std::fabs(d));
        s.sum_abs_delta += std::fabs(d);
      } else {
        ++s.nonfinite_delta;
      }
      if (d == 0) {
        // w + (+-0) = w for every non-zero finite w; zeros and specials go through the sum
        // (-0 + +0 = +0, a NaN is quieted), as fp32 addition does.
        if (finite_nonzero(f, old)) continue;
      } else {
        ++s.nonzero;
      }
      const std::uint32_t random = sr ? words[i % 64] >> (32 - r.sr_bits) : 0;
      const Rounded res = fma(f64, std::bit_cast<std::uint64_t>(d), f64, one, f, old, f, r, random);
      codes[i] = res.code;
      values[i] = static_cast<float>(to_double(f, res.code));
      if ((res.flags & kOverflow) != 0) ++s.overflow;
      if (d != 0 && std::isfinite(d) && res.code == old && finite(f, old)) ++s.vanished;
    }
    part[static_cast<std::size_t>(c)] = s;
  }

  MasterUpdateStats total;  // merged in chunk order: the same sums for any thread count
  for (const MasterUpdateStats& s : part) total.merge(s);
  return total;
}

std::vector<std::uint64_t> MasterWeights::export_codes(std::size_t param) const {
  const std::span<const std::uint64_t> c = codes(param);
  return {c.begin(), c.end()};
}

void MasterWeights::import_codes(std::size_t param, std::span<const std::uint64_t> codes) {
  const std::size_t n = param_size(param);
  if (codes.size() != n)
    throw std::invalid_argument(fmt::format(
        "master weights: {} codes for parameter {} of {} elements", codes.size(), param, n));
  for (std::size_t i = 0; i < n; ++i)
    if (codes[i] > format_.code_mask())
      throw std::invalid_argument(fmt::format(
          "master weights: code {:#x} at element {} of parameter {} does not fit {} ({} bits)",
          codes[i], i, param, format_.name, format_.width()));
  std::copy(codes.begin(), codes.end(), codes_[param].begin());
  decode_values(param);
}

}  // namespace fp8sim::workloads
