/* Register-blocked matrix-product kernels of cnn_layers.c, included twice: once
 * compiled for AVX2 + FMA (chosen at run time when the CPU has them) and once for the
 * baseline instruction set. Define GEMM_TARGET and GEMM_NAME(x) before including. */
/* C[i + ldc j] (+)= sum_k A[i + lda k] B[k bsk + j bsj] */
GEMM_TARGET static void GEMM_NAME(gemm_nn)(int M, int N, int K, const double *restrict A, int lda,
                               const double *restrict B, size_t bsk, size_t bsj,
                               double *restrict C, int ldc, int acc) {
  int i = 0;
  for (; i + 8 <= M; i += 8) {
    int j = 0;
    for (; j + 4 <= N; j += 4) {
      v4d c00 = {0, 0, 0, 0}, c01 = c00, c02 = c00, c03 = c00;
      v4d c10 = c00, c11 = c00, c12 = c00, c13 = c00;
      const double *b = B + j * bsj;
      for (int k = 0; k < K; k++) {
        const double *a = A + i + (size_t)lda * k;
        v4d a0, a1;
        LD4(a0, a);
        LD4(a1, a + 4);
        const double *bk = b + k * bsk;
        double b0 = bk[0], b1 = bk[bsj], b2 = bk[2 * bsj], b3 = bk[3 * bsj];
        c00 += a0 * b0; c10 += a1 * b0;
        c01 += a0 * b1; c11 += a1 * b1;
        c02 += a0 * b2; c12 += a1 * b2;
        c03 += a0 * b3; c13 += a1 * b3;
      }
      double *c = C + i + (size_t)ldc * j;
      v4d cs[8] = {c00, c10, c01, c11, c02, c12, c03, c13};
      for (int q = 0; q < 4; q++) {
        double *cq = c + (size_t)ldc * q;
        if (acc) {
          v4d o0, o1;
          LD4(o0, cq);
          LD4(o1, cq + 4);
          cs[2 * q] += o0;
          cs[2 * q + 1] += o1;
        }
        ST4(cq, cs[2 * q]);
        ST4(cq + 4, cs[2 * q + 1]);
      }
    }
    for (; j < N; j++) {
      v4d c0 = {0, 0, 0, 0}, c1 = c0;
      for (int k = 0; k < K; k++) {
        const double *a = A + i + (size_t)lda * k;
        double bk = B[k * bsk + j * bsj];
        v4d a0, a1;
        LD4(a0, a);
        LD4(a1, a + 4);
        c0 += a0 * bk;
        c1 += a1 * bk;
      }
      double *c = C + i + (size_t)ldc * j;
      if (acc) {
        v4d o0, o1;
        LD4(o0, c);
        LD4(o1, c + 4);
        c0 += o0;
        c1 += o1;
      }
      ST4(c, c0);
      ST4(c + 4, c1);
    }
  }
  for (; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0.0;
      for (int k = 0; k < K; k++) s += A[i + (size_t)lda * k] * B[k * bsk + j * bsj];
      double *c = C + i + (size_t)ldc * j;
      *c = acc ? *c + s : s;
    }
}

/* C[k + ldc j] += sum_r A[r + lda k] B[r + ldb j], k < Kc, j < N, r < R */
GEMM_TARGET static void GEMM_NAME(gemm_tn)(int Kc, int N, int R, const double *restrict A, int lda,
                               const double *restrict B, int ldb, double *restrict C,
                               int ldc) {
  const int RB = 256;
  for (int r0 = 0; r0 < R; r0 += RB) {
    int rn = R - r0 < RB ? R - r0 : RB, r4 = rn - rn % 4;
    for (int k = 0; k < Kc; k += 2) {
      int k2 = k + 1 < Kc;
      const double *a0 = A + r0 + (size_t)lda * k, *a1 = k2 ? a0 + lda : a0;
      for (int j = 0; j < N; j += 4) {
        int nj = N - j < 4 ? N - j : 4;
        const double *b[4];
        for (int q = 0; q < 4; q++) b[q] = B + r0 + (size_t)ldb * (j + (q < nj ? q : 0));
        v4d s00 = {0, 0, 0, 0}, s01 = s00, s02 = s00, s03 = s00;
        v4d s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        for (int r = 0; r < r4; r += 4) {
          v4d x0, x1, y0, y1, y2, y3;
          LD4(x0, a0 + r);
          LD4(x1, a1 + r);
          LD4(y0, b[0] + r);
          LD4(y1, b[1] + r);
          LD4(y2, b[2] + r);
          LD4(y3, b[3] + r);
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        }
        double t[2][4] = {{HSUM4(s00), HSUM4(s01), HSUM4(s02), HSUM4(s03)},
                          {HSUM4(s10), HSUM4(s11), HSUM4(s12), HSUM4(s13)}};
        for (int r = r4; r < rn; r++)
          for (int q = 0; q < 4; q++) {
            t[0][q] += a0[r] * b[q][r];
            t[1][q] += a1[r] * b[q][r];
          }
        for (int q = 0; q < nj; q++) {
          C[k + (size_t)ldc * (j + q)] += t[0][q];
          if (k2) C[k + 1 + (size_t)ldc * (j + q)] += t[1][q];
        }
      }
    }
  }
}
