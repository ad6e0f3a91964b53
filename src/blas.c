/* Thin wrappers over the Fortran BLAS / LAPACK that R links against (adv_gemv: the
 * package's own vectorised kernels).
 * Character arguments carry their hidden lengths through FCONE (USE_FC_LEN_T). */
#include "advtrain.h"
#include "vec.h"

void adv_gemv(int trans, int m, int n, double alpha, const double *a, const double *x,
              double beta, double *y) {
  if (m == 0 || n == 0) {
    int len = trans ? n : m;
    for (int i = 0; i < len; i++) y[i] = beta == 0 ? 0.0 : beta * y[i];
    return;
  }
  /* the own vectorised dot products and axpys (vec.c) instead of the BLAS dgemv: with
   * R's reference BLAS several times faster on the exact solver's n x p products */
  if (trans) {
    for (int j = 0; j < n; j++) {
      double s = alpha * vec_dot8(a + (size_t)j * m, x, m);
      y[j] = beta == 0 ? s : beta * y[j] + s;
    }
    return;
  }
  if (beta == 0) {
    for (int i = 0; i < m; i++) y[i] = 0;
  } else if (beta != 1) {
    for (int i = 0; i < m; i++) y[i] *= beta;
  }
  for (int j = 0; j < n; j++)
    if (x[j] != 0) vec_axpy(y, a + (size_t)j * m, alpha * x[j], m);
}

void adv_gemm(int ta, int tb, int m, int n, int k, double alpha, const double *a,
              int lda, const double *b, int ldb, double beta, double *c, int ldc) {
  F77_CALL(dgemm)(ta ? "T" : "N", tb ? "T" : "N", &m, &n, &k, &alpha, a, &lda, b, &ldb,
                  &beta, c, &ldc FCONE FCONE);
}

double adv_nrm2(int n, const double *x) {
  const int one = 1;
  return n > 0 ? F77_CALL(dnrm2)(&n, x, &one) : 0.0;
}

double adv_dot(int n, const double *x, const double *y) {
  const int one = 1;
  return n > 0 ? F77_CALL(ddot)(&n, x, &one, y, &one) : 0.0;
}

/* All eigenvalues (ascending) and eigenvectors of the symmetric n x n matrix a.
 * a is not modified. Returns LAPACK's info (0 on success). */
int adv_syevr(int n, const double *a, double *values, double *vectors) {
  double *acopy = (double *)R_alloc((size_t)n * n, sizeof(double));
  for (size_t i = 0; i < (size_t)n * n; i++) acopy[i] = a[i];
  int m = 0, info = 0, lwork = -1, liwork = -1, iwkopt = 0;
  double vl = 0, vu = 0, abstol = 0, wkopt = 0;
  int il = 1, iu = n;
  int *isuppz = (int *)R_alloc(2 * (size_t)(n > 0 ? n : 1), sizeof(int));
  F77_CALL(dsyevr)("V", "A", "L", &n, acopy, &n, &vl, &vu, &il, &iu, &abstol, &m, values,
                   vectors, &n, isuppz, &wkopt, &lwork, &iwkopt, &liwork, &info FCONE FCONE
                   FCONE);
  if (info != 0) return info;
  lwork = (int)wkopt;
  liwork = iwkopt;
  double *work = (double *)R_alloc(lwork, sizeof(double));
  int *iwork = (int *)R_alloc(liwork, sizeof(int));
  F77_CALL(dsyevr)("V", "A", "L", &n, acopy, &n, &vl, &vu, &il, &iu, &abstol, &m, values,
                   vectors, &n, isuppz, work, &lwork, iwork, &liwork, &info FCONE FCONE
                   FCONE);
  return info;
}
