/* The attack, the attacked loss and the fixed-attack gradient of the linear model
 * f(x) = x'theta with squared loss (MATH.md sections 2-3). Every caller that needs
 * these numbers (adv_attack, adv_loss, training, evaluation) goes through here. */
#include "advtrain.h"

/* Shrinkage of the surrogate attack for a gradient of size g >= 0:
 * g / sqrt(g^2 + xi^2) (L2) or g / (g + xi) (Linf). With xi = 0 and g = 0 no attack
 * is applied (MATH.md convention), hence 0. */
static inline double shrink_l2(double g, double xi) {
  if (xi == 0) return g > 0 ? 1.0 : 0.0;
  return g / sqrt(g * g + xi * xi);
}
static inline double shrink_linf(double g, double xi) {
  if (xi == 0) return g > 0 ? 1.0 : 0.0;
  return g / (g + xi);
}

/* The attacked residual x~'theta - y, given the clean residual r. The attack moves
 * the residual away from zero: r~ = sign(r) (|r| + eps * sum_j |theta_j| s_j) for
 * Linf and sign(r) (|r| + eps ||theta|| s) for L2. */
double lin_attack_shift(double r, const double *theta, int d, double tnorm2,
                        double tnorm1, int norm, double eps, double xi) {
  if (r == 0 || eps == 0) return r;
  double ar = fabs(r), shift;
  if (norm == ADV_L2) {
    shift = eps * tnorm2 * shrink_l2(2 * ar * tnorm2, xi);
  } else if (xi == 0) {
    shift = eps * tnorm1;
  } else {
    shift = 0;
    for (int j = 0; j < d; j++) {
      double at = fabs(theta[j]);
      shift += at * shrink_linf(2 * ar * at, xi);
    }
    shift *= eps;
  }
  return r > 0 ? r + shift : r - shift;
}

/* The perturbation A_{eps,xi} itself for one sample (length d). */
void lin_attack_row(double r, const double *theta, int d, double tnorm2, int norm,
                    double eps, double xi, double *a) {
  if (norm == ADV_L2) {
    double g = 2 * fabs(r) * tnorm2;
    /* A = eps * g_vec / sqrt(|g|^2 + xi^2), g_vec = 2 r theta */
    double scale = 0;
    if (g > 0) scale = eps * 2 * r / (xi == 0 ? g : sqrt(g * g + xi * xi));
    for (int j = 0; j < d; j++) a[j] = scale * theta[j];
  } else {
    for (int j = 0; j < d; j++) {
      double gj = 2 * r * theta[j], ag = fabs(gj);
      a[j] = ag > 0 ? eps * gj / (ag + xi) : 0.0;
    }
  }
}

/* Loss (1/n) sum (x~_i'theta - y_i)^2 at the attacked points. When grad is not NULL,
 * also the gradient of Algorithm 1 with the attack held fixed:
 * (2/n) sum_i r~_i (x_i + A_i). x is n x d column-major; work has room for 2n
 * (attacked residuals, then clean ones). */
double lin_loss_grad(const double *x, const double *y, const double *theta, int n, int d,
                     int norm, double eps, double xi, double *grad, double *work) {
  double tn2 = adv_nrm2(d, theta), tn1 = 0;
  for (int j = 0; j < d; j++) tn1 += fabs(theta[j]);
  adv_gemv(0, n, d, 1.0, x, theta, 0.0, work); /* work = X theta */
  double loss = 0, coef = 0;
  for (int i = 0; i < n; i++) {
    double r = work[i] - y[i];
    double rt = lin_attack_shift(r, theta, d, tn2, tn1, norm, eps, xi);
    loss += rt * rt;
    work[n + i] = r;
    work[i] = rt;
    if (grad && norm == ADV_L2 && r != 0 && tn2 > 0) {
      /* A_i = alpha_i theta with alpha_i = 2 eps r / sqrt(4 r^2 |theta|^2 + xi^2) */
      double g = 2 * fabs(r) * tn2;
      coef += rt * eps * 2 * r / (xi == 0 ? g : sqrt(g * g + xi * xi));
    } else if (grad && norm == ADV_LINF && xi == 0 && r != 0) {
      coef += rt * adv_sign(r) * eps;
    }
  }
  loss /= n;
  if (!grad) return loss;
  adv_gemv(1, n, d, 2.0 / n, x, work, 0.0, grad); /* (2/n) X' r~ */
  if (norm == ADV_L2) {
    for (int j = 0; j < d; j++) grad[j] += 2.0 / n * coef * theta[j];
  } else if (xi == 0) {
    for (int j = 0; j < d; j++) grad[j] += 2.0 / n * coef * adv_sign(theta[j]);
  } else {
    /* Linf with xi > 0: A_ij = eps g_ij / (|g_ij| + xi), g_ij = 2 r_i theta_j, is not a
     * multiple of one vector, so this costs O(nd). */
    const double *res = work + n;
    for (int j = 0; j < d; j++) {
      double th = theta[j], acc = 0;
      if (th == 0) continue;
      for (int i = 0; i < n; i++) {
        double gj = 2 * res[i] * th;
        if (gj != 0) acc += work[i] * eps * gj / (fabs(gj) + xi);
      }
      grad[j] += 2.0 / n * acc;
    }
  }
  return loss;
}

/* ------------------------------------------------------------ .Call ---- */

/* n x d matrix of perturbations A_{eps,xi}(theta, x_i, y_i) */
SEXP C_linear_attack(SEXP theta, SEXP x, SEXP y, SEXP eps, SEXP norm, SEXP xi) {
  int n = nrows(x), d = ncols(x), nm = asInteger(norm);
  double e = asReal(eps), xv = asReal(xi);
  const double *th = REAL(theta), *X = REAL(x), *Y = REAL(y);
  double tn2 = adv_nrm2(d, th);
  double *r = (double *)R_alloc(n > 0 ? n : 1, sizeof(double));
  double *row = (double *)R_alloc(d > 0 ? d : 1, sizeof(double));
  adv_gemv(0, n, d, 1.0, X, th, 0.0, r);
  SEXP out = PROTECT(allocMatrix(REALSXP, n, d));
  double *A = REAL(out);
  for (int i = 0; i < n; i++) {
    lin_attack_row(r[i] - Y[i], th, d, tn2, nm, e, xv, row);
    for (int j = 0; j < d; j++) A[i + (size_t)j * n] = row[j];
  }
  UNPROTECT(1);
  return out;
}

/* list(loss, gradient) at the attacked points; gradient NULL unless asked */
SEXP C_linear_loss(SEXP theta, SEXP x, SEXP y, SEXP eps, SEXP norm, SEXP xi,
                   SEXP gradient) {
  int n = nrows(x), d = ncols(x), want = asLogical(gradient), nprot = 0;
  double *work = (double *)R_alloc(2 * (size_t)n, sizeof(double));
  SEXP grad = R_NilValue;
  if (want) {
    grad = PROTECT(allocVector(REALSXP, d));
    nprot++;
  }
  double loss = lin_loss_grad(REAL(x), REAL(y), REAL(theta), n, d, asInteger(norm),
                              asReal(eps), asReal(xi), want ? REAL(grad) : NULL, work);
  const char *nms[] = {"loss", "gradient", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  nprot++;
  SET_VECTOR_ELT(out, 0, ScalarReal(loss));
  SET_VECTOR_ELT(out, 1, grad);
  UNPROTECT(nprot);
  return out;
}
