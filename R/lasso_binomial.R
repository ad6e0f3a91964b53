# adv_lasso(family = "binomial") and cv_adv_lasso(family = "binomial") (issue 21): the
# L1 path of adversarial logistic regression, solved in C by src/lasso_logit.c.

#' Adversarially robust L1-penalised logistic regression
#'
#' `adv_lasso(x, y, eps, family = "binomial")` fits the path of the linear classifier
#' \eqn{f(x) = b + x'\theta} that minimises the attacked logistic loss with an L1
#' penalty,
#' \deqn{\frac{1}{\sum_i w_i}\sum_{i=1}^n w_i \log\big(1 + \exp(-y_i f(x_i) +
#' \epsilon\|\theta\|_*)\big) + \lambda \sum_j \mathrm{pf}_j s_j |\theta_j|,}
#' for labels coded \eqn{y_i \in \{-1, +1\}} (the second level of a factor, 1 or
#' `TRUE` is \eqn{+1}), observation weights \eqn{w_i} (default 1),
#' \eqn{\|\cdot\|_*} the L2 norm for L2 attacks and the L1 norm for L-infinity attacks,
#' and \eqn{s_j} the weighted standard deviation of column j when `standardize = TRUE`
#' (1 otherwise). The loss is the worst case of the logistic loss over the attack ball
#' (closed form for a linear classifier; [adv_logistic]); the intercept is neither
#' attacked nor penalised. With `eps = 0` this is glmnet's objective for
#' `family = "binomial"` exactly (its \eqn{\lambda}, with no factor 2, unlike the
#' squared loss of [adv_lasso()]): `glmnet(x, y, family = "binomial", lambda =
#' fit$lambda)` gives the same path.
#'
#' **The first \eqn{\lambda}.** At \eqn{\theta = 0} the intercept is the weighted
#' log-odds \eqn{b_0} of the classes, \eqn{\sigma_i = 1/(1 + e^{y_i b_0})}, \eqn{G
#' = \frac{1}{\sum w}\sum_i w_i \sigma_i y_i (x_i - \bar x)} and \eqn{\bar\sigma} the
#' weighted mean of the \eqn{\sigma_i}. Zero is optimal iff \eqn{G} lies in
#' \eqn{\epsilon\bar\sigma B_\circ + \lambda W B_\infty} (\eqn{B_\circ} the unit ball
#' of the dual of \eqn{\|\cdot\|_*}), so \eqn{\lambda_{\max} = \max_j (|G_j| -
#' \epsilon\bar\sigma)_+ / w_j} for L-infinity attacks and the solution of
#' \eqn{\|\mathrm{soft}(G, \lambda w)\|_2 = \epsilon\bar\sigma} for L2 attacks
#' (\eqn{\max_j |G_j| / w_j} at `eps = 0`), with \eqn{w_j = \mathrm{pf}_j s_j}.
#'
#' **Solver.** A proximal Newton method in C: the loss is expanded to second order in
#' the change of the attacked margins, the expansion minimised by coordinate descent
#' (the dual norm's kink at zero handled exactly, coordinate by coordinate for
#' L-infinity attacks, at \eqn{\theta = 0} for L2 attacks), and a line search on the
#' objective takes the step; sequential strong rules choose the working set and every
#' coordinate is checked at the end. It stops when the KKT residual (the distance of 0
#' from the subdifferential, coordinate j in standardised units \eqn{s_j|\cdot|}) is
#' at most `thresh`; `kkt` and `status` record it per \eqn{\lambda} and a warning names
#' the values where it was not reached. As in glmnet, the path stops early (fewer
#' \eqn{\lambda} than asked for) once the fraction of the null deviance explained
#' exceeds 0.999: for (nearly) separable data the coefficients grow without bound as
#' \eqn{\lambda \to 0}.
#'
#' The smoothed surrogate attack (`xi > 0`) is for the squared loss only: for a linear
#' classifier the true worst case is available in closed form.
#'
#' @name adv_lasso_binomial
#' @return An object of class `c("adv_lasso_binomial", "adv_lasso")`: the components
#'   of an [adv_lasso()] fit (`a0`, `beta`, `lambda`, `df`, `kkt`, `iters`, `status`,
#'   `dev.ratio`, ...) with `family = "binomial"`, `nulldev` (the null deviance,
#'   \eqn{2\sum_i w_i \ell_i} with the weights scaled to sum n, as glmnet) and
#'   `labels`. `dev.ratio` is \eqn{1 - L/L_0} for the attacked logistic loss \eqn{L}
#'   (glmnet's deviance ratio at `eps = 0`). `coef()`, `print()`, `plot()` and
#'   `summary()` are those of [adv_lasso()]; `predict()` is
#'   [predict.adv_lasso_binomial()].
#' @seealso [cv_adv_lasso()] (with `family = "binomial"` and `type.measure` deviance,
#'   class or auc), [adv_logistic] for the unpenalised fit.
#' @examples
#' pima <- rbind(MASS::Pima.tr, MASS::Pima.te)
#' x <- as.matrix(pima[, 1:7])
#' fit <- adv_lasso(x, pima$type, eps = 0.05, norm = "linf", family = "binomial",
#'                  nlambda = 30)
#' fit
#' coef(fit, s = fit$lambda[15])
#' # clean and attacked accuracy on the training data
#' s <- fit$lambda[20]
#' mean(predict(fit, x, s = s, type = "class") == pima$type)
#' mean(predict(fit, x, s = s, type = "class", eps = 0.05, y = pima$type) == pima$type)
NULL

# The checked arguments of a binomial fit (those of lasso_args() with the labels).
lasso_binomial_args <- function(x, y, eps, norm, xi, lambda, nlambda, lambda_min_ratio,
                                penalty_factor, standardize, intercept, thresh, maxit,
                                threads, weights, call) {
  x <- lasso_x(x, call = call)
  n <- nrow(x)
  if (n < 2) abort_arg("{.arg x} must have at least 2 rows, not {n}.", "x", call)
  if (is.matrix(y) && ncol(y) == 1) y <- y[, 1]
  lab <- logistic_labels(y, n, call)
  if (is.character(eps)) {
    abort_arg("{.arg eps} must be a non-negative number for {.code family = \"binomial\"}, not {describe(eps)}; the radii of {.fn adv_radius} are for regression.",
              "eps", call)
  }
  if (!(is.numeric(xi) && length(xi) == 1 && isTRUE(xi == 0))) {
    abort_arg("{.arg xi} must be 0 for {.code family = \"binomial\"}, not {describe(xi)}: the worst-case attack of a linear classifier is exact, so there is no surrogate.",
              "xi", call)
  }
  a <- lasso_args(x, lab$y, eps, norm, 0, lambda, nlambda, lambda_min_ratio,
                  penalty_factor, standardize, intercept, thresh, maxit, threads,
                  NULL, call = call)
  a$weights <- check_weights(weights, n, call = call)
  pos <- if (is.null(a$weights)) lab$y > 0 else lab$y > 0 & a$weights > 0
  neg <- if (is.null(a$weights)) lab$y < 0 else lab$y < 0 & a$weights > 0
  if (sum(pos) < 2 || sum(neg) < 2) {
    cl <- as.character(lab$levels[if (sum(pos) < 2) 2 else 1])
    abort_arg("{.arg y} must have at least 2 observations (of positive weight) of each class for {.code family = \"binomial\"}; class {.val {cl}} has {min(sum(pos), sum(neg))}.",
              "y", call)
  }
  a$labels <- lab
  a$family <- "binomial"
  a
}

# The fit of the rows `rows` (all when NULL).
lasso_binomial_fit <- function(a, rows = NULL) {
  pr <- if (is.null(a$weights)) lasso_prepare(a, rows) else lasso_prepare_w(a, rows)
  y <- if (is.null(rows)) a$y else a$y[rows]
  n <- length(y)
  d <- ncol(a$x)
  om <- if (is.null(pr$rw)) rep(1 / n, n) else pr$rw / sum(pr$rw)
  ppos <- sum(om[y > 0])
  if (!(ppos > 0 && ppos < 1)) {
    abort_arg("A training set has observations of one class only.", "y", NULL)
  }
  b0 <- if (a$intercept) log(ppos / (1 - ppos)) else 0
  sg <- stats::plogis(-y * b0)
  G <- abs(drop(crossprod(pr$xc, om * sg * y)))
  G[pr$excl == 1L] <- 0
  sbar <- sum(om * sg)
  null_loss <- sum(om * softplus(-y * b0))
  lmax_of <- function(e) {
    if (e == 0) return(max(G / pr$w))
    if (a$norm == "linf") return(max(pmax(G - e * sbar, 0) / pr$w))
    lambda_max_l2(G, pr$w, e * sbar)
  }
  lmax <- NA_real_
  lam <- a$lambda
  if (is.null(lam)) {
    lmax <- lmax_of(a$eps)
    if (!(lmax > 0)) {
      cli::cli_warn(c("{.arg eps} = {a$eps} is so large that theta = 0 is optimal for every lambda.",
                      "i" = "The grid of the unattacked fit is used; all coefficients are zero."))
      lmax <- lmax_of(0)
      if (!(lmax > 0)) lmax <- 1
    }
    n_pos <- sum(om > 0)
    ratio <- if (is.null(a$lambda_min_ratio)) (if (n_pos < d) 0.01 else 1e-4) else a$lambda_min_ratio
    lam <- if (a$nlambda == 1) lmax
           else exp(seq(log(lmax), log(lmax * ratio), length.out = a$nlambda))
  }
  res <- .Call(C_logit_path, pr$xc, as.double(y), om, pr$w, pr$sc, pr$excl,
               numeric(d), as.double(lam),
               c(a$eps, a$thresh, 0.999, null_loss, b0),
               c(norm_code(a$norm), as.integer(a$intercept), a$maxit, a$threads))
  L <- res$nlambda
  keep <- seq_len(L)
  lam <- lam[keep]
  beta <- res$beta[, keep, drop = FALSE]
  st <- res$status[keep]
  kkt <- res$kkt[keep]
  lasso_report(st, lam, kkt, a$thresh, units = "per standardised column")
  vn <- colnames(a$x)
  if (is.null(vn)) vn <- paste0("V", seq_len(d))
  snames <- paste0("s", keep - 1L)
  dimnames(beta) <- list(vn, snames)
  a0 <- res$b[keep] - drop(crossprod(pr$xm, beta))
  names(a0) <- snames
  n_pos <- sum(om > 0)
  structure(list(
    a0 = a0, beta = beta, lambda = lam, df = colSums(beta != 0),
    kkt = kkt, iters = res$iters[keep], status = st,
    lambda_max = lmax, eps = a$eps, norm = a$norm, xi = 0,
    intercept = a$intercept, standardize = a$standardize, penalty_factor = pr$pf,
    thresh = a$thresh, dim = c(d, L), nobs = n_pos,
    weights = if (is.null(rows)) a$weights,
    dev.ratio = 1 - res$loss[keep] / null_loss,
    nulldev = 2 * n_pos * null_loss, family = "binomial",
    labels = a$labels[c("levels", "kind")], call = NULL
  ), class = c("adv_lasso_binomial", "adv_lasso"))
}

# The link of every column of coefficients cf ((d + 1) x K) at x, moved by the attack:
# against the labels yy (+-1) when given, else toward the decision boundary.
lasso_binomial_link <- function(object, f, cf, eps, yy) {
  if (eps > 0) {
    shift <- eps * apply(cf[-1, , drop = FALSE], 2, attack_norm, norm = object$norm)
    sgn <- if (is.null(yy)) sign(f) else matrix(yy, nrow(f), ncol(f))
    f <- f - sgn * rep(shift, each = nrow(f))
  }
  f
}

#' Predictions of the adversarial L1-penalised logistic regression
#'
#' @param object An `adv_lasso_binomial` fit (`adv_lasso(..., family = "binomial")`).
#' @param newx Matrix of new inputs (for fits of the formula method, a data frame may
#'   be given as `newx` or `newdata`).
#' @param s Penalties; `NULL` for the whole path (interpolated between the path's
#'   values as for [adv_lasso()]).
#' @param type `"link"` (\eqn{b + x'\theta}), `"response"` (the probability of the
#'   second class), `"class"` (labels of the fit's type), `"coefficients"` or
#'   `"nonzero"`.
#' @param eps Attack size for worst-case predictions (0: clean): with labels `y` the
#'   link moves against the true class by \eqn{\epsilon\|\theta\|_*} (the attack that
#'   maximises the loss), without them toward the decision boundary (a predicted class
#'   that changes is not robust at `eps`), as in [predict.adv_logistic()].
#' @param y Labels of the new observations, for labelled worst-case predictions.
#' @param newdata For fits of the formula method, a data frame.
#' @param ... Not used.
#' @return A matrix with one column per penalty (labels for `type = "class"`: a
#'   character, numeric or logical matrix as `y` was, or a factor when there is one
#'   penalty and `y` was a factor); the coefficient matrix, or a list of indices.
#' @export
predict.adv_lasso_binomial <- function(object, newx, s = NULL,
                                       type = c("link", "response", "class",
                                                "coefficients", "nonzero"),
                                       eps = 0, y = NULL, newdata = NULL, ...) {
  type <- check_choice(type, c("link", "response", "class", "coefficients", "nonzero"))
  eps <- check_number(eps, min = 0)
  if (type %in% c("coefficients", "nonzero")) {
    return(predict.adv_lasso(object, s = s, type = type))
  }
  f <- if (missing(newx)) predict.adv_lasso(object, s = s, newdata = newdata)
       else predict.adv_lasso(object, newx, s = s, newdata = newdata)
  yy <- if (is.null(y)) NULL else logistic_newy(object, y, nrow(f))
  f <- lasso_binomial_link(object, f, lasso_coef_at(object, s), eps, yy)
  switch(type,
         link = f,
         response = stats::plogis(f),
         class = {
           lev <- object$labels$levels
           cl <- matrix(lev[ifelse(f > 0, 2L, 1L)], nrow(f), ncol(f), dimnames = dimnames(f))
           if (object$labels$kind == "factor" && ncol(cl) == 1) {
             factor(cl[, 1], levels = lev)
           } else cl
         })
}

# ------------------------------------------------------------------------ CV ----

# Validation measures of every lambda of `fit` on (x, yy in +-1, weights w): deviance
# (2 x the weighted mean logistic loss, attacked when eps > 0), misclassification or
# AUC (of the attacked links).
lasso_binomial_val <- function(fit, x, yy, type, eps, w) {
  if (is.null(w)) w <- rep(1, length(yy))
  if (!(sum(w) > 0)) return(rep(0, length(fit$lambda)))
  f <- path_fitted(x, fit$beta) + rep(fit$a0, each = nrow(x))
  cf <- rbind(fit$a0, fit$beta)
  f <- lasso_binomial_link(fit, f, cf, eps, yy)
  switch(type,
         deviance = 2 * colSums(w * softplus(-yy * f)) / sum(w),
         class = colSums(w * ((f > 0) != (yy > 0))) / sum(w),
         auc = apply(f, 2, weighted_auc, yy = yy, w = w))
}

# The weighted Mann-Whitney AUC of scores f for labels yy (+-1): the weighted share of
# (positive, negative) pairs ordered correctly, ties counting half; NA without both.
weighted_auc <- function(f, yy, w) {
  p <- yy > 0 & w > 0
  q <- yy < 0 & w > 0
  if (!any(p) || !any(q)) return(NA_real_)
  fn <- f[q]
  wn <- w[q]
  o <- order(fn)
  fn <- fn[o]
  cw <- c(0, cumsum(wn[o]))
  lo <- findInterval(f[p], fn, left.open = TRUE) # negatives strictly below
  hi <- findInterval(f[p], fn)                   # negatives at or below
  below <- cw[lo + 1]
  ties <- cw[hi + 1] - below
  sum(w[p] * (below + ties / 2)) / (sum(w[p]) * sum(wn))
}

# cv_adv_lasso(family = "binomial"): `a` from lasso_binomial_args().
cv_binomial <- function(a, nfolds, foldid, type, measure, call, env) {
  fit <- lasso_binomial_fit(a)
  n <- nrow(a$x)
  if (is.null(foldid)) {
    nfolds <- check_count(nfolds, min = 3, call = env)
    if (nfolds > n) {
      abort_arg("{.arg nfolds} must be at most the number of observations ({n}), not {nfolds}.",
                "nfolds", env)
    }
    foldid <- sample(rep(seq_len(nfolds), length.out = n))
  } else {
    foldid <- check_fold_id(foldid, n, call = env)
  }
  K <- max(foldid)
  w <- a$weights
  if (!is.null(w)) {
    wk <- vapply(seq_len(K), function(k) sum(w[foldid == k]), 0)
    if (any(wk == sum(w))) {
      abort_arg("{.arg weights} are zero outside fold {which(wk == sum(w))[1]}, so its training set has no weight.",
                "weights", env)
    }
  }
  eps <- if (measure == "adversarial") a$eps else 0
  # classes per fold: a training set needs both; a held-out fold with at most one
  # observation of a class gives a noisy (for AUC: undefined) measure
  cnt <- table(factor(foldid, levels = seq_len(K)), factor(a$y, levels = c(-1, 1)))
  tot <- colSums(cnt)
  short <- sweep(-cnt, 2, tot, "+") < 2 # fewer than 2 of a class outside the fold
  if (any(short)) {
    k <- which(apply(short, 1, any))[1]
    abort_arg("{.arg foldid} leaves fewer than 2 observations of a class outside fold {k}, so its training set cannot be fitted.",
              "foldid", env)
  }
  if (any(cnt <= 1)) {
    k <- which(apply(cnt <= 1, 1, any))
    cli::cli_warn("{length(k)} fold{?s} ({paste(utils::head(k, 5), collapse = ', ')}) {cli::qty(length(k))}hold{?s/} at most one observation of a class; their {type} is noisy{if (type == 'auc') ' (undefined without both classes: such folds are left out)' else ''}.")
  }
  a$lambda <- fit$lambda
  fold_loss <- function(k) {
    test <- which(foldid == k)
    f <- suppressWarnings(lasso_binomial_fit(a, rows = seq_len(n)[-test]))
    v <- lasso_binomial_val(f, a$x[test, , drop = FALSE], a$y[test], type, eps,
                            if (is.null(w)) NULL else w[test])
    # a fold's path can stop early (deviance ratio 0.999): its last value carries on
    if (length(v) < length(fit$lambda)) v <- c(v, rep(v[length(v)], length(fit$lambda) - length(v)))
    v
  }
  wts <- if (is.null(w)) tabulate(foldid, K) else vapply(seq_len(K), function(k) sum(w[foldid == k]), 0)
  losses <- future.apply::future_lapply(seq_len(K), fold_loss, future.seed = NULL)
  raw <- do.call(rbind, losses)
  ok <- !is.na(raw)
  wm <- wts * ok
  raw0 <- ifelse(ok, raw, 0)
  cvm <- colSums(raw0 * wm) / colSums(wm)
  cvsd <- sqrt(colSums(ifelse(ok, sweep(raw, 2, cvm)^2, 0) * wm) / colSums(wm) /
                 pmax(colSums(ok & wts > 0) - 1, 1))
  sgn <- if (type == "auc") -1 else 1 # AUC is maximised
  imin <- which.min(sgn * cvm)
  i1se <- min(which(sgn * cvm <= sgn * cvm[imin] + cvsd[imin]))
  structure(list(
    lambda = fit$lambda, cvm = cvm, cvsd = cvsd, cvup = cvm + cvsd, cvlo = cvm - cvsd,
    nzero = fit$df, lambda_min = fit$lambda[imin], lambda_1se = fit$lambda[i1se],
    index = c(min = imin, `1se` = i1se), measure = measure, type.measure = type,
    foldid = foldid, fit = fit, call = call
  ), class = "cv_adv_lasso")
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.adv_lasso_binomial <- function(x, s = NULL, data = NULL, newdata = NULL,
                                       newx = NULL, y = NULL, ...) {
  s <- lasso_one_s(x, s)
  augment_check_new(x, newdata, newx)
  yy <- NULL
  if (!is.null(newdata)) {
    f <- drop(stats::predict(x, newdata = newdata, s = s))
    v <- tryCatch(eval(x$terms[[2]], newdata, environment(x$terms)),
                  error = function(e) NULL)
    if (!is.null(v) && length(v) == length(f)) yy <- logistic_newy(x, v, length(f))
  } else if (!is.null(newx)) {
    f <- drop(stats::predict(x, newx, s = s))
    if (!is.null(y)) yy <- logistic_newy(x, y, length(f))
  } else {
    if (is.null(x$terms)) {
      abort_arg("{.arg newx} (with {.arg y}) is needed: a LASSO fit of the matrix method does not keep its data.",
                "newx", rlang::current_env())
    }
    f <- drop(stats::predict(x, s = s))
    v <- stats::model.response(x$model)
    yy <- formula_pad(x, logistic_newy(x, v, length(v)))
  }
  augment_logistic_cols(augment_frame(x, data, newdata, newx, f, NULL, NULL, FALSE),
                        x, f, yy, lasso_coef_at(x, s)[-1, 1])
}
