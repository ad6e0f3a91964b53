/* The true-attack lasso (eps > 0, xi = 0) by a primary active-set method.
 *
 * The loss (1/n) sum (|r_i| + eps N(theta))^2 (N the L2 or L1 norm) is convex but its
 * non-smoothness is not separable: the |r_i| kinks make it least squares plus a
 * weighted LAD term, and at the optimum some residuals are exactly zero, where
 * coordinate descent stalls and proximal methods only creep. On the manifold
 * {theta_j = 0 outside A, r_i = 0 for i in Z} with all signs fixed the objective is
 * smooth, so a Newton step (lasso_newton.c) minimises it; a ratio test stops the step
 * where a coefficient reaches zero, and an exact line search stops it at a residual's
 * kink where F stops decreasing (that residual is pinned) and passes the kinks where
 * it does not. At a manifold minimum the multipliers of the pinned residuals and the
 * subgradients of the inactive coefficients are checked (lasso_kkt.c) and violators
 * are freed, in batches while batching works. Every change is made from a point where
 * F cannot increase, so the method terminates; the shortcuts that act before the
 * manifold minimum are each bounded per lambda. Warm starts along the path keep the
 * changes per lambda few.
 */
#include "lasso_as.h"

/* as_solve acts on a violation by more than AS_REL times the manifold residual resM
 * (relative KKT units, or |u_i| > 1 + that) as soon as resM is below AS_LOOSE; at a
 * check it frees every violator within a factor AS_BATCH of the worst; after
 * AS_WRONGWAY batches whose members step the wrong way it frees one at a time */
#define AS_LOOSE 1e-6
#define AS_REL 100
#define AS_BATCH 0.1
#define AS_WRONGWAY 3
/* residuals are pinned ahead of time when at least AS_SPEC_MIN are predicted, and
 * freed again after AS_SPEC_STEPS steps that do not get there (tuned on the bench
 * path: NEWS.md) */
#define AS_SPEC_MIN 2
#define AS_SPEC_STEPS 16

/* F at theta, with theta zero outside the m listed coordinates (all when idx is NULL),
 * from its residuals r: the true (xi = 0) adversarial objective */
static double as_obj(const prob *P, double lam, const double *theta, const double *r,
                     const int *idx, int m) {
  double c = P->eps * attack_norm(P, theta, idx, m), s[4] = {0, 0, 0, 0};
  int n = P->n, i = 0;
  /* (four partial sums: a single one made this a chain of dependent additions) */
  if (P->es) {
    for (; i + 4 <= n; i += 4)
      for (int l = 0; l < 4; l++) {
        double e = fabs(r[i + l]) + P->es[i + l] * c;
        s[l] += e * e;
      }
    for (; i < n; i++) {
      double e = fabs(r[i]) + P->es[i] * c;
      s[0] += e * e;
    }
  } else {
    for (; i + 4 <= n; i += 4)
      for (int l = 0; l < 4; l++) {
        double e = fabs(r[i + l]) + c;
        s[l] += e * e;
      }
    for (; i < n; i++) {
      double e = fabs(r[i]) + c;
      s[0] += e * e;
    }
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) / n + lam * pen(P, theta, idx, m);
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
    S->rho[i] = r[i] >= 0 ? 1.0 : -1.0;
  }
  S->z = w;
  S->nspec = 0;
}

/* L2 at theta = 0: is zero optimal (||soft(g, lam w)|| <= 2 eps mean(s |r|))? If not,
 * move along the steepest descent direction -soft(g, lam w) and free its support. */
static int as_zero_start(const prob *P, aset *S, double lam, double *theta, double *b,
                         double *r, double *v, double *G) {
  int n = P->n, d = P->d;
  *b = 0; /* the minimiser over b at theta = 0 (y is centred) */
  residuals(P, theta, *b, r);
  double m = 0;
  for (int i = 0; i < n; i++) {
    v[i] = 2.0 / n * r[i];
    m += rsc(P, i) * fabs(r[i]);
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
    S->rho[i] = r[i] >= 0 ? 1.0 : -1.0;
  }
  return 1;
}

/* Exact line search for F(theta + t delta) along a Newton direction (xi = 0).
 * Along the line, with the signs s_i of the free residuals fixed on a piece between
 * two kinks and the coefficient signs fixed (t <= the coefficient ratio-test bound),
 *   F'(t) = (2/n)[R1 + t R2 + eps N S1 + eps N' (S2 + t S1) + n eps^2 N N'] + lam pd
 * with R1 = sum r_i dr_i, R2 = sum dr_i^2, S1 = sum s_i dr_i, S2 = sum s_i r_i over
 * the free rows (pinned rows stay at zero and enter only through n eps^2 N N'; with
 * row scales sc_i, s_i is sc_i times the sign, and n = sum sc_i^2),
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
                         const double *a1, as_line *L) {
  int n = P->n;
  /* the sums over the rows free in the search (not pinned, or predicted pins): over
   * the free rows of all the rows, then the predicted pins from the list of pinned
   * rows. Without row scales, a1 (as_manifold_terms: rho on the free rows, 0 on the
   * pinned ones) weights the rows in one vector kernel; with them, a branch-free loop
   * with four partial sums of each */
  if (!P->es) {
    double o[4];
    vec_line_sums(a1, r, dr, n, o);
    L->R1 = o[0], L->R2 = o[1], L->S1 = o[2], L->S2 = o[3];
  } else {
    double R1[4] = {0, 0, 0, 0}, R2[4] = {0, 0, 0, 0}, S1[4] = {0, 0, 0, 0},
           S2[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
      for (int l = 0; l < 4; l++) {
        int h = i + l;
        double f = S->inZ[h] ? 0.0 : 1.0, fr = f * r[h], fd = f * dr[h];
        double a = S->rho[h] * P->es[h];
        R1[l] += fr * dr[h];
        R2[l] += fd * dr[h];
        S1[l] += a * fd;
        S2[l] += a * fr;
      }
    for (; i < n; i++) {
      double f = S->inZ[i] ? 0.0 : 1.0, fr = f * r[i], fd = f * dr[i];
      double a = S->rho[i] * P->es[i];
      R1[0] += fr * dr[i];
      R2[0] += fd * dr[i];
      S1[0] += a * fd;
      S2[0] += a * fr;
    }
    L->R1 = (R1[0] + R1[1]) + (R1[2] + R1[3]);
    L->R2 = (R2[0] + R2[1]) + (R2[2] + R2[3]);
    L->S1 = (S1[0] + S1[1]) + (S1[2] + S1[3]);
    L->S2 = (S2[0] + S2[1]) + (S2[2] + S2[3]);
  }
  for (int q = 0; q < S->z && S->nspec; q++) {
    int h = S->Z[q];
    if (!S->spec[h]) continue;
    double a = S->rho[h] * rsc(P, h);
    L->R1 += r[h] * dr[h];
    L->R2 += dr[h] * dr[h];
    L->S1 += a * dr[h];
    L->S2 += a * r[h];
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
  /* the rows moving towards their kink, then their breakpoints below tmax: two
   * branch-free passes (which rows qualify is close to a coin flip per row, and
   * mispredicted branches and a division per row were most of this scan's time;
   * predicted pins: t = 1) */
  int nc = 0;
  for (int i = 0; i < n; i++) {
    bpi[nc] = i;
    nc += !S->inZ[i] & (S->rho[i] * dr[i] < 0);
  }
  for (int q = 0; q < nc; q++) {
    int i = bpi[q];
    double t = -r[i] / dr[i];
    t = t > 0 ? t : 0;
    bp[nb] = t;
    bpi[nb] = i;
    nb += t < tmax;
  }
  if (nb > 1) rsort_with_index(bp, bpi, nb);
  double lo = 0;
  for (int q = 0; q < nb; q++) {
    double tb = bp[q];
    int i = bpi[q];
    if (as_line_deriv(L, tb) >= 0) return as_line_root(L, lo, tb);
    double s1 = L->S1, s2 = L->S2;
    double a = S->rho[i] * rsc(P, i);
    L->S1 -= 2 * a * dr[i];
    L->S2 -= 2 * a * r[i];
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
      S->rho[i] = bp[q] > 0 ? 1.0 : -1.0;
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


/* ---- one lambda (as_solve) in named steps ---- */

/* The per-lambda scratch and the bookkeeping of as_solve's shortcuts. */
typedef struct {
  double *v, *G, *dr, *rt, *tht, *u, *bp;
  int *bpi, *flip;
  /* residuals freed in this lambda (1 at a tight check, 2 at a loose one, 3 once one
   * freed at a loose check came straight back) and columns freed at a loose check (1;
   * 2 once back): see as_free; a residual coming back also stops the batched frees */
  signed char *zmark, *jmark;
  /* per-step vectors, at their largest sizes (p <= d + 1, m <= d + 1 + n) */
  double *dN, *grad, *sv, *rhs, *a1, *a2;
  int fresh, stalls, batch, zbatch, wrongway; /* (batched frees: as_free) */
  int nflip;       /* the kinks the last step passed */
  int spec_steps;  /* steps since the predicted pins were made */
  int prechecked;  /* a pre-check found nothing to do at this point */
  int polish;      /* the next check is the tight one of a point taken as a minimum */
  double rA_pre;   /* and measured this manifold residual */
  int k, p, z;     /* the sizes of the manifold of the last Newton step */
} as_run;

static void as_run_init(const prob *P, const aset *S, as_run *R) {
  int n = P->n, d = P->d;
  /* three blocks of the path's scratch (as_init) instead of seventeen vectors: the
   * doubles, the ints, the marks */
  size_t nd = (size_t)n, dd = (size_t)d;
  double *f = S->run_f;
  int *g = S->run_i;
  signed char *c = S->run_c;
  R->v = f, f += nd;
  R->G = f, f += dd;
  R->dr = f, f += nd;
  R->rt = f, f += nd;
  R->tht = f, f += dd;
  R->u = f, f += nd + 1;
  R->bp = f, f += nd;
  R->dN = f, f += dd + 1;
  R->grad = f, f += dd + 1;
  R->sv = f, f += dd + 1;
  R->rhs = f, f += dd + 1 + nd;
  R->a1 = f, f += nd;
  R->a2 = f;
  R->bpi = g;
  R->flip = g + nd;
  R->zmark = c;
  R->jmark = c + nd;
  memset(R->zmark, 0, n);
  memset(R->jmark, 0, d);
  R->fresh = R->stalls = R->wrongway = R->spec_steps = 0;
  R->batch = R->zbatch = 1;
  R->prechecked = R->polish = R->nflip = 0;
  R->rA_pre = 0;
}

/* The signs from the warm start (and r at it). */
static void as_warm_signs(const prob *P, aset *S, const double *theta, double b,
                          double *r) {
  int n = P->n, d = P->d;
  residuals(P, theta, b, r);
  S->k = 0;
  for (int j = 0; j < d; j++) {
    S->inA[j] = theta[j] != 0;
    if (theta[j] != 0) {
      S->A[S->k++] = j;
      S->sig[j] = (signed char)adv_sign(theta[j]);
    }
  }
  for (int i = 0; i < n; i++)
    if (!S->inZ[i]) S->rho[i] = r[i] >= 0 ? 1.0 : -1.0;
  if (S->k == 0) S->z = 0, memset(S->inZ, 0, n);
}

/* dN/dbeta (zero for the intercept), a1 and a2 of the Newton step; returns E (with
 * row scales s: a1 = s rho on the free rows, E = sum_free s_i e_i + c sum_Z s_i^2,
 * e_i = rho_i r_i + s_i c, and the intercept's column is s). The
 * Hessian of the free rows, (2/n) B'B with B the free rows of [x_A, 1], is replaced by
 * (2/n) times the Gram matrix of ALL rows (cached across steps and lambdas), i.e.
 * (2/n) C'C is added, C the pinned rows, which the step must keep at C delta = -r_Z.
 * On that affine set the added term changes the quadratic model by a constant once the
 * gradient gets -(2/n) C'(-r_Z) (a2 = r on the pinned rows), so the step is the same,
 * and so are the multipliers: H'delta + g' + C'mu = H delta + g + C'mu. */
static double as_manifold_terms(const prob *P, const aset *S, const double *theta,
                                const double *r, double N, double c, as_run *R) {
  int n = P->n, k = S->k;
  for (int q = 0; q < k; q++) {
    int j = S->A[q];
    R->dN[q] = P->norm == ADV_L2 ? (N > 0 ? theta[j] / N : 0) : S->sig[j];
  }
  if (P->intercept) R->dN[k] = 0;
  /* (branch-free with two partial sums of E: the pinned rows get a1 = 0 and
   * a2 = r, the gradient shift (2/n) C'r_Z) */
  double E0 = 0, E1 = 0;
  if (P->es) {
    for (int i = 0; i < n; i++) {
      double si = P->es[i], f = S->inZ[i] ? 0.0 : 1.0;
      double e = S->rho[i] * r[i] + si * c;
      R->a1[i] = f * S->rho[i] * si;
      R->a2[i] = f * S->rho[i] * e + (1 - f) * r[i];
      double t = f * si * e + (1 - f) * si * si * c;
      if (i & 1) E1 += t;
      else E0 += t;
    }
  } else {
    /* (rho^2 = 1: on a free row a2 = rho (rho r + c) = r + c a1, on a pinned one
     * a2 = r with a1 = 0; E = z c + sum_free (rho r + c) = n c + a1'r) */
    for (int i = 0; i < n; i++) R->a1[i] = S->inZ[i] ? 0.0 : S->rho[i];
    for (int i = 0; i < n; i++) R->a2[i] = r[i] + c * R->a1[i];
    E0 = n * c;
    E1 = vec_dot8(R->a1, r, n);
  }
  return E0 + E1;
}

enum { AS_STEP, AS_NEXT, AS_DONE, AS_STALLED };

/* At (or near) the manifold minimum: check the multipliers and the inactive
 * coordinates, and free violators. Tight: at the minimum (resM tiny, or 50 steps
 * without a check). Loose: near it (resM <= AS_LOOSE), where the multipliers are
 * already accurate enough to act on a clear violation (by more than AS_REL resM):
 * freeing it there saves the last Newton steps to the minimum, which only a converged
 * point needs. Returns what as_solve does next. */
static int as_check(const prob *P, aset *S, as_run *R, double lam, const double *theta,
                    const double *r, double N, double c, double resM, double *kkt) {
  int n = P->n, k = R->k, p = R->p, z = R->z;
  const double *delta = R->rhs, *mu = R->rhs + p;
  double dmax = 0;
  for (int a = 0; a < p; a++) {
    double scale = a < k ? P->sc[S->A[a]] : 1;
    dmax = fmax(dmax, fabs(delta[a]) * scale / P->sy);
  }
  /* (no check while predicted pins are on their way to zero: as_kkt takes pinned
   * rows to be at zero) */
  int tight = !S->nspec && (resM <= P->thresh * 0.01 || dmax <= 1e-15 || R->fresh > 50);
  int loose = !tight && !S->nspec && !R->prechecked && resM <= AS_LOOSE;
  R->prechecked = 0; /* (a loose check would repeat the pre-check at this point) */
  /* a tight check only because 50 steps went by without one (not at a manifold
   * minimum, nor asked for by the polishing below) */
  int bycount = tight && !R->polish && !(resM <= P->thresh * 0.01 || dmax <= 1e-15);
  if (tight || loose) {
    for (int q = 0; q < z; q++) R->u[q] = c > 0 ? n * mu[q] / (2 * c * rsc(P, S->Z[q])) : 0;
    int wj;
    double wg;
    double margin = tight ? 1e-12 : AS_REL * resM; /* (<= 1e-4: resM <= AS_LOOSE) */
    if (tight) {
      R->fresh = 0;
      *kkt = as_kkt_conv(P, S, lam, theta, r, R->u, R->v, &wj, &wg, NULL);
      if (*kkt <= P->thresh) return AS_DONE;
    } else {
      as_kkt(P, S, lam, theta, r, R->u, R->v, &wj, &wg, 0, NULL);
    }
    int act = as_free(P, S, lam, r, N, R->u, z, wj, wg, margin, tight, loose, R->zbatch,
                      R->batch, R->zmark, R->jmark, R->bp, R->bpi);
    /* a loose check with nothing clear goes on with this Newton step, and so does a
     * check made only because of the count, away from the manifold minimum */
    R->polish = 0;
    if (act || (tight && !bycount)) {
      if (loose) R->fresh = 0;
      if (!act) {
        /* violation only from round-off on the manifold: polish once more */
        R->fresh = 51;
        R->polish = 1;
        if (++R->stalls >= 3) return AS_STALLED;
      }
      return AS_NEXT;
    }
  }
  R->fresh++;
  return AS_STEP;
}

/* The ratio test on the signs of the free coefficients: the largest t <= 1 before one
 * reaches zero (that one in *block, or -1). */
static double as_ratio(const aset *S, const double *theta, const double *delta,
                       int *block) {
  double tmax = 1;
  *block = -1;
  for (int q = 0; q < S->k; q++) {
    int j = S->A[q];
    if (S->sig[j] * delta[q] < 0) {
      double t = -theta[j] / delta[q];
      if (t < 0) t = 0;
      if (t < tmax) tmax = t, *block = j;
    }
  }
  return tmax;
}

/* Coordinates freed in a batch whose step goes the wrong way from zero: drop them all
 * at once (no move, so F is unchanged); after AS_WRONGWAY such batches free one at a
 * time for the rest of this lambda. */
static void as_drop_wrongway(aset *S, as_run *R, const double *theta,
                             const double *delta) {
  int w = 0;
  for (int q = 0; q < S->k; q++) {
    int j = S->A[q];
    if (theta[j] == 0 && S->sig[j] * delta[q] < 0) S->inA[j] = 0;
    else S->A[w++] = j;
  }
  S->k = w;
  R->batch = ++R->wrongway < AS_WRONGWAY;
}

/* The end point theta + t delta (on A, into tht; the blocking coordinate at zero when
 * the step reaches it, *hit) and its residuals r + t dr (into rt). */
static void as_trial(const prob *P, const aset *S, as_run *R, const double *theta,
                     const double *r, const double *delta, double t, int hit,
                     int block) {
  /* (tht is read and written only on A; theta is zero outside A) */
  for (int q = 0; q < S->k; q++) R->tht[S->A[q]] = theta[S->A[q]] + t * delta[q];
  if (hit) R->tht[block] = 0;
  for (int i = 0; i < P->n; i++) R->rt[i] = r[i] + t * R->dr[i];
}

/* Close to the manifold minimum the derivative formula of the exact search drowns in
 * rounding: a ratio test that stops at the first residual kink and a backtracking
 * (Armijo) search on F itself, with a rounding allowance. Returns whether it found a
 * decrease (t, the residual to pin and whether the block was hit in *t, *pin, *hit). */
static int as_search_armijo(const prob *P, const aset *S, as_run *R, double lam,
                            const double *theta, const double *r, const double *delta,
                            double tmax, int block, double f0, double *t, int *pin,
                            int *hit) {
  int n = P->n, ok = 0;
  *pin = -1;
  double tm = tmax;
  int rblock = -1;
  for (int i = 0; i < n; i++) {
    if (S->inZ[i] || !(S->rho[i] * R->dr[i] < 0)) continue;
    double ti = -r[i] / R->dr[i];
    if (ti < 0) ti = 0;
    if (ti < tm) tm = ti, rblock = i;
  }
  double gd = 0;
  for (int a = 0; a < R->p; a++) gd += R->grad[a] * delta[a];
  *t = tm;
  for (int bt = 0; bt < 60 && !ok; bt++, *t /= 2) {
    *hit = *t == tm && rblock < 0 && block >= 0;
    as_trial(P, S, R, theta, r, delta, *t, *hit, block);
    ok = as_obj(P, lam, R->tht, R->rt, S->A, S->k) <=
         f0 + 1e-4 * *t * gd + 1e-13 * fabs(f0);
    if (ok) break;
  }
  if (ok && *t == tm && rblock >= 0) *pin = rblock;
  return ok;
}

/* The predicted pins. The residuals that the rest of the full Newton step would take
 * across zero are, late on the path, mostly those pinned at this lambda's solution,
 * and the line search would pin them one per Newton solve. So after a step that
 * stopped short of t = 1 at a kink or a coefficient's zero, they are all pinned in the
 * next Newton system, which takes them to zero at t = 1 (the line search counts them
 * as free until then). They become true pins when a step reaches t = 1; a step that
 * stops early inside a piece of the line (not at a kink or a coefficient's zero), no
 * descent, or AS_SPEC_STEPS steps without reaching t = 1 free them again. */
static void as_predict_pins(const prob *P, aset *S, as_run *R, const double *r) {
  int np = 0;
  for (int i = 0; i < P->n; i++)
    if (!S->inZ[i] && R->rt[i] * (r[i] + R->dr[i]) < 0) R->bpi[np++] = i;
  /* (no more pins than the manifold has unknowns, k + ic: past that the pinned rows of
   * generic data cannot all be zero at once, and the Newton system, rank-deficient in
   * them, only creeps. Measured on 50-eps L-infinity paths, n = 1000, d = 50: 520
   * Newton steps before the cap, 325 with it; n = 2000, d = 20: 693 and 273) */
  if (np >= AS_SPEC_MIN && S->z + np < P->n && S->z + np <= S->k + P->intercept) {
    for (int q = 0; q < np; q++) {
      S->Z[S->z++] = R->bpi[q];
      S->inZ[R->bpi[q]] = 1;
      S->spec[R->bpi[q]] = 1;
    }
    S->nspec = np;
    R->spec_steps = 0;
  }
}

/* Moves to the end point of a step of length t and updates the manifold: the kinks
 * passed, the predicted pins, the residual pinned or the coefficient that reached
 * zero, the signs; r becomes the end point's residuals. */
static void as_move(const prob *P, aset *S, as_run *R, double *theta, double *b,
                    double *r, const double *delta, double t, int pin, int hit, int block,
                    int nflip, int it) {
  int n = P->n, k = R->k;
  for (int q = 0; q < k; q++) theta[S->A[q]] = R->tht[S->A[q]];
  if (P->intercept) *b += t * delta[k];
  for (int q = 0; q < nflip; q++) S->rho[R->flip[q]] = -S->rho[R->flip[q]];
  if (S->nspec) {
    if (t == 1) { /* the predicted pins are at zero now */
      for (int q = 0; q < S->z; q++) {
        int i = S->Z[q];
        if (!S->spec[i]) continue;
        S->spec[i] = 0;
        if (R->zmark[i]) R->zbatch = 0;
      }
      S->nspec = 0;
    } else if ((pin < 0 && !hit && t < 0.5) || ++R->spec_steps >= AS_SPEC_STEPS) {
      as_spec_release(S, R->rt);
    }
  }
  if (pin >= 0) {
    S->Z[S->z++] = pin;
    S->inZ[pin] = 1;
    if (R->zmark[pin] == 2) R->zmark[pin] = 3; /* (see as_free) */
    if (R->zmark[pin]) R->zbatch = 0;
  } else if (hit) {
    if (R->jmark[block] == 1) R->jmark[block] = 2;
    if (t == 0) R->batch = 0; /* a freed coordinate went the wrong way */
    as_remove_A(S, block);
    as_screen_add(S, block);
  }
  for (int q = 0; q < S->k; q++) {
    int j = S->A[q];
    if (theta[j] != 0) S->sig[j] = (signed char)adv_sign(theta[j]);
  }
  if (!S->nspec && t < 1 && (pin >= 0 || hit)) as_predict_pins(P, S, R, r);
  /* the residuals of the step's end point: r + t dr, recomputed from theta now and
   * then against drift */
  if (it % 32 == 0) residuals(P, theta, *b, r);
  else memcpy(r, R->rt, n * sizeof(double));
}

/* The step along the Newton direction: the ratio test on the coefficient signs, then
 * an exact line search that may pass through residual kinks (or the Armijo fallback).
 * Returns 1 when a step was taken (with its length in *t and whether it ended at a
 * kink or a coefficient's zero in *stop), 0 when as_solve goes on without one. */
static int as_step(const prob *P, aset *S, as_run *R, double lam, double *theta,
                   double *b, double *r, int reduced, int it, double *t, int *stop) {
  int n = P->n, k = R->k;
  const double *delta = R->rhs;
  if (!reduced) { /* (the row-space solve returned dr = [x_A, 1] delta already) */
    memset(R->dr, 0, n * sizeof(double));
    int q = 0; /* (four columns per pass: the same sums as four vec_axpy calls) */
    for (; q + 4 <= k; q += 4)
      vec_axpy4(R->dr, col(P, S->A[q]), col(P, S->A[q + 1]), col(P, S->A[q + 2]),
                col(P, S->A[q + 3]), delta[q], delta[q + 1], delta[q + 2], delta[q + 3], n);
    for (; q < k; q++) vec_axpy(R->dr, col(P, S->A[q]), delta[q], n);
    if (P->intercept)
      for (int i = 0; i < n; i++) R->dr[i] += rsc(P, i) * delta[k];
  }
  int block;
  double tmax = as_ratio(S, theta, delta, &block);
  if (tmax == 0 && R->batch) {
    as_drop_wrongway(S, R, theta, delta);
    return 0;
  }
  as_line ls;
  as_line_init(P, S, lam, theta, delta, r, R->dr, R->a1, &ls);
  double f0 = as_obj(P, lam, theta, r, S->A, S->k);
  int pin = -1, nflip = 0;
  *t = as_line_search(P, S, &ls, r, R->dr, tmax, R->bp, R->bpi, &pin, R->flip, &nflip);
  int hit = 0, ok = (*t > 0) || pin >= 0 || (block >= 0 && tmax == 0);
  if (ok) {
    hit = block >= 0 && *t == tmax && pin < 0;
    as_trial(P, S, R, theta, r, delta, *t, hit, block);
    ok = as_obj(P, lam, R->tht, R->rt, S->A, S->k) <= f0 + 1e-13 * fabs(f0);
  }
  if (!ok && S->nspec) { /* no descent towards the predicted pins: drop them */
    as_spec_release(S, r);
    return 0;
  }
  if (!ok) {
    nflip = 0;
    if (!as_search_armijo(P, S, R, lam, theta, r, delta, tmax, block, f0, t, &pin, &hit)) {
      /* no decrease along the Newton direction: treat as the manifold minimum */
      R->fresh = 51;
      R->polish = 1;
      return 0;
    }
  }
  as_move(P, S, R, theta, b, r, delta, *t, pin, hit, block, nflip, it);
  *stop = pin >= 0 || hit;
  R->nflip = nflip;
  return 1;
}

/* After a full Newton step (or most of one) with A and Z unchanged, the solve's
 * multipliers are estimates of those at the new point: check there at once, when the
 * point the step started from was already near its manifold minimum (resM <= AS_PRE).
 * as_kkt measures the true KKT residual with them, so convergence can be declared, or
 * clear violations acted on, without the solve at the new point that would otherwise
 * come first (that solve still follows when this check finds nothing to do). Returns
 * 1 at convergence. */
static int as_precheck(const prob *P, aset *S, as_run *R, double lam,
                       const double *theta, const double *r, double *kkt) {
  int n = P->n, z = R->z;
  const double *mu = R->rhs + R->p;
  double Nn = attack_norm(P, theta, S->A, S->k), cn = P->eps * Nn, rA;
  for (int q = 0; q < z; q++) R->u[q] = cn > 0 ? n * mu[q] / (2 * cn * rsc(P, S->Z[q])) : 0;
  int wj;
  double wg, kk = as_kkt_conv(P, S, lam, theta, r, R->u, R->v, &wj, &wg, &rA);
  if (kk <= P->thresh) {
    *kkt = kk;
    return 1;
  }
  /* at the manifold minimum (as the tight check), or near it (as the loose one) */
  int tg = rA <= P->thresh * 0.01;
  if ((tg || rA <= AS_LOOSE) &&
      as_free(P, S, lam, r, Nn, R->u, z, wj, wg, tg ? 1e-12 : AS_REL * rA, tg, !tg,
              R->zbatch, R->batch, R->zmark, R->jmark, R->bp, R->bpi)) {
    R->fresh = 0;
  } else {
    R->prechecked = 1;
    R->rA_pre = rA;
  }
  return 0;
}

/* One lambda of the true-attack problem by the active-set method. */
int as_solve(const prob *P, aset *S, double lam, double *theta, double *b, double *r,
             double *kkt, int *iters) {
  int status = ST_OK, it = 0;
  as_run R;
  as_run_init(P, S, &R);
  as_warm_signs(P, S, theta, *b, r);
  for (;;) {
    if (++it > P->maxit) {
      status = ST_MAXIT;
      break;
    }
    if (it % 16 == 0) R_CheckUserInterrupt();
    if (S->k == 0 && P->norm == ADV_L2) {
      if (!as_zero_start(P, S, lam, theta, b, r, R.v, R.G)) {
        memset(R.u, 0, sizeof(double));
        int wj;
        double wg;
        *kkt = as_kkt(P, S, lam, theta, r, R.u, R.v, &wj, &wg, 1, NULL);
        /* at theta = 0 the L2 condition is the ball condition checked above */
        *kkt = 0;
        break;
      }
      continue;
    }
    R.k = S->k, R.p = S->k + P->intercept, R.z = S->z;
    double N = attack_norm(P, theta, S->A, S->k), c = P->eps * N;
    double E = as_manifold_terms(P, S, theta, r, N, c, &R);
    /* (a pre-check at this point measured the manifold residual: as_newton takes it) */
    double resM = R.prechecked ? R.rA_pre : -1;
    int reduced;
    if (!as_newton(P, S, lam, N, c, E, *b, R.dN, R.a1, R.a2, r, R.grad, R.sv, R.rhs, R.dr,
                   &resM, &reduced)) {
      status = ST_NUMERIC;
      break;
    }
    int next = as_check(P, S, &R, lam, theta, r, N, c, resM, kkt);
    if (next == AS_DONE) break;
    if (next == AS_STALLED) {
      status = ST_STALL;
      break;
    }
    if (next == AS_NEXT) continue;
    double t;
    int stop;
    if (!as_step(P, S, &R, lam, theta, b, r, reduced, it, &t, &stop)) continue;
    /* (L-infinity: with A, Z and the signs fixed the objective on the manifold is a
     * quadratic, so a full step that passed no kink ends at its minimum wherever it
     * started, and the solve's multipliers are those there) */
    int exact = P->norm == ADV_LINF && t == 1 && R.nflip == 0 && !S->nspec;
    if ((t == 1 || (t >= 0.5 && !S->nspec)) && !stop && (resM <= AS_PRE || exact) &&
        as_precheck(P, S, &R, lam, theta, r, kkt))
      break;
  }
  as_spec_release(S, r); /* (only after a failure: see above) */
  *iters = it;
  return status;
}

/* The state along the path, at theta = 0 (the scratch of the steps is allocated here
 * too: what as_solve allocates is released after every lambda). */
aset *as_init(const prob *P) {
  int n = P->n, d = P->d;
  aset *S = (aset *)R_alloc(1, sizeof(aset));
  S->A = (int *)R_alloc(d, sizeof(int));
  S->inA = (signed char *)R_alloc(d, 1);
  S->sig = (signed char *)R_alloc(d, 1);
  S->Z = (int *)R_alloc(n, sizeof(int));
  S->inZ = (signed char *)R_alloc(n, 1);
  S->rho = (double *)R_alloc(n, sizeof(double));
  S->spec = (signed char *)R_alloc(n, 1);
  S->kk_oq = (int *)R_alloc(n, sizeof(int));
  S->kk_du = (double *)R_alloc(n, sizeof(double));
  memset(S->spec, 0, n);
  S->nspec = 0;
  S->zlast = (signed char *)R_alloc(n, 1);
  memset(S->zlast, 0, n);
  S->nzlast = 0;
  S->keepz = 1;
  memset(S->inA, 0, d);
  memset(S->sig, 0, d);
  memset(S->inZ, 0, n);
  for (int i = 0; i < n; i++) S->rho[i] = 1.0;
  S->k = S->z = 0;
  /* Gram cache slots: with the row-space solve (L2, n <= 2048) the dense KKT solve
   * only runs while k + 1 + z <= 40, so a few hundred slots do (columns past them
   * are computed directly) */
  int rowspace = P->norm == ADV_L2 && n <= 2048;
  int gmax = rowspace && !P->full_kkt ? 256 : 1536;
  S->gcap = d < gmax ? d : gmax;
  S->gk = 0;
  S->gpos = (int *)R_alloc(d, sizeof(int));
  for (int j = 0; j < d; j++) S->gpos[j] = -1;
  S->gcol = (int *)R_alloc(S->gcap > 0 ? S->gcap : 1, sizeof(int));
  S->gsum = (double *)R_alloc(S->gcap > 0 ? S->gcap : 1, sizeof(double));
  /* the row-space kernel and factor for as_nspace */
  S->kg = rowspace ? (double *)R_alloc((size_t)n * n, sizeof(double)) : NULL;
  S->inG = (signed char *)R_alloc(d, 1);
  memset(S->inG, 0, d);
  S->xws = S->kg ? (double *)R_alloc(n, sizeof(double)) : NULL;
  S->gl = (int *)R_alloc(d, sizeof(int));
  S->kch = (int *)R_alloc(d, sizeof(int));
  S->ksg = (double *)R_alloc(d, sizeof(double));
  S->ngl = 0;
  S->nupd = 1 << 29; /* rebuilt on first use */
  S->Lf = S->kg ? (double *)R_alloc((size_t)n * n, sizeof(double)) : NULL;
  S->inF = (signed char *)R_alloc(d, 1);
  S->zF = (signed char *)R_alloc(n, 1);
  memset(S->inF, 0, d);
  memset(S->zF, 0, n);
  S->fl = (int *)R_alloc(d, sizeof(int));
  S->nfl = S->nfup = S->fvalid = 0;
  S->fver = 1;
  S->wver = 0;
  S->wcache = S->kg ? (double *)R_alloc(4 * (size_t)n, sizeof(double)) : NULL;
  S->f0 = 1;
  S->gm = (double *)R_alloc((size_t)(S->gcap > 0 ? S->gcap : 1) * (S->gcap > 0 ? S->gcap : 1),
                            sizeof(double));
  S->G = (double *)R_alloc(d, sizeof(double));
  S->Gr = (double *)R_alloc((size_t)d * AS_NREF, sizeof(double));
  S->Vr = (double *)R_alloc((size_t)n * AS_NREF, sizeof(double));
  S->vrn = (double *)R_alloc(AS_NREF, sizeof(double));
  S->nref = S->rnext = 0;
  S->xn = (double *)R_alloc(d, sizeof(double));
  S->todo = (int *)R_alloc(d, sizeof(int));
  S->ns_scr = S->kg ? (double *)R_alloc(7 * (size_t)n, sizeof(double)) : NULL;
  S->fs_w = S->kg ? (double *)R_alloc((size_t)AS_RK_CHUNK * n, sizeof(double)) : NULL;
  for (int j = 0; j < d; j++) S->xn[j] = sqrt(vec_dot8(col(P, j), col(P, j), n));
  S->scr = (int *)R_alloc(d, sizeof(int));
  S->smark = (signed char *)R_alloc(d, 1);
  S->run_f = (double *)R_alloc(8 * (size_t)n + 6 * (size_t)d + 5, sizeof(double));
  S->run_i = (int *)R_alloc(2 * (size_t)n, sizeof(int));
  S->run_c = (signed char *)R_alloc((size_t)n + d, 1);
  /* the dense step's block for systems of up to mc unknowns (3 mc^2 + 2 mc + 1 bounds
   * what as_dense asks for): generic data pin at most k + 1 rows, so mc = 2 (d + 1)
   * covers every system of small d; at most 256 (1.6 MB), past which the O(m^3) solve
   * outweighs an allocation */
  {
    size_t mc = 2 * ((size_t)d + 1);
    if (mc > (size_t)d + 1 + n) mc = (size_t)d + 1 + n;
    if (mc > 256) mc = 256;
    S->kcap = 3 * mc * mc + 2 * mc + 1;
    S->kbuf = (double *)R_alloc(S->kcap, sizeof(double));
  }
  memset(S->smark, 0, d);
  S->gfull = S->nscr = 0;
  return S;
}

/* Between two eps of a path (after the solve at the one before): the next solve starts
 * from the pins of this solution only while at least half of the pins of the solution
 * before are among them, i.e. while the pinned set is stable along the path. Where it
 * turns over (n well above d: most of the kink set changes between neighbouring eps)
 * the line search finds the new pins faster from a free start than the checks free
 * the old ones; where it is stable (n <= d, the interpolation regime) keeping them
 * saves most of the steps. Newton steps of 50-eps paths over [0, zero radius]
 * (Gaussian x, seed 3), L2 keeping always / freeing always / this rule:
 * n = 50, d = 100: 332 / 1678 / 332; n = 1000, d = 50: 851 / 787 / 798;
 * n = 2000, d = 20: 1227 / 462 / 538; L-infinity freeing always / this rule:
 * n = 60, d = 200: 1176 / 669; n = 1000, d = 50: 463 / 517 (thresholds from 0.3 to
 * 0.9 tried; 0.5 is within 10% of the best of them on every shape but one). */
void as_next_eps(const prob *P, aset *S) {
  int same = 0;
  for (int q = 0; q < S->z; q++) same += S->zlast[S->Z[q]];
  if (S->nzlast > 0) S->keepz = 2 * same >= S->nzlast;
  memset(S->zlast, 0, P->n);
  for (int q = 0; q < S->z; q++) S->zlast[S->Z[q]] = 1;
  S->nzlast = S->z;
  if (S->keepz) return;
  for (int q = 0; q < S->z; q++) S->inZ[S->Z[q]] = 0, S->spec[S->Z[q]] = 0;
  S->z = 0;
  S->nspec = 0;
}
