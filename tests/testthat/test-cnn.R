# Internals used to check the C kernels against finite differences.
cnn_setup <- function(spec, input, n, y = NULL, seed = 1) {
  withr::local_seed(seed)
  x <- array(stats::runif(n * prod(input)), c(n, input))
  px <- advtrain:::prepare_x(x)
  plan <- advtrain:::cnn_plan(spec, px$input)
  if (is.null(y)) y <- factor(sample(seq_len(plan$nout), n, TRUE), levels = seq_len(plan$nout))
  py <- advtrain:::prepare_y(y, n, plan$nout)
  theta <- advtrain:::init_weights(plan, spec) + stats::rnorm(plan$np, sd = 0.1)
  list(x = px$x, y = py$y, loss = py$loss, plan = plan, theta = theta)
}

cnn_grad <- function(s, theta = s$theta, x = s$x) {
  .Call(advtrain:::C_cnn_grad, s$plan$arch, s$plan$beta, s$loss, theta, x, s$y, 1L)
}

expect_fd_gradients <- function(spec, input, n = 5, y = NULL) {
  s <- cnn_setup(spec, input, n, y)
  g <- cnn_grad(s)
  f_theta <- function(t) mean(cnn_grad(s, theta = t)[[1]])
  f_x <- function(v) sum(cnn_grad(s, x = matrix(v, nrow(s$x)))[[1]])
  num_t <- num_grad(f_theta, s$theta)
  num_x <- num_grad(f_x, as.vector(s$x))
  expect_equal(g[[2]], num_t, tolerance = 1e-6)
  expect_equal(as.vector(g[[3]]), num_x, tolerance = 1e-6)
  # the per-sample losses are what the forward pass gives
  expect_length(g[[1]], n)
}

test_that("every layer's gradient matches finite differences", {
  expect_fd_gradients(cnn_spec(dense(3)), c(2, 3, 2))
  expect_fd_gradients(cnn_spec(conv(3, 3), dense(2)), c(5, 4, 1))
  expect_fd_gradients(cnn_spec(conv(2, 3, padding = 0), dense(3)), c(6, 5, 2))
  expect_fd_gradients(cnn_spec(conv(2, 2, padding = 1), relu(), dense(2)), c(4, 4, 2))
  expect_fd_gradients(cnn_spec(conv(3, 3), pool(2), dense(2)), c(7, 6, 1))
  expect_fd_gradients(cnn_spec(conv(3, 3), relu(), pool(2), conv(2, 3), relu(), pool(2),
                               dense(4)), c(6, 6, 1), n = 18)
  expect_fd_gradients(mlp_spec(hidden = c(6, 4), classes = 3), c(1, 1, 7))
})

test_that("the squared-loss head has the gradient of (f - y)^2", {
  y <- stats::rnorm(4)
  expect_fd_gradients(cnn_spec(dense(5), relu(), dense(1)), c(1, 1, 6), n = 4, y = y)
  s <- cnn_setup(cnn_spec(dense(1)), c(1, 1, 3), 4, y = y)
  w <- s$theta[1:3]; b <- s$theta[4]
  f <- drop(crossprod(s$x, w)) + b
  expect_equal(cnn_grad(s)[[1]], (f - y)^2)
})

test_that("ReLU forward / Softplus backward matches a direct computation", {
  beta <- 10
  s <- cnn_setup(mlp_spec(hidden = 5, classes = 3, softplus = beta), c(1, 1, 4), n = 6)
  g <- cnn_grad(s)
  W1 <- matrix(s$theta[1:20], 4, 5); b1 <- s$theta[21:25]
  W2 <- matrix(s$theta[26:40], 5, 3); b2 <- s$theta[41:43]
  Y <- diag(3)[, s$y + 1]
  z1 <- crossprod(W1, s$x) + b1
  out <- crossprod(W2, pmax(z1, 0)) + b2
  p <- exp(out) / rep(colSums(exp(out)), each = 3)
  dz1 <- (W2 %*% (p - Y)) * stats::plogis(beta * z1)
  expect_equal(g[[1]], -colSums(log(p) * Y))
  expect_equal(g[[3]], W1 %*% dz1)
  expect_equal(g[[2]][1:20], as.vector(s$x %*% t(dz1)) / 6)
  # and it differs from the true gradient, which plain relu() gives
  s2 <- s
  s2$plan$beta[] <- 0
  expect_false(isTRUE(all.equal(cnn_grad(s2)[[3]], g[[3]])))
})

attack_setup <- function() {
  spec <- cnn_spec(conv(3, 3), relu(), pool(2), dense(3))
  s <- cnn_setup(spec, c(6, 6, 1), n = 24)
  s$theta <- s$theta * 3
  s
}

run_attack <- function(s, eps, norm, steps, alpha = 2 * eps / steps, xi = 0,
                       start = NULL, clip = c(0, 1)) {
  advtrain:::attack_raw(s$theta, s$plan, s$loss, s$x, s$y, eps, norm, steps, alpha, xi,
                        start, clip, 2L)
}

test_that("attacks stay in the eps-ball and the data range", {
  s <- attack_setup()
  withr::local_seed(2)
  for (norm in c("linf", "l2")) {
    eps <- if (norm == "linf") 0.2 else 1
    for (st in list(NULL, advtrain:::random_start_r(nrow(s$x), ncol(s$x), eps, norm))) {
      xa <- run_attack(s, eps, norm, steps = 7, alpha = eps / 2, start = st)
      d <- xa - s$x
      size <- if (norm == "linf") apply(abs(d), 2, max) else sqrt(colSums(d^2))
      expect_true(all(size <= eps * (1 + 1e-12)))
      expect_true(all(xa >= 0 & xa <= 1))
      expect_gt(mean(size), eps / 2)
    }
  }
})

test_that("one attack step is the surrogate A_{eps,xi} of the formula sheet", {
  s <- attack_setup()
  g <- cnn_grad(s)[[3]]
  eps <- 0.05
  for (xi in c(0, 0.3)) {
    a2 <- run_attack(s, eps, "l2", steps = 1, alpha = eps, xi = xi, clip = NULL) - s$x
    expect_equal(a2, eps * g / rep(sqrt(colSums(g^2) + xi^2), each = nrow(g)))
    ai <- run_attack(s, eps, "linf", steps = 1, alpha = eps, xi = xi, clip = NULL) - s$x
    expect_equal(ai, eps * g / (abs(g) + xi))
  }
})

test_that("PGD's loss is at least FGSM's", {
  s <- attack_setup()
  loss_at <- function(xa) mean(cnn_grad(s, x = xa)[[1]])
  withr::local_seed(3)
  for (norm in c("linf", "l2")) {
    eps <- if (norm == "linf") 0.1 else 0.5
    fgsm <- loss_at(run_attack(s, eps, norm, steps = 1, alpha = eps))
    pgd <- loss_at(run_attack(s, eps, norm, steps = 10, alpha = 2.5 * eps / 10,
                              start = advtrain:::random_start_r(36, 24, eps, norm)))
    clean <- loss_at(s$x)
    expect_gt(fgsm, clean)
    expect_gte(pgd, fgsm)
  }
})

small_two_class <- function(n_train = 300, n_test = 300) {
  d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
  i <- c(1:(n_train / 2), 601:(600 + n_train / 2))
  j <- c(1:(n_test / 2), 301:(300 + n_test / 2))
  list(x = d$train$x[i, , ], y = d$train$y[i], xt = d$test$x[j, , ], yt = d$test$y[j])
}

test_that("threads = 1 and threads = 2 give identical fits", {
  d <- small_two_class(96, 20)
  spec <- cnn_spec(conv(4, 3), relu(), pool(2), dense(2))
  fit <- function(th) {
    adv_cnn(d$x, d$y, spec, eps = 0.1, steps = 3, epochs = 2, batch_size = 48, lr = 0.05,
            lambda = 1e-4, seed = 7, threads = th)
  }
  f1 <- fit(1)
  f2 <- fit(2)
  expect_identical(f1$weights, f2$weights)
  expect_identical(f1$history$loss, f2$history$loss)
})

test_that("checkpoint/resume ends identical to an uninterrupted run", {
  d <- small_two_class(64, 20)
  ck <- withr::local_tempfile(fileext = ".rds")
  spec <- mlp_spec(16, 2)
  args <- list(d$x, d$y, spec, eps = 0.5, norm = "l2", steps = 2, batch_size = 32,
               lr = 0.05, milestones = 2, xi = 0.01, seed = 3, threads = 2)
  full <- do.call(adv_cnn, c(args, epochs = 3))
  part <- do.call(adv_cnn, c(args, epochs = 2, checkpoint = ck))
  expect_false(identical(part$weights, full$weights))
  resumed <- do.call(adv_cnn, c(args, epochs = 3, checkpoint = ck, resume = TRUE))
  expect_identical(resumed$weights, full$weights)
  expect_identical(resumed$history[, c("epoch", "lr", "xi", "loss")],
                   full$history[, c("epoch", "lr", "xi", "loss")])
  expect_equal(full$history$lr, c(0.05, 0.05, 0.005))
  expect_equal(full$history$xi, c(0.01, 0.01, 0.001))
})

test_that("the L1 penalty is a proximal step: it zeroes weights, not biases", {
  d <- small_two_class(64, 20)
  fit <- adv_cnn(d$x, d$y, mlp_spec(16, 2), attack = "none", epochs = 2, lr = 0.05,
                 batch_size = 8, lambda = 0.1, seed = 1, threads = 2)
  w <- unlist(lapply(fit$weights, `[[`, "weight"))
  b <- unlist(lapply(fit$weights, `[[`, "bias"))
  expect_gt(mean(w == 0), 0.5)
  expect_true(any(b != 0))
  expect_output(print(summary(fit)), "nonzero weights")
})

test_that("fits survive saveRDS/readRDS", {
  d <- small_two_class(64, 40)
  fit <- adv_cnn(d$x, d$y, cnn_spec(conv(2, 3), relu(), pool(2), dense(2)), eps = 0.1,
                 steps = 2, epochs = 1, lr = 0.05, seed = 1, threads = 2,
                 validation = list(x = d$xt, y = d$yt))
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, f)
  back <- readRDS(f)
  expect_identical(predict(back, d$xt, type = "prob"), predict(fit, d$xt, type = "prob"))
  p <- predict(back, d$xt, type = "prob")
  expect_equal(rowSums(p), rep(1, 40))
  expect_identical(levels(predict(back, d$xt)), levels(d$y))
  withr::local_seed(1)
  e1 <- evaluate(back, d$xt, d$yt, eps = 0.1, norm = "linf", steps = 3)
  withr::local_seed(1)
  e2 <- evaluate(fit, d$xt, d$yt, eps = 0.1, norm = "linf", steps = 3)
  expect_identical(e1, e2)
  expect_lte(e1$adversarial_accuracy, e1$clean_accuracy)
  expect_equal(e1$clean_accuracy, mean(predict(fit, d$xt) == d$yt))
  expect_output(print(back), "adv_cnn")
  expect_true(all(c("val_accuracy", "val_adv_accuracy") %in% names(back$history)))
  pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  expect_invisible(plot(back))
  ad <- attack_difference(back, d$xt, d$yt, eps = 1, norm = "l2", steps = 5)
  expect_true(ad$difference >= 0 && ad$difference <= 2)
})

test_that("adversarial training beats plain training on adversarial accuracy", {
  skip_on_cran()
  d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
  spec <- mlp_spec(64, 2)
  common <- list(d$train$x, d$train$y, spec, norm = "linf", epochs = 4, lr = 0.05,
                 batch_size = 64, seed = 1, threads = 2)
  plain <- do.call(adv_cnn, c(common, attack = "none"))
  adv <- do.call(adv_cnn, c(common, eps = 0.1, steps = 5))
  withr::local_seed(1)
  ep <- evaluate(plain, d$test$x, d$test$y, eps = 0.1, norm = "linf", steps = 10)
  ea <- evaluate(adv, d$test$x, d$test$y, eps = 0.1, norm = "linf", steps = 10)
  cat(sprintf("\nplain: clean %.3f adversarial %.3f; adversarial training: clean %.3f adversarial %.3f\n",
              ep$clean_accuracy, ep$adversarial_accuracy, ea$clean_accuracy,
              ea$adversarial_accuracy))
  expect_gte(ep$clean_accuracy, 0.95)
  expect_gt(ea$adversarial_accuracy, ep$adversarial_accuracy + 0.05)
})

test_that("bad input gets clear errors", {
  d <- small_two_class(20, 20)
  spec <- mlp_spec(4, 2)
  expect_snapshot(error = TRUE, {
    adv_cnn(d$x, d$y, spec, eps = -1, epochs = 1)
    adv_cnn(d$x, d$y[-1], spec, epochs = 1)
    adv_cnn(d$x, d$y, mlp_spec(4, 3), epochs = 1)
    adv_cnn(d$x, d$y, cnn_spec(conv(2, 5, padding = 0), pool(4), pool(4), pool(2), dense(2)),
            epochs = 1)
    adv_cnn(d$x, d$y, spec, epochs = 1, norm = "l1")
    adv_cnn(d$x * 255, d$y, spec, epochs = 1)
    adv_cnn("a", d$y, spec, epochs = 1)
    cnn_spec(conv(2, 3), relu())
    cnn_spec(conv(2, 3), "dense")
    cnn_spec(conv(8, 5, padding = 0), dense(2), input = c(3, 3, 1))
    conv(0, 3)
  })
  fit <- adv_cnn(d$x, d$y, spec, attack = "none", epochs = 1, seed = 1)
  expect_snapshot(error = TRUE, {
    predict(fit, d$x[, 1:27, ])
    evaluate(fit, d$x, rep("Dress", 20), eps = 0.1)
    evaluate(fit, d$x, d$y, eps = -0.1)
  })
})

test_that("a regression head trains with the squared loss and FGM attacks", {
  withr::local_seed(5)
  n <- 200
  x <- matrix(stats::runif(n * 4), n, 4)
  y <- drop(x %*% c(1, -1, 0.5, 0)) + stats::rnorm(n, sd = 0.05)
  fit <- adv_cnn(x, y, mlp_spec(8, classes = 1), eps = 0.05, norm = "l2",
                 attack = "fgsm", epochs = 30, batch_size = 20, lr = 0.05, seed = 1,
                 threads = 2)
  expect_lt(fit$history$loss[30], fit$history$loss[1] / 2)
  p <- predict(fit, x)
  expect_length(p, n)
  ev <- evaluate(fit, x, y, eps = 0.05, norm = "l2", steps = 5)
  expect_equal(ev$clean_mse, mean((p - y)^2))
  expect_gte(ev$adversarial_mse, ev$clean_mse)
  expect_error(adv_cnn(x, y, mlp_spec(8, classes = 1), attack = "none", epochs = 20,
                       lr = 1e10, seed = 1, progress = FALSE),
               class = "advtrain_error_divergence")
})
