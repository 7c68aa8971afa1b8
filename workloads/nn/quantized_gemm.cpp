// workloads/nn/quantized_gemm.cpp — role quantizers and layer GEMMs on fp32 arrays.
#include "workloads/nn/quantized_gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "rounding/rounding.hpp"

namespace fp8sim::workloads {

std::uint64_t name_key(const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

LayerTimes& layer_times() {
  static LayerTimes t;
  return t;
}

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ScopedTime::ScopedTime(double& sum) : sum_(sum), t0_(now_seconds()) {}
ScopedTime::~ScopedTime() {
  sum_ += now_seconds() - t0_;
}

namespace {

// Element i of step s uses random-bit index s * 2^36 + i: a tensor has < 2^36 elements.
constexpr int kStepShift = 36;

}  // namespace

double delayed_scale(double previous, double amax, double max_finite, int margin) {
  if (!(amax > 0) || !std::isfinite(amax)) return previous;
  const double s = static_cast<double>(
      static_cast<float>(max_finite / amax / std::ldexp(1.0, margin)));  // a binary32 scale
  if (!std::isfinite(s)) return std::numeric_limits<float>::max();
  return s;
}

float quantize_role(const RoleQuant& q, const std::string& name, std::span<const float> in,
                    std::span<float> out, const StepContext& ctx) {
  const ScopedTime timed(layer_times().quantize);
  if (in.size() != out.size())
    throw std::invalid_argument(
        fmt::format("quantize_role {}: {} inputs, {} outputs", name, in.size(), out.size()));
  if (!q.format) {
    if (in.data() != out.data()) std::copy(in.begin(), in.end(), out.begin());
    return 1.0f;
  }
  QuantizeOptions o;
  o.round = q.round;
  o.key = RandomKey{ctx.seed, name_key(name)};
  o.first_index = ctx.step << kStepShift;
  o.threads = ctx.threads;
  o.error_stats = ctx.stats != nullptr;
  std::vector<float> tmp;
  float scale = 1.0f;
  if (q.scaling == Scaling::delayed) {
    if (!ctx.scales)
      throw std::logic_error(fmt::format("quantize_role {}: delayed scaling without states", name));
    ScaleState& st = (*ctx.scales)[name];
    scale = static_cast<float>(st.scale);
    // (threaded: the max and the products do not depend on the order)
    const int th = ctx.threads > 0 ? ctx.threads : omp_get_max_threads();
    const float* src = in.data();
    const std::size_t n = in.size();
    float amax_f = 0;
#pragma omp parallel for num_threads(th) schedule(static) reduction(max : amax_f) if (n > 65536)
    for (std::size_t i = 0; i < n; ++i)
      if (std::isfinite(src[i])) amax_f = std::max(amax_f, std::abs(src[i]));
    const auto amax = static_cast<double>(amax_f);
    tmp.resize(n);
    float* dst = tmp.data();
#pragma omp parallel for num_threads(th) schedule(static) if (n > 65536)
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] * scale;
    in = tmp;
    if (ctx.update_scales) {
      const std::size_t len = static_cast<std::size_t>(std::max(1, q.amax_history));
      if (st.history.size() != len) st.history.assign(len, 0.0);
      st.history[st.next] = amax;
      st.next = (st.next + 1) % len;
      const double hmax = *std::max_element(st.history.begin(), st.history.end());
      st.scale = delayed_scale(st.scale, hmax, to_double(*q.format, q.format->max_finite_code()),
                               q.margin);
    }
  } else if (in.data() == out.data()) {  // the quantizer reads and writes separate arrays
    tmp.assign(in.begin(), in.end());
    in = tmp;
  }
  const QuantizeCounters c = quantize_values<float>(*q.format, in, o, out);
  if (ctx.stats) {
    QuantPointStats& st = ctx.stats->quant[name];
    st.counters.merge(c);
    st.extra.merge(analysis::extra_counts<float>(*q.format, in, out, ctx.threads));
    st.format = q.format->name;
    st.rounding = to_string(q.round);
  }
  return scale;
}

void layer_gemm(const MacConfig& m, const std::string& name, std::size_t M, std::size_t N,
                std::size_t K, std::span<const float> A, std::span<const float> B,
                std::span<float> C, const StepContext& ctx) {
  const ScopedTime timed(layer_times().gemm);
  if (A.size() != M * K || B.size() != K * N || C.size() != M * N)
    throw std::invalid_argument(fmt::format("layer_gemm {}: sizes {}x{}x{} do not match {}, {}, {}",
                                            name, M, N, K, A.size(), B.size(), C.size()));
  GemmOptions go;
  go.threads = ctx.threads;
  go.seed = ctx.seed ^ name_key(name) ^ (ctx.step * 0x9E3779B97F4A7C15ull);
  go.flags = ctx.stats != nullptr;
  // the layer's inputs come from quantize_role (or are fp32): checked in builds with
  // assertions (the sanitizer tests), trusted in release builds (the check is a pass over
  // inputs as large as an im2col)
#ifdef NDEBUG
  go.check_inputs = false;
#endif
  GemmF32Result r;
  try {
    r = gemm_f32(m, M, N, K, A, nullptr, B, nullptr, C, go);
  } catch (const std::invalid_argument& e) {  // inputs not quantized: a bug of the layer
    throw std::logic_error(fmt::format("layer_gemm {}: {}", name, e.what()));
  }
  const Format& rf = result_format(m);
  if (ctx.stats) {
    GemmPointStats& st = ctx.stats->gemm[name];
    st.counts.merge(r.counts);
    st.m = M;
    st.n = N;
    st.k = K;
    st.mac = to_string(m);
    st.out_format = rf.name;
  }
}

}  // namespace fp8sim::workloads
