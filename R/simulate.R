#' Simulate data from the Gaussian linear model
#'
#' Draws \eqn{n} samples of \eqn{y = x'\theta_0 + e} with \eqn{x \sim N(0, \Sigma)} and
#' \eqn{e \sim N(0, \sigma^2)} independent (eq. 4 of the paper), using R's random
#' number generator, so `set.seed()` makes the result reproducible.
#'
#' @param n Number of samples, a whole number of at least 1.
#' @param theta0 Numeric vector: the true coefficients; its length is the dimension.
#' @inheritParams adv_risk
#' @return A list of class `advtrain_sim` with `x` (an n x d matrix), `y` (length n)
#'   and `truth` (`list(theta0, Sigma, sigma2)`, with `Sigma = NULL` for the
#'   identity). It can be passed as `truth` to the fitting functions.
#' @examples
#' set.seed(1)
#' sim <- simulate_linear(100, theta0 = rep(1, 3))
#' str(sim$x)
#' coef(lm(sim$y ~ sim$x - 1))
#' @export
simulate_linear <- function(n, theta0, Sigma = NULL, sigma2 = 1) {
  n <- check_count(n, min = 1)
  theta0 <- check_numeric(theta0)
  d <- length(theta0)
  if (as.double(n) * d > .Machine$integer.max) {
    abort_arg("{.arg n} times the dimension must be below 2^31, not {n} x {d}.",
              "n", rlang::current_env())
  }
  Sigma <- check_sigma(Sigma, d)
  sigma2 <- check_number(sigma2, min = 0)
  z <- matrix(stats::rnorm(n * d), n, d)
  x <- if (is.null(Sigma)) z else z %*% chol(Sigma)
  y <- drop(x %*% theta0) + sqrt(sigma2) * stats::rnorm(n)
  structure(list(x = x, y = y,
                 truth = list(theta0 = theta0, Sigma = Sigma, sigma2 = sigma2)),
            class = "advtrain_sim")
}

#' @export
print.advtrain_sim <- function(x, ...) {
  cat(sprintf("Simulated linear model: n = %d, d = %d, sigma^2 = %g\n",
              nrow(x$x), ncol(x$x), x$truth$sigma2))
  cat(sprintf("||theta0|| = %.4g, identity covariance: %s\n",
              sqrt(sum(x$truth$theta0^2)),
              is.null(x$truth$Sigma)))
  invisible(x)
}
