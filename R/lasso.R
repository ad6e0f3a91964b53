#' Adversarially robust LASSO along a regularisation path
#'
#' Fits the linear model \eqn{f(x) = b + x'\theta} by minimising the attacked
#' training loss with an L1 penalty (section 3.2 and Theorem 9 of the paper),
#' \deqn{\frac1n \sum_{i=1}^n \big(y_i - b - (x_i + A_{\epsilon,\xi}(x_i, y_i))'
#' \theta\big)^2 + \lambda \sum_j \mathrm{pf}_j |\theta_j|,}
#' over a decreasing sequence of \eqn{\lambda}, each fit warm-started from the
#' previous one. The attack \eqn{A_{\epsilon,\xi}} is the one of [adv_attack()]; the
#' intercept \eqn{b} is neither attacked nor penalised. With `xi = 0` (the true attack)
#' and L2 attacks the objective is the convex function
#' \eqn{\frac1n\sum_i(|r_i| + \epsilon\|\theta\|_2)^2 + \lambda\|\theta\|_1},
#' \eqn{r_i = b + x_i'\theta - y_i} (L-infinity attacks: \eqn{\|\theta\|_1} in place of
#' \eqn{\|\theta\|_2}). With `eps = 0` it is the ordinary LASSO
#' \eqn{\frac1n\|y - b - X\theta\|^2 + \lambda\|\theta\|_1}, so `lambda` here is
#' twice glmnet's \eqn{\lambda}, which minimises \eqn{\frac1{2n}\|\cdot\|^2 +
#' \lambda\|\theta\|_1}: `glmnet(x, y, lambda = fit$lambda / 2)` gives the same path.
#'
#' **The first \eqn{\lambda}.** \eqn{\lambda_{\max}} is the smallest \eqn{\lambda} at
#' which \eqn{\theta = 0} is optimal. Let \eqn{g = \frac2n X_c'(y - \bar y)} (the
#' gradient of the clean loss at zero, \eqn{X_c} the centred x; no centring without
#' intercept) and \eqn{m = \frac1n\sum_i |y_i - \bar y|}, and let \eqn{w_j} be the
#' penalty weights (below). For the true attack the loss has a kink at
#' \eqn{\theta = 0}: its one-sided derivative in direction \eqn{\delta} is
#' \eqn{-g'\delta + 2\epsilon m \|\delta\|_*}, so zero is optimal iff \eqn{g} lies in
#' \eqn{2\epsilon m B_* + \lambda W B_\infty} (a Minkowski sum of dual-norm balls):
#' * L2: \eqn{\|\mathrm{soft}(g, \lambda w)\|_2 \le 2\epsilon m}; \eqn{\lambda_{\max}}
#'   solves this with equality (a piecewise quadratic equation, solved exactly);
#' * L-infinity: \eqn{|g_j| \le \lambda w_j + 2\epsilon m} for all j, so
#'   \eqn{\lambda_{\max} = \max_j (|g_j| - 2\epsilon m)_+ / w_j}.
#'
#' If \eqn{\lambda_{\max} = 0} (\eqn{\epsilon} so large that \eqn{\theta = 0} is
#' optimal for every \eqn{\lambda}) a warning says so and the grid of the plain LASSO
#' is used. With `xi > 0` the surrogate attack vanishes smoothly at zero, there is no
#' kink, and \eqn{\lambda_{\max} = \max_j |g_j| / w_j} as for the LASSO. Just below
#' \eqn{\lambda_{\max}}, L2 attacks let several coefficients leave zero together.
#'
#' **Standardisation.** As in glmnet, `standardize = TRUE` penalises
#' \eqn{\mathrm{pf}_j s_j |\theta_j|}, \eqn{s_j} the standard deviation of column j
#' (divisor n), which is the same as fitting on standardised columns and returning the
#' coefficients on the original scale. `penalty_factor` is rescaled to sum to the
#' number of columns, as glmnet does. The attack always acts on the original x.
#'
#' **Solvers** (in C; the reasons are given in `src/lasso.c`): coordinate descent
#' on the residual for `eps = 0` (sequential strong rules, active-set cycling, a final
#' KKT check of every coordinate), with Newton steps on the active set once its signs
#' settle; a primal active-set method with
#' equality-constrained Newton steps for `eps > 0, xi = 0`, whose objective is convex
#' but has kinks at zero residuals that coordinate descent cannot get past; and
#' accelerated proximal gradient (FISTA with backtracking and restart) for
#' `eps > 0, xi > 0`, where the surrogate loss is smooth (not necessarily convex). All
#' stop when the relative KKT residual (the largest violation of the subgradient
#' conditions, for coordinate j measured in standardised units \eqn{s_j
#' |\partial F/\partial\theta_j|}, divided by the standard deviation of y) is at most
#' `thresh`. It is returned per \eqn{\lambda} as `kkt`; a warning names the
#' \eqn{\lambda} values where it was not reached because of the iteration limit or a
#' singular system, and those where the solver stalled in floating point (no step
#' lowers the objective any more, `status` 3) with a residual above
#' `max(thresh, 1e-7)`: on data whose columns have very different scales such
#' stalls end between 1e-10 and 3e-8 with the objective minimised to rounding, and a
#' warning there would only report the accuracy of the check itself (`kkt` and
#' `status` keep every value). At \eqn{\lambda \ge \lambda_{\max}} the coefficients
#' are exactly zero. The active-set method starts each
#' \eqn{\lambda} from the solution at the one before; where a \eqn{\lambda} asked for is
#' more than a factor 2 below the one before it (or below \eqn{\lambda_{\max}}, as a
#' single small `lambda` is), it goes there through extra values a factor 0.8 apart,
#' which are not returned (their Newton steps count in `iters` of the next one).
#'
#' **Observation weights.** With `weights` the loss is
#' \eqn{\sum_i w_i \ell_i / \sum_i w_i} (\eqn{\ell_i} the attacked squared loss of row
#' i; the attack itself does not depend on the weight), so whole-number weights are
#' the same as replicating rows, zero weights the same as dropping them, and only the
#' ratios matter. The means and standard deviations of the centring, of
#' `standardize` and of \eqn{\lambda_{\max}} are weighted (glmnet's convention).
#' Every solver takes any non-negative weights: for `eps = 0` and for the
#' true attack (`eps > 0, xi = 0`) the rows are scaled by \eqn{\sqrt{w_i}} (the
#' true-attack solver then attacks row i with \eqn{\sqrt{w_i}\,\epsilon} and has
#' \eqn{\sqrt{w_i}} as the intercept's column, which is the same objective), and for
#' `xi > 0` the weights multiply each row's surrogate loss. `nobs()` counts the rows
#' of positive weight.
#'
#' Sparse `x` (a `Matrix::dgCMatrix`) is accepted and converted to a dense matrix
#' (the solvers are dense).
#'
#' @param x Numeric n x d matrix of inputs (a data frame of numeric columns or a
#'   `dgCMatrix` from the Matrix package is accepted), or a formula (the formula
#'   method, [advtrain-formula]).
#' @param y Numeric response of length n.
#' @param eps One non-negative number: the attack strength \eqn{\epsilon}; or one
#'   of `"zero"`, `"pivotal"`, `"interpolation"`: the radius of [adv_radius()] for
#'   `x`, `y`, `norm` and `intercept` (recorded in the fit: `eps` is the value used,
#'   `eps_type` the type).
#' @param norm `"l2"` or `"linf"`: the norm that bounds the attack.
#' @param xi Non-negative smoothing parameter of the surrogate attack; 0 is the true
#'   attack.
#' @param lambda Optional user-supplied decreasing sequence of non-negative penalties;
#'   by default `nlambda` values from \eqn{\lambda_{\max}} down to
#'   `lambda_min_ratio * lambda_max`, equally spaced on the log scale.
#' @param nlambda Number of \eqn{\lambda} values of the default sequence (at most 1e5).
#' @param lambda_min_ratio Ratio of the smallest to the largest \eqn{\lambda}; default
#'   0.01 when n < d and 1e-4 otherwise (as glmnet).
#' @param penalty_factor Positive numbers, one per column, multiplying the penalty of
#'   each coefficient; `NULL` means all 1.
#' @param standardize Penalise coefficients on the scale of standardised columns
#'   (see Details).
#' @param intercept Fit an (unpenalised, unattacked) intercept.
#' @param thresh Convergence tolerance on the relative KKT residual.
#' @param maxit Maximum number of iterations (passes, Newton steps or gradient steps)
#'   per \eqn{\lambda}.
#' @param threads Number of OpenMP threads; `NULL` means [adv_threads()]. Results do
#'   not depend on it.
#' @param weights Optional non-negative observation weights, one per row (see
#'   Details); `NULL` gives every row weight 1.
#' @param family `"gaussian"` (the squared loss, described here) or `"binomial"`:
#'   adversarial logistic regression for a two-class `y` (a factor with two levels,
#'   0/1 or logical), [adv_lasso_binomial].
#' @return An object of class `adv_lasso`: a list with `a0` (intercepts), `beta` (the
#'   d x nlambda coefficient matrix), `lambda`, `df` (number of non-zero
#'   coefficients), `kkt`, `iters` and `status` (0 = converged) per \eqn{\lambda},
#'   `lambda_max`, `eps`, `norm`, `xi`, `intercept`, `standardize`,
#'   `penalty_factor`, `dim`, `nobs`, `dev.ratio` (per \eqn{\lambda}; see
#'   [adv_lasso-methods]) and `call`; formula fits also keep `terms`, `xlevels`,
#'   `contrasts`, `na.action` and `model` ([advtrain-formula]). Methods: `print()`,
#'   `summary()`, `coef()`, `predict()`, `plot()`, `nobs()`, and the tidiers
#'   `tidy()`, `glance()`, `augment()` ([advtrain-tidiers]).
#' @references Xing, Y., Song, Q. and Cheng, G. (2021). On the generalization
#'   properties of adversarial training. *AISTATS*, PMLR 130, 505-513.
#' @seealso [cv_adv_lasso()] to choose \eqn{\lambda} by cross-validation.
#' @examples
#' set.seed(1)
#' sim <- simulate_linear(60, theta0 = c(2, -1, rep(0, 8)))
#' fit <- adv_lasso(sim$x, sim$y, eps = 0.1, nlambda = 20)
#' fit
#' coef(fit, s = fit$lambda[10])
#' predict(fit, sim$x[1:3, ], s = 0.05)
#' plot(fit)
#' @export
adv_lasso <- function(x, ...) UseMethod("adv_lasso")

#' @rdname adv_lasso
#' @param ... glmnet's spellings `lambda.min.ratio` and `penalty.factor`, aliases of
#'   `lambda_min_ratio` and `penalty_factor`; for the formula method, the arguments
#'   of the default method other than `x`, `y` and `intercept`.
#' @export
adv_lasso.default <- function(x, y, eps, norm = c("l2", "linf"), xi = 0, lambda = NULL,
                              nlambda = 100, lambda_min_ratio = NULL, penalty_factor = NULL,
                              standardize = TRUE, intercept = TRUE, thresh = 1e-10,
                              maxit = 1e5, threads = NULL, weights = NULL,
                              family = c("gaussian", "binomial"), ...) {
  call <- match.call()
  call[[1]] <- as.name("adv_lasso")
  al <- glmnet_aliases(list(...), list(lambda_min_ratio = lambda_min_ratio,
                                       penalty_factor = penalty_factor), "adv_lasso")
  lambda_min_ratio <- al$lambda_min_ratio
  penalty_factor <- al$penalty_factor
  if (check_choice(family, c("gaussian", "binomial")) == "binomial") {
    # adversarial logistic regression (R/lasso_binomial.R)
    a <- lasso_binomial_args(x, y, eps, norm, xi, lambda, nlambda, lambda_min_ratio,
                             penalty_factor, standardize, intercept, thresh, maxit,
                             threads, weights, call = rlang::current_env())
    fit <- lasso_binomial_fit(a)
    fit$call <- call
    return(fit)
  }
  eps_type <- if (is.character(eps)) eps[1] else NULL
  eps <- resolve_eps(eps, x, y, norm, intercept) # "zero", "pivotal", ...: ?adv_radius
  a <- lasso_args(x, y, eps, norm, xi, lambda, nlambda, lambda_min_ratio,
                  penalty_factor, standardize, intercept, thresh, maxit, threads,
                  weights)
  fit <- lasso_fit(a)
  fit$dev.ratio <- lasso_dev_ratio(fit, a$x, a$y, a$weights)
  fit$path_loss <- NULL
  fit$eps_type <- eps_type
  fit$call <- call
  fit
}

#' @rdname adv_lasso
#' @inheritParams advtrain-formula
#' @param data For the formula method (`x` a formula), a data frame with its
#'   variables; see [advtrain-formula]. The formula's intercept is the fit's
#'   `intercept`.
#' @export
adv_lasso.formula <- function(x, data, ..., subset, weights, na.action,
                           contrasts = NULL) {
  call <- match.call()
  call[[1]] <- as.name("adv_lasso")
  des <- formula_design(match.call(expand.dots = FALSE), parent.frame(), "adv_lasso")
  fit <- formula_call(adv_lasso.default, "adv_lasso", des, list(...))
  formula_attach(fit, des, call)
}

# --------------------------------------------------------------- validate ----

lasso_x <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  force(arg)
  if (inherits(x, "sparseMatrix")) {
    if (!inherits(x, "dgCMatrix")) {
      abort_arg("{.arg {arg}} must be a numeric matrix or a {.cls dgCMatrix}, not {describe(x)}.",
                arg, call)
    }
    if (any(!is.finite(x@x))) {
      abort_arg("{.arg {arg}} must contain only finite values; it has {format(x@x[!is.finite(x@x)][1])}.",
                arg, call)
    }
    if (!requireNamespace("Matrix", quietly = TRUE)) {
      abort_arg("{.arg {arg}} is a sparse matrix, which needs the Matrix package.", arg, call)
    }
    x <- as.matrix(x)
  }
  check_matrix(x, arg = arg, call = call)
}

lasso_args <- function(x, y, eps, norm, xi, lambda, nlambda, lambda_min_ratio,
                       penalty_factor, standardize, intercept, thresh, maxit, threads,
                       weights = NULL, call = rlang::caller_env()) {
  x <- lasso_x(x, call = call)
  n <- nrow(x)
  d <- ncol(x)
  if (n < 2) {
    abort_arg("{.arg x} must have at least 2 rows, not {n}.", "x", call)
  }
  y <- check_numeric(as.vector(if (is.matrix(y) && ncol(y) == 1) y[, 1] else y),
                     len = n, arg = "y", call = call)
  eps <- check_number(eps, min = 0, call = call)
  norm <- check_choice(norm, c("l2", "linf"), call = call)
  xi <- check_number(xi, min = 0, call = call)
  if (!is.null(lambda)) {
    lambda <- check_numeric(lambda, min = 0, what = "a non-negative numeric vector",
                            call = call)
    lambda <- sort(as.vector(lambda), decreasing = TRUE)
  }
  nlambda <- check_count(nlambda, min = 1, max = 1e5, call = call)
  if (!is.null(lambda_min_ratio)) {
    lambda_min_ratio <- check_number(lambda_min_ratio, min = 0, max = 1, strict = TRUE,
                                     call = call)
    if (lambda_min_ratio == 1) {
      abort_arg("{.arg lambda_min_ratio} must be smaller than 1, not 1.",
                "lambda_min_ratio", call)
    }
  }
  if (!is.null(penalty_factor)) {
    penalty_factor <- check_numeric(penalty_factor, len = d, call = call)
    if (any(penalty_factor <= 0)) {
      pos <- which(penalty_factor <= 0)[1]
      abort_arg("{.arg penalty_factor} must contain positive numbers; element {pos} is {format(penalty_factor[pos])}.",
                "penalty_factor", call)
    }
  }
  weights <- check_weights(weights, n, call = call)
  list(x = x, y = y, eps = eps, norm = norm, xi = xi, lambda = lambda,
       nlambda = nlambda, lambda_min_ratio = lambda_min_ratio,
       penalty_factor = penalty_factor, weights = weights,
       standardize = check_flag(standardize, call = call),
       intercept = check_flag(intercept, call = call),
       thresh = check_number(thresh, min = 0, strict = TRUE, call = call),
       maxit = check_count(maxit, min = 1, call = call),
       threads = resolve_threads(threads, call = call))
}

# ---------------------------------------------------------------- prepare ----

# Centring, scales and penalty weights; `x` and `y` as checked by lasso_args().
# `rows` (optional, 1-based) selects the training rows of a cross-validation fold: the
# subset is copied and centred in C in one pass (no R-level copies of x). With `copy`
# FALSE (all rows) x is not copied: `xc` is NULL and `mu` the column means (NULL
# without intercept), which the eps = 0 solver subtracts on the fly (C_lasso_path_mu).
# `xty` = xc'yc, computed in the same pass over x (lambda_max).
lasso_prepare <- function(a, rows = NULL, copy = TRUE) {
  if (!is.null(rows)) rows <- as.integer(rows)
  copy <- copy || !is.null(rows)
  y <- if (is.null(rows)) a$y else a$y[rows]
  ym <- if (a$intercept) mean(y) else 0
  yc <- y - ym
  p <- .Call(C_lasso_prep, a$x, rows, a$intercept, copy, as.double(yc))
  d <- length(p$mean)
  xm <- p$mean
  sd_n <- p$sd
  rms <- sqrt(sd_n^2 + xm^2) # = sqrt(colMeans(x^2)), without another n x d pass
  mu <- if (!copy && a$intercept) xm
  if (!a$intercept) xm <- rep(0, d)
  sy <- sqrt(mean(yc^2))
  if (!(sy > 0)) sy <- 1
  c(list(xc = p$x, yc = yc, xm = xm, ym = ym, sy = sy, mu = mu, xty = p$xty),
    lasso_columns(a, sd_n, rms))
}

# What lasso_prepare() and lasso_prepare_w() (weighted) share, from the columns'
# standard deviations sd_n and root mean squares rms: a column is left out when the
# model cannot use it (constant with an intercept, identically zero without one), its
# scale for the KKT measure and standardisation, and the penalty weights.
lasso_columns <- function(a, sd_n, rms) {
  d <- length(sd_n)
  excl <- if (a$intercept) sd_n <= 1e-12 * pmax(rms, 1e-300) else rms == 0
  sc <- ifelse(sd_n > 1e-12 * pmax(rms, 1e-300), sd_n, ifelse(rms > 0, rms, 1))
  pf <- if (is.null(a$penalty_factor)) rep(1, d) else a$penalty_factor
  pf <- pf * d / sum(pf)
  list(sc = sc, w = pf * if (a$standardize) sc else 1, pf = pf, excl = as.integer(excl))
}

# The smallest lambda at which theta = 0 is optimal (see ?adv_lasso).
lasso_lambda_max <- function(pr, eps, norm, xi) {
  n <- length(pr$yc)
  rw <- if (is.null(pr$rw)) 1 else pr$rw # observation weights of mean 1
  g <- abs(2 / n * (if (!is.null(pr$xty)) pr$xty else drop(crossprod(pr$xc, rw * pr$yc))))
  g[pr$excl == 1L] <- 0
  w <- pr$w
  if (eps == 0 || xi > 0) return(max(g / w))
  a <- 2 * eps * mean(rw * abs(pr$yc))
  if (norm == "linf") return(max(pmax(g - a, 0) / w))
  lambda_max_l2(g, w, a)
}

# Smallest lambda >= 0 with ||soft(g, lambda w)||_2 <= a (g >= 0). On each interval
# between consecutive breakpoints g_j / w_j the squared norm is a quadratic in lambda.
lambda_max_l2 <- function(g, w, a) {
  if (sqrt(sum(g^2)) <= a) return(0)
  t <- g / w
  o <- order(t, decreasing = TRUE)
  t <- c(t[o], 0)
  g <- g[o]
  w <- w[o]
  A <- cumsum(g^2)
  B <- cumsum(g * w)
  C <- cumsum(w^2)
  for (k in seq_along(g)) {
    lo <- t[k + 1]
    hk <- A[k] - 2 * lo * B[k] + lo^2 * C[k]
    if (hk >= a^2 || k == length(g)) {
      disc <- max(B[k]^2 - C[k] * (A[k] - a^2), 0)
      return(min(max((B[k] - sqrt(disc)) / C[k], lo), t[k]))
    }
  }
}

lasso_lambda_seq <- function(a, pr, n, d) {
  if (!is.null(a$lambda)) return(list(lambda = a$lambda, lambda_max = NA_real_))
  lmax <- lasso_lambda_max(pr, a$eps, a$norm, a$xi)
  if (!(lmax > 0)) {
    cli::cli_warn(c("{.arg eps} = {a$eps} is so large that theta = 0 is optimal for every lambda.",
                    "i" = "The grid of the plain LASSO is used; all coefficients are zero."))
    lmax <- lasso_lambda_max(pr, 0, a$norm, 0)
    if (!(lmax > 0)) lmax <- 1
  }
  ratio <- if (is.null(a$lambda_min_ratio)) (if (n < d) 0.01 else 1e-4) else a$lambda_min_ratio
  lambda <- if (a$nlambda == 1) lmax
            else exp(seq(log(lmax), log(lmax * ratio), length.out = a$nlambda))
  list(lambda = lambda, lambda_max = lmax)
}

# -------------------------------------------------------------------- fit ----

lasso_fit <- function(a, rows = NULL) {
  n <- if (is.null(rows)) nrow(a$x) else length(rows)
  d <- ncol(a$x)
  # observation weights (R/lasso_weights.R): weighted centring, then rows scaled by
  # sqrt(w) for eps = 0 and for the active-set method (xi = 0, which also takes the
  # weights as its row scales and only the rows of positive weight), the weights in
  # the C loss for xi > 0
  rw <- NULL
  n_pos <- n
  if (!is.null(a$weights)) {
    prow <- rows
    if (a$eps > 0 && a$xi == 0) {
      idx <- if (is.null(rows)) seq_len(n) else as.integer(rows)
      prow <- idx[a$weights[idx] > 0]
    }
    pr <- lasso_prepare_w(a, prow)
    n_pos <- sum(pr$rw > 0)
    rw <- pr$rw
  } else {
    # eps = 0 on all rows: no copy of x, the centring implicit in the solver
    pr <- lasso_prepare(a, rows, copy = !(a$eps == 0 && is.null(rows)))
  }
  ls <- lasso_lambda_seq(a, pr, n_pos, d)
  xs <- if (is.null(pr$xc)) a$x else pr$xc
  ys <- pr$yc
  if (!is.null(rw) && (a$eps == 0 || a$xi == 0)) {
    sr <- lasso_scale_rows(pr)
    xs <- sr$xc
    ys <- sr$yc
    if (a$eps == 0) rw <- NULL
  }
  # the active-set solver (eps > 0, xi = 0) reaches a lambda more than a factor 2 below
  # the one before (or lambda_max) through extra ones, a factor 0.8 apart
  lam <- ls$lambda
  keep <- seq_along(lam)
  # (internal switch for the tests: option advtrain.lasso_continuation = FALSE)
  if (a$eps > 0 && a$xi == 0 && !isFALSE(getOption("advtrain.lasso_continuation"))) {
    lmax <- if (is.na(ls$lambda_max)) lasso_lambda_max(pr, a$eps, a$norm, a$xi) else ls$lambda_max
    cont <- lasso_continuation(lam, lmax)
    lam <- cont$lambda
    keep <- cont$keep
  }
  ctrl <- c(a$eps, a$xi, a$thresh, pr$sy)
  ints <- c(norm_code(a$norm), as.integer(a$intercept), a$maxit, a$threads,
            # internal switch for the tests: solve every Newton system in full
            as.integer(isTRUE(getOption("advtrain.lasso_full_kkt"))))
  res <- if (is.null(pr$mu)) {
    .Call(C_lasso_path, xs, ys, pr$w, pr$sc, pr$excl, lam, ctrl, ints, rw)
  } else {
    .Call(C_lasso_path_mu, xs, ys, pr$w, pr$sc, pr$excl, lam, ctrl, ints, pr$mu)
  }
  if (length(keep) < length(lam)) {
    # the Newton steps of the extra lambdas count towards the next one asked for
    res$iters <- diff(c(0L, cumsum(res$iters)[keep]))
    res$beta <- res$beta[, keep, drop = FALSE]
    res$b <- res$b[keep]
    res$kkt <- res$kkt[keep]
    res$status <- res$status[keep]
    res$loss <- res$loss[keep]
  }
  # lambda >= lambda_max: theta = 0 is the solution (that is how lambda_max is
  # defined). At lambda_max itself the active-set method may leave zero by a
  # rounding-level step and then stall at coefficients of order 1e-15 whose KKT
  # residual, measured at the kink of ||theta||, is noise; the exact answer is zero.
  if (is.finite(ls$lambda_max) && ls$lambda_max > 0) {
    at_max <- which(res$status != 0L & ls$lambda >= ls$lambda_max * (1 - 1e-12))
    if (length(at_max)) {
      res$beta[, at_max] <- 0
      res$b[at_max] <- 0
      res$kkt[at_max] <- 0
      res$status[at_max] <- 0L
      res$loss[at_max] <- NA_real_ # (lasso_dev_ratio() computes these)
    }
  }
  lasso_report(res$status, ls$lambda, res$kkt, a$thresh)
  beta <- res$beta
  res$beta <- NULL # (so that dimnames<- names beta in place, not a d x nlambda copy)
  vn <- colnames(a$x)
  if (is.null(vn)) vn <- paste0("V", seq_len(d))
  snames <- paste0("s", seq_along(ls$lambda) - 1L)
  dimnames(beta) <- list(vn, snames)
  # the non-zero counts column by column (beta != 0 would be another d x nlambda array)
  df <- vapply(seq_along(snames), function(k) sum(beta[, k] != 0), numeric(1))
  names(df) <- snames
  a0 <- if (a$intercept) pr$ym + res$b - drop(crossprod(pr$xm, beta)) else rep(0, length(ls$lambda))
  names(a0) <- snames
  structure(list(
    a0 = a0, beta = beta, lambda = ls$lambda, df = df,
    kkt = res$kkt, iters = res$iters, status = res$status,
    lambda_max = ls$lambda_max, eps = a$eps, norm = a$norm, xi = a$xi,
    intercept = a$intercept, standardize = a$standardize, penalty_factor = pr$pf,
    thresh = a$thresh, dim = c(d, length(ls$lambda)), nobs = n_pos,
    weights = if (is.null(rows)) a$weights, call = NULL,
    path_loss = res$loss # (used by lasso_dev_ratio(), then dropped)
  ), class = "adv_lasso")
}

# The rows of a path's coefficient matrix that are non-zero somewhere on the path, from
# the linear positions of its non-zero entries (one logical d x nlambda pass: 1.7 ms at
# d = 5000, 100 lambdas, against 4.8 ms column by column, where each extracted column
# carried a copy of the row names).
path_nonzero <- function(beta) {
  p <- which(unclass(beta) != 0) - 1L
  sort(unique(p %% nrow(beta))) + 1L
}

# x %*% beta for a path's coefficient matrix, over the coefficients that are non-zero
# somewhere on the path only (a path is sparse: at n = 500, d = 5000 the full product
# of every cross-validation fold cost about as much as its fit).
path_fitted <- function(x, beta) {
  nz <- path_nonzero(beta)
  dn <- list(rownames(x), colnames(beta))
  if (!length(nz)) return(matrix(0, nrow(x), ncol(beta), dimnames = dn))
  out <- x[, nz, drop = FALSE] %*% beta[nz, , drop = FALSE]
  dimnames(out) <- dn
  out
}

# The decreasing lambda with extra values inserted, in geometric steps of rho, wherever
# two consecutive ones (or lmax and the first below it) are more than a factor 1/gap
# apart; keep: the positions of the given values. A warm start from a nearby lambda
# takes far fewer Newton steps than a cold one far down the path (at n = 150,
# d = 1500, one lambda at lmax / 100: 3700 steps from zero, 490 along such a path);
# on grids of about 0.8 per step the extra lambdas cost more steps than they save.
lasso_continuation <- function(lambda, lmax, rho = 0.8, gap = 0.5) {
  if (!is.finite(lmax) || !(lmax > 0)) return(list(lambda = lambda, keep = seq_along(lambda)))
  out <- numeric(0)
  keep <- integer(0)
  prev <- lmax
  for (l in lambda) {
    if (l > 0 && l < prev * gap) {
      m <- ceiling(log(l / prev) / log(rho)) - 1
      if (m > 0) out <- c(out, prev * rho^seq_len(m))
    }
    out <- c(out, l)
    keep <- c(keep, length(out))
    prev <- min(prev, l)
  }
  list(lambda = out, keep = keep)
}

lasso_report <- function(status, lambda, kkt, thresh,
                         units = "in units of sd(y) per standardised column") {
  # status codes of src/lasso.h: 1 iteration limit, 2 singular Newton system,
  # 3 no further progress in floating point (the residual is rounding-limited). A
  # stall (3) is reported only above lasso_stall_tol(thresh): there the last polishing
  # steps found no violation to act on and no step that lowers the objective in
  # floating point, so the residual left is the rounding floor of the KKT check itself
  bad <- which(status %in% c(1L, 2L) | (status == 3L & kkt > lasso_stall_tol(thresh)))
  if (!length(bad)) return(invisible())
  what <- if (any(status[bad] == 2L)) "a singular Newton system stopped the solver"
          else if (any(status[bad] == 1L)) "the iteration limit {.arg maxit} was reached"
          else "it stalled at the limit of floating-point accuracy"
  measured <- bad[!is.na(kkt[bad])]
  worst <- if (length(measured)) measured[which.max(kkt[measured])] else bad[1]
  cli::cli_warn(c(
    paste0("The solver did not reach the KKT tolerance {thresh} at {length(bad)} of ",
           "{length(lambda)} lambda value{?s}: ", what, "."),
    "i" = if (length(measured)) {
      paste0("There the optimality conditions hold only to a relative residual of up to ",
             "{signif(kkt[worst], 3)} (at lambda = {signif(lambda[worst], 4)}): the coefficients ",
             "are those of a point where the gradient of the objective is that far from ",
             "zero, {units}, not a certified minimiser; ",
             "coefficients of weakly determined columns can be off by more.")
    } else {
      paste0("The coefficients there (first at lambda = {signif(lambda[worst], 4)}) are those ",
             "of the last iterate, not a minimiser; their KKT residual was not measured ({.code NA}).")
    },
    "i" = "See {.code fit$status} and {.code fit$kkt}; a larger {.arg maxit} (limit) or standardised columns (stall) may help."
  ))
}

# The KKT residual below which a stall of the solver (status 3) is not reported: the
# tolerance itself, or 1e-7 when that is smaller. On real data with columns of very
# different scales (MASS::Boston, mtcars) the polishing Newton steps stall between
# 1e-10 and 3e-8, with objectives equal to 1e-15 relative to an independent BFGS run
# (tests/testthat/test-lasso.R); 1e-7 leaves a margin of three above the worst seen.
lasso_stall_tol <- function(thresh) max(thresh, 1e-7)

# ---------------------------------------------------------------- methods ----

# The coefficient matrix ((d + 1) x length(s)) at penalties s: exact at the path's
# lambdas, linear interpolation in lambda between them (as glmnet), constant beyond.
lasso_coef_at <- function(object, s) {
  full <- rbind("(Intercept)" = object$a0, object$beta)
  if (is.null(s)) return(full)
  s <- check_numeric(s, min = 0, what = "a non-negative numeric vector",
                     call = rlang::caller_env(2))
  lam <- object$lambda
  nl <- length(lam)
  out <- vapply(s, function(si) {
    if (nl == 1 || si >= lam[1]) return(full[, 1])
    if (si <= lam[nl]) return(full[, nl])
    k <- max(which(lam >= si))
    if (lam[k] == si) return(full[, k])
    f <- (lam[k] - si) / (lam[k] - lam[k + 1])
    (1 - f) * full[, k] + f * full[, k + 1]
  }, numeric(nrow(full)))
  out <- matrix(out, nrow(full), dimnames = list(rownames(full), paste0("s=", signif(s, 4))))
  out
}

#' Methods for adversarial LASSO fits
#'
#' `coef()` returns the (d + 1) x length(lambda) matrix of coefficients, intercept
#' first, or its columns at the penalties `s`. At the path's own \eqn{\lambda} values
#' the coefficients are the solver's; between two of them they are interpolated
#' linearly in \eqn{\lambda} (as glmnet does), which is an approximation: refit with
#' `lambda = s` for the exact solution at `s`. Outside the path the nearest end is
#' used.
#'
#' `print()` shows, for up to 10 \eqn{\lambda} of the path, the number of non-zero
#' coefficients (`Df`), `%Dev` and \eqn{\lambda}, as glmnet does. `%Dev` is
#' `100 * dev.ratio`, the share of the null model's training loss explained:
#' \eqn{1 - L(\lambda) / L_0}, with \eqn{L(\lambda)} the attacked training loss of
#' the fit (its `eps`, `norm` and `xi`) and \eqn{L_0} that of the intercept-only model
#' (no slope, so no attack changes it). With `eps = 0` it is glmnet's deviance ratio;
#' with `eps > 0` it is smaller, and can be negative. `summary()` gives it for
#' every \eqn{\lambda}, with the KKT residuals and the solver's status.
#'
#' `predict()` gives responses at new inputs (`type = "response"`), the
#' coefficients, or the indices of the non-zero coefficients. `plot()` draws the
#' coefficient paths against \eqn{\log\lambda}, with the number of non-zero
#' coefficients on the top axis.
#'
#' @param object,x An `adv_lasso` fit.
#' @param s Penalty values at which coefficients or predictions are wanted; `NULL`
#'   means the whole path.
#' @param newx Matrix of new inputs (columns as in the training data; a `dgCMatrix`
#'   is accepted).
#' @param type `"response"`, `"coefficients"` or `"nonzero"`.
#' @param newdata For fits of the formula method, a data frame with the variables of
#'   the formula (a data frame given as `newx` is taken as `newdata`); without it,
#'   the predictions at the training rows (padded with `NA` under
#'   [stats::na.exclude()]).
#' @param digits Significant digits to print.
#' @param ... Further arguments to [graphics::matplot()] (plot); unused otherwise.
#' @return `coef()`: a matrix. `predict()`: a matrix of predictions (one column per
#'   penalty), the coefficient matrix, or for `"nonzero"` a list of index vectors (one
#'   per penalty; a vector when there is one). `print()` and `plot()` return `x`
#'   invisibly.
#' @examples
#' set.seed(2)
#' sim <- simulate_linear(50, theta0 = c(1, 1, 0, 0, 0))
#' fit <- adv_lasso(sim$x, sim$y, eps = 0.2, nlambda = 10)
#' coef(fit)[, 1:3]
#' predict(fit, sim$x[1:2, ], s = fit$lambda[5])
#' predict(fit, s = fit$lambda[5], type = "nonzero")
#' @name adv_lasso-methods
NULL

#' @rdname adv_lasso-methods
#' @export
coef.adv_lasso <- function(object, s = NULL, ...) {
  lasso_coef_at(object, s)
}

#' @rdname adv_lasso-methods
#' @export
predict.adv_lasso <- function(object, newx, s = NULL,
                              type = c("response", "coefficients", "nonzero"),
                              newdata = NULL, ...) {
  type <- check_choice(type, c("response", "coefficients", "nonzero"))
  cf <- lasso_coef_at(object, s)
  if (type == "coefficients") return(cf)
  if (type == "nonzero") {
    nz <- lapply(seq_len(ncol(cf)), function(k) which(cf[-1, k] != 0))
    names(nz) <- colnames(cf)
    return(if (length(nz) == 1) nz[[1]] else nz)
  }
  if (!is.null(object$terms)) {
    # a formula fit: new data (or the training data) through the formula
    if (!missing(newx) && is.data.frame(newx) && is.null(newdata)) newdata <- newx
    else if (!missing(newx)) {
      abort_arg("{.arg newx} is for fits of the matrix method; this fit used a formula, so give {.arg newdata}.",
                "newx", rlang::current_env())
    }
    xm <- formula_newx(object, newdata)
    out <- formula_predict_rows(xm, function(z) {
      z %*% cf[-1, , drop = FALSE] + rep(cf[1, ], each = nrow(z))
    })
    colnames(out) <- colnames(cf)
    return(if (is.null(newdata)) formula_pad(object, out) else out)
  }
  if (!is.null(newdata)) {
    abort_arg("{.arg newdata} is for fits of the formula method; give {.arg newx}.",
              "newdata", rlang::current_env())
  }
  if (missing(newx)) {
    cli::cli_abort("{.arg newx} is needed for {.code type = \"response\"}.",
                   class = "advtrain_error_argument")
  }
  newx <- lasso_x(newx)
  if (ncol(newx) != object$dim[1]) {
    abort_arg("{.arg newx} must have {object$dim[1]} column{?s}, not {ncol(newx)}.",
              "newx", rlang::current_env())
  }
  out <- newx %*% cf[-1, , drop = FALSE] + rep(cf[1, ], each = nrow(newx))
  dimnames(out) <- list(rownames(newx), colnames(cf))
  out
}

#' @rdname adv_lasso-methods
#' @export
print.adv_lasso <- function(x, digits = 4, ...) {
  cat(sprintf("Adversarial %sLASSO path: %s attacks, eps = %s%s; n = %d, d = %d\n",
              if (identical(x$family, "binomial")) "logistic " else "",
              if (x$norm == "l2") "L2" else "L-infinity", format(x$eps),
              if (x$xi > 0) sprintf(", xi = %s (surrogate)", format(x$xi)) else "",
              x$nobs, x$dim[1]))
  if (!is.null(x$call)) cat("Call: ", deparse(x$call, width.cutoff = 200)[1], "\n", sep = "")
  cat(sprintf("%d lambda values from %s to %s; largest KKT residual %s\n\n",
              length(x$lambda), format(max(x$lambda), digits = digits),
              format(min(x$lambda), digits = digits), format(max(x$kkt), digits = 2)))
  idx <- unique(round(seq(1, length(x$lambda), length.out = min(10, length(x$lambda)))))
  tab <- data.frame(Df = x$df[idx], Lambda = signif(x$lambda[idx], digits),
                    row.names = names(x$a0)[idx])
  if (!is.null(x$dev.ratio)) {
    # glmnet's %Dev: the share of the null model's (attacked) training loss explained
    tab <- cbind(tab[1], `%Dev` = round(100 * x$dev.ratio[idx], 2), tab[2])
  }
  print(tab)
  invisible(x)
}

#' @rdname adv_lasso-methods
#' @export
plot.adv_lasso <- function(x, ...) {
  ll <- log(x$lambda)
  nz <- which(rowSums(x$beta != 0) > 0)
  yv <- if (length(nz)) t(x$beta[nz, , drop = FALSE]) else matrix(0, length(ll), 1)
  graphics::matplot(ll, yv, type = "l", lty = 1, xlab = expression(log(lambda)),
                    ylab = "coefficients", xlim = rev(range(ll)),
                    main = sprintf("Adversarial LASSO (%s, eps = %s)",
                                   if (x$norm == "l2") "L2" else "L-inf", format(x$eps)),
                    ...)
  graphics::abline(h = 0, col = "grey70", lty = 3)
  at <- unique(round(seq(1, length(ll), length.out = min(8, length(ll)))))
  graphics::axis(3, at = ll[at], labels = x$df[at], cex.axis = 0.8, tick = FALSE,
                 line = -0.5)
  invisible(x)
}
