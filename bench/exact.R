# bench/exact.R: adv_lm(method = "exact") against ECOSolveR (the SOCP
# min (1/n) sum t_i^2, t_i >= |r_i| + eps s, s >= ||theta||_*), and an eps path of 50
# values against one fit. Not a test. Run: R_LIBS=$PWD/.lib Rscript bench/exact.R
# Environment: BENCH_REPS (3) repeats of the ECOS comparisons (medians);
# BENCH_PATH_REPS (15) pairs of the path rows; BENCH_ONLY_PATH=1 runs the path rows only.
suppressPackageStartupMessages(library(advtrain))
print(advtrain_sitrep())  # the machine and kernel variant behind every figure below
cat("command: R_LIBS=$PWD/.lib Rscript bench/exact.R\n")
reps <- as.integer(Sys.getenv("BENCH_REPS", "3"))
source("tests/testthat/helper-ecos.R") # ecos_adv_lm(), lm_obj()
med_time <- function(f) {
  t <- numeric(reps)
  for (k in seq_len(reps)) t[k] <- system.time(res <- f())[["elapsed"]]
  list(time = stats::median(t), res = res)
}
cases <- list(c(1000, 50, 0.2), c(2000, 200, 0.2), c(50, 100, 0.1))
only_path <- Sys.getenv("BENCH_ONLY_PATH") == "1"
if (only_path) cases <- list()
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
# observation weights (exponential draws): the same engines, ECOS with the weights in
# its rotated cone
for (norm in if (only_path) character(0) else c("l2", "linf")) {
  set.seed(1)
  n <- 2000; d <- 200; eps <- 0.2
  x <- matrix(rnorm(n * d), n, d)
  y <- drop(x[, 1:5] %*% rep(1, 5)) + rnorm(n)
  w <- rexp(n)
  ours <- med_time(function() adv_lm(x, y, eps = eps, norm = norm, method = "exact", weights = w))
  ref <- med_time(function() ecos_adv_lm(x, y, eps, norm, FALSE, w = w))
  cat(sprintf("weighted, n = %4d, d = %3d, %-4s eps = %.2f: exact %.4f s (engine %s, rel gap %.1e), ECOS %.3f s, ratio %.1fx; objective exact - ECOS = %.2e (relative)\n",
              n, d, norm, eps, ours$time, ours$res$engine, ours$res$rel_gap, ref$time,
              ref$time / ours$time, (ours$res$objective - ref$res$objective) / ref$res$objective))
}
for (norm in c("l2", "linf")) {
  set.seed(2)
  n <- 1000; d <- 50
  x <- matrix(rnorm(n * d), n, d)
  y <- drop(x[, 1:5] %*% rep(1, 5)) + rnorm(n)
  zr <- adv_radius(x, y, norm = norm, type = "zero")
  epss <- seq(0, zr, length.out = 50)
  # one fit takes milliseconds, below the timer's resolution: it is timed ten times in
  # a row, and the path and the ten fits alternate, BENCH_PATH_REPS (15) pairs, so
  # that a change of the machine's speed hits both; the median of the pairs' ratios
  pr_reps <- as.integer(Sys.getenv("BENCH_PATH_REPS", "15"))
  path <- adv_lm(x, y, eps = epss, norm = norm, method = "exact")
  tt <- vapply(seq_len(pr_reps), function(k) {
    tp <- system.time(adv_lm(x, y, eps = epss, norm = norm, method = "exact"))[["elapsed"]]
    to <- system.time(for (q in 1:10) adv_lm(x, y, eps = epss[25], norm = norm,
                                             method = "exact"))[["elapsed"]] / 10
    c(tp, to)
  }, numeric(2))
  cat(sprintf("eps path, n = %d, d = %d, %s, 50 values in [0, zero radius]: path %.3f s, one fit (middle eps) %.4f s (medians of %d); median of the paired ratios %.1f (max rel gap %.1e)\n",
              n, d, norm, stats::median(tt[1, ]), stats::median(tt[2, ]), pr_reps,
              stats::median(tt[1, ] / tt[2, ]), max(path$path$rel_gap)))
}
