#' Choose the attack strength eps without cross-validation
#'
#' Three data-driven radii for adversarial training of the linear model, all for the
#' empirical adversarial risk with the true attack (\eqn{\xi = 0})
#' \deqn{F(\theta, b) = \frac{1}{\sum_i w_i} \sum_i w_i \big(|r_i| + \epsilon
#' \|\theta\|_*\big)^2, \quad r_i = b + x_i'\theta - y_i,}
#' where \eqn{\|\cdot\|_*} is the dual norm of the attack's (L2 for L2 attacks, L1 for
#' L-infinity attacks) and \eqn{\|\cdot\|_p} below is the attack's own norm (L2 or
#' L-infinity). Without `weights` all \eqn{w_i = 1}; without `intercept`, \eqn{b = 0}.
#'
#' * `type = "zero"`: the smallest \eqn{\epsilon} at which \eqn{\theta = 0} minimises
#'   \eqn{F} (the empirical counterpart of the paper's Proposition 1). At
#'   \eqn{\theta = 0} the attack vanishes and the best intercept is the weighted mean
#'   \eqn{\bar y_w} (0 without intercept); with \eqn{u_i = y_i - \bar y_w} the
#'   one-sided derivative of \eqn{F} in a direction \eqn{\delta} of the slopes is
#'   \eqn{\frac{2}{\sum w}(-\delta' X'Wu + \epsilon \|\delta\|_* \sum_i w_i |u_i|)},
#'   non-negative for every \eqn{\delta} iff
#'   \deqn{\epsilon \ge \epsilon_0 = \frac{\|X'Wu\|_p}{\sum_i w_i |u_i|}.}
#'   For large n and data from the model of [simulate_linear()] this tends to the
#'   population threshold \eqn{\|\Sigma\theta_0\|_p / (c_0 v)} of Proposition 1.
#' * `type = "pivotal"`: the `quantile` of \eqn{\|X'We\|_p / \sum_i w_i |e_i|} over
#'   `ndraws` draws of \eqn{e \sim N(0, I_n)} (centred by its weighted mean with an
#'   intercept), i.e. the zero radius of a response that is pure noise. It does not
#'   depend on `y` nor on the noise level (the statistic is scale-free in \eqn{e}),
#'   which is the square-root-LASSO-like property of L-infinity adversarial training
#'   shown by Ribeiro et al. (2023). No further factor is applied: this is the
#'   statistic of the reference implementation (`linadvtrain`'s
#'   `get_radius(X, y, "randn_zero", p)`, which takes the mean of 100 unseeded draws);
#'   here the draws come from R's generator, so `set.seed()` reproduces them, and the
#'   default summary is the median.
#' * `type = "interpolation"` (n < d): the largest \eqn{\epsilon} for which the
#'   minimum-\eqn{\|\cdot\|_*} interpolator \eqn{\hat\theta} (\eqn{X\theta + b = y})
#'   minimises \eqn{F} (Ribeiro et al., 2023, Theorem 1). Let \eqn{\alpha} solve the
#'   dual problem \eqn{\max \alpha'y} subject to \eqn{\|X'\alpha\|_p \le 1} (and
#'   \eqn{1'\alpha = 0} with an intercept). The subgradient of \eqn{F} at the
#'   interpolator contains zero iff \eqn{\epsilon \sum_j w_j \, |\alpha_i| / w_i \le 1}
#'   for all i, so
#'   \deqn{\epsilon_{\mathrm{interp}} = 1 / \big(\textstyle\sum_j w_j \max_i
#'   |\alpha_i|/w_i\big)}
#'   (\eqn{1/(n\|\alpha\|_\infty)} without weights). For L2 attacks \eqn{\hat\theta =
#'   X_c^+ y_c} and \eqn{\alpha = (X_cX_c')^+ y_c / \|\hat\theta\|_2} in closed form
#'   (\eqn{X_c, y_c} centred with an intercept). For L-infinity attacks
#'   \eqn{\hat\theta} is the minimum-L1 interpolator (basis pursuit), computed by a
#'   two-phase simplex method in R, and \eqn{\alpha} is the dual of its optimal basis.
#'   The dual is unique, and the threshold exact, when the basis pursuit solution has
#'   n non-zero coefficients (n - 1 with an intercept), as it has for data in general
#'   position; otherwise a warning says that the value is a lower bound. The fit
#'   interpolates for \eqn{\epsilon \le \epsilon_{\mathrm{interp}}} and does not above.
#'
#' @param x Numeric n x d matrix of inputs (a data frame of numeric columns is
#'   accepted).
#' @param y Numeric response of length n; not used by `type = "pivotal"` (may be
#'   `NULL` then).
#' @param norm `"l2"` or `"linf"`: the norm that bounds the attack.
#' @param type `"zero"`, `"pivotal"` or `"interpolation"` (see Details).
#' @param ndraws For `"pivotal"`: the number of Gaussian draws, a whole number.
#' @param quantile For `"pivotal"`: the quantile of the draws reported, in (0, 1);
#'   0.5 (the median) by default.
#' @param intercept If `TRUE`, the model has an (unattacked, unpenalised) intercept.
#' @param weights `NULL` or positive observation weights, one per row.
#' @return One number, the radius, with attributes `type` and `norm` (and `ndraws`,
#'   `quantile` for `"pivotal"`). It can be given as `eps` to [adv_lm()] and
#'   [adv_lasso()], which also accept the type names themselves (`eps = "pivotal"`).
#' @references Ribeiro, A. H., Zachariah, D., Bach, F. and Schön, T. B. (2023).
#'   Regularization properties of adversarially-trained linear regression.
#'   *NeurIPS 36*. Ribeiro, A. H., Schön, T. B., Zachariah, D. and Bach, F. (2025).
#'   Efficient optimization algorithms for linear adversarial training. *AISTATS*.
#'   Xing, Y., Song, Q. and Cheng, G. (2021). On the generalization properties of
#'   adversarial training. *AISTATS*, PMLR 130, 505-513.
#' @seealso [adv_curve()] for robustness curves of a fitted model.
#' @examples
#' set.seed(1)
#' sim <- simulate_linear(100, theta0 = c(1, -1, rep(0, 8)))
#' adv_radius(sim$x, sim$y, norm = "linf", type = "zero")
#' adv_radius(sim$x, norm = "linf", type = "pivotal")
#' fit <- adv_lm(sim$x, sim$y, eps = "pivotal", norm = "linf", method = "exact")
#' fit$eps
#' # n < d: below this radius adversarial training interpolates
#' hd <- simulate_linear(20, theta0 = rep(0.2, 50))
#' adv_radius(hd$x, hd$y, type = "interpolation")
#' @export
adv_radius <- function(x, y = NULL, norm = c("l2", "linf"),
                       type = c("zero", "pivotal", "interpolation"), ndraws = 100,
                       quantile = 0.5, intercept = FALSE, weights = NULL) {
  call <- rlang::current_env()
  x <- check_matrix(x, call = call)
  n <- nrow(x)
  norm <- check_choice(norm, c("l2", "linf"), call = call)
  type <- check_choice(type, radius_types, call = call)
  intercept <- check_flag(intercept, call = call)
  w <- if (is.null(weights)) rep(1, n) else check_numeric(weights, len = n, call = call)
  if (any(w <= 0)) {
    pos <- which(w <= 0)[1]
    abort_arg("{.arg weights} must be positive numbers; element {pos} is {format(w[pos])}.",
              "weights", call)
  }
  if (type == "pivotal") {
    ndraws <- check_count(ndraws, min = 1, call = call)
    if (!is_plain_numeric(quantile) || length(quantile) != 1 || is.na(quantile) ||
        !(quantile > 0 && quantile < 1)) {
      abort_arg("{.arg quantile} must be a number strictly between 0 and 1, not {describe(quantile)}.",
                "quantile", call)
    }
    out <- radius_pivotal(x, w, norm, intercept, ndraws, quantile)
    return(structure(out, type = type, norm = norm, ndraws = ndraws,
                     quantile = quantile))
  }
  if (is.null(y)) {
    abort_arg("{.arg y} is needed for {.code type = \"{type}\"}.", "y", call)
  }
  y <- check_numeric(as.vector(y), len = n, arg = "y", call = call)
  out <- if (type == "zero") {
    radius_zero(x, y, w, norm, intercept)
  } else {
    radius_interp(x, y, w, norm, intercept, call)
  }
  structure(out, type = type, norm = norm)
}

radius_types <- c("zero", "pivotal", "interpolation")

dual_attack_norm <- function(v, norm) if (norm == "l2") sqrt(sum(v^2)) else max(abs(v))

radius_zero <- function(x, y, w, norm, intercept) {
  u <- if (intercept) y - sum(w * y) / sum(w) else y
  den <- sum(w * abs(u))
  if (!(den > 0)) return(0) # y fitted exactly by theta = 0
  dual_attack_norm(crossprod(x, w * u), norm) / den
}

radius_pivotal <- function(x, w, norm, intercept, ndraws, quantile) {
  n <- nrow(x)
  e <- matrix(stats::rnorm(n * ndraws), n, ndraws)
  if (intercept) e <- sweep(e, 2, colSums(w * e) / sum(w))
  num <- crossprod(x, w * e)
  num <- if (norm == "l2") sqrt(colSums(num^2)) else apply(abs(num), 2, max)
  stats::quantile(num / colSums(w * abs(e)), quantile, names = FALSE, type = 7)
}

radius_interp <- function(x, y, w, norm, intercept, call) {
  n <- nrow(x)
  d <- ncol(x)
  if (n - intercept >= d) {
    abort_arg("{.arg type} = \"interpolation\" needs fewer rows than columns{if (intercept) ' plus the intercept' else ''} (n < d), not n = {n}, d = {d}.",
              "type", call)
  }
  alpha <- if (norm == "l2") interp_dual_l2(x, y, intercept) else interp_dual_l1(x, y, intercept)
  if (is.null(alpha)) {
    abort_arg("{.arg x} has dependent rows: no linear model interpolates {.arg y}.", "x", call)
  }
  1 / (sum(w) * max(abs(alpha) / w))
}

# alpha = (Xc Xc')^+ yc / ||theta||, theta = Xc' (Xc Xc')^+ yc the min-L2 interpolator.
interp_dual_l2 <- function(x, y, intercept) {
  if (intercept) {
    x <- sweep(x, 2, colMeans(x))
    y <- y - mean(y)
  }
  eg <- eigen(tcrossprod(x), symmetric = TRUE)
  keep <- eg$values > 1e-10 * eg$values[1]
  if (sum(keep) < nrow(x) - intercept) return(NULL)
  u <- eg$vectors[, keep, drop = FALSE]
  a <- drop(u %*% (crossprod(u, y) / eg$values[keep]))
  theta <- drop(crossprod(x, a))
  a / sqrt(sum(theta^2))
}

# The dual of basis pursuit: min ||theta||_1 s.t. X theta + b = y, as the LP
# min 1'(p + m) s.t. X(p - m) + b+ - b- = y, all >= 0, solved by the simplex method.
interp_dual_l1 <- function(x, y, intercept) {
  n <- nrow(x)
  d <- ncol(x)
  A <- cbind(x, -x, if (intercept) cbind(rep(1, n), rep(-1, n)))
  cost <- c(rep(1, 2 * d), if (intercept) c(0, 0))
  sol <- lp_simplex(A, y, cost)
  if (is.null(sol)) return(NULL)
  if (min(sol$xb) <= 1e-9 * max(1, max(abs(sol$xb)))) {
    cli::cli_warn(c("The minimum-L1 interpolator is degenerate (fewer than {n} non-zero terms): the interpolation radius is a lower bound.",
                    "i" = "This happens for data that are not in general position."))
  }
  sol$dual
}

# Two-phase revised simplex for min c'z s.t. Az = b, z >= 0 (Dantzig's rule, Bland's
# after many steps so it cannot cycle). Returns the optimal basic values and the dual
# (B' lambda = c_B), or NULL when Az = b has no solution.
lp_simplex <- function(A, b, cost) {
  m <- nrow(A)
  flip <- ifelse(b < 0, -1, 1)
  A <- A * flip
  b <- b * flip
  N <- ncol(A)
  A1 <- cbind(A, diag(m))
  ph1 <- simplex_iter(A1, b, c(rep(0, N), rep(1, m)), N + seq_len(m), seq_len(N + m))
  if (ph1$obj > 1e-9 * max(1, sum(b))) return(NULL)
  basis <- ph1$basis
  # pivot the artificial variables left in the basis (at zero) out of it
  for (k in which(basis > N)) {
    Binv <- solve(A1[, basis])
    row <- drop(Binv[k, ] %*% A)
    row[basis[basis <= N]] <- 0
    j <- which(abs(row) > 1e-9)
    if (!length(j)) return(NULL) # a redundant constraint: dependent rows
    basis[k] <- j[which.max(abs(row[j]))]
  }
  ph2 <- simplex_iter(A, b, cost, basis, seq_len(N))
  list(xb = ph2$xb, dual = ph2$lambda * flip, basis = ph2$basis)
}

simplex_iter <- function(A, b, cost, basis, allowed) {
  N <- ncol(A)
  ok <- logical(N)
  ok[allowed] <- TRUE
  maxit <- 50L * (nrow(A) + N)
  for (it in seq_len(maxit)) {
    Binv <- solve(A[, basis, drop = FALSE])
    xb <- drop(Binv %*% b)
    lambda <- drop(crossprod(Binv, cost[basis]))
    red <- cost - drop(crossprod(A, lambda))
    red[basis] <- 0
    red[!ok] <- 0
    cand <- which(red < -1e-10 * max(1, max(abs(cost))))
    if (!length(cand)) {
      return(list(basis = basis, xb = xb, lambda = lambda, obj = sum(cost[basis] * xb)))
    }
    j <- if (it < 10L * nrow(A)) cand[which.min(red[cand])] else cand[1]
    dj <- drop(Binv %*% A[, j])
    pos <- which(dj > 1e-12)
    if (!length(pos)) cli::cli_abort("Internal error: the linear program is unbounded.")
    ratio <- xb[pos] / dj[pos]
    k <- pos[ratio <= min(ratio) + 1e-12]
    k <- k[which.min(basis[k])]
    basis[k] <- j
  }
  cli::cli_abort("The simplex method did not converge in {maxit} steps.")
}

# eps = "zero" / "pivotal" / "interpolation" in adv_lm() and adv_lasso(): the radius, or
# eps unchanged when it is not a string.
resolve_eps <- function(eps, x, y, norm, intercept, call = rlang::caller_env()) {
  if (!is.character(eps)) return(eps)
  if (length(eps) != 1 || is.na(eps) || !(eps %in% radius_types)) {
    abort_arg("{.arg eps} must be a non-negative number or one of {.or {.val {radius_types}}}, not {describe(eps)}.",
              "eps", call)
  }
  norm <- check_choice(norm, c("l2", "linf"), call = call)
  if (inherits(x, "sparseMatrix")) x <- as.matrix(x)
  x <- check_matrix(x, call = call)
  y <- if (is.matrix(y) && ncol(y) == 1) y[, 1] else y
  y <- check_numeric(y, len = nrow(x), call = call)
  adv_radius(x, y, norm = norm, type = eps, intercept = isTRUE(intercept))
}
