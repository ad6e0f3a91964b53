test_that("inputs whose size would overflow or exhaust memory fail with a clear error", {
  expect_snapshot(error = TRUE, {
    simulate_linear(.Machine$integer.max, rep(1, 2))
    simulate_linear(2^31 + 5, 1)
  })
})

test_that("a trace that would take gigabytes is refused before any work", {
  set.seed(1)
  sim <- simulate_linear(10, c(1, 2))
  expect_snapshot(error = TRUE, {
    adv_lm(sim$x, sim$y, eps = 0.1, iters = 1e9, trace_every = 1)
    adv_nn2(sim$x, sim$y, h = 2, eps = 0.1, iters = 2e9, trace_every = 2)
  })
  expect_s3_class(adv_lm(sim$x, sim$y, eps = 0.1, iters = 1e3, trace_every = 1e3, tol = Inf), "adv_lm")
})

test_that("a network with more than 2^31 hidden weights is refused", {
  set.seed(1)
  sim <- simulate_linear(10, c(1, 2))
  expect_snapshot(error = TRUE, adv_nn2(sim$x, sim$y, h = 2^30, eps = 0.1, iters = 1))
})
