/* The plain lasso (eps = 0): cyclic coordinate descent with naive (residual) updates,
 * sequential strong rules and active-set cycling, and a Newton step on the non-zero
 * coordinates once their signs settle.
 *
 * Coordinate descent is exact and cheap here because the penalty is separable, but it
 * converges only linearly, slowly when df approaches n; the Newton step (on an
 * up/down-dated upper Cholesky factor of the cached Gram matrix of the active columns,
 * chol.c) lands on the solution once the signs are right, and coordinate descent then
 * confirms it. Convergence is declared only by a KKT check of every coordinate
 * (lasso_kkt.c), after the cheaper checks on the strong set.
 */
#include "lasso.h"
#include "chol.h"

/* Implicit centring: with P->mu set the columns are x_j - mu_j, each difference formed
 * on the fly (rounded once, as a centred copy would hold it), so every product below
 * is the one on the centred copy, without the copy (n x d, as large as x). Without
 * mu the shift is zero and the kernels give vec_dot8's and vec_axmy's results. */
static inline double cmean(const prob *P, int j) { return P->mu ? P->mu[j] : 0.0; }

/* (x_j - mu_j)'v */
static inline double cdot(const prob *P, int j, const double *v) {
  return vec_dot8c(col(P, j), cmean(P, j), v, 0.0, P->n);
}

/* r -= a (x_j - mu_j) */
static inline void caxmy(const prob *P, double *r, int j, double a) {
  vec_axmy_c(r, col(P, j), a, cmean(P, j), P->n);
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
    g[j] = cdot(P, j, r) / n;
  }
}

static inline double cdn_update(const prob *P, double lam, double *theta, double *r,
                                const double *xv, int j) {
  int n = P->n;
  double old = theta[j];
  double u = cdot(P, j, r) / n + xv[j] * old;
  double nw = soft(u, lam * P->w[j] / 2) / xv[j];
  if (nw == old) return 0;
  double delta = nw - old;
  theta[j] = nw;
  caxmy(P, r, j, delta);
  return delta;
}

struct cdn_state {
  int *A, ka;       /* ever-active coordinates */
  signed char *inA; /* d */
  int *S, ks;       /* strong set (contains A) */
  signed char *inS; /* d */
  int *rest;        /* scratch: coordinates outside S */
  double *r0;       /* scratch (n) */
  double bmax;      /* max_j sqrt(xv_j) 2 sc_j / sy: gradient-change bound factor */
  double *gram;     /* x_a'x_b / n for a, b in A (by position), gcap x gcap */
  /* references for the check outside S: up to REF_MAX residuals of checks that
   * computed every column (Vr, n x REF_MAX, their norms vrn) and their gradients
   * (Gr, row j holding column j's values), the next slot to replace */
  double *Vr, *Gr, vrn[REF_MAX];
  int nref, rnext;
  double *sxv; /* sqrt(xv) */
  int kg, gcap;     /* positions of A with their Gram entries filled; capacity */
  double *R;        /* Cholesky factor (upper, R'R = gram[K, K]), rcap x rcap */
  int *K, kr, rcap; /* positions in A of the factor's columns, their number, capacity */
  signed char *inK; /* by position in A */
  double *r, *g, *xv; /* r = y - X theta, g = x'r/n, xv_j = x_j'x_j/n */
};

/* Drop column p of the factor. */
static void cdn_factor_drop(cdn_state *C, int p) {
  C->inK[C->K[p]] = 0;
  chol_upper_delete(C->R, C->rcap, C->kr, p);
  for (int j = p; j < C->kr - 1; j++) C->K[j] = C->K[j + 1];
  C->kr--;
}

/* Append position a of A to the factor (O(k^2)); 0 if the new column is (nearly)
 * dependent on the others. */
static int cdn_factor_add(cdn_state *C, int a) {
  int k = C->kr;
  double *z = C->R + (size_t)k * C->rcap;
  const double *h = C->gram + (size_t)a * C->gcap;
  for (int i = 0; i < k; i++) z[i] = h[C->K[i]];
  if (!chol_upper_append(C->R, C->rcap, k, h[a])) return 0;
  C->K[k] = a;
  C->inK[a] = 1;
  C->kr = k + 1;
  return 1;
}

/* Room in the factor for ka columns (copying the current one). */
static void cdn_factor_grow(cdn_state *C, int ka) {
  if (C->rcap >= ka) return;
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
  /* column a (old or new) against each new column b >= a: each column of A is read
   * once from wherever it lies and the new ones, few, are reused from near caches */
  for (int a = 0; a < C->ka; a++) {
    int ja = C->A[a];
    const double *xa = col(P, ja);
    for (int b = a > C->kg ? a : C->kg; b < C->ka; b++) {
      int jb = C->A[b];
      double v = vec_dot8c(xa, cmean(P, ja), col(P, jb), cmean(P, jb), n) / n;
      C->gram[a + (size_t)b * C->gcap] = v;
      C->gram[b + (size_t)a * C->gcap] = v;
    }
  }
  C->kg = C->ka;
}

/* Newton steps on the non-zero coordinates of A (signs fixed): with the signs right
 * one lands on the solution, which coordinate descent approaches only linearly (slowly
 * when df is close to n). The Gram matrix of A is cached along the path; the solve is
 * a Cholesky factorisation of its K x K part (K: the non-zero coordinates). A step
 * that would change a sign stops where the first coefficient reaches zero; that
 * coordinate leaves K (a downdate of the factor) and the next step is taken from
 * there, the gradient on K updated without a pass over the columns (a step t of the
 * Newton direction changes it by t times the right-hand side), up to
 * CDN_NEWTON_STEPS steps. The residual takes the total change once at
 * the end; coordinate descent continues from the result (coordinates that should
 * re-enter or change sign do so there) and still decides convergence. Returns 1 when
 * the last step was a full one (no sign blocked it). */
#define CDN_NEWTON_STEPS 16
static int cdn_newton(const prob *P, cdn_state *C, double lam, double *theta, double *r) {
  int n = P->n, ka = C->ka, full = 0;
  if (ka > 4096) return 0; /* the cache would be too large; coordinate descent only */
  cdn_gram(P, C);
  cdn_factor_grow(C, ka);
  /* update the factor to the non-zero coordinates: drop, then append */
  for (int q = C->kr - 1; q >= 0; q--)
    if (theta[C->A[C->K[q]]] == 0) cdn_factor_drop(C, q);
  for (int a = 0; a < ka; a++) {
    if (theta[C->A[a]] == 0 || C->inK[a]) continue;
    if (C->kr >= n || !cdn_factor_add(C, a)) return 0;
  }
  int k = C->kr, k0 = k;
  if (k == 0) return 0;
  const void *vmax = vmaxget();
  double *gk = (double *)R_alloc(k, sizeof(double));   /* gradient x_j'r/n on K */
  double *dir = (double *)R_alloc(k, sizeof(double));
  double *rhs = (double *)R_alloc(k, sizeof(double));
  int *J = (int *)R_alloc(k, sizeof(int));             /* the coordinates touched */
  double *old = (double *)R_alloc(k, sizeof(double));  /* and their values before */
  for (int b = 0; b < k; b++) {
    int jb = C->A[C->K[b]];
    gk[b] = cdot(P, jb, r) / n;
    J[b] = jb;
    old[b] = theta[jb];
  }
  for (int step = 0; step < CDN_NEWTON_STEPS && k > 0; step++) {
    for (int b = 0; b < k; b++) {
      int jb = C->A[C->K[b]];
      rhs[b] = dir[b] = gk[b] - lam * P->w[jb] / 2 * adv_sign(theta[jb]);
    }
    chol_upper_solve(C->R, C->rcap, k, dir); /* R'R delta = rhs */
    double t = 1;
    int block = -1;
    for (int a = 0; a < k; a++) {
      if (!R_FINITE(dir[a])) {
        t = -1;
        break;
      }
      int j = C->A[C->K[a]];
      if (adv_sign(theta[j] + dir[a]) != adv_sign(theta[j])) {
        double ta = -theta[j] / dir[a];
        if (ta < t) t = ta, block = a;
      }
    }
    if (!(t > 0)) break;
    for (int a = 0; a < k; a++) {
      int j = C->A[C->K[a]];
      theta[j] = (a == block) ? 0.0 : theta[j] + t * dir[a];
    }
    if (block < 0) {
      full = 1;
      break;
    }
    /* the gradient on K after the step: gk -= t Gram[K, K] dir = t rhs, since dir
     * solves Gram[K, K] dir = rhs (for the blocked coordinate t dir is its move to
     * zero up to rounding; the sweep that follows computes exact gradients) */
    for (int b = 0; b < k; b++) gk[b] -= t * rhs[b];
    cdn_factor_drop(C, block);
    for (int b = block; b < k - 1; b++) gk[b] = gk[b + 1], rhs[b] = rhs[b + 1];
    k--;
  }
  /* the residual takes the total change of each coordinate touched */
  for (int q = 0; q < k0; q++) {
    double delta = theta[J[q]] - old[q];
    if (delta != 0) caxmy(P, r, J[q], delta);
  }
  vmaxset(vmax);
  return full;
}

static void cdn_add_S(cdn_state *C, int j) {
  if (C->inS[j]) return;
  C->inS[j] = 1;
  C->S[C->ks++] = j;
}

/* The strong set from the previous gradient g; A is always in S. */
static void cdn_strong_set(const prob *P, cdn_state *C, double lam, double lam_prev,
                           const double *g) {
  C->ks = 0;
  memset(C->inS, 0, P->d);
  for (int q = 0; q < C->ka; q++) cdn_add_S(C, C->A[q]);
  for (int j = 0; j < P->d; j++) {
    if (P->excl[j] || C->inS[j]) continue;
    if (fabs(g[j]) >= (lam - lam_prev / 2) * P->w[j]) cdn_add_S(C, j);
  }
}

/* A sweep over S (coordinates enter A), then cycles on A until a sweep moves every
 * gradient entry by <= thresh / 4 (relative): |x_j'(r - r0)|/n <= sqrt(xv_j)
 * ||r - r0|| / sqrt(n) by Cauchy-Schwarz. Newton steps once the signs settle. Returns
 * the iteration count it advanced to. */
static int cdn_cycle(const prob *P, cdn_state *C, double lam, double *theta, double *r,
                     const double *xv, int it) {
  int n = P->n;
  double sqn = sqrt((double)n);
  for (int q = 0; q < C->ks; q++) {
    int j = C->S[q];
    cdn_update(P, lam, theta, r, xv, j);
    if (theta[j] != 0 && !C->inA[j]) {
      C->inA[j] = 1;
      C->A[C->ka++] = j;
    }
  }
  it++;
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
  return it;
}

/* r and g (every column, exact at r) become a reference, replacing the oldest. */
static void cdn_ref_push(const prob *P, cdn_state *C, const double *r, const double *g) {
  int n = P->n, l = C->rnext;
  C->rnext = (l + 1) % REF_MAX;
  if (C->nref < REF_MAX) C->nref++;
  memcpy(C->Vr + (size_t)l * n, r, n * sizeof(double));
  double s = 0;
  for (int i = 0; i < n; i++) s += r[i] * r[i];
  C->vrn[l] = sqrt(s);
  for (int j = 0; j < P->d; j++) C->Gr[(size_t)j * REF_MAX + l] = g[j];
}

/* The gradient outside S, where every coefficient is zero: into g for the columns
 * listed in C->rest (their number returned). With c the least-squares fit of r on
 * the references (ref_fit), x_j'r/n = sum_l c_l Gr_jl + x_j'(r - V c)/n, and
 * |x_j'(r - V c)|/n <= sqrt(xv_j) D, D = ||r - V c|| / sqrt(n) (Cauchy-Schwarz); the
 * path's residuals change smoothly, so a few earlier ones predict r closely. A column
 * whose bound stays below its threshold meets its KKT condition without computing
 * x_j'r (g_j then holds the prediction, for the next strong set). When the bound is
 * too loose for most columns, all are computed and r joins the references. */
static int cdn_grad_rest(const prob *P, cdn_state *C, double lam, const double *r,
                         double *g) {
  int n = P->n, d = P->d;
  double sqn = sqrt((double)n), c[REF_MAX];
  double D = ref_fit(C->Vr, C->nref, n, r, c), cs = 0;
  for (int i = 0; i < n; i++) cs += r[i] * r[i];
  cs = sqrt(cs);
  for (int l = 0; l < C->nref; l++) cs += fabs(c[l]) * C->vrn[l];
  D = (D + 1e-12 * cs) / sqn; /* (rounding in the references, the fit and the sums) */
  int m = 0, nrest = 0;
  for (int j = 0; j < d; j++) {
    if (C->inS[j] || P->excl[j]) continue;
    nrest++;
    const double *gr = C->Gr + (size_t)j * REF_MAX;
    double pred = 0;
    for (int l = 0; l < C->nref; l++) pred += c[l] * gr[l];
    if (fabs(pred) + C->sxv[j] * D >= lam * P->w[j] / 2) C->rest[m++] = j;
    else g[j] = pred;
  }
  int refresh = 3 * m > nrest;
  if (refresh) {
    m = 0;
    for (int j = 0; j < d; j++)
      if (!C->inS[j]) C->rest[m++] = j;
  }
  cdn_grad(P, r, g, C->rest, m);
  if (refresh) cdn_ref_push(P, C, r, g); /* (g is exact on S too: cdn_solve) */
  return m;
}

/* One lambda. On entry g = x'r/n for all j at the warm start (the previous solution),
 * r = y - X theta; on exit the same at the new solution. */
static int cdn_solve(const prob *P, cdn_state *C, double lam, double lam_prev,
                     double *theta, double *r, double *g, const double *xv, double *kkt,
                     int *iters) {
  int it = 0;
  cdn_strong_set(P, C, lam, lam_prev, g);
  for (;;) {
    it = cdn_cycle(P, C, lam, theta, r, xv, it);
    /* exact KKT on S, then on the rest */
    cdn_grad(P, r, g, C->S, C->ks);
    double kS = cd_kkt(P, lam, theta, g, C->S, C->ks);
    if (kS > P->thresh && it < P->maxit) continue;
    int m = cdn_grad_rest(P, C, lam, r, g);
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

cdn_state *cd_init(const prob *P, double *lmax) {
  int n = P->n, d = P->d;
  cdn_state *C = (cdn_state *)R_alloc(1, sizeof(cdn_state));
  C->A = (int *)R_alloc(d, sizeof(int));
  C->S = (int *)R_alloc(d, sizeof(int));
  C->rest = (int *)R_alloc(d, sizeof(int));
  C->inA = (signed char *)R_alloc(d, 1);
  C->inS = (signed char *)R_alloc(d, 1);
  memset(C->inA, 0, d);
  C->ka = C->ks = 0;
  C->kg = C->gcap = 0;
  C->gram = NULL;
  C->R = NULL;
  C->K = NULL;
  C->inK = NULL;
  C->kr = C->rcap = 0;
  C->r0 = (double *)R_alloc(n, sizeof(double));
  double *g = C->g = (double *)R_alloc(d, sizeof(double));
  double *xv = C->xv = (double *)R_alloc(d, sizeof(double));
  double *r = C->r = (double *)R_alloc(n, sizeof(double));
  for (int i = 0; i < n; i++) r[i] = P->y[i];
  cdn_grad(P, r, g, NULL, d);
  C->Vr = (double *)R_alloc((size_t)n * REF_MAX, sizeof(double));
  C->Gr = (double *)R_alloc((size_t)d * REF_MAX, sizeof(double));
  C->sxv = (double *)R_alloc(d, sizeof(double));
  C->nref = C->rnext = 0;
  cdn_ref_push(P, C, r, g);
  *lmax = 0;
  C->bmax = 0;
  for (int j = 0; j < d; j++) {
    const double *xj = col(P, j);
    xv[j] = vec_dot8c(xj, cmean(P, j), xj, cmean(P, j), n) / n;
    C->sxv[j] = sqrt(xv[j]);
    if (P->excl[j]) continue;
    *lmax = fmax(*lmax, 2 * fabs(g[j]) / P->w[j]);
    C->bmax = fmax(C->bmax, sqrt(xv[j]) * 2 * P->sc[j] / P->sy);
  }
  return C;
}

int cd_solve(const prob *P, cdn_state *C, double lam, double lam_prev, double *theta,
             double *kkt, int *iters) {
  int n = P->n;
  double *r = C->r;
  /* refresh r from theta (no drift of the incremental updates along the path) */
  for (int i = 0; i < n; i++) r[i] = P->y[i];
  for (int q = 0; q < C->ka; q++) {
    int j = C->A[q];
    if (theta[j] == 0) continue;
    caxmy(P, r, j, theta[j]);
  }
  return cdn_solve(P, C, lam, lam_prev, theta, r, C->g, C->xv, kkt, iters);
}
