# Benchmarks of adv_lm() (not a test; the machine it runs on may be shared and noisy).
# Reproduce from the repository root, after installing the package:
#   Rscript bench/lm.R
# (R_LIBS=<library> Rscript bench/lm.R to use a private library.)
# Prints medians of several repeats and the ratios, all measured in this one run.
suppressPackageStartupMessages(library(advtrain))
print(advtrain_sitrep())  # the machine and kernel variant behind every figure below
reps <- as.integer(Sys.getenv("BENCH_REPS", "5"))
threads <- adv_threads()
cat(sprintf("advtrain %s, R %s, %d thread(s), %d repeats\n",
            utils::packageVersion("advtrain"), getRversion(), threads, reps))
cat("Reproduce: Rscript bench/lm.R   (BENCH_REPS=5 by default)\n\n")

med_time <- function(expr_fun, reps) {
  stats::median(vapply(seq_len(reps), function(i) {
    gc(FALSE)
    system.time(expr_fun())[["elapsed"]]
  }, numeric(1)))
}

# An idiomatic vectorised R implementation of the same loop: Algorithm 1 with the L2
# surrogate attack, recording the same three training losses and the gradient norm
# at every step.
gd_r <- function(x, y, eps, xi, eta, iters) {
  n <- nrow(x)
  theta <- numeric(ncol(x))
  trace <- matrix(NA_real_, iters + 1, 4)
  for (t in 0:iters) {
    r <- drop(x %*% theta) - y
    tn <- sqrt(sum(theta^2))
    g <- 2 * abs(r) * tn
    s <- if (xi == 0) as.numeric(g > 0) else g / sqrt(g^2 + xi^2)
    rt <- r + sign(r) * eps * tn * s
    ra <- r + sign(r) * eps * tn * (g > 0)
    alpha <- ifelse(g > 0, eps * 2 * r / sqrt(g^2 + xi^2), 0)
    grad <- 2 / n * (drop(crossprod(x, rt)) + sum(rt * alpha) * theta)
    trace[t + 1, ] <- c(mean(rt^2), mean(ra^2), mean(r^2), sqrt(sum(grad^2)))
    if (t == iters) break
    theta <- theta - eta * grad
  }
  list(theta = theta, trace = trace)
}

cat("1. adv_lm (C, fused pass) against the vectorised R loop, L2, xi = 0.1, eta given\n")
cat("   (adv_lm timed as a whole: checks, transposition, trace and all)\n")
for (sz in list(c(1000, 10, 1000), c(2000, 2000, 100))) {
  n <- sz[1]; d <- sz[2]; iters <- sz[3]
  set.seed(1)
  sim <- simulate_linear(n, rep(1, d) / sqrt(d))
  eta <- 0.01
  fit <- adv_lm(sim$x, sim$y, eps = 0.5, xi = 0.1, eta = eta, iters = iters)
  ref <- gd_r(sim$x, sim$y, 0.5, 0.1, eta, iters)
  stopifnot(max(abs(fit$theta - ref$theta)) < 1e-8 * max(1, abs(ref$theta)))
  tc <- med_time(function() adv_lm(sim$x, sim$y, eps = 0.5, xi = 0.1, eta = eta,
                                   iters = iters), reps)
  tr <- med_time(function() gd_r(sim$x, sim$y, 0.5, 0.1, eta, iters), reps)
  cat(sprintf("  n = %d, d = %d, %d steps: adv_lm %.4f s, R loop %.4f s, ratio %.1fx\n",
              n, d, iters, tc, tr, tr / tc))
}

cat("\n2. Memory bandwidth at n = 4000, d = 2000 (X is 64 MB)\n")
n <- 4000; d <- 2000
set.seed(2)
x <- matrix(rnorm(n * d), n, d)
y <- drop(x %*% rep(0.02, d)) + rnorm(n)
bytes <- 8 * n * d
# the per-step cost, free of the fixed costs (checks, transposition), by difference;
# the read, the short and the long run alternate within each repeat, so that a change
# of load on a shared machine hits all three, and the ratio is a median over repeats
short <- 5; long <- 85
for (nth in unique(c(1L, threads))) {
  stream <- function() .Call(advtrain:::C_lm_stream, x, nth)
  run <- function(iters) {
    adv_lm(x, y, eps = 0.5, xi = 0.1, eta = 1e-4, iters = iters, trace_every = long,
           threads = nth)
  }
  m <- vapply(seq_len(max(reps, 7)), function(i) {
    gc(FALSE)
    ts <- system.time(for (k in 1:10) stream())[["elapsed"]] / 10
    t_short <- system.time(run(short))[["elapsed"]]
    t_long <- system.time(run(long))[["elapsed"]]
    c(ts, (t_long - t_short) / (long - short))
  }, numeric(2))
  ts <- stats::median(m[1, ])
  step <- stats::median(m[2, ])
  pct <- stats::median(100 * m[1, ] / m[2, ])
  cat(sprintf("  %d thread(s): STREAM-like read (sum of X) %.4f s = %.2f GB/s; adv_lm step %.4f s = %.2f GB/s counting one read of X: %.0f%% of the read bandwidth (median of %d paired repeats)\n",
              nth, ts, bytes / ts / 1e9, step, bytes / step / 1e9, pct, ncol(m)))
}
xr <- sim <- NULL
r_step <- med_time(function() gd_r(x, y, 0.5, 0.1, 1e-4, 3), max(3, reps %/% 2)) / 4
cat(sprintf("  (the two-pass R loop: %.4f s per step, %.2f GB/s counting one read)\n",
            r_step, bytes / r_step / 1e9))

cat("\n3. method = \"exact\" against GD run to the same objective, n = 1000, d = 100, L2, eps = 0.3\n")
set.seed(3)
sim <- simulate_linear(1000, rep(1, 100) / 10)
te <- med_time(function() adv_lm(sim$x, sim$y, eps = 0.3, method = "exact"), reps)
ex <- adv_lm(sim$x, sim$y, eps = 0.3, method = "exact")
# GD with xi = 0 and a fixed step chatters around the kinks of this non-smooth
# objective (samples with r_i = 0) and levels off slightly above the minimum, so the
# target is 1e-4 relative; GD with the automatic step runs in doublings of its number
# of steps until it gets there.
target <- ex$objective * (1 + 1e-4)
iters <- 50
repeat {
  g <- adv_lm(sim$x, sim$y, eps = 0.3, iters = iters, trace_every = 1)
  if (min(g$trace$loss_adv) <= target || iters >= 12800) break
  iters <- iters * 2
}
reached <- min(g$trace$loss_adv) <= target
first <- if (reached) g$trace$iter[which(g$trace$loss_adv <= target)[1]] else iters
tg <- med_time(function() adv_lm(sim$x, sim$y, eps = 0.3, iters = first,
                                 trace_every = first), reps)
long <- adv_lm(sim$x, sim$y, eps = 0.3, iters = 5000, trace_every = 5000)
cat(sprintf("  exact: %.4f s (%d iterations, certified relative gap %.1e)\n", te,
            ex$iterations, ex$gap / ex$objective))
cat(sprintf("  GD (automatic eta = %.3g): %.4f s for the %d steps it needs to come within 1e-4 of the exact objective%s\n",
            g$eta, tg, first, if (reached) "" else " (NOT reached)"))
cat(sprintf("  ratio GD / exact: %.1fx; after 5000 steps GD is still %.1e above the exact minimum\n",
            tg / te, tail(long$trace$loss_adv, 1) / ex$objective - 1))
