# Observation weights in adv_lasso() and cv_adv_lasso() (issue 19):
# sum_i w_i loss_i / sum_i w_i, each solver in its exact form (R/lasso_weights.R).

lw_data <- function(n = 60, d = 8, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(n * d), n)
  x[, 2] <- 10 * x[, 2] + 3 # a column of another scale and mean
  y <- drop(x %*% c(2, -0.1, 0.5, rep(0, d - 3))) + rnorm(n)
  list(x = x, y = y, w = sample(0:3, n, TRUE))
}

lw_configs <- list(
  list(eps = 0, xi = 0, norm = "l2"),
  list(eps = 0.1, xi = 0, norm = "l2"),
  list(eps = 0.1, xi = 0, norm = "linf"),
  list(eps = 0.1, xi = 0.5, norm = "l2"),
  list(eps = 0.05, xi = 0.5, norm = "linf")
)

test_that("adv_lasso: integer weights equal replicated rows (every solver)", {
  D <- lw_data()
  idx <- rep(seq_along(D$y), D$w)
  for (cf in lw_configs) for (b in c(TRUE, FALSE)) for (st in c(TRUE, FALSE)) {
    f1 <- adv_lasso(D$x, D$y, eps = cf$eps, xi = cf$xi, norm = cf$norm, weights = D$w,
                    nlambda = 15, intercept = b, standardize = st)
    f2 <- adv_lasso(D$x[idx, ], D$y[idx], eps = cf$eps, xi = cf$xi, norm = cf$norm,
                    nlambda = 15, intercept = b, standardize = st)
    # the same default grid (weighted lambda_max) and the same path
    expect_equal(f1$lambda, f2$lambda, tolerance = 1e-12)
    expect_equal(f1$beta, f2$beta, tolerance = 1e-10)
    expect_equal(f1$a0, f2$a0, tolerance = 1e-10)
    expect_lt(max(abs(f1$dev.ratio - f2$dev.ratio)), 1e-9)
    expect_true(all(f1$kkt <= 1e-10))
    expect_identical(nobs(f1), sum(D$w > 0))
  }
})

test_that("adv_lasso: zero weights drop rows, and only the ratios of the weights matter", {
  D <- lw_data(seed = 2)
  u <- runif(length(D$y)) * (D$w > 0) # fractional, zeros where w is
  keep <- u > 0
  for (cf in lw_configs[c(1, 4, 5)]) {
    f1 <- adv_lasso(D$x, D$y, eps = cf$eps, xi = cf$xi, norm = cf$norm, weights = u,
                    nlambda = 12)
    f2 <- adv_lasso(D$x[keep, ], D$y[keep], eps = cf$eps, xi = cf$xi, norm = cf$norm,
                    weights = u[keep], nlambda = 12)
    f3 <- adv_lasso(D$x, D$y, eps = cf$eps, xi = cf$xi, norm = cf$norm, weights = 7.3 * u,
                    nlambda = 12)
    expect_equal(f1$beta, f2$beta, tolerance = 1e-9)
    expect_equal(f1$a0, f2$a0, tolerance = 1e-9)
    expect_equal(f1$beta, f3$beta, tolerance = 1e-9)
  }
  # the true attack, fractional weights included: zero weights are dropped rows and
  # only the ratios matter
  for (norm in c("l2", "linf")) {
    f1 <- adv_lasso(D$x, D$y, eps = 0.1, norm = norm, weights = u, nlambda = 12)
    f2 <- adv_lasso(D$x[keep, ], D$y[keep], eps = 0.1, norm = norm, weights = u[keep],
                    nlambda = 12)
    f3 <- adv_lasso(D$x, D$y, eps = 0.1, norm = norm, weights = 7.3 * u, nlambda = 12)
    expect_equal(f1$beta, f2$beta, tolerance = 1e-9)
    expect_equal(f1$a0, f2$a0, tolerance = 1e-9)
    expect_equal(f1$beta, f3$beta, tolerance = 1e-9)
    expect_identical(nobs(f1), sum(keep))
  }
  h <- D$w / 2
  f1 <- adv_lasso(D$x, D$y, eps = 0.1, weights = h, nlambda = 10)
  f2 <- adv_lasso(D$x, D$y, eps = 0.1, weights = D$w, nlambda = 10)
  expect_equal(f1$beta, f2$beta, tolerance = 1e-12)
  # equal weights are the unweighted fit
  f4 <- adv_lasso(D$x, D$y, eps = 0.1, xi = 0.5, weights = rep(2, 60), nlambda = 8)
  f5 <- adv_lasso(D$x, D$y, eps = 0.1, xi = 0.5, nlambda = 8)
  expect_equal(f4$beta, f5$beta, tolerance = 1e-14)
})

test_that("adv_lasso eps = 0 with fractional weights equals glmnet's weighted lasso", {
  skip_if_not_installed("glmnet")
  D <- lw_data(n = 80, d = 10, seed = 3)
  set.seed(4)
  w <- rexp(80)
  fit <- adv_lasso(D$x, D$y, eps = 0, weights = w, nlambda = 20)
  g <- glmnet::glmnet(D$x, D$y, weights = w, lambda = fit$lambda / 2, thresh = 1e-16,
                      maxit = 1e7)
  expect_equal(unname(as.matrix(g$beta)), unname(fit$beta), tolerance = 1e-6)
  expect_equal(unname(g$a0), unname(fit$a0), tolerance = 1e-6)
  expect_equal(g$dev.ratio, fit$dev.ratio, tolerance = 1e-6)
  # the first lambda is glmnet's lambda_max (times 2): the weighted one
  g0 <- glmnet::glmnet(D$x, D$y, weights = w, nlambda = 5)
  expect_equal(fit$lambda[1], 2 * g0$lambda[1], tolerance = 1e-10)
})

test_that("adv_lasso xi > 0 with fractional weights: no better point on its support", {
  D <- lw_data(n = 50, d = 6, seed = 5)
  set.seed(6)
  w <- rexp(50)
  for (norm in c("l2", "linf")) {
    fit <- adv_lasso(D$x, D$y, eps = 0.1, xi = 0.3, norm = norm, weights = w, nlambda = 10)
    k <- 6
    lam <- fit$lambda[k]
    pw <- fit$penalty_factor * apply(D$x, 2, function(v) sqrt(sum(w * (v - sum(w * v) / sum(w))^2) / sum(w)))
    # the weighted objective, the attack from adv_attack() (its own C entry point)
    obj <- function(th, b) {
      att <- adv_attack(th, D$x, D$y - b, eps = 0.1, norm = norm, xi = 0.3)
      r <- D$y - b - drop((D$x + att) %*% th)
      sum(w * r^2) / sum(w) + lam * sum(pw * abs(th))
    }
    th <- fit$beta[, k]
    S <- which(th != 0)
    f0 <- obj(th, fit$a0[k])
    o <- stats::optim(c(th[S], fit$a0[k]) + 1e-3, function(p) {
      t2 <- th
      t2[S] <- p[seq_along(S)]
      obj(t2, p[length(p)])
    }, method = "BFGS", control = list(reltol = 1e-14, maxit = 1000))
    expect_gte(o$value, f0 - 1e-9 * f0)
    expect_true(all(fit$kkt <= 1e-10))
  }
})

# The penalty weights of a fit on (x, w): pf_j times the weighted standard deviation
# (divisor sum(w)) with standardize, pf_j without.
lw_pen <- function(fit, x, w, standardize) {
  if (!standardize) return(fit$penalty_factor)
  sdw <- apply(x, 2, function(v) sqrt(sum(w * (v - sum(w * v) / sum(w))^2) / sum(w)))
  fit$penalty_factor * sdw
}

# Our objective and ECOSolveR's at lambda k of a weighted true-attack fit: ours is
# never above ECOS's by more than 1e-9 relative, nor below it by more than ECOS's own
# accuracy (1e-7 relative on the simulated data; on Boston's columns, whose scales
# differ by four orders of magnitude, ECOS stops up to 3.2e-6 above our certified
# point, so 1e-5 there).
lw_vs_ecos <- function(fit, x, y, w, k, standardize, lower_tol = 1e-7) {
  pw <- lw_pen(fit, x, w, standardize)
  lam <- fit$lambda[k]
  ours <- lm_obj(x, y, c(fit$beta[, k], if (fit$intercept) fit$a0[k]), fit$eps, fit$norm,
                 fit$intercept, w) + lam * sum(pw * abs(fit$beta[, k]))
  ref <- ecos_adv_lasso(x, y, fit$eps, fit$norm, fit$intercept, lam, pw, w)
  expect_lte(ours, ref$objective + 1e-9 * ref$objective)
  expect_gte(ours, ref$objective - lower_tol * ref$objective)
  c(ours = ours, ecos = ref$objective)
}

test_that("adv_lasso, true attack, fractional weights: the ECOSolveR optimum", {
  skip_if_not_installed("ECOSolveR")
  D <- lw_data(n = 40, d = 6, seed = 11)
  set.seed(12)
  w <- rexp(40)
  w[c(3, 17)] <- 0
  pos <- w > 0
  for (norm in c("l2", "linf")) for (b in c(TRUE, FALSE)) for (st in c(TRUE, FALSE)) {
    expect_no_warning(
      fit <- adv_lasso(D$x, D$y, eps = 0.15, norm = norm, weights = w, nlambda = 8,
                       intercept = b, standardize = st))
    expect_true(all(fit$kkt <= 1e-10))
    expect_identical(fit$status, rep(0L, 8))
    for (k in c(2, 5, 8)) lw_vs_ecos(fit, D$x[pos, ], D$y[pos], w[pos], k, st)
  }
  # one weight a million times the others
  w2 <- c(1e6, rep(1, 39))
  for (norm in c("l2", "linf")) {
    fit <- adv_lasso(D$x, D$y, eps = 0.15, norm = norm, weights = w2, nlambda = 6)
    expect_true(all(fit$kkt <= 1e-10))
    for (k in c(3, 6)) lw_vs_ecos(fit, D$x, D$y, w2, k, TRUE)
  }
})

test_that("weighted true attack with n < d: the row-space and the full Newton solve agree with ECOSolveR", {
  skip_if_not_installed("ECOSolveR")
  set.seed(13)
  n <- 30
  d <- 120
  x <- matrix(rnorm(n * d), n)
  y <- drop(x[, 1:4] %*% c(3, -2, 1, 1)) + rnorm(n)
  w <- runif(n, 0.2, 3)
  for (norm in c("l2", "linf")) {
    fit <- adv_lasso(x, y, eps = 0.05, norm = norm, weights = w, nlambda = 20)
    full <- withr::with_options(list(advtrain.lasso_full_kkt = TRUE),
                                adv_lasso(x, y, eps = 0.05, norm = norm, weights = w,
                                          nlambda = 20))
    expect_true(all(fit$kkt <= 1e-10))
    expect_true(all(full$kkt <= 1e-10))
    # the L2 path late on has more than 40 free coefficients and pins: there the
    # row-space solve is the one used
    if (norm == "l2") expect_gt(max(fit$df), 20)
    expect_equal(fit$beta, full$beta, tolerance = 1e-7)
    for (k in c(10, 20)) lw_vs_ecos(fit, x, y, w, k, TRUE)
  }
})

test_that("weighted true attack on MASS::Boston (fractional weights): the ECOSolveR optimum", {
  skip_if_not_installed("ECOSolveR")
  skip_if_not_installed("MASS")
  B <- MASS::Boston
  x <- as.matrix(B[, setdiff(names(B), "medv")])
  # survey-like weights: inverse to the share of the row's tract type (chas), times
  # a smooth factor of the distance to employment centres
  w <- ifelse(B$chas == 1, 1 / mean(B$chas), 1 / mean(1 - B$chas)) * (0.5 + B$dis / 10)
  for (norm in c("l2", "linf")) {
    eps <- if (norm == "l2") 0.05 else 0.02
    expect_no_warning(fit <- adv_lasso(x, B$medv, eps = eps, norm = norm, weights = w,
                                       nlambda = 10))
    expect_true(all(fit$kkt <= 1e-10))
    for (k in c(4, 10)) lw_vs_ecos(fit, x, B$medv, w, k, TRUE, lower_tol = 1e-5)
    f2 <- adv_lasso(medv ~ . - wt, data = transform(B, wt = w), eps = eps, norm = norm,
                    weights = wt, nlambda = 10)
    expect_equal(unname(f2$beta), unname(fit$beta), tolerance = 1e-10)
  }
})

test_that("dev.ratio and cross-validation use the weights (whole and fractional)", {
  D <- lw_data(n = 60, seed = 7)
  set.seed(71)
  for (w in list(D$w, D$w * runif(60, 0.5, 2))) {
    fit <- adv_lasso(D$x, D$y, eps = 0.1, weights = w, nlambda = 10)
    k <- 5
    r <- D$y - fit$a0[k] - drop(D$x %*% fit$beta[, k])
    loss <- sum(w * (abs(r) + 0.1 * sqrt(sum(fit$beta[, k]^2)))^2) / sum(w)
    null <- sum(w * (D$y - sum(w * D$y) / sum(w))^2) / sum(w)
    expect_equal(fit$dev.ratio[k], 1 - loss / null, tolerance = 1e-12)

    foldid <- rep(1:4, length.out = 60)
    cv <- cv_adv_lasso(D$x, D$y, eps = 0.1, weights = w, nlambda = 10, foldid = foldid)
    expect_equal(cv$fit$beta, fit$beta, tolerance = 1e-12)
    # every fold by hand: the weighted attacked (and clean) loss at lambda 5
    fq <- lapply(1:4, function(q) {
      tr <- foldid != q
      adv_lasso(D$x[tr, ], D$y[tr], eps = 0.1, weights = w[tr], lambda = fit$lambda)
    })
    held <- function(q, e) {
      te <- foldid == q
      rq <- D$y[te] - fq[[q]]$a0[k] - drop(D$x[te, ] %*% fq[[q]]$beta[, k])
      sum(w[te] * (abs(rq) + e * sqrt(sum(fq[[q]]$beta[, k]^2)))^2) / sum(w[te])
    }
    fw <- vapply(1:4, function(q) sum(w[foldid == q]), 0)
    raw <- vapply(1:4, held, 0, e = 0.1)
    expect_equal(cv$cvm[k], sum(raw * fw) / sum(fw), tolerance = 1e-10)
    expect_equal(cv$cvsd[k], sqrt(sum((raw - cv$cvm[k])^2 * fw) / sum(fw) / 3), tolerance = 1e-10)
    cvs <- cv_adv_lasso(D$x, D$y, eps = 0.1, weights = w, nlambda = 10, foldid = foldid,
                        measure = "standard")
    raws <- vapply(1:4, held, 0, e = 0)
    expect_equal(cvs$cvm[k], sum(raws * fw) / sum(fw), tolerance = 1e-10)
  }
})

test_that("formula methods pass weights (MASS::Boston), equal to the matrix method", {
  skip_if_not_installed("MASS")
  B <- MASS::Boston[1:200, ]
  set.seed(8)
  B$w <- sample(1:4, 200, TRUE)
  f1 <- adv_lasso(medv ~ rm + lstat + crim + chas, data = B, eps = 0.1, weights = w,
                  nlambda = 10)
  x <- as.matrix(B[, c("rm", "lstat", "crim", "chas")])
  f2 <- adv_lasso(x, B$medv, eps = 0.1, weights = B$w, nlambda = 10)
  expect_equal(unname(f1$beta), unname(f2$beta), tolerance = 1e-12)
  expect_identical(nobs(f1), 200L)
  B$w[1:20] <- 0
  f3 <- adv_lasso(medv ~ rm + lstat + crim + chas, data = B, eps = 0, weights = w / 3,
                  nlambda = 10)
  expect_identical(nobs(f3), 180L)
  cv <- cv_adv_lasso(medv ~ rm + lstat + crim + chas, data = B, eps = 0.1, xi = 0.2,
                     weights = w, nlambda = 8, foldid = rep(1:4, 50))
  expect_identical(nobs(cv), 180L)
  p <- predict(readRDS({ f <- tempfile(); saveRDS(f1, f); f }), newdata = B[1:3, ], s = f1$lambda[5])
  expect_equal(unname(drop(p)), unname(drop(f2$a0[5] + x[1:3, ] %*% f2$beta[, 5])), tolerance = 1e-12)
})

test_that("bad lasso weights give clear errors", {
  D <- lw_data(n = 10, d = 3)
  expect_snapshot(error = TRUE, adv_lasso(D$x, D$y, eps = 0.1, weights = 1:3))
  expect_snapshot(error = TRUE, adv_lasso(D$x, D$y, eps = 0.1, weights = c(-1, rep(1, 9))))
  expect_snapshot(error = TRUE, cv_adv_lasso(D$x, D$y, eps = 0, weights = c(0, 0, 1, 0, 0, 1, 0, 0, 1, 1),
                                             foldid = c(rep(1:3, 3), 3)))
  B <- data.frame(y = D$y, a = D$x[, 1], w = -1)
  expect_snapshot(error = TRUE, adv_lasso(y ~ a, data = B, eps = 0.1, weights = w))
})
