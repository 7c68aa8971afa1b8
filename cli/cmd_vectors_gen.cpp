// cli/cmd_vectors_gen.cpp — `fp8sim vectors gen`: test vectors for hardware (one MAC step, a
// whole dot product, or a conversion), expected results from the golden model cross-checked
// with the reference model, a $readmemh variant, and the tally of corner classes
// (sim/vectors/vectors.hpp, docs/vectors.md).
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "rounding/rounding.hpp"
#include "sim/vectors/vectors.hpp"

namespace fp8sim::cli {

namespace {

// An output text file: created (or replaced) when opened, every write checked.
class TextOut {
 public:
  TextOut(std::string option, std::string path)
      : option_(std::move(option)), path_(std::move(path)) {
    const bool existed = file_exists(path_);
    if (!existed) will_create(path_);
    f_ = std::fopen(path_.c_str(), "w");
    if (f_ == nullptr)
      throw UsageError(fmt::format("{} {}: {}", option_, shown(path_), std::strerror(errno)));
    if (existed) will_create(path_);
  }
  ~TextOut() {
    if (f_ != nullptr) std::fclose(f_);
  }
  TextOut(const TextOut&) = delete;
  TextOut& operator=(const TextOut&) = delete;
  void write(const std::string& s) {
    if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) fail();
  }
  void close() {
    const int bad = std::ferror(f_);
    const int err = errno;
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (bad || rc != 0) fail(bad ? err : errno);
  }

 private:
  [[noreturn]] void fail(int err = errno) {
    throw UsageError(fmt::format("cannot write {} {}: {}", option_, shown(path_),
                                 err ? std::strerror(err) : "write error"));
  }
  std::string option_, path_;
  std::FILE* f_ = nullptr;
};

std::string report_text(const vectors::Spec& s, const vectors::GenReport& r, const std::string& out,
                        const std::string& memh) {
  std::string t =
      fmt::format("{}: {} cases of {} ({} corner cases, {} random) for {}; seed {}\n", out, r.cases,
                  to_string(s.kind), r.corner_cases, r.cases - r.corner_cases,
                  s.kind == vectors::Kind::quantize
                      ? fmt::format("{} with {}", s.format.name, to_string(s.round))
                      : to_string(s.mac),
                  s.seed);
  if (!memh.empty()) t += fmt::format("{}: the same cases for $readmemh\n", memh);
  t += fmt::format("{:<18} {:>9}  {}\n", "corner class", "cases", "meaning");
  for (std::size_t i = 0; i < vectors::kCorners; ++i) {
    const auto c = vectors::corner_at(i);
    std::string n = r.applicable.test(i) ? fmt::format("{}", r.hits[i]) : "n/a";
    if (r.applicable.test(i) && r.hits[i] == 0) n = "0 (none)";
    t += fmt::format("{:<18} {:>9}  {}\n", vectors::corner_name(c), n,
                     r.applicable.test(i)
                         ? vectors::corner_meaning(c)
                         : std::string_view("cannot happen with this configuration"));
  }
  return t;
}

std::string report_json(const vectors::Spec& s, const vectors::GenReport& r, const std::string& out,
                        const std::string& memh) {
  std::string classes, missing;
  for (std::size_t i = 0; i < vectors::kCorners; ++i) {
    const std::string name(vectors::corner_name(vectors::corner_at(i)));
    classes += fmt::format("{}{}: {}", i ? ", " : "", json_string(name),
                           r.applicable.test(i) ? fmt::format("{}", r.hits[i]) : "null");
    if (r.applicable.test(i) && r.hits[i] == 0)
      missing += fmt::format("{}{}", missing.empty() ? "" : ", ", json_string(name));
  }
  return fmt::format(
      "{{\"out\": {}, \"memh\": {}, \"kind\": {}, \"spec\": {}, \"seed\": {}, \"cases\": {}, "
      "\"corner_cases\": {}, \"random_cases\": {}, \"classes\": {{{}}}, \"not_reached\": [{}]}}\n",
      json_string(out), memh.empty() ? "null" : json_string(memh),
      json_string(std::string(to_string(s.kind))),
      json_string(s.kind == vectors::Kind::quantize
                      ? fmt::format("{},{}", s.format.name, to_string(s.round))
                      : to_string(s.mac)),
      s.seed, r.cases, r.corner_cases, r.cases - r.corner_cases, classes, missing);
}

}  // namespace

void add_vectors_gen_command(CLI::App& vec, Context& ctx) {
  auto* gen = vec.add_subcommand(
      "gen",
      "Write test vectors for hardware: MAC steps, dot products or conversions with the golden "
      "model's results, corner cases, a $readmemh variant");
  struct Opts {
    std::string mac, op = "mac-step", format, rounding = "rne", tininess = "after", out, memh;
    int terms = 0, threads = 0;
    std::uint64_t count = 1000, seed = 0;
    bool corners = false, ftz = false, overwrite = false, json = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  add_text(*gen, "-m,--mac", o->mac, "SPEC",
           "The MAC unit (mac-step, dot): a preset or key=value pairs (see 'fp8sim mac --help')",
           false);
  add_choice(*gen, "--op", o->op, {"mac-step", "dot", "quantize"},
             "What one case is: one accumulator step acc_out = round(acc_in + a*b), a whole dot "
             "product through the unit, or one conversion of a binary64 value");
  add_integer(*gen, "--terms", o->terms, 0, vectors::kMaxTerms,
              "--op dot: products per case (0: a multiterm unit's group size, else 4)", "T");
  add_text(*gen, "-f,--format", o->format, "FORMAT", "--op quantize: the target format", false);
  add_text(*gen, "-r,--rounding", o->rounding, "MODE",
           "--op quantize: rne, rna, rtz, rup, rdn, rto, sr or sr:R");
  add_choice(*gen, "--tininess", o->tininess, {"after", "before"},
             "--op quantize: underflow detection, after or before rounding");
  gen->add_flag("--ftz", o->ftz, "--op quantize: flush results below min normal to zero");
  add_integer(*gen, "-n,--count", o->count, std::uint64_t{0}, std::uint64_t{100000000},
              "Random cases (after the corner cases)");
  gen->add_flag("--corners", o->corners,
                "Corner cases first: every special input, ties, carries, tiny and overflowing "
                "results, cancellation, alignment at and past the width, carry chains, products "
                "beyond the accumulator's range");
  add_integer(*gen, "--seed", o->seed, std::uint64_t{0}, ~std::uint64_t{0},
              "Seed of the random cases and of the random bits of stochastic rounding");
  add_text(*gen, "-o,--out", o->out, "FILE", "Vector file to write (text, one case a line)", false);
  add_text(*gen, "--memh", o->memh, "FILE", "Also write the cases for $readmemh (one word a case)",
           false);
  gen->add_flag("--overwrite", o->overwrite, "Replace existing output files");
  add_integer(*gen, "--threads", o->threads, 0, 1024, "Threads (0: all)");
  gen->add_flag("--json", o->json, "Print the report as one JSON object");
  gen->add_flag("-q,--quiet", o->quiet, "No progress lines on stderr");
  gen->footer(
      "Cases (docs/vectors.md): --op mac-step: a b acc_in [random] acc_out flags; --op dot:\n"
      "a0.. b0.. c [random bits per rounding] result flags; --op quantize: value [random] result\n"
      "flags; every field fixed-width upper-case hex, after a '#' header holding the whole\n"
      "configuration. Expected results come from the golden model, cross-checked with the\n"
      "reference model (a disagreement is a bug: exit status 3). The report counts the cases\n"
      "that hit each corner class. Check hardware results with 'fp8sim vectors check'.\n"
      "Examples:\n"
      "  fp8sim vectors gen --mac mellempudi2019 --corners --count 1000 --out mac.txt\n"
      "  fp8sim vectors gen --mac tensorcore-v100 --op dot --corners -n 10000 -o v100.txt "
      "--memh v100.memh\n"
      "  fp8sim vectors gen --mac \"ab=e5m2,acc=bf16,round=sr:8\" --seed 7 -n 5000 -o sr.txt\n"
      "  fp8sim vectors gen --op quantize --format e4m3fn --rounding rne --corners -o q.txt");
  gen->callback([o, gen, &ctx] {
    vectors::Spec s;
    s.kind = vectors::parse_kind(o->op);
    s.seed = o->seed;
    if (s.kind == vectors::Kind::quantize) {
      if (given(*gen, "--mac"))
        throw UsageError(
            "--mac does not apply to --op quantize (it takes --format and --rounding)");
      if (given(*gen, "--terms")) throw UsageError("--terms applies to --op dot");
      if (o->format.empty()) throw UsageError("--op quantize needs --format F");
      s.format = parse_format(o->format);
      try {
        s.round = parse_rounding(o->rounding);
      } catch (const std::invalid_argument& e) {
        throw UsageError(fmt::format("--rounding: {}", e.what()));
      }
      s.round.tininess = o->tininess == "before" ? Tininess::before : Tininess::after;
      s.round.ftz = o->ftz;
    } else {
      for (const char* opt : {"--format", "--rounding", "--tininess", "--ftz"})
        if (given(*gen, opt))
          throw UsageError(
              fmt::format("{} applies to --op quantize (a MAC unit's roundings are "
                          "part of its --mac spec)",
                          opt));
      if (o->mac.empty()) throw UsageError(fmt::format("--op {} needs --mac SPEC", o->op));
      if (given(*gen, "--terms") && s.kind != vectors::Kind::dot)
        throw UsageError("--terms applies to --op dot");
      s.mac = parse_mac(o->mac);
      s.terms = o->terms > 0 ? o->terms : vectors::natural_terms(s.mac);
    }
    vectors::validate(s);
    if (o->count == 0 && !o->corners)
      throw UsageError(
          "--count 0 without --corners would write no cases (give --count N >= 1, "
          "or --corners)");
    if (o->out.empty()) throw UsageError("vectors gen needs --out FILE");
    std::vector<FileRole> outs{{"--out", o->out}};
    if (!o->memh.empty()) outs.push_back({"--memh", o->memh});
    check_file_roles({}, outs);
    for (const auto& f : outs)
      if (file_exists(f.path) && !o->overwrite)
        throw UsageError(
            fmt::format("{} {} exists: pass --overwrite to replace it", f.option, shown(f.path)));
    const StopSignals stop;
    TextOut out("--out", o->out);
    std::unique_ptr<TextOut> memh;
    if (!o->memh.empty()) memh = std::make_unique<TextOut>("--memh", o->memh);
    vectors::GenOptions go;
    go.count = o->count;
    go.corners = o->corners;
    go.threads = o->threads;
    std::uint64_t corner_cases = 0;
    go.on_total = [&](std::uint64_t total) {
      corner_cases = total - o->count;
      out.write(vectors::header_text(s, total, corner_cases));
      if (memh) memh->write(vectors::memh_header(s, total, corner_cases));
    };
    const auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    go.progress = [&](std::uint64_t done, std::uint64_t total) {
      const auto now = std::chrono::steady_clock::now();
      if (!o->quiet && std::chrono::duration<double>(now - last).count() >= 2.0) {
        const double el = std::chrono::duration<double>(now - t0).count();
        fmt::print(stderr, "vectors gen: {} of {} cases ({:.0f} cases/s)\n", done, total,
                   static_cast<double>(done) / el);
        last = now;
      }
      return StopSignals::received() == 0;
    };
    std::string buf, mbuf;
    const vectors::GenReport rep = vectors::generate(s, go, [&](const vectors::Case& c) {
      buf += vectors::line_text(s, c);
      buf += '\n';
      if (memh) {
        mbuf += vectors::memh_line(s, c);
        mbuf += '\n';
      }
      if (buf.size() > (1u << 20)) {
        out.write(buf);
        buf.clear();
        if (memh) {
          memh->write(mbuf);
          mbuf.clear();
        }
      }
    });
    if (rep.stopped) {
      const int sig = StopSignals::received();
      remove_created_outputs();  // a vector file is complete or absent
      ctx.exit_status = StopSignals::exit_status(sig);
      fmt::print(stderr, "vectors gen: stopped by {} after {} cases; {} removed\n",
                 StopSignals::name(sig), rep.cases,
                 memh ? "the output files were" : "the output file was");
      return;
    }
    out.write(buf);
    out.close();
    if (memh) {
      memh->write(mbuf);
      memh->close();
    }
    fmt::print("{}", o->json ? report_json(s, rep, o->out, o->memh)
                             : report_text(s, rep, o->out, o->memh));
  });
}

}  // namespace fp8sim::cli
