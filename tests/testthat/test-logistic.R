# Adversarial logistic regression: adv_lm(family = "binomial") (issue 21).

# An independent implementation of the attacked logistic loss (labels -1 / +1).
ref_obj <- function(theta, b, x, y, eps, norm) {
  nrm <- if (norm == "l2") sqrt(sum(theta^2)) else sum(abs(theta))
  u <- -y * (drop(x %*% theta) + b) + eps * nrm
  mean(ifelse(u > 0, u + log1p(exp(-u)), log1p(exp(u))))
}

pm1 <- function(y) ifelse(y == levels(y)[2], 1, -1)

pima_x <- function() scale(as.matrix(MASS::Pima.tr[, 1:7]))

test_that("eps = 0 gives glm()'s coefficients on Pima.tr, for both norms", {
  x <- pima_x()
  y <- MASS::Pima.tr$type
  g <- stats::glm(y ~ x, family = stats::binomial(),
                  control = stats::glm.control(epsilon = 1e-14, maxit = 100))
  for (nm in c("l2", "linf")) {
    fit <- adv_lm(x, y, eps = 0, norm = nm, family = "binomial", method = "exact",
                  intercept = TRUE)
    expect_lt(max(abs(unname(coef(fit)) - unname(coef(g)))), 1e-8)
    expect_lte(fit$kkt, 1e-10)
    expect_equal(fit$stopped, "converged")
  }
})

test_that("the gradient used by the solver matches finite differences", {
  set.seed(3)
  x <- matrix(rnorm(60), 20, 3)
  y <- ifelse(runif(20) < 0.5, 1, -1)
  for (nm in c("l2", "linf")) {
    a <- list(x = x, y = y, eps = 0.3, norm = nm, intercept = TRUE)
    beta <- c(0.4, -0.7, 0.2, 0.1)
    st <- advtrain:::logistic_state(beta, a)
    nrm_grad <- if (nm == "l2") beta[1:3] / sqrt(sum(beta[1:3]^2)) else sign(beta[1:3])
    g <- c(st$gc + a$eps * st$sbar * nrm_grad, st$gb)
    fd <- num_grad(function(bb) ref_obj(bb[1:3], bb[4], x, y, 0.3, nm), beta)
    expect_equal(g, fd, tolerance = 1e-7)
    expect_equal(st$obj, ref_obj(beta[1:3], beta[4], x, y, 0.3, nm), tolerance = 1e-14)
  }
})

test_that("the exact solver beats or equals an independent optimiser to 1e-8 relative", {
  set.seed(7)
  for (rep in 1:3) {
    n <- 60
    d <- 4
    x <- matrix(rnorm(n * d), n, d)
    y <- ifelse(drop(x %*% c(1, -1, 0.5, 0)) + rnorm(n) > 0, 1, -1)
    for (nm in c("l2", "linf")) {
      for (eps in c(0.05, 0.3)) {
        fit <- adv_lm(x, y > 0, eps = eps, norm = nm, family = "binomial",
                      method = "exact", intercept = TRUE)
        ours <- ref_obj(fit$theta, fit$intercept, x, y, eps, nm)
        if (nm == "l2") {
          # smooth away from theta = 0: BFGS from the glm start
          o <- stats::optim(c(rep(0.1, d), 0), function(v) ref_obj(v[1:d], v[d + 1], x, y, eps, nm),
                            method = "BFGS", control = list(reltol = 1e-16, maxit = 5000))
          best <- o$value
        } else {
          # theta = p - m, p, m >= 0, with ||theta||_1 replaced by sum(p + m): smooth
          f <- function(v) {
            p <- v[1:d]
            m <- v[d + 1:d]
            u <- -y * (drop(x %*% (p - m)) + v[2 * d + 1]) + eps * sum(p + m)
            mean(ifelse(u > 0, u + log1p(exp(-u)), log1p(exp(u))))
          }
          o <- stats::optim(c(rep(0.1, 2 * d), 0), f, method = "L-BFGS-B",
                            lower = c(rep(0, 2 * d), -Inf),
                            control = list(factr = 1, pgtol = 0, maxit = 5000))
          best <- o$value
        }
        expect_lte(ours, best * (1 + 1e-12))
        expect_lt(abs(ours - best) / best, 1e-8)
        expect_lte(fit$kkt, 1e-10)
        expect_equal(fit$objective, ours, tolerance = 1e-13)
      }
    }
  }
})

test_that("theta = 0 exactly at and beyond the closed-form threshold", {
  x <- pima_x()
  y <- MASS::Pima.tr$type
  dm <- colMeans(x[y == "Yes", ]) - colMeans(x[y == "No", ])
  for (nm in c("l2", "linf")) {
    thr <- if (nm == "l2") sqrt(sum(dm^2)) / 2 else max(abs(dm)) / 2
    above <- adv_lm(x, y, eps = thr * 1.001, norm = nm, family = "binomial",
                    method = "exact", intercept = TRUE)
    expect_true(all(above$theta == 0))
    expect_equal(above$intercept, log(mean(y == "Yes") / mean(y == "No")))
    below <- adv_lm(x, y, eps = thr * 0.99, norm = nm, family = "binomial",
                    method = "exact", intercept = TRUE)
    expect_gt(sum(abs(below$theta)), 0)
    expect_lte(below$kkt, 1e-10)
    expect_lt(below$objective, above$objective)
  }
})

test_that("L-infinity attacks give sparse coefficients", {
  x <- pima_x()
  y <- MASS::Pima.tr$type
  fit <- adv_lm(x, y, eps = 0.1, norm = "linf", family = "binomial", method = "exact",
                intercept = TRUE)
  expect_gt(sum(fit$theta == 0), 0)
  expect_lte(fit$kkt, 1e-10)
})

test_that("factor, 0/1 and logical labels give the same fit", {
  x <- pima_x()
  y <- MASS::Pima.tr$type
  f1 <- adv_lm(x, y, eps = 0.1, family = "binomial", method = "exact", intercept = TRUE)
  f2 <- adv_lm(x, as.numeric(y == "Yes"), eps = 0.1, family = "binomial",
               method = "exact", intercept = TRUE)
  f3 <- adv_lm(x, y == "Yes", eps = 0.1, family = "binomial", method = "exact",
               intercept = TRUE)
  expect_equal(coef(f1), coef(f2), tolerance = 1e-14)
  expect_equal(coef(f1), coef(f3), tolerance = 1e-14)
  expect_s3_class(predict(f1, x[1:3, ], type = "class"), "factor")
  expect_type(predict(f3, x[1:3, ], type = "class"), "logical")
  expect_equal(predict(f2, x[1:3, ], type = "class"),
               as.numeric(predict(f1, x[1:3, ], type = "class") == "Yes"))
})

test_that("separable data: no finite minimiser is reported in words", {
  set.seed(1)
  x <- matrix(rnorm(40), 20)
  y <- x[, 1] > 0
  expect_error(adv_lm(x, y, eps = 0, family = "binomial", method = "exact",
                      intercept = TRUE), class = "advtrain_error_separable")
  # the margin of this data set in the L2 norm is positive, so small eps too
  x2 <- rbind(cbind(rnorm(10) + 3, rnorm(10)), cbind(rnorm(10) - 3, rnorm(10)))
  y2 <- rep(c(TRUE, FALSE), each = 10)
  expect_snapshot(error = TRUE, {
    adv_lm(x2, y2, eps = 0.1, family = "binomial", method = "exact")
  })
  # a large eps makes it non-separable: a finite, certified minimiser
  fit <- adv_lm(x2, y2, eps = 4, family = "binomial", method = "exact")
  expect_lte(fit$kkt, 1e-10)
})

test_that("bad labels give clear errors", {
  x <- matrix(rnorm(12), 6)
  expect_snapshot(error = TRUE, {
    adv_lm(x, factor(c("a", "b", "c", "a", "b", "c")), eps = 0.1, family = "binomial")
    adv_lm(x, rep(1, 6), eps = 0.1, family = "binomial")
    adv_lm(x, c(0, 1, 0, 1), eps = 0.1, family = "binomial")
    adv_lm(x, c(0, 1, 2, 1, 0, 1), eps = 0.1, family = "binomial")
    adv_lm(x, rep(c(TRUE, FALSE), 3), eps = 0.1, family = "poisson")
  })
})

test_that("worst-case predictions are the loss-maximising attack", {
  x <- pima_x()
  y <- MASS::Pima.tr$type
  yy <- pm1(y)
  set.seed(4)
  for (nm in c("l2", "linf")) {
    fit <- adv_lm(x, y, eps = 0.2, norm = nm, family = "binomial", method = "exact",
                  intercept = TRUE)
    th <- fit$theta
    link <- predict(fit, x, eps = 0.2, y = y)
    # the explicit attack attains it
    delta <- if (nm == "l2") -0.2 * outer(yy, th / sqrt(sum(th^2))) else -0.2 * outer(yy, sign(th))
    expect_equal(link, drop((x + delta) %*% th) + fit$intercept, tolerance = 1e-12)
    # random attacks in the ball never do worse (for the loss)
    for (k in 1:20) {
      r <- matrix(rnorm(length(x)), nrow(x))
      r <- if (nm == "l2") 0.2 * r / sqrt(rowSums(r^2)) else 0.2 * sign(r)
      lr <- drop((x + r) %*% th) + fit$intercept
      expect_true(all(yy * lr >= yy * link - 1e-12))
    }
    # the training objective is the mean attacked loss
    expect_equal(mean(log1p(exp(-yy * link))), fit$objective, tolerance = 1e-12)
    expect_equal(predict(fit, x, type = "response"), stats::plogis(predict(fit, x)))
    # attacked accuracy = share of observations whose certified radius exceeds eps
    acc <- mean(predict(fit, x, type = "class", eps = 0.2, y = y) == y)
    expect_equal(acc, mean(adv_certified_radius(fit, x, y) > 0.2))
    # unlabelled: the class changes exactly where the radius is below eps
    changed <- predict(fit, x, type = "class", eps = 0.2) != predict(fit, x, type = "class")
    expect_equal(changed, adv_certified_radius(fit, x) < 0.2, ignore_attr = TRUE)
  }
})

test_that("gradient descent (Algorithm 1) reaches the exact minimiser for L2 attacks", {
  x <- pima_x()
  y <- MASS::Pima.tr$type
  ex <- adv_lm(x, y, eps = 0.1, family = "binomial", method = "exact", intercept = TRUE)
  gd <- adv_lm(x, y, eps = 0.1, family = "binomial", method = "gd", intercept = TRUE,
               iters = 3000)
  expect_equal(coef(gd), coef(ex), tolerance = 1e-6)
  tr <- gd$trace
  expect_equal(nrow(tr), 3001)
  expect_equal(tr$loss_adv[nrow(tr)], ex$objective, tolerance = 1e-10)
  expect_true(all(diff(tr$loss_adv) <= 1e-12)) # a stable step decreases the loss
  expect_true(all(tr$misclass_adv >= tr$misclass_std))
  expect_true(all(tr$loss_adv >= tr$loss_std))
  # with eps = 0 the three losses agree
  g0 <- suppressWarnings(adv_lm(x, y, eps = 0, family = "binomial", iters = 50,
                                intercept = TRUE))
  expect_equal(g0$trace$loss_surrogate, g0$trace$loss_std)
  expect_equal(g0$trace$loss_adv, g0$trace$loss_std)
})

test_that("the surrogate attack follows MATH.md's definition", {
  set.seed(2)
  x <- matrix(rnorm(40), 10, 4)
  y <- rep(c(TRUE, FALSE), 5)
  yy <- ifelse(y, 1, -1)
  th <- c(0.5, -1, 0.25, 0)
  b <- 0.3
  for (nm in c("l2", "linf")) {
    fit <- suppressWarnings(adv_lm(x, y, eps = 0.4, norm = nm, xi = 0.2, iters = 1,
                                   init = c(th, b), intercept = TRUE,
                                   family = "binomial", eta = 1e-3))
    f <- drop(x %*% th) + b
    g <- -yy * stats::plogis(-yy * f) * matrix(th, 10, 4, byrow = TRUE) # input gradient
    A <- if (nm == "l2") 0.4 * g / sqrt(rowSums(g^2) + 0.2^2) else
      ifelse(g == 0, 0, 0.4 * g / (abs(g) + 0.2))
    ft <- drop((x + A) %*% th) + b
    expect_equal(fit$trace$loss_surrogate[1], mean(log1p(exp(-yy * ft))), tolerance = 1e-13)
    # the step: the logistic loss's gradient at the attacked inputs, attack held fixed
    w <- -yy * stats::plogis(-yy * ft)
    grad <- c(colMeans((x + A) * w), mean(w))
    expect_equal(c(fit$theta, fit$intercept), c(th, b) - 1e-3 * grad,
                 tolerance = 1e-13, ignore_attr = TRUE)
  }
})

test_that("gradient descent warns when it has not converged", {
  x <- pima_x()
  y <- MASS::Pima.tr$type
  expect_snapshot(
    invisible(adv_lm(x, y, eps = 0.1, family = "binomial", iters = 5, intercept = TRUE))
  )
})

test_that("fits survive saveRDS / readRDS and the formula interface works", {
  fit <- adv_lm(type ~ ., MASS::Pima.tr, eps = 0.1, family = "binomial",
                method = "exact")
  expect_true(fit$has_intercept)
  f <- tempfile(fileext = ".rds")
  saveRDS(fit, f)
  back <- readRDS(f)
  expect_equal(predict(back, newdata = MASS::Pima.te, type = "class"),
               predict(fit, newdata = MASS::Pima.te, type = "class"))
  x <- as.matrix(MASS::Pima.tr[, 1:7])
  fm <- adv_lm(x, MASS::Pima.tr$type, eps = 0.1, family = "binomial", method = "exact",
               intercept = TRUE)
  expect_equal(unname(coef(fit)), unname(coef(fm)), tolerance = 1e-10)
  expect_equal(predict(fit, newdata = MASS::Pima.te),
               predict(fm, as.matrix(MASS::Pima.te[, 1:7])), tolerance = 1e-10,
               ignore_attr = TRUE)
})
