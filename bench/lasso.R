# Benchmark of adv_lasso() / cv_adv_lasso() against glmnet (issue 5).
# Reproduce (from the repository root, with the package installed, as `make demo` and
# `make test` do):
#   Rscript bench/lasso.R
# Environment: BENCH_REPS (default 5) repeats for the fast timings (medians are
# reported); BENCH_EPS_REPS (default 9) repeats for the eps = 0.1 paths (the whole
# 100-lambda path of the eps = 0 fit; BENCH_EPS_LAMBDAS = k < 100 times only its first
# k lambdas, for quick looks); BENCH_THREADS (default 1); BENCH_ONLY_EPS=1 skips the
# glmnet and CV comparisons.
# The eps = 0.1 paths are timed in pairs with the eps = 0 path (one right after the
# other), and the median of the pairs' ratios is printed besides the ratio of the
# median times: on a shared machine whose speed drifts during the run, the pairs see
# the same conditions.
suppressPackageStartupMessages({
  library(advtrain)
  library(glmnet)
})
print(advtrain_sitrep())  # the machine and kernel variant behind every figure below
reps <- as.integer(Sys.getenv("BENCH_REPS", "5"))
k_eps <- as.integer(Sys.getenv("BENCH_EPS_LAMBDAS", "100"))
eps_reps <- as.integer(Sys.getenv("BENCH_EPS_REPS", "9"))
threads <- as.integer(Sys.getenv("BENCH_THREADS", "1"))
only_eps <- Sys.getenv("BENCH_ONLY_EPS") == "1"
n <- 500
d <- 5000
set.seed(20210405)
x <- matrix(rnorm(n * d), n, d)
theta0 <- c(rep(1, 10), rep(0, d - 10))
y <- drop(x %*% theta0) + rnorm(n)

med <- function(expr, reps) {
  e <- substitute(expr)
  env <- parent.frame()
  times <- vapply(seq_len(reps), function(i) system.time(eval(e, env))[["elapsed"]],
                  numeric(1))
  stats::median(times)
}
line <- function(label, a, b, la, lb) {
  cat(sprintf("%-46s %8.3f s / %8.3f s = %6.2f  (%s / %s)\n", label, a, b, a / b, la, lb))
}

cat(sprintf("n = %d, d = %d, 100 lambdas, %d repeats (medians), threads = %d, %s\n\n",
            n, d, reps, threads, format(Sys.time(), "%Y-%m-%d %H:%M")))

fit0 <- adv_lasso(x, y, eps = 0, threads = threads)
if (!only_eps) {
t_adv0 <- med(adv_lasso(x, y, eps = 0, threads = threads), reps)
t_glm <- med(glmnet(x, y, lambda = fit0$lambda / 2), reps)
t_glm_def <- med(glmnet(x, y), reps)
t_glm_tight <- med(glmnet(x, y, lambda = fit0$lambda / 2, thresh = 1e-14), reps)
line("eps = 0 path vs glmnet (same grid, default thresh)", t_adv0, t_glm, "adv_lasso", "glmnet")
line("eps = 0 path vs glmnet (its own grid)", t_adv0, t_glm_def, "adv_lasso", "glmnet")
line("eps = 0 path vs glmnet (same grid, thresh 1e-14)", t_adv0, t_glm_tight, "adv_lasso", "glmnet")
g <- glmnet(x, y, lambda = fit0$lambda / 2, thresh = 1e-14)
m <- length(g$lambda)
cat(sprintf("  max |coef difference| to glmnet (thresh 1e-14): %.2e; our max KKT residual %.1e\n",
            max(abs(as.matrix(coef(g)) - coef(fit0)[, seq_len(m)])), max(fit0$kkt)))
# which of the two is off where they differ most: the KKT residual of each at that
# lambda (glmnet's objective (1/2n)||r||^2 + lambda sum_j sd_j |b_j|, relative to sd(y))
cg <- as.matrix(coef(g))
cf <- coef(fit0)[, seq_len(m)]
k <- which.max(apply(abs(cg - cf), 2, max))
sdx <- sqrt(colMeans(sweep(x, 2, colMeans(x))^2))
kkt_glm <- function(b) {
  gr <- drop(crossprod(x, y - b[1] - drop(x %*% b[-1]))) / n
  lam <- g$lambda[k]
  v <- ifelse(b[-1] != 0, abs(gr - lam * sdx * sign(b[-1])), pmax(abs(gr) - lam * sdx, 0))
  max(v / sdx) / stats::sd(y)
}
cat(sprintf("  at lambda %d of %d (df %d), KKT residual of glmnet %.1e, of adv_lasso %.1e\n",
            k, m, sum(cf[-1, k] != 0), kkt_glm(cg[, k]), kkt_glm(cf[, k])))

foldid <- sample(rep(1:10, length.out = n))
t_cv0 <- med(cv_adv_lasso(x, y, eps = 0, foldid = foldid, threads = threads), max(1, reps %/% 2))
t_cvg <- med(cv.glmnet(x, y, foldid = foldid, lambda = fit0$lambda / 2), max(1, reps %/% 2))
line("cv_adv_lasso(eps = 0) vs cv.glmnet (10 folds)", t_cv0, t_cvg, "cv_adv_lasso", "cv.glmnet")
}

# the eps = 0 grid for both (above the eps = 0.1 lambda_max the solution is zero)
lam_eps <- fit0$lambda[seq_len(min(k_eps, length(fit0$lambda)))]
fit1 <- adv_lasso(x, y, eps = 0.1, lambda = lam_eps, threads = threads)
# paired timings: elapsed seconds of the eps = 0.1 fit and of the eps = 0 fit that follows
paired <- function(norm) {
  tt <- vapply(seq_len(eps_reps), function(i) {
    c(system.time(adv_lasso(x, y, eps = 0.1, norm = norm, lambda = lam_eps,
                            threads = threads))[["elapsed"]],
      system.time(adv_lasso(x, y, eps = 0, lambda = lam_eps,
                            threads = threads))[["elapsed"]])
  }, numeric(2))
  list(a = stats::median(tt[1, ]), b = stats::median(tt[2, ]),
       ratio = stats::median(tt[1, ] / tt[2, ]), ratios = tt[1, ] / tt[2, ])
}
pl2 <- paired("l2")
t_eps <- pl2$a
t_0k <- pl2$b
line(sprintf("eps = 0.1 path vs eps = 0 path (same %d lambdas)", length(lam_eps)), t_eps, t_0k,
     "eps = 0.1", "eps = 0")
cat(sprintf("  median of the %d paired ratios: %.2f (%s)\n", eps_reps, pl2$ratio,
            paste(sprintf("%.2f", sort(pl2$ratios)), collapse = ", ")))
cat(sprintf("  eps = 0.1: lambda from %.3g to %.3g, df up to %d, max KKT %.1e, Newton steps %d\n",
            max(lam_eps), min(lam_eps), max(fit1$df), max(fit1$kkt), sum(fit1$iters)))
fit1l <- adv_lasso(x, y, eps = 0.1, norm = "linf", lambda = lam_eps, threads = threads)
pli <- paired("linf")
t_inf <- pli$a
line(sprintf("eps = 0.1 Linf path vs eps = 0 path (%d lambdas)", length(lam_eps)), t_inf,
     pli$b, "linf", "eps = 0")
cat(sprintf("  median of the %d paired ratios: %.2f\n", eps_reps, pli$ratio))
cat(sprintf("  eps = 0.1 Linf: df up to %d, max KKT %.1e, Newton steps %d\n",
            max(fit1l$df), max(fit1l$kkt), sum(fit1l$iters)))
if (!only_eps) {
  line(sprintf("eps = 0.1 path (%d lambdas) vs glmnet path (100)", length(lam_eps)), t_eps,
       t_glm, "eps = 0.1", "glmnet")
}
cat("\nReproduce: Rscript bench/lasso.R\n")
