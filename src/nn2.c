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
#include "vec.h"
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

/* Scratch doubles one thread needs: one sample of nn2_samples(), or one block of
 * four of nn2_blocks() (4 h vectors of four, and four doubles to align them). */
static size_t nn2_scratch(int d, int h) {
  size_t one = 6 * (size_t)h + 3 * (size_t)d, four = 16 * (size_t)h + 4;
  return one > four ? one : four;
}

/* Per-sample arrays filled by a pass over n samples; NULL entries are skipped. */
typedef struct {
  double *radv;   /* attacked residual f(x + A) - y */
  double *rclean; /* clean residual f(x) - y */
  double *gin;    /* clean input gradient (d per sample) */
  double *delta;  /* the perturbation A (d per sample) */
  double *cadv;   /* a_j phi'(z_j) at the attacked point (h per sample) */
  double *cstd;   /* a_j phi'(z_j) at the clean point (h per sample) */
  double *cblk;   /* nn2_blocks(): cadv in block layout (h vectors of 4 per block) */
  double *ublk;   /* nn2_blocks(): the gradient's sample weights (d vectors per block) */
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

/* ------------------------------------------------- four samples at a time ---- */

/* With GCC-style vectors, the sigmoid and ReLU networks under FGM (or no attack) and
 * with few inputs (d <= NN2_BLOCK_DMAX) run four samples at a time, one per lane of a
 * vector, looping over the hidden units: no sums across lanes inside a sample, no
 * remainder loops over h, and the sigmoids of four samples share one vector division.
 * (With d = 3 and h = 50, the per-sample kernel above spends much of its time on the
 * ends of its short loops over h and on the reductions across them.) Each lane does
 * what nn2_samples() does for its sample, except that sums over hidden units run in
 * two interleaved running sums instead of eight partial sums, that the sigmoid's
 * polynomials are evaluated in another order, and that multiply-adds are fused where
 * the processor has FMA: the last bits differ from nn2_samples(). The
 * choice of kernel depends on the model, the attack and the processor, never on the
 * number of threads. Samples 4b..4b+3 form block b; lanes past n carry x = 0, y = 0,
 * so that their residuals, attacks and gradient terms are 0, and are never written
 * out. */
#if defined(__GNUC__)
#define NN2_HAVE_BLOCKS 1
#define NN2_BLOCK_DMAX 16
typedef double nn2_v4 __attribute__((vector_size(32)));
typedef unsigned long long nn2_u4 __attribute__((vector_size(32)));
#define NN2_SPLAT(c) ((nn2_v4){(c), (c), (c), (c)})
#define NN2_ABSM ((nn2_u4){~0ULL >> 1, ~0ULL >> 1, ~0ULL >> 1, ~0ULL >> 1})

/* 32-byte aligned view of R_alloc memory that has 4 spare doubles */
static double *nn2_align32(double *p) {
  uintptr_t u = (uintptr_t)p;
  return (double *)((u + 31) & ~(uintptr_t)31);
}

/* The sigmoid of nn2_sigmoid() and nn2_cap700() on four lanes, in three stages, each a
 * loop over the hidden units of its own: the range reduction, the rest up to the
 * division, the division. A loop over one long chain of dependent operations leaves
 * the processor room for few hidden units at once; three loops over shorter chains
 * keep more in flight (in a standalone measurement 14% faster than two loops, which
 * were 5% faster than one).
 * The operations are those of nn2_sigmoid() but for the order of the polynomials
 * (Estrin's scheme) and the way the results are assembled, so the last bits may differ
 * from it. Vectors go by pointer: passing 32-byte vectors by value would change the
 * ABI where AVX is off.
 * Stage 1: r = -min(|z|, 700) - k log 2 and the shifted t that holds k, with the sign
 * of z in t's sign bit (t is positive). */
NN2_INLINE void nn2_sigmoid4_red(const nn2_v4 *zp, nn2_v4 *R, nn2_v4 *T) {
  const nn2_v4 z = *zp, cap = NN2_SPLAT(700.0), shifter = NN2_SPLAT(0x1.8p52);
  const double log2e = 1.4426950408889634074;
  const double ln2hi = 6.93147180369123816490e-01, ln2lo = 1.90821492927058770002e-10;
  nn2_v4 v = (nn2_v4)((nn2_u4)z & NN2_ABSM);
  nn2_u4 below = (nn2_u4)(v < cap); /* all ones where |z| < 700; NaN and Inf get 700 */
  v = (nn2_v4)(((nn2_u4)v & below) | ((nn2_u4)cap & ~below));
  nn2_v4 t = -v * log2e + shifter, kf = t - shifter;
  *R = (-v - kf * ln2hi) - kf * ln2lo;
  *T = (nn2_v4)((nn2_u4)t | ((nn2_u4)z & ~NN2_ABSM));
}

/* Stage 2: phi = s / den and a_j phi' = q / den^2, in place of r and t. */
NN2_INLINE void nn2_sigmoid4_num(nn2_v4 *R, nn2_v4 *T, double aj, nn2_v4 *den) {
  const nn2_v4 shifter = NN2_SPLAT(0x1.8p52), r = *R, x = r * r, x2 = x * x;
  const nn2_u4 tb = (nn2_u4)*T, sign = tb & ~NN2_ABSM;
  /* e^r = N / D, N = E + r O, D = E - r O, by Estrin's scheme */
  nn2_v4 E = (1.0 + x * (5.0 / 44.0)) + x2 * (1.0 / 792.0 + x * (1.0 / 665280.0));
  nn2_v4 rO = r * ((0.5 + x * (1.0 / 66.0)) + x2 * (1.0 / 15840.0));
  nn2_v4 N = E + rO, D = E - rO;
  nn2_u4 kb = (tb & NN2_ABSM) - (nn2_u4)shifter;
  /* 2^k and 2^(k-1) from their bits (k >= -1010 here) */
  nn2_v4 two_k = (nn2_v4)((kb + 1023) << 52), half_k = (nn2_v4)((kb + 1022) << 52);
  nn2_v4 tk = two_k * N;
  *den = D + tk;
  /* (D - tk) / 2 = E (1 - 2^k) / 2 - r O (1 + 2^k) / 2 >= 0, then the sign of z */
  nn2_v4 num = E * (0.5 - half_k) - rO * (0.5 + half_k);
  *R = (nn2_v4)((nn2_u4)num ^ sign);
  *T = (aj * tk) * D;
}

/* Stage 3: the division, phi and a_j phi' in place of s and q */
NN2_INLINE void nn2_sigmoid4_div(nn2_v4 *s, nn2_v4 *q, const nn2_v4 *den) {
  const nn2_v4 inv = 1.0 / *den;
  *s = *s * inv;
  *q = (*q * inv) * inv;
}

/* The sigmoid's second and third stages over the hidden units, after the first has
 * left r and t in P and C: phi into P, a_j phi' into C (Q is scratch); f0 and f1 gain
 * the two interleaved running sums of a_j phi_j, and, where G is not NULL, G and G1
 * those of the input gradient's sums c_j theta_kj. */
NN2_INLINE void nn2_sigmoid4_rest(const int d, int h, const double *restrict w,
                                  const double *restrict a, nn2_v4 *restrict P,
                                  nn2_v4 *restrict C, nn2_v4 *restrict Q, nn2_v4 *f0,
                                  nn2_v4 *f1, nn2_v4 *G, nn2_v4 *G1) {
  for (int j = 0; j < h; j++) nn2_sigmoid4_num(P + j, C + j, a[j], Q + j);
  int j = 0;
  for (; j + 2 <= h; j += 2) {
    nn2_sigmoid4_div(P + j, C + j, Q + j);
    nn2_sigmoid4_div(P + j + 1, C + j + 1, Q + j + 1);
    *f0 = *f0 + a[j] * P[j];
    *f1 = *f1 + a[j + 1] * P[j + 1];
    if (G)
      for (int k = 0; k < d; k++) {
        G[k] = G[k] + C[j] * w[(size_t)k * h + j];
        G1[k] = G1[k] + C[j + 1] * w[(size_t)k * h + j + 1];
      }
  }
  if (j < h) {
    nn2_sigmoid4_div(P + j, C + j, Q + j);
    *f0 = *f0 + a[j] * P[j];
    if (G)
      for (int k = 0; k < d; k++) G[k] = G[k] + C[j] * w[(size_t)k * h + j];
  }
}

/* ReLU's phi and c = a_j phi' on four lanes, as in nn2_output() */
NN2_INLINE void nn2_relu4(double sl, double aj, const nn2_v4 *z, nn2_v4 *phi, nn2_v4 *c) {
  nn2_v4 az = (nn2_v4)((nn2_u4)*z & NN2_ABSM);
  *phi = 0.5 * sl * (*z + az);
  *c = (nn2_v4)((nn2_u4)NN2_SPLAT(aj * sl) & (((nn2_u4)*z >> 63) - 1)); /* z >= 0 */
}

/* Which kernels run (set by the tests through C_nn2_kernels): 0 the four-sample kernel
 * where it applies, in its AVX2/FMA version where the processor has one; 1 the same in
 * its baseline version; 2 the per-sample kernel everywhere. */
static int nn2_kernel_mode = 0;

static int nn2_blocks_apply(const nn2_net *m, double eps) {
  return nn2_kernel_mode != 2 && m->act != NN2_LINEAR &&
         (eps == 0 || m->attack == NN2_FGM) && m->d <= NN2_BLOCK_DMAX;
}

/* the L2 attack's scale for |g|^2 = ss, as in nn2_shrink() */
NN2_INLINE double nn2_l2scale(double ss, double eps, double xi2) {
  return ss > 0 ? eps / sqrt(ss + xi2) : 0.0;
}

/* What a pass of nn2_blocks() needs besides the network. */
typedef struct {
  double eps, xi;
  const double *x, *y;
  int n;
  const nn2_pass_out *p;
} nn2_block_job;

/* Blocks b0 <= b < b1 with d inputs (a constant where inlined for small d, so that the
 * loops over inputs unroll and stay in registers): radv, rclean, gin and delta as
 * nn2_samples() records them; where p->cblk is not NULL (32-byte aligned, and then
 * also p->ublk), what the fixed-attack gradient needs (nn2_block_grad()): the vectors
 * c~_j = a_j phi'(z~_j) at the attacked points (cblk + 4 (b h + j)) and the sample
 * weights u_k = (2 h^{-1/2} / n) r~ x~_k (ublk + 4 (b d + k)), 0 in lanes past n. */
NN2_INLINE void nn2_blocks_d(const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
                             double *work, const int act, const int d) {
  const int h = m->h, n = jb->n;
  const double *restrict w = m->w, *restrict a = m->a, sl = m->slope, sc = m->scale;
  const double eps = jb->eps, *x = jb->x, *y = jb->y;
  const nn2_pass_out *p = jb->p;
  nn2_v4 *cblk = (nn2_v4 *)p->cblk, *ublk = (nn2_v4 *)p->ublk;
  /* z (then z~), phi and a_j phi' per hidden unit; the inputs, the input gradient
   * and the attack per input */
  nn2_v4 *Z = (nn2_v4 *)nn2_align32(work), *P = Z + h, *C = P + h, *Q = C + h;
  nn2_v4 X[NN2_BLOCK_DMAX], G[NN2_BLOCK_DMAX], G1[NN2_BLOCK_DMAX], Dl[NN2_BLOCK_DMAX];
  const nn2_v4 zero = NN2_SPLAT(0.0);
  for (int b = b0; b < b1; b++) {
    const int i0 = 4 * b, nl = n - i0 < 4 ? n - i0 : 4;
    nn2_v4 Y = zero;
    if (nl == 4) { /* vectors from their four elements (lane by lane through memory
                      would stall the loads that follow) */
      const double *x0 = x + (size_t)i0 * d;
      Y = (nn2_v4){y[i0], y[i0 + 1], y[i0 + 2], y[i0 + 3]};
      for (int k = 0; k < d; k++)
        X[k] = (nn2_v4){x0[k], x0[d + k], x0[2 * d + k], x0[3 * d + k]};
    } else {
      for (int k = 0; k < d; k++) X[k] = zero;
      for (int l = 0; l < nl; l++) {
        Y[l] = y[i0 + l];
        for (int k = 0; k < d; k++) X[k][l] = x[(size_t)(i0 + l) * d + k];
      }
    }
    /* The clean pass: z, phi and c, f and the input gradient's sums
     * G_k = sum_j c_j theta_kj (sums over j in two interleaved running sums). ReLU
     * in one loop over the hidden units, the sigmoid in its three stages. */
    nn2_v4 f0 = zero, f1 = zero, r0, rt;
    for (int k = 0; k < d; k++) G[k] = G1[k] = zero;
    if (act == NN2_RELU) {
      int j = 0;
      for (; j + 2 <= h; j += 2) {
        nn2_v4 z = X[0] * w[j], z1 = X[0] * w[j + 1], phi, phi1;
        for (int k = 1; k < d; k++) {
          z = z + X[k] * w[(size_t)k * h + j];
          z1 = z1 + X[k] * w[(size_t)k * h + j + 1];
        }
        Z[j] = z;
        Z[j + 1] = z1;
        nn2_relu4(sl, a[j], &z, &phi, C + j);
        nn2_relu4(sl, a[j + 1], &z1, &phi1, C + j + 1);
        f0 = f0 + a[j] * phi;
        f1 = f1 + a[j + 1] * phi1;
        for (int k = 0; k < d; k++) {
          G[k] = G[k] + C[j] * w[(size_t)k * h + j];
          G1[k] = G1[k] + C[j + 1] * w[(size_t)k * h + j + 1];
        }
      }
      if (j < h) {
        nn2_v4 z = X[0] * w[j], phi;
        for (int k = 1; k < d; k++) z = z + X[k] * w[(size_t)k * h + j];
        Z[j] = z;
        nn2_relu4(sl, a[j], &z, &phi, C + j);
        f0 = f0 + a[j] * phi;
        for (int k = 0; k < d; k++) G[k] = G[k] + C[j] * w[(size_t)k * h + j];
      }
    } else {
      for (int j = 0; j < h; j++) {
        nn2_v4 z = X[0] * w[j];
        for (int k = 1; k < d; k++) z = z + X[k] * w[(size_t)k * h + j];
        Z[j] = z;
        nn2_sigmoid4_red(&z, P + j, C + j);
      }
      nn2_sigmoid4_rest(d, h, w, a, P, C, Q, &f0, &f1, G, G1);
    }
    r0 = rt = (f0 + f1) * sc - Y;
    for (int k = 0; k < d; k++) { /* the input gradient, as nn2_input_grad() */
      G[k] = 2.0 * r0 * sc * (G[k] + G1[k]);
      Dl[k] = zero;
    }
    if (eps != 0) {
      /* the attack, as nn2_shrink(); lanes past n have G = 0 and get delta = 0 */
      if (m->norm == ADV_L2) {
        nn2_v4 ss = zero;
        for (int k = 0; k < d; k++) ss = ss + G[k] * G[k];
        const double xi2 = jb->xi * jb->xi;
        const nn2_v4 s = {nn2_l2scale(ss[0], eps, xi2), nn2_l2scale(ss[1], eps, xi2),
                          nn2_l2scale(ss[2], eps, xi2), nn2_l2scale(ss[3], eps, xi2)};
        for (int k = 0; k < d; k++) Dl[k] = s * G[k];
      } else {
        for (int k = 0; k < d; k++) {
          nn2_v4 ag = (nn2_v4)((nn2_u4)G[k] & NN2_ABSM);
          nn2_u4 pos = (nn2_u4)(ag > zero);
          Dl[k] = (nn2_v4)((nn2_u4)(eps * G[k] / (ag + jb->xi)) & pos);
        }
      }
      /* the attacked pass: z~ = z + theta' delta, phi and c~ (straight to cblk), f */
      nn2_v4 *Ct = cblk ? cblk + (size_t)b * h : C;
      f0 = f1 = zero;
      if (act == NN2_RELU) {
        int j = 0;
        for (; j + 2 <= h; j += 2) {
          nn2_v4 z = Z[j], z1 = Z[j + 1], phi, phi1;
          for (int k = 0; k < d; k++) {
            z = z + Dl[k] * w[(size_t)k * h + j];
            z1 = z1 + Dl[k] * w[(size_t)k * h + j + 1];
          }
          nn2_relu4(sl, a[j], &z, &phi, Ct + j);
          nn2_relu4(sl, a[j + 1], &z1, &phi1, Ct + j + 1);
          f0 = f0 + a[j] * phi;
          f1 = f1 + a[j + 1] * phi1;
        }
        if (j < h) {
          nn2_v4 z = Z[j], phi;
          for (int k = 0; k < d; k++) z = z + Dl[k] * w[(size_t)k * h + j];
          nn2_relu4(sl, a[j], &z, &phi, Ct + j);
          f0 = f0 + a[j] * phi;
        }
      } else {
        for (int j = 0; j < h; j++) {
          nn2_v4 z = Z[j];
          for (int k = 0; k < d; k++) z = z + Dl[k] * w[(size_t)k * h + j];
          nn2_sigmoid4_red(&z, P + j, Ct + j);
        }
        nn2_sigmoid4_rest(d, h, w, a, P, Ct, Q, &f0, &f1, NULL, NULL);
      }
      rt = (f0 + f1) * sc - Y;
    } else if (cblk) {
      memcpy(cblk + (size_t)b * h, C, (size_t)h * sizeof(nn2_v4));
    }
    if (cblk) { /* lanes past n have r~ = 0 and x~ = 0, so u = 0 */
      const double f2 = 2.0 * sc / n;
      for (int k = 0; k < d; k++) ublk[(size_t)b * d + k] = f2 * rt * (X[k] + Dl[k]);
    }
    for (int l = 0; l < nl; l++) {
      if (p->gin)
        for (int k = 0; k < d; k++) p->gin[(size_t)(i0 + l) * d + k] = G[k][l];
      if (p->rclean) p->rclean[i0 + l] = r0[l];
      if (p->radv) p->radv[i0 + l] = rt[l];
      if (p->delta)
        for (int k = 0; k < d; k++) p->delta[(size_t)(i0 + l) * d + k] = Dl[k][l];
    }
  }
}

/* nn2_blocks_d() for the activation and d at hand: the activation and small d as
 * constants */
#define NN2_BLOCKS_D(A)                                                          \
  switch (m->d) {                                                                \
  case 1: nn2_blocks_d(m, jb, b0, b1, work, A, 1); break;                        \
  case 2: nn2_blocks_d(m, jb, b0, b1, work, A, 2); break;                        \
  case 3: nn2_blocks_d(m, jb, b0, b1, work, A, 3); break;                        \
  case 4: nn2_blocks_d(m, jb, b0, b1, work, A, 4); break;                        \
  default: nn2_blocks_d(m, jb, b0, b1, work, A, m->d); break;                    \
  }
NN2_INLINE void nn2_blocks_any(const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
                               double *work) {
  if (m->act == NN2_SIGMOID) {
    NN2_BLOCKS_D(NN2_SIGMOID)
  } else {
    NN2_BLOCKS_D(NN2_RELU)
  }
}
#undef NN2_BLOCKS_D

/* Columns j0 <= j < j1 of the fixed-attack gradient, G (h x d, transposed) with
 * G_jk = sum_i u_ik c~_ij, from the block layout of nn2_blocks_d() over nb blocks: four
 * hidden units at a time, each lane summing its samples block after block, the lanes
 * added at the end in a fixed order. */
NN2_INLINE void nn2_grad_blk_d(int d, int h, int nb, const nn2_v4 *ublk, const nn2_v4 *cblk,
                               int j0, int j1, double *G) {
  for (int j = j0; j < j1; j += 4) {
    const int nj = j1 - j < 4 ? j1 - j : 4;
    for (int k = 0; k < d; k++) {
      nn2_v4 acc[4] = {NN2_SPLAT(0.0), NN2_SPLAT(0.0), NN2_SPLAT(0.0), NN2_SPLAT(0.0)};
      if (nj == 4) {
        for (int b = 0; b < nb; b++) {
          const nn2_v4 u = ublk[(size_t)b * d + k], *c = cblk + (size_t)b * h + j;
          acc[0] = acc[0] + u * c[0];
          acc[1] = acc[1] + u * c[1];
          acc[2] = acc[2] + u * c[2];
          acc[3] = acc[3] + u * c[3];
        }
      } else {
        for (int b = 0; b < nb; b++)
          for (int q = 0; q < nj; q++)
            acc[q] = acc[q] + ublk[(size_t)b * d + k] * cblk[(size_t)b * h + j + q];
      }
      for (int q = 0; q < nj; q++)
        G[(size_t)k * h + j + q] = (acc[q][0] + acc[q][1]) + (acc[q][2] + acc[q][3]);
    }
  }
}

/* Each kernel in two versions: with AVX2 and FMA where the processor has them (picked
 * at run time), and for the baseline instruction set. */
#if defined(__x86_64__) && !defined(__clang__) && __GNUC__ >= 6
#define NN2_FMA_VERSION 1
__attribute__((target("avx2,fma"))) static void
nn2_blocks_fma(const nn2_net *m, const nn2_block_job *jb, int b0, int b1, double *work) {
  nn2_blocks_any(m, jb, b0, b1, work);
}
__attribute__((target("avx2,fma"))) static void
nn2_grad_blk_fma(int d, int h, int nb, const nn2_v4 *ublk, const nn2_v4 *cblk, int j0,
                 int j1, double *G) {
  nn2_grad_blk_d(d, h, nb, ublk, cblk, j0, j1, G);
}
#endif
static void nn2_blocks_base(const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
                            double *work) {
  nn2_blocks_any(m, jb, b0, b1, work);
}
static void nn2_grad_blk_base(int d, int h, int nb, const nn2_v4 *ublk, const nn2_v4 *cblk,
                              int j0, int j1, double *G) {
  nn2_grad_blk_d(d, h, nb, ublk, cblk, j0, j1, G);
}

/* 1 where the processor has AVX2 and FMA (asked once, outside parallel regions) */
static int nn2_fma_have(void) {
#ifdef NN2_FMA_VERSION
  static int have = -1;
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return have;
#else
  return 0;
#endif
}

/* 1 where the FMA versions run */
static int nn2_fma(void) { return nn2_kernel_mode == 0 && nn2_fma_have(); }

static void nn2_blocks(int fma, const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
                       double *work) {
#ifdef NN2_FMA_VERSION
  if (fma) {
    nn2_blocks_fma(m, jb, b0, b1, work);
    return;
  }
#else
  (void)fma;
#endif
  nn2_blocks_base(m, jb, b0, b1, work);
}

static void nn2_grad_blk_cols(int fma, int d, int h, int nb, const nn2_v4 *ublk,
                              const nn2_v4 *cblk, int j0, int j1, double *G) {
#ifdef NN2_FMA_VERSION
  if (fma) {
    nn2_grad_blk_fma(d, h, nb, ublk, cblk, j0, j1, G);
    return;
  }
#else
  (void)fma;
#endif
  nn2_grad_blk_base(d, h, nb, ublk, cblk, j0, j1, G);
}
#endif

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
  const nn2_v4 *ub = (const nn2_v4 *)ublk, *cb = (const nn2_v4 *)cblk;
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
