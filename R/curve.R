#' Robustness curves of linear models
#'
#' For one or several linear models \eqn{f(x) = b + x'\theta} and a data set, the
#' worst-case (adversarial) empirical loss as a function of the attack strength,
#' which for the squared loss and the true attack has the closed form
#' \deqn{L(\epsilon) = \frac1n \sum_i \big(|r_i| + \epsilon \|\theta\|_*\big)^2,
#' \quad r_i = y_i - b - x_i'\theta}
#' (\eqn{\|\cdot\|_*} the dual norm of the attack's: L2 for L2 attacks, L1 for
#' L-infinity attacks); with `truth` also the population adversarial risk of eq. 5 /
#' eq. 9 of the paper (with an intercept \eqn{b \ne 0} the Gaussian residual is
#' \eqn{N(b, q)}, whose mean absolute value is the folded normal's), as computed by
#' [adv_risk()]; and per observation the certified radius, the largest \eqn{\epsilon}
#' at which that observation's worst-case loss stays at most `threshold`:
#' \eqn{(\sqrt{\tau} - |r_i|) / \|\theta\|_*} (0 when \eqn{|r_i| > \sqrt\tau},
#' `Inf` for \eqn{\theta = 0}).
#'
#' Models can be [adv_lm()] fits, [adv_lasso()] fits (at the penalty `s`, or their
#' only \eqn{\lambda}), [cv_adv_lasso()] fits (at `s`, by default `"lambda_1se"`),
#' [stats::lm()] fits, or coefficient vectors: length d (no intercept) or d + 1 with
#' the intercept first (as `coef()` of `lm`, `adv_lm` and glmnet give them; a one-column
#' matrix such as `as.matrix(coef(glmnet_fit, s = 0.1))` is accepted). Give several as
#' a named list to overlay them.
#'
#' @param object A model or a (preferably named) list of models; see Details.
#' @param x Numeric n x d matrix of inputs (the data on which the loss is evaluated);
#'   for the methods, an `adv_curve` object.
#' @param y Numeric response of length n.
#' @param eps Non-negative, increasing attack strengths (at least one).
#' @param norm `"l2"` or `"linf"`: the norm that bounds the attack.
#' @param truth `NULL`, or a [simulate_linear()] result or `list(theta0, Sigma,
#'   sigma2)`: the data-generating model, for the population risk.
#' @param threshold The loss level \eqn{\tau} of the certified radius; `NULL` means
#'   the variance of `y` (divisor n), the loss of predicting the mean.
#' @param s For `adv_lasso` and `cv_adv_lasso` models: the penalty at which to take the
#'   coefficients.
#' @param what For `plot()`: `"loss"`, `"risk"` (needs `truth`) or `"certified"`
#'   (the empirical distribution of the certified radii).
#' @param digits Significant digits to print.
#' @param row.names,optional Ignored (for compatibility with the generic).
#' @param ... Further graphical arguments to [graphics::matplot()] (plot); unused
#'   otherwise.
#' @return An object of class `adv_curve`: a list with `curve` (a data frame with
#'   columns `model`, `eps`, `loss`, `risk`; `risk` is `NA` without `truth`),
#'   `certified` (an n x models matrix of certified radii), `coefficients` (a list of
#'   `theta` and `intercept` per model), `norm`, `threshold` and `n`. `print()` shows,
#'   per model, the clean loss, the loss at the largest `eps` and the median certified
#'   radius; `plot()` overlays the models; `as.data.frame()` returns `curve`.
#' @seealso [adv_radius()], [adv_risk()], [adv_loss()].
#' @examples
#' set.seed(4)
#' sim <- simulate_linear(200, theta0 = c(2, -1, 0.5, 0, 0))
#' ols <- lm(sim$y ~ sim$x)
#' adv <- adv_lm(sim$x, sim$y, eps = 0.3, intercept = TRUE, method = "exact")
#' cur <- adv_curve(list(OLS = ols, adversarial = adv), sim$x, sim$y,
#'                  eps = seq(0, 1, by = 0.1), truth = sim)
#' cur
#' plot(cur)
#' head(as.data.frame(cur))
#' @export
adv_curve <- function(object, x, y, eps = seq(0, 1, length.out = 21),
                      norm = c("l2", "linf"), truth = NULL, threshold = NULL, s = NULL) {
  call <- rlang::current_env()
  x <- check_matrix(x, call = call)
  d <- ncol(x)
  y <- check_numeric(as.vector(y), len = nrow(x), arg = "y", call = call)
  eps <- check_numeric(eps, min = 0, what = "a non-negative numeric vector", call = call)
  if (is.unsorted(eps)) {
    abort_arg("{.arg eps} must be increasing.", "eps", call)
  }
  norm <- check_choice(norm, c("l2", "linf"), call = call)
  if (!is.null(truth)) truth <- check_truth(truth, d = d, call = call)
  threshold <- if (is.null(threshold)) mean((y - mean(y))^2)
               else check_number(threshold, min = 0, call = call)
  models <- if (is.list(object) && !is.object(object)) object else list(object)
  if (!length(models)) abort_arg("{.arg object} must hold at least one model.", "object", call)
  nm <- names(models)
  if (is.null(nm)) nm <- rep("", length(models))
  nm[nm == ""] <- paste0("model", which(nm == ""))
  coefs <- lapply(seq_along(models), function(k) curve_coef(models[[k]], d, s, nm[k], call))
  names(coefs) <- nm
  rows <- lapply(nm, function(m) {
    cf <- coefs[[m]]
    r <- abs(y - cf$intercept - drop(x %*% cf$theta))
    tn <- attack_norm(cf$theta, norm)
    loss <- vapply(eps, function(e) mean((r + e * tn)^2), numeric(1))
    risk <- if (is.null(truth)) rep(NA_real_, length(eps))
            else curve_risk(cf$theta, cf$intercept, truth, eps, norm)
    data.frame(model = m, eps = eps, loss = loss, risk = risk)
  })
  cert <- vapply(nm, function(m) {
    cf <- coefs[[m]]
    r <- abs(y - cf$intercept - drop(x %*% cf$theta))
    tn <- attack_norm(cf$theta, norm)
    out <- pmax(sqrt(threshold) - r, 0) / tn
    out[r > sqrt(threshold)] <- 0
    if (tn == 0) out[r <= sqrt(threshold)] <- Inf
    out
  }, numeric(nrow(x)))
  cert <- matrix(cert, nrow(x), length(nm), dimnames = list(rownames(x), nm))
  curve <- do.call(rbind, rows)
  curve$model <- factor(curve$model, levels = nm)
  structure(list(curve = curve, certified = cert, coefficients = coefs, norm = norm,
                 threshold = threshold, n = nrow(x)), class = "adv_curve")
}

# theta and intercept of one model for adv_curve().
curve_coef <- function(m, d, s, name, call) {
  if (inherits(m, "adv_lm")) return(list(theta = unname(m$theta), intercept = m$intercept))
  if (inherits(m, "cv_adv_lasso")) {
    cf <- stats::coef(m, s = if (is.null(s)) "lambda_1se" else s)
    return(list(theta = unname(cf[-1, 1]), intercept = unname(cf[1, 1])))
  }
  if (inherits(m, "adv_lasso")) {
    if (is.null(s) && length(m$lambda) > 1) {
      abort_arg("Model {.val {name}} is an {.fn adv_lasso} path with {length(m$lambda)} penalties; give {.arg s}.",
                "s", call)
    }
    cf <- stats::coef(m, s = s)
    return(list(theta = unname(cf[-1, 1]), intercept = unname(cf[1, 1])))
  }
  if (inherits(m, "lm")) m <- stats::coef(m)
  if (inherits(m, "Matrix") && requireNamespace("Matrix", quietly = TRUE)) m <- as.matrix(m)
  if (is.matrix(m) && ncol(m) == 1) m <- stats::setNames(m[, 1], rownames(m))
  if (!is_plain_numeric(m) || !length(m) %in% c(d, d + 1) || any(!is.finite(m))) {
    abort_arg("Model {.val {name}} must be a fitted linear model or a finite coefficient vector of length {d} or {d + 1} (intercept first), not {describe(m)}.",
              "object", call)
  }
  m <- as.vector(m)
  if (length(m) == d) list(theta = m, intercept = 0)
  else list(theta = m[-1], intercept = m[1])
}

curve_risk <- function(theta, b, truth, eps, norm) {
  if (b == 0) return(risk_linear(theta, truth, eps, norm))
  q <- risk_q(theta, truth)
  sd <- sqrt(q)
  mabs <- sd * c0 * exp(-b^2 / (2 * q)) + b * (1 - 2 * stats::pnorm(-b / sd))
  tn <- attack_norm(theta, norm)
  q + b^2 + 2 * eps * tn * mabs + eps^2 * tn^2
}

#' @rdname adv_curve
#' @export
print.adv_curve <- function(x, digits = 4, ...) {
  cv <- x$curve
  cat(sprintf("Robustness curves (%s attacks), n = %d, %d eps values from %s to %s\n",
              attack_label(x$norm), x$n, length(unique(cv$eps)), format(min(cv$eps)),
              format(max(cv$eps))))
  emax <- max(cv$eps)
  tab <- do.call(rbind, lapply(levels(cv$model), function(m) {
    k <- cv[cv$model == m, ]
    data.frame(clean_loss = k$loss[k$eps == min(k$eps)][1],
               loss_at_max_eps = k$loss[k$eps == emax][1],
               risk_at_max_eps = k$risk[k$eps == emax][1],
               median_certified = stats::median(x$certified[, m]), row.names = m)
  }))
  if (all(is.na(tab$risk_at_max_eps))) tab$risk_at_max_eps <- NULL
  names(tab)[2] <- sprintf("loss at eps = %s", format(emax))
  if (!is.null(tab$risk_at_max_eps)) names(tab)[3] <- sprintf("risk at eps = %s", format(emax))
  cat(sprintf("clean loss at eps = %s; certified radius: loss at most %s\n\n",
              format(min(cv$eps)), format(signif(x$threshold, digits))))
  print(signif(tab, digits))
  invisible(x)
}

#' @rdname adv_curve
#' @export
plot.adv_curve <- function(x, what = c("loss", "risk", "certified"), ...) {
  what <- check_choice(what, c("loss", "risk", "certified"))
  cv <- x$curve
  ms <- levels(cv$model)
  cols <- seq_along(ms)
  if (what == "certified") {
    cr <- x$certified
    fin <- cr[is.finite(cr)]
    top <- if (length(fin)) max(fin) else 1
    cr[!is.finite(cr)] <- top
    srt <- apply(cr, 2, sort)
    srt <- matrix(srt, nrow(cr))
    graphics::matplot(srt, seq_len(nrow(cr)) / nrow(cr), type = "s", lty = 1, col = cols,
                      xlab = "certified radius", ylab = "fraction of observations",
                      main = sprintf("Certified radii (loss <= %s)",
                                     format(signif(x$threshold, 3))), ...)
  } else {
    if (what == "risk" && all(is.na(cv$risk))) {
      cli::cli_abort("{.code what = \"risk\"} needs {.arg truth} in {.fn adv_curve}.",
                     class = "advtrain_error_argument")
    }
    val <- vapply(ms, function(m) cv[cv$model == m, what], numeric(sum(cv$model == ms[1])))
    val <- matrix(val, ncol = length(ms))
    graphics::matplot(unique(cv$eps), val, type = "l", lty = 1, col = cols,
                      xlab = expression(epsilon),
                      ylab = if (what == "loss") "worst-case training loss" else "adversarial risk",
                      main = sprintf("Robustness curves (%s)", attack_label(x$norm)), ...)
  }
  graphics::legend("topleft", legend = ms, col = cols, lty = 1, bty = "n")
  invisible(x)
}

#' @rdname adv_curve
#' @export
as.data.frame.adv_curve <- function(x, row.names = NULL, optional = FALSE, ...) {
  x$curve
}
