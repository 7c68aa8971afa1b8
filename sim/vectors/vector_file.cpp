// sim/vectors/vector_file.cpp — the text form of vector files, their $readmemh variant and
// plain dumps of hardware results (docs/vectors.md, "Files").
#include <charconv>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/vectors/vectors.hpp"

namespace fp8sim::vectors {

namespace {

constexpr std::string_view kMagic = "# fp8sim vectors";
constexpr int kVersion = 1;

int digits(int bits) {
  return (bits + 3) / 4;
}

std::uint64_t low_mask(int bits) {
  return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}

std::string_view site_name(RandomSite s) {
  switch (s) {
    case RandomSite::product:
      return "prod";
    case RandomSite::acc:
      return "acc";
    case RandomSite::outer:
      return "outer";
    case RandomSite::out:
      return "out";
  }
  return "?";
}

int random_width(const std::vector<RandomStep>& steps) {
  int bits = 0;
  for (const RandomStep& r : steps) bits += r.bits;
  return bits;
}

// The values of a case in field order (the mac-step random bits packed into one field).
std::vector<std::uint64_t> values_of(const Spec& s, const Case& c) {
  std::vector<std::uint64_t> v;
  const std::vector<RandomStep> steps = random_steps(s);
  for (auto x : c.a) v.push_back(x);
  if (s.kind != Kind::quantize) {
    for (auto x : c.b) v.push_back(x);
    v.push_back(c.c);
  }
  if (!steps.empty()) {
    if (s.kind == Kind::mac_step) {
      std::uint64_t packed = 0;
      int at = 0;
      for (std::size_t i = 0; i < steps.size(); ++i) {
        packed |= (static_cast<std::uint64_t>(c.random.at(i)) & low_mask(steps[i].bits)) << at;
        at += steps[i].bits;
      }
      v.push_back(packed);
    } else {
      for (std::size_t i = 0; i < steps.size(); ++i)
        v.push_back(c.random.at(i) & low_mask(steps[i].bits));
    }
  }
  v.push_back(c.result);
  v.push_back(c.flags);
  return v;
}

std::string fields_text(const Spec& s) {
  std::string t;
  for (const Field& f : fields(s))
    t += fmt::format("{}{}:{}", t.empty() ? "" : " ", f.name, f.bits);
  return t;
}

std::vector<std::string> header_lines(const Spec& s, std::uint64_t count, std::uint64_t corners) {
  std::vector<std::string> h;
  h.push_back(fmt::format("fp8sim vectors {}", kVersion));
  h.push_back(fmt::format("kind: {}", to_string(s.kind)));
  if (s.kind == Kind::quantize) {
    h.push_back(fmt::format("format: {}", s.format.name));
    h.push_back(fmt::format("rounding: {}", to_string(s.round)));
    h.push_back(
        fmt::format("tininess: {}", s.round.tininess == Tininess::before ? "before" : "after"));
    h.push_back(fmt::format("ftz: {}", s.round.ftz ? 1 : 0));
  } else {
    h.push_back(fmt::format("mac: {}", to_string(s.mac)));
    if (s.kind == Kind::dot) h.push_back(fmt::format("terms: {}", s.terms));
  }
  h.push_back(fmt::format("seed: {}", s.seed));
  h.push_back(fmt::format("count: {}", count));
  h.push_back(fmt::format("corners: {}", corners));
  h.push_back(fmt::format("fields: {}", fields_text(s)));
  return h;
}

[[noreturn]] void fail(const std::string& name, std::uint64_t line, const std::string& what) {
  throw VectorFileError(line ? fmt::format("{}:{}: {}", name, line, what)
                             : fmt::format("{}: {}", name, what));
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::vector<std::string> tokens(const std::string& line) {
  std::vector<std::string> t;
  std::istringstream ss(line);
  for (std::string w; ss >> w;) t.push_back(w);
  return t;
}

// A hex field of at most `bits` bits (upper or lower case, no 0x).
std::uint64_t parse_hex(const std::string& name, std::uint64_t line, const std::string& field,
                        const std::string& tok, int bits) {
  const auto show = [&] { return shown(tok); };
  if (tok.empty() || tok.size() > 16 ||
      tok.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    fail(name, line, fmt::format("field {} = {} is not a hex number", field, show()));
  std::uint64_t v = 0;
  std::from_chars(tok.data(), tok.data() + tok.size(), v, 16);
  if (v > low_mask(bits))
    fail(name, line, fmt::format("field {} = {} does not fit its {} bits", field, show(), bits));
  return v;
}

std::uint64_t parse_decimal(const std::string& name, std::uint64_t line, const std::string& key,
                            const std::string& v) {
  std::uint64_t x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || ec != std::errc{} || p != v.data() + v.size())
    fail(name, line, fmt::format("{}: {} is not a decimal integer", key, shown(v)));
  return x;
}

}  // namespace

std::vector<Field> fields(const Spec& s) {
  std::vector<Field> f;
  const std::vector<RandomStep> steps = random_steps(s);
  switch (s.kind) {
    case Kind::mac_step:
      f.push_back({"a", s.mac.a.width()});
      f.push_back({"b", s.mac.b.width()});
      f.push_back({"acc_in", s.mac.acc.width()});
      if (!steps.empty()) f.push_back({"random", random_width(steps)});
      f.push_back({"acc_out", s.mac.acc.width()});
      break;
    case Kind::dot:
      for (int k = 0; k < s.terms; ++k) f.push_back({fmt::format("a{}", k), s.mac.a.width()});
      for (int k = 0; k < s.terms; ++k) f.push_back({fmt::format("b{}", k), s.mac.b.width()});
      f.push_back({"c", c_format(s).width()});
      for (const RandomStep& r : steps)
        f.push_back({fmt::format("r_{}{}", site_name(r.site), r.step), r.bits});
      f.push_back({"result", result_format(s).width()});
      break;
    case Kind::quantize:
      f.push_back({"value", 64});
      if (!steps.empty()) f.push_back({"random", random_width(steps)});
      f.push_back({"result", s.format.width()});
      break;
  }
  f.push_back({"flags", 8});
  return f;
}

std::string header_text(const Spec& s, std::uint64_t count, std::uint64_t corner_cases) {
  std::string t;
  for (const std::string& l : header_lines(s, count, corner_cases)) t += "# " + l + "\n";
  t += "# one case a line: the fields above (name:bits), each as ceil(bits/4) upper-case hex "
       "digits (docs/vectors.md)\n";
  return t;
}

std::string line_text(const Spec& s, const Case& c) {
  const std::vector<Field> fs = fields(s);
  const std::vector<std::uint64_t> v = values_of(s, c);
  std::string t;
  for (std::size_t i = 0; i < fs.size(); ++i)
    t += fmt::format("{}{:0{}X}", i ? " " : "", v[i], digits(fs[i].bits));
  return t;
}

std::string memh_header(const Spec& s, std::uint64_t count, std::uint64_t corner_cases) {
  std::string t;
  const std::vector<std::string> h = header_lines(s, count, corner_cases);
  t += fmt::format("// {} ($readmemh form: one word a case)\n", h[0]);
  for (std::size_t i = 1; i < h.size(); ++i) t += "// " + h[i] + "\n";
  const std::vector<Field> fs = fields(s);
  int total = 0;
  for (const Field& f : fs) total += 4 * digits(f.bits);
  std::string layout;
  int top = total - 1;
  for (const Field& f : fs) {
    const int w = 4 * digits(f.bits);
    layout += fmt::format(" {}[{}:{}]", f.name, top, top - w + 1);
    top -= w;
  }
  t += fmt::format("// word: {} bits ={}\n", total, layout);
  t += "// each field padded to whole hex digits, value in its low bits (docs/vectors.md)\n";
  return t;
}

std::string memh_line(const Spec& s, const Case& c) {
  const std::vector<Field> fs = fields(s);
  const std::vector<std::uint64_t> v = values_of(s, c);
  std::string t;
  for (std::size_t i = 0; i < fs.size(); ++i) t += fmt::format("{:0{}X}", v[i], digits(fs[i].bits));
  return t;
}

bool looks_like_vector_file(std::istream& in) {
  std::string first;
  const bool got = static_cast<bool>(std::getline(in, first));
  in.clear();
  in.seekg(0);
  return got && first.starts_with(kMagic);
}

VectorFile read_vector_file(std::istream& in, const std::string& name) {
  VectorFile vf;
  std::string raw;
  std::uint64_t line_no = 0;
  if (!std::getline(in, raw)) fail(name, 0, "the file is empty");
  ++line_no;
  const std::string first = trimmed(raw);
  if (first.starts_with("// fp8sim vectors"))
    fail(name, 1, "this is the $readmemh form of a vector file: check its text form");
  if (!first.starts_with(kMagic))
    fail(
        name, 1,
        fmt::format("not an fp8sim vector file (the first line is not '{} {}')", kMagic, kVersion));
  if (first != fmt::format("{} {}", kMagic, kVersion))
    fail(name, 1,
         fmt::format("{} is not a supported version (this fp8sim reads '{} {}')", shown(first),
                     kMagic, kVersion));
  // the header: "# key: value" lines up to the first case
  std::map<std::string, std::pair<std::string, std::uint64_t>> keys;
  const std::vector<std::string_view> known = {"kind",     "mac",      "terms", "format",
                                               "rounding", "tininess", "ftz",   "seed",
                                               "count",    "corners",  "fields"};
  std::string pending;
  bool have_pending = false;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string l = trimmed(raw);
    if (l.empty()) continue;
    if (!l.starts_with("#")) {
      pending = l;
      have_pending = true;
      break;
    }
    const std::string body = trimmed(l.substr(1));
    const auto colon = body.find(':');
    if (colon == std::string::npos) continue;  // a comment
    const std::string key = body.substr(0, colon);
    if (std::find(known.begin(), known.end(), key) == known.end()) continue;
    if (keys.contains(key))
      fail(name, line_no,
           fmt::format("header key '{}' given twice (first on line {})", key, keys[key].second));
    keys[key] = {trimmed(body.substr(colon + 1)), line_no};
  }
  auto need = [&](const char* key) -> const std::pair<std::string, std::uint64_t>& {
    const auto it = keys.find(key);
    if (it == keys.end()) fail(name, 0, fmt::format("its header has no '# {}:' line", key));
    return it->second;
  };
  Spec& s = vf.spec;
  {
    const auto& [v, l] = need("kind");
    try {
      s.kind = parse_kind(v);
    } catch (const std::invalid_argument& e) {
      fail(name, l, e.what());
    }
  }
  try {
    if (s.kind == Kind::quantize) {
      s.format = parse_format(need("format").first);
      s.round = parse_rounding(need("rounding").first);
      if (keys.contains("tininess")) {
        const auto& [v, l] = keys["tininess"];
        if (v != "before" && v != "after")
          fail(name, l, fmt::format("tininess: {} (allowed: after, before)", shown(v)));
        s.round.tininess = v == "before" ? Tininess::before : Tininess::after;
      }
      if (keys.contains("ftz")) {
        const auto& [v, l] = keys["ftz"];
        if (v != "0" && v != "1") fail(name, l, fmt::format("ftz: {} (allowed: 0, 1)", shown(v)));
        s.round.ftz = v == "1";
      }
    } else {
      s.mac = parse_mac(need("mac").first);
      if (s.kind == Kind::dot) {
        const auto& [v, l] = need("terms");
        const std::uint64_t t = parse_decimal(name, l, "terms", v);
        if (t < 1 || t > static_cast<std::uint64_t>(kMaxTerms))
          fail(name, l, fmt::format("terms: {} (allowed: 1 to {})", v, kMaxTerms));
        s.terms = static_cast<int>(t);
      }
    }
    validate(s);
  } catch (const VectorFileError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    fail(name, 0,
         fmt::format("its header does not describe a unit fp8sim can check: {}", e.what()));
  }
  s.seed = parse_decimal(name, need("seed").second, "seed", need("seed").first);
  const std::uint64_t count =
      parse_decimal(name, need("count").second, "count", need("count").first);
  if (keys.contains("corners"))
    vf.corner_cases = parse_decimal(name, keys["corners"].second, "corners", keys["corners"].first);
  {
    const auto& [v, l] = need("fields");
    const std::string want = fields_text(s);
    if (v != want)
      fail(name, l,
           fmt::format("the fields line does not match this configuration's layout (it should "
                       "be '{}')",
                       want.size() > 200 ? want.substr(0, 200) + "..." : want));
  }
  const std::vector<Field> fs = fields(s);
  const std::vector<RandomStep> steps = random_steps(s);
  const std::size_t n = s.kind == Kind::dot ? static_cast<std::size_t>(s.terms) : 1;
  auto parse_case = [&](const std::string& l, std::uint64_t at) {
    const std::vector<std::string> t = tokens(l);
    if (t.size() != fs.size()) {
      std::string names;
      for (std::size_t i = 0; i < fs.size() && i < 12; ++i) names += " " + fs[i].name;
      if (fs.size() > 12) names += " ...";
      fail(name, at,
           fmt::format("{} fields, a {} line of this file has {} ({})", t.size(), to_string(s.kind),
                       fs.size(), trimmed(names)));
    }
    std::vector<std::uint64_t> v(t.size());
    for (std::size_t i = 0; i < t.size(); ++i)
      v[i] = parse_hex(name, at, fs[i].name, t[i], fs[i].bits);
    Case c;
    std::size_t i = 0;
    c.a.assign(v.begin(), v.begin() + static_cast<long>(n));
    i = n;
    if (s.kind != Kind::quantize) {
      c.b.assign(v.begin() + static_cast<long>(i), v.begin() + static_cast<long>(i + n));
      i += n;
      c.c = v[i++];
    }
    if (!steps.empty()) {
      if (s.kind == Kind::dot) {
        for (std::size_t k = 0; k < steps.size(); ++k)
          c.random.push_back(static_cast<std::uint32_t>(v[i++]));
      } else {
        const std::uint64_t packed = v[i++];
        int at_bit = 0;
        for (const RandomStep& r : steps) {
          c.random.push_back(static_cast<std::uint32_t>((packed >> at_bit) & low_mask(r.bits)));
          at_bit += r.bits;
        }
      }
    }
    c.result = v[i++];
    c.flags = static_cast<Flags>(v[i++]);
    vf.cases.push_back(std::move(c));
    vf.lines.push_back(at);
  };
  if (have_pending) parse_case(pending, line_no);
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string l = trimmed(raw);
    if (l.empty() || l.starts_with("#")) continue;
    parse_case(l, line_no);
  }
  if (vf.cases.size() != count)
    fail(name, 0,
         fmt::format("it holds {} cases but its header says count: {} (a truncated file?)",
                     vf.cases.size(), count));
  return vf;
}

ResultDump read_result_dump(std::istream& in, const std::string& name, const VectorFile& of) {
  ResultDump d;
  d.results.assign(of.cases.size(), std::nullopt);
  d.lines.assign(of.cases.size(), 0);
  const int rbits = result_format(of.spec).width();
  std::string raw;
  std::uint64_t line_no = 0, seen = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string l = trimmed(raw);
    if (l.empty() || l.starts_with("#") || l.starts_with("//")) continue;
    const std::vector<std::string> t = tokens(l);
    if (t.size() != 3)
      fail(name, line_no,
           fmt::format("{} fields, a result line has 3 (INDEX RESULT FLAGS, hex)", t.size()));
    const std::uint64_t index = parse_hex(name, line_no, "INDEX", t[0], 64);
    const std::uint64_t code = parse_hex(name, line_no, "RESULT", t[1], rbits);
    const std::uint64_t flags = parse_hex(name, line_no, "FLAGS", t[2], 8);
    if (index >= of.cases.size())
      fail(name, line_no,
           fmt::format("case {:X} (hex) is not in the vector file, which holds {} cases", index,
                       of.cases.size()));
    if (d.results[index])
      fail(name, line_no,
           fmt::format("case {:X} (hex) is given twice (first on line {})", index, d.lines[index]));
    d.results[index] = Outcome{code, static_cast<Flags>(flags)};
    d.lines[index] = line_no;
    ++seen;
  }
  if (line_no == 0) fail(name, 0, "the file is empty");
  if (seen == 0) fail(name, 0, "it holds no results (lines 'INDEX RESULT FLAGS', hex)");
  return d;
}

}  // namespace fp8sim::vectors
