# tidy(), glance(), augment() (generics) and summary() of the fits (issue 19): every
# column checked against coef(), fitted() and independent computations.

# mtcars' unscaled columns make the LASSO solvers warn about KKT residuals slightly
# above 1e-10 (issue 24's subject); the values tested here do not depend on it.
quiet <- function(expr) suppressWarnings(expr)

test_that("adv_lm tidiers agree with coef, fitted and the attacked loss", {
  skip_if_not_installed("generics")
  fit <- adv_lm(mpg ~ wt + hp + factor(cyl), data = mtcars, eps = 0.2, method = "exact")
  td <- generics::tidy(fit)
  expect_identical(td$term, names(coef(fit)))
  expect_identical(td$estimate, unname(coef(fit)))
  gl <- generics::glance(fit)
  expect_identical(nrow(gl), 1L)
  expect_identical(gl$nobs, 32L)
  expect_identical(gl$loss_adv, fit$trace$loss_adv[nrow(fit$trace)])
  expect_true(gl$converged)
  au <- generics::augment(fit)
  expect_identical(nrow(au), 32L)
  expect_equal(au$.fitted, unname(fitted(fit)))
  expect_equal(au$.resid, unname(residuals(fit)))
  expect_equal(au$mpg, mtcars$mpg)
  # the worst-case L2 attack moves each prediction by eps ||theta||_2 away from y
  shift <- 0.2 * sqrt(sum(fit$theta^2))
  # (a residual of exactly 0, a kink row of the exact fit, moves upwards)
  expect_equal(au$.fitted_adv, au$.fitted + ifelse(au$.fitted >= au$mpg, 1, -1) * shift,
               tolerance = 1e-12)
  expect_equal(au$.loss_adv, (abs(au$.resid) + shift)^2, tolerance = 1e-12)
  expect_equal(mean(au$.loss_adv), gl$loss_adv, tolerance = 1e-12)
  # matrix fits: new inputs and responses, against adv_attack() on the inputs
  x <- as.matrix(mtcars[c("wt", "hp", "qsec")])
  mf <- adv_lm(x, mtcars$mpg, eps = 0.1, norm = "linf", method = "exact", intercept = TRUE)
  am <- generics::augment(mf, newx = x[1:6, ], y = mtcars$mpg[1:6])
  att <- adv_attack(mf$theta, x[1:6, ], mtcars$mpg[1:6] - mf$intercept, eps = 0.1,
                    norm = "linf")
  expect_equal(am$.fitted_adv, drop((x[1:6, ] + att) %*% mf$theta) + mf$intercept,
               tolerance = 1e-12, ignore_attr = TRUE)
  expect_equal(mean(generics::augment(mf, newx = x, y = mtcars$mpg)$.loss_adv),
               adv_loss(mf$theta, x, mtcars$mpg - mf$intercept, eps = 0.1, norm = "linf"),
               tolerance = 1e-12)
  expect_identical(names(generics::augment(mf))[1:2], c(".fitted", ".resid"))
  # new data without the response: predictions only
  an <- generics::augment(fit, newdata = mtcars[1:3, c("wt", "hp", "cyl")])
  expect_equal(an$.fitted, unname(predict(fit, newdata = mtcars[1:3, ])))
  expect_false(".resid" %in% names(an))
})

test_that("augment of a na.exclude fit pads the rows", {
  skip_if_not_installed("generics")
  d <- mtcars
  d$wt[c(2, 5)] <- NA
  fit <- adv_lm(mpg ~ wt + hp, data = d, eps = 0.1, method = "exact", na.action = na.exclude)
  au <- generics::augment(fit)
  expect_identical(nrow(au), 32L)
  expect_identical(rownames(au), rownames(d))
  expect_true(all(is.na(au$.fitted[c(2, 5)])))
  expect_equal(au$.fitted, unname(fitted(fit)))
})

test_that("adv_lasso and cv_adv_lasso tidiers agree with coef and the CV curve", {
  skip_if_not_installed("generics")
  x <- as.matrix(mtcars[, -1])
  y <- mtcars$mpg
  fit <- quiet(adv_lasso(x, y, eps = 0.1, nlambda = 8))
  td <- generics::tidy(fit)
  cf <- coef(fit)
  expect_true(all(td$estimate != 0))
  expect_equal(td$estimate, cf[cbind(match(td$term, rownames(cf)), td$step)])
  expect_equal(td$lambda, fit$lambda[td$step])
  expect_equal(td$dev.ratio, fit$dev.ratio[td$step])
  tz <- generics::tidy(fit, return_zeros = TRUE)
  expect_identical(nrow(tz), length(cf))
  expect_equal(tz$estimate, as.vector(cf))
  gl <- generics::glance(fit)
  expect_identical(gl$nobs, 32L)
  expect_identical(gl$nlambda, 8L)
  expect_identical(gl$kkt_max, max(fit$kkt))
  s <- fit$lambda[4]
  au <- generics::augment(fit, s = s, newx = x, y = y)
  expect_equal(au$.fitted, unname(predict(fit, x, s = s)[, 1]))
  b <- coef(fit, s = s)
  expect_equal(mean(au$.loss_adv), adv_loss(b[-1], x, y - b[1], eps = 0.1), tolerance = 1e-12)
  expect_error(generics::augment(fit, s = s), class = "advtrain_error_argument")
  ff <- quiet(adv_lasso(mpg ~ ., data = mtcars, eps = 0.1, nlambda = 8))
  af <- generics::augment(ff, s = s)
  expect_equal(af$.fitted, au$.fitted)
  expect_equal(af$mpg, y)
  set.seed(9)
  cv <- quiet(cv_adv_lasso(x, y, eps = 0.1, nlambda = 8, nfolds = 4))
  tc <- generics::tidy(cv)
  expect_identical(tc$estimate, cv$cvm)
  expect_identical(tc$std.error, cv$cvsd)
  expect_identical(tc$lambda, cv$lambda)
  gc <- generics::glance(cv)
  expect_identical(gc$lambda_min, cv$lambda_min)
  expect_identical(gc$lambda_1se, cv$lambda_1se)
  expect_identical(gc$nfolds, 4L)
  ac <- generics::augment(cv, newx = x, y = y)
  expect_equal(ac$.fitted, unname(predict(cv, x)[, 1]))
  expect_equal(generics::augment(cv, s = "lambda.min", newx = x, y = y)$.fitted,
               unname(predict(cv, x, s = "lambda_min")[, 1]))
})

test_that("%Dev is glmnet's dev.ratio at eps = 0 and the attacked analogue otherwise", {
  x <- as.matrix(mtcars[, -1])
  y <- mtcars$mpg
  f0 <- adv_lasso(x, y, eps = 0, nlambda = 10)
  r <- y - sweep(x %*% f0$beta, 2, f0$a0, "+")
  expect_equal(f0$dev.ratio, unname(1 - colSums(r^2) / sum((y - mean(y))^2)), tolerance = 1e-12)
  skip_if_not_installed("glmnet")
  g <- glmnet::glmnet(x, y, lambda = f0$lambda / 2, thresh = 1e-14)
  expect_equal(f0$dev.ratio, g$dev.ratio, tolerance = 1e-6)
  f1 <- quiet(adv_lasso(x, y, eps = 0.2, norm = "linf", nlambda = 6))
  k <- 4
  expect_equal(f1$dev.ratio[k],
               1 - adv_loss(f1$beta[, k], x, y - f1$a0[k], eps = 0.2, norm = "linf") /
                 mean((y - mean(y))^2), tolerance = 1e-12)
  expect_output(print(f1), "%Dev")
  expect_output(print(summary(f1)), "KKT")
})

test_that("summary() of LASSO and CV fits", {
  x <- as.matrix(mtcars[, -1])
  y <- mtcars$mpg
  fit <- quiet(adv_lasso(x, y, eps = 0.1, nlambda = 6))
  s <- summary(fit)
  expect_s3_class(s, "summary.adv_lasso")
  expect_identical(s$path$Df, unname(fit$df))
  expect_identical(s$path$KKT, fit$kkt)
  expect_equal(s$path$`%Dev`, 100 * fit$dev.ratio)
  expect_output(print(s), "Adversarial LASSO path")
  set.seed(10)
  cv <- quiet(cv_adv_lasso(x, y, eps = 0.1, nlambda = 6, nfolds = 4))
  sc <- summary(cv)
  expect_s3_class(sc, "summary.cv_adv_lasso")
  expect_identical(sc$table$Lambda, c(cv$lambda_min, cv$lambda_1se))
  expect_equal(sc$coefficients[, "lambda_min"],
               coef(cv, s = "lambda_min")[rownames(sc$coefficients), 1])
  expect_true(all(rowSums(sc$coefficients[-1, , drop = FALSE] != 0) > 0))
  expect_output(print(sc), "Non-zero coefficients")
})

test_that("adv_nn2 tidiers agree with coef and fitted", {
  skip_if_not_installed("generics")
  set.seed(11)
  sim <- simulate_linear(60, c(1, -1))
  fit <- adv_nn2(sim$x, sim$y, h = 5, eps = 0.1, iters = 20)
  td <- generics::tidy(fit)
  expect_identical(td$estimate, as.vector(coef(fit)))
  expect_identical(td$a, rep(fit$a, each = 2))
  gl <- generics::glance(fit)
  expect_identical(gl$loss_std, fit$trace$loss_std[nrow(fit$trace)])
  au <- generics::augment(fit)
  expect_equal(au$.fitted, unname(fitted(fit)))
  expect_equal(au$.resid, unname(residuals(fit)))
})

test_that("tidiers work after saveRDS/readRDS", {
  skip_if_not_installed("generics")
  fit <- quiet(adv_lasso(mpg ~ wt + hp + qsec, data = mtcars, eps = 0.1, nlambda = 5))
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path)
  back <- readRDS(path)
  expect_identical(generics::tidy(back), generics::tidy(fit))
  expect_identical(generics::glance(back), generics::glance(fit))
  expect_identical(generics::augment(back, s = 0.5), generics::augment(fit, s = 0.5))
})

test_that("binomial adv_lm tidiers agree with coef, predict and the certified radius", {
  skip_if_not_installed("generics")
  pima <- MASS::Pima.tr
  fit <- adv_lm(type ~ glu + bmi + age, data = pima, eps = 0.05, family = "binomial",
                method = "exact")
  td <- generics::tidy(fit)
  expect_identical(td$term, names(coef(fit)))
  expect_identical(td$estimate, unname(coef(fit)))
  gl <- generics::glance(fit)
  expect_identical(gl$nobs, nrow(pima))
  expect_equal(gl$loss_adv, fit$objective, tolerance = 1e-12)
  yy <- ifelse(pima$type == "Yes", 1, -1)
  f <- unname(fit$linear.predictors)
  nrm <- sqrt(sum(fit$theta^2))
  expect_equal(gl$loss_std, mean(log1p(exp(-yy * f))), tolerance = 1e-12)
  expect_equal(gl$error_std, mean(yy * f <= 0))
  expect_equal(gl$error_adv, mean(yy * f <= 0.05 * nrm))
  expect_gte(gl$error_adv, gl$error_std)
  expect_true(gl$converged)
  au <- generics::augment(fit)
  expect_identical(nrow(au), nrow(pima))
  expect_equal(au$.fitted, unname(fitted(fit)))
  expect_equal(au$.link, f)
  expect_identical(au$.class, predict(fit, newdata = pima, type = "class"))
  expect_equal(au$.link_adv, unname(predict(fit, newdata = pima, eps = 0.05, y = pima$type)))
  expect_equal(au$.radius, unname(adv_certified_radius(fit, y = pima$type)))
  expect_equal(mean(au$.loss_adv), gl$loss_adv, tolerance = 1e-12)
  # new data with labels: the attacked accuracy from the radius
  te <- MASS::Pima.te
  an <- generics::augment(fit, newdata = te)
  expect_identical(nrow(an), nrow(te))
  expect_equal(mean(an$.radius > 0.05),
               mean(predict(fit, newdata = te, eps = 0.05, y = te$type, type = "class") ==
                      te$type))
  # matrix fits: labels by y
  x <- as.matrix(pima[, c("glu", "bmi", "age")])
  fm <- adv_lm(x, pima$type, eps = 0.05, family = "binomial", method = "exact",
               intercept = TRUE)
  am <- generics::augment(fm, newx = x[1:5, ], y = pima$type[1:5])
  expect_equal(am$.link, au$.link[1:5], tolerance = 1e-8)
  expect_null(generics::augment(fm, newx = x[1:5, ])$.radius)
})

test_that("adv_optimum tidiers are theta*(eps) and the risk table", {
  skip_if_not_installed("generics")
  opt <- adv_optimum(c(2, 1, 0.5), eps = c(0, 0.3, 1))
  td <- generics::tidy(opt)
  expect_identical(nrow(td), 9L)
  expect_equal(td$estimate[td$eps == 0.3], unname(coef(opt)[, 2]))
  expect_equal(td$estimate[td$eps == 0], c(2, 1, 0.5), tolerance = 1e-10) # theta*(0) = theta0
  gl <- generics::glance(opt)
  expect_equal(gl$eps_c, opt$eps_c)
  expect_equal(gl$risk_min, 1, tolerance = 1e-10) # R*(0) = sigma^2
  expect_identical(generics::augment(opt), as.data.frame(opt))
})

test_that("adv_cnn: the new class name, the old one kept, and its tidiers", {
  skip_if_not_installed("generics")
  set.seed(3)
  x <- array(runif(40 * 6 * 6), c(40, 6, 6))
  y <- factor(ifelse(x[, 3, 3] + x[, 4, 4] > 1, "b", "a"))
  fit <- adv_cnn(x, y, mlp_spec(5, 2), attack = "none", epochs = 2, lr = 0.1,
                 batch_size = 8, seed = 1, threads = 1)
  expect_s3_class(fit, "adv_cnn")
  expect_s3_class(fit, "advtrain_cnn")
  td <- generics::tidy(fit)
  expect_equal(td$estimate, advtrain:::fit_theta(fit))
  expect_setequal(unique(td$parameter), c("weight", "bias"))
  gl <- generics::glance(fit)
  expect_identical(gl$epochs, 2L)
  expect_identical(gl$parameters, length(advtrain:::fit_theta(fit)))
  expect_equal(gl$loss, fit$history$loss[2])
  au <- generics::augment(fit, newdata = x, y = y)
  expect_identical(au$.fitted, predict(fit, x))
  expect_equal(au$.prob, apply(predict(fit, x, type = "prob"), 1, max))
  expect_identical(au$.correct, as.character(au$.fitted) == as.character(y))
  expect_snapshot(generics::augment(fit), error = TRUE)
  # a fit saved by an earlier version (class "advtrain_cnn" only) still works
  old <- fit
  class(old) <- "advtrain_cnn"
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(old, path)
  back <- readRDS(path)
  expect_identical(predict(back, x), predict(fit, x))
  expect_identical(generics::tidy(back), td)
})
