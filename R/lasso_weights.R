# Observation weights in adv_lasso() and cv_adv_lasso() (issue 19): the loss is
# sum_i w_i loss_i / sum_i w_i, as in adv_lm() (R/weights.R). Each solver takes them
# in the form that keeps it exact:
# * eps = 0 (coordinate descent): the weighted least-squares problem after weighted
#   centring is the unweighted one on rows scaled by sqrt(w_i) (any weights);
# * eps > 0, xi > 0 (FISTA): the C loss multiplies each row's surrogate loss and its
#   gradient by w_i (any weights);
# * eps > 0, xi = 0 (the active-set method): w_i (|r_i| + eps N)^2 is
#   (|s_i r_i| + s_i eps N)^2 with s_i = sqrt(w_i), so the rows of positive weight are
#   scaled by s_i as for eps = 0, and the solver takes s as its row scales: the
#   attack of row i is s_i eps and the intercept's column is s (src/lasso.h, prob.es).
#   Zero-weight rows are dropped (they carry nothing).

# The centred rows of a weighted problem (lasso_prepare_w()) scaled by sqrt(w): the
# form of eps = 0 and of the active-set method.
lasso_scale_rows <- function(pr) {
  s <- sqrt(pr$rw)
  list(xc = pr$xc * s, yc = pr$yc * s)
}

# lasso_prepare() with weights, for the rows `rows` (all when NULL): weighted means,
# weighted standard deviations (divisor sum(w)), and wu, the weights of mean 1.
lasso_prepare_w <- function(a, rows = NULL) {
  x <- if (is.null(rows)) a$x else a$x[rows, , drop = FALSE]
  y <- if (is.null(rows)) a$y else a$y[rows]
  w <- if (is.null(rows)) a$weights else a$weights[rows]
  n <- nrow(x)
  d <- ncol(x)
  wu <- w / mean(w)
  storage.mode(x) <- "double"
  xm <- drop(crossprod(wu, x)) / n
  xc <- sweep(x, 2, xm)
  sd_n <- sqrt(pmax(drop(crossprod(wu, xc^2)) / n, 0))
  rms <- sqrt(drop(crossprod(wu, x^2)) / n)
  if (!a$intercept) {
    xm <- rep(0, d)
    xc <- x
  }
  ym <- if (a$intercept) sum(wu * y) / n else 0
  yc <- y - ym
  sy <- sqrt(sum(wu * yc^2) / n)
  if (!(sy > 0)) sy <- 1
  dimnames(xc) <- NULL
  c(list(xc = xc, yc = yc, xm = xm, ym = ym, sy = sy, rw = wu),
    lasso_columns(a, sd_n, rms))
}

# Per-row attacked squared loss of one coefficient vector on (x, y): the worst case
# (|r| + eps ||theta||_*)^2 for the true attack (also at r = 0), the surrogate attack's
# loss for xi > 0, the clean loss for eps = 0. r: the residuals y - b - x theta when the
# caller has them.
lasso_row_loss <- function(theta, b, x, y, eps, norm, xi, r = NULL) {
  if (is.null(r)) r <- y - b - drop(x %*% theta)
  if (eps == 0) return(r^2)
  if (xi == 0) return((abs(r) + eps * attack_norm(theta, norm))^2)
  att <- .Call(C_linear_attack, as.double(theta), x, as.double(y - b), eps,
               norm_code(norm), xi)
  (r - drop(att %*% theta))^2
}
