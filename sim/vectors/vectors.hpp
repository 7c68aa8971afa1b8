// sim/vectors/vectors.hpp — test vectors for hardware: the cases `fp8sim vectors gen` writes,
// the results `fp8sim vectors check` reads back, and what the check says about a mismatch.
// The formats and every rule are documented in docs/vectors.md.
//
// Contract:
//  - A Spec says what is tested: one step of a MAC unit's accumulator (mac-step), a whole dot
//    product through the unit (dot), or one conversion of a binary64 value (quantize).
//    - mac-step: acc_out = round_acc(acc_in + a*b): the unit's input formats, product (exact
//      or rounded to its product format), accumulator format and rounding; one fused step,
//      acc_in entering exactly; nothing else of the unit (no groups, chunks or output).
//    - dot: the whole unit (structure, chunks, output conversion) on `terms` products and C,
//      exactly as mac_dot(m, a, b, c, seed, output = case index) computes it.
//    - quantize: convert(binary64 value) into a format with a rounding.
//  - Random bits of stochastic rounding are part of a case (Case::random, one per entry of
//    random_steps()); generated cases take those of the Philox streams keyed by (seed, case
//    index), as mac_dot and `fp8sim quantize` do, except mac-step corner cases, which may
//    choose them (they are inputs of a step).
//  - Every expected result comes from the golden model (sim/golden/) and is cross-checked with
//    the reference model (mac_dot, convert); a disagreement is a bug in fp8sim and throws
//    ModelDisagreement.
//  - Generation is deterministic: the same Spec and options give the same cases, whatever the
//    number of threads.
//  - Files: a header of '#' lines (the full configuration in its text form), one case a line
//    of fixed-width upper-case hex fields; a $readmemh variant (one word a case); a plain
//    "INDEX RESULT FLAGS" dump of hardware results. Malformed files throw VectorFileError
//    naming the file and line.
//  - Corner classes: which a Spec can reach, which a case hits (from the golden model's own
//    rounding steps).
//  - The check compares results with the golden model and diagnoses each mismatch by running
//    the reference model under alternative hypotheses and naming those that reproduce it.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/flags.hpp"
#include "rounding/rounding_mode.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"
#include "sim/mac_config.hpp"

namespace fp8sim::vectors {

// ---- what is tested ---------------------------------------------------------------------

enum class Kind : std::uint8_t { mac_step, dot, quantize };
/// "mac-step", "dot", "quantize".
[[nodiscard]] std::string_view to_string(Kind k);
/// Throws std::invalid_argument listing the kinds.
[[nodiscard]] Kind parse_kind(std::string_view text);

struct Spec {
  Kind kind = Kind::mac_step;
  MacConfig mac;    ///< mac-step, dot: the unit
  Format format;    ///< quantize: the target format
  RoundSpec round;  ///< quantize: its rounding (mode, SR bits, tininess, ftz)
  int terms = 0;    ///< dot: products per case
  std::uint64_t seed = 0;
};

/// The MacConfig a mac-step runs: m's formats, ftz_in, product and accumulator rounding and
/// NaN policy; sequential, C in the accumulator format, no chunks, no output conversion.
[[nodiscard]] MacConfig step_config(const MacConfig& m);
/// The dot length gen uses by default: a multiterm unit's group size, else 4.
[[nodiscard]] int natural_terms(const MacConfig& m);
inline constexpr int kMaxTerms = 4096;
/// Throws std::invalid_argument when the Spec cannot be made into vectors (validate() of the
/// unit, terms outside 1..kMaxTerms, mac-step random bits wider than 32).
void validate(const Spec& s);

/// One stochastic rounding of a case: its site (RandomSite; quantize uses `out`), step
/// number and width r.
struct RandomStep {
  RandomSite site = RandomSite::acc;
  std::uint64_t step = 0;
  int bits = 0;
};
/// The stochastic roundings of one case, in the order of Case::random: mac-step: acc, then
/// product (step 0 each); dot: product steps 0..K-1, acc steps, outer steps, output (each
/// site's steps as mac_dot numbers them); quantize: one. Empty when nothing is stochastic.
[[nodiscard]] std::vector<RandomStep> random_steps(const Spec& s);

/// One case: inputs, random bits, result and flags.
struct Case {
  std::vector<std::uint64_t> a, b;    ///< mac-step: one each; dot: terms each; quantize: a[0]
                                      ///< holds the binary64 bits of the value, b is empty
  std::uint64_t c = 0;                ///< mac-step: acc_in; dot: C (code of m.c or m.acc)
  std::vector<std::uint32_t> random;  ///< one per random_steps() entry
  std::uint64_t result = 0;           ///< mac-step: acc_out; dot: the result; quantize: code
  Flags flags = 0;
};

/// The random bits generated cases take: those mac_dot(seed, output = index) uses (mac-step:
/// of its one step), or for quantize random_bits({seed, 0}, index, r).
[[nodiscard]] std::vector<std::uint32_t> seeded_random(const Spec& s, std::uint64_t index);

/// The formats a case's values are codes of.
[[nodiscard]] const Format& a_format(const Spec& s);
[[nodiscard]] const Format& b_format(const Spec& s);
[[nodiscard]] const Format& c_format(const Spec& s);       ///< acc_in / C
[[nodiscard]] const Format& result_format(const Spec& s);  ///< acc_out / result / code

// ---- evaluation --------------------------------------------------------------------------

struct Outcome {
  std::uint64_t code = 0;
  Flags flags = 0;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

/// Observer of the golden model's roundings (corner classification).
using RoundingObserver = std::function<void(const golden::RoundingEvent&)>;

/// The golden model's result for a case's inputs and random bits (the case's own result is
/// ignored); `observe`, if non-null, sees every rounding it makes.
[[nodiscard]] Outcome golden_outcome(const Spec& s, const Case& c,
                                     const RoundingObserver* observe = nullptr);
/// The reference model's (mac_dot / convert) result for the same.
[[nodiscard]] Outcome reference_outcome(const Spec& s, const Case& c);
/// The reference model run on `evaluated` instead of the Spec's own configuration (the unit
/// for dot, step_config for mac-step; quantize: `format` and `round`), the result given back
/// in result_format(s) (the hypotheses of the diagnosis).
[[nodiscard]] Outcome reference_outcome_as(const Spec& s, const MacConfig& evaluated,
                                           const Case& c);
[[nodiscard]] Outcome reference_outcome_as(const Spec& s, const Format& format,
                                           const RoundSpec& round, const Case& c);

/// The golden model and the reference model disagree: a bug in fp8sim, never bad input.
class ModelDisagreement : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// ---- corner classes ----------------------------------------------------------------------

enum class Corner : std::uint8_t {
  zero_pos,           ///< an input is +0
  zero_neg,           ///< an input is -0
  subnormal_min,      ///< an input is +-min subnormal
  subnormal_max,      ///< an input is +-max subnormal
  normal_min,         ///< an input is +-min normal
  max_finite,         ///< an input is +-max finite
  inf,                ///< an input is +-Inf
  nan,                ///< an input is a NaN
  tie,                ///< a rounding's exact value lies exactly halfway between neighbours
  carry,              ///< a rounding carried into the next binade (1.11..1 rounded up)
  tiny,               ///< a rounding's exact value is non-zero and below min normal
  saturation,         ///< a rounding overflowed (to Inf, max finite or NaN by the format)
  cancellation,       ///< a sum of non-zero terms is exactly zero
  align_at_width,     ///< a term's leading bit sits exactly W bits below the largest's
  align_past_width,   ///< a term lies more than W bits below the largest
  carry_chain,        ///< an all-ones largest term plus the others carries out of its top
  product_underflow,  ///< an exact product is non-zero and below the accumulator's min normal
  product_overflow,   ///< an exact product exceeds the accumulator's max finite
};
inline constexpr std::size_t kCorners = 18;
using CornerSet = std::bitset<kCorners>;
/// "zero+", "tie", "align-at-width", ...
[[nodiscard]] std::string_view corner_name(Corner c);
/// One line saying what the class means.
[[nodiscard]] std::string_view corner_meaning(Corner c);
[[nodiscard]] inline Corner corner_at(std::size_t i) {
  return static_cast<Corner>(i);
}

/// The classes this Spec can reach (the others are reported n/a): those of inputs its
/// formats have, rounding carries only with a mode that rounds up, products beyond the
/// accumulator's range only when the formats allow, saturation only when the largest
/// inputs overflow, ...
[[nodiscard]] CornerSet applicable_corners(const Spec& s);

/// The golden result of a case and the classes it hits.
struct Classified {
  Outcome golden;
  CornerSet corners;
};
[[nodiscard]] Classified classify(const Spec& s, const Case& c);

// ---- generation --------------------------------------------------------------------------

struct GenOptions {
  std::uint64_t count = 0;  ///< random cases (after the corner cases)
  bool corners = false;     ///< corner cases first
  int corner_cases_per_class = 4;
  int threads = 0;  ///< 0: all (OpenMP default)
  /// Called once, before the first case, with the number of cases in all (corner cases
  /// included): the moment to write a header.
  std::function<void(std::uint64_t)> on_total;
  /// Called now and then with (cases done, cases in all); returns false to stop.
  std::function<bool(std::uint64_t, std::uint64_t)> progress;
};

struct GenReport {
  std::uint64_t cases = 0;                     ///< written
  std::uint64_t corner_cases = 0;              ///< of which corner cases (the first ones)
  std::array<std::uint64_t, kCorners> hits{};  ///< cases hitting each class
  CornerSet applicable;
  bool stopped = false;  ///< progress() asked to stop
};

/// The inputs and random bits of random case `index` (a pure function of the seed and index).
[[nodiscard]] Case random_case(const Spec& s, std::uint64_t index);
/// The corner cases of s, golden results included: every special value of every input
/// position, then up to `per_class` cases for each applicable class of roundings, sums and
/// products (proposals aimed at the class that the classifier confirms hit it).
[[nodiscard]] std::vector<Case> corner_cases(const Spec& s, int per_class);

/// The cases of s: corner cases (if asked), then `count` random cases, each with its golden
/// result cross-checked with the reference model (ModelDisagreement otherwise), handed to
/// `sink` in order.
GenReport generate(const Spec& s, const GenOptions& o,
                   const std::function<void(const Case&)>& sink);

// ---- files --------------------------------------------------------------------------------

/// A malformed vector or result file (bad input: exit status 2).
class VectorFileError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A field of a case line: its name and width in bits (written as ceil(bits/4) hex digits).
struct Field {
  std::string name;
  int bits = 0;
};
/// The fields of one case line, in order (docs/vectors.md):
///   mac-step: a b acc_in [random] acc_out flags
///   dot:      a0..a{T-1} b0..b{T-1} c [r_prod0.. r_acc0.. r_outer0.. r_out0] result flags
///   quantize: value [random] result flags
[[nodiscard]] std::vector<Field> fields(const Spec& s);

/// The header: "# fp8sim vectors 1" and "# key: value" lines (kind, mac or format/rounding,
/// seed, count, corners, terms, fields), each ending in '\n'.
[[nodiscard]] std::string header_text(const Spec& s, std::uint64_t count,
                                      std::uint64_t corner_cases);
/// One case line (without '\n').
[[nodiscard]] std::string line_text(const Spec& s, const Case& c);
/// The $readmemh file: '//' header lines, then one word a case (the line's fields
/// concatenated, MSB first).
[[nodiscard]] std::string memh_header(const Spec& s, std::uint64_t count,
                                      std::uint64_t corner_cases);
[[nodiscard]] std::string memh_line(const Spec& s, const Case& c);

/// A vector file read back: its Spec, cases (result and flags as the file has them) and the
/// line number of each.
struct VectorFile {
  Spec spec;
  std::uint64_t corner_cases = 0;
  std::vector<Case> cases;
  std::vector<std::uint64_t> lines;
};
/// True when the first line is "# fp8sim vectors ..." (a vector file, not a dump).
[[nodiscard]] bool looks_like_vector_file(std::istream& in);
/// Reads a vector file (throws VectorFileError naming `name` and the line).
[[nodiscard]] VectorFile read_vector_file(std::istream& in, const std::string& name);

/// A plain dump of hardware results: "INDEX RESULT FLAGS" in hex, one case a line ('#' and
/// '//' lines and blank lines skipped). Returns, per case of `of`, its result and line number
/// (line 0: the dump has no result for it). Throws VectorFileError on a malformed line, an
/// index outside the vector file, an index given twice, a dump without results.
struct ResultDump {
  std::vector<std::optional<Outcome>> results;
  std::vector<std::uint64_t> lines;
};
[[nodiscard]] ResultDump read_result_dump(std::istream& in, const std::string& name,
                                          const VectorFile& of);

// ---- check and diagnosis -----------------------------------------------------------------

/// An alternative the diagnosis tries: the Spec's unit (or format) with one thing changed.
struct Hypothesis {
  std::string id;           ///< "round=rna", "ftz=1", "saturate", "align-1", ...
  std::string description;  ///< "ties away from zero instead of to even", ...
  MacConfig evaluated;      ///< mac-step, dot: the configuration run
  Format format;            ///< quantize
  RoundSpec round;          ///< quantize
};
/// Every hypothesis that applies to s (docs/vectors.md, "Diagnosis").
[[nodiscard]] std::vector<Hypothesis> hypotheses(const Spec& s);
[[nodiscard]] Outcome run_hypothesis(const Spec& s, const Hypothesis& h, const Case& c);

struct Mismatch {
  std::uint64_t index = 0;  ///< case number (0-based)
  std::uint64_t line = 0;   ///< line of the result (0: missing)
  bool missing = false;     ///< the results had none for this case
  bool diagnosed = false;   ///< the hypotheses were run (the first diagnose_limit failures)
  Outcome expected, got;
  std::vector<std::string> causes;       ///< ids of hypotheses giving `got` exactly
  std::vector<std::string> result_only;  ///< ... giving got's code with other flags
  std::string text;                      ///< the report of this mismatch (several lines)
};

struct CheckOptions {
  std::size_t max_report = 20;            ///< mismatches whose text is kept
  std::size_t diagnose_limit = 100000;    ///< failures diagnosed (for the tally)
  std::size_t consistency_limit = 20000;  ///< passing cases the hypotheses are also run on
};

struct CauseCount {
  std::string id, description;
  std::uint64_t exact = 0;         ///< failures it reproduces, result and flags
  std::uint64_t result_only = 0;   ///< failures whose result (not flags) it reproduces
  std::uint64_t contradicted = 0;  ///< passing cases on which it differs from the hardware
};

struct CheckResult {
  std::uint64_t passed = 0, failed = 0;
  std::vector<Mismatch> mismatches;       ///< the first max_report
  std::uint64_t diagnosed = 0;            ///< failures the tally covers
  std::uint64_t consistency_checked = 0;  ///< passing cases the hypotheses were run on
  /// Hypotheses that explain at least one failure, the likeliest first: by failures
  /// reproduced less passing cases contradicted, then by failures reproduced.
  std::vector<CauseCount> causes;
};

/// Compares every case's result and flags (`got`: the file's; nullopt: missing) with the
/// golden model, diagnosing each mismatch.
[[nodiscard]] CheckResult check(const Spec& s, std::span<const Case> cases,
                                std::span<const std::optional<Outcome>> got,
                                std::span<const std::uint64_t> lines, const CheckOptions& o);

/// The distance in units in the last place between two codes of f (nullopt when either is
/// a NaN); Inf counts as one past max finite.
[[nodiscard]] std::optional<std::uint64_t> ulp_distance(const Format& f, std::uint64_t x,
                                                        std::uint64_t y);
/// "3f800000 (0 01111111 00000000000000000000000) = 1".
[[nodiscard]] std::string decoded(const Format& f, std::uint64_t code);

}  // namespace fp8sim::vectors
