/* The smoothed-attack lasso (eps > 0, xi > 0). The surrogate loss is smooth (the
 * attack vanishes smoothly with the residual), so accelerated proximal gradient (FISTA)
 * with backtracking on the Lipschitz constant and a gradient-based restart is used, on
 * the exact gradient of the surrogate loss (through the linear model's attack kernel,
 * linear.c). The surrogate need not be convex, so a KKT point is what is guaranteed.
 */
#include "lasso.h"

/* Surrogate loss (via the shared attack kernel) and, if grad != NULL, its exact
 * gradient in (theta, b); grad has d + 1 entries, the last for b. With observation
 * weights P->rw (mean 1) each row's loss and gradient are multiplied by its weight. */
double sur_loss(const prob *P, const double *theta, double b, double *r,
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
    double wi = P->rw ? P->rw[i] : 1.0;
    loss += wi * rt * rt;
    if (!grad) continue;
    double a = fabs(r[i]), h = fabs(rt), ha;
    if (P->norm == ADV_L2) {
      double D = 4 * a * a * Pn + xi * xi, D32 = D * sqrt(D);
      if (D32 > 0) {
        ha = 1 + 2 * eps * Pn * xi * xi / D32;
        wP += wi * 2 * h * 2 * eps * a * (2 * a * a * Pn + xi * xi) / D32;
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
    v[i] = wi * 2 * h * ha * adv_sign(r[i]);
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
      double a = fabs(r[i]), wi = P->rw ? P->rw[i] : 1.0;
      if (a == 0 || wi == 0) continue;
      double h = wi * fabs(lin_attack_shift(r[i], theta, d, tn2, tn1, P->norm, eps, xi));
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

/* FISTA with backtracking and gradient restart; L is carried along the path. */
int fista_solve(const prob *P, double lam, double *theta, double *b, double *L,
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
