// sim/vectors/diagnose.cpp — the hypotheses of the diagnosis: the Spec's unit (or format)
// with one thing changed, each a configuration the reference model runs as it is. Those
// that reproduce a hardware result are its likely causes (docs/vectors.md, "Diagnosis").
#include <fmt/format.h>

#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

constexpr RoundingMode kModes[] = {RoundingMode::rne, RoundingMode::rna, RoundingMode::rtz,
                                   RoundingMode::rup, RoundingMode::rdn, RoundingMode::rto};

std::string_view mode_words(RoundingMode m) {
  switch (m) {
    case RoundingMode::rne:
      return "to nearest, ties to even";
    case RoundingMode::rna:
      return "to nearest, ties away from zero";
    case RoundingMode::rtz:
      return "toward zero: truncation";
    case RoundingMode::rup:
      return "toward +Inf";
    case RoundingMode::rdn:
      return "toward -Inf";
    case RoundingMode::rto:
      return "to odd";
    case RoundingMode::sr:
      return "stochastic";
  }
  return "?";
}

std::string mode_change(std::string_view what, const RoundSpec& from, RoundingMode to) {
  if (from.mode == RoundingMode::rne && to == RoundingMode::rna)
    return fmt::format("{} ties away from zero instead of to even (rna, not rne)", what);
  if (from.mode == RoundingMode::rna && to == RoundingMode::rne)
    return fmt::format("{} ties to even instead of away from zero (rne, not rna)", what);
  return fmt::format("{} rounds {} ({}) instead of {}", what, to_string(to), mode_words(to),
                     to_string(from));
}

// The same format with one fraction bit fewer (nullopt if there is no such format).
std::optional<Format> one_bit_short(const Format& f) {
  if (f.man_bits < 1) return std::nullopt;
  Format g = f;
  g.man_bits = f.man_bits - 1;
  g.name = fmt::format("{} less one fraction bit", f.name);
  try {
    validate(g);
  } catch (const FormatError&) {
    return std::nullopt;
  }
  return g;
}

class Builder {
 public:
  explicit Builder(std::vector<Hypothesis>& out) : out_(out) {}
  void mac(const MacConfig& base, std::string id, std::string description,
           const std::function<bool(MacConfig&)>& change) {
    Hypothesis h;
    h.evaluated = base;
    if (!change(h.evaluated)) return;
    h.id = std::move(id);
    h.description = std::move(description);
    out_.push_back(std::move(h));
  }
  void quantize(const Format& f, const RoundSpec& r, std::string id, std::string description) {
    Hypothesis h;
    h.format = f;
    h.round = r;
    h.id = std::move(id);
    h.description = std::move(description);
    out_.push_back(std::move(h));
  }

 private:
  std::vector<Hypothesis>& out_;
};

void mac_hypotheses(const Spec& s, std::vector<Hypothesis>& out) {
  const bool dot = s.kind == Kind::dot;
  const MacConfig base = dot ? s.mac : step_config(s.mac);
  Builder b(out);
  // 1. rounding modes, site by site
  struct Site {
    const char* key;
    const char* what;
    RoundSpec MacConfig::*round;
    bool on;
  };
  const Site sites[] = {
      {"round", "the accumulator", &MacConfig::acc_round, true},
      {"prod_round", "the product rounding", &MacConfig::product_round, base.product.has_value()},
      {"outer_round", "the outer accumulator", &MacConfig::outer_round, base.chunk > 0},
      {"out_round", "the output conversion", &MacConfig::out_round, base.out.has_value()},
  };
  for (const Site& site : sites) {
    if (!site.on) continue;
    const RoundSpec cur = base.*site.round;
    for (RoundingMode m : kModes) {
      if (m == cur.mode) continue;
      b.mac(base, fmt::format("{}={}", site.key, to_string(m)), mode_change(site.what, cur, m),
            [&](MacConfig& c) {
              (c.*site.round).mode = m;
              return true;
            });
    }
  }
  // 2. tininess, flush to zero, subnormal inputs
  const bool before = base.acc_round.tininess == Tininess::before;
  b.mac(base, before ? "tininess=after" : "tininess=before",
        before ? "detects tininess after rounding instead of before"
               : "detects tininess before rounding instead of after",
        [&](MacConfig& c) {
          const Tininess t = before ? Tininess::after : Tininess::before;
          c.acc_round.tininess = c.outer_round.tininess = c.out_round.tininess =
              c.product_round.tininess = t;
          return true;
        });
  const bool ftz = base.acc_round.ftz;
  b.mac(base, ftz ? "ftz=0" : "ftz=1",
        ftz ? "missing flush-to-zero: tiny results kept (ftz=0)"
            : "flushes tiny results to zero (ftz=1)",
        [&](MacConfig& c) {
          c.acc_round.ftz = c.outer_round.ftz = c.out_round.ftz = !ftz;
          return true;
        });
  b.mac(base, base.ftz_inputs ? "ftz_in=0" : "ftz_in=1",
        base.ftz_inputs ? "does not read subnormal inputs as zero (ftz_in=0)"
                        : "reads subnormal inputs as zero (ftz_in=1)",
        [&](MacConfig& c) {
          c.ftz_inputs = !c.ftz_inputs;
          return true;
        });
  // 3. overflow: saturation instead of Inf, and the reverse
  auto result_formats = [](MacConfig& c) {
    std::vector<Format*> f{&c.acc};
    if (c.chunk > 0) f.push_back(&c.outer);
    if (c.out) f.push_back(&*c.out);
    if (c.product) f.push_back(&*c.product);
    return f;
  };
  b.mac(base, "saturate", "saturates to max finite on overflow instead of going to Inf (or NaN)",
        [&](MacConfig& c) {
          bool changed = false;
          for (Format* f : result_formats(c))
            if (f->overflow != Overflow::saturate) {
              f->overflow = Overflow::saturate;
              changed = true;
            }
          return changed;
        });
  b.mac(base, "no-saturate", "overflows to Inf (or NaN) instead of saturating to max finite",
        [&](MacConfig& c) {
          bool changed = false;
          for (Format* f : result_formats(c))
            if (f->overflow == Overflow::saturate && f->specials != Specials::none) {
              f->overflow = Overflow::ieee;
              changed = true;
            }
          return changed;
        });
  b.mac(base, "no-subnormals", "flushes subnormal results: an accumulator without subnormals",
        [&](MacConfig& c) {
          if (!c.acc.subnormals) return false;
          if (!c.c) c.c = c.acc;  // C is still read in its own format
          c.acc.subnormals = false;
          c.acc.name += "-nosub";
          if (c.chunk == 0) c.outer = c.acc;
          return true;
        });
  b.mac(base, base.canonical_nan ? "nan=default" : "nan=canonical",
        base.canonical_nan ? "gives the default NaN instead of NVIDIA's canonical NaN"
                           : "gives NVIDIA's canonical NaN (positive, every fraction bit set) "
                             "instead of the default NaN",
        [&](MacConfig& c) {
          c.canonical_nan = !c.canonical_nan;
          return result_nan_code(c) != result_nan_code(base);
        });
  // 4. widths: the accumulator one bit short; the sticky bit lost; the aligner
  if (const auto f = one_bit_short(base.acc))
    b.mac(base, "acc-1",
          fmt::format("the accumulator keeps one fraction bit fewer ({} instead of {})",
                      base.acc.man_bits - 1, base.acc.man_bits),
          [&](MacConfig& c) {
            if (!c.c) c.c = c.acc;  // C is still read in its own format
            c.acc = *f;
            if (c.chunk == 0) c.outer = c.acc;
            return true;
          });
  if (base.structure == Structure::sequential && base.acc.man_bits + 2 <= 60)
    b.mac(base, "sticky-lost",
          fmt::format("sticky bit lost: the smaller term cut {} bits below the larger's leading "
                      "bit (guard and round bits kept, nothing below them)",
                      base.acc.man_bits + 2),
          [&](MacConfig& c) {
            c.structure = Structure::multiterm;
            c.terms = 1;
            c.align_bits = c.acc.man_bits + 2;
            c.carry_bits = 2;
            c.align_ref = AlignRef::leading_bit;
            c.interleave = 0;
            return true;
          });
  if (base.structure == Structure::multiterm) {
    if (base.align_bits > 0)
      b.mac(base, "align-1",
            fmt::format("alignment one bit short: terms cut {} bits below the largest exponent "
                        "instead of {}",
                        base.align_bits - 1, base.align_bits),
            [&](MacConfig& c) {
              --c.align_bits;
              return true;
            });
    if (base.align_bits < 60)
      b.mac(base, "align+1",
            fmt::format("alignment one bit long: terms cut {} bits below the largest exponent "
                        "instead of {}",
                        base.align_bits + 1, base.align_bits),
            [&](MacConfig& c) {
              ++c.align_bits;
              return true;
            });
    const bool field = base.align_ref == AlignRef::exponent_field;
    b.mac(base, field ? "align=lead" : "align=field",
          field ? "aligns to the largest leading bit instead of the exponent fields ea+eb"
                : "aligns to the largest exponent field ea+eb instead of the leading bit",
          [&](MacConfig& c) {
            c.align_ref = field ? AlignRef::leading_bit : AlignRef::exponent_field;
            return true;
          });
  }
}

void quantize_hypotheses(const Spec& s, std::vector<Hypothesis>& out) {
  Builder b(out);
  const Format& f = s.format;
  const RoundSpec& r = s.round;
  for (RoundingMode m : kModes) {
    if (m == r.mode) continue;
    RoundSpec x = r;
    x.mode = m;
    b.quantize(f, x, fmt::format("round={}", to_string(m)), mode_change("the conversion", r, m));
  }
  RoundSpec t = r;
  t.tininess = r.tininess == Tininess::before ? Tininess::after : Tininess::before;
  b.quantize(f, t, t.tininess == Tininess::before ? "tininess=before" : "tininess=after",
             t.tininess == Tininess::before ? "detects tininess before rounding instead of after"
                                            : "detects tininess after rounding instead of before");
  RoundSpec z = r;
  z.ftz = !r.ftz;
  b.quantize(f, z, z.ftz ? "ftz=1" : "ftz=0",
             z.ftz ? "flushes tiny results to zero (ftz=1)"
                   : "missing flush-to-zero: tiny results kept (ftz=0)");
  if (f.overflow != Overflow::saturate) {
    Format g = f;
    g.overflow = Overflow::saturate;
    b.quantize(g, r, "saturate",
               "saturates to max finite on overflow instead of going to Inf (or NaN)");
  } else if (f.specials != Specials::none) {
    Format g = f;
    g.overflow = Overflow::ieee;
    b.quantize(g, r, "no-saturate",
               "overflows to Inf (or NaN) instead of saturating to max finite");
  }
  if (f.subnormals) {
    Format g = f;
    g.subnormals = false;
    b.quantize(g, r, "no-subnormals", "flushes subnormal results: a format without subnormals");
  }
  if (const auto g = one_bit_short(f))
    b.quantize(
        *g, r, "man-1",
        fmt::format("keeps one fraction bit fewer ({} instead of {})", f.man_bits - 1, f.man_bits));
}

}  // namespace

std::vector<Hypothesis> hypotheses(const Spec& s) {
  std::vector<Hypothesis> out;
  if (s.kind == Kind::quantize) {
    quantize_hypotheses(s, out);
  } else {
    mac_hypotheses(s, out);
  }
  return out;
}

Outcome run_hypothesis(const Spec& s, const Hypothesis& h, const Case& c) {
  if (s.kind == Kind::quantize) return reference_outcome_as(s, h.format, h.round, c);
  return reference_outcome_as(s, h.evaluated, c);
}

}  // namespace fp8sim::vectors
