/* Attacks on a chunk: FGSM/FGM and PGD-k under L-infinity and L2, with the surrogate
 * shrinkage A_{eps,xi} of the formula sheet (section 2) in every step.
 *
 * One step moves delta by alpha * A_{1,xi}(g): L2 alpha * g / sqrt(|g|^2 + xi^2),
 * L-inf alpha * g_i / (|g_i| + xi) (xi = 0: the normalised gradient and the sign);
 * a zero gradient with xi = 0 moves nothing. Then delta is projected on the eps-ball
 * and x0 + delta clipped to [lo, hi] (clipping only shrinks |delta_i|, so the result
 * stays in the ball). */
#include "advtrain.h"

/* Random starts for n samples (din x n, one column per sample), drawn from R's RNG on
 * the calling (main) thread: uniform in the L-inf box, uniform in the L2 ball. */
void cnn_random_start(int n, int din, int norm, double eps, double *st) {
  for (int i = 0; i < n; i++) {
    double *s = st + (size_t)din * i;
    if (norm == ADV_LINF) {
      for (int j = 0; j < din; j++) s[j] = eps * (2.0 * unif_rand() - 1.0);
    } else {
      double ss = 0.0;
      for (int j = 0; j < din; j++) {
        s[j] = norm_rand();
        ss += s[j] * s[j];
      }
      double r = eps * pow(unif_rand(), 1.0 / din) / (ss > 0 ? sqrt(ss) : 1.0);
      for (int j = 0; j < din; j++) s[j] *= r;
    }
  }
}

static void project_clip(int B, int din, const double *x0, double *xa, int norm,
                         double eps, int clip, double lo, double hi) {
  for (int b = 0; b < B; b++) {
    if (norm == ADV_L2) {
      double ss = 0.0;
      for (int j = 0; j < din; j++) {
        double d = xa[b + (size_t)B * j] - x0[b + (size_t)B * j];
        ss += d * d;
      }
      if (ss > eps * eps) {
        double f = eps / sqrt(ss);
        for (int j = 0; j < din; j++) {
          size_t q = b + (size_t)B * j;
          xa[q] = x0[q] + f * (xa[q] - x0[q]);
        }
      }
    } else {
      for (int j = 0; j < din; j++) {
        size_t q = b + (size_t)B * j;
        double d = xa[q] - x0[q];
        if (d > eps) xa[q] = x0[q] + eps;
        else if (d < -eps) xa[q] = x0[q] - eps;
      }
    }
    if (clip)
      for (int j = 0; j < din; j++) {
        size_t q = b + (size_t)B * j;
        if (xa[q] < lo) xa[q] = lo;
        else if (xa[q] > hi) xa[q] = hi;
      }
  }
}

/* w->x0 holds the clean chunk, w->st the random start (used when use_start); the
 * attacked chunk is left in w->xa. */
void cnn_attack_chunk(const cnn_net *net, const double *theta, int B, cnn_work *w,
                      const double *y, int norm, double eps, double alpha, int steps,
                      double xi, int clip, double lo, double hi, int use_start) {
  int din = net->din;
  size_t nd = (size_t)B * din;
  for (size_t q = 0; q < nd; q++) w->xa[q] = w->x0[q] + (use_start ? w->st[q] : 0.0);
  if (use_start) project_clip(B, din, w->x0, w->xa, norm, eps, clip, lo, hi);
  for (int t = 0; t < steps; t++) {
    for (size_t q = 0; q < nd; q++) w->act[q] = w->xa[q];
    cnn_forward(net, theta, B, w);
    cnn_loss_grad(net, w->act + (size_t)B * net->aoff[net->nl], y, B, 1.0, w->dz, NULL,
                  NULL);
    cnn_backward(net, theta, B, w, NULL, w->gx);
    const double *g = w->gx;
    for (int b = 0; b < B; b++) {
      if (norm == ADV_L2) {
        double ss = 0.0;
        for (int j = 0; j < din; j++) ss += g[b + (size_t)B * j] * g[b + (size_t)B * j];
        double den = sqrt(ss + xi * xi);
        if (den > 0)
          for (int j = 0; j < din; j++) w->xa[b + (size_t)B * j] += alpha * g[b + (size_t)B * j] / den;
      } else {
        for (int j = 0; j < din; j++) {
          double gj = g[b + (size_t)B * j], den = fabs(gj) + xi;
          if (den > 0) w->xa[b + (size_t)B * j] += alpha * gj / den;
        }
      }
    }
    project_clip(B, din, w->x0, w->xa, norm, eps, clip, lo, hi);
  }
}
