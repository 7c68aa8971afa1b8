// sim/dpi/fp8sim_dpi.cpp — fp8sim's golden model behind the plain C ABI of fp8sim_dpi.h, for
// hardware testbenches (SystemVerilog DPI-C, C, C++): libfp8sim_dpi.so.
//
// Every function catches every exception: nothing crosses the ABI. A failed call returns 0
// (or NULL) and leaves its message for fp8sim_last_error() (per thread); a successful one
// clears it. The results are the golden model's (sim/golden/), computed exactly as the vector
// files of `fp8sim vectors gen` define them (sim/vectors/vectors.hpp): fp8sim_mac_step is a
// mac-step case, fp8sim_dot_* a dot case (seed and index as the file's seed and case number),
// fp8sim_quantize a quantize case.
#include "sim/dpi/fp8sim_dpi.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/rounding_mode.hpp"
#include "sim/golden/golden.hpp"
#include "sim/golden/golden_mac.hpp"
#include "sim/mac.hpp"
#include "sim/vectors/vectors.hpp"

namespace {

using fp8sim::Format;
using fp8sim::MacConfig;
namespace vectors = fp8sim::vectors;

thread_local std::string last_error;

struct Unit {
  vectors::Spec step;  // the mac-step Spec (its unit is the handle's)
  MacConfig m;
  std::string spec_text;  // canonical text form (fp8sim_mac_spec)
  std::vector<vectors::RandomStep> step_random;
  // the dot product in progress
  bool open = false;
  std::vector<std::uint64_t> a, b;
  std::uint64_t c = 0;
  bool has_c = false;
  std::uint64_t seed = 0, index = 0;
};

constexpr std::uint32_t kMagic = 0x46503844;  // "FP8D"
struct Handle {
  std::uint32_t magic = kMagic;
  Unit unit;
};

// Runs f, turning every exception into the thread's last error and `fallback`.
template <class T, class F>
T guarded(T fallback, F&& f) noexcept {
  try {
    T r = f();
    last_error.clear();
    return r;
  } catch (const std::exception& e) {
    try {
      last_error = e.what();
    } catch (...) {
    }
  } catch (...) {
    try {
      last_error = "unknown error";
    } catch (...) {
    }
  }
  return fallback;
}

Unit& unit_of(void* mac) {
  auto* h = static_cast<Handle*>(mac);
  if (h == nullptr) throw std::invalid_argument("the mac handle is NULL");
  if (h->magic != kMagic)
    throw std::invalid_argument("not a handle of fp8sim_mac_new (freed, or never made)");
  return h->unit;
}

std::uint64_t checked_code(const Format& f, std::uint64_t code, const char* what) {
  if (code > f.code_mask())
    throw std::invalid_argument(
        fmt::format("{} = {:#x} does not fit the {} bits of {}", what, code, f.width(), f.name));
  return code;
}

// "rne", "sr:8", with optional ",tininess=before" and ",ftz=1"
fp8sim::RoundSpec parse_round_text(const std::string& text) {
  const auto comma = text.find(',');
  fp8sim::RoundSpec r = fp8sim::parse_rounding(text.substr(0, comma));
  std::size_t p = comma;
  while (p != std::string::npos) {
    const std::size_t q = text.find(',', p + 1);
    const std::string item =
        text.substr(p + 1, q == std::string::npos ? std::string::npos : q - p - 1);
    if (item == "tininess=before") {
      r.tininess = fp8sim::Tininess::before;
    } else if (item == "tininess=after") {
      r.tininess = fp8sim::Tininess::after;
    } else if (item == "ftz=1") {
      r.ftz = true;
    } else if (item == "ftz=0") {
      r.ftz = false;
    } else {
      throw std::invalid_argument(
          fmt::format("rounding {}: unknown option {} (allowed: tininess=before|after, ftz=0|1)",
                      fp8sim::shown(text), fp8sim::shown(item)));
    }
    p = q;
  }
  return r;
}

const Format& cached_format(const std::string& name) {
  thread_local std::map<std::string, Format> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, fp8sim::parse_format(name)).first;
  return it->second;
}

}  // namespace

extern "C" {

const char* fp8sim_last_error(void) {
  return last_error.c_str();
}

void* fp8sim_mac_new(const char* spec) {
  return guarded<void*>(nullptr, [&]() -> void* {
    if (spec == nullptr) throw std::invalid_argument("the spec is NULL");
    auto h = std::make_unique<Handle>();
    Unit& u = h->unit;
    u.m = fp8sim::parse_mac(spec);
    fp8sim::validate(u.m);
    u.step.kind = vectors::Kind::mac_step;
    u.step.mac = u.m;
    vectors::validate(u.step);
    u.step_random = vectors::random_steps(u.step);
    u.spec_text = fp8sim::to_string(u.m);
    return h.release();
  });
}

void fp8sim_mac_free(void* mac) {
  auto* h = static_cast<Handle*>(mac);
  if (h == nullptr || h->magic != kMagic) return;
  h->magic = 0;
  delete h;
}

uint64_t fp8sim_mac_step(void* mac, uint64_t acc, uint64_t a, uint64_t b, uint32_t random_bits,
                         uint32_t* flags) {
  if (flags != nullptr) *flags = 0;
  return guarded<uint64_t>(0, [&]() -> uint64_t {
    const Unit& u = unit_of(mac);
    vectors::Case c;
    c.a = {checked_code(u.m.a, a, "a")};
    c.b = {checked_code(u.m.b, b, "b")};
    c.c = checked_code(u.m.acc, acc, "acc");
    int at = 0;
    for (const vectors::RandomStep& r : u.step_random) {  // acc bits low, then product bits
      const std::uint64_t mask = r.bits >= 32 ? 0xffffffffull : (std::uint64_t{1} << r.bits) - 1;
      c.random.push_back(static_cast<std::uint32_t>((random_bits >> at) & mask));
      at += r.bits;
    }
    const vectors::Outcome g = vectors::golden_outcome(u.step, c);
    if (flags != nullptr) *flags = g.flags;
    return g.code;
  });
}

void fp8sim_dot_begin(void* mac, uint64_t c, uint32_t has_c, uint64_t seed, uint64_t index) {
  (void)guarded<int>(0, [&] {
    Unit& u = unit_of(mac);
    const Format& cf = u.m.c ? *u.m.c : u.m.acc;
    u.c = has_c ? checked_code(cf, c, "c") : 0;
    u.has_c = has_c != 0;
    u.seed = seed;
    u.index = index;
    u.a.clear();
    u.b.clear();
    u.open = true;
    return 1;
  });
}

void fp8sim_dot_push(void* mac, uint64_t a, uint64_t b) {
  (void)guarded<int>(0, [&] {
    Unit& u = unit_of(mac);
    if (!u.open) throw std::invalid_argument("fp8sim_dot_push without fp8sim_dot_begin");
    if (u.a.size() >= (std::size_t{1} << 24))
      throw std::invalid_argument("a dot product of more than 2^24 terms");
    u.a.push_back(checked_code(u.m.a, a, "a"));
    u.b.push_back(checked_code(u.m.b, b, "b"));
    return 1;
  });
}

uint64_t fp8sim_dot_end(void* mac, uint32_t* flags) {
  if (flags != nullptr) *flags = 0;
  return guarded<uint64_t>(0, [&]() -> uint64_t {
    Unit& u = unit_of(mac);
    if (!u.open) throw std::invalid_argument("fp8sim_dot_end without fp8sim_dot_begin");
    u.open = false;
    std::optional<std::uint64_t> c;
    if (u.has_c) c = u.c;
    const fp8sim::golden::MacOutcome g = fp8sim::golden::mac_dot(u.m, u.a, u.b, c, u.seed, u.index);
    if (flags != nullptr) *flags = g.flags;
    return g.code;
  });
}

uint32_t fp8sim_mac_width(void* mac, const char* which) {
  return guarded<uint32_t>(0, [&]() -> uint32_t {
    const Unit& u = unit_of(mac);
    const std::string w = which == nullptr ? "" : which;
    if (w == "a") return static_cast<uint32_t>(u.m.a.width());
    if (w == "b") return static_cast<uint32_t>(u.m.b.width());
    if (w == "acc") return static_cast<uint32_t>(u.m.acc.width());
    if (w == "c") return static_cast<uint32_t>((u.m.c ? *u.m.c : u.m.acc).width());
    if (w == "result") return static_cast<uint32_t>(fp8sim::result_format(u.m).width());
    if (w == "random") {
      int bits = 0;
      for (const auto& r : u.step_random) bits += r.bits;
      return static_cast<uint32_t>(bits);
    }
    throw std::invalid_argument(
        fmt::format("unknown width {} (allowed: a, b, c, acc, result, random)", fp8sim::shown(w)));
  });
}

const char* fp8sim_mac_spec(void* mac) {
  return guarded<const char*>(nullptr, [&] { return unit_of(mac).spec_text.c_str(); });
}

uint64_t fp8sim_quantize(const char* format, const char* rounding, uint64_t value_bits,
                         uint32_t random_bits, uint32_t* flags) {
  if (flags != nullptr) *flags = 0;
  return guarded<uint64_t>(0, [&]() -> uint64_t {
    if (format == nullptr || rounding == nullptr)
      throw std::invalid_argument("the format or rounding is NULL");
    const Format& f = cached_format(format);
    const fp8sim::RoundSpec r = parse_round_text(rounding);
    fp8sim::validate(r);
    std::uint32_t bits = 0;
    if (r.mode == fp8sim::RoundingMode::sr)
      bits = r.sr_bits >= 32 ? random_bits : random_bits & ((std::uint32_t{1} << r.sr_bits) - 1);
    static const Format f64 = *fp8sim::find_preset("fp64");
    const fp8sim::golden::Result g = fp8sim::golden::convert(f64, value_bits, f, r, bits);
    if (flags != nullptr) *flags = g.flags;
    return g.code;
  });
}

}  // extern "C"
