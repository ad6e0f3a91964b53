/* The attack, the attacked loss and the fixed-attack gradient of the linear model
 * f(x) = x'theta with squared loss (MATH.md sections 2-3). Every caller that needs
 * these numbers (adv_attack, adv_loss, training, evaluation) goes through here. */
#include "advtrain.h"
#include "vec.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* 1 / sqrt(g^2 + xi^2) for g, xi >= 0: the plain square root where g^2 + xi^2 neither
 * underflows nor overflows (the common case, several times cheaper than hypot), hypot
 * otherwise. */
static inline double inv_hypot(double g, double xi) {
  double q = g * g + xi * xi;
  if (q > 1e-290 && q < 1e290) return 1 / sqrt(q);
  return 1 / hypot(g, xi);
}

/* Shrinkage of the surrogate Linf attack for a gradient coordinate of size g >= 0:
 * g / (g + xi) (for L2 it is g / sqrt(g^2 + xi^2), see attack_vec). With xi = 0 and g = 0 no attack
 * is applied (MATH.md convention), hence 0. */
static inline double shrink_linf(double g, double xi) {
  if (xi == 0) return g > 0 ? 1.0 : 0.0;
  return g / (g + xi);
}

/* The attack of one sample when it is a multiple of one vector, A = alpha v, with
 * v = theta (L2) or v = sign(theta) (Linf with xi = 0): returns the attacked residual
 * r~ = r + A'theta = sign(r) (|r| + shift) and sets *alpha. */
static inline double attack_vec(double r, double tnorm2, double tnorm1, int norm,
                                double eps, double xi, double *alpha) {
  *alpha = 0;
  if (r == 0 || eps == 0) return r;
  double shift;
  if (norm == ADV_L2) {
    if (tnorm2 == 0) return r;
    if (xi == 0) { /* A = eps sign(r) theta / ||theta||: no division per sample */
      *alpha = eps / tnorm2 * adv_sign(r);
      shift = eps * tnorm2;
    } else {
      double g = 2 * fabs(r) * tnorm2; /* ||input gradient|| */
      double inv = inv_hypot(g, xi); /* no underflow of g^2 + xi^2 to 0 */
      *alpha = eps * 2 * r * inv;
      shift = eps * tnorm2 * (g * inv);
    }
  } else {
    *alpha = eps * adv_sign(r);
    shift = eps * tnorm1;
  }
  return r > 0 ? r + shift : r - shift;
}

/* The attacked residual x~'theta - y, given the clean residual r. The attack moves
 * the residual away from zero: r~ = sign(r) (|r| + eps * sum_j |theta_j| s_j) for
 * Linf and sign(r) (|r| + eps ||theta|| s) for L2, s the shrinkage above. */
double lin_attack_shift(double r, const double *theta, int d, double tnorm2,
                        double tnorm1, int norm, double eps, double xi) {
  if (norm == ADV_L2 || xi == 0) {
    double alpha;
    return attack_vec(r, tnorm2, tnorm1, norm, eps, xi, &alpha);
  }
  if (r == 0 || eps == 0) return r;
  double ar = fabs(r), shift = 0;
  for (int j = 0; j < d; j++) {
    double at = fabs(theta[j]);
    shift += at * shrink_linf(2 * ar * at, xi);
  }
  shift *= eps;
  return r > 0 ? r + shift : r - shift;
}

/* The perturbation A_{eps,xi} itself for one sample (length d). */
void lin_attack_row(double r, const double *theta, int d, double tnorm2, int norm,
                    double eps, double xi, double *a) {
  if (norm == ADV_L2) {
    double g = 2 * fabs(r) * tnorm2;
    /* A = eps * g_vec / sqrt(|g|^2 + xi^2), g_vec = 2 r theta */
    double scale = 0;
    if (g > 0) scale = eps * 2 * r * (xi == 0 ? 1 / g : inv_hypot(g, xi));
    for (int j = 0; j < d; j++) a[j] = scale * theta[j];
  } else {
    for (int j = 0; j < d; j++) {
      double gj = 2 * r * theta[j], ag = fabs(gj);
      a[j] = ag > 0 ? eps * gj / (ag + xi) : 0.0;
    }
  }
}

/* ---------------------------------------------------- the fused pass ---- */

/* Rows per group: enough to overlap the independent dot products of small rows, few
 * enough that a group stays in the first-level cache for its second use. */
#define LIN_GROUP 8
/* Rows at least this long go four at a time, the next four prefetched (lin_block). */
#define LIN_PREFETCH_D 256
#if defined(__GNUC__) || defined(__clang__)
#define ADV_PREFETCH(p) __builtin_prefetch((p), 0, 0)
#else
#define ADV_PREFETCH(p) ((void)(p))
#endif
static inline int lin_group(int d) {
  if (d >= LIN_PREFETCH_D) return 4; /* long rows: four at a time, see lin_block */
  int m = 2048 / (d > 0 ? d : 1);
  return m < 1 ? 1 : m > LIN_GROUP ? LIN_GROUP : m;
}

size_t lin_work_size(int n, int d, int has_b) {
  int p = d + has_b, bs = n / LIN_MAX_BLOCKS + 1;
  if (bs < LIN_MIN_BLOCK) bs = LIN_MIN_BLOCK;
  size_t nb = (size_t)(n + bs - 1) / bs;
  if (nb < 1) nb = 1;
  return nb * (2 * (size_t)p + LIN_NSCAL);
}

/* q[k] = sqrt(q[k]) for k < m, q[k] >= 0: two at a time where SSE2 is there (every
 * x86-64 processor), as the compiler cannot do it itself without -fno-math-errno */
static inline void lin_sqrt(double *q, int m) {
  int k = 0;
#if defined(__SSE2__)
  for (; k + 2 <= m; k += 2) _mm_storeu_pd(q + k, _mm_sqrt_pd(_mm_loadu_pd(q + k)));
#endif
  for (; k < m; k++) q[k] = sqrt(q[k]);
}

/* g[j] += c[0] x_0[j] + ... + c[7] x_7[j] for eight rows of length d starting at xg,
 * added in row order for each element: the same sums as eight vec_axpy_k calls, with
 * g loaded and stored once instead of eight times (for short rows the chain of loads
 * and stores through g, not arithmetic, bounds the row-by-row update). */
static inline void lin_rows8(double *restrict g, const double *restrict xg,
                             const double *restrict c, int d) {
  const double *restrict x0 = xg, *restrict x1 = x0 + d, *restrict x2 = x1 + d,
                         *restrict x3 = x2 + d, *restrict x4 = x3 + d, *restrict x5 = x4 + d,
                         *restrict x6 = x5 + d, *restrict x7 = x6 + d;
  const double c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3], c4 = c[4], c5 = c[5],
               c6 = c[6], c7 = c[7];
  ADV_SIMD
  for (int j = 0; j < d; j++)
    g[j] = g[j] + c0 * x0[j] + c1 * x1[j] + c2 * x2[j] + c3 * x3[j] + c4 * x4[j] +
           c5 * x5[j] + c6 * x6[j] + c7 * x7[j];
}

/* Rows [lo, hi) of one block: accumulate the Algorithm 1 gradient sum_i r~_i x~_i into
 * g (length d, then the intercept), optionally the difference to the clean gradient,
 * sum_i (r~_i x~_i - r_i x_i), into gd, and the scalars of lin_pass into s. The row is
 * read once: its residual, attack and gradient contribution are computed while it is
 * in cache. */
/* Also compiled for AVX2 where the loader can pick it (ADV_CLONES): the SIMD reduction
 * of vec_dot_simd is then four lanes wide instead of two, so results may differ in the
 * last bits between processors with and without AVX2, never between thread counts. */
ADV_CLONES static void lin_block(const double *restrict xt, const double *restrict y, int lo, int hi,
                      int d, const double *restrict theta, double b, int has_b,
                      const lin_par *par, double tn2, double tn1, double *restrict g,
                      double *restrict gd, double *restrict s) {
  int norm = par->norm, vec_attack = norm == ADV_L2 || par->xi == 0;
  double eps = par->eps, xi = par->xi;
  for (int j = 0; j < d + has_b; j++) g[j] = 0;
  if (gd)
    for (int j = 0; j < d + has_b; j++) gd[j] = 0;
  for (int k = 0; k < LIN_NSCAL; k++) s[k] = 0;
  if (vec_attack) {
    /* groups of rows: the residuals of a group are independent dot products, so the
     * processor overlaps them; the group's rows are still in cache for the gradient */
    double rr[LIN_GROUP], rtt[LIN_GROUP], rdd[LIN_GROUP];
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0;
    const int gs = lin_group(d);
    /* per-block constants of the attack: the shift of |r| under the true attack, and
     * for xi = 0 the multiple alpha of v (eps / ||theta|| for L2, eps for Linf) */
    const double sh0 = norm == ADV_L2 ? (tn2 == 0 ? 0.0 : eps * tn2) : eps * tn1;
    const double a0 = norm == ADV_L2 ? (tn2 == 0 ? 0.0 : eps / tn2) : eps;
    const int l2_plain = xi == 0, att = eps != 0 && (norm != ADV_L2 || tn2 != 0);
    const int l2_smooth = norm == ADV_L2 && xi != 0 && att;
    const double e2 = eps * 2;
    for (int i = lo; i < hi; i += gs) {
      int m = hi - i < gs ? hi - i : gs;
      const double *restrict xg = xt + (size_t)i * d;
      if (m == 4 && d >= LIN_PREFETCH_D) {
        /* long rows, four at a time: theta is read once for the four dot products, and
         * g once for the four updates below (theta, g and a row do not fit the
         * first-level cache together) */
        const double *restrict x0 = xg, *restrict x1 = x0 + d, *restrict x2 = x1 + d,
                               *restrict x3 = x2 + d;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : s0, s1, s2, s3)
#endif
        for (int j = 0; j < d; j++) {
          const double t = theta[j];
          s0 += x0[j] * t;
          s1 += x1[j] * t;
          s2 += x2[j] * t;
          s3 += x3[j] * t;
        }
        rr[0] = b - y[i] + s0;
        rr[1] = b - y[i + 1] + s1;
        rr[2] = b - y[i + 2] + s2;
        rr[3] = b - y[i + 3] + s3;
      } else {
        for (int k = 0; k < m; k++)
          rr[k] = b - y[i + k] + vec_dot_simd(xg + (size_t)k * d, theta, d);
      }
      int done = 0;
      if (l2_smooth) {
        /* L2 with xi > 0 (attack_vec's formulas, branch-free so that the square roots
         * and divisions of the group go through the vector units; the same numbers) */
        double al[LIN_GROUP], gg[LIN_GROUP], qq[LIN_GROUP], ok = 1;
        ADV_SIMD
        for (int k = 0; k < m; k++) {
          double g = 2 * fabs(rr[k]) * tn2;
          gg[k] = g;
          qq[k] = g * g + xi * xi;
          ok = ok * ((qq[k] > 1e-290) & (qq[k] < 1e290));
        }
        lin_sqrt(qq, m);
        ADV_SIMD
        for (int k = 0; k < m; k++) {
          double r = rr[k], inv = 1 / qq[k];
          double shift = sh0 * (gg[k] * inv);
          al[k] = e2 * r * inv;
          rtt[k] = r + copysign(shift, r); /* r > 0 ? r + shift : r - shift */
        }
        if (ok != 0) { /* else a square root would under- or overflow: see inv_hypot */
          for (int k = 0; k < m; k++) {
            double r = rr[k], rt = rtt[k];
            double ra = fabs(r) + sh0; /* the supremum, also at r = 0 */
            s0 += rt * rt;
            s1 += ra * ra;
            s2 += r * r;
            s3 += rt * al[k];
            s4 += rt;
            s5 += rt - r;
            rdd[k] = rt - r;
          }
          done = 1;
        }
      }
      for (int k = 0; k < m && !done; k++) {
        double r = rr[k], rt, alpha = 0;
        if (l2_plain) {
          /* L2 with xi = 0, or Linf with xi = 0: A = alpha v, the shift constant */
          if (r != 0 && att) {
            alpha = r > 0 ? a0 : -a0;
            rt = r > 0 ? r + sh0 : r - sh0;
          } else {
            rt = r;
          }
        } else {
          rt = attack_vec(r, tn2, tn1, norm, eps, xi, &alpha);
        }
        /* the true attack (xi = 0) shifts |r| by sh0 */
        double ra = fabs(r) + sh0;
        s0 += rt * rt;
        s1 += ra * ra;
        s2 += r * r;
        s3 += rt * alpha;
        s4 += rt;
        s5 += rt - r;
        rtt[k] = rt;
        rdd[k] = rt - r;
      }
      if (m == LIN_GROUP && d < LIN_PREFETCH_D) {
        /* a full group of short rows: g (and gd) read and written once per group,
         * each element's terms added in row order (the same sums as row by row) */
        lin_rows8(g, xg, rtt, d);
        if (gd) lin_rows8(gd, xg, rdd, d);
      } else if (gd) {
        for (int k = 0; k < m; k++) {
          const double *restrict xr = xg + (size_t)k * d;
          double c = rtt[k], c2 = rdd[k];
          ADV_SIMD
          for (int j = 0; j < d; j++) {
            g[j] += c * xr[j];
            gd[j] += c2 * xr[j];
          }
        }
      } else if (m == 4 && d >= LIN_PREFETCH_D) {
        /* the four rows' updates in one pass over g, in row order for each element; while
         * they are added in from the cache, the next four rows are requested */
        const double *restrict x0 = xg, *restrict x1 = x0 + d, *restrict x2 = x1 + d,
                               *restrict x3 = x2 + d;
        const double c0 = rtt[0], c1 = rtt[1], c2 = rtt[2], c3 = rtt[3];
        const double *nx = i + 4 < hi ? xg + 4 * (size_t)d : NULL;
        int nrows_next = nx ? (hi - i - 4 < 4 ? hi - i - 4 : 4) : 0;
        int j = 0;
        for (; j + 8 <= d; j += 8) {
          for (int q = 0; q < nrows_next; q++) ADV_PREFETCH(nx + (size_t)q * d + j);
          for (int q = 0; q < 8; q++)
            g[j + q] = g[j + q] + c0 * x0[j + q] + c1 * x1[j + q] + c2 * x2[j + q] +
                       c3 * x3[j + q];
        }
        for (; j < d; j++) g[j] = g[j] + c0 * x0[j] + c1 * x1[j] + c2 * x2[j] + c3 * x3[j];
      } else {
        for (int k = 0; k < m; k++) {
          const double *restrict xr = xg + (size_t)k * d;
          vec_axpy_k(g, xr, rtt[k], d);
        }
      }
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    s[4] = s4;
    s[5] = s5;
  } else {
    /* Linf with xi > 0: A_ij = eps g_ij / (|g_ij| + xi), g_ij = 2 r theta_j, is not a
     * multiple of one vector: O(d) more work per row, in the same pass */
    for (int i = lo; i < hi; i++) {
      const double *restrict xr = xt + (size_t)i * d;
      double r = b - y[i] + vec_dot_simd(xr, theta, d);
      double rt = lin_attack_shift(r, theta, d, tn2, tn1, norm, eps, xi);
      double ra = fabs(r) + eps * tn1; /* the true Linf attack's supremum */
      double dr = rt - r;
      s[0] += rt * rt;
      s[1] += ra * ra;
      s[2] += r * r;
      s[4] += rt;
      s[5] += dr;
      for (int j = 0; j < d; j++) {
        double gj = 2 * r * theta[j];
        double a = gj != 0 ? eps * gj / (fabs(gj) + xi) : 0.0;
        g[j] += rt * (xr[j] + a);
        if (gd) gd[j] += dr * xr[j] + rt * a;
      }
    }
  }
  if (has_b) {
    g[d] = s[4];
    if (gd) gd[d] = s[5];
  }
}

/* ------------------------------------------- the pass over short rows ---- */

/* For short rows (d <= LIN_COLS_D) the row-by-row pass spends its time on per-row
 * overheads (a horizontal sum per dot product, a scalar attack per row) rather than on
 * arithmetic. lin_pass_cols works on a column-major X instead, a chunk of rows at a
 * time: the residuals as d axpys down the columns, the attack and the sums over the
 * chunk's rows, the gradient as d dot products; every loop runs along rows, in vector
 * registers, and a chunk's columns stay in cache between the three uses. It serves
 * the attacks that are a multiple of one vector (L2; Linf with xi = 0). */
#define LIN_COLS_CHUNK 256

int lin_use_cols(int d, const lin_par *par) {
  return !par->w && d <= LIN_COLS_D && (par->norm == ADV_L2 || par->xi == 0);
}

/* Rows [lo, hi) of column-major x (n rows): the same outputs as lin_block. */
ADV_CLONES static void lin_block_cols(const double *restrict x, const double *restrict y,
                                      int n, int lo, int hi, int d,
                                      const double *restrict theta, double b, int has_b,
                                      const lin_par *par, double tn2, double tn1,
                                      double *restrict g, double *restrict gd,
                                      double *restrict s) {
  int norm = par->norm;
  double eps = par->eps, xi = par->xi;
  double r[LIN_COLS_CHUNK], rt[LIN_COLS_CHUNK], ra[LIN_COLS_CHUNK], al[LIN_COLS_CHUNK],
      q[LIN_COLS_CHUNK];
  const int att = eps != 0 && (norm != ADV_L2 || tn2 != 0);
  const int smooth = norm == ADV_L2 && xi != 0 && att;
  const double sh0 = norm == ADV_L2 ? (tn2 == 0 ? 0.0 : eps * tn2) : eps * tn1;
  const double a0 = norm == ADV_L2 ? (tn2 == 0 ? 0.0 : eps / tn2) : eps;
  const double e2 = eps * 2;
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0;
  for (int j = 0; j < d + has_b; j++) g[j] = 0;
  if (gd)
    for (int j = 0; j < d + has_b; j++) gd[j] = 0;
  for (int c0 = lo; c0 < hi; c0 += LIN_COLS_CHUNK) {
    const int m = hi - c0 < LIN_COLS_CHUNK ? hi - c0 : LIN_COLS_CHUNK;
    const double *restrict yc = y + c0;
    ADV_SIMD
    for (int i = 0; i < m; i++) r[i] = b - yc[i];
    /* r += theta_j x_j, four columns a sweep (the same sums in the same order) */
    int j = 0;
    for (; j + 4 <= d; j += 4) {
      const double t0 = theta[j], t1 = theta[j + 1], t2 = theta[j + 2], t3 = theta[j + 3];
      const double *restrict x0 = x + (size_t)j * n + c0, *restrict x1 = x0 + n,
                             *restrict x2 = x1 + n, *restrict x3 = x2 + n;
      ADV_SIMD
      for (int i = 0; i < m; i++)
        r[i] = r[i] + t0 * x0[i] + t1 * x1[i] + t2 * x2[i] + t3 * x3[i];
    }
    for (; j < d; j++) {
      const double t = theta[j], *restrict xj = x + (size_t)j * n + c0;
      ADV_SIMD
      for (int i = 0; i < m; i++) r[i] += t * xj[i];
    }
    if (smooth) {
      /* attack_vec's formulas for L2, xi > 0: g = 2 |r| ||theta||, the attacked
       * residual r + sign(r) eps ||theta|| g / sqrt(g^2 + xi^2) */
      double qmin = HUGE_VAL, qmax = 0;
#ifdef _OPENMP
#pragma omp simd reduction(min : qmin) reduction(max : qmax)
#endif
      for (int i = 0; i < m; i++) {
        double gi = 2 * fabs(r[i]) * tn2, qi = gi * gi + xi * xi;
        al[i] = gi;
        q[i] = qi;
        qmin = qi < qmin ? qi : qmin;
        qmax = qi > qmax ? qi : qmax;
      }
      lin_sqrt(q, m);
      ADV_SIMD
      for (int i = 0; i < m; i++) {
        double ri = r[i], inv = 1 / q[i];
        double shift = sh0 * (al[i] * inv);
        al[i] = e2 * ri * inv;
        rt[i] = ri + copysign(shift, ri);
        ra[i] = fabs(ri) + sh0; /* the true attack (xi = 0) */
      }
      if (!(qmin > 1e-290 && qmax < 1e290)) /* a square root under- or overflowed */
        for (int i = 0; i < m; i++) rt[i] = attack_vec(r[i], tn2, tn1, norm, eps, xi, al + i);
    } else if (att) {
      /* xi = 0: A = alpha v with alpha = sign(r) eps / ||theta|| (L2) or sign(r) eps
       * (Linf), none where r = 0 (multiplied by nz rather than branched on) */
      ADV_SIMD
      for (int i = 0; i < m; i++) {
        double ri = r[i], nz = ri != 0;
        al[i] = nz * copysign(a0, ri);
        rt[i] = ri + nz * copysign(sh0, ri);
        ra[i] = fabs(ri) + sh0; /* the supremum, also at r = 0 */
      }
    } else {
      ADV_SIMD
      for (int i = 0; i < m; i++) {
        rt[i] = r[i];
        ra[i] = r[i];
        al[i] = 0;
      }
    }
#ifdef _OPENMP
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5)
#endif
    for (int i = 0; i < m; i++) {
      double ri = r[i], ti = rt[i];
      s0 += ti * ti;
      s1 += ra[i] * ra[i];
      s2 += ri * ri;
      s3 += ti * al[i];
      s4 += ti;
      s5 += ti - ri;
    }
    /* the gradient sums down the columns, two columns at a time so that their
     * reductions overlap (each column's sum in its own order, as one at a time) */
    for (j = 0; j < d; j += 2) {
      const int two = j + 1 < d;
      const double *restrict x0 = x + (size_t)j * n + c0, *restrict x1 = two ? x0 + n : x0;
      double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
      if (gd) {
#ifdef _OPENMP
#pragma omp simd reduction(+ : a0, a1, b0, b1)
#endif
        for (int i = 0; i < m; i++) {
          double ti = rt[i], di = rt[i] - r[i];
          a0 += ti * x0[i];
          b0 += di * x0[i];
          a1 += ti * x1[i];
          b1 += di * x1[i];
        }
        gd[j] += b0;
        if (two) gd[j + 1] += b1;
      } else {
#ifdef _OPENMP
#pragma omp simd reduction(+ : a0, a1)
#endif
        for (int i = 0; i < m; i++) {
          a0 += rt[i] * x0[i];
          a1 += rt[i] * x1[i];
        }
      }
      g[j] += a0;
      if (two) g[j + 1] += a1;
    }
  }
  s[0] = s0;
  s[1] = s1;
  s[2] = s2;
  s[3] = s3;
  s[4] = s4;
  s[5] = s5;
  if (has_b) {
    g[d] = s4;
    if (gd) gd[d] = s5;
  }
}

/* ------------------------------------------------- observation weights ---- */

/* Rows [lo, hi) of row-major xt with observation weights par->w: the outputs of
 * lin_block with sample i's terms (its three losses, its gradient contribution and
 * the attack's scalar sums) multiplied by w[i]. The attack itself is per sample and
 * does not depend on the weight. Row by row, written for clarity rather than speed:
 * the unweighted runs never come here (lin_pass_block picks this kernel once per
 * block), so their speed is that of lin_block and lin_block_cols. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void lin_block_w(const double *restrict xt, const double *restrict y, int lo,
                        int hi, int d, const double *restrict theta, double b,
                        int has_b, const lin_par *par, double tn2, double tn1,
                        double *restrict g, double *restrict gd, double *restrict s) {
  const double *w = par->w;
  int norm = par->norm, vec_attack = norm == ADV_L2 || par->xi == 0;
  double eps = par->eps, xi = par->xi;
  for (int j = 0; j < d + has_b; j++) g[j] = 0;
  if (gd)
    for (int j = 0; j < d + has_b; j++) gd[j] = 0;
  for (int k = 0; k < LIN_NSCAL; k++) s[k] = 0;
  for (int i = lo; i < hi; i++) {
    double wi = w[i];
    if (wi == 0) continue; /* a row of weight zero is not in the loss */
    const double *restrict xr = xt + (size_t)i * d;
    double r = b - y[i] + vec_dot_simd(xr, theta, d), alpha = 0;
    double rt = vec_attack ? attack_vec(r, tn2, tn1, norm, eps, xi, &alpha)
                           : lin_attack_shift(r, theta, d, tn2, tn1, norm, eps, xi);
    double ra = fabs(r) + eps * (norm == ADV_L2 ? tn2 : tn1);
    double dr = rt - r;
    s[0] += wi * rt * rt;
    s[1] += wi * ra * ra;
    s[2] += wi * r * r;
    s[3] += wi * rt * alpha;
    s[4] += wi * rt;
    s[5] += wi * dr;
    if (vec_attack) {
      vec_axpy_k(g, xr, wi * rt, d);
      if (gd) vec_axpy_k(gd, xr, wi * dr, d);
    } else {
      for (int j = 0; j < d; j++) {
        double gj = 2 * r * theta[j];
        double a = gj != 0 ? eps * gj / (fabs(gj) + xi) : 0.0;
        g[j] += wi * rt * (xr[j] + a);
        if (gd) gd[j] += wi * (dr * xr[j] + rt * a);
      }
    }
  }
  if (has_b) {
    g[d] = s[4];
    if (gd) gd[d] = s[5];
  }
}

/* One pass over the n rows of xt (row-major: row i is xt[i*d .. i*d+d-1]) at theta and
 * intercept b (ignored unless has_b). Returns the three training losses in loss[0..2]
 * (surrogate attack; true attack xi = 0, as its supremum (|r| + eps ||theta||_*)^2 also
 * where r = 0; no attack). If grad is not NULL it receives
 * the fixed-attack gradient of Algorithm 1, (2/n) sum_i r~_i (x_i + A_i) (length
 * d + has_b); if gdiff is not NULL, the difference between it and the clean gradient
 * (2/n) sum_i r_i x_i. Rows are cut into blocks that depend on n only, each block's
 * partial sums are kept apart and added in block order, so the result does not
 * depend on nth. work has lin_work_size() doubles. */
/* Block k (rows k bs .. k bs + bs - 1) of lin_pass, into its slots of G, GD and S. */
static void lin_pass_block(const double *x, int cols, const double *y, int n, int d, int bs,
                           int k, const double *theta, double b, int has_b,
                           const lin_par *par, double tn2, double tn1, double *G,
                           double *GD, double *S, int want_gd) {
  int p = d + has_b, lo = k * bs, hi = lo + bs < n ? lo + bs : n;
  double *g = G + (size_t)k * p, *gd = want_gd ? GD + (size_t)k * p : NULL;
  double *s = S + (size_t)k * LIN_NSCAL;
  if (par->w)
    lin_block_w(x, y, lo, hi, d, theta, b, has_b, par, tn2, tn1, g, gd, s);
  else if (cols)
    lin_block_cols(x, y, n, lo, hi, d, theta, b, has_b, par, tn2, tn1, g, gd, s);
  else
    lin_block(x, y, lo, hi, d, theta, b, has_b, par, tn2, tn1, g, gd, s);
}

static void lin_pass_any(const double *x, int cols, const double *y, int n, int d,
                         const double *theta, double b, int has_b, const lin_par *par,
                         int nth, double *loss, double *grad, double *gdiff, double *work) {
  int p = d + has_b, bs = n / LIN_MAX_BLOCKS + 1;
  if (bs < LIN_MIN_BLOCK) bs = LIN_MIN_BLOCK;
  int nb = (n + bs - 1) / bs;
  double tn2 = adv_nrm2(d, theta), tn1 = 0;
  for (int j = 0; j < d; j++) tn1 += fabs(theta[j]);
  double *G = work, *GD = work + (size_t)nb * p, *S = work + 2 * (size_t)nb * p;
  int want_gd = gdiff != NULL;
  if ((double)n * d < LIN_PAR_MIN || nb < 2) nth = 1;
#ifndef _OPENMP
  (void)nth;
#endif
#ifdef _OPENMP
  if (nth > 1) {
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int k = 0; k < nb; k++)
      lin_pass_block(x, cols, y, n, d, bs, k, theta, b, has_b, par, tn2, tn1, G, GD, S,
                     want_gd);
  } else
#endif
  {
    /* one thread: no parallel region (entering one costs as much as a whole pass
     * over a small X) */
    for (int k = 0; k < nb; k++)
      lin_pass_block(x, cols, y, n, d, bs, k, theta, b, has_b, par, tn2, tn1, G, GD, S,
                     want_gd);
  }
  double s[LIN_NSCAL] = {0};
  for (int k = 0; k < nb; k++)
    for (int m = 0; m < LIN_NSCAL; m++) s[m] += S[(size_t)k * LIN_NSCAL + m];
  for (int m = 0; m < 3; m++) loss[m] = s[m] / n;
  if (!grad && !gdiff) return;
  double *acc[2] = {grad, gdiff}, *src[2] = {G, GD};
  for (int a = 0; a < 2; a++) {
    double *out = acc[a];
    if (!out) continue;
    for (int j = 0; j < p; j++) out[j] = 0;
    for (int k = 0; k < nb; k++) {
      const double *part = src[a] + (size_t)k * p;
      for (int j = 0; j < p; j++) out[j] += part[j];
    }
    /* the attack part of the gradient when A_i = alpha_i v */
    if (par->norm == ADV_L2) {
      for (int j = 0; j < d; j++) out[j] += s[3] * theta[j];
    } else if (par->xi == 0) {
      for (int j = 0; j < d; j++) out[j] += s[3] * adv_sign(theta[j]);
    }
    for (int j = 0; j < p; j++) out[j] *= 2.0 / n;
  }
}

void lin_pass(const double *xt, const double *y, int n, int d, const double *theta,
              double b, int has_b, const lin_par *par, int nth, double *loss,
              double *grad, double *gdiff, double *work) {
  lin_pass_any(xt, 0, y, n, d, theta, b, has_b, par, nth, loss, grad, gdiff, work);
}

/* lin_pass on column-major x (n x d); only where lin_use_cols(d, par) */
void lin_pass_cols(const double *x, const double *y, int n, int d, const double *theta,
                   double b, int has_b, const lin_par *par, int nth, double *loss,
                   double *grad, double *gdiff, double *work) {
  lin_pass_any(x, 1, y, n, d, theta, b, has_b, par, nth, loss, grad, gdiff, work);
}

/* Loss (1/n) sum (x~_i'theta - y_i)^2 at the attacked points and, when grad is not
 * NULL, the fixed-attack gradient of Algorithm 1. x is n x d column-major; this is
 * lin_pass on a row-major copy, so adv_loss() and training share one kernel. */
double lin_loss_grad(const double *x, const double *y, const double *theta, int n, int d,
                     int norm, double eps, double xi, double *grad, double *work) {
  (void)work;
  lin_par par = {norm, eps, xi, NULL};
  double loss[3];
  double *w = (double *)R_alloc(lin_work_size(n, d, 0), sizeof(double));
  if (lin_use_cols(d, &par)) {
    lin_pass_cols(x, y, n, d, theta, 0.0, 0, &par, 1, loss, grad, NULL, w);
    return loss[0];
  }
  double *xt = (double *)R_alloc((size_t)n * d > 0 ? (size_t)n * d : 1, sizeof(double));
  for (int j = 0; j < d; j++)
    for (int i = 0; i < n; i++) xt[(size_t)i * d + j] = x[i + (size_t)j * n];
  lin_pass(xt, y, n, d, theta, 0.0, 0, &par, 1, loss, grad, NULL, w);
  return loss[0];
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
