#' Adversarial training of linear regression
#'
#' Fits \eqn{f(x) = x'\theta} (plus an optional intercept) by the paper's Algorithm 1,
#' gradient descent on the empirical adversarial loss with the surrogate attack
#' \eqn{A_{\epsilon,\xi}} recomputed and then held fixed at every step, or computes
#' the exact minimiser of the empirical adversarial risk.
#'
#' **Gradient descent** (`method = "gd"`). At step \eqn{t} the attack
#' \eqn{A_i = A_{\epsilon,\xi}(\theta_t, x_i, y_i)} of [adv_attack()] is computed and
#' held fixed, and \eqn{\theta_{t+1} = \theta_t - \eta \frac2n \sum_i
#' ((x_i + A_i)'\theta_t - y_i)(x_i + A_i)}. With `xi = 0` this is a subgradient
#' step on the true adversarial loss; with `xi > 0` it is *not* the gradient of the
#' surrogate loss (Lemma 2 of the paper). With `xi = 0` and \eqn{\theta = 0} no attack
#' is applied. The C code reads each row of \eqn{X} once per step: the row's residual,
#' its attack and its contribution to the gradient are computed together, with OpenMP
#' (for \eqn{X} of at least \eqn{10^6} entries) over fixed blocks of rows whose
#' partial sums are added in a fixed order, so the result does not depend on
#' `threads`. The loop runs in C in chunks of about \eqn{10^8} entries read; between
#' chunks R checks for interrupts and, in interactive sessions for runs longer than
#' about 2 seconds, updates a progress bar.
#'
#' `eta = NULL` uses \eqn{\eta = 1 / (2(\sqrt{\lambda} + \epsilon_2)^2)}, where
#' \eqn{\lambda} is the largest eigenvalue of \eqn{Z'Z/n} (\eqn{Z = X}, or
#' \eqn{[X, 1]} with an intercept; power iteration) and \eqn{\epsilon_2} bounds the
#' Euclidean size of an attack (\eqn{\epsilon}, or \eqn{\epsilon\sqrt d} for
#' L-infinity): the inverse of a bound on the curvature of the loss with the attack
#' fixed. A step that makes the loss blow up (non-finite, or \eqn{10^{10}} times its
#' starting value) stops with an error; coefficients are never returned as `NaN`.
#'
#' `stop_at = "interpolation"` stops at the time of Theorem 5,
#' \eqn{T = \min\{t : \|X\theta_t - y\| / (v\sqrt n) < 1/\sqrt{\log n}\}}, with
#' \eqn{v^2 = \|\theta_0\|^2_\Sigma + \sigma^2} from `truth`, or the sample variance
#' of `y` without it.
#'
#' **Exact solver** (`method = "exact"`). Minimises \eqn{\frac1n \sum_i (|r_i| +
#' \epsilon \|\theta\|_*)^2} (the empirical adversarial risk with \eqn{\xi = 0};
#' \eqn{\|\cdot\|_*} is the L2 norm for L2 attacks and the L1 norm for L-infinity
#' attacks), a convex function, in three parts:
#' 1. iteratively reweighted ridge regression: since \eqn{(a + b)^2 = \min_{0 < w < 1}
#'    a^2/w + b^2/(1-w)} (and \eqn{\|\theta\|_1^2 = \min_u \sum_j \theta_j^2/u_j} over
#'    the simplex), the objective is the minimum over weights of a jointly convex
#'    function that is a weighted ridge regression for fixed weights, and alternating
#'    exact minimisation never increases it. \eqn{|r_i|} and the norm are smoothed
#'    (\eqn{\sqrt{r_i^2 + \delta^2}}), with \eqn{\delta} divided by 10 whenever the
#'    smoothed objective stops decreasing, so that samples whose residual passes
#'    through zero are not stuck there;
#' 2. once the smoothing is small, Newton's method on the smooth problem left when the
#'    samples with (numerically) zero residual, and for L-infinity the zero
#'    coefficients, are held at zero (quadratic convergence); it is kept only if it
#'    lowers the objective;
#' 3. a certificate: each iterate gives a feasible point of the dual problem
#'    \eqn{\max -\frac2n \alpha'y - \frac1n \sum_i \lambda_i^2} subject to
#'    \eqn{|\alpha_i| \le \lambda_i}, \eqn{\|X'\alpha\|_\circ \le \epsilon \sum_i
#'    \lambda_i} (\eqn{\circ} the dual norm) and, with an intercept,
#'    \eqn{\sum_i \alpha_i = 0}. The solver stops when the duality gap is at most
#'    `1e-10` times the objective, so the accuracy is proven, not estimated; the fit
#'    reports the gap (a warning says so if 2000 iterations do not reach it).
#'
#' `xi`, `eta`, `trace_every` and `stop_at` are not used by the exact solver.
#'
#' @param x Numeric n x d matrix of inputs (a data frame of numeric columns is
#'   accepted), or, for the formula method, a formula.
#' @param y Numeric response of length n.
#' @param eps One non-negative number: the attack strength \eqn{\epsilon}; or one
#'   of `"zero"`, `"pivotal"`, `"interpolation"`: the radius of that type computed
#'   by [adv_radius()] from `x`, `y`, `norm` and `intercept` (defaults otherwise;
#'   `"pivotal"` draws from R's generator). The fit's `eps` is the value used and
#'   `eps_type` the type (`NULL` for a number).
#' @param norm `"l2"` or `"linf"`: the norm that bounds the attack.
#' @param xi Non-negative smoothing parameter of the surrogate attack; 0 is the true
#'   attack.
#' @param eta Positive step size, or `NULL` for the automatic stable step.
#' @param iters Number of gradient steps, a whole number.
#' @param init `NULL` (zero initialisation, as in the paper) or a numeric vector of
#'   length d (or d + 1 with an intercept, the intercept last): a warm start.
#' @param intercept If `TRUE`, also fit an intercept, which the attack does not touch.
#' @param truth `NULL`, a [simulate_linear()] result or `list(theta0, Sigma,
#'   sigma2)`: the data-generating model. With it the trace has the population risks
#'   and the fit has \eqn{R^*(\epsilon)} from [adv_optimum()].
#' @param trace_every Record the trace every this many steps (and at the last step).
#' @param stop_at `"iters"` or `"interpolation"` (Theorem 5's stopping time).
#' @param method `"gd"` (Algorithm 1) or `"exact"` (the exact minimiser).
#' @param threads Number of threads, or `NULL` for [adv_threads()].
#' @param weights `NULL` or non-negative observation weights, one per row of `x`
#'   (not all zero): the loss becomes \eqn{\sum_i w_i l_i / \sum_i w_i}, so integer
#'   weights give the fit to the data with rows replicated and a zero weight drops a
#'   row. The attack of each sample does not depend on its weight. With weights the
#'   automatic `eta` uses the weighted Gram matrix \eqn{Z'WZ/\sum_i w_i}, the trace's
#'   losses are weighted, and `stop_at = "interpolation"` uses the weighted variance of
#'   `y` and takes n as the number of rows of positive weight. Equal weights give
#'   exactly the unweighted fit. Fitted values and residuals are for every row.
#' @param data For the formula method (`x` a formula `y ~ terms`), a data frame with
#'   the variables of the formula. The formula's intercept (present unless removed
#'   with `- 1` or `+ 0`) is the `intercept` of the fit.
#' @param ... For the formula method, the arguments of the default method other than
#'   `x`, `y` and `intercept`.
#' @return An object of class `adv_lm`: a list with `coefficients`, `theta` (the
#'   slopes), `intercept` (0 without one), `fitted.values`, `residuals` (`y` minus the
#'   fitted values), `trace` (a data frame with columns `iter`, `loss_surrogate`,
#'   `loss_adv`, `loss_std`, `risk_adv`, `risk_std`, `theta_norm`, `grad_norm`,
#'   `grad_diff`; the risks are `NA` without `truth`), `eta`, `lambda_max`,
#'   `iterations`, `stopped` (`"iters"`, `"interpolation"` or `"converged"`),
#'   `R_star`, the settings, and for `method = "exact"` the `objective` and the
#'   certified `gap`. Methods: `print`, `summary`, `coef`, `predict`, `fitted`,
#'   `residuals`, `plot`, `as.data.frame` (the trace).
#' @seealso [adv_loss()] (the same kernel), [adv_optimum()], [adv_replicate()].
#' @examples
#' set.seed(1)
#' sim <- simulate_linear(200, theta0 = rep(1, 5))
#' fit <- adv_lm(sim$x, sim$y, eps = 0.5, xi = 0.1, eta = 0.01, iters = 300,
#'               truth = sim)
#' fit
#' tail(as.data.frame(fit), 3)
#' ex <- adv_lm(sim$x, sim$y, eps = 0.5, method = "exact")
#' rbind(gd = coef(fit), exact = coef(ex))
#' plot(fit)
#' # the formula interface
#' df <- data.frame(y = sim$y, sim$x)
#' coef(adv_lm(y ~ X1 + X2 + X3 + X4 + X5, df, eps = 0.2, iters = 200))
#' @export
adv_lm <- function(x, ...) UseMethod("adv_lm")

#' @rdname adv_lm
#' @export
adv_lm.default <- function(x, y, eps, norm = c("l2", "linf"), xi = 0, eta = NULL,
                           iters = 1000, init = NULL, intercept = FALSE, truth = NULL,
                           trace_every = 1, stop_at = c("iters", "interpolation"),
                           method = c("gd", "exact"), threads = NULL,
                           weights = NULL, ...) {
  call <- match.call()
  call[[1]] <- as.name("adv_lm")
  rlang::check_dots_empty()
  eps_type <- if (is.character(eps)) eps[1] else NULL
  eps <- resolve_eps(eps, x, y, norm, intercept) # "zero", "pivotal", ...: ?adv_radius
  a <- lm_check(x, y, eps, norm, xi, eta, iters, init, intercept, truth, trace_every,
                stop_at, method, threads, weights = weights)
  fit <- if (a$method == "gd") lm_gd(a) else lm_exact(a)
  fit$weights <- a$weights
  fit$eps_type <- eps_type
  fit$call <- call
  fit
}

#' @rdname adv_lm
#' @export
adv_lm.formula <- function(x, data, ...) {
  call <- match.call()
  call[[1]] <- as.name("adv_lm")
  formula <- x
  if (missing(data) || !is.data.frame(data)) {
    abort_arg("{.arg data} must be a data frame, not {describe(if (missing(data)) NULL else data)}.",
              "data", rlang::current_env())
  }
  dots <- list(...)
  if (!is.null(dots$intercept)) {
    abort_arg("{.arg intercept} cannot be used with a formula; write {.code - 1} in the formula to drop the intercept.",
              "intercept", rlang::current_env())
  }
  absent <- setdiff(all.vars(formula), c(names(data), "."))
  if (length(absent)) {
    abort_arg("{.arg formula} names {?a column/columns} that {.arg data} does not have: {.val {absent}}.",
              "formula", rlang::current_env())
  }
  mf <- stats::model.frame(formula, data, na.action = stats::na.pass)
  tt <- stats::terms(mf)
  xm <- stats::model.matrix(tt, mf)
  has_b <- attr(tt, "intercept") == 1
  if (has_b) xm <- xm[, colnames(xm) != "(Intercept)", drop = FALSE]
  attr(xm, "assign") <- NULL
  attr(xm, "contrasts") <- NULL
  y <- stats::model.response(mf)
  fit <- adv_lm.default(xm, y, ..., intercept = has_b)
  fit$terms <- tt
  fit$xlevels <- stats::.getXlevels(tt, mf)
  fit$call <- call
  fit
}

lm_check <- function(x, y, eps, norm, xi, eta, iters, init, intercept, truth,
                     trace_every, stop_at, method, threads, weights = NULL,
                     call = rlang::caller_env()) {
  x <- check_matrix(x, call = call)
  d <- ncol(x)
  a <- list(
    x = x,
    y = check_numeric(y, len = nrow(x), call = call),
    eps = check_number(eps, min = 0, call = call),
    norm = check_choice(norm, c("l2", "linf"), call = call),
    xi = check_number(xi, min = 0, call = call),
    eta = if (is.null(eta)) NULL else check_number(eta, min = 0, strict = TRUE, call = call),
    iters = check_count(iters, min = 1, call = call),
    intercept = check_flag(intercept, call = call),
    truth = if (is.null(truth)) NULL else check_truth(truth, d = d, call = call),
    trace_every = check_count(trace_every, min = 1, call = call),
    stop_at = check_choice(stop_at, c("iters", "interpolation"), call = call),
    method = check_choice(method, c("gd", "exact"), call = call),
    threads = resolve_threads(threads, call = call)
  )
  # NULL when unweighted or all weights are equal (then exactly the unweighted fit)
  a$weights <- check_weights(weights, nrow(x), call = call)
  check_trace_size(a$iters, a$trace_every, call = call)
  p <- d + a$intercept
  a$init <- if (is.null(init)) {
    numeric(p)
  } else {
    init <- check_numeric(init, call = call)
    if (!length(init) %in% c(d, p)) {
      abort_arg("{.arg init} must have length {d}{if (a$intercept) paste(' or', p) else ''}, not {length(init)}.",
                "init", call)
    }
    if (length(init) < p) c(init, 0) else init
  }
  if (a$stop_at == "interpolation" && nrow(x) < 2) {
    abort_arg("{.arg stop_at} = \"interpolation\" needs at least 2 rows of {.arg x}.",
              "stop_at", call)
  }
  a$coef_names <- lm_coef_names(colnames(x), d, a$intercept)
  a
}

lm_coef_names <- function(cn, d, intercept) {
  if (is.null(cn)) cn <- paste0("x", seq_len(d))
  if (intercept) c(cn, "(Intercept)") else cn
}

# The automatic step: 1 / (2 (sqrt(lambda_max) + eps_2)^2); with weights lambda_max is
# that of the weighted Gram matrix Z'WZ / sum(w).
lm_step <- function(xt, a) {
  wu <- if (is.null(a$weights)) NULL else weights_unit(a$weights)
  lam <- as.vector(.Call(C_lm_power, xt, as.integer(a$intercept), 500L, 1e-6, wu))
  eps2 <- if (a$norm == "l2") a$eps else a$eps * sqrt(nrow(xt))
  list(eta = 1 / (2 * (sqrt(lam) + eps2)^2), lambda_max = lam)
}

lm_gd <- function(a) {
  x <- a$x
  n <- nrow(x)
  d <- ncol(x)
  xt <- t(x)
  dimnames(xt) <- NULL
  step <- if (is.null(a$eta)) lm_step(xt, a) else list(eta = NA_real_, lambda_max = NA_real_)
  eta <- if (is.null(a$eta)) step$eta else a$eta
  wu <- if (is.null(a$weights)) NULL else weights_unit(a$weights)
  # (with weights: the weighted variance, and n the number of rows of positive weight)
  n_pos <- if (is.null(wu)) n else sum(wu > 0)
  v2 <- if (!is.null(a$truth)) lm_v2(a$truth)
        else if (is.null(wu)) stats::var(a$y)
        else sum(wu * (a$y - sum(wu * a$y) / n)^2) / n * n_pos / (n_pos - 1)
  stop_thr <- if (a$stop_at == "interpolation") v2 / log(n_pos) else 0
  ctrl <- c(a$eps, a$xi, eta, stop_thr, NA_real_,
            if (is.null(wu)) mean(a$y^2) else mean(wu * a$y^2))
  chunk <- max(1L, as.integer(ceiling(1e8 / (as.double(n) * d))))
  run <- run_chunks(function(t0, t_end, theta, cap) {
    ctrl[5] <- cap
    ictrl <- c(norm_code(a$norm), as.integer(a$intercept), t0, t_end, a$iters,
               a$trace_every, as.integer(!is.null(a$truth)), a$threads)
    .Call(C_lm_gd_weighted, xt, a$y, theta, ctrl, ictrl, wu)
  }, a$init, a$iters, chunk)
  tr <- run$trace
  if (run$status == 2L) {
    auto <- if (is.null(a$eta)) step$eta else lm_step(xt, a)$eta
    lm_abort_diverged(tr, eta, auto, is.null(a$eta))
  }
  trace <- lm_trace(tr, run$path, a)
  last <- tr[, ncol(tr)]
  stopped <- if (run$status == 1L) "interpolation" else "iters"
  if (a$stop_at == "interpolation" && run$status != 1L) {
    cli::cli_warn("The training residual did not reach the interpolation threshold of Theorem 5 in {a$iters} step{?s}; increase {.arg iters}.")
  }
  fit <- lm_assemble(a, run$theta, trace)
  fit$eta <- eta
  fit$eta_auto <- is.null(a$eta)
  fit$lambda_max <- step$lambda_max
  fit$iterations <- as.integer(last[1])
  fit$stopped <- stopped
  fit$threads <- a$threads
  fit
}

# Runs a C trainer in chunks of about `chunk` steps, so that long runs show progress and
# stop promptly on an interrupt. call(t0, t_end, theta, cap) runs steps t0..t_end and
# returns list(theta, trace, path, status, t_next, cap) (status 0 = carry on); cap is
# the divergence threshold C fixes at the first step (NA before). Returns the final
# theta and status, the traces of all chunks bound column-wise, and their paths (NULL
# when C records none).
run_chunks <- function(call, theta, iters, chunk) {
  t0 <- 0L
  cap <- NA_real_
  traces <- list()
  paths <- list()
  bar <- NULL
  started <- proc.time()[[3]]
  repeat {
    t_end <- as.integer(min(iters, t0 + chunk - 1))
    res <- call(t0, t_end, theta, cap)
    theta <- res$theta
    cap <- res$cap
    traces[[length(traces) + 1]] <- res$trace
    if (!is.null(res$path)) paths[[length(paths) + 1]] <- res$path
    t0 <- res$t_next
    if (res$status != 0L || t0 > iters) break
    bar <- lm_progress(bar, started, t0, iters)
  }
  if (!is.null(bar)) cli::cli_progress_done(id = bar)
  list(theta = theta, status = res$status, trace = do.call(cbind, traces),
       path = if (length(paths)) do.call(cbind, paths))
}

# A cli progress bar, only when interactive and the run looks longer than 2 s. The
# option advtrain.progress = TRUE / FALSE forces it on / off (the tests use it).
lm_progress <- function(bar, started, done, total, envir = parent.frame()) {
  force(envir)
  opt <- getOption("advtrain.progress")
  if (isFALSE(opt) || (is.null(opt) && !interactive())) return(NULL)
  if (is.null(bar)) {
    spent <- proc.time()[[3]] - started
    if (!isTRUE(opt) && spent * total / max(done, 1) < 2) return(NULL)
    bar <- cli::cli_progress_bar("Adversarial training", total = total,
                                 .envir = envir)
  }
  cli::cli_progress_update(id = bar, set = done, .envir = envir)
  bar
}

lm_abort_diverged <- function(tr, eta, eta_auto, was_auto) {
  last <- tr[, ncol(tr)]
  first <- tr[2, 1]
  cli::cli_abort(c(
    "Gradient descent diverged at step {last[1]}: the training loss grew from {signif(first, 4)} to {signif(last[2], 4)}.",
    "i" = "The step size {.arg eta} = {signif(eta, 4)} is too large for these data; use a smaller one{if (was_auto) '' else paste0(', e.g. eta = ', signif(eta_auto, 3), ' (the automatic choice, eta = NULL)')}."
  ), class = "advtrain_error_diverged", call = rlang::caller_env(2))
}

lm_v2 <- function(truth) {
  sum(truth$theta0 * sigma_times(truth$Sigma, truth$theta0)) + truth$sigma2
}

# The trace data frame from the 7 x k matrix of C plus the population risks.
lm_trace <- function(tr, path, a) {
  k <- ncol(tr)
  risk <- matrix(NA_real_, k, 2)
  if (!is.null(a$truth)) {
    d <- ncol(a$x)
    risk <- t(vapply(seq_len(k), function(i) {
      lm_risk(path[seq_len(d), i], if (a$intercept) path[d + 1, i] else 0, a$truth,
              a$eps, a$norm)
    }, numeric(2)))
  }
  data.frame(iter = as.integer(tr[1, ]), loss_surrogate = tr[2, ], loss_adv = tr[3, ],
             loss_std = tr[4, ], risk_adv = risk[, 1], risk_std = risk[, 2],
             theta_norm = tr[5, ], grad_norm = tr[6, ], grad_diff = tr[7, ])
}

# Population adversarial and standard risk of (theta, intercept b). Without an
# intercept these are the closed forms of risk_linear(); an intercept b shifts the
# Gaussian residual to N(b, q), whose mean absolute value is the folded normal's.
lm_risk <- function(theta, b, truth, eps, norm) {
  if (b == 0) return(risk_linear(theta, truth, c(eps, 0), norm))
  q <- risk_q(theta, truth)
  s <- sqrt(q)
  mabs <- s * c0 * exp(-b^2 / (2 * q)) + b * (1 - 2 * stats::pnorm(-b / s))
  tn <- attack_norm(theta, norm)
  c(q + b^2 + 2 * eps * tn * mabs + eps^2 * tn^2, q + b^2)
}

# The parts of the fit that GD and the exact solver share.
lm_assemble <- function(a, beta, trace) {
  d <- ncol(a$x)
  theta <- beta[seq_len(d)]
  b <- if (a$intercept) beta[d + 1] else 0
  names(beta) <- a$coef_names
  names(theta) <- a$coef_names[seq_len(d)]
  fitted <- drop(a$x %*% theta) + b
  names(fitted) <- rownames(a$x)
  coefs <- if (a$intercept) c(beta[d + 1], theta) else theta
  structure(list(
    coefficients = coefs, theta = theta, intercept = b,
    has_intercept = a$intercept, fitted.values = fitted, residuals = a$y - fitted,
    trace = trace, eps = a$eps, norm = a$norm, xi = a$xi, method = a$method,
    n = nrow(a$x), d = d, truth = a$truth,
    R_star = if (!is.null(a$truth)) lm_rstar(a$truth, a$eps, a$norm) else NA_real_
  ), class = "adv_lm")
}

# R*(eps) of a checked truth (adv_optimum() solves diagonal-Sigma problems on the
# support of theta0, so the paper's sparse high-dimensional settings stay cheap).
lm_rstar <- function(truth, eps, norm) {
  adv_optimum(truth$theta0, eps, truth$Sigma, truth$sigma2, norm)$risk
}

lm_exact <- function(a) {
  x <- a$x
  z <- if (a$intercept) cbind(x, 1) else x
  dimnames(z) <- NULL
  res <- .Call(C_lm_exact, z, a$y, a$init, c(a$eps, 1e-10),
               c(norm_code(a$norm), as.integer(a$intercept), 2000L))
  if (res$status == 2L) {
    cli::cli_abort(c("The exact solver met a singular system.",
                     "i" = if (a$eps == 0) "With {.arg eps} = 0 this is least squares, which needs {.arg x} to have full column rank." else "The columns of {.arg x} may be collinear."),
                   class = "advtrain_error_singular", call = rlang::caller_env(2))
  }
  if (res$status == 1L) {
    cli::cli_warn("The exact solver stopped after {res$iterations} iterations with a relative duality gap of {signif(res$gap / res$objective, 3)}, above 1e-10.")
  }
  beta <- res$theta
  xt <- t(x)
  dimnames(xt) <- NULL
  tr <- .Call(C_lm_gd, xt, a$y, beta, c(a$eps, 0, 0, 0, Inf, 0),
              c(norm_code(a$norm), as.integer(a$intercept), 0L, 0L, 0L, 1L,
                as.integer(!is.null(a$truth)), a$threads))
  a$xi <- 0
  trace <- lm_trace(tr$trace, tr$path, a)
  trace$iter <- res$iterations
  fit <- lm_assemble(a, beta, trace)
  fit$objective <- res$objective
  fit$gap <- max(res$gap, 0) # a negative gap is rounding
  fit$iterations <- res$iterations
  fit$stopped <- if (res$status == 0L) "converged" else "iters"
  fit$eta <- NA_real_
  fit$eta_auto <- FALSE
  fit$lambda_max <- NA_real_
  fit$threads <- a$threads
  fit
}
