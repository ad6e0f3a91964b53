# The formula + data interface shared by adv_lm(), adv_lasso(), cv_adv_lasso() and
# adv_nn2() (issue 19): one helper builds the design with model.frame() /
# model.matrix() semantics (factors, contrasts, interactions, `- 1`, subset,
# na.action, weights), one rebuilds it from new data for predict(), and the methods
# nobs(), formula(), terms() and model.frame() read what it stores in the fit.

#' The formula interface of the fitting functions
#'
#' [adv_lm()], [adv_lasso()], [cv_adv_lasso()] and [adv_nn2()] accept a formula and a
#' data frame in place of `x` and `y`, with the semantics of [stats::lm()]:
#'
#' * the design is `model.matrix()` of the formula: factors are expanded by their
#'   `contrasts` (character columns are treated as factors, as lm does),
#'   interactions (`a:b`, `a * b`), transformations (`log(x)`, `poly(x, 2)`, `I(x^2)`)
#'   and `.` (all other columns) work as in lm;
#' * the formula's intercept (present unless removed by `- 1` or `+ 0`) is the fit's
#'   `intercept`, so the argument `intercept` cannot be given; [adv_nn2()]'s network
#'   has no bias, so there the intercept adds no column. An intercept-only formula
#'   `y ~ 1` gives [adv_lm()] the fit \eqn{b = \bar y} (the weighted mean with
#'   weights), the minimiser of every loss of the package when there is no slope;
#' * `subset` selects rows (evaluated in `data`), `na.action` says what to do with
#'   rows that have missing values: by default `getOption("na.action")`, which is
#'   [stats::na.omit()] unless changed, so such rows are dropped and counted
#'   (`nobs()`, `summary()`); with [stats::na.exclude()] `fitted()`, `residuals()`
#'   and `predict()` without new data are padded with `NA` at the dropped rows;
#' * `weights` (evaluated in `data`, like lm's) are observation weights, passed on to
#'   the default method (non-negative numbers, one per row of `data`);
#' * the terms, the factor levels (`xlevels`) and the contrasts are kept in the fit,
#'   so `predict(fit, newdata = )` rebuilds the design from a new data frame (with the
#'   training levels; a level not seen in training is an error) and `augment()` can
#'   return the model frame.
#'
#' Methods of formula fits: `formula()`, `terms()`, `model.frame()` and `nobs()`
#' (the number of rows used, after `subset` and `na.action`; rows with zero weight
#' are not counted, as for lm).
#' @param formula A formula `response ~ terms` (the first argument `x` of the fitting
#'   function).
#' @param data A data frame with the variables of the formula.
#' @param subset An optional logical or index vector selecting rows of `data`,
#'   evaluated in `data`.
#' @param weights Optional observation weights, evaluated in `data`.
#' @param na.action A function for rows with missing values; `NULL` (the default)
#'   means `getOption("na.action")`.
#' @param contrasts Optional list of contrasts for factors, as in [stats::lm()].
#' @name advtrain-formula
#' @examples
#' cars <- mtcars
#' cars$am <- factor(cars$am, labels = c("automatic", "manual"))
#' cars$wt[3] <- NA # dropped and counted, as by lm
#' fit <- adv_lm(mpg ~ wt * am + log(hp), data = cars, eps = 0.1, method = "exact")
#' coef(fit)
#' formula(fit)
#' nobs(fit)
#' predict(fit, newdata = cars[1:4, ])
#' path <- adv_lasso(mpg ~ ., data = cars, eps = 0.1, nlambda = 10,
#'                   penalty.factor = rep(1, 10)) # glmnet's spelling
#' predict(path, newdata = cars[1:2, ], s = 0.5)
#' @importFrom stats nobs formula terms model.frame
NULL

# The design of a formula method. `mcall` is match.call(expand.dots = FALSE) of the
# method (its first argument `x` the formula), `env` the caller's frame, `fn` the
# function's name for messages. Returns x (n x p numeric matrix without the intercept
# column), y, weights (NULL if none), intercept, and what predict() and the methods
# need later (terms, xlevels, contrasts, na.action, model, formula).
formula_design <- function(mcall, env, fn, call = rlang::caller_env()) {
  formula <- eval(mcall$x, env)
  if (!inherits(formula, "formula") || length(formula) != 3) {
    abort_arg("{.arg formula} must be a two-sided formula {.code response ~ terms}, not {describe(formula)}.",
              "formula", call)
  }
  data <- if (is.null(mcall$data)) NULL else eval(mcall$data, env)
  if (!is.data.frame(data)) {
    abort_arg("{.arg data} must be a data frame, not {describe(data)}.", "data", call)
  }
  fenv <- environment(formula)
  if (is.null(fenv)) fenv <- env
  vars <- setdiff(all.vars(formula), ".")
  absent <- vars[!vars %in% names(data) & !vapply(vars, found_in, logical(1), env = fenv)]
  if (length(absent)) {
    abort_arg("{.arg formula} names {?a column/columns} that {.arg data} does not have: {.val {absent}}.",
              "formula", call)
  }
  w <- NULL
  if (!is.null(mcall$weights)) {
    w <- eval(mcall$weights, data, fenv)
    if (!is.null(w)) w <- formula_check_weights(w, nrow(data), call)
  }
  mf <- mcall[c(1L, match(c("data", "subset", "na.action"), names(mcall), 0L))]
  mf$formula <- formula
  mf$data <- data
  mf$weights <- w
  mf$drop.unused.levels <- TRUE
  mf[[1L]] <- quote(stats::model.frame)
  mf <- eval(mf, env)
  if (nrow(mf) == 0) {
    abort_arg("No rows of {.arg data} are left after {.arg subset} and {.arg na.action}.",
              "data", call)
  }
  tt <- attr(mf, "terms")
  if (!is.null(attr(tt, "offset"))) {
    abort_arg("{.arg formula} has an {.code offset()} term, which {.fn {fn}} does not support.",
              "formula", call)
  }
  y <- stats::model.response(mf)
  yname <- deparse(formula[[2]], width.cutoff = 200)[1]
  if (is.logical(y) && is.null(dim(y))) y <- as.double(y) # as lm: FALSE/TRUE are 0/1
  # family = "binomial" (adv_lm's logistic regression) takes a factor response too
  fam <- tryCatch(eval(mcall$...$family, env), error = function(e) NULL)
  binomial <- identical(fam, "binomial") && is.factor(y) && is.null(dim(y))
  if (!binomial && (!is_plain_numeric(y) || !is.null(dim(y)))) {
    abort_arg("{.arg formula}'s response {.code {yname}} must be a numeric column, not {describe(y)}.",
              "formula", call)
  }
  for (v in names(mf)[-1]) {
    col <- mf[[v]]
    if (is.character(col)) {
      vals <- col[!is.na(col)]
      if (length(vals) && !anyNA(suppressWarnings(as.numeric(vals)))) {
        abort_arg(c("Column {.val {v}} of {.arg data} is a character column of numbers (e.g. {.val {vals[1]}}).",
                    "i" = "Convert it with {.code as.numeric()} (or with {.code factor()} to treat it as categories)."),
                  "data", call)
      }
    }
  }
  contrasts <- mcall$contrasts
  if (!is.null(contrasts)) contrasts <- eval(contrasts, env)
  xm <- stats::model.matrix(tt, mf, contrasts.arg = contrasts)
  ctr <- attr(xm, "contrasts")
  intercept <- attr(tt, "intercept") == 1
  xm <- xm[, colnames(xm) != "(Intercept)", drop = FALSE]
  attr(xm, "assign") <- NULL
  attr(xm, "contrasts") <- NULL
  if (!binomial) y <- as.double(y)
  names(y) <- rownames(mf)
  list(x = xm, y = y, weights = stats::model.weights(mf), intercept = intercept,
       terms = tt, xlevels = stats::.getXlevels(tt, mf), contrasts = ctr,
       na.action = attr(mf, "na.action"), model = mf, formula = formula)
}

# Is `v` a variable (not a function) that a formula can find in `env`?
found_in <- function(v, env) {
  exists(v, envir = env) && !is.function(get(v, envir = env))
}

formula_check_weights <- function(w, n, call) {
  if (!is_plain_numeric(w) || !is.null(dim(w))) {
    abort_arg("{.arg weights} must be a numeric vector, not {describe(w)}.", "weights", call)
  }
  if (length(w) != n) {
    abort_arg("{.arg weights} must have one value per row of {.arg data} ({n}), not {length(w)}.",
              "weights", call)
  }
  bad <- which(!is.na(w) & (!is.finite(w) | w < 0))
  if (length(bad)) {
    abort_arg("{.arg weights} must be non-negative finite numbers; element {bad[1]} is {format(w[bad[1]])}.",
              "weights", call)
  }
  as.double(w)
}

# Calls the default method `fun` (name `fn`) with the design, the formula's
# intercept where the model has one, and the weights only when given.
formula_call <- function(fun, fn, des, dots, intercept = TRUE,
                         weights_ok = "weights" %in% names(formals(fun)),
                         call = rlang::caller_env()) {
  if ("intercept" %in% names(dots)) {
    abort_arg("{.arg intercept} cannot be used with a formula; write {.code - 1} in the formula to drop the intercept.",
              "intercept", call)
  }
  if (ncol(des$x) == 0) {
    abort_arg("{.arg formula} has no predictors; {.fn {fn}} needs at least one{if (fn == 'adv_lm') ' (or an intercept, y ~ 1)' else ''}.",
              "formula", call)
  }
  args <- c(list(des$x, des$y), dots)
  if (intercept) args$intercept <- des$intercept
  if (!is.null(des$weights)) {
    if (!weights_ok) {
      abort_arg("{.arg weights} are not supported by {.fn {fn}}.", "weights", call)
    }
    args$weights <- des$weights
  }
  names(args)[1:2] <- c("x", "y")
  nm <- names(args)
  if (any(!nzchar(nm)) || anyDuplicated(nm)) return(do.call(fun, args))
  # called by name, with its arguments as symbols bound to their values: an error
  # raised inside then reads "Error in adv_lasso(x = x, y = y, ...)", not the deparsed
  # function (do.call) or data
  cl <- as.call(c(list(as.name(fn)), stats::setNames(lapply(nm, as.name), nm)))
  eval(cl, list2env(args, parent = asNamespace("advtrain")))
}

# Stores in the fit what predict() and the methods need.
formula_attach <- function(fit, des, call) {
  fit$terms <- des$terms
  fit$xlevels <- des$xlevels
  fit$contrasts <- des$contrasts
  fit$na.action <- des$na.action
  fit$model <- des$model
  if (is.null(fit$weights)) fit$weights <- des$weights # for nobs(): rows of weight 0 do not count
  if (identical(names(call)[2], "x")) names(call)[2] <- "" # print as lm(y ~ x, ...)
  fit$call <- call
  fit
}

# The design of new data for a formula fit (NA rows kept as NA rows), or of the
# training data when `newdata` is NULL.
formula_newx <- function(object, newdata, arg = "newdata", call = rlang::caller_env()) {
  tt <- stats::delete.response(object$terms)
  if (is.null(newdata)) {
    mf <- object$model
  } else {
    if (!is.data.frame(newdata)) {
      abort_arg("{.arg {arg}} must be a data frame, not {describe(newdata)}.", arg, call)
    }
    fenv <- environment(tt)
    vars <- all.vars(tt)
    absent <- vars[!vars %in% names(newdata) &
                     !vapply(vars, found_in, logical(1), env = fenv)]
    if (length(absent)) {
      abort_arg("{.arg {arg}} lacks {?the column/the columns} {.val {absent}} of the formula.",
                arg, call)
    }
    for (v in names(object$xlevels)) {
      if (!v %in% names(newdata)) next
      lev <- object$xlevels[[v]]
      vals <- unique(as.character(newdata[[v]]))
      new <- setdiff(vals[!is.na(vals)], lev)
      if (length(new)) {
        abort_arg(c("{.arg {arg}} has {?a level/levels} of {.val {v}} not seen in training: {.val {new}}.",
                    "i" = "The fit knows {.val {lev}}."), arg, call)
      }
    }
    mf <- stats::model.frame(tt, newdata, xlev = object$xlevels,
                             na.action = stats::na.pass)
    cl <- attr(tt, "dataClasses")
    if (!is.null(cl)) stats::.checkMFClasses(cl, mf)
  }
  xm <- stats::model.matrix(tt, mf, contrasts.arg = object$contrasts)
  xm <- xm[, colnames(xm) != "(Intercept)", drop = FALSE]
  attr(xm, "assign") <- NULL
  attr(xm, "contrasts") <- NULL
  xm
}

# Predictions f(x) of the complete rows of a design, NA for rows with missing values.
formula_predict_rows <- function(xm, f) {
  ok <- stats::complete.cases(xm)
  if (all(ok)) return(f(xm))
  out <- f(xm[ok, , drop = FALSE])
  full <- if (is.matrix(out)) {
    m <- matrix(NA_real_, nrow(xm), ncol(out), dimnames = list(rownames(xm), colnames(out)))
    m[ok, ] <- out
    m
  } else {
    v <- rep(NA_real_, nrow(xm))
    names(v) <- rownames(xm)
    v[ok] <- out
    v
  }
  full
}

# Pads per-row results of the training rows for na.exclude (a no-op otherwise).
formula_pad <- function(object, v) stats::naresid(object$na.action, v)

# adv_lm() with an intercept-only formula: b = (weighted) mean of y minimises the
# squared loss, attacked or not (there is no slope to attack).
lm_intercept_only <- function(y, weights, dots, call) {
  norm <- check_choice(if (is.null(dots$norm)) "l2" else dots$norm, c("l2", "linf"),
                       arg = "norm", call = call)
  method <- check_choice(if (is.null(dots$method)) "gd" else dots$method,
                         c("gd", "exact"), arg = "method", call = call)
  eps <- dots$eps
  if (is.null(eps)) abort_arg("{.arg eps} is missing.", "eps", call)
  if (is.character(eps)) eps <- 0 # every radius type: no slope, nothing to attack
  eps <- check_number(eps, min = 0, arg = "eps", call = call)
  xi <- check_number(if (is.null(dots$xi)) 0 else dots$xi, min = 0, arg = "xi", call = call)
  w <- if (is.null(weights)) rep(1, length(y)) else weights
  b <- sum(w * y) / sum(w)
  loss <- sum(w * (y - b)^2) / sum(w)
  a <- list(x = matrix(0, length(y), 0, dimnames = list(names(y), NULL)), y = y,
            intercept = TRUE, coef_names = "(Intercept)", eps = eps, norm = norm,
            xi = xi, method = method, truth = NULL)
  trace <- data.frame(iter = 1L, loss_surrogate = loss, loss_adv = loss, loss_std = loss,
                      risk_adv = NA_real_, risk_std = NA_real_, theta_norm = 0,
                      grad_norm = 0, grad_diff = 0)
  fit <- lm_assemble(a, b, trace)
  fit$objective <- loss
  fit$gap <- 0
  fit$iterations <- 1L
  fit$stopped <- "converged"
  fit$eta <- NA_real_
  fit$eta_auto <- FALSE
  fit$lambda_max <- NA_real_
  fit$weights <- weights
  fit
}

# ------------------------------------------------------------------ methods ----

formula_of <- function(x, call = rlang::caller_env()) {
  if (is.null(x$terms)) {
    cli::cli_abort("This fit was made from a matrix {.arg x}, not a formula; it has no formula, terms or model frame.",
                   class = "advtrain_error_argument", call = call)
  }
  f <- stats::formula(x$terms)
  f
}

fit_nobs <- function(object) {
  w <- object$weights
  if (!is.null(w)) return(sum(w != 0))
  n <- object$n
  if (is.null(n)) n <- object$nobs
  as.integer(n)
}

#' @export
formula.adv_lm <- function(x, ...) formula_of(x)
#' @export
formula.adv_lasso <- function(x, ...) formula_of(x)
#' @export
formula.cv_adv_lasso <- function(x, ...) formula_of(x$fit)
#' @export
formula.adv_nn2 <- function(x, ...) formula_of(x)

#' @export
terms.adv_lm <- function(x, ...) { formula_of(x); x$terms }
#' @export
terms.adv_lasso <- terms.adv_lm
#' @export
terms.cv_adv_lasso <- function(x, ...) terms.adv_lm(x$fit)
#' @export
terms.adv_nn2 <- terms.adv_lm

#' @export
model.frame.adv_lm <- function(formula, ...) { formula_of(formula); formula$model }
#' @export
model.frame.adv_lasso <- model.frame.adv_lm
#' @export
model.frame.cv_adv_lasso <- function(formula, ...) model.frame.adv_lm(formula$fit)
#' @export
model.frame.adv_nn2 <- model.frame.adv_lm

#' @export
nobs.adv_lm <- function(object, ...) fit_nobs(object)
#' @export
nobs.adv_lasso <- function(object, ...) fit_nobs(object)
#' @export
nobs.cv_adv_lasso <- function(object, ...) fit_nobs(object$fit)
#' @export
nobs.adv_nn2 <- function(object, ...) fit_nobs(object)

# ------------------------------------------------------- glmnet's spellings ----

glmnet_spellings <- c(lambda.min.ratio = "lambda_min_ratio",
                      penalty.factor = "penalty_factor", type.measure = "measure")

# Resolves glmnet's dotted spellings in `dots` into the values of `primary` (a named
# list of the snake_case arguments as given, NULL when not). Unknown names are an
# error, as an unused argument would be; giving both spellings is an error.
glmnet_aliases <- function(dots, primary, fn, call = rlang::caller_env()) {
  nm <- names(dots)
  if (length(dots) && (is.null(nm) || any(!nzchar(nm)))) {
    cli::cli_abort("{.fn {fn}} got an unnamed argument it does not use.",
                   class = "advtrain_error_argument", call = call)
  }
  for (k in nm) {
    target <- glmnet_spellings[k]
    if (is.na(target) || !target %in% names(primary)) {
      cli::cli_abort("{.arg {k}} is not an argument of {.fn {fn}}.",
                     class = "advtrain_error_argument", call = call)
    }
    if (!is.null(primary[[target]])) {
      abort_arg("Give {.arg {target}} or its glmnet spelling {.arg {k}}, not both.",
                k, call)
    }
    primary[target] <- list(dots[[k]])
  }
  primary
}

# Fraction of the null model's loss explained, per lambda: 1 - L(lambda) / L0, where
# L is the fit's weighted attacked training loss (its eps, norm and xi; with eps = 0 the mean
# squared error, so that this is glmnet's dev.ratio) and L0 that of the model with
# no slopes (the intercept ybar, or 0 without intercept), which no attack can change.
lasso_dev_ratio <- function(fit, x, y, w = NULL) {
  if (is.null(w)) w <- rep(1, length(y))
  w <- w / sum(w)
  if (!is.double(x)) storage.mode(x) <- "double"
  b0 <- if (isTRUE(fit$intercept)) sum(w * y) else 0
  null <- sum(w * (y - b0)^2)
  if (!(null > 0)) return(rep(NA_real_, length(fit$lambda)))
  # the solver's training loss at each lambda where it gave one (fit$path_loss: eps = 0
  # and xi = 0, from its residuals); the others are computed here, over the columns
  # that are non-zero on the path (path_fitted(): a product with all of x at every
  # lambda cost as much as glmnet's whole path at n = 500, d = 5000). For xi = 0 the
  # loss is the worst case (|r| + eps ||theta||_*)^2, which the fit minimises, also at
  # the zero residuals of its kinks, where the gradient attack is undefined.
  loss <- if (is.null(fit$path_loss)) rep(NA_real_, length(fit$lambda)) else fit$path_loss
  need <- which(!is.finite(loss))
  if (length(need)) {
    f <- path_fitted(x, fit$beta[, need, drop = FALSE])
    loss[need] <- vapply(seq_along(need), function(q) {
      k <- need[q]
      sum(w * lasso_row_loss(fit$beta[, k], fit$a0[k], x, y, fit$eps, fit$norm, fit$xi,
                             r = y - fit$a0[k] - f[, q]))
    }, numeric(1))
  }
  unname(1 - loss / null)
}
