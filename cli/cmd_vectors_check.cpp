// cli/cmd_vectors_check.cpp — `fp8sim vectors check` of fp8sim's own vector files: hardware
// results (in the vector file's format, or a plain "INDEX RESULT FLAGS" dump beside the vector
// file) against the golden model, each mismatch decoded and diagnosed
// (sim/vectors/vectors.hpp, docs/vectors.md).
#include <fstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "sim/vectors/vectors.hpp"

namespace fp8sim::cli {

void check_fp8sim_vectors(const Fp8simCheck& a, Context& ctx) {
  check_input_file({"vector file", a.file});
  if (!a.vectors.empty()) check_input_file({"--vectors", a.vectors});
  std::ifstream in(a.file);
  if (!in) throw UsageError(fmt::format("cannot open vector file {}", shown(a.file)));
  vectors::VectorFile vf;
  std::vector<std::optional<vectors::Outcome>> got;
  std::vector<std::uint64_t> lines;
  if (in.peek() == std::ifstream::traits_type::eof())
    throw UsageError(fmt::format("vector file {} is empty (no test cases)", shown(a.file)));
  std::string first;
  std::getline(in, first);
  in.clear();
  in.seekg(0);
  const bool memh = first.starts_with("// fp8sim vectors");  // read_vector_file says what it is
  const bool is_vector_file = vectors::looks_like_vector_file(in) || memh;
  if (a.vectors.empty()) {
    if (!is_vector_file)
      throw UsageError(fmt::format(
          "vector file {} is not an fp8sim vector file (no '# fp8sim vectors' first line): "
          "give --testfloat OP or --gpu for other files, or --vectors FILE when it is a plain "
          "'INDEX RESULT FLAGS' dump of the cases of FILE",
          shown(a.file)));
    vf = vectors::read_vector_file(in, a.file);
    for (const auto& c : vf.cases) got.push_back(vectors::Outcome{c.result, c.flags});
    lines = vf.lines;
  } else {
    if (is_vector_file)
      throw UsageError(fmt::format(
          "{} is a vector file itself: --vectors names the vector file of a plain 'INDEX "
          "RESULT FLAGS' dump (check a vector file with results on its own)",
          shown(a.file)));
    std::ifstream vin(a.vectors);
    if (!vin) throw UsageError(fmt::format("cannot open --vectors {}", shown(a.vectors)));
    vf = vectors::read_vector_file(vin, a.vectors);
    const vectors::ResultDump d = vectors::read_result_dump(in, a.file, vf);
    got = d.results;
    lines = d.lines;
  }
  const vectors::Spec& s = vf.spec;
  if (!a.mac.empty()) {
    if (s.kind == vectors::Kind::quantize)
      throw UsageError(fmt::format("--mac does not apply: {} holds quantize vectors ({})",
                                   shown(a.vectors.empty() ? a.file : a.vectors), s.format.name));
    const MacConfig m = parse_mac(a.mac);
    if (to_string(m) != to_string(s.mac))
      throw UsageError(
          fmt::format("--mac {} is not the unit the vectors were made for (their "
                      "header: mac: {})",
                      shown(a.mac), to_string(s.mac)));
  }
  if (vf.cases.empty())
    throw UsageError(fmt::format("vector file {} holds no test cases",
                                 shown(a.vectors.empty() ? a.file : a.vectors)));
  vectors::CheckOptions co;
  co.max_report = a.max_report;
  const vectors::CheckResult res = vectors::check(s, vf.cases, got, lines, co);
  fmt::print("{}: {} cases of {} for {}{}\n", a.file, vf.cases.size(), to_string(s.kind),
             s.kind == vectors::Kind::quantize
                 ? fmt::format("{} with {}", s.format.name, to_string(s.round))
                 : to_string(s.mac),
             a.vectors.empty() ? "" : fmt::format(" (the cases of {})", a.vectors));
  for (const auto& mm : res.mismatches) fmt::print("{}", mm.text);
  if (res.failed > res.mismatches.size())
    fmt::print("... and {} more mismatches (--max-report {})\n", res.failed - res.mismatches.size(),
               a.max_report);
  if (!res.causes.empty()) {
    fmt::print(
        "likely causes (hypotheses that reproduce the {} failures diagnosed, checked against "
        "{} passing cases), likeliest first:\n",
        res.diagnosed, res.consistency_checked);
    for (const auto& c : res.causes) {
      std::string what = fmt::format("reproduces {} of {}", c.exact, res.diagnosed);
      if (c.result_only)
        what += fmt::format(" (and the result, not the flags, of {})", c.result_only);
      what += c.contradicted ? fmt::format(", contradicts {} passing", c.contradicted)
                             : std::string(", agrees with every passing case");
      fmt::print("  {:<16} {}: {}\n", c.id, what, c.description);
    }
  } else if (res.diagnosed > 0) {
    fmt::print("likely causes: none of the hypotheses reproduces a failure (docs/vectors.md)\n");
  }
  fmt::print("{} passed, {} failed\n", res.passed, res.failed);
  ctx.exit_status = res.failed ? 1 : 0;
}

}  // namespace fp8sim::cli
