/* The KKT checks of the three lasso solvers, and the screening that keeps the checks of
 * the active-set method cheap.
 *
 * A solver is declared converged only when the relative KKT residual (the
 * stationarity violation of coordinate j in standardised units, |dF/dtheta_j| s_j,
 * over the scale of y) is below thresh. The plain lasso's and the surrogate's residuals
 * are one loop each. The active-set method's check also measures the multipliers of
 * the pinned residuals, and looks at every column only now and then: in between, at
 * the active columns and those that were near their threshold at the last check over
 * all columns (the screen); in a check over all columns a Cauchy-Schwarz bound on the
 * remainder of a least-squares fit of v on the last few such checks' vectors skips
 * columns certified below their threshold.
 */
#include "lasso_as.h"

#if AS_NREF > REF_MAX
#error "AS_NREF must be at most REF_MAX (ref_fit)"
#endif

/* relative KKT residual of the LASSO at theta, from g = x'r/n (r = y - X theta) */
double cd_kkt(const prob *P, double lam, const double *theta, const double *g,
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

double sur_kkt(const prob *P, double lam, const double *theta, const double *grad) {
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

/* The L-infinity attack's share of the threshold of an inactive coordinate,
 * 2 eps E / n with E = sum_i (|r_i| + c) (pinned residuals count as zero), c = eps N
 * (with row scales s: E = sum_i s_i (|r_i| + s_i c)); zero for L2. */
double as_linf_extra(const prob *P, const aset *S, const double *r, double N) {
  if (P->norm != ADV_LINF) return 0;
  double E = 0, c = P->eps * N;
  if (P->es) {
    for (int i = 0; i < P->n; i++) {
      double si = P->es[i];
      E += S->inZ[i] ? si * si * c : si * (fabs(r[i]) + si * c);
    }
  } else {
    for (int i = 0; i < P->n; i++) E += S->inZ[i] ? c : fabs(r[i]) + c;
  }
  return 2 * P->eps * E / P->n;
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
void as_screen_add(aset *S, int j) {
  for (int q = 0; q < S->nscr; q++)
    if (S->scr[q] == j) return;
  S->scr[S->nscr++] = j;
}

/* Least-squares coefficients c of v on the m <= REF_MAX reference vectors V (n x m,
 * the vectors of earlier checks that computed every column; by the normal equations,
 * with a tiny ridge); returns ||v - V c||. Any c gives a valid bound in the checks
 * that use it (as_kkt, and coordinate descent's check outside its strong set), so a
 * poor fit only loosens it (c = 0 if the Gram matrix of the references is
 * numerically singular). */
double ref_fit(const double *Vr, int m, int n, const double *v, double *c) {
  double A[REF_MAX][REF_MAX], tr = 0;
  for (int a = 0; a < m; a++) {
    const double *va = Vr + (size_t)a * n;
    for (int b = 0; b <= a; b++) A[a][b] = vec_dot8(va, Vr + (size_t)b * n, n);
    c[a] = vec_dot8(va, v, n);
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
    for (int a = 0; a < m; a++) ri -= c[a] * Vr[(size_t)a * n + i];
    D += ri * ri;
  }
  return sqrt(D);
}

static double as_ref_fit(const aset *S, int n, const double *v, double *c) {
  return ref_fit(S->Vr, S->nref, n, v, c);
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


/* ---- the active-set method's check (as_kkt) ---- */

/* The loss derivative weights v (n) at theta, with the multipliers u of the pinned
 * rows clipped to [-1, 1]; *N the attack norm, *c = eps N, *E = sum of the attacked
 * absolute residuals (pinned ones at zero; with row scales s, sum s_i (|r_i| + s_i c),
 * and pinned row i's subgradient range is 2 c s_i / n times [-1, 1]). */
static void as_kkt_weights(const prob *P, const aset *S, const double *theta,
                           const double *r, const double *u, double *v, double *N,
                           double *c, double *E) {
  int n = P->n;
  *N = attack_norm(P, theta, NULL, P->d);
  *c = P->eps * *N;
  /* (branch-free, two partial sums: the pinned rows' v is set below) */
  double E0 = 0, E1 = 0, cc = *c, f2 = 2.0 / n;
  int i = 0;
  if (P->es) {
    for (; i < n; i++) {
      double si = P->es[i], f = S->inZ[i] ? 0.0 : 1.0, e = S->rho[i] * r[i] + si * cc;
      v[i] = f2 * S->rho[i] * e;
      if (i & 1) E1 += f * si * e;
      else E0 += f * si * e;
    }
  } else {
    for (; i + 2 <= n; i += 2)
      for (int l = 0; l < 2; l++) {
        int h = i + l;
        double f = S->inZ[h] ? 0.0 : 1.0, e = S->rho[h] * r[h] + cc;
        v[h] = f2 * S->rho[h] * e;
        if (l) E1 += f * e;
        else E0 += f * e;
      }
    for (; i < n; i++) {
      double f = S->inZ[i] ? 0.0 : 1.0, e = S->rho[i] * r[i] + cc;
      v[i] = f2 * S->rho[i] * e;
      E0 += f * e;
    }
  }
  *E = E0 + E1;
  if (P->es) {
    for (int q = 0; q < S->z; q++) *E += P->es[S->Z[q]] * P->es[S->Z[q]] * *c;
  } else {
    *E += S->z * *c;
  }
  for (int q = 0; q < S->z; q++) {
    double uq = u[q] > 1 ? 1 : (u[q] < -1 ? -1 : u[q]);
    v[S->Z[q]] = 2.0 * *c * rsc(P, S->Z[q]) / n * uq;
  }
}

/* G_j = x_j'v for every column (full = 1), or for all but those of A and the screen,
 * which a check over them just made at this point holds already (full = 2). The
 * columns that the bound certifies below AS_SCREEN of their threshold are skipped,
 * with G_j set to 0 (neither violating nor screened); when more than a third would be
 * computed anyway, all are, and v joins the references. The bound: for any c,
 * x_j'v = sum_l c_l x_j'V_l + x_j'(v - V c), so with c the least-squares fit of v on
 * the references V (as_ref_fit)
 *   |x_j'v| <= |sum_l c_l Gr_jl| + ||x_j|| ||v - V c||,
 * plus an allowance for rounding. */
static void as_kkt_cols_full(const prob *P, aset *S, double lam, const double *v,
                             double extra, int full) {
  int n = P->n, m = 0, nrest = 0;
  double *G = S->G;
  double vnorm = 0;
  for (int i = 0; i < n; i++) vnorm += v[i] * v[i];
  vnorm = sqrt(vnorm);
  if (S->gfull) { /* (there is a reference once gfull is set) */
    double c[AS_NREF];
    double D = as_ref_fit(S, n, v, c);
    double cs = vnorm;
    for (int l = 0; l < S->nref; l++) cs += fabs(c[l]) * S->vrn[l];
    D += 1e-12 * cs; /* (rounding in the references, the fit and the sums) */
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
    for (int q = 0; q < m; q++) G[S->todo[q]] = vec_dot8(col(P, S->todo[q]), v, n);
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
}

/* The pinned rows whose multiplier was clipped add (2c/n)(u_q - clip(u_q)) x_ij to
 * the gradient of A: their rows and amounts into kk_oq, kk_du (their number returned),
 * their sum added to *gbA. */
static int as_kkt_clipped(const prob *P, aset *S, const double *u, double c,
                          double *gbA) {
  int n = P->n, nout = 0;
  for (int q = 0; q < S->z; q++) {
    double uq = u[q] > 1 ? 1 : (u[q] < -1 ? -1 : u[q]);
    if (u[q] == uq) continue;
    S->kk_oq[nout] = S->Z[q];
    S->kk_du[nout] = 2.0 * c * rsc(P, S->Z[q]) / n * (u[q] - uq);
    *gbA += rsc(P, S->Z[q]) * S->kk_du[nout++];
  }
  return nout;
}

/* Subgradient check. v (n) receives the loss derivative weights; S->G (d) the
 * gradient. u (length S->z) holds the residual multipliers (clipped to [-1, 1] here).
 * Returns the relative KKT residual and the most violating inactive coordinate.
 * full = 0 looks only at the columns of A and the screened ones (S->scr); full = 1 at
 * every column, and then rebuilds the screen; full = 2 as 1, right after a full = 0
 * check at the same point, whose values for A and the screen it keeps. resA (unless
 * NULL) receives the stationarity on the manifold (the columns of A and the intercept)
 * with the multipliers u as they are, not clipped: a multiplier out of range is a
 * violation of its own, which as_free acts on. */
double as_kkt(const prob *P, aset *S, double lam, const double *theta, const double *r,
              const double *u, double *v, int *worst_j, double *worst_gj, int full,
              double *resA) {
  int n = P->n;
  double *G = S->G, N, c, E;
  as_kkt_weights(P, S, theta, r, u, v, &N, &c, &E);
  double extra = P->norm == ADV_LINF ? 2 * P->eps * E / n : 0;
  int nj = full ? P->d : S->k + S->nscr;
  if (full) {
    as_kkt_cols_full(P, S, lam, v, extra, full);
  } else {
    for (int q = 0; q < S->k; q++) G[S->A[q]] = vec_dot8(col(P, S->A[q]), v, n);
    for (int q = 0; q < S->nscr; q++) {
      int j = S->scr[q];
      if (!S->inA[j]) G[j] = vec_dot8(col(P, j), v, n);
    }
  }
  /* the intercept's derivative (0 without an intercept, where it is not used) */
  double gb = !P->intercept ? 0 : (P->es ? vec_dot8(P->es, v, n) : vec_sum8(v, n));
  double gbA = gb;
  int nout = resA ? as_kkt_clipped(P, S, u, c, &gbA) : 0;
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
  if (full) { /* the new screen */
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
double as_kkt_conv(const prob *P, aset *S, double lam, const double *theta,
                   const double *r, const double *u, double *v, int *worst_j,
                   double *worst_gj, double *resA) {
  int full = !S->gfull;
  double kk = as_kkt(P, S, lam, theta, r, u, v, worst_j, worst_gj, full, resA);
  if (kk <= P->thresh && !full)
    kk = as_kkt(P, S, lam, theta, r, u, v, worst_j, worst_gj, 2, resA);
  return kk;
}

