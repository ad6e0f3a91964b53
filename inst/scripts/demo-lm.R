# Part of `make demo`: adversarial training of linear regression by the paper's
# Algorithm 1 in the setting of Figure 5 (Theorem 2): d = 10, theta0 = 1, Sigma = I,
# sigma^2 = 1, n = 1000, L2 attacks with eps = 0.5, surrogate xi = 0.1, step 0.01,
# zero initialisation. The population adversarial risk of the trained model should
# end within a few percent of R*(0.5) = 5.385, and its standard risk above 1.
library(advtrain)
set.seed(2021)
sim <- simulate_linear(1000, theta0 = rep(1, 10))
fit <- adv_lm(sim$x, sim$y, eps = 0.5, xi = 0.1, eta = 0.01, iters = 1000,
              truth = sim)
print(summary(fit))
exact <- adv_lm(sim$x, sim$y, eps = 0.5, method = "exact", truth = sim)
cat(sprintf("\nExact minimiser of the empirical adversarial risk: objective %.6f (certified duality gap %.1e, %d iterations)\n",
            exact$objective, exact$gap, exact$iterations))
cat(sprintf("GD after %d steps: adversarial training loss %.6f\n", fit$iterations,
            tail(fit$trace$loss_adv, 1)))
last <- tail(fit$trace, 1)
cat(sprintf("Population adversarial risk %.4f vs R*(0.5) = %.4f (%.2f%% above); standard risk %.4f > sigma^2 = 1\n",
            last$risk_adv, fit$R_star, 100 * (last$risk_adv / fit$R_star - 1),
            last$risk_std))
out <- Sys.getenv("ADVTRAIN_DEMO_LM_PNG", "advtrain-demo-lm.png")
grDevices::png(out, width = 1000, height = 450, res = 110)
plot(fit)
invisible(grDevices::dev.off())
cat("Wrote the training curves to", normalizePath(out), "\n")
