# broom-style tidiers on the generics package (issue 19), and summary() of the LASSO
# fits. The methods are registered for generics::tidy / glance / augment when generics
# is loaded (it is in Suggests; broom re-exports the same generics).

#' Tidy, glance and augment adversarial fits
#'
#' Methods for the [generics::tidy()], [generics::glance()] and [generics::augment()]
#' generics (those of broom and tidymodels), for [adv_lm()] (both families),
#' [adv_lasso()], [cv_adv_lasso()], [adv_nn2()] and [adv_cnn()] fits and for
#' [adv_optimum()]. They are registered when the generics
#' package is loaded (`library(generics)` or `library(broom)`). They return plain data
#' frames (tibble is not a dependency of advtrain; `tibble::as_tibble()` converts).
#'
#' * `tidy()`: one row per coefficient, with `term` and `estimate`. For `adv_lasso`
#'   one row per coefficient and \eqn{\lambda} (`term`, `step`, `estimate`, `lambda`,
#'   `dev.ratio`; zero coefficients are left out unless `return_zeros = TRUE`), as
#'   broom's glmnet tidier; for `cv_adv_lasso` one row per \eqn{\lambda} with the CV
#'   curve (`lambda`, `estimate` = mean CV loss, `std.error`, `conf.low`,
#'   `conf.high`, `nzero`); for `adv_nn2` one row per first-layer weight (`term`,
#'   `unit`, `estimate`, and the unit's fixed second-layer weight `a`); for
#'   `adv_optimum` one row per coefficient and eps (`term`, `eps`, `estimate` =
#'   \eqn{\theta^*(\epsilon)}); for `adv_cnn` one row per network parameter (`layer`,
#'   its `type`, `parameter` as `weight` or `bias`, `index` within it, `estimate`).
#' * `glance()`: one row: `nobs`, `eps`, `norm`, `xi`, `method`, the final training
#'   losses (`loss_surrogate`, `loss_adv`, `loss_std`), `iterations`, `stopped`,
#'   `converged` (`NA` where the method has no convergence test), and the population
#'   risks `risk_adv`, `risk_std`, `R_star` (`NA` unless `truth` was given). For
#'   LASSO paths: `nobs`, `eps`, `norm`, `xi`, `nlambda`, `lambda_max`, the largest
#'   KKT residual `kkt_max` and `converged` (every \eqn{\lambda} reached the
#'   tolerance); for `cv_adv_lasso` also `lambda_min`, `lambda_1se`, `measure` and
#'   `nfolds`. Binomial `adv_lm`: `nobs`, `eps`, `norm`, `xi`, `method`, `family`,
#'   the attacked and clean mean log-losses (`loss_adv`, `loss_std`) and
#'   misclassification rates (`error_adv`, `error_std`), `kkt`, `iterations`,
#'   `stopped`, `converged`. `adv_optimum`: `d`, `norm`, `sigma2`, `v2`, `eps_c`,
#'   `n_eps` and the range of \eqn{R^*(\epsilon)}. `adv_cnn`: `parameters`, `epochs`,
#'   the attack settings, the last epoch's `loss` and accuracies, `seconds`.
#' * `augment()`: the data with `.fitted` and `.resid` (`y` minus `.fitted`) per row,
#'   and for the linear models the attacked quantities under the worst-case attack of
#'   the fit (its `eps` and `norm`, \eqn{\xi = 0}): `.fitted_adv`, the prediction at
#'   the attacked input \eqn{x_i + A_i}, and `.loss_adv`, \eqn{(y_i -
#'   \text{.fitted\_adv})^2}, whose mean is the fit's adversarial training loss. The
#'   data are `data` if given, else the model frame for formula fits (with
#'   `na.exclude`, padded rows are `NA`), else the columns of the training matrix are
#'   not stored and only the new columns are returned. With `newdata` (formula fits)
#'   or `newx` (matrix fits) the predictions are at new data, `.resid` and the
#'   attacked quantities only when the response is in `newdata`. Binomial `adv_lm`:
#'   `.link`, `.fitted` (the probability of the second class), `.class`, and with
#'   labels the worst-case link `.link_adv` (\eqn{f - y\epsilon\|\theta\|_*}), its
#'   log-loss `.loss_adv` and the signed certified radius `.radius` (as
#'   [adv_certified_radius()]). `adv_optimum`: its `as.data.frame()` (one row per
#'   eps). `adv_cnn`: `newdata` images are required (the fit keeps no training
#'   data): `.fitted` (class), `.prob` (its probability) and, with `y`, `.y` and
#'   `.correct` (`.resid` for a regression head).
#'
#' @param x A fit.
#' @param s For LASSO fits, one penalty (`augment()`); for `cv_adv_lasso`,
#'   `"lambda_1se"` (default), `"lambda_min"` (or glmnet's spellings) or a number.
#' @param return_zeros Keep the zero coefficients of a LASSO path.
#' @param data A data frame of the training rows to add the columns to.
#' @param newdata A data frame of new rows (formula fits).
#' @param newx A matrix of new inputs (matrix fits), with `y`, optionally, its
#'   responses.
#' @param y Responses of the rows of `newx`.
#' @param ... Not used.
#' @return A data frame.
#' @name advtrain-tidiers
#' @examples
#' if (requireNamespace("generics", quietly = TRUE)) {
#'   fit <- adv_lm(mpg ~ wt + hp, data = mtcars, eps = 0.1, method = "exact")
#'   generics::tidy(fit)
#'   generics::glance(fit)
#'   head(generics::augment(fit))
#' }
NULL

glance_lm_like <- function(x, method) {
  last <- x$trace[nrow(x$trace), ]
  conv <- if (!is.null(x$converged)) isTRUE(x$converged)
          else if (identical(method, "exact")) identical(x$stopped, "converged") else NA
  data.frame(nobs = fit_nobs(x), eps = x$eps, norm = x$norm, xi = x$xi,
             method = method, loss_surrogate = last$loss_surrogate,
             loss_adv = last$loss_adv, loss_std = last$loss_std,
             iterations = as.integer(x$iterations),
             stopped = if (is.null(x$stopped)) NA_character_ else x$stopped,
             converged = conv, risk_adv = last$risk_adv, risk_std = last$risk_std,
             R_star = x$R_star)
}

# The worst-case (xi = 0) attacked prediction of a linear model at rows with fitted
# values f and responses y: the attack of the shared C kernel depends on a row only
# through its residual, so the inputs themselves are not needed.
attacked_rows <- function(theta, f, y, eps, norm) {
  ok <- !is.na(f) & !is.na(y)
  fa <- rep(NA_real_, length(f))
  theta <- as.double(theta)
  if (any(ok) && length(theta)) {
    z <- matrix(0, sum(ok), length(theta))
    att <- .Call(C_linear_attack, theta, z, as.double(y[ok] - f[ok]), as.double(eps),
                 norm_code(norm), 0)
    fa[ok] <- f[ok] + drop(att %*% theta)
    # a residual of exactly 0 (the kink rows of an exact fit): the gradient attack
    # is not defined there, but the worst case still moves the prediction by
    # eps ||theta||_*, either way; report the upward move
    shift <- eps * attack_norm(theta, norm)
    z0 <- which(ok)[f[ok] == y[ok]]
    fa[z0] <- f[z0] + shift
  } else {
    fa[ok] <- f[ok]
  }
  list(.fitted_adv = fa, .loss_adv = (y - fa)^2)
}

# The shared body of augment(): `pred` the predictions (at the training rows, padded,
# when there are no new data), `resp` the responses (or NULL).
augment_frame <- function(x, data, newdata, newx, pred, resp, theta, linear) {
  base <- if (!is.null(newdata)) {
    newdata
  } else if (!is.null(newx)) {
    as.data.frame(newx)
  } else if (!is.null(data)) {
    data
  } else if (!is.null(x$model)) {
    mf <- x$model
    if (inherits(x$na.action, "exclude")) {
      # back to the rows of the data given, NA at the excluded ones
      idx <- stats::naresid(x$na.action, seq_len(nrow(mf)))
      rn <- character(length(idx))
      rn[!is.na(idx)] <- rownames(mf)
      rn[is.na(idx)] <- names(x$na.action)
      mf <- mf[idx, , drop = FALSE]
      rownames(mf) <- rn
    }
    mf
  } else {
    data.frame(row.names = if (is.null(names(pred))) seq_along(pred) else names(pred))
  }
  if (nrow(base) != length(pred)) {
    abort_arg("{.arg data} must have {length(pred)} row{?s} (those of the fit), not {nrow(base)}.",
              "data", rlang::caller_env())
  }
  out <- as.data.frame(base)
  attr(out, "terms") <- NULL
  out$.fitted <- unname(pred)
  if (!is.null(resp)) {
    out$.resid <- unname(resp - pred)
    if (linear) {
      at <- attacked_rows(theta, unname(pred), unname(resp), x$eps, x$norm)
      out$.fitted_adv <- at$.fitted_adv
      out$.loss_adv <- at$.loss_adv
    }
  }
  out
}

# The response of newdata for a formula fit, NULL when it is absent.
augment_response <- function(x, newdata) {
  yv <- x$terms[[2]]
  v <- tryCatch(eval(yv, newdata, environment(x$terms)), error = function(e) NULL)
  if (is_plain_numeric(v) && length(v) == nrow(newdata)) as.double(v) else NULL
}

augment_check_new <- function(x, newdata, newx) {
  if (!is.null(newdata) && is.null(x$terms)) {
    abort_arg("{.arg newdata} is for fits of the formula method; give {.arg newx}.",
              "newdata", rlang::caller_env())
  }
  if (!is.null(newx) && !is.null(x$terms)) {
    abort_arg("{.arg newx} is for fits of the matrix method; this fit used a formula, so give {.arg newdata}.",
              "newx", rlang::caller_env())
  }
}

# ------------------------------------------------------------------ adv_lm ----

#' @rdname advtrain-tidiers
#' @exportS3Method generics::tidy
tidy.adv_lm <- function(x, ...) {
  cf <- x$coefficients
  data.frame(term = names(cf), estimate = unname(cf))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::glance
glance.adv_lm <- function(x, ...) glance_lm_like(x, x$method)

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.adv_lm <- function(x, data = NULL, newdata = NULL, newx = NULL, y = NULL, ...) {
  augment_check_new(x, newdata, newx)
  if (!is.null(newdata)) {
    pred <- stats::predict(x, newdata = newdata)
    resp <- augment_response(x, newdata)
  } else if (!is.null(newx)) {
    pred <- stats::predict(x, newx = newx)
    resp <- if (is.null(y)) NULL else check_numeric(y, len = length(pred))
  } else {
    pred <- stats::fitted(x)
    resp <- pred + stats::residuals(x)
  }
  augment_frame(x, data, newdata, newx, pred, resp, x$theta, TRUE)
}

# --------------------------------------------------------------- adv_lasso ----

#' @rdname advtrain-tidiers
#' @exportS3Method generics::tidy
tidy.adv_lasso <- function(x, return_zeros = FALSE, ...) {
  cf <- rbind("(Intercept)" = x$a0, x$beta)
  k <- ncol(cf)
  out <- data.frame(term = rep(rownames(cf), times = k),
                    step = rep(seq_len(k), each = nrow(cf)),
                    estimate = as.vector(cf),
                    lambda = rep(x$lambda, each = nrow(cf)),
                    dev.ratio = rep(if (is.null(x$dev.ratio)) NA_real_ else x$dev.ratio,
                                    each = nrow(cf)))
  if (!isTRUE(return_zeros)) out <- out[out$estimate != 0, , drop = FALSE]
  rownames(out) <- NULL
  out
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::glance
glance.adv_lasso <- function(x, ...) {
  data.frame(nobs = fit_nobs(x), eps = x$eps, norm = x$norm, xi = x$xi,
             nlambda = length(x$lambda), lambda_max = x$lambda_max,
             kkt_max = max(x$kkt), converged = all(x$status == 0L))
}

lasso_one_s <- function(x, s, call = rlang::caller_env(), fn = "augment") {
  if (is.null(s)) {
    if (length(x$lambda) == 1) return(x$lambda)
    abort_arg("{.arg s} must be one penalty for {.fn {fn}} of a path of {length(x$lambda)} lambda values.",
              "s", call)
  }
  check_number(s, min = 0, call = call)
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.adv_lasso <- function(x, s = NULL, data = NULL, newdata = NULL, newx = NULL,
                              y = NULL, ...) {
  s <- lasso_one_s(x, s)
  augment_check_new(x, newdata, newx)
  cf <- lasso_coef_at(x, s)
  if (!is.null(newdata)) {
    pred <- drop(stats::predict(x, newdata = newdata, s = s))
    resp <- augment_response(x, newdata)
  } else if (!is.null(newx)) {
    pred <- drop(stats::predict(x, newx, s = s))
    resp <- if (is.null(y)) NULL else check_numeric(y, len = length(pred))
  } else {
    if (is.null(x$terms)) {
      abort_arg("{.arg newx} (with {.arg y}) is needed: a LASSO fit of the matrix method does not keep its data.",
                "newx", rlang::current_env())
    }
    pred <- drop(stats::predict(x, s = s))
    resp <- formula_pad(x, as.double(stats::model.response(x$model)))
  }
  augment_frame(x, data, newdata, newx, pred, resp, cf[-1, 1], TRUE)
}

# ------------------------------------------------------------ cv_adv_lasso ----

#' @rdname advtrain-tidiers
#' @exportS3Method generics::tidy
tidy.cv_adv_lasso <- function(x, ...) {
  data.frame(lambda = x$lambda, estimate = x$cvm, std.error = x$cvsd,
             conf.low = x$cvlo, conf.high = x$cvup, nzero = unname(x$nzero))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::glance
glance.cv_adv_lasso <- function(x, ...) {
  cbind(glance.adv_lasso(x$fit), lambda_min = x$lambda_min, lambda_1se = x$lambda_1se,
        measure = x$measure, nfolds = max(x$foldid))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.cv_adv_lasso <- function(x, s = "lambda_1se", ...) {
  augment.adv_lasso(x$fit, s = cv_lambda_s(x, s), ...)
}

# ----------------------------------------------------------------- adv_nn2 ----

#' @rdname advtrain-tidiers
#' @exportS3Method generics::tidy
tidy.adv_nn2 <- function(x, ...) {
  th <- x$theta
  data.frame(term = rep(rownames(th), times = ncol(th)),
             unit = rep(seq_len(ncol(th)), each = nrow(th)),
             estimate = as.vector(th), a = rep(x$a, each = nrow(th)))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::glance
glance.adv_nn2 <- function(x, ...) {
  out <- glance_lm_like(x, paste0("gd (", x$activation, ", h = ", x$h, ")"))
  out$converged <- NA
  out
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.adv_nn2 <- function(x, data = NULL, newdata = NULL, newx = NULL, y = NULL, ...) {
  augment_check_new(x, newdata, newx)
  if (!is.null(newdata)) {
    pred <- stats::predict(x, newdata = newdata)
    resp <- augment_response(x, newdata)
  } else if (!is.null(newx)) {
    pred <- stats::predict(x, newx = newx)
    resp <- if (is.null(y)) NULL else check_numeric(y, len = length(pred))
  } else {
    pred <- stats::fitted(x)
    resp <- pred + stats::residuals(x)
  }
  augment_frame(x, data, newdata, newx, pred, resp, NULL, FALSE)
}

# ------------------------------------------------------------ adv_logistic ----

#' @rdname advtrain-tidiers
#' @exportS3Method generics::tidy
tidy.adv_logistic <- function(x, ...) {
  cf <- x$coefficients
  data.frame(term = names(cf), estimate = unname(cf))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::glance
glance.adv_logistic <- function(x, ...) {
  y <- x$y
  f <- x$linear.predictors
  shift <- x$eps * attack_norm(x$theta, x$norm)
  data.frame(nobs = fit_nobs(x), eps = x$eps, norm = x$norm, xi = x$xi,
             method = x$method, family = "binomial",
             loss_adv = mean(softplus(-y * f + shift)), loss_std = mean(softplus(-y * f)),
             error_adv = mean(y * f - shift <= 0), error_std = mean(y * f <= 0),
             kkt = x$kkt, iterations = as.integer(x$iterations), stopped = x$stopped,
             converged = identical(x$stopped, "converged"))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.adv_logistic <- function(x, data = NULL, newdata = NULL, newx = NULL, y = NULL,
                                 ...) {
  augment_check_new(x, newdata, newx)
  yy <- NULL
  if (!is.null(newdata)) {
    f <- stats::predict(x, newdata = newdata, type = "link")
    v <- tryCatch(eval(x$terms[[2]], newdata, environment(x$terms)),
                  error = function(e) NULL)
    if (!is.null(v) && length(v) == length(f)) yy <- logistic_newy(x, v, length(f))
  } else if (!is.null(newx)) {
    f <- stats::predict(x, newx = newx, type = "link")
    if (!is.null(y)) yy <- logistic_newy(x, y, length(f))
  } else {
    f <- x$linear.predictors
    yy <- x$y
    if (!is.null(x$na.action) && inherits(x$na.action, "exclude")) {
      f <- stats::naresid(x$na.action, f)
      yy <- stats::naresid(x$na.action, yy)
    }
  }
  augment_logistic_cols(augment_frame(x, data, newdata, newx, f, NULL, NULL, FALSE),
                        x, f, yy, x$theta)
}

# The columns of a linear classifier's augment(): the link, the probability of the
# second class, the class and, with labels yy (+-1), the worst-case link, loss and
# signed certified radius for the coefficients theta (adv_logistic fits and binomial
# lasso paths at one penalty).
augment_logistic_cols <- function(out, x, f, yy, theta) {
  f <- unname(f)
  out$.fitted <- NULL
  out$.link <- f
  out$.fitted <- stats::plogis(f)
  lev <- x$labels$levels
  out$.class <- lev[ifelse(f > 0, 2L, 1L)]
  if (x$labels$kind == "factor") out$.class <- factor(out$.class, levels = lev)
  if (!is.null(yy)) {
    yy <- as.vector(unname(yy))
    nrm <- attack_norm(theta, x$norm)
    shift <- x$eps * nrm
    out$.link_adv <- f - yy * shift
    out$.loss_adv <- softplus(-yy * f + shift)
    out$.radius <- yy * f / nrm
  }
  out
}

# --------------------------------------------------------------- adv_optimum ----

#' @rdname advtrain-tidiers
#' @exportS3Method generics::tidy
tidy.adv_optimum <- function(x, ...) {
  th <- x$theta
  nm <- rownames(th)
  if (is.null(nm)) nm <- paste0("theta", seq_len(nrow(th)))
  data.frame(term = rep(nm, times = ncol(th)), eps = rep(x$eps, each = nrow(th)),
             estimate = as.vector(th))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::glance
glance.adv_optimum <- function(x, ...) {
  data.frame(d = nrow(x$theta), norm = x$norm, sigma2 = x$truth$sigma2, v2 = x$v2,
             eps_c = x$eps_c, n_eps = length(x$eps), risk_min = min(x$risk),
             risk_max = max(x$risk))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.adv_optimum <- function(x, ...) as.data.frame(x)

# ------------------------------------------------------------------- adv_cnn ----

#' @rdname advtrain-tidiers
#' @exportS3Method generics::tidy
tidy.advtrain_cnn <- function(x, ...) {
  rows <- lapply(seq_along(x$weights), function(k) {
    lw <- x$weights[[k]]
    parts <- lapply(names(lw), function(nm) {
      v <- as.vector(lw[[nm]])
      if (!length(v)) return(NULL)
      data.frame(layer = k, type = layer_label(x$spec$layers[[k]]), parameter = nm,
                 index = seq_along(v), estimate = v)
    })
    do.call(rbind, parts)
  })
  out <- do.call(rbind, rows)
  if (is.null(out)) {
    out <- data.frame(layer = integer(0), type = character(0), parameter = character(0),
                      index = integer(0), estimate = numeric(0))
  }
  rownames(out) <- NULL
  out
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::glance
glance.advtrain_cnn <- function(x, ...) {
  st <- x$settings
  h <- x$history
  last <- h[nrow(h), ]
  col <- function(nm) if (nm %in% names(h)) last[[nm]] else NA_real_
  data.frame(parameters = length(fit_theta(x)), epochs = nrow(h),
             eps = st$eps, norm = st$norm, attack = st$attack, steps = st$steps,
             loss = last$loss, train_accuracy = col("train_accuracy"),
             val_accuracy = col("val_accuracy"), val_adv_accuracy = col("val_adv_accuracy"),
             seconds = sum(h$seconds))
}

#' @rdname advtrain-tidiers
#' @exportS3Method generics::augment
augment.advtrain_cnn <- function(x, newdata = NULL, y = NULL, ...) {
  if (is.null(newdata)) {
    abort_arg("{.arg newdata} (images in the training layout) is required: the fit does not keep its training images.",
              "newdata", rlang::caller_env())
  }
  pr <- stats::predict(x, newdata, type = "prob")
  out <- data.frame(.fitted = stats::predict(x, newdata, type = "class"))
  if (x$loss == 1L) out$.prob <- apply(pr, 1, max)
  if (!is.null(y)) {
    out$.y <- y
    if (x$loss == 1L) out$.correct <- as.character(out$.fitted) == as.character(y)
    else out$.resid <- as.double(y) - out$.fitted
  }
  out
}
