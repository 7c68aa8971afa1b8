// rounding/rounding.hpp — the public header of the rounding module.
//
// Contract: one rounding primitive (round_pack) turns an exact value into an encoding of a
// Format plus IEEE-style flags; conversions, quantizers and (in sim/) every MAC step call it.
// Modes rne, rna, rtz, rup, rdn, rto and sr with r random bits; tininess before or after
// rounding; optional flush-to-zero of results. Random bits are a pure function of
// (seed, stream, element index) (Random123 Philox), so results never depend on threads.
#pragma once

#include "rounding/flags.hpp"
#include "rounding/isa_level.hpp"
#include "rounding/quantize.hpp"
#include "rounding/random_bits.hpp"
#include "rounding/round_pack.hpp"
#include "rounding/rounding_mode.hpp"
