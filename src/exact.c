/* The certificate of adv_lm(method = "exact"): a lower bound on the minimum of
 *   F(beta) = sum_i w_i (|r_i| + eps ||theta||_*)^2 / W,   r = Z beta - y, W = sum w_i,
 * from a feasible point of its dual, built from any primal beta. The solvers (the
 * active-set engine of adv_lasso() at lambda = 0, the reweighted ridge of lm.c) only
 * propose beta; this room decides whether it is proven optimal, so one certificate
 * serves every engine and every shape. Weights w (NULL = all 1) enter only here and in
 * the objective: integer weights equal replicated rows.
 *
 * Dual (weak duality, for any alpha, lambda with |alpha_i| <= lambda_i,
 * ||X'alpha||_o <= eps sum lambda_i (o the norm dual to ||.||_*) and, with an
 * intercept, sum alpha_i = 0):  F >= -(2/W) alpha'y - (1/W) sum lambda_i^2 / w_i,
 * since w s^2 >= 2 lambda s - lambda^2 / w and sum alpha_i r_i >= -eps t sum lambda_i
 * - alpha'y. At the minimiser lambda_i = w_i s_i, s_i = |r_i| + eps t, and
 * alpha_i = lambda_i sign(r_i) off the kink set K = {r_i = 0}; on K, alpha solves
 * X_K'alpha_K = -eps (sum lambda) u - X_N'alpha_N (u a subgradient of the norm at
 * theta; Linf: only the coordinates with theta_j != 0) in the least-squares sense.
 * K is not known exactly near the minimiser, so several thresholds are tried and the
 * best bound is kept; every candidate is made exactly feasible, so every bound is
 * valid. */
#include "advtrain.h"
#include "exact.h"
#include "vec.h"
#include <string.h>

/* F at beta (r = Z beta - y into r, the norm of theta into *tn) */
double cx_objective(const double *z, const double *y, const double *w,
                           const double *beta, int n, int d, int p, int norm, double eps,
                           double *r, double *tn) {
  adv_gemv(0, n, p, 1.0, z, beta, 0.0, r);
  double t = 0;
  if (norm == ADV_L2) {
    t = adv_nrm2(d, beta);
  } else {
    for (int j = 0; j < d; j++) t += fabs(beta[j]);
  }
  double f = 0, sw = 0;
  for (int i = 0; i < n; i++) {
    r[i] -= y[i];
    double s = fabs(r[i]) + eps * t, wi = w ? w[i] : 1.0;
    f += wi * s * s;
    sw += wi;
  }
  *tn = t;
  return f / sw;
}

/* The dual value of the candidate alpha: centred (intercept), lambda_i >=
 * max(|alpha_i|, lo_i), all raised by one amount until the norm constraint holds, then
 * (alpha, lambda) scaled optimally. have_xa: xa holds X'alpha already, and with an
 * intercept is corrected for the centring by csum (the column sums of X, d); else it
 * is computed. */
static double cx_value_xa(const double *z, const double *y, const double *w,
                          double *alpha, const double *lo, int n, int d, int has_b,
                          int norm, double eps, double *lam, double *xa, int have_xa,
                          const double *csum) {
  double sl = 0, sw = 0;
  if (has_b) {
    double mean = 0;
    for (int i = 0; i < n; i++) mean += alpha[i];
    mean /= n;
    for (int i = 0; i < n; i++) alpha[i] -= mean;
    if (have_xa)
      for (int j = 0; j < d; j++) xa[j] -= mean * csum[j];
  }
  /* (max by comparison, not fmax(): no NaN can reach here, and the libm call per row
   * was a tenth of a path's certificates) */
  for (int i = 0; i < n; i++) {
    double a = fabs(alpha[i]);
    lam[i] = a > lo[i] ? a : lo[i];
    sl += lam[i];
  }
  if (w) {
    for (int i = 0; i < n; i++) sw += w[i];
  } else {
    sw = n;
  }
  if (!have_xa) adv_gemv(1, n, d, 1.0, z, alpha, 0.0, xa);
  double dn = 0;
  if (norm == ADV_L2) {
    dn = adv_nrm2(d, xa);
  } else {
    for (int j = 0; j < d; j++) dn = fabs(xa[j]) > dn ? fabs(xa[j]) : dn;
  }
  if (dn > eps * sl) {
    if (!(eps > 0)) return 0.0;
    double add = (dn / eps - sl) / n * (1 + 1e-12);
    for (int i = 0; i < n; i++) lam[i] += add;
  }
  double ay = adv_dot(n, alpha, y), l2 = 0;
  if (w) {
    for (int i = 0; i < n; i++) l2 += lam[i] * lam[i] / w[i];
  } else {
    l2 = adv_dot(n, lam, lam);
  }
  return ay < 0 && l2 > 0 ? ay * ay / (sw * l2) : 0.0;
}

double cx_value(const double *z, const double *y, const double *w, double *alpha,
                const double *lo, int n, int d, int has_b, int norm, double eps,
                double *lam, double *xa) {
  return cx_value_xa(z, y, w, alpha, lo, n, d, has_b, norm, eps, lam, xa, 0, NULL);
}

/* The candidate of the optimality conditions with kink set {|r_i| <= thr}. csum: the
 * column sums of X (d; NULL: computed here when needed); lo, kink: scratch of n
 * (NULL: allocated here). */
static double cx_active_scr(const double *z, const double *y, const double *w,
                            const double *r, const double *beta, int n, int d, int has_b,
                            int norm, double eps, double tn, double thr, double rcond,
                            double *alpha, double *lam, double *xa, const double *csum,
                            double *lo, int *kink) {
  const void *vmax = vmaxget();
  if (!lo) lo = (double *)R_alloc(n, sizeof(double));
  if (!kink) kink = (int *)R_alloc(n, sizeof(int));
  int m = 0;
  double big = 0;
  for (int i = 0; i < n; i++) {
    double si = (fabs(r[i]) + eps * tn) * (w ? w[i] : 1.0);
    lo[i] = si;
    big += si;
    if (fabs(r[i]) <= thr && tn > 0) {
      kink[m++] = i;
      alpha[i] = 0;
    } else {
      alpha[i] = si * adv_sign(r[i]);
    }
  }
  if (m > 0) {
    int *rows = (int *)R_alloc(d + 1, sizeof(int));
    int q = 0;
    for (int j = 0; j < d; j++)
      if (norm == ADV_L2 || fabs(beta[j]) > 1e-9 * tn) rows[q++] = j;
    int qe = q + has_b, ld = qe > m ? qe : m;
    double *A = (double *)R_alloc((size_t)qe * m, sizeof(double));
    double *b = (double *)R_alloc(ld, sizeof(double));
    adv_gemv(1, n, d, 1.0, z, alpha, 0.0, xa);
    for (int e = 0; e < q; e++) {
      int j = rows[e];
      double u = norm == ADV_L2 ? beta[j] / tn : adv_sign(beta[j]);
      b[e] = -eps * big * u - xa[j];
      for (int k = 0; k < m; k++) A[e + (size_t)k * qe] = z[kink[k] + (size_t)j * n];
    }
    if (has_b) {
      double sa = 0;
      for (int i = 0; i < n; i++) sa += alpha[i];
      b[q] = -sa;
      for (int k = 0; k < m; k++) A[q + (size_t)k * qe] = 1.0;
    }
    for (int e = qe; e < ld; e++) b[e] = 0;
    int one = 1, rank = 0, info = 0, lwork = -1;
    double wq = 0;
    double *sv = (double *)R_alloc(qe < m ? qe : m, sizeof(double));
    F77_CALL(dgelss)(&qe, &m, &one, A, &qe, b, &ld, sv, &rcond, &rank, &wq, &lwork, &info);
    lwork = (int)wq;
    double *wk = (double *)R_alloc(lwork > 1 ? lwork : 1, sizeof(double));
    F77_CALL(dgelss)(&qe, &m, &one, A, &qe, b, &ld, sv, &rcond, &rank, wk, &lwork, &info);
    if (info != 0) {
      vmaxset(vmax);
      return 0.0;
    }
    /* X'alpha after the kink multipliers: the product with alpha_K = 0 above plus
     * the kink rows' part (m d work instead of another n d product) */
    for (int k = 0; k < m; k++) {
      alpha[kink[k]] = b[k];
      for (int j = 0; j < d; j++) xa[j] += z[kink[k] + (size_t)j * n] * b[k];
    }
    if (has_b && !csum) {
      double *cs = (double *)R_alloc(d > 0 ? d : 1, sizeof(double));
      for (int j = 0; j < d; j++) cs[j] = vec_sum8(z + (size_t)j * n, n);
      csum = cs;
    }
  }
  double v = cx_value_xa(z, y, w, alpha, lo, n, d, has_b, norm, eps, lam, xa, m > 0, csum);
  vmaxset(vmax);
  return v;
}

double cx_active(const double *z, const double *y, const double *w, const double *r,
                 const double *beta, int n, int d, int has_b, int norm, double eps,
                 double tn, double thr, double rcond, double *alpha, double *lam,
                 double *xa) {
  return cx_active_scr(z, y, w, r, beta, n, d, has_b, norm, eps, tn, thr, rcond, alpha,
                       lam, xa, NULL, NULL, NULL);
}

/* c(objective, lower bound) of each column of beta: z = [X, 1] (n x p), beta (p x K, or
 * a vector of length p: K = 1), w NULL or length n, ctrl = c(eps_1, ..., eps_K, tol)
 * (column k certified at eps_k), ictrl = c(norm, has_b); returns the 2K values
 * objective_1, lower_1, objective_2, ... Stops trying thresholds once the relative gap
 * is at most tol. One call for a whole path saves R's per-call overhead at each eps. */
SEXP C_exact_certify(SEXP z, SEXP y, SEXP beta, SEXP w, SEXP ctrl, SEXP ictrl) {
  int n = nrows(z), p = ncols(z), norm = INTEGER(ictrl)[0], has_b = INTEGER(ictrl)[1];
  int d = p - has_b, K = length(beta) / (p > 0 ? p : 1);
  if (TYPEOF(beta) != REALSXP || length(beta) != (R_xlen_t)K * p || length(ctrl) != K + 1)
    error("beta: p x K doubles with K + 1 control values");
  double tol = REAL(ctrl)[K];
  const double *wp = isNull(w) ? NULL : REAL(w);
  double *r = (double *)R_alloc(n, sizeof(double));
  double *alpha = (double *)R_alloc(n, sizeof(double));
  double *lam = (double *)R_alloc(n, sizeof(double));
  double *xa = (double *)R_alloc(p, sizeof(double));
  double *lo = (double *)R_alloc(n, sizeof(double));
  int *kink = (int *)R_alloc(n, sizeof(int));
  double *csum = NULL;
  if (has_b) {
    csum = (double *)R_alloc(d > 0 ? d : 1, sizeof(double));
    for (int j = 0; j < d; j++) csum[j] = vec_sum8(REAL(z) + (size_t)j * n, n);
  }
  SEXP out = PROTECT(allocVector(REALSXP, 2 * (R_xlen_t)K));
  for (int c = 0; c < K; c++) {
    const double *bc = REAL(beta) + (size_t)c * p;
    double eps = REAL(ctrl)[c], tn = 0;
    double f = cx_objective(REAL(z), REAL(y), wp, bc, n, d, p, norm, eps, r, &tn);
    double rmax = 0, rmin = INFINITY;
    for (int i = 0; i < n; i++) {
      double a = fabs(r[i]);
      rmax = a > rmax ? a : rmax;
      rmin = a < rmin ? a : rmin;
    }
    double scale = fmax(rmax, eps * tn), lower = 0;
    /* from the tightest kink set to looser ones; the first, thr = 0, is the plain
     * candidate alpha_i = lambda_i sign(r_i) when no residual is exactly 0 (skipped
     * when one is within the next threshold of 0, a residual pinned by a solver: on a
     * path that try failed at two points in three) */
    double rel0 = rmin <= 1e-14 * scale ? 1e-14 : 0;
    for (double rel = rel0; rel < 1e-2; rel = rel == 0 ? 1e-14 : rel * 10) {
      double lb = cx_active_scr(REAL(z), REAL(y), wp, r, bc, n, d, has_b, norm, eps, tn,
                                rel * scale, 1e-13, alpha, lam, xa, csum, lo, kink);
      lower = fmax(lower, lb);
      if (f - lower <= tol * f) break;
    }
    REAL(out)[2 * c] = f;
    REAL(out)[2 * c + 1] = lower;
    if (c % 16 == 15) R_CheckUserInterrupt();
  }
  UNPROTECT(1);
  return out;
}

/* The Gram matrix Z'Z (p x p) of the n x p matrix z, for the normal equations of the
 * eps = 0 point (R/exact.R, exact_lsq_normal): each entry one vec_dot8 (two entries
 * per pass over a column), so the same sums whatever the machine's BLAS; with R's
 * reference BLAS about three times faster than crossprod(). */
SEXP C_exact_gram(SEXP z) {
  if (TYPEOF(z) != REALSXP || !isMatrix(z)) error("z: a double matrix");
  int n = nrows(z), p = ncols(z);
  const double *Z = REAL(z);
  SEXP out = PROTECT(allocMatrix(REALSXP, p, p));
  double *G = REAL(out);
  for (int j = 0; j < p; j++) {
    const double *zj = Z + (size_t)j * n;
    int i = 0;
    for (; i + 1 <= j; i += 2) {
      double a, c;
      vec_dot8x2(zj, Z + (size_t)i * n, Z + (size_t)(i + 1) * n, n, &a, &c);
      G[i + (size_t)j * p] = G[j + (size_t)i * p] = a;
      G[i + 1 + (size_t)j * p] = G[j + (size_t)(i + 1) * p] = c;
    }
    if (i == j) G[j + (size_t)j * p] = vec_dot8(zj, zj, n);
    if (j % 64 == 63) R_CheckUserInterrupt();
  }
  UNPROTECT(1);
  return out;
}
