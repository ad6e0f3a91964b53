/* The pieces of exact.c's certificate that lm.c's reweighted-ridge engine also uses for
 * its own stopping test (w = NULL: unweighted), so that both compute the objective and
 * the dual bound with one code. */
#ifndef ADVTRAIN_EXACT_H
#define ADVTRAIN_EXACT_H

/* sum_i w_i (|r_i| + eps ||theta||_*)^2 / sum_i w_i at beta; r = Z beta - y into r,
 * ||theta||_* into *tn */
double cx_objective(const double *z, const double *y, const double *w, const double *beta,
                    int n, int d, int p, int norm, double eps, double *r, double *tn);
/* the dual value of a candidate alpha with lambda_i >= max(|alpha_i|, lo_i) (alpha is
 * centred with an intercept; lam and xa are scratch of lengths n and d) */
double cx_value(const double *z, const double *y, const double *w, double *alpha,
                const double *lo, int n, int d, int has_b, int norm, double eps,
                double *lam, double *xa);
/* the dual candidate of the optimality conditions with kink set {|r_i| <= thr}, its
 * kink multipliers by least squares (LAPACK dgelss with the given rcond) */
double cx_active(const double *z, const double *y, const double *w, const double *r,
                 const double *beta, int n, int d, int has_b, int norm, double eps,
                 double tn, double thr, double rcond, double *alpha, double *lam,
                 double *xa);

#endif
