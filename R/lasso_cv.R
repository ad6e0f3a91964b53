# cv_adv_lasso(): K-fold cross-validation of the adversarial LASSO path, and the
# coef/predict/print/plot methods of its result.


#' Cross-validated adversarial LASSO
#'
#' Fits [adv_lasso()] on all the data, then on each of K training folds with the
#' same \eqn{\lambda} sequence, and evaluates every fit on its held-out fold: with
#' `measure = "adversarial"` by the attacked loss under the same attack (`eps`,
#' `norm`, `xi`; for linear models the worst-case attack is exact, computed by the
#' same C kernel as [adv_loss()]), with `measure = "standard"` by the mean squared
#' error. The folds are fitted with [future.apply::future_lapply()], so they run in
#' parallel when the user has set a [future::plan()] (sequentially otherwise).
#'
#' `cvm` is the mean of the K fold losses weighted by fold size and `cvsd` its
#' standard error. With observation `weights` (passed on to [adv_lasso()]) each fold
#' loss is the weighted mean over its held-out rows and the folds are weighted by
#' their sums of weights, as in glmnet; `lambda_min` minimises `cvm` and `lambda_1se` is the largest
#' \eqn{\lambda} whose `cvm` is within one standard error of the minimum.
#'
#' @inheritParams adv_lasso
#' @param x Numeric n x d matrix of inputs (as for [adv_lasso()]); for `print()` and
#'   `plot()`, a `cv_adv_lasso` object.
#' @param ... Further arguments to [adv_lasso()] (`norm`, `xi`, `lambda`, `nlambda`,
#'   `penalty_factor`, `standardize`, `intercept`, `thresh`, `weights`, ...).
#' @param nfolds Number of folds, at least 3 (ignored when `foldid` is given).
#' @param foldid Optional vector of fold numbers 1..K, one per observation.
#' @param measure `"adversarial"` or `"standard"`: the validation loss. glmnet's
#'   spelling `type.measure` is accepted in `...`, with `"mse"` meaning `"standard"`.
#'   With `family = "binomial"` (in `...`; [adv_lasso_binomial]) `measure` chooses
#'   attacked (the held-out links moved against their classes by
#'   \eqn{\epsilon\|\theta\|_*}) or clean predictions, and `type.measure` the loss:
#'   `"deviance"` (default; twice the mean logistic loss), `"class"`
#'   (misclassification rate) or `"auc"` (the Mann-Whitney area under the ROC curve,
#'   ties counting half, maximised), each per fold and weighted as glmnet does; at
#'   `eps = 0` `cvm` and `cvsd` are those of `glmnet::cv.glmnet()`. A held-out fold
#'   with at most one observation of a class is warned about (left out for AUC when
#'   a class is missing), and a training set with fewer than two of a class is an
#'   error.
#' @return An object of class `cv_adv_lasso`: a list with `lambda`, `cvm`, `cvsd`,
#'   `cvup`, `cvlo`, `nzero`, `lambda_min`, `lambda_1se`, `index` (their positions),
#'   `measure` (and `type.measure` for binomial fits), `foldid`, `fit` (the
#'   [adv_lasso()] fit on all data) and `call`.
#'   `coef()` and `predict()` default to `s = "lambda_1se"` (also accepted:
#'   `"lambda_min"` or numbers) and delegate to `fit`; `plot()` draws the CV curve
#'   with error bars and both chosen \eqn{\lambda} marked.
#' @seealso [adv_lasso()].
#' @examples
#' set.seed(3)
#' sim <- simulate_linear(80, theta0 = c(2, -1, rep(0, 8)))
#' cv <- cv_adv_lasso(sim$x, sim$y, eps = 0.1, nlambda = 20, nfolds = 5)
#' cv
#' coef(cv)
#' plot(cv)
#' @export
cv_adv_lasso <- function(x, ...) UseMethod("cv_adv_lasso")

#' @rdname cv_adv_lasso
#' @export
cv_adv_lasso.default <- function(x, y, eps, ..., nfolds = 10, foldid = NULL,
                                 measure = c("adversarial", "standard")) {
  call <- match.call()
  call[[1]] <- as.name("cv_adv_lasso")
  dots <- list(...)
  if (identical(dots$family, "binomial")) {
    # adversarial logistic regression: type.measure is the loss, measure attacked/clean
    type <- check_choice(if (is.null(dots$type.measure)) "deviance" else dots$type.measure,
                         c("deviance", "class", "auc"), arg = "type.measure")
    dots$type.measure <- NULL
    measure <- check_choice(measure, c("adversarial", "standard"))
    a <- do.call(cv_lasso_args, c(list(x, y, eps), dots, list(call = rlang::current_env())))
    return(cv_binomial(a, nfolds, foldid, type, measure, call, rlang::current_env()))
  }
  if ("type.measure" %in% names(dots)) {
    # glmnet's spelling; its "mse" is the standard (unattacked) squared error
    if (!missing(measure)) {
      abort_arg("Give {.arg measure} or its glmnet spelling {.arg type.measure}, not both.",
                "type.measure", rlang::current_env())
    }
    measure <- dots$type.measure
    if (identical(measure, "mse")) measure <- "standard"
    measure <- check_choice(measure, c("adversarial", "standard"), arg = "type.measure")
    dots$type.measure <- NULL
  }
  measure <- check_choice(measure, c("adversarial", "standard"))
  # validate and convert once; the folds reuse the checked arguments, and each
  # training fold is copied and centred in C straight from x (lasso_prepare())
  a <- do.call(cv_lasso_args, c(list(x, y, eps), dots, list(call = rlang::current_env())))
  fit <- lasso_fit(a)
  fit$dev.ratio <- lasso_dev_ratio(fit, a$x, a$y, a$weights)
  fit$path_loss <- NULL
  n <- nrow(a$x)
  if (is.null(foldid)) {
    nfolds <- check_count(nfolds, min = 3)
    if (nfolds > n) {
      abort_arg("{.arg nfolds} must be at most the number of observations ({n}), not {nfolds}.",
                "nfolds", rlang::current_env())
    }
    foldid <- sample(rep(seq_len(nfolds), length.out = n))
  } else {
    foldid <- check_fold_id(foldid, n)
  }
  K <- max(foldid)
  a$lambda <- fit$lambda
  w <- a$weights
  fold_loss <- function(k) {
    test <- which(foldid == k)
    f <- suppressWarnings(lasso_fit(a, rows = seq_len(n)[-test]))
    # only the columns non-zero somewhere on the fold's path enter its losses (the
    # others multiply zeros), so only they are taken from the held-out rows
    nz <- path_nonzero(f$beta)
    if (!length(nz)) nz <- 1L
    f$beta <- f$beta[nz, , drop = FALSE]
    lasso_val_loss(f, a$x[test, nz, drop = FALSE], a$y[test], measure,
                   if (is.null(w)) NULL else w[test])
  }
  # with weights, a fold whose weights are all zero has no loss to measure: its
  # weight in cvm and cvsd is zero (glmnet weighs folds by their sum of weights)
  wts <- if (is.null(w)) tabulate(foldid, K) else vapply(seq_len(K), function(k) sum(w[foldid == k]), 0)
  if (!is.null(w) && any(wts == sum(w))) {
    abort_arg("{.arg weights} are zero outside fold {which(wts == sum(w))[1]}, so its training set has no weight.",
              "weights", rlang::current_env())
  }
  if (!is.null(w) && any(wts == 0)) {
    cli::cli_warn("{sum(wts == 0)} fold{?s} with all weights zero carr{?ies/y} no weight in the cross-validation.")
  }
  losses <- future.apply::future_lapply(seq_len(K), fold_loss, future.seed = NULL)
  raw <- do.call(rbind, losses) # (0 for a fold of zero weight: lasso_val_loss())
  cvm <- colSums(raw * wts) / sum(wts)
  cvsd <- sqrt(colSums(sweep(raw, 2, cvm)^2 * wts) / sum(wts) / max(sum(wts > 0) - 1, 1))
  imin <- which.min(cvm)
  i1se <- min(which(cvm <= cvm[imin] + cvsd[imin]))
  structure(list(
    lambda = fit$lambda, cvm = cvm, cvsd = cvsd, cvup = cvm + cvsd, cvlo = cvm - cvsd,
    nzero = fit$df, lambda_min = fit$lambda[imin], lambda_1se = fit$lambda[i1se],
    index = c(min = imin, `1se` = i1se), measure = measure, foldid = foldid,
    fit = fit, call = call
  ), class = "cv_adv_lasso")
}

# adv_lasso()'s argument checks for cv_adv_lasso(), with adv_lasso()'s defaults for
# the arguments not given in `...` (unknown names are an error, as they would be in a
# call to adv_lasso()).
#' @rdname cv_adv_lasso
#' @inheritParams advtrain-formula
#' @param data For the formula method (`x` a formula), a data frame with its
#'   variables; see [advtrain-formula].
#' @export
cv_adv_lasso.formula <- function(x, data, ..., subset, weights, na.action,
                                 contrasts = NULL) {
  call <- match.call()
  call[[1]] <- as.name("cv_adv_lasso")
  des <- formula_design(match.call(expand.dots = FALSE), parent.frame(), "cv_adv_lasso")
  ok <- "weights" %in% c(names(formals(cv_adv_lasso.default)),
                         names(formals(adv_lasso.default)))
  cv <- formula_call(cv_adv_lasso.default, "cv_adv_lasso", des, list(...),
                     weights_ok = ok)
  cv$fit <- formula_attach(cv$fit, des, call)
  cv$call <- cv$fit$call
  cv
}

cv_lasso_args <- function(x, y, eps, ..., call = rlang::caller_env()) {
  dots <- list(...)
  fm <- formals(adv_lasso.default)
  known <- c(setdiff(names(fm), c("x", "y", "eps", "...")), "lambda.min.ratio",
             "penalty.factor")
  if (length(dots) && (is.null(names(dots)) || any(!names(dots) %in% known))) {
    bad <- if (is.null(names(dots))) "" else setdiff(names(dots), known)[1]
    bad <- if (is.na(bad) || !nzchar(bad)) "an unnamed argument" else paste0("`", bad, "`")
    cli::cli_abort("{bad} is not an argument of {.fn adv_lasso}.",
                   class = "advtrain_error_argument", call = call)
  }
  al <- names(dots) %in% c("lambda.min.ratio", "penalty.factor")
  if (any(al)) {
    spelt <- glmnet_aliases(dots[al], list(lambda_min_ratio = dots[["lambda_min_ratio"]],
                                           penalty_factor = dots[["penalty_factor"]]),
                            "adv_lasso", call = call)
    dots <- c(dots[!al & !names(dots) %in% names(spelt)],
              spelt[!vapply(spelt, is.null, logical(1))])
  }
  val <- function(nm) if (nm %in% names(dots)) dots[[nm]] else eval(fm[[nm]])
  norm <- val("norm")
  if (check_choice(val("family"), c("gaussian", "binomial"), arg = "family", call = call) == "binomial") {
    return(lasso_binomial_args(x, y, eps, norm, val("xi"), val("lambda"), val("nlambda"),
                               val("lambda_min_ratio"), val("penalty_factor"),
                               val("standardize"), val("intercept"), val("thresh"),
                               val("maxit"), val("threads"), val("weights"), call = call))
  }
  lasso_args(x, y, eps, norm, val("xi"), val("lambda"), val("nlambda"),
             val("lambda_min_ratio"), val("penalty_factor"), val("standardize"),
             val("intercept"), val("thresh"), val("maxit"), val("threads"),
             val("weights"), call = call)
}

check_fold_id <- function(foldid, n, call = rlang::caller_env()) {
  ok <- is_plain_numeric(foldid) && length(foldid) == n && !anyNA(foldid) &&
    all(foldid == round(foldid)) && all(foldid >= 1)
  if (ok) {
    foldid <- as.integer(foldid)
    ok <- all(tabulate(foldid) > 0) && max(foldid) >= 3
  }
  if (!ok) {
    abort_arg("{.arg foldid} must give each of the {n} observations a fold number 1..K, every fold used, K >= 3; not {describe(foldid)}.",
              "foldid", call)
  }
  foldid
}

# Validation loss of every lambda of `fit` on (x, y): the attacked loss under the
# fit's attack, through the shared linear-model kernel (the intercept is not attacked,
# so it is moved into y).
lasso_val_loss <- function(fit, x, y, measure, w = NULL) {
  eps <- if (measure == "adversarial") fit$eps else 0
  if (!is.null(w)) {
    # weighted mean of the per-row losses (0 when the fold's weights are all zero)
    if (!(sum(w) > 0)) return(rep(0, length(fit$lambda)))
    if (!is.double(x)) storage.mode(x) <- "double"
    r <- y - sweep(path_fitted(x, fit$beta), 2, fit$a0, "+")
    return(vapply(seq_along(fit$lambda), function(k) {
      sum(w * lasso_row_loss(fit$beta[, k], fit$a0[k], x, y, eps, fit$norm, fit$xi,
                             r = r[, k])) / sum(w)
    }, numeric(1)))
  }
  if (eps == 0) {
    # the clean squared loss of every lambda at once (one matrix product)
    r <- y - sweep(path_fitted(x, fit$beta), 2, fit$a0, "+")
    return(unname(colMeans(r^2)))
  }
  vapply(seq_along(fit$lambda), function(k) {
    .Call(C_linear_loss, fit$beta[, k], x, y - fit$a0[k], eps, norm_code(fit$norm),
          fit$xi, FALSE)$loss
  }, numeric(1))
}

cv_lambda_s <- function(object, s) {
  if (is.character(s)) {
    # glmnet's spellings
    if (length(s) == 1 && s %in% c("lambda.1se", "lambda.min")) s <- sub(".", "_", s, fixed = TRUE)
    s <- check_choice(s, c("lambda_1se", "lambda_min"), arg = "s",
                      call = rlang::caller_env())
    return(object[[s]])
  }
  s
}

#' @rdname cv_adv_lasso
#' @param object A `cv_adv_lasso` object.
#' @param s `"lambda_1se"`, `"lambda_min"` (or glmnet's spellings `"lambda.1se"`,
#'   `"lambda.min"`) or penalty values.
#' @param newx Matrix of new inputs.
#' @export
coef.cv_adv_lasso <- function(object, s = "lambda_1se", ...) {
  stats::coef(object$fit, s = cv_lambda_s(object, s))
}

#' @rdname cv_adv_lasso
#' @export
predict.cv_adv_lasso <- function(object, newx, s = "lambda_1se", ...) {
  stats::predict(object$fit, newx, s = cv_lambda_s(object, s), ...)
}

#' @rdname cv_adv_lasso
#' @param digits Significant digits to print.
#' @export
print.cv_adv_lasso <- function(x, digits = 4, ...) {
  f <- x$fit
  cat(sprintf("Cross-validated adversarial %sLASSO: %s attacks, eps = %s%s; %d folds, %s\n\n",
              if (identical(f$family, "binomial")) "logistic " else "",
              if (f$norm == "l2") "L2" else "L-infinity", format(f$eps),
              if (f$xi > 0) sprintf(", xi = %s", format(f$xi)) else "",
              max(x$foldid), cv_measure_label(x)))
  i <- x$index
  print(data.frame(Lambda = signif(x$lambda[i], digits), Index = i,
                   Measure = signif(x$cvm[i], digits), SE = signif(x$cvsd[i], digits),
                   Nonzero = x$nzero[i], row.names = c("min", "1se")))
  invisible(x)
}

# "adversarial loss", or for binomial fits e.g. "adversarial misclassification"
cv_measure_label <- function(x) {
  tm <- x$type.measure
  if (is.null(tm)) return(paste(x$measure, "loss"))
  paste(x$measure, switch(tm, deviance = "deviance", class = "misclassification",
                          auc = "AUC"))
}

#' @rdname cv_adv_lasso
#' @export
plot.cv_adv_lasso <- function(x, ...) {
  ll <- log(x$lambda)
  graphics::plot(ll, x$cvm, ylim = range(x$cvlo, x$cvup), xlim = rev(range(ll)),
                 pch = 20, col = "firebrick", xlab = expression(log(lambda)),
                 ylab = paste("CV", cv_measure_label(x)), ...)
  graphics::arrows(ll, x$cvlo, ll, x$cvup, angle = 90, code = 3, length = 0.02,
                   col = "grey60")
  graphics::points(ll, x$cvm, pch = 20, col = "firebrick")
  graphics::abline(v = log(c(x$lambda_min, x$lambda_1se)), lty = 3)
  at <- unique(round(seq(1, length(ll), length.out = min(8, length(ll)))))
  graphics::axis(3, at = ll[at], labels = x$nzero[at], cex.axis = 0.8, tick = FALSE,
                 line = -0.5)
  invisible(x)
}
