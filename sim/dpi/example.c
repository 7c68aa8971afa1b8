/* sim/dpi/example.c — the C ABI of libfp8sim_dpi.so (fp8sim_dpi.h) from plain C, as a hardware
 * testbench calls it: one MAC step, a stochastic step with chosen random bits, a whole dot
 * product, a conversion, and a refused spec. Run as a test: exit status 0 when every result
 * is the one worked out by hand in the comments. Build by hand:
 *   cc -std=c11 example.c -I<fp8sim> -L<build>/sim/dpi -lfp8sim_dpi -o example */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim/dpi/fp8sim_dpi.h"

static int failures = 0;

static void expect(const char* what, uint64_t got, uint64_t want, uint32_t got_flags,
                   uint32_t want_flags) {
  const int ok = got == want && got_flags == want_flags;
  printf("%-44s %" PRIX64 " flags %02" PRIX32 " %s\n", what, got, got_flags, ok ? "ok" : "WRONG");
  if (!ok) {
    printf("  wanted %" PRIX64 " flags %02" PRIX32 "\n", want, want_flags);
    ++failures;
  }
}

int main(void) {
  uint32_t flags = 0;

  /* Mellempudi et al. 2019: e5m2 inputs, fp32 accumulator (rne), e5m2 output. */
  void* mac = fp8sim_mac_new("mellempudi2019");
  if (mac == NULL) {
    printf("fp8sim_mac_new: %s\n", fp8sim_last_error());
    return 1;
  }
  printf("unit: %s\n", fp8sim_mac_spec(mac));
  printf("widths: a %u, b %u, acc %u, result %u, random %u\n", fp8sim_mac_width(mac, "a"),
         fp8sim_mac_width(mac, "b"), fp8sim_mac_width(mac, "acc"), fp8sim_mac_width(mac, "result"),
         fp8sim_mac_width(mac, "random"));

  /* One step: acc 1.0 (3F800000) + a 1.0 (e5m2 3C) * b 2.0 (e5m2 40) = 3.0 (40400000), exact. */
  uint64_t acc = fp8sim_mac_step(mac, 0x3F800000u, 0x3C, 0x40, 0, &flags);
  expect("mac_step 1 + 1*2", acc, 0x40400000u, flags, 0);

  /* A dot product: C = 1.0, products 1*2 and 2*2: 7.0, output e5m2 7 = 1.75 * 2^2 = 47. */
  fp8sim_dot_begin(mac, 0x3F800000u, 1, 0, 0);
  fp8sim_dot_push(mac, 0x3C, 0x40);
  fp8sim_dot_push(mac, 0x40, 0x40);
  uint64_t d = fp8sim_dot_end(mac, &flags);
  expect("dot 1 + 1*2 + 2*2 (e5m2 out)", d, 0x47, flags, 0);
  fp8sim_mac_free(mac);

  /* Stochastic rounding into bf16 with 8 random bits: 1.0 + 2^-9 lies a quarter of the way
   * from 1.0 (3F80) to 1 + 2^-7 (3F81): the top 8 discarded bits are 64, so it rounds up
   * iff 64 + random >= 256. a = 2^-9 in e5m2 is 18, b = 1.0 is 3C. */
  void* sr = fp8sim_mac_new("ab=e5m2,acc=bf16,round=sr:8");
  if (sr == NULL) {
    printf("fp8sim_mac_new: %s\n", fp8sim_last_error());
    return 1;
  }
  uint64_t r = fp8sim_mac_step(sr, 0x3F80, 0x18, 0x3C, 0x00, &flags);
  expect("sr:8 step, random 00", r, 0x3F80, flags, 0x01);
  r = fp8sim_mac_step(sr, 0x3F80, 0x18, 0x3C, 0xBF, &flags);
  expect("sr:8 step, random BF", r, 0x3F80, flags, 0x01);
  r = fp8sim_mac_step(sr, 0x3F80, 0x18, 0x3C, 0xC0, &flags);
  expect("sr:8 step, random C0", r, 0x3F81, flags, 0x01);
  fp8sim_mac_free(sr);

  /* 0.1 (binary64 3FB999999999999A) into e4m3fn, rne: 1.6 * 2^-4 -> 1.625 * 2^-4 = 1D, inexact. */
  r = fp8sim_quantize("e4m3fn", "rne", 0x3FB999999999999Aull, 0, &flags);
  expect("quantize 0.1 -> e4m3fn", r, 0x1D, flags, 0x01);
  /* 500 into e4m3fn (no Inf, max 448): overflow to NaN (7F), overflow|inexact. */
  r = fp8sim_quantize("e4m3fn", "rne", 0x407F400000000000ull, 0, &flags);
  expect("quantize 500 -> e4m3fn", r, 0x7F, flags, 0x05);

  /* A refused spec: NULL, and the reason. */
  void* bad = fp8sim_mac_new("ab=e5m2,acc=fp99");
  if (bad != NULL || strlen(fp8sim_last_error()) == 0) {
    printf("a bad spec was not refused\n");
    ++failures;
  } else {
    printf("refused as expected: %s\n", fp8sim_last_error());
  }
  /* A code too wide for its format: 0, and the reason. */
  void* m2 = fp8sim_mac_new("fp32-fma");
  if (fp8sim_mac_step(m2, 0, 0x1FF, 0x3C, 0, &flags) != 0 || strlen(fp8sim_last_error()) == 0) {
    printf("a 9-bit e5m2 code was not refused\n");
    ++failures;
  } else {
    printf("refused as expected: %s\n", fp8sim_last_error());
  }
  fp8sim_mac_free(m2);

  printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
