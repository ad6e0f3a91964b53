# adv_curve(): robustness curves.

test_that("the curves equal the closed form, adv_loss() and adv_risk()", {
  set.seed(6)
  sim <- simulate_linear(80, theta0 = c(1, -0.5, 0, 0))
  th <- c(0.8, -0.3, 0.1, 0)
  eps <- c(0, 0.2, 0.5, 1)
  for (norm in c("l2", "linf")) {
    cur <- adv_curve(list(a = th), sim$x, sim$y, eps = eps, norm = norm, truth = sim)
    tn <- if (norm == "l2") sqrt(sum(th^2)) else sum(abs(th))
    r <- abs(sim$y - sim$x %*% th)
    expect_equal(cur$curve$loss, vapply(eps, function(e) mean((r + e * tn)^2), 1))
    expect_equal(cur$curve$loss, vapply(eps, function(e) adv_loss(th, sim$x, sim$y, e, norm), 1),
                 tolerance = 1e-12)
    expect_equal(cur$curve$risk, adv_risk(th, sim$truth$theta0, eps, norm = norm),
                 tolerance = 1e-12)
  }
})

test_that("the risk with an intercept matches Monte Carlo", {
  set.seed(7)
  theta0 <- c(1, 1)
  th <- c(0.5, 0.9)
  b <- 0.4
  cur <- adv_curve(c(b, th), matrix(rnorm(20), 10), rnorm(10), eps = c(0, 0.5),
                   truth = list(theta0 = theta0, sigma2 = 1))
  m <- draw_model(4e5, theta0, diag(2), 1)
  r <- abs(m$y - b - m$x %*% th)
  mc <- c(mean(r^2), mean((r + 0.5 * sqrt(sum(th^2)))^2))
  expect_equal(cur$curve$risk, mc, tolerance = 5e-3)
})

test_that("models of every kind give their own coefficients", {
  set.seed(8)
  sim <- simulate_linear(100, theta0 = c(2, -1, 0.5))
  ols <- lm(sim$y ~ sim$x)
  adv <- adv_lm(sim$x, sim$y, eps = 0.3, intercept = TRUE, method = "exact")
  las <- adv_lasso(sim$x, sim$y, eps = 0.1, nlambda = 5)
  cur <- adv_curve(list(OLS = ols, adv = adv, lasso = las, vec = coef(ols)),
                   sim$x, sim$y, eps = c(0, 0.5), s = las$lambda[3])
  expect_equal(cur$coefficients$OLS$theta, unname(coef(ols)[-1]))
  expect_equal(cur$coefficients$vec, cur$coefficients$OLS)
  expect_equal(cur$coefficients$adv$intercept, adv$intercept)
  expect_equal(cur$coefficients$lasso$theta, unname(las$beta[, 3]))
  # the clean loss of OLS is its mean squared residual, the smallest of all
  k <- cur$curve[cur$curve$eps == 0, ]
  expect_equal(k$loss[k$model == "OLS"], mean(resid(ols)^2))
  expect_true(all(k$loss[k$model == "OLS"] <= k$loss + 1e-12))
  expect_s3_class(as.data.frame(cur), "data.frame")
  if (requireNamespace("glmnet", quietly = TRUE)) {
    g <- glmnet::glmnet(sim$x, sim$y, lambda = 0.1)
    cg <- adv_curve(as.matrix(coef(g)), sim$x, sim$y, eps = 0)
    expect_equal(cg$coefficients[[1]]$theta, unname(as.matrix(coef(g))[-1, 1]))
  }
})

test_that("certified radii solve (|r| + eps ||theta||)^2 = threshold", {
  set.seed(9)
  x <- matrix(rnorm(40), 20)
  y <- rnorm(20)
  th <- c(0.3, -0.2)
  cur <- adv_curve(list(th, zero = c(0, 0)), x, y, eps = 0, threshold = 1)
  cr <- cur$certified[, 1]
  r <- abs(y - x %*% th)
  ok <- r < 1
  expect_equal(((r + cr * sqrt(sum(th^2)))^2)[ok], rep(1, sum(ok)))
  expect_true(all(cr[!ok] == 0))
  expect_true(all(is.infinite(cur$certified[abs(y) < 1, "zero"])))
})

test_that("print, plot and bad input", {
  set.seed(10)
  sim <- simulate_linear(50, theta0 = c(1, 1))
  cur <- adv_curve(list(a = c(1, 1), b = c(0.5, 0.5)), sim$x, sim$y, eps = c(0, 0.5, 1),
                   truth = sim)
  expect_snapshot(print(cur))
  pdf(NULL)
  on.exit(dev.off())
  for (w in c("loss", "risk", "certified")) expect_identical(plot(cur, what = w), cur)
  las <- adv_lasso(sim$x, sim$y, eps = 0.1, nlambda = 3)
  expect_snapshot(error = TRUE, {
    adv_curve(las, sim$x, sim$y)
    adv_curve("a", sim$x, sim$y)
    adv_curve(c(1, 2, 3, 4), sim$x, sim$y)
    adv_curve(c(1, 1), sim$x, sim$y, eps = c(1, 0))
    plot(adv_curve(c(1, 1), sim$x, sim$y), what = "risk")
  })
})
