/* OpenMP thread counts. The package never calls omp_set_num_threads(): every parallel
 * region names num_threads(nth) with nth passed from R (adv_threads()). */
#include "advtrain.h"

int adv_nthreads(SEXP threads) {
  int n = asInteger(threads);
  return (n == NA_INTEGER || n < 1) ? 1 : n;
}

/* c(openmp available, processors, omp thread limit) */
SEXP C_threads_info(void) {
  SEXP out = PROTECT(allocVector(INTSXP, 3));
#ifdef _OPENMP
  INTEGER(out)[0] = 1;
  INTEGER(out)[1] = omp_get_num_procs();
  INTEGER(out)[2] = omp_get_thread_limit();
#else
  INTEGER(out)[0] = 0;
  INTEGER(out)[1] = 1;
  INTEGER(out)[2] = 1;
#endif
  UNPROTECT(1);
  return out;
}
