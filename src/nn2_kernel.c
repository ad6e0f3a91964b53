/* The kernels of the lazy two-layer networks (MATH.md section 6): for one sample, the
 * forward pass, the input gradient and the attack (FGM with the surrogate shrinkage of
 * section 2, or PGD-k); and the same for four samples at a time, one per vector lane,
 * where the model allows. Training, evaluation, prediction and the finite-difference
 * tests all go through these kernels (nn2.c calls them). The helpers are inlined into
 * each ISA version of the cloned kernels, hence their one file.
 */
#include "nn2.h"

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
  return vec_dot8_fold(a, phi, h) * m->scale;
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
    g[k] = f * vec_dot8_fold(c, wk, h);
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
size_t nn2_scratch(int d, int h) {
  size_t one = 6 * (size_t)h + 3 * (size_t)d, four = 16 * (size_t)h + 4;
  return one > four ? one : four;
}


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
    double r0 = k0 * vec_dot8_fold(xi_, beta, d) - y[i];
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
        if (s > 0) r = r0 + k0 * vec_dot8_fold(delta, beta, d);
        for (int k = 0; k < d; k++) g[k] = 2.0 * r * k0 * beta[k];
        nn2_shrink(m->norm, g, d, alpha, xi, step);
        for (int k = 0; k < d; k++) delta[k] += step[k];
        nn2_project(m->norm, delta, d, eps);
      }
    }
    if (p->radv) p->radv[i] = r0 + k0 * vec_dot8_fold(delta, beta, d);
  }
}

/* Samples i0 <= i < i1 (x is d x n): attack each with strength eps and shrinkage xi
 * (FGM, or PGD-k of step 2 eps / k from the clean point) and record what p asks for.
 * work holds nn2_scratch(d, h) doubles. */
NN2_CLONES void nn2_samples(const nn2_net *m, double eps, double xi, const double *x,
                            const double *y, int i0, int i1, double *work,
                            const nn2_pass_out *p) {
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

/* 32-byte aligned view of R_alloc memory that has 4 spare doubles */
double *nn2_align32(double *p) {
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
NN2_INLINE void nn2_sigmoid4_red(const vec_v4 *zp, vec_v4 *R, vec_v4 *T) {
  const vec_v4 z = *zp, cap = NN2_SPLAT(700.0), shifter = NN2_SPLAT(0x1.8p52);
  const double log2e = 1.4426950408889634074;
  const double ln2hi = 6.93147180369123816490e-01, ln2lo = 1.90821492927058770002e-10;
  vec_v4 v = (vec_v4)((nn2_u4)z & NN2_ABSM);
  nn2_u4 below = (nn2_u4)(v < cap); /* all ones where |z| < 700; NaN and Inf get 700 */
  v = (vec_v4)(((nn2_u4)v & below) | ((nn2_u4)cap & ~below));
  vec_v4 t = -v * log2e + shifter, kf = t - shifter;
  *R = (-v - kf * ln2hi) - kf * ln2lo;
  *T = (vec_v4)((nn2_u4)t | ((nn2_u4)z & ~NN2_ABSM));
}

/* Stage 2: phi = s / den and a_j phi' = q / den^2, in place of r and t. */
NN2_INLINE void nn2_sigmoid4_num(vec_v4 *R, vec_v4 *T, double aj, vec_v4 *den) {
  const vec_v4 shifter = NN2_SPLAT(0x1.8p52), r = *R, x = r * r, x2 = x * x;
  const nn2_u4 tb = (nn2_u4)*T, sign = tb & ~NN2_ABSM;
  /* e^r = N / D, N = E + r O, D = E - r O, by Estrin's scheme */
  vec_v4 E = (1.0 + x * (5.0 / 44.0)) + x2 * (1.0 / 792.0 + x * (1.0 / 665280.0));
  vec_v4 rO = r * ((0.5 + x * (1.0 / 66.0)) + x2 * (1.0 / 15840.0));
  vec_v4 N = E + rO, D = E - rO;
  nn2_u4 kb = (tb & NN2_ABSM) - (nn2_u4)shifter;
  /* 2^k and 2^(k-1) from their bits (k >= -1010 here) */
  vec_v4 two_k = (vec_v4)((kb + 1023) << 52), half_k = (vec_v4)((kb + 1022) << 52);
  vec_v4 tk = two_k * N;
  *den = D + tk;
  /* (D - tk) / 2 = E (1 - 2^k) / 2 - r O (1 + 2^k) / 2 >= 0, then the sign of z */
  vec_v4 num = E * (0.5 - half_k) - rO * (0.5 + half_k);
  *R = (vec_v4)((nn2_u4)num ^ sign);
  *T = (aj * tk) * D;
}

/* Stage 3: the division, phi and a_j phi' in place of s and q */
NN2_INLINE void nn2_sigmoid4_div(vec_v4 *s, vec_v4 *q, const vec_v4 *den) {
  const vec_v4 inv = 1.0 / *den;
  *s = *s * inv;
  *q = (*q * inv) * inv;
}

/* The sigmoid's second and third stages over the hidden units, after the first has
 * left r and t in P and C: phi into P, a_j phi' into C (Q is scratch); f0 and f1 gain
 * the two interleaved running sums of a_j phi_j, and, where G is not NULL, G and G1
 * those of the input gradient's sums c_j theta_kj. */
NN2_INLINE void nn2_sigmoid4_rest(const int d, int h, const double *restrict w,
                                  const double *restrict a, vec_v4 *restrict P,
                                  vec_v4 *restrict C, vec_v4 *restrict Q, vec_v4 *f0,
                                  vec_v4 *f1, vec_v4 *G, vec_v4 *G1) {
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
NN2_INLINE void nn2_relu4(double sl, double aj, const vec_v4 *z, vec_v4 *phi, vec_v4 *c) {
  vec_v4 az = (vec_v4)((nn2_u4)*z & NN2_ABSM);
  *phi = 0.5 * sl * (*z + az);
  *c = (vec_v4)((nn2_u4)NN2_SPLAT(aj * sl) & (((nn2_u4)*z >> 63) - 1)); /* z >= 0 */
}

/* Which kernels run (set by the tests through C_nn2_kernels): 0 the four-sample kernel
 * where it applies, in its AVX2/FMA version where the processor has one; 1 the same in
 * its baseline version; 2 the per-sample kernel everywhere. */
int nn2_kernel_mode = 0;

int nn2_blocks_apply(const nn2_net *m, double eps) {
  return nn2_kernel_mode != 2 && m->act != NN2_LINEAR &&
         (eps == 0 || m->attack == NN2_FGM) && m->d <= NN2_BLOCK_DMAX;
}

/* the L2 attack's scale for |g|^2 = ss, as in nn2_shrink() */
NN2_INLINE double nn2_l2scale(double ss, double eps, double xi2) {
  return ss > 0 ? eps / sqrt(ss + xi2) : 0.0;
}


/* Blocks b0 <= b < b1 with d inputs (a constant where inlined for small d, so that the
 * loops over inputs unroll and stay in registers): radv, rclean, gin and delta as
 * nn2_samples() records them; where p->cblk is not NULL (32-byte aligned, and then
 * also p->ublk), what the fixed-attack gradient needs (nn2_block_grad()): the vectors
 * c~_j = a_j phi'(z~_j) at the attacked points (cblk + 4 (b h + j)) and the sample
 * weights u_k = (2 h^{-1/2} / n) r~ x~_k (ublk + 4 (b d + k)), 0 in lanes past n.
 * (One function of about 140 lines, on purpose: its per-block vectors X, G, Dl live in
 * registers only while the whole block step is one inlined body for a constant d.) */
NN2_INLINE void nn2_blocks_d(const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
                             double *work, const int act, const int d) {
  const int h = m->h, n = jb->n;
  const double *restrict w = m->w, *restrict a = m->a, sl = m->slope, sc = m->scale;
  const double eps = jb->eps, *x = jb->x, *y = jb->y;
  const nn2_pass_out *p = jb->p;
  vec_v4 *cblk = (vec_v4 *)p->cblk, *ublk = (vec_v4 *)p->ublk;
  /* z (then z~), phi and a_j phi' per hidden unit; the inputs, the input gradient
   * and the attack per input */
  vec_v4 *Z = (vec_v4 *)nn2_align32(work), *P = Z + h, *C = P + h, *Q = C + h;
  vec_v4 X[NN2_BLOCK_DMAX], G[NN2_BLOCK_DMAX], G1[NN2_BLOCK_DMAX], Dl[NN2_BLOCK_DMAX];
  const vec_v4 zero = NN2_SPLAT(0.0);
  for (int b = b0; b < b1; b++) {
    const int i0 = 4 * b, nl = n - i0 < 4 ? n - i0 : 4;
    vec_v4 Y = zero;
    if (nl == 4) { /* vectors from their four elements (lane by lane through memory
                      would stall the loads that follow) */
      const double *x0 = x + (size_t)i0 * d;
      Y = (vec_v4){y[i0], y[i0 + 1], y[i0 + 2], y[i0 + 3]};
      for (int k = 0; k < d; k++)
        X[k] = (vec_v4){x0[k], x0[d + k], x0[2 * d + k], x0[3 * d + k]};
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
    vec_v4 f0 = zero, f1 = zero, r0, rt;
    for (int k = 0; k < d; k++) G[k] = G1[k] = zero;
    if (act == NN2_RELU) {
      int j = 0;
      for (; j + 2 <= h; j += 2) {
        vec_v4 z = X[0] * w[j], z1 = X[0] * w[j + 1], phi, phi1;
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
        vec_v4 z = X[0] * w[j], phi;
        for (int k = 1; k < d; k++) z = z + X[k] * w[(size_t)k * h + j];
        Z[j] = z;
        nn2_relu4(sl, a[j], &z, &phi, C + j);
        f0 = f0 + a[j] * phi;
        for (int k = 0; k < d; k++) G[k] = G[k] + C[j] * w[(size_t)k * h + j];
      }
    } else {
      for (int j = 0; j < h; j++) {
        vec_v4 z = X[0] * w[j];
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
        vec_v4 ss = zero;
        for (int k = 0; k < d; k++) ss = ss + G[k] * G[k];
        const double xi2 = jb->xi * jb->xi;
        const vec_v4 s = {nn2_l2scale(ss[0], eps, xi2), nn2_l2scale(ss[1], eps, xi2),
                          nn2_l2scale(ss[2], eps, xi2), nn2_l2scale(ss[3], eps, xi2)};
        for (int k = 0; k < d; k++) Dl[k] = s * G[k];
      } else {
        for (int k = 0; k < d; k++) {
          vec_v4 ag = (vec_v4)((nn2_u4)G[k] & NN2_ABSM);
          nn2_u4 pos = (nn2_u4)(ag > zero);
          Dl[k] = (vec_v4)((nn2_u4)(eps * G[k] / (ag + jb->xi)) & pos);
        }
      }
      /* the attacked pass: z~ = z + theta' delta, phi and c~ (straight to cblk), f */
      vec_v4 *Ct = cblk ? cblk + (size_t)b * h : C;
      f0 = f1 = zero;
      if (act == NN2_RELU) {
        int j = 0;
        for (; j + 2 <= h; j += 2) {
          vec_v4 z = Z[j], z1 = Z[j + 1], phi, phi1;
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
          vec_v4 z = Z[j], phi;
          for (int k = 0; k < d; k++) z = z + Dl[k] * w[(size_t)k * h + j];
          nn2_relu4(sl, a[j], &z, &phi, Ct + j);
          f0 = f0 + a[j] * phi;
        }
      } else {
        for (int j = 0; j < h; j++) {
          vec_v4 z = Z[j];
          for (int k = 0; k < d; k++) z = z + Dl[k] * w[(size_t)k * h + j];
          nn2_sigmoid4_red(&z, P + j, Ct + j);
        }
        nn2_sigmoid4_rest(d, h, w, a, P, Ct, Q, &f0, &f1, NULL, NULL);
      }
      rt = (f0 + f1) * sc - Y;
    } else if (cblk) {
      memcpy(cblk + (size_t)b * h, C, (size_t)h * sizeof(vec_v4));
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
NN2_INLINE void nn2_grad_blk_d(int d, int h, int nb, const vec_v4 *ublk, const vec_v4 *cblk,
                               int j0, int j1, double *G) {
  for (int j = j0; j < j1; j += 4) {
    const int nj = j1 - j < 4 ? j1 - j : 4;
    for (int k = 0; k < d; k++) {
      vec_v4 acc[4] = {NN2_SPLAT(0.0), NN2_SPLAT(0.0), NN2_SPLAT(0.0), NN2_SPLAT(0.0)};
      if (nj == 4) {
        for (int b = 0; b < nb; b++) {
          const vec_v4 u = ublk[(size_t)b * d + k], *c = cblk + (size_t)b * h + j;
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
nn2_grad_blk_fma(int d, int h, int nb, const vec_v4 *ublk, const vec_v4 *cblk, int j0,
                 int j1, double *G) {
  nn2_grad_blk_d(d, h, nb, ublk, cblk, j0, j1, G);
}
#endif
static void nn2_blocks_base(const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
                            double *work) {
  nn2_blocks_any(m, jb, b0, b1, work);
}
static void nn2_grad_blk_base(int d, int h, int nb, const vec_v4 *ublk, const vec_v4 *cblk,
                              int j0, int j1, double *G) {
  nn2_grad_blk_d(d, h, nb, ublk, cblk, j0, j1, G);
}

/* 1 where the processor has AVX2 and FMA (asked once, outside parallel regions) */
int nn2_fma_have(void) {
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
int nn2_fma(void) { return nn2_kernel_mode == 0 && nn2_fma_have(); }

void nn2_blocks(int fma, const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
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

void nn2_grad_blk_cols(int fma, int d, int h, int nb, const vec_v4 *ublk,
                       const vec_v4 *cblk, int j0, int j1, double *G) {
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

