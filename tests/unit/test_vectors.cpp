// tests/unit/test_vectors.cpp — test vectors for hardware (sim/vectors/vectors.hpp): what a
// mac-step and a dot case mean, every applicable corner class hit for several units, the
// text and $readmemh files round trip, malformed files name their line, and the check finds
// deliberately corrupted results and names the hypothesis that made them.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"
#include "sim/vectors/vectors.hpp"

namespace {

namespace v = fp8sim::vectors;
using fp8sim::MacConfig;

v::Spec mac_spec(const char* mac, v::Kind kind = v::Kind::mac_step, int terms = 0,
                 std::uint64_t seed = 1) {
  v::Spec s;
  s.kind = kind;
  s.mac = fp8sim::parse_mac(mac);
  s.terms = terms ? terms : v::natural_terms(s.mac);
  s.seed = seed;
  return s;
}

v::Spec quantize_spec(const char* format, const char* rounding, std::uint64_t seed = 1) {
  v::Spec s;
  s.kind = v::Kind::quantize;
  s.format = fp8sim::parse_format(format);
  s.round = fp8sim::parse_rounding(rounding);
  s.seed = seed;
  return s;
}

std::vector<v::Case> generate(const v::Spec& s, std::uint64_t count, bool corners,
                              v::GenReport* rep = nullptr) {
  std::vector<v::Case> cases;
  v::GenOptions o;
  o.count = count;
  o.corners = corners;
  const v::GenReport r = v::generate(s, o, [&](const v::Case& c) { cases.push_back(c); });
  if (rep != nullptr) *rep = r;
  return cases;
}

std::string name_of(const v::Spec& s) {
  return fmt::format(
      "{} {}", to_string(s.kind),
      s.kind == v::Kind::quantize ? s.format.name + " " + to_string(s.round) : to_string(s.mac));
}

// The whole file as text, and read back.
std::string file_text(const v::Spec& s, const std::vector<v::Case>& cases, std::uint64_t corners) {
  std::string t = v::header_text(s, cases.size(), corners);
  for (const auto& c : cases) t += v::line_text(s, c) + "\n";
  return t;
}

v::CheckResult check_with(const v::Spec& s, const std::vector<v::Case>& cases,
                          const std::vector<std::optional<v::Outcome>>& got) {
  std::vector<std::uint64_t> lines(cases.size(), 0);
  v::CheckOptions o;
  o.max_report = 1000;
  return v::check(s, cases, got, lines, o);
}

// Hardware results made by a hypothesis: the check must name it for every mismatch, and
// rank it first (or tied first).
void check_names_cause(const v::Spec& s, const std::vector<v::Case>& cases,
                       const std::string& cause) {
  const auto hs = v::hypotheses(s);
  const auto h = std::find_if(hs.begin(), hs.end(), [&](const auto& x) { return x.id == cause; });
  REQUIRE_MESSAGE(h != hs.end(), "no hypothesis " << cause << " for " << name_of(s));
  std::vector<std::optional<v::Outcome>> got;
  for (const auto& c : cases) got.push_back(v::run_hypothesis(s, *h, c));
  const v::CheckResult r = check_with(s, cases, got);
  INFO(name_of(s) << " made by " << cause);
  REQUIRE(r.failed > 0);
  CHECK(r.passed + r.failed == cases.size());
  for (const auto& mm : r.mismatches) {
    INFO(mm.text);
    CHECK(std::find(mm.causes.begin(), mm.causes.end(), cause) != mm.causes.end());
  }
  REQUIRE(!r.causes.empty());
  const auto it = std::find_if(r.causes.begin(), r.causes.end(),
                               [&](const v::CauseCount& c) { return c.id == cause; });
  REQUIRE(it != r.causes.end());
  CHECK(it->exact == r.failed);
  CHECK(it->contradicted == 0);
  // the likeliest: first, or tied with the first (another hypothesis equal on every case)
  CHECK(it->exact == r.causes.front().exact);
  CHECK(it->contradicted == r.causes.front().contradicted);
  std::string ranking;
  for (const auto& c : r.causes)
    ranking += fmt::format("  {} reproduces {}, contradicts {}\n", c.id, c.exact, c.contradicted);
  MESSAGE(name_of(s) << ": made by " << cause << ", " << r.failed << " mismatches; causes:\n"
                     << ranking << "first mismatch:\n"
                     << r.mismatches.front().text);
}

}  // namespace

TEST_CASE("vectors: a mac-step case is acc_out = round_acc(acc_in + a*b)") {
  const v::Spec s = mac_spec("mellempudi2019");  // e5m2 inputs, fp32 rne (out=e5m2 not used)
  v::Case c;
  c.a = {0x3C};  // 1.0
  c.b = {0x40};  // 2.0
  c.c = 0x3F800000;
  CHECK(v::golden_outcome(s, c) == v::Outcome{0x40400000, 0});  // 3.0, exact
  CHECK(v::reference_outcome(s, c) == v::Outcome{0x40400000, 0});
  CHECK(fp8sim::result_format(v::step_config(s.mac)).name == "fp32");
  // stochastic: 1 + 2^-9 into bf16 rounds up iff 64 + R >= 256
  const v::Spec sr = mac_spec("ab=e5m2,acc=bf16,round=sr:8");
  REQUIRE(v::random_steps(sr).size() == 1);
  v::Case d;
  d.a = {0x18};
  d.b = {0x3C};
  d.c = 0x3F80;
  d.random = {0xBF};
  CHECK(v::golden_outcome(sr, d) == v::Outcome{0x3F80, fp8sim::kInexact});
  d.random = {0xC0};
  CHECK(v::golden_outcome(sr, d) == v::Outcome{0x3F81, fp8sim::kInexact});
  CHECK(v::reference_outcome(sr, d) == v::Outcome{0x3F81, fp8sim::kInexact});
}

TEST_CASE("vectors: a dot case is mac_dot(m, a, b, c, seed, output = case index)") {
  for (const char* mac :
       {"tensorcore-v100", "fp8-tensorcore", "wang2018",
        "ab=e5m2,acc=bf16,round=sr:8,out=e5m2,out_round=sr:4",
        "ab=e4m3fn,acc=fp16,round=sr:6,struct=chunked:3:fp32:sr:5",
        "ab=e5m2,acc=bf16,round=sr:8,struct=pairwise",
        "ab=e5m2,acc=bf16,round=sr:8,struct=multiterm:4:12:2,interleave=2",
        "ab=e4m3fn,acc=bf16,round=sr:5,struct=multiterm:4:12:2,chunk=8,outer=fp32,"
        "outer_round=sr:7,out=e5m2,out_round=sr:3"}) {
    const v::Spec s = mac_spec(mac, v::Kind::dot,
                               std::string(mac).find("chunk=8") != std::string::npos ? 20 : 0, 9);
    const auto cases = generate(s, 40, false);
    REQUIRE(cases.size() == 40);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const auto& c = cases[i];
      INFO(name_of(s) << " case " << i);
      const fp8sim::MacResult r = fp8sim::mac_dot(s.mac, c.a, c.b, c.c, s.seed, i);
      CHECK(r.code == c.result);
      CHECK(r.flags == c.flags);
      // the random bits the file lists are the ones the model asks for
      std::set<std::pair<int, std::uint64_t>> asked;
      const fp8sim::MacRandomSource rec = [&](fp8sim::RandomSite site, std::uint64_t step, int) {
        asked.insert({static_cast<int>(site), step});
        return std::uint32_t{0};
      };
      (void)fp8sim::mac_dot(s.mac, c.a, c.b, c.c, rec);
      std::set<std::pair<int, std::uint64_t>> listed;
      for (const auto& st : v::random_steps(s)) listed.insert({static_cast<int>(st.site), st.step});
      for (const auto& a : asked) CHECK(listed.count(a) == 1);
    }
  }
}

TEST_CASE("vectors: every applicable corner class is hit") {
  const std::vector<v::Spec> specs = {
      mac_spec("mellempudi2019"),
      mac_spec("ab=e4m3fn,acc=fp32,round=rne"),
      mac_spec("ab=e5m2,acc=fp16,round=rtz"),
      mac_spec("ab=e5m2,acc=bf16,round=sr:8"),
      mac_spec("mellempudi2019", v::Kind::dot),
      mac_spec("tensorcore-v100", v::Kind::dot),
      mac_spec("fp8-tensorcore", v::Kind::dot),
      quantize_spec("e4m3fn", "rne"),
      quantize_spec("e5m2", "sr:8"),
  };
  for (const auto& s : specs) {
    v::GenReport rep;
    const auto cases = generate(s, 200, true, &rep);
    CHECK(rep.cases == cases.size());
    CHECK(rep.corner_cases > 0);
    std::string line, missing;
    for (std::size_t i = 0; i < v::kCorners; ++i) {
      const auto name = v::corner_name(v::corner_at(i));
      line +=
          fmt::format(" {}={}", name, rep.applicable.test(i) ? std::to_string(rep.hits[i]) : "n/a");
      if (rep.applicable.test(i) && rep.hits[i] == 0) missing += fmt::format(" {}", name);
    }
    MESSAGE(name_of(s) << ": " << rep.corner_cases << " corner cases;" << line);
    CHECK_MESSAGE(missing.empty(), name_of(s) << ": classes not hit:" << missing);
  }
}

TEST_CASE("vectors: classes that cannot happen are n/a") {
  // e5m2 products cannot leave fp32's range: no product underflow or overflow, no saturation
  // of a mac-step; rtz never carries in rounding
  const auto a = v::applicable_corners(mac_spec("mellempudi2019"));
  CHECK(!a.test(static_cast<std::size_t>(v::Corner::product_underflow)));
  CHECK(!a.test(static_cast<std::size_t>(v::Corner::product_overflow)));
  CHECK(!a.test(static_cast<std::size_t>(v::Corner::saturation)));
  const auto b = v::applicable_corners(mac_spec("ab=e5m2,acc=fp16,round=rtz"));
  CHECK(!b.test(static_cast<std::size_t>(v::Corner::carry)));
  CHECK(b.test(static_cast<std::size_t>(v::Corner::product_overflow)));
  CHECK(b.test(static_cast<std::size_t>(v::Corner::saturation)));
  // quantize into e4m3fn: ties and carries, tiny values and overflow all exist
  const auto q = v::applicable_corners(quantize_spec("e4m3fn", "rtz"));
  CHECK(q.test(static_cast<std::size_t>(v::Corner::tie)));
  CHECK(!q.test(static_cast<std::size_t>(v::Corner::carry)));
  CHECK(q.test(static_cast<std::size_t>(v::Corner::saturation)));
  CHECK(!q.test(static_cast<std::size_t>(v::Corner::cancellation)));
}

TEST_CASE("vectors: generation is deterministic and does not depend on threads") {
  const v::Spec s = mac_spec("ab=e5m2,acc=bf16,round=sr:8", v::Kind::mac_step, 0, 77);
  std::vector<std::string> one, two;
  v::GenOptions o;
  o.count = 5000;
  o.corners = true;
  o.threads = 1;
  (void)v::generate(s, o, [&](const v::Case& c) { one.push_back(v::line_text(s, c)); });
  o.threads = 2;
  (void)v::generate(s, o, [&](const v::Case& c) { two.push_back(v::line_text(s, c)); });
  CHECK(one == two);
}

TEST_CASE("vectors: files round trip and gen -> check passes") {
  const std::vector<v::Spec> specs = {
      mac_spec("mellempudi2019"),
      mac_spec("ab=e5m2,acc=bf16,round=sr:8"),
      mac_spec("ab=e5m2,acc=bf16,round=sr:8,prod=e5m7,prod_round=sr:4"),
      mac_spec("tensorcore-v100", v::Kind::dot),
      mac_spec("ab=e4m3fn,acc=fp16,round=sr:6,struct=chunked:3:fp32:sr:5", v::Kind::dot, 7),
      quantize_spec("e4m3fn", "rne"),
      quantize_spec("e5m2", "sr:8"),
  };
  for (const auto& s : specs) {
    INFO(name_of(s));
    const auto cases = generate(s, 100, true);
    const std::string text = file_text(s, cases, 0);
    std::istringstream in(text);
    CHECK(v::looks_like_vector_file(in));
    const v::VectorFile vf = v::read_vector_file(in, "mem.txt");
    REQUIRE(vf.cases.size() == cases.size());
    CHECK(to_string(vf.spec.kind) == to_string(s.kind));
    CHECK(vf.spec.seed == s.seed);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      CHECK(v::line_text(vf.spec, vf.cases[i]) == v::line_text(s, cases[i]));
      CHECK(vf.cases[i].random == cases[i].random);
      // the $readmemh word is the line's fields, concatenated
      std::string joined = v::line_text(s, cases[i]);
      joined.erase(std::remove(joined.begin(), joined.end(), ' '), joined.end());
      CHECK(v::memh_line(s, cases[i]) == joined);
    }
    std::vector<std::optional<v::Outcome>> got;
    for (const auto& c : vf.cases) got.push_back(v::Outcome{c.result, c.flags});
    const auto r = v::check(vf.spec, vf.cases, got, vf.lines, {});
    CHECK(r.failed == 0);
    CHECK(r.passed == cases.size());
  }
  const v::Spec s = mac_spec("mellempudi2019");
  const std::string h = v::memh_header(s, 3, 0);
  CHECK(h.find("// word: 88 bits = a[87:80] b[79:72] acc_in[71:40] acc_out[39:8] flags[7:0]") !=
        std::string::npos);
}

TEST_CASE("vectors: malformed files name the file and line") {
  const v::Spec s = mac_spec("mellempudi2019");
  const auto cases = generate(s, 3, false);
  const std::string good = file_text(s, cases, 0);
  auto error_of = [](const std::string& text) -> std::string {
    std::istringstream in(text);
    try {
      (void)v::read_vector_file(in, "f.txt");
    } catch (const v::VectorFileError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of(good).empty());
  const auto lines = [&] {
    std::vector<std::string> l;
    std::istringstream in(good);
    for (std::string x; std::getline(in, x);) l.push_back(x);
    return l;
  }();
  const std::size_t first_case = lines.size() - 3;
  auto with_line = [&](std::size_t i, const std::string& repl) {
    std::string t;
    for (std::size_t k = 0; k < lines.size(); ++k) t += (k == i ? repl : lines[k]) + "\n";
    return t;
  };
  const std::string n = std::to_string(first_case + 2);  // 1-based number of the 2nd case
  CHECK(error_of(with_line(first_case + 1, "3C 3C 3F800000 3F800000"))
            .find("f.txt:" + n + ": 4 fields") == 0);
  CHECK(error_of(with_line(first_case + 1, "3C 3C 3F800000 zz 00")).find("f.txt:" + n) == 0);
  CHECK(error_of(with_line(first_case + 1, "3C 3C 3F800000 3F800000 00 11")).find("f.txt:" + n) ==
        0);
  CHECK(error_of(with_line(first_case + 1, "13C 3C 3F800000 3F800000 00"))
            .find("does not fit its 8 bits") != std::string::npos);
  CHECK(
      error_of(with_line(first_case + 1, "")).find("holds 2 cases but its header says count: 3") !=
      std::string::npos);
  CHECK(error_of("").find("empty") != std::string::npos);
  CHECK(error_of("3C 3C 00 00\n").find("not an fp8sim vector file") != std::string::npos);
  CHECK(error_of("# fp8sim vectors 7\n").find("not a supported version") != std::string::npos);
  // a plain dump of results
  std::istringstream in(good);
  const v::VectorFile vf = v::read_vector_file(in, "f.txt");
  auto dump_error = [&](const std::string& text) -> std::string {
    std::istringstream d(text);
    try {
      (void)v::read_result_dump(d, "d.txt", vf);
    } catch (const v::VectorFileError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(dump_error("0 3F800000 00\n// comment\n2 40000000 01\n").empty());
  CHECK(dump_error("0 3F800000 00\n0 3F800000 00\n").find("d.txt:2: case 0 (hex) is given twice") ==
        0);
  CHECK(dump_error("3 3F800000 00\n").find("d.txt:1: case 3 (hex) is not in the vector file") == 0);
  CHECK(dump_error("1 3F800000\n").find("d.txt:1: 2 fields") == 0);
  CHECK(dump_error("# nothing\n").find("holds no results") != std::string::npos);
}

TEST_CASE("vectors: the check names the cause of corrupted results") {
  SUBCASE("ties away instead of to even") {
    const v::Spec s = mac_spec("mellempudi2019");
    check_names_cause(s, generate(s, 300, true), "round=rna");
  }
  SUBCASE("flush to zero") {
    const v::Spec s = mac_spec("ab=e4m3fn,acc=fp16,round=rne");
    check_names_cause(s, generate(s, 300, true), "ftz=1");
  }
  SUBCASE("saturation instead of Inf") {
    const v::Spec s = mac_spec("ab=e5m2,acc=fp16,round=rne");
    check_names_cause(s, generate(s, 300, true), "saturate");
  }
  SUBCASE("alignment one bit short") {
    const v::Spec s = mac_spec("tensorcore-v100", v::Kind::dot);
    check_names_cause(s, generate(s, 300, true), "align-1");
  }
  SUBCASE("sticky bit lost") {
    const v::Spec s = mac_spec("ab=e4m3fn,acc=bf16,round=rne");
    check_names_cause(s, generate(s, 300, true), "sticky-lost");
  }
  SUBCASE("tininess before rounding") {
    const v::Spec s = quantize_spec("e4m3fn", "rne");
    check_names_cause(s, generate(s, 300, true), "tininess=before");
  }
}

TEST_CASE("vectors: a mismatch is decoded field by field, with its distance in ulps") {
  const v::Spec s = mac_spec("mellempudi2019");
  v::Case c;
  c.a = {0x3C};
  c.b = {0x40};
  c.c = 0x3F800000;
  const std::vector<v::Case> cases{c};
  const auto r = check_with(s, cases, {v::Outcome{0x40400001, 0x01}});
  REQUIRE(r.mismatches.size() == 1);
  const std::string& t = r.mismatches[0].text;
  INFO(t);
  CHECK(t.find("expected 40400000 (0 10000000 10000000000000000000000) = 3, flags none") !=
        std::string::npos);
  CHECK(t.find("got      40400001") != std::string::npos);
  CHECK(t.find("differs in fraction, flags (expected none, got inexact); 1 ulp of fp32") !=
        std::string::npos);
  CHECK(v::ulp_distance(fp8sim::parse_format("e4m3fn"), 0x01, 0x81) == 2u);
  CHECK(v::ulp_distance(fp8sim::parse_format("fp16"), 0x7BFF, 0x7C00) == 1u);
  CHECK(!v::ulp_distance(fp8sim::parse_format("fp16"), 0x7E00, 0x7C00));
  // a missing result
  const auto m = check_with(s, cases, {std::nullopt});
  CHECK(m.failed == 1);
  CHECK(m.mismatches[0].missing);
}
