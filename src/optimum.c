/* The optimal robust linear model theta*(eps) and its risk R*(eps)
 * (Propositions 1 and 8; MATH.md section 5).
 *
 * L2: the stationarity condition is (Sigma + kappa I) theta = Sigma theta0 with kappa a
 * scalar function of theta. After one eigendecomposition Sigma = U diag(lambda) U',
 * theta(kappa) = U diag(lambda / (lambda + kappa)) U' theta0 costs O(d) in the rotated
 * basis, so each eps is a one-dimensional root search in log(kappa).
 *
 * Linf: eq. (9) depends on theta through q and ||theta||_1 only, so theta* lies on the
 * population LASSO path argmin ||theta - theta0||^2_Sigma + lambda ||theta||_1, and its
 * lambda solves a scalar fixed point found the same way. */
#include "advtrain.h"
#include <float.h>

/* Brent's bracketing root finder; needs fa and fb of opposite signs (or zero). */
double adv_brent_root(double (*f)(double, void *), void *info, double a, double b,
                      double fa, double fb, double tol, int maxit, int *status) {
  double c = b, fc = fb, d = b - a, e = d;
  for (int it = 0; it < maxit; it++) {
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (fabs(fc) < fabs(fb)) {
      a = b; b = c; c = a;
      fa = fb; fb = fc; fc = fa;
    }
    double tol1 = 2 * DBL_EPSILON * fabs(b) + 0.5 * tol, xm = 0.5 * (c - b);
    if (fabs(xm) <= tol1 || fb == 0) {
      *status = 0;
      return b;
    }
    if (fabs(e) >= tol1 && fabs(fa) > fabs(fb)) {
      /* inverse quadratic interpolation, or secant when only two points differ */
      double s = fb / fa, p, q;
      if (a == c) {
        p = 2 * xm * s;
        q = 1 - s;
      } else {
        double qq = fa / fc, r = fb / fc;
        p = s * (2 * xm * qq * (qq - r) - (b - a) * (r - 1));
        q = (qq - 1) * (r - 1) * (s - 1);
      }
      if (p > 0) q = -q; else p = -p;
      if (2 * p < fmin(3 * xm * q - fabs(tol1 * q), fabs(e * q))) {
        e = d;
        d = p / q;
      } else {
        d = xm;
        e = d;
      }
    } else {
      d = xm;
      e = d;
    }
    a = b;
    fa = fb;
    b += fabs(d) > tol1 ? d : (xm > 0 ? tol1 : -tol1);
    fb = f(b, info);
  }
  *status = 1;
  return b;
}

/* ---------------------------------------------------------------- L2 ---- */
typedef struct {
  const double *lam, *w; /* eigenvalues, U' theta0 */
  int d;
  double eps, sigma2;
  double q, tn; /* filled by each evaluation */
} l2_info;

static void l2_eval(double kappa, l2_info *s) {
  double tn2 = 0, q = s->sigma2;
  for (int i = 0; i < s->d; i++) {
    double den = s->lam[i] + kappa;
    double a = s->lam[i] * s->w[i] / den, dev = kappa * s->w[i] / den;
    tn2 += a * a;
    q += s->lam[i] * dev * dev;
  }
  s->tn = sqrt(tn2);
  s->q = q;
}

/* log F(kappa) - log(kappa) with F the right side of the kappa fixed point */
static double l2_fixed(double tau, void *info) {
  l2_info *s = (l2_info *)info;
  double kappa = exp(tau);
  l2_eval(kappa, s);
  double sq = sqrt(s->q), e = s->eps;
  double num = e * e + e * ADV_C0 * sq / s->tn, den = 1 + e * ADV_C0 * s->tn / sq;
  return log(num / den) - tau;
}

/* Bracket a sign change of a function that is positive far left and negative far
 * right, starting from [lo, hi] and widening by step. Returns 0 on success. */
static int bracket(double (*f)(double, void *), void *info, double *lo, double *hi,
                   double *flo, double *fhi, double step) {
  *flo = f(*lo, info);
  for (int k = 0; k < 200 && *flo <= 0; k++) *flo = f(*lo -= step, info);
  *fhi = f(*hi, info);
  for (int k = 0; k < 200 && *fhi >= 0; k++) *fhi = f(*hi += step, info);
  return (*flo > 0 && *fhi < 0) ? 0 : 1;
}

SEXP C_optimum_l2(SEXP Sigma, SEXP theta0, SEXP sigma2_, SEXP eps_) {
  int d = LENGTH(theta0), m = LENGTH(eps_), nprot = 0;
  const double *eps = REAL(eps_), sigma2 = asReal(sigma2_);
  double *lam = (double *)R_alloc(d, sizeof(double));
  double *U = (double *)R_alloc((size_t)d * d, sizeof(double));
  double *w = (double *)R_alloc(d, sizeof(double));
  int info = adv_syevr(d, REAL(Sigma), lam, U);
  if (info != 0) Rf_error("LAPACK dsyevr failed (info = %d)", info);
  adv_gemv(1, d, d, 1.0, U, REAL(theta0), 0.0, w);

  double v2 = sigma2, sb2 = 0;
  for (int i = 0; i < d; i++) {
    v2 += lam[i] * w[i] * w[i];
    sb2 += lam[i] * lam[i] * w[i] * w[i];
  }
  double eps_c = sqrt(sb2) / (ADV_C0 * sqrt(v2));

  SEXP theta = PROTECT(allocMatrix(REALSXP, d, m)); nprot++;
  SEXP risk = PROTECT(allocVector(REALSXP, m)); nprot++;
  SEXP std = PROTECT(allocVector(REALSXP, m)); nprot++;
  SEXP kap = PROTECT(allocVector(REALSXP, m)); nprot++;
  SEXP stat = PROTECT(allocVector(INTSXP, m)); nprot++;
  /* rotated solutions, one column per eps, rotated back by one dgemm at the end */
  double *A = (double *)R_alloc((size_t)d * (m > 0 ? m : 1), sizeof(double));

  l2_info s = {lam, w, d, 0, sigma2, 0, 0};
  for (int k = 0; k < m; k++) {
    double e = eps[k], *a = A + (size_t)k * d;
    INTEGER(stat)[k] = 0;
    if (e == 0 || e >= eps_c) {
      double f = e == 0 ? 1.0 : 0.0;
      for (int i = 0; i < d; i++) a[i] = f * w[i];
      REAL(risk)[k] = e == 0 ? sigma2 : v2;
      REAL(std)[k] = REAL(risk)[k];
      REAL(kap)[k] = e == 0 ? 0.0 : NA_REAL;
      continue;
    }
    s.eps = e;
    double lo = -5, hi = 5, flo, fhi;
    int st = bracket(l2_fixed, &s, &lo, &hi, &flo, &fhi, 5.0);
    double tau = st ? NA_REAL : adv_brent_root(l2_fixed, &s, lo, hi, flo, fhi, 1e-15, 500, &st);
    INTEGER(stat)[k] = st;
    double kappa = st ? NA_REAL : exp(tau);
    l2_eval(kappa, &s);
    for (int i = 0; i < d; i++) a[i] = lam[i] * w[i] / (lam[i] + kappa);
    double sq = sqrt(s.q);
    REAL(risk)[k] = s.q + e * e * s.tn * s.tn + 2 * e * ADV_C0 * s.tn * sq;
    REAL(std)[k] = s.q;
    REAL(kap)[k] = kappa;
    if (k % 16 == 15) R_CheckUserInterrupt();
  }
  if (m > 0 && d > 0) adv_gemm(0, 0, d, m, d, 1.0, U, d, A, d, 0.0, REAL(theta), d);

  const char *nms[] = {"theta", "risk", "std_risk", "kappa", "status", "eps_c", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms)); nprot++;
  SET_VECTOR_ELT(out, 0, theta);
  SET_VECTOR_ELT(out, 1, risk);
  SET_VECTOR_ELT(out, 2, std);
  SET_VECTOR_ELT(out, 3, kap);
  SET_VECTOR_ELT(out, 4, stat);
  SET_VECTOR_ELT(out, 5, ScalarReal(eps_c));
  UNPROTECT(nprot);
  return out;
}

/* -------------------------------------------------------------- Linf ---- */
typedef struct {
  const double *S, *theta0, *b; /* Sigma, theta0, Sigma theta0 */
  int d, sweeps_max;
  double eps, sigma2;
  double *theta, *c, *work; /* current lasso solution, c = b - Sigma theta */
  double q, t;
  int fail;
} linf_info;

/* Population LASSO argmin ||theta - theta0||^2_Sigma + lambda ||theta||_1 by cyclic
 * coordinate descent, warm-started from s->theta; then q and t = ||theta||_1. */
static void linf_lasso(double lambda, linf_info *s) {
  int d = s->d;
  const double *S = s->S;
  double *th = s->theta, *c = s->c, half = lambda / 2;
  double scale = 0;
  for (int j = 0; j < d; j++) scale = fmax(scale, fabs(s->theta0[j]));
  int sweep;
  for (sweep = 0; sweep < s->sweeps_max; sweep++) {
    double maxdelta = 0;
    for (int j = 0; j < d; j++) {
      double sjj = S[(size_t)j * d + j], old = th[j];
      double z = c[j] + sjj * old; /* b_j - sum_{k != j} S_jk theta_k */
      double nw = z > half ? (z - half) / sjj : (z < -half ? (z + half) / sjj : 0.0);
      double delta = nw - old;
      if (delta != 0) {
        const double *col = S + (size_t)j * d;
        for (int i = 0; i < d; i++) c[i] -= col[i] * delta;
        th[j] = nw;
        maxdelta = fmax(maxdelta, fabs(delta) * sqrt(sjj));
      }
    }
    if (maxdelta <= 1e-15 * (scale > 0 ? scale : 1)) break;
  }
  if (sweep == s->sweeps_max) s->fail = 1;
  /* refresh c against drift, then q and t */
  adv_gemv(0, d, d, 1.0, S, th, 0.0, s->work);
  double t = 0;
  for (int j = 0; j < d; j++) {
    c[j] = s->b[j] - s->work[j];
    t += fabs(th[j]);
    s->work[j] = th[j] - s->theta0[j];
  }
  double *se = s->work + d;
  adv_gemv(0, d, d, 1.0, S, s->work, 0.0, se);
  s->q = adv_dot(d, s->work, se) + s->sigma2;
  s->t = t;
}

/* lambda/2 minus the right side of the Linf fixed point (increasing through zero) */
static double linf_fixed(double lambda, void *info) {
  linf_info *s = (linf_info *)info;
  linf_lasso(lambda, s);
  double sq = sqrt(s->q), e = s->eps;
  return lambda / 2 - (e * e * s->t + e * ADV_C0 * sq) / (1 + e * ADV_C0 * s->t / sq);
}

SEXP C_optimum_linf(SEXP Sigma, SEXP theta0, SEXP sigma2_, SEXP eps_) {
  int d = LENGTH(theta0), m = LENGTH(eps_), nprot = 0;
  const double *eps = REAL(eps_), *S = REAL(Sigma), *t0 = REAL(theta0);
  double sigma2 = asReal(sigma2_);
  double *b = (double *)R_alloc(d, sizeof(double));
  adv_gemv(0, d, d, 1.0, S, t0, 0.0, b);
  double v2 = sigma2 + adv_dot(d, t0, b), bmax = 0;
  for (int j = 0; j < d; j++) bmax = fmax(bmax, fabs(b[j]));
  double eps_c = bmax / (ADV_C0 * sqrt(v2));

  SEXP theta = PROTECT(allocMatrix(REALSXP, d, m)); nprot++;
  SEXP risk = PROTECT(allocVector(REALSXP, m)); nprot++;
  SEXP std = PROTECT(allocVector(REALSXP, m)); nprot++;
  SEXP lam = PROTECT(allocVector(REALSXP, m)); nprot++;
  SEXP stat = PROTECT(allocVector(INTSXP, m)); nprot++;

  linf_info s = {S, t0, b, d, 100000, 0, sigma2, NULL, NULL, NULL, 0, 0, 0};
  s.theta = (double *)R_alloc(d, sizeof(double));
  s.c = (double *)R_alloc(d, sizeof(double));
  s.work = (double *)R_alloc(2 * (size_t)d, sizeof(double));
  for (int j = 0; j < d; j++) {
    s.theta[j] = 0;
    s.c[j] = b[j];
  }
  for (int k = 0; k < m; k++) {
    double e = eps[k], *th = REAL(theta) + (size_t)k * d;
    INTEGER(stat)[k] = 0;
    if (e == 0 || e >= eps_c) {
      for (int j = 0; j < d; j++) th[j] = e == 0 ? t0[j] : 0.0;
      REAL(risk)[k] = REAL(std)[k] = e == 0 ? sigma2 : v2;
      REAL(lam)[k] = e == 0 ? 0.0 : NA_REAL;
      continue;
    }
    s.eps = e;
    s.fail = 0;
    double lo = 0, hi = 2 * bmax;
    /* at lambda = 0 the lasso solution is theta0 itself: t = ||theta0||_1, q = sigma2 */
    double t0n = 0;
    for (int j = 0; j < d; j++) t0n += fabs(t0[j]);
    double sqs = sqrt(sigma2);
    double flo = -(e * e * t0n + e * ADV_C0 * sqs) / (1 + e * ADV_C0 * t0n / sqs);
    double fhi = linf_fixed(hi, &s);
    int st = 0;
    double lambda = adv_brent_root(linf_fixed, &s, lo, hi, flo, fhi, 1e-15 * hi, 500, &st);
    linf_fixed(lambda, &s); /* leave theta at the root */
    INTEGER(stat)[k] = st || s.fail;
    for (int j = 0; j < d; j++) th[j] = s.theta[j];
    double sq = sqrt(s.q);
    REAL(risk)[k] = s.q + e * e * s.t * s.t + 2 * e * ADV_C0 * s.t * sq;
    REAL(std)[k] = s.q;
    REAL(lam)[k] = lambda;
    R_CheckUserInterrupt();
  }

  const char *nms[] = {"theta", "risk", "std_risk", "lambda", "status", "eps_c", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms)); nprot++;
  SET_VECTOR_ELT(out, 0, theta);
  SET_VECTOR_ELT(out, 1, risk);
  SET_VECTOR_ELT(out, 2, std);
  SET_VECTOR_ELT(out, 3, lam);
  SET_VECTOR_ELT(out, 4, stat);
  SET_VECTOR_ELT(out, 5, ScalarReal(eps_c));
  UNPROTECT(nprot);
  return out;
}
