/* adv_lm(): Algorithm 1 (gradient descent with the surrogate attack recomputed and then
 * held fixed at every step), the step size from the largest eigenvalue of X'X/n, and
 * the exact minimiser of the empirical adversarial risk by iteratively reweighted
 * ridge regression with a duality-gap certificate (MATH.md sections 2, 3 and 7). */
#include "advtrain.h"
#include "exact.h"
#include "vec.h"
#include <string.h>

/* status codes returned to R (R/lm.R turns them into words) */
enum { GD_OK = 0, GD_INTERPOLATED = 1, GD_DIVERGED = 2 };
enum { EX_OK = 0, EX_MAXIT = 1, EX_SINGULAR = 2 };

#define TR_COLS 7 /* iter, loss_surrogate, loss_adv, loss_std, theta_norm, grad_norm,
                     grad_diff */

typedef struct {
  lin_par par;
  double eta, stop_thr, cap, ymsq;
  int has_b, t0, t_end, iters, every, want_path, nth;
} gd_ctl;

/* Steps t0..t_end of Algorithm 1 from theta (length d + has_b, updated in place).
 * One row of tr (TR_COLS doubles) per traced step, theta at those steps in path.
 * Returns the status; *t_next is the first step not taken, *ntr the rows written. */
static int gd_run(const double *xt, const double *y, int n, int d, double *theta,
                  gd_ctl *c, double *tr, double *path, int *ntr, int *t_next) {
  int p = d + c->has_b, status = GD_OK, rows = 0, t;
  double *grad = (double *)R_alloc(p, sizeof(double));
  double *gdiff = (double *)R_alloc(p, sizeof(double));
  double *work = (double *)R_alloc(lin_work_size(n, d, c->has_b), sizeof(double));
  double loss[3], since_check = 0;
  /* short rows: the column-major pass (linear.c), on a copy made once per chunk */
  const double *xc = NULL;
  if (lin_use_cols(d, &c->par)) {
    double *xcw = (double *)R_alloc((size_t)n * d > 0 ? (size_t)n * d : 1, sizeof(double));
    for (int i = 0; i < n; i++)
      for (int j = 0; j < d; j++) xcw[i + (size_t)j * n] = xt[(size_t)i * d + j];
    xc = xcw;
  }
  for (t = c->t0; t <= c->t_end; t++) {
    int traced = t % c->every == 0 || t == c->iters;
    double b = c->has_b ? theta[d] : 0.0;
    /* the difference to the clean gradient costs d flops a row: only where traced */
    if (xc)
      lin_pass_cols(xc, y, n, d, theta, b, c->has_b, &c->par, c->nth, loss, grad,
                    traced ? gdiff : NULL, work);
    else
      lin_pass(xt, y, n, d, theta, b, c->has_b, &c->par, c->nth, loss, grad,
               traced ? gdiff : NULL, work);
    double gn = adv_nrm2(p, grad);
    if (ISNAN(c->cap)) c->cap = 1e10 * fmax(loss[0], c->ymsq);
    if (!R_FINITE(loss[0]) || !R_FINITE(gn) || loss[0] > c->cap) {
      status = GD_DIVERGED;
      traced = 1;
    } else if (c->stop_thr > 0 && loss[2] < c->stop_thr) {
      status = GD_INTERPOLATED;
      traced = 1;
    }
    if (traced && status != GD_OK && !(t % c->every == 0 || t == c->iters))
      (xc ? lin_pass_cols : lin_pass)(xc ? xc : xt, y, n, d, theta, b, c->has_b, &c->par,
                                      c->nth, loss, grad, gdiff, work);
    if (traced) {
      double *row = tr + (size_t)rows * TR_COLS;
      row[0] = t;
      row[1] = loss[0];
      row[2] = loss[1];
      row[3] = loss[2];
      row[4] = adv_nrm2(d, theta);
      row[5] = gn;
      row[6] = adv_nrm2(p, gdiff);
      if (path)
        for (int j = 0; j < p; j++) path[(size_t)rows * p + j] = theta[j];
      rows++;
    }
    if (status != GD_OK || t == c->iters) {
      t++; /* the first step not taken */
      break;
    }
    for (int j = 0; j < p; j++) theta[j] -= c->eta * grad[j];
    since_check += (double)n * d;
    if (since_check > 2.5e7) { /* a few hundredths of a second; R's chunks read 1e8 */
      R_CheckUserInterrupt();
      since_check = 0;
    }
  }
  *ntr = rows;
  *t_next = t;
  return status;
}

/* list(theta, trace, path, status, t_next, cap) for steps t0..t_end.
 * ctrl = c(eps, xi, eta, stop_thr, cap, ymsq);
 * ictrl = c(norm, has_b, t0, t_end, iters, every, want_path, nth). */
static SEXP lm_gd(SEXP xt, SEXP y, SEXP theta, SEXP ctrl, SEXP ictrl, SEXP w) {
  int nprot = 0, d = nrows(xt), n = ncols(xt);
  const double *cr = REAL(ctrl);
  const int *ci = INTEGER(ictrl);
  gd_ctl c = {{ci[0], cr[0], cr[1], isNull(w) ? NULL : REAL(w)}, cr[2], cr[3], cr[4],
              cr[5], ci[1], ci[2], ci[3], ci[4], ci[5], ci[6], ci[7]};
  int steps = c.t_end - c.t0 + 1;
  int maxrows = steps / c.every + 2;
  SEXP th = PROTECT(duplicate(theta));
  nprot++;
  double *tr = (double *)R_alloc((size_t)maxrows * TR_COLS, sizeof(double));
  int p = d + c.has_b;
  double *path = c.want_path ? (double *)R_alloc((size_t)maxrows * p, sizeof(double)) : NULL;
  int ntr = 0, t_next = 0;
  int status = gd_run(REAL(xt), REAL(y), n, d, REAL(th), &c, tr, path, &ntr, &t_next);
  SEXP out = adv_train_result(th, tr, TR_COLS, ntr, path, p, status, t_next, c.cap);
  UNPROTECT(nprot);
  return out;
}

SEXP C_lm_gd(SEXP xt, SEXP y, SEXP theta, SEXP ctrl, SEXP ictrl) {
  return lm_gd(xt, y, theta, ctrl, ictrl, R_NilValue);
}

/* C_lm_gd with observation weights w (length n, mean 1; the losses and the gradient
 * are sum_i w_i (.) / n), or R_NilValue for none. */
SEXP C_lm_gd_weighted(SEXP xt, SEXP y, SEXP theta, SEXP ctrl, SEXP ictrl, SEXP w) {
  return lm_gd(xt, y, theta, ctrl, ictrl, w);
}

/* list(theta, trace, path, status, t_next, cap), the result of one chunk of a trainer
 * (adv_lm and adv_nn2): trace is cols x rows, path (NULL: none) p x rows. theta must be
 * protected by the caller. */
SEXP adv_train_result(SEXP theta, const double *trace, int cols, int rows,
                      const double *path, int p, int status, int t_next, double cap) {
  int nprot = 0;
  SEXP tr = PROTECT(allocMatrix(REALSXP, cols, rows));
  nprot++;
  if ((size_t)cols * rows > 0) memcpy(REAL(tr), trace, (size_t)cols * rows * sizeof(double));
  SEXP pth = R_NilValue;
  if (path) {
    pth = PROTECT(allocMatrix(REALSXP, p, rows));
    nprot++;
    if ((size_t)p * rows > 0) memcpy(REAL(pth), path, (size_t)p * rows * sizeof(double));
  }
  const char *nms[] = {"theta", "trace", "path", "status", "t_next", "cap", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  nprot++;
  SET_VECTOR_ELT(out, 0, theta);
  SET_VECTOR_ELT(out, 1, tr);
  SET_VECTOR_ELT(out, 2, pth);
  SET_VECTOR_ELT(out, 3, ScalarInteger(status));
  SET_VECTOR_ELT(out, 4, ScalarInteger(t_next));
  SET_VECTOR_ELT(out, 5, ScalarReal(cap));
  UNPROTECT(nprot);
  return out;
}

/* Largest eigenvalue of Z'Z/n, Z = [X, 1] (the 1 only if has_b), by power iteration
 * with one pass over the row-major xt per step, from a fixed start vector. Stops when
 * the Rayleigh quotient changes by less than tol relative. With observation weights w
 * (mean 1; NULL for none) the matrix is Z'WZ/n. */
static double power_max(const double *xt, const double *w, int n, int d, int has_b,
                        int maxit, double tol, int *iters) {
  int p = d + has_b;
  double *v = (double *)R_alloc(p, sizeof(double));
  double *u = (double *)R_alloc(p, sizeof(double));
  for (int j = 0; j < p; j++) v[j] = 1.0 + 0.5 * sin(1.0 + j);
  double nv = adv_nrm2(p, v), lam = 0;
  for (int j = 0; j < p; j++) v[j] /= nv;
  int k;
  for (k = 0; k < maxit; k++) {
    for (int j = 0; j < p; j++) u[j] = 0;
    for (int i = 0; i < n; i++) {
      const double *xr = xt + (size_t)i * d;
      double s = (has_b ? v[d] : 0.0) + adv_dot(d, xr, v);
      if (w) s *= w[i];
      vec_axpy_k(u, xr, s, d);
      if (has_b) u[d] += s;
    }
    double ray = adv_dot(p, u, v) / n, nu = adv_nrm2(p, u);
    if (nu == 0) {
      lam = 0;
      break;
    }
    for (int j = 0; j < p; j++) v[j] = u[j] / nu;
    int done = k > 0 && fabs(ray - lam) <= tol * ray;
    lam = ray;
    if (done) break;
    if (k % 16 == 15) R_CheckUserInterrupt();
  }
  *iters = k + 1;
  return lam;
}

SEXP C_lm_power(SEXP xt, SEXP has_b, SEXP maxit, SEXP tol, SEXP w) {
  int it = 0;
  double lam = power_max(REAL(xt), isNull(w) ? NULL : REAL(w), ncols(xt), nrows(xt),
                         asInteger(has_b), asInteger(maxit), asReal(tol), &it);
  SEXP out = PROTECT(ScalarReal(lam));
  setAttrib(out, install("iterations"), ScalarInteger(it));
  UNPROTECT(1);
  return out;
}

/* ------------------------------------------------------ exact solver ---- */

/* (1/n) sum_i (|r_i| + eps ||theta||_*)^2 with r = Z beta - y (into r): exact.c's */
static double ex_objective(const double *z, const double *y, const double *ow,
                           const double *beta, int n, int d, int p, int norm, double eps,
                           double *r, double *tn) {
  return cx_objective(z, y, ow, beta, n, d, p, norm, eps, r, tn);
}

/* A lower bound on the minimum from the dual of
 *   min (1/n) sum s_i^2,  s_i >= |r_i| + eps ||theta||_*,
 * which is max -(2/n) alpha'y - (1/n) sum lambda_i^2 over |alpha_i| <= lambda_i,
 * ||X'alpha||_o <= eps sum lambda_i (o: the norm dual to ||.||_*; L2 for L2 attacks,
 * Linf for Linf attacks) and, with an intercept, sum alpha_i = 0. The candidate is
 * alpha_i = r_i / w_i from the reweighted ridge step, which is exactly feasible at its
 * fixed point; lambda is raised just enough for feasibility and (alpha, lambda) is
 * scaled optimally (exact.c's cx_value), so any candidate gives a valid bound. */
static double ex_dual(const double *z, const double *y, const double *ow, const double *r,
                      const double *w, int n, int d, int has_b, int norm, double eps,
                      double tn, double *alpha, double *lam, double *xa) {
  double *lo = (double *)R_alloc(n, sizeof(double));
  for (int i = 0; i < n; i++) {
    double oi = ow ? ow[i] : 1.0;
    alpha[i] = oi * r[i] / w[i];
    lo[i] = oi * eps * tn / (1 - w[i]);
  }
  return cx_value(z, y, ow, alpha, lo, n, d, has_b, norm, eps, lam, xa);
}

/* The dual candidate of the optimality conditions. At the minimiser, with
 * s_i = |r_i| + eps t, alpha_i = s_i sign(r_i) where r_i != 0, and the alpha_i of the
 * samples with r_i = 0 (the objective has a kink there, as in least absolute
 * deviations) are whatever makes X'alpha = -eps (sum s_i) u, u a subgradient of the
 * norm (and sum alpha_i = 0 with an intercept). Near the minimiser, the samples with
 * |r_i| below rel times the largest are taken as the kink set and their alpha_i solve that linear system in
 * the least-squares sense (LAPACK dgelss). */
static double ex_dual_active(const double *z, const double *y, const double *ow,
                             const double *r, const double *beta, int n, int d, int has_b,
                             int norm, double eps, double tn, double rel, double *alpha,
                             double *lam, double *xa) {
  double rmax = 0;
  for (int i = 0; i < n; i++) rmax = fmax(rmax, fabs(r[i]));
  double thr = rel * fmax(rmax, eps * tn);
  return cx_active(z, y, ow, r, beta, n, d, has_b, norm, eps, tn, thr, 1e-12, alpha, lam,
                   xa);
}

typedef struct {
  double obj, gap;
  int iter, status;
} ex_res;

/* The number of samples whose |r_i| is at most rel times max(max |r|, shift). */
static int ex_kinks(const double *r, int n, double shift, double rel) {
  double rmax = 0;
  for (int i = 0; i < n; i++) rmax = fmax(rmax, fabs(r[i]));
  double thr = rel * fmax(rmax, shift);
  int m = 0;
  for (int i = 0; i < n; i++) m += fabs(r[i]) <= thr;
  return m;
}

/* a += the lower triangle (by blocks, diagonal blocks in full) of W W', W p x n
 * with leading dimension ld (column i the i-th weighted row): the Gram matrix of a
 * Newton system, for a LAPACK "L" solve, in the own product kernel at 9/16 (8 block
 * rows) or 5/8 (4) of the cost of the full square. */
static void ex_gram_lower(int p, int n, const double *wm, int ld, double *a) {
  int nb = p >= 128 ? 8 : p >= 64 ? 4 : 1, bs = (p + nb - 1) / nb;
  for (int j0 = 0; j0 < p; j0 += bs) {
    int mj = p - j0 < bs ? p - j0 : bs;
    /* the block row j: columns 0 .. j0 + mj (the blocks left of the diagonal and the
     * diagonal block) in one product */
    adv_gemm_nt_acc(mj, j0 + mj, n, wm + j0, ld, wm, ld, a + j0, p);
  }
}

/* Newton polish. Near the minimiser the samples with r_i = 0 (set K) and, for Linf,
 * the coordinates with theta_j = 0 are known from the reweighting iterate; on the
 * region where they stay at zero and the other signs are fixed the objective is
 * smooth: (1/n) sum_{i not in K} (sigma_i r_i + eps t)^2 + (1/n) |K| eps^2 t^2, with
 * t = ||theta||_2 or s'theta (Linf, s = sign(theta)). Newton's method with these
 * linear equality constraints (one KKT solve per step, LAPACK dgesv) converges
 * quadratically there. The result is accepted only if it lowers the objective; its
 * accuracy is then certified by the duality gap like any other iterate. */
static void ex_polish(const double *z, const double *y, const double *ow, int n, int d,
                      int has_b, int norm, double eps, double rel, double *beta,
                      double *r) {
  int p = d + has_b;
  double tn = 0;
  double f0 = ex_objective(z, y, ow, beta, n, d, p, norm, eps, r, &tn);
  if (tn == 0) return;
  double rmax = 0;
  for (int i = 0; i < n; i++) rmax = fmax(rmax, fabs(r[i]));
  double thr = rel * fmax(rmax, eps * tn);
  int *kink = (int *)R_alloc(n, sizeof(int)), *zc = (int *)R_alloc(d + 1, sizeof(int));
  double *sg = (double *)R_alloc(n, sizeof(double)), *sj = (double *)R_alloc(d + 1, sizeof(double));
  int m = 0, mz = 0;
  double mw = 0; /* the weight of the kink set */
  for (int i = 0; i < n; i++) {
    sg[i] = fabs(r[i]) <= thr ? 0.0 : adv_sign(r[i]);
    if (sg[i] == 0) {
      kink[m++] = i;
      mw += ow ? ow[i] : 1.0;
    }
  }
  for (int j = 0; j < d; j++) {
    sj[j] = adv_sign(beta[j]);
    if (norm == ADV_LINF && fabs(beta[j]) <= 1e-9 * tn) {
      zc[mz++] = j;
      sj[j] = 0;
    }
  }
  int q = m + mz, dim = p + q;
  if (q >= p) return;
  double *kkt = (double *)R_alloc((size_t)dim * dim, sizeof(double));
  double *rhs = (double *)R_alloc(dim, sizeof(double));
  double *gt = (double *)R_alloc(p, sizeof(double));
  double *b1 = (double *)R_alloc(p, sizeof(double));
  double *u = (double *)R_alloc(p, sizeof(double));
  double *qv = (double *)R_alloc(p, sizeof(double));
  double *ve = (double *)R_alloc(n, sizeof(double));
  double *gn = (double *)R_alloc((size_t)p * p, sizeof(double));
  int *ipiv = (int *)R_alloc(dim, sizeof(int));
  /* The rows off the kink set enter the Hessian as sum_i w_i v_i v_i' with
   * v_i = sigma_i z_i + eps g: their Gram matrix Gn = sum w_i z_i z_i' is fixed while
   * K and the signs are, so it is formed once (ex_gram_lower) and each Newton step costs
   * O(n p) plus the solve:  sum w v v' = Gn + eps (u g' + g u') + eps^2 W_N g g',
   * u = sum w_i sigma_i z_i, W_N = sum w_i over the rows off K. */
  double wn = 0;
  {
    int nn = n - m;
    /* the weighted rows off K as the columns of a p x nn matrix */
    double *zn = (double *)R_alloc((size_t)(nn > 0 ? nn : 1) * p, sizeof(double));
    for (int j = 0; j < p; j++) u[j] = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
      if (sg[i] == 0) continue;
      double oi = ow ? ow[i] : 1.0, so = sqrt(oi);
      wn += oi;
      for (int j = 0; j < p; j++) {
        double zij = z[i + (size_t)j * n];
        zn[j + (size_t)k * p] = so * zij;
        u[j] += oi * sg[i] * zij;
      }
      k++;
    }
    for (size_t e = 0; e < (size_t)p * p; e++) gn[e] = 0;
    if (nn > 0) ex_gram_lower(p, nn, zn, p, gn);
  }
  for (int j = 0; j < p; j++) b1[j] = beta[j];
  for (int it = 0; it < 30; it++) {
    double t = 0;
    if (norm == ADV_L2) {
      t = adv_nrm2(d, b1);
    } else {
      for (int j = 0; j < d; j++) t += sj[j] * b1[j];
    }
    if (!(t > 0)) return;
    for (int j = 0; j < p; j++) gt[j] = j < d ? (norm == ADV_L2 ? b1[j] / t : sj[j]) : 0.0;
    adv_gemv(0, n, p, 1.0, z, b1, 0.0, r);
    for (int i = 0; i < n; i++) r[i] -= y[i];
    for (size_t k = 0; k < (size_t)dim * dim; k++) kkt[k] = 0;
    for (int j = 0; j < dim; j++) rhs[j] = 0;
    double curv = 0; /* sum of w_i e_i multiplying eps * Hess(t) */
    for (int i = 0; i < n; i++) {
      if (sg[i] == 0) {
        ve[i] = 0;
        continue;
      }
      double e = sg[i] * r[i] + eps * t, oi = ow ? ow[i] : 1.0;
      curv += oi * e;
      ve[i] = oi * e * sg[i];
    }
    adv_gemv(1, n, p, 1.0, z, ve, 0.0, qv); /* sum w_i e_i sigma_i z_i */
    for (int j = 0; j < p; j++) {
      rhs[j] = -qv[j] - eps * curv * gt[j] - mw * eps * eps * t * gt[j];
      for (int l = 0; l <= j; l++)
        kkt[j + (size_t)l * dim] = gn[j + (size_t)l * p] +
                                   eps * (u[j] * gt[l] + gt[j] * u[l]) +
                                   (wn + mw) * eps * eps * gt[j] * gt[l];
    }
    if (norm == ADV_L2) { /* Hess(t) = (I - g g') / t */
      double h = eps * (curv + mw * eps * t) / t;
      for (int j = 0; j < d; j++)
        for (int l = 0; l <= j; l++)
          kkt[j + (size_t)l * dim] += h * ((j == l) - gt[j] * gt[l]);
    }
    for (int j = 0; j < p; j++) /* symmetric: fill the upper triangle */
      for (int l = j + 1; l < p; l++) kkt[j + (size_t)l * dim] = kkt[l + (size_t)j * dim];
    /* constraints: r_i = 0 for i in K, theta_j = 0 for the zero coordinates */
    for (int k = 0; k < m; k++) {
      int i = kink[k];
      for (int j = 0; j < p; j++) {
        kkt[(p + k) + (size_t)j * dim] = z[i + (size_t)j * n];
        kkt[j + (size_t)(p + k) * dim] = z[i + (size_t)j * n];
      }
      rhs[p + k] = -r[i];
    }
    for (int k = 0; k < mz; k++) {
      int j = zc[k];
      kkt[(p + m + k) + (size_t)j * dim] = 1;
      kkt[j + (size_t)(p + m + k) * dim] = 1;
      rhs[p + m + k] = -b1[j];
    }
    int one = 1, info = 0;
    F77_CALL(dgesv)(&dim, &one, kkt, &dim, ipiv, rhs, &dim, &info);
    if (info != 0) return;
    double step = 0, size = 0;
    for (int j = 0; j < p; j++) {
      b1[j] += rhs[j];
      step += rhs[j] * rhs[j];
      size += b1[j] * b1[j];
    }
    if (step <= 1e-30 * size) break;
  }
  double t1 = 0;
  double f1 = ex_objective(z, y, ow, b1, n, d, p, norm, eps, r, &t1);
  if (f1 <= f0) {
    for (int j = 0; j < p; j++) beta[j] = b1[j];
  } else {
    ex_objective(z, y, ow, beta, n, d, p, norm, eps, r, &t1);
  }
}

/* Iteratively reweighted ridge with smoothing. With a_i = sqrt(r_i^2 + delta^2) and
 * t = sqrt(||theta||_2^2 + gamma^2) (L2) or sum_j sqrt(theta_j^2 + gamma^2) (Linf),
 *   (a_i + eps t)^2 = min_{0<w_i<1} a_i^2 / w_i + eps^2 t^2 / (1 - w_i),
 *   t^2 = min_{u in simplex} sum_j (theta_j^2 + gamma^2) / u_j        (Linf),
 * so the smoothed objective F_rho = (1/n) sum (a_i + eps t)^2 is the minimum over
 * (w, u) of a function that is jointly convex and, for fixed (w, u), a weighted ridge
 * regression in beta; each alternating step cannot increase F_rho. F_rho >= F and
 * F_rho - F = O(rho): rho (delta and gamma relative to the scales of r and theta) is
 * divided by 10 each time F_rho stops decreasing, down to 1e-15. The smoothing keeps
 * the weights bounded, so samples whose residual passes through zero are not stuck
 * there (plain reweighting, delta = 0, is). Stops when a duality gap of the exact
 * problem is at most tol times the objective. beta holds the start and the result. */
/* The smoothed norm of theta (the first d of beta) that F_rho uses: sqrt(||theta||^2 +
 * gamma^2) for L2 (tn = ||theta||_2), sum_j sqrt(theta_j^2 + gamma^2) for Linf. */
static double ex_smooth_norm(const double *beta, int d, int norm, double tn, double gamma) {
  if (norm == ADV_L2) return sqrt(tn * tn + gamma * gamma);
  double ts = 0;
  for (int j = 0; j < d; j++) ts += sqrt(beta[j] * beta[j] + gamma * gamma);
  return ts;
}

/* The polish of the point start on its kink sets at the thresholds 1e-10, 1e-8, ...,
 * 1e-4 of its residuals (each kink set once), until the gap closes: every polished
 * point that is no worse replaces the best one (best, *fbest), and the dual bounds at
 * it raise *lower. r, alpha, lam, xa: scratch. */
static void ex_polish_try(const double *z, const double *y, const double *ow, int n, int d,
                          int has_b, int norm, double eps, double tol, const double *start,
                          double *r, double *alpha, double *lam, double *xa, double *best,
                          double *fbest, double *lower) {
  int p = d + has_b;
  double *bp = (double *)R_alloc(p, sizeof(double));
  for (int j = 0; j < p; j++) bp[j] = start[j];
  int last_m = -1;
  for (double rel = 1e-10; rel < 1e-3; rel *= 100) {
    double tp0 = 0;
    ex_objective(z, y, ow, bp, n, d, p, norm, eps, r, &tp0);
    int m = ex_kinks(r, n, eps * tp0, rel);
    if (m == last_m) continue; /* the same kink set: nothing new to try */
    last_m = m;
    ex_polish(z, y, ow, n, d, has_b, norm, eps, rel, bp, r);
    double tp = 0, fp = ex_objective(z, y, ow, bp, n, d, p, norm, eps, r, &tp);
    if (fp <= *fbest) {
      *fbest = fp;
      for (int j = 0; j < p; j++) best[j] = bp[j];
    }
    for (double rel2 = 1e-12; rel2 < 1e-3 && *fbest - *lower > tol * *fbest; rel2 *= 100)
      *lower = fmax(*lower, ex_dual_active(z, y, ow, r, bp, n, d, has_b, norm, eps, tp, rel2,
                                           alpha, lam, xa));
    if (*fbest - *lower <= tol * *fbest) break;
  }
}

#ifndef ADV_POLISH_RHO
#define ADV_POLISH_RHO 1e-6
#endif
static ex_res ex_solve(const double *z, const double *y, const double *ow, int n, int d,
                       int has_b, int norm, double eps, double tol, int maxit, int warm,
                       double *beta) {
  int p = d + has_b;
  ex_res res = {0, 0, 0, EX_OK};
  double *r = (double *)R_alloc(n, sizeof(double));
  double *w = (double *)R_alloc(n, sizeof(double));
  double *zw = (double *)R_alloc((size_t)n * p, sizeof(double));
  /* z by rows (p x n), so that the weighted rows of every step are contiguous copies */
  double *zt = (double *)R_alloc((size_t)n * p, sizeof(double));
  for (int j = 0; j < p; j++)
    for (int i = 0; i < n; i++) zt[j + (size_t)i * p] = z[i + (size_t)j * n];
  double *yw = (double *)R_alloc(n, sizeof(double));
  double *a = (double *)R_alloc((size_t)p * p, sizeof(double));
  double *rhs = (double *)R_alloc(p, sizeof(double));
  double *alpha = (double *)R_alloc(n, sizeof(double));
  double *lam = (double *)R_alloc(n, sizeof(double));
  double *xa = (double *)R_alloc(p, sizeof(double));
  double *best = (double *)R_alloc(p, sizeof(double));
  /* the Newton step's u = sum w_i c_i z_i, gradient copy and trial point */
  double *u = (double *)R_alloc(p, sizeof(double));
  double *g0 = (double *)R_alloc(p, sizeof(double));
  double *bn = (double *)R_alloc(p, sizeof(double));
  double tn = 0, f = ex_objective(z, y, ow, beta, n, d, p, norm, eps, r, &tn);
  double fbest = f, lower = 0, rho = 1e-2, fsm_prev = INFINITY;
  double rscale = sqrt(adv_dot(n, y, y) / n) + 1e-300;
  double wsum = n; /* the total observation weight (n unweighted) */
  if (ow) {
    wsum = 0;
    for (int i = 0; i < n; i++) wsum += ow[i];
  }
  double tscale = 0; /* set from the first ridge solution */
  int first = 1, last_polish = -10;
  for (int j = 0; j < p; j++) best[j] = beta[j];
  if (warm && eps > 0 && tn > 0) {
    /* a start from a nearby solution (the one before on a path over eps): its kink set
     * is often this eps's too, and the polish on it lands on the minimiser, with no
     * smoothing that would first lead away from it */
    ex_polish_try(z, y, ow, n, d, has_b, norm, eps, tol, beta, r, alpha, lam, xa, best,
                  &fbest, &lower);
    if (fbest - lower <= tol * fbest) {
      for (int j = 0; j < p; j++) beta[j] = best[j];
      res.obj = fbest;
      res.gap = fbest - lower;
      res.iter = 1;
      return res;
    }
    f = ex_objective(z, y, ow, beta, n, d, p, norm, eps, r, &tn);
  }
  int k;
  for (k = 0; k < maxit; k++) {
    const void *vmax = vmaxget(); /* scratch of the dual bounds, freed every iteration */
    double delta = rho * rscale, gamma = rho * (tscale > 0 ? tscale : rscale);
    /* the smoothed norm and the weights at the current beta */
    double ts = ex_smooth_norm(beta, d, norm, tn, gamma);
    /* Newton's method on F_rho. With a_i = sqrt(r_i^2 + delta^2), s_i = a_i + eps t,
     * c_i = r_i / a_i and g = grad t (zero at the intercept), W/2 times the gradient
     * and the Hessian are
     *   G = sum w_i s_i c_i z_i + eps S g,   S = sum w_i s_i,
     *   H = Z'DZ + eps (u g' + g u') + eps^2 W g g' + eps S Hess(t),
     *   D_i = w_i (c_i^2 + s_i delta^2 / a_i^3),   u = sum w_i c_i z_i:
     * one weighted Gram matrix a step, as a reweighted ridge step, but quadratic
     * convergence for each rho instead of a linear rate. */
    double fsm = 0, S = 0;
    double *gv = xa; /* grad t (p) */
    for (int j = 0; j < p; j++) gv[j] = 0;
    for (int j = 0; j < d; j++)
      gv[j] = norm == ADV_L2 ? beta[j] / ts : beta[j] / sqrt(beta[j] * beta[j] + gamma * gamma);
    for (int i = 0; i < n; i++) {
      double ai = sqrt(r[i] * r[i] + delta * delta), si = ai + eps * ts;
      double oi = ow ? ow[i] : 1.0, ci = r[i] / ai;
      fsm += oi * si * si;
      S += oi * si;
      w[i] = ai / si; /* for the dual candidate */
      if (w[i] >= 1) w[i] = 1 - 1e-16; /* eps = 0 */
      double di = oi * (ci * ci + si * delta * delta / (ai * ai * ai));
      yw[i] = oi * si * ci;  /* for G */
      alpha[i] = oi * ci;    /* for u (alpha is scratch until the dual below) */
      double sd = sqrt(di);
      const double *zi = zt + (size_t)i * p;
      double *wi = zw + (size_t)i * p;
      for (int j = 0; j < p; j++) wi[j] = zi[j] * sd;
    }
    fsm /= wsum;
    if (!first && fsm > fsm_prev * (1 - 1e-3 * rho) && rho > 1e-15) rho /= 10;
    fsm_prev = fsm;
    for (size_t e = 0; e < (size_t)p * p; e++) a[e] = 0;
    ex_gram_lower(p, n, zw, p, a); /* (dposv below reads the lower triangle) */
    adv_gemv(1, n, p, 1.0, z, yw, 0.0, rhs); /* G without its eps S g part */
    adv_gemv(1, n, p, 1.0, z, alpha, 0.0, u);
    if (eps > 0) {
      for (int j = 0; j < p; j++) {
        rhs[j] += eps * S * gv[j];
        for (int l = 0; l < p; l++)
          a[j + (size_t)l * p] += eps * (u[j] * gv[l] + gv[j] * u[l]) +
                                  eps * eps * wsum * gv[j] * gv[l];
      }
      for (int j = 0; j < d; j++) {
        if (norm == ADV_L2) {
          for (int l = 0; l < d; l++)
            a[j + (size_t)l * p] += eps * S * ((j == l) - gv[j] * gv[l]) / ts;
        } else {
          double q = beta[j] * beta[j] + gamma * gamma;
          a[j + (size_t)j * p] += eps * S * gamma * gamma / (q * sqrt(q));
        }
      }
    }
    for (int j = 0; j < p; j++) g0[j] = rhs[j];
    int info = 0, one = 1;
    F77_CALL(dposv)("L", &p, &one, a, &p, rhs, &p, &info FCONE);
    if (info != 0) {
      res.status = EX_SINGULAR;
      break;
    }
    /* rhs = H^{-1} G: the step is -rhs; backtracking on F_rho (convex) */
    double dec = adv_dot(p, g0, rhs); /* G' H^{-1} G >= 0 */
    double stp = 1, fsm0 = fsm * wsum, fnew = INFINITY;
    int took = 0;
    for (int ls = 0; ls < 40; ls++) {
      for (int j = 0; j < p; j++) bn[j] = beta[j] - stp * rhs[j];
      double tb = 0;
      ex_objective(z, y, ow, bn, n, d, p, norm, eps, r, &tb);
      double tsb = ex_smooth_norm(bn, d, norm, tb, gamma);
      fnew = 0;
      for (int i = 0; i < n; i++) {
        double si = sqrt(r[i] * r[i] + delta * delta) + eps * tsb;
        fnew += (ow ? ow[i] : 1.0) * si * si;
      }
      if (fnew <= fsm0 - 1e-4 * stp * 2 * dec) {
        took = 1;
        break;
      }
      /* near the minimiser the decrease of a full step (about dec) is below the
       * rounding of F: the full Newton step is then taken on the strength of the
       * quadratic model, as long as F does not visibly rise */
      if (stp == 1 && dec <= 1e-12 * fsm0 && fnew <= fsm0 * (1 + 1e-14)) {
        took = 1;
        break;
      }
      stp /= 2;
    }
    if (took) {
      for (int j = 0; j < p; j++) beta[j] = bn[j];
    }
    /* the Newton decrement is small against the smoothing: go on to a smaller rho */
    if ((dec <= 1e-3 * rho * fsm0 || !took) && rho > 1e-12) {
      rho /= 10;
      fsm_prev = INFINITY;
    }
    f = ex_objective(z, y, ow, beta, n, d, p, norm, eps, r, &tn);
    if (first) {
      tscale = tn > 0 ? tn : rscale;
      first = 0;
    }
    if (f < fbest) {
      fbest = f;
      for (int j = 0; j < p; j++) best[j] = beta[j];
    }
    if (eps == 0) { /* least squares: one exact solve (the w_i are all equal) */
      lower = fbest;
      k++;
      break;
    }
    lower = fmax(lower, ex_dual(z, y, ow, r, w, n, d, has_b, norm, eps, tn, alpha, lam, xa));
    /* once the reweighting has nearly converged, polish by Newton's method */
    if (rho < ADV_POLISH_RHO && fbest - lower > tol * fbest && k - last_polish >= 3) {
      last_polish = k;
      ex_polish_try(z, y, ow, n, d, has_b, norm, eps, tol, best, r, alpha, lam, xa, best,
                    &fbest, &lower);
      f = ex_objective(z, y, ow, beta, n, d, p, norm, eps, r, &tn);
    }
    /* the kink set is not known: try thresholds from tight to loose (each a small
     * least-squares problem; while the smoothing is still coarse they rarely
     * certify, so then only every fourth step) */
    int try_kinks = rho <= 1e-4 || k % 4 == 3;
    for (double rel = 1e-12; try_kinks && rel < 1e-3 && fbest - lower > tol * fbest; rel *= 100) {
      double lb =
          ex_dual_active(z, y, ow, r, beta, n, d, has_b, norm, eps, tn, rel, alpha, lam, xa);
      lower = fmax(lower, lb);
    }
    if (fbest - lower <= tol * fbest) {
      k++;
      break;
    }
    vmaxset(vmax);
    if (k % 8 == 7) R_CheckUserInterrupt();
  }
  for (int j = 0; j < p; j++) beta[j] = best[j];
  res.obj = fbest;
  res.gap = fbest - lower;
  res.iter = k;
  if (res.status == EX_OK && fbest - lower > tol * fbest) res.status = EX_MAXIT;
  return res;
}

/* list(theta, objective, gap, iterations, status); z = [X, 1] (n x p, column-major),
 * beta0 the start (length p), ctrl = c(eps, tol), ictrl = c(norm, has_b, maxit[, warm])
 * (warm = 1: beta0 is a nearby solution, polished on its kink set first), w NULL
 * or positive observation weights (length n; the objective is their weighted mean). */
SEXP C_lm_exact(SEXP z, SEXP y, SEXP beta0, SEXP ctrl, SEXP ictrl, SEXP w) {
  int n = nrows(z), p = ncols(z), has_b = INTEGER(ictrl)[1];
  SEXP beta = PROTECT(duplicate(beta0));
  int warm = length(ictrl) > 3 ? INTEGER(ictrl)[3] : 0;
  ex_res res = ex_solve(REAL(z), REAL(y), isNull(w) ? NULL : REAL(w), n, p - has_b, has_b,
                        INTEGER(ictrl)[0],
                        REAL(ctrl)[0], REAL(ctrl)[1], INTEGER(ictrl)[2], warm, REAL(beta));
  const char *nms[] = {"theta", "objective", "gap", "iterations", "status", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  SET_VECTOR_ELT(out, 0, beta);
  SET_VECTOR_ELT(out, 1, ScalarReal(res.obj));
  SET_VECTOR_ELT(out, 2, ScalarReal(res.gap));
  SET_VECTOR_ELT(out, 3, ScalarInteger(res.iter));
  SET_VECTOR_ELT(out, 4, ScalarInteger(res.status));
  UNPROTECT(2);
  return out;
}

/* ------------------------------------------------------- benchmarks ---- */

/* Sum of all entries of x, read once, in blocks of the rows of a fixed partition: a
 * STREAM-like read used by bench/lm.R to measure the memory bandwidth that one pass
 * of Algorithm 1 is compared with. */
/* Sum of v[lo..hi) with sixteen partial sums: enough independent additions (and, with
 * AVX2, wide enough ones) that the loop waits on memory, not on the adder, so the time
 * of a pass measures the read bandwidth. */
ADV_CLONES static double stream_sum(const double *restrict v, R_xlen_t lo, R_xlen_t hi) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, b7 = 0;
  R_xlen_t i = lo;
  for (; i + 16 <= hi; i += 16) {
    const double *restrict w = v + i;
    a0 += w[0]; a1 += w[1]; a2 += w[2]; a3 += w[3];
    a4 += w[4]; a5 += w[5]; a6 += w[6]; a7 += w[7];
    b0 += w[8]; b1 += w[9]; b2 += w[10]; b3 += w[11];
    b4 += w[12]; b5 += w[13]; b6 += w[14]; b7 += w[15];
  }
  for (; i < hi; i++) a0 += v[i];
  return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) +
         (((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7)));
}

SEXP C_lm_stream(SEXP x, SEXP threads) {
  R_xlen_t len = XLENGTH(x);
  int nth = adv_nthreads(threads);
  const double *v = REAL(x);
  const R_xlen_t nb = 64;
  double part[64];
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
  for (R_xlen_t k = 0; k < nb; k++) part[k] = stream_sum(v, len * k / nb, len * (k + 1) / nb);
  (void)nth;
  double s = 0;
  for (R_xlen_t k = 0; k < nb; k++) s += part[k];
  return ScalarReal(s);
}
