/* Layers of the small CNN / MLP trainer: forward and backward passes of a chunk.
 *
 * A chunk of B <= CNN_CHUNK samples is processed by one thread. Activations are
 * B x (P * C) column-major matrices (sample fastest), so a convolution is one
 * im2col product (B * P_out) x K times K x C_out and a dense layer one product
 * B x I times I x O (mm() below: R's dgemm, or the package's own double or single
 * precision kernels). Convolution weights are K x C_out with K = k * k * C_in indexed
 * kh + k * (kw + k * c); dense weights are I x O.
 *
 * Single precision (net->gemm == 2, adv_cnn(precision = "single")): activations,
 * weights and gradients stay double; each convolution product rounds its operands to
 * float (cnn_sgemm.h); dense layers stay in double (mm_dense). For a full chunk (B = 16) a convolution never forms the im2col
 * matrix: the forward pass and the weight gradient read a float copy of the layer
 * input through tap tables, the input gradient is the correlation of the output
 * gradient with the flipped kernel (>= 6 input channels) or a col2im summed in float
 * (fewer), and a plain ReLU after the convolution is applied as the product is stored.
 * Results depend on the instruction set (AVX2/FMA or not), not on the thread count. */
#include "advtrain.h"
#include <string.h>

/* elementwise loops (no reductions, so results are unchanged) are vectorised */
#ifdef _OPENMP
#define CNN_SIMD _Pragma("omp simd")
#else
#define CNN_SIMD
#endif

/* ---- matrix products ------------------------------------------------------------
 * Three shapes occur: C = A B (forward), C += A' B (weight gradients) and C = A B'
 * (input gradients). They go either to R's BLAS (dgemm) or to the register-blocked
 * kernels below, chosen per call from R (option advtrain.cnn_gemm). The kernels use
 * GCC/clang vector extensions; on x86-64 Linux with GCC an AVX2/FMA clone is picked
 * at run time (target_clones), elsewhere plain C loops of the same order are used. */

/* blocking of the single-precision kernel (cnn_sgemm.h): register tile SMR x SNR,
 * packed blocks SMC x SKC of A and SKC x SNC of B (sizes of cnn_work's pa and pb) */
#define SMR 16
#define SNR 6
#define SMC 128
#define SKC 256
#define SNC 384

/* the fused im2col / col2im of the single-precision kernel (cnn_sgemm.h) */
typedef struct {
  const cnn_layer *la, *lc, *lw;
  const float *fin, *zero;
  const float **tab;
  const double *bias;
  float *fout;
  /* per tap: row and column shift, and the offset of the tap's pixel from the output
   * position's (conv_taps) */
  const int *tdh, *tdw;
  const ptrdiff_t *toff;
  int relu; /* apply max(0, .) as the last block is stored (a ReLU after the conv) */
} sconv;

/* the tap tables of sconv for layer L, in w's buffers */
static void conv_taps(const cnn_layer *L, cnn_work *w, sconv *cv) {
  int k = L->k, K = k * k * L->c;
  for (int tap = 0; tap < K; tap++) {
    int kh = tap % k, kw = (tap / k) % k, ch = tap / (k * k);
    w->tdh[tap] = kh - L->pad;
    w->tdw[tap] = kw - L->pad;
    w->toff[tap] = (ptrdiff_t)SMR * ((kh - L->pad) +
                                    (ptrdiff_t)L->h * ((kw - L->pad) + (ptrdiff_t)L->w * ch));
  }
  cv->tdh = w->tdh;
  cv->tdw = w->tdw;
  cv->toff = w->toff;
}
static const float zero16[16] = {0};

#if defined(__GNUC__)
typedef double v4d __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));
/* macros, not functions: passing 32-byte vectors by value would change the ABI */
#define LD4(v, p) memcpy(&(v), (p), sizeof(v4d))
#define ST4(p, v) memcpy((p), &(v), sizeof(v4d))
#define LD8F(v, p) memcpy(&(v), (p), sizeof(v8f))
#define ST8F(p, v) memcpy((p), &(v), sizeof(v8f))
#define HSUM4(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))
#if defined(__x86_64__) && (defined(__GNUC__) && !defined(__clang__) || \
                            defined(__clang_major__) && __clang_major__ >= 6)
#define CNN_HAVE_AVX2 1
#define GEMM_TARGET __attribute__((target("avx2,fma")))
#define GEMM_NAME(x) x##_avx2
#include "cnn_gemm.h"
#include "cnn_sgemm.h"
#undef GEMM_TARGET
#undef GEMM_NAME
/* The single-precision kernel once more for AVX-512: the 16 x 6 tile is six vectors of
 * sixteen floats instead of twelve of eight, so one step of the k loop is six FMA
 * instructions instead of twelve. Each element still gets the same fused multiply-adds
 * in the same order, so its results are those of the AVX2 build, bit for bit (tested). */
#undef SK_TILE_INIT
#undef SK_TILE_STEP
#undef SK_TILE_STORE
typedef float v16f __attribute__((vector_size(64)));
#define LD16F(v, p) memcpy(&(v), (p), sizeof(v16f))
#define ST16F(p, v) memcpy((p), &(v), sizeof(v16f))
#define SK_TILE_INIT                                                                     \
  v16f c0 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, c1 = c0, c2 = c0, c3 = c0, \
       c4 = c0, c5 = c0
#define SK_TILE_STEP(a, b)                                                               \
  do {                                                                                   \
    v16f a0;                                                                             \
    LD16F(a0, (a));                                                                      \
    c0 += a0 * (b)[0];                                                                   \
    c1 += a0 * (b)[1];                                                                   \
    c2 += a0 * (b)[2];                                                                   \
    c3 += a0 * (b)[3];                                                                   \
    c4 += a0 * (b)[4];                                                                   \
    c5 += a0 * (b)[5];                                                                   \
  } while (0)
#define SK_TILE_STORE(t)                                                                 \
  do {                                                                                   \
    ST16F((t), c0); ST16F((t) + 16, c1); ST16F((t) + 32, c2);                            \
    ST16F((t) + 48, c3); ST16F((t) + 64, c4); ST16F((t) + 80, c5);                       \
  } while (0)
#define CNN_HAVE_AVX512 1
#define GEMM_TARGET __attribute__((target("avx512f,avx2,fma")))
#define GEMM_NAME(x) x##_avx512
#include "cnn_sgemm.h"
#undef GEMM_TARGET
#undef GEMM_NAME
#undef SK_TILE_INIT
#undef SK_TILE_STEP
#undef SK_TILE_STORE
#endif
#define GEMM_TARGET
#define GEMM_NAME(x) x##_base
#include "cnn_gemm.h"
#include "cnn_sgemm.h"
#undef GEMM_TARGET
#undef GEMM_NAME

/* 3 when the CPU has AVX-512F too (the single-precision kernel's AVX-512 build; the
 * double kernels stay AVX2), 2 when it has AVX2 and FMA, else 1; asked on the main
 * thread */
static int own_gemm_level(void) {
#ifdef CNN_HAVE_AVX2
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return __builtin_cpu_supports("avx512f") ? 3 : 2;
#endif
  return 1;
}
#else
static int own_gemm_level(void) { return 0; }
#endif

/* C (=, or += when beta = 1) op(A) op(B); ta/tb as in dgemm, only (0,0), (1,0), (0,1).
 * net->gemm: 0 R's BLAS dgemm, 1 own double kernels, 2 own single-precision kernel
 * (operands rounded to float, float products and sums within blocks of SKC terms,
 * blocks added in double); net->isa: 3 AVX-512 (single kernel; the double kernels use
 * AVX2 then), 2 AVX2/FMA clones, 1 baseline clones, 0 none
 * (not GCC/clang: everything goes to dgemm). */
static void mmc(const cnn_net *net, cnn_work *w, int ta, int tb, int m, int n, int k,
                const double *a, int lda, const double *b, int ldb, double beta, double *c,
                int ldc, const sconv *cv) {
#if defined(__GNUC__)
  int own = net->isa ? net->gemm : 0;
  if (own == 2) {
    size_t ars = ta ? (size_t)lda : 1, acs = ta ? 1 : (size_t)lda;
    size_t brs = tb ? (size_t)ldb : 1, bcs = tb ? 1 : (size_t)ldb;
#ifdef CNN_HAVE_AVX512
    if (net->isa == 3) {
      sgemm_avx512(m, n, k, a, ars, acs, b, brs, bcs, c, ldc, beta != 0, w->pa, w->pb, cv);
      return;
    }
#endif
#ifdef CNN_HAVE_AVX2
    if (net->isa >= 2) {
      sgemm_avx2(m, n, k, a, ars, acs, b, brs, bcs, c, ldc, beta != 0, w->pa, w->pb, cv);
      return;
    }
#endif
    sgemm_base(m, n, k, a, ars, acs, b, brs, bcs, c, ldc, beta != 0, w->pa, w->pb, cv);
    return;
  }
  if (own == 1) {
    if (ta && beta == 0)
      for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) c[i + (size_t)ldc * j] = 0.0;
#ifdef CNN_HAVE_AVX2
    if (net->isa >= 2) {
      if (!ta && !tb) gemm_nn_avx2(m, n, k, a, lda, b, 1, (size_t)ldb, c, ldc, beta != 0);
      else if (!ta) gemm_nn_avx2(m, n, k, a, lda, b, (size_t)ldb, 1, c, ldc, beta != 0);
      else gemm_tn_avx2(m, n, k, a, lda, b, ldb, c, ldc);
      return;
    }
#endif
    if (!ta && !tb) gemm_nn_base(m, n, k, a, lda, b, 1, (size_t)ldb, c, ldc, beta != 0);
    else if (!ta) gemm_nn_base(m, n, k, a, lda, b, (size_t)ldb, 1, c, ldc, beta != 0);
    else gemm_tn_base(m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
#endif
  (void)w;
  (void)cv;
  adv_gemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

static void mm(const cnn_net *net, cnn_work *w, int ta, int tb, int m, int n, int k,
               const double *a, int lda, const double *b, int ldb, double beta, double *c,
               int ldc) {
  mmc(net, w, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc, NULL);
}

/* Dense layers keep double precision with the own kernels: a chunk gives them only
 * B <= 16 rows, too few for rounding and packing their I x O weights on every call to
 * pay (measured: the MLP of bench/cnn.R ran 20% slower in single precision). */
static void mm_dense(const cnn_net *net, cnn_work *w, int ta, int tb, int m, int n, int k,
                     const double *a, int lda, const double *b, int ldb, double beta,
                     double *c, int ldc) {
  cnn_net dn = *net;
  if (dn.gemm == 2) dn.gemm = 1;
  mm(&dn, w, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/* One product through mm() for the tests (C_cnn_mm): gemm as net->gemm, isa the
 * instruction set asked for (at most what the CPU has; 0 = the best it has). */
void cnn_mm_test(int gemm, int isa, int ta, int tb, int m, int n, int k, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc) {
  cnn_net net;
  cnn_work w;
  memset(&net, 0, sizeof(net));
  memset(&w, 0, sizeof(w));
  int have = own_gemm_level();
  net.gemm = gemm;
  net.isa = gemm == 0 ? 0 : (isa > 0 && isa < have ? isa : have);
#if defined(__GNUC__)
  w.pa = (float *)R_alloc(SMC * SKC, sizeof(float));
  w.pb = (float *)R_alloc(SKC * SNC, sizeof(float));
#endif
  mm(&net, &w, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/* C += A B' with A m x k (lda), B n x k (ldb) and C m x n (ldc): the own double kernels
 * (AVX2/FMA where the CPU has them), else R's dgemm. For the blocked Cholesky
 * factorisation of src/lasso.c. */
void adv_gemm_nt_acc(int m, int n, int k, const double *a, int lda, const double *b,
                     int ldb, double *c, int ldc) {
  if (m <= 0 || n <= 0 || k <= 0) return;
#if defined(__GNUC__)
  int level = own_gemm_level();
#ifdef CNN_HAVE_AVX2
  if (level >= 2) {
    gemm_nn_avx2(m, n, k, a, lda, b, (size_t)ldb, 1, c, ldc, 1);
    return;
  }
#endif
  if (level == 1) {
    gemm_nn_base(m, n, k, a, lda, b, (size_t)ldb, 1, c, ldc, 1);
    return;
  }
#endif
  adv_gemm(0, 1, m, n, k, 1.0, a, lda, b, ldb, 1.0, c, ldc);
}

/* fused im2col / col2im only with the single-precision kernel and a full chunk */
static int fused(const cnn_net *net, int B) {
#if defined(__GNUC__)
  return net->gemm == 2 && net->isa > 0 && B == SMR;
#else
  (void)net;
  (void)B;
  return 0;
#endif
}

void cnn_net_from_sexp(SEXP arch, SEXP beta, int loss, cnn_net *net) {
  int nl = nrows(arch);
  const int *a = INTEGER(arch);
  net->nl = nl;
  net->loss = loss;
  net->L = (cnn_layer *)R_alloc(nl, sizeof(cnn_layer));
  net->aoff = (size_t *)R_alloc(nl + 1, sizeof(size_t));
  net->np = 0;
  net->colmax = 1;
  net->kmax = 1;
  net->wmax = 1;
  size_t ao = 0, gmax = 0;
  for (int l = 0; l < nl; l++) {
    cnn_layer *L = net->L + l;
    int *f[11] = {&L->type, &L->h, &L->w, &L->c, &L->ho, &L->wo, &L->co,
                  &L->k, &L->pad, &L->woff, &L->boff};
    for (int j = 0; j < 11; j++) *f[j] = a[l + (size_t)nl * j];
    L->beta = REAL(beta)[l];
    if (l == 0) {
      net->gemm = ncols(arch) > 11 ? a[(size_t)nl * 11] : 0;
      net->isa = net->gemm ? own_gemm_level() : 0;
    }
    size_t din = (size_t)L->h * L->w * L->c, dout = (size_t)L->ho * L->wo * L->co;
    if (l == 0) net->din = (int)din;
    net->aoff[l] = ao;
    ao += din;
    if (din > gmax) gmax = din;
    if (dout > gmax) gmax = dout;
    if (L->type == CNN_CONV) {
      size_t cm = (size_t)L->ho * L->wo * L->k * L->k * L->c;
      if (cm > net->colmax) net->colmax = cm;
      int kc = L->k * L->k * (L->c > L->co ? L->c : L->co);
      if (kc > net->kmax) net->kmax = kc;
      if ((size_t)L->k * L->k * L->c * L->co > net->wmax) net->wmax = (size_t)L->k * L->k * L->c * L->co;
      net->np = L->boff + L->co;
    }
    if (L->type == CNN_DENSE) net->np = L->boff + L->co;
    if (l == nl - 1) {
      net->aoff[nl] = ao;
      ao += dout;
      net->nout = (int)dout;
    }
  }
  net->acttot = ao;
  net->gmax = gmax;
}

void cnn_work_alloc(const cnn_net *net, cnn_work *w) {
  size_t B = CNN_CHUNK, din = net->din;
  w->act = (double *)R_alloc(B * net->acttot, sizeof(double));
  w->col = (double *)R_alloc(B * net->colmax, sizeof(double));
  w->dcol = (double *)R_alloc(B * net->colmax, sizeof(double));
  w->g1 = (double *)R_alloc(B * net->gmax, sizeof(double));
  w->g2 = (double *)R_alloc(B * net->gmax, sizeof(double));
  w->dz = (double *)R_alloc(B * net->nout, sizeof(double));
  w->x0 = (double *)R_alloc(B * din, sizeof(double));
  w->xa = (double *)R_alloc(B * din, sizeof(double));
  w->gx = (double *)R_alloc(B * din, sizeof(double));
  w->st = (double *)R_alloc(B * din, sizeof(double));
  int single = net->gemm == 2 && net->isa;
  w->pa = single ? (float *)R_alloc(SMC * SKC, sizeof(float)) : NULL;
  w->pb = single ? (float *)R_alloc(SKC * SNC, sizeof(float)) : NULL;
  w->fin = single ? (float *)R_alloc(B * net->gmax, sizeof(float)) : NULL;
  w->fout = single ? (float *)R_alloc(B * net->gmax, sizeof(float)) : NULL;
  w->tab = single ? (const float **)R_alloc((SMC / SMR) * SKC, sizeof(float *)) : NULL;
  w->tdh = single ? (int *)R_alloc(net->kmax, sizeof(int)) : NULL;
  w->tdw = single ? (int *)R_alloc(net->kmax, sizeof(int)) : NULL;
  w->toff = single ? (ptrdiff_t *)R_alloc(net->kmax, sizeof(ptrdiff_t)) : NULL;
  w->wt = single ? (double *)R_alloc(net->wmax, sizeof(double)) : NULL;
}

/* Samples idx[0..B-1] of x (din x n, one column per sample) into a B x din chunk. */
void cnn_gather(const double *x, int din, const int *idx, int B, double *out) {
  for (int b = 0; b < B; b++) {
    const double *src = x + (size_t)din * idx[b];
    for (int j = 0; j < din; j++) out[b + (size_t)B * j] = src[j];
  }
}

void cnn_scatter(const double *in, int din, int B, double *x, const int *idx) {
  for (int b = 0; b < B; b++) {
    double *dst = x + (size_t)din * idx[b];
    for (int j = 0; j < din; j++) dst[j] = in[b + (size_t)B * j];
  }
}

/* col[(b + B * po) + B * P * kk] = input pixel under tap kk at output position po */
static void im2col(const cnn_layer *L, int B, const double *restrict in,
                   double *restrict col) {
  int k = L->k, h = L->h, w = L->w, ho = L->ho, wo = L->wo, pad = L->pad;
  size_t BP = (size_t)B * ho * wo;
  for (int c = 0; c < L->c; c++)
    for (int kw = 0; kw < k; kw++)
      for (int kh = 0; kh < k; kh++) {
        double *dst = col + BP * (kh + (size_t)k * (kw + (size_t)k * c));
        for (int j = 0; j < wo; j++) {
          int sj = j + kw - pad;
          for (int i = 0; i < ho; i++) {
            int si = i + kh - pad;
            double *d = dst + (size_t)B * (i + (size_t)ho * j);
            if (si < 0 || si >= h || sj < 0 || sj >= w) {
              for (int b = 0; b < B; b++) d[b] = 0.0;
            } else {
              const double *s = in + (size_t)B * (si + (size_t)h * (sj + (size_t)w * c));
              CNN_SIMD for (int b = 0; b < B; b++) d[b] = s[b];
            }
          }
        }
      }
}

/* the adjoint of im2col: din += scatter of dcol */
static void col2im(const cnn_layer *L, int B, const double *restrict dcol,
                   double *restrict din) {
  int k = L->k, h = L->h, w = L->w, ho = L->ho, wo = L->wo, pad = L->pad;
  size_t BP = (size_t)B * ho * wo;
  for (size_t i = 0; i < (size_t)B * h * w * L->c; i++) din[i] = 0.0;
  for (int c = 0; c < L->c; c++)
    for (int kw = 0; kw < k; kw++)
      for (int kh = 0; kh < k; kh++) {
        const double *src = dcol + BP * (kh + (size_t)k * (kw + (size_t)k * c));
        for (int j = 0; j < wo; j++) {
          int sj = j + kw - pad;
          if (sj < 0 || sj >= w) continue;
          for (int i = 0; i < ho; i++) {
            int si = i + kh - pad;
            if (si < 0 || si >= h) continue;
            const double *s = src + (size_t)B * (i + (size_t)ho * j);
            double *d = din + (size_t)B * (si + (size_t)h * (sj + (size_t)w * c));
            CNN_SIMD for (int b = 0; b < B; b++) d[b] += s[b];
          }
        }
      }
}

static void add_bias(double *out, size_t rows, int co, const double *bias) {
  for (int f = 0; f < co; f++) {
    double *o = out + rows * f;
    const double bf = bias[f];
    CNN_SIMD for (size_t r = 0; r < rows; r++) o[r] += bf;
  }
}

/* Forward pass of the chunk whose input sits at w->act (B x din). */
void cnn_forward(const cnn_net *net, const double *theta, int B, cnn_work *w) {
  int skip_relu = 0;
  for (int l = 0; l < net->nl; l++) {
    const cnn_layer *L = net->L + l;
    const double *in = w->act + (size_t)B * net->aoff[l];
    double *out = w->act + (size_t)B * net->aoff[l + 1];
    size_t nin = (size_t)L->h * L->w * L->c, nout = (size_t)L->ho * L->wo * L->co;
    switch (L->type) {
    case CNN_CONV: {
      int K = L->k * L->k * L->c;
      size_t rows = (size_t)B * L->ho * L->wo;
      if (fused(net, B)) {
        /* a float copy of the input, read in place; the bias is added as the tile is
         * stored, and a plain ReLU that follows is applied then too: its output is
         * written, the convolution's own output slot is left unused (the ReLU's
         * backward pass reads only its output) */
        for (size_t i = 0; i < (size_t)B * nin; i++) w->fin[i] = (float)in[i];
        sconv cv = {L, NULL, NULL, w->fin, zero16, w->tab, theta + L->boff, NULL,
                    NULL, NULL, NULL, 0};
        if (l + 1 < net->nl && net->L[l + 1].type == CNN_RELU && net->L[l + 1].beta <= 0) {
          cv.relu = 1;
          out = w->act + (size_t)B * net->aoff[l + 2];
          skip_relu = 1;
        }
        conv_taps(L, w, &cv);
        mmc(net, w, 0, 0, (int)rows, L->co, K, NULL, (int)rows, theta + L->woff, K, 0.0,
            out, (int)rows, &cv);
      } else {
        im2col(L, B, in, w->col);
        mm(net, w, 0, 0, (int)rows, L->co, K, w->col, (int)rows, theta + L->woff, K, 0.0,
           out, (int)rows);
        add_bias(out, rows, L->co, theta + L->boff);
      }
      break;
    }
    case CNN_DENSE: {
      int I = (int)nin;
      mm_dense(net, w, 0, 0, B, L->co, I, in, B, theta + L->woff, I, 0.0, out, B);
      add_bias(out, B, L->co, theta + L->boff);
      break;
    }
    case CNN_RELU:
      if (skip_relu) {
        skip_relu = 0;
        break;
      }
      CNN_SIMD for (size_t i = 0; i < (size_t)B * nin; i++) {
        double v = in[i];
        out[i] = v > 0 ? v : 0.0;
      }
      break;
    case CNN_POOL: {
      int s = L->k, h = L->h, wd = L->w, ho = L->ho, wo = L->wo;
      /* window maxima, all samples at once (the backward pass finds the argmax again
       * as the first window entry equal to the maximum) */
      for (int c = 0; c < L->c; c++)
        for (int j = 0; j < wo; j++)
          for (int i = 0; i < ho; i++) {
            double *ob = out + (size_t)B * (i + (size_t)ho * (j + (size_t)wo * c));
            for (int b = 0; b < B; b++) ob[b] = -INFINITY;
            for (int dj = 0; dj < s; dj++)
              for (int di = 0; di < s; di++) {
                const double *ib =
                  in + (size_t)B * ((i * s + di) + (size_t)h * ((j * s + dj) + (size_t)wd * c));
                CNN_SIMD for (int b = 0; b < B; b++) {
                  double v = ib[b], m = ob[b];
                  ob[b] = v > m ? v : m;
                }
              }
          }
      break;
    }
    }
    (void)nout;
  }
}

/* Loss of the chunk's outputs (B x nout); dz = scale * dloss/doutput. Returns the sum
 * of the per-sample losses; loss_b (may be NULL) gets each; correct counts argmax hits
 * (cross-entropy only). */
double cnn_loss_grad(const cnn_net *net, const double *out, const double *y, int B,
                     double scale, double *dz, double *loss_b, int *correct) {
  int O = net->nout;
  double tot = 0.0;
  int nc = 0;
  for (int b = 0; b < B; b++) {
    double lb;
    if (net->loss == CNN_CE) {
      int yb = (int)y[b];
      double m = out[b];
      int am = 0;
      for (int o = 1; o < O; o++)
        if (out[b + (size_t)B * o] > m) {
          m = out[b + (size_t)B * o];
          am = o;
        }
      double se = 0.0;
      for (int o = 0; o < O; o++) se += exp(out[b + (size_t)B * o] - m);
      double lse = m + log(se);
      lb = lse - out[b + (size_t)B * yb];
      for (int o = 0; o < O; o++) {
        double p = exp(out[b + (size_t)B * o] - lse);
        dz[b + (size_t)B * o] = scale * (p - (o == yb));
      }
      nc += (am == yb);
    } else {
      double r = out[b] - y[b];
      lb = r * r;
      dz[b] = scale * 2.0 * r;
    }
    if (loss_b) loss_b[b] = lb;
    tot += lb;
  }
  if (correct) *correct = nc;
  return tot;
}

/* Backward pass from dz (in w->dz). grad (NULL: skip) accumulates the parameter
 * gradient; dx (NULL: skip) receives the input gradient, B x din. */
void cnn_backward(const cnn_net *net, const double *theta, int B, cnn_work *w,
                  double *grad, double *dx) {
  double *gout = w->dz, *gin;
  int skip_relu = 0;
  for (int l = net->nl - 1; l >= 0; l--) {
    const cnn_layer *L = net->L + l;
    const double *in = w->act + (size_t)B * net->aoff[l];
    size_t nin = (size_t)L->h * L->w * L->c;
    int need_in = (l > 0) || dx != NULL;
    if (!need_in && grad == NULL) break;
    if (skip_relu) {
      /* this plain ReLU's gradient was formed by the pool layer after it */
      skip_relu = 0;
      continue;
    }
    gin = (l == 0 && dx) ? dx : (gout == w->g1 ? w->g2 : w->g1);
    switch (L->type) {
    case CNN_CONV: {
      int K = L->k * L->k * L->c;
      size_t rows = (size_t)B * L->ho * L->wo;
      if (grad && fused(net, B)) {
        for (size_t i = 0; i < (size_t)B * nin; i++) w->fin[i] = (float)in[i];
        sconv cv = {NULL, NULL, L, w->fin, zero16, NULL, NULL, NULL, NULL, NULL, NULL, 0};
        conv_taps(L, w, &cv);
        mmc(net, w, 1, 0, K, L->co, (int)rows, NULL, (int)rows, gout, (int)rows, 1.0,
            grad + L->woff, K, &cv);
      } else if (grad) {
        im2col(L, B, in, w->col);
        mm(net, w, 1, 0, K, L->co, (int)rows, w->col, (int)rows, gout, (int)rows, 1.0,
                 grad + L->woff, K);
      }
      if (grad) {
        for (int f = 0; f < L->co; f++) {
          const double *g = gout + rows * f;
          double s = 0.0;
          for (size_t r = 0; r < rows; r++) s += g[r];
          grad[L->boff + f] += s;
        }
      }
      if (need_in && fused(net, B) && L->c >= SNR) {
        /* the input gradient as the correlation of the output gradient with the
         * flipped, transposed kernel (padding k - 1 - pad): a forward-style product
         * with K = k * k * c_out, no col2im */
        cnn_layer Lt = *L;
        Lt.h = L->ho; Lt.w = L->wo; Lt.c = L->co;
        Lt.ho = L->h; Lt.wo = L->w; Lt.co = L->c;
        Lt.pad = L->k - 1 - L->pad;
        int k = L->k, Kt = k * k * L->co;
        const double *W = theta + L->woff;
        for (int c = 0; c < L->c; c++)
          for (int f = 0; f < L->co; f++)
            for (int kw = 0; kw < k; kw++)
              for (int kh = 0; kh < k; kh++)
                w->wt[(kh + (size_t)k * (kw + (size_t)k * f)) + (size_t)Kt * c] =
                  W[((k - 1 - kh) + (size_t)k * ((k - 1 - kw) + (size_t)k * c)) + (size_t)K * f];
        for (size_t i = 0; i < rows * L->co; i++) w->fin[i] = (float)gout[i];
        sconv cv = {&Lt, NULL, NULL, w->fin, zero16, w->tab, NULL, NULL, NULL, NULL, NULL, 0};
        conv_taps(&Lt, w, &cv);
        int rin = B * L->h * L->w;
        mmc(net, w, 0, 0, rin, L->c, Kt, NULL, rin, w->wt, Kt, 0.0, gin, rin, &cv);
      } else if (need_in && fused(net, B)) {
        /* the input gradient is summed in float, then widened */
        memset(w->fout, 0, sizeof(float) * (size_t)B * nin);
        sconv cv = {NULL, L, NULL, NULL, NULL, NULL, NULL, w->fout, NULL, NULL, NULL, 0};
        conv_taps(L, w, &cv);
        mmc(net, w, 0, 1, (int)rows, K, L->co, gout, (int)rows, theta + L->woff, K, 0.0,
            NULL, (int)rows, &cv);
        for (size_t i = 0; i < (size_t)B * nin; i++) gin[i] = (double)w->fout[i];
      } else if (need_in) {
        mm(net, w, 0, 1, (int)rows, K, L->co, gout, (int)rows, theta + L->woff, K, 0.0,
                 w->dcol, (int)rows);
        col2im(L, B, w->dcol, gin);
      }
      break;
    }
    case CNN_DENSE: {
      int I = (int)nin;
      if (grad) {
        mm_dense(net, w, 1, 0, I, L->co, B, in, B, gout, B, 1.0, grad + L->woff, I);
        for (int f = 0; f < L->co; f++) {
          double s = 0.0;
          for (int b = 0; b < B; b++) s += gout[b + (size_t)B * f];
          grad[L->boff + f] += s;
        }
      }
      if (need_in)
        mm_dense(net, w, 0, 1, B, I, L->co, gout, B, theta + L->woff, I, 0.0, gin, B);
      break;
    }
    case CNN_RELU:
      if (!need_in) break;
      if (L->beta > 0) {
        /* ReLU forward, Softplus(beta) backward: derivative sigmoid(beta * z) */
        for (size_t i = 0; i < (size_t)B * nin; i++)
          gin[i] = gout[i] / (1.0 + exp(-L->beta * in[i]));
      } else {
        /* from the output: max(z, 0) > 0 exactly when z > 0 */
        const double *out = w->act + (size_t)B * net->aoff[l + 1];
        CNN_SIMD for (size_t i = 0; i < (size_t)B * nin; i++) {
          double v = out[i], g = gout[i];
          gin[i] = v > 0 ? g : 0.0;
        }
      }
      break;
    case CNN_POOL: {
      if (!need_in) break;
      /* the gradient goes to the first window entry equal to the maximum (the entry the
       * forward pass's strict > kept); windows do not overlap. A plain ReLU before
       * (not the first layer) is folded in: its input gradient is the pool's where
       * the ReLU's output (the pool's input) is > 0, else 0. */
      const double *out = w->act + (size_t)B * net->aoff[l + 1];
      int fold = l >= 2 && net->L[l - 1].type == CNN_RELU && net->L[l - 1].beta <= 0;
      skip_relu = fold;
      int s = L->k, h = L->h, wd = L->w, ho = L->ho, wo = L->wo;
      memset(gin, 0, sizeof(double) * (size_t)B * nin);
      for (int c = 0; c < L->c; c++)
        for (int j = 0; j < wo; j++)
          for (int i = 0; i < ho; i++) {
            size_t o = (size_t)B * (i + (size_t)ho * (j + (size_t)wo * c));
            const double *ob = out + o;
            double rem[CNN_CHUNK];
            for (int b = 0; b < B; b++) rem[b] = gout[o + b];
            for (int dj = 0; dj < s; dj++)
              for (int di = 0; di < s; di++) {
                size_t src = (size_t)B * ((i * s + di) + (size_t)h * ((j * s + dj) + (size_t)wd * c));
                const double *ib = in + src;
                double *gb = gin + src;
                if (fold) {
                  CNN_SIMD for (int b = 0; b < B; b++) {
                    double r = rem[b], v = ib[b];
                    int hit = v == ob[b];
                    gb[b] = hit && v > 0 ? r : 0.0;
                    rem[b] = hit ? 0.0 : r;
                  }
                } else {
                  CNN_SIMD for (int b = 0; b < B; b++) {
                    double r = rem[b];
                    int hit = ib[b] == ob[b];
                    gb[b] = hit ? r : 0.0;
                    rem[b] = hit ? 0.0 : r;
                  }
                }
              }
          }
      break;
    }
    }
    gout = gin;
  }
}
