# Adversarial logistic regression (issue 21): adv_lm(family = "binomial").
#
# For labels y in {-1, +1} and an attack of size eps in a norm whose dual is ||.||_*,
# the worst case of the logistic loss log(1 + exp(-y f)) over the attack ball has the
# closed form log(1 + exp(-y_i (x_i'theta + b) + eps ||theta||_*)) (the intercept b is
# not attacked); its mean over the sample is convex in (theta, b).

#' Adversarial logistic regression
#'
#' `adv_lm(x, y, eps, family = "binomial")` fits a linear classifier
#' \eqn{f(x) = x'\theta + b} to binary labels under attacks of size \eqn{\epsilon}.
#' With labels coded \eqn{y_i \in \{-1, +1\}} the worst-case logistic loss over the
#' attack ball is \eqn{\log(1 + \exp(-y_i f(x_i) + \epsilon\|\theta\|_*))}, where
#' \eqn{\|\cdot\|_*} is the L2 norm for L2 attacks and the L1 norm for L-infinity
#' attacks; the intercept is not attacked. The mean of this over the sample is
#' convex in \eqn{(\theta, b)}.
#'
#' **Labels.** `y` may be a factor with two levels (the second level is the class
#' \eqn{+1}, as in [stats::glm()]), a 0/1 numeric vector or a logical vector (`TRUE`
#' and 1 are \eqn{+1}). Both classes must occur.
#'
#' **Exact solver** (`method = "exact"`). \eqn{\theta = 0} is optimal exactly when
#' the subgradient condition at 0 holds:
#' \eqn{\|\frac1n\sum_i \sigma_i y_i x_i\|_\circ \le \epsilon\bar\sigma}, with
#' \eqn{\sigma_i = 1/(1+e^{y_i b_0})}, \eqn{\bar\sigma} their mean, \eqn{b_0} the
#' log-odds of the classes (0 without an intercept) and \eqn{\|\cdot\|_\circ} the
#' dual of \eqn{\|\cdot\|_*} (L2, or L-infinity for L-infinity attacks); with an
#' intercept this reads \eqn{\|\bar x_+ - \bar x_-\|_\circ \le 2\epsilon}. Otherwise,
#' for L2 attacks, Newton's method with a backtracking line search on the problem,
#' smooth where \eqn{\theta \ne 0}; for L-infinity attacks a projected Newton method
#' on the orthant of the current signs (where \eqn{\|\theta\|_1} is linear), with the
#' coordinates at zero whose subgradient condition fails added to the active set. The
#' solver stops when the KKT residual (the distance of 0 from the subdifferential, in
#' the max norm) is at most `1e-10`; the fit reports it as `kkt` and warns if it was
#' not reached.
#'
#' **No finite minimiser.** If some \eqn{(\theta, b)} classifies every sample
#' correctly with a margin larger than \eqn{\epsilon\|\theta\|_*} (separable data at
#' \eqn{\epsilon = 0}, or an \eqn{\epsilon} below the attacked margin), scaling it up
#' drives the loss to 0 and no minimiser exists. The exact solver detects this (an
#' iterate with every attacked margin positive) and stops with an error of class
#' `advtrain_error_separable`.
#'
#' **Gradient descent** (`method = "gd"`). Algorithm 1: at each step the surrogate
#' attack \eqn{A_{\epsilon,\xi}} of the input gradient
#' \eqn{g_i = -y_i\sigma(-y_i f(x_i))\theta} is computed (L2:
#' \eqn{\epsilon g/\sqrt{\|g\|^2 + \xi^2}}; L-infinity: \eqn{\epsilon g_j/(|g_j| +
#' \xi)}; no attack where \eqn{g = 0}) and held fixed, and \eqn{(\theta, b)} takes a
#' gradient step of the logistic loss at the attacked inputs. With `xi = 0` this is a
#' subgradient step of the adversarial loss. `eta = NULL` uses
#' \eqn{4/(\sqrt{\lambda} + \epsilon_2)^2} (\eqn{\lambda} the largest eigenvalue of
#' \eqn{Z'Z/n}, \eqn{\epsilon_2} the Euclidean size of an attack). A warning says so
#' when the final step's gradient is above `1e-4`.
#'
#' @name adv_logistic
#' @seealso [adv_lm()], [predict.adv_logistic()], [adv_certified_radius()].
#' @examples
#' pima <- MASS::Pima.tr
#' x <- scale(as.matrix(pima[, 1:7]))
#' fit <- adv_lm(x, pima$type, eps = 0.1, family = "binomial", method = "exact",
#'               intercept = TRUE)
#' fit
#' mean(predict(fit, x, type = "class") == pima$type)
#' mean(predict(fit, x, type = "class", eps = 0.1, y = pima$type) == pima$type)
NULL

# y as -1 / +1 with the labels kept for predictions.
logistic_labels <- function(y, n, call) {
  arg <- "y"
  if (is.factor(y)) {
    y <- droplevels(y)
    lev <- levels(y)
    if (length(lev) != 2) {
      abort_arg("{.arg y} must have two classes for {.code family = \"binomial\"}, not {length(lev)} ({.val {lev}}).",
                arg, call)
    }
    yy <- ifelse(as.integer(y) == 2L, 1, -1)
    kind <- "factor"
  } else if (is.logical(y)) {
    lev <- c(FALSE, TRUE)
    yy <- ifelse(y, 1, -1)
    kind <- "logical"
  } else if (is_plain_numeric(y)) {
    if (!all(y[!is.na(y)] %in% c(0, 1))) {
      u <- sort(unique(y[!is.na(y)]))
      abort_arg("{.arg y} must be a two-level factor, 0/1 or logical for {.code family = \"binomial\"}; it has the values {.val {utils::head(u, 5)}}{if (length(u) > 5) ' ...' else ''}.",
                arg, call)
    }
    lev <- c(0, 1)
    yy <- ifelse(y == 1, 1, -1)
    kind <- "numeric"
  } else {
    abort_arg("{.arg y} must be a two-level factor, 0/1 or logical, not {describe(y)}.",
              arg, call)
  }
  if (anyNA(yy)) {
    abort_arg("{.arg y} must not contain missing values; element {which(is.na(yy))[1]} is NA.",
              arg, call)
  }
  if (length(yy) != n) {
    abort_arg("{.arg y} must have one label per row of {.arg x} ({n}), not {length(yy)}.",
              arg, call)
  }
  if (length(unique(yy)) < 2) {
    abort_arg("{.arg y} must contain both classes; all {n} labels are {.val {as.character(lev[(yy[1] + 3) / 2])}}.",
              arg, call)
  }
  list(y = as.double(yy), levels = lev, kind = kind)
}

softplus <- function(u) pmax(u, 0) + log1p(exp(-abs(u)))

# Internal: adv_lm(family = "binomial") lands here.
adv_logistic_fit <- function(x, y, eps, norm = c("l2", "linf"), xi = 0, eta = NULL,
                             iters = 1000, init = NULL, intercept = FALSE,
                             method = c("gd", "exact"), threads = NULL,
                             trace_every = 1, call = rlang::caller_env()) {
  x <- check_matrix(x, call = call)
  n <- nrow(x)
  d <- ncol(x)
  lab <- logistic_labels(y, n, call)
  if (is.character(eps)) {
    abort_arg("{.arg eps} must be a non-negative number for {.code family = \"binomial\"}, not {describe(eps)}.",
              "eps", call)
  }
  a <- list(x = x, y = lab$y, labels = lab,
            eps = check_number(eps, min = 0, call = call),
            norm = check_choice(norm, c("l2", "linf"), call = call),
            xi = check_number(xi, min = 0, call = call),
            eta = if (is.null(eta)) NULL else check_number(eta, min = 0, strict = TRUE, call = call),
            iters = check_count(iters, min = 1, call = call),
            intercept = check_flag(intercept, call = call),
            trace_every = check_count(trace_every, min = 1, call = call),
            method = check_choice(method, c("gd", "exact"), call = call),
            threads = resolve_threads(threads, call = call))
  p <- d + a$intercept
  a$init <- if (is.null(init)) numeric(p) else {
    init <- check_numeric(init, call = call)
    if (!length(init) %in% c(d, p)) {
      abort_arg("{.arg init} must have length {d}{if (a$intercept) paste(' or', p) else ''}, not {length(init)}.",
                "init", call)
    }
    if (length(init) < p) c(init, 0) else init
  }
  a$coef_names <- lm_coef_names(colnames(x), d, a$intercept)
  res <- if (a$method == "exact") logistic_exact(a, call) else logistic_gd(a)
  logistic_assemble(a, res)
}

# The objective, its gradient and the KKT residual at beta = (theta, b).
logistic_state <- function(beta, a) {
  d <- ncol(a$x)
  theta <- beta[seq_len(d)]
  b <- if (a$intercept) beta[d + 1] else 0
  f <- drop(a$x %*% theta) + b
  nrm <- attack_norm(theta, a$norm)
  u <- -a$y * f + a$eps * nrm
  s <- stats::plogis(u)
  gc <- -drop(crossprod(a$x, s * a$y)) / length(f) # the clean part's gradient
  gb <- -mean(s * a$y)
  sbar <- mean(s)
  # distance of 0 from the subdifferential of eps * sbar * ||theta||_*
  if (a$norm == "l2") {
    if (nrm > 0) {
      res <- sqrt(sum((gc + a$eps * sbar * theta / nrm)^2))
    } else {
      res <- max(0, sqrt(sum(gc^2)) - a$eps * sbar)
    }
  } else {
    res <- ifelse(theta != 0, abs(gc + a$eps * sbar * sign(theta)),
                  pmax(0, abs(gc) - a$eps * sbar))
    res <- max(res)
  }
  kkt <- max(res, if (a$intercept) abs(gb) else 0)
  list(obj = mean(softplus(u)), f = f, u = u, s = s, gc = gc, gb = gb, sbar = sbar,
       nrm = nrm, kkt = kkt, theta = theta, b = b, margin_ok = all(u < 0))
}

logistic_objective <- function(beta, a) {
  d <- ncol(a$x)
  theta <- beta[seq_len(d)]
  b <- if (a$intercept) beta[d + 1] else 0
  u <- -a$y * (drop(a$x %*% theta) + b) + a$eps * attack_norm(theta, a$norm)
  mean(softplus(u))
}

logistic_abort_separable <- function(a, st, call) {
  cli::cli_abort(c(
    "No finite minimiser: the data are separable{if (a$eps > 0) paste0(' even under attacks of size eps = ', a$eps) else ''}.",
    "i" = "At an iterate every attacked margin y_i f(x_i) - {a$eps} ||theta||_* is positive (smallest {signif(min(-st$u), 3)}); scaling theta and b up drives the loss to 0, so the coefficients would grow without bound.",
    "i" = "Use a larger {.arg eps}, or {.code method = \"gd\"} with a fixed number of steps (early stopping)."
  ), class = "advtrain_error_separable", call = call)
}

# Newton (L2) or projected active-set Newton (L-infinity); see ?adv_logistic.
logistic_exact <- function(a, call, tol = 1e-10, maxit = 500L) {
  x <- a$x
  n <- nrow(x)
  d <- ncol(x)
  y <- a$y
  z <- if (a$intercept) cbind(x, 1) else x
  p <- ncol(z)
  b0 <- if (a$intercept) log(sum(y > 0) / sum(y < 0)) else 0
  beta <- c(numeric(d), if (a$intercept) b0)
  st <- logistic_state(beta, a)
  it <- 0L
  if (st$kkt > tol) {
    if (a$norm == "l2") {
      # a first point with theta != 0: a line search along the negative gradient
      dir <- -c(st$gc, if (a$intercept) 0)
      t <- 1 / max(sqrt(sum(dir^2)), 1e-300)
      repeat {
        cand <- beta + t * dir
        if (logistic_objective(cand, a) < st$obj || t < 1e-12) break
        t <- t / 2
      }
      beta <- cand
      st <- logistic_state(beta, a)
    }
    while (st$kkt > tol && it < maxit) {
      it <- it + 1L
      if (st$margin_ok) logistic_abort_separable(a, st, call)
      w <- st$s * (1 - st$s)
      if (a$norm == "l2") {
        act <- seq_len(p)
        r <- st$nrm
        A <- -y * z
        A[, seq_len(d)] <- A[, seq_len(d)] + rep(a$eps * st$theta / r, each = n)
        H <- crossprod(A * sqrt(w)) / n
        H[seq_len(d), seq_len(d)] <- H[seq_len(d), seq_len(d)] +
          a$eps * st$sbar / r * (diag(d) - tcrossprod(st$theta) / r^2)
        g <- c(st$gc + a$eps * st$sbar * st$theta / r, if (a$intercept) st$gb)
        sgn <- NULL
      } else {
        th <- st$theta
        viol <- th == 0 & abs(st$gc) > a$eps * st$sbar
        sg <- sign(th)
        sg[viol] <- -sign(st$gc[viol])
        js <- which(sg != 0)
        act <- c(js, if (a$intercept) p)
        A <- -y * z[, act, drop = FALSE]
        A[, seq_along(js)] <- A[, seq_along(js)] + rep(a$eps * sg[js], each = n)
        H <- crossprod(A * sqrt(w)) / n
        g <- c(st$gc[js] + a$eps * st$sbar * sg[js], if (a$intercept) st$gb)
        sgn <- sg
      }
      step <- logistic_solve(H, g)
      # backtracking (projected on the sign orthant for L-infinity)
      t <- 1
      f0 <- st$obj
      gd <- sum(g * step)
      accepted <- FALSE
      repeat {
        cand <- beta
        cand[act] <- beta[act] + t * step
        if (!is.null(sgn)) {
          js <- seq_len(d)
          flip <- sgn[js] != 0 & cand[js] * sgn[js] < 0
          cand[js][flip] <- 0
        }
        fc <- logistic_objective(cand, a)
        if (is.finite(fc) && fc <= f0 + 1e-4 * t * gd) {
          accepted <- TRUE
          break
        }
        if (t < 1e-10) break
        t <- t / 2
      }
      if (!accepted) {
        # no decrease is representable: accept the candidate only if it is no worse
        if (is.finite(fc) && fc <= f0) beta <- cand
        st <- logistic_state(beta, a)
        break
      }
      beta <- cand
      st <- logistic_state(beta, a)
      if (st$obj < log(2) / n || st$margin_ok) logistic_abort_separable(a, st, call)
    }
  }
  if (st$kkt > tol) {
    cli::cli_warn("The exact solver stopped after {it} Newton step{?s} with a KKT residual of {signif(st$kkt, 3)}, above {tol}.")
  }
  list(beta = beta, objective = st$obj, kkt = st$kkt, iterations = it,
       stopped = if (st$kkt <= tol) "converged" else "iters", trace = NULL)
}

logistic_solve <- function(H, g) {
  R <- tryCatch(chol(H), error = function(e) NULL)
  if (is.null(R)) {
    ridge <- 1e-10 * max(1, max(abs(diag(H))))
    R <- chol(H + diag(ridge, nrow(H)))
  }
  -backsolve(R, forwardsolve(t(R), g))
}

# Algorithm 1 with the surrogate attack; vectorised in R (two passes over X a step).
logistic_gd <- function(a) {
  x <- a$x
  n <- nrow(x)
  d <- ncol(x)
  y <- a$y
  lam <- as.vector(.Call(C_lm_power, t(unname(x)), as.integer(a$intercept), 500L, 1e-6, NULL))
  eps2 <- if (a$norm == "l2") a$eps else a$eps * sqrt(d)
  eta <- if (is.null(a$eta)) 4 / (sqrt(lam) + eps2)^2 else a$eta
  beta <- a$init
  rec <- unique(c(seq(0L, a$iters, by = a$trace_every), a$iters))
  tr <- matrix(NA_real_, length(rec), 8)
  k <- 0L
  gnorm <- NA_real_
  for (t in 0:a$iters) {
    theta <- beta[seq_len(d)]
    b <- if (a$intercept) beta[d + 1] else 0
    f <- drop(x %*% theta) + b
    s <- stats::plogis(-y * f)
    nrm <- attack_norm(theta, a$norm)
    # the attacked link f~ and the attacked inputs' contribution to the gradient
    if (a$norm == "l2") {
      den <- sqrt(s^2 * sum(theta^2) + a$xi^2)
      cc <- ifelse(den > 0, -a$eps * y * s / den, 0) # x~ = x + cc theta
      ft <- f + cc * sum(theta^2)
      lossw <- stats::plogis(-y * ft) * y
      gth <- -(drop(crossprod(x, lossw)) + theta * sum(lossw * cc)) / n
    } else {
      den <- outer(s, abs(theta)) + a$xi
      A <- ifelse(den > 0, -a$eps * (y * s) %o% theta / den, 0)
      ft <- f + drop(A %*% theta)
      lossw <- stats::plogis(-y * ft) * y
      gth <- -(drop(crossprod(x, lossw)) + drop(crossprod(A, lossw))) / n
    }
    gb <- -mean(lossw)
    g <- c(gth, if (a$intercept) gb)
    gnorm <- sqrt(sum(g^2))
    if (t %in% rec) {
      k <- k + 1L
      ua <- -y * f + a$eps * nrm
      tr[k, ] <- c(t, mean(softplus(-y * ft)), mean(softplus(ua)), mean(softplus(-y * f)),
                   mean(y * f <= 0), mean(ua >= 0), nrm, gnorm)
    }
    if (t == a$iters) break
    beta <- beta - eta * g
    if (!all(is.finite(beta))) {
      cli::cli_abort(c("Gradient descent diverged at step {t + 1}.",
                       "i" = "The step size {.arg eta} = {signif(eta, 4)} is too large; use a smaller one or {.code eta = NULL}."),
                     class = "advtrain_error_diverged", call = NULL)
    }
  }
  if (gnorm > 1e-4) {
    cli::cli_warn(c("Gradient descent did not converge: the gradient norm after {a$iters} step{?s} is {signif(gnorm, 3)}, above 1e-4.",
                    "i" = "Increase {.arg iters} (or {.arg eta}, now {signif(eta, 3)}), or use {.code method = \"exact\"} for the exact minimiser."))
  }
  trace <- data.frame(iter = as.integer(tr[, 1]), loss_surrogate = tr[, 2],
                      loss_adv = tr[, 3], loss_std = tr[, 4], misclass_std = tr[, 5],
                      misclass_adv = tr[, 6], theta_norm = tr[, 7], grad_norm = tr[, 8])
  list(beta = beta, objective = tr[k, 3], kkt = logistic_state(beta, a)$kkt,
       iterations = a$iters, stopped = "iters", trace = trace, eta = eta,
       grad_norm = gnorm)
}

logistic_assemble <- function(a, res) {
  d <- ncol(a$x)
  beta <- res$beta
  theta <- beta[seq_len(d)]
  b <- if (a$intercept) beta[d + 1] else 0
  names(theta) <- a$coef_names[seq_len(d)]
  link <- drop(a$x %*% theta) + b
  names(link) <- rownames(a$x)
  coefs <- if (a$intercept) c("(Intercept)" = b, theta) else theta
  structure(list(
    coefficients = coefs, theta = theta, intercept = b, has_intercept = a$intercept,
    linear.predictors = link, fitted.values = stats::plogis(link),
    y = stats::setNames(as.double(a$y), rownames(a$x)), family = "binomial", labels = a$labels[c("levels", "kind")],
    objective = res$objective, kkt = res$kkt, iterations = res$iterations,
    stopped = res$stopped, trace = res$trace, eta = res$eta %||% NA_real_,
    eps = a$eps, norm = a$norm, xi = a$xi, method = a$method, n = nrow(a$x), d = d
  ), class = "adv_logistic")
}

`%||%` <- function(x, y) if (is.null(x)) y else x

# y of new data as -1 / +1 (with the fit's labels).
logistic_newy <- function(object, y, n) {
  lev <- object$labels$levels
  if (is.factor(y)) {
    if (!all(levels(droplevels(y)) %in% lev)) {
      abort_arg("{.arg y} has levels other than the fit's {.val {lev}}.", "y",
                rlang::caller_env())
    }
    yy <- ifelse(as.character(y) == lev[2], 1, -1)
  } else if (is.logical(y)) {
    yy <- ifelse(y, 1, -1)
  } else {
    yy <- ifelse(y == 1, 1, -1)
  }
  if (length(yy) != n || anyNA(yy)) {
    abort_arg("{.arg y} must have one label (not NA) per row of {.arg newx} ({n}).", "y",
              rlang::caller_env())
  }
  yy
}

#' Predictions of adversarial logistic regression
#'
#' @param object An `adv_logistic` fit (`adv_lm(..., family = "binomial")`).
#' @param newx New inputs (a matrix with the fit's columns); `NULL` for the training
#'   inputs' clean predictions.
#' @param type `"link"` (\eqn{x'\theta + b}), `"response"` (the probability of the
#'   second class) or `"class"` (labels of the fit's type).
#' @param eps Attack size for worst-case predictions (0: clean). With labels `y`, the
#'   link is moved against the true class, \eqn{f - y\epsilon\|\theta\|_*} (the
#'   attack that maximises the loss); without labels, toward the decision boundary
#'   from the side it is on, \eqn{f - \mathrm{sign}(f)\epsilon\|\theta\|_*} (the
#'   attack on the predicted class: a class that changes is not robust at `eps`).
#' @param y Labels of `newx` for labelled worst-case predictions.
#' @param newdata For fits of the formula method, a data frame (instead of `newx`).
#' @param ... Not used.
#' @return A numeric vector (or labels for `type = "class"`).
#' @export
predict.adv_logistic <- function(object, newx = NULL, type = c("link", "response", "class"),
                                 eps = 0, y = NULL, newdata = NULL, ...) {
  type <- check_choice(type, c("link", "response", "class"))
  eps <- check_number(eps, min = 0)
  if (!is.null(newdata)) {
    if (is.null(object$terms) || !is.data.frame(newdata)) {
      abort_arg("{.arg newdata} must be a data frame, for fits of the formula method.",
                "newdata", rlang::current_env())
    }
    tt <- stats::delete.response(object$terms)
    mf <- stats::model.frame(tt, newdata, xlev = object$xlevels,
                             na.action = stats::na.pass)
    newx <- stats::model.matrix(tt, mf)
    newx <- newx[, colnames(newx) != "(Intercept)", drop = FALSE]
  }
  if (is.null(newx)) {
    f <- object$linear.predictors
  } else {
    if (is.null(dim(newx)) && is_plain_numeric(newx) && length(newx) == object$d) {
      newx <- matrix(newx, 1)
    }
    newx <- check_matrix(newx, ncol = object$d, min_rows = 1)
    f <- drop(newx %*% object$theta) + object$intercept
  }
  if (eps > 0) {
    shift <- eps * attack_norm(object$theta, object$norm)
    if (!is.null(y)) {
      f <- f - logistic_newy(object, y, length(f)) * shift
    } else {
      f <- f - sign(f) * shift
    }
  }
  switch(type,
         link = f,
         response = stats::plogis(f),
         class = {
           lev <- object$labels$levels
           cl <- lev[ifelse(f > 0, 2L, 1L)]
           if (object$labels$kind == "factor") factor(cl, levels = lev) else cl
         })
}

#' Certified radius of a linear classifier
#'
#' The largest attack size under which the prediction of each observation cannot
#' change: \eqn{|f(x_i)| / \|\theta\|_*} (the distance to the decision boundary in the
#' attack norm). With labels, the signed margin \eqn{y_i f(x_i)/\|\theta\|_*}: the
#' attack size that the correct classification of each observation withstands
#' (negative for misclassified observations).
#'
#' @param object An `adv_logistic` fit, or an `adv_lasso_binomial` path
#'   (`adv_lasso(..., family = "binomial")`, then `newx` is needed unless the fit used a
#'   formula).
#' @param newx Inputs, `NULL` for the training inputs.
#' @param y Optional labels of `newx`.
#' @param s For a path, one penalty (default: the path's only one, else an error).
#' @return A numeric vector (`Inf` where \eqn{\theta = 0}).
#' @examples
#' pima <- MASS::Pima.tr
#' x <- scale(as.matrix(pima[, 1:7]))
#' fit <- adv_lm(x, pima$type, eps = 0.05, family = "binomial", method = "exact",
#'               intercept = TRUE)
#' r <- adv_certified_radius(fit, x, pima$type)
#' mean(r > 0.05) # the attacked accuracy at eps = 0.05
#' @export
adv_certified_radius <- function(object, newx = NULL, y = NULL, s = NULL) {
  if (inherits(object, "adv_lasso_binomial")) {
    s <- lasso_one_s(object, s, fn = "adv_certified_radius")
    f <- drop(if (is.null(newx)) stats::predict(object, s = s)
              else stats::predict(object, newx, s = s))
    nrm <- attack_norm(lasso_coef_at(object, s)[-1, 1], object$norm)
    m <- if (is.null(y)) abs(f) else logistic_newy(object, y, length(f)) * f
    return(unname(m / nrm))
  }
  if (!inherits(object, "adv_logistic")) {
    abort_arg("{.arg object} must be a fit of {.code adv_lm(family = \"binomial\")} or {.code adv_lasso(family = \"binomial\")}, not {describe(object)}.",
              "object", rlang::current_env())
  }
  f <- predict.adv_logistic(object, newx, type = "link")
  nrm <- attack_norm(object$theta, object$norm)
  m <- if (is.null(y)) abs(f) else logistic_newy(object, y, length(f)) * f
  m / nrm
}

#' @export
print.adv_logistic <- function(x, digits = 4, ...) {
  cat(sprintf("Adversarial logistic regression (%s attack, eps = %s, %s)\n",
              if (x$norm == "l2") "L2" else "L-infinity", format(x$eps),
              if (x$method == "exact") "exact" else "gradient descent"))
  cat(sprintf("n = %d, d = %d; adversarial training loss %s; KKT residual %s; %d iteration%s\n",
              x$n, x$d, format(signif(x$objective, digits)), format(signif(x$kkt, 3)),
              x$iterations, if (x$iterations == 1) "" else "s"))
  cat("Coefficients:\n")
  print(signif(x$coefficients, digits))
  invisible(x)
}
