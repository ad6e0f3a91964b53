# adv_lasso(family = "binomial") and cv_adv_lasso(family = "binomial") (issue 21)

pima <- rbind(MASS::Pima.tr, MASS::Pima.te)
px <- as.matrix(pima[, 1:7])
py <- pima$type
pyy <- ifelse(py == "Yes", 1, -1)

# the objective at column k of a fit, with glmnet's standardisation (divisor n)
fit_obj <- function(fit, x, yy, k, om = NULL) {
  if (is.null(om)) om <- rep(1 / nrow(x), nrow(x))
  om <- om / sum(om)
  xm <- colSums(om * x)
  sdv <- sqrt(colSums(om * sweep(x, 2, xm)^2))
  pw <- fit$penalty_factor * if (fit$standardize) sdv else 1
  logit_lasso_obj(x, yy, fit$beta[, k], fit$a0[[k]], fit$eps, fit$norm, fit$lambda[k], pw, om)
}

test_that("eps = 0 equals glmnet(family = 'binomial') on its grid to 1e-6", {
  skip_if_not_installed("glmnet")
  for (std in c(TRUE, FALSE)) {
    fit <- adv_lasso(px, py, eps = 0, family = "binomial", nlambda = 40, standardize = std)
    g <- glmnet::glmnet(px, py, family = "binomial", lambda = fit$lambda, standardize = std,
                        thresh = 1e-14, maxit = 1e6)
    k <- seq_len(min(length(g$lambda), length(fit$lambda)))
    expect_gt(length(k), 30)
    expect_lt(max(abs(as.matrix(coef(g))[, k] - coef(fit)[, k])), 1e-6)
    expect_lt(max(abs(g$dev.ratio[k] - fit$dev.ratio[k])), 1e-8)
    expect_equal(fit$nulldev, g$nulldev, tolerance = 1e-12)
    expect_lte(max(fit$kkt), 1e-10)
    # glmnet's own first lambda is lambda_max
    g0 <- glmnet::glmnet(px, py, family = "binomial", standardize = std)
    expect_equal(fit$lambda_max, g0$lambda[1], tolerance = 1e-10)
  }
  # without intercept (uncentred columns)
  xu <- scale(px, scale = FALSE) + 1
  fit <- adv_lasso(xu, py, eps = 0, family = "binomial", intercept = FALSE, nlambda = 20)
  g <- glmnet::glmnet(xu, py, family = "binomial", intercept = FALSE, lambda = fit$lambda,
                      thresh = 1e-14, maxit = 1e6)
  k <- seq_len(min(length(g$lambda), length(fit$lambda)))
  expect_lt(max(abs(as.matrix(coef(g))[, k] - coef(fit)[, k])), 1e-6)
  expect_equal(fit$lambda_max,
               glmnet::glmnet(xu, py, family = "binomial", intercept = FALSE)$lambda[1],
               tolerance = 1e-10)
  # weights and penalty factors
  set.seed(4)
  w <- rexp(nrow(px))
  pf <- c(1, 2, 0.5, 1, 1, 3, 1)
  fit <- adv_lasso(px, py, eps = 0, family = "binomial", nlambda = 25, weights = w,
                   penalty_factor = pf)
  g <- glmnet::glmnet(px, py, family = "binomial", lambda = fit$lambda, weights = w,
                      penalty.factor = pf, thresh = 1e-14, maxit = 1e6)
  expect_lt(max(abs(as.matrix(coef(g)) - coef(fit))), 1e-6)
  expect_equal(fit$lambda_max,
               glmnet::glmnet(px, py, family = "binomial", weights = w, penalty.factor = pf)$lambda[1],
               tolerance = 1e-10)
})

test_that("eps > 0 agrees with an exponential-cone solution (ECOSolveR) to 1e-8", {
  skip_if_not_installed("ECOSolveR")
  set.seed(11)
  n <- 70
  d <- 6
  x <- matrix(rnorm(n * d), n) %*% diag(c(1, 3, 0.5, 1, 2, 1))
  yy <- ifelse(drop(x %*% c(1, -0.5, 0, 0, 0.3, 0)) + rnorm(n) > 0, 1, -1)
  for (nm in c("l2", "linf")) {
    for (eps in c(0.1, 0.4)) {
      for (icpt in c(TRUE, FALSE)) {
        fit <- adv_lasso(x, yy > 0, eps = eps, norm = nm, family = "binomial",
                         nlambda = 12, intercept = icpt)
        expect_lte(max(fit$kkt), 1e-10)
        for (k in c(3, 7, 12)) {
          om <- rep(1 / n, n)
          xm <- if (icpt) colMeans(x) else rep(0, d)
          sdv <- sqrt(colMeans(sweep(x, 2, colMeans(x))^2))
          e <- ecos_logit_lasso(x, yy, eps, nm, fit$lambda[k], sdv, intercept = icpt)
          ours <- fit_obj(fit, x, yy, k)
          ref <- logit_lasso_obj(x, yy, e$theta, e$b, eps, nm, fit$lambda[k], sdv)
          expect_lt(abs(ours - ref) / ref, 1e-8)
          expect_lte(ours, ref * (1 + 1e-12))
        }
      }
    }
  }
})

test_that("the solution is optimal along every coordinate (finite differences)", {
  for (nm in c("l2", "linf")) {
    fit <- adv_lasso(scale(px), py, eps = 0.2, norm = nm, family = "binomial", nlambda = 15)
    xs <- scale(px)
    for (k in c(5, 10, 15)) {
      f0 <- fit_obj(fit, xs, pyy, k)
      h <- 1e-5
      for (j in seq_len(ncol(px))) {
        for (s in c(-1, 1)) {
          f2 <- fit
          f2$beta[j, k] <- f2$beta[j, k] + s * h
          expect_gt(fit_obj(f2, xs, pyy, k) - f0, -1e-12)
        }
      }
      f2 <- fit
      for (s in c(-1, 1)) {
        f2$a0[k] <- fit$a0[k] + s * h
        expect_gt(fit_obj(f2, xs, pyy, k) - f0, -1e-12)
      }
    }
  }
})

test_that("theta = 0 exactly from lambda_max on, and not below it", {
  xs <- scale(px)
  for (nm in c("l2", "linf")) {
    fit <- adv_lasso(xs, py, eps = 0.1, norm = nm, family = "binomial", nlambda = 5)
    lmax <- fit$lambda_max
    a <- adv_lasso(xs, py, eps = 0.1, norm = nm, family = "binomial",
                   lambda = c(lmax * (1 + 1e-7), lmax * (1 - 1e-3)))
    expect_true(all(a$beta[, 1] == 0))
    expect_gt(sum(a$beta[, 2] != 0), 0)
    # the eps = 0 threshold is larger: the attack shrinks lambda_max by eps * sbar
    # (L-infinity) or more (L2)
    f0 <- adv_lasso(xs, py, eps = 0, family = "binomial", nlambda = 2)
    expect_lt(lmax, f0$lambda_max)
  }
})

test_that("whole-number weights equal replicated rows, zero weights dropped rows", {
  set.seed(5)
  x <- scale(px[1:120, ])
  y <- py[1:120]
  k <- sample(0:3, 120, replace = TRUE)
  for (nm in c("l2", "linf")) {
    fw <- adv_lasso(x, y, eps = 0.1, norm = nm, family = "binomial", nlambda = 8,
                    weights = k, standardize = FALSE)
    idx <- rep(seq_len(120), k)
    fr <- adv_lasso(x[idx, ], y[idx], eps = 0.1, norm = nm, family = "binomial",
                    lambda = fw$lambda, standardize = FALSE)
    expect_equal(unname(coef(fw)), unname(coef(fr)), tolerance = 1e-8)
    expect_equal(nobs(fw), sum(k > 0))
  }
})

test_that("the fit does not depend on the thread count", {
  set.seed(9)
  x <- matrix(rnorm(300 * 400), 300)
  y <- rbinom(300, 1, plogis(x[, 1] - x[, 2]))
  for (nm in c("l2", "linf")) {
    a <- adv_lasso(x, y, eps = 0.05, norm = nm, family = "binomial", nlambda = 20, threads = 1)
    b <- adv_lasso(x, y, eps = 0.05, norm = nm, family = "binomial", nlambda = 20, threads = 2)
    expect_identical(a$beta, b$beta)
    expect_identical(a$a0, b$a0)
  }
})

test_that("separable data: the path stops at 99.9% deviance, with finite coefficients", {
  set.seed(2)
  x <- matrix(rnorm(60 * 3), 60)
  y <- x[, 1] + x[, 2] > 0
  fit <- adv_lasso(x, y, eps = 0, family = "binomial", nlambda = 100)
  expect_lt(length(fit$lambda), 100)
  expect_gt(max(fit$dev.ratio), 0.999)
  expect_true(all(is.finite(fit$beta)))
  expect_equal(ncol(fit$beta), length(fit$lambda))
})

test_that("predictions: link, response, class and the worst case", {
  fit <- adv_lasso(px, py, eps = 0.05, norm = "linf", family = "binomial", nlambda = 20)
  s <- fit$lambda[12]
  cf <- coef(fit, s = s)
  link <- drop(px %*% cf[-1]) + cf[1]
  expect_equal(drop(predict(fit, px, s = s)), unname(link), tolerance = 1e-12)
  expect_equal(drop(predict(fit, px, s = s, type = "response")), plogis(unname(link)))
  cl <- predict(fit, px, s = s, type = "class")
  expect_s3_class(cl, "factor")
  expect_identical(as.character(cl), ifelse(link > 0, "Yes", "No"))
  # worst case with labels: the link moves against the class by eps ||theta||_1
  nrm <- sum(abs(cf[-1]))
  adv <- drop(predict(fit, px, s = s, eps = 0.05, y = py))
  expect_equal(adv, unname(link - pyy * 0.05 * nrm), tolerance = 1e-12)
  # the attacked loss is the loss at the worst-case links
  k <- 12
  fk <- adv_lasso(px, py, eps = 0.05, norm = "linf", family = "binomial", lambda = fit$lambda[1:k])
  la <- drop(predict(fk, px, s = fit$lambda[k], eps = 0.05, y = py))
  expect_equal(mean(log1p(exp(-pyy * la))), (1 - fk$dev.ratio[k]) * fk$nulldev / 2 / nrow(px),
               tolerance = 1e-10)
  # without labels: toward the boundary; a class that flips is not robust
  ub <- drop(predict(fit, px, s = s, eps = 0.05))
  expect_equal(ub, unname(link - sign(link) * 0.05 * nrm), tolerance = 1e-12)
  expect_equal(unname(predict(fit, s = s, type = "nonzero")), unname(which(cf[-1] != 0)))
})

test_that("cv_adv_lasso(family = 'binomial') equals cv.glmnet at eps = 0", {
  skip_if_not_installed("glmnet")
  set.seed(1)
  fid <- sample(rep(1:10, length.out = nrow(px)))
  for (tm in c("deviance", "class", "auc")) {
    cv <- cv_adv_lasso(px, py, eps = 0, family = "binomial", foldid = fid,
                       type.measure = tm, nlambda = 30)
    g <- glmnet::cv.glmnet(px, py, family = "binomial", foldid = fid, type.measure = tm,
                           lambda = cv$lambda, thresh = 1e-14, maxit = 1e6)
    expect_lt(max(abs(cv$cvm - g$cvm)), 1e-6)
    expect_lt(max(abs(cv$cvsd - g$cvsd)), 1e-6)
    expect_equal(cv$lambda_min, g$lambda.min)
    expect_equal(cv$lambda_1se, g$lambda.1se)
    expect_identical(cv$type.measure, tm)
  }
})

test_that("the attacked CV measures are those of the held-out worst cases", {
  xs <- scale(px)
  set.seed(3)
  fid <- sample(rep(1:5, length.out = nrow(xs)))
  for (tm in c("deviance", "class", "auc")) {
    cv <- cv_adv_lasso(xs, py, eps = 0.1, norm = "l2", family = "binomial", foldid = fid,
                       type.measure = tm, nlambda = 8)
    # every fold by hand: its attacked held-out links and their measure
    loss_k <- vapply(1:5, function(k) {
      tr <- fid != k
      f <- suppressWarnings(adv_lasso(xs[tr, ], py[tr], eps = 0.1, family = "binomial",
                                      lambda = cv$lambda))
      la <- predict(f, xs[!tr, ], eps = 0.1, y = py[!tr])
      yy <- pyy[!tr]
      switch(tm,
             deviance = 2 * colMeans(log1p(exp(-yy * la))),
             class = colMeans((la > 0) != (yy > 0)),
             auc = apply(la, 2, function(s) {
               p <- s[yy > 0]
               q <- s[yy < 0]
               mean(outer(p, q, ">") + 0.5 * outer(p, q, "=="))
             }))
    }, numeric(8))
    nk <- tabulate(fid)
    expect_equal(cv$cvm, drop(loss_k %*% nk) / sum(nk), tolerance = 1e-10)
    # the clean measure is not larger for the deviance and misclassification
    cs <- cv_adv_lasso(xs, py, eps = 0.1, norm = "l2", family = "binomial", foldid = fid,
                       type.measure = tm, nlambda = 8, measure = "standard")
    if (tm != "auc") expect_true(all(cs$cvm <= cv$cvm + 1e-12))
  }
})

test_that("formula interface, saveRDS and the lasso methods", {
  f1 <- adv_lasso(type ~ ., data = MASS::Pima.tr, eps = 0.05, family = "binomial", nlambda = 10)
  x <- as.matrix(MASS::Pima.tr[, 1:7])
  f2 <- adv_lasso(x, MASS::Pima.tr$type, eps = 0.05, family = "binomial", nlambda = 10)
  expect_equal(unname(coef(f1)), unname(coef(f2)), tolerance = 1e-12)
  p1 <- predict(f1, newdata = MASS::Pima.te, s = f1$lambda[5], type = "class")
  p2 <- predict(f2, as.matrix(MASS::Pima.te[, 1:7]), s = f1$lambda[5], type = "class")
  expect_identical(p1, p2)
  tmp <- tempfile(fileext = ".rds")
  saveRDS(f2, tmp)
  f3 <- readRDS(tmp)
  expect_identical(predict(f3, x, type = "response"), predict(f2, x, type = "response"))
  expect_output(print(f2), "Adversarial logistic LASSO path")
  expect_output(print(summary(f2)), "Adversarial logistic LASSO path")
  expect_s3_class(summary(f2), "summary.adv_lasso")
  expect_equal(nrow(generics::tidy(f2)), sum(coef(f2) != 0))
  cv <- cv_adv_lasso(type ~ ., data = MASS::Pima.tr, eps = 0.05, family = "binomial",
                     nlambda = 10, nfolds = 4, type.measure = "auc")
  expect_true(all(cv$cvm > 0.5 & cv$cvm <= 1))
  expect_identical(levels(predict(cv, newdata = MASS::Pima.te, type = "class")), c("No", "Yes"))
})

test_that("the iteration limit is reported in words", {
  expect_warning(adv_lasso(px, py, eps = 0.1, family = "binomial", nlambda = 5, maxit = 1),
                 "iteration limit")
})

test_that("bad binomial input gives clear errors", {
  y3 <- factor(rep(c("a", "b", "c"), length.out = nrow(px)))
  expect_snapshot(error = TRUE, {
    adv_lasso(px, y3, eps = 0, family = "binomial")
    adv_lasso(px, py[-1], eps = 0, family = "binomial")
    adv_lasso(px, rep(1, nrow(px)), eps = 0, family = "binomial")
    adv_lasso(px, c(1, rep(0, nrow(px) - 1)), eps = 0, family = "binomial")
    adv_lasso(px, py, eps = 0.1, xi = 0.5, family = "binomial")
    adv_lasso(px, py, eps = "pivotal", family = "binomial")
    adv_lasso(px, py, eps = 0, family = "poisson")
    cv_adv_lasso(px, py, eps = 0, family = "binomial", type.measure = "mse")
  })
  # a fold that holds one observation of a class
  y <- c(rep(0, 40), 1, 1, 1)
  x <- matrix(rnorm(43 * 2), 43)
  fid <- c(rep(1:3, length.out = 40), 1, 2, 3)
  expect_snapshot(cv <- cv_adv_lasso(x, y, eps = 0, family = "binomial", foldid = fid,
                                     nlambda = 5))
  fid2 <- c(rep(1:3, length.out = 40), 1, 1, 2)
  expect_snapshot(error = TRUE, cv_adv_lasso(x, y, eps = 0, family = "binomial",
                                             foldid = fid2, nlambda = 5))
})

test_that("augment() gives probabilities, classes and the worst-case loss", {
  x <- as.matrix(MASS::Pima.tr[, 1:7])
  y <- MASS::Pima.tr$type
  f <- adv_lasso(x, y, eps = 0.05, family = "binomial", nlambda = 10)
  s <- f$lambda[6]
  a <- generics::augment(f, s = s, newx = x, y = y)
  expect_equal(a$.fitted, unname(drop(predict(f, x, s = s, type = "response"))))
  expect_identical(a$.class, unname(predict(f, x, s = s, type = "class")))
  yy <- ifelse(y == "Yes", 1, -1)
  expect_equal(a$.loss_adv, log1p(exp(-yy * unname(drop(predict(f, x, s = s, eps = 0.05, y = y))))),
               tolerance = 1e-12)
  f1 <- adv_lasso(type ~ ., data = MASS::Pima.tr, eps = 0.05, family = "binomial", nlambda = 10)
  a1 <- generics::augment(f1, s = s)
  expect_equal(a1$.fitted, a$.fitted, tolerance = 1e-10)
})

test_that("MASS::biopsy: glmnet's path, and missing rows through na.exclude", {
  skip_if_not_installed("glmnet")
  b <- MASS::biopsy[, -1]
  cc <- stats::complete.cases(b)
  x <- as.matrix(b[cc, 1:9])
  g <- glmnet::glmnet(x, b$class[cc], family = "binomial", thresh = 1e-14, maxit = 1e6)
  f0 <- adv_lasso(class ~ ., data = b, eps = 0, family = "binomial", lambda = g$lambda)
  k <- seq_len(min(length(g$lambda), length(f0$lambda)))
  expect_gt(length(k), 50)
  expect_lt(max(abs(as.matrix(coef(g))[, k] - coef(f0)[, k])), 1e-6)
  f <- adv_lasso(class ~ ., data = b, eps = 0.5, norm = "linf", family = "binomial",
                 nlambda = 10, na.action = na.exclude)
  expect_equal(nobs(f), sum(cc))
  p <- predict(f, s = f$lambda[5], type = "class")
  expect_length(p, nrow(b))
  expect_true(all(is.na(p[!cc])))
  expect_lte(max(f$kkt), 1e-10)
})

test_that("certified radii of a path: attacked accuracy = share of radii above eps", {
  xs <- scale(px)
  f <- adv_lasso(xs, py, eps = 0.1, family = "binomial", nlambda = 10)
  for (k in c(4, 8)) {
    s <- f$lambda[k]
    r <- adv_certified_radius(f, xs, py, s = s)
    cl <- predict(f, xs, s = s, type = "class", eps = 0.1, y = py)
    expect_equal(mean(cl == py), mean(r > 0.1))
    th <- coef(f, s = s)[-1, 1]
    expect_equal(r, unname(pyy * drop(predict(f, xs, s = s)) / sqrt(sum(th^2))))
  }
  expect_snapshot(error = TRUE, adv_certified_radius(f, xs, py))
})

test_that("adv_lm(family = 'binomial', method = 'exact') agrees with ECOSolveR to 1e-8", {
  skip_if_not_installed("ECOSolveR")
  set.seed(13)
  n <- 80
  d <- 5
  x <- matrix(rnorm(n * d), n)
  yy <- ifelse(drop(x %*% c(1, -1, 0.5, 0, 0)) + rnorm(n) > 0, 1, -1)
  for (nm in c("l2", "linf")) {
    for (eps in c(0.05, 0.2)) {
      f <- adv_lm(x, yy > 0, eps = eps, norm = nm, family = "binomial", method = "exact",
                  intercept = TRUE)
      e <- ecos_logit_lasso(x, yy, eps, nm, 0, rep(0, d))
      ours <- logit_lasso_obj(x, yy, f$theta, f$intercept, eps, nm, 0, rep(0, d))
      ref <- logit_lasso_obj(x, yy, e$theta, e$b, eps, nm, 0, rep(0, d))
      expect_lt(abs(ours - ref) / ref, 1e-8)
      expect_lte(ours, ref * (1 + 1e-12))
    }
  }
})
