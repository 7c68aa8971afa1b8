/* sim/dpi/fp8sim_dpi.h — fp8sim's golden model behind a plain C ABI, for hardware
 * testbenches: a SystemVerilog testbench imports these functions through DPI-C (every
 * argument is a DPI-friendly type: chandle = void*, string = const char*, longint unsigned =
 * uint64_t, int unsigned = uint32_t, output int unsigned = uint32_t*), a C or C++
 * testbench links libfp8sim_dpi.so.
 *
 * Codes are right-aligned bit patterns of their formats. Flags are the Berkeley
 * SoftFloat/TestFloat bits: 0x01 inexact, 0x02 underflow, 0x04 overflow, 0x10 invalid.
 * Random bits: the stochastic-rounding bits a step consumes (as in the vector files);
 * functions that round deterministically ignore them.
 * No function throws or aborts: on a bad argument a function returns 0 (or NULL), and
 * fp8sim_last_error() says why (empty when the last call succeeded); it is per thread. */
#ifndef FP8SIM_DPI_H
#define FP8SIM_DPI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The message of the last failed call on this thread ("" after a success). */
const char* fp8sim_last_error(void);

/* A MAC unit for a spec in fp8sim's text form ("mellempudi2019", "ab=e5m2,acc=fp32,round=rne",
 * a GPU preset such as "h100-fp8" ...). NULL on a bad spec. Free it with fp8sim_mac_free. */
void* fp8sim_mac_new(const char* spec);
void fp8sim_mac_free(void* mac);

/* One sequential MAC step of the unit's accumulator: acc + a*b rounded into the accumulator
 * format with the unit's accumulator rounding (the product exact unless the spec rounds
 * products). Returns the new accumulator code; *flags receives this step's flags. */
uint64_t fp8sim_mac_step(void* mac, uint64_t acc, uint64_t a, uint64_t b, uint32_t random_bits,
                         uint32_t* flags);

/* A whole dot product through the unit's full structure (sequential, chunked or multiterm,
 * output conversion included), as `fp8sim mac` computes it: terms are pushed one by one
 * after fp8sim_dot_begin (c: the addend's code when has_c is non-zero; seed and index key
 * the random bits exactly as `fp8sim vectors gen` does), fp8sim_dot_end returns the result
 * code in the unit's result format and its flags. One dot product per handle at a time. */
void fp8sim_dot_begin(void* mac, uint64_t c, uint32_t has_c, uint64_t seed, uint64_t index);
void fp8sim_dot_push(void* mac, uint64_t a, uint64_t b);
uint64_t fp8sim_dot_end(void* mac, uint32_t* flags);

/* The unit's formats' widths in bits (inputs a and b, accumulator, result). */
uint32_t fp8sim_mac_width(void* mac, const char* which /* "a", "b", "acc", "result" */);

/* Quantize one binary64 value (its bits) into `format` with `rounding` ("rne", "sr:8", ...);
 * random_bits as in the quantize vectors. Returns the code; *flags the flags. */
uint64_t fp8sim_quantize(const char* format, const char* rounding, uint64_t value_bits,
                         uint32_t random_bits, uint32_t* flags);

/* Additions (not used by the functions above):
 * the unit's canonical text form (parse_mac(text) gives the unit back), valid until
 * fp8sim_mac_free; NULL on a bad handle. fp8sim_mac_width also takes "c" (the addend C) and
 * "random" (the random bits of one fp8sim_mac_step: the accumulator's in the low bits, then
 * the product rounding's). fp8sim_quantize's rounding may carry ",tininess=before" and
 * ",ftz=1" (as the quantize vectors' header says). */
const char* fp8sim_mac_spec(void* mac);

#ifdef __cplusplus
}
#endif

#endif /* FP8SIM_DPI_H */
