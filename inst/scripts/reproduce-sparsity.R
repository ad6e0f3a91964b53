# Theorem 9 at the scale of the paper's discussion: Sigma = I, theta0 s-sparse
# (s = 10 ones), n = 100, 200 and 400, d = 1000, sigma^2 = 1; the adversarial LASSO with lambda
# chosen by 10-fold cross-validation under the same attack, against the unpenalised
# adversarial training from zero (the minimum-norm interpolator, Lemma 1), for L2
# (eps = 0.1) and L-infinity (eps = 0.05) attacks; 20 replications.
# Parallel through future: ADVTRAIN_WORKERS=k, or set a plan and source this file.
# Usage: Rscript inst/scripts/reproduce-sparsity.R [output.rds]
library(advtrain)
# ADVTRAIN_WORKERS=k runs the replications on k local R sessions (any future plan set
# by the caller before sourcing this script is used otherwise).
if (nzchar(Sys.getenv("ADVTRAIN_WORKERS"))) {
  future::plan("multisession", workers = as.integer(Sys.getenv("ADVTRAIN_WORKERS")))
}
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "reproduce-sparsity.rds"
reps <- as.integer(Sys.getenv("ADVTRAIN_REPS", "20"))
d <- 1000; s <- 10
theta0 <- c(rep(1, s), rep(0, d - s))
t0 <- proc.time()[["elapsed"]]
set.seed(20210416)
one <- function(k, n, eps, norm) {
  sim <- simulate_linear(n, theta0)
  cv <- cv_adv_lasso(sim$x, sim$y, eps = eps, norm = norm, nfolds = 10, nlambda = 50)
  th <- coef(cv, s = "lambda_min")[-1, 1]
  interp <- drop(crossprod(sim$x, solve(tcrossprod(sim$x), sim$y)))
  c(risk_lasso = adv_risk(th, theta0, eps, norm = norm),
    risk_interpolator = adv_risk(interp, theta0, eps, norm = norm),
    true_pos = sum(th[1:s] != 0), false_pos = sum(th[-(1:s)] != 0))
}
configs <- list(c(n = 100, eps = 0.1, norm = "l2"), c(n = 200, eps = 0.1, norm = "l2"),
                c(n = 400, eps = 0.1, norm = "l2"), c(n = 100, eps = 0.05, norm = "linf"),
                c(n = 400, eps = 0.05, norm = "linf"))
rows <- lapply(configs, function(cfg) {
  n <- as.integer(cfg[["n"]])
  eps <- as.numeric(cfg[["eps"]])
  norm <- cfg[["norm"]]
  res <- future.apply::future_sapply(seq_len(reps), one, n = n, eps = eps, norm = norm,
                                     future.seed = TRUE)
  R_star <- adv_optimum(theta0, eps, norm = norm)$risk
  data.frame(n = n, norm = norm, eps = eps, R_star = R_star,
             risk_lasso = mean(res["risk_lasso", ]), risk_lasso_sd = stats::sd(res["risk_lasso", ]),
             risk_interpolator = mean(res["risk_interpolator", ]),
             gap_over_v2 = (mean(res["risk_lasso", ]) - R_star) / 11,
             true_pos = mean(res["true_pos", ]), false_pos = mean(res["false_pos", ]))
})
summary <- do.call(rbind, rows)
elapsed <- proc.time()[["elapsed"]] - t0
res <- list(
  description = sprintf(paste(
    "Theorem 9: adversarial LASSO (lambda by 10-fold CV, 50 lambdas) vs the",
    "unpenalised interpolator; n = 100 to 400, d = 1000, s = 10, Sigma = I, sigma^2 = 1;",
    "%d replications; mean population adversarial risks, R*(eps), v^2 = 11, and the",
    "mean numbers of true and false positives."), reps),
  summary = summary, elapsed_seconds = elapsed,
  command = "Rscript inst/scripts/reproduce-sparsity.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M %Z"),
  session = utils::capture.output(utils::sessionInfo()))
saveRDS(res, out)
print(summary, row.names = FALSE, digits = 4)
cat(sprintf("\n%.1f s; written to %s\n", elapsed, out))
