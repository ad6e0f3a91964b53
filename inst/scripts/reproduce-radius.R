# Does the pivotal radius tune L-infinity adversarial training as well as
# cross-validation? Sparse problem of issue 20: n = 200, d = 1000, s = 10 coefficients
# equal to 1, Sigma = I, sigma^2 = 1. Per replication:
#   * eps_piv = adv_radius(x, norm = "linf", type = "pivotal") (median of 100 draws);
#   * eps_cv  = the minimiser of the 5-fold cross-validated squared prediction error
#     over 12 values eps_piv * exp(seq(log(1/4), log(3/2), length.out = 12));
# each fit is the exact minimiser of the empirical adversarial risk (adv_lasso with
# lambda = 1e-8, no intercept, no standardisation), and its prediction risk is the
# population standard risk ||theta - theta0||^2 + sigma^2.
# Run from the package root:  Rscript inst/scripts/reproduce-radius.R [reps]
# Writes inst/extdata/reproduce-radius.rds (about 10 s per replication, one core).
library(advtrain)
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[1]) else 20L
n <- 200; d <- 1000; s <- 10
theta0 <- c(rep(1, s), rep(0, d - s))
fit_at <- function(x, y, eps) {
  f <- suppressWarnings(adv_lasso(x, y, eps = eps, norm = "linf", lambda = 1e-8,
                                  intercept = FALSE, standardize = FALSE))
  f$beta[, 1]
}
risk <- function(theta) sum((theta - theta0)^2) + 1
set.seed(20)
started <- proc.time()[[3]]
rows <- lapply(seq_len(reps), function(r) {
  sim <- simulate_linear(n, theta0 = theta0, sigma2 = 1)
  x <- sim$x
  y <- sim$y
  piv <- adv_radius(x, norm = "linf", type = "pivotal")
  grid <- piv * exp(seq(log(1 / 4), log(3 / 2), length.out = 12))
  fold <- sample(rep(1:5, length.out = n))
  cvm <- rowMeans(vapply(1:5, function(k) {
    tr <- fold != k
    vapply(grid, function(e) {
      th <- fit_at(x[tr, ], y[tr], e)
      mean((y[!tr] - x[!tr, ] %*% th)^2)
    }, numeric(1))
  }, numeric(length(grid))))
  eps_cv <- grid[which.min(cvm)]
  out <- data.frame(rep = r, eps_piv = piv, eps_zero = adv_radius(x, y, norm = "linf"),
                    eps_cv = eps_cv, risk_piv = risk(fit_at(x, y, piv)),
                    risk_cv = risk(fit_at(x, y, eps_cv)))
  message(sprintf("rep %d: eps_piv %.3f eps_cv %.3f risk_piv %.3f risk_cv %.3f", r,
                  out$eps_piv, out$eps_cv, out$risk_piv, out$risk_cv))
  out
})
res <- do.call(rbind, rows)
ratio <- res$risk_piv / res$risk_cv
summary <- list(
  reps = reps, n = n, d = d, s = s,
  mean_risk_piv = mean(res$risk_piv), se_risk_piv = sd(res$risk_piv) / sqrt(reps),
  mean_risk_cv = mean(res$risk_cv), se_risk_cv = sd(res$risk_cv) / sqrt(reps),
  mean_ratio = mean(ratio), se_ratio = sd(ratio) / sqrt(reps),
  mean_eps_ratio = mean(res$eps_cv / res$eps_piv),
  within_20pct = mean(ratio) <= 1.2,
  seconds = proc.time()[[3]] - started,
  session = sprintf("%s, advtrain %s", R.version.string, utils::packageVersion("advtrain"))
)
saveRDS(list(results = res, summary = summary), "inst/extdata/reproduce-radius.rds")
str(summary)
