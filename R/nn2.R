#' Adversarial training of lazy two-layer networks
#'
#' Trains the two-layer network (eq. 6 of the paper)
#' \deqn{f_\theta(x) = h^{-1/2} \sum_{j=1}^h a_j \phi(x'\theta_j)}
#' by the paper's Algorithm 1: only the first layer \eqn{\theta = (\theta_1, \dots,
#' \theta_h)} (a d x h matrix) is trained, the second layer \eqn{a} stays fixed
#' ("lazy training"). At every step the attack \eqn{A_i} of each sample is computed
#' at the current \eqn{\theta} and held fixed, and
#' \deqn{\theta_j \leftarrow \theta_j - \eta \frac{2}{n\sqrt h} \sum_i
#' (f_\theta(\tilde x_i) - y_i)\, a_j \phi'(\tilde x_i'\theta_j)\, \tilde x_i,
#' \qquad \tilde x_i = x_i + A_i.}
#'
#' **Activations** (as the paper uses them): the centred sigmoid
#' \eqn{1/(1+e^{-z}) - 1/2} (\eqn{\phi'(0) = 1/4}; `slope` is not used), the linear
#' \eqn{\mathrm{slope}\cdot z} and the ReLU \eqn{\mathrm{slope}\cdot\max(z, 0)}; the
#' default `slope = 1/4` matches the sigmoid's \eqn{\phi'(0)}. The ReLU's derivative
#' at 0 is taken as `slope` (the right derivative), so that a network started at
#' \eqn{\theta = 0} can move.
#'
#' **The attack.** \eqn{g = \partial (f(x) - y)^2 / \partial x = 2(f(x) - y)
#' h^{-1/2} \sum_j a_j \phi'(x'\theta_j)\theta_j} (with the factor 2 of the squared
#' loss; the paper's appendix drops it, so its \eqn{\xi} is `xi / 2` here). With
#' `attack = "fgm"` (the fast gradient method, which the paper uses for these
#' networks) the attack is one step of the surrogate attack of [adv_attack()] at the
#' clean point: \eqn{\epsilon g / \sqrt{\|g\|^2 + \xi^2}} (L2) or
#' \eqn{\epsilon g_k / (|g_k| + \xi)} (L-infinity). With `attack = "pgd"` it is
#' `pgd_steps` such steps of size \eqn{2\epsilon/k} from the clean point, each
#' followed by the projection onto the \eqn{\epsilon}-ball. With `xi = 0` and
#' \eqn{g = 0} no attack is applied.
#'
#' **Initialisation.** `init = "vanishing"` draws \eqn{\theta_j \sim N(0,
#' I_d/(d h^{1+\delta}))} (Ba et al. 2020); `"zero"` starts at 0 (Theorem 4 uses it
#' for ReLU). A d x h matrix is used as given (a warm start). `a = NULL` draws
#' \eqn{a_j \sim U[-1, 1]}; `balance = TRUE` (the default for ReLU, as Theorems 4
#' and 7 require) then rescales the negative \eqn{a_j} so that \eqn{\|a^+\| =
#' \|a^-\|}. All random numbers come from R's generator, in this order: `a`,
#' \eqn{\theta(0)}, the test samples; `set.seed()` makes a fit reproducible, and the
#' result does not depend on `threads`.
#'
#' **Step size.** With the linear activation the network is the linear model
#' \eqn{\beta = \phi'(0)\theta a/\sqrt h}, and a step \eqn{\eta} on \eqn{\theta} moves
#' \eqn{\beta} exactly as [adv_lm()] does with step \eqn{\eta \|a\|^2\phi'(0)^2/h}
#' (MATH.md section 6). `eta = NULL` therefore uses \eqn{\eta = \eta_{lin} h /
#' (\|a\|^2 \kappa)}, where \eqn{\eta_{lin}} is [adv_lm()]'s automatic step for the
#' same data and \eqn{\kappa = \phi'(0)^2} (\eqn{1/16} for the sigmoid,
#' `slope^2` for the linear activation, and `slope^2 / 4` for ReLU, of whose units
#' about half are active and which see about half of the samples each -- the reason
#' the paper uses a four times larger step for ReLU). A step that makes the loss blow
#' up (non-finite, or \eqn{10^{10}} times its start) stops with an error.
#'
#' **Population risks.** With `truth`, the trace's `risk_adv` and `risk_std` are
#' Monte Carlo estimates over `n_test` fresh samples from the model, drawn once per
#' fit (the same samples at every recorded step), under the same kind of attack with
#' \eqn{\xi = 0} (the adversarial risk \eqn{R(\theta, \epsilon)}), and the fit
#' stores \eqn{R^*(\epsilon)} of [adv_optimum()], the limit of Theorems 3 and 4 in
#' low dimension. For the linear activation the risks are exact: those of the
#' linear model \eqn{\beta} by [adv_risk()]. Each recorded step costs one pass over
#' the test samples, so use `trace_every` to record sparsely on long runs.
#'
#' **Scaling.** The paper's network has no output bias and its output starts near 0
#' (\eqn{\theta(0) \approx 0}); its model has inputs \eqn{x \sim N(0, \Sigma)} on a
#' unit scale and \eqn{y = x'\theta_0 + e} not centred (of mean 0 only because
#' \eqn{x} is). The defaults train on `x` and `y` as given, as the paper does. On
#' real data (a response far from 0, columns on very different scales) such a network
#' learns slowly or not at all: `standardize = TRUE` centres each column of `x` and
#' divides it by its standard deviation, `center_y = TRUE` subtracts the mean of `y`
#' and `scale_y = TRUE` divides by its standard deviation. The network, the attack
#' (so `eps` is in units of the standardised inputs) and the trace's losses are then on
#' that scale; the fit records the shifts and scales (`scaling`), and `fitted()`,
#' `residuals()` and `predict()` (which standardises `newx` the same way) are on the
#' original scale of `x` and `y`. `truth` (a model on the original scale) cannot be
#' combined with them. A fit of at least 100 steps whose final training loss without
#' attack is above the variance of the (training-scale) `y`, that is worse than
#' predicting its mean, warns and names these remedies.
#'
#' The forward pass, the input gradient, the attack and the fixed-attack gradient are
#' one C kernel that training, evaluation and `predict()` share, run with OpenMP over
#' samples; sums over samples are taken in a fixed order, so `threads = 1` and
#' `threads = 2` give identical results.
#'
#' @param x Numeric n x d matrix of inputs (a data frame of numeric columns is
#'   accepted).
#' @param y Numeric response of length n.
#' @param h Number of hidden units, a whole number (taken from `a` when `a` is
#'   given).
#' @param a `NULL` (draw \eqn{a_j \sim U[-1,1]}) or a numeric vector: the fixed
#'   second layer.
#' @param activation `"sigmoid"` (centred), `"linear"` or `"relu"`.
#' @param slope Positive slope of the linear and ReLU activations.
#' @param eps One non-negative number: the attack strength \eqn{\epsilon}.
#' @param norm `"l2"` or `"linf"`: the norm that bounds the attack.
#' @param xi Non-negative smoothing parameter of the surrogate attack; 0 is the true
#'   (FGM) attack.
#' @param eta Positive step size, or `NULL` for the automatic step (see Details).
#' @param iters Number of gradient steps, a whole number.
#' @param init `"vanishing"`, `"zero"`, or a d x h numeric matrix (warm start).
#' @param delta Non-negative exponent of the vanishing initialisation.
#' @param balance `NULL` (`TRUE` for ReLU, `FALSE` otherwise), `TRUE` or `FALSE`:
#'   rescale the negative \eqn{a_j} so that \eqn{\|a^+\| = \|a^-\|}.
#' @param attack `"fgm"` (fast gradient method) or `"pgd"` (`pgd_steps` projected
#'   steps).
#' @param pgd_steps Number of PGD steps, a whole number (at most 1000).
#' @param truth `NULL`, a [simulate_linear()] result or `list(theta0, Sigma,
#'   sigma2)`: the data-generating model, for the population risks in the trace.
#' @param n_test Number of Monte Carlo samples for the population risks.
#' @param trace_every Record the trace every this many steps (and at the last step).
#' @param threads Number of threads, or `NULL` for [adv_threads()].
#' @param standardize If `TRUE`, train on the columns of `x` centred and divided by
#'   their standard deviations (see Scaling); `predict()` applies the same to `newx`.
#' @param center_y,scale_y If `TRUE`, train on `y` minus its mean, and divided by its
#'   standard deviation; fitted values and predictions are on the scale of `y`.
#' @return An object of class `adv_nn2`: a list with `theta` (the d x h first
#'   layer), `a`, `fitted.values`, `residuals` (both on the scale of `y`), `scaling`
#'   (`x_center`, `x_scale`, `NULL` without `standardize`; `y_center`, `y_scale`, 0
#'   and 1 without centring and scaling), `trace` (a data frame with the
#'   columns of [adv_lm()]'s trace: `iter`, `loss_surrogate`, `loss_adv`,
#'   `loss_std`, `risk_adv`, `risk_std`, `theta_norm` (Frobenius), `grad_norm`,
#'   `grad_diff`), `R_star`, `eta`, `eta_auto`, `beta` (the equivalent linear model,
#'   for the linear activation), and the settings. Methods: `print`, `summary`,
#'   `coef` (\eqn{\theta}), `predict`, `fitted`, `residuals`, `plot`,
#'   `as.data.frame` (the trace).
#' @references Xing, Y., Song, Q. and Cheng, G. (2021). On the generalization
#'   properties of adversarial training. *AISTATS*, PMLR 130, 505-513.
#'
#'   Ba, J., Erdogdu, M., Suzuki, T., Wu, D. and Zhang, T. (2020). Generalization of
#'   two-layer neural networks: an asymptotic viewpoint. *ICLR*.
#' @seealso [adv_lm()] (the linear model it reduces to), [adv_optimum()],
#'   [adv_replicate()] for replications.
#' @examples
#' set.seed(1)
#' sim <- simulate_linear(100, theta0 = rep(1, 3) / sqrt(3))
#' fit <- adv_nn2(sim$x, sim$y, h = 20, eps = 0.3, xi = 0.01, iters = 300,
#'                truth = sim, n_test = 2000, trace_every = 50)
#' fit
#' dim(coef(fit))
#' predict(fit, sim$x[1:3, ])
#' plot(fit)
#' @export
adv_nn2 <- function(x, ...) UseMethod("adv_nn2")

#' @rdname adv_nn2
#' @param ... For the formula method, the arguments of the default method other than
#'   `x` and `y`; must be empty for the default method.
#' @export
adv_nn2.default <- function(x, y, h = 50, a = NULL,
                    activation = c("sigmoid", "linear", "relu"), slope = 1 / 4, eps,
                    norm = c("l2", "linf"), xi = 0, eta = NULL, iters = 1000,
                    init = c("vanishing", "zero"), delta = 0.5, balance = NULL,
                    attack = c("fgm", "pgd"), pgd_steps = 10, truth = NULL,
                    n_test = 10000, trace_every = 1, threads = NULL,
                    standardize = FALSE, center_y = FALSE, scale_y = FALSE, ...) {
  call <- match.call()
  call[[1]] <- as.name("adv_nn2")
  rlang::check_dots_empty()
  args <- nn2_check(x, y, h, missing(h), a, activation, slope, eps, norm, xi, eta,
                    iters, init, delta, balance, attack, pgd_steps, truth, n_test,
                    trace_every, threads)
  args <- nn2_scale(args, standardize, center_y, scale_y)
  args <- nn2_prepare(args)
  fit <- nn2_fit(args)
  nn2_check_fit(fit, args)
  fit$call <- call
  fit
}

# Centres and scales x and y as asked (?adv_nn2, Scaling); the fit keeps the originals'
# shifts and scales in `scaling`.
nn2_scale <- function(args, standardize, center_y, scale_y) {
  call <- args$call
  standardize <- check_flag(standardize, call = call)
  center_y <- check_flag(center_y, call = call)
  scale_y <- check_flag(scale_y, call = call)
  if (!is.null(args$truth) && (standardize || center_y || scale_y)) {
    abort_arg("{.arg truth} describes the data on their original scale; it cannot be combined with {.arg standardize}, {.arg center_y} or {.arg scale_y}.",
              "truth", call)
  }
  sc <- list(x_center = NULL, x_scale = NULL, y_center = 0, y_scale = 1)
  if (standardize) {
    x <- args$x
    sc$x_center <- colMeans(x)
    s <- sqrt(colSums(sweep(x, 2, sc$x_center)^2) / max(nrow(x) - 1, 1))
    s[!(s > 0)] <- 1 # a constant column is only centred
    sc$x_scale <- s
    args$x <- sweep(sweep(x, 2, sc$x_center), 2, s, "/")
  }
  args$y_orig <- args$y
  if (center_y) sc$y_center <- mean(args$y)
  if (scale_y) {
    s <- if (length(args$y) > 1) stats::sd(args$y) else 0
    sc$y_scale <- if (s > 0) s else 1
  }
  args$y <- (args$y - sc$y_center) / sc$y_scale
  args$scaling <- sc
  args
}

# A fit worse than the mean of y (on the training scale) warns, naming the remedies.
# Runs of fewer than 100 steps are taken as deliberate partial runs (a step or a few,
# to inspect the kernels or to continue with init =) and are not judged.
nn2_check_fit <- function(fit, args) {
  if (args$iters < 100) return(invisible())
  last <- fit$trace[nrow(fit$trace), ]
  v <- mean((args$y - mean(args$y))^2)
  if (!is.finite(last$loss_std) || !(last$loss_std > v)) return(invisible())
  sc <- args$scaling
  hints <- c(
    if (is.null(sc$x_center)) "{.code standardize = TRUE} (inputs on a unit scale)",
    if (sc$y_center == 0) "{.code center_y = TRUE} (the network has no output bias)",
    if (sc$y_scale == 1) "{.code scale_y = TRUE}",
    "more {.arg iters} or a larger {.arg eta}")
  cli::cli_warn(c(
    "The training loss without attack at step {last$iter} is {signif(last$loss_std, 4)}, above {signif(v, 4)}, the loss of predicting the mean of {.arg y} (its variance{if (sc$y_center != 0 || sc$y_scale != 1) ', on the training scale' else ''}): the network predicts worse than that constant.",
    "i" = "The paper's network has no output bias and starts at an output of about 0, so it needs {.arg y} near 0 and inputs on a unit scale (see {.code ?adv_nn2}, Scaling).",
    "i" = paste0("Try ", paste(hints, collapse = ", "), ".")
  ), class = "advtrain_warning_nn2_fit")
}

#' @rdname adv_nn2
#' @inheritParams advtrain-formula
#' @param data For the formula method (`x` a formula), a data frame with its
#'   variables; see [advtrain-formula]. The network has no bias, so the formula's
#'   intercept adds no column (`y ~ a + b` and `y ~ a + b - 1` fit the same model).
#' @export
adv_nn2.formula <- function(x, data, ..., subset, weights, na.action,
                           contrasts = NULL) {
  call <- match.call()
  call[[1]] <- as.name("adv_nn2")
  des <- formula_design(match.call(expand.dots = FALSE), parent.frame(), "adv_nn2")
  fit <- formula_call(adv_nn2.default, "adv_nn2", des, list(...), intercept = FALSE)
  formula_attach(fit, des, call)
}

# ------------------------------------------------------------------ validate ----

nn2_check <- function(x, y, h, h_missing, a, activation, slope, eps, norm, xi, eta,
                      iters, init, delta, balance, attack, pgd_steps, truth, n_test,
                      trace_every, threads, call = rlang::caller_env()) {
  x <- check_matrix(x, call = call)
  d <- ncol(x)
  # theta is a d x h matrix of doubles: keep it addressable and below 2^31 entries
  h <- check_count(h, min = 1, max = floor((2^31 - 1) / d), call = call)
  if (!is.null(a)) {
    a <- check_numeric(a, call = call)
    if (!h_missing && length(a) != h) {
      abort_arg("{.arg a} must have length {.arg h} = {h}, not {length(a)}.", "a", call)
    }
    h <- length(a)
  }
  activation <- check_choice(activation, nn2_activations, call = call)
  if (is.null(balance)) {
    balance <- activation == "relu"
  } else {
    balance <- check_flag(balance, call = call)
  }
  if (is.character(init) || is.null(init)) {
    init <- check_choice(init, c("vanishing", "zero"), call = call)
  } else {
    init <- check_matrix(init, nrow = d, ncol = h, call = call)
  }
  out <- list(
    x = x, y = check_numeric(y, len = nrow(x), call = call), h = h, a = a,
    activation = activation,
    slope = check_number(slope, min = 0, strict = TRUE, call = call),
    eps = check_number(eps, min = 0, call = call),
    norm = check_choice(norm, c("l2", "linf"), call = call),
    xi = check_number(xi, min = 0, call = call),
    eta = if (is.null(eta)) NULL else check_number(eta, min = 0, strict = TRUE, call = call),
    iters = check_count(iters, min = 1, call = call),
    init = init, delta = check_number(delta, min = 0, call = call), balance = balance,
    attack = check_choice(attack, c("fgm", "pgd"), call = call),
    pgd_steps = check_count(pgd_steps, min = 1, max = 1000, call = call),
    truth = if (is.null(truth)) NULL else check_truth(truth, d = d, call = call),
    n_test = check_count(n_test, min = 1, max = floor((2^31 - 1) / d), call = call),
    trace_every = check_count(trace_every, min = 1, call = call),
    threads = resolve_threads(threads, call = call),
    call = call
  )
  check_trace_size(out$iters, out$trace_every, call = call)
  out
}

# ------------------------------------------------------------------- prepare ----

# Draws a, theta(0) and the test samples (in that order) and fixes the step size.
nn2_prepare <- function(args) {
  d <- ncol(args$x)
  h <- args$h
  if (is.null(args$a)) args$a <- stats::runif(h, -1, 1)
  if (args$balance) args$a <- nn2_balance(args$a, args$call)
  if (sum(args$a^2) == 0) {
    abort_arg("{.arg a} must not be all zero: the network would be constant.", "a",
              args$call)
  }
  args$theta0 <- if (is.matrix(args$init)) {
    args$init
  } else if (args$init == "zero") {
    matrix(0, d, h)
  } else {
    matrix(stats::rnorm(d * h, sd = sqrt(1 / (d * h^(1 + args$delta)))), d, h)
  }
  args$mc <- !is.null(args$truth) && args$activation != "linear"
  if (args$mc) {
    tr <- args$truth
    # NULL for the identity spares simulate_linear() a Cholesky factor and a product
    sigma <- if (isTRUE(all(tr$Sigma == diag(nrow(tr$Sigma))))) NULL else tr$Sigma
    test <- simulate_linear(args$n_test, tr$theta0, sigma, tr$sigma2)
    args$xtest <- t(test$x)
    args$ytest <- test$y
  } else {
    args$xtest <- matrix(0, d, 0)
    args$ytest <- numeric()
  }
  args$dphi0 <- nn2_dphi0(args$activation, args$slope)
  args$step <- nn2_step(args)
  args
}

# phi'(0) of the activation; for ReLU the square root of its effective curvature
# slope^2 / 4 (see the step size in ?adv_nn2).
nn2_dphi0 <- function(activation, slope) {
  switch(activation, sigmoid = 1 / 4, linear = slope, relu = slope / 2)
}

nn2_balance <- function(a, call) {
  pos <- sum(a[a > 0]^2)
  neg <- sum(a[a < 0]^2)
  if (pos == 0 || neg == 0) {
    abort_arg("{.arg balance} = TRUE needs both positive and negative entries in {.arg a}.",
              "balance", call)
  }
  a[a < 0] <- a[a < 0] * sqrt(pos / neg)
  a
}

# The step size. The automatic one is adv_lm()'s step for the equivalent linear model
# rescaled by h / (||a||^2 kappa) (MATH.md section 6); for a given eta, eta_linear is
# the step that the equivalent linear model takes.
nn2_step <- function(args) {
  scale <- args$h / (sum(args$a^2) * args$dphi0^2)
  if (!is.null(args$eta)) {
    return(list(eta = args$eta, eta_linear = args$eta / scale, lambda_max = NA_real_))
  }
  xt <- t(args$x)
  dimnames(xt) <- NULL
  lin <- lm_step(xt, list(intercept = FALSE, norm = args$norm, eps = args$eps))
  list(eta = lin$eta * scale, eta_linear = lin$eta, lambda_max = lin$lambda_max)
}

# ----------------------------------------------------------------------- fit ----

nn2_fit <- function(args) {
  x <- args$x
  n <- nrow(x)
  d <- ncol(x)
  h <- args$h
  xt <- t(x)
  dimnames(xt) <- NULL
  eta <- args$step$eta
  spec <- nn2_spec(args$activation, args$slope, args$eps, args$norm, args$xi,
                   args$attack, args$pgd_steps)
  want_path <- !is.null(args$truth) && args$activation == "linear"
  ctrl <- c(eta, NA_real_, mean(args$y^2))
  cost <- 4 * as.double(n + if (args$mc) args$n_test / args$trace_every else 0) * d * h *
    (if (args$attack == "pgd") args$pgd_steps else 1)
  chunk <- max(1L, as.integer(ceiling(2e8 / cost)))
  run <- run_chunks(function(t0, t_end, theta, cap) {
    ctrl[2] <- cap
    ictrl <- c(t0, t_end, args$iters, args$trace_every, as.integer(want_path))
    .Call(C_nn2_train, xt, args$y, theta, args$a, spec, ctrl, args$xtest,
          args$ytest, ictrl, args$threads)
  }, args$theta0, args$iters, chunk)
  tr <- run$trace
  if (run$status == 2L) {
    auto <- is.null(args$eta)
    args$eta <- NULL
    lm_abort_diverged(tr, eta, nn2_step(args)$eta, auto)
  }
  trace <- nn2_trace(tr, run$path, args)
  nn2_assemble(args, run$theta, trace, eta)
}

# The trace data frame from the 9 x k matrix of C; for the linear activation the
# exact risks of beta = phi'(0) theta a / sqrt(h) from the recorded theta a.
nn2_trace <- function(tr, path, args) {
  trace <- data.frame(iter = as.integer(tr[1, ]), loss_surrogate = tr[2, ],
                      loss_adv = tr[3, ], loss_std = tr[4, ], risk_adv = tr[5, ],
                      risk_std = tr[6, ], theta_norm = tr[7, ], grad_norm = tr[8, ],
                      grad_diff = tr[9, ])
  if (!is.null(path)) {
    beta <- path * (args$slope / sqrt(args$h))
    risk <- vapply(seq_len(ncol(beta)), function(i) {
      risk_linear(beta[, i], args$truth, c(args$eps, 0), args$norm)
    }, numeric(2))
    trace$risk_adv <- risk[1, ]
    trace$risk_std <- risk[2, ]
  }
  trace
}

nn2_assemble <- function(args, theta, trace, eta) {
  x <- args$x
  d <- ncol(x)
  rn <- colnames(x)
  if (is.null(rn)) rn <- paste0("x", seq_len(d))
  dimnames(theta) <- list(rn, paste0("h", seq_len(args$h)))
  f <- nn2_forward(x, theta, args$a, args$activation, args$slope, args$threads)
  sc <- args$scaling
  if (!is.null(sc)) f <- f * sc$y_scale + sc$y_center
  y <- if (is.null(args$y_orig)) args$y else args$y_orig
  names(f) <- rownames(x)
  tr <- args$truth
  beta <- if (args$activation == "linear") {
    stats::setNames(drop(theta %*% args$a) * args$slope / sqrt(args$h), rn)
  }
  structure(list(
    theta = theta, a = args$a, beta = beta, fitted.values = f, residuals = y - f,
    scaling = sc,
    trace = trace, activation = args$activation, slope = args$slope, h = args$h,
    eps = args$eps, norm = args$norm, xi = args$xi, attack = args$attack,
    pgd_steps = args$pgd_steps, init = if (is.matrix(args$init)) "given" else args$init,
    delta = args$delta, balance = args$balance, eta = eta,
    eta_auto = is.null(args$eta), eta_linear = args$step$eta_linear,
    lambda_max = args$step$lambda_max, iterations = args$iters, n = nrow(x), d = d,
    truth = tr, n_test = if (args$mc) args$n_test else NA_integer_,
    risk_method = if (is.null(tr)) "none" else if (args$mc) "monte carlo" else "exact",
    R_star = if (!is.null(tr)) lm_rstar(tr, args$eps, args$norm) else NA_real_,
    threads = args$threads
  ), class = "adv_nn2")
}

# ------------------------------------------------------------------- kernels ----

nn2_activations <- c("sigmoid", "linear", "relu")

# The numeric specification C reads: c(activation, slope, eps, norm, xi, attack, steps)
nn2_spec <- function(activation, slope, eps, norm, xi, attack = "fgm", pgd_steps = 1L) {
  c(match(activation, nn2_activations), slope, eps, norm_code(norm), xi,
    match(attack, c("fgm", "pgd")), pgd_steps)
}

# Outputs, attacks and gradients of the network at theta on the samples x (n x d):
# list(f, r_adv, loss, loss_std, input_grad (d x n), delta (d x n), grad (d x h),
# grad_std). The same kernel as training.
nn2_eval <- function(x, y, theta, a, activation, slope = 1 / 4, eps = 0,
                     norm = "l2", xi = 0, attack = "fgm", pgd_steps = 1L,
                     threads = 1L) {
  spec <- nn2_spec(activation, slope, eps, norm, xi, attack, pgd_steps)
  theta <- matrix(as.double(theta), ncol(x))
  xt <- t(x)
  dimnames(xt) <- NULL
  .Call(C_nn2_eval, xt, as.double(y), theta, as.double(a), spec, TRUE,
        as.integer(threads))
}

# Clean outputs f(x) of the network.
nn2_forward <- function(x, theta, a, activation, slope, threads = 1L) {
  spec <- nn2_spec(activation, slope, 0, "l2", 0)
  theta <- matrix(as.double(theta), ncol(x))
  xt <- t(x)
  dimnames(xt) <- NULL
  .Call(C_nn2_eval, xt, numeric(nrow(x)), theta, as.double(a), spec, FALSE,
        as.integer(threads))
}

# ------------------------------------------------------------------- methods ----

#' @export
print.adv_nn2 <- function(x, digits = 4, ...) {
  cat(sprintf("Lazy two-layer network, %s activation, h = %d (%s attacks, eps = %s)\n",
              x$activation, x$h, attack_label(x$norm), format(x$eps)))
  cat(sprintf("%s attack, xi = %s, eta = %s%s; n = %d, d = %d, %d steps\n",
              nn2_attack_words(x), format(x$xi), format(x$eta, digits = digits),
              if (isTRUE(x$eta_auto)) " (automatic)" else "", x$n, x$d, x$iterations))
  sw <- nn2_scaling_words(x$scaling)
  if (!is.null(sw)) cat(sw, "\n", sep = "")
  cat("\n")
  trace_print(x$trace, digits)
  if (!is.na(x$R_star)) {
    cat(sprintf("R*(eps) = %s (risks: %s)\n", format(x$R_star, digits = digits),
                nn2_risk_words(x)))
  }
  invisible(x)
}

nn2_scaling_words <- function(sc) {
  parts <- c(if (!is.null(sc$x_center)) "x standardised",
             if (!is.null(sc$y_center) && sc$y_center != 0) "y centred",
             if (!is.null(sc$y_scale) && sc$y_scale != 1) "y scaled")
  if (length(parts)) {
    sprintf("Trained on %s (the losses below are on that scale)",
            paste(parts, collapse = ", "))
  }
}

nn2_attack_words <- function(x) {
  if (x$attack == "fgm") "FGM" else sprintf("PGD-%d", x$pgd_steps)
}

nn2_risk_words <- function(x) {
  if (x$risk_method == "exact") "exact, linear model" else
    sprintf("Monte Carlo over %d samples", x$n_test)
}

#' @export
summary.adv_nn2 <- function(object, ...) {
  last <- object$trace[nrow(object$trace), ]
  losses <- c(surrogate = last$loss_surrogate, adversarial = last$loss_adv,
              standard = last$loss_std)
  risks <- if (!is.na(object$R_star)) {
    c(adversarial = last$risk_adv, standard = last$risk_std, R_star = object$R_star,
      excess = last$risk_adv - object$R_star)
  }
  structure(list(call = object$call, activation = object$activation, h = object$h,
                 eps = object$eps, norm = object$norm, xi = object$xi,
                 attack = nn2_attack_words(object), eta = object$eta,
                 eta_auto = object$eta_auto, eta_linear = object$eta_linear,
                 init = object$init, delta = object$delta, balance = object$balance,
                 a = c(min = min(object$a), max = max(object$a),
                       norm = sqrt(sum(object$a^2))),
                 theta_norms = stats::quantile(sqrt(colSums(object$theta^2))),
                 losses = losses, risks = risks,
                 risk_words = if (!is.null(risks)) nn2_risk_words(object),
                 n = object$n, d = object$d, iterations = object$iterations,
                 residuals = stats::quantile(object$residuals)),
            class = "summary.adv_nn2")
}

#' @export
print.summary.adv_nn2 <- function(x, digits = 4, ...) {
  if (!is.null(x$call)) {
    cat("Call:\n")
    print(x$call)
    cat("\n")
  }
  cat(sprintf("Lazy two-layer network: %s activation, h = %d hidden units; n = %d, d = %d\n",
              x$activation, x$h, x$n, x$d))
  cat(sprintf("%s attacks, eps = %s, %s attack with xi = %s\n", attack_label(x$norm),
              format(x$eps), x$attack, format(x$xi)))
  cat(sprintf("Step size eta = %s (%s; the equivalent linear step is %s); %d steps\n",
              format(x$eta, digits = digits),
              if (isTRUE(x$eta_auto)) "automatic" else "given",
              format(x$eta_linear, digits = digits), x$iterations))
  cat(sprintf("Initialisation: %s%s; second layer a in [%s, %s], ||a|| = %s%s\n",
              x$init, if (x$init == "vanishing") sprintf(" (delta = %s)", format(x$delta)) else "",
              format(x$a[["min"]], digits = 3), format(x$a[["max"]], digits = 3),
              format(x$a[["norm"]], digits = digits),
              if (x$balance) " (balanced)" else ""))
  cat("\nResiduals:\n")
  print(x$residuals, digits = digits)
  cat("\nNorms of the hidden units' weights theta_j:\n")
  print(x$theta_norms, digits = digits)
  cat("\nTraining losses:\n")
  print(x$losses, digits = digits)
  if (!is.null(x$risks)) {
    cat(sprintf("\nPopulation risks (%s):\n", x$risk_words))
    print(x$risks, digits = digits)
  }
  invisible(x)
}

#' @export
coef.adv_nn2 <- function(object, ...) object$theta

#' @export
fitted.adv_nn2 <- function(object, ...) formula_pad(object, object$fitted.values)

#' @export
residuals.adv_nn2 <- function(object, ...) formula_pad(object, object$residuals)

#' @export
as.data.frame.adv_nn2 <- function(x, ...) trace_df(x)

#' @export
plot.adv_nn2 <- function(x, ...) {
  trace_plot(x$trace, x$R_star, ...)
  invisible(x)
}

#' Predictions of a lazy two-layer network
#'
#' @param object An `adv_nn2` fit.
#' @param newdata For fits of the formula method, a data frame with the variables of
#'   the formula (a data frame given as `newx` is taken as `newdata`).
#' @param newx A numeric matrix with the columns of the training `x` (a data frame of
#'   numeric columns, or a vector of length d for one sample, is accepted).
#' @param ... Not used.
#' @return The numeric vector \eqn{f_\theta(x)} of the rows of `newx`; the fitted
#'   values when `newx` is not given.
#' @examples
#' set.seed(3)
#' sim <- simulate_linear(50, c(1, -1))
#' fit <- adv_nn2(sim$x, sim$y, h = 10, eps = 0.1, eta = 0.5, iters = 100)
#' predict(fit, sim$x[1:3, ])
#' @export
predict.adv_nn2 <- function(object, newx = NULL, newdata = NULL, ...) {
  if (!is.null(object$terms)) {
    if (is.data.frame(newx) && is.null(newdata)) {
      newdata <- newx
    } else if (!is.null(newx)) {
      abort_arg("{.arg newx} is for fits of the matrix method; this fit used a formula, so give {.arg newdata}.",
                "newx", rlang::current_env())
    }
    if (is.null(newdata)) return(formula_pad(object, object$fitted.values))
    xm <- formula_newx(object, newdata)
    return(formula_predict_rows(xm, function(z) predict.adv_nn2(object[setdiff(names(object), "terms")], z)))
  }
  if (!is.null(newdata)) {
    abort_arg("{.arg newdata} is for fits of the formula method; give {.arg newx}.",
              "newdata", rlang::current_env())
  }
  if (is.null(newx)) return(object$fitted.values)
  if (is.null(dim(newx)) && is_plain_numeric(newx) && length(newx) == object$d) {
    newx <- matrix(newx, 1)
  }
  newx <- check_matrix(newx, ncol = object$d, min_rows = 1)
  sc <- object$scaling
  rn <- rownames(newx)
  if (!is.null(sc$x_center)) {
    newx <- sweep(sweep(newx, 2, sc$x_center), 2, sc$x_scale, "/")
  }
  f <- nn2_forward(newx, object$theta, object$a, object$activation, object$slope,
                   resolve_threads(NULL))
  if (!is.null(sc)) f <- f * sc$y_scale + sc$y_center
  names(f) <- rn
  f
}
