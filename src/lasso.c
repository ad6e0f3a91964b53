/* Adversarial LASSO path for the linear model (MATH.md section 8):
 *
 *   F(theta, b) = (1/n) sum_i l(f(x_i + A_{eps,xi}), y_i) + lambda sum_j w_j |theta_j|,
 *
 * with the intercept b neither attacked nor penalised. R passes x centred (when there
 * is an intercept) and the weights w_j = pf_j * s_j, which is glmnet's standardisation
 * written on the original scale: coordinate-wise methods give the same iterates.
 *
 * Three solvers, one per shape of the loss, each declared converged only when the
 * relative KKT residual (stationarity violation of coordinate j in standardised units,
 * |dF/dtheta_j| * s_j, divided by the scale of y) is below `thresh`:
 *
 * - eps = 0: the plain LASSO. Cyclic coordinate descent with covariance updates (the
 *   gradient x_j'r/n is kept for every j; Gram columns are computed once when a
 *   coordinate first becomes non-zero and cached). Coordinate descent is exact and
 *   fast here because the non-smooth part is separable, but only linearly convergent,
 *   and slow when df approaches n; an active-set Newton step on the non-zero
 *   coordinates (cd_newton) finishes the job.
 *
 * - eps > 0, xi = 0: the true attack gives (1/n) sum (|r_i| + eps N(theta))^2 with
 *   N = ||theta||_2 (L2) or ||theta||_1 (Linf). This is convex but its non-smoothness
 *   is NOT separable: the |r_i| kinks make it least squares plus a weighted LAD term,
 *   and at the optimum some residuals are exactly zero. Coordinate descent can stall at
 *   such kinks and proximal gradient / smoothing only creeps towards them, so neither
 *   reaches a 1e-10 KKT residual. We use a primal active-set method instead: on the
 *   manifold {theta_j = 0 for j outside A, r_i = 0 for i in Z} with all signs fixed the
 *   objective is smooth and convex, and an equality-constrained Newton step (one
 *   symmetric indefinite KKT solve, LAPACK dsysv) minimises it; a ratio test stops the
 *   step where a coefficient or a residual reaches zero (the element joins the
 *   constraints); at a manifold minimum the multipliers u_i of the pinned residuals
 *   (which must lie in [-1, 1]) and the subgradients of the inactive coefficients are
 *   checked, and the worst violator is freed. Every change is made from a point where
 *   the objective cannot increase, so the method terminates (like an active-set QP
 *   method; for Linf the manifold problems are exactly quadratic). Warm starts along
 *   the path keep the number of changes per lambda small.
 *
 * - eps > 0, xi > 0: the surrogate loss is smooth (the attack vanishes smoothly with
 *   the residual), so accelerated proximal gradient (FISTA) with backtracking on the
 *   Lipschitz constant and function-value restart is used, on the exact gradient of
 *   the surrogate loss. The surrogate loss need not be convex, so a KKT point is what
 *   is guaranteed.
 *
 * Threads: the only parallel loops are over columns (x_j'v for all j), each a serial
 * dot product, so results do not depend on the thread count.
 */
#include "advtrain.h"
#include <string.h>

enum { ST_OK = 0, ST_MAXIT = 1, ST_NUMERIC = 2, ST_STALL = 3 };

typedef struct {
  const double *x; /* n x d, centred when there is an intercept */
  const double *y; /* centred when there is an intercept */
  int n, d, intercept, norm, nth;
  double eps, xi;
  const double *w;  /* penalty weights */
  const double *sc; /* column scales for the KKT measure */
  const int *excl;  /* 1 for columns fixed at zero (constant columns) */
  double sy;        /* scale of y for the KKT measure */
  double thresh;
  int maxit;
} prob;

static inline double soft(double z, double t) {
  return z > t ? z - t : (z < -t ? z + t : 0.0);
}

static inline const double *col(const prob *P, int j) { return P->x + (size_t)j * P->n; }

/* out_j = x_j'v for every column, parallel over columns (deterministic). */
static void xt_v(const prob *P, const double *v, double *out) {
  int n = P->n, d = P->d;
#ifdef _OPENMP
#pragma omp parallel for num_threads(P->nth) schedule(static) if ((double)n * d > 1e5)
#endif
  for (int j = 0; j < d; j++) {
    const double *xj = P->x + (size_t)j * n;
    double s = 0;
    for (int i = 0; i < n; i++) s += xj[i] * v[i];
    out[j] = s;
  }
}

/* r = X theta + b - y using only the non-zero coefficients. */
static void residuals(const prob *P, const double *theta, double b, double *r) {
  int n = P->n;
  for (int i = 0; i < n; i++) r[i] = b - P->y[i];
  for (int j = 0; j < P->d; j++) {
    double t = theta[j];
    if (t == 0) continue;
    const double *xj = col(P, j);
    for (int i = 0; i < n; i++) r[i] += t * xj[i];
  }
}

static double pen(const prob *P, const double *theta) {
  double s = 0;
  for (int j = 0; j < P->d; j++) s += P->w[j] * fabs(theta[j]);
  return s;
}

static double attack_norm(const prob *P, const double *theta) {
  double s = 0;
  if (P->norm == ADV_L2) {
    for (int j = 0; j < P->d; j++) s += theta[j] * theta[j];
    return sqrt(s);
  }
  for (int j = 0; j < P->d; j++) s += fabs(theta[j]);
  return s;
}

/* ===================================================================== eps = 0 === */

typedef struct {
  int *pos;     /* position of column j in the cache, or -1 */
  int *list;    /* cached columns, in order of entry */
  double *cols; /* d x cap */
  int k, cap;
} gram_cache;

static const double *gram_col(const prob *P, gram_cache *G, int j) {
  if (G->pos[j] >= 0) return G->cols + (size_t)G->pos[j] * P->d;
  if (G->k == G->cap) {
    int cap = 2 * G->cap;
    double *cols = (double *)R_alloc((size_t)cap * P->d, sizeof(double));
    memcpy(cols, G->cols, (size_t)G->k * P->d * sizeof(double));
    int *list = (int *)R_alloc(cap, sizeof(int));
    memcpy(list, G->list, (size_t)G->k * sizeof(int));
    G->cols = cols;
    G->list = list;
    G->cap = cap;
  }
  double *c = G->cols + (size_t)G->k * P->d;
  xt_v(P, col(P, j), c);
  for (int k = 0; k < P->d; k++) c[k] /= P->n;
  G->pos[j] = G->k;
  G->list[G->k++] = j;
  return c;
}

/* relative KKT residual of the LASSO at theta, from g = x'r/n (r = y - X theta) */
static double cd_kkt(const prob *P, double lam, const double *theta, const double *g,
                     const int *idx, int m) {
  double worst = 0;
  for (int q = 0; q < m; q++) {
    int j = idx ? idx[q] : q;
    if (P->excl[j]) continue;
    double t = lam * P->w[j] / 2, v;
    if (theta[j] != 0) v = fabs(g[j] - t * adv_sign(theta[j]));
    else v = fabs(g[j]) > t ? fabs(g[j]) - t : 0;
    v *= 2 * P->sc[j] / P->sy;
    if (v > worst) worst = v;
  }
  return worst;
}

static int cd_update(const prob *P, gram_cache *G, double lam, double *theta, double *g,
                     const double *xv, int j) {
  if (P->excl[j]) return 0;
  double old = theta[j];
  double u = g[j] + xv[j] * old;
  double nw = soft(u, lam * P->w[j] / 2) / xv[j];
  if (nw == old) return 0;
  const double *c = gram_col(P, G, j);
  double delta = nw - old;
  theta[j] = nw;
  for (int k = 0; k < P->d; k++) g[k] -= delta * c[k];
  return 1;
}

/* The same update restricted to the cached (ever non-zero) coordinates: only their
 * gradients are kept current, O(k) per change instead of O(d); the others are brought
 * up to date once after the inner loop (cd_sync). With d >> n this is what makes the
 * covariance updates cheaper than updating the residual. */
static void cd_update_cached(const prob *P, gram_cache *G, double lam, double *theta,
                             double *g, const double *xv, int q) {
  int j = G->list[q];
  double old = theta[j];
  double u = g[j] + xv[j] * old;
  double nw = soft(u, lam * P->w[j] / 2) / xv[j];
  if (nw == old) return;
  const double *c = G->cols + (size_t)q * P->d;
  double delta = nw - old;
  theta[j] = nw;
  for (int a = 0; a < G->k; a++) {
    int k = G->list[a];
    g[k] -= delta * c[k];
  }
}

/* Newton polish on the non-zero cached coordinates with their signs fixed: the
 * stationarity equations G_AA delta = g_A - (lam/2) w_A sign(theta_A) are linear, so
 * one Cholesky solve lands on the solution when the signs are right. Coordinate
 * descent converges only linearly, and slowly when the active columns are nearly
 * collinear (df close to n), so it is used to find the signs and this to finish.
 * Returns 1 if the step was taken (all signs kept). */
static int cd_newton(const prob *P, gram_cache *G, double lam, double *theta, double *g) {
  const void *vmax = vmaxget();
  int *A = (int *)R_alloc(G->k > 0 ? G->k : 1, sizeof(int));
  double *H = NULL, *rhs = NULL;
  int ok = 0;
  /* With the signs fixed the objective is a convex quadratic, so a step along the
   * Newton direction up to the first coefficient that reaches zero still decreases it;
   * that coefficient is then dropped and the solve repeated (an active-set method). */
  for (int round = 0; round < 50; round++) {
    int k = 0;
    for (int q = 0; q < G->k; q++)
      if (theta[G->list[q]] != 0) A[k++] = q;
    if (k == 0) break;
    if (!H) {
      H = (double *)R_alloc((size_t)k * k, sizeof(double));
      rhs = (double *)R_alloc(k, sizeof(double));
    }
    for (int b = 0; b < k; b++) {
      const double *c = G->cols + (size_t)A[b] * P->d;
      for (int a = 0; a < k; a++) H[a + (size_t)b * k] = c[G->list[A[a]]];
      int j = G->list[A[b]];
      rhs[b] = g[j] - lam * P->w[j] / 2 * adv_sign(theta[j]);
    }
    int info = 0, one = 1;
    F77_CALL(dposv)("U", &k, &one, H, &k, rhs, &k, &info FCONE);
    if (info != 0) break;
    double t = 1;
    int block = -1;
    for (int a = 0; a < k; a++) {
      int j = G->list[A[a]];
      if (!R_FINITE(rhs[a])) {
        t = -1;
        break;
      }
      if (adv_sign(theta[j] + rhs[a]) != adv_sign(theta[j])) {
        double ta = -theta[j] / rhs[a];
        if (ta < t) t = ta, block = a;
      }
    }
    if (t < 0) break;
    for (int a = 0; a < k; a++) {
      int j = G->list[A[a]];
      const double *c = G->cols + (size_t)A[a] * P->d;
      double nw = (a == block) ? 0.0 : theta[j] + t * rhs[a];
      double delta = nw - theta[j];
      theta[j] = nw;
      for (int b = 0; b < G->k; b++) g[G->list[b]] -= delta * c[G->list[b]];
    }
    ok = 1;
    if (block < 0) break;
  }
  vmaxset(vmax);
  return ok;
}

static void cd_sync(const prob *P, gram_cache *G, const double *theta, const double *start,
                    double *g) {
  for (int q = 0; q < G->k; q++) {
    int j = G->list[q];
    double delta = theta[j] - start[q];
    if (delta == 0) continue;
    const double *c = G->cols + (size_t)q * P->d;
    for (int k = 0; k < P->d; k++)
      if (G->pos[k] < 0) g[k] -= delta * c[k];
  }
}

/* One lambda of the plain LASSO, warm-started from theta with g = x'(y - X theta)/n. */
static int cd_solve(const prob *P, gram_cache *G, double lam, double *theta, double *g,
                    const double *xv, double *kkt, int *iters) {
  int it = 0;
  for (;;) {
    for (int j = 0; j < P->d; j++) cd_update(P, G, lam, theta, g, xv, j);
    it++;
    double *start = (double *)R_alloc(G->k > 0 ? G->k : 1, sizeof(double));
    for (int q = 0; q < G->k; q++) start[q] = theta[G->list[q]];
    int next_newton = 3;
    for (int sweeps = 1;; sweeps++) {
      for (int q = 0; q < G->k; q++) cd_update_cached(P, G, lam, theta, g, xv, q);
      it++;
      if (cd_kkt(P, lam, theta, g, G->list, G->k) <= P->thresh / 2) break;
      if (sweeps == next_newton) {
        next_newton *= 2;
        if (cd_newton(P, G, lam, theta, g) &&
            cd_kkt(P, lam, theta, g, G->list, G->k) <= P->thresh / 2)
          break;
      }
      if (it >= P->maxit) break;
      if (it % 64 == 0) R_CheckUserInterrupt();
    }
    cd_sync(P, G, theta, start, g);
    *kkt = cd_kkt(P, lam, theta, g, NULL, P->d);
    if (*kkt <= P->thresh) break;
    if (it >= P->maxit) {
      *iters = it;
      return ST_MAXIT;
    }
  }
  *iters = it;
  return ST_OK;
}

/* ========================================================= eps > 0, xi = 0 === */

typedef struct {
  int *A, k;         /* free coefficients */
  signed char *inA;  /* d */
  signed char *sig;  /* sign of each free coefficient */
  int *Z, z;         /* pinned residuals */
  signed char *inZ;  /* n */
  signed char *rho;  /* sign of the other residuals */
} aset;

/* F at (theta, b) from its residuals; the true (xi = 0) adversarial objective */
static double as_obj(const prob *P, double lam, const double *theta, const double *r) {
  double c = P->eps * attack_norm(P, theta), s = 0;
  for (int i = 0; i < P->n; i++) {
    double e = fabs(r[i]) + c;
    s += e * e;
  }
  return s / P->n + lam * pen(P, theta);
}

static void as_remove_A(aset *S, int j) {
  for (int q = 0; q < S->k; q++) {
    if (S->A[q] == j) {
      memmove(S->A + q, S->A + q + 1, (size_t)(S->k - q - 1) * sizeof(int));
      S->k--;
      break;
    }
  }
  S->inA[j] = 0;
}

static void as_remove_Z(aset *S, int i) {
  for (int q = 0; q < S->z; q++) {
    if (S->Z[q] == i) {
      memmove(S->Z + q, S->Z + q + 1, (size_t)(S->z - q - 1) * sizeof(int));
      S->z--;
      break;
    }
  }
  S->inZ[i] = 0;
}

/* Full subgradient check. v (n) receives the loss derivative weights; G (d) the
 * gradient. u (length S->z) holds the residual multipliers (clipped to [-1, 1] here).
 * Returns the relative KKT residual and the most violating inactive coordinate. */
static double as_kkt(const prob *P, const aset *S, double lam, const double *theta,
                     const double *r, const double *u, double *v, double *G,
                     int *worst_j, double *worst_gj) {
  int n = P->n;
  double N = attack_norm(P, theta), c = P->eps * N, E = 0;
  for (int i = 0; i < n; i++) {
    if (S->inZ[i]) continue;
    double e = S->rho[i] * r[i] + c;
    v[i] = 2.0 / n * S->rho[i] * e;
    E += e;
  }
  E += S->z * c;
  for (int q = 0; q < S->z; q++) {
    double uq = u[q] > 1 ? 1 : (u[q] < -1 ? -1 : u[q]);
    v[S->Z[q]] = 2.0 * c / n * uq;
  }
  xt_v(P, v, G);
  double gb = 0;
  for (int i = 0; i < n; i++) gb += v[i];
  double worst = P->intercept ? fabs(gb) / P->sy : 0, wv = 0;
  *worst_j = -1;
  double extra = P->norm == ADV_LINF ? 2 * P->eps * E / n : 0;
  for (int j = 0; j < P->d; j++) {
    if (P->excl[j]) continue;
    double viol;
    if (S->inA[j]) {
      double dn = P->norm == ADV_L2 ? (N > 0 ? theta[j] / N : 0) : S->sig[j];
      double gj = G[j] + 2 * P->eps * E / n * dn;
      if (theta[j] != 0) {
        viol = fabs(gj + lam * P->w[j] * S->sig[j]);
      } else {
        double t = lam * P->w[j] + (P->norm == ADV_L2 ? 0 : extra);
        double gg = P->norm == ADV_L2 ? gj : G[j];
        viol = fabs(gg) > t ? fabs(gg) - t : 0;
      }
    } else {
      double t = lam * P->w[j] + extra;
      viol = fabs(G[j]) > t ? fabs(G[j]) - t : 0;
      if (viol * P->sc[j] > wv) {
        wv = viol * P->sc[j];
        *worst_j = j;
        *worst_gj = G[j];
      }
    }
    viol *= P->sc[j] / P->sy;
    if (viol > worst) worst = viol;
  }
  return worst;
}

/* L2 at theta = 0: is zero optimal (||soft(g, lam w)|| <= 2 eps mean|r|)? If not,
 * move along the steepest descent direction -soft(g, lam w) and free its support. */
static int as_zero_start(const prob *P, aset *S, double lam, double *theta, double *b,
                         double *r, double *v, double *G) {
  int n = P->n, d = P->d;
  *b = 0; /* the minimiser over b at theta = 0 (y is centred) */
  residuals(P, theta, *b, r);
  double m = 0;
  for (int i = 0; i < n; i++) {
    v[i] = 2.0 / n * r[i];
    m += fabs(r[i]);
  }
  m /= n;
  xt_v(P, v, G);
  double qn = 0;
  for (int j = 0; j < d; j++) {
    double q = P->excl[j] ? 0 : soft(G[j], lam * P->w[j]);
    G[j] = q;
    qn += q * q;
  }
  qn = sqrt(qn);
  double smax = 0;
  for (int j = 0; j < d; j++) smax = fmax(smax, P->sc[j]);
  /* zero is optimal up to the tolerance (this is how lambda_max is defined) */
  if ((qn - 2 * P->eps * m) * smax / P->sy <= P->thresh) return 0;
  double slope = -(qn - 2 * P->eps * m), f0 = as_obj(P, lam, theta, r);
  double tau = 1;
  double *th = (double *)R_alloc(d, sizeof(double));
  double *rr = (double *)R_alloc(n, sizeof(double));
  for (int tries = 0; tries < 200; tries++, tau /= 2) {
    for (int j = 0; j < d; j++) th[j] = -tau * G[j] / qn;
    residuals(P, th, *b, rr);
    if (as_obj(P, lam, th, rr) <= f0 + 0.25 * tau * slope) break;
  }
  S->k = 0;
  for (int j = 0; j < d; j++) {
    theta[j] = th[j];
    S->inA[j] = 0;
    if (th[j] != 0) {
      S->A[S->k++] = j;
      S->inA[j] = 1;
      S->sig[j] = (signed char)adv_sign(th[j]);
    }
  }
  residuals(P, theta, *b, r);
  S->z = 0;
  for (int i = 0; i < n; i++) {
    S->inZ[i] = 0;
    S->rho[i] = r[i] >= 0 ? 1 : -1;
  }
  return 1;
}

/* One lambda of the true-attack problem by the active-set method. */
static int as_solve(const prob *P, aset *S, double lam, double *theta, double *b,
                    double *r, double *kkt, int *iters) {
  int n = P->n, d = P->d, ic = P->intercept;
  double *v = (double *)R_alloc(n, sizeof(double));
  double *G = (double *)R_alloc(d, sizeof(double));
  double *dr = (double *)R_alloc(n, sizeof(double));
  double *rt = (double *)R_alloc(n, sizeof(double));
  double *tht = (double *)R_alloc(d, sizeof(double));
  double *u = (double *)R_alloc(n + 1, sizeof(double));
  int status = ST_OK, it = 0, fresh = 0, stalls = 0, batch = 1;

  /* signs from the warm start */
  residuals(P, theta, *b, r);
  S->k = 0;
  for (int j = 0; j < d; j++) {
    S->inA[j] = theta[j] != 0;
    if (theta[j] != 0) {
      S->A[S->k++] = j;
      S->sig[j] = (signed char)adv_sign(theta[j]);
    }
  }
  for (int i = 0; i < n; i++)
    if (!S->inZ[i]) S->rho[i] = r[i] >= 0 ? 1 : -1;
  if (S->k == 0) S->z = 0, memset(S->inZ, 0, n);

  for (;;) {
    if (++it > P->maxit) {
      status = ST_MAXIT;
      break;
    }
    if (it % 16 == 0) R_CheckUserInterrupt();
    if (S->k == 0 && P->norm == ADV_L2) {
      if (!as_zero_start(P, S, lam, theta, b, r, v, G)) {
        memset(u, 0, sizeof(double));
        int wj;
        double wg;
        *kkt = as_kkt(P, S, lam, theta, r, u, v, G, &wj, &wg);
        /* at theta = 0 the L2 condition is the ball condition checked above */
        *kkt = 0;
        break;
      }
      continue;
    }
    const void *vmax = vmaxget();
    int k = S->k, p = k + ic, z = S->z, m = p + z;
    double N = attack_norm(P, theta), c = P->eps * N;
    /* dN/dbeta (zero for the intercept) */
    double *dN = (double *)R_alloc(p > 0 ? p : 1, sizeof(double));
    for (int q = 0; q < k; q++) {
      int j = S->A[q];
      dN[q] = P->norm == ADV_L2 ? (N > 0 ? theta[j] / N : 0) : S->sig[j];
    }
    if (ic) dN[k] = 0;
    /* B: the free rows (not pinned) of [x_A, 1]; e_i = rho_i r_i + c */
    int nf = n - z;
    double *B = (double *)R_alloc((size_t)(nf > 0 ? nf : 1) * (p > 0 ? p : 1), sizeof(double));
    double *re = (double *)R_alloc(nf > 0 ? nf : 1, sizeof(double));
    double *rh = (double *)R_alloc(nf > 0 ? nf : 1, sizeof(double));
    double E = z * c;
    {
      int row = 0;
      for (int i = 0; i < n; i++) {
        if (S->inZ[i]) continue;
        double e = S->rho[i] * r[i] + c;
        re[row] = S->rho[i] * e;
        rh[row] = S->rho[i];
        E += e;
        for (int q = 0; q < k; q++) B[row + (size_t)q * nf] = col(P, S->A[q])[i];
        if (ic) B[row + (size_t)k * nf] = 1;
        row++;
      }
    }
    double *K = (double *)R_alloc((size_t)m * m, sizeof(double));
    double *rhs = (double *)R_alloc(m, sizeof(double));
    double *grad = (double *)R_alloc(p > 0 ? p : 1, sizeof(double));
    double *sv = (double *)R_alloc(p > 0 ? p : 1, sizeof(double));
    memset(K, 0, (size_t)m * m * sizeof(double));
    /* H = (2/n)[B'B + eps (s dN' + dN s') + n eps^2 dN dN'] + (2 eps/n) E d2N */
    if (p > 0 && nf > 0) adv_gemm(1, 0, p, p, nf, 2.0 / n, B, nf, B, nf, 0.0, K, m);
    for (int q = 0; q < p; q++) {
      double s1 = 0, s2 = 0;
      for (int i = 0; i < nf; i++) {
        s1 += B[i + (size_t)q * nf] * rh[i];
        s2 += B[i + (size_t)q * nf] * re[i];
      }
      sv[q] = s1;
      grad[q] = 2.0 / n * s2 + 2 * P->eps * E / n * dN[q];
      if (q < k) grad[q] += lam * P->w[S->A[q]] * S->sig[S->A[q]];
    }
    for (int a = 0; a < p; a++)
      for (int bq = 0; bq < p; bq++)
        K[a + (size_t)bq * m] += 2.0 / n * (P->eps * (sv[a] * dN[bq] + dN[a] * sv[bq]) +
                                            n * P->eps * P->eps * dN[a] * dN[bq]);
    if (P->norm == ADV_L2 && N > 0) {
      double f = 2 * P->eps * E / n / N;
      for (int a = 0; a < k; a++) {
        for (int bq = 0; bq < k; bq++)
          K[a + (size_t)bq * m] -= f * dN[a] * dN[bq];
        K[a + (size_t)a * m] += f;
      }
    }
    double hmax = 0;
    for (int a = 0; a < p; a++) hmax = fmax(hmax, fabs(K[a + (size_t)a * m]));
    for (int a = 0; a < p; a++) K[a + (size_t)a * m] += 1e-13 * (hmax > 0 ? hmax : 1);
    for (int q = 0; q < z; q++) {
      int i = S->Z[q];
      for (int a = 0; a < k; a++) K[(p + q) + (size_t)a * m] = col(P, S->A[a])[i];
      if (ic) K[(p + q) + (size_t)k * m] = 1;
      for (int a = 0; a < p; a++) K[a + (size_t)(p + q) * m] = K[(p + q) + (size_t)a * m];
      K[(p + q) + (size_t)(p + q) * m] = -1e-13 * (hmax > 0 ? hmax : 1);
      rhs[p + q] = -r[i];
    }
    for (int a = 0; a < p; a++) rhs[a] = -grad[a];
    /* keep a copy of H for the manifold residual ||H delta|| */
    double *H = (double *)R_alloc((size_t)(p > 0 ? p : 1) * (p > 0 ? p : 1), sizeof(double));
    for (int a = 0; a < p; a++)
      for (int bq = 0; bq < p; bq++) H[a + (size_t)bq * p] = K[a + (size_t)bq * m];
    int info = 0;
    if (m > 0) {
      int nrhs = 1, lwork = -1;
      int *ipiv = (int *)R_alloc(m, sizeof(int));
      double wq = 0;
      F77_CALL(dsysv)("U", &m, &nrhs, K, &m, ipiv, rhs, &m, &wq, &lwork, &info FCONE);
      lwork = (int)wq > 1 ? (int)wq : 1;
      double *work = (double *)R_alloc(lwork, sizeof(double));
      F77_CALL(dsysv)("U", &m, &nrhs, K, &m, ipiv, rhs, &m, work, &lwork, &info FCONE);
    }
    int bad = info != 0;
    for (int a = 0; a < m && !bad; a++) bad = !R_FINITE(rhs[a]);
    if (bad) {
      vmaxset(vmax);
      status = ST_NUMERIC;
      break;
    }
    const double *delta = rhs, *mu = rhs + p;
    /* manifold stationarity ||grad + C'mu|| = ||H delta||, in relative units */
    double resM = 0;
    for (int a = 0; a < p; a++) {
      double s = 0;
      for (int bq = 0; bq < p; bq++) s += H[a + (size_t)bq * p] * delta[bq];
      double scale = a < k ? P->sc[S->A[a]] : 1;
      resM = fmax(resM, fabs(s) * scale / P->sy);
    }
    double dmax = 0;
    for (int a = 0; a < p; a++) {
      double scale = a < k ? P->sc[S->A[a]] : 1;
      dmax = fmax(dmax, fabs(delta[a]) * scale / P->sy);
    }
    if (resM <= P->thresh * 0.01 || dmax <= 1e-15 || fresh > 50) {
      /* at the manifold minimum: check multipliers and inactive coordinates */
      fresh = 0;
      for (int q = 0; q < z; q++) u[q] = c > 0 ? n * mu[q] / (2 * c) : 0;
      int wj;
      double wg;
      *kkt = as_kkt(P, S, lam, theta, r, u, v, G, &wj, &wg);
      vmaxset(vmax);
      if (*kkt <= P->thresh) break;
      int wq = -1;
      double umax = 1 + 1e-12;
      for (int q = 0; q < z; q++)
        if (fabs(u[q]) > umax) umax = fabs(u[q]), wq = q;
      if (wq >= 0) {
        int i = S->Z[wq];
        S->rho[i] = u[wq] > 0 ? 1 : -1;
        as_remove_Z(S, i);
      } else if (wj >= 0) {
        /* free the worst inactive coordinate; while that keeps working, also every
         * other one violating by at least half as much (fewer Newton solves when many
         * coordinates enter between two lambdas) */
        double wv = 0;
        if (batch) {
          double Etot = 0, cc = P->eps * attack_norm(P, theta);
          for (int i = 0; i < n; i++) Etot += S->inZ[i] ? cc : fabs(r[i]) + cc;
          double ex = P->norm == ADV_LINF ? 2 * P->eps * Etot / n : 0;
          double t0 = lam * P->w[wj] + ex;
          wv = (fabs(wg) - t0) * P->sc[wj];
          for (int j = 0; j < d; j++) {
            if (S->inA[j] || P->excl[j] || j == wj) continue;
            double t = lam * P->w[j] + ex, vj = (fabs(G[j]) - t) * P->sc[j];
            if (vj > 0.5 * wv) {
              S->A[S->k++] = j;
              S->inA[j] = 1;
              S->sig[j] = G[j] > 0 ? -1 : 1;
            }
          }
        }
        S->A[S->k++] = wj;
        S->inA[wj] = 1;
        S->sig[wj] = wg > 0 ? -1 : 1;
      } else {
        /* violation only from round-off on the manifold: polish once more */
        fresh = 51;
        if (++stalls >= 3) {
          status = ST_STALL;
          break;
        }
      }
      continue;
    }
    fresh++;
    /* step: ratio test on the signs of free coefficients and free residuals */
    memset(dr, 0, n * sizeof(double));
    for (int q = 0; q < k; q++) {
      const double *xj = col(P, S->A[q]);
      double dq = delta[q];
      for (int i = 0; i < n; i++) dr[i] += dq * xj[i];
    }
    if (ic)
      for (int i = 0; i < n; i++) dr[i] += delta[k];
    double tmax = 1;
    int block = -1, bkind = 0;
    for (int q = 0; q < k; q++) {
      int j = S->A[q];
      if (S->sig[j] * delta[q] < 0) {
        double t = -theta[j] / delta[q];
        if (t < 0) t = 0;
        if (t < tmax) tmax = t, block = j, bkind = 1;
      }
    }
    for (int i = 0; i < n; i++) {
      if (S->inZ[i]) continue;
      if (S->rho[i] * dr[i] < 0) {
        double t = -r[i] / dr[i];
        if (t < 0) t = 0;
        if (t < tmax) tmax = t, block = i, bkind = 2;
      }
    }
    double gd = 0;
    for (int a = 0; a < p; a++) gd += grad[a] * delta[a];
    double f0 = as_obj(P, lam, theta, r), t = tmax, ft = f0;
    int accepted = 0;
    for (int bt = 0; bt < 60; bt++) {
      memcpy(tht, theta, d * sizeof(double));
      for (int q = 0; q < k; q++) tht[S->A[q]] += t * delta[q];
      if (t == tmax && bkind == 1) tht[block] = 0;
      for (int i = 0; i < n; i++) rt[i] = r[i] + t * dr[i];
      ft = as_obj(P, lam, tht, rt);
      if (ft <= f0 + 1e-4 * t * gd + 1e-13 * fabs(f0)) {
        accepted = 1;
        break;
      }
      t /= 2;
    }
    if (!accepted) {
      /* no decrease along the Newton direction: treat as the manifold minimum */
      vmaxset(vmax);
      fresh = 51;
      continue;
    }
    memcpy(theta, tht, d * sizeof(double));
    if (ic) *b += t * delta[k];
    vmaxset(vmax);
    if (t == tmax && block >= 0) {
      if (bkind == 1 && t == 0) batch = 0; /* a freed coordinate went the wrong way */
      if (bkind == 1) {
        as_remove_A(S, block);
      } else {
        S->Z[S->z++] = block;
        S->inZ[block] = 1;
      }
    }
    for (int q = 0; q < S->k; q++) {
      int j = S->A[q];
      if (theta[j] != 0) S->sig[j] = (signed char)adv_sign(theta[j]);
    }
    residuals(P, theta, *b, r);
  }
  *iters = it;
  return status;
}

/* ========================================================= eps > 0, xi > 0 === */

/* Surrogate loss (via the shared attack kernel) and, if grad != NULL, its exact
 * gradient in (theta, b); grad has d + 1 entries, the last for b. */
static double sur_loss(const prob *P, const double *theta, double b, double *r,
                       double *v, double *grad) {
  int n = P->n, d = P->d;
  double eps = P->eps, xi = P->xi;
  residuals(P, theta, b, r);
  double tn2 = 0, tn1 = 0;
  for (int j = 0; j < d; j++) tn2 += theta[j] * theta[j], tn1 += fabs(theta[j]);
  double Pn = tn2;
  tn2 = sqrt(tn2);
  double loss = 0, wP = 0;
  for (int i = 0; i < n; i++) {
    double rt = lin_attack_shift(r[i], theta, d, tn2, tn1, P->norm, eps, xi);
    loss += rt * rt;
    if (!grad) continue;
    double a = fabs(r[i]), h = fabs(rt), ha;
    if (P->norm == ADV_L2) {
      double D = 4 * a * a * Pn + xi * xi, D32 = D * sqrt(D);
      ha = 1 + 2 * eps * Pn * xi * xi / D32;
      wP += 2 * h * 2 * eps * a * (2 * a * a * Pn + xi * xi) / D32;
    } else {
      ha = 1;
      for (int j = 0; j < d; j++) {
        double q = 2 * a * fabs(theta[j]) + xi;
        ha += eps * 2 * theta[j] * theta[j] * xi / (q * q);
      }
    }
    v[i] = 2 * h * ha * adv_sign(r[i]);
  }
  loss /= n;
  if (!grad) return loss;
  xt_v(P, v, grad);
  double gb = 0;
  for (int i = 0; i < n; i++) gb += v[i];
  for (int j = 0; j < d; j++) grad[j] /= n;
  grad[d] = P->intercept ? gb / n : 0;
  if (P->norm == ADV_L2) {
    for (int j = 0; j < d; j++) grad[j] += wP / n * 2 * theta[j];
  } else {
    /* dh_i/dtheta_j = eps 2 a theta_j (2 a |theta_j| + 2 xi) / q^2; the loss weight is
     * 2 h_i, so we need h_i again: recompute per sample */
    for (int i = 0; i < n; i++) {
      double a = fabs(r[i]);
      if (a == 0) continue;
      double h = fabs(lin_attack_shift(r[i], theta, d, tn2, tn1, P->norm, eps, xi));
      for (int j = 0; j < d; j++) {
        double th = theta[j];
        if (th == 0) continue;
        double q = 2 * a * fabs(th) + xi;
        grad[j] += 2 * h * eps * 2 * a * th * (2 * a * fabs(th) + 2 * xi) / (q * q) / n;
      }
    }
  }
  return loss;
}

static double sur_kkt(const prob *P, double lam, const double *theta, const double *grad) {
  double worst = P->intercept ? fabs(grad[P->d]) / P->sy : 0;
  for (int j = 0; j < P->d; j++) {
    if (P->excl[j]) continue;
    double t = lam * P->w[j], v;
    if (theta[j] != 0) v = fabs(grad[j] + t * adv_sign(theta[j]));
    else v = fabs(grad[j]) > t ? fabs(grad[j]) - t : 0;
    v *= P->sc[j] / P->sy;
    if (v > worst) worst = v;
  }
  return worst;
}

/* FISTA with backtracking and gradient restart; L is carried along the path. */
static int fista_solve(const prob *P, double lam, double *theta, double *b, double *L,
                       double *kkt, int *iters) {
  int n = P->n, d = P->d;
  double *r = (double *)R_alloc(n, sizeof(double));
  double *v = (double *)R_alloc(n, sizeof(double));
  double *g = (double *)R_alloc(d + 1, sizeof(double));
  double *yk = (double *)R_alloc(d + 1, sizeof(double));
  double *xn = (double *)R_alloc(d + 1, sizeof(double));
  double *xo = (double *)R_alloc(d + 1, sizeof(double));
  double *gx = (double *)R_alloc(d + 1, sizeof(double));
  memcpy(xo, theta, d * sizeof(double));
  xo[d] = *b;
  memcpy(yk, xo, (d + 1) * sizeof(double));
  double tk = 1;
  *L *= 0.5; /* may shrink between lambdas; backtracking raises it again */
  int it = 0, status = ST_MAXIT;
  for (; it < P->maxit; it++) {
    if (it % 64 == 0) R_CheckUserInterrupt();
    double fy = sur_loss(P, yk, yk[d], r, v, g);
    if (it % 4 == 0) {
      /* the KKT residual at the current iterate */
      sur_loss(P, xo, xo[d], r, v, gx);
      *kkt = sur_kkt(P, lam, xo, gx);
      if (*kkt <= P->thresh) {
        status = ST_OK;
        break;
      }
      sur_loss(P, yk, yk[d], r, v, g);
    }
    double fn = 0;
    for (int bt = 0; bt < 100; bt++) {
      for (int j = 0; j < d; j++) {
        xn[j] = P->excl[j] ? 0 : soft(yk[j] - g[j] / *L, lam * P->w[j] / *L);
      }
      xn[d] = P->intercept ? yk[d] - g[d] / *L : 0;
      fn = sur_loss(P, xn, xn[d], r, v, NULL);
      double q = fy, s2 = 0;
      for (int j = 0; j <= d; j++) {
        double dj = xn[j] - yk[j];
        q += g[j] * dj;
        s2 += dj * dj;
      }
      q += *L / 2 * s2;
      if (fn <= q + 1e-12 * fabs(fy)) break;
      *L *= 2;
    }
    /* gradient-based restart (O'Donoghue and Candes): drop the momentum when it
     * points uphill. Function values are not used for this decision because near the
     * solution their changes drown in rounding while the KKT residual is still well
     * above 1e-10; for the same reason L only grows within one lambda. */
    double dot = 0;
    for (int j = 0; j <= d; j++) dot += (yk[j] - xn[j]) * (xn[j] - xo[j]);
    if (dot > 0) tk = 1;
    double tn = (1 + sqrt(1 + 4 * tk * tk)) / 2;
    for (int j = 0; j <= d; j++) yk[j] = xn[j] + (tk - 1) / tn * (xn[j] - xo[j]);
    memcpy(xo, xn, (d + 1) * sizeof(double));
    tk = tn;
  }
  memcpy(theta, xo, d * sizeof(double));
  *b = xo[d];
  *iters = it;
  return status;
}

/* ----------------------------------------------------------------- .Call ---- */

/* The path. x: n x d (centred when intercept), y (centred when intercept),
 * w: penalty weights, sc: KKT scales, excl: columns fixed at zero, lambda: the path,
 * ctrl = c(eps, xi, thresh, sy), ints = c(norm, intercept, maxit, threads).
 * Returns list(beta (d x nlam), b (nlam), kkt, iters, status). */
SEXP C_lasso_path(SEXP x, SEXP y, SEXP w, SEXP sc, SEXP excl, SEXP lambda, SEXP ctrl,
                  SEXP ints) {
  int nprot = 0;
  prob P;
  P.x = REAL(x);
  P.y = REAL(y);
  P.n = nrows(x);
  P.d = ncols(x);
  P.w = REAL(w);
  P.sc = REAL(sc);
  P.excl = INTEGER(excl);
  P.eps = REAL(ctrl)[0];
  P.xi = REAL(ctrl)[1];
  P.thresh = REAL(ctrl)[2];
  P.sy = REAL(ctrl)[3];
  P.norm = INTEGER(ints)[0];
  P.intercept = INTEGER(ints)[1];
  P.maxit = INTEGER(ints)[2];
  P.nth = INTEGER(ints)[3] > 0 ? INTEGER(ints)[3] : 1;
  int n = P.n, d = P.d, nl = length(lambda);
  const double *lam = REAL(lambda);

  SEXP beta = PROTECT(allocMatrix(REALSXP, d, nl));
  nprot++;
  SEXP bvec = PROTECT(allocVector(REALSXP, nl));
  nprot++;
  SEXP kkt = PROTECT(allocVector(REALSXP, nl));
  nprot++;
  SEXP iters = PROTECT(allocVector(INTSXP, nl));
  nprot++;
  SEXP status = PROTECT(allocVector(INTSXP, nl));
  nprot++;

  double *theta = (double *)R_alloc(d, sizeof(double));
  memset(theta, 0, d * sizeof(double));
  double b = 0;

  if (P.eps == 0) {
    gram_cache G;
    G.pos = (int *)R_alloc(d, sizeof(int));
    for (int j = 0; j < d; j++) G.pos[j] = -1;
    G.cap = d < 64 ? d : 64;
    if (G.cap < 1) G.cap = 1;
    G.cols = (double *)R_alloc((size_t)G.cap * d, sizeof(double));
    G.list = (int *)R_alloc(G.cap, sizeof(int));
    G.k = 0;
    double *g = (double *)R_alloc(d, sizeof(double));
    double *xv = (double *)R_alloc(d, sizeof(double));
    double *yv = (double *)R_alloc(n, sizeof(double));
    for (int i = 0; i < n; i++) yv[i] = P.y[i];
    xt_v(&P, yv, g);
    for (int j = 0; j < d; j++) {
      g[j] /= n;
      const double *xj = col(&P, j);
      double s = 0;
      for (int i = 0; i < n; i++) s += xj[i] * xj[i];
      xv[j] = s / n;
    }
    for (int l = 0; l < nl; l++) {
      int st = cd_solve(&P, &G, lam[l], theta, g, xv, REAL(kkt) + l, INTEGER(iters) + l);
      INTEGER(status)[l] = st;
      memcpy(REAL(beta) + (size_t)l * d, theta, d * sizeof(double));
      REAL(bvec)[l] = 0;
    }
  } else if (P.xi == 0) {
    aset S;
    S.A = (int *)R_alloc(d, sizeof(int));
    S.inA = (signed char *)R_alloc(d, 1);
    S.sig = (signed char *)R_alloc(d, 1);
    S.Z = (int *)R_alloc(n, sizeof(int));
    S.inZ = (signed char *)R_alloc(n, 1);
    S.rho = (signed char *)R_alloc(n, 1);
    memset(S.inA, 0, d);
    memset(S.sig, 0, d);
    memset(S.inZ, 0, n);
    memset(S.rho, 1, n);
    S.k = S.z = 0;
    double *r = (double *)R_alloc(n, sizeof(double));
    for (int l = 0; l < nl; l++) {
      const void *vmax = vmaxget();
      int st = as_solve(&P, &S, lam[l], theta, &b, r, REAL(kkt) + l, INTEGER(iters) + l);
      vmaxset(vmax);
      INTEGER(status)[l] = st;
      memcpy(REAL(beta) + (size_t)l * d, theta, d * sizeof(double));
      REAL(bvec)[l] = b;
    }
  } else {
    double L = 1;
    for (int l = 0; l < nl; l++) {
      const void *vmax = vmaxget();
      int st = fista_solve(&P, lam[l], theta, &b, &L, REAL(kkt) + l, INTEGER(iters) + l);
      vmaxset(vmax);
      INTEGER(status)[l] = st;
      memcpy(REAL(beta) + (size_t)l * d, theta, d * sizeof(double));
      REAL(bvec)[l] = b;
    }
  }

  const char *nms[] = {"beta", "b", "kkt", "iters", "status", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  nprot++;
  SET_VECTOR_ELT(out, 0, beta);
  SET_VECTOR_ELT(out, 1, bvec);
  SET_VECTOR_ELT(out, 2, kkt);
  SET_VECTOR_ELT(out, 3, iters);
  SET_VECTOR_ELT(out, 4, status);
  UNPROTECT(nprot);
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
