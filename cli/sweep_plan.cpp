// cli/sweep_plan.cpp — see sweep_plan.hpp.
#include "cli/sweep_plan.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <toml++/toml.h>

#include "cli/gemm_measure.hpp"
#include "cli/options.hpp"
#include "formats/formats.hpp"
#include "rounding/rounding.hpp"
#include "workloads/nn/recipe_text.hpp"
#include "workloads/nn/toml_words.hpp"

namespace fp8sim::cli {

namespace {

constexpr std::int64_t kMaxIndexValue = std::numeric_limits<std::int64_t>::max();

// The keys of a kind with their type and range (ints), in the order of the summary table.
struct KeySpec {
  const char* name;
  enum Type { integer, text, boolean, real } type;
  std::int64_t lo = 0, hi = 0;
  ConfigValue fallback;
  const char* help;
};

const std::vector<KeySpec>& gemm_keys() {
  static const std::vector<KeySpec> k = {
      {"m", KeySpec::integer, 1, 1 << 20, std::int64_t{96}, "rows of A and C"},
      {"n", KeySpec::integer, 1, 1 << 20, std::int64_t{96}, "columns of B and C"},
      {"k", KeySpec::integer, 1, 1 << 24, std::int64_t{256}, "the dot products' length"},
      {"mac", KeySpec::text, 0, 0, std::string("fp32-fma"), "a MAC spec or preset"},
      {"dist", KeySpec::text, 0, 0, std::string("normal"),
       "normal, uniform, lognormal or lognormal:SIGMA"},
      {"seed", KeySpec::integer, 0, kMaxIndexValue, std::int64_t{1},
       "seed of the inputs and of stochastic rounding"},
      {"flags", KeySpec::boolean, 0, 0, true, "per-output flags and rounding counts"},
  };
  return k;
}

const std::vector<KeySpec>& quantize_keys() {
  static const std::vector<KeySpec> k = {
      {"format", KeySpec::text, 0, 0, std::string("e5m2"), "a format name"},
      {"rounding", KeySpec::text, 0, 0, std::string("rne"),
       "rne, rna, rtz, rup, rdn, rto or sr[:BITS]"},
      {"sr_bits", KeySpec::integer, 0, 32, std::int64_t{0},
       "random bits of stochastic rounding (0: those of `rounding`)"},
      {"dist", KeySpec::text, 0, 0, std::string("normal"),
       "normal, uniform, lognormal or lognormal:SIGMA"},
      {"count", KeySpec::integer, 1, 1 << 28, std::int64_t{1 << 16}, "values to quantize"},
      {"seed", KeySpec::integer, 0, kMaxIndexValue, std::int64_t{1},
       "seed of the values and of stochastic rounding"},
  };
  return k;
}

const std::vector<KeySpec>& train_keys() {
  static const std::vector<KeySpec> k = {
      {"workload", KeySpec::text, 0, 0, std::string("mlp"), "mlp, resnet or transformer"},
      {"recipe", KeySpec::text, 0, 0, std::string("mellempudi2019"),
       "a recipe preset or a TOML recipe file"},
      {"epochs", KeySpec::integer, 1, 10000, std::int64_t{1}, "passes over the training set"},
      {"train_size", KeySpec::integer, 0, 1 << 24, std::int64_t{2000}, "training samples (0: all)"},
      {"validation_size", KeySpec::integer, 0, 1 << 24, std::int64_t{200},
       "validation samples (0: none)"},
      {"test_size", KeySpec::integer, 0, 1 << 24, std::int64_t{500}, "test samples (0: all)"},
      {"batch", KeySpec::integer, 1, 1 << 16, std::int64_t{64}, "samples per step"},
      {"seed", KeySpec::integer, 0, kMaxIndexValue, std::int64_t{1},
       "seed of the initialisation, the data order and stochastic rounding"},
      {"optimizer", KeySpec::text, 0, 0, std::string("sgd"), "sgd or adamw"},
      {"lr", KeySpec::real, 0, 0, 0.05, "learning rate"},
      {"momentum", KeySpec::real, 0, 0, 0.9, "SGD momentum"},
      {"weight_decay", KeySpec::real, 0, 0, 0.0, "weight decay"},
      {"schedule", KeySpec::text, 0, 0, std::string("constant"), "learning-rate schedule"},
      {"task", KeySpec::text, 0, 0, std::string("freedict"), "transformer: freedict or numbers"},
      {"max_number", KeySpec::integer, 1, 999999999, std::int64_t{9999},
       "transformer numbers task: the largest number"},
      {"data_dir", KeySpec::text, 0, 0, std::string(),
       "the data set's folder (empty: the Debian package's)"},
  };
  return k;
}

// The MAC spec keys a "mac.KEY" setting may name (sim/mac_config.cpp's keys).
const std::vector<std::string>& mac_spec_keys() {
  static const std::vector<std::string> k = {
      "ab",         "a",      "b",        "acc",   "round",       "c",   "prod",
      "prod_round", "struct", "chunk",    "outer", "outer_round", "out", "out_round",
      "ftz",        "ftz_in", "tininess", "align", "interleave",  "nan"};
  return k;
}

std::string where(const std::string& file, const toml::source_region& s) {
  return workloads::toml_where(file, s);
}

const char* type_words(const toml::node& n) {
  return workloads::toml_type_words(n);
}

const std::vector<KeySpec>& keys_of(const std::string& kind) {
  return kind == "gemm" ? gemm_keys() : kind == "train" ? train_keys() : quantize_keys();
}

std::string allowed_keys(const std::string& kind) {
  std::vector<std::string> names;
  for (const auto& k : keys_of(kind)) names.emplace_back(k.name);
  if (kind == "gemm")
    names.emplace_back("mac.KEY (" + fmt::format("{}", fmt::join(mac_spec_keys(), ", ")) + ")");
  return fmt::format("{}", fmt::join(names, ", "));
}

// One setting read from the file: its value and where it was written.
struct Setting {
  ConfigValue value;
  std::string place;
};

// Checks `key` for `kind` and converts `node` (a scalar) to its value.
Setting read_setting(const std::string& kind, const std::string& key, const toml::node& node,
                     const std::string& file) {
  const std::string place = where(file, node.source());
  auto bad = [&](const std::string& what) {
    return UsageError(fmt::format("{}: {}: {}", place, key, what));
  };
  if (kind == "gemm" && key.rfind("mac.", 0) == 0) {
    const std::string sub = key.substr(4);
    const auto& mk = mac_spec_keys();
    if (std::find(mk.begin(), mk.end(), sub) == mk.end())
      throw bad(
          fmt::format("unknown MAC spec key {} (allowed: {})", shown(sub), fmt::join(mk, ", ")));
    if (const auto* s = node.as_string()) return {s->get(), place};
    if (const auto* i = node.as_integer()) return {std::to_string(i->get()), place};
    throw bad(fmt::format("must be a string or an integer, not {}", type_words(node)));
  }
  if (kind == "train" && key.rfind("recipe.", 0) == 0 && key.size() > 7) {
    // a recipe field, checked with the rest of the recipe (check_point)
    if (const auto* s = node.as_string()) return {s->get(), place};
    if (const auto* i = node.as_integer()) return {std::to_string(i->get()), place};
    if (const auto* f = node.as_floating_point()) return {fmt::format("{}", f->get()), place};
    if (const auto* b = node.as_boolean()) return {std::string(b->get() ? "true" : "false"), place};
    throw bad(fmt::format("must be a single value, not {}", type_words(node)));
  }
  for (const auto& ks : keys_of(kind)) {
    if (key != ks.name) continue;
    switch (ks.type) {
      case KeySpec::integer: {
        const auto* i = node.as_integer();
        if (!i) throw bad(fmt::format("must be an integer, not {}", type_words(node)));
        if (i->get() < ks.lo || i->get() > ks.hi)
          throw bad(
              fmt::format("{} is not allowed (an integer from {} to {})", i->get(), ks.lo, ks.hi));
        return {i->get(), place};
      }
      case KeySpec::text: {
        const auto* s = node.as_string();
        if (!s) throw bad(fmt::format("must be a string ({}), not {}", ks.help, type_words(node)));
        return {s->get(), place};
      }
      case KeySpec::boolean: {
        const auto* b = node.as_boolean();
        if (!b) throw bad(fmt::format("must be true or false, not {}", type_words(node)));
        return {b->get(), place};
      }
      case KeySpec::real: {
        double v = 0;
        if (const auto* f = node.as_floating_point())
          v = f->get();
        else if (const auto* i = node.as_integer())
          v = static_cast<double>(i->get());
        else
          throw bad(fmt::format("must be a number ({}), not {}", ks.help, type_words(node)));
        if (!std::isfinite(v) || v < 0)
          throw bad(fmt::format("{} is not allowed (a finite number >= 0)", v));
        return {v, place};
      }
    }
  }
  throw UsageError(fmt::format("{}: unknown key {} for a {} experiment (allowed: {})", place,
                               shown(key), kind, allowed_keys(kind)));
}

// A MAC spec with "mac.KEY" overrides: the spec's key=value pairs with those keys replaced
// (or added), a preset kept in front ("wang2018,acc=fp32").
std::string compose_mac(const std::string& spec,
                        const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) parts.push_back(item);
  for (const auto& [key, value] : overrides) {
    bool replaced = false;
    for (auto& p : parts) {
      const auto eq = p.find('=');
      if (eq != std::string::npos && p.substr(0, eq) == key) {
        p = key + "=" + value;
        replaced = true;
      }
    }
    if (!replaced) parts.push_back(key + "=" + value);
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

// Checks the values of one point as a whole (they may be fine alone but not together).
void check_point(const std::string& kind, const SweepPoint& p,
                 const std::map<std::string, std::string>& places) {
  auto place_of = [&](const std::string& key) {
    const auto it = places.find(key);
    return it == places.end() ? std::string("(default)") : it->second;
  };
  auto rethrow = [&](const std::string& key, const std::function<void()>& f) {
    try {
      f();
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("{}: point {}: {}: {}", place_of(key), p.index, key, e.what()));
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("{}: point {}: {}: {}", place_of(key), p.index, key, e.what()));
    }
  };
  if (kind != "train")
    rethrow("dist", [&] { (void)parse_dist(std::get<std::string>(p.at("dist"))); });
  if (kind == "gemm") {
    std::string mac_key = "mac";
    for (const auto& [k, v] : p.settings)
      if (k.rfind("mac.", 0) == 0) mac_key = k;
    rethrow(mac_key, [&] { (void)gemm_point(p); });
  } else if (kind == "train") {
    std::string recipe_key = "recipe";
    for (const auto& [k, v] : p.settings)
      if (k.rfind("recipe.", 0) == 0) recipe_key = k;
    rethrow(recipe_key, [&] { (void)train_point(p); });
  } else {
    rethrow("format", [&] { (void)parse_format(std::get<std::string>(p.at("format"))); });
    rethrow("rounding", [&] { (void)quantize_point(p); });
  }
}

}  // namespace

const ConfigValue& SweepPoint::at(const std::string& key) const {
  for (const auto& [k, v] : settings)
    if (k == key) return v;
  throw std::logic_error("sweep point without key " + key);
}

std::string setting_text(const ConfigValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return fmt::format("{}", std::get<double>(v));
}

GemmPointConfig gemm_point(const SweepPoint& p) {
  GemmPointConfig g;
  g.m = static_cast<std::size_t>(std::get<std::int64_t>(p.at("m")));
  g.n = static_cast<std::size_t>(std::get<std::int64_t>(p.at("n")));
  g.k = static_cast<std::size_t>(std::get<std::int64_t>(p.at("k")));
  g.dist = std::get<std::string>(p.at("dist"));
  g.seed = static_cast<std::uint64_t>(std::get<std::int64_t>(p.at("seed")));
  g.flags = std::get<bool>(p.at("flags"));
  std::vector<std::pair<std::string, std::string>> over;
  for (const auto& [k, v] : p.settings)  // ("": the base spec's own value)
    if (k.rfind("mac.", 0) == 0 && !std::get<std::string>(v).empty())
      over.emplace_back(k.substr(4), std::get<std::string>(v));
  g.mac_text = compose_mac(std::get<std::string>(p.at("mac")), over);
  g.mac = parse_mac(g.mac_text);
  validate(g.mac);
  return g;
}

workloads::TrainOptions train_point(const SweepPoint& p) {
  workloads::TrainOptions t;
  auto i64 = [&](const char* k) { return std::get<std::int64_t>(p.at(k)); };
  t.workload = std::get<std::string>(p.at("workload"));
  const std::vector<std::string> wl = {"mlp", "resnet", "transformer"};
  if (std::find(wl.begin(), wl.end(), t.workload) == wl.end())
    throw UsageError(
        fmt::format("unknown workload {} (allowed: mlp, resnet, transformer)", shown(t.workload)));
  std::vector<std::string> sets;
  for (const auto& [k, v] : p.settings)
    if (k.rfind("recipe.", 0) == 0 && !std::get<std::string>(v).empty())
      sets.push_back(k.substr(7) + "=" + std::get<std::string>(v));
  t.recipe = workloads::resolve_recipe(std::get<std::string>(p.at("recipe")), sets);
  t.epochs = static_cast<std::size_t>(i64("epochs"));
  t.train_size = static_cast<std::size_t>(i64("train_size"));
  t.validation_size = static_cast<std::size_t>(i64("validation_size"));
  t.test_size = static_cast<std::size_t>(i64("test_size"));
  t.batch = static_cast<std::size_t>(i64("batch"));
  t.seed = static_cast<std::uint64_t>(i64("seed"));
  t.optimizer = std::get<std::string>(p.at("optimizer"));
  if (t.optimizer != "sgd" && t.optimizer != "adamw")
    throw UsageError(fmt::format("unknown optimizer {} (allowed: sgd, adamw)", shown(t.optimizer)));
  t.lr = std::get<double>(p.at("lr"));
  t.momentum = std::get<double>(p.at("momentum"));
  t.weight_decay = std::get<double>(p.at("weight_decay"));
  t.schedule = std::get<std::string>(p.at("schedule"));
  t.task = std::get<std::string>(p.at("task"));
  t.max_number = static_cast<std::uint64_t>(i64("max_number"));
  t.data_dir = std::get<std::string>(p.at("data_dir"));
  t.stats_every = 0;
  return t;
}

QuantizePointConfig quantize_point(const SweepPoint& p) {
  QuantizePointConfig q;
  q.format = parse_format(std::get<std::string>(p.at("format")));
  q.rounding = parse_rounding(std::get<std::string>(p.at("rounding")));
  const auto bits = std::get<std::int64_t>(p.at("sr_bits"));
  if (bits != 0) {
    if (q.rounding.mode != RoundingMode::sr)
      throw UsageError(
          fmt::format("sr_bits = {} needs a stochastic rounding (rounding = \"sr\"), "
                      "not {}",
                      bits, shown(std::get<std::string>(p.at("rounding")))));
    q.rounding.sr_bits = static_cast<int>(bits);
    validate(q.rounding);
  }
  q.dist = std::get<std::string>(p.at("dist"));
  q.count = static_cast<std::size_t>(std::get<std::int64_t>(p.at("count")));
  q.seed = static_cast<std::uint64_t>(std::get<std::int64_t>(p.at("seed")));
  return q;
}

double SweepPlan::work(const SweepPoint& p) const {
  if (kind == "train") {
    const workloads::TrainOptions t = train_point(p);
    return static_cast<double>(t.epochs) * static_cast<double>(t.train_size);
  }
  if (kind == "gemm") {
    const GemmPointConfig g = gemm_point(p);
    return static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  }
  return static_cast<double>(quantize_point(p).count);
}

std::uint64_t SweepPlan::memory(const SweepPoint& p) const {
  if (kind == "train")  // the data set and the model (bench train measured 582 MiB for resnet)
    return std::get<std::string>(p.at("workload")) == "mlp" ? std::uint64_t{256} << 20
                                                            : std::uint64_t{1} << 30;
  if (kind == "gemm") {  // inputs as doubles and codes, the kernel's copies, outputs
    const GemmPointConfig g = gemm_point(p);
    return 40 * (g.m * g.k + g.k * g.n) + 48 * g.m * g.n;
  }
  return 32 * static_cast<std::uint64_t>(quantize_point(p).count);
}

SweepPlan read_sweep_plan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return sweep_plan_from_text(ss.str(), path);
}

SweepPlan sweep_plan_from_text(const std::string& text, const std::string& path) {
  SweepPlan plan;
  plan.path = path;
  plan.text = text;
  toml::table doc;
  try {
    workloads::check_toml_key_depth(plan.text, path);
    doc = toml::parse(plan.text, path);
  } catch (const toml::parse_error& e) {
    throw UsageError(fmt::format("{}: {}", where(path, e.source()), e.description()));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  for (auto&& [key, node] : doc) {
    const std::string k(key.str());
    if (k != "base" && k != "grid" && k != "zip" && k != "points")
      throw UsageError(
          fmt::format("{}: unknown table {} (allowed: [base], [grid], [zip], "
                      "[[points]])",
                      where(path, key.source()), shown(k)));
  }
  const toml::table* base = doc["base"].as_table();
  if (!base)
    throw UsageError(
        fmt::format("{}: no [base] table (it names the kind: kind = \"gemm\" or "
                    "\"quantize\", and the settings every point starts from)",
                    path));
  const toml::node* kind = base->get("kind");
  if (!kind || !kind->as_string())
    throw UsageError(fmt::format("{}: [base] needs kind = \"gemm\", \"quantize\" or \"train\"",
                                 kind ? where(path, kind->source()) : path));
  plan.kind = kind->as_string()->get();
  if (plan.kind != "gemm" && plan.kind != "quantize" && plan.kind != "train")
    throw UsageError(fmt::format("{}: kind: unknown kind {} (allowed: gemm, quantize, train)",
                                 where(path, kind->source()), shown(plan.kind)));
  // base settings over the kind's defaults
  std::vector<std::pair<std::string, ConfigValue>> defaults;
  for (const auto& ks : keys_of(plan.kind)) defaults.emplace_back(ks.name, ks.fallback);
  std::map<std::string, std::string> base_places;
  auto set = [](std::vector<std::pair<std::string, ConfigValue>>& s, const std::string& key,
                const ConfigValue& v) {
    for (auto& [k, old] : s)
      if (k == key) {
        old = v;
        return;
      }
    s.emplace_back(key, v);
  };
  for (auto&& [key, node] : *base) {
    const std::string k(key.str());
    if (k == "kind") continue;
    if (node.is_table() || node.is_array())
      throw UsageError(
          fmt::format("{}: {}: [base] holds single values ({}); lists of values "
                      "go in [grid] or [zip]",
                      where(path, node.source()), k, type_words(node)));
    const Setting s = read_setting(plan.kind, k, node, path);
    set(defaults, k, s.value);
    base_places[k] = s.place;
  }
  // axes: each a list of (key, values with places)
  struct Axis {
    std::string key;
    std::vector<Setting> values;
  };
  auto read_axes = [&](const char* table, std::vector<Axis>& out) {
    const toml::node* t = doc.get(table);
    if (!t) return;
    const toml::table* tt = t->as_table();
    if (!tt)
      throw UsageError(fmt::format("{}: [{}] must be a table of key = [values]",
                                   where(path, t->source()), table));
    for (auto&& [key, node] : *tt) {
      const std::string k(key.str());
      if (k == "kind")
        throw UsageError(fmt::format("{}: kind cannot vary within a sweep (it is [base]'s)",
                                     where(path, key.source())));
      const toml::array* arr = node.as_array();
      if (!arr || arr->empty())
        throw UsageError(
            fmt::format("{}: [{}] {}: needs a non-empty list of values, e.g. {} = "
                        "[1, 2]",
                        where(path, node.source()), table, k, k));
      Axis ax{k, {}};
      for (const toml::node& v : *arr) {
        if (v.is_table() || v.is_array())
          throw UsageError(fmt::format("{}: [{}] {}: the values must be single values, not {}",
                                       where(path, v.source()), table, k, type_words(v)));
        ax.values.push_back(read_setting(plan.kind, k, v, path));
      }
      for (const auto& a : out)
        if (a.key == k)
          throw UsageError(
              fmt::format("{}: [{}] names {} twice", where(path, key.source()), table, k));
      out.push_back(std::move(ax));
    }
  };
  std::vector<Axis> grid, zip;
  read_axes("grid", grid);
  read_axes("zip", zip);
  for (const auto& z : zip)
    if (z.values.size() != zip.front().values.size())
      throw UsageError(
          fmt::format("{}: [zip] {} has {} values but {} has {}: the lists of a "
                      "zip are walked in lock step and must be as long",
                      z.values.front().place, z.key, z.values.size(), zip.front().key,
                      zip.front().values.size()));
  for (const auto& g : grid)
    for (const auto& z : zip)
      if (g.key == z.key)
        throw UsageError(
            fmt::format("{}: {} is both in [grid] and in [zip]", z.values.front().place, z.key));
  // explicit points
  std::vector<std::vector<std::pair<std::string, Setting>>> explicit_points;
  if (const toml::node* pts = doc.get("points")) {
    const toml::array* arr = pts->as_array();
    if (!arr || !arr->is_array_of_tables() || arr->empty())
      throw UsageError(fmt::format("{}: points must be written as [[points]] tables",
                                   where(path, pts->source())));
    for (const toml::node& pn : *arr) {
      std::vector<std::pair<std::string, Setting>> one;
      for (auto&& [key, node] : *pn.as_table()) {
        const std::string k(key.str());
        if (k == "kind")
          throw UsageError(fmt::format("{}: kind cannot vary within a sweep (it is [base]'s)",
                                       where(path, key.source())));
        for (const auto& g : grid)
          if (g.key == k)
            throw UsageError(fmt::format("{}: {} is set by a [[points]] entry and by [grid]",
                                         where(path, key.source()), k));
        for (const auto& z : zip)
          if (z.key == k)
            throw UsageError(fmt::format("{}: {} is set by a [[points]] entry and by [zip]",
                                         where(path, key.source()), k));
        one.emplace_back(k, read_setting(plan.kind, k, node, path));
      }
      explicit_points.push_back(std::move(one));
    }
  }
  if (explicit_points.empty()) explicit_points.emplace_back();
  // the axes' keys, in order of appearance
  auto add_axis_key = [&](const std::string& k) {
    if (std::find(plan.axes.begin(), plan.axes.end(), k) == plan.axes.end()) plan.axes.push_back(k);
  };
  for (const auto& ep : explicit_points)
    for (const auto& [k, s] : ep) add_axis_key(k);
  for (const auto& g : grid) add_axis_key(g.key);
  for (const auto& z : zip) add_axis_key(z.key);
  // every "mac.KEY" any point sets is a setting of every point ("" where the base spec's
  // value stands), so that all points have the same keys
  std::vector<std::pair<std::string, ConfigValue>> all = defaults;
  for (const auto& k : plan.axes)
    if (std::none_of(all.begin(), all.end(), [&](const auto& kv) { return kv.first == k; }))
      all.emplace_back(k, std::string());
  std::size_t grid_size = 1;
  for (const auto& g : grid) {
    grid_size *= g.values.size();
    if (grid_size > 1000000)
      throw UsageError(
          fmt::format("{}: the grid has more than 1000000 points", g.values.front().place));
  }
  const std::size_t zip_size = zip.empty() ? 1 : zip.front().values.size();
  const double total = static_cast<double>(explicit_points.size()) *
                       static_cast<double>(grid_size) * static_cast<double>(zip_size);
  if (total > 1000000)
    throw UsageError(fmt::format("{}: {:.0f} points; at most 1000000 are allowed", path, total));
  for (const auto& ep : explicit_points) {
    for (std::size_t gi = 0; gi < grid_size; ++gi) {
      for (std::size_t zi = 0; zi < zip_size; ++zi) {
        SweepPoint p;
        p.index = plan.points.size();
        p.settings = all;
        std::map<std::string, std::string> places = base_places;
        for (const auto& [k, s] : ep) {
          set(p.settings, k, s.value);
          places[k] = s.place;
        }
        std::size_t rest = gi;
        for (std::size_t a = grid.size(); a-- > 0;) {  // the last key varies fastest
          const Setting& s = grid[a].values[rest % grid[a].values.size()];
          rest /= grid[a].values.size();
          set(p.settings, grid[a].key, s.value);
          places[grid[a].key] = s.place;
        }
        for (const auto& z : zip) {
          set(p.settings, z.key, z.values[zi].value);
          places[z.key] = z.values[zi].place;
        }
        check_point(plan.kind, p, places);
        plan.points.push_back(std::move(p));
      }
    }
  }
  return plan;
}

}  // namespace fp8sim::cli
