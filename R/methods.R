# Methods of the fit classes and the internal helpers they share. A fit class that
# carries a `trace` data frame (columns iter, loss_* and optionally risk_*) and,
# when the model is known, `R_star` can reuse trace_print(), trace_plot() and
# trace_df() (adv_nn2 does).

trace_df <- function(x) {
  tr <- x$trace
  rownames(tr) <- NULL
  tr
}

# The last row of the trace as "name = value" lines.
trace_print <- function(trace, digits = 4) {
  last <- trace[nrow(trace), ]
  cat(sprintf("Training losses at step %d: surrogate %s, adversarial %s, standard %s\n",
              last$iter, format(last$loss_surrogate, digits = digits),
              format(last$loss_adv, digits = digits),
              format(last$loss_std, digits = digits)))
  if (!is.null(last$risk_adv) && !is.na(last$risk_adv)) {
    cat(sprintf("Population risks: adversarial %s, standard %s\n",
                format(last$risk_adv, digits = digits),
                format(last$risk_std, digits = digits)))
  }
  invisible(trace)
}

# The Figure 1 picture: training losses against the step, and the population risks
# with R* dashed when they are known.
trace_plot <- function(trace, R_star = NA, main = NULL, log = "", ...) {
  has_risk <- "risk_adv" %in% names(trace) && any(!is.na(trace$risk_adv))
  if (has_risk) {
    old <- graphics::par(mfrow = c(1, 2))
    on.exit(graphics::par(old))
  }
  losses <- c("loss_surrogate", "loss_adv", "loss_std")
  cols <- c("black", "firebrick", "steelblue")
  graphics::matplot(trace$iter, as.matrix(trace[losses]), type = "l", lty = 1,
                    col = cols, lwd = 1.5, log = log, xlab = "iteration",
                    ylab = "training loss",
                    main = if (is.null(main)) "Training losses" else main, ...)
  graphics::legend("topright", bty = "n", lty = 1, col = cols, lwd = 1.5,
                   legend = c("surrogate attack", "true attack", "no attack"))
  if (has_risk) {
    rng <- range(c(trace$risk_adv, trace$risk_std, R_star), na.rm = TRUE)
    graphics::plot(trace$iter, trace$risk_adv, type = "l", lwd = 1.5, ylim = rng,
                   xlab = "iteration", ylab = "population risk",
                   main = "Population risks")
    graphics::lines(trace$iter, trace$risk_std, lwd = 1.5, col = "steelblue")
    leg <- c("adversarial", "standard")
    if (!is.na(R_star)) {
      graphics::abline(h = R_star, lty = 2, col = "grey30")
      leg <- c(leg, "R*(eps)")
    }
    graphics::legend("topright", bty = "n", lty = c(1, 1, 2)[seq_along(leg)],
                     col = c("black", "steelblue", "grey30")[seq_along(leg)],
                     legend = leg)
  }
  invisible(trace)
}

attack_label <- function(norm) if (norm == "l2") "L2" else "L-infinity"

#' @export
print.adv_lm <- function(x, digits = 4, ...) {
  cat(sprintf("Adversarially trained linear model (%s attacks, eps = %s, %s)\n",
              attack_label(x$norm), format(x$eps),
              if (x$method == "exact") "exact minimiser"
              else sprintf("gradient descent, xi = %s, eta = %s%s", format(x$xi),
                           format(x$eta, digits = digits),
                           if (isTRUE(x$eta_auto)) " (automatic)" else "")))
  cat(sprintf("n = %d, d = %d, %s\n", x$n, x$d, lm_stop_words(x)))
  cat("\nCoefficients:\n")
  print(x$coefficients, digits = digits)
  cat("\n")
  trace_print(x$trace, digits)
  if (!is.na(x$R_star)) {
    cat(sprintf("R*(eps) = %s\n", format(x$R_star, digits = digits)))
  }
  invisible(x)
}

lm_stop_words <- function(x) {
  switch(x$stopped,
         converged = sprintf("converged in %d iterations (duality gap %s, relative %s)",
                             x$iterations, format(x$gap, digits = 3),
                             format(if (is.null(x$rel_gap)) NA else x$rel_gap, digits = 3)),
         interpolation = sprintf("stopped at the interpolation time T = %d", x$iterations),
         sprintf("%d steps%s", x$iterations, lm_conv_words(x)))
}

lm_conv_words <- function(x) {
  if (is.null(x$converged) || is.na(x$converged)) return("")
  m <- x$conv_measure
  what <- if (names(m) == "rel_excess") "loss above the exact minimum" else "gradient norm ratio"
  sprintf(", %s (%s %s, tol %s)", if (x$converged) "converged" else "not converged",
          what, format(signif(m[[1]], 3)), format(x$conv_tol))
}

#' @export
summary.adv_lm <- function(object, ...) {
  last <- object$trace[nrow(object$trace), ]
  losses <- c(surrogate = last$loss_surrogate, adversarial = last$loss_adv,
              standard = last$loss_std)
  risks <- if (!is.na(object$R_star)) {
    c(adversarial = last$risk_adv, standard = last$risk_std, R_star = object$R_star,
      excess = last$risk_adv - object$R_star)
  }
  structure(list(call = object$call, coefficients = object$coefficients,
                 losses = losses, risks = risks, eps = object$eps, norm = object$norm,
                 xi = object$xi, method = object$method, eta = object$eta,
                 eta_auto = object$eta_auto, lambda_max = object$lambda_max,
                 stop = lm_stop_words(object), n = object$n, d = object$d,
                 na.action = object$na.action,
                 residuals = stats::quantile(object$residuals)),
            class = "summary.adv_lm")
}

#' @export
print.summary.adv_lm <- function(x, digits = 4, ...) {
  if (!is.null(x$call)) {
    cat("Call:\n")
    print(x$call)
    cat("\n")
  }
  cat(sprintf("%s attacks, eps = %s; %s; n = %d, d = %d\n", attack_label(x$norm),
              format(x$eps), if (x$method == "exact") "exact minimiser"
              else sprintf("gradient descent with xi = %s", format(x$xi)), x$n, x$d))
  summary_na_line(x$na.action)
  if (x$method == "gd") {
    cat(sprintf("Step size eta = %s (%s)\n", format(x$eta, digits = digits),
                if (isTRUE(x$eta_auto)) {
                  sprintf("automatic, from the largest eigenvalue of X'X/n, %s",
                          format(x$lambda_max, digits = digits))
                } else "given"))
  }
  cat(sprintf("Run: %s\n\nResiduals:\n", x$stop))
  print(x$residuals, digits = digits)
  cat("\nCoefficients:\n")
  print(x$coefficients, digits = digits)
  cat("\nTraining losses:\n")
  print(x$losses, digits = digits)
  if (!is.null(x$risks)) {
    cat("\nPopulation risks (the data-generating model is known):\n")
    print(x$risks, digits = digits)
  }
  invisible(x)
}

#' @export
coef.adv_lm <- function(object, eps = NULL, ...) {
  if (is.null(eps)) return(object$coefficients)
  if (is.null(object$path)) {
    abort_arg("{.arg eps} is for fits over a vector of {.arg eps} ({.code method = \"exact\"}); this fit has one, {object$eps}.",
              "eps", rlang::current_env())
  }
  exact_path_coef(object, eps)
}

#' @export
fitted.adv_lm <- function(object, ...) formula_pad(object, object$fitted.values)

#' @export
residuals.adv_lm <- function(object, ...) formula_pad(object, object$residuals)

#' @export
as.data.frame.adv_lm <- function(x, ...) trace_df(x)

#' Predictions of an adversarially trained linear model
#'
#' @param object An `adv_lm` fit.
#' @param newx A numeric matrix with the columns of the training `x` (fits of the
#'   default method).
#' @param newdata A data frame with the variables of the formula (fits of the formula
#'   method).
#' @param eps For a fit over a vector of eps (`method = "exact"`, see [adv_lm()]):
#'   the eps values to predict at (linear interpolation between the fitted grid); the
#'   result is then a matrix with one column per value.
#' @param ... Not used.
#' @return The numeric vector of predictions; the fitted values when neither `newx`
#'   nor `newdata` is given.
#' @examples
#' set.seed(2)
#' sim <- simulate_linear(100, c(1, 2))
#' fit <- adv_lm(sim$x, sim$y, eps = 0.1, method = "exact")
#' predict(fit, newx = sim$x[1:3, ])
#' @export
predict.adv_lm <- function(object, newx = NULL, newdata = NULL, eps = NULL, ...) {
  if (!is.null(eps)) {
    cf <- coef(object, eps = eps)
    if (is.null(newx) && is.null(newdata)) {
      abort_arg("{.arg eps} needs {.arg newx} (or {.arg newdata}).", "newx", rlang::current_env())
    }
    object$path <- NULL
    out <- vapply(seq_len(ncol(cf)), function(k) {
      o <- object
      th <- cf[if (o$has_intercept) -1 else seq_len(o$d), k]
      o$theta <- th
      o$intercept <- if (o$has_intercept) cf[1, k] else 0
      predict.adv_lm(o, newx = newx, newdata = newdata)
    }, numeric(if (!is.null(newx)) NROW(newx) else nrow(newdata)))
    out <- matrix(out, ncol = ncol(cf))
    colnames(out) <- colnames(cf)
    return(out)
  }
  if (!is.null(object$terms)) {
    if (!is.null(newx)) {
      abort_arg("{.arg newx} is for fits of the matrix method; this fit used a formula, so give {.arg newdata}.",
                "newx", rlang::current_env())
    }
    if (is.null(newdata)) return(formula_pad(object, object$fitted.values))
    newx <- formula_newx(object, newdata)
    return(formula_predict_rows(newx, function(z) drop(z %*% object$theta) + object$intercept))
  } else {
    if (!is.null(newdata)) {
      abort_arg("{.arg newdata} is for fits of the formula method; give {.arg newx}.",
                "newdata", rlang::current_env())
    }
    if (is.null(newx)) return(object$fitted.values)
    if (is.null(dim(newx)) && is_plain_numeric(newx) && length(newx) == object$d) {
      newx <- matrix(newx, 1)
    }
  }
  newx <- check_matrix(newx, ncol = object$d, min_rows = 1)
  drop(newx %*% object$theta) + object$intercept
}

#' Plot an adversarially trained linear model
#'
#' For gradient descent, the training losses against the step and, when the
#' data-generating model is known, the population risks with \eqn{R^*(\epsilon)}
#' dashed (the picture of Figure 1). An exact fit (`method = "exact"`) has no path to
#' draw (its trace is the one row of the minimiser), so its plot is a dot chart of the
#' coefficients, with the true coefficients as open circles when `truth` was given, and
#' its losses in the subtitle. An exact fit over a vector of `eps` (a path) draws its
#' coefficient paths against eps.
#'
#' @param x An `adv_lm` fit.
#' @param ... Passed to [graphics::matplot()] (gradient descent) or
#'   [graphics::dotchart()] (exact fits).
#' @return `x`, invisibly.
#' @examples
#' set.seed(1)
#' sim <- simulate_linear(200, theta0 = rep(1, 5))
#' plot(adv_lm(sim$x, sim$y, eps = 0.5, xi = 0.1, eta = 0.01, iters = 300))
#' plot(adv_lm(sim$x, sim$y, eps = 0.5, method = "exact", truth = sim))
#' @export
plot.adv_lm <- function(x, ...) {
  if (!is.null(x$path)) return(exact_path_plot(x, ...))
  if (identical(x$method, "exact") || nrow(x$trace) < 2) {
    coef_plot(x, ...)
  } else {
    trace_plot(x$trace, x$R_star, ...)
  }
  invisible(x)
}

# The plot of a fit without a path (an exact fit: one trace row): the coefficients as a
# dot chart, theta0 as open circles when known, the losses in the subtitle.
coef_plot <- function(x, main = NULL, ...) {
  cf <- x$coefficients
  theta0 <- if (!is.null(x$truth)) x$truth$theta0
  last <- x$trace[nrow(x$trace), ]
  rng <- range(c(cf, theta0, 0), finite = TRUE)
  graphics::dotchart(rev(cf), labels = rev(names(cf)), xlim = rng, pch = 19,
                     xlab = "coefficient",
                     main = if (is.null(main)) {
                       sprintf("%s: coefficients (%s, eps = %s)",
                               if (identical(x$method, "exact")) "Exact minimiser"
                               else "Adversarial training", attack_label(x$norm),
                               format(x$eps))
                     } else main, ...)
  graphics::abline(v = 0, lty = 3, col = "grey50")
  if (!is.null(theta0)) {
    pos <- rev(seq_along(cf))
    at <- if (isTRUE(x$has_intercept)) pos[-1] else pos
    graphics::points(theta0, at, pch = 1, cex = 1.4, col = "firebrick")
    graphics::legend("bottom", bty = "n", horiz = TRUE, pch = c(19, 1),
                     col = c("black", "firebrick"), legend = c("fit", "theta0"))
  }
  graphics::mtext(sprintf("training loss: adversarial %s, standard %s",
                          format(last$loss_adv, digits = 4),
                          format(last$loss_std, digits = 4)), side = 3, line = 0.3,
                  cex = 0.8)
  invisible(cf)
}
