# Observation weights (issue 19): sum_i w_i loss_i / sum_i w_i.

wt_data <- function(n = 60, d = 5, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(n * d), n)
  y <- drop(x %*% seq(1, -1, length.out = d)) + rnorm(n)
  list(x = x, y = y, w = sample(0:3, n, TRUE))
}

test_that("adv_lm GD: integer weights equal replicated rows (automatic eta too)", {
  D <- wt_data()
  idx <- rep(seq_along(D$y), D$w)
  for (norm in c("l2", "linf")) for (xi in c(0, 0.1)) for (b in c(FALSE, TRUE)) {
    f1 <- adv_lm(D$x, D$y, eps = 0.3, norm = norm, xi = xi, iters = 200,
                 intercept = b, weights = D$w, tol = Inf)
    f2 <- adv_lm(D$x[idx, ], D$y[idx], eps = 0.3, norm = norm, xi = xi, iters = 200, tol = Inf,
                 intercept = b)
    expect_equal(f1$eta, f2$eta, tolerance = 1e-12)
    expect_equal(coef(f1), coef(f2), tolerance = 1e-10)
    expect_equal(f1$trace$loss_adv, f2$trace$loss_adv, tolerance = 1e-10)
    expect_length(fitted(f1), length(D$y))
  }
})

test_that("adv_lm GD: zero weights drop rows, equal weights are the unweighted fit", {
  D <- wt_data(d = 300) # long rows: the other kernel path
  keep <- D$w > 0
  f1 <- adv_lm(D$x, D$y, eps = 0.2, xi = 0.1, eta = 1e-3, iters = 50,
               weights = as.numeric(keep))
  f2 <- adv_lm(D$x[keep, ], D$y[keep], eps = 0.2, xi = 0.1, eta = 1e-3, iters = 50)
  expect_equal(coef(f1), coef(f2), tolerance = 1e-10)
  f3 <- adv_lm(D$x, D$y, eps = 0.2, xi = 0.1, iters = 30, tol = Inf, weights = rep(2.5, 60))
  f4 <- adv_lm(D$x, D$y, eps = 0.2, xi = 0.1, iters = 30, tol = Inf)
  f3$call <- f4$call <- NULL
  expect_identical(f3, f4)
})

test_that("adv_lm GD weights on real data (MASS::Boston)", {
  skip_if_not_installed("MASS")
  B <- MASS::Boston
  x <- scale(as.matrix(B[, c("rm", "lstat", "crim")]))
  set.seed(3)
  w <- sample(1:3, nrow(B), TRUE)
  idx <- rep(seq_len(nrow(B)), w)
  f1 <- adv_lm(x, B$medv, eps = 0.5, iters = 300, intercept = TRUE, weights = w)
  f2 <- adv_lm(x[idx, ], B$medv[idx], eps = 0.5, iters = 300, intercept = TRUE)
  expect_equal(coef(f1), coef(f2), tolerance = 1e-10)
})

test_that("bad weights give clear errors", {
  D <- wt_data(n = 10)
  expect_snapshot(error = TRUE, adv_lm(D$x, D$y, eps = 0.1, weights = 1:3))
  expect_snapshot(error = TRUE, adv_lm(D$x, D$y, eps = 0.1, weights = c(-1, rep(1, 9))))
  expect_snapshot(error = TRUE, adv_lm(D$x, D$y, eps = 0.1, weights = rep(0, 10)))
  expect_snapshot(error = TRUE, adv_lm(D$x, D$y, eps = 0.1, weights = c(NA, rep(1, 9))))
  expect_snapshot(error = TRUE, adv_lm(D$x, D$y, eps = 0.1, weights = letters[1:10]))
})
