/* The adversarial lasso path (MATH.md section 8):
 *
 *   F(theta, b) = (1/n) sum_i l(f(x_i + A_{eps,xi}), y_i) + lambda sum_j w_j |theta_j|,
 *
 * with the intercept b neither attacked nor penalised. R passes x centred (when there
 * is an intercept), the lambda grid, and the weights w_j = pf_j * s_j, which is
 * glmnet's standardisation written on the original scale: coordinate-wise methods give
 * the same iterates. This room owns the .Call entry points, the problem-level helpers
 * and the walk along the grid: each lambda warm-starts from the previous solution, and
 * the shape of the loss picks the solver (eps = 0: lasso_cd.c; xi = 0: lasso_active.c;
 * xi > 0: lasso_fista.c). Threads: the only parallel loops are over columns (x_j'v for
 * all j), each a serial dot product, so results do not depend on the thread count.
 */
#include "lasso.h"

/* out_j = x_j'v for every column, parallel over columns (deterministic). */
void xt_v(const prob *P, const double *v, double *out) {
  int n = P->n, d = P->d;
#ifdef _OPENMP
#pragma omp parallel for num_threads(P->nth) schedule(static) if ((double)n * d > 1e5)
#endif
  for (int j = 0; j < d; j++) {
    out[j] = vec_dot8(P->x + (size_t)j * n, v, n);
  }
}

/* r = X theta + b - y (b s - y with row scales) using only the non-zero coefficients
 * (the columns x_j - mu_j with implicit centring). */
void residuals(const prob *P, const double *theta, double b, double *r) {
  int n = P->n;
  if (P->es)
    for (int i = 0; i < n; i++) r[i] = P->es[i] * b - P->y[i];
  else
    for (int i = 0; i < n; i++) r[i] = b - P->y[i];
  for (int j = 0; j < P->d; j++) {
    double t = theta[j];
    if (t == 0) continue;
    if (P->mu)
      vec_axmy_c(r, col(P, j), -t, P->mu[j], n);
    else
      vec_axpy(r, col(P, j), t, n);
  }
}

/* The penalty and the attack norm over the m listed coordinates (all d when idx is
 * NULL); the active-set steps pass A, outside which theta is zero. */
double pen(const prob *P, const double *theta, const int *idx, int m) {
  double s = 0;
  for (int q = 0; q < m; q++) {
    int j = idx ? idx[q] : q;
    s += P->w[j] * fabs(theta[j]);
  }
  return s;
}

double attack_norm(const prob *P, const double *theta, const int *idx, int m) {
  double s = 0;
  for (int q = 0; q < m; q++) {
    double t = theta[idx ? idx[q] : q];
    s += P->norm == ADV_L2 ? t * t : fabs(t);
  }
  return P->norm == ADV_L2 ? sqrt(s) : s;
}

/* The active-set method's row scales sqrt(rw) (positive weights only, one per row). */
static void prob_row_scales(prob *P, SEXP rw) {
  if (TYPEOF(rw) != REALSXP) error("row weights: a double vector");
  if (length(rw) != P->n) error("row weights: one per row");
  double *es = (double *)R_alloc(P->n, sizeof(double));
  for (int i = 0; i < P->n; i++) {
    es[i] = sqrt(REAL(rw)[i]);
    if (!(es[i] > 0)) error("row weights: positive ones only for xi = 0");
  }
  P->es = es;
  P->rw = NULL;
}

/* The problem from the .Call arguments (see C_lasso_path). */
static void prob_unpack(prob *P, SEXP x, SEXP y, SEXP w, SEXP sc, SEXP excl, SEXP ctrl,
                        SEXP ints, SEXP rw) {
  if (!isNull(rw) && TYPEOF(rw) != REALSXP) error("row weights: a double vector");
  /* read-only pointers: REAL() on an ALTREP wrapper of shared data (as R can hand
   * over a matrix) copies it, n x d doubles per call */
  P->x = REAL_RO(x);
  P->mu = NULL;
  P->rw = isNull(rw) ? NULL : REAL_RO(rw);
  P->y = REAL_RO(y);
  P->n = nrows(x);
  P->d = ncols(x);
  P->w = REAL(w);
  P->sc = REAL(sc);
  P->excl = INTEGER(excl);
  P->eps = REAL(ctrl)[0];
  P->xi = REAL(ctrl)[1];
  P->thresh = REAL(ctrl)[2];
  P->sy = REAL(ctrl)[3];
  P->norm = INTEGER(ints)[0];
  P->intercept = INTEGER(ints)[1];
  P->maxit = INTEGER(ints)[2];
  P->nth = INTEGER(ints)[3] > 0 ? INTEGER(ints)[3] : 1;
  P->full_kkt = length(ints) > 4 ? INTEGER(ints)[4] : 0;
  P->es = NULL;
  if (P->rw && length(rw) != P->n) error("row weights: one per row");
  if (P->rw && P->eps > 0 && P->xi == 0) prob_row_scales(P, rw);
}

/* list(beta, b, kkt, iters, status[, loss]) of a path (loss: R_NilValue to leave it
 * out); the caller keeps its parts protected until it returns the list. */
static SEXP path_out(SEXP beta, SEXP bvec, SEXP kkt, SEXP iters, SEXP status, SEXP loss) {
  const char *nms[] = {"beta", "b", "kkt", "iters", "status", "loss", ""};
  int has_loss = !isNull(loss);
  if (!has_loss) nms[5] = "";
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  SEXP parts[] = {beta, bvec, kkt, iters, status, loss};
  for (int q = 0; q < 5 + has_loss; q++) SET_VECTOR_ELT(out, q, parts[q]);
  UNPROTECT(1);
  return out;
}

/* The training loss (without the penalty) at (theta, b), from the residuals (into r:
 * n scratch): the mean squared residual for eps = 0, the mean worst case
 * (|r_i| + s_i eps N)^2 for xi = 0; NA for the surrogate (R computes it). */
static double path_loss(const prob *P, const double *theta, double b, double *r) {
  if (P->eps > 0 && P->xi > 0) return NA_REAL;
  residuals(P, theta, b, r);
  double c = P->eps > 0 ? P->eps * attack_norm(P, theta, NULL, P->d) : 0, s = 0;
  for (int i = 0; i < P->n; i++) {
    double e = fabs(r[i]) + rsc(P, i) * c;
    s += e * e;
  }
  return s / P->n;
}

/* The solutions along the grid, each warm-started from the previous one (theta = 0,
 * b = 0 before the first), by the solver the loss calls for; loss: path_loss at each. */
static void lasso_walk(const prob *P, const double *lam, int nl, double *beta,
                       double *bvec, double *kkt, int *iters, int *status, double *loss) {
  int n = P->n, d = P->d;
  double *theta = (double *)R_alloc(d, sizeof(double));
  memset(theta, 0, d * sizeof(double));
  double b = 0, L = 1, lmax = 0;
  cdn_state *C = NULL;
  aset *S = NULL;
  double *r = NULL, *rl = (double *)R_alloc(n, sizeof(double));
  if (P->eps == 0) {
    C = cd_init(P, &lmax);
  } else if (P->xi == 0) {
    S = as_init(P);
    r = (double *)R_alloc(n, sizeof(double));
  }
  for (int l = 0; l < nl; l++) {
    const void *vmax = vmaxget();
    int st;
    /* (the active-set method stopped by maxit between two checks has measured no
     * residual at its last point: NA then, never an uninitialised value) */
    kkt[l] = NA_REAL;
    if (C) {
      double lprev = l == 0 ? fmax(lmax, lam[0]) : lam[l - 1];
      st = cd_solve(P, C, lam[l], lprev, theta, kkt + l, iters + l);
    } else if (S) {
      st = as_solve(P, S, lam[l], theta, &b, r, kkt + l, iters + l);
    } else {
      st = fista_solve(P, lam[l], theta, &b, &L, kkt + l, iters + l);
    }
    if (!C) vmaxset(vmax); /* (coordinate descent grows its caches along the path) */
    status[l] = st;
    memcpy(beta + (size_t)l * d, theta, d * sizeof(double));
    bvec[l] = b;
    loss[l] = path_loss(P, theta, b, rl);
  }
}

/* The path (see C_lasso_path); mu: NULL, or for eps = 0 the column means, which
 * coordinate descent subtracts on the fly (x itself uncentred: no centred copy). */
static SEXP lasso_path(SEXP x, SEXP y, SEXP w, SEXP sc, SEXP excl, SEXP lambda, SEXP ctrl,
                       SEXP ints, SEXP rw, SEXP mu) {
  prob P;
  prob_unpack(&P, x, y, w, sc, excl, ctrl, ints, rw);
  if (!isNull(rw) && P.eps == 0) error("row weights: for eps > 0 only");
  if (!isNull(mu)) {
    if (TYPEOF(mu) != REALSXP || length(mu) != P.d) error("mu: one double per column");
    if (P.eps != 0) error("mu: for eps = 0 only");
    P.mu = REAL(mu);
  }
  int nl = length(lambda);
  SEXP beta = PROTECT(allocMatrix(REALSXP, P.d, nl));
  SEXP bvec = PROTECT(allocVector(REALSXP, nl));
  SEXP kkt = PROTECT(allocVector(REALSXP, nl));
  SEXP iters = PROTECT(allocVector(INTSXP, nl));
  SEXP status = PROTECT(allocVector(INTSXP, nl));
  SEXP loss = PROTECT(allocVector(REALSXP, nl));
  lasso_walk(&P, REAL(lambda), nl, REAL(beta), REAL(bvec), REAL(kkt), INTEGER(iters),
             INTEGER(status), REAL(loss));
  SEXP out = path_out(beta, bvec, kkt, iters, status, loss);
  UNPROTECT(6);
  return out;
}

/* The path. x: n x d (centred when intercept), y (centred when intercept),
 * w: penalty weights, sc: KKT scales, excl: columns fixed at zero, lambda: the path,
 * ctrl = c(eps, xi, thresh, sy), ints = c(norm, intercept, maxit, threads[, full_kkt])
 * (full_kkt = 1 turns the row-space Newton solve off, for the tests), rw: observation
 * weights of mean 1 or NULL (eps > 0 only: R folds them into the rows for eps = 0).
 * For xi > 0 they weigh each row's loss; for xi = 0 R has multiplied the rows of x
 * and y by sqrt(rw) (positive weights only), and the active-set method takes
 * sqrt(rw) as its row scales (prob.es).
 * Returns list(beta (d x nlam), b (nlam), kkt, iters, status, loss (path_loss)). */
SEXP C_lasso_path(SEXP x, SEXP y, SEXP w, SEXP sc, SEXP excl, SEXP lambda, SEXP ctrl,
                  SEXP ints, SEXP rw) {
  return lasso_path(x, y, w, sc, excl, lambda, ctrl, ints, rw, R_NilValue);
}

/* C_lasso_path for eps = 0 with x uncentred and mu its column means (implicit
 * centring: y centred as there, the columns taken as x_j - mu_j). */
SEXP C_lasso_path_mu(SEXP x, SEXP y, SEXP w, SEXP sc, SEXP excl, SEXP lambda, SEXP ctrl,
                     SEXP ints, SEXP mu) {
  if (isNull(mu)) error("mu: one double per column");
  return lasso_path(x, y, w, sc, excl, lambda, ctrl, ints, R_NilValue, mu);
}

/* The true-attack solutions (xi = 0) at one lambda over an increasing vector of eps
 * (all > 0), each warm-started from the one before with the active-set state kept:
 * the free coefficients, the caches and (L2) the pinned residuals carry over, so a
 * small change of eps usually costs a few Newton steps on a nearby manifold instead
 * of a path from zero. Arguments as C_lasso_path, with lambda one value and eps the
 * vector (ctrl[0] is ignored); start: NULL (zero) or c(theta, b) to start from (the
 * solution at a nearby eps). Returns list(beta (d x neps), b, kkt, iters, status). */
SEXP C_lasso_eps_path(SEXP x, SEXP y, SEXP w, SEXP sc, SEXP excl, SEXP lambda, SEXP eps,
                      SEXP ctrl, SEXP ints, SEXP rw, SEXP start) {
  prob P;
  if (TYPEOF(eps) != REALSXP || TYPEOF(lambda) != REALSXP) error("eps and lambda: doubles");
  if (!isNull(start) && TYPEOF(start) != REALSXP) error("start: a double vector");
  int ne = length(eps);
  const double *ev = REAL(eps);
  if (length(lambda) != 1 || ne < 1) error("one lambda and at least one eps");
  for (int k = 0; k < ne; k++)
    if (!(ev[k] > 0) || (k > 0 && ev[k] < ev[k - 1]))
      error("eps must be positive and increasing");
  prob_unpack(&P, x, y, w, sc, excl, ctrl, ints, R_NilValue);
  P.eps = ev[0];
  P.xi = 0;
  if (!isNull(rw)) prob_row_scales(&P, rw);
  double lam = REAL(lambda)[0];
  int d = P.d;
  SEXP beta = PROTECT(allocMatrix(REALSXP, d, ne));
  SEXP bvec = PROTECT(allocVector(REALSXP, ne));
  SEXP kkt = PROTECT(allocVector(REALSXP, ne));
  SEXP iters = PROTECT(allocVector(INTSXP, ne));
  SEXP status = PROTECT(allocVector(INTSXP, ne));
  double *theta = (double *)R_alloc(d, sizeof(double));
  double *r = (double *)R_alloc(P.n, sizeof(double));
  memset(theta, 0, d * sizeof(double));
  double b = 0;
  if (!isNull(start)) {
    if (length(start) != d + 1) error("start: d + 1 values");
    for (int j = 0; j < d; j++) theta[j] = P.excl[j] ? 0 : REAL(start)[j];
    b = P.intercept ? REAL(start)[d] : 0;
  }
  aset *S = as_init(&P);
  for (int k = 0; k < ne; k++) {
    const void *vmax = vmaxget();
    P.eps = ev[k];
    if (k > 0) as_next_eps(&P, S); /* (the pins: kept or freed) */
    REAL(kkt)[k] = NA_REAL;
    INTEGER(status)[k] = as_solve(&P, S, lam, theta, &b, r, REAL(kkt) + k, INTEGER(iters) + k);
    vmaxset(vmax);
    memcpy(REAL(beta) + (size_t)k * d, theta, d * sizeof(double));
    REAL(bvec)[k] = b;
  }
  SEXP out = path_out(beta, bvec, kkt, iters, status, R_NilValue);
  UNPROTECT(5);
  return out;
}

/* Exact gradient of the surrogate loss in (theta, b), for the tests:
 * list(loss, gradient (d + 1, last entry the intercept)). */
SEXP C_lasso_surrogate(SEXP theta, SEXP b, SEXP x, SEXP y, SEXP eps, SEXP norm, SEXP xi) {
  prob P;
  memset(&P, 0, sizeof(P));
  P.x = REAL(x);
  P.y = REAL(y);
  P.n = nrows(x);
  P.d = ncols(x);
  P.eps = asReal(eps);
  P.xi = asReal(xi);
  P.norm = asInteger(norm);
  P.intercept = 1;
  P.nth = 1;
  P.rw = NULL;
  P.es = NULL;
  double *r = (double *)R_alloc(P.n, sizeof(double));
  double *v = (double *)R_alloc(P.n, sizeof(double));
  SEXP grad = PROTECT(allocVector(REALSXP, P.d + 1));
  double loss = sur_loss(&P, REAL(theta), asReal(b), r, v, REAL(grad));
  const char *nms[] = {"loss", "gradient", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  SET_VECTOR_ELT(out, 0, ScalarReal(loss));
  SET_VECTOR_ELT(out, 1, grad);
  UNPROTECT(2);
  return out;
}

/* The rows `rows` (1-based; all when R_NilValue) of x, centred by column when
 * `center`, in one pass per column: list(x (the copy), mean, sd (divisor = rows),
 * xty). The mean is over the selected rows; sd is their standard deviation about it
 * (two passes over the column in cache, so no cancellation). Cross-validation uses it
 * to build each training fold without copying x in R. With `copy` FALSE (all rows
 * only) x is not copied (x: NULL); the means then serve implicit centring
 * (C_lasso_path_mu). yc: NULL, or the (centred) response of the selected rows, and
 * then xty_j = (x_j - mean_j)'yc (x_j'yc without `center`), computed while the
 * column is in cache (lambda_max). */
SEXP C_lasso_prep(SEXP x, SEXP rows, SEXP center, SEXP copy, SEXP yc) {
  int n = nrows(x), d = ncols(x), ctr = asLogical(center), cp = asLogical(copy);
  int m = isNull(rows) ? n : length(rows);
  const int *ri = isNull(rows) ? NULL : INTEGER(rows);
  for (int q = 0; q < m && ri; q++)
    if (ri[q] < 1 || ri[q] > n) error("row index %d out of range", ri[q]);
  if (!cp && ri) error("rows need a copy");
  if (!isNull(yc) && (TYPEOF(yc) != REALSXP || length(yc) != m)) error("yc: one double per row");
  SEXP xc = PROTECT(cp ? allocMatrix(REALSXP, m, d) : R_NilValue);
  if (cp) adv_hugepages(REAL(xc), (size_t)m * d * sizeof(double));
  SEXP mean = PROTECT(allocVector(REALSXP, d));
  SEXP sd = PROTECT(allocVector(REALSXP, d));
  SEXP xty = PROTECT(isNull(yc) ? R_NilValue : allocVector(REALSXP, d));
  const double *X = REAL_RO(x), *yv = isNull(yc) ? NULL : REAL_RO(yc); /* (see prob_unpack) */
  double *Y = cp ? REAL(xc) : NULL, *mu = REAL(mean), *s = REAL(sd);
  for (int j = 0; j < d; j++) {
    const double *xj = X + (size_t)j * n;
    const double *src = xj;
    double a = 0;
    if (cp) {
      double *yj = Y + (size_t)j * m;
      if (ri) {
        for (int q = 0; q < m; q++) yj[q] = xj[ri[q] - 1];
      } else {
        memcpy(yj, xj, (size_t)m * sizeof(double));
      }
      src = yj;
    }
    a = vec_sum8(src, m) / m;
    double v = vec_dot8c(src, a, src, a, m); /* (several partial sums: no long chain) */
    mu[j] = a;
    s[j] = sqrt(v / m);
    if (cp && ctr) {
      double *yj = Y + (size_t)j * m;
      for (int q = 0; q < m; q++) yj[q] -= a;
    }
    if (yv) REAL(xty)[j] = vec_dot8c(src, (ctr && !cp) ? a : 0.0, yv, 0.0, m);
  }
  const char *nms[] = {"x", "mean", "sd", "xty", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  SET_VECTOR_ELT(out, 0, xc);
  SET_VECTOR_ELT(out, 1, mean);
  SET_VECTOR_ELT(out, 2, sd);
  SET_VECTOR_ELT(out, 3, xty);
  UNPROTECT(5);
  return out;
}
