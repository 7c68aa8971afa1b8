// sim/vectors/generate.cpp — making the cases of a vector file: corner cases, then random
// cases in parallel blocks (handed on in order), every golden result cross-checked with the
// reference model, and the tally of corner classes hit.
#include <exception>
#include <mutex>

#include <fmt/format.h>
#include <omp.h>

#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

void cross_check(const Spec& s, const Case& c, std::uint64_t index) {
  const Outcome ref = reference_outcome(s, c);
  if (ref.code == c.result && ref.flags == c.flags) return;
  throw ModelDisagreement(fmt::format(
      "the golden model and the reference model (mac_dot) disagree on case {} of {} {}: inputs "
      "and golden result '{}', reference result {:X} flags {:02X}: a bug in fp8sim, please "
      "report it",
      index, to_string(s.kind), s.kind == Kind::quantize ? s.format.name : to_string(s.mac),
      line_text(s, c), ref.code, ref.flags));
}

void tally(GenReport& rep, const CornerSet& hits) {
  for (std::size_t i = 0; i < kCorners; ++i)
    if (hits.test(i)) ++rep.hits[i];
}

}  // namespace

GenReport generate(const Spec& s, const GenOptions& o,
                   const std::function<void(const Case&)>& sink) {
  validate(s);
  GenReport rep;
  rep.applicable = applicable_corners(s);
  std::uint64_t index = 0;
  std::vector<Case> corners;
  if (o.corners) corners = corner_cases(s, o.corner_cases_per_class);
  if (o.on_total) o.on_total(corners.size() + o.count);
  {
    for (Case& c : corners) {
      const Classified k = classify(s, c);
      if (k.golden.code != c.result || k.golden.flags != c.flags)
        throw ModelDisagreement("the golden model gave two results for one corner case");
      cross_check(s, c, index);
      tally(rep, k.corners);
      sink(c);
      ++index;
      ++rep.corner_cases;
    }
  }
  rep.cases = index;
  const std::uint64_t total = index + o.count;
  const std::uint64_t block = s.kind == Kind::dot ? 256 : 2048;
  std::vector<Case> cases;
  std::vector<CornerSet> hits;
  for (std::uint64_t first = 0; first < o.count; first += block) {
    const std::uint64_t n = std::min(block, o.count - first);
    cases.assign(n, Case{});
    hits.assign(n, CornerSet{});
    std::exception_ptr error;
    std::mutex error_mutex;
    const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (std::int64_t j = 0; j < static_cast<std::int64_t>(n); ++j) {
      try {
        const std::uint64_t at = index + first + static_cast<std::uint64_t>(j);
        Case c = random_case(s, at);
        const Classified k = classify(s, c);
        c.result = k.golden.code;
        c.flags = k.golden.flags;
        cross_check(s, c, at);
        hits[static_cast<std::size_t>(j)] = k.corners;
        cases[static_cast<std::size_t>(j)] = std::move(c);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    for (std::uint64_t j = 0; j < n; ++j) {
      tally(rep, hits[j]);
      sink(cases[j]);
      ++rep.cases;
    }
    if (o.progress && !o.progress(rep.cases, total)) {
      rep.stopped = true;
      break;
    }
  }
  return rep;
}

}  // namespace fp8sim::vectors
