# Independent checks of adv_lasso() / cv_adv_lasso(): glmnet at eps = 0, the
# subgradient (KKT) conditions of the penalised adversarial objective written out here
# in R, brute-force minimisation on small problems, Theorem 9 of the paper.

# The true-attack (xi = 0) objective (1/n) sum (|r_i| + eps N(theta))^2 + lam sum w|theta|
adv_obj <- function(x, y, b0, th, lam, eps, norm, w = rep(1, ncol(x))) {
  r <- drop(b0 + x %*% th - y)
  N <- if (norm == "l2") sqrt(sum(th^2)) else sum(abs(th))
  mean((abs(r) + eps * N)^2) + lam * sum(w * abs(th))
}

# Largest violation of the KKT conditions of the xi = 0 objective at (b0, th).
# Residuals with |r_i| <= tolr count as zero; their multipliers u_i in [-1, 1] are found
# by least squares from the stationarity rows of the non-zero coefficients (and the
# intercept) and then must lie in [-1, 1]. Returns the worst violation in gradient
# units (scaled by `sc`, the column scales the penalty uses).
adv_kkt <- function(x, y, b0, th, lam, eps, norm, w = rep(1, ncol(x)),
                    intercept = TRUE, tolr = 1e-8) {
  n <- nrow(x)
  r <- drop(b0 + x %*% th - y)
  N <- if (norm == "l2") sqrt(sum(th^2)) else sum(abs(th))
  cc <- eps * N
  Z <- which(abs(r) <= tolr)
  Fr <- setdiff(seq_len(n), Z)
  E <- sum(abs(r) + cc)
  act <- which(th != 0)
  ina <- setdiff(seq_along(th), act)
  v <- numeric(n)
  v[Fr] <- 2 / n * sign(r[Fr]) * (abs(r[Fr]) + cc)
  g <- drop(crossprod(x, v))
  gb <- sum(v)
  if (norm == "l2" && N == 0) {
    # theta = 0: the kink of 2 eps mean|r| ||theta||_2 is a ball; zero is optimal iff
    # ||soft(g, lam w)||_2 <= 2 eps mean|r|
    q <- sign(g) * pmax(abs(g) - lam * w, 0)
    return(max(sqrt(sum(q^2)) - 2 * eps * E / n, if (intercept) abs(gb) else 0, 0))
  }
  dN <- if (norm == "l2") th / N else sign(th)
  g <- g + 2 * eps * E / n * dN
  target <- c(-(g[act] + lam * w[act] * sign(th[act])), if (intercept) -gb)
  u <- numeric(0)
  res_act <- max(abs(target), 0)
  if (length(Z) && cc > 0) {
    M <- rbind(t(x[Z, act, drop = FALSE]), if (intercept) rep(1, length(Z))) * (2 * cc / n)
    u <- qr.coef(qr(M, tol = 1e-12), target)
    u[is.na(u)] <- 0
    res_act <- max(abs(M %*% u - target), 0)
    g <- g + drop(crossprod(x[Z, , drop = FALSE], u)) * 2 * cc / n
  }
  extra <- if (norm == "linf") 2 * eps * E / n else 0
  res_in <- if (length(ina)) max(pmax(abs(g[ina]) - lam * w[ina] - extra, 0)) else 0
  res_u <- if (length(u)) max(abs(u) - 1, 0) else 0
  max(res_act, res_in, res_u)
}

path_kkt <- function(fit, x, y, w = rep(1, ncol(x)), intercept = TRUE) {
  vapply(seq_along(fit$lambda), function(k) {
    adv_kkt(x, y, fit$a0[k], fit$beta[, k], fit$lambda[k], fit$eps, fit$norm, w,
            intercept)
  }, numeric(1))
}

lasso_data <- function(n = 40, d = 12, seed = 1, scales = TRUE) {
  withr::with_seed(seed, {
    x <- matrix(rnorm(n * d), n, d)
    if (scales) x <- x %*% diag(seq(0.5, 2.5, length.out = d)) + 1
    y <- drop(x[, 1:3] %*% c(2, -1, 1)) + rnorm(n) + 2
  })
  list(x = x, y = y)
}

test_that("eps = 0 reproduces glmnet along the whole path (lambda = 2 x glmnet's)", {
  skip_if_not_installed("glmnet")
  dat <- lasso_data(50, 20)
  for (st in c(FALSE, TRUE)) for (ic in c(FALSE, TRUE)) {
    fit <- adv_lasso(dat$x, dat$y, eps = 0, standardize = st, intercept = ic)
    # glmnet's own KKT error at thresh = 1e-14 is ~5e-7 here, so ask it for more
    g <- glmnet::glmnet(dat$x, dat$y, lambda = fit$lambda / 2, standardize = st,
                        intercept = ic, thresh = 1e-16)
    expect_lte(max(abs(as.matrix(coef(g)) - coef(fit))), 1e-6)
    expect_equal(max(fit$status), 0L)
    expect_lte(max(fit$kkt), 1e-10)
  }
  # glmnet's own lambda_max and grid, and penalty factors
  pf <- rep(c(1, 2, 0.5, 1), 5)
  fit <- adv_lasso(dat$x, dat$y, eps = 0, penalty_factor = pf, nlambda = 30)
  g <- glmnet::glmnet(dat$x, dat$y, penalty.factor = pf, nlambda = 30, thresh = 1e-16)
  # glmnet stops its path early when the fit stops improving
  m <- length(g$lambda)
  expect_equal(fit$lambda[seq_len(m)], 2 * g$lambda, tolerance = 1e-10)
  expect_lte(max(abs(as.matrix(coef(g)) - coef(fit)[, seq_len(m)])), 1e-6)
})

test_that("eps = 0 with d > n (strong rules, screening, Newton near df = n) matches glmnet", {
  skip_if_not_installed("glmnet")
  withr::with_seed(7, {
    x <- matrix(rnorm(60 * 300), 60, 300)
    y <- drop(x[, 1:5] %*% c(3, -2, 2, 1, -1)) + rnorm(60)
  })
  for (st in c(FALSE, TRUE)) {
    fit <- adv_lasso(x, y, eps = 0, standardize = st, lambda_min_ratio = 1e-3)
    expect_equal(max(fit$status), 0L)
    expect_lte(max(fit$kkt), 1e-10)
    # the path reaches df close to n, where coordinate descent alone is slow
    expect_gte(max(fit$df), 45)
    # glmnet itself does not converge tightly once df nears n, so compare where it does
    idx <- seq_len(min(which(fit$df > 30)) - 1)
    g <- glmnet::glmnet(x, y, lambda = fit$lambda[idx] / 2, standardize = st,
                        thresh = 1e-16)
    m <- length(g$lambda)
    expect_gte(m, 20)
    expect_lte(max(abs(as.matrix(coef(g)) - coef(fit)[, seq_len(m)])), 1e-6)
    # the KKT conditions of the LASSO, computed here: (2/n) x_j'r = lambda sign, or |.| <= lambda
    w <- if (st) sqrt(colMeans(sweep(x, 2, colMeans(x))^2)) else rep(1, 300)
    for (k in seq_along(fit$lambda)) {
      r <- drop(y - fit$a0[k] - x %*% fit$beta[, k])
      gk <- 2 / 60 * drop(crossprod(x, r))
      b <- fit$beta[, k]
      v <- ifelse(b != 0, abs(gk - fit$lambda[k] * w * sign(b)),
                  pmax(abs(gk) - fit$lambda[k] * w, 0))
      expect_lte(max(v), 1e-8)
    }
  }
})

test_that("eps = 0: implicit centring (no copy of x) is the fit on the centred copy", {
  skip_if_not_installed("glmnet")
  # columns with large means relative to their spread: the centring is done on the fly
  # (each x_ij - mean_j formed as a centred copy would hold it), so the fit on all rows
  # must equal, to the last bit, the one through the centred copy that a fold takes
  withr::with_seed(21, {
    n <- 40
    d <- 90
    x <- matrix(rnorm(n * d), n, d) %*% diag(seq(0.2, 3, length.out = d)) +
      rep(10^seq(-1, 4, length.out = d), each = n)
    y <- drop(x[, c(1, 5, 60)] %*% c(2, -1, 1)) + rnorm(n)
  })
  x0 <- x + 0
  for (st in c(FALSE, TRUE)) for (ic in c(FALSE, TRUE)) {
    a <- advtrain:::lasso_args(x, y, 0, "l2", 0, NULL, 40, 1e-3, NULL, st, ic, 1e-10,
                               1e5, 1L)
    f_imp <- advtrain:::lasso_fit(a)
    f_cp <- advtrain:::lasso_fit(a, rows = seq_len(n))
    expect_identical(f_imp$beta, f_cp$beta)
    expect_identical(f_imp$kkt, f_cp$kkt)
    expect_equal(f_imp$a0, f_cp$a0, tolerance = 1e-13)
    fit <- adv_lasso(x, y, eps = 0, standardize = st, intercept = ic,
                     lambda_min_ratio = 1e-3, nlambda = 40)
    expect_identical(fit$beta, f_imp$beta)
    expect_equal(max(fit$status), 0L)
    expect_lte(max(fit$kkt), 1e-10)
    # (without intercept the columns of large mean keep lambda_max high)
    if (ic) expect_gte(max(fit$df), 30)
    # the KKT conditions, on centred columns computed here
    xc <- if (ic) sweep(x, 2, colMeans(x)) else x
    w <- if (st) sqrt(colMeans(sweep(x, 2, colMeans(x))^2)) else rep(1, d)
    for (k in seq_along(fit$lambda)) {
      r <- drop(y - fit$a0[k] - x %*% fit$beta[, k])
      gk <- 2 / n * drop(crossprod(xc, r))
      b <- fit$beta[, k]
      v <- ifelse(b != 0, abs(gk - fit$lambda[k] * w * sign(b)),
                  pmax(abs(gk) - fit$lambda[k] * w, 0))
      expect_lte(max(v / w) / sd(y), 1e-8)
      if (ic) expect_lte(abs(mean(r)), 1e-10 * sd(y))
    }
    idx <- which(fit$df <= 25)
    g <- glmnet::glmnet(x, y, lambda = fit$lambda[idx] / 2, standardize = st,
                        intercept = ic, thresh = 1e-14)
    m <- length(g$lambda)
    expect_gte(m, 10)
    expect_lte(max(abs(as.matrix(coef(g))[-1, ] - fit$beta[, idx[seq_len(m)]])), 1e-5)
  }
  expect_identical(x, x0) # read, never written
})

test_that("eps > 0, xi = 0: every path point meets the KKT conditions", {
  dat <- lasso_data(40, 12)
  for (norm in c("l2", "linf")) for (st in c(FALSE, TRUE)) for (ic in c(TRUE, FALSE)) {
    fit <- adv_lasso(dat$x, dat$y, eps = 0.2, norm = norm, standardize = st,
                     intercept = ic, nlambda = 40)
    w <- if (st) sqrt(colMeans(sweep(dat$x, 2, colMeans(dat$x))^2)) else rep(1, 12)
    expect_equal(max(fit$status), 0L)
    expect_lte(max(path_kkt(fit, dat$x, dat$y, w, ic)), 1e-6)
    # the path reaches well inside: some zero residuals are pinned by the attack term
    expect_gt(max(fit$df), 6)
  }
})

test_that("lambda_max is the smallest penalty with theta = 0", {
  dat <- lasso_data(30, 8, seed = 3)
  for (norm in c("l2", "linf")) for (xi in c(0, 0.3)) {
    fit <- adv_lasso(dat$x, dat$y, eps = 0.3, norm = norm, xi = xi, nlambda = 5)
    expect_true(all(fit$beta[, 1] == 0))
    just_below <- adv_lasso(dat$x, dat$y, eps = 0.3, norm = norm, xi = xi,
                            lambda = fit$lambda[1] * (1 - 1e-3))
    expect_gt(sum(abs(just_below$beta)), 0)
  }
  # large eps: zero is optimal for every lambda, and the user is told
  expect_warning(big <- adv_lasso(dat$x, dat$y, eps = 50, nlambda = 5), "so large")
  expect_true(all(big$beta == 0))
})

test_that("the active-set solver agrees with brute-force minimisation", {
  dat <- lasso_data(15, 3, seed = 11, scales = FALSE)
  for (norm in c("l2", "linf")) {
    fit <- adv_lasso(dat$x, dat$y, eps = 0.3, norm = norm, standardize = FALSE,
                     nlambda = 8)
    for (k in c(3, 6, 8)) {
      lam <- fit$lambda[k]
      f <- function(p) adv_obj(dat$x, dat$y, p[1], p[-1], lam, 0.3, norm)
      best <- list(value = Inf)
      withr::with_seed(k, for (start in 1:6) {
        p <- rnorm(4)
        for (rep in 1:6) {
          o <- stats::optim(p, f, control = list(reltol = 1e-16, maxit = 5000))
          p <- o$par
        }
        if (o$value < best$value) best <- o
      })
      ours <- c(fit$a0[k], fit$beta[, k])
      expect_lte(f(ours), best$value + 1e-12)
      expect_lte(max(abs(ours - best$par)), 1e-4)
    }
  }
})

test_that("path is continuous and warm starts do not matter", {
  dat <- lasso_data(30, 10, seed = 5)
  for (norm in c("l2", "linf")) {
    fit <- adv_lasso(dat$x, dat$y, eps = 0.2, norm = norm, nlambda = 30)
    for (k in c(5, 15, 30)) {
      cold <- adv_lasso(dat$x, dat$y, eps = 0.2, norm = norm, lambda = fit$lambda[k])
      expect_lte(max(abs(coef(cold) - coef(fit)[, k])), 1e-7)
    }
    jump <- function(f) max(abs(diff(t(f$beta))))
    fine <- adv_lasso(dat$x, dat$y, eps = 0.2, norm = norm, nlambda = 120)
    expect_lt(jump(fine), 0.5 * jump(fit))
  }
})

test_that("xi > 0: exact surrogate gradient, KKT of the surrogate objective", {
  dat <- lasso_data(25, 6, seed = 8)
  for (norm in c("l2", "linf")) {
    th <- c(0.5, -0.2, 0, 0.1, 0, 0.3)
    sur <- function(p) adv_loss(p[-1], dat$x, dat$y - p[1], 0.3, norm, xi = 0.5)
    ours <- .Call(advtrain:::C_lasso_surrogate, th, 0.4, dat$x, dat$y, 0.3,
                  advtrain:::norm_code(norm), 0.5)
    expect_equal(ours$loss, sur(c(0.4, th)), tolerance = 1e-12)
    # finite differences need theta_j != 0 for Linf (|theta_j| is not smooth at 0)
    p <- c(0.4, th + c(0, 0, 0.05, 0, -0.07, 0))
    ours <- .Call(advtrain:::C_lasso_surrogate, p[-1], p[1], dat$x, dat$y, 0.3,
                  advtrain:::norm_code(norm), 0.5)
    expect_equal(ours$gradient, c(num_grad(sur, p)[-1], num_grad(sur, p)[1]),
                 tolerance = 1e-6)

    fit <- adv_lasso(dat$x, dat$y, eps = 0.3, norm = norm, xi = 0.5, nlambda = 15,
                     standardize = FALSE)
    expect_equal(max(fit$status), 0L)
    for (k in c(4, 10, 15)) {
      p <- c(fit$a0[k], fit$beta[, k])
      g <- num_grad(sur, p, h = 1e-6)
      act <- which(p[-1] != 0)
      ina <- which(p[-1] == 0)
      viol <- c(abs(g[1]), abs(g[1 + act] + fit$lambda[k] * sign(p[1 + act])),
                pmax(abs(g[1 + ina]) - fit$lambda[k], 0))
      expect_lte(max(viol), 1e-6)
    }
  }
})

test_that("threads = 1 and threads = 2 give identical paths", {
  dat <- lasso_data(60, 30, seed = 9)
  for (eps in c(0, 0.2)) for (norm in c("l2", "linf")) for (xi in c(0, 0.4)) {
    if (eps == 0 && (norm == "linf" || xi > 0)) next
    f1 <- adv_lasso(dat$x, dat$y, eps, norm, xi, nlambda = 20, threads = 1)
    f2 <- adv_lasso(dat$x, dat$y, eps, norm, xi, nlambda = 20, threads = 2)
    expect_identical(f1$beta, f2$beta)
    expect_identical(f1$a0, f2$a0)
  }
})

test_that("coef, predict, sparse input and saveRDS round trip", {
  dat <- lasso_data(40, 8, seed = 2)
  colnames(dat$x) <- paste0("x", 1:8)
  fit <- adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 20)
  cf <- coef(fit)
  expect_equal(dim(cf), c(9L, 20L))
  expect_equal(rownames(cf), c("(Intercept)", paste0("x", 1:8)))
  expect_equal(drop(coef(fit, s = fit$lambda[7])), cf[, 7], ignore_attr = TRUE)
  # between two lambdas: linear interpolation in lambda
  mid <- mean(fit$lambda[7:8])
  expect_equal(drop(coef(fit, s = mid)), (cf[, 7] + cf[, 8]) / 2, ignore_attr = TRUE)
  pr <- predict(fit, dat$x[1:5, ], s = fit$lambda[c(3, 9)])
  expect_equal(unname(pr), unname(cbind(1, dat$x[1:5, ]) %*% cf[, c(3, 9)]))
  expect_equal(predict(fit, s = fit$lambda[9], type = "nonzero"),
               which(cf[-1, 9] != 0), ignore_attr = TRUE)
  expect_equal(predict(fit, type = "coefficients"), cf)
  expect_output(print(fit), "Adversarial LASSO path")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  expect_silent(plot(fit))

  skip_if_not_installed("Matrix")
  xs <- Matrix::Matrix(dat$x * (abs(dat$x) > 1.5), sparse = TRUE)
  expect_s4_class(xs, "dgCMatrix")
  fs <- adv_lasso(xs, dat$y, eps = 0.1, nlambda = 10)
  fd <- adv_lasso(as.matrix(xs), dat$y, eps = 0.1, nlambda = 10)
  expect_equal(coef(fs), coef(fd))
  expect_equal(predict(fs, xs[1:3, ]), predict(fd, as.matrix(xs)[1:3, ]))

  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path)
  back <- readRDS(path)
  expect_equal(predict(back, dat$x[1:3, ], s = 0.05), predict(fit, dat$x[1:3, ], s = 0.05))
})

test_that("cv_adv_lasso: folds, the two chosen lambdas and delegation", {
  dat <- lasso_data(60, 10, seed = 4)
  foldid <- rep(1:5, length.out = 60)
  cv <- cv_adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 15, foldid = foldid)
  expect_s3_class(cv, "cv_adv_lasso")
  expect_equal(cv$lambda, cv$fit$lambda)
  expect_equal(cv$lambda_min, cv$lambda[which.min(cv$cvm)])
  i1 <- min(which(cv$cvm <= min(cv$cvm) + cv$cvsd[which.min(cv$cvm)]))
  expect_equal(cv$lambda_1se, cv$lambda[i1])
  expect_equal(coef(cv), coef(cv$fit, s = cv$lambda_1se))
  expect_equal(coef(cv, s = "lambda_min"), coef(cv$fit, s = cv$lambda_min))
  expect_equal(predict(cv, dat$x[1:2, ]), predict(cv$fit, dat$x[1:2, ], s = cv$lambda_1se))
  # fold 2's validation loss, computed by hand from an independent fit
  f2 <- adv_lasso(dat$x[foldid != 2, ], dat$y[foldid != 2], eps = 0.1, lambda = cv$lambda)
  r <- dat$y[foldid == 2] - predict(f2, dat$x[foldid == 2, ])
  adv <- colMeans((abs(r) + 0.1 * sqrt(colSums(f2$beta^2))[col(r)])^2)
  losses <- vapply(1:5, function(k) {
    fk <- adv_lasso(dat$x[foldid != k, ], dat$y[foldid != k], eps = 0.1, lambda = cv$lambda)
    rk <- dat$y[foldid == k] - predict(fk, dat$x[foldid == k, ])
    colMeans((abs(rk) + 0.1 * sqrt(colSums(fk$beta^2))[col(rk)])^2)
  }, numeric(15))
  expect_equal(cv$cvm, rowMeans(losses), tolerance = 1e-10, ignore_attr = TRUE)
  expect_equal(losses[, 2], adv, tolerance = 1e-12, ignore_attr = TRUE)
  std <- cv_adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 15, foldid = foldid,
                      measure = "standard")
  expect_true(all(std$cvm < cv$cvm))
  expect_output(print(cv), "lambda|Lambda")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  expect_silent(plot(cv))
})

test_that("cv_adv_lasso gives the same answer under a parallel future plan", {
  skip_on_cran()
  skip_if_not_installed("future")
  dat <- lasso_data(40, 6, seed = 6)
  seq_cv <- cv_adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 8, foldid = rep(1:4, 10))
  old <- future::plan(future::multisession, workers = 2)
  on.exit(future::plan(old), add = TRUE)
  par_cv <- cv_adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 8, foldid = rep(1:4, 10))
  expect_equal(par_cv$cvm, seq_cv$cvm)
})

test_that("Theorem 9: CV-tuned adversarial LASSO is far below v^2 and tends to R*(eps) as n grows", {
  skip_on_cran()
  d <- 1000
  theta0 <- c(rep(1, 10), rep(0, d - 10))
  v2 <- sum(theta0^2) + 1
  for (norm in c("l2", "linf")) {
    eps <- if (norm == "l2") 0.1 else 0.05
    opt <- adv_optimum(rep(1, 10), eps, norm = norm)
    expect_lt(eps, opt$eps_c)
    expect_equal(opt$v2, v2)
    sizes <- if (norm == "l2") c(100, 200, 400) else c(100, 400)
    gap <- numeric(0)
    for (n in sizes) {
      sim <- withr::with_seed(21, simulate_linear(n, theta0))
      cv <- withr::with_seed(1, cv_adv_lasso(sim$x, sim$y, eps = eps, norm = norm,
                                             nfolds = 5, nlambda = 40))
      th <- coef(cv, s = "lambda_min")[-1, 1]
      risk <- adv_risk(th, theta0, eps, norm = norm)
      gap[[as.character(n)]] <- (risk - opt$risk) / v2
      support <- c(true = sum(th[1:10] != 0), false = sum(th[-(1:10)] != 0))
      message(sprintf("Theorem 9 (%s, eps = %g, n = %d): risk %.3f, R* %.3f, (risk - R*)/v^2 %.3f; support %d/10, %d false",
                      norm, eps, n, risk, opt$risk, gap[[as.character(n)]], support[1],
                      support[2]))
      expect_equal(support[["true"]], 10L)    # the true support is recovered
      if (n == 100) {
        # the unpenalised min-norm interpolator X'(XX')^-1 y: plain adversarial
        # training from zero converges to it (Lemma 1) and is no better than theta = 0
        mn <- drop(crossprod(sim$x, solve(tcrossprod(sim$x), sim$y)))
        expect_gt(adv_risk(mn, theta0, eps, norm = norm), 0.9 * opt$v2)
        expect_lt(risk, 0.5 * opt$v2)         # far below v^2
        # CV picks a lambda about as good as the best on the path
        path_risk <- apply(coef(cv$fit)[-1, ], 2, adv_risk, theta0 = theta0, eps = eps,
                           norm = norm)
        expect_lt(risk, 1.1 * min(path_risk))
      }
    }
    # (R - R*) / v^2 -> 0: it falls with n and is small at n = 400
    expect_true(all(diff(gap) < 0))
    expect_lt(gap[["400"]], 0.05)
  }
})

test_that("bad input gives errors that name the argument", {
  dat <- lasso_data(20, 4)
  expect_snapshot(error = TRUE, {
    adv_lasso("a", dat$y, 0.1)
    adv_lasso(dat$x, dat$y[-1], 0.1)
    adv_lasso(dat$x, dat$y, -1)
    adv_lasso(dat$x, dat$y, 0.1, norm = "l3")
    adv_lasso(dat$x, dat$y, 0.1, xi = NA)
    adv_lasso(dat$x, dat$y, 0.1, lambda = c(1, -1))
    adv_lasso(dat$x, dat$y, 0.1, nlambda = 0)
    adv_lasso(dat$x, dat$y, 0.1, lambda_min_ratio = 2)
    adv_lasso(dat$x, dat$y, 0.1, penalty_factor = c(1, 1, 0, 1))
    adv_lasso(dat$x, dat$y, 0.1, penalty_factor = 1:3)
    adv_lasso(dat$x, dat$y, 0.1, standardize = "yes")
    adv_lasso(dat$x, dat$y, 0.1, thresh = 0)
    adv_lasso(dat$x, dat$y, 0.1, threads = 0)
    cv_adv_lasso(dat$x, dat$y, 0.1, nfolds = 2)
    cv_adv_lasso(dat$x, dat$y, 0.1, foldid = rep(1:2, 10))
    cv_adv_lasso(dat$x, dat$y, 0.1, measure = "mse")
    predict(adv_lasso(dat$x, dat$y, 0.1, nlambda = 3), dat$x[, 1:3])
    coef(cv_adv_lasso(dat$x, dat$y, 0.1, nlambda = 3, nfolds = 3), s = "best")
  })
})

test_that("cv_adv_lasso's in-C fold copies match fits on the subsetted data", {
  dat <- lasso_data(45, 12, seed = 11)
  foldid <- rep(1:3, length.out = 45)
  pf <- c(2, rep(1, 11))
  for (opt in list(c(TRUE, TRUE), c(FALSE, FALSE), c(TRUE, FALSE))) {
    cv <- cv_adv_lasso(dat$x, dat$y, eps = 0, nlambda = 12, foldid = foldid,
                       intercept = opt[1], standardize = opt[2], penalty_factor = pf)
    losses <- vapply(1:3, function(k) {
      fk <- adv_lasso(dat$x[foldid != k, ], dat$y[foldid != k], eps = 0,
                      lambda = cv$lambda, intercept = opt[1], standardize = opt[2],
                      penalty_factor = pf)
      colMeans((dat$y[foldid == k] - predict(fk, dat$x[foldid == k, ]))^2)
    }, numeric(12))
    expect_equal(cv$cvm, rowMeans(losses), tolerance = 1e-10, ignore_attr = TRUE)
  }
  expect_error(cv_adv_lasso(dat$x, dat$y, 0, nfolds = 3, bogus = 1),
               class = "advtrain_error_argument")
})

test_that("eps > 0, L2, d > n: the row-space Newton solves agree with the full KKT solves", {
  # late on this path k + z exceeds n, where the solver switches to the n x n reduced
  # system (with its up/down-dated kernel x_A x_A'); many active-set changes go
  # through it. Both variants must meet the KKT conditions and agree.
  # n = 120 also takes the blocked Cholesky factorisation of the n x n system through
  # several blocks of 48 columns and their trailing updates.
  for (size in list(c(30, 90), c(120, 300))) {
    n <- size[1]
    d <- size[2]
    dat <- lasso_data(n, d, seed = 7, scales = FALSE)
    for (ic in if (n == 30) c(TRUE, FALSE) else TRUE) {
      fit <- adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 40, lambda_min_ratio = 1e-3,
                       intercept = ic, standardize = ic)
      full <- withr::with_options(list(advtrain.lasso_full_kkt = TRUE),
        adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 40, lambda_min_ratio = 1e-3,
                  intercept = ic, standardize = ic))
      expect_equal(max(fit$status), 0L)
      expect_equal(max(full$status), 0L)
      w <- if (ic) sqrt(colMeans(sweep(dat$x, 2, colMeans(dat$x))^2)) else rep(1, d)
      expect_lte(max(path_kkt(fit, dat$x, dat$y, w, ic)), 1e-6)
      expect_lte(max(abs(coef(fit) - coef(full))), 1e-6)
      # the reduced system was in play: at the end k + 1 + (zero residuals) > n + 8
      r <- dat$y - predict(fit, dat$x)[, 40]
      expect_gt(fit$df[40] + sum(abs(r) < 1e-8), n + 8)
    }
  }
})

# An eps = 0.1 L2 path on lasso_data(n, d, seed): solved, with every point meeting the
# KKT conditions computed here, and each lambda in `cold_at` solved again from a cold
# start (a single lambda far below lambda_max is reached through extra lambdas
# internally, a factor 0.8 apart: another route than the path's) to the same objective
# and coefficients. Returns the data, the fit and the penalty weights.
expect_long_path <- function(n, d, seed, nlambda, cold_at) {
  dat <- lasso_data(n, d, seed = seed, scales = FALSE)
  fit <- adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = nlambda, lambda_min_ratio = 0.01)
  expect_equal(max(fit$status), 0L)
  expect_lte(max(fit$kkt), 1e-10)
  w <- sqrt(colMeans(sweep(dat$x, 2, colMeans(dat$x))^2))
  expect_lte(max(path_kkt(fit, dat$x, dat$y, w)), 1e-6)
  for (k in cold_at) {
    cold <- adv_lasso(dat$x, dat$y, eps = 0.1, lambda = fit$lambda[k])
    expect_equal(cold$status, 0L)
    expect_length(cold$lambda, 1)
    f_path <- adv_obj(dat$x, dat$y, fit$a0[k], fit$beta[, k], fit$lambda[k], 0.1, "l2", w)
    f_cold <- adv_obj(dat$x, dat$y, cold$a0, cold$beta[, 1], fit$lambda[k], 0.1, "l2", w)
    expect_lte(abs(f_path - f_cold), 1e-12 * f_cold)
    expect_lte(max(abs(coef(cold)[, 1] - coef(fit)[, k])), 1e-6)
  }
  list(dat = dat, fit = fit, w = w)
}

test_that("eps > 0, L2, d >> n: a long path (predicted pins and zeros) is right at every lambda", {
  # at n = 150, d = 1500 the path goes to df > n with most residuals pinned: the steps
  # pin residuals and drop coefficients several at a time (predicted from the previous
  # step) and check right after a full step with the solve's multipliers. Every path
  # point must meet the KKT conditions computed here, have an objective no larger than
  # that of cold starts at single lambdas (which take other routes), and agree with them.
  res <- expect_long_path(150, 1500, seed = 11, nlambda = 60, cold_at = c(30, 45, 60))
  dat <- res$dat
  fit <- res$fit
  r <- dat$y - predict(fit, dat$x)[, 60]
  expect_gt(sum(abs(r) < 1e-8), 100)
  # straight from zero (hundreds of coefficients freed at once, then dropped one by
  # one): this one used to stop with status 3 after a check made only because fifty
  # steps had gone by; such a check now lets the Newton steps go on
  cold <- withr::with_options(list(advtrain.lasso_continuation = FALSE),
                              adv_lasso(dat$x, dat$y, eps = 0.1, lambda = fit$lambda[30]))
  expect_equal(cold$status, 0L)
  expect_gt(cold$iters, 200)
  expect_lte(max(abs(coef(cold)[, 1] - coef(fit)[, 30])), 1e-6)
})

test_that("eps > 0, L2, n = 200: the factor kept over a wider drift is right at every lambda", {
  # from n = 160 the row-space factor takes more rank-one changes (0.6 n) and a wider
  # drift of its curvature (growing as n^1.5) before it is rebuilt; the checks over all
  # columns skip those that a fit on the last complete checks certifies
  res <- expect_long_path(200, 800, seed = 21, nlambda = 50, cold_at = c(35, 50))
  # late on the path the row-space system is in play: k + 1 + (zero residuals) > n
  r <- res$dat$y - predict(res$fit, res$dat$x)[, 50]
  expect_gt(res$fit$df[50] + sum(abs(r) < 1e-8), 200)
})

test_that("a single lambda far down the path: the extra lambdas on the way are dropped", {
  dat <- lasso_data(60, 200, seed = 4, scales = FALSE)
  fit <- adv_lasso(dat$x, dat$y, eps = 0.1, nlambda = 30, lambda_min_ratio = 0.02)
  lam <- fit$lambda[c(25, 5)] # (given in any order, kept decreasing)
  two <- adv_lasso(dat$x, dat$y, eps = 0.1, lambda = lam)
  expect_equal(two$lambda, sort(lam, decreasing = TRUE))
  expect_equal(dim(two$beta), c(200L, 2L))
  expect_length(two$a0, 2)
  expect_length(two$iters, 2)
  expect_equal(two$status, c(0L, 0L))
  expect_lte(max(abs(coef(two) - coef(fit)[, c(5, 25)])), 1e-6)
  # the steps of the extra lambdas count towards the lambda after them
  plain <- withr::with_options(list(advtrain.lasso_continuation = FALSE),
                               adv_lasso(dat$x, dat$y, eps = 0.1, lambda = lam))
  expect_lte(max(abs(coef(two) - coef(plain))), 1e-6)
  expect_lt(sum(two$iters), sum(plain$iters))
})

test_that("eps > 0, L2, d > n: threads = 1 and 2 give identical paths (row-space solves)", {
  dat <- lasso_data(50, 2100, seed = 3, scales = FALSE)
  f1 <- adv_lasso(dat$x, dat$y, 0.1, nlambda = 25, threads = 1)
  f2 <- adv_lasso(dat$x, dat$y, 0.1, nlambda = 25, threads = 2)
  expect_identical(f1$beta, f2$beta)
  expect_identical(f1$a0, f2$a0)
  expect_equal(max(f1$status), 0L)
  r <- dat$y - predict(f1, dat$x)[, 25]
  expect_gt(f1$df[25] + sum(abs(r) < 1e-8), 40)
})

test_that("real data with unscaled columns fit without a false KKT alarm (issue 24)", {
  X <- as.matrix(MASS::Boston[, -14])
  y <- MASS::Boston$medv
  for (seed in 1:4) {
    set.seed(seed)
    idx <- sample(506, 400)
    fit <- expect_no_warning(adv_lasso(X[idx, ], y[idx], eps = 0.1))
    # stalls happen (status 3) but end at the rounding floor, far below 1e-7
    expect_lte(max(fit$kkt), 1e-8)
  }
  set.seed(3)
  idx <- sample(506, 400)
  expect_no_warning(cv_adv_lasso(X[idx, ], y[idx], eps = 0.1, nfolds = 5, nlambda = 30))
  Xm <- as.matrix(mtcars[-1])
  for (e in c(0.05, 0.1, 0.2)) {
    for (nm in c("l2", "linf")) {
      fit <- expect_no_warning(adv_lasso(Xm, mtcars$mpg, eps = e, norm = nm))
      expect_lte(max(fit$kkt), 1e-7)
    }
  }
  expect_no_warning(cv_adv_lasso(Xm, mtcars$mpg, eps = 0.1, nfolds = 4))
  # at lambda_max theta = 0 is the solution, exactly
  fit <- adv_lasso(Xm, mtcars$mpg, eps = 0.2)
  expect_true(all(fit$beta[, 1] == 0))
  expect_equal(unname(fit$a0[1]), mean(mtcars$mpg))
  # where the solver stalled, an independent minimisation (BFGS started at the fit,
  # and at the fit perturbed) finds no lower objective beyond 1e-12 relative
  sc <- apply(Xm, 2, function(v) sqrt(mean((v - mean(v))^2)))
  obj <- function(l, p) {
    r <- mtcars$mpg - p[1] - drop(Xm %*% p[-1])
    mean((abs(r) + 0.2 * sqrt(sum(p[-1]^2)))^2) + l * sum(sc * abs(p[-1]))
  }
  for (j in utils::head(which(fit$status == 3L), 3)) {
    p0 <- c(fit$a0[j], fit$beta[, j])
    f0 <- obj(fit$lambda[j], p0)
    for (start in list(p0, p0 * (1 + 1e-3))) {
      o <- stats::optim(start, function(p) obj(fit$lambda[j], p), method = "BFGS",
                        control = list(reltol = 1e-15, maxit = 2000))
      expect_gte(o$value, f0 * (1 - 1e-12))
    }
  }
})

test_that("a genuinely unconverged lasso fit still warns, saying what it means", {
  Xm <- as.matrix(mtcars[-1])
  expect_warning(fit <- adv_lasso(Xm, mtcars$mpg, eps = 0.1, maxit = 2),
                 "iteration limit .*maxit.* was reached")
  expect_true(any(fit$status == 1L))
  expect_true(all(is.na(fit$kkt[fit$status == 1L]) | fit$kkt[fit$status == 1L] > 1e-10))
  expect_warning(adv_lasso(Xm, mtcars$mpg, eps = 0, maxit = 2), "relative residual of up to")
  expect_warning(adv_lasso(Xm, mtcars$mpg, eps = 0.1, xi = 0.1, maxit = 2),
                 "not a certified minimiser")
})
