test_that("with xi = 0 the attack is the worst case and has the right size", {
  set.seed(31)
  sim <- simulate_linear(40, c(1, -2, 0.5))
  theta <- c(0.8, -1.5, 0.2)
  r <- drop(sim$x %*% theta) - sim$y
  for (norm in c("l2", "linf")) {
    A <- adv_attack(theta, sim$x, sim$y, eps = 0.3, norm = norm)
    attacked <- (drop((sim$x + A) %*% theta) - sim$y)^2
    if (norm == "l2") {
      expect_equal(sqrt(rowSums(A^2)), rep(0.3, 40))
    } else {
      expect_equal(abs(A), matrix(0.3, 40, 3))
    }
    # no random feasible perturbation does better
    for (k in 1:200) {
      D <- matrix(rnorm(120), 40, 3)
      D <- if (norm == "l2") 0.3 * D / sqrt(rowSums(D^2)) * runif(40)
           else 0.3 * (2 * matrix(runif(120), 40, 3) - 1)
      expect_true(all((drop((sim$x + D) %*% theta) - sim$y)^2 <= attacked + 1e-12))
    }
  }
})

test_that("the surrogate attack shrinks the true one by the paper's factor", {
  set.seed(32)
  sim <- simulate_linear(30, c(1, 1))
  theta <- c(0.5, -0.25)
  r <- drop(sim$x %*% theta) - sim$y
  A <- adv_attack(theta, sim$x, sim$y, eps = 0.5, xi = 0.2)
  g <- 2 * abs(r) * sqrt(sum(theta^2))
  expect_equal(sqrt(rowSums(A^2)), 0.5 * g / sqrt(g^2 + 0.04))
  Al <- adv_attack(theta, sim$x, sim$y, eps = 0.5, norm = "linf", xi = 0.2)
  G <- 2 * outer(r, theta)
  expect_equal(Al, 0.5 * G / (abs(G) + 0.2))
  # no gradient, no attack
  expect_equal(adv_attack(c(0, 0), sim$x, sim$y, eps = 1), matrix(0, 30, 2))
})

test_that("adv_loss is the mean squared residual at the attacked points", {
  set.seed(33)
  sim <- simulate_linear(50, c(1, 0, -1, 2))
  theta <- c(0.3, 0.1, -0.9, 1)
  for (norm in c("l2", "linf")) for (xi in c(0, 0.5)) {
    A <- adv_attack(theta, sim$x, sim$y, 0.2, norm, xi)
    expect_equal(c(adv_loss(theta, sim$x, sim$y, 0.2, norm, xi)),
                 mean((drop((sim$x + A) %*% theta) - sim$y)^2), tolerance = 1e-13)
    # the fixed-attack gradient of Algorithm 1
    xt <- sim$x + A
    g <- 2 / 50 * drop(crossprod(xt, drop(xt %*% theta) - sim$y))
    expect_equal(attr(adv_loss(theta, sim$x, sim$y, 0.2, norm, xi, gradient = TRUE),
                      "gradient"), g, tolerance = 1e-12)
  }
  expect_equal(c(adv_loss(theta, sim$x, sim$y, 0)), mean((sim$x %*% theta - sim$y)^2))
})

test_that("with xi = 0 the fixed-attack gradient is the derivative of the adversarial loss", {
  set.seed(34)
  sim <- simulate_linear(60, c(1, -1, 0.5))
  theta <- c(0.7, -0.6, 0.3)
  for (norm in c("l2", "linf")) {
    f <- function(t) c(adv_loss(t, sim$x, sim$y, 0.25, norm))
    g <- attr(adv_loss(theta, sim$x, sim$y, 0.25, norm, gradient = TRUE), "gradient")
    expect_equal(g, num_grad(f, theta), tolerance = 1e-7)
  }
})

test_that("with xi > 0 the fixed-attack gradient is not the surrogate loss's derivative", {
  # Lemma 2 of the paper: Algorithm 1 does not descend the surrogate loss exactly.
  set.seed(35)
  sim <- simulate_linear(60, c(1, -1))
  theta <- c(0.7, -0.6)
  f <- function(t) c(adv_loss(t, sim$x, sim$y, 0.5, xi = 2))
  g <- attr(adv_loss(theta, sim$x, sim$y, 0.5, xi = 2, gradient = TRUE), "gradient")
  expect_gt(sqrt(sum((g - num_grad(f, theta))^2)), 1e-3)
})
