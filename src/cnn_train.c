/* Entry points of the CNN / MLP trainer: one training epoch, forward pass, attack and
 * gradient (for tests and evaluation).
 *
 * Determinism: a batch is cut into chunks of CNN_CHUNK samples, a fixed partition that
 * does not depend on the thread count. Each chunk accumulates its parameter gradient
 * in its own buffer; the buffers are summed in chunk order. Random starts are drawn on
 * the main thread before the parallel region. So threads = 1 and threads = 2 give
 * identical results (given a BLAS that is itself deterministic for a fixed problem). */
#include "advtrain.h"

typedef struct {
  cnn_net net;
  cnn_work *work;
  int nth;
} cnn_ctx;

static void ctx_init(cnn_ctx *cx, SEXP arch, SEXP beta, int loss, SEXP threads) {
  cnn_net_from_sexp(arch, beta, loss, &cx->net);
  cx->nth = adv_nthreads(threads);
  cx->work = (cnn_work *)R_alloc(cx->nth, sizeof(cnn_work));
  for (int t = 0; t < cx->nth; t++) cnn_work_alloc(&cx->net, cx->work + t);
}

static inline int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

static const int iota[CNN_CHUNK] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* One chunk of a batch: attack (steps > 0), forward, loss, backward into cg. */
static void train_chunk(const cnn_net *net, const double *theta, cnn_work *w,
                        const double *x, const double *y, const int *ids, int B,
                        const double *st, double scale, const double *dc, const int *ic,
                        double *cg, double *closs, int *ccorrect) {
  int din = net->din, steps = ic[2];
  double yb[CNN_CHUNK];
  for (int b = 0; b < B; b++) yb[b] = y[ids[b]];
  cnn_gather(x, din, ids, B, w->x0);
  if (steps > 0) {
    if (st) cnn_gather(st, din, iota, B, w->st);
    cnn_attack_chunk(net, theta, B, w, yb, ic[1], dc[4], dc[5], steps, dc[6], ic[5], dc[7],
                     dc[8], st != NULL);
    for (size_t q = 0; q < (size_t)B * din; q++) w->act[q] = w->xa[q];
  } else {
    for (size_t q = 0; q < (size_t)B * din; q++) w->act[q] = w->x0[q];
  }
  cnn_forward(net, theta, B, w);
  *closs = cnn_loss_grad(net, w->act + (size_t)B * net->aoff[net->nl], yb, B, scale,
                         w->dz, NULL, ccorrect);
  for (int j = 0; j < net->np; j++) cg[j] = 0.0;
  cnn_backward(net, theta, B, w, cg, NULL);
}

static char *weight_mask(const cnn_net *net) {
  char *m = (char *)R_alloc(net->np > 0 ? net->np : 1, 1);
  for (int l = 0; l < net->nl; l++) {
    const cnn_layer *L = net->L + l;
    if (L->type != CNN_CONV && L->type != CNN_DENSE) continue;
    for (int j = L->woff; j < L->boff; j++) m[j] = 1;
    for (int j = L->boff; j < L->boff + L->co; j++) m[j] = 0;
  }
  return m;
}

/* dctrl: lr, momentum, weight_decay, lambda, eps, alpha, xi, lo, hi
 * ictrl: loss, norm, steps (0: no attack), random_start, batch_size, clip
 * Returns list(theta, velocity, c(loss sum, correct, samples seen, status)). */
SEXP C_cnn_train_epoch(SEXP arch, SEXP beta, SEXP theta0, SEXP vel0, SEXP x, SEXP y,
                       SEXP perm, SEXP dctrl, SEXP ictrl, SEXP threads) {
  int nprot = 0;
  const double *dc = REAL(dctrl);
  const int *ic = INTEGER(ictrl);
  cnn_ctx cx;
  ctx_init(&cx, arch, beta, ic[0], threads);
  const cnn_net *net = &cx.net;
  int np = net->np, din = net->din, n = LENGTH(perm), bs = ic[4];
  SEXP out = PROTECT(allocVector(VECSXP, 3)); nprot++;
  SEXP th = PROTECT(duplicate(theta0)); nprot++;
  SEXP ve = PROTECT(duplicate(vel0)); nprot++;
  SEXP stats = PROTECT(allocVector(REALSXP, 4)); nprot++;
  SET_VECTOR_ELT(out, 0, th);
  SET_VECTOR_ELT(out, 1, ve);
  SET_VECTOR_ELT(out, 2, stats);
  double *theta = REAL(th), *vel = REAL(ve);
  const double *xp = REAL(x), *yp = REAL(y);
  const int *pp = INTEGER(perm);
  const char *isw = weight_mask(net);
  int maxch = (bs + CNN_CHUNK - 1) / CNN_CHUNK;
  double *cg = (double *)R_alloc((size_t)maxch * np, sizeof(double));
  double *closs = (double *)R_alloc(maxch, sizeof(double));
  int *ccor = (int *)R_alloc(maxch, sizeof(int));
  int use_start = ic[2] > 0 && ic[3];
  double *st = use_start ? (double *)R_alloc((size_t)bs * din, sizeof(double)) : NULL;
  double lr = dc[0], mom = dc[1], wd = dc[2], lam = dc[3];
  double loss_sum = 0.0, seen = 0.0, correct = 0.0;
  int status = 0, nth = cx.nth;
  for (int s = 0; s < n && status == 0; s += bs) {
    int nb = n - s < bs ? n - s : bs, nch = (nb + CNN_CHUNK - 1) / CNN_CHUNK;
    if (use_start) {
      GetRNGstate();
      cnn_random_start(nb, din, ic[1], dc[4], st);
      PutRNGstate();
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
    for (int c = 0; c < nch; c++) {
      int B = nb - c * CNN_CHUNK < CNN_CHUNK ? nb - c * CNN_CHUNK : CNN_CHUNK;
      train_chunk(net, theta, cx.work + thread_id(), xp, yp, pp + s + c * CNN_CHUNK, B,
                  st ? st + (size_t)din * c * CNN_CHUNK : NULL, 1.0 / nb, dc, ic,
                  cg + (size_t)np * c, closs + c, ccor + c);
    }
    double bl = 0.0;
    for (int c = 0; c < nch; c++) {
      bl += closs[c];
      correct += ccor[c];
    }
    if (!R_FINITE(bl)) {
      status = 1;
      break;
    }
    loss_sum += bl;
    seen += nb;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int j = 0; j < np; j++) {
      double g = 0.0;
      for (int c = 0; c < nch; c++) g += cg[(size_t)np * c + j];
      if (isw[j]) g += wd * theta[j];
      vel[j] = mom * vel[j] + g;
      double t = theta[j] - lr * vel[j];
      if (isw[j] && lam > 0) {
        /* proximal step of lr * lambda * |t| */
        double a = fabs(t) - lr * lam;
        t = a > 0 ? (t > 0 ? a : -a) : 0.0;
      }
      theta[j] = t;
    }
    for (int j = 0; j < np; j++)
      if (!R_FINITE(theta[j])) {
        status = 2;
        break;
      }
    R_CheckUserInterrupt();
  }
  REAL(stats)[0] = loss_sum;
  REAL(stats)[1] = correct;
  REAL(stats)[2] = seen;
  REAL(stats)[3] = status;
  UNPROTECT(nprot);
  return out;
}

/* Outputs (nout x n) of the network at the columns of x (din x n). */
SEXP C_cnn_forward(SEXP arch, SEXP beta, SEXP theta, SEXP x, SEXP threads) {
  cnn_ctx cx;
  ctx_init(&cx, arch, beta, CNN_CE, threads);
  const cnn_net *net = &cx.net;
  int din = net->din, O = net->nout, n = ncols(x), nth = cx.nth;
  SEXP out = PROTECT(allocMatrix(REALSXP, O, n));
  const double *xp = REAL(x), *tp = REAL(theta);
  double *op = REAL(out);
  int nch = (n + CNN_CHUNK - 1) / CNN_CHUNK;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
  for (int c = 0; c < nch; c++) {
    cnn_work *w = cx.work + thread_id();
    int B = n - c * CNN_CHUNK < CNN_CHUNK ? n - c * CNN_CHUNK : CNN_CHUNK;
    int ids[CNN_CHUNK];
    for (int b = 0; b < B; b++) ids[b] = c * CNN_CHUNK + b;
    cnn_gather(xp, din, ids, B, w->act);
    cnn_forward(net, tp, B, w);
    cnn_scatter(w->act + (size_t)B * net->aoff[net->nl], O, B, op, ids);
  }
  UNPROTECT(1);
  return out;
}

/* Attacked inputs (din x n). start: din x n random start or NULL.
 * dctrl: eps, alpha, xi, lo, hi; ictrl: loss, norm, steps, clip. */
SEXP C_cnn_attack(SEXP arch, SEXP beta, SEXP theta, SEXP x, SEXP y, SEXP start,
                  SEXP dctrl, SEXP ictrl, SEXP threads) {
  const double *dc = REAL(dctrl);
  const int *ic = INTEGER(ictrl);
  cnn_ctx cx;
  ctx_init(&cx, arch, beta, ic[0], threads);
  const cnn_net *net = &cx.net;
  int din = net->din, n = ncols(x), nth = cx.nth;
  SEXP out = PROTECT(allocMatrix(REALSXP, din, n));
  const double *xp = REAL(x), *yp = REAL(y), *tp = REAL(theta);
  const double *sp = isNull(start) ? NULL : REAL(start);
  double *op = REAL(out);
  int nch = (n + CNN_CHUNK - 1) / CNN_CHUNK;
  for (int c0 = 0; c0 < nch; c0 += 64) {
    int c1 = c0 + 64 < nch ? c0 + 64 : nch;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
    for (int c = c0; c < c1; c++) {
      cnn_work *w = cx.work + thread_id();
      int B = n - c * CNN_CHUNK < CNN_CHUNK ? n - c * CNN_CHUNK : CNN_CHUNK;
      int ids[CNN_CHUNK];
      double yb[CNN_CHUNK];
      for (int b = 0; b < B; b++) {
        ids[b] = c * CNN_CHUNK + b;
        yb[b] = yp[ids[b]];
      }
      cnn_gather(xp, din, ids, B, w->x0);
      if (sp) cnn_gather(sp, din, ids, B, w->st);
      cnn_attack_chunk(net, tp, B, w, yb, ic[1], dc[0], dc[1], ic[2], dc[2], ic[3], dc[3],
                       dc[4], sp != NULL);
      cnn_scatter(w->xa, din, B, op, ids);
    }
    R_CheckUserInterrupt();
  }
  UNPROTECT(1);
  return out;
}

/* list(per-sample losses, mean parameter gradient, per-sample input gradients) */
SEXP C_cnn_grad(SEXP arch, SEXP beta, SEXP loss, SEXP theta, SEXP x, SEXP y,
                SEXP threads) {
  int nprot = 0;
  cnn_ctx cx;
  ctx_init(&cx, arch, beta, asInteger(loss), threads);
  const cnn_net *net = &cx.net;
  int din = net->din, n = ncols(x), np = net->np, nth = cx.nth;
  int nch = (n + CNN_CHUNK - 1) / CNN_CHUNK;
  SEXP out = PROTECT(allocVector(VECSXP, 3)); nprot++;
  SEXP lo = PROTECT(allocVector(REALSXP, n)); nprot++;
  SEXP gt = PROTECT(allocVector(REALSXP, np)); nprot++;
  SEXP gx = PROTECT(allocMatrix(REALSXP, din, n)); nprot++;
  SET_VECTOR_ELT(out, 0, lo);
  SET_VECTOR_ELT(out, 1, gt);
  SET_VECTOR_ELT(out, 2, gx);
  double *cg = (double *)R_alloc((size_t)nch * np, sizeof(double));
  const double *xp = REAL(x), *yp = REAL(y), *tp = REAL(theta);
  double *lp = REAL(lo), *gxp = REAL(gx);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
  for (int c = 0; c < nch; c++) {
    cnn_work *w = cx.work + thread_id();
    int B = n - c * CNN_CHUNK < CNN_CHUNK ? n - c * CNN_CHUNK : CNN_CHUNK;
    int ids[CNN_CHUNK];
    double yb[CNN_CHUNK], lb[CNN_CHUNK];
    for (int b = 0; b < B; b++) {
      ids[b] = c * CNN_CHUNK + b;
      yb[b] = yp[ids[b]];
    }
    cnn_gather(xp, din, ids, B, w->act);
    cnn_forward(net, tp, B, w);
    cnn_loss_grad(net, w->act + (size_t)B * net->aoff[net->nl], yb, B, 1.0, w->dz, lb,
                  NULL);
    double *g = cg + (size_t)np * c;
    for (int j = 0; j < np; j++) g[j] = 0.0;
    cnn_backward(net, tp, B, w, g, w->gx);
    cnn_scatter(w->gx, din, B, gxp, ids);
    for (int b = 0; b < B; b++) lp[ids[b]] = lb[b];
  }
  double *gp = REAL(gt);
  for (int j = 0; j < np; j++) {
    double s = 0.0;
    for (int c = 0; c < nch; c++) s += cg[(size_t)np * c + j];
    gp[j] = s / n;
  }
  UNPROTECT(nprot);
  return out;
}

/* For the tests: C <- op(A) op(B) + beta C through the product kernel selected by
 * gemm (0 dgemm, 1 own double, 2 own single) and isa (1 baseline, 2 AVX2/FMA, 3 AVX-512
 * for the single kernel; each only when the CPU has it; 0 the best available).
 * ictrl: gemm, isa, ta, tb. */
SEXP C_cnn_mm(SEXP ictrl, SEXP a, SEXP b, SEXP c, SEXP beta) {
  const int *ic = INTEGER(ictrl);
  int ta = ic[2], tb = ic[3];
  int m = nrows(c), n = ncols(c), k = ta ? nrows(a) : ncols(a);
  SEXP out = PROTECT(duplicate(c));
  cnn_mm_test(ic[0], ic[1], ta, tb, m, n, k, REAL(a), nrows(a), REAL(b), nrows(b),
              asReal(beta), REAL(out), m);
  UNPROTECT(1);
  return out;
}
