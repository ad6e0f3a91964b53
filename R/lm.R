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
#' \eqn{[X, 1]} with an intercept) or slightly more, never less, so that \eqn{\eta}
#' is at most this bound (`lambda_max` of the fit: computed exactly, times
#' \eqn{1 + 10^{-12}} for rounding, when \eqn{n p^2 \le 10^8}, \eqn{p} the number of
#' columns of \eqn{Z}; above that by power iteration, times \eqn{1 + 10^{-2}}, a margin
#' over the iteration's underestimate, which stops at a relative change of
#' \eqn{10^{-6}} and was at most \eqn{2 \cdot 10^{-4}} in the tests), and \eqn{\epsilon_2} bounds the
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
#' **Exact solver** (`method = "exact"`). Minimises \eqn{F(\theta) = \frac1n \sum_i (|r_i| +
#' \epsilon \|\theta\|_*)^2} (the empirical adversarial risk with \eqn{\xi = 0};
#' \eqn{\|\cdot\|_*} is the L2 norm for L2 attacks and the L1 norm for L-infinity
#' attacks; the intercept is not attacked), a convex function, and proves it:
#' * at and beyond the zero radius \eqn{\epsilon_0 = \|g\|_\circ / (2m)},
#'   \eqn{g = \frac2n X_c'(y - \bar y)}, \eqn{m = \frac1n\sum_i |y_i - \bar y|}
#'   (as [adv_radius()] `type = "zero"`; no centring without intercept),
#'   \eqn{\theta = 0} is optimal and is returned exactly (intercept \eqn{\bar y});
#' * at `eps = 0` the minimum-norm least-squares solution: `lm.fit`'s coefficients
#'   when x has full column rank (n > d; by the corrected semi-normal equations when
#'   n is at least twice the number of coefficients and the columns, scaled to unit
#'   length, have a condition number below about 1e5, else by `lm.fit`'s QR), and
#'   otherwise (SVD) the minimum-norm interpolator of Theorem 5 when n < d (the
#'   intercept is not part of the norm);
#' * otherwise the active-set Newton engine of [adv_lasso()] at \eqn{\lambda = 0}
#'   (L-infinity attacks, and L2 attacks with n <= d), or iteratively reweighted ridge
#'   regression with a Newton polish (L2 attacks with n > d); each is the other's
#'   fallback.
#'
#' Whatever engine proposed the solution, it is certified by the dual problem
#' \eqn{\max -\frac2n \alpha'y - \frac1n \sum_i \lambda_i^2} subject to
#' \eqn{|\alpha_i| \le \lambda_i}, \eqn{\|X'\alpha\|_\circ \le \epsilon \sum_i
#' \lambda_i} (\eqn{\circ} the dual norm) and, with an intercept,
#' \eqn{\sum_i \alpha_i = 0}: a dual point is built from the optimality conditions
#' at the solution and made exactly feasible, so its value is a proven lower bound.
#' The fit reports the objective, `gap` (objective minus the bound, absolute) and
#' `rel_gap` (`gap` divided by the objective, floored at \eqn{10^{-18}} mean(y^2)); a
#' warning quoting both says so if `rel_gap` exceeds `1e-10` and the gap is above the
#' rounding level of the objective (the mean square of \eqn{16 \sqrt{p}} times the
#' machine epsilon times \eqn{|y_i| + \sum_j |z_{ij} \beta_j|}, all that an
#' interpolating fit, such as least squares with n = d, has left). `engine` names the engine that gave the solution
#' (`"zero"`, `"lsq"`, `"closed form"` for n = 1, `"lasso"`, `"irls"`).
#'
#' **A path over eps.** With `method = "exact"`, `eps` may be a vector: each value is
#' solved in increasing order and certified. The first value that has no closed-form
#' solution is solved by the engines; from there the active-set engine follows the
#' path, each eps warm-started from the solution and the active set of the one before
#' (a value whose point it cannot certify goes to the engines);
#' `fit$path` holds `eps`, the coefficient matrix (one column per eps), `objective`,
#' `gap`, `rel_gap`. The top-level fields describe the fit at `eps[1]`.
#' `coef(fit, eps = )` and `predict(fit, newx, eps = )` give the coefficients and
#' predictions at any eps in the range (exact at the grid values, linear interpolation
#' between them, as glmnet's `s`), and `plot(fit)` draws the coefficient paths
#' against eps, with the zero radius dashed.
#'
#' **Convergence of gradient descent.** At the end of a GD run (with `stop_at =
#' "iters"`) the result is compared with a tolerance `tol`: with `xi = 0` and d up to
#' 3000 (n d up to \eqn{2 \cdot 10^7}), by the relative excess of the final adversarial
#' training loss over the exact minimum (computed by the exact solver); otherwise by
#' the ratio of the final to the first gradient norm. If it exceeds `tol`, a warning
#' (class `advtrain_warning_not_converged`) gives the numbers and the remedies, and
#' `print()` and `summary()` say "not converged"; `fit$converged`, `fit$conv_measure`
#' and `fit$conv_tol` record it. The default `tol = NULL` checks the runs users make
#' to get a fit, those with the automatic step (`eta = NULL`), at `1e-3`, and leaves
#' runs with a given `eta` (the paper's deliberately short trajectories) unchecked;
#' give `tol` to check those, `tol = Inf` to check nothing.
#'
#' **Standardisation.** `standardize = TRUE` (as glmnet) fits on the columns centred
#' (with an intercept) and divided by their standard deviation (divisor n) and reports
#' the coefficients, fitted values and residuals on the original scale. The attack is
#' then measured on the standardised inputs: an L2 attack of size eps moves x by
#' \eqn{\epsilon} in standardised units (an L-infinity attack moves column j by at
#' most \eqn{\epsilon s_j} in its own units), a different problem from the default.
#' The default is `FALSE`, the paper's model, with the attack on x as given; use
#' `TRUE` when the columns' scales differ by orders of magnitude and GD crawls
#' (or, for the unstandardised problem, `method = "exact"`).
#'
#' **Which method.** `method = "exact"` for the minimiser of the adversarial
#' training loss (any shape, certified, fast: milliseconds for L-infinity and for
#' n <= d); `method = "gd"` for the paper's Algorithm 1, i.e. the trajectory
#' (surrogate attacks `xi > 0`, early stopping as in Theorem 5, the traces and
#' population risks along the way), and for problems too large for an n x d
#' factorisation.
#'
#' `xi`, `eta`, `trace_every` and `stop_at` are not used by the exact solver.
#'
#' @param x Numeric n x d matrix of inputs (a data frame of numeric columns is
#'   accepted), or, for the formula method, a formula.
#' @param y Numeric response of length n.
#' @param eps One non-negative number: the attack strength \eqn{\epsilon} (with
#'   `method = "exact"` also a vector of them: a path over eps); or one
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
#' @param trace_every Record the trace every this many steps (and always at step 0
#'   and the last step). `NULL` (the default) is `max(1, ceiling(iters / 2000))`: every
#'   step for runs of up to 2000 steps, and about 2000 rows for longer runs (a per-step
#'   trace of `iters = 1e6` would take 68 MB); give `trace_every = 1` for every step.
#' @param stop_at `"iters"` or `"interpolation"` (Theorem 5's stopping time).
#' @param method `"gd"` (Algorithm 1) or `"exact"` (the exact minimiser).
#' @param threads Number of threads, or `NULL` for [adv_threads()].
#' @param tol Convergence tolerance of gradient descent's end-of-run check (see
#'   "Convergence of gradient descent"): `NULL` (1e-3 with the automatic step, no check
#'   with a given `eta`), a positive number, or `Inf` (no check).
#' @param standardize If `TRUE`, fit on standardised columns and report the
#'   coefficients on the original scale (see "Standardisation"); the attack then acts
#'   on the standardised inputs.
#' @param weights `NULL` or non-negative observation weights, one per row of `x`
#'   (not all zero): the loss becomes \eqn{\sum_i w_i l_i / \sum_i w_i}, so integer
#'   weights give the fit to the data with rows replicated and a zero weight drops a
#'   row. The attack of each sample does not depend on its weight. With weights the
#'   automatic `eta` uses the weighted Gram matrix \eqn{Z'WZ/\sum_i w_i}, the trace's
#'   losses are weighted, and `stop_at = "interpolation"` uses the weighted variance of
#'   `y` and takes n as the number of rows of positive weight. With
#'   `method = "exact"` any weights are supported: the reweighted-ridge engine and the
#'   duality-gap certificate are weighted (the active-set engine is not used then), and
#'   rows of weight zero are left out of the fit. Equal weights give exactly the
#'   unweighted fit. Fitted values and residuals are for every row.
#' @param family `"gaussian"` (the squared loss) or `"binomial"`: adversarial
#'   logistic regression for binary `y`, see [adv_logistic].
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
#'   `R_star`, the settings, for `method = "exact"` the `objective`, the certified
#'   `gap` and `rel_gap`, `engine`, `zero_radius` and (for a vector eps) `path`, and for
#'   gradient descent `converged`, `conv_measure`, `conv_tol`. Methods: `print`, `summary`, `coef`, `predict`, `fitted`,
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
#' # real data: GD with the automatic step on unscaled columns warns that it has not
#' # converged; the exact solver is certified; a path shows how robustness shrinks
#' fit_gd <- adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1, iters = 200)
#' fit_ex <- adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1, method = "exact")
#' c(gd = fit_gd$trace$loss_adv[200], exact = fit_ex$objective, gap = fit_ex$rel_gap)
#' path <- adv_lm(medv ~ ., data = MASS::Boston, eps = seq(0, 1, by = 0.05),
#'                method = "exact")
#' plot(path)
#' coef(path, eps = 0.25)[1:4, ]
#' # the formula interface
#' df <- data.frame(y = sim$y, sim$x)
#' coef(adv_lm(y ~ X1 + X2 + X3 + X4 + X5, df, eps = 0.2, iters = 200))
#' @export
adv_lm <- function(x, ...) UseMethod("adv_lm")

#' @rdname adv_lm
#' @export
adv_lm.default <- function(x, y, eps, norm = c("l2", "linf"), xi = 0, eta = NULL,
                           iters = 1000, init = NULL, intercept = FALSE, truth = NULL,
                           trace_every = NULL, stop_at = c("iters", "interpolation"),
                           method = c("gd", "exact"), threads = NULL, tol = NULL,
                           standardize = FALSE, weights = NULL,
                           family = c("gaussian", "binomial"), ...) {
  call <- match.call()
  call[[1]] <- as.name("adv_lm")
  rlang::check_dots_empty()
  if (check_choice(family, c("gaussian", "binomial")) == "binomial") {
    return(adv_logistic_fit(x, y, eps, norm, xi, eta, iters, init, intercept, method, threads,
                            if (is.null(trace_every)) 1L else trace_every,
                            call = rlang::current_env()))
  }
  eps_type <- if (is.character(eps)) eps[1] else NULL
  eps <- resolve_eps(eps, x, y, norm, intercept) # "zero", "pivotal", ...: ?adv_radius
  a <- lm_check(x, y, eps, norm, xi, eta, iters, init, intercept, truth, trace_every,
                stop_at, method, threads, weights = weights)
  a$tol <- if (is.null(tol) || identical(tol, Inf)) tol else check_number(tol, min = 0, strict = TRUE)
  a$standardize <- check_flag(standardize)
  fit <- lm_standardized(a, if (a$method == "gd") lm_gd else lm_exact)
  fit$weights <- a$weights
  fit$eps_type <- eps_type
  fit$call <- call
  fit
}

#' @rdname adv_lm
#' @inheritParams advtrain-formula
#' @export
adv_lm.formula <- function(x, data, ..., subset, weights, na.action,
                           contrasts = NULL) {
  call <- match.call()
  call[[1]] <- as.name("adv_lm")
  des <- formula_design(match.call(expand.dots = FALSE), parent.frame(), "adv_lm")
  dots <- list(...)
  fit <- if (ncol(des$x) == 0 && des$intercept) {
    if ("intercept" %in% names(dots)) formula_call(NULL, "adv_lm", des, dots)
    lm_intercept_only(des$y, des$weights, dots, rlang::current_env())
  } else {
    formula_call(adv_lm.default, "adv_lm", des, dots)
  }
  formula_attach(fit, des, call)
}

lm_check <- function(x, y, eps, norm, xi, eta, iters, init, intercept, truth,
                     trace_every, stop_at, method, threads, weights = NULL,
                     call = rlang::caller_env()) {
  x <- check_matrix(x, call = call)
  d <- ncol(x)
  a <- list(
    x = x,
    y = check_numeric(y, len = nrow(x), call = call),
    eps = lm_check_eps(eps, method, call = call),
    norm = check_choice(norm, c("l2", "linf"), call = call),
    xi = check_number(xi, min = 0, call = call),
    eta = if (is.null(eta)) NULL else check_number(eta, min = 0, strict = TRUE, call = call),
    iters = check_count(iters, min = 1, call = call),
    intercept = check_flag(intercept, call = call),
    truth = if (is.null(truth)) NULL else check_truth(truth, d = d, call = call),
    trace_every = if (is.null(trace_every)) NULL else check_count(trace_every, min = 1, call = call),
    stop_at = check_choice(stop_at, c("iters", "interpolation"), call = call),
    method = check_choice(method, c("gd", "exact"), call = call),
    threads = resolve_threads(threads, call = call)
  )
  # the default: at most about 2000 rows (?adv_lm, trace_every)
  if (is.null(a$trace_every)) a$trace_every <- lm_trace_every(a$iters)
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

lm_trace_every <- function(iters) as.integer(max(1, ceiling(iters / 2000)))

# One non-negative number; for method = "exact" also a vector of them (a path).
lm_check_eps <- function(eps, method, call) {
  if (identical(method[1], "exact") && is_plain_numeric(eps) && length(eps) > 1) {
    eps <- check_numeric(eps, min = 0, arg = "eps", call = call)
    if (anyDuplicated(eps)) {
      abort_arg("{.arg eps} must not repeat values, but {.val {eps[duplicated(eps)][1]}} appears twice.",
                "eps", call)
    }
    return(as.vector(eps))
  }
  check_number(eps, min = 0, arg = "eps", call = call)
}

lm_coef_names <- function(cn, d, intercept) {
  if (is.null(cn)) cn <- paste0("x", seq_len(d))
  if (intercept) c(cn, "(Intercept)") else cn
}

# The automatic step: 1 / (2 (sqrt(lambda_max) + eps_2)^2), with lambda_max at least
# the largest eigenvalue of Z'Z / n so that the step never exceeds the documented
# bound: exact (LAPACK) where forming Z'Z is cheap (n p^2 <= 1e8), raised by 1e-12
# relative for its rounding; otherwise power iteration, whose Rayleigh quotient lies
# below the eigenvalue (it stops at a relative change of 1e-6 or after 500 steps, and
# was 1.8e-4 low on a 1500 x 300 Gaussian matrix, whose top eigenvalues are close),
# raised by 1e-2 relative.
# With weights lambda_max is that of the weighted Gram matrix Z'WZ / sum(w).
lm_step <- function(xt, a) {
  wu <- if (is.null(a$weights)) NULL else weights_unit(a$weights)
  lam <- lm_lambda_max(xt, isTRUE(a$intercept), wu)
  eps2 <- if (a$norm == "l2") a$eps else a$eps * sqrt(nrow(xt))
  list(eta = 1 / (2 * (sqrt(lam) + eps2)^2), lambda_max = lam)
}

lm_lambda_max <- function(xt, intercept, wu = NULL) {
  n <- ncol(xt)
  p <- nrow(xt) + intercept
  if (as.double(n) * p^2 <= 1e8) {
    w <- if (is.null(wu)) rep(1, n) else wu # weights of mean 1
    g <- if (is.null(wu)) tcrossprod(xt) else tcrossprod(sweep(xt, 2, sqrt(w), "*"))
    if (intercept) {
      s <- if (is.null(wu)) rowSums(xt) else drop(xt %*% w)
      g <- rbind(cbind(g, s), c(s, sum(w)))
    }
    ev <- eigen(g / n, symmetric = TRUE, only.values = TRUE)$values[1]
    return(max(ev, 0) * (1 + 1e-12))
  }
  as.vector(.Call(C_lm_power, xt, as.integer(intercept), 500L, 1e-6, wu)) * (1 + 1e-2)
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
  lm_gd_check(fit, a, xt)
}

# The end-of-run check of gradient descent (see ?adv_lm, "Convergence"). tol = NULL
# checks runs with the automatic step at 1e-3; Inf (or stop_at = "interpolation")
# never. Sets fit$converged / fit$conv_measure / fit$conv_tol and warns when not met.
lm_gd_check <- function(fit, a, xt) {
  tol <- a$tol
  if (is.null(tol)) tol <- if (is.null(a$eta)) 1e-3 else Inf
  fit$conv_tol <- tol
  fit$converged <- NA
  if (!is.finite(tol) || a$stop_at != "iters") return(fit)
  n <- nrow(a$x)
  d <- ncol(a$x)
  last <- fit$trace[nrow(fit$trace), ]
  if (a$xi == 0 && d <= 3000 && as.double(n) * d <= 2e7) {
    ex <- suppressWarnings(lm_exact(utils::modifyList(a, list(method = "exact", init = numeric(d + a$intercept)))))
    fstar <- ex$objective
    fcur <- lm_objective(a, c(fit$theta, if (a$intercept) fit$intercept))
    meas <- if (fstar > 0) (fcur - fstar) / fstar else fcur
    fit$conv_measure <- c(rel_excess = max(meas, 0))
    fit$exact_objective <- fstar
    what <- sprintf("its adversarial training loss %s is %s above the exact minimum %s (relative)",
                    format(signif(fcur, 6)), format(signif(max(meas, 0), 3)), format(signif(fstar, 6)))
  } else {
    g0 <- fit$trace$grad_norm[1]
    meas <- if (g0 > 0) last$grad_norm / g0 else last$grad_norm
    fit$conv_measure <- c(rel_grad = meas)
    what <- sprintf("the final gradient norm is %s of the first", format(signif(meas, 3)))
  }
  fit$converged <- meas <= tol
  if (!fit$converged) {
    cli::cli_warn(c(
      "Gradient descent did not converge in {a$iters} step{?s}: {what}, above {.arg tol} = {format(tol)}.",
      "i" = "Remedies: more steps ({.arg iters}), a larger step ({.arg eta}; the step used was {signif(fit$eta, 3)}), {.code standardize = TRUE} when the columns' scales differ, or {.code method = \"exact\"} for the minimiser itself. {.code tol = Inf} turns this check off."
    ), class = "advtrain_warning_not_converged")
  }
  fit
}

# The true adversarial objective (1/n) sum (|r_i| + eps ||theta||_*)^2 at beta.
lm_objective <- function(a, beta) {
  z <- if (a$intercept) cbind(a$x, 1) else a$x
  dimnames(z) <- NULL
  .Call(C_exact_certify, z, a$y, as.double(beta), a$weights, c(a$eps, Inf),
        c(norm_code(a$norm), as.integer(a$intercept)))[1]
}

# standardize = TRUE: fit(a) on the columns centred (with an intercept) and divided by
# their standard deviation (divisor n; constant columns keep scale 1), then the
# coefficients (and a path's) back on the original scale and the fitted values and
# residuals recomputed. The attack acts on the standardised inputs.
lm_standardized <- function(a, fitter) {
  if (!isTRUE(a$standardize)) {
    fit <- fitter(a)
    fit$standardize <- FALSE
    return(fit)
  }
  x <- a$x
  n <- nrow(x)
  d <- ncol(x)
  cen <- if (a$intercept) colMeans(x) else numeric(d)
  sc <- sqrt(colMeans(sweep(x, 2, cen)^2))
  sc[!(sc > 1e-12 * pmax(sqrt(colMeans(x^2)), 1e-300))] <- 1
  as <- a
  as$x <- sweep(sweep(x, 2, cen), 2, sc, "/")
  th0 <- a$init[seq_len(d)]
  as$init <- c(th0 * sc, if (a$intercept) a$init[d + 1] + sum(cen * th0))
  fit <- fitter(as)
  back <- function(theta, b) list(theta = theta / sc, b = b - sum(cen * theta / sc))
  bk <- back(fit$theta, fit$intercept)
  fit$theta[] <- bk$theta
  fit$intercept <- bk$b
  fit$coefficients <- if (a$intercept) c(bk$b, bk$theta) else bk$theta
  names(fit$coefficients) <- if (a$intercept) c(a$coef_names[d + 1], a$coef_names[seq_len(d)]) else a$coef_names
  fit$fitted.values[] <- drop(x %*% bk$theta) + bk$b
  fit$residuals <- a$y - fit$fitted.values
  if (!is.null(fit$path)) {
    cf <- fit$path$coefficients
    th <- cf[if (a$intercept) -1 else seq_len(d), , drop = FALSE] / sc
    if (a$intercept) {
      cf[1, ] <- cf[1, ] - colSums(cen * th)
      cf[-1, ] <- th
    } else {
      cf[] <- th
    }
    fit$path$coefficients <- cf
  }
  fit$standardize <- TRUE
  fit$x_center <- cen
  fit$x_scale <- sc
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
