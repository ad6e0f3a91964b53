# The SOCP form of adv_lm(method = "exact")'s problem solved by ECOSolveR, an
# independent conic solver: used by test-exact.R and by bench/exact.R (which sources
# this file from the repository root).
# min (1/n) sum t_i^2  s.t.  t_i >= |r_i| + eps s,  s >= ||theta||_*  as an SOCP:
# variables (beta[p], t[n], s, u[, v[d]]), u >= ||t||^2 by a rotated cone.
ecos_adv_lm <- function(x, y, eps, norm, intercept, w = NULL) {
  if (is.null(w)) w <- rep(1, nrow(x))
  n <- nrow(x)
  d <- ncol(x)
  z <- if (intercept) cbind(x, 1) else x
  p <- ncol(z)
  nv <- p + n + 2 + if (norm == "linf") d else 0
  is <- p + n + 1
  iu <- p + n + 2
  iv <- p + n + 2 + seq_len(d)
  # h - G x >= 0: t - eps s - (z beta - y) >= 0 and t - eps s + (z beta - y) >= 0
  G <- rbind(cbind(-z, -diag(n), eps, matrix(0, n, nv - p - n - 1)),
             cbind(z, -diag(n), eps, matrix(0, n, nv - p - n - 1)))
  h <- c(-y, y)
  if (norm == "linf") {
    A <- matrix(0, 2 * d + 1, nv)
    for (j in seq_len(d)) {
      A[j, j] <- 1
      A[j, iv[j]] <- -1
      A[d + j, j] <- -1
      A[d + j, iv[j]] <- -1
    }
    A[2 * d + 1, is] <- -1
    A[2 * d + 1, iv] <- 1
    G <- rbind(G, A)
    h <- c(h, numeric(2 * d + 1))
    l <- 2 * n + 2 * d + 1
    q <- integer(0)
  } else {
    l <- 2 * n
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
  sol <- ECOSolveR::ECOS_csolve(cc, Matrix::Matrix(G, sparse = TRUE), h,
                                dims = list(l = as.integer(l), q = as.integer(q), e = 0L),
                                control = ECOSolveR::ecos.control(
                                  maxit = 200L, feastol = 1e-11, reltol = 1e-11,
                                  abstol = 1e-13))
  beta <- sol$x[seq_len(p)]
  obj <- lm_obj(x, y, beta, eps, norm, intercept, w)
  list(beta = beta, objective = obj)
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
