/* Shared declarations of the advtrain C backend.
 *
 * Every .Call entry point unpacks its SEXP arguments and hands raw pointers to a
 * kernel that never sees a SEXP. Arguments are checked in R before they get here.
 */
#ifndef ADVTRAIN_H
#define ADVTRAIN_H

#ifndef USE_FC_LEN_T
#define USE_FC_LEN_T
#endif
#include <R.h>
#include <Rinternals.h>
#include <R_ext/BLAS.h>
#include <R_ext/Lapack.h>
#include <math.h>
#include <stddef.h>
#ifndef FCONE
#define FCONE
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* sqrt(2 / pi) = E|Z| for Z ~ N(0, 1) */
#define ADV_C0 0.79788456080286535588

enum adv_norm { ADV_L2 = 1, ADV_LINF = 2 };

static inline double adv_sign(double v) { return (v > 0) - (v < 0); }

/* blas.c: thin wrappers; column-major, no transposition flags leak out */
void adv_gemv(int trans, int m, int n, double alpha, const double *a, const double *x,
              double beta, double *y);
void adv_gemm(int ta, int tb, int m, int n, int k, double alpha, const double *a,
              int lda, const double *b, int ldb, double beta, double *c, int ldc);
int adv_syevr(int n, const double *a, double *values, double *vectors);
double adv_nrm2(int n, const double *x);
double adv_dot(int n, const double *x, const double *y);

/* linear.c: the one attack / loss / gradient kernel of the linear model */
double lin_attack_shift(double r, const double *theta, int d, double tnorm2, double tnorm1,
                        int norm, double eps, double xi);
void lin_attack_row(double r, const double *theta, int d, double tnorm2, int norm,
                    double eps, double xi, double *a);
double lin_loss_grad(const double *x, const double *y, const double *theta, int n, int d,
                     int norm, double eps, double xi, double *grad, double *work);

/* linear.c: the fused pass of Algorithm 1 over a row-major copy of X */
#ifdef _OPENMP /* vectorise a loop without reductions (no effect on the results) */
#define ADV_SIMD _Pragma("omp simd")
#else
#define ADV_SIMD
#endif
#define LIN_MAX_BLOCKS 64
#define LIN_MIN_BLOCK 256
#define LIN_NSCAL 6
#define LIN_PAR_MIN 1e6 /* below this many entries of X one thread is faster */
typedef struct {
  int norm;
  double eps, xi;
  /* observation weights (n, mean 1; NULL: unweighted, the fast kernels). With them
   * lin_pass runs lin_block_w: sample i's loss and gradient terms times w[i] */
  const double *w;
} lin_par;
size_t lin_work_size(int n, int d, int has_b);
void lin_pass(const double *xt, const double *y, int n, int d, const double *theta,
              double b, int has_b, const lin_par *par, int nth, double *loss,
              double *grad, double *gdiff, double *work);
/* rows at most this long go column-major (lin_pass_cols), for the attacks it serves */
#define LIN_COLS_D 32
int lin_use_cols(int d, const lin_par *par);
void lin_pass_cols(const double *x, const double *y, int n, int d, const double *theta,
                   double b, int has_b, const lin_par *par, int nth, double *loss,
                   double *grad, double *gdiff, double *work);

/* risk.c */
double risk_surrogate(double q, const double *theta, int d, int norm, double eps,
                      double xi, int *ier);

/* optimum.c helper shared with lasso-type solvers */
double adv_brent_root(double (*f)(double, void *), void *info, double a, double b,
                      double fa, double fb, double tol, int maxit, int *status);

/* threads */
int adv_nthreads(SEXP threads);
/* threads.c: a hint that a large fresh allocation be backed by huge pages */
void adv_hugepages(void *p, size_t bytes);

/* cnn_layers.c / cnn_attack.c / cnn_train.c: small CNNs and MLPs.
 * Activations of a chunk of B samples are stored as a B x (P * C) column-major matrix
 * (sample fastest, then position p = row + H * col, then channel), so that a
 * convolution is one im2col product and a dense layer one product per chunk. */
#define CNN_CHUNK 16
enum cnn_type { CNN_CONV = 1, CNN_RELU = 2, CNN_POOL = 3, CNN_DENSE = 4 };
enum cnn_loss { CNN_CE = 1, CNN_SQUARED = 2 };
typedef struct {
  int type, h, w, c, ho, wo, co, k, pad, woff, boff;
  double beta; /* relu: > 0 means Softplus(beta) derivative in the backward pass */
} cnn_layer;
typedef struct {
  int nl, din, nout, loss, np, kmax; /* kmax: largest k * k * c_in of a convolution */
  int gemm; /* 0: R's BLAS dgemm, 1: own double kernels, 2: own single-precision kernel */
  int isa;  /* own kernels compiled for: 2 AVX2/FMA (CPU has it), 1 baseline, 0 none */
  cnn_layer *L;
  size_t *aoff;   /* per-sample offset of each layer's input activation; aoff[nl] output */
  size_t acttot, colmax, gmax, wmax; /* wmax: most weights of a convolution */
} cnn_net;
typedef struct {
  double *act, *col, *dcol, *g1, *g2, *dz, *x0, *xa, *gx, *st;
  /* single precision only (NULL otherwise): packed blocks, float copies of a layer's
   * input and input gradient, strip pointer table */
  float *pa, *pb, *fin, *fout;
  const float **tab;
  int *tdh, *tdw; /* tap tables of the fused convolutions */
  ptrdiff_t *toff;
  double *wt;     /* flipped, transposed kernel of a convolution's input gradient */
} cnn_work;

void cnn_net_from_sexp(SEXP arch, SEXP beta, int loss, cnn_net *net);
void cnn_work_alloc(const cnn_net *net, cnn_work *w);
void cnn_forward(const cnn_net *net, const double *theta, int B, cnn_work *w);
double cnn_loss_grad(const cnn_net *net, const double *out, const double *y, int B,
                     double scale, double *dz, double *loss_b, int *correct);
void cnn_backward(const cnn_net *net, const double *theta, int B, cnn_work *w,
                  double *grad, double *dx);
void cnn_gather(const double *x, int din, const int *idx, int B, double *out);
void cnn_scatter(const double *in, int din, int B, double *x, const int *idx);
void cnn_attack_chunk(const cnn_net *net, const double *theta, int B, cnn_work *w,
                      const double *y, int norm, double eps, double alpha, int steps,
                      double xi, int clip, double lo, double hi, int use_start);
void cnn_random_start(int n, int din, int norm, double eps, double *st);
void cnn_mm_test(int gemm, int isa, int ta, int tb, int m, int n, int k, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc);

/* C += A B' (src/cnn_layers.c: the own double kernels where available) */
void adv_gemm_nt_acc(int m, int n, int k, const double *a, int lda, const double *b,
                     int ldb, double *c, int ldc);

/* the result list of one chunk of a trainer (src/lm.c) */
SEXP adv_train_result(SEXP theta, const double *trace, int cols, int rows,
                      const double *path, int p, int status, int t_next, double cap);

/* ADV_CLONES (compile a kernel also for AVX2) and ADV_HAVE_CLONES are defined in vec.h. */

#endif
