# Benchmark: adv_optimum() with 100 values of eps against the same call with one eps,
# for d = 1000 and a random dense Sigma. The eigendecomposition is done once per call,
# so the 100-eps call should cost less than twice the one-eps call.
# Reproduce: Rscript bench/optimum.R   (after `make install`)
suppressPackageStartupMessages(library(advtrain))
print(advtrain_sitrep())  # the machine and kernel variant behind every figure below
set.seed(1)
d <- 1000
reps <- as.integer(Sys.getenv("BENCH_REPS", "5"))
Q <- qr.Q(qr(matrix(rnorm(d * d), d, d)))
Sigma <- Q %*% diag(seq(0.2, 5, length.out = d)) %*% t(Q)
Sigma <- (Sigma + t(Sigma)) / 2
theta0 <- rnorm(d)
eps_c <- adv_optimum(theta0, 0.1, Sigma)$eps_c
eps100 <- seq(0, 1.2 * eps_c, length.out = 100)
time_it <- function(eps) {
  vapply(seq_len(reps), function(i) {
    system.time(adv_optimum(theta0, eps, Sigma))[["elapsed"]]
  }, numeric(1))
}
t1 <- time_it(eps_c / 2)
t100 <- time_it(eps100)
cat(sprintf("adv_optimum, d = %d, dense Sigma, %d repeats (medians)\n", d, reps))
cat(sprintf("  one eps:      %.3f s\n", median(t1)))
cat(sprintf("  100 eps:      %.3f s\n", median(t100)))
cat(sprintf("  ratio 100/1:  %.2f (target < 2)\n", median(t100) / median(t1)))
cat("Reproduce: Rscript bench/optimum.R\n")
