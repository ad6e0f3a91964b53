/* Population risk of the linear model under the surrogate attack (MATH.md section 4):
 * with r ~ N(0, q) the attacked residual is sign(r) (|r| + shift(|r|)), so
 *   R_xi = E (|r| + shift(|r|))^2 = q + 2 int_0^inf (2 u shift(u) + shift(u)^2) dN(0,q),
 * a one-dimensional integral of a smooth function on the half line. The shrinkage
 * u / (u + c) has its bend at u ~ c, so the half line is cut on a geometric grid
 * around the bends and each piece goes to QUADPACK's dqags. */
#include "advtrain.h"
#include <R_ext/Applic.h>
#include <Rmath.h>

typedef struct {
  const double *theta;
  int d, norm;
  double eps, xi, sq, tn1, tn2;
} surr_info;

static void surr_integrand(double *z, int n, void *ex) {
  const surr_info *s = (const surr_info *)ex;
  for (int k = 0; k < n; k++) {
    double u = s->sq * z[k];
    double sh = lin_attack_shift(u, s->theta, s->d, s->tn2, s->tn1, s->norm, s->eps,
                                 s->xi) - u;
    /* standard normal density in z; the change of variables absorbs sqrt(q) */
    z[k] = (2 * u * sh + sh * sh) * M_1_SQRT_2PI * exp(-0.5 * z[k] * z[k]);
  }
}

double risk_surrogate(double q, const double *theta, int d, int norm, double eps,
                      double xi, int *ier) {
  surr_info s = {theta, d, norm, eps, xi, sqrt(q), 0, 0};
  for (int j = 0; j < d; j++) {
    s.tn1 += fabs(theta[j]);
    s.tn2 += theta[j] * theta[j];
  }
  s.tn2 = sqrt(s.tn2);
  *ier = 0;
  if (eps == 0 || s.tn1 == 0) return q;

  /* the smallest bend in z: xi / (2 |theta_j| sqrt(q)), over the coordinates used */
  double big = norm == ADV_L2 ? s.tn2 : 0;
  if (norm == ADV_LINF)
    for (int j = 0; j < d; j++) big = fmax(big, fabs(theta[j]));
  double zlo = xi > 0 ? xi / (2 * big * s.sq) / 8 : 1.0;
  const double zmax = 40; /* the normal density is below 1e-300 beyond */
  if (zlo < 1e-12) zlo = 1e-12;
  if (zlo > 1) zlo = 1;

  int limit = 200, lenw = 4 * limit, last = 0, neval = 0, ierk = 0;
  int *iwork = (int *)R_alloc(limit, sizeof(int));
  double *work = (double *)R_alloc(lenw, sizeof(double));
  double epsabs = 0, epsrel = 1e-13, total = 0, abserr = 0;
  double lo = 0, hi = zlo;
  while (lo < zmax) {
    double res = 0, err = 0;
    Rdqags(surr_integrand, &s, &lo, &hi, &epsabs, &epsrel, &res, &err, &neval, &ierk,
           &limit, &lenw, &last, iwork, work);
    /* ier = 2 (round-off) at this tolerance still leaves err tiny; judge by err */
    if (ierk != 0 && ierk != 2) *ier = ierk;
    total += res;
    abserr += err;
    lo = hi;
    hi = fmin(4 * hi, zmax);
  }
  double val = q + 2 * total;
  if (abserr > 1e-11 * val) *ier = *ier ? *ier : 2;
  return val;
}

/* .Call: risks for each eps given q (scalar) and theta */
SEXP C_risk_surrogate(SEXP theta, SEXP q, SEXP eps, SEXP norm, SEXP xi) {
  int d = LENGTH(theta), m = LENGTH(eps);
  SEXP out = PROTECT(allocVector(REALSXP, m));
  SEXP status = PROTECT(allocVector(INTSXP, m));
  for (int k = 0; k < m; k++) {
    int ier = 0;
    REAL(out)[k] = risk_surrogate(asReal(q), REAL(theta), d, asInteger(norm),
                                  REAL(eps)[k], asReal(xi), &ier);
    INTEGER(status)[k] = ier;
  }
  setAttrib(out, install("status"), status);
  UNPROTECT(2);
  return out;
}
