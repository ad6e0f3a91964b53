/* Lazy two-layer networks f(x) = h^{-1/2} sum_j a_j phi(x'theta_j), theta (d x h)
 * trained and a fixed (MATH.md section 6): the forward pass, the input gradient, the
 * attack (FGM with the surrogate shrinkage of section 2, or PGD-k), the fixed-attack
 * parameter gradient and the paper's Algorithm 1. Training, evaluation, prediction and
 * the finite-difference tests all go through the same per-sample kernel.
 *
 * Inputs arrive transposed (d x n, one sample per column) so that each sample is
 * contiguous. Work is spread over samples with OpenMP; everything that sums over
 * samples does so in sample order, on one thread or one input coordinate per task, so
 * the result does not depend on the number of threads. */
#include "nn2.h"

/* The linear activation collapses the network to f(x) = slope h^{-1/2} x'beta with
 * beta = theta a: the forward pass, the input gradient and the attack of a sample cost
 * O(d) instead of O(d h), and the fixed-attack gradient is the rank-one matrix
 * (2 slope h^{-1/2} / n) u a' with u = sum_i r~_i x~_i (see nn2_param_grad). The
 * iterates are those of the general kernels up to rounding. */
static void nn2_linear_beta(const nn2_net *m) {
  for (int k = 0; k < m->d; k++) {
    const double *wk = m->w + (size_t)k * m->h;
    double s = 0;
    for (int j = 0; j < m->h; j++) s += wk[j] * m->a[j];
    m->beta[k] = s;
  }
}

static inline int nn2_thread(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* Passes with fewer multiply-adds (n d h) than this run on one thread: waking the
 * threads costs more than it saves, and far more on a machine that is busy. */
#define NN2_PAR_MIN 4e6

/* Samples per task of a parallel pass: fixed, so the work split does not depend on
 * the thread count (nothing is summed across samples here anyway). */
#define NN2_BLOCK 16

/* The four-sample kernel's passes are shorter per sample, and one pass has one
 * parallel region (its gradient is summed on one thread below NN2_PAR_MIN): they run
 * in parallel from about this much work (see nn2_pass). Measured in the Figure 6
 * setting (n = 100, h = 50, d = 3, work 1.35e5), elapsed time per training step on
 * two otherwise idle cores: sigmoid 26.5 us on one thread, 17-18 us on two; ReLU
 * (work 2.5e4) 9.5-13.7 us against 10-12 us, no gain. On a busy machine the two-thread
 * sigmoid step took as long as the one-thread step. */
#define NN2_BLOCK_PAR_MIN 1e5

/* One pass over the samples (x is d x n). scratch holds nth * nn2_scratch(d, h). */
static void nn2_pass(const nn2_net *m, double eps, double xi, const double *x,
                     const double *y, int n, int nth, double *scratch,
                     const nn2_pass_out *p) {
  const size_t sw = nn2_scratch(m->d, m->h);
  if (m->act == NN2_LINEAR) nn2_linear_beta(m);
#ifdef NN2_HAVE_BLOCKS
  /* four samples at a time where nothing per hidden unit is asked in sample layout */
  if (nn2_blocks_apply(m, eps) && !p->cstd && !p->cadv) {
    const int nb = (n + 3) / 4, fma = nn2_fma();
    const nn2_block_job jb = {eps, xi, x, y, n, p};
    /* a sigmoid costs about as much as 24 multiply-adds, a ReLU 2 */
    const double work = (double)n * m->h * (m->d + (m->act == NN2_SIGMOID ? 24 : 2));
    if (nth < 2 || work < NN2_BLOCK_PAR_MIN) {
      nn2_blocks(fma, m, &jb, 0, nb, scratch);
      return;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
    for (int b = 0; b < nb; b++)
      nn2_blocks(fma, m, &jb, b, b + 1, scratch + (size_t)nn2_thread() * sw);
    return;
  }
#endif
  if (nth < 2 || (double)n * m->d * m->h < NN2_PAR_MIN) {
    nn2_samples(m, eps, xi, x, y, 0, n, scratch, p);
    return;
  }
  int nb = (n + NN2_BLOCK - 1) / NN2_BLOCK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
  for (int b = 0; b < nb; b++) {
    int i1 = (b + 1) * NN2_BLOCK < n ? (b + 1) * NN2_BLOCK : n;
    nn2_samples(m, eps, xi, x, y, b * NN2_BLOCK, i1, scratch + (size_t)nn2_thread() * sw,
                p);
  }
}

/* Column k of the gradient below, samples in order (four at a time, added left to
 * right, so the order is still i = 0, 1, 2, ...). */
NN2_CLONES static void nn2_grad_column(int k, int d, int h, int n, double f,
                                       const double *x, const double *delta,
                                       const double *r, const double *c,
                                       double *restrict gk) {
  for (int j = 0; j < h; j++) gk[j] = 0;
  int i = 0;
#define NN2_U(i) (f * r[i] * (x[(size_t)(i) * d + k] + (delta ? delta[(size_t)(i) * d + k] : 0.0)))
  for (; i + 4 <= n; i += 4) {
    const double u0 = NN2_U(i), u1 = NN2_U(i + 1), u2 = NN2_U(i + 2), u3 = NN2_U(i + 3);
    const double *restrict c0 = c + (size_t)i * h, *restrict c1 = c0 + h,
                           *restrict c2 = c1 + h, *restrict c3 = c2 + h;
    NN2_SIMD
    for (int j = 0; j < h; j++) gk[j] = gk[j] + u0 * c0[j] + u1 * c1[j] + u2 * c2[j] + u3 * c3[j];
  }
  for (; i < n; i++) {
    const double u = NN2_U(i);
    const double *restrict ci = c + (size_t)i * h;
    NN2_SIMD
    for (int j = 0; j < h; j++) gk[j] += u * ci[j];
  }
#undef NN2_U
}

static void nn2_param_grad(const nn2_net *m, const double *x, const double *delta,
                           const double *r, const double *c, int n, int nth, double *G) {
  const int d = m->d, h = m->h;
  const double f = 2.0 * m->scale / n;
  if (m->act == NN2_LINEAR) { /* G_kj = f slope a_j sum_i r_i x~_ik, samples in order */
    for (int k = 0; k < d; k++) {
      double u = 0;
      for (int i = 0; i < n; i++)
        u += r[i] * (x[(size_t)i * d + k] + (delta ? delta[(size_t)i * d + k] : 0.0));
      double *gk = G + (size_t)k * h;
      for (int j = 0; j < h; j++) gk[j] = f * m->slope * m->a[j] * u;
    }
    return;
  }
  if (nth < 2 || (double)n * d * h < NN2_PAR_MIN) {
    for (int k = 0; k < d; k++) nn2_grad_column(k, d, h, n, f, x, delta, r, c, G + (size_t)k * h);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
  for (int k = 0; k < d; k++) nn2_grad_column(k, d, h, n, f, x, delta, r, c, G + (size_t)k * h);
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

/* status codes returned to R (R/nn2.R turns them into words) */
enum { NN2_OK = 0, NN2_DIVERGED = 2 };

typedef struct {
  const double *x, *y, *xt, *yt; /* training (d x n) and test (d x nt) samples */
  int n, nt;
  double eta, cap, ymsq;
  int t0, t_end, iters, every, want_path, nth;
} nn2_job;

#ifdef NN2_HAVE_BLOCKS
/* cblk and ublk for n samples: 32-byte aligned, from R_alloc */
static void nn2_block_bufs(int n, int d, int h, double **cblk, double **ublk) {
  const size_t nb = (n + 3) / 4;
  *cblk = nn2_align32((double *)R_alloc(4 * nb * h + 4, sizeof(double)));
  *ublk = nn2_align32((double *)R_alloc(4 * nb * d + 4, sizeof(double)));
}

/* The fixed-attack gradient G (h x d, transposed) from what a pass of the block kernel
 * left in cblk and ublk: four hidden units at a time, in parallel over hidden units
 * where the passes of the per-sample kernel would be (the same sums either way). */
static void nn2_block_grad(const nn2_net *m, int n, int nth, const double *cblk,
                           const double *ublk, double *G) {
  const int d = m->d, h = m->h, nb = (n + 3) / 4, fma = nn2_fma();
  const vec_v4 *ub = (const vec_v4 *)ublk, *cb = (const vec_v4 *)cblk;
  if (nth < 2 || (double)n * d * h < NN2_PAR_MIN) {
    nn2_grad_blk_cols(fma, d, h, nb, ub, cb, 0, h, G);
    return;
  }
  const int ng = (h + 3) / 4;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
  for (int g = 0; g < ng; g++)
    nn2_grad_blk_cols(fma, d, h, nb, ub, cb, 4 * g, 4 * g + 4 < h ? 4 * g + 4 : h, G);
}

#endif

/* Buffers of one training run, from R_alloc. */
typedef struct {
  double *scratch, *radv, *rclean, *delta, *cadv, *cstd, *G, *Gstd, *rtest, *rtest0;
  double *cblk, *ublk; /* nn2_blocks()'s gradient terms (32-byte aligned), or NULL */
} nn2_work;

static void nn2_work_alloc(const nn2_net *m, const nn2_job *jb, nn2_work *w) {
  const size_t d = m->d, h = m->h, n = jb->n;
  w->scratch = (double *)R_alloc(jb->nth * nn2_scratch(m->d, m->h), sizeof(double));
  w->radv = (double *)R_alloc(n, sizeof(double));
  w->rclean = (double *)R_alloc(n, sizeof(double));
  w->G = (double *)R_alloc(d * h, sizeof(double));
  w->Gstd = (double *)R_alloc(d * h, sizeof(double));
  w->rtest = w->rtest0 = NULL;
  w->delta = w->cadv = w->cstd = w->cblk = w->ublk = NULL;
#ifdef NN2_HAVE_BLOCKS
  if (nn2_blocks_apply(m, m->eps)) {
    nn2_block_bufs(jb->n, m->d, m->h, &w->cblk, &w->ublk);
  } else
#endif
  { /* the per-sample kernel's attacks and a_j phi' for its gradient */
    w->delta = (double *)R_alloc(n * d, sizeof(double));
    w->cadv = (double *)R_alloc(n * h, sizeof(double));
    w->cstd = (double *)R_alloc(n * h, sizeof(double));
  }
  if (jb->nt > 0) {
    w->rtest = (double *)R_alloc(jb->nt, sizeof(double));
    w->rtest0 = (double *)R_alloc(jb->nt, sizeof(double));
  }
}

#ifdef NN2_HAVE_BLOCKS
/* One pass of the block kernel at strength eps (the training pass, or eps = 0 for the
 * standard gradient) and its gradient G. */
static void nn2_block_step(const nn2_net *m, const nn2_job *jb, nn2_work *w, double eps,
                           nn2_pass_out *p, double *G) {
  p->cblk = w->cblk;
  p->ublk = w->ublk;
  nn2_pass(m, eps, m->xi, jb->x, jb->y, jb->n, jb->nth, w->scratch, p);
  nn2_block_grad(m, jb->n, jb->nth, w->cblk, w->ublk, G);
}
#endif

/* One trace row at theta(t) (the columns of adv_lm's trace: iter, loss_surrogate,
 * loss_adv, loss_std, risk_adv, risk_std, theta_norm, grad_norm, grad_diff); the
 * training pass and G are already done. The risks are Monte Carlo means over the test
 * samples under the same attack with xi = 0 (NA without them). With path, theta a
 * (length d) goes there: for the linear activation R turns it into the exact risks. */
static void nn2_record(const nn2_net *m, const nn2_job *jb, nn2_work *w, int t,
                       double loss_s, double *row, double *path) {
  const int d = m->d, h = m->h, n = jb->n;
  double loss_std = nn2_meansq(w->rclean, n), loss_adv = loss_s;
  if (m->xi > 0 && m->eps > 0) {
    /* G is computed, so the training pass's attacked residuals may be overwritten */
    nn2_pass_out p = {w->radv, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    nn2_pass(m, m->eps, 0.0, jb->x, jb->y, n, jb->nth, w->scratch, &p);
    loss_adv = nn2_meansq(w->radv, n);
  }
  double risk_adv = NA_REAL, risk_std = NA_REAL;
  if (jb->nt > 0) {
    nn2_pass_out p = {w->rtest, w->rtest0, NULL, NULL, NULL, NULL, NULL, NULL};
    nn2_pass(m, m->eps, 0.0, jb->xt, jb->yt, jb->nt, jb->nth, w->scratch, &p);
    risk_adv = nn2_meansq(w->rtest, jb->nt);
    risk_std = nn2_meansq(w->rtest0, jb->nt);
  }
#ifdef NN2_HAVE_BLOCKS
  if (w->cblk) { /* the standard gradient: a pass without attack (G is computed) */
    nn2_pass_out p = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    nn2_block_step(m, jb, w, 0.0, &p, w->Gstd);
  } else
#endif
    nn2_param_grad(m, jb->x, NULL, w->rclean, w->cstd, n, jb->nth, w->Gstd);
  double diff = 0;
  for (size_t k = 0; k < (size_t)d * h; k++) {
    double e = w->G[k] - w->Gstd[k];
    diff += e * e;
  }
  row[0] = t;
  row[1] = loss_s;
  row[2] = loss_adv;
  row[3] = loss_std;
  row[4] = risk_adv;
  row[5] = risk_std;
  row[6] = sqrt(nn2_sumsq(m->w, (size_t)d * h));
  row[7] = sqrt(nn2_sumsq(w->G, (size_t)d * h));
  row[8] = sqrt(diff);
  if (path) {
    for (int k = 0; k < d; k++) {
      double s = 0;
      for (int j = 0; j < h; j++) s += m->w[(size_t)k * h + j] * m->a[j];
      path[k] = s;
    }
  }
}

/* Steps t0..t_end of Algorithm 1 from w = theta' (updated in place; m->w points to
 * it): attack at theta(t), hold the attack fixed, theta(t+1) = theta(t) - eta G.
 * One trace row per traced step (t a multiple of every, or the last step). The loss
 * is "diverged" when it is not finite or above cap (10^10 times its start). Returns
 * the status; *t_next is the first step not taken, *ntr the rows written. */
static int nn2_train(const nn2_net *m, double *w_, nn2_job *jb, double *tr,
                     double *path, int *ntr, int *t_next) {
  const int d = m->d, h = m->h, n = jb->n;
  nn2_work w;
  nn2_work_alloc(m, jb, &w);
  nn2_pass_out p = {w.radv, w.rclean, NULL, w.delta, w.cadv, w.cstd, NULL, NULL};
  if (m->act == NN2_LINEAR) p.cadv = p.cstd = NULL; /* the gradient does not need them */
  double per = 4.0 * n * d * h * (m->attack == NN2_PGD ? m->steps : 1) + n * h;
  double since_check = 0;
  int status = NN2_OK, rows = 0, t;
  for (t = jb->t0; t <= jb->t_end; t++) {
#ifdef NN2_HAVE_BLOCKS
    if (w.cblk)
      nn2_block_step(m, jb, &w, m->eps, &p, w.G);
    else
#endif
    {
      nn2_pass(m, m->eps, m->xi, jb->x, jb->y, n, jb->nth, w.scratch, &p);
      nn2_param_grad(m, jb->x, w.delta, w.radv, w.cadv, n, jb->nth, w.G);
    }
    double loss = nn2_meansq(w.radv, n);
    if (ISNAN(jb->cap)) jb->cap = 1e10 * fmax(loss, jb->ymsq);
    double gn = sqrt(nn2_sumsq(w.G, (size_t)d * h));
    int traced = t % jb->every == 0 || t == jb->iters;
    if (!R_FINITE(loss) || !R_FINITE(gn) || loss > jb->cap) {
      status = NN2_DIVERGED;
      traced = 1;
    }
    if (traced) {
      nn2_record(m, jb, &w, t, loss, tr + (size_t)rows * NN2_NTRACE,
                 path ? path + (size_t)rows * d : NULL);
      rows++;
    }
    if (status != NN2_OK || t == jb->iters) {
      t++;
      break;
    }
    for (size_t k = 0; k < (size_t)d * h; k++) w_[k] -= jb->eta * w.G[k];
    since_check += per;
    if (since_check > 1e8) { /* a few hundredths of a second */
      R_CheckUserInterrupt();
      since_check = 0;
    }
  }
  *ntr = rows;
  *t_next = t; /* t_end + 1, or one past the step where it stopped */
  return status;
}

/* ------------------------------------------------------------ .Call ---- */

/* For the tests: c(whether the four-sample kernel is compiled, whether the processor
 * has its AVX2/FMA version, the kernel mode before the call); mode (see
 * nn2_kernel_mode) sets it, NA leaves it. */
SEXP C_nn2_kernels(SEXP mode) {
  SEXP out = PROTECT(allocVector(REALSXP, 3));
#ifdef NN2_HAVE_BLOCKS
  REAL(out)[0] = 1;
  REAL(out)[1] = nn2_fma_have();
  REAL(out)[2] = nn2_kernel_mode;
  int md = asInteger(mode);
  if (md != NA_INTEGER) {
    if (md < 0 || md > 2) Rf_error("nn2 kernel mode must be 0, 1 or 2");
    nn2_kernel_mode = md;
  }
#else
  (void)mode;
  REAL(out)[0] = REAL(out)[1] = 0;
  REAL(out)[2] = 2;
#endif
  UNPROTECT(1);
  return out;
}

/* b (q x p) = a' for a p x q matrix */
static void nn2_transpose(const double *a, int p, int q, double *b) {
  for (int j = 0; j < q; j++)
    for (int i = 0; i < p; i++) b[j + (size_t)i * q] = a[i + (size_t)j * p];
}

/* spec = c(activation, slope, eps, norm, xi, attack, pgd_steps); the weights theta
 * (d x h) are copied transposed into R_alloc memory. */
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
  m->a = REAL(a);
  if (nrows(theta) != m->d || LENGTH(a) != m->h || LENGTH(spec) != 7)
    Rf_error("nn2: inconsistent dimensions");
  double *w = (double *)R_alloc((size_t)m->d * m->h + 1, sizeof(double));
  nn2_transpose(REAL(theta), m->d, m->h, w);
  m->w = w;
  m->beta = (double *)R_alloc((size_t)m->d + 1, sizeof(double));
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
    nn2_pass_out p = {NULL, REAL(f), NULL, NULL, NULL, NULL, NULL, NULL};
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
  double *gt = (double *)R_alloc((size_t)d * h, sizeof(double));
  nn2_pass_out p = {REAL(radv), REAL(f), REAL(gin), REAL(delta), NULL, NULL, NULL, NULL};
#ifdef NN2_HAVE_BLOCKS
  if (nn2_blocks_apply(&m, m.eps)) { /* as training computes them */
    nn2_block_bufs(n, d, h, &p.cblk, &p.ublk);
    nn2_pass(&m, m.eps, m.xi, REAL(xt), REAL(y), n, nth, scratch, &p);
    nn2_block_grad(&m, n, nth, p.cblk, p.ublk, gt);
    nn2_transpose(gt, h, d, REAL(grad));
    nn2_pass_out p0 = {NULL, NULL, NULL, NULL, NULL, NULL, p.cblk, p.ublk};
    nn2_pass(&m, 0.0, 0.0, REAL(xt), REAL(y), n, nth, scratch, &p0);
    nn2_block_grad(&m, n, nth, p.cblk, p.ublk, gt);
    nn2_transpose(gt, h, d, REAL(gstd));
  } else
#endif
  {
    p.cadv = (double *)R_alloc((size_t)n * h + 1, sizeof(double));
    p.cstd = (double *)R_alloc((size_t)n * h + 1, sizeof(double));
    nn2_pass(&m, m.eps, m.xi, REAL(xt), REAL(y), n, nth, scratch, &p);
    nn2_param_grad(&m, REAL(xt), REAL(delta), REAL(radv), p.cadv, n, nth, gt);
    nn2_transpose(gt, h, d, REAL(grad));
    nn2_param_grad(&m, REAL(xt), NULL, REAL(f), p.cstd, n, nth, gt);
    nn2_transpose(gt, h, d, REAL(gstd));
  }
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

/* list(theta, trace (9 x rows), path (d x rows or NULL), status, t_next, cap) for
 * steps t0..t_end. ctrl = c(eta, cap, ymsq); ictrl = c(t0, t_end, iters, every,
 * want_path); xtt / ytt the test samples (0 columns: none). */
SEXP C_nn2_train(SEXP xt, SEXP y, SEXP theta, SEXP a, SEXP spec, SEXP ctrl, SEXP xtt,
                 SEXP ytt, SEXP ictrl, SEXP threads) {
  nn2_net m;
  nn2_unpack(xt, theta, a, spec, &m);
  const double *cr = REAL(ctrl);
  const int *ic = INTEGER(ictrl);
  nn2_job jb = {REAL(xt), REAL(y), REAL(xtt), REAL(ytt), ncols(xt), ncols(xtt),
                cr[0], cr[1], cr[2], ic[0], ic[1], ic[2], ic[3], ic[4],
                adv_nthreads(threads)};
  if (jb.nt > 0 && nrows(xtt) != m.d) Rf_error("nn2: test set has the wrong dimension");
  int steps = jb.t_end - jb.t0 + 1, maxrows = steps / jb.every + 2, nprot = 0;
  SEXP th = PROTECT(allocMatrix(REALSXP, m.d, m.h));
  SEXP tr = PROTECT(allocMatrix(REALSXP, NN2_NTRACE, maxrows));
  nprot += 2;
  double *path = NULL;
  if (jb.want_path) path = (double *)R_alloc((size_t)m.d * maxrows, sizeof(double));
  double *w = (double *)m.w; /* nn2_unpack's private transposed copy, trained in place */
  int ntr = 0, t_next = 0;
  int status = nn2_train(&m, w, &jb, REAL(tr), path, &ntr, &t_next);
  nn2_transpose(w, m.h, m.d, REAL(th));
  SEXP out = adv_train_result(th, REAL(tr), NN2_NTRACE, ntr, path, m.d, status, t_next,
                              jb.cap);
  UNPROTECT(nprot);
  return out;
}

