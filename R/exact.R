# adv_lm(method = "exact"): the certified minimiser of the empirical adversarial risk
# (xi = 0) and its warm-started path over eps. The engines propose a minimiser, the
# certificate (src/exact.c) proves how good it is:
# * eps at or beyond the zero radius (closed form, as adv_radius(type = "zero")):
#   theta = 0 exactly, the intercept the (weighted) mean of y;
# * eps = 0: the minimum-norm least-squares solution (lm.fit where x has full rank);
# * n = 1 without intercept: the interpolating point along the best direction;
# * otherwise the active-set Newton engine of adv_lasso() at lambda = 0 (L-infinity,
#   and L2 with n <= d) or the reweighted ridge of lm.c (L2 with n > d, and the
#   fallback of both), warm-started along a path.
# Both engines' lower bounds are valid, so the best of them is kept.

exact_tol <- 1e-10

# The zero radius: theta = 0 minimises the objective iff eps >= ||g||_o / (2 m), with
# g = (2/W) sum_i w_i xc_i (y_i - ybar) and m = sum_i w_i |y_i - ybar| / W (xc, ybar
# centred by the weighted means with an intercept, 0 without one).
exact_zero_radius <- function(x, y, w, intercept, norm) {
  if (is.null(w)) w <- rep(1, length(y))
  W <- sum(w)
  yb <- if (intercept) sum(w * y) / W else 0
  r <- y - yb
  m <- sum(w * abs(r)) / W
  xc <- if (intercept) sweep(x, 2, colSums(w * x) / W) else x
  g <- 2 / W * drop(crossprod(xc, w * r))
  gn <- if (norm == "l2") sqrt(sum(g^2)) else max(abs(g), 0)
  if (!(m > 0)) return(0)
  list(radius = gn / (2 * m), ybar = yb)
}

# The minimum-norm (weighted) least-squares solution; the intercept is not part of
# the norm. z is x with the column of ones appended when there is an intercept.
# Returns beta = c(theta, b) and a certificate list(objective, lower).
exact_lsq <- function(x, z, y, w, intercept) {
  n <- nrow(x)
  d <- ncol(x)
  unit <- is.null(w)
  if (unit) w <- rep(1, n)
  W <- sum(w)
  sw <- sqrt(w)
  # full column rank of z (by the pivoted QR of .lm.fit(), as lm() does, on z itself:
  # no centred copy of x; several times faster than the SVD, and the factor, the
  # coefficients and the residuals come in one call): the unique least-squares
  # solution; otherwise the minimum-norm one from the SVD of the centred x
  zs <- if (unit) z else sw * z
  # a tall, well-conditioned z: the corrected semi-normal equations (about half the
  # QR's time); otherwise the QR
  ne <- if (n >= 2 * ncol(z)) exact_lsq_normal(zs, sw * y)
  q <- if (is.null(ne) && n >= ncol(z)) .lm.fit(zs, sw * y, tol = 1e-10)
  if (!is.null(ne)) {
    theta <- ne$beta[seq_len(d)]
    b <- if (intercept) ne$beta[d + 1] else 0
    res <- ne$residuals
  } else if (!is.null(q) && q$rank == ncol(z)) {
    beta <- numeric(ncol(z))
    beta[q$pivot] <- q$coefficients
    theta <- beta[seq_len(d)]
    b <- if (intercept) beta[d + 1] else 0
    res <- q$residuals
  } else {
    xm <- if (intercept) colSums(w * x) / W else numeric(d)
    ym <- if (intercept) sum(w * y) / W else 0
    xs <- if (intercept) x - rep(xm, each = n) else x
    if (!unit) xs <- sw * xs
    ys <- sw * (y - ym)
    s <- svd(xs)
    keep <- s$d > max(n, d) * .Machine$double.eps * max(s$d, 0)
    u <- s$u[, keep, drop = FALSE]
    theta <- drop(s$v[, keep, drop = FALSE] %*% (crossprod(u, ys) / s$d[keep]))
    res <- ys - drop(u %*% crossprod(u, ys))
    b <- ym - sum(xm * theta)
  }
  # dual candidate: the weighted residual with its part in the column space removed,
  # sqrt(w) (y - fit)
  alpha <- -sw * res
  fit <- drop(x %*% theta) + b
  obj <- sum(w * (y - fit)^2) / W
  lower <- max(0, (-2 * sum(alpha * y) - sum(alpha^2 / w)) / W)
  list(beta = c(theta, if (intercept) b), objective = obj, lower = lower)
}

# The least-squares solution of zs beta = ys by the corrected semi-normal equations
# (Bjorck 1987): R'R = the Gram matrix of the columns scaled to unit length, one solve
# of the normal equations and one correction from the residuals, whose error is then
# that of a QR solve while the scaled columns' condition number is far below
# 1 / sqrt(machine eps) (6.7e7). NULL unless the factor's reciprocal condition number
# (LAPACK's estimate) is at least 1e-5, i.e. cond <= 1e5 up to the estimate's factor:
# the QR decides the rank and solves the rest. list(beta, residuals = ys - zs beta).
exact_lsq_normal <- function(zs, ys) {
  G <- if (is.double(zs)) .Call(C_exact_gram, zs) else crossprod(zs)
  s <- sqrt(diag(G))
  if (!all(is.finite(G)) || !all(s > 0)) return(NULL)
  R <- tryCatch(chol(G / tcrossprod(s)), error = function(e) NULL)
  if (is.null(R) || !(rcond(R, triangular = TRUE) >= 1e-5)) return(NULL)
  solve_ne <- function(v) backsolve(R, backsolve(R, v / s, transpose = TRUE)) / s
  beta <- solve_ne(crossprod(zs, ys))
  res <- ys - zs %*% beta
  beta <- beta + solve_ne(crossprod(zs, res))
  list(beta = drop(beta), residuals = drop(ys - zs %*% beta))
}

# The certificates of the columns of B (one per eps) in one call: a 2 x K matrix, the
# objectives in row 1 and the lower bounds in row 2.
exact_certify_cols <- function(z, y, B, w, epss, norm, intercept) {
  storage.mode(B) <- "double"
  matrix(.Call(C_exact_certify, z, y, B, w, c(as.double(epss), exact_tol),
               c(norm_code(norm), as.integer(intercept))), nrow = 2)
}

exact_certify <- function(z, y, beta, w, eps, norm, intercept) {
  cr <- exact_certify_cols(z, y, as.matrix(beta), w, eps, norm, intercept)
  list(objective = cr[1], lower = cr[2])
}

# The rounding level of the objective at beta: the residuals carry errors of about
# sqrt(p) eps_mach (|y_i| + sum_j |z_ij beta_j|) in double precision, which is all an
# interpolating fit (minimum exactly 0, as a least-squares fit with n = d) has left;
# the (weighted) mean square of 16 times that.
exact_round_level <- function(z, y, beta, w) {
  e <- 16 * sqrt(ncol(z)) * .Machine$double.eps * (abs(y) + drop(abs(z) %*% abs(beta)))
  if (is.null(w)) mean(e^2) else sum(w * e^2) / sum(w)
}

# The active-set engine of adv_lasso() at lambda = 0; `pr` is the centred problem of
# exact_lasso_prep(), made once per fit (a path reuses it).
exact_lasso_args <- function(a) {
  list(x = a$x, y = a$y, eps = 0, norm = a$norm, xi = 0, lambda = 0, nlambda = 1L,
       lambda_min_ratio = NULL, penalty_factor = NULL, standardize = FALSE,
       intercept = a$intercept, thresh = 1e-13, maxit = 100000L, threads = a$threads,
       weights = a$weights)
}

# lasso_prepare() of the engine's problem; with (positive) weights the weighted
# centring and the rows scaled by sqrt(w), the weights of mean 1 in rw (the row scales
# of the active-set method: R/lasso_weights.R).
exact_lasso_prep <- function(a) {
  la <- exact_lasso_args(a)
  if (is.null(la$weights)) return(lasso_prepare(la))
  pr <- lasso_prepare_w(la)
  sr <- lasso_scale_rows(pr)
  pr$xc <- sr$xc
  pr$yc <- sr$yc
  pr
}

# c(theta, b) on the original scale from the engine's solution (theta, b) of the
# centred problem pr.
exact_lasso_beta <- function(a, pr, theta, b) {
  unname(c(theta, if (a$intercept) pr$ym + b - sum(pr$xm * theta)))
}

exact_engine_lasso <- function(a, eps, pr = NULL) {
  la <- exact_lasso_args(a)
  if (is.null(pr)) pr <- exact_lasso_prep(a)
  res <- tryCatch(.Call(C_lasso_path, pr$xc, pr$yc, pr$w, pr$sc, pr$excl, 0,
                        c(eps, 0, la$thresh, pr$sy),
                        c(norm_code(a$norm), as.integer(a$intercept), la$maxit,
                          a$threads, 0L), pr$rw),
                  error = function(e) NULL)
  if (is.null(res)) return(NULL)
  out <- exact_lasso_beta(a, pr, res$beta[, 1], res$b[1])
  if (any(!is.finite(out))) return(NULL)
  list(beta = out, iterations = as.integer(res$iters[1]))
}

# The active-set engine along a path of eps, warm-started from one eps to the next
# with its state kept (src/lasso_path.c, C_lasso_eps_path), from `start` (the
# certified solution c(theta, b) at the eps `after`): one candidate
# list(beta, iterations, objective, lower) per eps strictly between `after` and the zero
# radius, certified on z (NULL for the others, and for all when the engine fails).
exact_engine_lasso_path <- function(a, z, epss, zr, pr, after, start) {
  out <- vector("list", length(epss))
  rad <- if (is.list(zr)) zr$radius else 0
  use <- which(epss > after & epss < rad)
  if (!length(use)) return(out)
  o <- use[order(epss[use])]
  la <- exact_lasso_args(a)
  d <- ncol(a$x)
  th <- start[seq_len(d)]
  b0 <- if (a$intercept) start[d + 1] - pr$ym + sum(pr$xm * th) else 0
  res <- tryCatch(.Call(C_lasso_eps_path, pr$xc, pr$yc, pr$w, pr$sc, pr$excl, 0,
                        as.double(epss[o]), c(0, 0, la$thresh, pr$sy),
                        c(norm_code(a$norm), as.integer(a$intercept), la$maxit,
                          a$threads, 0L), pr$rw, as.double(c(th, b0))),
                  error = function(e) NULL)
  if (is.null(res)) return(out)
  # (exact_lasso_beta() of every column at once)
  B <- matrix(res$beta, nrow = d)
  if (a$intercept) B <- rbind(B, pr$ym + res$b - drop(crossprod(pr$xm, B)))
  dimnames(B) <- NULL
  ok <- res$status == 0L & colSums(!is.finite(B)) == 0
  # the certificates of all of them at once (exact_one() uses them)
  cr <- if (any(ok)) exact_certify_cols(z, a$y, B[, ok, drop = FALSE], a$weights,
                                        epss[o][ok], a$norm, a$intercept)
  col_of <- cumsum(ok) # (the column of cr for each certified q)
  for (q in which(ok)) {
    e <- col_of[q]
    out[[o[q]]] <- list(beta = B[, q], iterations = as.integer(res$iters[q]),
                        objective = cr[1, e], lower = cr[2, e])
  }
  out
}

# The reweighted ridge of lm.c (observation weights: a$weights, all positive), from
# `start`.
exact_engine_irls <- function(a, z, eps, start) {
  w <- if (is.null(a$weights)) NULL else as.double(a$weights)
  # (a start that is not zero is the solution at a nearby eps, or the user's: the
  # engine polishes it on its kink set before any smoothing)
  res <- .Call(C_lm_exact, z, a$y, as.double(start), c(eps, exact_tol),
               c(norm_code(a$norm), as.integer(a$intercept), 2000L,
                 as.integer(any(start != 0))), w)
  if (res$status == 2L || any(!is.finite(res$theta))) return(NULL)
  # the engine's own dual bound (it may have found a better dual point than the
  # kink-set candidate at the final beta that exact_certify() builds)
  list(beta = res$theta, iterations = res$iterations,
       lower = if (is.finite(res$gap)) res$objective - res$gap else 0)
}

# One eps: list(beta, objective, lower, iterations, engine). `cand`: the active-set
# engine's solution from a warm-started path over eps, tried first (when it is
# certified the engines are not run).
exact_one <- function(a, z, eps, start = NULL, zr = NULL, pr = NULL, cand = NULL) {
  x <- a$x
  y <- a$y
  n <- nrow(x)
  d <- ncol(x)
  w <- a$weights
  if (is.null(zr)) zr <- exact_zero_radius(x, y, w, a$intercept, a$norm)
  if (!is.list(zr) || eps >= zr$radius) {
    yb <- if (a$intercept) (if (is.null(w)) mean(y) else sum(w * y) / sum(w)) else 0
    beta <- c(numeric(d), if (a$intercept) yb)
    cr <- exact_certify(z, y, beta, w, eps, a$norm, a$intercept)
    # zero is optimal by the closed form; the dual bound confirms it up to rounding
    return(c(list(beta = beta, iterations = 0L, engine = "zero"), cr))
  }
  if (eps == 0) {
    ls <- exact_lsq(x, z, y, w, a$intercept)
    return(list(beta = ls$beta, objective = ls$objective, lower = ls$lower,
                iterations = 1L, engine = "lsq"))
  }
  if (n == 1 && !a$intercept) {
    xr <- x[1, ]
    u <- if (a$norm == "l2") xr else {
      j <- which.max(abs(xr))
      replace(numeric(d), j, sign(xr[j]))
    }
    beta <- y[1] * u / sum(xr * u)
    cr <- exact_certify(z, y, beta, w, eps, a$norm, a$intercept)
    return(c(list(beta = beta, iterations = 0L, engine = "closed form"), cr))
  }
  if (is.null(start)) start <- numeric(d + a$intercept)
  engines <- if (a$norm == "linf" || n <= d) c("lasso", "irls") else c("irls", "lasso")
  best <- NULL
  lower <- 0
  iters <- 0L
  if (!is.null(cand)) {
    iters <- cand$iterations
    cr <- if (is.null(cand$objective)) exact_certify(z, y, cand$beta, w, eps, a$norm, a$intercept)
          else cand[c("objective", "lower")]
    lower <- cr$lower
    best <- list(beta = cand$beta, objective = cr$objective, engine = "lasso")
    if (best$objective - lower <= exact_tol * best$objective) engines <- character(0)
  }
  for (eng in engines) {
    sol <- if (eng == "lasso") exact_engine_lasso(a, eps, pr)
           else exact_engine_irls(a, z, eps, if (is.null(best)) start else best$beta)
    if (is.null(sol)) next
    iters <- iters + sol$iterations
    cr <- exact_certify(z, y, sol$beta, w, eps, a$norm, a$intercept)
    lower <- max(lower, cr$lower, if (!is.null(sol$lower)) sol$lower else 0)
    if (is.null(best) || cr$objective < best$objective) {
      best <- list(beta = sol$beta, objective = cr$objective, engine = eng)
    }
    if (best$objective - lower <= exact_tol * best$objective) break
  }
  if (is.null(best)) {
    cli::cli_abort("The exact solver failed on these data (both engines met a singular system).",
                   class = "advtrain_error_singular", call = rlang::caller_env(3))
  }
  list(beta = best$beta, objective = best$objective, lower = min(lower, best$objective),
       iterations = iters, engine = best$engine)
}

# The fit (one eps, or a path over a vector of eps in increasing order, each warm-
# started from the one before).
lm_exact <- function(a) {
  if (!is.null(a$weights) && any(a$weights == 0)) {
    # rows of weight zero add nothing to the objective: fit without them, report the
    # fitted values and residuals of every row
    keep <- a$weights > 0
    ar <- a
    ar$x <- a$x[keep, , drop = FALSE]
    ar$y <- a$y[keep]
    wk <- a$weights[keep]
    ar$weights <- if (all(wk == wk[1])) NULL else wk
    fit <- lm_exact(ar)
    fit$fitted.values <- drop(a$x %*% fit$theta) + fit$intercept
    names(fit$fitted.values) <- rownames(a$x)
    fit$residuals <- a$y - fit$fitted.values
    return(fit)
  }
  x <- a$x
  z <- if (a$intercept) cbind(x, 1) else x
  dimnames(z) <- NULL
  epss <- a$eps
  zr <- exact_zero_radius(x, a$y, a$weights, a$intercept, a$norm)
  ord <- order(epss)
  sols <- vector("list", length(epss))
  start <- a$init
  pr <- if (nrow(x) > 1) exact_lasso_prep(a)
  # a path: the first eps with a minimiser other than a closed form is solved by the
  # engines; from its solution the active-set engine follows the rest of the path,
  # warm-started from each eps to the next, and each of its solutions is certified (or
  # the engines of exact_one() take over at that eps)
  cands <- vector("list", length(epss))
  follow <- length(epss) > 1 && !is.null(pr)
  for (k in ord) {
    cand <- cands[[k]]
    # (a certified candidate is the solution: exact_one() would return it as it is)
    sols[[k]] <- if (!is.null(cand) && cand$objective - cand$lower <= exact_tol * cand$objective) {
      list(beta = cand$beta, objective = cand$objective,
           lower = min(cand$lower, cand$objective), iterations = cand$iterations,
           engine = "lasso")
    } else {
      exact_one(a, z, epss[k], start, zr, pr, cand)
    }
    start <- sols[[k]]$beta
    if (follow && !(sols[[k]]$engine %in% c("zero", "closed form"))) {
      cands <- exact_engine_lasso_path(a, z, epss, zr, pr, epss[k], start)
      follow <- FALSE
    }
  }
  s1 <- sols[[1]]
  gaps <- vapply(sols, function(s) max(s$objective - s$lower, 0), 0)
  objs <- vapply(sols, function(s) s$objective, 0)
  # relative to the objective, floored at 1e-18 mean(y^2), the rounding level of an
  # interpolating fit (whose objective is 0 up to rounding)
  rel <- gaps / pmax(objs, 1e-18 * mean(a$y^2), .Machine$double.xmin)
  bad <- which(rel > exact_tol)
  # a gap at the rounding level of the objective (exact_round_level()) is no failure
  if (length(bad)) {
    rnd <- vapply(bad, function(k) exact_round_level(z, a$y, sols[[k]]$beta, a$weights), 0)
    bad <- bad[gaps[bad] > rnd]
  }
  if (length(bad)) {
    cli::cli_warn(c("The exact solver did not certify its solution: relative duality gap {signif(max(rel[bad]), 3)} (absolute {signif(gaps[bad][which.max(rel[bad])], 3)}), above the tolerance 1e-10{if (length(epss) > 1) paste0(' at eps = ', format(epss[bad][which.max(rel[bad])])) else ''}.",
                    "i" = "The objective is within that relative gap of the minimum."))
  }
  a1 <- a
  a1$eps <- epss[1]
  beta <- s1$beta
  xt <- t(x)
  dimnames(xt) <- NULL
  # the trace's single row (the losses at the solution), weighted as the objective
  ictrl <- c(norm_code(a$norm), as.integer(a$intercept), 0L, 0L, 0L, 1L,
             as.integer(!is.null(a$truth)), a$threads)
  tr <- if (is.null(a$weights)) {
    .Call(C_lm_gd, xt, a$y, beta, c(epss[1], 0, 0, 0, Inf, 0), ictrl)
  } else {
    .Call(C_lm_gd_weighted, xt, a$y, beta, c(epss[1], 0, 0, 0, Inf, 0), ictrl,
          weights_unit(a$weights))
  }
  a1$xi <- 0
  trace <- lm_trace(tr$trace, tr$path, a1)
  trace$iter <- s1$iterations
  fit <- lm_assemble(a1, beta, trace)
  fit$objective <- objs[1]
  fit$gap <- gaps[1]
  fit$rel_gap <- rel[1]
  fit$engine <- s1$engine
  fit$zero_radius <- if (is.list(zr)) zr$radius else 0
  fit$iterations <- s1$iterations
  fit$stopped <- if (1L %in% bad) "iters" else "converged"
  fit$eta <- NA_real_
  fit$eta_auto <- FALSE
  fit$lambda_max <- NA_real_
  fit$threads <- a$threads
  if (length(epss) > 1) {
    d <- ncol(x)
    B <- vapply(sols, function(s) s$beta, numeric(d + a$intercept))
    B <- matrix(B, nrow = d + a$intercept)
    cf <- if (a$intercept) rbind(B[d + 1, ], B[seq_len(d), , drop = FALSE]) else B
    nm <- a$coef_names
    rownames(cf) <- if (a$intercept) c(nm[d + 1], nm[seq_len(d)]) else nm
    colnames(cf) <- paste0("eps=", format(epss))
    fit$path <- list(eps = epss, coefficients = cf, objective = objs, gap = gaps,
                     rel_gap = rel,
                     iterations = vapply(sols, function(s) as.integer(s$iterations), 0L))
  }
  fit
}

# Coefficients of a path fit at eps (linear interpolation between the grid values, as
# glmnet does for s; exact at the grid values).
exact_path_coef <- function(object, eps) {
  p <- object$path
  eps <- check_numeric(eps, min = 0, arg = "eps")
  o <- order(p$eps)
  ge <- p$eps[o]
  if (any(eps < min(ge) | eps > max(ge))) {
    abort_arg("{.arg eps} must lie in the range of the fitted path, [{min(ge)}, {max(ge)}].",
              "eps", rlang::caller_env())
  }
  cf <- p$coefficients[, o, drop = FALSE]
  out <- apply(cf, 1, function(v) if (length(ge) == 1) rep(v, length(eps)) else stats::approx(ge, v, xout = eps, ties = mean)$y)
  out <- matrix(out, nrow = length(eps))
  out <- t(out)
  dimnames(out) <- list(rownames(cf), paste0("eps=", format(eps)))
  out
}

exact_path_plot <- function(x, ...) {
  p <- x$path
  o <- order(p$eps)
  cf <- p$coefficients[, o, drop = FALSE]
  if (x$has_intercept) cf <- cf[-1, , drop = FALSE]
  graphics::matplot(p$eps[o], t(cf), type = "l", lty = 1, xlab = "eps",
                    ylab = "coefficient", main = sprintf("Exact adversarial path (%s attacks)", attack_label(x$norm)), ...)
  graphics::abline(h = 0, col = "grey")
  if (is.finite(x$zero_radius) && x$zero_radius <= max(p$eps)) {
    graphics::abline(v = x$zero_radius, lty = 2, col = "grey")
  }
  invisible(x)
}
