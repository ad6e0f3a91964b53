/* The state of the active-set method (eps > 0, xi = 0), shared by its three rooms:
 * lasso_active.c (the method: which constraints hold, the steps, the line search),
 * lasso_newton.c (the Newton direction on a manifold: dense or in the row space) and
 * lasso_kkt.c (the subgradient checks and the screening). Nothing else includes it. */
#ifndef ADVTRAIN_LASSO_AS_H
#define ADVTRAIN_LASSO_AS_H

#include "lasso.h"

struct aset {
  int *A, k;         /* free coefficients */
  signed char *inA;  /* d */
  signed char *sig;  /* sign of each free coefficient */
  int *Z, z;         /* pinned residuals */
  signed char *inZ;  /* n */
  double *rho;       /* sign of the other residuals (+-1, as doubles: the row loops
                      * multiply by it) */
  /* pinned rows whose residual is not yet zero (as_solve's predicted pins): the Newton
   * step takes them to zero at t = 1; until then the line search counts them as free */
  signed char *spec;
  int nspec;
  /* along an eps path (as_next_eps): the pins of the last solution (n), their number,
   * and whether the next eps starts from them */
  signed char *zlast;
  int nzlast, keepz;
  /* Gram cache over all rows, by column: x_j'x_l for the columns seen in A so far
   * (slot order), and the column sums x_j'1 for the intercept */
  int *gpos, *gcol, gk, gcap; /* slot of column j or -1; column of each slot */
  double *gm, *gsum;          /* gcap x gcap; gcap */
  /* row-space kernel X_A X_A' (n x n, upper triangle) for the reduced Newton solve
   * (as_nspace), up/down-dated by one column at a time */
  double *kg;                 /* NULL until first used */
  signed char *inG;           /* d: sign of column j in kg and xws (0: not in them) */
  double *xws;                /* n: x_A (w sigma)_A over the columns of kg */
  int *gl, ngl, nupd;         /* its columns, their number, updates since rebuilt */
  int *kch;                   /* d: scratch of as_kg_sync (the columns changed ... */
  double *ksg;                /* d: ... and the sign of each change) */
  /* lower Cholesky factor of M0 = x_F x_F' + (n f0/2) D_F (as_nspace), with F the
   * columns, D_F the free rows and f0 the curvature it was built for; kept across
   * Newton steps and lambdas and up/down-dated by rank one as A and Z change */
  double *Lf, f0;
  signed char *inF, *zF;      /* d: column in the factor; n: row pinned in it */
  int *fl, nfl, nfup, fvalid; /* its columns, their number, updates, usable */
  /* the factor's version (changed by every build and update), and the solutions of
   * the border columns of the intercept and of s (as_nspace) with the right-hand
   * sides and the version they were solved for: 4n, [rhs b, rhs s, sol b, sol s] */
  unsigned fver, wver;
  double *wcache;
  /* screening of the inactive coordinates (as_kkt): G (d) from the last check over
   * all columns, and the columns whose |G_j| came within a factor AS_SCREEN of their
   * threshold then; checks in between look only at those and A */
  double *G;
  int gfull;        /* 1 once G holds a check over all columns */
  int *scr, nscr;   /* the screened columns */
  signed char *smark; /* d: scratch of as_kkt (zero between calls) */
  /* safe skipping in the checks over all columns (as_kkt): the vectors v of the last
   * AS_NREF checks that computed every column (Vr, n x AS_NREF, their norms vrn) and
   * their x'v (Gr, row j holding column j's AS_NREF values), and the column norms */
  double *Vr, *Gr, *vrn, *xn;
  int nref, rnext;
  /* scratch made once per path (as_init) instead of at every lambda or Newton step
   * (freed and grown again each time, the allocations and their page faults were a
   * fifth of a small path's time): as_solve's vectors (8n + 6d + 5 doubles, 2n ints,
   * n + d marks) and the dense step's block of kcap doubles (as_dense; a larger
   * system allocates its own) */
  double *run_f;
  int *run_i;
  signed char *run_c;
  double *kbuf;
  size_t kcap;
  int *todo; /* scratch (d) */
  /* scratch of as_nspace (7n) and as_factor_sync (AS_RK_CHUNK n), allocated once per
   * path: the steps allocate nothing (R_alloc per step fed the garbage collector) */
  double *ns_scr, *fs_w;
  /* scratch of as_kkt (n each) */
  int *kk_oq;
  double *kk_du;
};

/* the number of reference vectors kept for the checks over all columns (as_kkt) */
#define AS_NREF 4
/* A column is screened in when |G_j| >= AS_SCREEN t_j at the last full check. */
#define AS_SCREEN 0.9
/* as_nspace measures the manifold residual of steps up to AS_RESM_STEP (relative
 * units) and reports AS_PRE unmeasured for steps up to 1e-3; as_solve makes the check
 * right after a step when the step started within AS_PRE (resM) of its manifold
 * minimum */
#define AS_PRE 1e-3
#define AS_RESM_STEP 2e-5
/* rank-one changes of the row-space factor go to chol_rankm this many at a time */
#define AS_RK_CHUNK 8

/* lasso_kkt.c */
double as_kkt(const prob *P, aset *S, double lam, const double *theta, const double *r,
              const double *u, double *v, int *worst_j, double *worst_gj, int full,
              double *resA);
double as_kkt_conv(const prob *P, aset *S, double lam, const double *theta,
                   const double *r, const double *u, double *v, int *worst_j,
                   double *worst_gj, double *resA);
double as_linf_extra(const prob *P, const aset *S, const double *r, double N);
void as_screen_add(aset *S, int j);

/* lasso_newton.c: the Newton step of as_solve on the current manifold. In: N, c, E,
 * dN (k + ic), a1, a2 (n); out: grad (k + ic), the step and multipliers in rhs
 * (k + ic + z), the residual change dr (n), the manifold residual *resM (>= 0 on entry:
 * measured at this point already). Returns 1 with reduced = whether the row-space
 * solve was used, 0 on a numerical failure. */
int as_newton(const prob *P, aset *S, double lam, double N, double c, double E,
              double b, const double *dN, const double *a1, const double *a2,
              const double *r, double *grad, double *sv, double *rhs, double *dr,
              double *resM, int *reduced);

#endif
