# Part of `make demo`: the population theory of robust linear regression in the
# paper's low-dimensional setting (Sigma = I_10, theta0 = 1, sigma^2 = 1): the table of
# eps, R*(eps), R(theta*, 0), ||theta*||, kappa and eps_c, and the trade-off curve.
library(advtrain)
theta0 <- rep(1, 10)
opt <- adv_optimum(theta0, eps = c(0, 0.1, 0.25, 0.5, 0.75, 1, 1.1, 1.19, 1.5, 2, 3))
print(opt)
out <- Sys.getenv("ADVTRAIN_DEMO_PNG", "advtrain-demo.png")
grDevices::png(out, width = 800, height = 560, res = 110)
plot(adv_optimum(theta0, eps = seq(0, 2, by = 0.01)))
invisible(grDevices::dev.off())
cat("\nWrote the trade-off curve to", normalizePath(out), "\n")
