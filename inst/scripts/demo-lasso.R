# Theorem 9 in a few seconds: in high dimension (d = 1000 >> n = 100) the unpenalised
# estimator interpolates and its adversarial risk is about v^2, while the adversarial
# LASSO with lambda chosen by cross-validation gets most of the way to R*(eps) and
# finds the true support. Sigma = I, theta0 = ten 1s, sigma^2 = 1.
library(advtrain)
set.seed(21)
n <- 100
d <- 1000
theta0 <- c(rep(1, 10), rep(0, d - 10))
sim <- simulate_linear(n, theta0)
min_norm <- drop(crossprod(sim$x, solve(tcrossprod(sim$x), sim$y))) # X'(XX')^-1 y
cat(sprintf("Adversarial LASSO, n = %d, d = %d, s = 10 (Theorem 9 of the paper)\n\n", n, d))
for (norm in c("l2", "linf")) {
  eps <- if (norm == "l2") 0.1 else 0.05
  opt <- adv_optimum(rep(1, 10), eps, norm = norm)
  t0 <- proc.time()[["elapsed"]]
  cv <- cv_adv_lasso(sim$x, sim$y, eps = eps, norm = norm, nfolds = 5, nlambda = 40)
  secs <- proc.time()[["elapsed"]] - t0
  th <- coef(cv, s = "lambda_min")[-1, 1]
  cat(sprintf("%s attacks, eps = %g (eps_c = %.3f):\n", toupper(norm), eps, opt$eps_c))
  cat(sprintf("  adversarial risk: CV-tuned LASSO %.3f | min-norm interpolator %.2f | R*(eps) %.3f | v^2 %.0f\n",
              adv_risk(th, theta0, eps, norm = norm), adv_risk(min_norm, theta0, eps, norm = norm),
              opt$risk, opt$v2))
  cat(sprintf("  support: %d of 10 true coefficients found, %d false positives (%.1f s)\n\n",
              sum(th[1:10] != 0), sum(th[-(1:10)] != 0), secs))
}
out <- Sys.getenv("ADVTRAIN_DEMO_LASSO_PNG", "advtrain-demo-lasso.png")
grDevices::png(out, width = 1000, height = 450, res = 110)
graphics::par(mfrow = c(1, 2))
plot(cv$fit)
plot(cv)
invisible(grDevices::dev.off())
cat("Wrote the coefficient paths and the CV curve (L-infinity fit) to", normalizePath(out), "\n")
