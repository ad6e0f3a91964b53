/* Single-precision product kernel of cnn_layers.c (precision = "single"), included
 * twice like cnn_gemm.h: once compiled for AVX2 + FMA (picked at run time when the CPU
 * has them) and once for the baseline instruction set. Define GEMM_TARGET and
 * GEMM_NAME(x) before including.
 *
 * C[i + ldc j] (+)= sum_k A(i, k) B(k, j), A(i, k) = A[i ars + k acs], B(k, j) =
 * B[k brs + j bcs]; A, B and C are double. Blocks of A (SMC x SKC) and B (SKC x SNC) are
 * rounded to float and packed into strips of SMR rows / SNR columns; a 16 x 6 register
 * tile accumulates over one SKC block in float and is then added to C in double. The
 * blocking is fixed, so the result does not depend on anything but the operands and
 * the instruction set.
 *
 * Convolutions of a full chunk (B = SMR = 16 samples, so that a strip of SMR rows is one
 * output position of all samples) skip the im2col matrix: with cv->la set, A is the
 * virtual im2col matrix of cv->fin, a float copy of the layer input, read through a
 * table of pointers (no packing); with cv->lc set, C is the virtual im2col matrix of
 * cv->fout, a float buffer for the layer's input gradient, and the tile is added
 * straight into it (the adjoint col2im; C, ldc and acc are then unused); with cv->lw
 * set, A is the transpose of the virtual im2col matrix of cv->fin (weight gradients;
 * K must then be a multiple of SMR, which it is: B * positions). */
/* The 16 x 6 register tile of the two kernels below: twelve vectors of eight floats,
 * one step of the k loop (a: 16 floats of A, b: 6 floats of B), and the store. */
#ifndef SK_TILE_INIT
#define SK_TILE_INIT                                                                     \
  v8f c00 = {0, 0, 0, 0, 0, 0, 0, 0}, c01 = c00, c02 = c00, c03 = c00, c04 = c00,        \
      c05 = c00;                                                                         \
  v8f c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00
#define SK_TILE_STEP(a, b)                                                               \
  do {                                                                                   \
    v8f a0, a1;                                                                          \
    LD8F(a0, (a));                                                                       \
    LD8F(a1, (a) + 8);                                                                   \
    float b0 = (b)[0], b1 = (b)[1], b2 = (b)[2], b3 = (b)[3], b4 = (b)[4], b5 = (b)[5];  \
    c00 += a0 * b0; c10 += a1 * b0;                                                      \
    c01 += a0 * b1; c11 += a1 * b1;                                                      \
    c02 += a0 * b2; c12 += a1 * b2;                                                      \
    c03 += a0 * b3; c13 += a1 * b3;                                                      \
    c04 += a0 * b4; c14 += a1 * b4;                                                      \
    c05 += a0 * b5; c15 += a1 * b5;                                                      \
  } while (0)
#define SK_TILE_STORE(t)                                                                 \
  do {                                                                                   \
    ST8F((t), c00); ST8F((t) + 8, c10);                                                  \
    ST8F((t) + 16, c01); ST8F((t) + 24, c11);                                            \
    ST8F((t) + 32, c02); ST8F((t) + 40, c12);                                            \
    ST8F((t) + 48, c03); ST8F((t) + 56, c13);                                            \
    ST8F((t) + 64, c04); ST8F((t) + 72, c14);                                            \
    ST8F((t) + 80, c05); ST8F((t) + 88, c15);                                            \
  } while (0)
#endif

GEMM_TARGET static void GEMM_NAME(skern)(int kc, const float *restrict a,
                                         const float *restrict b, float *restrict t) {
  SK_TILE_INIT;
  for (int k = 0; k < kc; k++) {
    SK_TILE_STEP(a, b);
    a += SMR;
    b += SNR;
  }
  SK_TILE_STORE(t);
}

/* the same with A read through a table of strip pointers (the virtual im2col matrix of
 * a float copy of the layer input: ap[k] points at the 16 samples under tap k) */
GEMM_TARGET static void GEMM_NAME(skern_ind)(int kc, const float *const *restrict ap,
                                             const float *restrict b, float *restrict t) {
  SK_TILE_INIT;
  for (int k = 0; k < kc; k++) {
    SK_TILE_STEP(ap[k], b);
    b += SNR;
  }
  SK_TILE_STORE(t);
}

GEMM_TARGET static void GEMM_NAME(sgemm)(int M, int N, int K, const double *restrict A,
                                         size_t ars, size_t acs, const double *restrict B,
                                         size_t brs, size_t bcs, double *restrict C,
                                         int ldc, int acc, float *restrict pa,
                                         float *restrict pb, const sconv *cv) {
  float t[SMR * SNR];
  for (int jc = 0; jc < N; jc += SNC) {
    int nc = N - jc < SNC ? N - jc : SNC;
    for (int pc = 0; pc < K; pc += SKC) {
      int kc = K - pc < SKC ? K - pc : SKC, add = acc || pc > 0;
      /* pack B(pc.., jc..) into strips of SNR columns, zero-padded */
      for (int j0 = 0; j0 < nc; j0 += SNR) {
        float *p = pb + (size_t)j0 * kc;
        int nq = nc - j0 < SNR ? nc - j0 : SNR;
        if (brs == 1) {
          for (int q = 0; q < SNR; q++) {
            if (q < nq) {
              const double *s = B + pc + (size_t)(jc + j0 + q) * bcs;
              for (int k = 0; k < kc; k++) p[(size_t)k * SNR + q] = (float)s[k];
            } else {
              for (int k = 0; k < kc; k++) p[(size_t)k * SNR + q] = 0.0f;
            }
          }
        } else {
          for (int k = 0; k < kc; k++) {
            const double *s = B + (size_t)(pc + k) * brs + (size_t)(jc + j0) * bcs;
            for (int q = 0; q < SNR; q++)
              p[(size_t)k * SNR + q] = q < nq ? (float)s[(size_t)q * bcs] : 0.0f;
          }
        }
      }
      for (int ic = 0; ic < M; ic += SMC) {
        int mc = M - ic < SMC ? M - ic : SMC;
        /* pack A(ic.., pc..) into strips of SMR rows, zero-padded */
        for (int i0 = 0; i0 < mc; i0 += SMR) {
          float *p = pa + (size_t)i0 * kc;
          int nr = mc - i0 < SMR ? mc - i0 : SMR;
          if (cv && cv->la) {
            /* rows ic + i0 .. + 15: output position po of the 16 samples; the table of
             * pointers into the float input replaces the packed strip */
            const cnn_layer *L = cv->la;
            const float **tb = cv->tab + (size_t)(i0 / SMR) * SKC;
            int po = (ic + i0) / SMR, oi = po % L->ho, oj = po / L->ho;
            const float *base = cv->fin + (size_t)SMR * (oi + (size_t)L->h * oj);
            for (int k = 0; k < kc; k++) {
              int tap = pc + k, si = oi + cv->tdh[tap], sj = oj + cv->tdw[tap];
              tb[k] = (si < 0 || si >= L->h || sj < 0 || sj >= L->w) ? cv->zero
                                                                      : base + cv->toff[tap];
            }
          } else if (cv && cv->lw) {
            /* A is the transposed virtual im2col matrix of cv->fin (weight gradients):
             * rows = taps, k = (position, sample); 16 x 16 transposes per position */
            const cnn_layer *L = cv->lw;
            for (int k0 = 0; k0 < kc; k0 += SMR) {
              int po = (pc + k0) / SMR, oi = po % L->ho, oj = po / L->ho;
              const float *base = cv->fin + (size_t)SMR * (oi + (size_t)L->h * oj);
              for (int r = 0; r < SMR; r++) {
                const float *sp = cv->zero;
                int tap = ic + i0 + r;
                if (r < nr) {
                  int si = oi + cv->tdh[tap], sj = oj + cv->tdw[tap];
                  if (si >= 0 && si < L->h && sj >= 0 && sj < L->w) sp = base + cv->toff[tap];
                }
                float *d = p + (size_t)k0 * SMR + r;
                for (int b = 0; b < SMR; b++) d[(size_t)b * SMR] = sp[b];
              }
            }
          } else if (ars == 1) {
            for (int k = 0; k < kc; k++) {
              const double *s = A + (ic + i0) + (size_t)(pc + k) * acs;
              float *d = p + (size_t)k * SMR;
              if (nr == SMR) {
                for (int r = 0; r < SMR; r++) d[r] = (float)s[r];
              } else {
                for (int r = 0; r < SMR; r++) d[r] = r < nr ? (float)s[r] : 0.0f;
              }
            }
          } else {
            for (int r = 0; r < SMR; r++) {
              if (r < nr) {
                const double *s = A + (size_t)(ic + i0 + r) * ars + (size_t)pc * acs;
                for (int k = 0; k < kc; k++) p[(size_t)k * SMR + r] = (float)s[(size_t)k * acs];
              } else {
                for (int k = 0; k < kc; k++) p[(size_t)k * SMR + r] = 0.0f;
              }
            }
          }
        }
        for (int j0 = 0; j0 < nc; j0 += SNR) {
          int nq = nc - j0 < SNR ? nc - j0 : SNR;
          for (int i0 = 0; i0 < mc; i0 += SMR) {
            int nr = mc - i0 < SMR ? mc - i0 : SMR;
            if (cv && cv->la)
              GEMM_NAME(skern_ind)(kc, cv->tab + (size_t)(i0 / SMR) * SKC,
                                   pb + (size_t)j0 * kc, t);
            else
              GEMM_NAME(skern)(kc, pa + (size_t)i0 * kc, pb + (size_t)j0 * kc, t);
            if (cv && cv->lc) {
              const cnn_layer *L = cv->lc;
              int po = (ic + i0) / SMR, oi = po % L->ho, oj = po / L->ho;
              float *base = cv->fout + (size_t)SMR * (oi + (size_t)L->h * oj);
              for (int q = 0; q < nq; q++) {
                int tap = jc + j0 + q, si = oi + cv->tdh[tap], sj = oj + cv->tdw[tap];
                if (si < 0 || si >= L->h || sj < 0 || sj >= L->w) continue;
                float *c = base + cv->toff[tap];
                const float *tq = t + SMR * q;
                for (int r = 0; r < SMR; r++) c[r] += tq[r];
              }
              continue;
            }
            if (cv && (cv->bias || cv->relu)) {
              /* the bias with the first block, the ReLU with the last */
              int relu = cv->relu && pc + kc >= K;
              for (int q = 0; q < nq; q++) {
                double *c = C + (ic + i0) + (size_t)ldc * (jc + j0 + q);
                const float *tq = t + SMR * q;
                const double bq = cv->bias && !add ? cv->bias[jc + j0 + q] : 0.0;
                if (nr == SMR) {
                  for (int r = 0; r < SMR; r++) {
                    double v = (add ? c[r] : bq) + (double)tq[r];
                    c[r] = relu ? (v > 0 ? v : 0.0) : v;
                  }
                } else {
                  for (int r = 0; r < nr; r++) {
                    double v = (add ? c[r] : bq) + (double)tq[r];
                    c[r] = relu ? (v > 0 ? v : 0.0) : v;
                  }
                }
              }
              continue;
            }
            if (nr == SMR) {
              for (int q = 0; q < nq; q++) {
                double *c = C + (ic + i0) + (size_t)ldc * (jc + j0 + q);
                const float *tq = t + SMR * q;
                if (add) {
                  for (int r = 0; r < SMR; r++) c[r] += (double)tq[r];
                } else {
                  for (int r = 0; r < SMR; r++) c[r] = (double)tq[r];
                }
              }
              continue;
            }
            for (int q = 0; q < nq; q++) {
              double *c = C + (ic + i0) + (size_t)ldc * (jc + j0 + q);
              const float *tq = t + SMR * q;
              if (add) {
                for (int r = 0; r < nr; r++) c[r] += (double)tq[r];
              } else {
                for (int r = 0; r < nr; r++) c[r] = (double)tq[r];
              }
            }
          }
        }
      }
    }
  }
}
