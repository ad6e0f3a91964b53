/* The L1 path of adversarial logistic regression (issue 21): adv_lasso(family =
 * "binomial").
 *
 * For labels y_i in {-1, +1}, observation weights om_i (sum 1) and an attack of size
 * eps whose dual norm is N (L1 for L-infinity attacks, L2 for L2 attacks) the problem
 * at one lambda is
 *
 *   min  F(theta, b) = sum_i om_i softplus(u_i) + lambda sum_j w_j |theta_j|,
 *        u_i = a_i'theta - y_i b + eps N(theta),   a_i = -y_i (x_i - xbar),
 *
 * convex in (theta, b) (b is the intercept of the centred columns). The solver is a
 * proximal Newton method: at each outer step the loss is replaced by its second-order
 * expansion in the change of u, the model is minimised by coordinate descent over a
 * working set, and a backtracking line search on F takes the step.
 *
 * - eps = 0 or L-infinity attacks: the change of u, du = A d - y db + eps (||t||_1 -
 *   ||theta||_1) for the new coefficients t = theta + d, is exact and piecewise linear
 *   in each coordinate, so the model in one coordinate is a quadratic on each side of
 *   zero; coordinate descent minimises both pieces and keeps the lower. The
 *   directional derivative of F is separable in the coordinates (the dual norm enters
 *   through sum_j |d_j| at coordinates at zero), so a point where no coordinate can
 *   move is a minimiser.
 * - L2 attacks: ||theta||_2 is smooth where theta != 0 and its Hessian (I - u u') / r,
 *   u = theta / r, enters the model through the scalar u'd. At theta = 0 the loss has
 *   a kink: zero is optimal iff ||soft(G, lambda w)||_2 <= eps sbar (G the gradient of
 *   the clean part, sbar the mean sigmoid); otherwise the solver leaves zero along
 *   -soft(G, lambda w) with a line search.
 *
 * It stops when the relative KKT residual (the distance of 0 from the subdifferential,
 * coordinate j in standardised units sc_j |.|, and the intercept's derivative) is at
 * most thresh, after a check of every coordinate (those outside the working set
 * included). The working set of each lambda is the previous support and the columns
 * that the sequential strong rule keeps. The path stops early when the deviance
 * ratio 1 - loss / null loss exceeds devmax (glmnet's rule; the coefficients of
 * separable data grow without bound as lambda -> 0).
 *
 * Randomness: none. Threads: the full gradient is parallel over columns, each a serial
 * dot product, so results do not depend on the thread count.
 */
#include "lasso.h"
#include <math.h>

typedef struct {
  int n, d, intercept, norm, nth, maxit;
  double eps, thresh;
  const double *A;  /* n x d: -y_i (x_ij - xbar_j) */
  const double *y;  /* +-1 */
  const double *om; /* observation weights, sum 1 */
  const double *w;  /* penalty weights */
  const double *sc; /* column scales (KKT units) */
  const int *excl;
} lprob;

static inline const double *acol(const lprob *P, int j) {
  return P->A + (size_t)j * P->n;
}

static inline double softplus(double u) {
  return u > 0 ? u + log1p(exp(-u)) : log1p(exp(u));
}

static inline double sigm(double u) {
  return u >= 0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u));
}

static double dnorm_of(const lprob *P, const double *t) {
  double s = 0;
  if (P->eps == 0) return 0;
  if (P->norm == ADV_L2) {
    for (int j = 0; j < P->d; j++) s += t[j] * t[j];
    return sqrt(s);
  }
  for (int j = 0; j < P->d; j++) s += fabs(t[j]);
  return s;
}

static double penalty(const lprob *P, const double *t) {
  double s = 0;
  for (int j = 0; j < P->d; j++) s += P->w[j] * fabs(t[j]);
  return s;
}

/* sum_i om_i softplus(eta_i - y_i b + c) */
static double loss_at(const lprob *P, const double *eta, double b, double c) {
  double s = 0;
  for (int i = 0; i < P->n; i++) s += P->om[i] * softplus(eta[i] - P->y[i] * b + c);
  return s;
}

/* out_j = A_j' v for the listed columns (all when idx is NULL), parallel over columns */
static void at_v(const lprob *P, const double *v, const int *idx, int m, double *out) {
  int n = P->n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(P->nth) schedule(static) if ((double)n * m > 2e5)
#endif
  for (int k = 0; k < m; k++) {
    int j = idx ? idx[k] : k;
    out[j] = vec_dot8(acol(P, j), v, n);
  }
}

/* The sigmoids at (eta, b): s_i = om_i sigma(u_i) (weighted), h_i = om_i sigma (1 -
 * sigma); returns sbar = sum s_i and sets *gb = -sum y_i s_i. */
static double sig_state(const lprob *P, const double *eta, double b, double c, double *s,
                        double *h, double *gb) {
  double sb = 0, g = 0;
  for (int i = 0; i < P->n; i++) {
    double sg = sigm(eta[i] - P->y[i] * b + c);
    s[i] = P->om[i] * sg;
    h[i] = P->om[i] * sg * (1.0 - sg);
    sb += s[i];
    g -= P->y[i] * s[i];
  }
  *gb = g;
  return sb;
}

/* KKT violation of coordinate j (unscaled), from the clean gradient G_j */
static double kkt_coord(const lprob *P, double lam, const double *theta, double r,
                        double sbar, double Gj, int j) {
  double t = theta[j], wl = lam * P->w[j];
  if (P->norm == ADV_L2 && P->eps > 0) { /* L2 attacks, theta != 0 */
    if (t != 0) return fabs(Gj + P->eps * sbar * t / r + wl * (t > 0 ? 1 : -1));
    return fmax(0.0, fabs(Gj) - wl);
  }
  double e = P->eps * sbar;
  if (t != 0) return fabs(Gj + (e + wl) * (t > 0 ? 1 : -1));
  return fmax(0.0, fabs(Gj) - e - wl);
}

/* ||soft(G, lambda w)||_2 over the columns not excluded */
static double soft_norm(const lprob *P, const double *G, double lam) {
  double s = 0;
  for (int j = 0; j < P->d; j++) {
    if (P->excl[j]) continue;
    double v = soft(G[j], lam * P->w[j]);
    s += v * v;
  }
  return sqrt(s);
}

/* q += dt h a, elementwise (cloned for AVX2 like the kernels of vec.c) */
ADV_CLONES static void axpy_h(double *restrict q, const double *restrict h,
                              const double *restrict a, double dt, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    q[i] += dt * (h[i] * a[i]);
    q[i + 1] += dt * (h[i + 1] * a[i + 1]);
    q[i + 2] += dt * (h[i + 2] * a[i + 2]);
    q[i + 3] += dt * (h[i + 3] * a[i + 3]);
  }
  for (; i < n; i++) q[i] += dt * (h[i] * a[i]);
}

typedef struct {
  double *theta, *eta, *s, *h, *G, *t, *rho, *H1, *H2, *H3, *scr;
  int *W, *inW, *alist;
  int nW;
  double b;
} lstate;

/* The model's minimiser over the working set by coordinate descent (the Newton
 * direction): t (new coefficients) and *dbp (intercept change); on return rho = A (t -
 * theta). The passes keep q = h * A (t - theta); after a pass over the whole working
 * set they cycle over its non-zero coordinates until these settle, then pass over the
 * whole set again, until a whole pass moves no coordinate's derivative by more than
 * tol_in (KKT units). The curvatures H1..H3 of a column are computed in its first
 * visit, fused with that visit's dot product. */
static void newton_dir(const lprob *P, lstate *S, double lam, double sbar, double gb,
                       double r, double tol_in, double *dbp) {
  int n = P->n, nW = S->nW, l2 = (P->norm == ADV_L2 && P->eps > 0);
  double eps = P->eps, *t = S->t, *q = S->rho, *h = S->h;
  const double *theta = S->theta, *y = P->y;
  double S5 = 0, Sy = 0;
  for (int i = 0; i < n; i++) {
    S5 += h[i];
    Sy += h[i] * y[i];
  }
  double cL2 = l2 ? eps * sbar / r : 0;
  for (int k = 0; k < nW; k++) t[S->W[k]] = theta[S->W[k]];
  memset(q, 0, sizeof(double) * n);
  double Srho = 0, Syrho = 0, db = 0, kap = 0; /* kap: eps sum(|t|-|theta|) or eps u'd */
  int whole = 1, first = 1, nact = 0;
  int *alist = S->alist;
  for (int pass = 0; pass < 2000; pass++) {
    double maxch = 0;
    int m = whole ? nW : nact;
    for (int k = 0; k < m; k++) {
      int j = whole ? S->W[k] : alist[k];
      const double *a = acol(P, j);
      double dot;
      if (first) {
        double h1 = 0, h2 = 0, h3 = 0, dd = 0;
        for (int i = 0; i < n; i++) {
          double ha = h[i] * a[i];
          dd += q[i] * a[i];
          h1 += ha * a[i];
          h2 += ha;
          h3 += ha * y[i];
        }
        S->H1[j] = h1;
        S->H2[j] = h2;
        S->H3[j] = h3;
        dot = dd;
      } else {
        dot = vec_dot8(q, a, n);
      }
      double Pj = dot - db * S->H3[j] + kap * S->H2[j];
      double Q = Srho - db * Sy + kap * S5;
      double tc = t[j], tn;
      if (l2) {
        double uj = theta[j] / r;
        double Dsm = S->G[j] + eps * sbar * uj + Pj + eps * uj * Q +
                     cL2 * ((tc - theta[j]) - uj * kap / eps);
        double Hj = S->H1[j] + 2 * eps * uj * S->H2[j] + eps * eps * uj * uj * S5 +
                    cL2 * (1 - uj * uj);
        if (!(Hj > 0)) continue;
        tn = soft(Hj * tc - Dsm, lam * P->w[j]) / Hj;
      } else {
        /* the two pieces: D_s(0) the derivative at t = 0 from side s, H_s the curvature */
        double best = 0;
        tn = 0;
        for (int sgn = -1; sgn <= 1; sgn += 2) {
          double s = sgn;
          double Hs = S->H1[j] + 2 * eps * s * S->H2[j] + eps * eps * S5;
          if (!(Hs > 0)) continue;
          double Cs = S->G[j] + eps * s * (sbar + Q) + lam * P->w[j] * s + Pj +
                      eps * (s * tc - fabs(tc)) * (S->H2[j] + eps * s * S5);
          double D0 = Cs - Hs * tc;
          if (s * D0 < 0) {
            double gain = D0 * D0 / (2 * Hs);
            if (gain > best) {
              best = gain;
              tn = -D0 / Hs;
            }
          }
        }
      }
      double dt = tn - tc;
      if (dt == 0) continue;
      t[j] = tn;
      axpy_h(q, h, a, dt, n);
      Srho += dt * S->H2[j];
      Syrho += dt * S->H3[j];
      if (l2) kap += eps * (theta[j] / r) * dt;
      else kap += eps * (fabs(tn) - fabs(tc));
      /* the change of the coordinate's derivative, in the KKT units */
      double ch = P->sc[j] * (S->H1[j] + eps * eps * S5) * fabs(dt);
      if (ch > maxch) maxch = ch;
    }
    first = 0;
    if (P->intercept && S5 > 0) {
      double dbn = (Syrho + kap * Sy - gb) / S5;
      double ch = S5 * fabs(dbn - db);
      if (ch > maxch) maxch = ch;
      db = dbn;
    }
    if (whole) {
      if (maxch <= tol_in) break;
      nact = 0;
      for (int k = 0; k < nW; k++) {
        int j = S->W[k];
        if (t[j] != 0 || theta[j] != 0) alist[nact++] = j;
      }
      whole = 0;
    } else if (maxch <= tol_in) {
      whole = 1;
    }
  }
  /* rho = A (t - theta) for the line search */
  double *rho = q;
  memset(rho, 0, sizeof(double) * n);
  for (int k = 0; k < nW; k++) {
    int j = S->W[k];
    if (t[j] != theta[j]) vec_axpy(rho, acol(P, j), t[j] - theta[j], n);
  }
  *dbp = db;
}

/* Solve one lambda from the warm start in S; returns the status, sets *kkt and adds
 * the Newton steps to *iters. */
static int logit_solve(const lprob *P, lstate *S, double lam, double lam_prev, double *kkt,
                       int *iters, double *lossp) {
  int n = P->n, d = P->d, l2 = (P->norm == ADV_L2 && P->eps > 0);
  double *theta = S->theta, *eta = S->eta;
  double gb = 0, sbar, c, r;
  int status = ST_MAXIT;
  /* the working set: the support and the strong-rule survivors (G from the solution
   * at the previous lambda, or at the start) */
  c = P->eps * dnorm_of(P, theta);
  sbar = sig_state(P, eta, S->b, c, S->s, S->h, &gb);
  for (int j = 0; j < d; j++) {
    S->inW[j] = 0;
    if (P->excl[j]) continue;
    double e = (l2 || P->eps == 0) ? 0 : P->eps * sbar;
    if (theta[j] != 0 || fabs(S->G[j]) - e >= P->w[j] * (2 * lam - lam_prev)) S->inW[j] = 1;
  }
  double kk = INFINITY;
  int blind = 0;
  for (int it = 0; it < P->maxit; it++) {
    c = P->eps * dnorm_of(P, theta);
    r = l2 ? c / P->eps : 0;
    sbar = sig_state(P, eta, S->b, c, S->s, S->h, &gb);
    S->nW = 0;
    for (int j = 0; j < d; j++)
      if (S->inW[j]) S->W[S->nW++] = j;
    if (l2 && r == 0) {
      /* theta = 0 under L2 attacks: the kink of ||theta||_2 (see the top) */
      at_v(P, S->s, NULL, d, S->G);
      double sn = soft_norm(P, S->G, lam), ex = sn - P->eps * sbar;
      kk = fmax(ex, P->intercept ? fabs(gb) : 0);
      if (kk <= P->thresh) {
        status = ST_OK;
        break;
      }
      if (ex > 0) {
        /* leave zero along dir = -soft(G, lambda w): a line search on F */
        double *dir = S->t, f0 = loss_at(P, eta, S->b, 0);
        double slope = -sn * sn + P->eps * sbar * sn, curv = 0, pd;
        memset(S->rho, 0, sizeof(double) * n);
        for (int j = 0; j < d; j++) {
          dir[j] = P->excl[j] ? 0 : -soft(S->G[j], lam * P->w[j]);
          if (dir[j] != 0) {
            S->inW[j] = 1;
            vec_axpy(S->rho, acol(P, j), dir[j], n);
          }
        }
        pd = penalty(P, dir);
        for (int i = 0; i < n; i++) {
          double v = S->rho[i] + P->eps * sn;
          curv += S->h[i] * v * v;
        }
        double al = curv > 0 ? -slope / curv : 1.0 / sn;
        int ok = 0;
        for (int ls = 0; ls < 60; ls++, al *= 0.5) {
          for (int i = 0; i < n; i++) S->scr[i] = eta[i] + al * S->rho[i];
          double f1 = loss_at(P, S->scr, S->b, P->eps * al * sn) + lam * al * pd;
          if (f1 < f0 + 1e-4 * al * slope) {
            ok = 1;
            break;
          }
        }
        if (!ok) {
          status = ST_STALL;
          break;
        }
        for (int j = 0; j < d; j++) theta[j] = al * dir[j];
        memcpy(eta, S->scr, sizeof(double) * n);
        (*iters)++;
        continue;
      }
      /* theta = 0 is optimal; the intercept is not yet: a Newton step on b below */
    } else {
      at_v(P, S->s, S->W, S->nW, S->G);
      /* the KKT residual on the working set */
      kk = P->intercept ? fabs(gb) : 0;
      for (int k = 0; k < S->nW; k++) {
        int j = S->W[k];
        double v = P->sc[j] * kkt_coord(P, lam, theta, r, sbar, S->G[j], j);
        if (v > kk) kk = v;
      }
      if (kk <= P->thresh) {
        /* every coordinate: those outside the working set that violate join it */
        at_v(P, S->s, NULL, d, S->G);
        int added = 0;
        for (int j = 0; j < d; j++) {
          if (P->excl[j] || S->inW[j]) continue;
          double v = P->sc[j] * kkt_coord(P, lam, theta, r, sbar, S->G[j], j);
          if (v > kk) kk = v;
          if (v > P->thresh) {
            S->inW[j] = 1;
            added = 1;
          }
        }
        if (!added) {
          status = ST_OK;
          break;
        }
        continue;
      }
    }
    if (it > 0 && it % 8 == 0) R_CheckUserInterrupt();
    /* the Newton direction and the line search */
    double db = 0;
    /* inexact Newton: the inner passes stop when no coordinate's derivative moves by
     * more than a small fraction of the outer residual */
    double tol_in = fmax(0.02 * kk, 0.01 * P->thresh);
    if (l2 && r == 0) {
      /* theta stays 0: the intercept alone (Newton on b) */
      double S5 = 0;
      for (int i = 0; i < n; i++) S5 += S->h[i];
      db = S5 > 0 ? -gb / S5 : 0;
      for (int j = 0; j < d; j++) S->t[j] = 0;
      memset(S->rho, 0, sizeof(double) * n);
    } else {
      newton_dir(P, S, lam, sbar, gb, r, tol_in, &db);
    }
    (*iters)++;
    /* the first-order decrease: sum_i s_i du_i + lambda (pen(t) - pen(theta)), with du
     * at step 1 (for the dual norm, N(t) - N(theta)) */
    double f0 = loss_at(P, eta, S->b, c) + lam * penalty(P, theta);
    double *tt = S->t;
    double lin, dN;
    /* t is defined on the working set; elsewhere it equals theta (zero) */
    for (int j = 0; j < d; j++)
      if (!S->inW[j]) tt[j] = theta[j];
    /* the changes of the penalty and of the dual norm, coordinate by coordinate (a
     * difference of the two sums would lose the small steps to rounding) */
    double dpen = 0, dn1 = 0, dsq = 0, tn2 = 0;
    for (int k = 0; k < S->nW; k++) {
      int j = S->W[k];
      double dj = fabs(tt[j]) - fabs(theta[j]);
      dpen += P->w[j] * dj;
      dn1 += dj;
      dsq += (tt[j] - theta[j]) * (tt[j] + theta[j]);
    }
    if (P->eps == 0) dN = 0;
    else if (l2) {
      for (int j = 0; j < d; j++) tn2 += tt[j] * tt[j];
      dN = (sqrt(tn2) + r) > 0 ? dsq / (sqrt(tn2) + r) : 0;
    } else dN = dn1;
    lin = gb * db + lam * dpen;
    for (int k = 0; k < S->nW; k++) {
      int j = S->W[k];
      lin += S->G[j] * (tt[j] - theta[j]);
    }
    lin += P->eps * sbar * dN;
    if (!(lin < 0) && !(fabs(lin) < 1e-11 * fabs(f0))) {
      status = ST_STALL;
      break;
    }
    int ok = 0;
    double al = 1, *cand = S->H1; /* H1 is free after newton_dir: d doubles */
    /* Near the minimiser the decrease that the step promises (lin, about the square
     * of the residual) falls below the rounding of F, and a line search would accept
     * or refuse steps at random: the full Newton step is then taken unchecked (its
     * quadratic convergence holds there), at most a few times in a row. */
    int blind_step = -lin < 1e-11 * fabs(f0);
    for (int ls = 0; ls < 50 && !blind_step; ls++, al *= 0.5) {
      for (int j = 0; j < d; j++) cand[j] = theta[j] + al * (tt[j] - theta[j]);
      for (int i = 0; i < n; i++) S->scr[i] = eta[i] + al * S->rho[i];
      double f1 = loss_at(P, S->scr, S->b + al * db, P->eps * dnorm_of(P, cand)) +
                  lam * penalty(P, cand);
      if (f1 <= f0 + 1e-4 * al * lin) {
        ok = 1;
        break;
      }
    }
    if (blind_step) {
      if (++blind > 6) {
        status = ST_STALL;
        break;
      }
      for (int j = 0; j < d; j++) cand[j] = tt[j];
      for (int i = 0; i < n; i++) S->scr[i] = eta[i] + S->rho[i];
    } else if (!ok) {
      status = ST_STALL;
      break;
    } else {
      blind = 0;
    }
    memcpy(theta, cand, sizeof(double) * d);
    memcpy(eta, S->scr, sizeof(double) * n);
    S->b += al * db;
    /* coordinates that reached zero outside the support stay in W for this lambda */
  }
  /* the final state: G for every column (the strong rule of the next lambda), unless
   * the last check computed it at this point */
  c = P->eps * dnorm_of(P, theta);
  if (status != ST_OK) {
    sbar = sig_state(P, eta, S->b, c, S->s, S->h, &gb);
    at_v(P, S->s, NULL, d, S->G);
  }
  *lossp = loss_at(P, eta, S->b, c);
  *kkt = kk;
  return status;
}

SEXP C_logit_path(SEXP x, SEXP y, SEXP om, SEXP w, SEXP sc, SEXP excl, SEXP xm,
                  SEXP lambda, SEXP dpar, SEXP ipar) {
  int n = Rf_nrows(x), d = Rf_ncols(x), L = Rf_length(lambda);
  lprob P;
  P.n = n;
  P.d = d;
  P.norm = INTEGER(ipar)[0];
  P.intercept = INTEGER(ipar)[1];
  P.maxit = INTEGER(ipar)[2];
  P.nth = INTEGER(ipar)[3];
  P.eps = REAL(dpar)[0];
  P.thresh = REAL(dpar)[1];
  double devmax = REAL(dpar)[2], null_loss = REAL(dpar)[3], b0 = REAL(dpar)[4];
  P.y = REAL(y);
  P.om = REAL(om);
  P.w = REAL(w);
  P.sc = REAL(sc);
  P.excl = INTEGER(excl);
  const double *X = REAL(x), *mu = REAL(xm);
  double *A = (double *)R_alloc((size_t)n * d, sizeof(double));
  for (int j = 0; j < d; j++) {
    const double *xj = X + (size_t)j * n;
    double *aj = A + (size_t)j * n;
    for (int i = 0; i < n; i++) aj[i] = -P.y[i] * (xj[i] - mu[j]);
  }
  P.A = A;

  lstate S;
  S.theta = (double *)R_alloc(d, sizeof(double));
  S.G = (double *)R_alloc(d, sizeof(double));
  S.t = (double *)R_alloc(d, sizeof(double));
  S.H1 = (double *)R_alloc(d, sizeof(double));
  S.H2 = (double *)R_alloc(d, sizeof(double));
  S.H3 = (double *)R_alloc(d, sizeof(double));
  S.eta = (double *)R_alloc(n, sizeof(double));
  S.s = (double *)R_alloc(n, sizeof(double));
  S.h = (double *)R_alloc(n, sizeof(double));
  S.rho = (double *)R_alloc(n, sizeof(double));
  S.scr = (double *)R_alloc(n, sizeof(double));
  S.W = (int *)R_alloc(d, sizeof(int));
  S.inW = (int *)R_alloc(d, sizeof(int));
  S.alist = (int *)R_alloc(d, sizeof(int));
  memset(S.theta, 0, sizeof(double) * d);
  memset(S.eta, 0, sizeof(double) * n);
  S.b = b0;
  double gb;
  sig_state(&P, S.eta, S.b, 0, S.s, S.h, &gb); /* the sigmoids at theta = 0 */
  at_v(&P, S.s, NULL, d, S.G);

  SEXP beta = PROTECT(Rf_allocMatrix(REALSXP, d, L));
  SEXP bv = PROTECT(Rf_allocVector(REALSXP, L));
  SEXP kv = PROTECT(Rf_allocVector(REALSXP, L));
  SEXP iv = PROTECT(Rf_allocVector(INTSXP, L));
  SEXP sv = PROTECT(Rf_allocVector(INTSXP, L));
  SEXP lv = PROTECT(Rf_allocVector(REALSXP, L));
  const double *lam = REAL(lambda);
  int done = 0;
  for (int k = 0; k < L; k++) {
    double lp = k > 0 ? lam[k - 1] : lam[0];
    int its = 0;
    double kkt = NA_REAL, loss = NA_REAL;
    int st = logit_solve(&P, &S, lam[k], lp, &kkt, &its, &loss);
    memcpy(REAL(beta) + (size_t)k * d, S.theta, sizeof(double) * d);
    REAL(bv)[k] = S.b;
    REAL(kv)[k] = kkt;
    INTEGER(iv)[k] = its;
    INTEGER(sv)[k] = st;
    REAL(lv)[k] = loss;
    done = k + 1;
    R_CheckUserInterrupt();
    if (null_loss > 0 && 1 - loss / null_loss > devmax) break;
  }
  SEXP out = PROTECT(Rf_allocVector(VECSXP, 7));
  SEXP nm = PROTECT(Rf_allocVector(STRSXP, 7));
  const char *names[] = {"beta", "b", "kkt", "iters", "status", "loss", "nlambda"};
  for (int k = 0; k < 7; k++) SET_STRING_ELT(nm, k, Rf_mkChar(names[k]));
  SET_VECTOR_ELT(out, 0, beta);
  SET_VECTOR_ELT(out, 1, bv);
  SET_VECTOR_ELT(out, 2, kv);
  SET_VECTOR_ELT(out, 3, iv);
  SET_VECTOR_ELT(out, 4, sv);
  SET_VECTOR_ELT(out, 5, lv);
  SET_VECTOR_ELT(out, 6, Rf_ScalarInteger(done));
  Rf_setAttrib(out, R_NamesSymbol, nm);
  UNPROTECT(8);
  return out;
}
