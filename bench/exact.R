# bench/exact.R: adv_lm(method = "exact") against ECOSolveR (the SOCP
# min (1/n) sum t_i^2, t_i >= |r_i| + eps s, s >= ||theta||_*), and an eps path of 50
# values against one fit. Not a test. Run: R_LIBS=$PWD/.lib Rscript bench/exact.R
suppressPackageStartupMessages(library(advtrain))
cat("CPU:", system("lscpu | grep 'Model name' | sed 's/Model name: *//'", intern = TRUE), "\n")
cat("command: R_LIBS=$PWD/.lib Rscript bench/exact.R\n")
reps <- as.integer(Sys.getenv("BENCH_REPS", "3"))
ecos_adv_lm <- function(x, y, eps, norm, intercept) {
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
  for (i in seq_len(n)) R[1 + i, p + i] <- -2
  R[n + 2, iu] <- -1
  G <- rbind(G, R)
  h <- c(h, 1, numeric(n), -1)
  q <- c(q, n + 2L)
  cc <- numeric(nv)
  cc[iu] <- 1 / n
  sol <- ECOSolveR::ECOS_csolve(cc, Matrix::Matrix(G, sparse = TRUE), h,
                                dims = list(l = as.integer(l), q = as.integer(q), e = 0L),
                                control = ECOSolveR::ecos.control(
                                  maxit = 200L, feastol = 1e-11, reltol = 1e-11,
                                  abstol = 1e-13))
  beta <- sol$x[seq_len(p)]
  obj <- lm_obj(x, y, beta, eps, norm, intercept)
  list(beta = beta, objective = obj)
}
lm_obj <- function(x, y, beta, eps, norm, intercept) {
  d <- ncol(x)
  th <- beta[seq_len(d)]
  b <- if (intercept) beta[d + 1] else 0
  r <- y - drop(x %*% th) - b
  tn <- if (norm == "l2") sqrt(sum(th^2)) else sum(abs(th))
  mean((abs(r) + eps * tn)^2)
}
med_time <- function(f) {
  t <- numeric(reps)
  for (k in seq_len(reps)) t[k] <- system.time(res <- f())[["elapsed"]]
  list(time = stats::median(t), res = res)
}
cases <- list(c(1000, 50, 0.2), c(2000, 200, 0.2), c(50, 100, 0.1))
for (cs in cases) for (norm in c("l2", "linf")) {
  n <- cs[1]; d <- cs[2]; eps <- cs[3]
  if (n == 50 && norm == "l2") next
  set.seed(1)
  x <- matrix(rnorm(n * d), n, d)
  y <- drop(x[, 1:5] %*% rep(1, 5)) + rnorm(n)
  ours <- med_time(function() adv_lm(x, y, eps = eps, norm = norm, method = "exact"))
  ref <- med_time(function() ecos_adv_lm(x, y, eps, norm, FALSE))
  cat(sprintf("n = %4d, d = %3d, %-4s eps = %.2f: exact %.4f s (rel gap %.1e), ECOS %.3f s, ratio %.1fx; objective exact - ECOS = %.2e (relative)\n",
              n, d, norm, eps, ours$time, ours$res$rel_gap, ref$time, ref$time / ours$time,
              (ours$res$objective - ref$res$objective) / ref$res$objective))
}
for (norm in c("l2", "linf")) {
  set.seed(2)
  n <- 1000; d <- 50
  x <- matrix(rnorm(n * d), n, d)
  y <- drop(x[, 1:5] %*% rep(1, 5)) + rnorm(n)
  zr <- adv_radius(x, y, norm = norm, type = "zero")
  epss <- seq(0, zr, length.out = 50)
  one <- med_time(function() adv_lm(x, y, eps = epss[25], norm = norm, method = "exact"))
  path <- med_time(function() adv_lm(x, y, eps = epss, norm = norm, method = "exact"))
  cat(sprintf("eps path, n = %d, d = %d, %s, 50 values in [0, zero radius]: path %.3f s, one fit (middle eps) %.4f s, ratio %.1f (max rel gap %.1e)\n",
              n, d, norm, path$time, one$time, path$time / one$time, max(path$res$path$rel_gap)))
}
