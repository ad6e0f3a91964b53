# Benchmark: adv_nn2() in the Figure 6 setting of the paper (d = 3, theta0 = 1/sqrt(3),
# sigma^2 = 1, n = 100, h = 50, delta = 0.5, xi = 0.01, FGM, L2 attack eps = 0.5),
# against an idiomatic vectorised R implementation of the same algorithm (matrix
# products and element-wise operations over the n x h pre-activations), written
# below. Both start from the same theta(0) and a; the script checks that they end at
# the same theta, then reports medians of several repeats of one training run, and
# the cost of the Monte Carlo evaluation (n_test = 10000 fresh samples) that each
# recorded step adds when `truth` is given.
# The C code runs on one thread (the R implementation's only one) and on the package's
# default thread count (adv_threads(), 2 unless set; the sigmoid network's passes run
# in parallel at this size, ReLU's and the linear one's do not).
# Reproduce: Rscript bench/nn2.R   (after `make install`; environment variables
# BENCH_REPS = 5, BENCH_ITERS = 2000, BENCH_THREADS = adv_threads(),
# BENCH_TIMER = elapsed)
suppressPackageStartupMessages(library(advtrain))
print(advtrain_sitrep())  # the machine and kernel variant behind every figure below
reps <- as.integer(Sys.getenv("BENCH_REPS", "5"))
iters <- as.integer(Sys.getenv("BENCH_ITERS", "2000"))
threads <- as.integer(Sys.getenv("BENCH_THREADS", adv_threads()))
# "elapsed" (wall clock) or "user.self" (CPU time, less sensitive to other load)
timer <- Sys.getenv("BENCH_TIMER", "elapsed")

# Algorithm 1 for the lazy two-layer network, vectorised over samples and units.
r_nn2 <- function(x, y, theta, a, activation, slope, eps, xi, eta, iters) {
  n <- nrow(x)
  h <- length(a)
  s <- 1 / sqrt(h)
  act <- switch(activation,
    sigmoid = function(z) {
      p <- 1 / (1 + exp(-z))
      list(phi = p - 0.5, dphi = p * (1 - p))
    },
    linear = function(z) list(phi = slope * z, dphi = matrix(slope, nrow(z), ncol(z))),
    relu = function(z) list(phi = slope * pmax(z, 0), dphi = slope * (z >= 0)))
  A <- matrix(a, n, h, byrow = TRUE)
  for (t in seq_len(iters)) {
    z <- act(x %*% theta)
    r <- s * drop(z$phi %*% a) - y
    g <- (2 * s * r) * tcrossprod(z$dphi * A, theta) # n x d input gradients
    xa <- x + eps * g / sqrt(rowSums(g^2) + xi^2)   # FGM, surrogate shrinkage
    za <- act(xa %*% theta)
    ra <- s * drop(za$phi %*% a) - y
    theta <- theta - eta * crossprod(xa, (2 * s / n) * ra * za$dphi * A)
  }
  theta
}

set.seed(6)
d <- 3
n <- 100
h <- 50
theta0 <- rep(1, d) / sqrt(d)
sim <- simulate_linear(n, theta0)
eps <- 0.5
xi <- 0.01
etas <- c(sigmoid = 0.2, linear = 0.2, relu = 0.8)

cat(sprintf("adv_nn2, Figure 6 setting: n = %d, d = %d, h = %d, %d iterations, FGM, L2 eps = %g, xi = %g; %d repeats (medians of %s time)\n\n",
            n, d, h, iters, eps, xi, reps, timer))
cat(sprintf("%-8s %12s %12s %12s %9s %9s %14s\n", "", "C 1 thr (s)",
            sprintf("C %d thr (s)", threads), "R (s)", "ratio 1", sprintf("ratio %d", threads),
            "max |dtheta|"))
ratios <- list()
ratios_t <- list()
for (act in names(etas)) {
  set.seed(1)
  a <- runif(h, -1, 1)
  if (act == "relu") a[a < 0] <- a[a < 0] * sqrt(sum(a[a > 0]^2) / sum(a[a < 0]^2))
  th0 <- matrix(rnorm(d * h, sd = sqrt(1 / (d * h^1.5))), d, h)
  fit_c <- function(threads = 1L) {
    adv_nn2(sim$x, sim$y, a = a, activation = act, eps = eps, xi = xi,
            eta = etas[[act]], iters = iters, init = th0, trace_every = iters,
            threads = threads)
  }
  fit_r <- function() {
    r_nn2(sim$x, sim$y, th0, a, act, 1 / 4, eps, xi, etas[[act]], iters)
  }
  diff <- max(abs(unname(coef(fit_c())) - fit_r()))
  # alternate the three so that all see the same load on a shared machine
  tm <- vapply(seq_len(reps), function(i) {
    c(system.time(fit_c())[[timer]], system.time(fit_c(threads))[[timer]],
      system.time(fit_r())[[timer]])
  }, numeric(3))
  tc <- median(tm[1, ])
  tt <- median(tm[2, ])
  tr <- median(tm[3, ])
  cat(sprintf("%-8s %12.4f %12.4f %12.4f %9.1f %9.1f %14.2e\n", act, tc, tt, tr, tr / tc,
              tr / tt, diff))
  ratios[[act]] <- tr / tc
  ratios_t[[act]] <- tr / tt
}

met <- function(r) {
  m <- names(r)[unlist(r) >= 10]
  if (length(m)) paste(m, collapse = ", ") else "none"
}
cat(sprintf("target: C at least 10 times faster; met on 1 thread for %s; on %d threads for %s\n",
            met(ratios), threads, met(ratios_t)))
cat("(the linear activation runs on the collapsed network f(x) = x'theta a / (4 sqrt(h)),\n",
    " O(d) per sample; sigmoid and ReLU on the four-sample kernel, O(d h) per sample)\n",
    sep = "")

# The Monte Carlo evaluation: each recorded step with `truth` adds one attacked pass
# over n_test samples (and, with xi > 0, a pass over the training data with the true
# attack). Cost per recorded step = (time with truth - time without) / records.
cat(sprintf("\nMonte Carlo evaluation per recorded step (n_test = 10000, sigmoid, %d threads):\n",
            threads))
every <- iters / 20
set.seed(1)
fit_t <- function(truth) {
  adv_nn2(sim$x, sim$y, eps = eps, xi = xi, eta = 0.2, iters = iters,
          truth = truth, n_test = 10000, trace_every = every, threads = threads)
}
tm <- vapply(seq_len(reps), function(i) {
  c(system.time(fit_t(sim))[[timer]], system.time(fit_t(NULL))[[timer]])
}, numeric(2))
t_with <- tm[1, ]
t_without <- tm[2, ]
records <- iters / every + 1
per_record <- (median(t_with) - median(t_without)) / records
per_step <- median(t_without) / iters
cat(sprintf("  training step: %.1f us; one recorded step's Monte Carlo evaluation: %.2f ms (%.0f training steps)\n",
            1e6 * per_step, 1e3 * per_record, per_record / per_step))
cat("Reproduce: Rscript bench/nn2.R\n")
