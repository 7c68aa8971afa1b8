/* scripts/cpfloat_shim.c — a plain C entry point into CPFloat (Fasi and Mikaitis) for
 * `fp8sim bench quantize --cpfloat LIB`: CPFloat is header-only and its options are a
 * struct, so the benchmark loads this small shared library instead of reproducing that
 * struct. Built by scripts/build-cpfloat against a CPFloat source tree outside this project
 * (nothing of CPFloat is copied here). */
#include <omp.h>
#include <stddef.h>

#include "cpfloat_binary32.h"

/* y[i] = x[i] rounded to a format of `precision` significant bits, exponents emin..emax,
 * subnormals, no saturation (overflow to Inf): round 1 = nearest even, 5 = stochastic with
 * proportional probabilities. Returns CPFloat's status (0: success). */
int fp8sim_cpfloat_round(float *y, const float *x, size_t n, int precision, int emin, int emax,
                         int round, int threads) {
  static optstruct *opts = NULL;
  if (opts == NULL) opts = init_optstruct();
  opts->precision = precision;
  opts->emin = emin;
  opts->emax = emax;
  opts->explim = CPFLOAT_EXPRANGE_TARG;
  opts->infinity = CPFLOAT_INF_USE;
  opts->subnormal = CPFLOAT_SUBN_USE;
  opts->saturation = CPFLOAT_SAT_NO;
  opts->round = round == 5 ? CPFLOAT_RND_SP : CPFLOAT_RND_NE;
  opts->flip = CPFLOAT_SOFTERR_NO;
  opts->p = 0;
  omp_set_num_threads(threads);
  return cpfloatf(y, x, n, opts);
}
