# Fixtures shared by the tests.

# A random symmetric positive-definite matrix with eigenvalues in [lo, hi].
random_sigma <- function(d, lo = 0.5, hi = 2) {
  q <- qr.Q(qr(matrix(rnorm(d * d), d, d)))
  s <- q %*% diag(seq(lo, hi, length.out = d), d) %*% t(q)
  (s + t(s)) / 2
}

# Monte Carlo draws from the Gaussian linear model (independent of the package).
draw_model <- function(n, theta0, Sigma, sigma2) {
  d <- length(theta0)
  x <- matrix(rnorm(n * d), n, d) %*% chol(Sigma)
  list(x = x, y = drop(x %*% theta0) + sqrt(sigma2) * rnorm(n))
}

# Central finite-difference gradient.
num_grad <- function(f, x, h = 1e-6) {
  vapply(seq_along(x), function(j) {
    e <- replace(numeric(length(x)), j, h)
    (f(x + e) - f(x - e)) / (2 * h)
  }, numeric(1))
}

c0 <- sqrt(2 / pi)

# Runs expr under an elapsed-time limit of `limit` seconds (the limit is checked by
# R_CheckUserInterrupt, exactly where a Ctrl-C would be noticed) and returns how long it
# took to give control back and the message it stopped with.
interrupt_after <- function(expr, limit = 0.5) {
  t0 <- proc.time()[["elapsed"]]
  msg <- tryCatch({
    setTimeLimit(elapsed = limit, transient = TRUE)
    force(expr)
    "finished"
  }, error = function(e) conditionMessage(e))
  setTimeLimit(elapsed = Inf)
  list(seconds = proc.time()[["elapsed"]] - t0, message = msg)
}
