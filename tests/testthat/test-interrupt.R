# Long computations in C check for interrupts between chunks. A time limit is checked
# at the same place as Ctrl-C, so it stands in for the user's interrupt here.

test_that("a long adv_optimum() computation stops promptly and the package keeps working", {
  skip_on_cran()
  set.seed(51)
  d <- 300
  Sigma <- random_sigma(d)
  theta0 <- rnorm(d)
  eps <- seq(0.001, 0.25, length.out = 5000) # ~45 s of work without the interrupt
  res <- interrupt_after(adv_optimum(theta0, eps, Sigma, norm = "linf"), limit = 0.5)
  expect_match(res$message, "time limit")
  expect_lt(res$seconds, 3)
  # nothing was left in a bad state
  expect_equal(adv_optimum(rep(1, 10), 0.5)$risk, 5.38521, tolerance = 1e-6)
  expect_equal(adv_optimum(theta0[1:5], 0.1, Sigma[1:5, 1:5], norm = "linf")$risk,
               adv_optimum(theta0[1:5], 0.1, Sigma[1:5, 1:5], norm = "linf")$risk)
})
