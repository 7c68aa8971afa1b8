// sim/gpu_vectors.cpp — measured GPU dot products through a MAC spec (see gpu_vectors.hpp).
#include "sim/gpu_vectors.hpp"

#include <bit>
#include <cmath>

#include <fmt/format.h>

#include "rounding/rounding.hpp"
#include "sim/mac.hpp"

namespace fp8sim {

namespace {

const Format& fp32() {
  static const Format f = parse_format("fp32");
  return f;
}

std::uint64_t exact_code(const GpuVectorFile& f, std::size_t i, std::uint32_t bits,
                         const Format& to, const char* what) {
  const Rounded r = convert(fp32(), bits, to, RoundSpec{});
  if (r.flags & kInexact)
    throw GpuVectorError(fmt::format(
        "{}: case {}: {} {:08X} is not exact in {} (the spec's input formats must hold the "
        "file's in={} values)",
        f.path.filename().string(), i, what, bits, to.name, f.in));
  return r.code;
}

std::string decoded(const Format& f, std::uint64_t code) {
  return fmt::format("{:0{}x} ({})", code, (f.width() + 3) / 4, to_double(f, code));
}

}  // namespace

GpuCaseCodes gpu_case_codes(const GpuVectorFile& f, std::size_t i, const MacConfig& m) {
  const GpuCase& cs = f.cases.at(i);
  GpuCaseCodes out;
  for (auto x : cs.a) out.a.push_back(exact_code(f, i, x, m.a, "a"));
  for (auto x : cs.b) out.b.push_back(exact_code(f, i, x, m.b, "b"));
  const Format& cf = m.c ? *m.c : m.acc;
  // c=fp16: the measuring program rounded the c column to nearest even into fp16
  if (f.c_mode != "zero") out.c = convert(fp32(), cs.c, cf, RoundSpec{}).code;
  out.d = convert(fp32(), cs.d, result_format(m), RoundSpec{}).code;
  return out;
}

GpuCheckResult check_gpu_vectors(const GpuVectorFile& f, const MacConfig& m,
                                 std::size_t max_report) {
  GpuCheckResult res;
  const Format& rf = result_format(m);
  for (std::size_t i = 0; i < f.cases.size(); ++i) {
    const GpuCaseCodes in = gpu_case_codes(f, i, m);
    const MacResult r = mac_dot(m, in.a, in.b, in.c, 0, i);
    if (r.code == in.d) {
      ++res.passed;
      continue;
    }
    ++res.failed;
    if (res.mismatches.size() >= max_report) continue;
    // inputs as CODE=VALUE in their formats
    std::string a, b;
    const int ha = (m.a.width() + 3) / 4, hb = (m.b.width() + 3) / 4;
    for (auto x : in.a)
      a += fmt::format("{}{:0{}x}={}", a.empty() ? "" : " ", x, ha, to_double(m.a, x));
    for (auto x : in.b)
      b += fmt::format("{}{:0{}x}={}", b.empty() ? "" : " ", x, hb, to_double(m.b, x));
    const double want = to_double(rf, in.d), got = to_double(rf, r.code);
    const int e =
        want != 0 && std::isfinite(want) ? std::max(std::ilogb(want), rf.emin()) : rf.emin();
    res.mismatches.push_back(
        {i, fmt::format("a = [{}], b = [{}], c = {}: measured {}, got {} ({:+g} ulp of {})", a, b,
                        in.c ? decoded(m.c ? *m.c : m.acc, *in.c) : std::string("none"),
                        decoded(rf, in.d), decoded(rf, r.code),
                        (got - want) / std::ldexp(1.0, e - rf.man_bits), rf.name)});
  }
  return res;
}

}  // namespace fp8sim
