/* Cholesky factors for the solvers: the blocked build of a lower factor, rank-k up- and
 * downdates, solves for several right-hand sides at once, and the column append and
 * delete of an upper factor of a growing Gram matrix. The lasso's active-set method
 * (its row-space factor) and its coordinate descent (the Newton step on the settled
 * signs) use them; so can any solver that keeps a factor across steps.
 *
 * Matrices are column-major. A lower factor is n x n with leading dimension n; an
 * upper factor is k x k inside a buffer of leading dimension ld (its capacity). The
 * kernels fix the order of their operations, so results do not depend on the ISA.
 */
#include "advtrain.h"
#include "chol.h"

#if defined(__GNUC__)
/* rows i..i+3 of the vector p and of the block's four columns c0..c3 */
#define CH_LD5(v, l0, l1, l2, l3, p, i) \
  do {                                  \
    VEC_LD(v, (p) + (i));               \
    VEC_LD(l0, c0 + (i));               \
    VEC_LD(l1, c1 + (i));               \
    VEC_LD(l2, c2 + (i));               \
    VEC_LD(l3, c3 + (i));               \
  } while (0)
#endif


/* One column of a rank-one up/downdate (chol_rankm), rows lo..n-1: the rotation
 * l = (L_jk + ss w_j) / c, w_j = c w_j - s l, with 1/c passed as ic. */
ADV_CLONES static void chol_rot(double *restrict Lk, double *restrict w, int lo, int n,
                                double ss, double ic, double c, double s) {
  int j = lo;
#if defined(__GNUC__)
  for (; j + 4 <= n; j += 4) {
    vec_v4 lv, wv;
    VEC_LD(lv, Lk + j);
    VEC_LD(wv, w + j);
    lv = (lv + ss * wv) * ic;
    wv = c * wv - s * lv;
    VEC_ST(Lk + j, lv);
    VEC_ST(w + j, wv);
  }
#endif
  for (; j < n; j++) {
    double l = (Lk[j] + ss * w[j]) * ic;
    w[j] = c * w[j] - s * l;
    Lk[j] = l;
  }
}

/* m rank-one updates (sgn = 1: L L' + w w') or downdates (sgn = -1: L L' - w w') of
 * a lower Cholesky factor, the vectors n apart in W (w_p is zero before from[p]; W is
 * overwritten), in one sweep over L: column k takes the m rotations in turn while it
 * is in cache (each column's values are those of m one-vector sweeps, in the same
 * order). Returns 0 when a downdate would lose positive definiteness. */
int chol_rankm(double *L, int n, double *W, const int *from, int m, double sgn) {
  int k0 = n;
  for (int p = 0; p < m; p++) k0 = from[p] < k0 ? from[p] : k0;
  for (int k = k0; k < n; k++) {
    double *Lk = L + (size_t)k * n;
    for (int p = 0; p < m; p++) {
      double *w = W + (size_t)p * n, lkk = Lk[k], wk = w[k];
      if (k < from[p] || wk == 0) continue;
      double r2 = lkk * lkk + sgn * wk * wk;
      if (!(r2 > 1e-14 * lkk * lkk)) return 0;
      double r = sqrt(r2), c = r / lkk, sn = wk / lkk;
      Lk[k] = r;
      chol_rot(Lk, w, k + 1, n, sgn * sn, lkk / r, c, sn);
    }
  }
  return 1;
}

/* Lower Cholesky factor of the symmetric positive definite n x n matrix whose lower
 * triangle is in L (column-major, leading dimension n), in place; 0 if a pivot is not
 * positive. Right-looking and blocked: each block of CH_NB columns is factorised

 * register-blocked product kernels (adv_gemm_nt_acc), several times faster here than
 * LAPACK's dpotrf on the reference BLAS that R ships with. The upper triangle is left
 * as scratch. */
#define CH_NB 48
int chol_lower(double *L, int n) {
  const void *vmax = vmaxget();
  double *work = NULL; /* (only with a trailing block: a small factor allocates nothing) */
  for (int k0 = 0; k0 < n; k0 += CH_NB) {
    int kb = n - k0 < CH_NB ? n - k0 : CH_NB, e = k0 + kb, m = n - e;
    /* the diagonal block and the panel below it, one column at a time */
    for (int j = k0; j < e; j++) {
      double *cj = L + (size_t)j * n;
      for (int p = k0; p < j; p++)
        vec_axmy(cj + j, L + (size_t)p * n + j, L[j + (size_t)p * n], n - j);
      double dj = cj[j];
      if (!(dj > 0) || !R_FINITE(dj)) {
        vmaxset(vmax);
        return 0;
      }
      dj = sqrt(dj);
      cj[j] = dj;
      double inv = 1.0 / dj;
      for (int i = j + 1; i < n; i++) cj[i] *= inv;
    }
    if (m == 0) break;
    if (!work) work = (double *)R_alloc((size_t)n * CH_NB + 1, sizeof(double));
    /* trailing update L22 -= L21 L21', by blocks of columns, lower part only */
    for (int p = 0; p < kb; p++) {
      const double *src = L + (size_t)(k0 + p) * n + e;
      double *dst = work + (size_t)p * m;
      for (int i = 0; i < m; i++) dst[i] = -src[i];
    }
    for (int j0 = 0; j0 < m; j0 += 4 * CH_NB) {
      int w = m - j0 < 4 * CH_NB ? m - j0 : 4 * CH_NB;
      adv_gemm_nt_acc(m - j0, w, kb, work + j0, m, L + (size_t)k0 * n + e + j0, n,
                      L + (size_t)(e + j0) * n + e + j0, n);
    }
  }
  vmaxset(vmax);
  return 1;
}

/* Solve L L' X = B in place for nr <= 4 right-hand sides (columns of B, n apart).
 * Blocked by four columns of L: the forward sweep subtracts a block's four columns
 * from all right-hand sides at once, and the backward sweep accumulates a block's
 * four dot products per right-hand side in one pass, so each element of L is loaded
 * once per sweep and each element of B once per block (not once per column). With
 * GCC the loops over rows run on four-wide vectors; compiled also for AVX2. */
ADV_CLONES void chol_solve4(const double *L, int n, double *B, int nr) {
  double *b[4];
  for (int q = 0; q < nr; q++) b[q] = B + (size_t)q * n;
  int k0 = 0;
  /* forward: L y = b */
  for (; k0 + 4 <= n; k0 += 4) {
    const double *c0 = L + (size_t)k0 * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
    for (int q = 0; q < nr; q++) { /* the 4 x 4 triangle */
      double *bq = b[q];
      double y0 = bq[k0] /= c0[k0];
      double y1 = bq[k0 + 1] = (bq[k0 + 1] - c0[k0 + 1] * y0) / c1[k0 + 1];
      double y2 = bq[k0 + 2] = (bq[k0 + 2] - c0[k0 + 2] * y0 - c1[k0 + 2] * y1) / c2[k0 + 2];
      bq[k0 + 3] = (bq[k0 + 3] - c0[k0 + 3] * y0 - c1[k0 + 3] * y1 - c2[k0 + 3] * y2) /
                   c3[k0 + 3];
    }
    for (int q = 0; q < nr; q++) { /* the rows below */
      double *restrict bq = b[q];
      const double y0 = bq[k0], y1 = bq[k0 + 1], y2 = bq[k0 + 2], y3 = bq[k0 + 3];
      int i = k0 + 4;
#if defined(__GNUC__)
      for (; i + 4 <= n; i += 4) {
        vec_v4 bv, l0, l1, l2, l3;
        CH_LD5(bv, l0, l1, l2, l3, bq, i);
        bv = bv - l0 * y0 - l1 * y1 - l2 * y2 - l3 * y3;
        VEC_ST(bq + i, bv);
      }
#endif
      for (; i < n; i++) bq[i] = bq[i] - c0[i] * y0 - c1[i] * y1 - c2[i] * y2 - c3[i] * y3;
    }
  }
  for (; k0 < n; k0++) { /* the last columns one at a time */
    const double *Lk = L + (size_t)k0 * n;
    for (int q = 0; q < nr; q++) {
      double yk = b[q][k0] /= Lk[k0];
      for (int i = k0 + 1; i < n; i++) b[q][i] -= Lk[i] * yk;
    }
  }
  /* backward: L' x = y, from the bottom; first the columns past the last full block */
  int kb = n - n % 4;
  for (int k = n - 1; k >= kb; k--) {
    const double *Lk = L + (size_t)k * n;
    for (int q = 0; q < nr; q++) {
      double sq = 0;
      for (int i = k + 1; i < n; i++) sq += Lk[i] * b[q][i];
      b[q][k] = (b[q][k] - sq) / Lk[k];
    }
  }
  for (k0 = kb - 4; k0 >= 0; k0 -= 4) {
    const double *c0 = L + (size_t)k0 * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
    for (int q = 0; q < nr; q++) {
      double *restrict bq = b[q];
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int i = k0 + 4;
#if defined(__GNUC__)
      vec_v4 a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
      for (; i + 4 <= n; i += 4) {
        vec_v4 xv, l0, l1, l2, l3;
        CH_LD5(xv, l0, l1, l2, l3, bq, i);
        a0 += l0 * xv;
        a1 += l1 * xv;
        a2 += l2 * xv;
        a3 += l3 * xv;
      }
      s0 = VEC_HSUM(a0);
      s1 = VEC_HSUM(a1);
      s2 = VEC_HSUM(a2);
      s3 = VEC_HSUM(a3);
#endif
      for (; i < n; i++) {
        double xi = bq[i];
        s0 += c0[i] * xi;
        s1 += c1[i] * xi;
        s2 += c2[i] * xi;
        s3 += c3[i] * xi;
      }
      /* the 4 x 4 triangle, bottom up */
      double x3 = bq[k0 + 3] = (bq[k0 + 3] - s3) / c3[k0 + 3];
      double x2 = bq[k0 + 2] = (bq[k0 + 2] - s2 - c2[k0 + 3] * x3) / c2[k0 + 2];
      double x1 = bq[k0 + 1] = (bq[k0 + 1] - s1 - c1[k0 + 2] * x2 - c1[k0 + 3] * x3) /
                               c1[k0 + 1];
      bq[k0] = (bq[k0] - s0 - c0[k0 + 1] * x1 - c0[k0 + 2] * x2 - c0[k0 + 3] * x3) / c0[k0];
    }
  }
}

/* Delete column p of the k x k upper factor R: shift the later columns left and
 * restore the upper triangle with Givens rotations (O(k^2)). Column by column: column
 * q takes the rotations of rows (j, j + 1), j = p..q - 1, in turn (each computed from
 * column j once that column has taken the ones before it), so each column is touched
 * once, in cache, and every element gets the rotations in the order of a row sweep. */
void chol_upper_delete(double *R, int ld, int k, int p) {
  for (int j = p; j < k - 1; j++)
    memcpy(R + (size_t)j * ld, R + (size_t)(j + 1) * ld, (j + 2) * sizeof(double));
  k--;
  if (p >= k) return;
  const void *vmax = vmaxget();
  double *cs = (double *)R_alloc(2 * (size_t)(k - p), sizeof(double));
  for (int q = p; q < k; q++) {
    double *Rq = R + (size_t)q * ld;
    for (int j = p; j < q; j++) {
      double c = cs[2 * (j - p)], s = cs[2 * (j - p) + 1], u = Rq[j], v = Rq[j + 1];
      Rq[j] = c * u + s * v;
      Rq[j + 1] = -s * u + c * v;
    }
    double a = Rq[q], b = Rq[q + 1];
    double h = hypot(a, b), c = h > 0 ? a / h : 1, s = h > 0 ? b / h : 0;
    cs[2 * (q - p)] = c;
    cs[2 * (q - p) + 1] = s;
    Rq[q] = c * a + s * b;
    Rq[q + 1] = 0;
  }
  vmaxset(vmax);
}

/* Append a column to the k x k upper factor R (O(k^2)): on entry rows 0..k-1 of
 * column k hold the new column's entries against the factor's columns, hkk is its
 * diagonal entry. Returns 0 if the column is (nearly) dependent on the others
 * (column k is then scratch). The forward solve R'z = h takes row i's sum as the dot
 * product of column i of R with z (vec_dot8: contiguous, several partial sums). */
int chol_upper_append(double *R, int ld, int k, double hkk) {
  double *z = R + (size_t)k * ld, zz = 0;
  for (int i = 0; i < k; i++) {
    const double *Ri = R + (size_t)i * ld;
    z[i] = (z[i] - vec_dot8(Ri, z, i)) / Ri[i];
    zz += z[i] * z[i];
  }
  double dd = hkk - zz;
  if (!(dd > 1e-10 * hkk)) return 0;
  z[k] = sqrt(dd);
  return 1;
}

/* Solve R'R x = b in place for the k x k upper factor R: R'y = b by dot products with
 * the columns of R, then R x = y by axpy updates with them (both contiguous). */
void chol_upper_solve(const double *R, int ld, int k, double *x) {
  for (int i = 0; i < k; i++) {
    const double *Ri = R + (size_t)i * ld;
    x[i] = (x[i] - vec_dot8(Ri, x, i)) / Ri[i];
  }
  for (int i = k - 1; i >= 0; i--) {
    const double *Ri = R + (size_t)i * ld;
    double v = x[i] / Ri[i];
    x[i] = v;
    vec_axmy(x, Ri, v, i);
  }
}
