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
 * - eps = 0: the plain LASSO. Cyclic coordinate descent with naive (residual) updates,
 *   sequential strong rules and active-set cycling, and a final KKT check of every
 *   coordinate (details at cdn_solve). Coordinate descent is exact and fast here because
 *   the non-smooth part is separable, but only linearly convergent, and slow when df
 *   approaches n; a Newton step on the non-zero coordinates with signs fixed (on an
 *   up/down-dated Cholesky factor of their cached Gram matrix, cdn_newton) is taken once
 *   the signs settle, and coordinate descent then confirms it.
 *
 * - eps > 0, xi = 0: the true attack gives (1/n) sum (|r_i| + eps N(theta))^2 with
 *   N = ||theta||_2 (L2) or ||theta||_1 (Linf). This is convex but its non-smoothness
 *   is NOT separable: the |r_i| kinks make it least squares plus a weighted LAD term,
 *   and at the optimum some residuals are exactly zero. Coordinate descent can stall at
 *   such kinks and proximal gradient / smoothing only creeps towards them, so neither
 *   reaches a 1e-10 KKT residual. We use a primal active-set method instead: on the
 *   manifold {theta_j = 0 for j outside A, r_i = 0 for i in Z} with all signs fixed the
 *   objective is smooth and convex, and an equality-constrained Newton step (one
 *   symmetric indefinite KKT solve, LAPACK dsysv, its Hessian block taken from a Gram
 *   cache over all rows: see as_solve) minimises it; a ratio test stops the
 *   step where a coefficient reaches zero, and an exact line search stops it at a
 *   residual's kink where F stops decreasing (that residual joins the constraints)
 *   and passes the kinks where it does not (as_line_search: pinning every residual
 *   the step meets made most of them leave again at the next multiplier check,
 *   each round trip costing KKT solves); at a manifold minimum the multipliers u_i
 *   of the pinned residuals
 *   (which must lie in [-1, 1]) and the subgradients of the inactive coefficients are
 *   checked, and the worst violator is freed, with every other one violating by at
 *   least AS_BATCH of the worst (fewer Newton solves when many enter at one lambda).
 *   Every change is made from a point where the objective cannot increase, so the
 *   method terminates (like an active-set QP method; for Linf the manifold problems
 *   are exactly quadratic); the shortcuts that act before the manifold minimum (the
 *   loose checks) and batches whose members step the wrong way are each bounded per
 *   lambda, after which the method falls back to single changes. Warm starts along
 *   the path keep the number of changes per lambda small. For L2 attacks, once
 *   k + 1 + z > 40, the KKT system is reduced to an n x n system in the row space
 *   (as_nspace), whose Cholesky factor is kept across steps and lambdas and changed
 *   by rank-one up/down-dates when a coefficient or a pinned residual joins or leaves
 *   (O(n^2) per change instead of a dense O((k + z)^3) solve; late on a d >> n path
 *   k + z approaches 2n); its curvature term is frozen between refactorisations (a
 *   quasi-Newton step, with the manifold residual measured under the same Hessian so
 *   the stopping test stays exact). The factor is built by a blocked Cholesky on the
 *   package's own product kernels (chol_lower), and its solves go four columns at a
 *   time (chol_solve4). A step reads x_A once: the right-hand sides come from n-vectors
 *   and the row-space Gram matrix (as_nspace). The subgradient check of the inactive
 *   coordinates looks only at the columns that were close to their threshold at the
 *   last check over all columns (screening, AS_SCREEN), and every column is checked
 *   before convergence is declared, except those that a Cauchy-Schwarz bound on the
 *   remainder of a least-squares fit of v on the last four complete checks certifies
 *   below their threshold. Column changes reach the factor and the Gram matrix several
 *   per sweep (chol_rankm, as_kg_cols).
 *   Issue 5's n = 500, d = 5000 path: 141 s -> ~6 s -> ~2.7 s -> ~1.4 s -> ~0.95 s
 *   -> ~0.7 s (bench/lasso.R).
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
  int full_kkt; /* 1: never use the row-space Newton solve (tests compare both) */
} prob;

#if defined(__GNUC__)
typedef double las_v4 __attribute__((vector_size(32)));
/* macros, not functions: passing 32-byte vectors by value would change the ABI */
#define LAS_LD(v, p) memcpy(&(v), (p), sizeof(las_v4))
#define LAS_ST(p, v) memcpy((p), &(v), sizeof(las_v4))
/* the sum of the four lanes, in a fixed order */
#define LAS_HSUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))
/* rows i..i+3 of the vector p and of the block's four columns c0..c3 */
#define LAS_LD5(v, l0, l1, l2, l3, p, i) \
  do {                                   \
    LAS_LD(v, (p) + (i));                \
    LAS_LD(l0, c0 + (i));                \
    LAS_LD(l1, c1 + (i));                \
    LAS_LD(l2, c2 + (i));                \
    LAS_LD(l3, c3 + (i));                \
  } while (0)
#endif

static inline double soft(double z, double t) {
  return z > t ? z - t : (z < -t ? z + t : 0.0);
}

static inline const double *col(const prob *P, int j) { return P->x + (size_t)j * P->n; }

/* r += a x and r -= a x (r and x never overlap; restrict lets the compiler vectorise) */
/* (unrolled by four so that -O2's straight-line vectoriser pairs the updates; each
 * element gets the same single operation as in a plain loop) */
static inline void axpy_pos_k(double *restrict r, const double *restrict x, double a, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    r[i] += a * x[i];
    r[i + 1] += a * x[i + 1];
    r[i + 2] += a * x[i + 2];
    r[i + 3] += a * x[i + 3];
  }
  for (; i < n; i++) r[i] += a * x[i];
}

static inline void axpy_neg_k(double *restrict r, const double *restrict x, double a, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    r[i] -= a * x[i];
    r[i + 1] -= a * x[i + 1];
    r[i + 2] -= a * x[i + 2];
    r[i + 3] -= a * x[i + 3];
  }
  for (; i < n; i++) r[i] -= a * x[i];
}

/* The two kernels above, compiled also for AVX2 where the loader can pick it
 * (ADV_CLONES): the same operations in the same order, so the same results. */
ADV_CLONES static void axpy_pos(double *restrict r, const double *restrict x, double a,
                                int n) {
  axpy_pos_k(r, x, a, n);
}
ADV_CLONES static void axpy_neg(double *restrict r, const double *restrict x, double a,
                                int n) {
  axpy_neg_k(r, x, a, n);
}

/* t += d0 x0 + d1 x1 + d2 x2 + d3 x3, each element getting the four additions in the
 * order of four axpy_pos calls (so the same result), with one pass over t. */
ADV_CLONES static void axpy4(double *restrict t, const double *restrict x0,
                             const double *restrict x1, const double *restrict x2,
                             const double *restrict x3, double d0, double d1, double d2,
                             double d3, int n) {
  int i = 0;
#if defined(__GNUC__)
  for (; i + 4 <= n; i += 4) {
    las_v4 tv, v0, v1, v2, v3;
    LAS_LD(tv, t + i);
    LAS_LD(v0, x0 + i);
    LAS_LD(v1, x1 + i);
    LAS_LD(v2, x2 + i);
    LAS_LD(v3, x3 + i);
    tv = (((tv + d0 * v0) + d1 * v1) + d2 * v2) + d3 * v3;
    LAS_ST(t + i, tv);
  }
#endif
  for (; i < n; i++) t[i] = (((t[i] + d0 * x0[i]) + d1 * x1[i]) + d2 * x2[i]) + d3 * x3[i];
}

/* x'v with eight partial sums in a fixed order, so no dependence on threads (with
 * GCC two four-wide accumulators, so that consecutive additions do not wait on each
 * other: on columns in cache about 1.4x the speed of a single four-wide sum, 0.92x
 * the time of the eps = 0 bench path); the same sums in the same order without GCC's
 * vectors. */
ADV_CLONES static double dot8(const double *a, const double *b, int n) {
  int i = 0;
  double r;
#if defined(__GNUC__)
  las_v4 s0 = {0, 0, 0, 0}, s1 = s0;
  for (; i + 8 <= n; i += 8) {
    las_v4 a0, a1, b0, b1;
    LAS_LD(a0, a + i);
    LAS_LD(a1, a + i + 4);
    LAS_LD(b0, b + i);
    LAS_LD(b1, b + i + 4);
    s0 += a0 * b0;
    s1 += a1 * b1;
  }
  r = LAS_HSUM(s0) + LAS_HSUM(s1);
#else
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) s[l] += a[i + l] * b[i + l];
  r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
#endif
  for (; i < n; i++) r += a[i] * b[i];
  return r;
}

/* out_j = x_j'v for every column, parallel over columns (deterministic). */
static void xt_v(const prob *P, const double *v, double *out) {
  int n = P->n, d = P->d;
#ifdef _OPENMP
#pragma omp parallel for num_threads(P->nth) schedule(static) if ((double)n * d > 1e5)
#endif
  for (int j = 0; j < d; j++) {
    out[j] = dot8(P->x + (size_t)j * n, v, n);
  }
}

/* r = X theta + b - y using only the non-zero coefficients. */
static void residuals(const prob *P, const double *theta, double b, double *r) {
  int n = P->n;
  for (int i = 0; i < n; i++) r[i] = b - P->y[i];
  for (int j = 0; j < P->d; j++) {
    double t = theta[j];
    if (t == 0) continue;
    axpy_pos(r, col(P, j), t, n);
  }
}

/* The penalty and the attack norm over the m listed coordinates (all d when idx is
 * NULL); the active-set steps pass A, outside which theta is zero. */
static double pen(const prob *P, const double *theta, const int *idx, int m) {
  double s = 0;
  for (int q = 0; q < m; q++) {
    int j = idx ? idx[q] : q;
    s += P->w[j] * fabs(theta[j]);
  }
  return s;
}

static double attack_norm(const prob *P, const double *theta, const int *idx, int m) {
  double s = 0;
  for (int q = 0; q < m; q++) {
    double t = theta[idx ? idx[q] : q];
    s += P->norm == ADV_L2 ? t * t : fabs(t);
  }
  return P->norm == ADV_L2 ? sqrt(s) : s;
}

/* ===================================================================== eps = 0 === */

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

/* ---- eps = 0, naive (residual) updates with strong rules and active-set cycling ----
 *
 * Covariance updates (cached Gram columns, O(nd) each) and a Cholesky polish were
 * tried first; with d >> n they dominated the time. Here r = y - X theta is kept and a
 * coordinate update costs O(n). Per lambda: the sequential strong rule (Tibshirani et
 * al. 2012) proposes a set S from the previous solution's gradient; coordinate descent
 * cycles on the ever-active set A until the sweep provably moves no gradient entry by
 * more than the tolerance; one sweep over S lets new coordinates enter; finally the
 * exact gradient of every coordinate is computed and the KKT residual checked, and
 * violators outside S join S (the strong rule can fail). Only that final full check
 * declares convergence. If cycling on A is slow (nearly collinear active columns, df
 * close to n), a Newton step on the non-zero coordinates with signs fixed is taken now
 * and then; coordinate descent continues from it and still decides convergence. */


/* g_j = x_j'r/n for the listed columns (all when idx == NULL), parallel over columns */
static void cdn_grad(const prob *P, const double *r, double *g, const int *idx, int m) {
  int n = P->n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(P->nth) schedule(static) if ((double)n * m > 1e5)
#endif
  for (int q = 0; q < m; q++) {
    int j = idx ? idx[q] : q;
    g[j] = dot8(col(P, j), r, n) / n;
  }
}


static inline double cdn_update(const prob *P, double lam, double *theta, double *r,
                                const double *xv, int j) {
  int n = P->n;
  const double *xj = col(P, j);
  double old = theta[j];
  double u = dot8(xj, r, n) / n + xv[j] * old;
  double nw = soft(u, lam * P->w[j] / 2) / xv[j];
  if (nw == old) return 0;
  double delta = nw - old;
  theta[j] = nw;
  axpy_neg(r, xj, delta, n);
  return delta;
}

typedef struct {
  int *A, ka;       /* ever-active coordinates */
  signed char *inA; /* d */
  int *S, ks;       /* strong set (contains A) */
  signed char *inS; /* d */
  int *rest;        /* scratch: coordinates outside S */
  double *r0;       /* scratch (n) */
  double bmax;      /* max_j sqrt(xv_j) 2 sc_j / sy: gradient-change bound factor */
  double *gram;     /* x_a'x_b / n for a, b in A (by position), gcap x gcap */
  double *gref, *rref; /* gref = x'rref/n exactly, for every column */
  int kg, gcap;     /* positions of A with their Gram entries filled; capacity */
  double *R;        /* Cholesky factor (upper, R'R = gram[K, K]), rcap x rcap */
  int *K, kr, rcap; /* positions in A of the factor's columns, their number, capacity */
  signed char *inK; /* by position in A */
} cdn_state;

/* Drop column p of the factor: shift the later columns left and restore the upper
 * triangle with Givens rotations (O(k^2)). */
static void chol_drop(cdn_state *C, int p) {
  int k = C->kr, ld = C->rcap;
  double *R = C->R;
  C->inK[C->K[p]] = 0;
  for (int j = p; j < k - 1; j++) {
    memcpy(R + (size_t)j * ld, R + (size_t)(j + 1) * ld, (j + 2) * sizeof(double));
    C->K[j] = C->K[j + 1];
  }
  k--;
  for (int j = p; j < k; j++) {
    double a = R[j + (size_t)j * ld], b = R[j + 1 + (size_t)j * ld];
    double h = hypot(a, b), c = h > 0 ? a / h : 1, s = h > 0 ? b / h : 0;
    for (int q = j; q < k; q++) {
      double u = R[j + (size_t)q * ld], v = R[j + 1 + (size_t)q * ld];
      R[j + (size_t)q * ld] = c * u + s * v;
      R[j + 1 + (size_t)q * ld] = -s * u + c * v;
    }
    R[j + 1 + (size_t)j * ld] = 0;
  }
  C->kr = k;
}

/* Append position a of A to the factor (O(k^2)); 0 if the new column is (nearly)
 * dependent on the others. */
static int chol_add(cdn_state *C, int a) {
  int k = C->kr, ld = C->rcap;
  double *R = C->R, *z = R + (size_t)k * ld;
  const double *h = C->gram + (size_t)a * C->gcap;
  double zz = 0;
  for (int i = 0; i < k; i++) {
    double v = h[C->K[i]];
    for (int q = 0; q < i; q++) v -= R[q + (size_t)i * ld] * z[q];
    z[i] = v / R[i + (size_t)i * ld];
    zz += z[i] * z[i];
  }
  double dd = h[a] - zz;
  if (!(dd > 1e-10 * h[a])) return 0;
  z[k] = sqrt(dd);
  C->K[k] = a;
  C->inK[a] = 1;
  C->kr = k + 1;
  return 1;
}

/* Bring the Gram matrix of A up to date (new columns only, O(n k) each). */
static void cdn_gram(const prob *P, cdn_state *C) {
  int n = P->n;
  if (C->ka > C->gcap) {
    int cap = C->gcap > 0 ? C->gcap : 16;
    while (cap < C->ka) cap *= 2;
    double *gm = (double *)R_alloc((size_t)cap * cap, sizeof(double));
    for (int b = 0; b < C->kg; b++)
      memcpy(gm + (size_t)b * cap, C->gram + (size_t)b * C->gcap, C->kg * sizeof(double));
    C->gram = gm;
    C->gcap = cap;
  }
  for (int b = C->kg; b < C->ka; b++) {
    const double *xb = col(P, C->A[b]);
    for (int a = 0; a <= b; a++) {
      double v = dot8(col(P, C->A[a]), xb, n) / n;
      C->gram[a + (size_t)b * C->gcap] = v;
      C->gram[b + (size_t)a * C->gcap] = v;
    }
  }
  C->kg = C->ka;
}

/* Newton step on the non-zero coordinates of A (signs fixed), up to the first sign
 * change: with the signs right it lands on the solution, which coordinate descent
 * approaches only linearly (slowly when df is close to n). The Gram matrix of A is
 * cached along the path; the solve is a Cholesky factorisation of its K x K part. */
static int cdn_newton(const prob *P, cdn_state *C, double lam, double *theta, double *r) {
  int n = P->n, ka = C->ka, full = 0;
  if (ka > 4096) return 0; /* the cache would be too large; coordinate descent only */
  cdn_gram(P, C);
  if (C->rcap < ka) {
    int cap = C->rcap > 0 ? C->rcap : 16;
    while (cap < ka) cap *= 2;
    double *R = (double *)R_alloc((size_t)cap * cap, sizeof(double));
    for (int b = 0; b < C->kr; b++)
      memcpy(R + (size_t)b * cap, C->R + (size_t)b * C->rcap, (b + 1) * sizeof(double));
    int *K = (int *)R_alloc(cap, sizeof(int));
    signed char *inK = (signed char *)R_alloc(cap, 1);
    if (C->kr > 0) memcpy(K, C->K, C->kr * sizeof(int)); /* C->K is NULL at first */
    memset(inK, 0, cap);
    if (C->rcap > 0) memcpy(inK, C->inK, C->rcap);
    C->R = R, C->K = K, C->inK = inK, C->rcap = cap;
  }
  /* update the factor to the non-zero coordinates: drop, then append */
  for (int q = C->kr - 1; q >= 0; q--)
    if (theta[C->A[C->K[q]]] == 0) chol_drop(C, q);
  for (int a = 0; a < ka; a++) {
    if (theta[C->A[a]] == 0 || C->inK[a]) continue;
    if (C->kr >= n || !chol_add(C, a)) return 0;
  }
  int k = C->kr;
  if (k == 0) return 0;
  const void *vmax = vmaxget();
  double *rhs = (double *)R_alloc(k, sizeof(double));
  const double *R = C->R;
  int ld = C->rcap;
  for (int b = 0; b < k; b++) {
    int jb = C->A[C->K[b]];
    rhs[b] = dot8(col(P, jb), r, n) / n - lam * P->w[jb] / 2 * adv_sign(theta[jb]);
  }
  /* R'R delta = rhs */
  for (int i = 0; i < k; i++) {
    double v = rhs[i];
    for (int q = 0; q < i; q++) v -= R[q + (size_t)i * ld] * rhs[q];
    rhs[i] = v / R[i + (size_t)i * ld];
  }
  for (int i = k - 1; i >= 0; i--) { /* by columns: contiguous access */
    const double *Ri = R + (size_t)i * ld;
    double v = rhs[i] / Ri[i];
    rhs[i] = v;
    for (int q = 0; q < i; q++) rhs[q] -= Ri[q] * v;
  }
  double t = 1;
  int block = -1;
  for (int a = 0; a < k; a++) {
    if (!R_FINITE(rhs[a])) {
      t = -1;
      break;
    }
    int j = C->A[C->K[a]];
    if (adv_sign(theta[j] + rhs[a]) != adv_sign(theta[j])) {
      double ta = -theta[j] / rhs[a];
      if (ta < t) t = ta, block = a;
    }
  }
  if (t > 0) {
    full = block < 0;
    for (int a = 0; a < k; a++) {
      int j = C->A[C->K[a]];
      const double *xj = col(P, j);
      double nw = (a == block) ? 0.0 : theta[j] + t * rhs[a];
      double delta = nw - theta[j];
      theta[j] = nw;
      axpy_neg(r, xj, delta, n);
    }
  }
  vmaxset(vmax);
  return full;
}

static void cdn_add_S(cdn_state *C, int j) {
  if (C->inS[j]) return;
  C->inS[j] = 1;
  C->S[C->ks++] = j;
}

/* One lambda of the plain LASSO. On entry g = x'r/n for all j at the warm start
 * (the previous solution), r = y - X theta; on exit the same at the new solution. */
static int cdn_solve(const prob *P, cdn_state *C, double lam, double lam_prev,
                     double *theta, double *r, double *g, const double *xv, double *kkt,
                     int *iters) {
  int n = P->n, d = P->d, it = 0;
  /* strong set from the previous gradient; A is always in S */
  C->ks = 0;
  memset(C->inS, 0, d);
  for (int q = 0; q < C->ka; q++) cdn_add_S(C, C->A[q]);
  for (int j = 0; j < d; j++) {
    if (P->excl[j] || C->inS[j]) continue;
    if (fabs(g[j]) >= (lam - lam_prev / 2) * P->w[j]) cdn_add_S(C, j);
  }
  double sqn = sqrt((double)n);
  for (;;) {
    /* a sweep over S lets coordinates enter A */
    for (int q = 0; q < C->ks; q++) {
      int j = C->S[q];
      cdn_update(P, lam, theta, r, xv, j);
      if (theta[j] != 0 && !C->inA[j]) {
        C->inA[j] = 1;
        C->A[C->ka++] = j;
      }
    }
    it++;
    /* cycle on A until a sweep moves every gradient entry by <= thresh / 4 (relative):
     * |x_j'(r - r0)|/n <= sqrt(xv_j) ||r - r0|| / sqrt(n) by Cauchy-Schwarz */
    int next_newton = 1, stable = 0;
    for (int sweeps = 1;; sweeps++) {
      memcpy(C->r0, r, n * sizeof(double));
      int changed = 0, flips = 0;
      for (int q = 0; q < C->ka; q++) {
        int j = C->A[q];
        double old = theta[j];
        if (cdn_update(P, lam, theta, r, xv, j) != 0) {
          changed = 1;
          flips += adv_sign(old) != adv_sign(theta[j]);
        }
      }
      stable = flips ? 0 : stable + 1;
      it++;
      if (!changed) break;
      double s = 0;
      for (int i = 0; i < n; i++) s += (r[i] - C->r0[i]) * (r[i] - C->r0[i]);
      if (C->bmax * sqrt(s) / sqn <= P->thresh / 4) break;
      if (it >= P->maxit) break;
      /* Newton once the signs have settled (a sweep without a change) */
      if (sweeps >= next_newton && stable >= 1) {
        int full = cdn_newton(P, C, lam, theta, r);
        next_newton = sweeps + (full ? sweeps : 3);
        stable = 0;
      }
      if (sweeps % 32 == 0) R_CheckUserInterrupt();
    }
    /* exact KKT on S, then on the rest */
    cdn_grad(P, r, g, C->S, C->ks);
    double kS = cd_kkt(P, lam, theta, g, C->S, C->ks);
    if (kS > P->thresh && it < P->maxit) continue;
    /* Outside S every coefficient is zero. |x_j'r/n - gref_j| <= sqrt(xv_j) D with
     * D = ||r - rref|| / sqrt(n) (Cauchy-Schwarz), so a column whose bound stays
     * below its threshold meets its KKT condition without computing x_j'r. When the
     * bound is too loose for most columns, all are computed and rref moves to r. */
    double D = 0, rn = 0;
    for (int i = 0; i < n; i++) {
      D += (r[i] - C->rref[i]) * (r[i] - C->rref[i]);
      rn += C->rref[i] * C->rref[i];
    }
    D = sqrt(D) / sqn;
    rn = sqrt(rn) / sqn;
    int m = 0, nrest = 0;
    for (int j = 0; j < d; j++) {
      if (C->inS[j] || P->excl[j]) continue;
      nrest++;
      double sx = sqrt(xv[j]);
      if (fabs(C->gref[j]) + sx * (D + 1e-12 * rn) >= lam * P->w[j] / 2) C->rest[m++] = j;
    }
    int refresh = 3 * m > nrest;
    if (refresh) {
      m = 0;
      for (int j = 0; j < d; j++)
        if (!C->inS[j]) C->rest[m++] = j;
    }
    cdn_grad(P, r, g, C->rest, m);
    if (refresh) {
      memcpy(C->gref, g, d * sizeof(double));
      memcpy(C->rref, r, n * sizeof(double));
    }
    double kR = cd_kkt(P, lam, theta, g, C->rest, m);
    *kkt = kS > kR ? kS : kR;
    if (*kkt <= P->thresh) break;
    if (it >= P->maxit) {
      *iters = it;
      return ST_MAXIT;
    }
    for (int q = 0; q < m; q++) {
      int j = C->rest[q];
      if (!P->excl[j] && fabs(g[j]) > lam * P->w[j] / 2) cdn_add_S(C, j);
    }
    R_CheckUserInterrupt();
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
  /* pinned rows whose residual is not yet zero (as_solve's predicted pins): the Newton
   * step takes them to zero at t = 1; until then the line search counts them as free */
  signed char *spec;
  int nspec;
  /* Gram cache over all rows, by column: x_j'x_l for the columns seen in A so far
   * (slot order), and the column sums x_j'1 for the intercept */
  int *gpos, *gcol, gk, gcap; /* slot of column j or -1; column of each slot */
  double *gm, *gsum;          /* gcap x gcap; gcap */
  /* row-space kernel X_A X_A' (n x n, upper triangle) for the reduced Newton solve
   * (as_nspace), up/down-dated by one column at a time */
  double *kg;                 /* NULL until first used */
  signed char *inG;           /* d: sign of column j in kg and xws (0: not in them) */
  double *xws;                /* n: x_A (w sigma)_A over the columns of kg */
  int *gl, ngl, nupd;         /* its columns, their number, updates since rebuilt */
  int *kch;                   /* d: scratch of as_kg_sync (the columns changed ... */
  double *ksg;                /* d: ... and the sign of each change) */
  /* lower Cholesky factor of M0 = x_F x_F' + (n f0/2) D_F (as_nspace), with F the
   * columns, D_F the free rows and f0 the curvature it was built for; kept across
   * Newton steps and lambdas and up/down-dated by rank one as A and Z change */
  double *Lf, f0;
  signed char *inF, *zF;      /* d: column in the factor; n: row pinned in it */
  int *fl, nfl, nfup, fvalid; /* its columns, their number, updates, usable */
  /* the factor's version (changed by every build and update), and the solutions of
   * the border columns of the intercept and of s (as_nspace) with the right-hand
   * sides and the version they were solved for: 4n, [rhs b, rhs s, sol b, sol s] */
  unsigned fver, wver;
  double *wcache;
  /* screening of the inactive coordinates (as_kkt): G (d) from the last check over
   * all columns, and the columns whose |G_j| came within a factor AS_SCREEN of their
   * threshold then; checks in between look only at those and A */
  double *G;
  int gfull;        /* 1 once G holds a check over all columns */
  int *scr, nscr;   /* the screened columns */
  signed char *smark; /* d: scratch of as_kkt (zero between calls) */
  /* safe skipping in the checks over all columns (as_kkt): the vectors v of the last
   * AS_NREF checks that computed every column (Vr, n x AS_NREF, their norms vrn) and
   * their x'v (Gr, row j holding column j's AS_NREF values), and the column norms */
  double *Vr, *Gr, *vrn, *xn;
  int nref, rnext;
  int *todo; /* scratch (d) */
  /* scratch of as_nspace (7n) and as_factor_sync (AS_RK_CHUNK n), allocated once per
   * path: the steps allocate nothing (R_alloc per step fed the garbage collector) */
  double *ns_scr, *fs_w;
  /* scratch of as_kkt (n each) */
  int *kk_oq;
  double *kk_du;
} aset;

/* the number of reference vectors kept for the checks over all columns (as_kkt) */
#define AS_NREF 4
/* A column is screened in when |G_j| >= AS_SCREEN t_j at the last full check. */
#define AS_SCREEN 0.9
/* as_solve acts on a violation by more than AS_REL times the manifold residual resM
 * (relative KKT units, or |u_i| > 1 + that) as soon as resM is below AS_LOOSE; at a
 * check it frees every violator within a factor AS_BATCH of the worst */
#define AS_LOOSE 1e-6
#define AS_REL 100
#define AS_BATCH 0.1
#define AS_WRONGWAY 3
/* the check right after a step is made when the step started within AS_PRE (resM) of
 * its manifold minimum; residuals are pinned ahead of time when at least AS_SPEC_MIN
 * are predicted, and freed again after AS_SPEC_STEPS steps that do not get there
 * (see as_solve; on the bench path AS_PRE = 1e-3 took 1215 steps, 1e-4 1289 and 1e-5
 * 1384; AS_SPEC_MIN = 1 or 3 and AS_SPEC_STEPS = 8 took more, 32 the same) */
#define AS_PRE 1e-3
#define AS_RESM_STEP 2e-5
#define AS_SPEC_MIN 2
#define AS_SPEC_STEPS 16

/* Slot of column j in the Gram cache (computing its row, O(n gk)), or -1 if full. */
static int as_gram_slot(const prob *P, aset *S, int j) {
  if (S->gpos[j] >= 0) return S->gpos[j];
  if (S->gk >= S->gcap) return -1;
  int a = S->gk++, n = P->n;
  const double *xj = col(P, j);
  S->gpos[j] = a;
  S->gcol[a] = j;
  for (int b = 0; b <= a; b++) {
    double v = dot8(col(P, S->gcol[b]), xj, n);
    S->gm[a + (size_t)b * S->gcap] = v;
    S->gm[b + (size_t)a * S->gcap] = v;
  }
  double s1 = 0;
  for (int i = 0; i < n; i++) s1 += xj[i];
  S->gsum[a] = s1;
  return a;
}

/* F at (theta, b) from its residuals; the true (xi = 0) adversarial objective */
/* F at theta, with theta zero outside the m listed coordinates (all when idx is NULL) */
static double as_obj(const prob *P, double lam, const double *theta, const double *r,
                     const int *idx, int m) {
  double c = P->eps * attack_norm(P, theta, idx, m), s = 0;
  for (int i = 0; i < P->n; i++) {
    double e = fabs(r[i]) + c;
    s += e * e;
  }
  return s / P->n + lam * pen(P, theta, idx, m);
}

/* Removes the value v from the list[0..*len) (keeping the order), if it is there. */
static void list_remove(int *list, int *len, int v) {
  for (int q = 0; q < *len; q++) {
    if (list[q] == v) {
      memmove(list + q, list + q + 1, (size_t)(*len - q - 1) * sizeof(int));
      (*len)--;
      return;
    }
  }
}

static void as_remove_A(aset *S, int j) {
  list_remove(S->A, &S->k, j);
  S->inA[j] = 0;
}

static void as_remove_Z(aset *S, int i) {
  list_remove(S->Z, &S->z, i);
  S->inZ[i] = 0;
}

/* Frees the predicted pins that did not reach zero (keeping the order of the others);
 * each keeps the sign of its residual. */
static void as_spec_release(aset *S, const double *r) {
  if (!S->nspec) return;
  int w = 0;
  for (int q = 0; q < S->z; q++) {
    int i = S->Z[q];
    if (!S->spec[i]) {
      S->Z[w++] = i;
      continue;
    }
    S->spec[i] = 0;
    S->inZ[i] = 0;
    S->rho[i] = r[i] >= 0 ? 1 : -1;
  }
  S->z = w;
  S->nspec = 0;
}

/* The violation of the optimality condition of a coordinate j of A (sign sig, value
 * th): G_j = x_j'v, dg its attack-norm term (2 eps E/n dN_j) */
static inline double as_aviol(const prob *P, double lam, int j, int sig, double th,
                              double Gj, double dg, double extra) {
  double gj = Gj + dg;
  if (th != 0) return fabs(gj + lam * P->w[j] * sig);
  double t = lam * P->w[j] + (P->norm == ADV_L2 ? 0 : extra);
  double gg = P->norm == ADV_L2 ? gj : Gj;
  return fabs(gg) > t ? fabs(gg) - t : 0;
}

/* Puts column j (just gone from A) among the screened columns, which the checks over
 * A and the screen look at: a full check built the screen without the columns of A,
 * so without this one that comes back would be seen only at the next full check. */
static void as_screen_add(aset *S, int j) {
  for (int q = 0; q < S->nscr; q++)
    if (S->scr[q] == j) return;
  S->scr[S->nscr++] = j;
}

/* Least-squares coefficients c of v on the reference vectors of the full checks (by
 * the normal equations, with a tiny ridge); returns ||v - V c||. Any c gives a valid
 * bound in as_kkt, so a poor fit only loosens it (c = 0 if the Gram matrix of the
 * references is numerically singular). */
static double as_ref_fit(const aset *S, int n, const double *v, double *c) {
  int m = S->nref;
  double A[AS_NREF][AS_NREF], tr = 0;
  for (int a = 0; a < m; a++) {
    const double *va = S->Vr + (size_t)a * n;
    for (int b = 0; b <= a; b++) A[a][b] = dot8(va, S->Vr + (size_t)b * n, n);
    c[a] = dot8(va, v, n);
    tr = fmax(tr, A[a][a]);
  }
  int ok = tr > 0;
  for (int a = 0; a < m && ok; a++) { /* A = L L' in the lower triangle */
    double dd = A[a][a] + 1e-12 * tr;
    for (int b = 0; b < a; b++) dd -= A[a][b] * A[a][b];
    if (!(dd > 1e-14 * tr)) {
      ok = 0;
      break;
    }
    A[a][a] = sqrt(dd);
    for (int i = a + 1; i < m; i++) {
      double sv = A[i][a];
      for (int b = 0; b < a; b++) sv -= A[i][b] * A[a][b];
      A[i][a] = sv / A[a][a];
    }
  }
  if (ok) {
    for (int a = 0; a < m; a++) { /* L y = V'v, then L' c = y */
      for (int b = 0; b < a; b++) c[a] -= A[a][b] * c[b];
      c[a] /= A[a][a];
    }
    for (int a = m - 1; a >= 0; a--) {
      for (int b = a + 1; b < m; b++) c[a] -= A[b][a] * c[b];
      c[a] /= A[a][a];
    }
  } else {
    for (int a = 0; a < m; a++) c[a] = 0;
  }
  double D = 0;
  for (int i = 0; i < n; i++) {
    double ri = v[i];
    for (int a = 0; a < m; a++) ri -= c[a] * S->Vr[(size_t)a * n + i];
    D += ri * ri;
  }
  return sqrt(D);
}

/* v (of norm vnorm) and G = x'v of a check that computed every column become a
 * reference (replacing the oldest of AS_NREF). */
static void as_ref_push(const prob *P, aset *S, const double *v, double vnorm,
                        const double *G) {
  int n = P->n, l = S->rnext;
  S->rnext = (l + 1) % AS_NREF;
  if (S->nref < AS_NREF) S->nref++;
  memcpy(S->Vr + (size_t)l * n, v, n * sizeof(double));
  S->vrn[l] = vnorm;
  for (int j = 0; j < P->d; j++) S->Gr[(size_t)j * AS_NREF + l] = G[j];
}

/* Subgradient check. v (n) receives the loss derivative weights; G (d) the
 * gradient. u (length S->z) holds the residual multipliers (clipped to [-1, 1] here).
 * Returns the relative KKT residual and the most violating inactive coordinate.
 * full = 0 looks only at the columns of A and the screened ones (S->scr); full = 1 at
 * every column, and then rebuilds the screen; full = 2 as 1, right after a full = 0
 * check at the same point, whose values for A and the screen it keeps (about 600
 * fewer columns per lambda late on the bench path). resA (unless NULL) receives the
 * stationarity on the manifold (the columns of A and the intercept) with the
 * multipliers u as they are, not clipped: a multiplier out of range is a violation
 * of its own, which as_free acts on. */
static double as_kkt(const prob *P, aset *S, double lam, const double *theta,
                     const double *r, const double *u, double *v, int *worst_j,
                     double *worst_gj, int full, double *resA) {
  int n = P->n;
  double *G = S->G;
  double N = attack_norm(P, theta, NULL, P->d), c = P->eps * N, E = 0;
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
  double extra = P->norm == ADV_LINF ? 2 * P->eps * E / n : 0;
  int nj = full ? P->d : S->k + S->nscr;
  /* full: the columns that the bound certifies below AS_SCREEN of their threshold
   * are skipped, with G_j set to 0 (neither violating nor screened); when more than a
   * third would be computed anyway, all are, and v joins the references. The bound:
   * for any c, x_j'v = sum_l c_l x_j'V_l + x_j'(v - V c), so with c the least-squares
   * fit of v on the references V (as_ref_fit)
   *   |x_j'v| <= |sum_l c_l Gr_jl| + ||x_j|| ||v - V c||,
   * plus an allowance for rounding. On the bench path v moves mostly within the span
   * of the last few: with a single reference (the last such check) 59 of the 100
   * checks over all columns computed every column, with four 26 do, and the others
   * compute about 640 columns (those of A included). */
  if (full) {
    int m = 0, nrest = 0;
    double vnorm = 0;
    for (int i = 0; i < n; i++) vnorm += v[i] * v[i];
    vnorm = sqrt(vnorm);
    if (S->gfull) { /* (there is a reference once gfull is set) */
      double c[AS_NREF];
      double D = as_ref_fit(S, n, v, c);
      double cs = vnorm;
      for (int l = 0; l < S->nref; l++) cs += fabs(c[l]) * S->vrn[l];
      D += 1e-12 * cs; /* (rounding in the references, the fit and the sums) */
      /* (full = 2: the columns of A and the screened ones hold x_j'v for this v
       * already, from the check over them just made) */
      if (full == 2)
        for (int q = 0; q < S->nscr; q++) S->smark[S->scr[q]] = 1;
      for (int j = 0; j < P->d; j++) {
        if (P->excl[j]) continue;
        nrest++;
        if (full == 2 && (S->inA[j] || S->smark[j])) continue;
        if (S->inA[j]) {
          S->todo[m++] = j;
          continue;
        }
        const double *gr = S->Gr + (size_t)j * AS_NREF;
        double pred = 0;
        for (int l = 0; l < S->nref; l++) pred += c[l] * gr[l];
        if (fabs(pred) + S->xn[j] * D >= AS_SCREEN * (lam * P->w[j] + extra))
          S->todo[m++] = j;
      }
    }
    if (!S->gfull || 3 * m > nrest) {
      xt_v(P, v, G);
      as_ref_push(P, S, v, vnorm, G);
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(P->nth) schedule(static) if ((double)n * m > 1e5)
#endif
      for (int q = 0; q < m; q++) G[S->todo[q]] = dot8(col(P, S->todo[q]), v, n);
      /* mark the skipped columns: G_j = 0 meets every threshold and screen test */
      int q = 0;
      for (int j = 0; j < P->d; j++) {
        if (q < m && S->todo[q] == j) {
          q++;
          continue;
        }
        if (full == 2 && (S->inA[j] || S->smark[j])) continue;
        G[j] = 0;
      }
    }
    if (full == 2)
      for (int q = 0; q < S->nscr; q++) S->smark[S->scr[q]] = 0;
  } else {
    for (int q = 0; q < S->k; q++) G[S->A[q]] = dot8(col(P, S->A[q]), v, n);
    for (int q = 0; q < S->nscr; q++) {
      int j = S->scr[q];
      if (!S->inA[j]) G[j] = dot8(col(P, j), v, n);
    }
  }
  double gb = 0;
  for (int i = 0; i < n; i++) gb += v[i];
  /* resA is the stationarity with the multipliers as given: the pinned rows whose
   * multiplier was clipped add (2c/n)(u_q - clip(u_q)) x_ij to the gradient of A */
  int nout = 0;
  double gbA = gb;
  if (resA) {
    for (int q = 0; q < S->z; q++) {
      double uq = u[q] > 1 ? 1 : (u[q] < -1 ? -1 : u[q]);
      if (u[q] == uq) continue;
      S->kk_oq[nout] = S->Z[q];
      S->kk_du[nout] = 2.0 * c / n * (u[q] - uq);
      gbA += S->kk_du[nout++];
    }
  }
  double worst = P->intercept ? fabs(gb) / P->sy : 0, wv = 0;
  double wA = P->intercept ? fabs(gbA) / P->sy : 0;
  *worst_j = -1;
  for (int q = 0; q < nj; q++) {
    /* every column, or A and then the screened columns not in A */
    int j = full ? q : (q < S->k ? S->A[q] : S->scr[q - S->k]);
    if (P->excl[j] || (!full && q >= S->k && S->inA[j])) continue;
    double viol, violA = 0;
    if (S->inA[j]) {
      double dn = P->norm == ADV_L2 ? (N > 0 ? theta[j] / N : 0) : S->sig[j];
      double dg = 2 * P->eps * E / n * dn;
      viol = as_aviol(P, lam, j, S->sig[j], theta[j], G[j], dg, extra);
      violA = viol;
      if (nout) {
        const double *xj = col(P, j);
        double cj = 0;
        for (int m = 0; m < nout; m++) cj += xj[S->kk_oq[m]] * S->kk_du[m];
        violA = as_aviol(P, lam, j, S->sig[j], theta[j], G[j] + cj, dg, extra);
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
    violA *= P->sc[j] / P->sy;
    if (violA > wA) wA = violA;
  }
  if (resA) *resA = wA;
  if (full) {
    S->gfull = 1;
    S->nscr = 0;
    for (int j = 0; j < P->d; j++) {
      if (S->inA[j] || P->excl[j]) continue;
      if (fabs(G[j]) >= AS_SCREEN * (lam * P->w[j] + extra)) S->scr[S->nscr++] = j;
    }
  }
  return worst;
}

/* The check that may declare convergence: the columns of A and the screened ones
 * first, and every column when those meet thresh (or when no check over all columns
 * has been made yet). */
static double as_kkt_conv(const prob *P, aset *S, double lam, const double *theta,
                          const double *r, const double *u, double *v, int *worst_j,
                          double *worst_gj, double *resA) {
  int full = !S->gfull;
  double kk = as_kkt(P, S, lam, theta, r, u, v, worst_j, worst_gj, full, resA);
  if (kk <= P->thresh && !full)
    kk = as_kkt(P, S, lam, theta, r, u, v, worst_j, worst_gj, 2, resA);
  return kk;
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
  double slope = -(qn - 2 * P->eps * m), f0 = as_obj(P, lam, theta, r, NULL, d);
  double tau = 1;
  double *th = (double *)R_alloc(d, sizeof(double));
  double *rr = (double *)R_alloc(n, sizeof(double));
  for (int tries = 0; tries < 200; tries++, tau /= 2) {
    for (int j = 0; j < d; j++) th[j] = -tau * G[j] / qn;
    residuals(P, th, *b, rr);
    if (as_obj(P, lam, th, rr, NULL, d) <= f0 + 0.25 * tau * slope) break;
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

/* Exact line search for F(theta + t delta) along a Newton direction (xi = 0).
 * Along the line, with the signs s_i of the free residuals fixed on a piece between
 * two kinks and the coefficient signs fixed (t <= the coefficient ratio-test bound),
 *   F'(t) = (2/n)[R1 + t R2 + eps N S1 + eps N' (S2 + t S1) + n eps^2 N N'] + lam pd
 * with R1 = sum r_i dr_i, R2 = sum dr_i^2, S1 = sum s_i dr_i, S2 = sum s_i r_i over
 * the free rows (pinned rows stay at zero and enter only through n eps^2 N N'),
 * N(t) = ||theta + t delta||_2 (a square root of a quadratic) or, for Linf, linear in
 * t, and pd = sum_A w_j sigma_j delta_j. Crossing the kink of residual i flips s_i,
 * an O(1) update. F is convex along the line, so the search walks the kinks in
 * order: it passes a kink while F keeps decreasing beyond it, stops at a kink where
 * the derivative changes sign (the residual is then pinned), or finds the root of
 * F' inside a piece by bisection. Passing kinks instead of pinning every residual
 * the step meets avoids pinning residuals that the next multiplier check would free
 * again (each costing a KKT solve). Predicted pins (S->spec: pinned in the Newton
 * system, which takes them to zero at t = 1, but not yet zero) count as free rows
 * here; their kinks are at t = 1, the end of the search. */
typedef struct {
  double R1, R2, S1, S2, a0, a1, a2, lpd, eps, n;
  int l2;
} as_line;

static void as_line_init(const prob *P, const aset *S, double lam, const double *theta,
                         const double *delta, const double *r, const double *dr,
                         as_line *L) {
  int n = P->n;
  L->R1 = L->R2 = L->S1 = L->S2 = 0;
  for (int i = 0; i < n; i++) {
    if (S->inZ[i] && !S->spec[i]) continue;
    L->R1 += r[i] * dr[i];
    L->R2 += dr[i] * dr[i];
    L->S1 += S->rho[i] * dr[i];
    L->S2 += S->rho[i] * r[i];
  }
  L->a0 = L->a1 = L->a2 = L->lpd = 0;
  L->l2 = P->norm == ADV_L2;
  for (int q = 0; q < S->k; q++) {
    int j = S->A[q];
    double th = theta[j], dl = delta[q];
    L->lpd += lam * P->w[j] * S->sig[j] * dl;
    if (L->l2) {
      L->a1 += th * dl;
      L->a2 += dl * dl;
    } else {
      L->a0 += S->sig[j] * th;
      L->a1 += S->sig[j] * dl;
    }
  }
  if (L->l2) {
    double s = 0;
    for (int j = 0; j < P->d; j++) s += theta[j] * theta[j];
    L->a0 = s;
  }
  L->eps = P->eps;
  L->n = n;
}

static double as_line_deriv(const as_line *L, double t) {
  double N, Np;
  if (L->l2) {
    double q = L->a0 + 2 * L->a1 * t + L->a2 * t * t;
    N = q > 0 ? sqrt(q) : 0;
    Np = N > 0 ? (L->a1 + L->a2 * t) / N : 0;
  } else {
    N = L->a0 + L->a1 * t;
    Np = L->a1;
  }
  double e = L->eps;
  return 2 / L->n * (L->R1 + t * L->R2 + e * N * L->S1 + e * Np * (L->S2 + t * L->S1) +
                     L->n * e * e * N * Np) + L->lpd;
}

/* root of the non-decreasing F' on [lo, hi] with F'(lo) < 0 <= F'(hi) */
static double as_line_root(const as_line *L, double lo, double hi) {
  for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
    double mid = 0.5 * (lo + hi);
    if (as_line_deriv(L, mid) < 0) lo = mid;
    else hi = mid;
  }
  return hi;
}

/* The step length (<= tmax); *pin receives the residual to pin (or -1), flip[] the
 * free residuals whose kink the step passes. bp/bpi: scratch (n). */
static double as_line_search(const prob *P, const aset *S, as_line *L, const double *r,
                             const double *dr, double tmax, double *bp, int *bpi,
                             int *pin, int *flip, int *nflip) {
  int n = P->n, nb = 0;
  *pin = -1;
  *nflip = 0;
  if (!(as_line_deriv(L, 0) < 0)) return 0;
  for (int i = 0; i < n; i++) {
    if (S->inZ[i] || !(S->rho[i] * dr[i] < 0)) continue; /* (predicted pins: t = 1) */
    double t = -r[i] / dr[i];
    if (t < 0) t = 0;
    if (t < tmax) bp[nb] = t, bpi[nb] = i, nb++;
  }
  if (nb > 1) rsort_with_index(bp, bpi, nb);
  double lo = 0;
  for (int q = 0; q < nb; q++) {
    double tb = bp[q];
    int i = bpi[q];
    if (as_line_deriv(L, tb) >= 0) return as_line_root(L, lo, tb);
    double s1 = L->S1, s2 = L->S2;
    L->S1 -= 2 * S->rho[i] * dr[i];
    L->S2 -= 2 * S->rho[i] * r[i];
    if (as_line_deriv(L, tb) >= 0) {
      L->S1 = s1, L->S2 = s2;
      *pin = i;
      return tb;
    }
    flip[(*nflip)++] = i;
    lo = tb;
  }
  if (as_line_deriv(L, tmax) <= 0) return tmax;
  return as_line_root(L, lo, tmax);
}

/* ---- the Newton step in the row space (L2, N > 0) ----
 *
 * The KKT system of as_solve has k + 1 + z unknowns (coefficients, intercept,
 * multipliers of the pinned residuals); late on the path k + z approaches 2n and a
 * dense solve of that size dominates the time. Its Hessian block is
 *   H = f I_A + X~' W X~-type low-rank terms,  f = 2 eps E / (n N) > 0,
 * (X~ = [x_A, 1]), and the constraint rows are rows of X~, so everything but f I lives
 * in the n-dimensional row space. Writing
 *   zeta = (2/n) t + (2 eps/n) a1 s + E_Z mu,  t = X~ delta (the residual change),
 *   s = dN'delta_A,  omega = (2 eps/n) a1't + (2 eps^2 - f) s,
 * the first block row gives delta_A = -(g_A + x_A'zeta + dN omega) / f, and the
 * remaining equations are the n x n system (G = x_A x_A', D = I on the free rows)
 *   (G + (n f/2) D) zeta + u omega - f delta_b 1 - f eps (rho o D1) s = c
 * (u = x_A dN, h = x_A g_A, c_i = -h_i free, f r_i - h_i pinned), bordered by the
 * intercept equation 1'zeta = -g_b, f s + u'zeta + |dN|^2 omega = -dN'g_A and
 * (2eps/n)(G a1)'zeta + (f + (2eps/n) a1'u) omega - (2 eps f/n)(a1'1) delta_b
 *   - f (2 eps^2 - f) s = -(2 eps/n) a1'h.
 * It is solved by a Cholesky factorisation of the n x n block and a Schur complement
 * for the two or three border unknowns: O(n^3/3) instead of O((k + z)^3/3). G is kept
 * up to date by adding or removing one column's outer product (O(n^2)) as A changes,
 * and rebuilt from scratch now and then against drift. The multipliers are
 * mu_i = zeta_i - (2/n) t_i on the pinned rows. Returns 0 (the caller then solves
 * the full system) when the n x n block is not positive definite. */
/* G += sum_q sg_q x_{js_q} x_{js_q}' (upper triangle), in one sweep over G per
 * AS_KG_CHUNK columns (whose first rows stay in cache), not one per column: each
 * element still receives the changes in the order q = 0, 1, ... */
#define AS_KG_CHUNK 16
static void as_kg_cols(const prob *P, aset *S, const int *js, const double *sg, int m) {
  int n = P->n;
  for (int q0 = 0; q0 < m; q0 += AS_KG_CHUNK) {
    int q1 = q0 + AS_KG_CHUNK < m ? q0 + AS_KG_CHUNK : m;
    for (int b = 0; b < n; b++) {
      double *gb = S->kg + (size_t)b * n;
      int q = q0;
      for (; q + 4 <= q1; q += 4) { /* (the same additions as four axpy_pos) */
        const double *x0 = col(P, js[q]), *x1 = col(P, js[q + 1]), *x2 = col(P, js[q + 2]),
                     *x3 = col(P, js[q + 3]);
        axpy4(gb, x0, x1, x2, x3, sg[q] * x0[b], sg[q + 1] * x1[b], sg[q + 2] * x2[b],
              sg[q + 3] * x3[b], b + 1);
      }
      for (; q < q1; q++) {
        const double *xj = col(P, js[q]);
        axpy_pos(gb, xj, sg[q] * xj[b], b + 1);
      }
    }
  }
}

/* G and x_A (w sigma)_A are rebuilt from scratch after this many one-column changes
 * (against the drift of the updates: about 1e-16 relative each; a rebuild of G costs
 * about as much as k updates) */
#define AS_KG_REBUILD 2048
static void as_kg_sync(const prob *P, aset *S) {
  int n = P->n;
  int changes = 0, m = 0;
  int *js = S->kch;
  double *sg = S->ksg;
  for (int q = 0; q < S->ngl; q++) changes += !S->inA[S->gl[q]];
  for (int q = 0; q < S->k; q++) changes += !S->inG[S->A[q]];
  if (S->nupd + changes > AS_KG_REBUILD) {
    memset(S->kg, 0, (size_t)n * n * sizeof(double));
    memset(S->xws, 0, n * sizeof(double));
    for (int q = 0; q < S->ngl; q++) S->inG[S->gl[q]] = 0;
    S->ngl = 0;
    for (int q = 0; q < S->k; q++) {
      int j = S->A[q];
      js[m] = j;
      sg[m++] = 1.0;
      axpy_pos(S->xws, col(P, j), P->w[j] * S->sig[j], n);
      S->inG[j] = S->sig[j];
      S->gl[S->ngl++] = j;
    }
    as_kg_cols(P, S, js, sg, m);
    S->nupd = 0;
    return;
  }
  int w = 0;
  for (int q = 0; q < S->ngl; q++) {
    int j = S->gl[q];
    if (S->inA[j]) {
      S->gl[w++] = j;
      if (S->inG[j] != S->sig[j]) { /* left and came back with the other sign */
        axpy_pos(S->xws, col(P, j), 2 * P->w[j] * S->sig[j], n);
        S->inG[j] = S->sig[j];
      }
    } else {
      js[m] = j;
      sg[m++] = -1.0;
      axpy_neg(S->xws, col(P, j), P->w[j] * S->inG[j], n);
      S->inG[j] = 0;
      S->nupd++;
    }
  }
  S->ngl = w;
  for (int q = 0; q < S->k; q++) {
    int j = S->A[q];
    if (S->inG[j]) continue;
    js[m] = j;
    sg[m++] = 1.0;
    axpy_pos(S->xws, col(P, j), P->w[j] * S->sig[j], n);
    S->inG[j] = S->sig[j];
    S->gl[S->ngl++] = j;
    S->nupd++;
  }
  if (m) as_kg_cols(P, S, js, sg, m);
}

/* Solve the small dense system A y = e (ny <= 3) by Gaussian elimination with
 * partial pivoting; 0 if singular. */
static int small_solve(double A[3][3], double *e, int ny) {
  for (int c = 0; c < ny; c++) {
    int pv = c;
    for (int r = c + 1; r < ny; r++)
      if (fabs(A[r][c]) > fabs(A[pv][c])) pv = r;
    if (!(fabs(A[pv][c]) > 0)) return 0;
    if (pv != c) {
      for (int q = 0; q < ny; q++) {
        double tmp = A[c][q];
        A[c][q] = A[pv][q];
        A[pv][q] = tmp;
      }
      double tmp = e[c];
      e[c] = e[pv];
      e[pv] = tmp;
    }
    for (int r = c + 1; r < ny; r++) {
      double l = A[r][c] / A[c][c];
      for (int q = c; q < ny; q++) A[r][q] -= l * A[c][q];
      e[r] -= l * e[c];
    }
  }
  for (int c = ny - 1; c >= 0; c--) {
    double v = e[c];
    for (int q = c + 1; q < ny; q++) v -= A[c][q] * e[q];
    e[c] = v / A[c][c];
  }
  return 1;
}


/* One column of a rank-one up/downdate (chol_rankm), rows lo..n-1: the rotation
 * l = (L_jk + ss w_j) / c, w_j = c w_j - s l, with 1/c passed as ic. */
ADV_CLONES static void chol_rot(double *restrict Lk, double *restrict w, int lo, int n,
                                double ss, double ic, double c, double s) {
  int j = lo;
#if defined(__GNUC__)
  for (; j + 4 <= n; j += 4) {
    las_v4 lv, wv;
    LAS_LD(lv, Lk + j);
    LAS_LD(wv, w + j);
    lv = (lv + ss * wv) * ic;
    wv = c * wv - s * lv;
    LAS_ST(Lk + j, lv);
    LAS_ST(w + j, wv);
  }
#endif
  for (; j < n; j++) {
    double l = (Lk[j] + ss * w[j]) * ic;
    w[j] = c * w[j] - s * l;
    Lk[j] = l;
  }
}

/* m rank-one updates (sgn = 1: L L' + w w') or downdates (sgn = -1: L L' - w w') of
 * a lower Cholesky factor, the vectors n apart in W (w_p is zero before from[p]; W is
 * overwritten), in one sweep over L: column k takes the m rotations in turn while it
 * is in cache (each column's values are those of m one-vector sweeps, in the same
 * order). Returns 0 when a downdate would lose positive definiteness. */
#define AS_RK_CHUNK 8
static int chol_rankm(double *L, int n, double *W, const int *from, int m, double sgn) {
  int k0 = n;
  for (int p = 0; p < m; p++) k0 = from[p] < k0 ? from[p] : k0;
  for (int k = k0; k < n; k++) {
    double *Lk = L + (size_t)k * n;
    for (int p = 0; p < m; p++) {
      double *w = W + (size_t)p * n, lkk = Lk[k], wk = w[k];
      if (k < from[p] || wk == 0) continue;
      double r2 = lkk * lkk + sgn * wk * wk;
      if (!(r2 > 1e-14 * lkk * lkk)) return 0;
      double r = sqrt(r2), c = r / lkk, sn = wk / lkk;
      Lk[k] = r;
      chol_rot(Lk, w, k + 1, n, sgn * sn, lkk / r, c, sn);
    }
  }
  return 1;
}

/* Lower Cholesky factor of the symmetric positive definite n x n matrix whose lower
 * triangle is in L (column-major, leading dimension n), in place; 0 if a pivot is not
 * positive. Right-looking and blocked: each block of CH_NB columns is factorised
 * column by column, and the trailing lower triangle is updated by the package's own
 * register-blocked product kernels (adv_gemm_nt_acc), several times faster here than
 * LAPACK's dpotrf on the reference BLAS that R ships with. The upper triangle is left
 * as scratch. */
#define CH_NB 48
static int chol_lower(double *L, int n) {
  const void *vmax = vmaxget();
  double *work = (double *)R_alloc((size_t)n * CH_NB + 1, sizeof(double));
  for (int k0 = 0; k0 < n; k0 += CH_NB) {
    int kb = n - k0 < CH_NB ? n - k0 : CH_NB, e = k0 + kb, m = n - e;
    /* the diagonal block and the panel below it, one column at a time */
    for (int j = k0; j < e; j++) {
      double *cj = L + (size_t)j * n;
      for (int p = k0; p < j; p++)
        axpy_neg(cj + j, L + (size_t)p * n + j, L[j + (size_t)p * n], n - j);
      double dj = cj[j];
      if (!(dj > 0) || !R_FINITE(dj)) {
        vmaxset(vmax);
        return 0;
      }
      dj = sqrt(dj);
      cj[j] = dj;
      double inv = 1.0 / dj;
      for (int i = j + 1; i < n; i++) cj[i] *= inv;
    }
    if (m == 0) break;
    /* trailing update L22 -= L21 L21', by blocks of columns, lower part only */
    for (int p = 0; p < kb; p++) {
      const double *src = L + (size_t)(k0 + p) * n + e;
      double *dst = work + (size_t)p * m;
      for (int i = 0; i < m; i++) dst[i] = -src[i];
    }
    for (int j0 = 0; j0 < m; j0 += 4 * CH_NB) {
      int w = m - j0 < 4 * CH_NB ? m - j0 : 4 * CH_NB;
      adv_gemm_nt_acc(m - j0, w, kb, work + j0, m, L + (size_t)k0 * n + e + j0, n,
                      L + (size_t)(e + j0) * n + e + j0, n);
    }
  }
  vmaxset(vmax);
  return 1;
}

static int as_factor_build(const prob *P, aset *S, double f) {
  int n = P->n, info = 0;
  double *L = S->Lf;
  for (int b = 0; b < n; b++) /* lower triangle from the upper one of G */
    for (int a = b; a < n; a++) L[a + (size_t)b * n] = S->kg[b + (size_t)a * n];
  for (int i = 0; i < n; i++) {
    S->zF[i] = S->inZ[i];
    if (!S->inZ[i]) L[i + (size_t)i * n] += n * f / 2;
  }
  for (int q = 0; q < S->nfl; q++) S->inF[S->fl[q]] = 0;
  S->nfl = 0;
  for (int q = 0; q < S->ngl; q++) {
    S->inF[S->gl[q]] = 1;
    S->fl[S->nfl++] = S->gl[q];
  }
  info = !chol_lower(L, n);
  S->f0 = f;
  S->nfup = 0;
  S->fver++;
  S->fvalid = info == 0;
  return S->fvalid;
}

/* Bring the factor to the current A and Z (G must be in sync): rank-one changes
 * while the curvature f0 is within AS_F_DRIFT of f and at most AS_FUP_MAX have been
 * made since it was built; otherwise (or when a downdate fails) factorise afresh. A frozen
 * f0 makes the step a quasi-Newton step on the manifold: it still converges (linearly,
 * at a rate of about |f/f0 - 1|), and the manifold residual is measured with the same
 * Hessian, so the test resM = ||grad + C'mu|| stays exact. A factorisation costs
 * O(n^3/3) against O(n^2 + nk) for a step, so the drift allowed grows with n, faster
 * than n: 2% up to n = 125, 0.02 (n/125)^1.5 above, at most 32% (16% at n = 500).
 * Likewise the number of rank-one changes (each about n^2 flops, and each adding a
 * little rounding to the factor) before a rebuild: 96, or 0.6 n from n = 160. On the
 * bench path (n = 500) drift 8% and 96 changes took 28 factorisations and 1214 steps,
 * 16% and 300 take 11 and 1273 steps, in 0.91x the time (paired in-process runs;
 * 24% and 400 took 1318 steps, 0.87x; with 1000 changes the steps grew by a quarter).
 * One round of iterative refinement towards the true f, which would keep the steps
 * at about 1200, cost more than the steps it saved (one more solve per step). */
#define AS_F_DRIFT(n) (0.02 * fmin(16.0, fmax(1.0, pow((n) / 125.0, 1.5))))
#define AS_FUP_MAX(n) ((n) < 160 ? 96 : (int)(0.6 * (n)))
static int as_factor_sync(const prob *P, aset *S, double f) {
  int n = P->n;
  if (!S->fvalid || fabs(f / S->f0 - 1) > AS_F_DRIFT(n)) return as_factor_build(P, S, f);
  int changes = 0;
  for (int q = 0; q < S->nfl; q++) changes += !S->inA[S->fl[q]];
  for (int q = 0; q < S->k; q++) changes += !S->inF[S->A[q]];
  for (int i = 0; i < n; i++) changes += S->zF[i] != S->inZ[i];
  if (S->nfup + changes > AS_FUP_MAX(n)) return as_factor_build(P, S, f);
  /* the changes go to chol_rankm in groups of up to AS_RK_CHUNK of one sign:
   * downdates (columns that left A, rows newly pinned) before updates */
  double *W = S->fs_w, sq = sqrt(n * S->f0 / 2);
  int from[AS_RK_CHUNK], m = 0, ok = 1, wr = 0;
#define AS_RK_PUSH(fr, sgn)                                          \
  do {                                                               \
    from[m++] = (fr);                                                \
    if (m == AS_RK_CHUNK) {                                          \
      ok = chol_rankm(S->Lf, n, W, from, m, (sgn)) || (sgn) > 0;     \
      m = 0;                                                         \
    }                                                                \
  } while (0)
  for (int q = 0; q < S->nfl && ok; q++) { /* columns that left A */
    int j = S->fl[q];
    if (S->inA[j]) {
      S->fl[wr++] = j;
      continue;
    }
    memcpy(W + (size_t)m * n, col(P, j), n * sizeof(double));
    AS_RK_PUSH(0, -1.0);
    S->inF[j] = 0;
  }
  if (ok) S->nfl = wr;
  for (int i = 0; i < n && ok; i++) { /* rows newly pinned: remove n f0/2 e_i e_i' */
    if (S->zF[i] || !S->inZ[i]) continue;
    double *w = W + (size_t)m * n;
    memset(w + i, 0, (n - i) * sizeof(double));
    w[i] = sq;
    AS_RK_PUSH(i, -1.0);
    S->zF[i] = 1;
  }
  if (ok && m) ok = chol_rankm(S->Lf, n, W, from, m, -1.0);
  m = 0;
  for (int q = 0; q < S->k && ok; q++) { /* columns that joined A */
    int j = S->A[q];
    if (S->inF[j]) continue;
    memcpy(W + (size_t)m * n, col(P, j), n * sizeof(double));
    AS_RK_PUSH(0, 1.0);
    S->inF[j] = 1;
    S->fl[S->nfl++] = j;
  }
  for (int i = 0; i < n && ok; i++) { /* rows freed */
    if (!S->zF[i] || S->inZ[i]) continue;
    double *w = W + (size_t)m * n;
    memset(w + i, 0, (n - i) * sizeof(double));
    w[i] = sq;
    AS_RK_PUSH(i, 1.0);
    S->zF[i] = 0;
  }
  if (ok && m) chol_rankm(S->Lf, n, W, from, m, 1.0);
#undef AS_RK_PUSH
  S->nfup += changes;
  if (changes) S->fver++;
  if (!ok) return as_factor_build(P, S, f);
  return 1;
}

/* Solve L L' X = B in place for nr <= 4 right-hand sides (columns of B, n apart).
 * Blocked by four columns of L: the forward sweep subtracts a block's four columns
 * from all right-hand sides at once, and the backward sweep accumulates a block's
 * four dot products per right-hand side in one pass, so each element of L is loaded
 * once per sweep and each element of B once per block (not once per column). With
 * GCC the loops over rows run on four-wide vectors; compiled also for AVX2. */
ADV_CLONES static void chol_solve4(const double *L, int n, double *B, int nr) {
  double *b[4];
  for (int q = 0; q < nr; q++) b[q] = B + (size_t)q * n;
  int k0 = 0;
  /* forward: L y = b */
  for (; k0 + 4 <= n; k0 += 4) {
    const double *c0 = L + (size_t)k0 * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
    for (int q = 0; q < nr; q++) { /* the 4 x 4 triangle */
      double *bq = b[q];
      double y0 = bq[k0] /= c0[k0];
      double y1 = bq[k0 + 1] = (bq[k0 + 1] - c0[k0 + 1] * y0) / c1[k0 + 1];
      double y2 = bq[k0 + 2] = (bq[k0 + 2] - c0[k0 + 2] * y0 - c1[k0 + 2] * y1) / c2[k0 + 2];
      bq[k0 + 3] = (bq[k0 + 3] - c0[k0 + 3] * y0 - c1[k0 + 3] * y1 - c2[k0 + 3] * y2) /
                   c3[k0 + 3];
    }
    for (int q = 0; q < nr; q++) { /* the rows below */
      double *restrict bq = b[q];
      const double y0 = bq[k0], y1 = bq[k0 + 1], y2 = bq[k0 + 2], y3 = bq[k0 + 3];
      int i = k0 + 4;
#if defined(__GNUC__)
      for (; i + 4 <= n; i += 4) {
        las_v4 bv, l0, l1, l2, l3;
        LAS_LD5(bv, l0, l1, l2, l3, bq, i);
        bv = bv - l0 * y0 - l1 * y1 - l2 * y2 - l3 * y3;
        LAS_ST(bq + i, bv);
      }
#endif
      for (; i < n; i++) bq[i] = bq[i] - c0[i] * y0 - c1[i] * y1 - c2[i] * y2 - c3[i] * y3;
    }
  }
  for (; k0 < n; k0++) { /* the last columns one at a time */
    const double *Lk = L + (size_t)k0 * n;
    for (int q = 0; q < nr; q++) {
      double yk = b[q][k0] /= Lk[k0];
      for (int i = k0 + 1; i < n; i++) b[q][i] -= Lk[i] * yk;
    }
  }
  /* backward: L' x = y, from the bottom; first the columns past the last full block */
  int kb = n - n % 4;
  for (int k = n - 1; k >= kb; k--) {
    const double *Lk = L + (size_t)k * n;
    for (int q = 0; q < nr; q++) {
      double sq = 0;
      for (int i = k + 1; i < n; i++) sq += Lk[i] * b[q][i];
      b[q][k] = (b[q][k] - sq) / Lk[k];
    }
  }
  for (k0 = kb - 4; k0 >= 0; k0 -= 4) {
    const double *c0 = L + (size_t)k0 * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
    for (int q = 0; q < nr; q++) {
      double *restrict bq = b[q];
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int i = k0 + 4;
#if defined(__GNUC__)
      las_v4 a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
      for (; i + 4 <= n; i += 4) {
        las_v4 xv, l0, l1, l2, l3;
        LAS_LD5(xv, l0, l1, l2, l3, bq, i);
        a0 += l0 * xv;
        a1 += l1 * xv;
        a2 += l2 * xv;
        a3 += l3 * xv;
      }
      s0 = LAS_HSUM(a0);
      s1 = LAS_HSUM(a1);
      s2 = LAS_HSUM(a2);
      s3 = LAS_HSUM(a3);
#endif
      for (; i < n; i++) {
        double xi = bq[i];
        s0 += c0[i] * xi;
        s1 += c1[i] * xi;
        s2 += c2[i] * xi;
        s3 += c3[i] * xi;
      }
      /* the 4 x 4 triangle, bottom up */
      double x3 = bq[k0 + 3] = (bq[k0 + 3] - s3) / c3[k0 + 3];
      double x2 = bq[k0 + 2] = (bq[k0 + 2] - s2 - c2[k0 + 3] * x3) / c2[k0 + 2];
      double x1 = bq[k0 + 1] = (bq[k0 + 1] - s1 - c1[k0 + 2] * x2 - c1[k0 + 3] * x3) /
                               c1[k0 + 1];
      bq[k0] = (bq[k0] - s0 - c0[k0 + 1] * x1 - c0[k0 + 2] * x2 - c0[k0 + 3] * x3) / c0[k0];
    }
  }
}

/* x'a and x'c in one pass over x (eight partial sums each, in a fixed order, as in
 * dot8). */
ADV_CLONES static void dot2(const double *x, const double *a, const double *c, int n,
                            double *xa, double *xc) {
  int i = 0;
  double sa, sc;
#if defined(__GNUC__)
  las_v4 va = {0, 0, 0, 0}, vc = va, wa = va, wc = va;
  for (; i + 8 <= n; i += 8) {
    las_v4 x0, x1, a0, a1, c0, c1;
    LAS_LD(x0, x + i);
    LAS_LD(x1, x + i + 4);
    LAS_LD(a0, a + i);
    LAS_LD(a1, a + i + 4);
    LAS_LD(c0, c + i);
    LAS_LD(c1, c + i + 4);
    va += x0 * a0;
    wa += x1 * a1;
    vc += x0 * c0;
    wc += x1 * c1;
  }
  sa = LAS_HSUM(va) + LAS_HSUM(wa);
  sc = LAS_HSUM(vc) + LAS_HSUM(wc);
#else
  double ta[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) {
      ta[l] += x[i + l] * a[i + l];
      tc[l] += x[i + l] * c[i + l];
    }
  sa = ((ta[0] + ta[1]) + (ta[2] + ta[3])) + ((ta[4] + ta[5]) + (ta[6] + ta[7]));
  sc = ((tc[0] + tc[1]) + (tc[2] + tc[3])) + ((tc[4] + tc[5]) + (tc[6] + tc[7]));
#endif
  for (; i < n; i++) {
    sa += x[i] * a[i];
    sc += x[i] * c[i];
  }
  *xa = sa;
  *xc = sc;
}

/* oa = G a and oc = G c in one pass over the symmetric G, of which the upper
 * triangle is stored (column b holds rows 0..b): each element of a column serves its
 * two dot products and its two updates in one loop. */
ADV_CLONES static void symv2_upper(const double *G, int n, const double *a,
                                   const double *c, double *restrict oa,
                                   double *restrict oc) {
  memset(oa, 0, n * sizeof(double));
  memset(oc, 0, n * sizeof(double));
  for (int b = 0; b < n; b++) {
    const double *Gb = G + (size_t)b * n;
    const double ab = a[b], cb = c[b];
    double sa = 0, sc = 0;
    int i = 0;
#if defined(__GNUC__)
    las_v4 va = {0, 0, 0, 0}, vc = va;
    for (; i + 4 <= b; i += 4) {
      las_v4 g, xa, xc, ya, yc;
      LAS_LD(g, Gb + i);
      LAS_LD(xa, a + i);
      LAS_LD(xc, c + i);
      LAS_LD(ya, oa + i);
      LAS_LD(yc, oc + i);
      va += g * xa;
      vc += g * xc;
      ya += g * ab;
      yc += g * cb;
      LAS_ST(oa + i, ya);
      LAS_ST(oc + i, yc);
    }
    sa = LAS_HSUM(va);
    sc = LAS_HSUM(vc);
#endif
    for (; i < b; i++) { /* the last rows above the diagonal */
      const double g = Gb[i];
      oa[i] += g * ab;
      oc[i] += g * cb;
      sa += g * a[i];
      sc += g * c[i];
    }
    oa[b] += sa + Gb[b] * ab;
    oc[b] += sc + Gb[b] * cb;
  }
}

/* The row-space Newton step. Everything the n x n system needs before the solve comes
 * from n-vectors and one pass over G = x_A x_A' (G a2 and G a1), not from x_A:
 *   u = x_A dN = x_A theta_A / N = (r - b + y) / N,
 *   h = x_A g_A = (2/n) G a2 + (2 eps E/n) u + lam x_A (w sigma)_A,
 * the last vector kept up to date with A (as_kg_sync). After the solve a single pass
 * over x_A gives the gradient g_A (x_q'a2, returned in grad), the step delta_A
 * (x_q'zeta) and the residual change t = [x_A, 1] delta. The manifold residual
 * ||H delta|| costs another pass: *resM >= 0 on entry is one measured already at this
 * point, which is returned instead. */
static int as_nspace(const prob *P, aset *S, int z, double f, double lam, double E,
                     double N, double b0, const double *dN, const double *a1,
                     const double *a2, const double *r, double *grad, double *out,
                     double *resM, double *tout) {
  int n = P->n, k = S->k, ic = P->intercept, p = k + ic;
  double eps = P->eps;
  as_kg_sync(P, S);
  const void *vmax = vmaxget();
  double *u = S->ns_scr, *h = u + n, *Ga1 = h + n;
  double dn2 = 0, dNw = 0;
  for (int q = 0; q < k; q++) {
    int j = S->A[q];
    dn2 += dN[q] * dN[q];
    dNw += dN[q] * P->w[j] * S->sig[j];
  }
  symv2_upper(S->kg, n, a2, a1, h, Ga1);
  double ua2 = 0, sa2 = 0, gE = 2 * eps * E / n;
  for (int i = 0; i < n; i++) {
    u[i] = (r[i] - b0 + P->y[i]) / N;
    h[i] = 2.0 / n * h[i] + gE * u[i] + lam * S->xws[i];
    ua2 += u[i] * a2[i];
    sa2 += a2[i];
  }
  /* dN'g_A and the intercept's gradient */
  double dNg = 2.0 / n * ua2 + gE * dn2 + lam * dNw;
  if (ic) grad[k] = 2.0 / n * sa2;
  /* the factor of M0 = G + (n f0 / 2) D: updated, or rebuilt with f0 = f */
  if (!as_factor_sync(P, S, f)) {
    vmaxset(vmax);
    return 0;
  }
  f = S->f0; /* the Newton system of the Hessian with curvature f0 (see above) */
  const double *M = S->Lf;

  /* right-hand sides: the border columns (delta_b if ic, s, omega) and c */
  int ny = 2 + ic, nr = ny + 1;
  double *W = Ga1 + n; /* (4n: nr <= 4) */
  double *Wb = W, *Ws = W + (size_t)ic * n, *Wo = Ws + n, *Wc = Wo + n;
  for (int i = 0; i < n; i++) {
    if (ic) Wb[i] = -f;
    Ws[i] = S->inZ[i] ? 0 : -f * eps * S->rho[i];
    Wo[i] = u[i];
    Wc[i] = S->inZ[i] ? f * r[i] - h[i] : -h[i];
  }
  /* The border columns b (all -f) and s (-f eps rho on the free rows) change only
   * with the factor and the signs: after a step that changed neither their solutions
   * are reused, and only u and c are solved for (on the bench path both are reused
   * in 170 of 969 solves and b alone in 64 more). */
  int keep = 0; /* leading border columns whose solutions are reused */
  double *wc = S->wcache;
  if (S->wver == S->fver) {
    keep = ic; /* (b is all -f, and f = f0 is fixed with the factor) */
    if (memcmp(Ws, wc + (size_t)ic * n, n * sizeof(double)) == 0) keep++;
  }
  size_t nb = n * sizeof(double);
  for (int q = 0; q < keep; q++) memcpy(W + (size_t)q * n, wc + (size_t)(2 + q) * n, nb);
  for (int q = keep; q < ny - 1; q++) memcpy(wc + (size_t)q * n, W + (size_t)q * n, nb);
  chol_solve4(M, n, W + (size_t)keep * n, nr - keep);
  for (int q = keep; q < ny - 1; q++) memcpy(wc + (size_t)(2 + q) * n, W + (size_t)q * n, nb);
  S->wver = S->fver;
  double a1h = 0, a1u = 0, a11 = 0;
  for (int i = 0; i < n; i++) a1h += a1[i] * h[i], a1u += a1[i] * u[i], a11 += a1[i];
  /* border rows: Cr (ny x n) with coefficients Dm on (delta_b, s, omega), rhs e */
  double Dm[3][3] = {{0}}, e[3];
  const double *crow[3];
  double cw[3] = {1, 1, 2 * eps / n};
  int rb = 0;
  if (ic) {
    crow[rb] = NULL; /* the row of ones */
    e[rb] = -grad[k];
    rb++;
  }
  int rs = rb, ro = rb + 1, cs = ic, co = ic + 1;
  crow[rs] = u;
  Dm[rs][cs] = f;
  Dm[rs][co] = dn2;
  e[rs] = -dNg;
  crow[ro] = Ga1;
  if (ic) Dm[ro][0] = -2 * eps * f / n * a11;
  Dm[ro][cs] = -f * (2 * eps * eps - f);
  Dm[ro][co] = f + 2 * eps / n * a1u;
  e[ro] = -2 * eps / n * a1h;
  if (ic) cw[0] = 1;
  /* Schur complement: (Dm - Cr W_B) y = e - Cr W_c */
  for (int a = 0; a < ny; a++) {
    double wgt = a == ro ? cw[2] : 1;
    for (int q = 0; q <= ny; q++) {
      const double *Wq = W + (size_t)q * n;
      double sacc = 0;
      if (crow[a]) {
        for (int i = 0; i < n; i++) sacc += crow[a][i] * Wq[i];
      } else {
        for (int i = 0; i < n; i++) sacc += Wq[i];
      }
      sacc *= wgt;
      if (q < ny) Dm[a][q] -= sacc;
      else e[a] -= sacc;
    }
  }
  if (!small_solve(Dm, e, ny)) {
    vmaxset(vmax);
    return 0;
  }
  /* zeta = W_c - W_B y */
  double *zeta = Wc;
  for (int q = 0; q < ny; q++) {
    const double *Wq = W + (size_t)q * n;
    for (int i = 0; i < n; i++) zeta[i] -= Wq[i] * e[q];
  }
  double db = ic ? e[0] : 0, om = e[co];
  /* delta_A, then t = X~ delta, the multipliers and ||H delta|| */
  double *t = h; /* h is no longer needed */
  for (int i = 0; i < n; i++) t[i] = db;
  double sc = 0;
  /* four columns at a time: their dot products, then one pass over t for the four
   * (the columns are still in cache; t gets the same additions in the same order) */
  for (int q0 = 0; q0 < k; q0 += 4) {
    int q1 = q0 + 4 < k ? q0 + 4 : k;
    for (int q = q0; q < q1; q++) {
      int j = S->A[q];
      double xa2, xz;
      dot2(col(P, j), a2, zeta, n, &xa2, &xz);
      grad[q] = 2.0 / n * xa2 + gE * dN[q] + lam * P->w[j] * S->sig[j];
      double dq = -(grad[q] + xz + dN[q] * om) / f;
      out[q] = dq;
      sc += dN[q] * dq;
    }
    if (q1 - q0 == 4) {
      axpy4(t, col(P, S->A[q0]), col(P, S->A[q0 + 1]), col(P, S->A[q0 + 2]),
            col(P, S->A[q0 + 3]), out[q0], out[q0 + 1], out[q0 + 2], out[q0 + 3], n);
    } else {
      for (int q = q0; q < q1; q++) axpy_pos(t, col(P, S->A[q]), out[q], n);
    }
  }
  if (ic) out[k] = db;
  for (int q = 0; q < z; q++) {
    int i = S->Z[q];
    out[p + q] = zeta[i] - 2.0 / n * t[i];
  }
  /* ||H delta|| is only asked for near a manifold minimum, where the step is zero up
   * to rounding: its pass over x_A is made for steps up to AS_RESM_STEP (relative
   * units). Up to 1e-3 the residual is reported as AS_PRE unmeasured, which lets the
   * check after the step (as_solve) be made but no loose or tight check now; beyond,
   * as infinite. On the bench path no step above 2e-5 had resM <= AS_LOOSE, and the
   * pass went from 208,000 column reads to 21,000 for the same 1215 steps. (A skip
   * can only cost a step, never a wrong answer: convergence is decided by as_kkt.) */
  double dmx = ic ? fabs(db) / P->sy : 0;
  for (int q = 0; q < k; q++) dmx = fmax(dmx, fabs(out[q]) * P->sc[S->A[q]] / P->sy);
  memcpy(tout, t, n * sizeof(double)); /* the residual change of the step */
  double rm = R_PosInf;
  if (*resM >= 0) {
    rm = *resM; /* measured by the caller at this point already */
  } else if (dmx <= 1e-3 && dmx > AS_RESM_STEP) {
    rm = AS_PRE;
  } else if (dmx <= 1e-3) {
    double *wv = u; /* u is no longer needed */
    double a1t = 0, sw = 0;
    for (int i = 0; i < n; i++) {
      wv[i] = 2.0 / n * t[i] + 2 * eps / n * a1[i] * sc;
      a1t += a1[i] * t[i];
      sw += wv[i];
    }
    double coef = 2 * eps / n * a1t + (2 * eps * eps - f) * sc;
    rm = ic ? fabs(sw) / P->sy : 0;
    for (int q = 0; q < k; q++) {
      int j = S->A[q];
      double hd = f * out[q] + dot8(col(P, j), wv, n) + dN[q] * coef;
      rm = fmax(rm, fabs(hd) * P->sc[j] / P->sy);
    }
  }
  *resM = rm;
  int okv = 1;
  for (int a = 0; a < p + z && okv; a++) okv = R_FINITE(out[a]);
  vmaxset(vmax);
  return okv;
}

/* The L-infinity attack's share of the threshold of an inactive coordinate,
 * 2 eps E / n with E = sum_i (|r_i| + c) (pinned residuals count as zero), c = eps N;
 * zero for L2. */
static double as_linf_extra(const prob *P, const aset *S, const double *r, double N) {
  if (P->norm != ADV_LINF) return 0;
  double E = 0, c = P->eps * N;
  for (int i = 0; i < P->n; i++) E += S->inZ[i] ? c : fabs(r[i]) + c;
  return 2 * P->eps * E / P->n;
}

/* [x_A, 1]'v, entry q: column A[q], or the intercept's column of ones for q = k */
static double as_col_dot(const prob *P, const aset *S, int q, const double *v) {
  if (q < S->k) return dot8(col(P, S->A[q]), v, P->n);
  double s = 0;
  for (int i = 0; i < P->n; i++) s += v[i];
  return s;
}

/* Acts on a check's findings (as_solve): frees the worst pinned residual whose
 * multiplier u is out of [-1, 1] by more than margin, and the worst inactive coordinate
 * wj (G_j = wg) if there is one; while batching works (zbatch, batch) also every other
 * violator within a factor AS_BATCH of the worst. A loose check (below the manifold
 * minimum) counts only clear violations, by more than margin, and marks what it frees
 * in zmark (2) and jmark (1); a tight one marks residuals with 1. A residual or a
 * coordinate that came straight back after a loose check freed it (zmark 3, jmark 2)
 * is left to the tight checks. Returns whether anything was freed. bp, bpi: scratch
 * (n). */
static int as_free(const prob *P, aset *S, double lam, const double *r, double N,
                   const double *u, int z, int wj, double wg, double margin, int tight,
                   int loose, int zbatch, int batch, signed char *zmark, signed char *jmark,
                   double *bp, int *bpi) {
  if (wj >= 0 && !tight) { /* only a clear violation of the inactive coordinates counts */
    double ex = as_linf_extra(P, S, r, N);
    double vj = (fabs(wg) - (lam * P->w[wj] + ex)) * P->sc[wj] / P->sy;
    if (!(vj > margin)) wj = -1;
  }
  int wq = -1, nadd = 0;
  double umax = 1 + margin;
  for (int q = 0; q < z; q++)
    if (fabs(u[q]) > umax && !(loose && zmark[S->Z[q]] == 3)) umax = fabs(u[q]), wq = q;
  if (wq >= 0) {
    /* free the worst pinned residual; while that keeps working, also every other
     * one whose multiplier is out of [-1, 1] by a fair share of the worst */
    double cut = zbatch ? 1 + fmax(margin, AS_BATCH * (umax - 1)) : umax;
    int nfree = 0;
    for (int q = 0; q < z; q++) {
      if (q != wq && (!(fabs(u[q]) > cut) || (loose && zmark[S->Z[q]] == 3))) continue;
      bpi[nfree] = S->Z[q];
      bp[nfree++] = u[q];
    }
    for (int q = 0; q < nfree; q++) {
      int i = bpi[q];
      S->rho[i] = bp[q] > 0 ? 1 : -1;
      as_remove_Z(S, i);
      zmark[i] = loose ? 2 : 1;
    }
  }
  if (wj >= 0 && (wq < 0 || zbatch)) {
    /* free the worst inactive coordinate; while that keeps working, also every
     * other one violating by a fair share of the worst (fewer Newton solves when
     * many coordinates enter between two lambdas) */
    if (batch) {
      double ex = as_linf_extra(P, S, r, N);
      double t0 = lam * P->w[wj] + ex;
      double wv = (fabs(wg) - t0) * P->sc[wj];
      double cut = fmax(AS_BATCH * wv, tight ? 0 : margin * P->sy);
      /* (a violator has |G_j| > t_j, so it is among the screened columns) */
      const double *G = S->G;
      for (int q = 0; q < S->nscr; q++) {
        int j = S->scr[q];
        if (S->inA[j] || P->excl[j] || j == wj || (loose && jmark[j] == 2)) continue;
        double t = lam * P->w[j] + ex, vj = (fabs(G[j]) - t) * P->sc[j];
        if (vj > cut) {
          S->A[S->k++] = j;
          S->inA[j] = 1;
          S->sig[j] = G[j] > 0 ? -1 : 1;
          if (loose) jmark[j] = 1;
          nadd++;
        }
      }
    }
    if (!(loose && jmark[wj] == 2)) {
      S->A[S->k++] = wj;
      S->inA[wj] = 1;
      S->sig[wj] = wg > 0 ? -1 : 1;
      if (loose) jmark[wj] = 1;
      nadd++;
    }
  }
  return wq >= 0 || nadd > 0;
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
  double *bp = (double *)R_alloc(n, sizeof(double));
  int *bpi = (int *)R_alloc(n, sizeof(int)), *flip = (int *)R_alloc(n, sizeof(int));
  int status = ST_OK, it = 0, fresh = 0, stalls = 0, batch = 1;
  int zbatch = 1, wrongway = 0; /* batched frees (below) */
  int spec_steps = 0; /* steps since the predicted pins were made */
  int prechecked = 0; /* a pre-check found nothing to do at this point */
  int polish = 0;     /* the next check is the tight one of a point taken as a minimum */
  double rA_pre = 0;  /* and measured this manifold residual */
  /* residuals freed in this lambda (1 at a tight check, 2 at a loose one, 3 once one
   * freed at a loose check came straight back) and columns freed at a loose check (1;
   * 2 once back): see as_free; a residual coming back also stops the batched frees */
  signed char *zmark = (signed char *)R_alloc(n, 1);
  signed char *jmark = (signed char *)R_alloc(d, 1);
  /* per-step vectors, at their largest sizes (p <= d + 1, m <= d + 1 + n) */
  double *dN = (double *)R_alloc(d + 1, sizeof(double));
  double *grad = (double *)R_alloc(d + 1, sizeof(double));
  double *sv = (double *)R_alloc(d + 1, sizeof(double));
  double *rhs = (double *)R_alloc(d + 1 + (size_t)n, sizeof(double));
  double *a1 = (double *)R_alloc(n, sizeof(double));
  double *a2 = (double *)R_alloc(n, sizeof(double));
  memset(zmark, 0, n);
  memset(jmark, 0, d);

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
        *kkt = as_kkt(P, S, lam, theta, r, u, v, &wj, &wg, 1, NULL);
        /* at theta = 0 the L2 condition is the ball condition checked above */
        *kkt = 0;
        break;
      }
      continue;
    }
    const void *vmax = vmaxget();
    int k = S->k, p = k + ic, z = S->z, m = p + z;
    double N = attack_norm(P, theta, S->A, S->k), c = P->eps * N;
    /* dN/dbeta (zero for the intercept) */
    for (int q = 0; q < k; q++) {
      int j = S->A[q];
      dN[q] = P->norm == ADV_L2 ? (N > 0 ? theta[j] / N : 0) : S->sig[j];
    }
    if (ic) dN[k] = 0;
    /* The Hessian of the free rows, (2/n) B'B with B the free rows of [x_A, 1], is
     * replaced by (2/n) times the Gram matrix of ALL rows (cached across steps and
     * lambdas), i.e. (2/n) C'C is added, C the pinned rows, which the step must keep
     * at C delta = -r_Z. On that affine set the added term changes the quadratic model
     * by a constant once the gradient gets -(2/n) C'(-r_Z), so the step is the same,
     * and so are the multipliers: H'delta + g' + C'mu = H delta + g + C'mu. */
    int nf = n - z;
    double E = z * c;
    for (int i = 0; i < n; i++) {
      if (S->inZ[i]) {
        a1[i] = 0;
        a2[i] = r[i]; /* the gradient shift (2/n) C'r_Z */
        continue;
      }
      double e = S->rho[i] * r[i] + c;
      a1[i] = S->rho[i];
      a2[i] = S->rho[i] * e;
      E += e;
    }
    int try_reduced = S->kg && !P->full_kkt && N > 0 && c > 0 && m > 40;
    /* (a pre-check at this point measured the manifold residual: as_nspace takes it) */
    double resM = prechecked ? rA_pre : -1;
    int reduced = 0;
    if (try_reduced) { /* (it also returns the gradient) */
      double f = 2 * P->eps * E / n / N;
      reduced = as_nspace(P, S, z, f, lam, E, N, *b, dN, a1, a2, r, grad, rhs, &resM, dr);
    }
    if (!reduced) {
      resM = 0;
      for (int q = 0; q < p; q++) {
        grad[q] = 2.0 / n * as_col_dot(P, S, q, a2) + 2 * P->eps * E / n * dN[q];
        if (q < k) grad[q] += lam * P->w[S->A[q]] * S->sig[S->A[q]];
      }
      /* s = [x_A, 1]'a1 for the full Hessian */
      for (int q = 0; q < p; q++) sv[q] = as_col_dot(P, S, q, a1);
      /* at least one element: R_alloc(0) is NULL, which memset may not be given */
      double *K = (double *)R_alloc(m > 0 ? (size_t)m * m : 1, sizeof(double));
      memset(K, 0, (size_t)m * m * sizeof(double));
      /* H = (2/n)[B'B + eps (s dN' + dN s') + n eps^2 dN dN'] + (2 eps/n) E d2N */
      int *slot = (int *)R_alloc(k > 0 ? k : 1, sizeof(int)), cached = 1;
      for (int q = 0; q < k && cached; q++)
        cached = (slot[q] = as_gram_slot(P, S, S->A[q])) >= 0;
      if (cached) {
        for (int bq = 0; bq < k; bq++) {
          const double *gc = S->gm + (size_t)slot[bq] * S->gcap;
          for (int a = 0; a < k; a++) K[a + (size_t)bq * m] = 2.0 / n * gc[slot[a]];
          if (ic) {
            K[k + (size_t)bq * m] = K[bq + (size_t)k * m] = 2.0 / n * S->gsum[slot[bq]];
          }
        }
      } else {
        for (int bq = 0; bq < k; bq++) {
          const double *xb = col(P, S->A[bq]);
          for (int a = 0; a <= bq; a++)
            K[a + (size_t)bq * m] = K[bq + (size_t)a * m] =
                2.0 / n * dot8(col(P, S->A[a]), xb, n);
          if (ic) {
            double s1 = 0;
            for (int i = 0; i < n; i++) s1 += xb[i];
            K[k + (size_t)bq * m] = K[bq + (size_t)k * m] = 2.0 / n * s1;
          }
        }
      }
      if (ic) K[k + (size_t)k * m] = 2.0;
      (void)nf;
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
      size_t ph = p > 0 ? (size_t)p : 1;
      double *H = (double *)R_alloc(ph * ph, sizeof(double));
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
      /* manifold stationarity ||grad + C'mu|| = ||H delta||, in relative units */
      for (int a = 0; a < p; a++) {
        double s = 0;
        for (int bq = 0; bq < p; bq++) s += H[a + (size_t)bq * p] * rhs[bq];
        double scale = a < k ? P->sc[S->A[a]] : 1;
        resM = fmax(resM, fabs(s) * scale / P->sy);
      }
    }
    const double *delta = rhs, *mu = rhs + p;
    double dmax = 0;
    for (int a = 0; a < p; a++) {
      double scale = a < k ? P->sc[S->A[a]] : 1;
      dmax = fmax(dmax, fabs(delta[a]) * scale / P->sy);
    }
    /* (no check while predicted pins are on their way to zero: as_kkt takes pinned
     * rows to be at zero) */
    int tight = !S->nspec && (resM <= P->thresh * 0.01 || dmax <= 1e-15 || fresh > 50);
    /* Near the manifold minimum (resM <= AS_LOOSE) the multipliers are already accurate
     * enough to act on a clear violation (by more than AS_REL resM): freeing it there
     * saves the last Newton steps to the minimum, which only a converged point needs.
     * Smaller violations wait for the minimum itself. A residual or a coordinate so
     * freed that comes straight back is left to the tight checks (as_free). */
    int loose = !tight && !S->nspec && !prechecked && resM <= AS_LOOSE;
    prechecked = 0; /* (a loose check would repeat the pre-check at this point) */
    /* a tight check only because 50 steps went by without one (not at a manifold
     * minimum, nor asked for by the polishing below) */
    int bycount = tight && !polish && !(resM <= P->thresh * 0.01 || dmax <= 1e-15);
    if (tight || loose) {
      /* at (or near) the manifold minimum: check multipliers and inactive coordinates */
      for (int q = 0; q < z; q++) u[q] = c > 0 ? n * mu[q] / (2 * c) : 0;
      int wj;
      double wg;
      double margin = tight ? 1e-12 : AS_REL * resM; /* (<= 1e-4: resM <= AS_LOOSE) */
      if (tight) {
        fresh = 0;
        *kkt = as_kkt_conv(P, S, lam, theta, r, u, v, &wj, &wg, NULL);
        vmaxset(vmax);
        if (*kkt <= P->thresh) break;
      } else {
        as_kkt(P, S, lam, theta, r, u, v, &wj, &wg, 0, NULL);
      }
      int act = as_free(P, S, lam, r, N, u, z, wj, wg, margin, tight, loose, zbatch, batch,
                        zmark, jmark, bp, bpi);
      /* a loose check with nothing clear goes on with this Newton step, and so does a
       * check made only because of the count, away from the manifold minimum */
      polish = 0;
      if (act || (tight && !bycount)) {
        if (loose) {
          vmaxset(vmax);
          fresh = 0;
        }
        if (!act) {
          /* violation only from round-off on the manifold: polish once more */
          fresh = 51;
          polish = 1;
          if (++stalls >= 3) {
            status = ST_STALL;
            break;
          }
        }
        continue;
      }
    }
    fresh++;
    /* step: ratio test on the signs of the free coefficients, then an exact line
     * search along the Newton direction that may pass through residual kinks */
    if (!reduced) { /* (the row-space solve returned dr = [x_A, 1] delta already) */
      memset(dr, 0, n * sizeof(double));
      for (int q = 0; q < k; q++) axpy_pos(dr, col(P, S->A[q]), delta[q], n);
      if (ic)
        for (int i = 0; i < n; i++) dr[i] += delta[k];
    }
    double tmax = 1;
    int block = -1;
    for (int q = 0; q < k; q++) {
      int j = S->A[q];
      if (S->sig[j] * delta[q] < 0) {
        double t = -theta[j] / delta[q];
        if (t < 0) t = 0;
        if (t < tmax) tmax = t, block = j;
      }
    }
    if (tmax == 0 && batch) {
      /* coordinates freed in a batch whose step goes the wrong way from zero: drop
       * them all at once (no move, so F is unchanged); after AS_WRONGWAY such batches
       * free one at a time for the rest of this lambda */
      int w = 0;
      for (int q = 0; q < k; q++) {
        int j = S->A[q];
        if (theta[j] == 0 && S->sig[j] * delta[q] < 0) S->inA[j] = 0;
        else S->A[w++] = j;
      }
      S->k = w;
      batch = ++wrongway < AS_WRONGWAY;
      vmaxset(vmax);
      continue;
    }
    as_line ls;
    as_line_init(P, S, lam, theta, delta, r, dr, &ls);
    double f0 = as_obj(P, lam, theta, r, S->A, S->k);
    int pin = -1, nflip = 0;
    double t = as_line_search(P, S, &ls, r, dr, tmax, bp, bpi, &pin, flip, &nflip);
    int hit = 0, ok = (t > 0) || pin >= 0 || (block >= 0 && tmax == 0);
    if (ok) {
      /* (tht is read and written only on A; theta is zero outside A) */
      for (int q = 0; q < k; q++) tht[S->A[q]] = theta[S->A[q]] + t * delta[q];
      hit = block >= 0 && t == tmax && pin < 0;
      if (hit) tht[block] = 0;
      for (int i = 0; i < n; i++) rt[i] = r[i] + t * dr[i];
      ok = as_obj(P, lam, tht, rt, S->A, S->k) <= f0 + 1e-13 * fabs(f0);
    }
    if (!ok && S->nspec) { /* no descent towards the predicted pins: drop them */
      as_spec_release(S, r);
      vmaxset(vmax);
      continue;
    }
    if (!ok) {
      /* Close to the manifold minimum the derivative formula drowns in rounding:
       * fall back to a ratio test that stops at the first residual kink and a
       * backtracking (Armijo) search on F itself, with a rounding allowance. */
      nflip = 0;
      pin = -1;
      double tm = tmax;
      int rblock = -1;
      for (int i = 0; i < n; i++) {
        if (S->inZ[i] || !(S->rho[i] * dr[i] < 0)) continue;
        double ti = -r[i] / dr[i];
        if (ti < 0) ti = 0;
        if (ti < tm) tm = ti, rblock = i;
      }
      double gd = 0;
      for (int a = 0; a < p; a++) gd += grad[a] * delta[a];
      t = tm;
      for (int bt = 0; bt < 60 && !ok; bt++, t /= 2) {
        for (int q = 0; q < k; q++) tht[S->A[q]] = theta[S->A[q]] + t * delta[q];
        hit = t == tm && rblock < 0 && block >= 0;
        if (hit) tht[block] = 0;
        for (int i = 0; i < n; i++) rt[i] = r[i] + t * dr[i];
        ok = as_obj(P, lam, tht, rt, S->A, S->k) <= f0 + 1e-4 * t * gd + 1e-13 * fabs(f0);
        if (ok) break;
      }
      if (!ok) {
        /* no decrease along the Newton direction: treat as the manifold minimum */
        vmaxset(vmax);
        fresh = 51;
        polish = 1;
        continue;
      }
      if (t == tm && rblock >= 0) pin = rblock;
    }
    for (int q = 0; q < k; q++) theta[S->A[q]] = tht[S->A[q]];
    if (ic) *b += t * delta[k];
    vmaxset(vmax);
    for (int q = 0; q < nflip; q++) S->rho[flip[q]] = (signed char)-S->rho[flip[q]];
    if (S->nspec) {
      if (t == 1) { /* the predicted pins are at zero now */
        for (int q = 0; q < S->z; q++) {
          int i = S->Z[q];
          if (!S->spec[i]) continue;
          S->spec[i] = 0;
          if (zmark[i]) zbatch = 0;
        }
        S->nspec = 0;
      } else if ((pin < 0 && !hit && t < 0.5) || ++spec_steps >= AS_SPEC_STEPS) {
        as_spec_release(S, rt);
      }
    }
    if (pin >= 0) {
      S->Z[S->z++] = pin;
      S->inZ[pin] = 1;
      if (zmark[pin] == 2) zmark[pin] = 3; /* (see as_free) */
      if (zmark[pin]) zbatch = 0;
    } else if (hit) {
      if (jmark[block] == 1) jmark[block] = 2;
      if (t == 0) batch = 0; /* a freed coordinate went the wrong way */
      as_remove_A(S, block);
      as_screen_add(S, block);
    }
    for (int q = 0; q < S->k; q++) {
      int j = S->A[q];
      if (theta[j] != 0) S->sig[j] = (signed char)adv_sign(theta[j]);
    }
    /* Predicted pins. The residuals that the rest of the full Newton step would take
     * across zero are, late on the path, mostly those pinned at this lambda's
     * solution, and the line search would pin them one per Newton solve. So after a
     * step that stopped short of t = 1 at a kink or a coefficient's zero, they are all
     * pinned in the next Newton system, which takes them to zero at t = 1 (the line
     * search counts them as free until then). They become true pins when a step
     * reaches t = 1; a step that stops early inside a piece of the line (not at a kink
     * or a coefficient's zero), no descent, or AS_SPEC_STEPS steps without reaching
     * t = 1 free them again. */
    if (!S->nspec && t < 1 && (pin >= 0 || hit)) {
      int np = 0;
      for (int i = 0; i < n; i++)
        if (!S->inZ[i] && rt[i] * (r[i] + dr[i]) < 0) bpi[np++] = i;
      if (np >= AS_SPEC_MIN && S->z + np < n) {
        for (int q = 0; q < np; q++) {
          S->Z[S->z++] = bpi[q];
          S->inZ[bpi[q]] = 1;
          S->spec[bpi[q]] = 1;
        }
        S->nspec = np;
        spec_steps = 0;
      }
    }
    /* the residuals of the step's end point: r + t dr, recomputed from theta now and
     * then against drift */
    if (it % 32 == 0) residuals(P, theta, *b, r);
    else memcpy(r, rt, n * sizeof(double));
    /* After a full Newton step (or most of one) with A and Z unchanged, the solve's
     * multipliers are estimates of those at the new point: check there at once, when
     * the point the step started from was already near its manifold minimum
     * (resM <= AS_PRE). as_kkt measures the true KKT residual with them, so
     * convergence can be declared, or clear violations acted on, without the solve at
     * the new point that would otherwise come first (that solve still follows when
     * this check finds nothing to do). Not while predicted pins are on their way. */
    if ((t == 1 || (t >= 0.5 && !S->nspec)) && pin < 0 && !hit && resM <= AS_PRE) {
      double Nn = attack_norm(P, theta, S->A, S->k), cn = P->eps * Nn, rA;
      for (int q = 0; q < z; q++) u[q] = cn > 0 ? n * mu[q] / (2 * cn) : 0;
      int wj;
      double wg, kk = as_kkt_conv(P, S, lam, theta, r, u, v, &wj, &wg, &rA);
      if (kk <= P->thresh) {
        *kkt = kk;
        break;
      }
      /* at the manifold minimum (as the tight check), or near it (as the loose one) */
      int tg = rA <= P->thresh * 0.01;
      if ((tg || rA <= AS_LOOSE) &&
          as_free(P, S, lam, r, Nn, u, z, wj, wg, tg ? 1e-12 : AS_REL * rA, tg, !tg, zbatch,
                  batch, zmark, jmark, bp, bpi)) {
        fresh = 0;
      } else {
        prechecked = 1;
        rA_pre = rA;
      }
    }
  }
  as_spec_release(S, r); /* (only after a failure: see above) */
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
      if (D32 > 0) {
        ha = 1 + 2 * eps * Pn * xi * xi / D32;
        wP += 2 * h * 2 * eps * a * (2 * a * a * Pn + xi * xi) / D32;
      } else {
        /* a zero residual with xi so small that xi^3 underflows: no attack there
         * (the package's convention where the input gradient vanishes) */
        ha = 1;
      }
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
 * ctrl = c(eps, xi, thresh, sy), ints = c(norm, intercept, maxit, threads[, full_kkt])
 * (full_kkt = 1 turns the row-space Newton solve off, for the tests).
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
  P.full_kkt = length(ints) > 4 ? INTEGER(ints)[4] : 0;
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
    cdn_state C;
    C.A = (int *)R_alloc(d, sizeof(int));
    C.S = (int *)R_alloc(d, sizeof(int));
    C.rest = (int *)R_alloc(d, sizeof(int));
    C.inA = (signed char *)R_alloc(d, 1);
    C.inS = (signed char *)R_alloc(d, 1);
    memset(C.inA, 0, d);
    C.ka = C.ks = 0;
    C.kg = C.gcap = 0;
    C.gram = NULL;
    C.R = NULL;
    C.K = NULL;
    C.inK = NULL;
    C.kr = C.rcap = 0;
    C.r0 = (double *)R_alloc(n, sizeof(double));
    double *g = (double *)R_alloc(d, sizeof(double));
    double *xv = (double *)R_alloc(d, sizeof(double));
    double *r = (double *)R_alloc(n, sizeof(double));
    for (int i = 0; i < n; i++) r[i] = P.y[i];
    cdn_grad(&P, r, g, NULL, d);
    C.gref = (double *)R_alloc(d, sizeof(double));
    C.rref = (double *)R_alloc(n, sizeof(double));
    memcpy(C.gref, g, d * sizeof(double));
    memcpy(C.rref, r, n * sizeof(double));
    double lmax = 0;
    C.bmax = 0;
    for (int j = 0; j < d; j++) {
      const double *xj = col(&P, j);
      xv[j] = dot8(xj, xj, n) / n;
      if (P.excl[j]) continue;
      lmax = fmax(lmax, 2 * fabs(g[j]) / P.w[j]);
      C.bmax = fmax(C.bmax, sqrt(xv[j]) * 2 * P.sc[j] / P.sy);
    }
    for (int l = 0; l < nl; l++) {
      double lprev = l == 0 ? fmax(lmax, lam[0]) : lam[l - 1];
      /* refresh r from theta (no drift of the incremental updates along the path) */
      for (int i = 0; i < n; i++) r[i] = P.y[i];
      for (int q = 0; q < C.ka; q++) {
        int j = C.A[q];
        if (theta[j] == 0) continue;
        axpy_neg(r, col(&P, j), theta[j], n);
      }
      int st = cdn_solve(&P, &C, lam[l], lprev, theta, r, g, xv, REAL(kkt) + l,
                         INTEGER(iters) + l);
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
    S.spec = (signed char *)R_alloc(n, 1);
    S.kk_oq = (int *)R_alloc(n, sizeof(int));
    S.kk_du = (double *)R_alloc(n, sizeof(double));
    memset(S.spec, 0, n);
    S.nspec = 0;
    memset(S.inA, 0, d);
    memset(S.sig, 0, d);
    memset(S.inZ, 0, n);
    memset(S.rho, 1, n);
    S.k = S.z = 0;
    /* Gram cache slots: with the row-space solve (L2, n <= 2048) the dense KKT solve
     * only runs while k + 1 + z <= 40, so a few hundred slots do (columns past them
     * are computed directly) */
    int rowspace = P.norm == ADV_L2 && n <= 2048;
    int gmax = rowspace && !P.full_kkt ? 256 : 1536;
    S.gcap = d < gmax ? d : gmax;
    S.gk = 0;
    S.gpos = (int *)R_alloc(d, sizeof(int));
    for (int j = 0; j < d; j++) S.gpos[j] = -1;
    S.gcol = (int *)R_alloc(S.gcap > 0 ? S.gcap : 1, sizeof(int));
    S.gsum = (double *)R_alloc(S.gcap > 0 ? S.gcap : 1, sizeof(double));
    /* the row-space kernel for as_nspace (allocated here: scratch memory of as_solve
     * is released after every lambda) */
    S.kg = rowspace ? (double *)R_alloc((size_t)n * n, sizeof(double)) : NULL;
    S.inG = (signed char *)R_alloc(d, 1);
    memset(S.inG, 0, d);
    S.xws = S.kg ? (double *)R_alloc(n, sizeof(double)) : NULL;
    S.gl = (int *)R_alloc(d, sizeof(int));
    S.kch = (int *)R_alloc(d, sizeof(int));
    S.ksg = (double *)R_alloc(d, sizeof(double));
    S.ngl = 0;
    S.nupd = 1 << 29; /* rebuilt on first use */
    S.Lf = S.kg ? (double *)R_alloc((size_t)n * n, sizeof(double)) : NULL;
    S.inF = (signed char *)R_alloc(d, 1);
    S.zF = (signed char *)R_alloc(n, 1);
    memset(S.inF, 0, d);
    memset(S.zF, 0, n);
    S.fl = (int *)R_alloc(d, sizeof(int));
    S.nfl = S.nfup = S.fvalid = 0;
    S.fver = 1;
    S.wver = 0;
    S.wcache = S.kg ? (double *)R_alloc(4 * (size_t)n, sizeof(double)) : NULL;
    S.f0 = 1;
    S.gm = (double *)R_alloc((size_t)(S.gcap > 0 ? S.gcap : 1) * (S.gcap > 0 ? S.gcap : 1),
                             sizeof(double));
    S.G = (double *)R_alloc(d, sizeof(double));
    S.Gr = (double *)R_alloc((size_t)d * AS_NREF, sizeof(double));
    S.Vr = (double *)R_alloc((size_t)n * AS_NREF, sizeof(double));
    S.vrn = (double *)R_alloc(AS_NREF, sizeof(double));
    S.nref = S.rnext = 0;
    S.xn = (double *)R_alloc(d, sizeof(double));
    S.todo = (int *)R_alloc(d, sizeof(int));
    S.ns_scr = S.kg ? (double *)R_alloc(7 * (size_t)n, sizeof(double)) : NULL;
    S.fs_w = S.kg ? (double *)R_alloc((size_t)AS_RK_CHUNK * n, sizeof(double)) : NULL;
    for (int j = 0; j < d; j++) S.xn[j] = sqrt(dot8(col(&P, j), col(&P, j), n));
    S.scr = (int *)R_alloc(d, sizeof(int));
    S.smark = (signed char *)R_alloc(d, 1);
    memset(S.smark, 0, d);
    S.gfull = S.nscr = 0;
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

/* The rows `rows` (1-based; all when R_NilValue) of x, centred by column when
 * `center`, in one pass per column: list(x (the copy), mean, sd (divisor = rows)).
 * The mean is over the selected rows; sd is their standard deviation about it (two
 * passes over the column in cache, so no cancellation). Cross-validation uses it to
 * build each training fold without copying x in R. */
SEXP C_lasso_prep(SEXP x, SEXP rows, SEXP center) {
  int n = nrows(x), d = ncols(x), ctr = asLogical(center);
  int m = isNull(rows) ? n : length(rows);
  const int *ri = isNull(rows) ? NULL : INTEGER(rows);
  for (int q = 0; q < m && ri; q++)
    if (ri[q] < 1 || ri[q] > n) error("row index %d out of range", ri[q]);
  SEXP xc = PROTECT(allocMatrix(REALSXP, m, d));
  SEXP mean = PROTECT(allocVector(REALSXP, d));
  SEXP sd = PROTECT(allocVector(REALSXP, d));
  const double *X = REAL(x);
  double *Y = REAL(xc), *mu = REAL(mean), *s = REAL(sd);
  for (int j = 0; j < d; j++) {
    const double *xj = X + (size_t)j * n;
    double *yj = Y + (size_t)j * m, a = 0;
    if (ri) {
      for (int q = 0; q < m; q++) yj[q] = xj[ri[q] - 1];
    } else {
      memcpy(yj, xj, (size_t)m * sizeof(double));
    }
    for (int q = 0; q < m; q++) a += yj[q];
    a /= m;
    double v = 0;
    for (int q = 0; q < m; q++) v += (yj[q] - a) * (yj[q] - a);
    mu[j] = a;
    s[j] = sqrt(v / m);
    if (ctr)
      for (int q = 0; q < m; q++) yj[q] -= a;
  }
  const char *nms[] = {"x", "mean", "sd", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  SET_VECTOR_ELT(out, 0, xc);
  SET_VECTOR_ELT(out, 1, mean);
  SET_VECTOR_ELT(out, 2, sd);
  UNPROTECT(4);
  return out;
}
