# The main job of `make demo`: each part of the package in the paper's settings.
# Run from the repository root (`make demo`) or anywhere with
#   Rscript "$(Rscript -e 'cat(system.file("scripts", "demo.R", package = "advtrain"))')"
library(advtrain)
scripts <- if (file.exists("inst/scripts/demo.R")) "inst/scripts" else
  system.file("scripts", package = "advtrain")
part <- function(title, file) {
  cat("\n", strrep("=", 78), "\n", title, "\n", strrep("=", 78), "\n", sep = "")
  t0 <- proc.time()[["elapsed"]]
  source(file.path(scripts, file), echo = FALSE, local = new.env())
  cat(sprintf("(%.1f s)\n", proc.time()[["elapsed"]] - t0))
}

part("1. The optimal robust linear model (Proposition 1; Sigma = I_10, theta0 = 1, sigma^2 = 1)",
     "demo-optimum.R")
for (p in list(
  c("2. Adversarial training of linear regression (Algorithm 1, Theorem 2, Figure 5)", "demo-lm.R"),
  c("3. Lazy two-layer networks (Theorems 3 and 4, Figure 6)", "demo-nn2.R"),
  c("4. The adversarial LASSO in high dimension (Theorem 9)", "demo-lasso.R"),
  c("5. Adversarial training of a small CNN on Fashion-MNIST", "demo-cnn.R"))) {
  if (file.exists(file.path(scripts, p[2]))) part(p[1], p[2])
}
