// workloads/nn/recipe_text.hpp — recipes as text: TOML files, `--set key=value` overrides,
// and the recipe a command line names (a preset or a file, then overrides).
//
// The TOML document (every key optional; recipe_to_toml writes every one of them):
//
//   base = "mellempudi2019"   # start from a preset (default: the fp32 preset's values)
//   name = "my-recipe"        # default: the base's name, else "custom"
//   source = "..."            # where it comes from; default: the base's source
//   loss_scaler = "enhanced"  # none | static | static:S | dynamic | enhanced
//   exempt = ["first", "last"]  # layers kept in fp32 ("first", "last" or a layer name)
//   [weight]                  # and [activation], [error], [weight_grad]
//   format = "e5m2"           # a format (fp8sim formats), or "none": fp32, no quantizer
//   round = "rne"             # rne rna rtz rup rdn rto sr sr:R
//   tininess = "after"        # after | before (when the underflow flag looks)
//   ftz = false               # flush results below min normal to zero
//   scaling = "none"          # none | delayed (Transformer Engine's delayed scaling)
//   amax_history = 1024       # delayed: steps of amax history, 1..1048576
//   margin = 0                # delayed: scale divided by 2^margin, 0..64
//   [gemm]
//   fprop = "ab=e5m2,acc=fp32"  # MAC specs (fp8sim mac --help): activation x weight
//   dgrad = "..."               # error x weight
//   wgrad = "..."               # error x activation
//   [master]
//   format = "fp16"           # master weights (a format; not "none")
//   round = "sr:13"           # how an update is rounded into them
//   tininess = "after"
//   ftz = false
//
// The `--set` keys are the same, dotted: name, source, loss_scaler, exempt (a comma-separated
// list; empty for none), ROLE.format ... ROLE.margin, gemm.fprop, gemm.dgrad, gemm.wgrad,
// master.format, master.round, master.tininess, master.ftz (ftz: true, false, 1 or 0).
//
// Errors are std::invalid_argument: TOML ones start "FILE:LINE:COLUMN: " (the syntax error's
// place, or the bad key's or value's), then name the key, quote the bad value and say what
// is allowed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "workloads/nn/recipe.hpp"

namespace fp8sim::workloads {

/// The recipe as a TOML document with every field (recipe_from_toml gives it back).
[[nodiscard]] std::string recipe_to_toml(const Recipe& r);

/// Reads a TOML recipe (see the file comment); `source_name` names it in messages (the
/// file's path). Ends with recipe_check() and recipe_check_values().
[[nodiscard]] Recipe recipe_from_toml(std::string_view text, const std::string& source_name);

/// Applies one `key=value` assignment (the key as in the file comment; the value is what
/// follows the first '=', and may hold more '='). Checks the value alone: whether the recipe
/// still fits together is for recipe_check() once every assignment is made.
void recipe_set(Recipe& r, std::string_view assignment);

/// The checks of the text keys that recipe_check() does not make: delayed scaling needs a
/// format. Throws std::invalid_argument naming the key.
void recipe_check_values(const Recipe& r);

/// Refuses (std::invalid_argument "SOURCE:LINE:1: ...") a TOML text with a line of more
/// than 256 dots outside strings and comments: toml++ nests a table per part of a dotted
/// key without a limit, and a huge key would overflow the stack. For every TOML file the
/// project reads (recipes, sweep experiments), before parsing.
void check_toml_key_depth(std::string_view text, const std::string& source_name);

/// The recipe of a command line: a preset name, else a TOML file (a name ending in .toml,
/// holding a '/', or naming an existing file; at most 1 MiB), then each assignment in order
/// (messages start "--set: "), then recipe_check() (its message with a hint to set a role's
/// format and its GEMMs' inputs together) and recipe_check_values().
[[nodiscard]] Recipe resolve_recipe(const std::string& preset_or_file,
                                    const std::vector<std::string>& sets);

/// True when resolve_recipe() reads `preset_or_file` as a file.
[[nodiscard]] bool recipe_names_file(const std::string& preset_or_file);

}  // namespace fp8sim::workloads
