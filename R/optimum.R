#' The optimal robust linear model and the minimal adversarial risk
#'
#' Computes \eqn{\theta^*(\epsilon) = \arg\min_\theta R(\theta, \epsilon)} and
#' \eqn{R^*(\epsilon)} for the adversarial risk of [adv_risk()] (Propositions 1 and 8
#' of the paper), for a vector of attack strengths.
#'
#' **L2.** Setting the gradient of eq. (5) to zero gives
#' \eqn{(\Sigma + \kappa I)\theta = \Sigma\theta_0} with
#' \eqn{\kappa = (\epsilon^2 + \epsilon c_0\sqrt q/\|\theta\|) /
#' (1 + \epsilon c_0\|\theta\|/\sqrt q)}. One symmetric eigendecomposition of
#' \eqn{\Sigma} (LAPACK `dsyevr`) makes \eqn{\theta(\kappa)} cost O(d), and the scalar
#' fixed point is solved by Brent's bracketing method in \eqn{\log\kappa} to machine
#' precision. \eqn{\theta^* = 0} exactly when \eqn{\epsilon \ge \epsilon_c =
#' \|\Sigma\theta_0\| / (c_0 v)}, \eqn{v^2 = \|\theta_0\|^2_\Sigma + \sigma^2}; then
#' \eqn{R^* = v^2}.
#'
#' **L-infinity.** Eq. (9) depends on \eqn{\theta} only through \eqn{q} and
#' \eqn{\|\theta\|_1}, so \eqn{\theta^*} lies on the population LASSO path
#' \eqn{\arg\min \|\theta - \theta_0\|^2_\Sigma + \lambda\|\theta\|_1} (computed by
#' coordinate descent); its \eqn{\lambda} solves a scalar fixed point found by
#' Brent's method. \eqn{\theta^*} is sparse, and zero for \eqn{\epsilon \ge
#' \|\Sigma\theta_0\|_\infty / (c_0 v)}.
#'
#' @param theta0 Numeric vector: the true coefficients.
#' @param eps Non-negative numeric vector of attack strengths.
#' @param sigma2 Noise variance, a positive number.
#' @inheritParams adv_risk
#' @return An object of class `adv_optimum`, a list with
#'   * `eps`: the attack strengths;
#'   * `theta`: the d x length(eps) matrix of \eqn{\theta^*(\epsilon)};
#'   * `risk`: \eqn{R^*(\epsilon)}; `std_risk`: the standard risk
#'     \eqn{R(\theta^*, 0)};
#'   * `kappa` (L2; `NA` where \eqn{\theta^* = 0}) or `lambda` (L-infinity; the
#'     population LASSO penalty);
#'   * `eps_c`: the smallest \eqn{\epsilon} with \eqn{\theta^* = 0};
#'   * `norm`, `v2` (\eqn{v^2}) and `truth` (`list(theta0, Sigma, sigma2)`).
#' @seealso [adv_risk()]; `plot()` draws the trade-off between \eqn{R^*} and the
#'   standard risk.
#' @examples
#' opt <- adv_optimum(rep(1, 10), eps = c(0, 0.5, 1, 1.5))
#' opt
#' coef(opt)[, "0.5"]
#' plot(adv_optimum(rep(1, 10), eps = seq(0, 2, by = 0.02)))
#' # L-infinity attacks give sparse optima
#' Sigma <- 0.5^abs(outer(1:5, 1:5, "-"))
#' round(coef(adv_optimum(c(3, 1, 0.5, 0, 0), 0.3, Sigma, norm = "linf")), 4)
#' @export
adv_optimum <- function(theta0, eps, Sigma = NULL, sigma2 = 1, norm = c("l2", "linf")) {
  theta0 <- check_numeric(theta0)
  eps <- check_numeric(eps, min = 0, what = "a non-negative numeric vector")
  Sigma <- check_sigma(Sigma, length(theta0))
  sigma2 <- check_number(sigma2, min = 0, strict = TRUE)
  norm <- check_choice(norm, c("l2", "linf"))
  eps <- as.vector(eps)
  res <- optimum_solve(theta0, eps, Sigma, sigma2, norm)
  if (any(res$status != 0L)) {
    cli::cli_warn("The root search for theta* did not converge for {.arg eps} = {eps[res$status != 0L][1]}; the result there may be inaccurate.")
  }
  theta <- res$theta
  rownames(theta) <- names(theta0)
  colnames(theta) <- as.character(signif(eps, 6))
  out <- list(eps = eps, theta = theta, risk = res$risk, std_risk = res$std_risk)
  if (norm == "l2") out$kappa <- res$kappa else out$lambda <- res$lambda
  out$eps_c <- res$eps_c
  out$norm <- norm
  out$v2 <- sum(theta0 * sigma_times(Sigma, theta0)) + sigma2
  out$truth <- list(theta0 = theta0, Sigma = Sigma, sigma2 = sigma2)
  structure(out, class = "adv_optimum")
}

#' @export
as.data.frame.adv_optimum <- function(x, ...) {
  df <- data.frame(eps = x$eps, risk = x$risk, std_risk = x$std_risk,
                   theta_norm = sqrt(colSums(x$theta^2)))
  if (x$norm == "l2") df$kappa <- x$kappa else df$lambda <- x$lambda
  df$nonzero <- colSums(x$theta != 0)
  df
}

#' @export
print.adv_optimum <- function(x, digits = 5, ...) {
  cat(sprintf("Optimal robust linear model under %s attacks (d = %d, sigma^2 = %g)\n",
              if (x$norm == "l2") "L2" else "L-infinity", nrow(x$theta),
              x$truth$sigma2))
  cat(sprintf("eps_c = %s (theta* = 0 from here on), v^2 = %s\n\n",
              format(x$eps_c, digits = digits + 1), format(x$v2, digits = digits + 1)))
  df <- as.data.frame(x)
  names(df)[names(df) == "risk"] <- "R*(eps)"
  names(df)[names(df) == "std_risk"] <- "R(theta*,0)"
  names(df)[names(df) == "theta_norm"] <- "||theta*||"
  print(df, digits = digits, row.names = FALSE)
  invisible(x)
}

#' @export
coef.adv_optimum <- function(object, ...) object$theta

#' @export
plot.adv_optimum <- function(x, ...) {
  o <- order(x$eps)
  rng <- range(c(x$risk, x$std_risk, x$truth$sigma2, x$v2))
  graphics::plot(x$eps[o], x$risk[o], type = "l", lwd = 2, ylim = rng,
                 xlab = expression(epsilon), ylab = "population risk",
                 main = sprintf("Robust-standard trade-off (%s attacks)",
                                if (x$norm == "l2") "L2" else "L-infinity"), ...)
  graphics::lines(x$eps[o], x$std_risk[o], lwd = 2, lty = 2, col = "firebrick")
  graphics::abline(v = x$eps_c, col = "grey50", lty = 3)
  graphics::abline(h = c(x$truth$sigma2, x$v2), col = "grey80", lty = 3)
  graphics::legend("bottomright", bty = "n", lwd = 2, lty = c(1, 2, 3),
                   col = c("black", "firebrick", "grey50"),
                   legend = c(expression(R^"*" * (epsilon)),
                              expression(R(theta^"*", 0)),
                              expression(epsilon[c])))
  invisible(x)
}

# theta*(eps) in C. With a diagonal Sigma (or the identity, Sigma = NULL) a coordinate
# where theta0 is zero stays zero in theta* for both norms (theta(kappa) scales each
# coordinate; the Linf path soft-thresholds each one) and adds nothing to q or to the
# norms, so only the support of theta0 goes to C: the paper's sparse high-dimensional
# settings then need no d x d eigendecomposition.
optimum_solve <- function(theta0, eps, Sigma, sigma2, norm) {
  d <- length(theta0)
  diagonal <- is.null(Sigma) || all(Sigma[upper.tri(Sigma)] == 0)
  keep <- if (diagonal) which(theta0 != 0) else seq_len(d)
  m <- length(eps)
  if (!length(keep)) { # theta0 = 0: nothing to estimate
    return(list(theta = matrix(0, d, m), risk = rep(sigma2, m), std_risk = rep(sigma2, m),
                kappa = ifelse(eps == 0, 0, NA_real_), lambda = ifelse(eps == 0, 0, NA_real_),
                status = integer(m), eps_c = 0))
  }
  S <- if (is.null(Sigma)) diag(length(keep)) else Sigma[keep, keep, drop = FALSE]
  res <- if (norm == "l2") {
    .Call(C_optimum_l2, S, theta0[keep], sigma2, eps)
  } else {
    .Call(C_optimum_linf, S, theta0[keep], sigma2, eps)
  }
  if (length(keep) < d) {
    theta <- matrix(0, d, m)
    theta[keep, ] <- res$theta
    res$theta <- theta
  }
  res
}
