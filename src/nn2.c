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
 * results are identical. FGM passes of the sigmoid and ReLU networks, the training
 * hot path, go through nn2_samples_fast() where the processor has AVX2 and FMA: its
 * results may differ from these in the last bits (never with the thread count). */
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
  int fast;     /* 1: FGM passes of sigmoid / ReLU use nn2_samples_fast() */
  double *wt;   /* its copy of theta and a (nn2_fast_pack), refreshed by each pass */
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

/* ---- the FGM pass for sigmoid and ReLU on AVX2 + FMA ----
 *
 * The hot loop of training in the paper's settings (Figure 6: d = 3, h = 50): per
 * sample, one fused pass over the hidden units computes z_j, phi(z_j), phi'(z_j), the
 * output and a_j phi'(z_j) at the clean point, the attack follows, and one more fused
 * pass does the same at the attacked point. Four units at a time in GCC vector
 * extensions, compiled for AVX2 and FMA and used only where the processor has both
 * (nn2_net.fast, asked on the main thread); the last one to three units go through
 * the same code with zero weights (a_j = 0, so they add nothing). The sigmoid is
 * nn2_sigmoid's formula, four lanes at once. Sums over units are taken in four lanes
 * and then added pairwise, and FMA contracts products, so results can differ from
 * the portable kernel in the last bits (never with the number of threads: each sample
 * is computed by one thread). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 6 && defined(__x86_64__)
#define NN2_HAVE_FAST 1
#define NN2_FAST __attribute__((target("avx2,fma")))
typedef double nn2_v4 __attribute__((vector_size(32)));
typedef long long nn2_i4 __attribute__((vector_size(32)));

NN2_FAST static inline nn2_v4 nn2_ld4(const double *p) {
  nn2_v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

NN2_FAST static inline void nn2_st4(double *p, nn2_v4 v) { memcpy(p, &v, sizeof v); }

NN2_FAST static inline double nn2_hsum4(nn2_v4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

NN2_FAST static inline nn2_v4 nn2_splat(double c) { return (nn2_v4){c, c, c, c}; }

/* nn2_sigmoid() on four lanes, in two halves around the one division: the first
 * returns the denominator D + 2^k N and keeps what the second needs. */
typedef struct {
  nn2_v4 E, rO, p2, tk;
} nn2_sig4;

NN2_FAST static inline nn2_v4 nn2_sigmoid4_den(nn2_v4 z, nn2_sig4 *s) {
  const nn2_i4 absmask = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
  const nn2_v4 shifter = nn2_splat(0x1.8p52), cap = nn2_splat(700.0);
  nn2_v4 v = (nn2_v4)((nn2_i4)z & absmask);
  nn2_i4 below = v < cap; /* all ones where v < 700 (and v is not NaN) */
  v = (nn2_v4)(((nn2_i4)v & below) | ((nn2_i4)cap & ~below));
  nn2_v4 t = -v * 1.4426950408889634074 + shifter, kf = t - shifter;
  nn2_v4 r = (-v - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10;
  nn2_v4 x = r * r;
  s->E = 1.0 + x * (5.0 / 44.0 + x * (1.0 / 792.0 + x * (1.0 / 665280.0)));
  s->rO = r * (0.5 + x * (1.0 / 66.0 + x * (1.0 / 15840.0)));
  nn2_v4 N = s->E + s->rO, D = s->E - s->rO;
  s->p2 = (nn2_v4)(((nn2_i4)t - (nn2_i4)shifter + 1023) << 52); /* 2^k */
  s->tk = s->p2 * N;
  return D + s->tk;
}

/* phi (returned) and phi' from the first half and inv = 1 / (D + 2^k N) */
NN2_FAST static inline nn2_v4 nn2_sigmoid4_fin(nn2_v4 z, const nn2_sig4 *s, nn2_v4 inv,
                                               nn2_v4 *dphi) {
  const nn2_i4 absmask = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
  const nn2_v4 one = nn2_splat(1.0);
  nn2_v4 num = s->E * (one - s->p2) - s->rO * (one + s->p2);
  /* phi' = e / (1 + e)^2 = u (1 - u) with u = e / (1 + e) = 2^k N inv in [0, 1/2] */
  nn2_v4 u = s->tk * inv;
  *dphi = u - u * u;
  nn2_v4 phi = 0.5 * num * inv;
  return (nn2_v4)(((nn2_i4)phi & absmask) | ((nn2_i4)z & ~absmask));
}

/* Units per block of nn2_fast_units(): two vectors of four. */
#define NN2_FB 8

/* z for the two vectors of block wb at the input u */
NN2_FAST static inline void nn2_fast_z(const double *wb, const double *u, int d, nn2_v4 *z1,
                                       nn2_v4 *z2) {
  nn2_v4 a1 = u[0] * nn2_ld4(wb), a2 = u[0] * nn2_ld4(wb + 4);
  for (int k = 1; k < d; k++) {
    a1 += u[k] * nn2_ld4(wb + NN2_FB * k);
    a2 += u[k] * nn2_ld4(wb + NN2_FB * k + 4);
  }
  *z1 = a1;
  *z2 = a2;
}

/* c[j0 .. j0 + 4) = v, or only the units below h */
NN2_FAST static inline void nn2_fast_store(double *c, int j0, int h, nn2_v4 v) {
  if (j0 + 4 <= h) {
    nn2_st4(c + j0, v);
  } else {
    for (int l = 0; j0 + l < h; l++) c[j0 + l] = v[l];
  }
}

/* One fused pass over the units at the input u (length d): c_j = a_j phi'(z_j) for
 * j < h, and the output h^{-1/2} sum_j a_j phi(z_j). wt holds, per block of eight
 * units, the d weight rows theta_k and then a (see nn2_fast_pack). For the sigmoid
 * the two vectors of a block share one division: with P = den1 den2 (both in
 * [0.8, 2.4], so P neither overflows nor underflows), 1/den1 = den2 / P and
 * 1/den2 = den1 / P (at most about one unit in the last place more error). */
NN2_FAST static double nn2_fast_units(const nn2_net *m, const double *wt, const double *u,
                                      double *c) {
  const int d = m->d, h = m->h, nb = (h + NN2_FB - 1) / NN2_FB;
  const nn2_i4 absmask = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
  const nn2_v4 zero = nn2_splat(0.0), one = nn2_splat(1.0), sl = nn2_splat(m->slope);
  nn2_v4 f1 = zero, f2 = zero;
  for (int b = 0; b < nb; b++) {
    const double *wb = wt + (size_t)b * NN2_FB * (d + 1);
    nn2_v4 z1, z2, p1, p2, c1, c2;
    nn2_fast_z(wb, u, d, &z1, &z2);
    nn2_v4 a1 = nn2_ld4(wb + NN2_FB * d), a2 = nn2_ld4(wb + NN2_FB * d + 4);
    if (m->act == NN2_SIGMOID) {
      nn2_sig4 s1, s2;
      nn2_v4 den1 = nn2_sigmoid4_den(z1, &s1), den2 = nn2_sigmoid4_den(z2, &s2);
      nn2_v4 q = one / (den1 * den2), dp1, dp2;
      p1 = nn2_sigmoid4_fin(z1, &s1, den2 * q, &dp1);
      p2 = nn2_sigmoid4_fin(z2, &s2, den1 * q, &dp2);
      c1 = a1 * dp1;
      c2 = a2 * dp2;
    } else { /* ReLU */
      p1 = 0.5 * sl * (z1 + (nn2_v4)((nn2_i4)z1 & absmask));
      p2 = 0.5 * sl * (z2 + (nn2_v4)((nn2_i4)z2 & absmask));
      c1 = (nn2_v4)((nn2_i4)(a1 * sl) & (z1 >= zero));
      c2 = (nn2_v4)((nn2_i4)(a2 * sl) & (z2 >= zero));
    }
    f1 += a1 * p1;
    f2 += a2 * p2;
    nn2_fast_store(c, NN2_FB * b, h, c1);
    nn2_fast_store(c, NN2_FB * b + 4, h, c2);
  }
  return nn2_hsum4(f1 + f2) * m->scale;
}

/* g_k = f sum_j c_j theta_kj */
NN2_FAST static void nn2_fast_grad(const nn2_net *m, const double *wt, const double *c,
                                   double f, double *g) {
  const int d = m->d, h = m->h, nb = (h + NN2_FB - 1) / NN2_FB;
  double cp[NN2_FB];
  for (int k = 0; k < d; k++) {
    nn2_v4 acc1 = nn2_splat(0.0), acc2 = acc1;
    for (int b = 0; b < nb; b++) {
      const double *cb = c + (size_t)NN2_FB * b;
      if (NN2_FB * b + NN2_FB > h) { /* the last, partial block: zero-padded */
        for (int l = 0; l < NN2_FB; l++) cp[l] = NN2_FB * b + l < h ? cb[l] : 0.0;
        cb = cp;
      }
      const double *wk = wt + (size_t)b * NN2_FB * (d + 1) + NN2_FB * k;
      acc1 += nn2_ld4(cb) * nn2_ld4(wk);
      acc2 += nn2_ld4(cb + 4) * nn2_ld4(wk + 4);
    }
    g[k] = f * nn2_hsum4(acc1 + acc2);
  }
}

/* FGM samples i0 <= i < i1 with eps > 0 (what nn2_samples() computes). work holds
 * nn2_scratch(d, h) doubles. */
NN2_FAST static void nn2_samples_fast(const nn2_net *m, double eps, double xi,
                                      const double *x, const double *y, int i0, int i1,
                                      double *work, const nn2_pass_out *p) {
  const int d = m->d, h = m->h;
  const double *wt = m->wt;
  for (int i = i0; i < i1; i++) {
    const double *xi_ = x + (size_t)i * d;
    double *c0 = p->cstd ? p->cstd + (size_t)i * h : work;
    double *c = p->cadv ? p->cadv + (size_t)i * h : work + h;
    double *g = work + 2 * (size_t)h, *delta = g + d, *xa = delta + d;
    if (p->delta) delta = p->delta + (size_t)i * d;
    double r0 = nn2_fast_units(m, wt, xi_, c0) - y[i];
    if (p->rclean) p->rclean[i] = r0;
    nn2_fast_grad(m, wt, c0, 2.0 * r0 * m->scale, g);
    if (p->gin) memcpy(p->gin + (size_t)i * d, g, (size_t)d * sizeof(double));
    nn2_shrink(m->norm, g, d, eps, xi, delta);
    for (int k = 0; k < d; k++) xa[k] = xi_[k] + delta[k];
    double rt = nn2_fast_units(m, wt, xa, c) - y[i];
    if (p->radv) p->radv[i] = rt;
  }
}

/* The weights in the layout nn2_fast_units() reads: for each block of eight units,
 * the d rows theta_k (eight values each) and then a, zero-padded past h. */
static size_t nn2_fast_size(int d, int h) {
  return (size_t)(h + NN2_FB - 1) / NN2_FB * NN2_FB * (d + 1);
}

static void nn2_fast_pack(const nn2_net *m) {
  const int d = m->d, h = m->h, nb = (h + NN2_FB - 1) / NN2_FB;
  for (int b = 0; b < nb; b++) {
    double *wb = m->wt + (size_t)b * NN2_FB * (d + 1);
    for (int l = 0; l < NN2_FB; l++) {
      int j = NN2_FB * b + l;
      for (int k = 0; k < d; k++) wb[NN2_FB * k + l] = j < h ? m->w[(size_t)k * h + j] : 0.0;
      wb[NN2_FB * d + l] = j < h ? m->a[j] : 0.0;
    }
  }
}

/* 1 when the processor has AVX2 and FMA (asked on the main thread) */
static int nn2_fast_cpu(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define NN2_HAVE_FAST 0
static size_t nn2_fast_size(int d, int h) { return (size_t)d * h; }
static void nn2_fast_pack(const nn2_net *m) { (void)m; }
static int nn2_fast_cpu(void) { return 0; }
#endif

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
#if NN2_HAVE_FAST
  if (m->fast && m->attack == NN2_FGM && eps > 0) {
    nn2_samples_fast(m, eps, xi, x, y, i0, i1, work, p);
    return;
  }
#endif
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
  if (m->fast) nn2_fast_pack(m);
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

/* Whether FGM passes may use nn2_samples_fast() (the tests compare both kernels). */
static int nn2_fast_allowed = 1;

/* c(allowed before the call, available on this processor) as 0/1; on = NA only asks. */
SEXP C_nn2_fast(SEXP on) {
  SEXP out = PROTECT(allocVector(INTSXP, 2));
  INTEGER(out)[0] = nn2_fast_allowed;
  INTEGER(out)[1] = nn2_fast_cpu();
  int v = asLogical(on);
  if (v != NA_LOGICAL) nn2_fast_allowed = v;
  UNPROTECT(1);
  return out;
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
  m->fast = nn2_fast_allowed && m->act != NN2_LINEAR && m->attack == NN2_FGM && nn2_fast_cpu();
  m->wt = m->fast ? (double *)R_alloc(nn2_fast_size(m->d, m->h), sizeof(double))
                  : NULL;
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
