# The SOCP form of adv_lm(method = "exact")'s problem, and of the weighted true-attack
# lasso at one lambda (adv_lasso, eps > 0, xi = 0), solved by ECOSolveR, an
# independent conic solver: used by test-exact.R, test-lasso-weights.R and by
# bench/exact.R (which sources this file from the repository root).
# min (1/W) sum w_i t_i^2 + lam sum pw_j v_j  s.t.  t_i >= |r_i| + eps s,
# s >= ||theta||_* (L2: a second-order cone; L-infinity: s >= sum v), v >= |theta|.
# Variables (beta[p], t[n], s, u[, v[d]]): v only for L-infinity or lam > 0;
# u >= sum w t^2 by a rotated cone. The objective of the solution is evaluated exactly.
ecos_adv_socp <- function(x, y, eps, norm, intercept, w = NULL, lam = 0, pw = NULL,
                          maxit = 200L) {
  if (is.null(w)) w <- rep(1, nrow(x))
  n <- nrow(x)
  d <- ncol(x)
  z <- if (intercept) cbind(x, 1) else x
  p <- ncol(z)
  has_v <- norm == "linf" || lam > 0
  nv <- p + n + 2 + if (has_v) d else 0
  is <- p + n + 1
  iu <- p + n + 2
  iv <- p + n + 2 + seq_len(d)
  # h - G x >= 0: t - eps s - (z beta - y) >= 0 and t - eps s + (z beta - y) >= 0
  G <- rbind(cbind(-z, -diag(n), eps, matrix(0, n, nv - p - n - 1)),
             cbind(z, -diag(n), eps, matrix(0, n, nv - p - n - 1)))
  h <- c(-y, y)
  l <- 2 * n
  q <- integer(0)
  if (has_v) { # v >= |theta|
    A <- matrix(0, 2 * d, nv)
    for (j in seq_len(d)) {
      A[j, c(j, iv[j])] <- c(1, -1)
      A[d + j, c(j, iv[j])] <- c(-1, -1)
    }
    G <- rbind(G, A)
    h <- c(h, numeric(2 * d))
    l <- l + 2 * d
  }
  if (norm == "linf") { # s >= sum v
    a <- numeric(nv)
    a[is] <- -1
    a[iv] <- 1
    G <- rbind(G, a)
    h <- c(h, 0)
    l <- l + 1
  } else { # (s, theta) in the second-order cone
    S <- matrix(0, d + 1, nv)
    S[1, is] <- -1
    for (j in seq_len(d)) S[1 + j, j] <- -1
    G <- rbind(G, S)
    h <- c(h, numeric(d + 1))
    q <- d + 1L
  }
  R <- matrix(0, n + 2, nv)
  R[1, iu] <- -1
  for (i in seq_len(n)) R[1 + i, p + i] <- -2 * sqrt(w[i])
  R[n + 2, iu] <- -1
  G <- rbind(G, R)
  h <- c(h, 1, numeric(n), -1)
  q <- c(q, n + 2L)
  cc <- numeric(nv)
  cc[iu] <- 1 / sum(w)
  if (lam > 0) cc[iv] <- lam * pw
  sol <- ECOSolveR::ECOS_csolve(cc, Matrix::Matrix(G, sparse = TRUE), h,
                                dims = list(l = as.integer(l), q = as.integer(q), e = 0L),
                                control = ECOSolveR::ecos.control(
                                  maxit = as.integer(maxit), feastol = 1e-11,
                                  reltol = 1e-11, abstol = 1e-13))
  beta <- sol$x[seq_len(p)]
  pen <- if (lam > 0) lam * sum(pw * abs(beta[seq_len(d)])) else 0
  list(beta = beta, objective = lm_obj(x, y, beta, eps, norm, intercept, w) + pen)
}

ecos_adv_lm <- function(x, y, eps, norm, intercept, w = NULL) {
  ecos_adv_socp(x, y, eps, norm, intercept, w)
}

lm_obj <- function(x, y, beta, eps, norm, intercept, w = NULL) {
  if (is.null(w)) w <- rep(1, nrow(x))
  d <- ncol(x)
  th <- beta[seq_len(d)]
  b <- if (intercept) beta[d + 1] else 0
  r <- y - drop(x %*% th) - b
  tn <- if (norm == "l2") sqrt(sum(th^2)) else sum(abs(th))
  sum(w * (abs(r) + eps * tn)^2) / sum(w)
}

# The exponential-cone form of adv_lasso(family = "binomial")'s problem at one lambda,
# for labels yy in {-1, +1}, weights om (sum 1) and penalty weights pw:
# min sum om_i t_i + lam sum pw_j v_j  s.t.  v >= |theta|, s >= ||theta||_*,
# t_i >= softplus(u_i), u_i = -yy_i (x_i'theta + b) + eps s, the last as
# z1 >= exp(-t), z2 >= exp(u - t), z1 + z2 <= 1 (two exponential cones a row).
# Variables (theta[d], b, v[d], s, t[n], z1[n], z2[n]).
ecos_logit_lasso <- function(x, yy, eps, norm, lam, pw, om = NULL, intercept = TRUE) {
  n <- nrow(x)
  d <- ncol(x)
  if (is.null(om)) om <- rep(1 / n, n)
  ith <- seq_len(d)
  ib <- d + 1
  iv <- d + 1 + seq_len(d)
  is <- 2 * d + 2
  it <- 2 * d + 2 + seq_len(n)
  iz1 <- 2 * d + 2 + n + seq_len(n)
  iz2 <- 2 * d + 2 + 2 * n + seq_len(n)
  nv <- 2 * d + 2 + 3 * n
  rows <- list()
  hs <- list()
  add <- function(G, h) {
    rows[[length(rows) + 1]] <<- G
    hs[[length(hs) + 1]] <<- h
  }
  # linear cone: v - theta >= 0, v + theta >= 0, 1 - z1 - z2 >= 0 (, s - sum v >= 0)
  G <- matrix(0, 2 * d, nv)
  for (j in seq_len(d)) {
    G[j, ith[j]] <- 1
    G[j, iv[j]] <- -1
    G[d + j, ith[j]] <- -1
    G[d + j, iv[j]] <- -1
  }
  add(G, numeric(2 * d))
  G <- matrix(0, n, nv)
  for (i in seq_len(n)) G[i, c(iz1[i], iz2[i])] <- 1
  add(G, rep(1, n))
  l <- 2 * d + n
  q <- integer(0)
  if (norm == "linf") {
    G <- matrix(0, 1, nv)
    G[1, is] <- -1
    G[1, iv] <- 1
    add(G, 0)
    l <- l + 1
  } else {
    G <- matrix(0, d + 1, nv)
    G[1, is] <- -1
    for (j in seq_len(d)) G[1 + j, ith[j]] <- -1
    add(G, numeric(d + 1))
    q <- d + 1L
  }
  if (!intercept) {
    # b = 0 through two linear rows
    G <- matrix(0, 2, nv)
    G[1, ib] <- 1
    G[2, ib] <- -1
    add(G, c(0, 0))
    rows <- c(rows[1:2], rows[length(rows)], rows[3:(length(rows) - 1)])
    hs <- c(hs[1:2], hs[length(hs)], hs[3:(length(hs) - 1)])
    l <- l + 2
  }
  # exponential cones, ECOS's (x, y, z) with z exp(x / z) <= y, rows in that order
  E <- matrix(0, 6 * n, nv)
  he <- numeric(6 * n)
  for (i in seq_len(n)) {
    r <- 6 * (i - 1)
    E[r + 1, it[i]] <- 1 # (-t, z1, 1)
    E[r + 2, iz1[i]] <- -1
    he[r + 3] <- 1
    E[r + 4, ith] <- yy[i] * x[i, ] # u - t
    E[r + 4, ib] <- yy[i]
    E[r + 4, is] <- -eps
    E[r + 4, it[i]] <- 1 # (u - t, z2, 1)
    E[r + 5, iz2[i]] <- -1
    he[r + 6] <- 1
  }
  add(E, he)
  cc <- numeric(nv)
  cc[it] <- om
  cc[iv] <- lam * pw
  sol <- ECOSolveR::ECOS_csolve(cc, Matrix::Matrix(do.call(rbind, rows), sparse = TRUE),
                                unlist(hs),
                                dims = list(l = as.integer(l), q = as.integer(q),
                                            e = as.integer(2 * n)),
                                control = ECOSolveR::ecos.control(
                                  maxit = 300L, feastol = 1e-12, reltol = 1e-12,
                                  abstol = 1e-14))
  list(theta = sol$x[ith], b = sol$x[ib], status = sol$infostring)
}

# The objective of adv_lasso(family = "binomial") at (theta, b).
logit_lasso_obj <- function(x, yy, theta, b, eps, norm, lam, pw, om = NULL) {
  if (is.null(om)) om <- rep(1 / nrow(x), nrow(x))
  tn <- if (norm == "l2") sqrt(sum(theta^2)) else sum(abs(theta))
  u <- -yy * (drop(x %*% theta) + b) + eps * tn
  sum(om * ifelse(u > 0, u + log1p(exp(-u)), log1p(exp(u)))) + lam * sum(pw * abs(theta))
}

# The weighted true-attack lasso at one lambda (penalty weights pw).
ecos_adv_lasso <- function(x, y, eps, norm, intercept, lam, pw, w = NULL) {
  ecos_adv_socp(x, y, eps, norm, intercept, w, lam = lam, pw = pw, maxit = 300L)
}
