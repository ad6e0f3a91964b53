/* The out-of-line vector kernels of vec.h, each compiled also for AVX2 (ADV_CLONES).
 * They live in one file so that every caller runs the same machine code: a kernel's
 * results then cannot depend on which file calls it. */
#include "vec.h"

ADV_CLONES void vec_axpy(double *restrict r, const double *restrict x, double a, int n) {
  vec_axpy_k(r, x, a, n);
}

ADV_CLONES void vec_axmy(double *restrict r, const double *restrict x, double a, int n) {
  vec_axmy_k(r, x, a, n);
}

ADV_CLONES void vec_axpy4(double *restrict t, const double *restrict x0,
                          const double *restrict x1, const double *restrict x2,
                          const double *restrict x3, double d0, double d1, double d2,
                          double d3, int n) {
  int i = 0;
#if defined(__GNUC__)
  for (; i + 4 <= n; i += 4) {
    vec_v4 tv, v0, v1, v2, v3;
    VEC_LD(tv, t + i);
    VEC_LD(v0, x0 + i);
    VEC_LD(v1, x1 + i);
    VEC_LD(v2, x2 + i);
    VEC_LD(v3, x3 + i);
    tv = (((tv + d0 * v0) + d1 * v1) + d2 * v2) + d3 * v3;
    VEC_ST(t + i, tv);
  }
#endif
  for (; i < n; i++) t[i] = (((t[i] + d0 * x0[i]) + d1 * x1[i]) + d2 * x2[i]) + d3 * x3[i];
}

/* (four four-wide accumulators with GCC over blocks of 16, so that consecutive
 * additions do not wait on each other (two of them for a last block of 8); the same
 * sums in the same order without GCC's vectors) */
ADV_CLONES double vec_dot8(const double *a, const double *b, int n) {
  int i = 0;
  double r;
#if defined(__GNUC__)
  vec_v4 s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
  for (; i + 16 <= n; i += 16) {
    vec_v4 a0, a1, a2, a3, b0, b1, b2, b3;
    VEC_LD(a0, a + i);
    VEC_LD(a1, a + i + 4);
    VEC_LD(a2, a + i + 8);
    VEC_LD(a3, a + i + 12);
    VEC_LD(b0, b + i);
    VEC_LD(b1, b + i + 4);
    VEC_LD(b2, b + i + 8);
    VEC_LD(b3, b + i + 12);
    s0 += a0 * b0;
    s1 += a1 * b1;
    s2 += a2 * b2;
    s3 += a3 * b3;
  }
  if (i + 8 <= n) {
    vec_v4 a0, a1, b0, b1;
    VEC_LD(a0, a + i);
    VEC_LD(a1, a + i + 4);
    VEC_LD(b0, b + i);
    VEC_LD(b1, b + i + 4);
    s0 += a0 * b0;
    s1 += a1 * b1;
    i += 8;
  }
  r = (VEC_HSUM(s0) + VEC_HSUM(s1)) + (VEC_HSUM(s2) + VEC_HSUM(s3));
#else
  double s[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) s[l] += a[i + l] * b[i + l];
  if (i + 8 <= n) {
    for (int l = 0; l < 8; l++) s[l] += a[i + l] * b[i + l];
    i += 8;
  }
  r = ((((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) +
       (((s[8] + s[9]) + (s[10] + s[11])) + ((s[12] + s[13]) + (s[14] + s[15]))));
#endif
  for (; i < n; i++) r += a[i] * b[i];
  return r;
}

/* sum of a with vec_dot8's partial sums and their order (the products replaced by the
 * elements themselves) */
ADV_CLONES double vec_sum8(const double *a, int n) {
  int i = 0;
  double r;
#if defined(__GNUC__)
  vec_v4 s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
  for (; i + 16 <= n; i += 16) {
    vec_v4 a0, a1, a2, a3;
    VEC_LD(a0, a + i);
    VEC_LD(a1, a + i + 4);
    VEC_LD(a2, a + i + 8);
    VEC_LD(a3, a + i + 12);
    s0 += a0;
    s1 += a1;
    s2 += a2;
    s3 += a3;
  }
  if (i + 8 <= n) {
    vec_v4 a0, a1;
    VEC_LD(a0, a + i);
    VEC_LD(a1, a + i + 4);
    s0 += a0;
    s1 += a1;
    i += 8;
  }
  r = (VEC_HSUM(s0) + VEC_HSUM(s1)) + (VEC_HSUM(s2) + VEC_HSUM(s3));
#else
  double s[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) s[l] += a[i + l];
  if (i + 8 <= n) {
    for (int l = 0; l < 8; l++) s[l] += a[i + l];
    i += 8;
  }
  r = ((((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) +
       (((s[8] + s[9]) + (s[10] + s[11])) + ((s[12] + s[13]) + (s[14] + s[15]))));
#endif
  for (; i < n; i++) r += a[i];
  return r;
}

/* vec_dot8 of the shifted vectors a - ma and b - mb (each difference rounded once,
 * then the same products and partial sums as vec_dot8 on the shifted copies, so with
 * ma = mb = 0 it is vec_dot8): the lasso's implicit centring (lasso_cd.c). */
ADV_CLONES double vec_dot8c(const double *a, double ma, const double *b, double mb, int n) {
  int i = 0;
  double r;
#if defined(__GNUC__)
  vec_v4 s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
  if (mb == 0) { /* (b - 0 is b: the same sums, one subtraction fewer per element) */
    for (; i + 16 <= n; i += 16) {
      vec_v4 a0, a1, a2, a3, b0, b1, b2, b3;
      VEC_LD(a0, a + i);
      VEC_LD(a1, a + i + 4);
      VEC_LD(a2, a + i + 8);
      VEC_LD(a3, a + i + 12);
      VEC_LD(b0, b + i);
      VEC_LD(b1, b + i + 4);
      VEC_LD(b2, b + i + 8);
      VEC_LD(b3, b + i + 12);
      s0 += (a0 - ma) * b0;
      s1 += (a1 - ma) * b1;
      s2 += (a2 - ma) * b2;
      s3 += (a3 - ma) * b3;
    }
  }
  for (; i + 16 <= n; i += 16) {
    vec_v4 a0, a1, a2, a3, b0, b1, b2, b3;
    VEC_LD(a0, a + i);
    VEC_LD(a1, a + i + 4);
    VEC_LD(a2, a + i + 8);
    VEC_LD(a3, a + i + 12);
    VEC_LD(b0, b + i);
    VEC_LD(b1, b + i + 4);
    VEC_LD(b2, b + i + 8);
    VEC_LD(b3, b + i + 12);
    s0 += (a0 - ma) * (b0 - mb);
    s1 += (a1 - ma) * (b1 - mb);
    s2 += (a2 - ma) * (b2 - mb);
    s3 += (a3 - ma) * (b3 - mb);
  }
  if (i + 8 <= n) {
    vec_v4 a0, a1, b0, b1;
    VEC_LD(a0, a + i);
    VEC_LD(a1, a + i + 4);
    VEC_LD(b0, b + i);
    VEC_LD(b1, b + i + 4);
    s0 += (a0 - ma) * (b0 - mb);
    s1 += (a1 - ma) * (b1 - mb);
    i += 8;
  }
  r = (VEC_HSUM(s0) + VEC_HSUM(s1)) + (VEC_HSUM(s2) + VEC_HSUM(s3));
#else
  double s[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) s[l] += (a[i + l] - ma) * (b[i + l] - mb);
  if (i + 8 <= n) {
    for (int l = 0; l < 8; l++) s[l] += (a[i + l] - ma) * (b[i + l] - mb);
    i += 8;
  }
  r = ((((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) +
       (((s[8] + s[9]) + (s[10] + s[11])) + ((s[12] + s[13]) + (s[14] + s[15]))));
#endif
  for (; i < n; i++) r += (a[i] - ma) * (b[i] - mb);
  return r;
}

/* r -= a (x - m), the difference rounded once (with m = 0 it is vec_axmy) */
ADV_CLONES void vec_axmy_c(double *restrict r, const double *restrict x, double a,
                           double m, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    r[i] -= a * (x[i] - m);
    r[i + 1] -= a * (x[i + 1] - m);
    r[i + 2] -= a * (x[i + 2] - m);
    r[i + 3] -= a * (x[i + 3] - m);
  }
  for (; i < n; i++) r[i] -= a * (x[i] - m);
}

ADV_CLONES void vec_dot8x2(const double *x, const double *a, const double *c, int n,
                           double *xa, double *xc) {
  int i = 0;
  double sa, sc;
#if defined(__GNUC__)
  vec_v4 va0 = {0, 0, 0, 0}, va1 = va0, va2 = va0, va3 = va0;
  vec_v4 vc0 = va0, vc1 = va0, vc2 = va0, vc3 = va0;
  for (; i + 16 <= n; i += 16) {
    vec_v4 x0, x1, x2, x3, t0, t1, t2, t3;
    VEC_LD(x0, x + i);
    VEC_LD(x1, x + i + 4);
    VEC_LD(x2, x + i + 8);
    VEC_LD(x3, x + i + 12);
    VEC_LD(t0, a + i);
    VEC_LD(t1, a + i + 4);
    VEC_LD(t2, a + i + 8);
    VEC_LD(t3, a + i + 12);
    va0 += x0 * t0;
    va1 += x1 * t1;
    va2 += x2 * t2;
    va3 += x3 * t3;
    VEC_LD(t0, c + i);
    VEC_LD(t1, c + i + 4);
    VEC_LD(t2, c + i + 8);
    VEC_LD(t3, c + i + 12);
    vc0 += x0 * t0;
    vc1 += x1 * t1;
    vc2 += x2 * t2;
    vc3 += x3 * t3;
  }
  if (i + 8 <= n) {
    vec_v4 x0, x1, t0, t1;
    VEC_LD(x0, x + i);
    VEC_LD(x1, x + i + 4);
    VEC_LD(t0, a + i);
    VEC_LD(t1, a + i + 4);
    va0 += x0 * t0;
    va1 += x1 * t1;
    VEC_LD(t0, c + i);
    VEC_LD(t1, c + i + 4);
    vc0 += x0 * t0;
    vc1 += x1 * t1;
    i += 8;
  }
  sa = (VEC_HSUM(va0) + VEC_HSUM(va1)) + (VEC_HSUM(va2) + VEC_HSUM(va3));
  sc = (VEC_HSUM(vc0) + VEC_HSUM(vc1)) + (VEC_HSUM(vc2) + VEC_HSUM(vc3));
#else
  double ta[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  double tc[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) {
      ta[l] += x[i + l] * a[i + l];
      tc[l] += x[i + l] * c[i + l];
    }
  if (i + 8 <= n) {
    for (int l = 0; l < 8; l++) {
      ta[l] += x[i + l] * a[i + l];
      tc[l] += x[i + l] * c[i + l];
    }
    i += 8;
  }
  sa = ((((ta[0] + ta[1]) + (ta[2] + ta[3])) + ((ta[4] + ta[5]) + (ta[6] + ta[7]))) +
        (((ta[8] + ta[9]) + (ta[10] + ta[11])) + ((ta[12] + ta[13]) + (ta[14] + ta[15]))));
  sc = ((((tc[0] + tc[1]) + (tc[2] + tc[3])) + ((tc[4] + tc[5]) + (tc[6] + tc[7]))) +
        (((tc[8] + tc[9]) + (tc[10] + tc[11])) + ((tc[12] + tc[13]) + (tc[14] + tc[15]))));
#endif
  for (; i < n; i++) {
    sa += x[i] * a[i];
    sc += x[i] * c[i];
  }
  *xa = sa;
  *xc = sc;
}

/* Each element of a column serves its two dot products and its two updates in one
 * loop. */
ADV_CLONES void vec_symv2_upper(const double *G, int n, const double *a, const double *c,
                                double *restrict oa, double *restrict oc) {
  memset(oa, 0, n * sizeof(double));
  memset(oc, 0, n * sizeof(double));
  for (int b = 0; b < n; b++) {
    const double *Gb = G + (size_t)b * n;
    const double ab = a[b], cb = c[b];
    double sa = 0, sc = 0;
    int i = 0;
#if defined(__GNUC__)
    vec_v4 va = {0, 0, 0, 0}, vc = va;
    for (; i + 4 <= b; i += 4) {
      vec_v4 g, xa, xc, ya, yc;
      VEC_LD(g, Gb + i);
      VEC_LD(xa, a + i);
      VEC_LD(xc, c + i);
      VEC_LD(ya, oa + i);
      VEC_LD(yc, oc + i);
      va += g * xa;
      vc += g * xc;
      ya += g * ab;
      yc += g * cb;
      VEC_ST(oa + i, ya);
      VEC_ST(oc + i, yc);
    }
    sa = VEC_HSUM(va);
    sc = VEC_HSUM(vc);
#endif
    for (; i < b; i++) { /* the last rows above the diagonal */
      const double g = Gb[i];
      oa[i] += g * ab;
      oc[i] += g * cb;
      sa += g * a[i];
      sc += g * c[i];
    }
    oa[b] += sa + Gb[b] * ab;
    oc[b] += sc + Gb[b] * cb;
  }
}

/* The four sums of the exact line search (lasso_active.c) over the rows weighted by
 * a1 (0 on the rows left out, +-1 on the others): out = (sum a1^2 r dr, sum a1^2 dr^2,
 * sum a1 dr, sum a1 r), each with two four-wide accumulators over blocks of 8 (lanes
 * summed with VEC_HSUM, first accumulator first), then the tail; the same sums in the
 * same order without GCC's vectors. */
ADV_CLONES void vec_line_sums(const double *a1, const double *r, const double *dr, int n,
                              double *out) {
  int i = 0;
  double o[4];
#if defined(__GNUC__)
  vec_v4 z = {0, 0, 0, 0}, p0 = z, p1 = z, q0 = z, q1 = z, s0 = z, s1 = z, t0 = z, t1 = z;
  for (; i + 8 <= n; i += 8) {
    vec_v4 a0, a4, r0, r4, d0, d4;
    VEC_LD(a0, a1 + i);
    VEC_LD(a4, a1 + i + 4);
    VEC_LD(r0, r + i);
    VEC_LD(r4, r + i + 4);
    VEC_LD(d0, dr + i);
    VEC_LD(d4, dr + i + 4);
    vec_v4 m0 = a0 * a0, m4 = a4 * a4, md0 = m0 * d0, md4 = m4 * d4;
    p0 += md0 * r0;
    p1 += md4 * r4;
    q0 += md0 * d0;
    q1 += md4 * d4;
    s0 += a0 * d0;
    s1 += a4 * d4;
    t0 += a0 * r0;
    t1 += a4 * r4;
  }
  o[0] = VEC_HSUM(p0) + VEC_HSUM(p1);
  o[1] = VEC_HSUM(q0) + VEC_HSUM(q1);
  o[2] = VEC_HSUM(s0) + VEC_HSUM(s1);
  o[3] = VEC_HSUM(t0) + VEC_HSUM(t1);
#else
  double p[8] = {0}, q[8] = {0}, sa[8] = {0}, ta[8] = {0};
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) {
      double m = a1[i + l] * a1[i + l], md = m * dr[i + l];
      p[l] += md * r[i + l];
      q[l] += md * dr[i + l];
      sa[l] += a1[i + l] * dr[i + l];
      ta[l] += a1[i + l] * r[i + l];
    }
#define VEC_SUM8(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))
  o[0] = VEC_SUM8(p);
  o[1] = VEC_SUM8(q);
  o[2] = VEC_SUM8(sa);
  o[3] = VEC_SUM8(ta);
#undef VEC_SUM8
#endif
  for (; i < n; i++) {
    double m = a1[i] * a1[i], md = m * dr[i];
    o[0] += md * r[i];
    o[1] += md * dr[i];
    o[2] += a1[i] * dr[i];
    o[3] += a1[i] * r[i];
  }
  memcpy(out, o, sizeof(o));
}
