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

test_that("long adv_lm(), adv_nn2() and adv_cnn() fits stop promptly when interrupted", {
  skip_on_cran()
  # the fits below would run for hours; each must give control back within seconds
  # (one thread: an oversubscribed machine makes OpenMP barriers slow, not the check)
  set.seed(52)
  sim <- simulate_linear(2000, rnorm(300))
  res <- interrupt_after(adv_lm(sim$x, sim$y, eps = 0.1, xi = 0.1, eta = 1e-4,
                                iters = 1e6, trace_every = 1000, threads = 1), limit = 0.5)
  expect_match(res$message, "time limit")
  expect_lt(res$seconds, 5) # chunks are sized to ~0.3 s unloaded
  res <- interrupt_after(adv_nn2(sim$x[, 1:20], sim$y, h = 100, eps = 0.1, xi = 0.1,
                                 eta = 1e-3, iters = 1e6, trace_every = 1000, threads = 1),
                         limit = 0.5)
  expect_match(res$message, "time limit")
  expect_lt(res$seconds, 5) # chunks are sized to ~0.3 s unloaded
  x <- array(runif(512 * 64), c(512, 8, 8))
  y <- factor(rep(1:2, 256))
  res <- interrupt_after(adv_cnn(x, y, mlp_spec(hidden = 64, classes = 2), eps = 0.1,
                                 steps = 5, epochs = 1e5, batch_size = 32, seed = 1, threads = 1),
                         limit = 0.5)
  expect_match(res$message, "time limit")
  expect_lt(res$seconds, 5) # chunks are sized to ~0.3 s unloaded
  # and the package keeps working
  fit <- adv_lm(sim$x[1:50, 1:3], sim$y[1:50], eps = 0.1, iters = 10, tol = Inf)
  expect_s3_class(fit, "adv_lm")
  expect_true(all(is.finite(coef(fit))))
})
