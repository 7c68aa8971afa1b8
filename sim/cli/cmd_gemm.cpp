// sim/cli/cmd_gemm.cpp — `fp8sim gemm`: a random (or .npy) GEMM through a MAC unit, its
// error against an fp64 reference, and its throughput.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <H5Cpp.h>
#include <fmt/format.h>

#include "rounding/rounding.hpp"
#include "sim/cli/commands.hpp"
#include "sim/gemm.hpp"
#include "sim/golden/golden_mac.hpp"

namespace fp8sim::cli {

namespace {

// Minimal reader of NumPy .npy files: 2-D, little-endian float32/float64, C order.
std::vector<double> read_npy(const std::string& path, std::size_t& rows, std::size_t& cols) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("cannot open '{}'", path));
  char magic[6];
  in.read(magic, 6);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw UsageError(fmt::format("'{}' is not a .npy file", path));
  unsigned char ver[2];
  in.read(reinterpret_cast<char*>(ver), 2);
  std::uint32_t hlen = 0;
  if (ver[0] == 1) {
    unsigned char l[2];
    in.read(reinterpret_cast<char*>(l), 2);
    hlen = static_cast<std::uint32_t>(l[0] | (l[1] << 8));
  } else {
    unsigned char l[4];
    in.read(reinterpret_cast<char*>(l), 4);
    hlen = static_cast<std::uint32_t>(l[0] | (l[1] << 8) | (l[2] << 16) | (l[3] << 24));
  }
  std::string header(hlen, ' ');
  in.read(header.data(), hlen);
  const bool f4 = header.find("'<f4'") != std::string::npos;
  const bool f8 = header.find("'<f8'") != std::string::npos;
  if (!f4 && !f8)
    throw UsageError(
        fmt::format("'{}': only little-endian float32/float64 .npy arrays are "
                    "supported (header: {})",
                    path, header));
  if (header.find("'fortran_order': True") != std::string::npos)
    throw UsageError(fmt::format("'{}': Fortran-order arrays are not supported", path));
  const auto lp = header.find('('), rp = header.find(')');
  std::vector<std::size_t> dims;
  std::string shape = header.substr(lp + 1, rp - lp - 1);
  for (std::size_t p = 0; p < shape.size();) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    std::size_t used = 0;
    dims.push_back(std::stoull(shape.substr(p), &used));
    p += used;
  }
  if (dims.size() != 2)
    throw UsageError(
        fmt::format("'{}': expected a 2-D array, got {} dimensions", path, dims.size()));
  rows = dims[0];
  cols = dims[1];
  std::vector<double> v(rows * cols);
  for (auto& x : v) {
    if (f4) {
      float f;
      in.read(reinterpret_cast<char*>(&f), 4);
      x = f;
    } else {
      in.read(reinterpret_cast<char*>(&x), 8);
    }
  }
  if (!in) throw UsageError(fmt::format("'{}': file is shorter than its header says", path));
  return v;
}

// A 2-D dataset of an HDF5 file, "file.h5:/path/to/dataset", read as doubles (HDF5
// converts any numeric type).
std::vector<double> read_h5(const std::string& spec, std::size_t& rows, std::size_t& cols) {
  const auto colon = spec.rfind(':');
  const std::string file = spec.substr(0, colon), dset = spec.substr(colon + 1);
  if (colon == std::string::npos || dset.empty())
    throw UsageError(fmt::format("'{}': name an HDF5 dataset as FILE.h5:/path/to/dataset", spec));
  try {
    H5::Exception::dontPrint();
    H5::H5File f(file, H5F_ACC_RDONLY);
    H5::DataSet ds = f.openDataSet(dset);
    H5::DataSpace sp = ds.getSpace();
    if (sp.getSimpleExtentNdims() != 2)
      throw UsageError(fmt::format("'{}': expected a 2-D dataset, got {} dimensions", spec,
                                   sp.getSimpleExtentNdims()));
    hsize_t dims[2];
    sp.getSimpleExtentDims(dims);
    rows = dims[0];
    cols = dims[1];
    std::vector<double> v(rows * cols);
    ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    return v;
  } catch (const H5::Exception& e) {
    throw UsageError(
        fmt::format("cannot read HDF5 dataset '{}' from '{}': {}", dset, file, e.getDetailMsg()));
  }
}

std::vector<double> read_matrix(const std::string& spec, std::size_t& rows, std::size_t& cols) {
  const auto h5 = spec.find(".h5:"), hdf5 = spec.find(".hdf5:");
  if (h5 != std::string::npos || hdf5 != std::string::npos) return read_h5(spec, rows, cols);
  return read_npy(spec, rows, cols);
}

std::vector<double> random_values(std::size_t n, const std::string& dist, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<double> v(n);
  if (dist == "normal") {
    std::normal_distribution<double> d(0, 1);
    for (auto& x : v) x = d(g);
  } else if (dist == "uniform") {
    std::uniform_real_distribution<double> d(-1, 1);
    for (auto& x : v) x = d(g);
  } else if (dist.rfind("lognormal", 0) == 0) {
    double sigma = 1.0;
    if (dist.size() > 9) {
      if (dist[9] != ':') throw UsageError(fmt::format("--dist '{}': use lognormal[:SIGMA]", dist));
      sigma = std::stod(dist.substr(10));
    }
    std::lognormal_distribution<double> d(0, sigma);
    for (auto& x : v) x = d(g) * ((g() & 1) ? -1 : 1);
  } else {
    throw UsageError(fmt::format(
        "unknown --dist '{}' (allowed: normal, uniform, lognormal, lognormal:SIGMA)", dist));
  }
  return v;
}

std::vector<std::uint64_t> quantize_rne(const Format& f, const std::vector<double>& v) {
  std::vector<std::uint64_t> c(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) c[i] = from_double(v[i], f, RoundSpec{}).code;
  return c;
}

}  // namespace

void add_gemm_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "gemm", "C = A*B through a MAC unit: error against an fp64 reference, throughput");
  struct Opts {
    std::size_t m = 256, n = 256, k = 256;
    std::string mac = "fp32-fma", dist = "normal", a_file, b_file;
    std::uint64_t seed = 1;
    int threads = 0;
    bool check_golden = false, json = false, no_flags = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--m", o->m, "Rows of A and C")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--n", o->n, "Columns of B and C")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--k", o->k, "Columns of A, rows of B")
      ->check(CLI::Range(0, 1 << 24))
      ->capture_default_str();
  cmd->add_option("-m,--mac", o->mac, "MAC spec (see 'fp8sim mac --help')")->capture_default_str();
  cmd->add_option("--dist", o->dist, "Random inputs: normal, uniform, lognormal[:SIGMA]")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the inputs and of stochastic rounding")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Threads (0 = all)")->capture_default_str();
  cmd->add_option("--a-file", o->a_file,
                  "A from a 2-D .npy file (float32/float64) or an HDF5 dataset FILE.h5:/path "
                  "(values rounded rne into the input format)");
  cmd->add_option("--b-file", o->b_file, "B, likewise");
  cmd->add_flag("--check-golden", o->check_golden,
                "Check every output (at most 4096, sampled evenly) against the golden model");
  cmd->add_flag("--no-flags", o->no_flags, "Skip per-output flags (fastest)");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o, &ctx] {
    const MacConfig m = parse_mac(o->mac);
    validate(m);
    std::vector<double> av, bv;
    std::size_t M = o->m, N = o->n, K = o->k;
    if (!o->a_file.empty()) {
      std::size_t r, c;
      av = read_matrix(o->a_file, r, c);
      M = r;
      K = c;
    }
    if (!o->b_file.empty()) {
      std::size_t r, c;
      bv = read_matrix(o->b_file, r, c);
      if (!o->a_file.empty() && r != K)
        throw UsageError(fmt::format("A is {}x{} but B has {} rows", M, K, r));
      K = r;
      N = c;
    }
    if (av.empty()) av = random_values(M * K, o->dist, o->seed);
    if (bv.empty()) bv = random_values(K * N, o->dist, o->seed + 1);
    const auto A = quantize_rne(m.a, av), B = quantize_rne(m.b, bv);
    GemmOptions go;
    go.seed = o->seed;
    go.threads = o->threads;
    go.flags = !o->no_flags;
    const auto t0 = std::chrono::steady_clock::now();
    const GemmResult r = gemm(m, M, N, K, A, B, {}, go);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // fp64 reference from the quantized inputs: exact products, compensated sum.
    const Format& rf = result_format(m);
    double max_rel = 0, sum_rel = 0, max_ulp = 0, sum_ulp = 0;
    std::size_t n_err = 0, nonfinite = 0;
    std::vector<double> ad(A.size()), bd(B.size());
    for (std::size_t x = 0; x < A.size(); ++x) ad[x] = to_double(m.a, A[x]);
    for (std::size_t x = 0; x < B.size(); ++x) bd[x] = to_double(m.b, B[x]);
#pragma omp parallel for reduction(max : max_rel, max_ulp) reduction(+ : sum_rel, sum_ulp, n_err, nonfinite)
    for (std::size_t o2 = 0; o2 < M * N; ++o2) {
      const std::size_t i = o2 / N, j = o2 % N;
      double s = 0, c = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double p = ad[i * K + k] * bd[k * N + j];
        const double t = s + p;
        c += std::abs(s) >= std::abs(p) ? (s - t) + p : (p - t) + s;
        s = t;
      }
      const double ref = s + c;
      const double got = to_double(rf, r.codes[o2]);
      if (!std::isfinite(got)) {
        ++nonfinite;
        continue;
      }
      const double err = std::abs(got - ref);
      const double rel = ref != 0 ? err / std::abs(ref) : (err != 0 ? 1.0 : 0.0);
      // one ulp of the result format at the reference's magnitude
      const int e = ref != 0 ? std::max(std::ilogb(ref), rf.emin()) : rf.emin();
      const double ulp = std::ldexp(1.0, e - rf.man_bits);
      max_rel = std::max(max_rel, rel);
      sum_rel += rel;
      max_ulp = std::max(max_ulp, err / ulp);
      sum_ulp += err / ulp;
      ++n_err;
    }
    std::size_t golden_checked = 0, golden_bad = 0;
    if (o->check_golden) {
      const std::size_t total = M * N, want = std::min<std::size_t>(total, 4096);
      std::vector<std::uint64_t> col(K);
      for (std::size_t t = 0; t < want; ++t) {
        const std::size_t o2 = t * total / want, i = o2 / N, j = o2 % N;
        for (std::size_t k = 0; k < K; ++k) col[k] = B[k * N + j];
        const golden::MacOutcome g = golden::mac_dot(
            m, std::span<const std::uint64_t>(A).subspan(i * K, K), col, std::nullopt, o->seed, o2);
        ++golden_checked;
        if (g.code != r.codes[o2] || (go.flags && g.flags != r.flags[o2])) {
          if (golden_bad < 10)
            fmt::print(
                stderr,
                "golden mismatch at ({}, {}): engine {:#x} flags {}, golden {:#x} flags {}\n", i, j,
                r.codes[o2], go.flags ? flags_to_string(r.flags[o2]) : "-", g.code,
                flags_to_string(g.flags));
          ++golden_bad;
        }
      }
      if (golden_bad) ctx.exit_status = 1;
    }
    const double flops =
        2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
    if (o->json) {
      fmt::print(
          "{{\"mac\": {}, \"kernel\": \"{}\", \"m\": {}, \"n\": {}, \"k\": {}, \"seconds\": {}, "
          "\"gflops\": {}, \"max_rel_error\": {}, \"mean_rel_error\": {}, \"max_ulp_error\": {}, "
          "\"mean_ulp_error\": {}, \"nonfinite\": {}, \"inexact_steps\": {}, \"overflow_steps\": "
          "{}, "
          "\"underflow_steps\": {}, \"swamped\": {}, \"golden_checked\": {}, "
          "\"golden_mismatches\": {}}}\n",
          json_string(to_string(m)), r.kernel, M, N, K, json_number(sec),
          json_number(flops / sec / 1e9), json_number(max_rel),
          json_number(n_err ? sum_rel / double(n_err) : 0), json_number(max_ulp),
          json_number(n_err ? sum_ulp / double(n_err) : 0), nonfinite, r.counts.inexact,
          r.counts.overflow, r.counts.underflow, r.counts.swamped, golden_checked, golden_bad);
      return;
    }
    fmt::print("MAC     {}\nkernel  {}   {}x{}x{}, {} threads\n", to_string(m), r.kernel, M, N, K,
               o->threads > 0 ? o->threads : omp_get_max_threads());
    fmt::print("time    {:.4f} s   {:.2f} GFLOP/s   {:.3g} MAC/s\n", sec, flops / sec / 1e9,
               flops / 2 / sec);
    fmt::print("error vs fp64 reference ({} finite outputs, {} non-finite):\n", n_err, nonfinite);
    fmt::print("  relative  max {:.4g}  mean {:.4g}\n", max_rel,
               n_err ? sum_rel / double(n_err) : 0.0);
    fmt::print("  ulps of {} max {:.4g}  mean {:.4g}\n", rf.name, max_ulp,
               n_err ? sum_ulp / double(n_err) : 0.0);
    if (go.flags)
      fmt::print(
          "steps   {} roundings: {} inexact, {} underflow, {} overflow, {} swamped products\n",
          r.counts.steps, r.counts.inexact, r.counts.underflow, r.counts.overflow,
          r.counts.swamped);
    if (o->check_golden)
      fmt::print("golden  {} outputs checked, {} mismatches\n", golden_checked, golden_bad);
  });
}

}  // namespace fp8sim::cli
