/* Lazy two-layer networks f(x) = h^{-1/2} sum_j a_j phi(x'theta_j), theta (d x h)
 * trained and a fixed (MATH.md section 6): the forward pass, the input gradient, the
 * attack (FGM with the surrogate shrinkage of section 2, or PGD-k), the fixed-attack
 * parameter gradient and the paper's Algorithm 1. Training, evaluation, prediction and
 * the finite-difference tests all go through the same per-sample kernel.
 *
 * Inputs arrive transposed (d x n, one sample per column) so that each sample is
 * contiguous. Work is spread over samples with OpenMP; everything that sums over
 * samples does so in sample order on one thread, or per hidden unit in sample order,
 * so the result does not depend on the number of threads. */
#include "advtrain.h"
#include <string.h>

enum nn2_act { NN2_SIGMOID = 1, NN2_LINEAR = 2, NN2_RELU = 3 };
enum nn2_attack { NN2_FGM = 1, NN2_PGD = 2 };

/* Columns of the trace, shared with adv_lm(). */
#define NN2_NTRACE 9

typedef struct {
  int d, h, act, norm, attack, steps;
  double slope, eps, xi, scale; /* scale = 1 / sqrt(h) */
  const double *theta, *a;
} nn2_net;

/* phi(z) and phi'(z). The centred sigmoid 1/(1+e^{-z}) - 1/2 is computed from
 * expm1(-|z|) so that it keeps full relative accuracy near 0 and never overflows.
 * ReLU's derivative at 0 is taken as the right derivative (slope): otherwise a network
 * started at theta = 0 could never move. */
static inline double nn2_phi(int act, double slope, double z, double *dphi) {
  if (act == NN2_SIGMOID) {
    double em = expm1(-fabs(z)), den = 2.0 + em; /* den = 1 + e^{-|z|} */
    *dphi = (1.0 + em) / (den * den);
    double p = -em / (2.0 * den);
    return z < 0 ? -p : p;
  }
  if (act == NN2_LINEAR) {
    *dphi = slope;
    return slope * z;
  }
  *dphi = z >= 0 ? slope : 0.0;
  return z > 0 ? slope * z : 0.0;
}

/* z_j = x'theta_j + base_j (base may be NULL) */
static void nn2_preact(const nn2_net *m, const double *restrict x,
                       const double *restrict base, double *restrict z) {
  const int d = m->d;
  for (int j = 0; j < m->h; j++) {
    const double *th = m->theta + (size_t)j * d;
    double s = base ? base[j] : 0.0;
    for (int k = 0; k < d; k++) s += x[k] * th[k];
    z[j] = s;
  }
}

/* f = h^{-1/2} sum_j a_j phi(z_j); c_j = a_j phi'(z_j) */
static double nn2_output(const nn2_net *m, const double *restrict z, double *restrict c) {
  double f = 0;
  for (int j = 0; j < m->h; j++) {
    double dp, p = nn2_phi(m->act, m->slope, z[j], &dp);
    f += m->a[j] * p;
    c[j] = m->a[j] * dp;
  }
  return f * m->scale;
}

/* Input gradient of the squared loss: g = 2 r h^{-1/2} sum_j c_j theta_j */
static void nn2_input_grad(const nn2_net *m, double r, const double *restrict c,
                           double *restrict g) {
  const int d = m->d;
  double f = 2.0 * r * m->scale;
  for (int k = 0; k < d; k++) g[k] = 0;
  for (int j = 0; j < m->h; j++) {
    double w = f * c[j];
    if (w == 0) continue;
    const double *th = m->theta + (size_t)j * d;
    for (int k = 0; k < d; k++) g[k] += w * th[k];
  }
}

/* The surrogate attack of strength e for the gradient g (MATH.md section 2):
 * L2 e g / sqrt(|g|^2 + xi^2), Linf e g_k / (|g_k| + xi); 0 where g = 0. */
static void nn2_shrink(int norm, const double *restrict g, int d, double e, double xi,
                       double *restrict out) {
  if (norm == ADV_L2) {
    double ss = 0;
    for (int k = 0; k < d; k++) ss += g[k] * g[k];
    double ng = sqrt(ss);
    double s = ng > 0 ? e / (xi == 0 ? ng : hypot(ng, xi)) : 0.0;
    for (int k = 0; k < d; k++) out[k] = s * g[k];
  } else {
    for (int k = 0; k < d; k++) {
      double ag = fabs(g[k]);
      out[k] = ag > 0 ? e * g[k] / (ag + xi) : 0.0;
    }
  }
}

/* Projection onto the eps-ball of the attack norm. */
static void nn2_project(int norm, double *restrict delta, int d, double eps) {
  if (norm == ADV_L2) {
    double ss = 0;
    for (int k = 0; k < d; k++) ss += delta[k] * delta[k];
    if (ss > eps * eps) {
      double s = eps / sqrt(ss);
      for (int k = 0; k < d; k++) delta[k] *= s;
    }
  } else {
    for (int k = 0; k < d; k++) delta[k] = fmax(-eps, fmin(eps, delta[k]));
  }
}

/* Scratch doubles one sample needs. */
static size_t nn2_scratch(int d, int h) { return 4 * (size_t)h + 3 * (size_t)d; }

/* Where one sample's by-products go; every pointer may be NULL. */
typedef struct {
  double *rclean; /* clean residual f(x) - y */
  double *gin;    /* clean input gradient (d) */
  double *delta;  /* the perturbation (d) */
  double *cadv;   /* a_j phi'(z_j) at the attacked point (h) */
  double *cstd;   /* a_j phi'(z_j) at the clean point (h) */
} nn2_sample_out;

/* One sample: attack x with strength eps and shrinkage xi (FGM, or PGD-k of step
 * 2 eps / k from the clean point) and return the attacked residual f(x + A) - y. */
static double nn2_sample(const nn2_net *m, double eps, double xi, const double *x,
                         double y, double *work, const nn2_sample_out *o) {
  const int d = m->d, h = m->h;
  double *z0 = work, *c0 = work + h, *z = work + 2 * (size_t)h, *c = work + 3 * (size_t)h;
  double *g = work + 4 * (size_t)h, *delta = g + d, *step = delta + d;
  nn2_preact(m, x, NULL, z0);
  double r0 = nn2_output(m, z0, c0) - y;
  if (o->rclean) *o->rclean = r0;
  if (o->cstd) memcpy(o->cstd, c0, (size_t)h * sizeof(double));
  if (o->gin) nn2_input_grad(m, r0, c0, o->gin);
  if (eps == 0) {
    if (o->delta) memset(o->delta, 0, (size_t)d * sizeof(double));
    if (o->cadv) memcpy(o->cadv, c0, (size_t)h * sizeof(double));
    return r0;
  }
  if (m->attack == NN2_FGM) {
    nn2_input_grad(m, r0, c0, g);
    nn2_shrink(m->norm, g, d, eps, xi, delta);
  } else {
    double alpha = 2.0 * eps / m->steps, r = r0;
    const double *cc = c0;
    for (int k = 0; k < d; k++) delta[k] = 0;
    for (int s = 0; s < m->steps; s++) {
      if (s > 0) {
        nn2_preact(m, delta, z0, z);
        r = nn2_output(m, z, c) - y;
        cc = c;
      }
      nn2_input_grad(m, r, cc, g);
      nn2_shrink(m->norm, g, d, alpha, xi, step);
      for (int k = 0; k < d; k++) delta[k] += step[k];
      nn2_project(m->norm, delta, d, eps);
    }
  }
  nn2_preact(m, delta, z0, z); /* z~_j = z_j + delta'theta_j */
  double rt = nn2_output(m, z, c) - y;
  if (o->delta) memcpy(o->delta, delta, (size_t)d * sizeof(double));
  if (o->cadv) memcpy(o->cadv, c, (size_t)h * sizeof(double));
  return rt;
}

static inline int nn2_thread(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* Per-sample arrays filled by a pass over n samples; NULL entries are skipped. */
typedef struct {
  double *radv, *rclean, *gin, *delta, *cadv, *cstd;
} nn2_pass_out;

/* One pass over the samples (x is d x n). scratch holds nth * nn2_scratch(d, h). */
static void nn2_pass(const nn2_net *m, double eps, double xi, const double *x,
                     const double *y, int n, int nth, double *scratch,
                     const nn2_pass_out *p) {
  const int d = m->d, h = m->h;
  const size_t sw = nn2_scratch(d, h);
  /* small problems are not worth waking the threads for */
  const int par = nth > 1 && (double)n * d * h > 2e4;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
  for (int i = 0; i < n; i++) {
    nn2_sample_out o = {
        p->rclean ? p->rclean + i : NULL, p->gin ? p->gin + (size_t)i * d : NULL,
        p->delta ? p->delta + (size_t)i * d : NULL,
        p->cadv ? p->cadv + (size_t)i * h : NULL, p->cstd ? p->cstd + (size_t)i * h : NULL};
    double rt = nn2_sample(m, eps, xi, x + (size_t)i * d, y[i],
                           scratch + (size_t)nn2_thread() * sw, &o);
    if (p->radv) p->radv[i] = rt;
  }
  (void)par;
}

/* Fixed-attack parameter gradient (MATH.md section 6):
 * G_j = (2 / (n sqrt(h))) sum_i r_i c_ij (x_i + delta_i), delta NULL for the clean
 * points. One hidden unit per task, samples summed in order. */
static void nn2_param_grad(const nn2_net *m, const double *x, const double *delta,
                           const double *r, const double *c, int n, int nth, double *G) {
  const int d = m->d, h = m->h;
  const double f = 2.0 * m->scale / n;
  const int par = nth > 1 && (double)n * d * h > 2e4;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
  for (int j = 0; j < h; j++) {
    double *gj = G + (size_t)j * d;
    for (int k = 0; k < d; k++) gj[k] = 0;
    for (int i = 0; i < n; i++) {
      double w = r[i] * c[(size_t)i * h + j];
      if (w == 0) continue;
      const double *xi = x + (size_t)i * d;
      for (int k = 0; k < d; k++) gj[k] += w * xi[k];
      if (delta) {
        const double *di = delta + (size_t)i * d;
        for (int k = 0; k < d; k++) gj[k] += w * di[k];
      }
    }
    for (int k = 0; k < d; k++) gj[k] *= f;
  }
  (void)par;
}

static double nn2_meansq(const double *r, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += r[i] * r[i];
  return s / n;
}

static double nn2_sumsq(const double *v, size_t len) {
  double s = 0;
  for (size_t i = 0; i < len; i++) s += v[i] * v[i];
  return s;
}

/* ------------------------------------------------------------ training ---- */

typedef struct {
  const double *x, *y, *xt, *yt; /* training (d x n) and test (d x nt) samples */
  int n, nt;
  double eta;
  int from, to, last, every, iters, nth;
} nn2_job;

/* Buffers of one training run, from R_alloc. */
typedef struct {
  double *scratch, *radv, *rclean, *delta, *cadv, *cstd, *G, *Gstd, *rtest, *rtest0;
} nn2_work;

static void nn2_work_alloc(const nn2_net *m, const nn2_job *jb, nn2_work *w) {
  const size_t d = m->d, h = m->h, n = jb->n;
  w->scratch = (double *)R_alloc(jb->nth * nn2_scratch(m->d, m->h), sizeof(double));
  w->radv = (double *)R_alloc(n, sizeof(double));
  w->rclean = (double *)R_alloc(n, sizeof(double));
  w->delta = (double *)R_alloc(n * d, sizeof(double));
  w->cadv = (double *)R_alloc(n * h, sizeof(double));
  w->cstd = (double *)R_alloc(n * h, sizeof(double));
  w->G = (double *)R_alloc(d * h, sizeof(double));
  w->Gstd = (double *)R_alloc(d * h, sizeof(double));
  w->rtest = w->rtest0 = NULL;
  if (jb->nt > 0) {
    w->rtest = (double *)R_alloc(jb->nt, sizeof(double));
    w->rtest0 = (double *)R_alloc(jb->nt, sizeof(double));
  }
}

static int nn2_recorded(int t, const nn2_job *jb) {
  return t % jb->every == 0 || t == jb->iters;
}

/* One trace row at theta(t); the training pass (and G) is already done. */
static void nn2_record(const nn2_net *m, const nn2_job *jb, nn2_work *w, int t,
                       double loss_s, double *row, int nrow) {
  const int d = m->d, h = m->h, n = jb->n;
  double loss_std = nn2_meansq(w->rclean, n), loss_adv = loss_s;
  if (m->xi > 0 && m->eps > 0) {
    /* G is computed, so the training pass's attacked residuals may be overwritten */
    nn2_pass_out p = {w->radv, NULL, NULL, NULL, NULL, NULL};
    nn2_pass(m, m->eps, 0.0, jb->x, jb->y, n, jb->nth, w->scratch, &p);
    loss_adv = nn2_meansq(w->radv, n);
  }
  double risk_adv = NA_REAL, risk_std = NA_REAL;
  if (jb->nt > 0) {
    nn2_pass_out p = {w->rtest, w->rtest0, NULL, NULL, NULL, NULL};
    nn2_pass(m, m->eps, 0.0, jb->xt, jb->yt, jb->nt, jb->nth, w->scratch, &p);
    risk_adv = nn2_meansq(w->rtest, jb->nt);
    risk_std = nn2_meansq(w->rtest0, jb->nt);
  }
  nn2_param_grad(m, jb->x, NULL, w->rclean, w->cstd, n, jb->nth, w->Gstd);
  double diff = 0;
  for (size_t k = 0; k < (size_t)d * h; k++) {
    double e = w->G[k] - w->Gstd[k];
    diff += e * e;
  }
  double vals[NN2_NTRACE] = {t,
                             loss_s,
                             loss_adv,
                             loss_std,
                             risk_adv,
                             risk_std,
                             sqrt(nn2_sumsq(m->theta, (size_t)d * h)),
                             sqrt(nn2_sumsq(w->G, (size_t)d * h)),
                             sqrt(diff)};
  for (int k = 0; k < NN2_NTRACE; k++) row[(size_t)k * nrow] = vals[k];
}

/* Algorithm 1 for t = from, ..., to - 1 (and a last evaluation at t = to when last):
 * attack at theta(t), record, theta(t+1) = theta(t) - eta G. theta is updated in
 * place. Returns 0, or the iteration at which the loss or theta stopped being finite
 * plus one (so that 0 stays "no failure"). */
static int nn2_train(nn2_net *m, double *theta, const nn2_job *jb, double *trace,
                     int nrow) {
  const int d = m->d, h = m->h, n = jb->n;
  nn2_work w;
  nn2_work_alloc(m, jb, &w);
  nn2_pass_out p = {w.radv, w.rclean, NULL, w.delta, w.cadv, w.cstd};
  /* check for interrupts about every 1e7 multiply-adds */
  double per = 4.0 * n * d * h * (m->attack == NN2_PGD ? m->steps : 1) + 1;
  int chunk = per > 1e7 ? 1 : (int)(1e7 / per);
  int rec = 0, end = jb->last ? jb->to : jb->to - 1;
  for (int t = jb->from; t <= end; t++) {
    nn2_pass(m, m->eps, m->xi, jb->x, jb->y, n, jb->nth, w.scratch, &p);
    double loss = nn2_meansq(w.radv, n);
    if (!R_FINITE(loss)) return t + 1;
    nn2_param_grad(m, jb->x, w.delta, w.radv, w.cadv, n, jb->nth, w.G);
    if (nn2_recorded(t, jb)) nn2_record(m, jb, &w, t, loss, trace + rec++, nrow);
    if (t == jb->to) break;
    int ok = 1;
    for (size_t k = 0; k < (size_t)d * h; k++) {
      theta[k] -= jb->eta * w.G[k];
      ok &= R_FINITE(theta[k]);
    }
    if (!ok) return t + 1;
    if ((t - jb->from + 1) % chunk == 0) R_CheckUserInterrupt();
  }
  return 0;
}

/* ------------------------------------------------------------ .Call ---- */

/* spec = c(activation, slope, eps, norm, xi, attack, pgd_steps) */
static void nn2_unpack(SEXP xt, SEXP theta, SEXP a, SEXP spec, nn2_net *m) {
  const double *s = REAL(spec);
  m->d = nrows(xt);
  m->h = ncols(theta);
  m->act = (int)s[0];
  m->slope = s[1];
  m->eps = s[2];
  m->norm = (int)s[3];
  m->xi = s[4];
  m->attack = (int)s[5];
  m->steps = (int)s[6];
  m->scale = 1.0 / sqrt((double)m->h);
  m->theta = REAL(theta);
  m->a = REAL(a);
  if (nrows(theta) != m->d || LENGTH(a) != m->h || LENGTH(spec) != 7)
    Rf_error("nn2: inconsistent dimensions");
}

/* Everything about one set of samples at theta: with want = 0 only the clean outputs
 * f; otherwise list(f, r_adv, loss, loss_std, input_grad (d x n, clean), delta (d x n),
 * grad (d x h, fixed-attack), grad_std (d x h)). */
SEXP C_nn2_eval(SEXP xt, SEXP y, SEXP theta, SEXP a, SEXP spec, SEXP want,
                SEXP threads) {
  nn2_net m;
  nn2_unpack(xt, theta, a, spec, &m);
  const int n = ncols(xt), d = m.d, h = m.h, nth = adv_nthreads(threads);
  int nprot = 0;
  double *scratch = (double *)R_alloc(nth * nn2_scratch(d, h), sizeof(double));
  SEXP f = PROTECT(allocVector(REALSXP, n));
  nprot++;
  if (!asLogical(want)) {
    double *yz = (double *)R_alloc(n > 0 ? n : 1, sizeof(double));
    for (int i = 0; i < n; i++) yz[i] = 0;
    nn2_pass_out p = {NULL, REAL(f), NULL, NULL, NULL, NULL};
    nn2_pass(&m, 0.0, 0.0, REAL(xt), yz, n, nth, scratch, &p);
    UNPROTECT(nprot);
    return f;
  }
  SEXP radv = PROTECT(allocVector(REALSXP, n));
  SEXP gin = PROTECT(allocMatrix(REALSXP, d, n));
  SEXP delta = PROTECT(allocMatrix(REALSXP, d, n));
  SEXP grad = PROTECT(allocMatrix(REALSXP, d, h));
  SEXP gstd = PROTECT(allocMatrix(REALSXP, d, h));
  nprot += 5;
  double *cadv = (double *)R_alloc((size_t)n * h + 1, sizeof(double));
  double *cstd = (double *)R_alloc((size_t)n * h + 1, sizeof(double));
  nn2_pass_out p = {REAL(radv), REAL(f), REAL(gin), REAL(delta), cadv, cstd};
  nn2_pass(&m, m.eps, m.xi, REAL(xt), REAL(y), n, nth, scratch, &p);
  nn2_param_grad(&m, REAL(xt), REAL(delta), REAL(radv), cadv, n, nth, REAL(grad));
  nn2_param_grad(&m, REAL(xt), NULL, REAL(f), cstd, n, nth, REAL(gstd));
  double loss = nn2_meansq(REAL(radv), n), loss_std = nn2_meansq(REAL(f), n);
  for (int i = 0; i < n; i++) REAL(f)[i] += REAL(y)[i]; /* residual -> output */
  const char *nms[] = {"f", "r_adv", "loss", "loss_std", "input_grad", "delta",
                       "grad", "grad_std", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  nprot++;
  SET_VECTOR_ELT(out, 0, f);
  SET_VECTOR_ELT(out, 1, radv);
  SET_VECTOR_ELT(out, 2, ScalarReal(loss));
  SET_VECTOR_ELT(out, 3, ScalarReal(loss_std));
  SET_VECTOR_ELT(out, 4, gin);
  SET_VECTOR_ELT(out, 5, delta);
  SET_VECTOR_ELT(out, 6, grad);
  SET_VECTOR_ELT(out, 7, gstd);
  UNPROTECT(nprot);
  return out;
}

/* Algorithm 1 from theta for the iterations in steps = c(from, to, last, every, iters);
 * xtt / ytt the test samples (0 columns: none). Returns list(theta, trace, status)
 * with status 0, or the iteration at which training diverged (+1). */
SEXP C_nn2_train(SEXP xt, SEXP y, SEXP theta, SEXP a, SEXP spec, SEXP eta, SEXP xtt,
                 SEXP ytt, SEXP steps, SEXP threads) {
  nn2_net m;
  nn2_unpack(xt, theta, a, spec, &m);
  const int *st = INTEGER(steps);
  nn2_job jb = {REAL(xt), REAL(y), REAL(xtt), REAL(ytt), ncols(xt), ncols(xtt),
                asReal(eta), st[0], st[1], st[2], st[3], st[4], adv_nthreads(threads)};
  if (nrows(xtt) != m.d && jb.nt > 0) Rf_error("nn2: test set has the wrong dimension");
  int nrow = 0, end = jb.last ? jb.to : jb.to - 1;
  for (int t = jb.from; t <= end; t++) nrow += nn2_recorded(t, &jb);
  int nprot = 0;
  SEXP th = PROTECT(duplicate(theta));
  SEXP trace = PROTECT(allocMatrix(REALSXP, nrow, NN2_NTRACE));
  nprot += 2;
  for (R_xlen_t k = 0; k < XLENGTH(trace); k++) REAL(trace)[k] = NA_REAL;
  m.theta = REAL(th); /* the kernels read the weights being trained */
  int status = nn2_train(&m, REAL(th), &jb, REAL(trace), nrow);
  const char *nms[] = {"theta", "trace", "status", ""};
  SEXP out = PROTECT(mkNamed(VECSXP, nms));
  nprot++;
  SET_VECTOR_ELT(out, 0, th);
  SET_VECTOR_ELT(out, 1, trace);
  SET_VECTOR_ELT(out, 2, ScalarInteger(status));
  UNPROTECT(nprot);
  return out;
}
