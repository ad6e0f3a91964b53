/* Input checks that would otherwise allocate: R/checks.R calls these on data matrices,
 * where is.finite() would build a logical copy of the whole matrix. */
#include "advtrain.h"

/* The 1-based position (as a double, for long vectors) of the first element of a
 * numeric vector that is NA, NaN or infinite; 0 when all are finite. */
SEXP C_check_finite(SEXP x) {
  R_xlen_t n = XLENGTH(x), pos = 0;
  if (TYPEOF(x) == REALSXP) {
    const double *v = REAL_RO(x); /* (REAL() would make an ALTREP wrapper copy its data) */
    for (R_xlen_t i = 0; i < n; i++)
      if (!isfinite(v[i])) { /* (C99's macro: R_FINITE is a function call per element) */
        pos = i + 1;
        break;
      }
  } else if (TYPEOF(x) == INTSXP || TYPEOF(x) == LGLSXP) {
    const int *v = TYPEOF(x) == INTSXP ? INTEGER_RO(x) : LOGICAL_RO(x);
    for (R_xlen_t i = 0; i < n; i++)
      if (v[i] == NA_INTEGER) {
        pos = i + 1;
        break;
      }
  } else {
    Rf_error("check_finite: a numeric vector is needed");
  }
  return ScalarReal((double)pos);
}
