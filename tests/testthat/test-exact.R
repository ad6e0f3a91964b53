# The exact solver of adv_lm() against an independent conic solver (ECOSolveR), the
# closed forms (zero radius, eps = 0), the eps path and the GD convergence check.

exact_case <- function(n, d, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(n * d), n, d)
  k <- min(d, 5)
  y <- drop(x[, seq_len(k), drop = FALSE] %*% rep(1, k)) + rnorm(n)
  list(x = x, y = y)
}

test_that("the exact solver matches an SOCP solution on a grid of shapes, certified", {
  skip_if_not_installed("ECOSolveR")
  skip_if_not_installed("Matrix")
  shapes <- list(c(1, 1), c(1, 5), c(30, 1), c(30, 5), c(30, 100), c(60, 5),
                 c(60, 100), c(60, 200), c(2000, 1), c(2000, 5))
  for (sh in shapes) for (norm in c("l2", "linf")) for (b in c(FALSE, TRUE)) {
    cs <- exact_case(sh[1], sh[2])
    zr <- adv_radius(cs$x, cs$y, norm = norm, type = "zero", intercept = b)
    for (eps in unique(c(0.01, 0.3, zr * 1.5))) {
      if (!is.finite(eps) || eps <= 0) next
      lab <- sprintf("n=%d d=%d %s intercept=%s eps=%.3g", sh[1], sh[2], norm, b, eps)
      expect_no_warning(fit <- adv_lm(cs$x, cs$y, eps = eps, norm = norm,
                                      intercept = b, method = "exact"))
      ref <- ecos_adv_lm(cs$x, cs$y, eps, norm, b)
      ours <- lm_obj(cs$x, cs$y, c(fit$theta, if (b) fit$intercept), eps, norm, b)
      expect_equal(ours, fit$objective, tolerance = 1e-12, info = lab)
      expect_lte(ours, ref$objective * (1 + 1e-9) + 1e-14, label = lab)
      expect_lte(fit$rel_gap, 1e-10, label = lab)
      expect_equal(fit$gap, fit$rel_gap * fit$objective, tolerance = 1e-8)
      if (eps >= zr) expect_identical(unname(fit$theta), numeric(sh[2]), info = lab)
    }
  }
})

test_that("larger shapes (n = 2000, d = 100, 200; n = 30, d = 200) are certified", {
  skip_on_cran()
  for (sh in list(c(2000, 200), c(30, 200), c(60, 100))) for (norm in c("l2", "linf")) {
    cs <- exact_case(sh[1], sh[2], seed = 3)
    expect_no_warning(fit <- adv_lm(cs$x, cs$y, eps = 0.1, norm = norm, method = "exact",
                                    intercept = TRUE))
    expect_lte(fit$rel_gap, 1e-10)
  }
})

test_that("theta = 0 exactly at and beyond the zero radius (closed form)", {
  cs <- exact_case(40, 6, seed = 2)
  for (norm in c("l2", "linf")) for (b in c(FALSE, TRUE)) {
    zr <- adv_radius(cs$x, cs$y, norm = norm, type = "zero", intercept = b)
    at <- adv_lm(cs$x, cs$y, eps = zr, norm = norm, intercept = b, method = "exact")
    expect_identical(unname(at$theta), numeric(6))
    expect_equal(at$intercept, if (b) mean(cs$y) else 0)
    expect_lte(at$rel_gap, 1e-10)
    below <- adv_lm(cs$x, cs$y, eps = zr * 0.9, norm = norm, intercept = b, method = "exact")
    expect_gt(sum(abs(below$theta)), 0)
    expect_equal(at$zero_radius, as.numeric(zr), tolerance = 1e-10)
  }
})

test_that("eps = 0 is lm.fit (n > d) and the minimum-norm least-squares solution (n < d)", {
  cs <- exact_case(50, 4)
  fit <- adv_lm(cs$x, cs$y, eps = 0, method = "exact", intercept = TRUE)
  ref <- stats::lm.fit(cbind(1, cs$x), cs$y)$coefficients
  expect_equal(unname(coef(fit)), unname(ref), tolerance = 1e-10)
  wide <- exact_case(10, 30)
  fit <- adv_lm(wide$x, wide$y, eps = 0, method = "exact")
  mn <- drop(MASS::ginv(wide$x) %*% wide$y)
  expect_equal(unname(fit$theta), mn, tolerance = 1e-9)
  fitb <- adv_lm(wide$x, wide$y, eps = 0, method = "exact", intercept = TRUE)
  xc <- scale(wide$x, scale = FALSE)
  th <- drop(MASS::ginv(xc) %*% (wide$y - mean(wide$y)))
  expect_equal(unname(fitb$theta), th, tolerance = 1e-9)
  expect_equal(unname(fitb$fitted.values), wide$y, tolerance = 1e-9)
})

test_that("the normal equations of the eps = 0 point equal the QR on real data, and defer to it when ill-conditioned", {
  B <- MASS::Boston
  sets <- list(boston = list(z = cbind(as.matrix(B[, -14]), 1), y = B$medv),
               swiss = list(z = cbind(as.matrix(swiss[, -1]), 1), y = swiss$Fertility),
               mtcars = list(z = cbind(as.matrix(mtcars[, -1]), 1), y = mtcars$mpg),
               gauss = exact_case(1000, 50))
  sets$gauss <- list(z = sets$gauss$x, y = sets$gauss$y)
  for (nm in names(sets)) {
    z <- sets[[nm]]$z
    y <- sets[[nm]]$y
    expect_equal(.Call(C_exact_gram, z), unname(crossprod(z)), tolerance = 1e-14, info = nm)
    ne <- exact_lsq_normal(z, y)
    expect_false(is.null(ne), info = nm)
    q <- stats::lm.fit(z, y)
    # the QR's own error on Boston (condition number about 1.5e4 with its scales) is
    # about 1e-15 relative; the normal equations with one correction match it
    expect_equal(ne$beta, unname(q$coefficients), tolerance = 1e-12, info = nm)
    expect_equal(unname(ne$residuals), unname(q$residuals), tolerance = 1e-12, info = nm)
  }
  # a nearly collinear pair (condition number about 1e7 after scaling): the QR decides
  x <- sets$gauss$z
  expect_null(exact_lsq_normal(cbind(x, x[, 1] + 1e-7 * rnorm(nrow(x))), sets$gauss$y))
  expect_null(exact_lsq_normal(cbind(x, 0), sets$gauss$y))
  # and adv_lm(eps = 0) is lm() on Boston through either route
  fit <- adv_lm(medv ~ ., data = B, eps = 0, method = "exact")
  expect_equal(unname(coef(fit)), unname(coef(lm(medv ~ ., data = B))), tolerance = 1e-12)
})

test_that("an interpolating fit (n = d, eps = 0) is certified at the rounding level", {
  # square Gaussian x: the minimum is exactly 0 and the objective is the solve's
  # rounding (1.8e-27 here, 1.8e-9 of the old 1e-18 mean(y^2) floor, which warned)
  set.seed(1)
  x <- matrix(rnorm(120 * 120), 120)
  y <- rnorm(120)
  fit <- expect_no_warning(adv_lm(x, y, eps = 0, method = "exact"))
  expect_identical(fit$stopped, "converged")
  expect_equal(unname(fit$theta), solve(x, y), tolerance = 1e-8)
  expect_lt(max(abs(fit$residuals)), 1e-10 * sd(y))
  # the floor is the rounding level, not a looser tolerance: the gap of a point 1e-6
  # away from the minimiser is many orders above it
  cr <- exact_certify(x, y, fit$theta * (1 + 1e-6), NULL, 0, "l2", FALSE)
  expect_gt(cr$objective - cr$lower, 1e6 * exact_round_level(x, y, fit$theta, NULL))
})

test_that("constant and duplicated columns are handled and certified", {
  cs <- exact_case(80, 4, seed = 5)
  x <- cbind(cs$x, cs$x[, 1], 3)
  for (norm in c("l2", "linf")) for (b in c(FALSE, TRUE)) {
    expect_no_warning(fit <- adv_lm(x, cs$y, eps = 0.1, norm = norm, intercept = b,
                                    method = "exact"))
    expect_lte(fit$rel_gap, 1e-10)
    if (norm == "l2") expect_equal(fit$theta[[1]], fit$theta[[5]], tolerance = 1e-6)
    if (b) expect_equal(fit$theta[[6]], 0)
  }
  # eps = 0 with duplicated columns: the minimum-norm solution splits them evenly
  fit0 <- adv_lm(x[, 1:5], cs$y, eps = 0, method = "exact")
  expect_equal(fit0$theta[[1]], fit0$theta[[5]], tolerance = 1e-8)
})

test_that("whole-number weights (zeros included) equal replicated rows", {
  cs <- exact_case(30, 3, seed = 6)
  w <- rep(c(1, 2, 3, 0, 2), 6)
  idx <- rep(seq_len(30), w)
  for (norm in c("l2", "linf")) {
    fw <- expect_no_warning(adv_lm(cs$x, cs$y, eps = 0.2, norm = norm, weights = w,
                                   method = "exact"))
    fr <- adv_lm(cs$x[idx, ], cs$y[idx], eps = 0.2, norm = norm, method = "exact")
    expect_equal(coef(fw), coef(fr), tolerance = 1e-10)
    expect_equal(fw$objective, fr$objective, tolerance = 1e-10)
    expect_lte(fw$rel_gap, 1e-10)
    # fitted values and residuals for every row, the zero-weight ones included
    expect_length(fitted(fw), 30)
    expect_equal(unname(fitted(fw)), drop(cs$x %*% fw$theta) + fw$intercept)
    # the trace's attacked loss at the solution is the weighted objective
    expect_equal(tail(fw$trace$loss_adv, 1), fw$objective, tolerance = 1e-12)
  }
})

test_that("fractional weights: the weighted optimum of an independent SOCP, certified", {
  shapes <- list(c(30, 5, 1), c(60, 100, 0), c(40, 1, 1), c(200, 20, 1))
  for (sh in shapes) for (norm in c("l2", "linf")) for (eps in c(0.05, 0.3)) {
    cs <- exact_case(sh[1], sh[2], seed = 10 + sh[1])
    set.seed(sh[1] + sh[2])
    w <- runif(sh[1], 0.1, 3)
    icpt <- sh[3] == 1
    f <- expect_no_warning(adv_lm(cs$x, cs$y, eps = eps, norm = norm, weights = w,
                                  intercept = icpt, method = "exact"))
    ref <- ecos_adv_lm(cs$x, cs$y, eps, norm, icpt, w = w)
    ours <- lm_obj(cs$x, cs$y, c(f$theta, if (icpt) f$intercept), eps, norm, icpt, w = w)
    expect_equal(ours, f$objective, tolerance = 1e-12)
    expect_lte((f$objective - ref$objective) / ref$objective, 1e-9)
    expect_lte(f$rel_gap, 1e-10)
    # the weights matter: the unweighted optimum is worse for the weighted objective
    fu <- adv_lm(cs$x, cs$y, eps = eps, norm = norm, intercept = icpt, method = "exact")
    expect_gte(lm_obj(cs$x, cs$y, c(fu$theta, if (icpt) fu$intercept), eps, norm, icpt,
                      w = w), f$objective * (1 - 1e-12))
  }
})

test_that("fractional weights on real data (Boston), with a path over eps", {
  B <- MASS::Boston
  x <- scale(as.matrix(B[, -14]))
  y <- B$medv
  w <- 1 + (B$chas == 1) + B$rad / 24 # a made-up design weight
  epss <- c(0.1, 0.5, 2)
  for (norm in c("l2", "linf")) {
    p <- expect_no_warning(adv_lm(x, y, eps = epss, norm = norm, weights = w,
                                  intercept = TRUE, method = "exact"))
    expect_true(all(p$path$rel_gap <= 1e-10))
    for (k in seq_along(epss)) {
      one <- adv_lm(x, y, eps = epss[k], norm = norm, weights = w, intercept = TRUE,
                    method = "exact")
      expect_equal(unname(p$path$coefficients[, k]), unname(coef(one)), tolerance = 1e-8)
    }
    ref <- ecos_adv_lm(x, y, 0.5, norm, TRUE, w = w)
    expect_lte((p$path$objective[2] - ref$objective) / ref$objective, 1e-9)
  }
})

test_that("real data: Boston and swiss are certified and beat the SOCP", {
  skip_if_not_installed("MASS")
  skip_if_not_installed("ECOSolveR")
  sets <- list(boston = list(x = as.matrix(MASS::Boston[, -14]), y = MASS::Boston$medv),
               swiss = list(x = as.matrix(datasets::swiss[, -1]), y = datasets::swiss$Fertility))
  for (s in sets) for (norm in c("l2", "linf")) {
    eps <- if (norm == "l2") 0.1 else 0.01
    expect_no_warning(fit <- adv_lm(s$x, s$y, eps = eps, norm = norm, intercept = TRUE,
                                    method = "exact"))
    expect_lte(fit$rel_gap, 1e-10)
    ref <- ecos_adv_lm(s$x, s$y, eps, norm, TRUE)
    expect_lte(fit$objective, ref$objective * (1 + 1e-9))
  }
})

test_that("an eps path equals separate fits; coef() and predict() at eps", {
  cs <- exact_case(100, 8, seed = 9)
  epss <- c(0, 0.05, 0.1, 0.3, 0.6, 2)
  for (norm in c("l2", "linf")) {
    pf <- adv_lm(cs$x, cs$y, eps = epss, norm = norm, intercept = TRUE, method = "exact")
    expect_equal(dim(pf$path$coefficients), c(9L, length(epss)))
    for (k in seq_along(epss)) {
      one <- adv_lm(cs$x, cs$y, eps = epss[k], norm = norm, intercept = TRUE,
                    method = "exact")
      expect_equal(unname(pf$path$coefficients[, k]), unname(coef(one)), tolerance = 1e-8)
      expect_equal(unname(coef(pf, eps = epss[k])[, 1]), unname(coef(one)), tolerance = 1e-8)
      expect_equal(unname(predict(pf, cs$x[1:3, ], eps = epss[k])[, 1]),
                   unname(predict(one, cs$x[1:3, ])), tolerance = 1e-8)
    }
    expect_lte(max(pf$path$rel_gap), 1e-10)
    mid <- coef(pf, eps = 0.2)
    expect_equal(mid[, 1], (pf$path$coefficients[, 3] + pf$path$coefficients[, 4]) / 2)
  }
  expect_snapshot(error = TRUE, coef(pf, eps = 5))
  expect_snapshot(error = TRUE, adv_lm(cs$x, cs$y, eps = c(0.1, 0.1), method = "exact"))
  f <- tempfile(fileext = ".pdf")
  grDevices::pdf(f)
  expect_no_error(plot(pf))
  grDevices::dev.off()
})

test_that("a long eps path (warm-started active-set engine) is certified and equals separate fits", {
  # n > d and n < d, with and without intercept: eps = 0 and 25 values in
  # (0, zero radius), which the active-set engine follows from the least-squares
  # solution at eps = 0
  shapes <- list(c(200, 10), c(40, 80))
  for (sh in shapes) for (norm in c("l2", "linf")) for (icpt in c(TRUE, FALSE)) {
    cs <- exact_case(sh[1], sh[2], seed = 21)
    zr <- adv_radius(cs$x, cs$y, norm = norm, type = "zero", intercept = icpt)
    epss <- c(0, zr * seq(0.02, 0.98, length.out = 25))
    pf <- expect_no_warning(adv_lm(cs$x, cs$y, eps = epss, norm = norm, intercept = icpt,
                                   method = "exact"))
    expect_lte(max(pf$path$rel_gap), 1e-10)
    for (k in c(1, 2, 10, 18, 26)) {
      one <- adv_lm(cs$x, cs$y, eps = epss[k], norm = norm, intercept = icpt,
                    method = "exact")
      expect_equal(unname(pf$path$coefficients[, k]), unname(coef(one)), tolerance = 1e-8)
      # and no worse than the separate fit's objective
      expect_lte(pf$path$objective[k], one$objective * (1 + 1e-10))
    }
  }
})

test_that("GD on Boston with defaults warns that it has not converged", {
  skip_if_not_installed("MASS")
  expect_warning(fit <- adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1),
                 class = "advtrain_warning_not_converged")
  expect_false(fit$converged)
  ex <- adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1, method = "exact")
  expect_gt((fit$trace$loss_adv[nrow(fit$trace)] - ex$objective) / ex$objective, 1e-3)
  expect_match(paste(utils::capture.output(print(fit)), collapse = "\n"), "not converged")
  expect_match(paste(utils::capture.output(print(summary(fit))), collapse = "\n"),
               "not converged")
  expect_no_warning(adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1, tol = Inf))
})

test_that("GD on standardised Boston converges to the exact minimum, without a warning", {
  skip_if_not_installed("MASS")
  expect_no_warning(fit <- adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1,
                                  standardize = TRUE, iters = 3000))
  expect_true(fit$converged)
  ex <- adv_lm(medv ~ ., data = MASS::Boston, eps = 0.1, method = "exact",
               standardize = TRUE)
  expect_lte(fit$conv_measure[[1]], 1e-3)
  # the exact fit on standardised columns, reported on the original scale, is the
  # exact fit of the rescaled problem
  x <- as.matrix(MASS::Boston[, -14])
  xs <- scale(x, scale = sqrt(colMeans(scale(x, scale = FALSE)^2)))
  ex2 <- adv_lm(xs, MASS::Boston$medv, eps = 0.1, method = "exact", intercept = TRUE)
  expect_equal(unname(fitted(ex)), unname(fitted(ex2)), tolerance = 1e-8)
  expect_match(paste(utils::capture.output(print(fit)), collapse = "\n"), "converged")
})
