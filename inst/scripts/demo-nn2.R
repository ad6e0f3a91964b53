# Demo for `make demo`: lazy two-layer networks trained adversarially in the paper's
# low-dimensional setting (Figure 6: d = 3, theta0 = (1,1,1)/sqrt(3), sigma^2 = 1,
# n = 100, h = 50, delta = 0.5, FGM with xi = 0.01), one replication, fewer steps.
# All three networks approach the minimal adversarial risk R*(eps) of linear models.
library(advtrain)
set.seed(2021)
theta0 <- rep(1, 3) / sqrt(3)
eps <- 0.2
sim <- simulate_linear(100, theta0)
a <- runif(50, -1, 1)
etas <- c(sigmoid = 0.2, linear = 0.2, relu = 0.8)
cat(sprintf("Adversarial training of lazy two-layer networks (L2 eps = %g, R*(eps) = %.4f)\n\n",
            eps, adv_optimum(theta0, eps)$risk))
rows <- lapply(names(etas), function(act) {
  fit <- adv_nn2(sim$x, sim$y, h = 50, a = a, activation = act, eps = eps, xi = 0.01,
                 eta = etas[[act]], iters = 2000, truth = sim, n_test = 10000,
                 trace_every = 500)
  tr <- as.data.frame(fit)
  data.frame(activation = act, eta = etas[[act]],
             risk_start = tr$risk_adv[1], risk_end = tr$risk_adv[nrow(tr)],
             R_star = fit$R_star, train_loss = tr$loss_surrogate[nrow(tr)],
             risks = if (act == "linear") "exact" else "Monte Carlo")
})
print(do.call(rbind, rows), digits = 4, row.names = FALSE)
cat("\nThe linear network is the linear model beta = theta a / (4 sqrt(h)); its risks are exact.\n")
