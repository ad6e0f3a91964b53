# The formula interface of adv_lm, adv_lasso, cv_adv_lasso and adv_nn2 (issue 19):
# each formula fit equals the matrix fit on the design built by hand.

boston_df <- function() {
  b <- MASS::Boston
  b$chas <- factor(b$chas, labels = c("no", "yes"))
  b$rad4 <- cut(b$rad, c(0, 4, 8, 24), labels = c("low", "mid", "high"))
  b
}

# The design of medv ~ lstat * chas + log(crim) + rad4, by hand (treatment contrasts).
boston_design <- function(b) {
  cbind(lstat = b$lstat, chasyes = as.numeric(b$chas == "yes"), `log(crim)` = log(b$crim),
        rad4mid = as.numeric(b$rad4 == "mid"), rad4high = as.numeric(b$rad4 == "high"),
        `lstat:chasyes` = b$lstat * (b$chas == "yes"))
}
boston_formula <- medv ~ lstat * chas + log(crim) + rad4

test_that("adv_lm's formula method equals the matrix method on the design", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  xm <- boston_design(b)
  ff <- adv_lm(boston_formula, data = b, eps = 0.1, method = "exact")
  fm <- adv_lm(xm, b$medv, eps = 0.1, method = "exact", intercept = TRUE)
  expect_equal(unname(coef(ff)), unname(coef(fm)), tolerance = 1e-10)
  expect_identical(names(coef(ff)), c("(Intercept)", colnames(xm)))
  # eps may be given by position after data, as the matrix method takes it after y
  expect_identical(coef(adv_lm(boston_formula, b, 0.1, method = "exact")), coef(ff))
  expect_equal(unname(fitted(ff)), unname(fitted(fm)), tolerance = 1e-10)
  # the lm design is the same
  expect_equal(unname(stats::model.matrix(stats::lm(boston_formula, b))[, -1]), unname(xm))
  # no intercept: `- 1` and `+ 0` both remove it, and the fit has none
  f0 <- adv_lm(medv ~ lstat + rm - 1, data = b, eps = 0.1, method = "exact")
  f00 <- adv_lm(medv ~ 0 + lstat + rm, data = b, eps = 0.1, method = "exact")
  m0 <- adv_lm(cbind(lstat = b$lstat, rm = b$rm), b$medv, eps = 0.1, method = "exact")
  expect_false(f0$has_intercept)
  expect_equal(coef(f0), coef(m0), tolerance = 1e-10)
  expect_equal(coef(f00), coef(m0), tolerance = 1e-10)
  # gradient descent too (same steps, same numbers)
  g1 <- adv_lm(medv ~ lstat + rm, data = b, eps = 0.1, xi = 0.1, iters = 50, tol = Inf)
  g2 <- adv_lm(cbind(lstat = b$lstat, rm = b$rm), b$medv, eps = 0.1, xi = 0.1,
               iters = 50, intercept = TRUE, tol = Inf)
  expect_equal(coef(g1), coef(g2), tolerance = 1e-12)
  # eps shorthands go through the formula path
  z1 <- adv_lm(medv ~ lstat + rm, data = b, eps = "zero", iters = 30, tol = Inf)
  z2 <- adv_lm(cbind(lstat = b$lstat, rm = b$rm), b$medv, eps = "zero", iters = 30, tol = Inf,
               intercept = TRUE)
  expect_equal(z1$eps, z2$eps)
  expect_equal(coef(z1), coef(z2), tolerance = 1e-10)
})

test_that("adv_lasso and cv_adv_lasso formula methods equal the matrix methods", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  xm <- boston_design(b)
  ff <- adv_lasso(boston_formula, data = b, eps = 0.1, nlambda = 8)
  fm <- adv_lasso(xm, b$medv, eps = 0.1, nlambda = 8)
  expect_equal(ff$lambda, fm$lambda)
  expect_equal(unname(ff$beta), unname(fm$beta), tolerance = 1e-10)
  expect_equal(unname(ff$a0), unname(fm$a0), tolerance = 1e-10)
  expect_identical(rownames(ff$beta), colnames(xm))
  expect_equal(ff$dev.ratio, fm$dev.ratio, tolerance = 1e-10)
  # no intercept
  f0 <- adv_lasso(medv ~ lstat + rm - 1, data = b, eps = 0.1, nlambda = 5)
  m0 <- adv_lasso(cbind(lstat = b$lstat, rm = b$rm), b$medv, eps = 0.1, nlambda = 5,
                  intercept = FALSE)
  expect_false(f0$intercept)
  expect_equal(unname(f0$beta), unname(m0$beta), tolerance = 1e-10)
  # cross-validation with the same folds
  set.seed(4)
  fid <- sample(rep(1:4, length.out = nrow(b)))
  cf <- cv_adv_lasso(boston_formula, data = b, eps = 0.1, nlambda = 8, foldid = fid)
  cm <- cv_adv_lasso(xm, b$medv, eps = 0.1, nlambda = 8, foldid = fid)
  expect_equal(cf$cvm, cm$cvm, tolerance = 1e-8)
  expect_equal(unname(coef(cf)), unname(coef(cm)), tolerance = 1e-10)
  expect_identical(cf$call[[1]], as.name("cv_adv_lasso"))
  # the matrix signatures are unchanged: positional eps, data frames of numbers
  p1 <- adv_lasso(xm, b$medv, 0.1, nlambda = 8)
  expect_equal(p1$beta, fm$beta)
  expect_identical(names(formals(adv_lasso.default))[1:3], c("x", "y", "eps"))
})

test_that("adv_nn2's formula method equals the matrix method (no bias column)", {
  skip_if_not_installed("MASS")
  b <- boston_df()[1:120, ]
  xs <- scale(cbind(lstat = b$lstat, rm = b$rm))
  b$lstat_s <- xs[, 1]
  b$rm_s <- xs[, 2]
  set.seed(5)
  ff <- adv_nn2(medv ~ lstat_s + rm_s, data = b, h = 6, eps = 0.1, iters = 30,
                trace_every = 10)
  set.seed(5)
  fm <- adv_nn2(cbind(lstat_s = b$lstat_s, rm_s = b$rm_s), b$medv, h = 6, eps = 0.1,
                iters = 30, trace_every = 10)
  expect_equal(coef(ff), coef(fm))
  expect_equal(unname(fitted(ff)), unname(fitted(fm)))
  set.seed(5)
  f0 <- adv_nn2(medv ~ lstat_s + rm_s - 1, data = b, h = 6, eps = 0.1, iters = 30,
                trace_every = 10)
  expect_equal(coef(f0), coef(ff))
  expect_equal(predict(ff, newdata = b[1:4, ]), predict(fm, newx = xs[1:4, ]),
               ignore_attr = TRUE)
})

test_that("rows with NA are dropped and counted; na.exclude pads", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  bna <- b
  bna$rm[c(3, 40)] <- NA
  bna$chas[7] <- NA
  drop <- c(3, 7, 40)
  f <- adv_lm(medv ~ rm + lstat + chas, data = bna, eps = 0.1, method = "exact")
  fc <- adv_lm(medv ~ rm + lstat + chas, data = b[-drop, ], eps = 0.1, method = "exact")
  expect_equal(coef(f), coef(fc))
  expect_identical(nobs(f), nrow(b) - 3L)
  expect_length(fitted(f), nrow(b) - 3L)
  expect_output(print(summary(f)), "3 observations deleted due to missingness")
  # na.exclude: fitted, residuals and predict() padded with NA at the dropped rows
  fe <- adv_lm(medv ~ rm + lstat + chas, data = bna, eps = 0.1, method = "exact",
               na.action = na.exclude)
  expect_equal(coef(fe), coef(f))
  expect_length(fitted(fe), nrow(b))
  expect_true(all(is.na(fitted(fe)[drop])))
  expect_equal(unname(fitted(fe)[-drop]), unname(fitted(f)))
  expect_equal(unname(residuals(fe)[-drop]), unname(b$medv[-drop] - fitted(f)))
  expect_identical(predict(fe), fitted(fe))
  # new data with an NA row: NA there, the others as usual
  pn <- predict(f, newdata = bna[1:8, ])
  expect_true(all(is.na(pn[c(3, 7)])))
  expect_equal(unname(pn[-c(3, 7)]), unname(predict(f, newdata = b[c(1:2, 4:6, 8), ])))
  # the default comes from options("na.action"), as for lm
  withr::with_options(list(na.action = "na.fail"),
                      expect_error(adv_lm(medv ~ rm, data = bna, eps = 0.1), "missing"))
  # the lasso and its cv: same rows, padding of predict()
  l <- adv_lasso(medv ~ rm + lstat + chas, data = bna, eps = 0.1, nlambda = 5,
                 na.action = na.exclude)
  lc <- adv_lasso(medv ~ rm + lstat + chas, data = b[-drop, ], eps = 0.1, nlambda = 5)
  expect_equal(l$beta, lc$beta)
  expect_identical(nobs(l), nrow(b) - 3L)
  pl <- predict(l, s = l$lambda[3])
  expect_identical(nrow(pl), nrow(b))
  expect_true(all(is.na(pl[drop, 1])))
  cv <- cv_adv_lasso(medv ~ rm + lstat, data = bna, eps = 0.1, nlambda = 5, nfolds = 3)
  expect_identical(nobs(cv), nrow(b) - 2L)
  expect_length(cv$foldid, nrow(b) - 2L)
})

test_that("subset and contrasts work as in lm", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  f <- adv_lm(medv ~ lstat + rad4, data = b, subset = tax > 300, eps = 0.1,
              method = "exact")
  fs <- adv_lm(medv ~ lstat + rad4, data = b[b$tax > 300, ], eps = 0.1, method = "exact")
  expect_equal(coef(f), coef(fs))
  expect_identical(nobs(f), sum(b$tax > 300))
  # variables found in the formula's environment, as lm finds them; logical responses
  # are 0/1
  z <- seq_len(nrow(b)) / nrow(b)
  fz <- adv_lm(medv ~ lstat + z, data = b, eps = 0.1, method = "exact")
  mz <- adv_lm(cbind(lstat = b$lstat, z = z), b$medv, eps = 0.1, method = "exact",
               intercept = TRUE)
  expect_equal(coef(fz), coef(mz))
  fl <- adv_lm(I(medv > 25) ~ lstat, data = b, eps = 0.1, method = "exact")
  ml <- adv_lm(cbind(lstat = b$lstat), as.numeric(b$medv > 25), eps = 0.1,
               method = "exact", intercept = TRUE)
  expect_equal(coef(fl), coef(ml))
  fsum <- adv_lm(medv ~ lstat + rad4, data = b, eps = 0.1, method = "exact",
                 contrasts = list(rad4 = "contr.sum"))
  xm <- stats::model.matrix(~ lstat + rad4, b, contrasts.arg = list(rad4 = "contr.sum"))
  fm <- adv_lm(xm[, -1], b$medv, eps = 0.1, method = "exact", intercept = TRUE)
  expect_equal(unname(coef(fsum)), unname(coef(fm)), tolerance = 1e-10)
  expect_equal(predict(fsum, newdata = b[1:5, ]), predict(fm, newx = xm[1:5, -1]),
               ignore_attr = TRUE)
})

test_that("predict on new data with factors equals predict on the hand-built matrix", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  xm <- boston_design(b)
  set.seed(6)
  rows <- sample(nrow(b), 7)
  nd <- b[rows, c("lstat", "chas", "crim", "rad4")] # no response, factor levels subset
  nd1 <- b[rows[1], c("lstat", "chas", "crim", "rad4")] # one row: one level each
  fl <- adv_lm(boston_formula, data = b, eps = 0.1, method = "exact")
  ml <- adv_lm(xm, b$medv, eps = 0.1, method = "exact", intercept = TRUE)
  expect_equal(predict(fl, newdata = nd), predict(ml, newx = xm[rows, ]),
               ignore_attr = TRUE, tolerance = 1e-10)
  expect_equal(unname(predict(fl, newdata = nd1)), unname(predict(ml, newx = xm[rows[1], ])),
               tolerance = 1e-10)
  fa <- adv_lasso(boston_formula, data = b, eps = 0.1, nlambda = 6)
  ma <- adv_lasso(xm, b$medv, eps = 0.1, nlambda = 6)
  expect_equal(unname(predict(fa, newdata = nd, s = fa$lambda[4])),
               unname(predict(ma, xm[rows, ], s = ma$lambda[4])), tolerance = 1e-10)
  # a data frame given as newx is new data, as glmnet users type it
  expect_equal(predict(fa, nd, s = 0.5), predict(fa, newdata = nd, s = 0.5))
  # character columns are factors, as for lm
  bc <- b
  bc$chas <- as.character(bc$chas)
  fc <- adv_lm(medv ~ lstat + chas, data = bc, eps = 0.1, method = "exact")
  ff <- adv_lm(medv ~ lstat + chas, data = b, eps = 0.1, method = "exact")
  expect_equal(coef(fc), coef(ff))
  expect_equal(predict(fc, newdata = bc[1:3, ]), predict(ff, newdata = b[1:3, ]))
})

test_that("intercept-only formulas fit the mean, and formula() is the formula", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  for (m in c("gd", "exact")) {
    f <- adv_lm(medv ~ 1, data = b, eps = 0.1, method = m)
    expect_equal(unname(coef(f)), unname(stats::coef(stats::lm(medv ~ 1, b))))
    expect_identical(names(coef(f)), "(Intercept)")
    expect_equal(unname(predict(f, newdata = b[1:3, ])), rep(mean(b$medv), 3))
    expect_equal(f$trace$loss_adv, mean((b$medv - mean(b$medv))^2))
    expect_output(print(f), "Coefficients")
  }
  f <- adv_lm(medv ~ lstat + rm, data = b, eps = 0.1, method = "exact")
  fo <- formula(f)
  expect_s3_class(fo, "formula")
  expect_false(inherits(fo, "terms"))
  expect_null(attr(fo, "factors"))
  expect_identical(deparse(fo), "medv ~ lstat + rm")
  expect_identical(deparse(formula(adv_lm(medv ~ ., data = b[c("medv", "lstat", "rm")],
                                          eps = 0.1, method = "exact"))),
                   "medv ~ lstat + rm")
  expect_s3_class(terms(f), "terms")
  expect_identical(dim(stats::model.frame(f)), c(nrow(b), 3L))
  cv <- cv_adv_lasso(medv ~ lstat + rm, data = b, eps = 0.1, nlambda = 4, nfolds = 3)
  expect_identical(deparse(formula(cv)), "medv ~ lstat + rm")
  expect_s3_class(terms(cv), "terms")
})

test_that("weights in the formula reach the default method", {
  skip_if_not("weights" %in% names(formals(advtrain:::adv_lm.default)))
  skip_if_not_installed("MASS")
  b <- boston_df()[1:200, ]
  set.seed(7)
  b$w <- sample(0:3, nrow(b), TRUE)
  xm <- cbind(lstat = b$lstat, rm = b$rm)
  fw <- adv_lm(medv ~ lstat + rm, data = b, weights = w, eps = 0.1, method = "exact")
  fm <- adv_lm(xm, b$medv, weights = b$w, eps = 0.1, method = "exact", intercept = TRUE)
  expect_identical(coef(fw), coef(fm))
  expect_identical(nobs(fw), sum(b$w != 0))
  # rows with an NA weight are dropped with the others
  b$w[3] <- NA
  fn <- adv_lm(medv ~ lstat + rm, data = b, weights = w, eps = 0.1, method = "exact")
  expect_identical(nobs(fn), sum(b$w != 0, na.rm = TRUE))
  skip_if_not("weights" %in% names(formals(advtrain:::adv_lasso.default)))
  b$w[3] <- 1
  lw <- adv_lasso(medv ~ lstat + rm, data = b, weights = w, eps = 0.1, nlambda = 5)
  lm_ <- adv_lasso(xm, b$medv, weights = b$w, eps = 0.1, nlambda = 5)
  expect_identical(unname(lw$beta), unname(lm_$beta))
  set.seed(8)
  fid <- sample(rep(1:3, length.out = nrow(b)))
  cw <- cv_adv_lasso(medv ~ lstat + rm, data = b, weights = w, eps = 0.1, nlambda = 5,
                     foldid = fid)
  cm <- cv_adv_lasso(xm, b$medv, weights = b$w, eps = 0.1, nlambda = 5, foldid = fid)
  expect_identical(cw$cvm, cm$cvm)
})

test_that("glmnet's spellings are aliases that give identical results", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  x <- as.matrix(MASS::Boston[, -14])
  y <- MASS::Boston$medv
  set.seed(8)
  fid <- sample(rep(1:5, length.out = nrow(x)))
  cv <- cv_adv_lasso(x, y, eps = 0.1, nlambda = 8, foldid = fid)
  expect_identical(coef(cv, s = "lambda.1se"), coef(cv, s = "lambda_1se"))
  expect_identical(coef(cv, s = "lambda.min"), coef(cv, s = "lambda_min"))
  expect_identical(predict(cv, x[1:3, ], s = "lambda.min"),
                   predict(cv, x[1:3, ], s = "lambda_min"))
  a1 <- adv_lasso(x, y, eps = 0.1, nlambda = 6, lambda_min_ratio = 0.05)
  a2 <- adv_lasso(x, y, eps = 0.1, nlambda = 6, lambda.min.ratio = 0.05)
  expect_identical(a1[c("beta", "a0", "lambda")], a2[c("beta", "a0", "lambda")])
  pf <- c(0.5, rep(1, 12))
  p1 <- adv_lasso(x, y, eps = 0.1, nlambda = 6, penalty_factor = pf)
  p2 <- adv_lasso(x, y, eps = 0.1, nlambda = 6, penalty.factor = pf)
  expect_identical(p1[c("beta", "a0", "lambda")], p2[c("beta", "a0", "lambda")])
  p3 <- adv_lasso(medv ~ ., data = MASS::Boston, eps = 0.1, nlambda = 6, penalty.factor = pf)
  expect_equal(unname(p3$beta), unname(p1$beta))
  c1 <- cv_adv_lasso(x, y, eps = 0.1, nlambda = 6, foldid = fid, measure = "standard",
                     lambda_min_ratio = 0.05)
  c2 <- cv_adv_lasso(x, y, eps = 0.1, nlambda = 6, foldid = fid, type.measure = "standard",
                     lambda.min.ratio = 0.05)
  c3 <- cv_adv_lasso(x, y, eps = 0.1, nlambda = 6, foldid = fid, type.measure = "mse",
                     lambda.min.ratio = 0.05)
  expect_identical(c1$cvm, c2$cvm)
  expect_identical(c1$cvm, c3$cvm)
  expect_identical(c2$measure, "standard")
})

test_that("formula fits survive saveRDS/readRDS with every method working", {
  skip_if_not_installed("MASS")
  b <- boston_df()
  b$lstat[9] <- NA
  nd <- b[c(1, 9, 20), ]
  fits <- list(
    lm = adv_lm(boston_formula, data = b, eps = 0.1, method = "exact",
                na.action = na.exclude),
    lasso = adv_lasso(boston_formula, data = b, eps = 0.1, nlambda = 5),
    cv = cv_adv_lasso(boston_formula, data = b, eps = 0.1, nlambda = 5, nfolds = 3),
    nn2 = adv_nn2(medv ~ lstat + crim, data = b, h = 4, eps = 0.1, iters = 10, eta = 1e-4)
  )
  path <- withr::local_tempfile(fileext = ".rds")
  for (f in fits) {
    saveRDS(f, path)
    back <- readRDS(path)
    if (inherits(f, "adv_lasso")) {
      expect_identical(predict(back, newdata = nd, s = 0.3), predict(f, newdata = nd, s = 0.3))
    } else {
      expect_identical(predict(back, newdata = nd), predict(f, newdata = nd))
    }
    expect_identical(nobs(back), nobs(f))
    expect_identical(nobs(back), nrow(b) - 1L)
    expect_equal(formula(back), formula(f), ignore_formula_env = TRUE)
    expect_equal(terms(back), terms(f), ignore_formula_env = TRUE)
    expect_equal(stats::model.frame(back), stats::model.frame(f), ignore_formula_env = TRUE)
    expect_output(print(back))
    expect_output(print(summary(back)))
  }
})

test_that("bad input through the formula path gets clear errors", {
  skip_if_not_installed("MASS")
  b <- boston_df()[1:50, ]
  bc <- b
  bc$tax <- as.character(bc$tax)
  bc$town <- "Boston"
  fit <- adv_lm(medv ~ lstat + rad4, data = b, eps = 0.1, method = "exact")
  nd <- data.frame(lstat = 5, rad4 = "top")
  mfit <- adv_lm(as.matrix(b[c("lstat", "rm")]), b$medv, eps = 0.1, method = "exact")
  expect_snapshot(error = TRUE, {
    adv_lm(medv ~ lstat + nope, data = b, eps = 0.1)
    adv_lm(medv ~ lstat + c, data = b, eps = 0.1)
    adv_lm(medv ~ lstat + offset(rm), data = b, eps = 0.1)
    adv_lasso(medv ~ lstat + nope, data = b, eps = 0.1)
    adv_lm(medv ~ lstat + tax, data = bc, eps = 0.1)
    adv_lm(town ~ lstat, data = bc, eps = 0.1)
    predict(fit, newdata = nd)
    predict(fit, newdata = data.frame(lstat = 1))
    adv_lm(medv ~ lstat, data = b, weights = rep(1, 3), eps = 0.1)
    adv_lm(medv ~ lstat, data = b, weights = c(-1, rep(1, 49)), eps = 0.1)
    adv_lasso(medv ~ lstat, data = b, weights = lstat > 5, eps = 0.1)
    adv_lm(medv ~ lstat, data = as.matrix(b[c("medv", "lstat")]), eps = 0.1)
    adv_lm(medv ~ lstat, data = b, eps = 0.1, intercept = FALSE)
    adv_lasso(medv ~ 1, data = b, eps = 0.1)
    adv_lm(medv ~ lstat, data = b, subset = lstat > 1e6, eps = 0.1)
    adv_lasso(medv ~ lstat + rm, data = b, eps = 0.1, lambda_min_ratio = 0.1,
              lambda.min.ratio = 0.1)
    cv_adv_lasso(medv ~ lstat + rm, data = b, eps = 0.1, type.measure = "auc")
    formula(mfit)
  })
})

test_that("errors raised through the formula path name the function, not its body", {
  d <- data.frame(y = c(1, 3, 2, 5, 4, 6), a = c(1, 2, 3, 4, 5, 7), b = c(2, 1, 4, 3, 6, 5))
  for (f in list(function() adv_lm(y ~ a + b, data = d, eps = -1),
                 function() adv_lasso(y ~ a + b, data = d, eps = -1),
                 function() cv_adv_lasso(y ~ a + b, data = d, eps = -1, nfolds = 3))) {
    e <- tryCatch(f(), advtrain_error_argument = function(e) e)
    expect_s3_class(e, "advtrain_error_argument")
    txt <- paste(deparse(conditionCall(e)), collapse = " ")
    expect_match(txt, "^(adv_lm|adv_lasso|cv_adv_lasso)\\(x = x, y = y")
    expect_no_match(txt, "function \\(")
  }
})
