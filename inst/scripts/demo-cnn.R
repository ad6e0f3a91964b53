# A quick demo of adv_cnn() (< 30 s): plain and PGD adversarial training of a small CNN
# on the shipped Fashion-MNIST subset (T-shirt/top vs Trouser), clean and adversarial
# test accuracy. Run: Rscript inst/scripts/demo-cnn.R
suppressPackageStartupMessages(library(advtrain))
d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
spec <- cnn_spec(conv(8, 5), relu(), pool(2), conv(16, 5), relu(), pool(2), dense(2))
eps <- 0.1
cat("Fashion-MNIST subset:", nrow(d$train$x), "training and", nrow(d$test$x),
    "test images\n")
print(spec)
res <- list()
for (attack in c("none", "pgd")) {
  t <- system.time(
    fit <- adv_cnn(d$train$x, d$train$y, spec, eps = eps, norm = "linf", attack = attack,
                   steps = 3, epochs = 2, batch_size = 64, lr = 0.05, seed = 1,
                   progress = FALSE))[["elapsed"]]
  set.seed(1)
  ev <- evaluate(fit, d$test$x, d$test$y, eps = eps, norm = "linf", steps = 10)
  res[[attack]] <- data.frame(training = if (attack == "none") "standard" else "PGD-3 adversarial",
                              seconds = round(t, 1), clean_accuracy = ev$clean_accuracy,
                              adversarial_accuracy = ev$adversarial_accuracy)
}
cat(sprintf("\ntest accuracy, L-inf eps = %g, PGD-10 attack:\n", eps))
print(do.call(rbind, res), row.names = FALSE, digits = 3)
