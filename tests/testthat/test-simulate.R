test_that("simulate_linear is reproducible and follows the model", {
  Sigma <- 0.5^abs(outer(1:3, 1:3, "-"))
  set.seed(41)
  a <- simulate_linear(20000, c(1, -1, 2), Sigma, sigma2 = 0.5)
  set.seed(41)
  b <- simulate_linear(20000, c(1, -1, 2), Sigma, sigma2 = 0.5)
  expect_identical(a, b)
  expect_equal(dim(a$x), c(20000L, 3L))
  expect_equal(cov(a$x), Sigma, tolerance = 0.05)
  fit <- lm.fit(a$x, a$y)
  expect_equal(unname(fit$coefficients), c(1, -1, 2), tolerance = 0.02)
  expect_equal(mean(fit$residuals^2), 0.5, tolerance = 0.05)
  expect_equal(a$truth, list(theta0 = c(1, -1, 2), Sigma = Sigma, sigma2 = 0.5))
  expect_snapshot(print(a))
})

test_that("the identity covariance is kept implicit", {
  set.seed(42)
  sim <- simulate_linear(10, rep(1, 5000))
  expect_null(sim$truth$Sigma)
  expect_equal(adv_risk(rep(0.5, 5000), rep(1, 5000), 0),
               adv_risk(rep(0.5, 5), rep(1, 5), 0, sigma2 = 1 + 0.25 * 4995))
})
