/* The Newton direction of the active-set method (lasso_active.c) on the current
 * manifold {theta_j = 0 outside A, r_i = 0 for i in Z, signs fixed}: one
 * equality-constrained Newton step, with the multipliers of the pinned residuals.
 *
 * Two ways to the same step. The dense one solves the symmetric indefinite KKT system
 * of k + 1 + z unknowns (LAPACK dsysv), its Hessian block taken from a Gram cache over
 * all rows. Late on a d >> n path k + z approaches 2n and that solve dominates, so for
 * L2 attacks on larger manifolds the system is reduced to the n-dimensional row space
 * (as_nspace), whose Cholesky factor (chol.c) is kept across steps and lambdas and
 * changed by rank-one up/down-dates as A and Z change.
 */
#include "lasso_as.h"
#include "chol.h"

/* The intercept's column (ones, or the row scales) times v. */
static double as_ones_dot(const prob *P, const double *v) {
  return P->es ? vec_dot8(P->es, v, P->n) : vec_sum8(v, P->n);
}

/* Slot of column j in the Gram cache (computing its row, O(n gk)), or -1 if full. */
static int as_gram_slot(const prob *P, aset *S, int j) {
  if (S->gpos[j] >= 0) return S->gpos[j];
  if (S->gk >= S->gcap) return -1;
  int a = S->gk++, n = P->n;
  const double *xj = col(P, j);
  S->gpos[j] = a;
  S->gcol[a] = j;
  for (int b = 0; b <= a; b++) {
    double v = vec_dot8(col(P, S->gcol[b]), xj, n);
    S->gm[a + (size_t)b * S->gcap] = v;
    S->gm[b + (size_t)a * S->gcap] = v;
  }
  /* the column's sum against the intercept's column (read only with an intercept) */
  S->gsum[a] = P->intercept ? as_ones_dot(P, xj) : 0;
  return a;
}

/* [x_A, 1]'v, entry q: column A[q], or the intercept's column for q = k (ones, or
 * the row scales) */
static double as_col_dot(const prob *P, const aset *S, int q, const double *v) {
  if (q < S->k) return vec_dot8(col(P, S->A[q]), v, P->n);
  return as_ones_dot(P, v);
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
 * intercept equation 1'zeta = -g_b (with row scales s: the column 1 of delta_b, here
 * and below, is s, and a1 = s rho o D1), f s + u'zeta + |dN|^2 omega = -dN'g_A and
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
        vec_axpy4(gb, x0, x1, x2, x3, sg[q] * x0[b], sg[q + 1] * x1[b], sg[q + 2] * x2[b],
              sg[q + 3] * x3[b], b + 1);
      }
      for (; q < q1; q++) {
        const double *xj = col(P, js[q]);
        vec_axpy(gb, xj, sg[q] * xj[b], b + 1);
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
      vec_axpy(S->xws, col(P, j), P->w[j] * S->sig[j], n);
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
        vec_axpy(S->xws, col(P, j), 2 * P->w[j] * S->sig[j], n);
        S->inG[j] = S->sig[j];
      }
    } else {
      js[m] = j;
      sg[m++] = -1.0;
      vec_axmy(S->xws, col(P, j), P->w[j] * S->inG[j], n);
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
    vec_axpy(S->xws, col(P, j), P->w[j] * S->sig[j], n);
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
 * made since it was built; otherwise (or when a downdate fails) factorise afresh. A
 * frozen f0 makes the step a quasi-Newton step on the manifold: it still converges
 * (linearly, at a rate of about |f/f0 - 1|), and the manifold residual is measured
 * with the same Hessian, so the test resM = ||grad + C'mu|| stays exact. A
 * factorisation costs O(n^3/3) against O(n^2 + nk) for a step, so the drift allowed
 * grows faster than n: 2% up to n = 125, 0.02 (n/125)^1.5 above, at most 32%. Likewise
 * the number of rank-one changes (each about n^2 flops, each adding a little rounding
 * to the factor) before a rebuild: 96, or 0.6 n from n = 160. (How these were tuned on
 * the bench path: NEWS.md, issue 5.) */
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

/* ---- the dense step ---- */

/* The gradient (2/n)[x_A, 1]'a2 + (2 eps E/n) dN (+ lam w sigma on A) and
 * s = [x_A, 1]'a1, for the p = k + ic unknowns. */
static void as_dense_grad(const prob *P, const aset *S, double lam, double E,
                          const double *dN, const double *a1, const double *a2,
                          double *grad, double *sv) {
  int n = P->n, k = S->k, p = k + P->intercept;
  /* (both products of a column in one pass over it: the same sums as two dots) */
  for (int q = 0; q < p; q++) {
    double ga, sa;
    if (q < k) {
      vec_dot8x2(col(P, S->A[q]), a2, a1, n, &ga, &sa);
    } else {
      ga = as_col_dot(P, S, q, a2);
      sa = as_col_dot(P, S, q, a1);
    }
    grad[q] = 2.0 / n * ga + 2 * P->eps * E / n * dN[q];
    if (q < k) grad[q] += lam * P->w[S->A[q]] * S->sig[S->A[q]];
    sv[q] = sa; /* s = [x_A, 1]'a1 for the full Hessian */
  }
}

/* (2/n) B'B of the Hessian into the leading p x p block of K (m x m), from the Gram
 * cache when every column of A has a slot, else directly. */
static void as_dense_gram(const prob *P, aset *S, double *K, int m) {
  int n = P->n, k = S->k, ic = P->intercept;
  int cached = 1;
  for (int q = 0; q < k && cached; q++) cached = as_gram_slot(P, S, S->A[q]) >= 0;
  if (cached) { /* (every column of A has its slot in gpos now) */
    const int *slot = S->gpos;
    for (int bq = 0; bq < k; bq++) {
      const double *gc = S->gm + (size_t)slot[S->A[bq]] * S->gcap;
      for (int a = 0; a < k; a++) K[a + (size_t)bq * m] = 2.0 / n * gc[slot[S->A[a]]];
      if (ic) {
        K[k + (size_t)bq * m] = K[bq + (size_t)k * m] = 2.0 / n * S->gsum[slot[S->A[bq]]];
      }
    }
  } else {
    for (int bq = 0; bq < k; bq++) {
      const double *xb = col(P, S->A[bq]);
      for (int a = 0; a <= bq; a++)
        K[a + (size_t)bq * m] = K[bq + (size_t)a * m] =
            2.0 / n * vec_dot8(col(P, S->A[a]), xb, n);
      if (ic) K[k + (size_t)bq * m] = K[bq + (size_t)k * m] = 2.0 / n * as_ones_dot(P, xb);
    }
  }
  if (ic) K[k + (size_t)k * m] = 2.0;
}

/* The KKT matrix K (m x m) and right-hand side of the dense step:
 * H = (2/n)[B'B + eps (s dN' + dN s') + n eps^2 dN dN'] + (2 eps/n) E d2N with a tiny
 * ridge, bordered by the pinned rows of [x_A, 1]. */
static void as_dense_system(const prob *P, aset *S, double N, double E, const double *dN,
                            const double *sv, const double *grad, const double *r,
                            double *K, double *rhs) {
  int n = P->n, k = S->k, p = k + P->intercept, z = S->z, m = p + z, ic = P->intercept;
  memset(K, 0, (size_t)m * m * sizeof(double));
  as_dense_gram(P, S, K, m);
  for (int bq = 0; bq < p; bq++) /* (by columns: contiguous) */
    for (int a = 0; a < p; a++)
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
    if (ic) K[(p + q) + (size_t)k * m] = rsc(P, i);
    for (int a = 0; a < p; a++) K[a + (size_t)(p + q) * m] = K[(p + q) + (size_t)a * m];
    K[(p + q) + (size_t)(p + q) * m] = -1e-13 * (hmax > 0 ? hmax : 1);
    rhs[p + q] = -r[i];
  }
  for (int a = 0; a < p; a++) rhs[a] = -grad[a];
}

/* The dense KKT system [H C'; C -delta I] (m x m in K, H the leading p x p block, delta
 * = -K[m-1, m-1] > 0 the tiny regularisation of the pinned block) solved by its Schur
 * complement: H = L L' by chol_lower, W = L^-1 C', T = W'W + delta I = L_T L_T', then
 * mu = T^-1 (W'y0 - h) with y0 = L^-1 g, and x = L^-T (y0 - W mu) (rhs = [g; h] in,
 * [x; mu] out). About (p^3 / 3 + p^2 z + p z^2) flops on the package's own kernels, a
 * fraction of the time of LAPACK's dsysv with R's reference BLAS (28% of an eps path's
 * time at n = 1000, d = 50: NEWS.md). Returns 0, with rhs unchanged, when a factor
 * breaks down or the solution's residual exceeds 1e-9 of the system's scale: the
 * caller then uses dsysv, which pivots. */
static size_t as_schur_scratch(int m, int p) {
  size_t z = (size_t)(m - p);
  return (size_t)p * p + (size_t)p * z + z * z + 2 * (size_t)m;
}

static int as_dense_schur(const double *K, int m, int p, double *rhs, double *scr) {
  int z = m - p;
  if (p < 1) return 0;
  double *L = scr, *W = L + (size_t)p * p, *T = W + (size_t)p * z;
  double *y = T + (size_t)z * z, *x = y + m;
  for (int bq = 0; bq < p; bq++)
    memcpy(L + (size_t)bq * p, K + (size_t)bq * m, p * sizeof(double));
  int ok = chol_lower(L, p);
  /* y0 = L^-1 g and W = L^-1 C' (column q of C' is row p + q of K), by columns */
  memcpy(y, rhs, p * sizeof(double));
  for (int q = 0; q < z && ok; q++)
    for (int a = 0; a < p; a++) W[a + (size_t)q * p] = K[(p + q) + (size_t)a * m];
  for (int j = 0; j < p && ok; j++) {
    const double *lj = L + (size_t)j * p + j;
    double inv = 1.0 / lj[0];
    y[j] *= inv;
    vec_axmy(y + j + 1, lj + 1, y[j], p - j - 1);
    for (int q = 0; q < z; q++) {
      double *wq = W + (size_t)q * p;
      wq[j] *= inv;
      vec_axmy(wq + j + 1, lj + 1, wq[j], p - j - 1);
    }
  }
  double *mu = x + p;
  if (ok && z > 0) {
    double delta = -K[(m - 1) + (size_t)(m - 1) * m];
    for (int q = 0; q < z; q++) {
      const double *wq = W + (size_t)q * p;
      for (int e = q; e < z; e++) T[e + (size_t)q * z] = vec_dot8(W + (size_t)e * p, wq, p);
      T[q + (size_t)q * z] += delta;
      mu[q] = vec_dot8(wq, y, p) - rhs[p + q];
    }
    ok = chol_lower(T, z);
    if (ok) chol_solve4(T, z, mu, 1);
  }
  if (ok) {
    /* x = L^-T (y0 - W mu), by rows from the last */
    for (int q = 0; q < z; q++) vec_axmy(y, W + (size_t)q * p, mu[q], p);
    for (int j = p - 1; j >= 0; j--) {
      const double *lj = L + (size_t)j * p + j;
      x[j] = (y[j] - vec_dot8(lj + 1, x + j + 1, p - j - 1)) / lj[0];
    }
    /* the residual of the whole system against its scale */
    /* (row a of the symmetric K is its column a: contiguous, two partial sums) */
    double res = 0, scale = 0;
    for (int a = 0; a < m; a++) {
      const double *ka = K + (size_t)a * m;
      double s0 = 0, s1 = 0, sa0 = fabs(rhs[a]), sa1 = 0;
      int bq = 0;
      for (; bq + 2 <= m; bq += 2) {
        double t0 = ka[bq] * x[bq], t1 = ka[bq + 1] * x[bq + 1];
        s0 += t0;
        s1 += t1;
        sa0 += fabs(t0);
        sa1 += fabs(t1);
      }
      if (bq < m) {
        double t0 = ka[bq] * x[bq];
        s0 += t0;
        sa0 += fabs(t0);
      }
      double e = fabs((s0 + s1) - rhs[a]), sa = sa0 + sa1;
      res = e > res || e != e ? e : res;
      scale = sa > scale ? sa : scale;
    }
    ok = R_FINITE(res) && res <= 1e-9 * scale;
  }
  if (ok) memcpy(rhs, x, m * sizeof(double));
  return ok;
}

/* The dense step: rhs receives the step and the multipliers, *resM the manifold
 * stationarity ||grad + C'mu|| = ||H delta|| in relative units. 0 on failure. */
static int as_dense(const prob *P, aset *S, double lam, double N, double E,
                    const double *dN, const double *a1, const double *a2, const double *r,
                    double *grad, double *sv, double *rhs, double *resM) {
  int k = S->k, p = k + P->intercept, m = p + S->z;
  const void *vmax = vmaxget();
  as_dense_grad(P, S, lam, E, dN, a1, a2, grad, sv);
  /* one block for K, the copy of H and the Schur solve's scratch (allocations were a
   * tenth of a small step's time); at least one element: R_alloc(0) is NULL, which
   * memset may not be given */
  size_t ph = p > 0 ? (size_t)p : 1;
  size_t need = (size_t)m * m + ph * ph + as_schur_scratch(m, p) + 1;
  double *K = need <= S->kcap ? S->kbuf : (double *)R_alloc(need, sizeof(double));
  as_dense_system(P, S, N, E, dN, sv, grad, r, K, rhs);
  /* keep a copy of H for the manifold residual ||H delta|| */
  double *H = K + (size_t)m * m, *scr = H + ph * ph;
  for (int bq = 0; bq < p; bq++)
    memcpy(H + (size_t)bq * p, K + (size_t)bq * m, p * sizeof(double));
  int info = 0;
  if (m > 0 && !as_dense_schur(K, m, p, rhs, scr)) {
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
  if (!bad) {
    *resM = 0;
    for (int a = 0; a < p; a++) {
      double s = vec_dot8(H + (size_t)a * p, rhs, p); /* (H is symmetric) */
      double scale = a < k ? P->sc[S->A[a]] : 1;
      *resM = fmax(*resM, fabs(s) * scale / P->sy);
    }
  }
  vmaxset(vmax);
  return !bad;
}

/* ---- the row-space step (as_nspace) ----
 *
 * Everything the n x n system needs before the solve comes from n-vectors and one
 * pass over G = x_A x_A' (G a2 and G a1), not from x_A:
 *   u = x_A dN = x_A theta_A / N = (r - b + y) / N,
 *   h = x_A g_A = (2/n) G a2 + (2 eps E/n) u + lam x_A (w sigma)_A,
 * the last vector kept up to date with A (as_kg_sync). After the solve a single pass
 * over x_A gives the gradient g_A (x_q'a2), the step delta_A (x_q'zeta) and the
 * residual change t = [x_A, 1] delta. */
typedef struct {
  double *u, *h, *Ga1, *W; /* n each (W: 4n, the right-hand sides, then solutions) */
  double f, dn2, dNg, gE;  /* curvature (f0 after the factor sync), |dN|^2, dN'g_A */
  double db, om;           /* the solved border unknowns delta_b and omega */
} as_ns;

/* u, h, G a1, |dN|^2, dN'g_A and the intercept's gradient (grad[k]). */
static void as_ns_vectors(const prob *P, aset *S, double lam, double E, double N,
                          double b0, const double *dN, const double *a1,
                          const double *a2, const double *r, double *grad, as_ns *Q) {
  int n = P->n, k = S->k;
  double *u = Q->u, *h = Q->h;
  double dn2 = 0, dNw = 0;
  for (int q = 0; q < k; q++) {
    int j = S->A[q];
    dn2 += dN[q] * dN[q];
    dNw += dN[q] * P->w[j] * S->sig[j];
  }
  vec_symv2_upper(S->kg, n, a2, a1, h, Q->Ga1);
  double ua2 = 0, sa2 = 0, gE = 2 * P->eps * E / n;
  for (int i = 0; i < n; i++) {
    u[i] = (r[i] - rsc(P, i) * b0 + P->y[i]) / N;
    h[i] = 2.0 / n * h[i] + gE * u[i] + lam * S->xws[i];
    ua2 += u[i] * a2[i];
    sa2 += rsc(P, i) * a2[i];
  }
  /* dN'g_A and the intercept's gradient */
  Q->dNg = 2.0 / n * ua2 + gE * dn2 + lam * dNw;
  if (P->intercept) grad[k] = 2.0 / n * sa2;
  Q->dn2 = dn2;
  Q->gE = gE;
}

/* The right-hand sides (the border columns delta_b if ic, s, omega, and c) solved with
 * the factor. The border columns b (all -f) and s (-f eps rho on the free rows) change
 * only with the factor and the signs: after a step that changed neither, their
 * solutions are reused and only u and c are solved for. */
static void as_ns_solve(const prob *P, aset *S, const double *r, as_ns *Q) {
  int n = P->n, ic = P->intercept, ny = 2 + ic, nr = ny + 1;
  double f = Q->f, eps = P->eps, *W = Q->W;
  double *Wb = W, *Ws = W + (size_t)ic * n, *Wo = Ws + n, *Wc = Wo + n;
  for (int i = 0; i < n; i++) {
    if (ic) Wb[i] = -f * rsc(P, i);
    Ws[i] = S->inZ[i] ? 0 : -f * eps * (S->rho[i] * rsc(P, i));
    Wo[i] = Q->u[i];
    Wc[i] = S->inZ[i] ? f * r[i] - Q->h[i] : -Q->h[i];
  }
  int keep = 0; /* leading border columns whose solutions are reused */
  double *wc = S->wcache;
  if (S->wver == S->fver) {
    keep = ic; /* (b is -f times the intercept's column, f = f0 fixed with the factor) */
    if (memcmp(Ws, wc + (size_t)ic * n, n * sizeof(double)) == 0) keep++;
  }
  size_t nb = n * sizeof(double);
  for (int q = 0; q < keep; q++) memcpy(W + (size_t)q * n, wc + (size_t)(2 + q) * n, nb);
  for (int q = keep; q < ny - 1; q++) memcpy(wc + (size_t)q * n, W + (size_t)q * n, nb);
  chol_solve4(S->Lf, n, W + (size_t)keep * n, nr - keep);
  for (int q = keep; q < ny - 1; q++) memcpy(wc + (size_t)(2 + q) * n, W + (size_t)q * n, nb);
  S->wver = S->fver;
}

/* The border unknowns by the Schur complement (Dm - Cr W_B) y = e - Cr W_c of the
 * border rows Cr (ny x n) with coefficients Dm on (delta_b, s, omega) and rhs e; then
 * zeta = W_c - W_B y (in place of W_c). 0 if the small system is singular. */
static int as_ns_border(const prob *P, const double *a1, const double *grad, int k,
                        as_ns *Q) {
  int n = P->n, ic = P->intercept, ny = 2 + ic;
  double f = Q->f, eps = P->eps, *W = Q->W;
  double a1h = 0, a1u = 0, a11 = 0;
  for (int i = 0; i < n; i++)
    a1h += a1[i] * Q->h[i], a1u += a1[i] * Q->u[i], a11 += rsc(P, i) * a1[i];
  double Dm[3][3] = {{0}}, e[3];
  const double *crow[3];
  double cw[3] = {1, 1, 2 * eps / n};
  int rb = 0;
  if (ic) {
    crow[rb] = NULL; /* the intercept's column (ones, or the row scales) */
    e[rb] = -grad[k];
    rb++;
  }
  int rs = rb, ro = rb + 1, cs = ic, co = ic + 1;
  crow[rs] = Q->u;
  Dm[rs][cs] = f;
  Dm[rs][co] = Q->dn2;
  e[rs] = -Q->dNg;
  crow[ro] = Q->Ga1;
  if (ic) Dm[ro][0] = -2 * eps * f / n * a11;
  Dm[ro][cs] = -f * (2 * eps * eps - f);
  Dm[ro][co] = f + 2 * eps / n * a1u;
  e[ro] = -2 * eps / n * a1h;
  if (ic) cw[0] = 1;
  for (int a = 0; a < ny; a++) {
    double wgt = a == ro ? cw[2] : 1;
    for (int q = 0; q <= ny; q++) {
      const double *Wq = W + (size_t)q * n;
      double sacc = 0;
      if (crow[a]) {
        for (int i = 0; i < n; i++) sacc += crow[a][i] * Wq[i];
      } else {
        for (int i = 0; i < n; i++) sacc += rsc(P, i) * Wq[i];
      }
      sacc *= wgt;
      if (q < ny) Dm[a][q] -= sacc;
      else e[a] -= sacc;
    }
  }
  if (!small_solve(Dm, e, ny)) return 0;
  double *zeta = W + (size_t)ny * n;
  for (int q = 0; q < ny; q++) {
    const double *Wq = W + (size_t)q * n;
    for (int i = 0; i < n; i++) zeta[i] -= Wq[i] * e[q];
  }
  Q->db = ic ? e[0] : 0;
  Q->om = e[co];
  return 1;
}

/* delta_A (with g_A into grad), t = X~ delta (into t) and the multipliers, from
 * zeta; returns s = dN'delta_A. Four columns at a time: their dot products, then one
 * pass over t for the four (the columns are still in cache; t gets the same
 * additions in the same order). */
static double as_ns_recover(const prob *P, const aset *S, double lam, const double *dN,
                            const double *a2, const as_ns *Q, double *grad, double *out,
                            double *t) {
  int n = P->n, k = S->k, ic = P->intercept, p = k + ic;
  const double *zeta = Q->W + (size_t)(2 + ic) * n;
  for (int i = 0; i < n; i++) t[i] = rsc(P, i) * Q->db;
  double sc = 0;
  for (int q0 = 0; q0 < k; q0 += 4) {
    int q1 = q0 + 4 < k ? q0 + 4 : k;
    for (int q = q0; q < q1; q++) {
      int j = S->A[q];
      double xa2, xz;
      vec_dot8x2(col(P, j), a2, zeta, n, &xa2, &xz);
      grad[q] = 2.0 / n * xa2 + Q->gE * dN[q] + lam * P->w[j] * S->sig[j];
      double dq = -(grad[q] + xz + dN[q] * Q->om) / Q->f;
      out[q] = dq;
      sc += dN[q] * dq;
    }
    if (q1 - q0 == 4) {
      vec_axpy4(t, col(P, S->A[q0]), col(P, S->A[q0 + 1]), col(P, S->A[q0 + 2]),
                col(P, S->A[q0 + 3]), out[q0], out[q0 + 1], out[q0 + 2], out[q0 + 3], n);
    } else {
      for (int q = q0; q < q1; q++) vec_axpy(t, col(P, S->A[q]), out[q], n);
    }
  }
  if (ic) out[k] = Q->db;
  for (int q = 0; q < S->z; q++) {
    int i = S->Z[q];
    out[p + q] = zeta[i] - 2.0 / n * t[i];
  }
  return sc;
}

/* ||H delta|| (relative units), only asked for near a manifold minimum, where the step
 * is zero up to rounding: its pass over x_A is made for steps up to AS_RESM_STEP. Up
 * to 1e-3 the residual is reported as AS_PRE unmeasured, which lets the check after
 * the step (as_solve) be made but no loose or tight check now; beyond, as infinite.
 * (A skip can only cost a step, never a wrong answer: convergence is decided by
 * as_kkt.) wv: n scratch. */
static double as_ns_resm(const prob *P, const aset *S, const double *dN,
                         const double *a1, const as_ns *Q, const double *out,
                         const double *t, double sc, double *wv) {
  int n = P->n, k = S->k, ic = P->intercept;
  double eps = P->eps, f = Q->f;
  double dmx = ic ? fabs(Q->db) / P->sy : 0;
  for (int q = 0; q < k; q++) dmx = fmax(dmx, fabs(out[q]) * P->sc[S->A[q]] / P->sy);
  if (dmx > 1e-3) return R_PosInf;
  if (dmx > AS_RESM_STEP) return AS_PRE;
  double a1t = 0, sw = 0;
  for (int i = 0; i < n; i++) {
    wv[i] = 2.0 / n * t[i] + 2 * eps / n * a1[i] * sc;
    a1t += a1[i] * t[i];
    sw += rsc(P, i) * wv[i];
  }
  double coef = 2 * eps / n * a1t + (2 * eps * eps - f) * sc;
  double rm = ic ? fabs(sw) / P->sy : 0;
  for (int q = 0; q < k; q++) {
    int j = S->A[q];
    double hd = f * out[q] + vec_dot8(col(P, j), wv, n) + dN[q] * coef;
    rm = fmax(rm, fabs(hd) * P->sc[j] / P->sy);
  }
  return rm;
}

/* The row-space Newton step (see the comment above as_kg_cols for the system). The
 * manifold residual costs another pass over x_A: *resM >= 0 on entry is one measured
 * already at this point, which is returned instead. Returns 0 (the caller then solves
 * the full system) when the n x n block is not positive definite. */
static int as_nspace(const prob *P, aset *S, double f, double lam, double E, double N,
                     double b0, const double *dN, const double *a1, const double *a2,
                     const double *r, double *grad, double *out, double *resM,
                     double *tout) {
  int n = P->n, k = S->k, p = k + P->intercept;
  as_kg_sync(P, S);
  as_ns Q;
  Q.u = S->ns_scr, Q.h = Q.u + n, Q.Ga1 = Q.h + n, Q.W = Q.Ga1 + n; /* (W: 4n) */
  as_ns_vectors(P, S, lam, E, N, b0, dN, a1, a2, r, grad, &Q);
  /* the factor of M0 = G + (n f0 / 2) D: updated, or rebuilt with f0 = f */
  if (!as_factor_sync(P, S, f)) return 0;
  Q.f = S->f0; /* the Newton system of the Hessian with curvature f0 (see above) */
  as_ns_solve(P, S, r, &Q);
  if (!as_ns_border(P, a1, grad, k, &Q)) return 0;
  double *t = Q.h; /* h is no longer needed */
  double sc = as_ns_recover(P, S, lam, dN, a2, &Q, grad, out, t);
  memcpy(tout, t, n * sizeof(double)); /* the residual change of the step */
  if (!(*resM >= 0)) *resM = as_ns_resm(P, S, dN, a1, &Q, out, t, sc, Q.u);
  int okv = 1;
  for (int a = 0; a < p + S->z && okv; a++) okv = R_FINITE(out[a]);
  return okv;
}

int as_newton(const prob *P, aset *S, double lam, double N, double c, double E,
              double b, const double *dN, const double *a1, const double *a2,
              const double *r, double *grad, double *sv, double *rhs, double *dr,
              double *resM, int *reduced) {
  int n = P->n, m = S->k + P->intercept + S->z;
  *reduced = 0;
  /* the row-space system is n x n and the dense one m x m: with more rows than
   * columns the row space pays only once the manifold is a fair share of n */
  int rowspace = m > 40 && (n <= P->d || 2 * m >= n);
  if (S->kg && !P->full_kkt && N > 0 && c > 0 && rowspace) { /* (it returns the gradient) */
    double f = 2 * P->eps * E / n / N;
    *reduced = as_nspace(P, S, f, lam, E, N, b, dN, a1, a2, r, grad, rhs, resM, dr);
  }
  if (*reduced) return 1;
  return as_dense(P, S, lam, N, E, dN, a1, a2, r, grad, sv, rhs, resM);
}
