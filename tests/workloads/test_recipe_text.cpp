// tests/workloads/test_recipe_text.cpp — workloads/nn/recipe_text: every preset through TOML
// and back, the errors of a TOML file (with line and column), --set of every kind of key,
// and resolve_recipe (preset, file, assignments, the GEMM/role mismatch message).
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "workloads/nn/recipe_text.hpp"

using namespace fp8sim;
using namespace fp8sim::workloads;

namespace {

void check_same_round(const RoundSpec& a, const RoundSpec& b) {
  CHECK(a.mode == b.mode);
  if (a.mode == RoundingMode::sr) CHECK(a.sr_bits == b.sr_bits);
  CHECK(a.tininess == b.tininess);
  CHECK(a.ftz == b.ftz);
}

void check_same_format(const Format& a, const Format& b) {
  CHECK(a.name == b.name);
  CHECK(a.exp_bits == b.exp_bits);
  CHECK(a.man_bits == b.man_bits);
  CHECK(a.bias == b.bias);
  CHECK(a.subnormals == b.subnormals);
  CHECK(a.specials == b.specials);
  CHECK(a.overflow == b.overflow);
}

void check_same(const Recipe& a, const Recipe& b) {
  CHECK(a.name == b.name);
  CHECK(a.source == b.source);
  for (const Role role : {Role::weight, Role::activation, Role::error, Role::weight_grad}) {
    CAPTURE(role_name(role));
    const RoleQuant &x = a.quant(role), &y = b.quant(role);
    REQUIRE(x.format.has_value() == y.format.has_value());
    if (x.format) check_same_format(*x.format, *y.format);
    check_same_round(x.round, y.round);
    CHECK(x.scaling == y.scaling);
    CHECK(x.amax_history == y.amax_history);
    CHECK(x.margin == y.margin);
  }
  for (const GemmKind k : {GemmKind::fprop, GemmKind::dgrad, GemmKind::wgrad}) {
    CAPTURE(gemm_kind_name(k));
    CHECK(to_string(a.mac(k)) == to_string(b.mac(k)));
    check_same_format(a.mac(k).a, b.mac(k).a);
    check_same_format(a.mac(k).b, b.mac(k).b);
    check_same_format(a.mac(k).acc, b.mac(k).acc);
  }
  CHECK(a.exempt == b.exempt);
  check_same_format(a.master, b.master);
  check_same_round(a.master_round, b.master_round);
  CHECK(a.loss_scaler == b.loss_scaler);
}

std::string toml_error(const std::string& text, const std::string& name = "r.toml") {
  try {
    (void)recipe_from_toml(text, name);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no exception";
}

std::string set_error(Recipe r, const std::string& assignment) {
  try {
    recipe_set(r, assignment);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no exception";
}

std::string resolve_error(const std::string& recipe, const std::vector<std::string>& sets) {
  try {
    (void)resolve_recipe(recipe, sets);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no exception";
}

bool starts(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

/// A file in a fresh temporary folder, removed with it.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& text)
      : dir_(std::filesystem::temp_directory_path() /
             ("fp8sim-recipe-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / name).string();
    std::ofstream(path_) << text;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string dir() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace

TEST_CASE("recipe.presets_round_trip_through_toml") {
  for (const auto& n : recipe_preset_names()) {
    CAPTURE(n);
    const Recipe r = recipe_preset(n);
    const std::string text = recipe_to_toml(r);
    const Recipe back = recipe_from_toml(text, n + ".toml");
    check_same(r, back);
    CHECK(recipe_to_toml(back) == text);
  }
}

TEST_CASE("recipe.round_trip_of_unusual_values") {
  Recipe r = recipe_preset("ocp-fp8");
  r.name = "odd \"name\" \\ x";
  r.source = "line 1\nline 2\ttab \x01 control, caf\xc3\xa9, 'single', \"double\"";
  r.weight.round = parse_rounding("sr:5");
  r.weight.round.tininess = Tininess::before;
  r.weight.round.ftz = true;
  r.weight.amax_history = 7;
  r.weight.margin = 3;
  r.error.scaling = Scaling::none;
  r.exempt = {"first", "fc2", "last"};
  r.master = parse_format("e8m7");
  r.master_round = parse_rounding("rtz");
  r.master_round.ftz = true;
  r.loss_scaler = "static:256";
  const std::string text = recipe_to_toml(r);
  const Recipe back = recipe_from_toml(text, "odd.toml");
  check_same(r, back);
  CHECK(recipe_to_toml(back) == text);
}

TEST_CASE("recipe.toml_layout_and_defaults") {
  const std::string text = recipe_to_toml(recipe_preset("mellempudi2019"));
  CHECK(text.find("name = \"mellempudi2019\"\n") != std::string::npos);
  CHECK(text.find("loss_scaler = \"enhanced\"\n") != std::string::npos);
  CHECK(text.find("exempt = []\n") != std::string::npos);
  CHECK(text.find("\n[error]\nformat = \"e5m2\"\nround = \"sr:8\"\ntininess = \"after\"\n"
                  "ftz = false\nscaling = \"none\"\namax_history = 1024\nmargin = 0\n") !=
        std::string::npos);
  CHECK(text.find("\n[master]\nformat = \"fp16\"\nround = \"sr:13\"\n") != std::string::npos);
  CHECK(recipe_to_toml(recipe_preset("fp32")).find("[weight]\nformat = \"none\"\n") !=
        std::string::npos);

  // a base preset, overridden key by key
  const Recipe m = recipe_from_toml(
      "base = \"mellempudi2019\"\nname = \"mine\"\nexempt = [\"first\", \"last\"]\n"
      "[weight]\nformat = \"e4m3fn\"\n"
      "[gemm]\nfprop = \"a=e5m2,b=e4m3fn,acc=fp32\"\ndgrad = \"a=e5m2,b=e4m3fn,acc=fp16\"\n"
      "[master]\nround = \"sr\"\n",
      "mine.toml");
  CHECK(m.name == "mine");
  CHECK(m.source == recipe_preset("mellempudi2019").source);
  CHECK(m.weight.text() == "e4m3fn rne");
  CHECK(m.activation.text() == "e5m2 rne");
  CHECK(m.dgrad.acc.name == "fp16");
  CHECK(m.exempt == std::vector<std::string>{"first", "last"});
  CHECK(m.master.name == "fp16");
  CHECK(to_string(m.master_round) == "sr:13");  // plain sr keeps the base's bits
  CHECK(m.loss_scaler == "enhanced");

  // without a base: the fp32 preset's values, named after the file
  const Recipe e = recipe_from_toml("", "dir/empty.toml");
  CHECK(e.name == "empty");
  CHECK(e.source.empty());
  CHECK(!e.weight.format);
  CHECK(to_string(e.fprop) == to_string(fp32_mac()));
  // dotted keys are the same keys as a table
  const Recipe d = recipe_from_toml("master.format = \"bf16\"\nweight.margin = 2\n", "d.toml");
  CHECK(d.master.name == "bf16");
  CHECK(d.weight.margin == 2);
}

TEST_CASE("recipe.toml_errors_name_the_place") {
  // a syntax error: toml++'s description at its line and column
  const std::string syntax = toml_error("name = \"x\"\n[weight\nformat = \"e5m2\"\n", "bad.toml");
  CHECK(starts(syntax, "bad.toml:2:"));
  CHECK(toml_error("name = \"x\"\nname = \"y\"\n").find("r.toml:2:") == 0);
  // unknown keys
  CHECK(toml_error("[weight]\nfromat = \"e5m2\"\n") ==
        "r.toml:2:1: unknown key 'fromat' in [weight] (allowed: format, round, tininess, ftz, "
        "scaling, amax_history, margin)");
  CHECK(toml_error("\n\nnmae = \"x\"\n") ==
        "r.toml:3:1: unknown key 'nmae' (allowed: base, name, source, loss_scaler, exempt, "
        "weight, activation, error, weight_grad, gemm, master)");
  CHECK(starts(toml_error("[gemm]\nbprop = \"fp32-fma\"\n"),
               "r.toml:2:1: unknown key 'bprop' in [gemm] (allowed: fprop, dgrad, wgrad)"));
  CHECK(starts(toml_error("[master]\nscaling = \"none\"\n"),
               "r.toml:2:1: unknown key 'scaling' in [master] (allowed: format, round, "
               "tininess, ftz)"));
  // bad values: the parsers' messages, at the value
  CHECK(starts(toml_error("[weight]\nformat = \"fp9\"\n"),
               "r.toml:2:10: weight.format: unknown format 'fp9'"));
  CHECK(starts(toml_error("[error]\nround = \"sr:99\"\n"),
               "r.toml:2:9: error.round: stochastic rounding bits r = 99 is out of range"));
  CHECK(starts(toml_error("[gemm]\nwgrad = \"ab=e5m2,foo=1\"\n"),
               "r.toml:2:9: gemm.wgrad: mac spec: unknown key 'foo'"));
  CHECK(toml_error("[weight]\namax_history = 0\n") ==
        "r.toml:2:16: weight.amax_history: 0 is not allowed (an integer from 1 to 1048576)");
  CHECK(toml_error("[weight]\nmargin = 65\n") ==
        "r.toml:2:10: weight.margin: 65 is not allowed (an integer from 0 to 64)");
  CHECK(toml_error("[weight]\nscaling = \"late\"\n") ==
        "r.toml:2:11: weight.scaling: unknown scaling 'late' (allowed: none, delayed)");
  CHECK(toml_error("[weight]\ntininess = \"never\"\n") ==
        "r.toml:2:12: weight.tininess: unknown tininess 'never' (allowed: after, before)");
  CHECK(starts(toml_error("loss_scaler = \"sometimes\"\n"),
               "r.toml:1:15: loss_scaler: unknown loss scaler 'sometimes' (allowed: none, "
               "static[:S], dynamic, enhanced)"));
  CHECK(starts(toml_error("base = \"fp9\"\n"),
               "r.toml:1:8: base: unknown recipe 'fp9' (allowed: fp32, fp16-mpt"));
  CHECK(toml_error("[master]\nformat = \"none\"\n") ==
        "r.toml:2:10: master.format: 'none' is not allowed (the master weights need a format, "
        "e.g. fp32)");
  CHECK(toml_error("exempt = [\"fc1\", \"fc1\"]\n") ==
        "r.toml:1:10: exempt: layer 'fc1' is given twice");
  CHECK(toml_error("name = \"\"\n") == "r.toml:1:8: name: an empty name is not allowed");
  // wrong types
  CHECK(toml_error("[weight]\nformat = 8\n") ==
        "r.toml:2:10: weight.format: want a string, not an integer");
  CHECK(toml_error("[weight]\namax_history = \"16\"\n") ==
        "r.toml:2:16: weight.amax_history: want an integer, not a string");
  CHECK(toml_error("[weight]\nmargin = 1.5\n") ==
        "r.toml:2:10: weight.margin: want an integer, not a floating-point number");
  CHECK(toml_error("[weight]\nftz = 1\n") ==
        "r.toml:2:7: weight.ftz: want a boolean (true or false), not an integer");
  CHECK(toml_error("exempt = \"first\"\n") ==
        "r.toml:1:10: exempt: want an array of strings, not a string");
  CHECK(toml_error("exempt = [\"first\", 2]\n") ==
        "r.toml:1:10: exempt: want an array of strings, not one holding an integer");
  CHECK(toml_error("weight = \"e5m2\"\n") ==
        "r.toml:1:10: weight: want a table ([weight]), not a string");
  // a key of many parts (toml++ would nest a table per part, without a limit) is refused
  // before parsing; dots in strings and comments are not counted
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "a.";
  CHECK(starts(toml_error("name = \"x\"\n" + deep + "b = 1\n"),
               "r.toml:2:1: more than 256 dots outside strings in a line"));
  const std::string dots(1000, '.');
  CHECK(recipe_from_toml("source = \"\"\"\n" + dots + "\n\"\"\"\"\nname = '" + dots + "'\n# " +
                             dots + "\n[master]\nround = \"sr\" # " + dots + "\n",
                         "dots.toml")
            .source == dots + "\n\"");
  // a recipe that does not fit together: the file, the GEMM, the roles and a hint
  CHECK(toml_error("base = \"mellempudi2019\"\n[weight]\nformat = \"e4m3fn\"\n") ==
        "r.toml: recipe 'mellempudi2019': the fprop GEMM takes e5m2 x e5m2 but its inputs are "
        "quantized to e5m2 x e4m3fn (activation.format x weight.format): set the formats and "
        "gemm.fprop together (gemm.fprop with a=e5m2,b=e4m3fn, or the formats to e5m2 x e5m2)");
  CHECK(toml_error("base = \"fp32\"\n[weight]\nscaling = \"delayed\"\n") ==
        "r.toml: recipe 'fp32': weight.scaling = delayed needs a format (weight.format is none)");
}

TEST_CASE("recipe.set_every_kind_of_key") {
  Recipe r = recipe_preset("mellempudi2019");
  recipe_set(r, "name=x");
  CHECK(r.name == "x");
  recipe_set(r, "source=a=b, c");  // the value is everything after the first '='
  CHECK(r.source == "a=b, c");
  recipe_set(r, "source=");
  CHECK(r.source.empty());
  recipe_set(r, "loss_scaler=static:256");
  CHECK(r.loss_scaler == "static:256");
  recipe_set(r, "exempt=first,last");
  CHECK(r.exempt == std::vector<std::string>{"first", "last"});
  recipe_set(r, "exempt=");
  CHECK(r.exempt.empty());
  recipe_set(r, "weight.format=e4m3fn");
  recipe_set(r, "weight.round=sr:4");
  recipe_set(r, "weight.tininess=before");
  recipe_set(r, "weight.ftz=1");
  recipe_set(r, "weight.scaling=delayed");
  recipe_set(r, "weight.amax_history=16");
  recipe_set(r, "weight.margin=2");
  CHECK(r.weight.text() == "e4m3fn sr:4");
  CHECK(r.weight.round.tininess == Tininess::before);
  CHECK(r.weight.round.ftz);
  CHECK(r.weight.scaling == Scaling::delayed);
  CHECK(r.weight.amax_history == 16);
  CHECK(r.weight.margin == 2);
  recipe_set(r, "weight.ftz=false");
  CHECK(!r.weight.round.ftz);
  recipe_set(r, "activation.format=none");
  CHECK(!r.activation.format);
  recipe_set(r, "error.round=sr:4");
  CHECK(r.error.text() == "e5m2 sr:4");
  recipe_set(r, "weight_grad.format=e5m2fnuz");
  CHECK(r.weight_grad.text() == "e5m2fnuz sr:8");
  recipe_set(r, "gemm.fprop=ab=e5m2,acc=fp16");
  CHECK(r.fprop.acc.name == "fp16");
  recipe_set(r, "gemm.dgrad=wang2018");
  CHECK(r.dgrad.chunk == 64);
  recipe_set(r, "gemm.wgrad=fp32-fma");
  CHECK(r.wgrad.a.name == "e5m2");
  CHECK(r.wgrad.acc.name == "fp32");
  recipe_set(r, "master.format=bf16");
  recipe_set(r, "master.round=sr:7");
  recipe_set(r, "master.tininess=before");
  recipe_set(r, "master.ftz=true");
  CHECK(r.master.name == "bf16");
  CHECK(to_string(r.master_round) == "sr:7");
  CHECK(r.master_round.tininess == Tininess::before);
  CHECK(r.master_round.ftz);

  const Recipe m = recipe_preset("mellempudi2019");
  CHECK(set_error(m, "weight.fromat=e5m2") ==
        "unknown key 'weight.fromat' (allowed in weight: format, round, tininess, ftz, "
        "scaling, amax_history, margin)");
  CHECK(set_error(m, "gemm.bprop=fp32-fma") ==
        "unknown key 'gemm.bprop' (allowed in gemm: fprop, dgrad, wgrad)");
  CHECK(starts(set_error(m, "wieght.format=e5m2"),
               "unknown key 'wieght.format' (allowed: name, source, loss_scaler, exempt, "));
  CHECK(starts(set_error(m, "nosuch=1"), "unknown key 'nosuch' (allowed: name, source, "));
  CHECK(starts(set_error(m, "base=fp32"), "unknown key 'base' (allowed: "));
  CHECK(starts(set_error(m, "weight.format=e12m3"),
               "weight.format: format 'e12m3': exponent bits = 12 is out of range"));
  CHECK(starts(set_error(m, "weight.round=sr:0"), "weight.round: "));
  CHECK(set_error(m, "weight.amax_history=1e3") ==
        "weight.amax_history: '1e3' is not allowed (an integer from 1 to 1048576)");
  CHECK(set_error(m, "weight.amax_history=") ==
        "weight.amax_history: '' is not allowed (an integer from 1 to 1048576)");
  CHECK(set_error(m, "weight.margin=-1") ==
        "weight.margin: '-1' is not allowed (an integer from 0 to 64)");
  CHECK(set_error(m, "weight.margin=99999999999999999999") ==
        "weight.margin: '99999999999999999999' is not allowed (an integer from 0 to 64)");
  CHECK(set_error(m, "weight.ftz=yes") ==
        "weight.ftz: 'yes' is not allowed (allowed: true, false, 1, 0)");
  CHECK(set_error(m, "weight.scaling=late") ==
        "weight.scaling: unknown scaling 'late' (allowed: none, delayed)");
  CHECK(starts(set_error(m, "loss_scaler=sometimes"),
               "loss_scaler: unknown loss scaler 'sometimes'"));
  CHECK(starts(set_error(m, "loss_scaler=static:0"), "loss_scaler: loss scaler 'static:0'"));
  CHECK(starts(set_error(m, "master.format=none"), "master.format: 'none' is not allowed"));
  CHECK(set_error(m, "exempt=first,,last") == "exempt: an empty layer name is not allowed");
  CHECK(set_error(m, "name=") == "name: an empty name is not allowed");
  CHECK(set_error(m, "name=\xff") == "name: the name is not valid UTF-8");
  CHECK(starts(set_error(m, "gemm.fprop=ab=e5m2,acc=fp16,acc=fp32"), "gemm.fprop: "));
  CHECK(starts(set_error(m, "weight.format"), "'weight.format': want KEY=VALUE"));
  CHECK(starts(set_error(m, "=e5m2"), "'=e5m2': want KEY=VALUE"));
  // a refused assignment changes nothing
  Recipe same = m;
  CHECK_THROWS(recipe_set(same, "weight.round=sr:99"));
  CHECK(recipe_to_toml(same) == recipe_to_toml(m));
}

TEST_CASE("recipe.resolve_preset_file_and_sets") {
  CHECK(!recipe_names_file("fp32"));
  CHECK(recipe_names_file("x.toml"));
  CHECK(recipe_names_file("dir/x"));
  CHECK(!recipe_names_file("nosuch"));

  check_same(resolve_recipe("hfp8", {}), recipe_preset("hfp8"));
  CHECK(starts(resolve_error("nosuch", {}),
               "unknown recipe 'nosuch' (allowed: a preset fp32, fp16-mpt, mellempudi2019, "
               "wang2018, hfp8, ocp-fp8, h100-fp8, or a TOML file: FILE.toml)"));
  CHECK(starts(resolve_error("nosuch.toml", {}), "recipe file 'nosuch.toml': no such file"));

  // a role's format alone: the GEMM that no longer fits, and a hint to set both
  CHECK(resolve_error("mellempudi2019", {"weight.format=e4m3fn"}) ==
        "recipe 'mellempudi2019': the fprop GEMM takes e5m2 x e5m2 but its inputs are "
        "quantized to e5m2 x e4m3fn (activation.format x weight.format): set the formats and "
        "gemm.fprop together (gemm.fprop with a=e5m2,b=e4m3fn, or the formats to e5m2 x e5m2)");
  CHECK(starts(resolve_error("mellempudi2019",
                             {"weight.format=e4m3fn", "gemm.fprop=a=e5m2,b=e4m3fn,acc=fp32"}),
               "recipe 'mellempudi2019': the dgrad GEMM takes e5m2 x e5m2 but its inputs are "
               "quantized to e5m2 x e4m3fn (error.format x weight.format)"));
  const Recipe both =
      resolve_recipe("mellempudi2019", {"weight.format=e4m3fn", "gemm.fprop=a=e5m2,b=e4m3fn",
                                        "gemm.dgrad=a=e5m2,b=e4m3fn", "name=m-e4m3-weights"});
  CHECK(both.name == "m-e4m3-weights");
  CHECK(both.weight.text() == "e4m3fn rne");
  CHECK(starts(resolve_error("fp32", {"weight.fromat=e5m2"}),
               "--set: unknown key 'weight.fromat' (allowed in weight: "));
  CHECK(starts(resolve_error("fp32", {"loss_scaler=dynamic", "weight.margin=x"}),
               "--set: weight.margin: 'x' is not allowed"));

  // a file, then assignments in order (the last one wins)
  const TempFile f("mine.toml",
                   "base = \"ocp-fp8\"\nname = \"mine\"\n[weight]\namax_history = 16\n");
  const Recipe r = resolve_recipe(f.path(), {"weight.margin=1", "weight.margin=3"});
  CHECK(r.name == "mine");
  CHECK(r.weight.scaling == Scaling::delayed);
  CHECK(r.weight.amax_history == 16);
  CHECK(r.weight.margin == 3);
  check_same(resolve_recipe(f.path(), {}),
             recipe_from_toml("base = \"ocp-fp8\"\nname = \"mine\"\n[weight]\namax_history = 16\n",
                              f.path()));
  // a file that needs an assignment to fit is fine once it is given
  const TempFile g("half.toml", "base = \"fp16-mpt\"\n[weight]\nformat = \"bf16\"\n");
  CHECK(starts(resolve_error(g.path(), {}), g.path() + ": recipe 'fp16-mpt': the fprop GEMM"));
  CHECK(resolve_recipe(g.path(), {"weight.format=fp16"}).weight.text() == "fp16 rne");
  // errors in a file name it with line and column
  const TempFile h("broken.toml", "[weight]\nformat = \"e5m2\"\nround = rne\n");
  CHECK(starts(resolve_error(h.path(), {}), h.path() + ":3:"));
  CHECK(starts(resolve_error(h.dir(), {}), "recipe file '"));
  CHECK(resolve_error(h.dir(), {}).find("is a directory") != std::string::npos);
}
