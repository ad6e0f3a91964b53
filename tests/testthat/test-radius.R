# adv_radius() and the eps shorthand of adv_lm() / adv_lasso().

radius_data <- function(n = 60, d = 5, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(n * d), n, d)
  list(x = x, y = drop(x[, 1:2] %*% c(1, -1) + rnorm(n)))
}

# The exact minimiser of the adversarial risk through the active-set solver with a
# negligible L1 penalty (it reaches exact zeros and certifies KKT to 1e-10).
exact_fit <- function(x, y, eps, norm, intercept) {
  f <- adv_lasso(x, y, eps = eps, norm = norm, lambda = 1e-12, standardize = FALSE,
                 intercept = intercept)
  list(theta = f$beta[, 1], b = f$a0[[1]])
}

test_that("at the zero radius theta = 0 becomes optimal (1 + 1e-6 vs 1 - 1e-3)", {
  dat <- radius_data()
  for (norm in c("l2", "linf")) for (ic in c(FALSE, TRUE)) {
    r <- adv_radius(dat$x, dat$y, norm = norm, type = "zero", intercept = ic)
    above <- exact_fit(dat$x, dat$y, r * (1 + 1e-6), norm, ic)
    below <- exact_fit(dat$x, dat$y, r * (1 - 1e-3), norm, ic)
    expect_true(all(above$theta == 0), label = paste(norm, ic))
    expect_gt(max(abs(below$theta)), 1e-6)
    # the intercept at theta = 0 is the mean of y (the minimiser of the clean loss)
    expect_equal(above$b, if (ic) mean(dat$y) else 0, tolerance = 1e-8)
  }
  # the exact solver of adv_lm agrees without an intercept
  r <- adv_radius(dat$x, dat$y, norm = "l2")
  expect_true(all(suppressWarnings(adv_lm(dat$x, dat$y, eps = r * (1 + 1e-6),
                                          method = "exact"))$theta == 0))
})

test_that("the zero radius is the directional-derivative threshold (finite differences)", {
  dat <- radius_data(seed = 3)
  loss <- function(theta, eps) mean((abs(dat$y - dat$x %*% theta) + eps * sum(abs(theta)))^2)
  r <- adv_radius(dat$x, dat$y, norm = "linf")
  # the steepest descent direction at 0 for L1: the coordinate of max |x_j'y|
  j <- which.max(abs(crossprod(dat$x, dat$y)))
  dir <- replace(numeric(5), j, sign(sum(dat$x[, j] * dat$y)))
  h <- 1e-7
  expect_lt(loss(h * dir, r * 0.999), loss(numeric(5), r * 0.999))
  expect_gt(loss(h * dir, r * 1.001), loss(numeric(5), r * 1.001))
})

test_that("weights enter the zero radius as a weighted loss (duplicated rows)", {
  dat <- radius_data(n = 30)
  w <- rep(1:2, 15)
  idx <- rep(seq_len(30), w)
  for (ic in c(FALSE, TRUE)) {
    expect_equal(adv_radius(dat$x, dat$y, "linf", weights = w, intercept = ic),
                 adv_radius(dat$x[idx, ], dat$y[idx], "linf", intercept = ic),
                 ignore_attr = TRUE)
  }
})

test_that("the pivotal radius is reproducible and matches an independent computation", {
  dat <- radius_data(n = 40, d = 8)
  set.seed(11)
  a <- adv_radius(dat$x, norm = "linf", type = "pivotal", ndraws = 50, quantile = 0.3)
  set.seed(11)
  b <- adv_radius(dat$x, dat$y, norm = "linf", type = "pivotal", ndraws = 50, quantile = 0.3)
  expect_identical(a, b)
  set.seed(11)
  stat <- vapply(1:50, function(k) {
    e <- rnorm(40)
    max(abs(t(dat$x) %*% e)) / sum(abs(e))
  }, numeric(1))
  expect_equal(as.numeric(a), unname(quantile(stat, 0.3)), tolerance = 1e-12)
  # L2 with an intercept: the noise is centred
  set.seed(5)
  c2 <- adv_radius(dat$x, norm = "l2", type = "pivotal", ndraws = 20, intercept = TRUE)
  set.seed(5)
  e <- matrix(rnorm(40 * 20), 40)
  stat2 <- apply(e, 2, function(v) {
    v <- v - mean(v)
    sqrt(sum((t(dat$x) %*% v)^2)) / sum(abs(v))
  })
  expect_equal(as.numeric(c2), median(stat2), tolerance = 1e-12)
  expect_equal(attr(c2, "type"), "pivotal")
})

test_that("below the interpolation radius the fit is the min-norm interpolator, above it is not", {
  set.seed(2)
  n <- 20
  d <- 50
  x <- matrix(rnorm(n * d), n)
  y <- drop(x[, 1:3] %*% c(1, 1, 1) + 0.5 * rnorm(n))
  # independent min-L2 interpolator
  mn2 <- drop(t(x) %*% solve(tcrossprod(x), y))
  for (norm in c("l2", "linf")) {
    r <- adv_radius(x, y, norm = norm, type = "interpolation")
    lo <- exact_fit(x, y, r * 0.99, norm, FALSE)
    hi <- exact_fit(x, y, r * 1.01, norm, FALSE)
    expect_lt(max(abs(y - x %*% lo$theta)), 1e-8)
    expect_gt(max(abs(y - x %*% hi$theta)), 1e-4)
    if (norm == "l2") {
      expect_equal(lo$theta, mn2, tolerance = 1e-7, ignore_attr = TRUE)
    } else if (requireNamespace("ECOSolveR", quietly = TRUE)) {
      # basis pursuit as an LP in (p, m) >= 0, solved by ECOS
      G <- -diag(2 * d)
      ctl <- ECOSolveR::ecos.control()
      ctl[c("ABSTOL", "RELTOL", "FEASTOL")] <- 1e-11
      sol <- ECOSolveR::ECOS_csolve(c = rep(1, 2 * d), G = G, h = rep(0, 2 * d),
                                    dims = list(l = 2 * d), A = cbind(x, -x), b = y,
                                    control = ctl)
      bp <- sol$x[1:d] - sol$x[d + 1:d]
      expect_equal(lo$theta, bp, tolerance = 1e-6, ignore_attr = TRUE)
      # and ECOS's dual gives the same radius
      expect_equal(as.numeric(r), 1 / (n * max(abs(sol$y))), tolerance = 1e-6)
    }
  }
})

test_that("the interpolation radius with an intercept", {
  set.seed(4)
  x <- matrix(rnorm(15 * 40), 15)
  y <- rnorm(15) + 3
  for (norm in c("l2", "linf")) {
    r <- adv_radius(x, y, norm = norm, type = "interpolation", intercept = TRUE)
    lo <- exact_fit(x, y, r * 0.99, norm, TRUE)
    hi <- exact_fit(x, y, r * 1.01, norm, TRUE)
    expect_lt(max(abs(y - lo$b - x %*% lo$theta)), 1e-8)
    expect_gt(max(abs(y - hi$b - x %*% hi$theta)), 1e-4)
  }
})

test_that("eps = type in adv_lm() and adv_lasso() uses and records the radius", {
  dat <- radius_data()
  fit <- adv_lm(dat$x, dat$y, eps = "zero", norm = "linf", iters = 5, tol = Inf)
  expect_equal(fit$eps, as.numeric(adv_radius(dat$x, dat$y, "linf")))
  expect_equal(fit$eps_type, "zero")
  set.seed(9)
  fl <- adv_lasso(dat$x, dat$y, eps = "pivotal", norm = "linf", nlambda = 5)
  set.seed(9)
  expect_equal(fl$eps, as.numeric(adv_radius(dat$x, norm = "linf", type = "pivotal",
                                             intercept = TRUE)))
  expect_equal(fl$eps_type, "pivotal")
  expect_null(adv_lm(dat$x, dat$y, eps = 0.1, iters = 5, tol = Inf)$eps_type)
})

test_that("bad input to adv_radius() and the eps shorthand gets clear errors", {
  dat <- radius_data(n = 10, d = 3)
  expect_snapshot(error = TRUE, {
    adv_lm(dat$x, dat$y, eps = "pivotl")
    adv_lasso(dat$x, dat$y, eps = c("zero", "pivotal"))
    adv_radius(dat$x, type = "pivotal", quantile = 1)
    adv_radius(dat$x, type = "pivotal", quantile = -0.1)
    adv_radius(dat$x, type = "pivotal", ndraws = 2.5)
    adv_radius(dat$x, type = "median")
    adv_radius(dat$x, type = "zero")
    adv_radius(dat$x, dat$y, type = "interpolation")
    adv_radius(dat$x, dat$y, weights = c(0, rep(1, 9)))
  })
})
