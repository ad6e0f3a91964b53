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
#include "advtrain.h"
#include <stdint.h>
#include <string.h>

enum nn2_act { NN2_SIGMOID = 1, NN2_LINEAR = 2, NN2_RELU = 3 };
enum nn2_attack { NN2_FGM = 1, NN2_PGD = 2 };

/* Columns of the trace, shared with adv_lm(). */
#define NN2_NTRACE 9

/* Loops over hidden units are short and hot: ask for SIMD where OpenMP is on (the
 * loops so marked are element-wise, so SIMD does not change their results). */
#ifdef _OPENMP
#define NN2_SIMD _Pragma("omp simd")
#else
#define NN2_SIMD
#endif

/* The two hot kernels are also compiled for AVX2 where the loader can pick it
 * (ADV_CLONES in advtrain.h): the same operations in the same order (no FMA), so the
 * results are identical. */
#define NN2_CLONES ADV_CLONES
/* the helpers of the cloned kernels must be inlined into each version */
#ifdef __GNUC__
#define NN2_INLINE static inline __attribute__((always_inline))
#else
#define NN2_INLINE static inline
#endif

/* The weights are held transposed, w = theta' (h x d, w[j + k h]), so that the loops
 * over hidden units run over contiguous memory. */
typedef struct {
  int d, h, act, norm, attack, steps;
  double slope, eps, xi, scale; /* scale = 1 / sqrt(h) */
  const double *w, *a;
  double *beta; /* linear activation: theta a (length d), kept by nn2_linear_beta() */
} nn2_net;

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

/* Bit views of doubles: the branch-free selections below use integer operations,
 * which vectorise; floating-point comparisons may trap and so are not if-converted. */
typedef union {
  double d;
  uint64_t u;
} nn2_bits;

/* The centred sigmoid and its derivative at z, from v = min(|z|, 700): with
 * e = e^{-v}, phi = sign(z) (1 - e) / (2 (1 + e)) and phi' = e / (1 + e)^2. e is
 * 2^k e^r with -v = k log 2 + r, |r| <= log(2)/2 (k by the round-to-nearest shifter,
 * log 2 in two parts, 2^k assembled from its bits), and e^r = N / D by its diagonal
 * [6/6] Pade approximant, N = E(r^2) + r O(r^2), D = E(r^2) - r O(r^2) (error below
 * 1e-18 on that range). Then phi = (D - t) / (2 (D + t)) and phi' = t D / (D + t)^2
 * with t = 2^k N: one division, and phi keeps full relative accuracy near 0. Branch-free, so that loops over hidden units
 * vectorise. */
NN2_INLINE double nn2_sigmoid(double z, double v, double *dphi) {
  const double shifter = 0x1.8p52, log2e = 1.4426950408889634074;
  const double ln2hi = 6.93147180369123816490e-01, ln2lo = 1.90821492927058770002e-10;
  double t = -v * log2e + shifter, kf = t - shifter;
  double r = (-v - kf * ln2hi) - kf * ln2lo, x = r * r;
  double E = 1.0 + x * (5.0 / 44.0 + x * (1.0 / 792.0 + x * (1.0 / 665280.0)));
  double rO = r * (0.5 + x * (1.0 / 66.0 + x * (1.0 / 15840.0)));
  double N = E + rO, D = E - rO;
  /* the low bits of t hold k (two's complement): put k + 1023 in the exponent */
  nn2_bits tb = {t}, sb = {shifter}, two_k;
  two_k.u = (tb.u - sb.u + 1023) << 52; /* 2^k for -1022 <= k <= 0 */
  /* D - t = E (1 - 2^k) - r O (1 + 2^k) keeps full relative accuracy as z -> 0 */
  double tk = two_k.d * N, inv = 1.0 / (D + tk);
  double num = E * (1.0 - two_k.d) - rO * (1.0 + two_k.d);
  *dphi = tk * D * inv * inv;
  return copysign(0.5 * num * inv, z);
}

/* min(v, 700) for v >= 0 (or +Inf), without a comparison: the sigmoid is saturated
 * to double precision long before (its derivative there is below 1e-304). */
NN2_INLINE double nn2_cap700(double v) {
  nn2_bits x = {v}, c = {700.0};
  uint64_t diff = x.u - c.u, below = 0 - (diff >> 63); /* all ones when v < 700 */
  x.u = c.u + (diff & below);
  return x.d;
}

/* v where z >= 0 (sign bit clear), else 0 */
NN2_INLINE double nn2_if_nonneg(double z, double v) {
  nn2_bits zb = {z}, vb = {v};
  vb.u &= (zb.u >> 63) - 1;
  return vb.d;
}

/* sum_j u_j v_j with eight partial sums in a fixed order (two SIMD registers' worth,
 * which the compiler may use as such): a shorter dependency chain than one running
 * sum, and the same result whatever instructions are used. */
NN2_INLINE double nn2_dot(const double *restrict u, const double *restrict v, int h) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= h; j += 8)
    for (int l = 0; l < 8; l++) acc[l] += u[j + l] * v[j + l];
  for (; j < h; j++) acc[0] += u[j] * v[j];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* z_j = x'theta_j + base_j (base may be NULL) */
NN2_INLINE void nn2_preact(const nn2_net *m, const double *restrict x,
                           const double *restrict base, double *restrict z) {
  const int h = m->h, d = m->d;
  const double *restrict w = m->w;
  if (base) {
    NN2_SIMD
    for (int j = 0; j < h; j++) z[j] = base[j];
  } else {
    for (int j = 0; j < h; j++) z[j] = 0;
  }
  /* four inputs at a time: z is read and written once per four, and the additions
   * still happen in the order k = 0, 1, 2, ... */
  int k = 0;
  for (; k + 4 <= d; k += 4) {
    const double x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
    const double *restrict w0 = w + (size_t)k * h, *restrict w1 = w0 + h,
                           *restrict w2 = w1 + h, *restrict w3 = w2 + h;
    NN2_SIMD
    for (int j = 0; j < h; j++) z[j] = z[j] + x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j];
  }
  const double *restrict wk = w + (size_t)k * h;
  switch (d - k) { /* the last one to three inputs in one pass, still in order */
  case 3: {
    const double x0 = x[k], x1 = x[k + 1], x2 = x[k + 2];
    NN2_SIMD
    for (int j = 0; j < h; j++) z[j] = z[j] + x0 * wk[j] + x1 * wk[h + j] + x2 * wk[2 * h + j];
    break;
  }
  case 2: {
    const double x0 = x[k], x1 = x[k + 1];
    NN2_SIMD
    for (int j = 0; j < h; j++) z[j] = z[j] + x0 * wk[j] + x1 * wk[h + j];
    break;
  }
  case 1: {
    const double x0 = x[k];
    NN2_SIMD
    for (int j = 0; j < h; j++) z[j] += x0 * wk[j];
    break;
  }
  default:
    break;
  }
}

/* f = h^{-1/2} sum_j a_j phi(z_j) and c_j = a_j phi'(z_j). The centred sigmoid
 * 1/(1+e^{-z}) - 1/2 = sign(z) (1 - e)/(2(1 + e)) with e = e^{-|z|} never overflows;
 * its derivative is e/(1+e)^2. ReLU's derivative at 0 is taken as the right
 * derivative (slope): otherwise a network started at theta = 0 could never move. */
NN2_INLINE double nn2_output(const nn2_net *m, const double *restrict z, double *restrict c,
                         double *restrict phi) {
  const int h = m->h;
  const double *restrict a = m->a, sl = m->slope;
  if (m->act == NN2_SIGMOID) {
    NN2_SIMD
    for (int j = 0; j < h; j++) {
      double dp;
      phi[j] = nn2_sigmoid(z[j], nn2_cap700(fabs(z[j])), &dp);
      c[j] = a[j] * dp;
    }
  } else if (m->act == NN2_LINEAR) {
    NN2_SIMD
    for (int j = 0; j < h; j++) {
      phi[j] = sl * z[j];
      c[j] = a[j] * sl;
    }
  } else {
    NN2_SIMD
    for (int j = 0; j < h; j++) {
      phi[j] = 0.5 * sl * (z[j] + fabs(z[j]));
      c[j] = nn2_if_nonneg(z[j], a[j] * sl);
    }
  }
  return nn2_dot(a, phi, h) * m->scale;
}

/* z_j = x'theta_j + base_j (base may be NULL), then f as nn2_output(). */
NN2_INLINE double nn2_forward(const nn2_net *m, const double *restrict x,
                              const double *restrict base, double *restrict z,
                              double *restrict c, double *restrict phi) {
  nn2_preact(m, x, base, z);
  return nn2_output(m, z, c, phi);
}

/* Input gradient of the squared loss: g = 2 r h^{-1/2} sum_j c_j theta_j */
NN2_INLINE void nn2_input_grad(const nn2_net *m, double r, const double *restrict c,
                           double *restrict g) {
  const int h = m->h;
  const double f = 2.0 * r * m->scale;
  for (int k = 0; k < m->d; k++) {
    const double *restrict wk = m->w + (size_t)k * h;
    g[k] = f * nn2_dot(c, wk, h);
  }
}

/* The surrogate attack of strength e for the gradient g (MATH.md section 2):
 * L2 e g / sqrt(|g|^2 + xi^2), Linf e g_k / (|g_k| + xi); 0 where g = 0. */
NN2_INLINE void nn2_shrink(int norm, const double *restrict g, int d, double e, double xi,
                       double *restrict out) {
  if (norm == ADV_L2) {
    double ss = 0;
    for (int k = 0; k < d; k++) ss += g[k] * g[k];
    double s = ss > 0 ? e / sqrt(ss + xi * xi) : 0.0;
    for (int k = 0; k < d; k++) out[k] = s * g[k];
  } else {
    for (int k = 0; k < d; k++) {
      double ag = fabs(g[k]);
      out[k] = ag > 0 ? e * g[k] / (ag + xi) : 0.0;
    }
  }
}

/* Projection onto the eps-ball of the attack norm. */
NN2_INLINE void nn2_project(int norm, double *restrict delta, int d, double eps) {
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
static size_t nn2_scratch(int d, int h) { return 6 * (size_t)h + 3 * (size_t)d; }

/* Per-sample arrays filled by a pass over n samples; NULL entries are skipped. */
typedef struct {
  double *radv;   /* attacked residual f(x + A) - y */
  double *rclean; /* clean residual f(x) - y */
  double *gin;    /* clean input gradient (d per sample) */
  double *delta;  /* the perturbation A (d per sample) */
  double *cadv;   /* a_j phi'(z_j) at the attacked point (h per sample) */
  double *cstd;   /* a_j phi'(z_j) at the clean point (h per sample) */
} nn2_pass_out;

/* The linear activation's samples i0 <= i < i1 with beta up to date: what
 * nn2_samples() computes, at O(d) a sample (plus O(h) where c is asked for). */
static void nn2_samples_linear(const nn2_net *m, double eps, double xi, const double *x,
                               const double *y, int i0, int i1, double *work,
                               const nn2_pass_out *p) {
  const int d = m->d, h = m->h;
  const double k0 = m->scale * m->slope, *beta = m->beta;
  double *g = work, *step = work + d, *dl = work + 2 * (size_t)d;
  for (int i = i0; i < i1; i++) {
    const double *xi_ = x + (size_t)i * d;
    double *delta = p->delta ? p->delta + (size_t)i * d : dl;
    double r0 = k0 * nn2_dot(xi_, beta, d) - y[i];
    if (p->rclean) p->rclean[i] = r0;
    for (int q = 0; q < 2; q++) { /* a_j phi'(z_j) = a_j slope, clean and attacked */
      double *c = q == 0 ? p->cstd : p->cadv;
      if (!c) continue;
      c += (size_t)i * h;
      for (int j = 0; j < h; j++) c[j] = m->a[j] * m->slope;
    }
    if (p->gin)
      for (int k = 0; k < d; k++) p->gin[(size_t)i * d + k] = 2.0 * r0 * k0 * beta[k];
    if (eps == 0) {
      if (p->delta) memset(delta, 0, (size_t)d * sizeof(double));
      if (p->radv) p->radv[i] = r0;
      continue;
    }
    if (m->attack == NN2_FGM) {
      for (int k = 0; k < d; k++) g[k] = 2.0 * r0 * k0 * beta[k];
      nn2_shrink(m->norm, g, d, eps, xi, delta);
    } else {
      double alpha = 2.0 * eps / m->steps, r = r0;
      for (int k = 0; k < d; k++) delta[k] = 0;
      for (int s = 0; s < m->steps; s++) {
        if (s > 0) r = r0 + k0 * nn2_dot(delta, beta, d);
        for (int k = 0; k < d; k++) g[k] = 2.0 * r * k0 * beta[k];
        nn2_shrink(m->norm, g, d, alpha, xi, step);
        for (int k = 0; k < d; k++) delta[k] += step[k];
        nn2_project(m->norm, delta, d, eps);
      }
    }
    if (p->radv) p->radv[i] = r0 + k0 * nn2_dot(delta, beta, d);
  }
}

/* Samples i0 <= i < i1 (x is d x n): attack each with strength eps and shrinkage xi
 * (FGM, or PGD-k of step 2 eps / k from the clean point) and record what p asks for.
 * work holds nn2_scratch(d, h) doubles. */
NN2_CLONES static void nn2_samples(const nn2_net *m, double eps, double xi,
                                   const double *x, const double *y, int i0, int i1,
                                   double *work, const nn2_pass_out *p) {
  const int d = m->d, h = m->h;
  if (m->act == NN2_LINEAR) {
    nn2_samples_linear(m, eps, xi, x, y, i0, i1, work, p);
    return;
  }
  for (int i = i0; i < i1; i++) {
    const double *xi_ = x + (size_t)i * d;
    double *z0 = work, *z = work + h, *phi = work + 2 * (size_t)h;
    double *c0 = p->cstd ? p->cstd + (size_t)i * h : work + 3 * (size_t)h;
    double *c = p->cadv ? p->cadv + (size_t)i * h : work + 4 * (size_t)h;
    double *g = work + 5 * (size_t)h, *delta = g + d, *step = delta + d;
    if (p->delta) delta = p->delta + (size_t)i * d;
    double r0 = nn2_forward(m, xi_, NULL, z0, c0, phi) - y[i];
    if (p->rclean) p->rclean[i] = r0;
    if (p->gin) nn2_input_grad(m, r0, c0, p->gin + (size_t)i * d);
    if (eps == 0) {
      if (p->delta) memset(delta, 0, (size_t)d * sizeof(double));
      if (p->cadv) memcpy(c, c0, (size_t)h * sizeof(double));
      if (p->radv) p->radv[i] = r0;
      continue;
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
          r = nn2_forward(m, delta, z0, z, c, phi) - y[i];
          cc = c;
        }
        nn2_input_grad(m, r, cc, g);
        nn2_shrink(m->norm, g, d, alpha, xi, step);
        for (int k = 0; k < d; k++) delta[k] += step[k];
        nn2_project(m->norm, delta, d, eps);
      }
    }
    double rt = nn2_forward(m, delta, z0, z, c, phi) - y[i]; /* z~ = z + theta'delta */
    if (p->radv) p->radv[i] = rt;
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

/* One pass over the samples (x is d x n). scratch holds nth * nn2_scratch(d, h). */
static void nn2_pass(const nn2_net *m, double eps, double xi, const double *x,
                     const double *y, int n, int nth, double *scratch,
                     const nn2_pass_out *p) {
  const size_t sw = nn2_scratch(m->d, m->h);
  if (m->act == NN2_LINEAR) nn2_linear_beta(m);
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
  nn2_pass_out p = {w.radv, w.rclean, NULL, w.delta, w.cadv, w.cstd};
  if (m->act == NN2_LINEAR) p.cadv = p.cstd = NULL; /* the gradient does not need them */
  double per = 4.0 * n * d * h * (m->attack == NN2_PGD ? m->steps : 1) + n * h;
  double since_check = 0;
  int status = NN2_OK, rows = 0, t;
  for (t = jb->t0; t <= jb->t_end; t++) {
    nn2_pass(m, m->eps, m->xi, jb->x, jb->y, n, jb->nth, w.scratch, &p);
    double loss = nn2_meansq(w.radv, n);
    nn2_param_grad(m, jb->x, w.delta, w.radv, w.cadv, n, jb->nth, w.G);
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
  double *gt = (double *)R_alloc((size_t)d * h, sizeof(double));
  nn2_param_grad(&m, REAL(xt), REAL(delta), REAL(radv), cadv, n, nth, gt);
  nn2_transpose(gt, h, d, REAL(grad));
  nn2_param_grad(&m, REAL(xt), NULL, REAL(f), cstd, n, nth, gt);
  nn2_transpose(gt, h, d, REAL(gstd));
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
