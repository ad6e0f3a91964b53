#' Population adversarial risk of a linear model
#'
#' The risk \eqn{R(\theta, \epsilon) = E \max_{\|\delta\| \le \epsilon}
#' (y - (x + \delta)'\theta)^2} of the linear model \eqn{\theta} when
#' \eqn{y = x'\theta_0 + e}, \eqn{x \sim N(0, \Sigma)}, \eqn{e \sim N(0, \sigma^2)}.
#' With \eqn{q = \|\theta - \theta_0\|_\Sigma^2 + \sigma^2} and
#' \eqn{c_0 = \sqrt{2/\pi}}:
#' * L2 attacks (eq. 5 of the paper):
#'   \eqn{q + \epsilon^2 \|\theta\|_2^2 + 2 \epsilon c_0 \|\theta\|_2 \sqrt{q}};
#' * L-infinity attacks (eq. 9):
#'   \eqn{q + \epsilon^2 \|\theta\|_1^2 + 2 \epsilon c_0 \|\theta\|_1 \sqrt{q}}.
#'
#' `eps = 0` gives the standard risk \eqn{q}. With `xi > 0` the attack is the
#' smoothed surrogate \eqn{A_{\epsilon,\xi}} of the paper's section 2.1 (see
#' [adv_attack()]), whose risk is the one-dimensional Gaussian integral
#' \eqn{E(|r| + \mathrm{shift}(|r|))^2}, \eqn{r \sim N(0, q)}; it is computed by
#' adaptive Gauss-Kronrod quadrature to a relative accuracy of 1e-10 (a warning says
#' so if that is not reached).
#'
#' @param theta Numeric vector: the linear model \eqn{\theta}. A one-column (or
#'   one-row) matrix, such as `coef()` of a glmnet or [adv_lasso()] fit at one
#'   penalty, is read as that vector; a matrix of several columns is an error (call
#'   `adv_risk()` once per column, e.g. with `apply(theta, 2, adv_risk, theta0, eps)`).
#' @param theta0 Numeric vector of the same length: the true coefficients (a
#'   one-column matrix is accepted likewise).
#' @param eps Non-negative numeric vector of attack strengths; the result has one
#'   risk per element.
#' @param Sigma Covariance matrix of \eqn{x} (symmetric positive definite); `NULL`
#'   means the identity.
#' @param sigma2 Noise variance \eqn{\sigma^2 \ge 0}.
#' @param norm `"l2"` or `"linf"`: the norm that bounds the attack.
#' @param xi Non-negative smoothing parameter of the surrogate attack; 0 is the
#'   true (worst-case) attack.
#' @return A numeric vector of risks, one per `eps`.
#' @references Xing, Y., Song, Q. and Cheng, G. (2021). On the generalization
#'   properties of adversarial training. *AISTATS*, PMLR 130, 505-513.
#' @seealso [adv_optimum()] for the minimiser of this risk.
#' @examples
#' theta0 <- rep(1, 10)
#' adv_risk(rep(0.5, 10), theta0, eps = c(0, 0.5, 1))
#' adv_risk(rep(0.5, 10), theta0, eps = 0.5, norm = "linf")
#' # the surrogate attack is weaker than the true one
#' adv_risk(rep(0.5, 10), theta0, eps = 0.5, xi = 1)
#' @export
adv_risk <- function(theta, theta0, eps, Sigma = NULL, sigma2 = 1,
                     norm = c("l2", "linf"), xi = 0) {
  theta0 <- check_numeric(risk_vector(theta0), arg = "theta0")
  theta <- check_numeric(risk_vector(theta), len = length(theta0), arg = "theta")
  eps <- check_numeric(eps, min = 0, what = "a non-negative numeric vector")
  Sigma <- check_sigma(Sigma, length(theta0))
  sigma2 <- check_number(sigma2, min = 0)
  norm <- check_choice(norm, c("l2", "linf"))
  xi <- check_number(xi, min = 0)
  out <- risk_linear(theta, list(theta0 = theta0, Sigma = Sigma, sigma2 = sigma2), eps,
                     norm, xi)
  if (any(!is.finite(out))) {
    cli::cli_abort(c("The risk overflows double precision at {.arg eps} = {eps[!is.finite(out)][1]}.",
                     i = "Use smaller values of {.arg eps}, {.arg theta} or {.arg Sigma}."))
  }
  out
}

# theta (or theta0) given as a matrix: one column or one row is that vector, anything
# else an error (a matrix of several columns is several models, not one).
risk_vector <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  force(arg)
  d <- dim(x)
  if (is.null(d) || !is.numeric(x) && !is.logical(x)) return(x)
  if (length(d) == 2 && min(d) == 1) {
    nm <- if (d[2] == 1) rownames(x) else colnames(x)
    x <- as.vector(x)
    names(x) <- nm
    return(x)
  }
  abort_arg(c("{.arg {arg}} must be a numeric vector (or a one-column matrix), not a {paste(d, collapse = ' x ')} {if (length(d) == 2) 'matrix' else 'array'}.",
              "i" = if (length(d) == 2) "For several models, call {.fn adv_risk} once per column, e.g. {.code apply({arg}, 2, adv_risk, theta0, eps)}."),
            arg, call)
}

# The variance of the residual x'theta - y under the model: ||theta - theta0||^2_Sigma
# + sigma^2.
risk_q <- function(theta, truth) {
  dev <- theta - truth$theta0
  sum(dev * sigma_times(truth$Sigma, dev)) + truth$sigma2
}

# Risk of an already checked theta under a checked truth (shared with the fitters).
risk_linear <- function(theta, truth, eps, norm, xi = 0) {
  q <- risk_q(theta, truth)
  if (xi > 0 && any(eps > 0)) {
    out <- .Call(C_risk_surrogate, theta, q, eps, norm_code(norm), xi)
    if (any(attr(out, "status") != 0L)) {
      cli::cli_warn("The surrogate risk integral did not reach a relative accuracy of 1e-10 for {.arg eps} = {eps[attr(out, 'status') != 0L][1]}.")
    }
    return(as.vector(out))
  }
  tn <- attack_norm(theta, norm)
  q + eps^2 * tn^2 + 2 * eps * c0 * tn * sqrt(q)
}
