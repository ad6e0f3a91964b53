#' The surrogate adversarial attack and the attacked loss of a linear model
#'
#' For the linear model \eqn{f(x) = x'\theta} with squared loss the input gradient
#' at \eqn{(x_i, y_i)} is \eqn{g_i = 2 r_i \theta}, \eqn{r_i = x_i'\theta - y_i}. The
#' surrogate attack of the paper (section 2.1 and section 4) is
#' * L2: \eqn{A = \epsilon g / \sqrt{\|g\|^2 + \xi^2}};
#' * L-infinity: \eqn{A_j = \epsilon g_j / (|g_j| + \xi)}.
#'
#' `xi = 0` gives the true worst-case attack (\eqn{\epsilon g/\|g\|}, respectively
#' \eqn{\epsilon\,\mathrm{sign}(g)}); where \eqn{g = 0} no attack is applied. The
#' gradient includes the factor 2 of the squared loss; the appendix of the paper
#' drops it, so its \eqn{\xi} corresponds to `xi / 2` here.
#'
#' `adv_loss()` is the empirical loss \eqn{\frac1n \sum_i (y_i - (x_i + A_i)'\theta)^2}
#' at the attacked points. With `gradient = TRUE` it also returns the gradient that
#' the paper's Algorithm 1 uses: the gradient in \eqn{\theta} with the attack held
#' fixed, \eqn{\frac2n \sum_i ((x_i + A_i)'\theta - y_i)(x_i + A_i)}. With `xi = 0` this
#' is a (sub)gradient of the true adversarial loss (Danskin's theorem); with `xi > 0`
#' it is *not* the derivative of the surrogate loss (Lemma 2 of the paper).
#'
#' Both functions use the same C kernels as the training functions.
#'
#' @param theta Numeric vector of coefficients (length d).
#' @param x Numeric n x d matrix of inputs (a data frame of numeric columns is
#'   accepted).
#' @param y Numeric response of length n.
#' @param eps One non-negative number: the attack strength.
#' @param gradient If `TRUE`, attach the fixed-attack gradient as attribute
#'   `"gradient"`.
#' @inheritParams adv_risk
#' @return `adv_attack()`: the n x d matrix of perturbations. `adv_loss()`: the loss,
#'   a number, with the gradient as attribute `"gradient"` when asked.
#' @examples
#' set.seed(1)
#' sim <- simulate_linear(50, theta0 = c(1, -1))
#' A <- adv_attack(c(0.5, -0.5), sim$x, sim$y, eps = 0.1)
#' sqrt(rowSums(A^2))[1:5] # each perturbation has norm eps
#' adv_loss(c(0.5, -0.5), sim$x, sim$y, eps = 0.1, gradient = TRUE)
#' @export
adv_attack <- function(theta, x, y, eps, norm = c("l2", "linf"), xi = 0) {
  a <- check_linear_args(theta, x, y, eps, norm, xi)
  .Call(C_linear_attack, a$theta, a$x, a$y, a$eps, norm_code(a$norm), a$xi)
}

#' @rdname adv_attack
#' @export
adv_loss <- function(theta, x, y, eps, norm = c("l2", "linf"), xi = 0,
                     gradient = FALSE) {
  a <- check_linear_args(theta, x, y, eps, norm, xi)
  gradient <- check_flag(gradient)
  out <- .Call(C_linear_loss, a$theta, a$x, a$y, a$eps, norm_code(a$norm), a$xi,
               gradient)
  loss <- out$loss
  if (gradient) attr(loss, "gradient") <- out$gradient
  loss
}

check_linear_args <- function(theta, x, y, eps, norm, xi, call = rlang::caller_env()) {
  x <- check_matrix(x, call = call)
  list(
    x = x,
    theta = check_numeric(theta, len = ncol(x), call = call),
    y = check_numeric(y, len = nrow(x), call = call),
    eps = check_number(eps, min = 0, call = call),
    norm = check_choice(norm, c("l2", "linf"), call = call),
    xi = check_number(xi, min = 0, call = call)
  )
}
