# The objective of method = "exact", computed independently of the package.
adv_objective <- function(theta, x, y, eps, norm = "l2", b = 0) {
  tn <- if (norm == "l2") sqrt(sum(theta^2)) else sum(abs(theta))
  mean((abs(drop(x %*% theta) + b - y) + eps * tn)^2)
}

# The fixed-attack gradient of Algorithm 1 computed from the attack matrix in R.
fixed_attack_grad <- function(theta, x, y, eps, norm, xi) {
  A <- adv_attack(theta, x, y, eps, norm, xi)
  xt <- x + A
  2 / nrow(x) * drop(crossprod(xt, drop(xt %*% theta) - y))
}

test_that("the trace has the documented columns and consistent losses", {
  set.seed(1)
  sim <- simulate_linear(300, c(1, -1, 0.5))
  fit <- adv_lm(sim$x, sim$y, eps = 0.3, xi = 0.2, eta = 0.05, iters = 40, truth = sim,
                trace_every = 7)
  tr <- as.data.frame(fit)
  expect_identical(names(tr), c("iter", "loss_surrogate", "loss_adv", "loss_std",
                                "risk_adv", "risk_std", "theta_norm", "grad_norm",
                                "grad_diff"))
  expect_identical(tr$iter, c(seq(0L, 35L, by = 7L), 40L))
  # the losses at the final theta are those of adv_loss(), the same kernel
  th <- fit$theta
  last <- tr[nrow(tr), ]
  expect_equal(last$loss_surrogate, c(adv_loss(th, sim$x, sim$y, 0.3, xi = 0.2)))
  expect_equal(last$loss_adv, c(adv_loss(th, sim$x, sim$y, 0.3)))
  expect_equal(last$loss_std, mean((sim$y - sim$x %*% th)^2))
  expect_equal(last$risk_adv, adv_risk(th, sim$truth$theta0, 0.3))
  expect_equal(last$risk_std, adv_risk(th, sim$truth$theta0, 0))
  expect_equal(last$theta_norm, sqrt(sum(th^2)))
  g <- fixed_attack_grad(th, sim$x, sim$y, 0.3, "l2", 0.2)
  expect_equal(last$grad_norm, sqrt(sum(g^2)))
  g0 <- 2 / 300 * drop(crossprod(sim$x, drop(sim$x %*% th) - sim$y))
  expect_equal(last$grad_diff, sqrt(sum((g - g0)^2)))
  expect_equal(fit$R_star, adv_optimum(sim$truth$theta0, 0.3)$risk)
  # loss ordering: no attack <= surrogate attack <= true attack
  expect_true(all(tr$loss_std <= tr$loss_surrogate + 1e-12))
  expect_true(all(tr$loss_surrogate <= tr$loss_adv + 1e-12))
  expect_equal(fitted(fit), drop(sim$x %*% th))
  expect_equal(residuals(fit), sim$y - drop(sim$x %*% th))
  # without truth the risks are NA
  nofit <- adv_lm(sim$x, sim$y, eps = 0.3, eta = 0.05, iters = 5)
  expect_true(all(is.na(nofit$trace$risk_adv)) && is.na(nofit$R_star))
})

test_that("each step is theta - eta times the fixed-attack gradient (every norm, xi)", {
  set.seed(2)
  sim <- simulate_linear(80, c(1, -2, 0.5, 0))
  init <- c(0.7, -1.2, 0.4, 0.2)
  for (norm in c("l2", "linf")) for (xi in c(0, 0.3)) {
    fit <- adv_lm(sim$x, sim$y, eps = 0.2, norm = norm, xi = xi, eta = 0.01, iters = 1,
                  init = init)
    g <- fixed_attack_grad(init, sim$x, sim$y, 0.2, norm, xi)
    expect_equal(unname(fit$theta), init - 0.01 * g, tolerance = 1e-12)
  }
})

test_that("with xi = 0 the step follows the derivative of the true adversarial loss", {
  set.seed(3)
  sim <- simulate_linear(60, c(1, -1, 0.5))
  init <- c(0.6, -0.8, 0.3)
  for (norm in c("l2", "linf")) {
    fit <- adv_lm(sim$x, sim$y, eps = 0.25, norm = norm, eta = 1, iters = 1, init = init)
    step <- init - unname(fit$theta)
    fd <- num_grad(function(th) adv_objective(th, sim$x, sim$y, 0.25, norm), init)
    expect_equal(step, fd, tolerance = 1e-7)
  }
  # with an intercept, which the attack leaves alone
  fit <- adv_lm(sim$x, sim$y + 2, eps = 0.25, eta = 1, iters = 1, init = c(init, 1),
                intercept = TRUE)
  fd <- num_grad(function(p) adv_objective(p[1:3], sim$x, sim$y + 2, 0.25, b = p[4]),
                 c(init, 1))
  expect_equal(unname(c(init, 1) - c(fit$theta, fit$intercept)), fd, tolerance = 1e-7)
})

test_that("with xi > 0 the step is NOT the derivative of the surrogate loss (Lemma 2)", {
  set.seed(4)
  sim <- simulate_linear(60, c(1, -1, 0.5))
  init <- c(0.6, -0.8, 0.3)
  for (norm in c("l2", "linf")) {
    fit <- adv_lm(sim$x, sim$y, eps = 0.5, norm = norm, xi = 1, eta = 1, iters = 1,
                  init = init)
    step <- init - unname(fit$theta)
    fd <- num_grad(function(th) c(adv_loss(th, sim$x, sim$y, 0.5, norm, xi = 1)), init)
    # finite differences are accurate to ~1e-8 here; the two differ by far more,
    # because the surrogate attack itself moves with theta
    gap <- sqrt(sum((step - fd)^2)) / sqrt(sum(fd^2))
    cat(sprintf("\n  %s, xi = 1: |Algorithm 1 step - d surrogate / d theta| / |d surrogate| = %.3g\n",
                norm, gap))
    expect_gt(gap, 1e-3)
    expect_equal(step, fixed_attack_grad(init, sim$x, sim$y, 0.5, norm, 1),
                 tolerance = 1e-12)
  }
})

test_that("the exact solver matches optim on small problems and lm.fit at eps = 0", {
  set.seed(5)
  sim <- simulate_linear(120, c(2, -1, 0.5))
  for (norm in c("l2", "linf")) for (eps in c(0.1, 0.6, 2)) for (b in c(FALSE, TRUE)) {
    y <- sim$y + if (b) 1 else 0
    fit <- adv_lm(sim$x, y, eps = eps, norm = norm, method = "exact", intercept = b)
    p0 <- c(fit$theta, if (b) fit$intercept)
    f <- function(p) adv_objective(p[1:3], sim$x, y, eps, norm, if (b) p[4] else 0)
    # Nelder-Mead, restarted, from the exact solution and from points near it
    best <- Inf
    for (s in 0:3) {
      o <- stats::optim(p0 + stats::rnorm(length(p0), sd = 1e-3 * (s > 0)), f,
                        control = list(reltol = 1e-15, maxit = 20000))
      o <- stats::optim(o$par, f, control = list(reltol = 1e-15, maxit = 20000))
      best <- min(best, o$value)
    }
    expect_equal(fit$objective, f(p0), tolerance = 1e-14)
    expect_lte(fit$objective, best * (1 + 1e-8))
    expect_equal(fit$objective, best, tolerance = 1e-8)
    expect_lte(fit$gap, 1e-10 * fit$objective)
    expect_identical(fit$stopped, "converged")
  }
  for (b in c(FALSE, TRUE)) {
    fit <- adv_lm(sim$x, sim$y, eps = 0, method = "exact", intercept = b)
    ref <- stats::lm.fit(if (b) cbind(1, sim$x) else sim$x, sim$y)$coefficients
    expect_equal(unname(coef(fit)), unname(ref), tolerance = 1e-10)
  }
})

test_that("the exact solver certifies 1e-10 and GD never beats it; GD converges to it", {
  set.seed(6)
  sim <- simulate_linear(500, rep(1, 10))
  for (norm in c("l2", "linf")) {
    eps <- if (norm == "l2") 0.5 else 0.1
    ex <- adv_lm(sim$x, sim$y, eps = eps, norm = norm, method = "exact")
    gd <- adv_lm(sim$x, sim$y, eps = eps, norm = norm, eta = 0.005, iters = 3000,
                 trace_every = 10)
    expect_true(all(gd$trace$loss_adv >= ex$objective * (1 - 1e-10)))
    rel <- tail(gd$trace$loss_adv, 1) / ex$objective - 1
    dist <- sqrt(sum((gd$theta - ex$theta)^2))
    cat(sprintf("\n  %s: exact objective %.10f (gap %.1e, %d iterations); GD after 3000 steps: +%.1e relative, |theta_gd - theta_exact| = %.1e\n",
                norm, ex$objective, ex$gap, ex$iterations, rel, dist))
    expect_lt(rel, 1e-6)
    expect_lt(dist, 1e-2)
  }
})

test_that("the automatic step comes from the largest eigenvalue and is stable", {
  set.seed(7)
  x <- matrix(stats::rnorm(400 * 6), 400, 6) %*% diag(c(3, 1, 1, 1, 0.5, 0.2))
  y <- drop(x %*% c(1, 1, 0, 0, 1, 1)) + stats::rnorm(400)
  fit <- adv_lm(x, y, eps = 0.4, iters = 500)
  lam <- max(eigen(crossprod(x) / 400, symmetric = TRUE, only.values = TRUE)$values)
  expect_equal(fit$lambda_max, lam, tolerance = 1e-4)
  expect_equal(fit$eta, 1 / (2 * (sqrt(lam) + 0.4)^2), tolerance = 1e-4)
  expect_true(fit$eta_auto)
  ex <- adv_lm(x, y, eps = 0.4, method = "exact")
  expect_lt(tail(fit$trace$loss_adv, 1) / ex$objective - 1, 1e-3)
  # with an intercept the eigenvalue is that of [X, 1]
  fb <- adv_lm(x, y + 3, eps = 0.4, iters = 10, intercept = TRUE, tol = Inf)
  lb <- max(eigen(crossprod(cbind(x, 1)) / 400, symmetric = TRUE,
                  only.values = TRUE)$values)
  expect_equal(fb$lambda_max, lb, tolerance = 1e-4)
})

test_that("a step that blows up stops with an error, never NaN coefficients", {
  set.seed(8)
  sim <- simulate_linear(100, c(1, 1))
  expect_error(adv_lm(sim$x, sim$y, eps = 0.1, eta = 5, iters = 200),
               class = "advtrain_error_diverged")
  expect_snapshot(adv_lm(sim$x, sim$y, eps = 0.1, eta = 5, iters = 200), error = TRUE)
})

test_that("results are identical for 1 and 2 threads", {
  set.seed(9)
  # 5000 x 200: enough entries (1e6) for the pass to use OpenMP
  sim <- simulate_linear(5000, stats::rnorm(200) / 10)
  for (norm in c("l2", "linf")) {
    f1 <- adv_lm(sim$x, sim$y, eps = 0.1, norm = norm, xi = 0.1, eta = 0.001,
                 iters = 8, threads = 1)
    f2 <- adv_lm(sim$x, sim$y, eps = 0.1, norm = norm, xi = 0.1, eta = 0.001,
                 iters = 8, threads = 2)
    expect_identical(f1$theta, f2$theta)
    expect_identical(f1$trace, f2$trace)
  }
})

test_that("stop_at = 'interpolation' stops at the time of Theorem 5", {
  set.seed(10)
  sim <- simulate_linear(20, c(rep(1, 10), rep(0, 290)))
  fit <- adv_lm(sim$x, sim$y, eps = 0.05, xi = 0.5, eta = 0.001, iters = 5000,
                truth = sim, stop_at = "interpolation")
  expect_identical(fit$stopped, "interpolation")
  tr <- fit$trace
  v <- sqrt(sum(sim$truth$theta0^2) + 1)
  crit <- sqrt(tr$loss_std * 20) / (v * sqrt(20))
  expect_lt(crit[nrow(tr)], 1 / sqrt(log(20)))
  expect_true(all(crit[-nrow(tr)] >= 1 / sqrt(log(20))))
  expect_identical(fit$iterations, tr$iter[nrow(tr)])
  # without truth, v comes from the sample variance of y
  fy <- adv_lm(sim$x, sim$y, eps = 0.05, xi = 0.5, eta = 0.001, iters = 5000,
               stop_at = "interpolation")
  crit_y <- sqrt(fy$trace$loss_std) / stats::sd(sim$y)
  expect_lt(crit_y[nrow(fy$trace)], 1 / sqrt(log(20)))
  expect_true(all(crit_y[-nrow(fy$trace)] >= 1 / sqrt(log(20))))
})

test_that("Figure 1: the surrogate loss decreases, the true-attack loss oscillates", {
  set.seed(11)
  sim <- simulate_linear(1000, rep(1, 10))
  expect_equal(adv_optimum(rep(1, 10), 3)$risk, 11)
  smooth <- adv_lm(sim$x, sim$y, eps = 3, xi = 0.05, eta = 5e-4, iters = 1000,
                   truth = sim)
  rough <- adv_lm(sim$x, sim$y, eps = 3, xi = 0, eta = 5e-4, iters = 1000, truth = sim)
  # from step 1 on (at theta = 0 there is no attack yet, so step 0 -> 1 switches it on)
  rise_s <- diff(smooth$trace$loss_surrogate[-1])
  rise_r <- diff(rough$trace$loss_surrogate[-1])
  cat(sprintf("\n  Figure 1: largest rise of the training loss xi = 0.05: %.3g, xi = 0: %.3g (%d rises); final risks %.4f, %.4f (R* = 11)\n",
              max(rise_s), max(rise_r), sum(rise_r > 1e-6),
              tail(smooth$trace$risk_adv, 1), tail(rough$trace$risk_adv, 1)))
  expect_lte(max(rise_s), 1e-12 * smooth$trace$loss_surrogate[1])
  expect_gt(sum(rise_r > 1e-6), 50)
  expect_gt(max(rise_r), 1e-3)
  expect_gt(max(rise_r), 1e3 * max(max(rise_s), 1e-15))
  expect_lt(abs(tail(smooth$trace$risk_adv, 1) / 11 - 1), 0.02)
  expect_lt(abs(tail(rough$trace$risk_adv, 1) / 11 - 1), 0.02)
  expect_equal(smooth$R_star, 11)
})

test_that("Figure 5 / Theorem 2: the adversarial risk reaches R*(0.5), the standard one does not reach 1", {
  rstar <- adv_optimum(rep(1, 10), 0.5)$risk
  expect_equal(rstar, 5.38521, tolerance = 1e-5)
  risks <- t(vapply(1:3, function(r) {
    set.seed(100 + r)
    sim <- simulate_linear(1000, rep(1, 10))
    fit <- adv_lm(sim$x, sim$y, eps = 0.5, xi = 0.1, eta = 0.01, iters = 1000,
                  truth = sim, trace_every = 100)
    unlist(tail(fit$trace[c("risk_adv", "risk_std")], 1))
  }, numeric(2)))
  cat(sprintf("\n  Figure 5: R(theta_T, 0.5) = %s (R* = %.4f); R(theta_T, 0) = %s\n",
              paste(sprintf("%.4f", risks[, 1]), collapse = ", "), rstar,
              paste(sprintf("%.4f", risks[, 2]), collapse = ", ")))
  expect_true(all(abs(risks[, 1] / rstar - 1) < 0.02))
  expect_true(all(risks[, 2] > 1.1))
})

test_that("Figure 3 / Theorem 5: interpolation, yet adversarial risk near v^2", {
  skip_on_cran()
  theta0 <- c(rep(1, 10), rep(0, 990))
  v2 <- 11
  for (eps in c(0, 0.01, 0.1)) {
    res <- vapply(1:2, function(r) {
      set.seed(200 + r)
      sim <- simulate_linear(20, theta0)
      fit <- adv_lm(sim$x, sim$y, eps = eps, xi = 0.5, eta = 0.001, iters = 100,
                    truth = sim, trace_every = 10)
      tr <- fit$trace
      c(tail(tr$loss_surrogate, 1) / tr$loss_surrogate[1], min(tr$risk_adv),
        tail(tr$risk_adv, 1))
    }, numeric(3))
    cat(sprintf("\n  Figure 3, eps = %g: final/initial training loss %s; population adversarial risk min %s, final %s (v^2 = 11)\n",
                eps, paste(signif(res[1, ], 3), collapse = ", "),
                paste(signif(res[2, ], 4), collapse = ", "),
                paste(signif(res[3, ], 4), collapse = ", ")))
    expect_true(all(res[1, ] < 0.01))
    expect_true(all(res[2, ] > 0.8 * v2))
  }
})

test_that("the formula method equals the matrix method with an intercept", {
  set.seed(12)
  df <- data.frame(a = stats::rnorm(150), b = stats::rnorm(150),
                   g = factor(sample(c("u", "v"), 150, TRUE)))
  df$y <- 1 + 2 * df$a - df$b + 0.5 * (df$g == "v") + stats::rnorm(150)
  ff <- adv_lm(y ~ a + b + g, df, eps = 0.2, method = "exact")
  xm <- cbind(a = df$a, b = df$b, gv = as.numeric(df$g == "v"))
  fm <- adv_lm(xm, df$y, eps = 0.2, method = "exact", intercept = TRUE)
  expect_equal(unname(coef(ff)), unname(coef(fm)))
  expect_identical(names(coef(ff)), c("(Intercept)", "a", "b", "gv"))
  nd <- df[1:5, c("a", "b", "g")]
  expect_equal(predict(ff, newdata = nd), predict(fm, newx = xm[1:5, ]),
               ignore_attr = TRUE)
  f0 <- adv_lm(y ~ a + b - 1, df, eps = 0.2, iters = 50, eta = 0.05)
  expect_false(f0$has_intercept)
  expect_length(coef(f0), 2)
})

test_that("fits survive saveRDS/readRDS and predict afterwards", {
  set.seed(13)
  sim <- simulate_linear(100, c(1, 2, 3))
  fit <- adv_lm(sim$x, sim$y, eps = 0.2, xi = 0.1, iters = 200, truth = sim)
  df <- data.frame(y = sim$y, sim$x)
  ff <- adv_lm(y ~ ., df, eps = 0.2, iters = 100)
  path <- withr::local_tempfile(fileext = ".rds")
  for (f in list(fit, ff)) {
    saveRDS(f, path)
    back <- readRDS(path)
    expect_equal(back[c("coefficients", "trace", "fitted.values")],
                 f[c("coefficients", "trace", "fitted.values")])
    if (is.null(f$terms)) {
      expect_equal(predict(back, newx = sim$x[1:4, ]),
                   drop(sim$x[1:4, ] %*% fit$theta))
    } else {
      expect_equal(predict(back, newdata = df[1:4, ]), predict(f, newdata = df[1:4, ]))
      expect_equal(unname(predict(back, newdata = df[1:4, ])),
                   unname(drop(cbind(1, sim$x[1:4, ]) %*% coef(ff))))
    }
  }
})

test_that("print, summary, plot and as.data.frame work", {
  set.seed(14)
  sim <- simulate_linear(200, c(1, 1))
  fit <- adv_lm(sim$x, sim$y, eps = 0.5, xi = 0.1, iters = 100, truth = sim)
  expect_output(print(fit), "L2 attacks, eps = 0.5")
  expect_output(print(fit), "R\\*\\(eps\\)")
  s <- summary(fit)
  expect_s3_class(s, "summary.adv_lm")
  expect_equal(unname(s$risks["R_star"]), fit$R_star)
  expect_output(print(s), "Step size eta")
  expect_output(print(s), "Population risks")
  ex <- adv_lm(sim$x, sim$y, eps = 0.5, method = "exact", norm = "linf")
  expect_output(print(ex), "converged in")
  expect_output(print(summary(ex)), "exact minimiser")
  withr::local_pdf(NULL)
  expect_invisible(plot(fit))
  expect_invisible(plot(ex))
  expect_s3_class(as.data.frame(fit), "data.frame")
  expect_identical(coef(fit), fit$coefficients)
})

test_that("plot of an exact fit draws its coefficients (its trace has one row)", {
  ex <- adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1, method = "exact")
  expect_equal(nrow(ex$trace), 1)
  # one dot per coefficient; the loss lines of a one-row trace would draw nothing
  expect_equal(drawn_points(plot(ex)), length(coef(ex)))
  set.seed(16)
  sim <- simulate_linear(200, c(1, -1, 0.5))
  ex <- adv_lm(sim$x, sim$y, eps = 0.3, method = "exact", truth = sim)
  # the fit's dots, theta0's circles (and the legend's two symbols)
  expect_gte(drawn_points(plot(ex)), 2 * 3)
  fit <- adv_lm(sim$x, sim$y, eps = 0.3, iters = 20, truth = sim)
  expect_gte(drawn_points(plot(fit)), 3 * 21)
})

test_that("bad input gets errors that name the argument", {
  set.seed(15)
  x <- matrix(stats::rnorm(20), 10, 2)
  y <- stats::rnorm(10)
  xna <- x
  xna[3, 2] <- NA
  yna <- y
  yna[4] <- NA
  df <- data.frame(y = y, a = x[, 1])
  expect_snapshot(error = TRUE, {
    adv_lm(x, y[1:9], eps = 0.1)
    adv_lm(xna, y, eps = 0.1)
    adv_lm(x, yna, eps = 0.1)
    adv_lm(x, y, eps = -1)
    adv_lm(x, y, eps = 0.1, eta = 0)
    adv_lm(x, y, eps = 0.1, eta = -0.1)
    adv_lm(x, y, eps = 0.1, iters = 10.5)
    adv_lm(x, y, eps = 0.1, truth = list(theta0 = c(1, 2, 3)))
    adv_lm(x, y, eps = 0.1, init = c(1, 2, 3))
    adv_lm(x, y, eps = 0.1, norm = "l3")
    adv_lm(x, y, eps = 0.1, method = "newton")
    adv_lm(y ~ a + b, df, eps = 0.1)
    adv_lm(y ~ a, df, eps = 0.1, intercept = FALSE)
    predict(adv_lm(x, y, eps = 0.1, iters = 2), newx = matrix(1, 2, 3))
  })
})

test_that("long runs go in chunks with a progress bar when asked", {
  set.seed(16)
  sim <- simulate_linear(2000, stats::rnorm(200))
  # 1e8 / (n d) = 250 steps per chunk: three chunks, same result as one
  withr::local_options(advtrain.progress = TRUE, cli.progress_show_after = 0)
  expect_no_error(fit <- adv_lm(sim$x, sim$y, eps = 0.1, xi = 0.1, eta = 0.002,
                                iters = 600, trace_every = 100))
  withr::local_options(advtrain.progress = FALSE)
  small <- adv_lm(sim$x[, 1:2], sim$y, eps = 0.1, xi = 0.1, eta = 0.002, iters = 600,
                  trace_every = 100)
  expect_identical(fit$trace$iter, c(0L, 100L, 200L, 300L, 400L, 500L, 600L))
  expect_identical(small$trace$iter, fit$trace$iter)
  # chunks (here 250 steps each) do not change the iterates: 251 steps, then 49
  # more from there, give the 300 steps of a single run bit for bit
  a <- adv_lm(sim$x, sim$y, eps = 0.1, xi = 0.1, eta = 0.002, iters = 300)
  mid <- adv_lm(sim$x, sim$y, eps = 0.1, xi = 0.1, eta = 0.002, iters = 251)
  b <- adv_lm(sim$x, sim$y, eps = 0.1, xi = 0.1, eta = 0.002, iters = 49,
              init = mid$theta)
  expect_identical(b$theta, a$theta)
  expect_identical(fit$trace$loss_surrogate[4], a$trace$loss_surrogate[301])
})

test_that("the default trace of a long run stays small and keeps the last step (issue 24)", {
  set.seed(17)
  sim <- simulate_linear(30, c(1, -1))
  long <- adv_lm(sim$x, sim$y, eps = 0.1, iters = 1e5 + 7)
  expect_lte(nrow(long$trace), 2002)
  every <- ceiling((1e5 + 7) / 2000)
  expect_identical(long$trace$iter, as.integer(c(seq(0, 1e5 + 7, by = every), 1e5 + 7)))
  # the same steps as a per-step run: the thinned trace is a subset of it
  full <- adv_lm(sim$x, sim$y, eps = 0.1, iters = 3001, trace_every = 1)
  thin <- adv_lm(sim$x, sim$y, eps = 0.1, iters = 3001)
  expect_identical(nrow(full$trace), 3002L)
  expect_identical(thin$trace$iter, c(seq(0L, 3000L, by = 2L), 3001L))
  expect_identical(thin$trace, {
    tr <- full$trace[full$trace$iter %in% thin$trace$iter, ]
    rownames(tr) <- NULL
    tr
  })
  expect_identical(thin$theta, full$theta)
  # up to 2000 steps the default records every step
  expect_identical(nrow(adv_lm(sim$x, sim$y, eps = 0.1, iters = 2000)$trace), 2001L)
})

test_that("the automatic step never exceeds its documented bound (issue 24)", {
  bound <- function(x, eps, norm, intercept) {
    z <- if (intercept) cbind(x, 1) else x
    lam <- eigen(crossprod(z) / nrow(z), symmetric = TRUE, only.values = TRUE)$values[1]
    eps2 <- if (norm == "l2") eps else eps * sqrt(ncol(x))
    1 / (2 * (sqrt(lam) + eps2)^2)
  }
  boston <- as.matrix(MASS::Boston[, -14])
  set.seed(18)
  shapes <- list(boston = boston, mtcars = as.matrix(mtcars[-1]),
                 tall = matrix(rnorm(2000 * 3), 2000) %*% diag(c(1, 10, 100)),
                 wide = matrix(rnorm(20 * 300), 20),
                 # two nearly equal top eigenvalues: power iteration converges slowly
                 close = cbind(rnorm(500), rnorm(500) * (1 + 1e-4), rnorm(500) * 0.5),
                 big = matrix(rnorm(1500 * 300), 1500)) # n p^2 > 1e8: power iteration
  y_of <- function(x) drop(x %*% rep(0.01, ncol(x))) + rnorm(nrow(x))
  for (nm in names(shapes)) {
    x <- shapes[[nm]]
    y <- y_of(x)
    for (intercept in c(FALSE, TRUE)) {
      for (norm in c("l2", "linf")) {
        fit <- adv_lm(x, y, eps = 0.1, norm = norm, intercept = intercept, iters = 1, tol = Inf)
        b <- bound(x, 0.1, norm, intercept)
        expect_lte(fit$eta, b, label = sprintf("eta (%s, intercept %s, %s)", nm, intercept, norm))
        # and not needlessly small: within the margin of the method used
        expect_gte(fit$eta, b * if (nm == "big") 0.98 else 1 - 1e-10)
      }
    }
  }
})
