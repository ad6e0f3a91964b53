# summary() of adv_lasso and cv_adv_lasso fits (issue 19).

#' Summaries of adversarial LASSO fits
#'
#' `summary()` of an [adv_lasso()] path gives its settings, the number of
#' observations used (and those dropped by `na.action`), and per \eqn{\lambda} the
#' number of non-zero coefficients `Df`, `%Dev` (the share of the null model's attacked
#' training loss explained; see [adv_lasso-methods]), the KKT residual and the solver's
#' status (0 = converged). `summary()` of a [cv_adv_lasso()] fit gives the CV loss at
#' `lambda_min` and `lambda_1se` and the non-zero coefficients at both.
#' @param object An `adv_lasso` or `cv_adv_lasso` fit.
#' @param x A summary.
#' @param digits Significant digits to print.
#' @param ... Not used.
#' @return An object of class `summary.adv_lasso` or `summary.cv_adv_lasso` (a list),
#'   printed by its `print()` method.
#' @examples
#' fit <- adv_lasso(mpg ~ ., data = mtcars, eps = 0.1, nlambda = 10)
#' summary(fit)
#' @name adv_lasso-summary
NULL

#' @rdname adv_lasso-summary
#' @export
summary.adv_lasso <- function(object, ...) {
  path <- data.frame(Lambda = object$lambda, Df = unname(object$df),
                     `%Dev` = if (is.null(object$dev.ratio)) NA_real_
                              else 100 * object$dev.ratio,
                     KKT = object$kkt, Iters = object$iters, Status = object$status,
                     row.names = names(object$a0), check.names = FALSE)
  structure(list(call = object$call, eps = object$eps, norm = object$norm,
                 xi = object$xi, nobs = fit_nobs(object), d = object$dim[1],
                 na.action = object$na.action, intercept = object$intercept,
                 standardize = object$standardize, thresh = object$thresh,
                 path = path, unconverged = sum(object$status != 0L),
                 binomial = identical(object$family, "binomial")),
            class = "summary.adv_lasso")
}

summary_na_line <- function(na) {
  if (is.null(na)) return(invisible())
  cat(sprintf("(%s)\n", stats::naprint(na)))
}

#' @rdname adv_lasso-summary
#' @export
print.summary.adv_lasso <- function(x, digits = 4, ...) {
  if (!is.null(x$call)) {
    cat("Call:\n")
    print(x$call)
    cat("\n")
  }
  cat(sprintf("Adversarial %sLASSO path: %s attacks, eps = %s%s; n = %d, d = %d%s%s\n",
              if (isTRUE(x$binomial)) "logistic " else "", attack_label(x$norm), format(x$eps),
              if (x$xi > 0) sprintf(", xi = %s (surrogate)", format(x$xi)) else "",
              x$nobs, x$d, if (x$intercept) "" else ", no intercept",
              if (isTRUE(x$standardize)) ", standardized penalty" else ""))
  summary_na_line(x$na.action)
  p <- x$path
  p$Lambda <- signif(p$Lambda, digits)
  p$`%Dev` <- round(p$`%Dev`, 2)
  p$KKT <- signif(p$KKT, 2)
  cat("\n")
  print(p)
  cat(if (x$unconverged == 0) {
    sprintf("\nEvery lambda reached the KKT tolerance %s.\n", format(x$thresh))
  } else {
    sprintf("\n%d lambda value(s) did not reach the KKT tolerance %s (Status != 0).\n",
            x$unconverged, format(x$thresh))
  })
  invisible(x)
}

#' @rdname adv_lasso-summary
#' @export
summary.cv_adv_lasso <- function(object, ...) {
  i <- object$index
  f <- object$fit
  tab <- data.frame(Lambda = object$lambda[i], Index = unname(i),
                    Measure = object$cvm[i], SE = object$cvsd[i],
                    Nonzero = unname(object$nzero[i]),
                    `%Dev` = if (is.null(f$dev.ratio)) NA_real_ else 100 * f$dev.ratio[i],
                    row.names = c("min", "1se"), check.names = FALSE)
  cf <- cbind(lambda_min = stats::coef(object, s = "lambda_min")[, 1],
              lambda_1se = stats::coef(object, s = "lambda_1se")[, 1])
  keep <- rownames(cf) == "(Intercept)" | rowSums(cf != 0) > 0
  structure(list(call = object$call, eps = f$eps, norm = f$norm, xi = f$xi,
                 nobs = fit_nobs(f), d = f$dim[1], na.action = f$na.action,
                 nfolds = max(object$foldid), measure = cv_measure_label(object), table = tab,
                 binomial = identical(f$family, "binomial"),
                 coefficients = cf[keep, , drop = FALSE]),
            class = "summary.cv_adv_lasso")
}

#' @rdname adv_lasso-summary
#' @export
print.summary.cv_adv_lasso <- function(x, digits = 4, ...) {
  if (!is.null(x$call)) {
    cat("Call:\n")
    print(x$call)
    cat("\n")
  }
  cat(sprintf("Cross-validated adversarial %sLASSO: %s attacks, eps = %s%s; n = %d, d = %d; %d folds, %s\n",
              if (isTRUE(x$binomial)) "logistic " else "",
              attack_label(x$norm), format(x$eps),
              if (x$xi > 0) sprintf(", xi = %s", format(x$xi)) else "",
              x$nobs, x$d, x$nfolds, x$measure))
  summary_na_line(x$na.action)
  cat("\n")
  print(x$table, digits = digits)
  cat("\nNon-zero coefficients:\n")
  print(x$coefficients, digits = digits)
  invisible(x)
}
