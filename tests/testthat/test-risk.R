test_that("eq. (5) and (9) agree with Monte Carlo at a random Sigma", {
  set.seed(11)
  d <- 5
  Sigma <- random_sigma(d)
  theta0 <- rnorm(d)
  theta <- theta0 + rnorm(d, sd = 0.5)
  sim <- draw_model(1e6, theta0, Sigma, sigma2 = 0.7)
  r <- drop(sim$x %*% theta) - sim$y
  for (norm in c("l2", "linf")) {
    tn <- if (norm == "l2") sqrt(sum(theta^2)) else sum(abs(theta))
    for (eps in c(0, 0.3, 1)) {
      loss <- (abs(r) + eps * tn)^2 # the inner maximum, in closed form
      mc <- mean(loss)
      se <- sd(loss) / sqrt(length(loss))
      exact <- adv_risk(theta, theta0, eps, Sigma, sigma2 = 0.7, norm = norm)
      expect_lt(abs(mc - exact), 4 * se)
    }
  }
})

test_that("adv_risk is vectorised over eps and eps = 0 is the standard risk", {
  set.seed(2)
  Sigma <- random_sigma(4)
  theta0 <- rnorm(4)
  theta <- rnorm(4)
  q <- drop(t(theta - theta0) %*% Sigma %*% (theta - theta0)) + 2
  eps <- c(0, 0.1, 0.7)
  r <- adv_risk(theta, theta0, eps, Sigma, sigma2 = 2)
  expect_equal(r[1], q, tolerance = 1e-14)
  expect_equal(r, vapply(eps, function(e) adv_risk(theta, theta0, e, Sigma, 2), 1))
  expect_equal(r, q + eps^2 * sum(theta^2) + 2 * eps * c0 * sqrt(sum(theta^2) * q))
  expect_equal(adv_risk(theta, theta0, 0.4, norm = "linf", xi = 0.3),
               adv_risk(theta, theta0, 0.4, norm = "linf", xi = 0.3))
})

# The surrogate risk written independently: r ~ N(0, q), shift as in section 2.1.
surrogate_shift <- function(u, theta, eps, xi, norm) {
  if (norm == "l2") {
    tn <- sqrt(sum(theta^2))
    g <- 2 * u * tn
    eps * tn * g / sqrt(g^2 + xi^2)
  } else {
    g <- outer(2 * abs(theta), u) # d x length(u)
    eps * colSums(abs(theta) * g / (g + xi))
  }
}

test_that("the surrogate risk agrees with Monte Carlo and with integrate()", {
  set.seed(3)
  d <- 4
  Sigma <- random_sigma(d)
  theta0 <- rnorm(d)
  theta <- theta0 / 2
  sim <- draw_model(1e6, theta0, Sigma, sigma2 = 1)
  r <- abs(drop(sim$x %*% theta) - sim$y)
  q <- drop(t(theta - theta0) %*% Sigma %*% (theta - theta0)) + 1
  for (norm in c("l2", "linf")) {
    for (xi in c(0.05, 1, 5)) {
      exact <- adv_risk(theta, theta0, 0.5, Sigma, 1, norm = norm, xi = xi)
      loss <- (r + surrogate_shift(r, theta, 0.5, xi, norm))^2
      expect_lt(abs(mean(loss) - exact), 4 * sd(loss) / sqrt(length(loss)))
      f <- function(u) (u + surrogate_shift(u, theta, 0.5, xi, norm))^2 *
        2 * dnorm(u, sd = sqrt(q))
      ref <- integrate(f, 0, Inf, rel.tol = 1e-13, subdivisions = 1000)$value
      expect_equal(exact, ref, tolerance = 1e-9)
      # the surrogate attack is weaker than the true one
      expect_lt(exact, adv_risk(theta, theta0, 0.5, Sigma, 1, norm = norm))
    }
  }
})

test_that("the surrogate risk tends to the true risk as xi -> 0", {
  theta0 <- rep(1, 10)
  theta <- rep(0.4, 10)
  true <- adv_risk(theta, theta0, 0.5)
  gaps <- vapply(10^-(1:6), function(xi) true - adv_risk(theta, theta0, 0.5, xi = xi), 1)
  expect_true(all(gaps > 0))
  expect_true(all(diff(gaps) < 0))
  expect_lt(gaps[6], 1e-6)
})

test_that("theta as a matrix: one column is a vector, several columns an error (issue 24)", {
  theta0 <- rep(1, 10)
  v <- adv_risk(rep(0.5, 10), theta0, eps = c(0, 0.5))
  # the closed form of eq. (5), independently: q = 10 * 0.25 + 1, ||theta|| = sqrt(2.5)
  q <- 3.5
  expect_equal(v, q + c(0, 0.5)^2 * 2.5 + 2 * c(0, 0.5) * sqrt(2 / pi) * sqrt(2.5 * q))
  expect_identical(adv_risk(matrix(0.5, 10, 1), theta0, eps = c(0, 0.5)), v)
  expect_identical(adv_risk(matrix(0.5, 1, 10), matrix(1, 10, 1), eps = c(0, 0.5)), v)
  # coef() of an adv_lasso fit at one penalty is a one-column matrix
  set.seed(5)
  sim <- simulate_linear(60, c(1, -1, 0))
  cf <- coef(adv_lasso(sim$x, sim$y, eps = 0.1), s = 0.01)[-1, , drop = FALSE]
  expect_identical(adv_risk(cf, c(1, -1, 0), eps = 0.1),
                   adv_risk(cf[, 1], c(1, -1, 0), eps = 0.1))
  expect_snapshot(error = TRUE, {
    adv_risk(matrix(0.5, 10, 3), theta0, eps = 0.5)
    adv_risk(rep(0.5, 4), array(1, c(2, 2, 1)), eps = 0.5)
  })
})
