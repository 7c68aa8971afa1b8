// tests/workloads/test_torch_reference.cpp — the whole models against an independent
// implementation: PyTorch (Debian's python3-torch, CPU) builds the same mlp and resnet from
// fp8sim's exported initial state and batch (tests/workloads/torch_reference.py), and
// computes the loss and every parameter gradient, also after K SGD steps; fp8sim's "fp32"
// recipe (no quantizers, fp32 GEMMs, fp32 master weights with RNE) must agree within the
// fp32 tolerances stated below.
//
// What is compared, per model, on one batch of 16 images of the bundled Fashion-MNIST subset,
// the same batch at every step (K = 3, torch.optim.SGD lr 0.1 momentum 0.9; fp8sim: Sgd +
// MasterWeights in workloads/train.cpp's order: forward, loss, backward, update):
//   - the loss of each of the K + 1 passes (initial weights, after 1, 2, ..., K steps);
//   - every parameter's gradient in the first pass and in the last (after K steps);
//   - every parameter after the K steps;
//   - the BatchNorm running statistics after the K + 1 train-mode passes (resnet).
// The script runs torch in float32 (the reference: everything above is checked against it)
// and in float64 (exact for practical purposes: the first pass, whose inputs both share, is
// checked against it too; after the steps float64 is on its own trajectory, see "kinks"
// below, and is only reported). The MESSAGE reports the worst differences per model, and
// torch's own float32-vs-float64 distance for scale.
//
// The test FAILS when /usr/bin/python3 cannot import torch (install python3-torch;
// scripts/setup.sh does) or when the script fails: a reference that cannot run is never a pass.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "workloads/data/fashion_mnist.hpp"
#include "workloads/nn/conv_layers.hpp"
#include "workloads/nn/layers.hpp"
#include "workloads/nn/mlp.hpp"
#include "workloads/nn/quantized_gemm.hpp"
#include "workloads/nn/recipe.hpp"
#include "workloads/nn/resnet.hpp"
#include "workloads/optim/master_weights.hpp"
#include "workloads/optim/optimizer.hpp"

using namespace fp8sim;
using namespace fp8sim::workloads;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(FP8SIM_TEST_DATA_DIR);
const fs::path kScript = kData.parent_path() / "workloads" / "torch_reference.py";

constexpr std::size_t kBatch = 16;
constexpr std::size_t kSteps = 3;
constexpr double kLr = 0.1;
constexpr double kMomentum = 0.9;
constexpr std::uint64_t kSeed = 7;

// ---- tolerances -------------------------------------------------------------------------
//
// Both sides compute in fp32, each with its own summation orders (fp8sim: sequential FMA
// chains in its GEMMs, BN statistics and reductions in double; torch: blocked/vectorised
// BLAS and oneDNN kernels, fp32 BN reductions). A dot product of length n then differs by
// ~sqrt(n) * 2^-24 relative to the sum of its |terms| (random-walk rounding; the worst case
// n * 2^-24); the longest here are the resnet's weight gradients, n = 16 * 28 * 28 = 12544,
// so ~1e-5 of the terms' scale per GEMM, and the errors of ~10 layers add up (BN's backward
// subtracts means, which cancels). So:
//  - gradients, element by element: |sim - ref| <= rtol * |ref| + atol * max|ref| of the
//    tensor. The absolute part is relative to the tensor's scale because a small element is
//    a sum of terms of the tensor's size that cancelled, and carries their absolute error,
//    not its own relative one. rtol = 1e-3, atol = 1e-4: ~10x the sqrt(n) estimate, still
//    ~1000x below what a wiring error (a missing branch, a wrong BN mode, a transposed GEMM,
//    a wrong optimizer rule) gives, which is O(1e-1..1).
//  - and per tensor, scale-aware: ||sim - ref||_2 <= norm * ||ref||_2, norm = 1e-4 (the
//    element checks bound the worst element, this one the typical).
//  - gradients of the last pass (after K = 3 steps): the errors of K + 1 passes add and
//    the weights differ slightly: 3x looser.
//  - parameters after the steps: w moves by ~lr * |g| per step against |w| ~ 0.1..1, so the
//    gradient differences reach the weights damped: rtol 1e-4, atol and norm 1e-5.
//  - losses: a forward pass only, no backward cancellations: 1e-5 relative.
//  - BN running statistics (0.1 of a batch mean/variance of fp32 conv outputs per pass):
//    rtol 1e-4, atol and norm 1e-5.
// Measured (this seed, torch 1.13 CPU): fp8sim vs torch fp32 worst tensor-relative
// difference ~1e-5 on resnet gradients, ~5e-7 on mlp gradients; ~10x inside every bound.
//
// Kinks: the loss is only piecewise smooth (ReLU). When a ReLU input lies within the fp32
// noise of zero (~1e-6 here), the two implementations may take different branches there; the
// gradients of that pass then differ by far more than rounding (one such element moved a BN
// bias gradient by ~10% in a trial), and so does every later pass. With ~2e5 ReLU inputs per
// resnet pass some fall within ~1e-5 of zero; torch's float32 and float64 runs do take
// different branches in pass 2 of this batch (kinks.txt: the script counts them), which is
// why float64 is compared on the first pass only. fp8sim and torch float32 share the weights'
// fp32 roundings and agree on every branch here (their differences stay ~1e-5); another torch
// build whose roundings moved a ReLU input across zero would fail the after-steps checks, and
// the MESSAGE's kink lines (smallest |ReLU input| per pass) tell that apart from a bug.
struct Tol {
  double rtol, atol, norm;
};
constexpr Tol kGradTol{1e-3, 1e-4, 1e-4};
constexpr Tol kGradAfterTol{3e-3, 3e-4, 3e-4};
constexpr Tol kParamTol{1e-4, 1e-5, 1e-5};
constexpr Tol kBufferTol{1e-4, 1e-5, 1e-5};
constexpr double kLossRtol = 1e-5;

// ---- files and the script ---------------------------------------------------------------

// A fresh folder under the system's temporary folder, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    const auto tag = (std::uint64_t{rd()} << 32) | rd();
    path_ = fs::temp_directory_path() / ("fp8sim-test-torch-" + std::to_string(tag));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Raw little-endian float32 (the test runs on x86-64 and other little-endian hosts only).
static_assert(std::endian::native == std::endian::little);

void write_bytes(const fs::path& file, const void* data, std::size_t bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  REQUIRE_MESSAGE(out.good(), "cannot write ", file.string());
}

void write_f32(const fs::path& file, std::span<const float> v) {
  write_bytes(file, v.data(), v.size() * sizeof(float));
}

std::vector<float> read_f32(const fs::path& file, std::size_t n) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  REQUIRE_MESSAGE(in.good(), "the reference did not write ", file.string());
  const auto bytes = static_cast<std::size_t>(in.tellg());
  REQUIRE_MESSAGE(bytes == n * sizeof(float), file.string(), ": ", bytes, " bytes, want ",
                  n * sizeof(float));
  std::vector<float> v(n);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  REQUIRE(in.good());
  return v;
}

std::string dims(const std::vector<std::size_t>& shape) {
  std::string s;
  for (const std::size_t d : shape) s += fmt::format("{}{}", s.empty() ? "" : " ", d);
  return s;
}

// Runs the script on `dir`; fails the test (never passes silently) when python, torch or the
// script does not work.
void run_reference(const fs::path& dir) {
  const std::string cmd =
      fmt::format("/usr/bin/python3 '{}' '{}' 2>&1", kScript.string(), dir.string());
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, "cannot start ", cmd);
  std::string text;
  std::array<char, 4096> buf{};
  std::size_t got = 0;
  while ((got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), got);
  const int status = ::pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 3 || text.find("FP8SIM_NO_TORCH") != std::string::npos)
    FAIL(
        "torch is not importable by /usr/bin/python3: install Debian's python3-torch (and "
        "python3-numpy; scripts/setup.sh installs both). This test needs it and does not pass "
        "without it. The script said: "
        << text);
  if (code == 127) FAIL("cannot run /usr/bin/python3 (" << cmd << "): " << text);
  REQUIRE_MESSAGE(code == 0, "the torch reference failed (exit ", code, "): ", cmd, "\n", text);
  REQUIRE_MESSAGE(text.find("torch_reference: ok") != std::string::npos,
                  "the torch reference did not say ok: ", text);
  MESSAGE(text.substr(0, text.find('\n')));
}

// ---- one run of each implementation -----------------------------------------------------

using Tensors = std::map<std::string, std::vector<float>>;

// What one implementation computed.
struct Trace {
  std::vector<double> losses;  // K + 1 passes
  Tensors grad0, grad_k, param, buffer;
};

// The model behind one interface: forward of the batch (train mode), backward, tensors.
struct Model {
  std::function<Tensor2(const Recipe&, const StepContext&)> forward;
  std::function<void(const Tensor2&, const Recipe&, const StepContext&)> backward;
  std::vector<Param*> params;
  std::vector<Buffer*> buffers;
  std::string manifest_model;  // "mlp 784 64 32 10", "resnet 4 1 1 10"
};

// Writes the manifest, the initial state and the batch for torch_reference.py.
void export_inputs(const fs::path& dir, const Model& m, const ImageSet& batch) {
  std::string manifest =
      fmt::format("model {}\nsteps {}\nsgd {} {}\nbatch {} 1 {} {}\n", m.manifest_model, kSteps,
                  kLr, kMomentum, batch.count, batch.rows, batch.cols);
  for (const Param* p : m.params) {
    manifest += fmt::format("param {} {}\n", p->name, dims(p->shape));
    write_f32(dir / "init" / (p->name + ".f32"), p->value);
  }
  for (const Buffer* b : m.buffers) {
    manifest += fmt::format("buffer {} {}\n", b->name, dims(b->shape));
    write_f32(dir / "init" / (b->name + ".f32"), b->value);
  }
  write_bytes(dir / "manifest.txt", manifest.data(), manifest.size());
  write_f32(dir / "batch.f32", batch.pixels);
  write_bytes(dir / "labels.u8", batch.labels.data(), batch.labels.size());
}

// fp8sim: K + 1 passes with K updates between them, as workloads/train.cpp (fp32 master
// weights with the recipe's rounding, Sgd's delta added once, working copy = master values).
Trace run_fp8sim(Model& m, std::span<const std::uint8_t> labels) {
  const Recipe r = recipe_preset("fp32");
  MasterWeights master(r.master, r.master_round, 1);
  Sgd sgd(SgdConfig{.lr = kLr, .momentum = kMomentum});
  for (Param* p : m.params) {
    master.add_param(p->value);
    (void)sgd.add_param(p->size());
    const auto v = master.values(master.param_count() - 1);
    REQUIRE(std::equal(v.begin(), v.end(), p->value.begin()));  // fp32 holds them exactly
  }
  Trace t;
  std::vector<double> delta;
  for (std::size_t s = 0; s <= kSteps; ++s) {
    const StepContext ctx{kSeed, s, 2, nullptr};
    const LossResult lr = softmax_cross_entropy(m.forward(r, ctx), labels);
    m.backward(lr.grad, r, ctx);
    t.losses.push_back(lr.loss);
    if (s == 0 || s == kSteps)
      for (const Param* p : m.params) (s == 0 ? t.grad0 : t.grad_k)[p->name] = p->grad;
    if (s == kSteps) break;
    for (std::size_t i = 0; i < m.params.size(); ++i) {
      Param& p = *m.params[i];
      delta.assign(p.size(), 0.0);
      sgd.update(i, master.values(i), p.grad, delta);
      (void)master.apply(i, delta, kSeed, s);
      const auto v = master.values(i);
      std::copy(v.begin(), v.end(), p.value.begin());
    }
  }
  for (const Param* p : m.params) t.param[p->name] = p->value;
  for (const Buffer* b : m.buffers) t.buffer[b->name] = b->value;
  return t;
}

Trace read_reference(const fs::path& out, const Model& m) {
  Trace t;
  std::ifstream in(out / "losses.txt");
  REQUIRE_MESSAGE(in.good(), "the reference wrote no ", (out / "losses.txt").string());
  double v = 0;
  while (in >> v) t.losses.push_back(v);
  REQUIRE(t.losses.size() == kSteps + 1);
  for (const Param* p : m.params) {
    t.grad0[p->name] = read_f32(out / "grad0" / (p->name + ".f32"), p->size());
    t.grad_k[p->name] = read_f32(out / "gradK" / (p->name + ".f32"), p->size());
    t.param[p->name] = read_f32(out / "param" / (p->name + ".f32"), p->size());
  }
  for (const Buffer* b : m.buffers)
    t.buffer[b->name] = read_f32(out / "buffer" / (b->name + ".f32"), b->size());
  return t;
}

// ---- comparison -------------------------------------------------------------------------

// The worst differences seen in one group of tensors.
struct Worst {
  double norm = 0;  // max over tensors of ||a - b|| / ||b||
  double elem = 0;  // max over elements of |a - b| / (|b| + max|b| of its tensor)
  std::string norm_at, elem_at;
  void merge(const Worst& o) {
    if (o.norm > norm) {
      norm = o.norm;
      norm_at = o.norm_at;
    }
    if (o.elem > elem) {
      elem = o.elem;
      elem_at = o.elem_at;
    }
  }
  [[nodiscard]] std::string text() const {
    return fmt::format("{:.2e} ({}), element {:.2e} ({})", norm, norm_at, elem, elem_at);
  }
};

// Checks sim against ref tensor by tensor with `tol` (see the tolerances above); `check`
// false: only measures (torch float32 against float64, for the report).
Worst compare(const std::string& what, const Tensors& sim, const Tensors& ref, const Tol& tol,
              bool check) {
  Worst w;
  for (const auto& [name, b] : ref) {
    const std::vector<float>& a = sim.at(name);
    REQUIRE(a.size() == b.size());
    double scale = 0, nd = 0, nb = 0;
    for (const float x : b) scale = std::max(scale, std::abs(static_cast<double>(x)));
    std::size_t bad = 0, worst_i = 0;
    double worst_excess = -1;
    for (std::size_t i = 0; i < b.size(); ++i) {
      const double d = std::abs(static_cast<double>(a[i]) - b[i]);
      nd += d * d;
      nb += static_cast<double>(b[i]) * b[i];
      const double bound = tol.rtol * std::abs(b[i]) + tol.atol * scale;
      bad += !(d <= bound);  // NaN counts as bad
      const double excess = bound > 0 ? d / bound : (d > 0 ? HUGE_VAL : 0);
      if (!(excess <= worst_excess)) {
        worst_excess = excess;
        worst_i = i;
      }
      const double rel = scale > 0 ? d / (std::abs(b[i]) + scale) : d;
      if (!(rel <= w.elem)) {
        w.elem = rel;
        w.elem_at = fmt::format("{}[{}]", name, i);
      }
    }
    const double norm = nb > 0 ? std::sqrt(nd / nb) : std::sqrt(nd);
    if (!(norm <= w.norm)) {
      w.norm = norm;
      w.norm_at = name;
    }
    if (check) {
      CHECK_MESSAGE(bad == 0, what, " ", name, ": ", bad, " of ", b.size(),
                    " elements beyond rtol ", tol.rtol, " + atol ", tol.atol, " * max|ref| ", scale,
                    "; worst [", worst_i, "]: fp8sim ", a[worst_i], ", torch ", b[worst_i]);
      CHECK_MESSAGE(norm <= tol.norm, what, " ", name, ": ||fp8sim - torch|| / ||torch|| = ", norm,
                    " > ", tol.norm);
    }
  }
  return w;
}

struct Report {
  double loss0 = 0, loss = 0;  // relative loss difference: first pass, worst over the passes
  Worst grad0, grad_k, param, buffer;
  [[nodiscard]] std::string text() const {
    return fmt::format(
        "loss {:.2e} (pass 1), {:.2e} (all)\n    gradients (pass 1) {}\n    gradients (after {} "
        "steps) {}\n    parameters {}{}",
        loss0, loss, grad0.text(), kSteps, grad_k.text(), param.text(),
        buffer.norm_at.empty() && buffer.elem_at.empty()
            ? std::string{}
            : "\n    running statistics " + buffer.text());
  }
};

// What of a comparison is checked (the rest is only measured).
enum class Checked { everything, first_pass, nothing };

Report compare_traces(const std::string& against, const Trace& sim, const Trace& ref,
                      Checked checked) {
  const bool all = checked == Checked::everything, first = checked != Checked::nothing;
  Report r;
  REQUIRE(sim.losses.size() == ref.losses.size());
  for (std::size_t s = 0; s < ref.losses.size(); ++s) {
    const double rel = std::abs(sim.losses[s] - ref.losses[s]) / std::abs(ref.losses[s]);
    r.loss = std::max(r.loss, rel);
    if (s == 0) r.loss0 = rel;
    if (s == 0 ? first : all)
      CHECK_MESSAGE(rel <= kLossRtol, against, " loss of pass ", s + 1, ": fp8sim ", sim.losses[s],
                    ", torch ", ref.losses[s]);
  }
  r.grad0 = compare(against + " gradient (pass 1)", sim.grad0, ref.grad0, kGradTol, first);
  r.grad_k =
      compare(against + " gradient (after the steps)", sim.grad_k, ref.grad_k, kGradAfterTol, all);
  r.param = compare(against + " parameter (after the steps)", sim.param, ref.param, kParamTol, all);
  r.buffer = compare(against + " running statistic", sim.buffer, ref.buffer, kBufferTol, all);
  return r;
}

// kinks.txt of the script: per pass, the smallest |ReLU input| (torch float32) and the ReLU
// decisions torch float32 and float64 took differently.
std::string read_kinks(const fs::path& file) {
  std::ifstream in(file);
  REQUIRE_MESSAGE(in.good(), "the reference wrote no ", file.string());
  std::string text;
  std::size_t pass = 0, flips = 0, lines = 0;
  double min_abs = 0;
  while (in >> pass >> min_abs >> flips) {
    text += fmt::format("{}pass {}: {:.1e}, {} differing", lines == 0 ? "" : "; ", pass + 1,
                        min_abs, flips);
    ++lines;
  }
  REQUIRE(lines == kSteps + 1);
  return text;
}

ImageSet first_batch() {
  FashionMnistOptions o;
  o.dir = kData / "fashion-mnist";
  o.train_size = kBatch;
  o.test_size = 1;
  o.seed = kSeed;
  FashionMnist d = load_fashion_mnist(o);
  REQUIRE(d.train.count == kBatch);
  return d.train;
}

void check_against_torch(const std::string& label, Model& m, const ImageSet& batch) {
  const auto t0 = std::chrono::steady_clock::now();
  TempDir dir;
  export_inputs(dir.path(), m, batch);
  const Trace sim = run_fp8sim(m, batch.labels);
  const auto t1 = std::chrono::steady_clock::now();
  run_reference(dir.path());
  const auto t2 = std::chrono::steady_clock::now();
  const Trace ref32 = read_reference(dir.path() / "out32", m);
  const Trace ref64 = read_reference(dir.path() / "out64", m);
  const std::string kinks = read_kinks(dir.path() / "kinks.txt");
  const Report vs32 = compare_traces("against torch float32:", sim, ref32, Checked::everything);
  const Report vs64 = compare_traces("against torch float64:", sim, ref64, Checked::first_pass);
  const Report t32 = compare_traces("", ref32, ref64, Checked::nothing);
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  MESSAGE(fmt::format(
      "{}: worst relative differences (tensor: ||a-b||/||b||, element: |a-b|/(|b|+max|b|))\n"
      "  fp8sim vs torch fp32 (checked):\n    {}\n"
      "  fp8sim vs torch fp64 (pass 1 checked):\n    {}\n"
      "  torch fp32 vs torch fp64 (not checked):\n    {}\n"
      "  kinks: smallest |ReLU input|, ReLU decisions of torch fp32 and fp64 differing: {}\n"
      "  time: fp8sim {:.2f} s, torch (fp32 + fp64, with start-up) {:.2f} s",
      label, vs32.text(), vs64.text(), t32.text(), kinks, secs(t0, t1), secs(t1, t2)));
}

}  // namespace

TEST_CASE("torch.mlp_matches_pytorch") {
  const ImageSet batch = first_batch();
  Mlp net({784, 64, 32, 10});
  net.init(kSeed);
  const Tensor2 x = [&] {
    Tensor2 t = xt::zeros<float>({batch.count, batch.pixels_per_image()});
    std::copy(batch.pixels.begin(), batch.pixels.end(), t.data());
    return t;
  }();
  Model m;
  m.forward = [&](const Recipe& r, const StepContext& c) { return net.forward(x, r, c); };
  m.backward = [&](const Tensor2& d, const Recipe& r, const StepContext& c) {
    net.backward(d, r, c);
  };
  m.params = net.params();
  m.manifest_model = "mlp 784 64 32 10";
  REQUIRE(m.params.size() == 6);
  check_against_torch("mlp 784-64-32-10", m, batch);
}

TEST_CASE("torch.resnet_matches_pytorch") {
  const ImageSet batch = first_batch();
  Resnet net({.width = 4, .blocks = 1});
  net.init(kSeed);
  const Tensor4 x = [&] {
    Tensor4 t = xt::zeros<float>({batch.count, std::size_t{1}, batch.rows, batch.cols});
    std::copy(batch.pixels.begin(), batch.pixels.end(), t.data());
    return t;
  }();
  Model m;
  m.forward = [&](const Recipe& r, const StepContext& c) { return net.forward(x, r, c, true); };
  m.backward = [&](const Tensor2& d, const Recipe& r, const StepContext& c) {
    net.backward(d, r, c);
  };
  m.params = net.params();
  m.buffers = net.buffers();
  m.manifest_model = "resnet 4 1 1 10";
  REQUIRE(m.params.size() == 29);
  REQUIRE(m.buffers.size() == 18);
  check_against_torch("resnet width 4, 1 block per stage", m, batch);
}
