/* Shared by the two rooms of the lazy two-layer networks: nn2_kernel.c (the per-sample
 * and four-sample kernels: forward pass, input gradient, attack) and nn2.c (passes
 * over the samples, the fixed-attack gradient, training and the .Call entries). */
#ifndef ADVTRAIN_NN2_H
#define ADVTRAIN_NN2_H

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
 * (ADV_CLONES in vec.h): the same operations in the same order (no FMA), so the
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

/* Scratch doubles one thread needs (nn2_kernel.c). */
size_t nn2_scratch(int d, int h);
/* Samples i0 <= i < i1: forward pass, attack, what p asks for (nn2_kernel.c). */
void nn2_samples(const nn2_net *m, double eps, double xi, const double *x, const double *y,
                 int i0, int i1, double *work, const nn2_pass_out *p);
/* the kernel mode of C_nn2_kernels (nn2_kernel.c reads it) */
extern int nn2_kernel_mode;

#if defined(__GNUC__)
#define NN2_HAVE_BLOCKS 1
#define NN2_BLOCK_DMAX 16
typedef unsigned long long nn2_u4 __attribute__((vector_size(32)));
#define NN2_SPLAT(c) ((vec_v4){(c), (c), (c), (c)})
#define NN2_ABSM ((nn2_u4){~0ULL >> 1, ~0ULL >> 1, ~0ULL >> 1, ~0ULL >> 1})

/* What a pass of nn2_blocks() needs besides the network. */
typedef struct {
  double eps, xi;
  const double *x, *y;
  int n;
  const nn2_pass_out *p;
} nn2_block_job;

/* the four-sample kernels (nn2_kernel.c) */
double *nn2_align32(double *p);
int nn2_blocks_apply(const nn2_net *m, double eps);
int nn2_fma_have(void);
int nn2_fma(void);
void nn2_blocks(int fma, const nn2_net *m, const nn2_block_job *jb, int b0, int b1,
                double *work);
void nn2_grad_blk_cols(int fma, int d, int h, int nb, const vec_v4 *ublk,
                       const vec_v4 *cblk, int j0, int j1, double *G);
#endif

#endif
