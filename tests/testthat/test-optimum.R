test_that("the paper's low-dimensional setting gives the published numbers", {
  opt <- adv_optimum(rep(1, 10), c(0, 0.5, 1))
  expect_equal(opt$eps_c, 1.19499, tolerance = 1e-5)
  expect_equal(opt$risk, c(1, 5.38521, 10.47674), tolerance = 1e-6)
  # closed form for Sigma = I: eps_c = ||theta0|| / (c0 v)
  expect_equal(opt$eps_c, sqrt(10) / (c0 * sqrt(11)), tolerance = 1e-14)
})

# eq. (5) and its gradient, written independently of the package
risk5 <- function(theta, theta0, Sigma, sigma2, eps) {
  dev <- theta - theta0
  q <- sum(dev * (Sigma %*% dev)) + sigma2
  tn <- sqrt(sum(theta^2))
  q + eps^2 * tn^2 + 2 * eps * c0 * tn * sqrt(q)
}
grad5 <- function(theta, theta0, Sigma, sigma2, eps) {
  dev <- theta - theta0
  sd <- drop(Sigma %*% dev)
  q <- sum(dev * sd) + sigma2
  tn <- sqrt(sum(theta^2))
  2 * sd * (1 + eps * c0 * tn / sqrt(q)) + 2 * eps^2 * theta +
    2 * eps * c0 * sqrt(q) * theta / tn
}

test_that("theta* matches a general-purpose optimiser of eq. (5) at random Sigma", {
  set.seed(21)
  for (d in c(2, 7, 20)) {
    Sigma <- random_sigma(d)
    theta0 <- rnorm(d)
    sigma2 <- runif(1, 0.5, 2)
    opt <- adv_optimum(theta0, c(0.1, 0.4), Sigma, sigma2)
    for (k in which(opt$risk < opt$v2)) {
      eps <- opt$eps[k]
      f <- function(t) risk5(t, theta0, Sigma, sigma2, eps)
      g <- function(t) grad5(t, theta0, Sigma, sigma2, eps)
      fit <- optim(theta0, f, g, method = "BFGS",
                   control = list(reltol = 1e-16, maxit = 10000))
      expect_equal(opt$risk[k], fit$value, tolerance = 1e-8)
      expect_lte(opt$risk[k], fit$value * (1 + 1e-12))
      expect_equal(unname(opt$theta[, k]), fit$par, tolerance = 1e-6)
      # and the reported risk is eq. (5) at the reported theta*
      expect_equal(opt$risk[k], adv_risk(opt$theta[, k], theta0, eps, Sigma, sigma2),
                   tolerance = 1e-13)
    }
  }
})

# eq. (9) with theta = u - w, u, w >= 0: smooth on the box, so L-BFGS-B is a brute
# force reference that knows nothing about the LASSO path.
test_that("the Linf optimum matches a brute-force minimisation of eq. (9)", {
  set.seed(22)
  for (d in c(3, 6)) {
    Sigma <- random_sigma(d)
    theta0 <- c(2, -1, rep(0.2, d - 2))
    for (eps in c(0.05, 0.2)) {
      opt <- adv_optimum(theta0, eps, Sigma, 1, norm = "linf")
      f <- function(p) {
        th <- p[1:d] - p[-(1:d)]
        dev <- th - theta0
        q <- sum(dev * (Sigma %*% dev)) + 1
        t1 <- sum(p)
        q + eps^2 * t1^2 + 2 * eps * c0 * t1 * sqrt(q)
      }
      best <- Inf
      for (start in 1:5) {
        p0 <- runif(2 * d)
        fit <- optim(p0, f, method = "L-BFGS-B", lower = 0,
                     control = list(factr = 1, pgtol = 0, maxit = 10000))
        if (fit$value < best) { best <- fit$value; par <- fit$par }
      }
      expect_equal(opt$risk, best, tolerance = 1e-8)
      expect_lte(opt$risk, best * (1 + 1e-12))
      expect_equal(unname(opt$theta[, 1]), par[1:d] - par[-(1:d)], tolerance = 1e-4)
    }
  }
})

test_that("R*(0) = sigma2, theta*(0) = theta0, and R* is non-decreasing", {
  set.seed(23)
  Sigma <- random_sigma(6)
  theta0 <- rnorm(6)
  eps <- seq(0, 3, by = 0.05)
  for (norm in c("l2", "linf")) {
    opt <- adv_optimum(theta0, eps, Sigma, 0.8, norm = norm)
    expect_equal(opt$risk[1], 0.8)
    expect_equal(unname(opt$theta[, 1]), theta0)
    expect_true(all(diff(opt$risk) >= -1e-12))
    # adversarial training hurts standard estimation: R(theta*, 0) > sigma2, rising
    expect_true(all(opt$std_risk[-1] > 0.8))
    expect_true(all(diff(opt$std_risk) >= -1e-12))
  }
})

test_that("theta* is zero from eps_c on and not before", {
  set.seed(24)
  Sigma <- random_sigma(5)
  theta0 <- rnorm(5)
  v <- sqrt(sum(theta0 * (Sigma %*% theta0)) + 1.5)
  for (norm in c("l2", "linf")) {
    b <- drop(Sigma %*% theta0)
    eps_c <- if (norm == "l2") sqrt(sum(b^2)) / (c0 * v) else max(abs(b)) / (c0 * v)
    opt <- adv_optimum(theta0, eps_c * c(0.999, 1, 1.001, 2), Sigma, 1.5, norm = norm)
    expect_equal(opt$eps_c, eps_c, tolerance = 1e-12)
    expect_true(any(opt$theta[, 1] != 0))
    expect_true(all(opt$theta[, 2:4] == 0))
    expect_equal(opt$risk[2:4], rep(v^2, 3))
  }
})

test_that("Sigma = I gives the pure shrinkage theta0 / (1 + kappa)", {
  set.seed(25)
  theta0 <- c(rnorm(6), 0, 0)
  opt <- adv_optimum(theta0, c(0.2, 0.5, 0.9))
  for (k in 1:3) {
    expect_equal(unname(opt$theta[, k]), theta0 / (1 + opt$kappa[k]), tolerance = 1e-12)
  }
  expect_true(all(opt$theta[7:8, ] == 0)) # exactly as sparse as theta0
  # and kappa solves its fixed point
  th <- opt$theta[, 2]
  q <- sum((th - theta0)^2) + 1
  tn <- sqrt(sum(th^2))
  expect_equal(opt$kappa[2], (0.25 + 0.5 * c0 * sqrt(q) / tn) / (1 + 0.5 * c0 * tn / sqrt(q)),
               tolerance = 1e-12)
})

test_that("block-diagonal Sigma with theta0 zero on a block gives theta* zero there", {
  set.seed(26)
  S1 <- random_sigma(3)
  S2 <- random_sigma(4)
  Sigma <- rbind(cbind(S1, matrix(0, 3, 4)), cbind(matrix(0, 4, 3), S2))
  theta0 <- c(rnorm(3), rep(0, 4))
  opt <- adv_optimum(theta0, c(0.1, 0.3, 0.6), Sigma)
  expect_lt(max(abs(opt$theta[4:7, ])), 1e-14)
  expect_true(all(abs(opt$theta[1:3, opt$risk < opt$v2]) > 0))
  # but a Sigma that couples the blocks makes theta* dense (Example 1's converse)
  Sigma2 <- 0.6^abs(outer(1:7, 1:7, "-"))
  opt2 <- adv_optimum(theta0, 0.1, Sigma2)
  expect_gt(min(abs(opt2$theta[4:7, 1])), 1e-6)
})

test_that("the Linf optimum is sparse where the L2 one is not", {
  Sigma <- 0.5^abs(outer(1:6, 1:6, "-"))
  theta0 <- c(3, 1, 0.5, 0.2, 0, 0)
  lin <- adv_optimum(theta0, 0.3, Sigma, norm = "linf")
  l2 <- adv_optimum(theta0, 0.3, Sigma, norm = "l2")
  expect_lt(sum(lin$theta != 0), sum(l2$theta != 0))
  # the KKT conditions of eq. (9) hold at the Linf optimum
  th <- lin$theta[, 1]
  dev <- th - theta0
  q <- sum(dev * (Sigma %*% dev)) + 1
  t1 <- sum(abs(th))
  gq <- 2 * drop(Sigma %*% dev) * (1 + 0.3 * c0 * t1 / sqrt(q))
  lam <- 2 * 0.09 * t1 + 2 * 0.3 * c0 * sqrt(q)
  on <- th != 0
  expect_equal(gq[on], -lam * sign(th[on]), tolerance = 1e-8)
  expect_true(all(abs(gq[!on]) <= lam * (1 + 1e-8)))
})

test_that("adv_optimum methods: print, as.data.frame, coef, plot", {
  opt <- adv_optimum(rep(1, 10), c(0, 0.5, 1, 2))
  expect_snapshot(print(opt))
  df <- as.data.frame(opt)
  expect_named(df, c("eps", "risk", "std_risk", "theta_norm", "kappa", "nonzero"))
  expect_equal(df$nonzero, c(10, 10, 10, 0))
  expect_equal(dim(coef(opt)), c(10L, 4L))
  expect_equal(colnames(coef(opt)), c("0", "0.5", "1", "2"))
  f <- tempfile(fileext = ".png")
  grDevices::png(f)
  expect_invisible(plot(opt))
  grDevices::dev.off()
  expect_gt(file.size(f), 1000)
  optl <- adv_optimum(rep(1, 10), c(0, 0.2), norm = "linf")
  expect_snapshot(print(optl))
})

test_that("a diagonal Sigma gives the same optimum with or without the zero coordinates", {
  set.seed(27)
  theta0 <- c(rnorm(4), rep(0, 6))
  S <- diag(runif(10, 0.5, 2))
  for (norm in c("l2", "linf")) {
    full <- adv_optimum(theta0, c(0, 0.1, 0.4, 3), S, 1.2, norm = norm)
    # the reduced problem by hand
    red <- adv_optimum(theta0[1:4], c(0, 0.1, 0.4, 3), S[1:4, 1:4], 1.2, norm = norm)
    expect_equal(full$risk, red$risk, tolerance = 1e-14)
    expect_equal(unname(full$theta[1:4, ]), unname(red$theta), tolerance = 1e-14)
    expect_true(all(full$theta[5:10, ] == 0))
    expect_equal(full$eps_c, red$eps_c)
    # and the risk reported is eq. (5) / (9) of the full theta*
    expect_equal(full$risk[3], adv_risk(full$theta[, 3], theta0, 0.4, S, 1.2, norm = norm),
                 tolerance = 1e-13)
  }
  zero <- adv_optimum(rep(0, 3), c(0, 0.5))
  expect_equal(zero$risk, c(1, 1))
  expect_true(all(zero$theta == 0))
  # d = 5000 with ten non-zero coefficients is immediate
  big <- adv_optimum(c(rep(1, 10), rep(0, 4990)), 0.5)
  expect_equal(big$risk, 5.38521, tolerance = 1e-6)
})
