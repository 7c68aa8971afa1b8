// tests/unit/test_analysis.cpp — analysis/: statistics against values computed here
// independently, the recorder's round trip (every dataset read back), append and
// refusal, tensor dumps and readers, series and training recordings (/train).
#include <doctest/doctest.h>

#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "analysis/analysis.hpp"
#include "formats/formats.hpp"
#include "rounding/rounding.hpp"

using namespace fp8sim;
using namespace fp8sim::analysis;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("fp8sim_test_" + std::to_string(getpid()) + "_" + name))
      .string();
}

TensorStats quantize_stats(const Format& f, const std::vector<float>& x, RoundSpec r = {}) {
  QuantizeOptions qo;
  qo.round = r;
  std::vector<std::uint16_t> codes(x.size());
  std::vector<float> out(x.size());
  const QuantizeCounters c = quantize<float, std::uint16_t>(f, x, qo, codes, out);
  return tensor_stats(c, extra_counts<float>(f, x, std::span<const float>(out)));
}

template <class T>
std::vector<T> read_all(hid_t file, const std::string& path, hid_t mtype) {
  const hid_t ds = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  REQUIRE_MESSAGE(ds >= 0, path);
  const hid_t sp = H5Dget_space(ds);
  const hssize_t n = H5Sget_simple_extent_npoints(sp);
  std::vector<T> v(static_cast<std::size_t>(n));
  if (n) REQUIRE(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
  H5Sclose(sp);
  H5Dclose(ds);
  return v;
}

RunInfo test_run() {
  return current_run("gemm", "unit test", "[gemm]\nm = 1\n");
}

// The message of the IoError f throws ("(no IoError)" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  }
  return "(no IoError)";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A .npy file with the given header text and version and `payload` bytes after it.
void write_npy(const std::string& path, const std::string& dict, const std::string& payload,
               int major = 1) {
  std::string h = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::ofstream o(path, std::ios::binary);
  o.write("\x93NUMPY", 6);
  o.put(static_cast<char>(major));
  o.put(0);
  const std::uint32_t len = static_cast<std::uint32_t>(h.size());
  o.write(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  o.write(h.data(), static_cast<std::streamsize>(h.size()));
  o.write(payload.data(), static_cast<std::streamsize>(payload.size()));
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A small recording written by the Recorder: 3 steps of A/activation and C.
void make_recording(const std::string& path) {
  const Format fa = parse_format("e4m3fn");
  Recorder r(path, OpenMode::overwrite, test_run(), 1);
  const int a = r.add_quantizer("A", "activation", fa, "rne");
  const int g = r.add_gradient("C", fa);
  r.start();
  TensorStats q;
  q.count = 10;
  q.histogram.assign(Binades::of(fa).bins(), 1);
  GradientStats gr;
  gr.count = 10;
  for (std::int64_t s = 0; s < 3; ++s) {
    r.record_quantizer(a, s, q);
    r.record_gradient(g, s, gr);
    r.end_step();
  }
  r.close();
}

std::int64_t status_field(const std::string& path, const char* field) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const auto v = read_all<std::int64_t>(f, std::string("/status/") + field, H5T_NATIVE_INT64);
  H5Fclose(f);
  REQUIRE(v.size() == 1);
  return v[0];
}

}  // namespace

TEST_CASE("analysis.binades.e4m3fn_and_nosub") {
  const Binades b = Binades::of(parse_format("e4m3fn"));  // 2^-9 .. 448 < 2^9
  CHECK(b.first == -9);
  CHECK(b.binades == 18);
  CHECK(b.bins() == 20);
  const Binades n = Binades::of(parse_format("e4m3fn-nosub"));  // from min normal 2^-6
  CHECK(n.first == -6);
  CHECK(n.binades == 15);
}

TEST_CASE("analysis.histogram.constructed_inputs_land_in_their_binades") {
  const Format f = parse_format("e5m2");  // min subnormal 2^-16, emax 15: bins -16..15
  const Binades b = Binades::of(f);
  REQUIRE(b.first == -16);
  REQUIRE(b.binades == 32);
  const float sub_f32 = std::ldexp(1.0f, -140);  // an fp32 subnormal: underflow bin
  const std::vector<float> x = {0.0f,
                                -0.0f,
                                1.0f,
                                1.5f,
                                -1.99f,
                                2.0f,
                                0.75f,
                                std::ldexp(1.0f, -16),
                                std::ldexp(1.0f, -17),
                                sub_f32,
                                65536.0f,
                                1e30f,
                                INFINITY,
                                NAN,
                                57344.0f};
  const ExtraCounts e = extra_counts<float>(f, x, {});
  std::vector<std::uint64_t> want(b.bins(), 0);
  auto bin = [&](int log2) { return static_cast<std::size_t>(log2 - b.first + 1); };
  want[bin(0)] = 3;        // 1, 1.5, -1.99
  want[bin(1)] = 1;        // 2
  want[bin(-1)] = 1;       // 0.75
  want[bin(-16)] = 1;      // 2^-16
  want[0] = 2;             // 2^-17 and the fp32 subnormal
  want[bin(15)] = 1;       // 57344
  want[b.bins() - 1] = 3;  // 65536 = 2^16, 1e30, Inf
  CHECK(e.histogram == want);
  CHECK(e.amax == 1e30f);  // Inf and NaN excluded
  // double input, the same bins (also subnormal doubles)
  std::vector<double> xd(x.begin(), x.end());
  xd.push_back(5e-320);
  const ExtraCounts ed = extra_counts<double>(f, xd, {});
  want[0] += 1;
  CHECK(ed.histogram == want);
}

TEST_CASE("analysis.stats.exact_underflow_and_flushed_counts") {
  // e4m3fn: min subnormal 2^-9, min normal 2^-6. Inputs: 3 far below the subnormal
  // minimum (underflow, not flushed), 2 in the subnormal range.
  const std::vector<float> x = {1e-6f, -1e-7f, 1e-5f, 0.004f, -0.01f, 0.0f, 1.0f, 448.0f};
  SUBCASE("gradual underflow keeps the subnormal range") {
    const TensorStats s = quantize_stats(parse_format("e4m3fn"), x);
    CHECK(s.count == 8);
    CHECK(s.zeros_in == 1);
    CHECK(s.underflow == 3);
    CHECK(s.flushed_subnormal == 0);
    CHECK(s.subnormal_out == 2);
    CHECK(s.amax == 448.0);
  }
  SUBCASE("ftz flushes the two subnormal-range inputs") {
    RoundSpec r;
    r.ftz = true;
    const TensorStats s = quantize_stats(parse_format("e4m3fn"), x, r);
    CHECK(s.underflow == 5);
    CHECK(s.flushed_subnormal == 2);
    CHECK(s.subnormal_out == 0);
  }
  SUBCASE("saturating format") {
    const std::vector<float> big = {1e6f, -1e6f, 1.0f};
    const TensorStats s = quantize_stats(parse_format("e4m3fn-sat"), big);
    CHECK(s.overflow == 2);
    CHECK(s.saturated == 2);
    CHECK(s.nan_out == 0);
  }
}

TEST_CASE("analysis.stats.sqnr_of_uniform_inputs_matches_theory") {
  // x uniform in [1, 2) rounded rne to e5m2 (step 1/4): error uniform in [-1/8, 1/8],
  // variance 1/192; E[x^2] = 7/3; SQNR = 10 log10(448) = 26.51 dB.
  std::mt19937_64 g(7);
  std::uniform_real_distribution<float> d(1.0f, 2.0f);
  std::vector<float> x(1 << 20);
  for (auto& v : x) v = d(g);
  const TensorStats s = quantize_stats(parse_format("e5m2"), x);
  CHECK(s.sqnr_db == doctest::Approx(10 * std::log10(448.0)).epsilon(0.002));
  CHECK(s.error_var == doctest::Approx(1.0 / 192).epsilon(0.01));
  CHECK(std::abs(s.error_mean) < 1e-3);
  CHECK(s.max_abs_error <= 0.125);  // half the step 1/4, reached only at an exact tie
  CHECK(s.max_abs_error > 0.1249);
  // relative error: E|e|/x = (1/16) * E[1/x] = ln 2 / 16
  CHECK(s.rel_error_mean == doctest::Approx(std::log(2.0) / 16).epsilon(0.01));
  CHECK(s.histogram[static_cast<std::size_t>(0 - Binades::of(parse_format("e5m2")).first + 1)] ==
        x.size());
}

TEST_CASE("analysis.stats.compare_to_reference_agrees_with_the_quantizer") {
  const Format f = parse_format("e4m3fn");
  std::mt19937_64 g(3);
  std::lognormal_distribution<double> d(-2, 3);
  std::vector<float> x(20000);
  for (auto& v : x) v = static_cast<float>(d(g) * ((g() & 1) ? 1 : -1));
  x[5] = 0;
  for (auto& v : x) v = std::min(v, 400.0f);  // the two overflow definitions differ at the edge
  const TensorStats q = quantize_stats(f, x);
  std::vector<double> xd(x.begin(), x.end()), yd(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) yd[i] = to_double(f, from_double(xd[i], f, {}).code);
  const TensorStats c = compare_to_reference(f, xd, yd);
  CHECK(c.count == q.count);
  CHECK(c.zeros_in == q.zeros_in);
  CHECK(c.underflow == q.underflow);
  CHECK(c.underflow > 100);
  CHECK(c.subnormal_out == q.subnormal_out);
  CHECK(c.error_count == q.error_count);
  CHECK(c.sqnr_db == doctest::Approx(q.sqnr_db).epsilon(1e-9));
  CHECK(c.max_abs_error == q.max_abs_error);
  CHECK(c.histogram == q.histogram);
  CHECK(c.rel_error_mean == doctest::Approx(q.rel_error_mean).epsilon(1e-9));
}

TEST_CASE("analysis.gradient_stats.fractions_on_constructed_inputs") {
  const Format f = parse_format("e5m2");  // min subnormal 2^-16, max 57344
  const std::vector<double> g = {
      0,   std::ldexp(1.0, -20), -std::ldexp(1.0, -18), 1.0, 3.0, -4.0, 60000.0, INFINITY,
      NAN, std::ldexp(1.0, -30)};
  const GradientStats s = gradient_stats(f, g, 1024.0);  // 2^10
  CHECK(s.count == 10);
  CHECK(s.nonfinite == 2);
  CHECK(s.amax == 60000.0);
  CHECK(s.norm == doctest::Approx(std::sqrt(1 + 9 + 16 + 60000.0 * 60000.0 + std::ldexp(1.0, -40) +
                                            std::ldexp(1.0, -36) + std::ldexp(1.0, -60))));
  CHECK(s.below_min_subnormal == 0.3);         // 2^-20, 2^-18, 2^-30
  CHECK(s.below_min_subnormal_scaled == 0.1);  // only 2^-30 * 2^10 stays below
  CHECK(s.above_max == doctest::Approx(0.2));  // 60000 * 2^10 and Inf
  CHECK_THROWS_AS((void)gradient_stats(f, g, 0.0), std::invalid_argument);
}

TEST_CASE("analysis.recorder.round_trip_of_every_dataset") {
  const std::string path = temp_path("rec.h5");
  std::filesystem::remove(path);
  const Format fa = parse_format("e4m3fn"), fc = parse_format("fp16");
  TensorStats q;
  q.count = 100;
  q.zeros_in = 1;
  q.underflow = 2;
  q.flushed_subnormal = 3;
  q.subnormal_out = 4;
  q.overflow = 5;
  q.saturated = 6;
  q.nan_in = 7;
  q.inf_in = 8;
  q.nan_out = 9;
  q.inf_out = 10;
  q.error_count = 11;
  q.error_mean = 0.5;
  q.error_var = 0.25;
  q.max_abs_error = 1.5;
  q.rel_error_mean = 0.01;
  q.sqnr_db = 30.5;
  q.amax = 448;
  q.histogram.assign(Binades::of(fa).bins(), 0);
  for (std::size_t i = 0; i < q.histogram.size(); ++i) q.histogram[i] = i * i;
  GemmStats gs;
  gs.output = q;
  gs.output.histogram.assign(Binades::of(fc).bins(), 7);
  gs.mac = MacTally{1000, 900, 12, 13, 14, 15, 16};
  gs.products = 3000;
  GradientStats gr;
  gr.count = 50;
  gr.nonfinite = 1;
  gr.norm = 2.5;
  gr.amax = 1.25;
  gr.loss_scale = 8;
  gr.below_min_subnormal = 0.1;
  gr.below_min_subnormal_scaled = 0.05;
  gr.above_max = 0.02;
  {
    Recorder r(path, OpenMode::create, test_run(), 2);
    const int a = r.add_quantizer("A", "activation", fa, "rne");
    const int c = r.add_gemm("C", fc, "ab=e4m3fn,acc=fp16", 4, 5, 6);
    const int g = r.add_gradient("C", fa);
    CHECK_THROWS_AS(r.add_quantizer("A", "activation", fa, "rne"), std::invalid_argument);
    CHECK_THROWS_AS(r.add_gradient("x/y", fa), std::invalid_argument);
    r.start();
    CHECK(r.next_step() == 0);
    for (std::int64_t s = 0; s < 5; ++s) {
      q.count = 100 + static_cast<std::uint64_t>(s);
      r.record_quantizer(a, s, q);
      r.record_gemm(c, s, gs);
      r.record_gradient(g, s, gr);
      r.end_step();
    }
    CHECK(r.rows_flushed() == 4);  // flushed every 2 steps; the 5th at close
    r.close();
  }
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);  // closed cleanly
  REQUIRE(f >= 0);
  const auto steps = read_all<std::int64_t>(f, "/quantizers/A/activation/step", H5T_NATIVE_INT64);
  CHECK(steps == std::vector<std::int64_t>{0, 1, 2, 3, 4});
  const auto count =
      read_all<std::uint64_t>(f, "/quantizers/A/activation/count", H5T_NATIVE_UINT64);
  CHECK(count == std::vector<std::uint64_t>{100, 101, 102, 103, 104});
  const std::vector<std::pair<const char*, std::uint64_t>> u = {
      {"zeros_in", 1},      {"underflow", 2},   {"flushed_subnormal", 3},
      {"subnormal_out", 4}, {"overflow", 5},    {"saturated", 6},
      {"nan_in", 7},        {"inf_in", 8},      {"nan_out", 9},
      {"inf_out", 10},      {"error_count", 11}};
  for (const auto& [name, v] : u) {
    for (const char* g : {"/quantizers/A/activation/", "/gemms/C/"}) {
      const auto col = read_all<std::uint64_t>(f, std::string(g) + name, H5T_NATIVE_UINT64);
      CHECK_MESSAGE(col == std::vector<std::uint64_t>(5, v), g, name);
    }
  }
  const std::vector<std::pair<const char*, double>> d = {
      {"error_mean", 0.5},      {"error_var", 0.25}, {"max_abs_error", 1.5},
      {"rel_error_mean", 0.01}, {"sqnr_db", 30.5},   {"amax", 448}};
  for (const auto& [name, v] : d)
    for (const char* g : {"/quantizers/A/activation/", "/gemms/C/"})
      CHECK(read_all<double>(f, std::string(g) + name, H5T_NATIVE_DOUBLE) ==
            std::vector<double>(5, v));
  const auto hist =
      read_all<std::uint64_t>(f, "/quantizers/A/activation/histogram", H5T_NATIVE_UINT64);
  REQUIRE(hist.size() == 5 * q.histogram.size());
  CHECK(std::equal(q.histogram.begin(), q.histogram.end(), hist.begin() + 4 * 20));
  CHECK(read_all<std::uint64_t>(f, "/gemms/C/histogram", H5T_NATIVE_UINT64) ==
        std::vector<std::uint64_t>(5 * Binades::of(fc).bins(), 7));
  const std::vector<std::pair<const char*, std::uint64_t>> mac = {
      {"mac_steps", 1000}, {"mac_inexact", 900}, {"mac_underflow", 12},      {"mac_overflow", 13},
      {"mac_invalid", 14}, {"mac_swamped", 15},  {"mac_carry_overflow", 16}, {"products", 3000}};
  for (const auto& [name, v] : mac)
    CHECK(read_all<std::uint64_t>(f, std::string("/gemms/C/") + name, H5T_NATIVE_UINT64) ==
          std::vector<std::uint64_t>(5, v));
  CHECK(read_all<double>(f, "/gemms/C/swamped_fraction", H5T_NATIVE_DOUBLE) ==
        std::vector<double>(5, 15.0 / 3000));
  CHECK(read_all<std::uint64_t>(f, "/gradients/C/count", H5T_NATIVE_UINT64) ==
        std::vector<std::uint64_t>(5, 50));
  CHECK(read_all<std::uint64_t>(f, "/gradients/C/nonfinite", H5T_NATIVE_UINT64) ==
        std::vector<std::uint64_t>(5, 1));
  const std::vector<std::pair<const char*, double>> gd = {{"norm", 2.5},
                                                          {"amax", 1.25},
                                                          {"loss_scale", 8},
                                                          {"below_min_subnormal", 0.1},
                                                          {"below_min_subnormal_scaled", 0.05},
                                                          {"above_max", 0.02}};
  for (const auto& [name, v] : gd)
    CHECK(read_all<double>(f, std::string("/gradients/C/") + name, H5T_NATIVE_DOUBLE) ==
          std::vector<double>(5, v));
  const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
  CHECK(detail::read_int_attr(root, "schema_version") == kSchemaVersion);
  CHECK(detail::read_string_attr(root, "config") == "[gemm]\nm = 1\n");
  CHECK(detail::read_string_attr(root, "command_line") == "unit test");
  CHECK(detail::read_string_attr(root, "start_time").size() == 20);
  H5Gclose(root);
  const hid_t grp = H5Gopen2(f, "/gemms/C", H5P_DEFAULT);
  CHECK(detail::read_string_attr(grp, "format") == "fp16");
  CHECK(detail::read_int_attr(grp, "k") == 6);
  H5Gclose(grp);
  H5Fclose(f);

  SUBCASE("create refuses, append continues, overwrite replaces") {
    CHECK_THROWS_AS(Recorder(path, OpenMode::create, test_run()), IoError);
    {
      Recorder r(path, OpenMode::append, test_run());
      const int a = r.add_quantizer("A", "activation", fa, "rne");
      (void)r.add_gemm("C", fc, "ab=e4m3fn,acc=fp16", 4, 5, 6);
      (void)r.add_gradient("C", fa);
      r.start();
      CHECK(r.next_step() == 5);
      r.record_quantizer(a, 5, q);
      r.close();
    }
    const hid_t f2 = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(read_all<std::int64_t>(f2, "/quantizers/A/activation/step", H5T_NATIVE_INT64).size() ==
          6);
    H5Fclose(f2);
    {
      Recorder r(path, OpenMode::append, test_run());
      (void)r.add_quantizer("B", "weight", fa, "rne");
      CHECK_THROWS_AS(r.start(), IoError);  // a different layout
    }
    {
      Recorder r(path, OpenMode::append, test_run());
      (void)r.add_quantizer("A", "activation", fa, "rne");
      (void)r.add_gemm("C", fc, "ab=e5m2,acc=fp16", 4, 5, 6);  // another MAC unit
      (void)r.add_gradient("C", fa);
      CHECK(error_of([&] { r.start(); }).find("/gemms/C@mac") != std::string::npos);
    }
    {
      Recorder r(path, OpenMode::overwrite, test_run());
      (void)r.add_quantizer("B", "weight", fa, "rne");
      r.start();
    }
    const hid_t f3 = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(H5Lexists(f3, "/quantizers", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(f3, "/gemms", H5P_DEFAULT) == 0);
    H5Fclose(f3);
  }
  std::filesystem::remove(path);
}

TEST_CASE("analysis.tensor_io.dump_round_trip_and_npy") {
  const std::string path = temp_path("dump.h5");
  std::filesystem::remove(path);
  const Format f = parse_format("e4m3fn");
  const std::vector<double> x = {0.3, -448, 1e-9, 2, 3, 5};
  std::vector<std::uint64_t> codes(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) codes[i] = from_double(x[i], f, {}).code;
  {
    DumpWriter w(path, OpenMode::create, current_run("dump", "t", ""));
    w.write(3, "W", {2, 3}, x, codes, f, "rne");
    CHECK_THROWS_AS(w.write(3, "W", {2, 3}, x, codes, f, "rne"), IoError);
    CHECK_THROWS_AS(w.write(4, "W", {4, 3}, x, codes, f, "rne"), std::invalid_argument);
  }
  const Tensor in = read_tensor(path + ":/dumps/step_3/W/input");
  CHECK(in.shape == std::vector<std::size_t>{2, 3});
  CHECK(in.values == x);
  const Tensor c = read_tensor(path + ":/dumps/step_3/W/codes");
  CHECK(c.values == std::vector<double>{0x2a, 0xfe, 0, 0x40, 0x44, 0x4a});
  const Tensor v = read_tensor(path + ":/dumps/step_3/W/values");
  CHECK(v.values == std::vector<double>{0.3125, -448, 0, 2, 3, 5});
  CHECK_THROWS_AS((void)read_tensor(path + ":/dumps/step_3/nope"), IoError);
  CHECK_THROWS_AS((void)read_matrix(path + ":/dumps/step_3/W"), IoError);  // a group
  std::filesystem::remove(path);

  // .npy: version 1 header, float32, shape (2, 2)
  const std::string npy = temp_path("x.npy");
  {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    header.resize(118 - 10 + 0, ' ');
    header.back() = '\n';
    std::ofstream o(npy, std::ios::binary);
    o.write("\x93NUMPY\x01\x00", 8);
    const std::uint16_t len = static_cast<std::uint16_t>(header.size());
    o.write(reinterpret_cast<const char*>(&len), 2);
    o.write(header.data(), static_cast<std::streamsize>(header.size()));
    const float vals[4] = {1.5f, -2.0f, 0.25f, 1e-3f};
    o.write(reinterpret_cast<const char*>(vals), sizeof vals);
  }
  const Tensor t = read_matrix(npy);
  CHECK(t.shape == std::vector<std::size_t>{2, 2});
  CHECK(t.values == std::vector<double>{1.5, -2.0, 0.25, static_cast<double>(1e-3f)});
  std::filesystem::remove(npy);
  CHECK_THROWS_AS((void)read_tensor(npy), IoError);  // gone
}

TEST_CASE("analysis.dump_selection.names_and_steps") {
  const DumpSelection s = parse_dump_selection("A*,C", "0,10-20");
  CHECK(s.wants("A", 0));
  CHECK(s.wants("Abc", 15));
  CHECK(s.wants("C", 20));
  CHECK_FALSE(s.wants("B", 0));
  CHECK_FALSE(s.wants("C", 5));
  CHECK_FALSE(s.wants("CC", 10));
  CHECK_THROWS_AS((void)parse_dump_selection("A", "5-2"), std::invalid_argument);
  CHECK_THROWS_AS((void)parse_dump_selection("A", "x"), std::invalid_argument);
  CHECK_THROWS_AS((void)parse_dump_selection("A,,B", "0"), std::invalid_argument);
}

TEST_CASE("analysis.tensor_io.npy_header_is_honoured") {
  const std::string p = temp_path("h.npy");
  const std::vector<float> f4 = {1.5f, -2.0f, 0.25f, 8.0f, 3.0f, 5.0f};
  // any spacing, no trailing comma, double quotes, versions 2.0 and 3.0
  for (const char* dict :
       {"{'descr':'<f4','fortran_order':False,'shape':(2,3)}",
        "{ \"descr\" : \"<f4\" , \"fortran_order\" : False , \"shape\" : ( 2 , 3 , ) , }",
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '=f4', }"})
    for (int major : {1, 2, 3}) {
      write_npy(p, dict, bytes_of(f4), major);
      const Tensor t = read_tensor(p);
      CHECK(t.shape == std::vector<std::size_t>{2, 3});
      CHECK(t.values == std::vector<double>{1.5, -2.0, 0.25, 8.0, 3.0, 5.0});
    }
  // Fortran order (no space after the colon): the file holds columns; read row-major
  write_npy(p, "{'descr': '<f4', 'fortran_order':True, 'shape': (2, 3), }", bytes_of(f4));
  const TensorInfo fi = inspect_tensor(p);
  CHECK(fi.fortran_order);
  CHECK(read_tensor(p).values == std::vector<double>{1.5, 0.25, 3.0, -2.0, 8.0, 5.0});
  // every supported dtype, and what inspect_tensor says
  write_npy(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", "\x01\x02\xff");
  TensorInfo info = inspect_tensor(p);
  CHECK(info.dtype == "uint8");
  CHECK(info.elements == 3);
  CHECK(info.bytes == 24);
  CHECK(read_tensor(p).values == std::vector<double>{1, 2, 255});
  write_npy(p, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            bytes_of(std::vector<std::int64_t>{-5, 1LL << 40}));
  CHECK(read_tensor(p).values == std::vector<double>{-5, 1099511627776.0});
  write_npy(p, "{'descr': '<u2', 'fortran_order': False, 'shape': (), }",
            bytes_of(std::vector<std::uint16_t>{65535}));
  CHECK(read_tensor(p).shape.empty());
  CHECK(read_tensor(p).values == std::vector<double>{65535});
  write_npy(p, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4), }", "");
  CHECK(read_tensor(p).values.empty());

  // refused by name
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{'descr': 'f4,', 'fortran_order': False, 'shape': (2,), }", "structured"},
      {"{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "big-endian"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "complex"},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "object"},
      {"{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }", "string"},
      {"{'descr': '|b1', 'fortran_order': False, 'shape': (8,), }", "bool"},
      {"{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", "not supported"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }",
       "unknown key 'extra'"},
      {"{'descr': '<f4', 'fortran_order': False, }", "no 'shape'"},
      {"{'fortran_order': False, 'shape': (2,), }", "no 'descr'"},
      {"{'descr': '<f4', 'shape': (2,), }", "no 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", "not True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "negative dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }", "not an integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", "a list, not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,), }",
       "does not fit in 64 bits"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }",
       "more than 2^64 elements"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }",
       "more than 2^64 bytes"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }",
       "declares 4000000000 bytes of data"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "4 bytes too many"},
      {"{'descr': '<f4', 'fortran_order': False, 'descr': '<f4', 'shape': (2,), }", "twice"},
      {"['descr', '<f4']", "not a dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", "after the header"},
  };
  for (const auto& [dict, want] : bad) {
    write_npy(p, dict, std::string(8, '\0'));
    const std::string msg = error_of([&] { (void)inspect_tensor(p); });
    CHECK_MESSAGE(has(msg, want), dict, " -> ", msg);
    CHECK_MESSAGE(has(error_of([&] { (void)read_tensor(p); }), want), dict);
  }
  { std::ofstream o(p, std::ios::binary | std::ios::trunc); }
  CHECK(has(error_of([&] { (void)read_tensor(p); }), "empty"));
  {
    std::ofstream o(p, std::ios::binary | std::ios::trunc);
    o << "NOTNUMPY and more bytes";
  }
  CHECK(has(error_of([&] { (void)read_tensor(p); }), "not a .npy file"));
  write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'),
            4);
  CHECK(has(error_of([&] { (void)read_tensor(p); }), "version 4.0"));
  std::filesystem::remove(p);
  CHECK(has(error_of([&] { (void)read_tensor(p); }), "no such file"));
  std::filesystem::create_directory(p);
  CHECK(has(error_of([&] { (void)read_tensor(p); }), "is a directory"));
  std::filesystem::remove(p);
  CHECK(has(error_of([&] { (void)read_matrix(p + "x"); }), "name a .npy file"));
}

TEST_CASE("analysis.tensor_io.hdf5_inputs_in_the_users_words") {
  const std::string path = temp_path("in.h5");
  make_recording(path);
  const TensorInfo info = inspect_tensor(path + ":/quantizers/A/activation/histogram");
  CHECK(info.dtype == "uint64");
  CHECK(info.shape.size() == 2);
  CHECK(info.shape[0] == 3);
  CHECK(info.bytes == info.elements * 8);
  CHECK(has(error_of([&] { (void)read_tensor(path + ":/nope"); }), "has no dataset '/nope'"));
  CHECK(has(error_of([&] { (void)read_tensor(path + ":/quantizers"); }), "is a group"));
  {  // a dataset of strings
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    const hsize_t n = 2;
    const hid_t sp = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f, "/text", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcdefgh");
    H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
  }
  CHECK(has(error_of([&] { (void)inspect_tensor(path + ":/text"); }), "holds string values"));
  // damaged files: truncated, not HDF5, empty, a directory, missing
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size / 3);
  const std::string trunc =
      error_of([&] { (void)read_tensor(path + ":/quantizers/A/activation/count"); });
  CHECK_MESSAGE(has(trunc, "is truncated or damaged (" + std::to_string(size / 3) + " bytes)"),
                trunc);
  CHECK_FALSE(has(trunc, "eof"));
  CHECK(has(error_of([&] { (void)summarize_run(path); }), "truncated or damaged"));
  {
    std::ofstream o(path, std::ios::trunc);
    o << "plain text, not HDF5\n";
  }
  CHECK(has(error_of([&] { (void)summarize_run(path); }), "is not an HDF5 file"));
  std::filesystem::resize_file(path, 0);
  CHECK(has(error_of([&] { (void)summarize_run(path); }), "empty (0 bytes)"));
  std::filesystem::remove(path);
  CHECK(has(error_of([&] { (void)summarize_run(path); }), "no such file"));
  std::filesystem::create_directory(path);
  CHECK(has(error_of([&] { (void)summarize_run(path); }), "is a directory"));
  CHECK(
      has(error_of([&] { Recorder r(path, OpenMode::overwrite, test_run()); }), "is a directory"));
  std::filesystem::remove(path);
  CHECK(has(error_of([&] { Recorder r(path + "/no/such/r.h5", OpenMode::create, test_run()); }),
            "does not exist"));
}

TEST_CASE("analysis.recorder.status_says_how_the_run_ended") {
  const std::string path = temp_path("status.h5");
  const Format fa = parse_format("e4m3fn");
  TensorStats q;
  q.count = 4;
  q.histogram.assign(Binades::of(fa).bins(), 0);
  make_recording(path);
  CHECK(status_field(path, "state") == static_cast<std::int64_t>(RunState::complete));
  CHECK(status_field(path, "last_step") == 2);
  CHECK(status_field(path, "end_time") > 0);
  RunSummary s = summarize_run(path);
  CHECK(s.schema_version == kSchemaVersion);
  CHECK(s.status.state == "complete");
  CHECK_FALSE(s.status.cut_short);

  SUBCASE("stopped by a signal") {
    {
      Recorder r(path, OpenMode::overwrite, test_run());
      const int a = r.add_quantizer("A", "activation", fa, "rne");
      r.start();
      for (std::int64_t st = 0; st < 4; ++st) {
        r.record_quantizer(a, st, q);
        r.end_step();
      }
      r.mark_stopped(15, 3);
      r.close();
    }
    CHECK(status_field(path, "state") == static_cast<std::int64_t>(RunState::stopped));
    CHECK(status_field(path, "signal") == 15);
    s = summarize_run(path);
    CHECK(s.status.state == "stopped");
    CHECK(s.status.signal_name == "SIGTERM");
    CHECK(s.status.last_step == 3);
    CHECK(s.status.cut_short);
    CHECK(s.points.at(0).rows == 4);
  }
  SUBCASE("an exception after some rows: failed; before any row: the file is removed") {
    try {
      Recorder r(path, OpenMode::overwrite, test_run(), 1);
      const int a = r.add_quantizer("A", "activation", fa, "rne");
      r.start();
      r.record_quantizer(a, 0, q);
      r.end_step();
      throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CHECK(status_field(path, "state") == static_cast<std::int64_t>(RunState::failed));
    CHECK(summarize_run(path).status.state == "failed");
    std::filesystem::remove(path);
    try {
      Recorder r(path, OpenMode::create, test_run(), 1);
      (void)r.add_quantizer("A", "activation", fa, "rne");
      r.start();
      throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CHECK_FALSE(std::filesystem::exists(path));
  }
  SUBCASE("a version 1 file is upgraded by --append") {
    {  // version 1: no /status
      const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      REQUIRE(f >= 0);
      for (const char* d :
           {"/status/state", "/status/signal", "/status/last_step", "/status/end_time", "/status"})
        H5Ldelete(f, d, H5P_DEFAULT);
      const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
      detail::write_int_attr(root, "schema_version", 1);
      H5Gclose(root);
      H5Fclose(f);
    }
    s = summarize_run(path);
    CHECK(s.schema_version == 1);
    CHECK(s.status.state == "closed");
    {
      Recorder r(path, OpenMode::append, test_run());
      const int a = r.add_quantizer("A", "activation", fa, "rne");
      (void)r.add_gradient("C", fa);
      r.start();
      CHECK(r.next_step() == 3);
      r.record_quantizer(a, 3, q);
      r.close();
    }
    s = summarize_run(path);
    CHECK(s.schema_version == kSchemaVersion);
    CHECK(s.status.state == "complete");
  }
  std::filesystem::remove(path);
}

TEST_CASE("analysis.run_summary.refuses_what_the_schema_does_not_allow") {
  const std::string path = temp_path("forged.h5");
  auto forge = [&](auto&& change) {
    make_recording(path);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    change(f);
    H5Fclose(f);
    return error_of([&] { (void)summarize_run(path); });
  };
  auto root_attr = [](hid_t f, auto&& write) {
    const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    write(root);
    H5Gclose(root);
  };
  std::string m = forge([&](hid_t f) {
    root_attr(f, [](hid_t r) { detail::write_int_attr(r, "schema_version", 999); });
  });
  CHECK_MESSAGE(has(m, "/@schema_version is 999"), m);
  m = forge([&](hid_t f) {
    root_attr(f, [](hid_t r) { detail::write_string_attr(r, "schema_version", "one"); });
  });
  CHECK_MESSAGE((has(m, "not an integer") && has(m, "'one'")), m);
  m = forge([&](hid_t f) { H5Ldelete(f, "/quantizers/A/activation/count", H5P_DEFAULT); });
  CHECK_MESSAGE(has(m, "/quantizers/A/activation/count is missing"), m);
  m = forge([&](hid_t f) {
    H5Ldelete(f, "/gradients/C/count", H5P_DEFAULT);
    const hsize_t n = 3;
    const hid_t sp = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f, "/gradients/C/count", H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(sp);
  });
  CHECK_MESSAGE(has(m, "/gradients/C/count is a float64, the schema says uint64"), m);
  m = forge([&](hid_t f) {
    H5Ldelete(f, "/gradients/C/count", H5P_DEFAULT);
    const hsize_t n = 3;
    const hid_t sp = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f, "/gradients/C/count", H5T_STD_I64LE, sp, H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT);
    const std::int64_t v[3] = {1, -4, 2};
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(sp);
  });
  CHECK_MESSAGE(has(m, "negative count (-4 in row 1)"), m);
  m = forge([&](hid_t f) {
    const hid_t ds = H5Dopen2(f, "/quantizers/A/activation/amax", H5P_DEFAULT);
    const hsize_t n = 2;
    H5Dset_extent(ds, &n);
    H5Dclose(ds);
  });
  CHECK_MESSAGE(has(m, "/quantizers/A/activation/amax has 2 rows"), m);
  m = forge([&](hid_t f) {
    const hid_t g = H5Gcreate2(f, "/extra", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
  });
  CHECK_MESSAGE(has(m, "/extra is not part of a recording"), m);
  m = forge([&](hid_t f) { H5Adelete_by_name(f, "/gradients/C", "format", H5P_DEFAULT); });
  CHECK_MESSAGE(has(m, "/gradients/C@format is missing"), m);
  m = forge([&](hid_t f) {
    const hid_t ds = H5Dopen2(f, "/status/state", H5P_DEFAULT);
    const std::int64_t v = 7;
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
    H5Dclose(ds);
  });
  CHECK_MESSAGE(has(m, "/status/state is 7"), m);
  // a dump is not a recording
  const Format f8 = parse_format("e4m3fn");
  std::filesystem::remove(path);
  {
    DumpWriter w(path, OpenMode::create, current_run("dump", "t", ""));
    w.write(0, "x", {2}, std::vector<double>{1, 2}, std::vector<std::uint64_t>{0x38, 0x40}, f8,
            "rne");
  }
  CHECK(has(error_of([&] { (void)summarize_run(path); }),
            "is a tensor dump, not a recording: use fp8sim dump --list"));
  std::filesystem::remove(path);
}

TEST_CASE("analysis.dump_writer.removes_what_a_failed_command_created") {
  const std::string path = temp_path("gone.h5");
  std::filesystem::remove(path);
  const Format f8 = parse_format("e4m3fn");
  try {
    DumpWriter w(path, OpenMode::create, current_run("dump", "t", ""));
    w.write(0, "x", {1}, std::vector<double>{1}, std::vector<std::uint64_t>{0x38}, f8, "rne");
    throw std::runtime_error("the command failed");
  } catch (const std::runtime_error&) {
  }
  CHECK_FALSE(std::filesystem::exists(path));
  {
    DumpWriter w(path, OpenMode::create, current_run("dump", "t", ""));
    w.close();
  }
  const auto before = std::filesystem::file_size(path);
  try {  // appending, then failing: the file stays
    DumpWriter w(path, OpenMode::append, current_run("dump", "t", ""));
    throw std::runtime_error("the command failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(std::filesystem::file_size(path) == before);
  make_recording(path);
  CHECK(has(error_of([&] { DumpWriter w(path, OpenMode::append, current_run("dump", "t", "")); }),
            "a recording, not a tensor dump"));
  std::filesystem::remove(path);
}

// ---- series and training recordings (/@kind train, /train) -----------------------------

namespace {

RunInfo train_run() {
  return current_run("train", "unit test train", "[train]\nepochs = 2\n");
}

struct TrainIds {
  int act = -1, err = -1, gemm = -1, grad = -1, steps = -1, epochs = -1, test = -1, upd_w = -1,
      upd_b = -1;
};

// The layout of a small training run: one layer fc1, its points and the /train series.
TrainIds declare_train(Recorder& r, const std::string& recipe = "e4m3-all") {
  const Format fa = parse_format("e4m3fn"), fe = parse_format("e5m2");
  TrainIds id;
  id.act = r.add_quantizer("fc1", "activation", fa, "rne");
  id.err = r.add_quantizer("fc1", "error", fe, "rne");
  id.gemm = r.add_gemm("fc1.fprop", parse_format("fp16"), "ab=e4m3fn,acc=fp16", 8, 4, 16);
  id.grad = r.add_gradient("fc1", fe);
  id.steps = r.add_series(kTrainSteps, train_step_columns());
  id.epochs = r.add_series(kTrainEpochs, train_epoch_columns());
  id.test = r.add_series(kTrainTest, train_test_columns());
  id.upd_w = r.add_series(train_update_path("fc1.weight"), train_update_columns());
  id.upd_b = r.add_series(train_update_path("fc1.bias"), train_update_columns());
  r.set_group_attr(kTrainGroup, "workload", "fashion-mnist-mlp");
  r.set_group_attr(kTrainGroup, "recipe", recipe);
  r.set_group_attr(kTrainGroup, "recipe_text", "[recipe]\nname = \"" + recipe + "\"\n");
  r.set_group_attr(kTrainGroup, "classes", 10);
  return id;
}

// Step s of that run: loss 2 - s/10, step 2 skipped, an epoch every 3 steps.
void record_train_step(Recorder& r, const TrainIds& id, std::int64_t s) {
  const double d = static_cast<double>(s);
  TensorStats q;
  q.count = 100;
  q.underflow = 5;
  q.histogram.assign(Binades::of(parse_format("e4m3fn")).bins(), 0);
  r.record_quantizer(id.act, s, q);
  q.underflow = 40;
  q.histogram.assign(Binades::of(parse_format("e5m2")).bins(), 0);
  r.record_quantizer(id.err, s, q);
  GemmStats g;
  g.output.count = 32;
  g.output.histogram.assign(Binades::of(parse_format("fp16")).bins(), 0);
  r.record_gemm(id.gemm, s, g);
  GradientStats gr;
  gr.count = 64;
  r.record_gradient(id.grad, s, gr);
  const double skipped = s == 2 ? 1 : 0;
  r.record_series(id.steps, s,
                  {std::floor(d / 3), 2.0 - d / 10, 0.25 + d / 20, 0.01, s >= 2 ? 512.0 : 1024.0,
                   skipped, s >= 2 ? 1.0 : 0.0, 32 * (d + 1), 0.5 * (d + 1)});
  if (s != 2) {
    r.record_series(id.upd_w, s, {1000, 900, 90, 0.1, 1e-3});
    r.record_series(id.upd_b, s, {10, 10, 0, 0.0, 2e-2});
  }
  if (s % 3 == 2)
    r.record_series(id.epochs, s,
                    {std::floor(d / 3), 1.9 - d / 10, 0.3, s == 2 ? NAN : 1.4, s == 2 ? NAN : 0.6,
                     0.5 * (d + 1)});
  r.end_step();
}

void make_train_recording(const std::string& path, std::int64_t steps = 6) {
  Recorder r(path, OpenMode::overwrite, train_run(), 2);
  const TrainIds id = declare_train(r);
  r.start();
  for (std::int64_t s = 0; s < steps; ++s) record_train_step(r, id, s);
  r.record_series(id.test, steps - 1, {1.25, 0.625, std::nan("")});
  r.close();
}

std::string read_attr_of(hid_t f, const std::string& obj, const std::string& name) {
  const hid_t o = H5Oopen(f, obj.c_str(), H5P_DEFAULT);
  REQUIRE_MESSAGE(o >= 0, obj);
  const std::string v = detail::read_string_attr(o, name);
  H5Oclose(o);
  return v;
}

bool dataset_is(hid_t f, const std::string& path, hid_t type) {
  const hid_t ds = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  REQUIRE_MESSAGE(ds >= 0, path);
  const hid_t t = H5Dget_type(ds);
  const bool same = H5Tequal(t, type) > 0;
  H5Tclose(t);
  H5Dclose(ds);
  return same;
}

}  // namespace

TEST_CASE("analysis.series.train_recording_round_trip_append_and_summary") {
  const std::string path = temp_path("train.h5");
  std::filesystem::remove(path);
  make_train_recording(path);

  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);  // closed cleanly
  REQUIRE(f >= 0);
  CHECK(read_all<std::int64_t>(f, "/train/steps/step", H5T_NATIVE_INT64) ==
        std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(read_all<std::int64_t>(f, "/train/steps/epoch", H5T_NATIVE_INT64) ==
        std::vector<std::int64_t>{0, 0, 0, 1, 1, 1});
  CHECK(read_all<double>(f, "/train/steps/loss", H5T_NATIVE_DOUBLE) ==
        std::vector<double>{2.0, 1.9, 1.8, 2.0 - 0.3, 1.6, 1.5});
  CHECK(read_all<std::uint64_t>(f, "/train/steps/skipped", H5T_NATIVE_UINT64) ==
        std::vector<std::uint64_t>{0, 0, 1, 0, 0, 0});
  CHECK(read_all<std::uint64_t>(f, "/train/steps/images", H5T_NATIVE_UINT64) ==
        std::vector<std::uint64_t>{32, 64, 96, 128, 160, 192});
  CHECK(dataset_is(f, "/train/steps/step", H5T_STD_I64LE));
  CHECK(dataset_is(f, "/train/steps/epoch", H5T_STD_I64LE));
  CHECK(dataset_is(f, "/train/steps/skipped", H5T_STD_U64LE));
  CHECK(dataset_is(f, "/train/steps/loss", H5T_IEEE_F64LE));
  CHECK(dataset_is(f, "/train/updates/fc1.weight/vanished", H5T_STD_U64LE));
  CHECK(read_all<std::int64_t>(f, "/train/epochs/step", H5T_NATIVE_INT64) ==
        std::vector<std::int64_t>{2, 5});
  const auto val = read_all<double>(f, "/train/epochs/val_accuracy", H5T_NATIVE_DOUBLE);
  REQUIRE(val.size() == 2);
  CHECK(std::isnan(val[0]));
  CHECK(val[1] == 0.6);
  CHECK(read_all<std::int64_t>(f, "/train/test/step", H5T_NATIVE_INT64) ==
        std::vector<std::int64_t>{5});
  CHECK(read_all<std::int64_t>(f, "/train/updates/fc1.weight/step", H5T_NATIVE_INT64) ==
        std::vector<std::int64_t>{0, 1, 3, 4, 5});
  // attributes: the group's, and each column's unit and description
  CHECK(read_attr_of(f, "/train", "workload") == "fashion-mnist-mlp");
  CHECK(read_attr_of(f, "/train", "recipe_text") == "[recipe]\nname = \"e4m3-all\"\n");
  const hid_t tg = H5Gopen2(f, "/train", H5P_DEFAULT);
  CHECK(detail::read_int_attr(tg, "classes") == 10);
  CHECK(detail::attr_type_name(tg, "classes") == "int64");
  H5Gclose(tg);
  CHECK(read_attr_of(f, "/train/steps/step", "unit") == "step");
  CHECK(read_attr_of(f, "/train/steps/loss_scale", "unit") == "factor");
  CHECK(has(read_attr_of(f, "/train/steps/skipped", "description"), "skipped"));
  CHECK(read_attr_of(f, "/train/updates/fc1.bias/count", "unit") == "elements");
  CHECK(read_attr_of(f, "/", "kind") == "train");
  H5Fclose(f);

  RunSummary s = summarize_run(path);
  CHECK(s.kind == "train");
  REQUIRE(s.train);
  const TrainSummary* t = &*s.train;
  CHECK(t->workload == "fashion-mnist-mlp");
  CHECK(t->recipe == "e4m3-all");
  CHECK(t->classes == 10);
  CHECK(t->steps == 6);
  CHECK(t->last_step == 5);
  CHECK(t->epochs == 2);
  CHECK(t->last_epoch == 1);
  CHECK(t->final_loss == 1.5);
  CHECK(t->final_loss_scale == 512);
  CHECK(t->skipped_steps == 1);
  CHECK(t->overflow_events == 1);
  CHECK(t->images == 192);
  CHECK(t->val_accuracy == 0.6);
  CHECK(t->val_loss == 1.4);
  CHECK(t->tests == 1);
  CHECK(t->test_step == 5);
  CHECK(t->test_accuracy == 0.625);
  CHECK(t->test_loss == 1.25);
  REQUIRE(t->updates.size() == 2);
  CHECK(t->updates[1].param == "fc1.weight");
  CHECK(t->updates[1].rows == 5);
  CHECK(t->updates[1].vanished_fraction == doctest::Approx(0.1));
  CHECK(t->updates[0].vanished_fraction == 0);
  CHECK(t->updates[0].max_abs_update == 2e-2);
  CHECK(s.points.size() == 4);  // two quantizers, the GEMM, the gradient
  CHECK(s.status.state == "complete");
  CHECK(s.status.last_step == 5);

  SUBCASE("append continues every series after the last step") {
    {
      Recorder r(path, OpenMode::append, train_run());
      const TrainIds id = declare_train(r);
      r.start();
      CHECK(r.next_step() == 6);
      for (std::int64_t st = 6; st < 9; ++st) record_train_step(r, id, st);
      r.record_series(id.test, 8, {1.0, 0.75, 0.5});
      r.close();
    }
    s = summarize_run(path);
    REQUIRE(s.train);
    CHECK(s.train->steps == 9);
    CHECK(s.train->epochs == 3);
    CHECK(s.train->tests == 2);
    CHECK(s.train->test_accuracy == 0.75);
    CHECK(s.train->updates.at(1).rows == 8);
    f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(read_all<std::int64_t>(f, "/train/epochs/step", H5T_NATIVE_INT64) ==
          std::vector<std::int64_t>{2, 5, 8});
    H5Fclose(f);
  }
  SUBCASE("append refuses another recipe, a missing series, another kind") {
    {
      Recorder r(path, OpenMode::append, train_run());
      (void)declare_train(r, "e5m2-all");
      const std::string m = error_of([&] { r.start(); });
      CHECK_MESSAGE(has(m, "/train@recipe is 'e4m3-all', this run's is 'e5m2-all'"), m);
    }
    {
      Recorder r(path, OpenMode::append, train_run());
      (void)declare_train(r);
      (void)r.add_series(train_update_path("fc2.weight"), train_update_columns());
      const std::string m = error_of([&] { r.start(); });
      CHECK_MESSAGE(has(m, "it has no /train/updates/fc2.weight"), m);
    }
    {
      Recorder r(path, OpenMode::append, train_run());
      (void)declare_train(r);
      r.set_group_attr(kTrainGroup, "classes", std::string("ten"));
      const std::string m = error_of([&] { r.start(); });
      CHECK_MESSAGE(has(m, "/train@classes is an int64, this run's is 'ten'"), m);
    }
    {
      Recorder r(path, OpenMode::append, test_run());
      (void)declare_train(r);
      CHECK(has(error_of([&] { r.start(); }), "it records a 'train' run, this is 'gemm'"));
    }
    CHECK(summarize_run(path).train->steps == 6);  // refused appends changed nothing
  }
  std::filesystem::remove(path);
}

TEST_CASE("analysis.series.refuses_bad_paths_columns_and_values") {
  const std::string path = temp_path("series_bad.h5");
  std::filesystem::remove(path);
  const Format fa = parse_format("e4m3fn");
  const std::vector<SeriesColumn> cols = {{"count", SeriesColumn::Type::u64, "", ""},
                                          {"delta", SeriesColumn::Type::i64, "", ""},
                                          {"value", SeriesColumn::Type::f64, "", ""}};
  {
    Recorder r(path, OpenMode::create, train_run(), 1);
    for (const char* bad : {"", "/train/x", "train//x", "train/", "train/../x", "train/./x", "..",
                            "status/x", "quantizers/A", "gemms", "dumps/x"}) {
      std::string m = "(accepted)";
      try {
        (void)r.add_series(bad, cols);
      } catch (const std::invalid_argument& e) {
        m = e.what();
      }
      CHECK_MESSAGE(has(m, "is not allowed"), bad, " -> ", m);
    }
    const int id = r.add_series("run/values", cols);
    CHECK_THROWS_AS((void)r.add_series("run/values", cols), std::invalid_argument);  // twice
    CHECK_THROWS_AS((void)r.add_series("run", cols), std::invalid_argument);  // holds a series
    CHECK_THROWS_AS((void)r.add_series("run/values/x", cols), std::invalid_argument);  // inside
    CHECK_THROWS_AS((void)r.add_series("run/empty", {}), std::invalid_argument);
    CHECK_THROWS_AS((void)r.add_series("run/s", {{"step", SeriesColumn::Type::i64, "", ""}}),
                    std::invalid_argument);
    CHECK_THROWS_AS((void)r.add_series("run/d", {cols[0], cols[0]}), std::invalid_argument);
    CHECK_THROWS_AS((void)r.add_series("run/n", {{"a/b", SeriesColumn::Type::f64, "", ""}}),
                    std::invalid_argument);
    CHECK_THROWS_AS(r.set_group_attr("/run", "x", 1), std::invalid_argument);
    CHECK_THROWS_AS(r.set_group_attr("run", "", 1), std::invalid_argument);
    // '.' is fine in every name: a trainer's layers, GEMMs and parameters
    const int q = r.add_quantizer("fc1", "weight_grad", fa, "rne");
    (void)r.add_gemm("fc1.fprop", fa, "ab=e4m3fn,acc=fp16", 2, 2, 2);
    (void)r.add_gradient("fc1.weight", fa);
    (void)r.add_series("run/updates/fc1.weight", cols);
    r.set_group_attr("run", "note", "a group with a series below it");
    r.set_group_attr("other/empty", "n", -3);  // a group of its own
    r.start();
    CHECK_THROWS_AS(r.set_group_attr("run", "late", 1), std::logic_error);
    CHECK_THROWS_AS((void)r.add_series("run/late", cols), std::logic_error);

    r.record_series(id, 0, {3, -2, 0.5});
    const std::vector<std::pair<std::vector<double>, std::string>> bad = {
        {{3, -2}, "takes 3 values per row, got 2"},
        {{NAN, 0, 0}, "/run/values/count (uint64): value nan is NaN"},
        {{-1, 0, 0}, "is negative"},
        {{1.5, 0, 0}, "is not an integer"},
        {{0, 0.25, 0}, "/run/values/delta (int64): value 0.25 is not an integer"},
        {{0, INFINITY, 0}, "/run/values/delta (int64): value inf is out of range"},
        {{1e19, 0, 0}, "out of range"},
        {{0, -1e19, 0}, "out of range"}};
    for (const auto& [v, want] : bad) {
      std::string m;
      try {
        r.record_series(id, 1, std::span<const double>(v));
        m = "(accepted)";
      } catch (const std::invalid_argument& e) {
        m = e.what();
      }
      CHECK_MESSAGE(has(m, want), m);
    }
    CHECK_THROWS_AS(r.record_series(id, 0, {1, 1, 1}), std::invalid_argument);   // not increasing
    CHECK_THROWS_AS(r.record_series(id, -4, {1, 1, 1}), std::invalid_argument);  // negative
    CHECK_THROWS_AS(r.record_series(q, 1, {1, 1, 1}), std::invalid_argument);    // not a series
    CHECK_THROWS_AS(r.record_series(99, 1, {1, 1, 1}), std::invalid_argument);
    r.record_series(id, 1, {4, 7, NAN});  // f64 takes NaN; refused rows left nothing behind
    r.end_step();
    r.close();
  }
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  CHECK(read_all<std::int64_t>(f, "/run/values/step", H5T_NATIVE_INT64) ==
        std::vector<std::int64_t>{0, 1});
  CHECK(read_all<std::uint64_t>(f, "/run/values/count", H5T_NATIVE_UINT64) ==
        std::vector<std::uint64_t>{3, 4});
  CHECK(read_all<std::int64_t>(f, "/run/values/delta", H5T_NATIVE_INT64) ==
        std::vector<std::int64_t>{-2, 7});
  CHECK(read_attr_of(f, "/run", "note") == "a group with a series below it");
  const hid_t g = H5Gopen2(f, "/other/empty", H5P_DEFAULT);
  CHECK(detail::read_int_attr(g, "n") == -3);
  H5Gclose(g);
  CHECK(H5Lexists(f, "/gemms/fc1.fprop", H5P_DEFAULT) > 0);
  H5Fclose(f);
  {  // a group attribute inside a series is refused at start()
    Recorder r(path, OpenMode::overwrite, train_run());
    (void)r.add_series("run/values", cols);
    r.set_group_attr("run/values/sub", "x", 1);
    CHECK_THROWS_AS(r.start(), std::invalid_argument);
  }
  std::filesystem::remove(path);
}

TEST_CASE("analysis.series.flush_and_crash_keep_every_flushed_row") {
  const std::string path = temp_path("train_killed.h5");
  std::filesystem::remove(path);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the writer: 5 steps, flushed every 2, then killed (never closed)
    int rc = 0;
    try {
      Recorder r(path, OpenMode::create, train_run(), 2);
      const TrainIds id = declare_train(r);
      r.start();
      for (std::int64_t s = 0; s < 5; ++s) record_train_step(r, id, s);
      _exit(0);  // like SIGKILL: no close, no destructor; step 4 was never flushed
    } catch (...) {
      rc = 1;
    }
    _exit(rc);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  RunSummary s = summarize_run(path);
  CHECK(s.status.state == "killed");
  CHECK(s.status.writer_open);
  CHECK(s.status.last_step == 3);
  REQUIRE(s.train);
  CHECK(s.train->steps == 4);
  CHECK(s.train->last_step == 3);
  CHECK(s.train->epochs == 1);
  CHECK(s.train->tests == 0);
  CHECK(std::isnan(s.train->test_accuracy));
  CHECK(s.train->final_loss == doctest::Approx(1.7));
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    REQUIRE(f >= 0);
    CHECK(read_all<std::int64_t>(f, "/train/steps/step", H5T_NATIVE_INT64) ==
          std::vector<std::int64_t>{0, 1, 2, 3});
    CHECK(read_all<std::int64_t>(f, "/status/state", H5T_NATIVE_INT64) ==
          std::vector<std::int64_t>{0});
    H5Fclose(f);
  }

  SUBCASE("a row cut off mid-flush is not counted, and append continues before it") {
    make_train_recording(path);
    {  // as a writer killed between writing /train/steps' columns and its step leaves it
      const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      REQUIRE(f >= 0);
      for (const auto& c : train_step_columns()) {
        const hid_t ds = H5Dopen2(f, ("/train/steps/" + c.name).c_str(), H5P_DEFAULT);
        const hsize_t n = 7;
        H5Dset_extent(ds, &n);
        H5Dclose(ds);
      }
      const hid_t ds = H5Dopen2(f, "/train/steps/step", H5P_DEFAULT);
      const hsize_t n = 7;
      H5Dset_extent(ds, &n);  // the new row's step is the fill value, -1
      H5Dclose(ds);
      const hid_t st = H5Dopen2(f, "/status/state", H5P_DEFAULT);
      const std::int64_t running = 0;
      H5Dwrite(st, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &running);
      H5Dclose(st);
      H5Fclose(f);
    }
    s = summarize_run(path);
    CHECK(s.status.state == "killed");
    REQUIRE(s.train);
    CHECK(s.train->steps == 6);
    CHECK(s.train->cut_rows == 1);
    CHECK(s.train->final_loss == 1.5);
    {
      Recorder r(path, OpenMode::append, train_run());
      const TrainIds id = declare_train(r);
      r.start();
      CHECK(r.next_step() == 6);
      record_train_step(r, id, 6);
      r.close();
    }
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(read_all<std::int64_t>(f, "/train/steps/step", H5T_NATIVE_INT64) ==
          std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6});
    CHECK(read_all<double>(f, "/train/steps/seconds", H5T_NATIVE_DOUBLE).size() == 7);
    H5Fclose(f);
    CHECK(summarize_run(path).status.state == "complete");
  }
  std::filesystem::remove(path);
}

TEST_CASE("analysis.series.schema_validator_checks_train_recordings") {
  const std::string path = temp_path("train_forged.h5");
  auto forge = [&](auto&& change) {
    make_train_recording(path);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    change(f);
    H5Fclose(f);
    return error_of([&] { (void)summarize_run(path); });
  };
  auto replace = [](hid_t f, const char* p, hid_t type, const void* data) {
    H5Ldelete(f, p, H5P_DEFAULT);
    const hsize_t n = 6;
    const hid_t sp = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f, p, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, type == H5T_STD_I64LE ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL,
             H5P_DEFAULT, data);
    H5Dclose(ds);
    H5Sclose(sp);
  };
  make_train_recording(path);
  CHECK(error_of([&] { (void)summarize_run(path); }) == "(no IoError)");
  const std::int64_t ints[6] = {2, 2, 2, 2, 1, 1};
  std::string m = forge([&](hid_t f) { replace(f, "/train/steps/loss", H5T_STD_I64LE, ints); });
  CHECK_MESSAGE(has(m, "/train/steps/loss is an int64, the schema says float64"), m);
  m = forge([&](hid_t f) { replace(f, "/train/steps/skipped", H5T_STD_U64LE, ints); });
  CHECK_MESSAGE(has(m, "/train/steps/skipped holds 2 in row 0 (allowed: 0 or 1)"), m);
  m = forge([&](hid_t f) {
    const hid_t ds = H5Dopen2(f, "/train/epochs/val_loss", H5P_DEFAULT);
    const hsize_t n = 1;
    H5Dset_extent(ds, &n);
    H5Dclose(ds);
  });
  CHECK_MESSAGE(has(m, "/train/epochs/val_loss has 1 rows, /train/epochs/step has 2"), m);
  m = forge([&](hid_t f) { H5Adelete_by_name(f, "/train", "classes", H5P_DEFAULT); });
  CHECK_MESSAGE(has(m, "/train@classes is missing"), m);
  m = forge([&](hid_t f) {
    const hid_t g = H5Gopen2(f, "/train", H5P_DEFAULT);
    detail::write_int_attr(g, "recipe", 3);
    H5Gclose(g);
  });
  CHECK_MESSAGE(has(m, "/train@recipe is an int64, not a string"), m);
  m = forge([&](hid_t f) { H5Ldelete(f, "/train/test", H5P_DEFAULT); });
  CHECK_MESSAGE(has(m, "/train/test is missing"), m);
  m = forge([&](hid_t f) {
    H5Gclose(H5Gcreate2(f, "/train/extra", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  });
  CHECK_MESSAGE(has(m, "/train/extra is not part of a train recording"), m);
  m = forge([&](hid_t f) {
    const hsize_t n = 6;
    const hid_t sp = H5Screate_simple(1, &n, nullptr);
    H5Dclose(H5Dcreate2(f, "/train/updates/fc1.bias/norm", H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(sp);
  });
  CHECK_MESSAGE(has(m,
                    "/train/updates/fc1.bias/norm is not part of the "
                    "/train/updates/fc1.bias series"),
                m);
  m = forge([&](hid_t f) {
    const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    detail::write_string_attr(root, "kind", "gemm");
    H5Gclose(root);
  });
  CHECK_MESSAGE(has(m, "/train is only part of a train recording (/@kind is 'gemm')"), m);
  // a gemm recording that says it is a training run lacks /train
  make_recording(path);
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    detail::write_string_attr(root, "kind", "train");
    H5Gclose(root);
    H5Fclose(f);
  }
  m = error_of([&] { (void)summarize_run(path); });
  CHECK_MESSAGE(has(m, "/train is missing"), m);
  std::filesystem::remove(path);
}
