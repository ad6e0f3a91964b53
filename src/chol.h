/* Cholesky factors (chol.c): see there. Needs vec.h (included). */
#ifndef ADVTRAIN_CHOL_H
#define ADVTRAIN_CHOL_H

#include "vec.h"

/* Lower factor of the SPD n x n matrix in the lower triangle of L, in place (blocked,
 * on adv_gemm_nt_acc); 0 if a pivot is not positive. The upper triangle is scratch. */
int chol_lower(double *L, int n);
/* m rank-one updates (sgn = 1) or downdates (sgn = -1) of the lower n x n factor L,
 * the vectors n apart in W (w_p zero before row from[p]; W is overwritten), in one
 * sweep over L; 0 when a downdate would lose positive definiteness. */
int chol_rankm(double *L, int n, double *W, const int *from, int m, double sgn);
/* Solve L L' X = B in place for nr <= 4 right-hand sides (columns of B, n apart). */
void chol_solve4(const double *L, int n, double *B, int nr);
/* The k x k upper factor R (R'R = A) in a buffer of leading dimension ld: delete
 * column p; append a column (see chol.c); solve R'R x = b in place. */
void chol_upper_delete(double *R, int ld, int k, int p);
int chol_upper_append(double *R, int ld, int k, double hkk);
void chol_upper_solve(const double *R, int ld, int k, double *x);

#endif
