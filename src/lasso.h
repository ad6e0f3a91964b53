/* What the rooms of the adversarial lasso share (MATH.md section 8): the problem, the
 * status codes, the problem-level helpers of lasso_path.c, and each solver's entry for
 * one lambda. A solver's own state is opaque outside its room (the active-set state is
 * shared by its rooms through lasso_as.h). */
#ifndef ADVTRAIN_LASSO_H
#define ADVTRAIN_LASSO_H

#include "advtrain.h"
#include "vec.h"

/* per-lambda status returned to R */
enum { ST_OK = 0, ST_MAXIT = 1, ST_NUMERIC = 2, ST_STALL = 3 };

typedef struct {
  const double *x; /* n x d, centred when there is an intercept (unless mu is set) */
  /* eps = 0 only: the column means that coordinate descent subtracts on the fly
   * (implicit centring, lasso_cd.c), so that x need not be copied; NULL: none */
  const double *mu;
  const double *y; /* centred when there is an intercept */
  int n, d, intercept, norm, nth;
  double eps, xi;
  const double *w;  /* penalty weights */
  const double *sc; /* column scales for the KKT measure */
  const int *excl;  /* 1 for columns fixed at zero (constant columns) */
  double sy;        /* scale of y for the KKT measure */
  double thresh;
  int maxit;
  int full_kkt; /* 1: never use the row-space Newton solve (tests compare both) */
  /* observation weights of mean 1 (NULL: all 1), used by the smoothed-attack loss;
   * R folds them into the rows for eps = 0 (R/lasso_weights.R) */
  const double *rw;
  /* the active-set method's row scales s_i = sqrt(w_i) (NULL: all 1; R/lasso_weights.R):
   * R passes the rows of x and y multiplied by s_i, so that the loss of row i is
   * (|r_i| + s_i eps N)^2 with r = X theta + s b - y (the intercept's column is s) */
  const double *es;
} prob;

/* the row scale s_i of the active-set method (1 without weights: every product with it
 * is then exact, so the unweighted iterates are those of the formulas without it) */
static inline double rsc(const prob *P, int i) { return P->es ? P->es[i] : 1.0; }

static inline double soft(double z, double t) {
  return z > t ? z - t : (z < -t ? z + t : 0.0);
}

static inline const double *col(const prob *P, int j) { return P->x + (size_t)j * P->n; }

/* lasso_path.c: out_j = x_j'v for every column (parallel over columns, each a serial
 * vec_dot8, so deterministic); r = X theta + b - y; the penalty and the attack norm
 * over the m listed coordinates (all d when idx is NULL) */
void xt_v(const prob *P, const double *v, double *out);
void residuals(const prob *P, const double *theta, double b, double *r);
double pen(const prob *P, const double *theta, const int *idx, int m);
double attack_norm(const prob *P, const double *theta, const int *idx, int m);

/* lasso_cd.c: eps = 0. cd_init returns the state at theta = 0 and lambda_max; cd_solve
 * solves one lambda from the warm start theta (the previous solution). */
typedef struct cdn_state cdn_state;
cdn_state *cd_init(const prob *P, double *lmax);
int cd_solve(const prob *P, cdn_state *C, double lam, double lam_prev, double *theta,
             double *kkt, int *iters);

/* lasso_active.c: eps > 0, xi = 0 (state kept along the path; r: n scratch) */
typedef struct aset aset;
aset *as_init(const prob *P);
int as_solve(const prob *P, aset *S, double lam, double *theta, double *b, double *r,
             double *kkt, int *iters);
void as_next_eps(const prob *P, aset *S);

/* lasso_fista.c: eps > 0, xi > 0 (L: the Lipschitz estimate carried along the path) */
double sur_loss(const prob *P, const double *theta, double b, double *r, double *v,
                double *grad);
int fista_solve(const prob *P, double lam, double *theta, double *b, double *L,
                double *kkt, int *iters);

/* lasso_kkt.c: the KKT residuals of the plain lasso (from g = x'r/n) and of the
 * surrogate loss (from its gradient, d + 1 entries) */
double cd_kkt(const prob *P, double lam, const double *theta, const double *g,
              const int *idx, int m);
double sur_kkt(const prob *P, double lam, const double *theta, const double *grad);
/* lasso_kkt.c: least-squares coefficients c of v (n) on the m <= REF_MAX columns of V
 * (n x m); returns ||v - V c||. For the bounds |x_j'v| <= |sum_l c_l x_j'V_l| +
 * ||x_j|| ||v - V c|| of the checks that skip columns. */
#define REF_MAX 4
double ref_fit(const double *Vr, int m, int n, const double *v, double *c);

#endif
