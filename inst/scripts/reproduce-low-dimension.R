# Full-scale reproduction of the paper's low-dimensional linear experiments
# (Figure 5 / Theorem 2, appendix A.1; Figure 1, section 2.1):
#   d = 10, theta0 = 1, Sigma = I, sigma^2 = 1, n = 1000, zero initialisation,
#   xi = 0.1, eta = 0.01, 100 replications per eps.
# Parallel through future: set any plan before sourcing, e.g.
#   future::plan("multisession", workers = 2)
# Usage: Rscript inst/scripts/reproduce-low-dimension.R [output.rds]
# Writes a list with the per-eps summary, the command, the date and sessionInfo().
library(advtrain)
# ADVTRAIN_WORKERS=k runs the replications on k local R sessions (any future plan set
# by the caller before sourcing this script is used otherwise).
if (nzchar(Sys.getenv("ADVTRAIN_WORKERS"))) {
  future::plan("multisession", workers = as.integer(Sys.getenv("ADVTRAIN_WORKERS")))
}
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "reproduce-low-dimension.rds"
reps <- as.integer(Sys.getenv("ADVTRAIN_REPS", "100"))
iters <- as.integer(Sys.getenv("ADVTRAIN_ITERS", "2000"))
theta0 <- rep(1, 10)
eps_grid <- c(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1)
opt <- adv_optimum(theta0, eps_grid)
t0 <- proc.time()[["elapsed"]]
set.seed(20210413)
rows <- lapply(seq_along(eps_grid), function(k) {
  eps <- eps_grid[k]
  rep_fit <- adv_replicate(function(r) {
    sim <- simulate_linear(1000, theta0)
    adv_lm(sim$x, sim$y, eps = eps, xi = 0.1, eta = 0.01, iters = iters, truth = sim,
           trace_every = iters)
  }, reps = reps)
  s <- rep_fit$summary
  last <- nrow(s)
  data.frame(eps = eps, R_star = opt$risk[k], std_risk_star = opt$std_risk[k],
             risk_adv_mean = s$risk_adv_mean[last], risk_adv_sd = s$risk_adv_sd[last],
             risk_std_mean = s$risk_std_mean[last], risk_std_sd = s$risk_std_sd[last])
})
summary <- do.call(rbind, rows)
summary$gap_over_v2 <- (summary$risk_adv_mean - summary$R_star) / 11
elapsed <- proc.time()[["elapsed"]] - t0
res <- list(
  description = sprintf(paste(
    "Figure 5 at full scale: n = 1000, d = 10, theta0 = 1, Sigma = I, sigma^2 = 1,",
    "xi = 0.1, eta = 0.01, zero init, %d iterations, %d replications per eps.",
    "Population risks of the final iterate (exact, eq. 5) against R*(eps)."), iters, reps),
  summary = summary, elapsed_seconds = elapsed,
  command = "Rscript inst/scripts/reproduce-low-dimension.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M %Z"),
  session = utils::capture.output(utils::sessionInfo()))
saveRDS(res, out)
print(summary, row.names = FALSE)
cat(sprintf("\n%.1f s; written to %s\n", elapsed, out))
