// tests/workloads/test_optim.cpp — optimizers, lr schedules, master weights, loss scalers.
//
// PyTorch references: the scripts kOptimScript and kScalerScript below produced the
// hard-coded constants (torch 1.13.1, CPU, AVX2 kernels). The constants are always checked,
// so the tests need no torch; where /usr/bin/python3 can import torch the scripts are run
// again and their output compared too (the optimizers within 1 ulp, in case another torch
// build fuses differently; the scaler exactly).
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <numbers>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "formats/formats.hpp"
#include "rounding/round_pack.hpp"
#include "rounding/rounding_mode.hpp"
#include "workloads/optim/loss_scaler.hpp"
#include "workloads/optim/lr_schedule.hpp"
#include "workloads/optim/master_weights.hpp"
#include "workloads/optim/optimizer.hpp"

using namespace fp8sim;
using namespace fp8sim::workloads;

namespace {

// ---- running Python ---------------------------------------------------------------------

/// stdout of /usr/bin/python3 running `script`, or nothing when it fails or is absent.
std::optional<std::string> run_python(const std::string& script) {
  static int counter = 0;
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      fmt::format("fp8sim_test_optim_{}_{}.py", ::getpid(), counter++);
  {
    std::ofstream out(path);
    out << script;
  }
  std::string text;
  FILE* pipe =
      ::popen(fmt::format("/usr/bin/python3 '{}' 2>/dev/null", path.string()).c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::array<char, 4096> buf{};
  std::size_t got = 0;
  while ((got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), got);
  const int status = ::pclose(pipe);
  std::filesystem::remove(path);
  if (status != 0) return std::nullopt;
  return text;
}

/// Asked only after a script failed: tells "no torch" (the stored output suffices) from a
/// broken script (a failure).
bool torch_available() {
  static const bool ok = run_python("import torch\n").has_value();
  return ok;
}

/// Distance in fp32 encodings (0 = identical bits; NaNs not expected here).
std::int64_t ulp_distance(float a, float b) {
  auto ordered = [](float x) {
    const auto i = static_cast<std::int64_t>(std::bit_cast<std::int32_t>(x));
    return i < 0 ? std::int64_t{INT32_MIN} - i : i;
  };
  return std::llabs(ordered(a) - ordered(b));
}

// ---- optimizers against torch.optim -----------------------------------------------------

constexpr std::size_t kN = 37;  // 32 elements through PyTorch's vector loop, 5 through its tail
constexpr int kSteps = 6;
constexpr std::array<double, kSteps> kLrFactors = {1.0, 0.5, 0.25, 1.0, 0.7, 0.3};

// Inputs with full 24-bit significands, exact in fp32 and computed alike in the script:
// (k / 2^24 - 0.5) * 2^j with k < 2^24.
float from_index(std::uint64_t k, int j) {
  return static_cast<float>((static_cast<double>(k % (1u << 24)) / 0x1p24 - 0.5) *
                            std::ldexp(1.0, j));
}
float w0(std::size_t i) {
  return from_index(i * 2654435761u, static_cast<int>(i % 5) - 2);
}
float grad(int s, std::size_t i) {
  const auto su = static_cast<std::size_t>(s);
  return from_index(i * 40503 + su * 1000003, static_cast<int>((i + su) % 7) - 3);
}

const char* const kOptimScript = R"PY(
import struct, torch
N, STEPS = 37, 6
LR_FACTORS = [1.0, 0.5, 0.25, 1.0, 0.7, 0.3]
def w0(i): return (((i * 2654435761) % 16777216) / 16777216.0 - 0.5) * 2.0 ** ((i % 5) - 2)
def g(s, i): return (((i * 40503 + s * 1000003) % 16777216) / 16777216.0 - 0.5) * 2.0 ** ((i + s) % 7 - 3)
CASES = [
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd_dampening_decay", "sgd", dict(lr=0.03, momentum=0.8, dampening=0.3, weight_decay=0.37)),
    ("sgd_nesterov_decay", "sgd", dict(lr=0.07, momentum=0.95, weight_decay=1e-3, nesterov=True)),
    ("adamw_default", "adamw", dict(lr=1e-3)),
    ("adamw_custom", "adamw", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
]
for name, kind, kw in CASES:
    p = torch.tensor([w0(i) for i in range(N)], dtype=torch.float32, requires_grad=True)
    opt = (torch.optim.SGD if kind == "sgd" else torch.optim.AdamW)([p], foreach=False, **kw)
    for s in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = kw["lr"] * LR_FACTORS[s]
        p.grad = torch.tensor([g(s, i) for i in range(N)], dtype=torch.float32)
        opt.step()
    bits = [struct.unpack("<I", struct.pack("<f", v))[0] for v in p.detach().tolist()]
    print(name, " ".join(f"{b:08x}" for b in bits))
)PY";

struct OptimReference {
  const char* name;
  std::array<std::uint32_t, kN> bits;  // final fp32 weights
};

// Output of kOptimScript (torch 1.13.1).
const std::array<OptimReference, 7> kOptimReference = {{
    {"sgd_plain",
     {0xbc7e1632u, 0x3d9a72f8u, 0x3e8a2332u, 0x3f2f5b7fu, 0x3fde50cau, 0x3e92459bu, 0x3eacb8aau,
      0x3df51a15u, 0x3f2bbc20u, 0x40079a68u, 0x3e90baa6u, 0x3e4d65eau, 0x3ef343b0u, 0x3f870006u,
      0xbfe2650bu, 0x3e02e3c0u, 0x3e909190u, 0x3f07ed98u, 0x3f86475du, 0xbf95e785u, 0x3eb972a4u,
      0x3deae5b7u, 0x3ee36aaeu, 0x3f9fc3cau, 0xbf5e5905u, 0x3e5d8045u, 0x3ed2c284u, 0x3f3ce356u,
      0xbf483a8eu, 0xbf330c23u, 0x3e85d1f1u, 0x3ed61d1fu, 0x3f291347u, 0xbebc9478u, 0xbe225e01u,
      0x3dc6ba4fu, 0x3e99db49u}},
    {"sgd_momentum",
     {0xbc8d2191u, 0x3d93ea46u, 0x3e9f2966u, 0x3f5a90b9u, 0x4006a57eu, 0x3f1859f1u, 0x3f0872c4u,
      0x3df35d5eu, 0x3f2b5d43u, 0x400a325cu, 0x3ee3a400u, 0x3f0d5d20u, 0x3f45e597u, 0x3f9f39ceu,
      0xbfe2644au, 0x3e033136u, 0x3ea50aacu, 0x3f2fa1b9u, 0x3fb150d1u, 0xbf627eb3u, 0x3f0b8a08u,
      0x3decbacfu, 0x3ee475ddu, 0x3fa4d06du, 0xbf386578u, 0x3f098238u, 0x3f2fbe35u, 0x3f6a1130u,
      0xbf47c6cfu, 0xbf321450u, 0x3e99bdf5u, 0x3f0f4194u, 0x3f7744afu, 0xbdd70578u, 0x3c3cdf76u,
      0x3dcc2135u, 0x3e9caf5eu}},
    {"sgd_nesterov",
     {0x3cdb0f72u, 0x3e23319du, 0x3ee1f426u, 0x3f7da58au, 0x400b333cu, 0x3f3858b4u, 0x3f30369fu,
      0x3e23dd98u, 0x3f4040c5u, 0x4012113eu, 0x3f13252cu, 0x3f1edb3bu, 0x3f64a43bu, 0x3fb254d6u,
      0xbfdd7952u, 0x3e5110d0u, 0x3ee02df7u, 0x3f4f3340u, 0x3fb9b370u, 0xbf45002bu, 0x3f30324fu,
      0x3e1adde0u, 0x3f044739u, 0x3fb2a450u, 0xbf1a9595u, 0x3f198e9au, 0x3f4bfc9fu, 0x3f8695d5u,
      0xbf3f5c80u, 0xbf2173a2u, 0x3ecd39c8u, 0x3f2b4fd0u, 0x3f834c1au, 0x39ece520u, 0x3e1200b5u,
      0x3e04e2a3u, 0x3ebb1985u}},
    {"sgd_dampening_decay",
     {0xbd95d9a8u, 0xbd402438u, 0x3daebcadu, 0x3efa822fu, 0x3fcc3db2u, 0x3e38b372u, 0x3e5055f0u,
      0x3d63c1e3u, 0x3f02ca9cu, 0x3fe6ce45u, 0x3e004047u, 0x3e35014au, 0x3eb7c01fu, 0x3f5eefa2u,
      0xbfd7aac2u, 0x3c8beeadu, 0x3deec932u, 0x3eb974a4u, 0x3f75f5e2u, 0xbf9443c5u, 0x3e7191a2u,
      0x3d70cfdeu, 0x3ea25b16u, 0x3f826126u, 0xbf6c480bu, 0x3e4462e2u, 0x3e9d549eu, 0x3f167060u,
      0xbf44096bu, 0xbf3b42d6u, 0x3def5b24u, 0x3e8be8a3u, 0x3f1a30b8u, 0xbed1c1b0u, 0xbe714fd5u,
      0x3d4de571u, 0x3e4cc353u}},
    {"sgd_nesterov_decay",
     {0x3dd10ee6u, 0x3e9e142eu, 0x3f32d1b2u, 0x3fad9895u, 0x40253776u, 0x3f9978d5u, 0x3f91be9fu,
      0x3e6c9a90u, 0x3f6434ccu, 0x40218e58u, 0x3f6c6fb2u, 0x3f818439u, 0x3fad42ffu, 0x3fe9c32eu,
      0xbfd4ac31u, 0x3eac72f6u, 0x3f2b1ab2u, 0x3f9208efu, 0x3fe989bdu, 0xbea6b994u, 0x3f8d80ebu,
      0x3e5b123du, 0x3f240534u, 0x3fce51a1u, 0xbe936ce0u, 0x3f75293bu, 0x3f9c468eu, 0x3fb9d3e0u,
      0xbf3025a2u, 0xbf038ce3u, 0x3f1acee8u, 0x3f777eb7u, 0x3faee66au, 0x3ed06d6au, 0x3f06fc87u,
      0x3e3c91bbu, 0x3ef21e76u}},
    {"adamw_default",
     {0xbdf8b5e0u, 0xbe0d6728u, 0xbd812ca4u, 0x3e9b71cdu, 0x3fbc3356u, 0xbdcf638cu, 0xbdc7bd89u,
      0x3ca7a5fcu, 0x3ef106bdu, 0x3fe6ffdeu, 0xbda37e69u, 0xbd6133cau, 0x3dd379a7u, 0x3f22f533u,
      0xbfee396bu, 0xbd70d915u, 0xbc52af4du, 0x3e3fd17au, 0x3f4dea5cu, 0xbfc3904au, 0xbd204e10u,
      0x3ced02e5u, 0x3e8abe0eu, 0x3f78c395u, 0xbf98bd25u, 0xbc8ef9dbu, 0x3d8f4744u, 0x3eb4de41u,
      0xbf5c742cu, 0xbf5bee9au, 0x3b795f88u, 0x3de5f5afu, 0x3ee00989u, 0xbf31e39du, 0xbf06be9bu,
      0x3cca8c89u, 0x3e1de747u}},
    {"adamw_custom",
     {0xbdb40fffu, 0xbdd604b4u, 0xbcf813ccu, 0x3eaab0ebu, 0x3fbf0ad0u, 0xbd9cd4c4u, 0xbd9e6d2bu,
      0x3d5b2716u, 0x3f008bb1u, 0x3fea50cdu, 0xbd4713f8u, 0xbcde2422u, 0x3e023b03u, 0x3f276a91u,
      0xbfe91895u, 0xbcd02810u, 0x3ca2748eu, 0x3e5ed00eu, 0x3f543c53u, 0xbfbfbab6u, 0xbc9dbc6au,
      0x3d7e2372u, 0x3e9b3dd1u, 0x3f801b00u, 0xbf943487u, 0x3c289dfcu, 0x3dc07922u, 0x3ebe481du,
      0xbf531dcdu, 0xbf52981cu, 0x3d15a7e5u, 0x3e125485u, 0x3eed626au, 0xbf2b0461u, 0xbf0136f2u,
      0x3d6d7f84u, 0x3e3f7a7eu}},
}};

/// The optimizer of a reference case (the same hyper-parameters as the script).
std::unique_ptr<Optimizer> make_case(const std::string& name) {
  if (name == "sgd_plain") return std::make_unique<Sgd>(SgdConfig{.lr = 0.1});
  if (name == "sgd_momentum") return std::make_unique<Sgd>(SgdConfig{.lr = 0.05, .momentum = 0.9});
  if (name == "sgd_nesterov")
    return std::make_unique<Sgd>(SgdConfig{.lr = 0.05, .momentum = 0.9, .nesterov = true});
  if (name == "sgd_dampening_decay")
    return std::make_unique<Sgd>(
        SgdConfig{.lr = 0.03, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.37});
  if (name == "sgd_nesterov_decay")
    return std::make_unique<Sgd>(
        SgdConfig{.lr = 0.07, .momentum = 0.95, .weight_decay = 1e-3, .nesterov = true});
  if (name == "adamw_default") return std::make_unique<AdamW>(AdamWConfig{.lr = 1e-3});
  if (name == "adamw_custom")
    return std::make_unique<AdamW>(
        AdamWConfig{.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1});
  throw std::logic_error("no such case: " + name);
}

/// Runs a case on an fp32 rne master copy; returns the final weights.
std::array<float, kN> run_case(const std::string& name) {
  std::unique_ptr<Optimizer> opt = make_case(name);
  std::array<float, kN> w{};
  for (std::size_t i = 0; i < kN; ++i) w[i] = w0(i);
  MasterWeights master(parse_format("fp32"), RoundSpec{}, 1);
  const std::size_t p = master.add_param(w);
  REQUIRE(opt->add_param(kN) == p);
  std::array<float, kN> g{};
  std::array<double, kN> delta{};
  for (int s = 0; s < kSteps; ++s) {
    for (std::size_t i = 0; i < kN; ++i) g[i] = grad(s, i);
    const double lr = opt->base_lr() * kLrFactors[static_cast<std::size_t>(s)];
    opt->update(p, master.values(p), g, lr, delta);
    (void)master.apply(p, delta, 0, static_cast<std::uint64_t>(s));
  }
  std::copy(master.values(p).begin(), master.values(p).end(), w.begin());
  return w;
}

/// The live script's output: case name -> final bits.
std::vector<std::pair<std::string, std::vector<std::uint32_t>>> parse_optim_output(
    const std::string& text) {
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ss(line);
    std::string name, hex;
    ss >> name;
    std::vector<std::uint32_t> bits;
    while (ss >> hex) bits.push_back(static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16)));
    out.emplace_back(name, bits);
  }
  return out;
}

void check_optimizer_cases(std::string_view prefix) {
  for (const OptimReference& ref : kOptimReference) {
    if (!std::string_view(ref.name).starts_with(prefix)) continue;
    CAPTURE(ref.name);
    const std::array<float, kN> w = run_case(ref.name);
    for (std::size_t i = 0; i < kN; ++i) {
      CAPTURE(i);
      CHECK(std::bit_cast<std::uint32_t>(w[i]) == ref.bits[i]);  // bit for bit
    }
  }
  static const std::optional<std::string> live = run_python(kOptimScript);  // run once
  if (!live && !torch_available()) {
    MESSAGE(
        "torch not importable by /usr/bin/python3: checked against the stored torch output only");
    return;
  }
  REQUIRE_MESSAGE(live.has_value(), "torch is importable but the reference script failed");
  std::int64_t worst = 0;
  for (const auto& [name, bits] : parse_optim_output(*live)) {
    if (!name.starts_with(prefix)) continue;
    CAPTURE(name);
    REQUIRE(bits.size() == kN);
    const std::array<float, kN> w = run_case(name);
    for (std::size_t i = 0; i < kN; ++i) {
      CAPTURE(i);
      const std::int64_t d = ulp_distance(w[i], std::bit_cast<float>(bits[i]));
      CHECK(d <= 1);
      worst = std::max(worst, d);
    }
  }
  if (worst != 0) MESSAGE("live torch differs from the simulator by up to ", worst, " ulp");
}

}  // namespace

TEST_CASE("optim.sgd_matches_torch") {
  // plain, momentum, nesterov, dampening + weight decay, nesterov + weight decay, with the
  // learning rate changed every step (as a schedule does)
  check_optimizer_cases("sgd");
}

TEST_CASE("optim.adamw_matches_torch") {
  check_optimizer_cases("adamw");
}

TEST_CASE("optim.sgd_first_step_buffer_is_the_gradient") {
  // PyTorch: momentum_buffer = clone(d_p) at the first step, so step 1 moves by -lr * g
  // whatever the dampening; step 2 uses buf = momentum * buf + (1 - dampening) * g.
  Sgd sgd(SgdConfig{.lr = 0.5, .momentum = 0.5, .dampening = 0.5});
  const std::size_t p = sgd.add_param(1);
  const std::array<float, 1> w = {1.0f};
  const std::array<float, 1> g = {2.0f};
  std::array<double, 1> delta{};
  sgd.update(p, w, g, delta);
  CHECK(delta[0] == -1.0);
  sgd.update(p, w, g, delta);
  CHECK(delta[0] == -0.5 * (0.5 * 2.0 + 0.5 * 2.0));
  CHECK(sgd.steps(p) == 2);
}

TEST_CASE("optim.optimizer_state_roundtrip") {
  for (const char* name : {"sgd_nesterov_decay", "adamw_custom"}) {
    CAPTURE(name);
    std::unique_ptr<Optimizer> a = make_case(name);
    std::unique_ptr<Optimizer> b = make_case(name);
    a->add_param(kN);
    b->add_param(kN);
    std::array<float, kN> w{}, g{};
    std::array<double, kN> da{}, db{};
    for (std::size_t i = 0; i < kN; ++i) w[i] = w0(i);
    for (int s = 0; s < 3; ++s) {
      for (std::size_t i = 0; i < kN; ++i) g[i] = grad(s, i);
      a->update(0, w, g, da);
    }
    const OptimizerState st = a->export_state();
    CHECK(st.kind == a->kind());
    CHECK(st.steps == std::vector<std::uint64_t>{3});
    CHECK(st.buffers[0].size() == kN * a->state_per_element());
    b->import_state(st);
    for (int s = 3; s < 6; ++s) {
      for (std::size_t i = 0; i < kN; ++i) g[i] = grad(s, i);
      a->update(0, w, g, da);
      b->update(0, w, g, db);
      CHECK(da == db);
    }
    OptimizerState wrong = st;
    wrong.kind = wrong.kind == "sgd" ? "adamw" : "sgd";
    CHECK_THROWS_AS(b->import_state(wrong), std::invalid_argument);
    wrong = st;
    wrong.buffers[0].pop_back();
    CHECK_THROWS_AS(b->import_state(wrong), std::invalid_argument);
  }
}

TEST_CASE("optim.optimizer_rejects_bad_arguments") {
  CHECK_THROWS_WITH_AS(Sgd(SgdConfig{.momentum = 0, .nesterov = true}),
                       doctest::Contains("nesterov"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Sgd(SgdConfig{.lr = -1}), doctest::Contains("lr = -1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(AdamW(AdamWConfig{.beta2 = 1.0}), doctest::Contains("beta2"),
                       std::invalid_argument);
  AdamW adam(AdamWConfig{});
  adam.add_param(4);
  std::array<float, 4> w{}, g{};
  std::array<double, 3> short_delta{};
  std::array<double, 4> delta{};
  CHECK_THROWS_AS(adam.update(0, w, g, short_delta), std::invalid_argument);
  CHECK_THROWS_AS(adam.update(1, w, g, delta), std::out_of_range);
  CHECK_THROWS_WITH_AS(adam.update(0, w, g, std::nan(""), delta), doctest::Contains("lr"),
                       std::invalid_argument);
}

// ---- loss scalers -----------------------------------------------------------------------

namespace {

const char* const kScalerScript = R"PY(
import torch
FLAGS = "0010000100110000000100000000100"
CASES = [("defaults_interval3", 65536.0, 2.0, 0.5, 3), ("odd_factors", 1000.0, 1.7, 0.3, 2),
         ("fp32_cap", 2.0 ** 126, 4.0, 0.5, 1)]
def update(scale, tracker, found_inf, growth, backoff, interval):
    try:  # the ATen kernel itself (torch builds whose CPU backend has it)
        torch._amp_update_scale_(scale, tracker, found_inf, growth, backoff, interval)
        return "aten"
    except (NotImplementedError, RuntimeError):
        pass  # torch 1.13's CPU build lacks it: _amp_update_scale_cpu_kernel, line by line
    if found_inf.item():
        scale.fill_(scale.double().item() * backoff)  # float = double product, rounded
        tracker.fill_(0)
    else:
        successful = tracker.item() + 1
        if successful == interval:
            new_scale = torch.tensor(scale.double().item() * growth, dtype=torch.float32)
            if torch.isfinite(new_scale).item():
                scale.copy_(new_scale)
            tracker.fill_(0)
        else:
            tracker.fill_(successful)
    return "port"
for name, init, growth, backoff, interval in CASES:
    scale = torch.full((1,), init, dtype=torch.float32)
    tracker = torch.zeros((1,), dtype=torch.int32)
    out = []
    for f in FLAGS:
        src = update(scale, tracker, torch.full((1,), float(f)), growth, backoff, interval)
        out.append(f"{scale.item().hex()}/{tracker.item()}")
    print(name, src, " ".join(out))
)PY";

constexpr std::string_view kScalerFlags = "0010000100110000000100000000100";

struct ScalerCase {
  const char* name;
  double init, growth, backoff;
  std::uint64_t interval;
};
constexpr std::array<ScalerCase, 3> kScalerCases = {{{"defaults_interval3", 65536.0, 2.0, 0.5, 3},
                                                     {"odd_factors", 1000.0, 1.7, 0.3, 2},
                                                     {"fp32_cap", 0x1p126, 4.0, 0.5, 1}}};

struct ScaleAfter {
  double scale;
  std::uint64_t tracker;
};

// Output of kScalerScript (torch 1.13.1, whose CPU build has no _amp_update_scale_ kernel:
// these come from the script's line-by-line port of PyTorch's _amp_update_scale_cpu_kernel,
// run on torch fp32 tensors; builds that have the kernel are compared live).
const std::array<std::array<ScaleAfter, 31>, 3> kScalerReference = {{
    {{{0x1.0000000000000p+16, 1}, {0x1.0000000000000p+16, 2}, {0x1.0000000000000p+15, 0},
      {0x1.0000000000000p+15, 1}, {0x1.0000000000000p+15, 2}, {0x1.0000000000000p+16, 0},
      {0x1.0000000000000p+16, 1}, {0x1.0000000000000p+15, 0}, {0x1.0000000000000p+15, 1},
      {0x1.0000000000000p+15, 2}, {0x1.0000000000000p+14, 0}, {0x1.0000000000000p+13, 0},
      {0x1.0000000000000p+13, 1}, {0x1.0000000000000p+13, 2}, {0x1.0000000000000p+14, 0},
      {0x1.0000000000000p+14, 1}, {0x1.0000000000000p+14, 2}, {0x1.0000000000000p+15, 0},
      {0x1.0000000000000p+15, 1}, {0x1.0000000000000p+14, 0}, {0x1.0000000000000p+14, 1},
      {0x1.0000000000000p+14, 2}, {0x1.0000000000000p+15, 0}, {0x1.0000000000000p+15, 1},
      {0x1.0000000000000p+15, 2}, {0x1.0000000000000p+16, 0}, {0x1.0000000000000p+16, 1},
      {0x1.0000000000000p+16, 2}, {0x1.0000000000000p+15, 0}, {0x1.0000000000000p+15, 1},
      {0x1.0000000000000p+15, 2}}},  // defaults_interval3
    {{{0x1.f400000000000p+9, 1},  {0x1.a900000000000p+10, 0}, {0x1.fe00000000000p+8, 0},
      {0x1.fe00000000000p+8, 1},  {0x1.b180000000000p+9, 0},  {0x1.b180000000000p+9, 1},
      {0x1.70799a0000000p+10, 0}, {0x1.ba2b860000000p+8, 0},  {0x1.ba2b860000000p+8, 1},
      {0x1.77d8320000000p+9, 0},  {0x1.c303700000000p+7, 0},  {0x1.0e9baa0000000p+6, 0},
      {0x1.0e9baa0000000p+6, 1},  {0x1.cc08a00000000p+6, 0},  {0x1.cc08a00000000p+6, 1},
      {0x1.8707540000000p+7, 0},  {0x1.8707540000000p+7, 1},  {0x1.4c5fd40000000p+8, 0},
      {0x1.4c5fd40000000p+8, 1},  {0x1.8ed9640000000p+6, 0},  {0x1.8ed9640000000p+6, 1},
      {0x1.5305940000000p+7, 0},  {0x1.5305940000000p+7, 1},  {0x1.202b240000000p+8, 0},
      {0x1.202b240000000p+8, 1},  {0x1.e9e2f00000000p+8, 0},  {0x1.e9e2f00000000p+8, 1},
      {0x1.a0674c0000000p+9, 0},  {0x1.f3af280000000p+7, 0},  {0x1.f3af280000000p+7, 1},
      {0x1.a8bb480000000p+8, 0}}},  // odd_factors
    {{{0x1.0000000000000p+126, 0}, {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+125, 0},
      {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+127, 0},
      {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+126, 0},
      {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+125, 0}, {0x1.0000000000000p+124, 0},
      {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+126, 0},
      {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+126, 0},
      {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+125, 0}, {0x1.0000000000000p+127, 0},
      {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+127, 0},
      {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+127, 0},
      {0x1.0000000000000p+127, 0}, {0x1.0000000000000p+126, 0}, {0x1.0000000000000p+126, 0},
      {0x1.0000000000000p+126, 0}}},  // fp32_cap
}};

LossScalerConfig dynamic_config(const ScalerCase& c) {
  LossScalerConfig cfg;
  cfg.kind = LossScalerKind::dynamic;
  cfg.init_scale = c.init;
  cfg.growth_factor = c.growth;
  cfg.backoff_factor = c.backoff;
  cfg.growth_interval = c.interval;
  return cfg;
}

}  // namespace

TEST_CASE("optim.grad_scaler_update_sequence_matches_torch") {
  for (std::size_t k = 0; k < kScalerCases.size(); ++k) {
    const ScalerCase& c = kScalerCases[k];
    CAPTURE(c.name);
    LossScaler scaler(dynamic_config(c));
    CHECK(scaler.scale() == c.init);
    std::uint64_t skipped = 0;
    for (std::size_t s = 0; s < kScalerFlags.size(); ++s) {
      CAPTURE(s);
      const bool found_inf = kScalerFlags[s] == '1';
      CHECK(scaler.update(found_inf, s) == !found_inf);
      skipped += found_inf ? 1 : 0;
      CHECK(scaler.scale() == kScalerReference[k][s].scale);
      CHECK(scaler.growth_tracker() == kScalerReference[k][s].tracker);
    }
    CHECK(scaler.skipped_steps() == skipped);
    CHECK(scaler.overflow_events() == skipped);
    CHECK(scaler.updates() == kScalerFlags.size());
  }
  const std::optional<std::string> live = run_python(kScalerScript);
  if (!live && !torch_available()) {
    MESSAGE("torch not importable by /usr/bin/python3: checked against the stored output only");
    return;
  }
  REQUIRE_MESSAGE(live.has_value(), "torch is importable but the scaler script failed");
  std::istringstream lines(*live);
  std::string line;
  std::size_t k = 0;
  bool ported = false;
  while (std::getline(lines, line)) {
    std::istringstream ss(line);
    std::string name, source, item;
    ss >> name >> source;
    REQUIRE(k < kScalerCases.size());
    CHECK(name == kScalerCases[k].name);
    ported |= source != "aten";
    for (std::size_t s = 0; ss >> item; ++s) {
      const auto slash = item.find('/');
      CHECK(std::strtod(item.substr(0, slash).c_str(), nullptr) == kScalerReference[k][s].scale);
      CHECK(std::stoull(item.substr(slash + 1)) == kScalerReference[k][s].tracker);
    }
    ++k;
  }
  CHECK(k == kScalerCases.size());
  if (ported) MESSAGE("this torch has no CPU _amp_update_scale_: the live run used the port");
}

TEST_CASE("optim.grad_scaler_pytorch_unit_test") {
  // PyTorch's test_grad_scaling_update_scale: growth 2, backoff 0.25, interval 2, scale 4.
  LossScalerConfig cfg;
  cfg.init_scale = 4.0;
  cfg.growth_factor = 2.0;
  cfg.backoff_factor = 0.25;
  cfg.growth_interval = 2;
  LossScaler scaler(cfg);
  CHECK(scaler.update(false, 0));
  CHECK(scaler.growth_tracker() == 1);
  CHECK(scaler.scale() == 4.0);
  CHECK(scaler.update(false, 1));
  CHECK(scaler.growth_tracker() == 0);
  CHECK(scaler.scale() == 8.0);
  CHECK_FALSE(scaler.update(true, 2));
  CHECK(scaler.growth_tracker() == 0);
  CHECK(scaler.scale() == 2.0);
}

TEST_CASE("optim.grad_scaler_defaults_and_unscale") {
  const LossScalerConfig defaults;
  CHECK(defaults.kind == LossScalerKind::dynamic);
  CHECK(defaults.init_scale == 65536.0);
  CHECK(defaults.growth_factor == 2.0);
  CHECK(defaults.backoff_factor == 0.5);
  CHECK(defaults.growth_interval == 2000);

  LossScalerConfig cfg;
  cfg.init_scale = 3.0;
  const LossScaler scaler(cfg);
  std::vector<float> g = {3.0f, -1.5f, 1e-30f, 0.0f};
  const auto inv = static_cast<float>(1.0 / 3.0);  // the reciprocal in fp64, then fp32
  const std::vector<float> expect = {3.0f * inv, -1.5f * inv, 1e-30f * inv, 0.0f};
  CHECK_FALSE(scaler.unscale(g));
  CHECK(g == expect);
  std::vector<float> bad = {1.0f, std::numeric_limits<float>::infinity()};
  CHECK(scaler.unscale(bad));
  std::vector<float> nan = {std::nanf("")};
  CHECK(has_inf_or_nan(nan));
  CHECK_FALSE(has_inf_or_nan(expect));
}

TEST_CASE("optim.static_and_none_scalers") {
  LossScalerConfig cfg;
  cfg.kind = LossScalerKind::fixed;
  cfg.init_scale = 1024.0;
  LossScaler fixed(cfg);
  CHECK(fixed.update(false, 0));
  CHECK_FALSE(fixed.update(true, 1));  // skipped, scale untouched
  for (std::uint64_t s = 2; s < 5000; ++s) CHECK(fixed.update(false, s));
  CHECK(fixed.scale() == 1024.0);
  CHECK(fixed.skipped_steps() == 1);
  CHECK(to_string(cfg.kind) == "static");

  cfg.kind = LossScalerKind::none;
  LossScaler none(cfg);
  CHECK(none.scale() == 1.0);
  CHECK(none.update(true, 0));  // no scaler: the step is taken
  CHECK(none.skipped_steps() == 0);
  CHECK(none.overflow_events() == 1);
}

TEST_CASE("optim.enhanced_scaler_honours_the_minimum_schedule") {
  LossScalerConfig cfg;
  cfg.kind = LossScalerKind::enhanced;
  cfg.growth_interval = 3;
  cfg.min_schedule = {{0, 0x1p10}, {10, 0x1p13}, {16, 0x1p15}};
  LossScaler scaler(cfg);
  CHECK(scaler.scale() == 0x1p16);
  CHECK(scaler.min_scale_at(9) == 0x1p10);
  CHECK(scaler.min_scale_at(10) == 0x1p13);
  CHECK(scaler.min_scale_at(1000) == 0x1p15);
  // Overflow at steps 0..7, clean afterwards. Expected scale for step s + 1 after update s:
  // halving down to the floor 2^10 (never below it), the floor rising to 2^13 for step 10
  // (the tracker keeps counting), growth every 3 clean steps, the floor 2^15 for step 16.
  const std::array<double, 20> expect = {0x1p15, 0x1p14, 0x1p13, 0x1p12, 0x1p11, 0x1p10, 0x1p10,
                                         0x1p10, 0x1p10, 0x1p13, 0x1p14, 0x1p14, 0x1p14, 0x1p15,
                                         0x1p15, 0x1p15, 0x1p16, 0x1p16, 0x1p16, 0x1p17};
  for (std::uint64_t s = 0; s < expect.size(); ++s) {
    CAPTURE(s);
    const bool found_inf = s < 8;
    CHECK(scaler.update(found_inf, s) == !found_inf);
    CHECK(scaler.scale() == expect[s]);
    CHECK(scaler.scale() >= scaler.min_scale_at(s + 1));
  }
  CHECK(scaler.skipped_steps() == 8);

  // The documented default (an assumption: the paper's values are not public).
  const LossScalerConfig d = LossScalerConfig::enhanced_default();
  CHECK(d.kind == LossScalerKind::enhanced);
  REQUIRE(d.min_schedule.size() == 3);
  CHECK(d.min_schedule[0].min_scale == 1024.0);
  LossScaler floor_only(d);
  for (std::uint64_t s = 0; s < 100; ++s) (void)floor_only.update(true, s);
  CHECK(floor_only.scale() == 1024.0);  // persistent overflow cannot drag it lower
}

TEST_CASE("optim.loss_scaler_state_and_validation") {
  LossScalerConfig cfg = LossScalerConfig::enhanced_default();
  cfg.growth_interval = 4;
  LossScaler a(cfg);
  LossScaler b(cfg);
  for (std::uint64_t s = 0; s < 7; ++s) (void)a.update(s % 3 == 0, s);
  b.import_state(a.export_state());
  for (std::uint64_t s = 7; s < 40; ++s) {
    CHECK(a.update(s % 5 == 0, s) == b.update(s % 5 == 0, s));
    CHECK(a.scale() == b.scale());
    CHECK(a.growth_tracker() == b.growth_tracker());
  }
  CHECK(a.skipped_steps() == b.skipped_steps());
  LossScalerState bad = a.export_state();
  bad.growth_tracker = 4;
  CHECK_THROWS_WITH_AS(b.import_state(bad), doctest::Contains("growth_tracker"),
                       std::invalid_argument);

  LossScalerConfig c;
  c.growth_factor = 1.0;
  CHECK_THROWS_WITH_AS(LossScaler{c}, doctest::Contains("growth_factor = 1"),
                       std::invalid_argument);
  c = LossScalerConfig{};
  c.backoff_factor = 1.5;
  CHECK_THROWS_WITH_AS(LossScaler{c}, doctest::Contains("backoff_factor"), std::invalid_argument);
  c = LossScalerConfig{};
  c.min_schedule = {{0, 8.0}};  // not enhanced
  CHECK_THROWS_WITH_AS(LossScaler{c}, doctest::Contains("only for kind enhanced"),
                       std::invalid_argument);
  c.kind = LossScalerKind::enhanced;
  c.min_schedule = {{0, 8.0}, {5, 4.0}};  // falls
  CHECK_THROWS_WITH_AS(LossScaler{c}, doctest::Contains("rises"), std::invalid_argument);
  c.min_schedule = {{5, 8.0}, {5, 16.0}};
  CHECK_THROWS_WITH_AS(LossScaler{c}, doctest::Contains("strictly increasing"),
                       std::invalid_argument);
}

// ---- master weights ---------------------------------------------------------------------

namespace {

/// A reproducible stream of doubles in [0, 1) (splitmix64).
struct TestRng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }
};

}  // namespace

TEST_CASE("optim.master_fp32_rne_is_float_addition") {
  TestRng rng{42};
  std::vector<float> w, d;
  for (int i = 0; i < 20000; ++i) {
    // magnitudes over 2^-140 .. 2^40 (subnormals included), either sign, and cancellation
    const auto e1 = static_cast<int>(rng.uniform() * 180) - 140;
    const auto e2 = i % 3 == 0 ? e1 : static_cast<int>(rng.uniform() * 180) - 140;
    const float a =
        static_cast<float>(std::ldexp(rng.uniform() + 0.5, e1) * (rng.next() & 1 ? 1 : -1));
    float b = static_cast<float>(std::ldexp(rng.uniform() + 0.5, e2) * (rng.next() & 1 ? 1 : -1));
    if (i % 7 == 0) b = -a;  // exact cancellation
    w.push_back(a);
    d.push_back(b);
  }
  // signed zeros and specials
  for (const float a : {0.0f, -0.0f, 1.0f, std::numeric_limits<float>::infinity()})
    for (const float b : {0.0f, -0.0f, -1.0f, std::numeric_limits<float>::max()}) {
      w.push_back(a);
      d.push_back(b);
    }
  w.push_back(std::numeric_limits<float>::max());
  d.push_back(std::numeric_limits<float>::max());  // overflow to Inf
  MasterWeights m(parse_format("fp32"), RoundSpec{});
  const std::size_t p = m.add_param(w);
  std::vector<double> delta(d.begin(), d.end());
  const MasterUpdateStats st = m.apply(p, delta, 1, 0);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const float expect = w[i] + d[i];
    if (std::bit_cast<std::uint32_t>(m.values(p)[i]) != std::bit_cast<std::uint32_t>(expect) ||
        m.codes(p)[i] != std::bit_cast<std::uint32_t>(expect)) {
      if (++mismatches < 5) FAIL_CHECK(fmt::format("{:a} + {:a}", w[i], d[i]));
    }
  }
  CHECK(mismatches == 0);
  CHECK(st.count == w.size());
  CHECK(st.overflow >= 1);
}

TEST_CASE("optim.master_fp16_rne_is_the_rounded_exact_sum") {
  const Format f16 = parse_format("fp16");
  TestRng rng{7};
  std::vector<float> w;
  std::vector<double> delta;
  for (int i = 0; i < 20000; ++i) {
    // finite fp16 below 2^14 in magnitude and deltas in [2^-14, 2^8): w + d is exact in double
    std::uint64_t code = 0;
    do code = rng.next() & 0xffff;
    while (exp_field(f16, code) >= 29);
    w.push_back(static_cast<float>(to_double(f16, code)));
    const auto e = static_cast<int>(rng.uniform() * 22) - 14;
    const float d = static_cast<float>(std::ldexp(1.0 + rng.uniform(), e - 1)) *
                    (rng.next() & 1 ? 1.0f : -1.0f);
    delta.push_back(static_cast<double>(d));
  }
  MasterWeights m(f16, RoundSpec{});
  const std::size_t p = m.add_param(w);
  (void)m.apply(p, delta, 3, 0);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double exact = static_cast<double>(w[i]) + delta[i];
    if (m.codes(p)[i] != from_double(exact, f16, RoundSpec{}).code) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("optim.master_fp16_sr_is_unbiased_and_reproducible") {
  const Format f16 = parse_format("fp16");
  const RoundSpec sr = parse_rounding("sr:8");
  constexpr double kUlp = 0x1p-10;  // fp16 spacing in [1, 2)

  SUBCASE("one update: mean of the rounded values") {
    // delta = 77/256 ulp, exact in 8 SR bits: each element rounds up with probability
    // p = 77/256, so the mean is 1 + p ulp; its standard deviation over N = 2^17 elements is
    // ulp sqrt(p (1 - p) / N) = 0.0013 ulp: bound 0.008 ulp (6 sigma).
    constexpr std::size_t n = 1 << 17;
    const std::vector<float> ones(n, 1.0f);
    MasterWeights m(f16, sr);
    const std::size_t p = m.add_param(ones);
    const std::vector<double> delta(n, 77.0 / 256.0 * kUlp);
    const MasterUpdateStats st = m.apply(p, delta, 2024, 0);
    double sum = 0;
    for (const float v : m.values(p)) sum += static_cast<double>(v);
    const double mean_ulps = (sum / n - 1.0) / kUlp;
    CHECK(std::fabs(mean_ulps - 77.0 / 256.0) < 0.008);
    CHECK(st.nonzero == n);
    CHECK(st.vanished > 0);
    CHECK(st.vanished < n);
    CHECK(st.max_abs_delta == 77.0 / 256.0 * kUlp);
    CHECK(st.mean_abs_delta() == doctest::Approx(77.0 / 256.0 * kUlp));
  }

  SUBCASE("many updates: rne loses them all, sr keeps their sum") {
    // 256 updates of 1/4 ulp to 1024 elements at 1.0: the exact result 1 + 64 ulp.
    // rne: every update vanishes (1/4 ulp < half an ulp). sr: each element's sum of
    // 256 Bernoulli(1/4) ulps has variance 48 ulp^2; the mean over 1024 elements has
    // standard deviation 0.22 ulp: bound 1.3 ulp (6 sigma). About 3/4 of the updates
    // vanish (std of the fraction over 2^18 updates 0.0009: bound 0.01).
    constexpr std::size_t n = 1024;
    constexpr int steps = 256;
    const std::vector<float> ones(n, 1.0f);
    const std::vector<double> delta(n, 0.25 * kUlp);
    MasterWeights near(f16, RoundSpec{});
    MasterWeights stoch(f16, sr);
    const std::size_t pn = near.add_param(ones);
    const std::size_t ps = stoch.add_param(ones);
    std::uint64_t vanished_near = 0, vanished_sr = 0;
    for (int s = 0; s < steps; ++s) {
      vanished_near += near.apply(pn, delta, 5, static_cast<std::uint64_t>(s)).vanished;
      vanished_sr += stoch.apply(ps, delta, 5, static_cast<std::uint64_t>(s)).vanished;
    }
    CHECK(vanished_near == n * steps);
    for (const float v : near.values(pn)) CHECK(v == 1.0f);
    double sum = 0;
    for (const float v : stoch.values(ps)) sum += static_cast<double>(v);
    CHECK(std::fabs((sum / n - 1.0) / kUlp - 64.0) < 1.3);
    const double vanished_fraction = static_cast<double>(vanished_sr) / (n * steps);
    CHECK(std::fabs(vanished_fraction - 0.75) < 0.01);
  }

  SUBCASE("deterministic for a seed, independent of threads") {
    constexpr std::size_t n = 3 * 4096 + 77;  // several chunks and a partial one
    TestRng rng{11};
    std::vector<float> w(n);
    std::vector<double> delta(n);
    for (std::size_t i = 0; i < n; ++i) {
      w[i] = static_cast<float>(rng.uniform() * 4 - 2);
      delta[i] = (rng.uniform() - 0.5) * 1e-3;
    }
    auto run = [&](int threads, std::uint64_t seed) {
      MasterWeights m(f16, sr, threads);
      const std::size_t p = m.add_param(w);
      MasterUpdateStats total;
      for (std::uint64_t s = 0; s < 3; ++s) total.merge(m.apply(p, delta, seed, s));
      return std::make_pair(m.export_codes(p), total);
    };
    const auto [serial, st1] = run(1, 99);
    const auto [parallel, st4] = run(4, 99);
    const auto [other_seed, st_other] = run(4, 100);
    CHECK(serial == parallel);
    CHECK(st1.vanished == st4.vanished);
    CHECK(st1.sum_abs_delta == st4.sum_abs_delta);  // merged in chunk order
    CHECK(serial != other_seed);
    // element i draws random_bits(random_key(seed, step, param), i, r)
    const RandomKey k = MasterWeights::random_key(99, 2, 0);
    CHECK(k.seed == 99);
    CHECK(k.stream == ((0x20ull << 56) | (2ull << 24)));
    CHECK_THROWS_AS((void)MasterWeights::random_key(0, 1ull << 32, 0), std::out_of_range);
    CHECK_THROWS_AS((void)MasterWeights::random_key(0, 0, 1u << 24), std::out_of_range);
  }
}

TEST_CASE("optim.master_codes_roundtrip") {
  const Format bf16 = parse_format("bf16");
  MasterWeights a(bf16, parse_rounding("sr:7"));
  const std::vector<float> w = {1.0f, -2.5f, 3.0e-3f};
  const std::size_t p = a.add_param(w);
  (void)a.apply(p, std::vector<double>{1e-3, 1e-3, 1e-3}, 1, 0);
  MasterWeights b(bf16, parse_rounding("sr:7"));
  (void)b.add_param(std::vector<float>(3, 0.0f));
  b.import_codes(0, a.export_codes(p));
  CHECK(std::vector<float>(b.values(0).begin(), b.values(0).end()) ==
        std::vector<float>(a.values(p).begin(), a.values(p).end()));
  CHECK_THROWS_AS(b.import_codes(0, std::vector<std::uint64_t>{1, 2}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(b.import_codes(0, std::vector<std::uint64_t>{1, 2, 0x10000}),
                       doctest::Contains("does not fit"), std::invalid_argument);
  CHECK_THROWS_AS((void)b.apply(0, std::vector<double>{1.0}, 0, 0), std::invalid_argument);
}

// ---- learning-rate schedules ------------------------------------------------------------

TEST_CASE("optim.lr_schedule_values") {
  const LrSchedule constant("constant", 0.25);
  CHECK(constant.lr_at(0) == 0.25);
  CHECK(constant.lr_at(123456) == 0.25);

  const LrSchedule step("step:step_size=30,gamma=0.1", 0.1);
  CHECK(step.lr_at(0) == 0.1);
  CHECK(step.lr_at(29) == 0.1);
  CHECK(step.lr_at(30) == doctest::Approx(0.01));
  CHECK(step.lr_at(65) == doctest::Approx(0.001));
  CHECK(LrSchedule("step:step_size=2", 1.0).lr_at(4) == doctest::Approx(0.01));  // gamma 0.1

  const LrSchedule cosine("cosine:t_max=100,eta_min=0", 1.0);
  CHECK(cosine.lr_at(0) == 1.0);
  CHECK(cosine.lr_at(25) == doctest::Approx((1 + std::cos(std::numbers::pi / 4)) / 2));
  CHECK(cosine.lr_at(50) == doctest::Approx(0.5));
  CHECK(cosine.lr_at(100) == 0.0);
  CHECK(cosine.lr_at(150) == 0.0);  // clamped (torch's closed form would rise again)

  const LrSchedule warm("cosine:t_max=100,eta_min=0.1,warmup=10", 1.0);
  CHECK(warm.lr_at(0) == doctest::Approx(0.1));
  CHECK(warm.lr_at(4) == doctest::Approx(0.5));
  CHECK(warm.lr_at(9) == 1.0);
  CHECK(warm.lr_at(10) == 1.0);  // the cosine starts after the warm-up
  CHECK(warm.lr_at(60) == doctest::Approx(0.55));
  CHECK(warm.lr_at(110) == doctest::Approx(0.1));

  const LrSchedule warm_only("warmup=4", 2.0);
  CHECK(warm_only.config().kind == LrScheduleKind::constant);
  const std::array<double, 6> expect = {0.5, 1.0, 1.5, 2.0, 2.0, 2.0};
  for (std::uint64_t s = 0; s < expect.size(); ++s) CHECK(warm_only.lr_at(s) == expect[s]);

  CHECK(to_string(warm.config()) == "cosine:t_max=100,eta_min=0.1,warmup=10");
  CHECK(to_string(step.config()) == "step:step_size=30,gamma=0.1");
  CHECK(to_string(warm_only.config()) == "constant:warmup=4");
  CHECK(to_string(parse_lr_schedule(to_string(warm.config()), 1.0)) == to_string(warm.config()));
  CHECK(LrSchedule("constant:warmup=3", 3.0).lr_at(0) == 1.0);
}

TEST_CASE("optim.lr_schedule_rejects_bad_text") {
  struct Bad {
    const char* text;
    const char* says;
  };
  for (const Bad& b : std::initializer_list<Bad>{
           {"linear:t_max=3", "unknown kind 'linear' (allowed: constant, step, cosine"},
           {"", "unknown kind ''"},
           {"cosine", "cosine needs t_max"},
           {"cosine:", "nothing after ':'"},
           {"cosine:t_max=abc", "t_max = 'abc' is not allowed (allowed: a whole number >= 1)"},
           {"cosine:t_max=0", "t_max = '0'"},
           {"cosine:t_max=10,eta_min=-1", "eta_min = '-1'"},
           {"cosine:t_max=10,gamma=0.5", "unknown key 'gamma' for cosine"},
           {"cosine:t_max=10,t_max=11", "t_max is given twice"},
           {"cosine:t_max=10,", "trailing ','"},
           {"step:gamma=0.5", "step needs step_size"},
           {"step:step_size=2.5", "step_size = '2.5'"},
           {"step:step_size=3,gamma=-1", "gamma = '-1' is not allowed"},
           {"step:step_size=3,gamma=x", "gamma = 'x' is not a number"},
           {"warmup=-3", "warmup = '-3' is not allowed (allowed: a whole number >= 0)"},
           {"constant:t_max", "'t_max' is not key=value"},
       }) {
    CAPTURE(b.text);
    CHECK_THROWS_WITH_AS(LrSchedule(b.text, 0.1), doctest::Contains(b.says), std::invalid_argument);
  }
  CHECK_THROWS_WITH_AS(LrSchedule("constant", -1.0), doctest::Contains("base_lr = -1"),
                       std::invalid_argument);
}
