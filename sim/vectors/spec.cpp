// sim/vectors/spec.cpp — what a vector file tests: the kinds, the configuration a mac-step
// runs, the stochastic roundings of a case and the random bits generated cases take.
#include <fmt/format.h>

#include "rounding/random_bits.hpp"
#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

const Format& fp64() {
  static const Format f = *find_preset("fp64");
  return f;
}

bool stochastic(const RoundSpec& r) {
  return r.mode == RoundingMode::sr;
}

// Non-empty multiterm groups of a span of `len` products (docs/mac-semantics.md).
std::uint64_t groups_of(const MacConfig& m, std::uint64_t len) {
  if (len == 0) return 0;
  const auto n = static_cast<std::uint64_t>(m.terms);
  const std::uint64_t g = (len + n - 1) / n;
  if (m.interleave <= 0) return g;
  const auto w = static_cast<std::uint64_t>(m.interleave);
  return std::min(g, (len + w - 1) / w);
}

// Accumulator roundings of a dot product of K >= 1 products with C given.
std::uint64_t acc_steps(const MacConfig& m, std::uint64_t K) {
  if (m.chunk > 0) {
    if (m.structure == Structure::sequential) return K;
    std::uint64_t n = 0;
    const auto len = static_cast<std::uint64_t>(m.chunk);
    for (std::uint64_t k0 = 0; k0 < K; k0 += len) n += groups_of(m, std::min(len, K - k0));
    return n;
  }
  switch (m.structure) {
    case Structure::sequential:
      return K;
    case Structure::multiterm:
      return groups_of(m, K);
    case Structure::pairwise:
      return K;  // K-1 sums, then + C
    case Structure::exact:
      return 1;
  }
  return 0;
}

}  // namespace

std::string_view to_string(Kind k) {
  switch (k) {
    case Kind::mac_step:
      return "mac-step";
    case Kind::dot:
      return "dot";
    case Kind::quantize:
      return "quantize";
  }
  return "?";
}

Kind parse_kind(std::string_view text) {
  for (Kind k : {Kind::mac_step, Kind::dot, Kind::quantize})
    if (text == to_string(k)) return k;
  throw std::invalid_argument(
      fmt::format("unknown vector kind {} (allowed: mac-step, dot, quantize)", shown(text)));
}

MacConfig step_config(const MacConfig& m) {
  MacConfig s = m;
  s.structure = Structure::sequential;
  s.align_ref = AlignRef::leading_bit;
  s.interleave = 0;
  s.chunk = 0;
  s.outer = s.acc;
  s.outer_round = RoundSpec{};
  s.c.reset();
  s.out.reset();
  s.out_round = RoundSpec{};
  s.name = m.name;
  return s;
}

int natural_terms(const MacConfig& m) {
  return m.structure == Structure::multiterm ? std::min(m.terms, kMaxTerms) : 4;
}

std::vector<RandomStep> random_steps(const Spec& s) {
  std::vector<RandomStep> v;
  if (s.kind == Kind::quantize) {
    if (stochastic(s.round)) v.push_back({RandomSite::out, 0, s.round.sr_bits});
    return v;
  }
  const MacConfig& m = s.mac;
  if (s.kind == Kind::mac_step) {
    if (stochastic(m.acc_round)) v.push_back({RandomSite::acc, 0, m.acc_round.sr_bits});
    if (m.product && stochastic(m.product_round))
      v.push_back({RandomSite::product, 0, m.product_round.sr_bits});
    return v;
  }
  const auto K = static_cast<std::uint64_t>(s.terms);
  if (m.product && stochastic(m.product_round))
    for (std::uint64_t k = 0; k < K; ++k)
      v.push_back({RandomSite::product, k, m.product_round.sr_bits});
  if (stochastic(m.acc_round))
    for (std::uint64_t k = 0, n = acc_steps(m, K); k < n; ++k)
      v.push_back({RandomSite::acc, k, m.acc_round.sr_bits});
  if (m.chunk > 0 && stochastic(m.outer_round)) {
    const auto len = static_cast<std::uint64_t>(m.chunk);
    for (std::uint64_t j = 0; j < (K + len - 1) / len; ++j)
      v.push_back({RandomSite::outer, j, m.outer_round.sr_bits});
  }
  if (m.out && stochastic(m.out_round)) v.push_back({RandomSite::out, 0, m.out_round.sr_bits});
  return v;
}

void validate(const Spec& s) {
  if (s.kind == Kind::quantize) {
    fp8sim::validate(s.format);
    fp8sim::validate(s.round);
    return;
  }
  fp8sim::validate(s.mac);
  if (s.kind == Kind::dot && (s.terms < 1 || s.terms > kMaxTerms))
    throw std::invalid_argument(
        fmt::format("a dot product of {} terms: allowed 1 to {}", s.terms, kMaxTerms));
  if (s.kind == Kind::mac_step) {
    int bits = 0;
    for (const RandomStep& r : random_steps(s)) bits += r.bits;
    if (bits > 32)
      throw std::invalid_argument(fmt::format(
          "a mac-step of {} takes {} random bits (accumulator and product roundings); its "
          "random field holds at most 32",
          to_string(s.mac), bits));
  }
}

std::vector<std::uint32_t> seeded_random(const Spec& s, std::uint64_t index) {
  std::vector<std::uint32_t> v;
  for (const RandomStep& r : random_steps(s)) {
    if (s.kind == Kind::quantize) {
      v.push_back(random_bits(RandomKey{s.seed, 0}, index, r.bits));
    } else {
      v.push_back(packed_random_bits(mac_random_key(s.seed, r.site, index), r.step, r.bits));
    }
  }
  return v;
}

const Format& a_format(const Spec& s) {
  return s.kind == Kind::quantize ? fp64() : s.mac.a;
}
const Format& b_format(const Spec& s) {
  return s.kind == Kind::quantize ? fp64() : s.mac.b;
}
const Format& c_format(const Spec& s) {
  if (s.kind == Kind::dot && s.mac.c) return *s.mac.c;
  return s.kind == Kind::quantize ? s.format : s.mac.acc;
}
const Format& result_format(const Spec& s) {
  switch (s.kind) {
    case Kind::mac_step:
      return s.mac.acc;
    case Kind::dot:
      return fp8sim::result_format(s.mac);
    case Kind::quantize:
      return s.format;
  }
  return s.format;
}

}  // namespace fp8sim::vectors
