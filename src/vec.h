/* Vector kernels shared by every solver: dot products, axpy updates and the fixed-order
 * lane sum, one copy each, so that a kernel is tuned once for all its callers.
 *
 * Each kernel fixes the order of its additions in the source (partial sums combined in
 * a stated order, never a compiler's reduction), so its results depend neither on the
 * thread count nor on the instruction set: the out-of-line kernels (vec.c) are marked
 * ADV_CLONES and compiled also for AVX2, with the same operations in the same order.
 * Kernels whose callers need a different order (nn2's eight-lane fold, the linear
 * model's SIMD reduction) are separate, named variants, not options of one kernel.
 */
#ifndef ADVTRAIN_VEC_H
#define ADVTRAIN_VEC_H

#include <string.h>

/* With GCC on x86-64 Linux (glibc's ifunc) a kernel so marked is also compiled for AVX2
 * and the loader picks the version the processor supports. Without FMA the AVX2
 * version does the same operations in the same order, so the results are identical. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 6 && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__)
#define ADV_HAVE_CLONES 1
#define ADV_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ADV_HAVE_CLONES 0
#define ADV_CLONES
#endif

#if defined(__GNUC__)
typedef double vec_v4 __attribute__((vector_size(32)));
/* macros, not functions: passing 32-byte vectors by value would change the ABI */
#define VEC_LD(v, p) memcpy(&(v), (p), sizeof(vec_v4))
#define VEC_ST(p, v) memcpy((p), &(v), sizeof(vec_v4))
/* the sum of the four lanes, in a fixed order */
#define VEC_HSUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))
#endif

/* the inline kernels must be inlined into each ISA version of a cloned caller */
#ifdef __GNUC__
#define VEC_INLINE static inline __attribute__((always_inline))
#else
#define VEC_INLINE static inline
#endif

/* r += a x and r -= a x (r and x never overlap), unrolled by four so that -O2's
 * straight-line vectoriser pairs the updates; each element gets the same single
 * operation as in a plain loop. Inline, for loops that are cloned as a whole. */
VEC_INLINE void vec_axpy_k(double *restrict r, const double *restrict x, double a,
                           int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    r[i] += a * x[i];
    r[i + 1] += a * x[i + 1];
    r[i + 2] += a * x[i + 2];
    r[i + 3] += a * x[i + 3];
  }
  for (; i < n; i++) r[i] += a * x[i];
}

VEC_INLINE void vec_axmy_k(double *restrict r, const double *restrict x, double a,
                           int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    r[i] -= a * x[i];
    r[i + 1] -= a * x[i + 1];
    r[i + 2] -= a * x[i + 2];
    r[i + 3] -= a * x[i + 3];
  }
  for (; i < n; i++) r[i] -= a * x[i];
}

/* u'v with eight partial sums, lane l holding the products j = l mod 8, folded as the
 * two four-wide halves added lane by lane and then the lane sum; the tail goes into
 * lane 0. Inline, for short vectors in hot loops (nn2's hidden units). */
VEC_INLINE double vec_dot8_fold(const double *restrict u, const double *restrict v,
                                int n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; l++) acc[l] += u[j + l] * v[j + l];
  for (; j < n; j++) acc[0] += u[j] * v[j];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* x'v as the compiler's SIMD reduction where OpenMP is on (its order is fixed when the
 * code is compiled, so it does not depend on the number of threads, but a caller
 * compiled for AVX2 uses four lanes where the default uses two), else four partial
 * sums. Inline: the linear model's fused pass calls it once per row. */
VEC_INLINE double vec_dot_simd(const double *restrict x, const double *restrict v,
                               int d) {
#ifdef _OPENMP
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < d; j++) s += x[j] * v[j];
  return s;
#else
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int j = 0;
  for (; j + 4 <= d; j += 4) {
    s0 += x[j] * v[j];
    s1 += x[j + 1] * v[j + 1];
    s2 += x[j + 2] * v[j + 2];
    s3 += x[j + 3] * v[j + 3];
  }
  for (; j < d; j++) s0 += x[j] * v[j];
  return (s0 + s1) + (s2 + s3);
#endif
}

/* vec.c: out of line, cloned per ISA */
/* r += a x; r -= a x */
void vec_axpy(double *restrict r, const double *restrict x, double a, int n);
void vec_axmy(double *restrict r, const double *restrict x, double a, int n);
/* t += d0 x0 + d1 x1 + d2 x2 + d3 x3, each element getting the four additions in the
 * order of four vec_axpy calls (so the same result), in one pass over t */
void vec_axpy4(double *restrict t, const double *restrict x0, const double *restrict x1,
               const double *restrict x2, const double *restrict x3, double d0, double d1,
               double d2, double d3, int n);
/* a'b with eight partial sums (two four-wide accumulators, lanes summed with VEC_HSUM,
 * first accumulator first), then the tail */
double vec_dot8(const double *a, const double *b, int n);
/* the sum of a in vec_dot8's order; vec_dot8 of a - ma and b - mb (each difference
 * rounded once); r -= a (x - m) */
double vec_sum8(const double *a, int n);
double vec_dot8c(const double *a, double ma, const double *b, double mb, int n);
void vec_axmy_c(double *restrict r, const double *restrict x, double a, double m, int n);
/* x'a and x'c in one pass over x, each summed as in vec_dot8 */
void vec_dot8x2(const double *x, const double *a, const double *c, int n, double *xa,
                double *xc);
/* the exact line search's sums over the rows weighted by a1 (0 or +-1):
 * out = (sum a1^2 r dr, sum a1^2 dr^2, sum a1 dr, sum a1 r) */
void vec_line_sums(const double *a1, const double *r, const double *dr, int n,
                   double *out);
/* oa = G a and oc = G c in one pass over the symmetric n x n G of which the upper
 * triangle is stored (column b holds rows 0..b) */
void vec_symv2_upper(const double *G, int n, const double *a, const double *c,
                     double *restrict oa, double *restrict oc);

#endif
