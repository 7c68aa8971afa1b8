// tests/unit/test_analysis.cpp — analysis/: statistics against values computed here
// independently, the recorder's round trip (every dataset read back), append and
// refusal, tensor dumps and readers.
#include <doctest/doctest.h>

#include <hdf5.h>
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
