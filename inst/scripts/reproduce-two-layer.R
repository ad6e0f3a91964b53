# Full-scale reproduction of Figure 6 (Theorems 3 and 4, appendix A.2): d = 3,
# theta0 = (1, 1, 1)/sqrt(3), Sigma = I, sigma^2 = 1, n = 100, h = 50, a ~ U[-1, 1],
# delta = 0.5, xi = 0.01, the fast gradient attack, 4000 iterations, eta = 0.2 / 0.2 /
# 0.8 (sigmoid / linear / ReLU), 50 replications, risks from 10 000 fresh samples.
# Parallel through future: set a plan first, e.g. future::plan("multisession").
# Usage: Rscript inst/scripts/reproduce-two-layer.R [output.rds]
library(advtrain)
# ADVTRAIN_WORKERS=k runs the replications on k local R sessions (any future plan set
# by the caller before sourcing this script is used otherwise).
if (nzchar(Sys.getenv("ADVTRAIN_WORKERS"))) {
  future::plan("multisession", workers = as.integer(Sys.getenv("ADVTRAIN_WORKERS")))
}
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "reproduce-two-layer.rds"
reps <- as.integer(Sys.getenv("ADVTRAIN_REPS", "50"))
theta0 <- rep(1, 3) / sqrt(3)
etas <- c(sigmoid = 0.2, linear = 0.2, relu = 0.8)
t0 <- proc.time()[["elapsed"]]
set.seed(20210415)
rows <- list()
for (eps in c(0.1, 0.3, 0.5)) {
  R_star <- adv_optimum(theta0, eps)$risk
  for (act in names(etas)) {
    r <- adv_replicate(function(k) {
      sim <- simulate_linear(100, theta0)
      adv_nn2(sim$x, sim$y, h = 50, activation = act, eps = eps, xi = 0.01,
              eta = etas[[act]], iters = 4000, truth = sim, n_test = 10000,
              trace_every = 400)
    }, reps = reps)
    s <- r$summary
    last <- nrow(s)
    rows[[length(rows) + 1]] <- data.frame(
      eps = eps, activation = act, R_star = R_star, risk_adv = s$risk_adv_mean[last],
      risk_adv_sd = s$risk_adv_sd[last], gap_over_v2 = (s$risk_adv_mean[last] - R_star) / 2)
  }
}
summary <- do.call(rbind, rows)
elapsed <- proc.time()[["elapsed"]] - t0
res <- list(
  description = sprintf(paste(
    "Figure 6 at full scale: lazy two-layer networks (h = 50, delta = 0.5, xi = 0.01,",
    "FGM, 4000 iterations), %d replications per eps and activation; final population",
    "adversarial risk (10 000 fresh samples) against R*(eps); v^2 = 2."), reps),
  summary = summary, elapsed_seconds = elapsed,
  command = "Rscript inst/scripts/reproduce-two-layer.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M %Z"),
  session = utils::capture.output(utils::sessionInfo()))
saveRDS(res, out)
print(summary, row.names = FALSE, digits = 4)
cat(sprintf("\n%.1f s; written to %s\n", elapsed, out))
