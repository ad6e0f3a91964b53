# adv_nn2(): lazy two-layer networks (MATH.md section 6).

nn2_eval <- advtrain:::nn2_eval

# Independent R versions of the activations and the network.
phi_r <- list(
  sigmoid = function(z) 1 / (1 + exp(-z)) - 1 / 2,
  linear = function(z) z / 4,
  relu = function(z) pmax(z, 0) / 4
)
net_r <- function(x, theta, a, act) drop(phi_r[[act]](x %*% theta) %*% a) / sqrt(length(a))

# Sigmoid and ReLU networks under FGM (or no attack) with d <= 16 run on a kernel that
# takes four samples at a time, in an AVX2/FMA version where the processor has one;
# the rest on the per-sample kernel. The kernel modes: 0 the four-sample kernel at its
# best, 1 its baseline version, 2 the per-sample kernel everywhere. kernel_modes() are
# those this build and processor have; with_kernel(mode, code) runs code in one.
kernel_modes <- function() {
  k <- .Call(advtrain:::C_nn2_kernels, NA_integer_)
  c(if (k[1] == 1) 0L, if (k[1] == 1 && k[2] == 1) 1L, 2L)
}
with_kernel <- function(mode, code) {
  old <- .Call(advtrain:::C_nn2_kernels, as.integer(mode))[3]
  on.exit(.Call(advtrain:::C_nn2_kernels, as.integer(old)))
  force(code)
}

# A small random network and data: x (n x d), y, theta (d x h, entries of sd sd), a.
toy_net <- function(n, d, h, sd = 1) {
  x <- matrix(rnorm(n * d), n)
  y <- rnorm(n)
  list(x = x, y = y, theta = matrix(rnorm(d * h, sd = sd), d), a = runif(h, -1, 1))
}

test_that("the forward pass, input gradient and attack match R and finite differences", {
  for (mode in kernel_modes()) with_kernel(mode, {
    set.seed(11)
    n <- 9; d <- 4
    list2env(toy_net(n, d, 6), environment())
    for (act in names(phi_r)) {
      e <- nn2_eval(x, y, theta, a, act, eps = 0.3, xi = 0.2)
      expect_equal(e$f, net_r(x, theta, a, act), tolerance = 1e-14)
      # input gradient of (f(x) - y)^2 at every sample, by central differences
      for (i in seq_len(n)) {
        fd <- num_grad(function(v) (net_r(matrix(v, 1), theta, a, act) - y[i])^2, x[i, ])
        expect_equal(e$input_grad[, i], fd, tolerance = 1e-7)
      }
      # the surrogate attack built from that gradient (MATH.md section 2)
      g <- e$input_grad
      l2 <- 0.3 * g / rep(sqrt(colSums(g^2) + 0.2^2), each = d)
      expect_equal(e$delta, l2, tolerance = 1e-14)
      einf <- nn2_eval(x, y, theta, a, act, eps = 0.3, norm = "linf", xi = 0.2)
      expect_equal(einf$delta, 0.3 * g / (abs(g) + 0.2), tolerance = 1e-14)
      # the attacked loss is the loss at x + A
      expect_equal(e$loss, mean((net_r(x + t(e$delta), theta, a, act) - y)^2),
                   tolerance = 1e-13)
    }
  })
})

test_that("the fixed-attack parameter gradient matches finite differences", {
  for (mode in kernel_modes()) with_kernel(mode, {
    set.seed(12)
    d <- 3
    list2env(toy_net(12, d, 5, sd = 0.7), environment())
    for (act in names(phi_r)) {
      for (norm in c("l2", "linf")) {
        e <- nn2_eval(x, y, theta, a, act, eps = 0.25, norm = norm, xi = 0.1)
        xa <- x + t(e$delta)
        if (act == "relu") expect_gt(min(abs(xa %*% theta)), 1e-4) # away from kinks
        loss <- function(v) mean((net_r(xa, matrix(v, d), a, act) - y)^2)
        expect_equal(as.vector(e$grad), num_grad(loss, as.vector(theta)), tolerance = 1e-7)
      }
      # the standard gradient: no attack
      loss0 <- function(v) mean((net_r(x, matrix(v, d), a, act) - y)^2)
      expect_equal(as.vector(e$grad_std), num_grad(loss0, as.vector(theta)),
                   tolerance = 1e-7)
    }
  })
})

test_that("PGD stays in the eps-ball, and one PGD step is the true FGM attack", {
  set.seed(13)
  list2env(toy_net(20, 5, 8), environment())
  for (norm in c("l2", "linf")) {
    pgd <- nn2_eval(x, y, theta, a, "sigmoid", eps = 0.4, norm = norm, attack = "pgd",
                    pgd_steps = 7)
    size <- if (norm == "l2") sqrt(colSums(pgd$delta^2)) else apply(abs(pgd$delta), 2, max)
    expect_true(all(size <= 0.4 + 1e-12))
    one <- nn2_eval(x, y, theta, a, "sigmoid", eps = 0.4, norm = norm, attack = "pgd",
                    pgd_steps = 1)
    fgm <- nn2_eval(x, y, theta, a, "sigmoid", eps = 0.4, norm = norm)
    expect_equal(one$delta, fgm$delta, tolerance = 1e-14)
  }
})

test_that("the linear activation's O(d) kernel equals the general kernel (ReLU where every unit is on)", {
  # ReLU with all pre-activations positive is the linear activation, computed by the
  # general O(d h) kernel; the linear activation takes the collapsed beta = theta a path
  set.seed(14)
  n <- 15; d <- 4; h <- 7
  x <- matrix(runif(n * d, 1, 2), n)
  y <- rnorm(n)
  theta <- matrix(runif(d * h, 0.5, 1), d)
  a <- runif(h, -1, 1)
  for (norm in c("l2", "linf")) for (attack in c("fgm", "pgd")) {
    el <- nn2_eval(x, y, theta, a, "linear", eps = 0.2, norm = norm, xi = 0.05,
                   attack = attack, pgd_steps = 4)
    er <- nn2_eval(x, y, theta, a, "relu", eps = 0.2, norm = norm, xi = 0.05,
                   attack = attack, pgd_steps = 4)
    expect_gt(min((x + t(er$delta)) %*% theta), 0)
    for (nm in c("f", "r_adv", "loss", "loss_std", "input_grad", "delta", "grad",
                 "grad_std")) {
      expect_equal(el[[nm]], er[[nm]], tolerance = 1e-13, label = paste(norm, attack, nm))
    }
  }
  # and so do whole training runs, trace included
  fl <- adv_nn2(x, y, a = a, activation = "linear", eps = 0.2, xi = 0.05, eta = 0.05,
                iters = 30, init = theta, threads = 1)
  fr <- adv_nn2(x, y, a = a, activation = "relu", balance = FALSE, eps = 0.2, xi = 0.05,
                eta = 0.05, iters = 30, init = theta, threads = 1)
  expect_equal(coef(fl), coef(fr), tolerance = 1e-13)
  cols <- c("loss_surrogate", "loss_adv", "loss_std", "theta_norm", "grad_norm", "grad_diff")
  expect_equal(fl$trace[cols], fr$trace[cols], tolerance = 1e-12)
})

# The four-sample kernel (mode 0 or 1) against the per-sample one (mode 2): every
# output of nn2_eval(), and one training step and predictions, which go through the
# same kernel as nn2_eval(). n = 10 leaves a block with two empty lanes, h = 7 an odd
# unit, d = 6 takes the kernel's general-d branch.
check_block_kernel <- function(mode) {
  set.seed(16)
  n <- 10; h <- 7
  for (d in c(1, 3, 6)) {
    list2env(toy_net(n, d, h), environment())
    for (act in c("sigmoid", "relu")) for (norm in c("l2", "linf")) for (eps in c(0, 0.3)) {
      lab <- sprintf("mode %d, d = %d, %s, %s, eps = %g", mode, d, act, norm, eps)
      e2 <- with_kernel(2, nn2_eval(x, y, theta, a, act, eps = eps, norm = norm, xi = 0.1))
      with_kernel(mode, {
        e <- nn2_eval(x, y, theta, a, act, eps = eps, norm = norm, xi = 0.1)
        fit <- adv_nn2(x, y, a = a, activation = act, balance = FALSE, eps = eps,
                       norm = norm, xi = 0.1, eta = 0.1, iters = 1, init = theta,
                       trace_every = 1, threads = 1)
        pred <- predict(fit, x)
      })
      for (nm in names(e2)) expect_equal(e[[nm]], e2[[nm]], tolerance = 1e-13,
                                         label = paste(lab, nm))
      tr <- fit$trace[1, ]
      expect_equal(tr$loss_surrogate, e$loss, tolerance = 1e-15, label = lab)
      expect_equal(tr$loss_std, e$loss_std, tolerance = 1e-15, label = lab)
      expect_equal(tr$grad_norm, sqrt(sum(e$grad^2)), tolerance = 1e-15, label = lab)
      expect_equal(tr$grad_diff, sqrt(sum((e$grad - e$grad_std)^2)), tolerance = 1e-13,
                   label = lab)
      expect_equal(unname(coef(fit)), theta - 0.1 * e$grad, tolerance = 1e-15, label = lab)
      expect_equal(unname(pred), net_r(x, coef(fit), a, act), tolerance = 1e-14, label = lab)
    }
  }
  # saturated units (|z| far above 700) give phi = +-1/2 and phi' = 0 in both kernels
  x <- matrix(c(rnorm(8), 900, -900, 1e300, -1e300), ncol = 1)
  theta <- matrix(c(1, -2, 0.5), 1)
  a <- c(0.3, -0.7, 0.2)
  e2 <- with_kernel(2, nn2_eval(x, numeric(12), theta, a, "sigmoid", eps = 0.1))
  e <- with_kernel(mode, nn2_eval(x, numeric(12), theta, a, "sigmoid", eps = 0.1))
  for (nm in names(e2)) expect_equal(e[[nm]], e2[[nm]], tolerance = 1e-13, label = nm)
  expect_equal(e$f, net_r(x, theta, a, "sigmoid"), tolerance = 1e-14)
}

test_that("the four-sample kernel equals the per-sample kernel", {
  modes <- setdiff(kernel_modes(), 2L)
  skip_if(length(modes) == 0, "the four-sample kernel needs GCC-style vectors")
  for (mode in modes) check_block_kernel(mode)
})

test_that("the linear network follows adv_lm() for beta = phi'(0) theta a / sqrt(h)", {
  set.seed(14)
  n <- 200; d <- 5; h <- 30
  sim <- simulate_linear(n, theta0 = c(1, -0.5, 0.25, 0, 2))
  a <- runif(h, -1, 1)
  slope <- 1 / 4
  eta <- 2
  eta_lin <- eta * sum(a^2) * slope^2 / h
  iters <- 1000
  for (norm in c("l2", "linf")) {
    net <- adv_nn2(sim$x, sim$y, a = a, activation = "linear", slope = slope,
                   eps = 0.3, norm = norm, xi = 0.1, eta = eta, iters = iters,
                   init = "zero", truth = sim)
    lin <- adv_lm(sim$x, sim$y, eps = 0.3, norm = norm, xi = 0.1, eta = eta_lin,
                  iters = iters, truth = sim)
    expect_equal(net$eta_linear, eta_lin)
    expect_identical(net$trace$iter, lin$trace$iter)
    rel <- abs(net$trace$loss_adv / lin$trace$loss_adv - 1)
    expect_lt(max(rel), 1e-8)
    for (col in c("loss_surrogate", "loss_std", "risk_adv", "risk_std")) {
      expect_equal(net$trace[[col]], lin$trace[[col]], tolerance = 1e-8)
    }
    expect_equal(unname(net$beta), unname(coef(lin)), tolerance = 1e-8)
    expect_equal(unname(drop(coef(net) %*% a) * slope / sqrt(h)), unname(net$beta))
  }
  # and a plain R version of the linear model's Algorithm 1 (L2)
  beta <- numeric(d)
  loss_adv <- numeric(iters + 1)
  for (t in 0:iters) {
    r <- drop(sim$x %*% beta) - sim$y
    nb <- sqrt(sum(beta^2))
    loss_adv[t + 1] <- mean((abs(r) + 0.3 * nb)^2)
    g <- 2 * r %o% beta                              # input gradients, one per row
    A <- 0.3 * g / sqrt(rowSums(g^2) + 0.1^2)
    xa <- sim$x + A
    beta <- beta - eta_lin * 2 / n * drop(crossprod(xa, drop(xa %*% beta) - sim$y))
  }
  net <- adv_nn2(sim$x, sim$y, a = a, activation = "linear", eps = 0.3, xi = 0.1,
                 eta = eta, iters = iters, init = "zero")
  expect_lt(max(abs(net$trace$loss_adv / loss_adv - 1)), 1e-8)
})

test_that("Figure 6 setting: all three networks approach R*(eps); sigmoid and ReLU end above linear", {
  skip_on_cran()
  theta0 <- rep(1, 3) / sqrt(3)
  eps <- 0.2
  r_star <- adv_optimum(theta0, eps)$risk
  etas <- c(sigmoid = 0.2, linear = 0.2, relu = 0.8)
  reps <- 6
  set.seed(60)
  common <- simulate_linear(50000, theta0) # one large test set for paired comparisons
  res <- lapply(seq_len(reps), function(r) {
    sim <- simulate_linear(100, theta0)
    a <- runif(50, -1, 1)
    out <- list()
    for (act in names(etas)) {
      fit <- adv_nn2(sim$x, sim$y, h = 50, a = a, activation = act, eps = eps,
                     xi = 0.01, eta = etas[[act]], iters = 4000, delta = 0.5,
                     truth = sim, n_test = 10000, trace_every = 4000)
      big <- nn2_eval(common$x, common$y, coef(fit), fit$a, act, eps = eps)
      out[[act]] <- c(start = fit$trace$risk_adv[1], end = fit$trace$risk_adv[2],
                      common = big$loss)
    }
    out
  })
  get <- function(act, what) vapply(res, function(r) r[[act]][[what]], numeric(1))
  gaps <- vapply(names(etas), function(act) mean(get(act, "end")) - r_star, numeric(1))
  start <- vapply(names(etas), function(act) mean(get(act, "start")) - r_star, numeric(1))
  message(sprintf("Figure 6 (eps = %g, R* = %.4f, %d replications): final gap to R* %s; initial gap %s",
                  eps, r_star, reps,
                  paste(sprintf("%s %.4f", names(gaps), gaps), collapse = ", "),
                  paste(sprintf("%.3f", start), collapse = "/")))
  expect_true(all(gaps < 0.1 * r_star))
  expect_true(all(gaps < 0.2 * start))
  # the Monte Carlo risks of the trace agree with the large common test set
  for (act in c("sigmoid", "relu")) {
    se <- sqrt(2) * r_star / sqrt(10000)
    expect_lt(abs(mean(get(act, "end") - get(act, "common"))), 4 * se)
  }
  # nonlinear networks end above the linear one (paired on the common test set)
  d_sig <- get("sigmoid", "common") - get("linear", "common")
  d_relu <- get("relu", "common") - get("linear", "common")
  message(sprintf("paired excess over the linear network: sigmoid %.4f (sd %.4f), ReLU %.4f (sd %.4f)",
                  mean(d_sig), stats::sd(d_sig), mean(d_relu), stats::sd(d_relu)))
  expect_gt(mean(d_sig), 0)
  expect_gt(mean(d_relu), 0)
})

test_that("Figures 12-13 setting: training loss falls as in standard training, adversarial risk stays near v^2", {
  skip_on_cran()
  d <- 1000; n <- 20; h <- 50
  theta0 <- c(rep(1, 10), rep(0, d - 10))
  v2 <- 10 + 0.1
  delta <- 0.6 * log(d) / log(h) # h^delta = d^0.6
  set.seed(1213)
  sim <- simulate_linear(n, theta0, sigma2 = 0.1)
  a <- runif(h, -1, 1)
  etas <- c(linear = 0.16, sigmoid = 0.16, relu = 0.64)
  for (act in names(etas)) {
    adv <- adv_nn2(sim$x, sim$y, a = a, activation = act, eps = 0.1, xi = 0.1,
                   eta = etas[[act]], iters = 100, delta = delta, truth = sim,
                   n_test = 1000, trace_every = 100)
    std <- adv_nn2(sim$x, sim$y, a = a, activation = act, eps = 0, eta = etas[[act]],
                   iters = 100, delta = delta, trace_every = 100)
    tr <- adv$trace
    message(sprintf("Figures 12-13, %s: training loss %.3g -> %.3g (standard %.3g); adversarial risk / v^2 = %.3f",
                    act, tr$loss_surrogate[1], tr$loss_surrogate[2], std$trace$loss_std[2],
                    tr$risk_adv[2] / v2))
    expect_lt(tr$loss_surrogate[2], 0.5 * tr$loss_surrogate[1])
    expect_lt(abs(tr$loss_surrogate[2] - std$trace$loss_std[2]), 0.01 * tr$loss_surrogate[1])
    expect_gt(tr$risk_adv[2] / v2, 0.8)
    if (act != "sigmoid") expect_lt(tr$loss_surrogate[2], 1e-6 * tr$loss_surrogate[1])
  }
})

test_that("results do not depend on the number of threads", {
  # large enough (n d h >= 4e6) for the passes to run in parallel
  set.seed(15)
  sim <- simulate_linear(2000, theta0 = c(1, 2, -1, 0.5, rep(0, 36)))
  for (act in c("sigmoid", "relu")) {
    fit <- function(threads, attack = "fgm") {
      set.seed(3)
      adv_nn2(sim$x, sim$y, h = 50, activation = act, eps = 0.3, xi = 0.05, eta = 1,
              iters = 4, attack = attack, pgd_steps = 3, truth = sim, n_test = 2000,
              trace_every = 2, threads = threads)
    }
    for (attack in c("fgm", "pgd")) {
      f1 <- fit(1, attack)
      f2 <- fit(2, attack)
      expect_identical(coef(f1), coef(f2))
      expect_identical(f1$trace, f2$trace)
    }
  }
  # the four-sample kernel (d <= 16): its pass and its gradient run in parallel too,
  # and a sigmoid network's pass already in the Figure 6 setting (n = 101: a part block)
  set.seed(17)
  sim4 <- simulate_linear(20001, theta0 = c(1, -1, 0.5, 0))
  sim6 <- simulate_linear(101, theta0 = rep(1, 3) / sqrt(3))
  for (act in c("sigmoid", "relu")) for (norm in c("l2", "linf")) for (s in list(sim4, sim6)) {
    fit <- function(threads) {
      set.seed(4)
      adv_nn2(s$x, s$y, h = 50, activation = act, eps = 0.3, norm = norm,
              xi = 0.05, eta = 1, iters = 3, truth = s, n_test = 1000,
              trace_every = 1, threads = threads)
    }
    f1 <- fit(1)
    f2 <- fit(2)
    expect_identical(coef(f1), coef(f2))
    expect_identical(f1$trace, f2$trace)
  }
})

test_that("ReLU with zero initialisation and balanced a moves, and balance is applied", {
  set.seed(16)
  sim <- simulate_linear(100, c(1, 1))
  fit <- adv_nn2(sim$x, sim$y, h = 20, activation = "relu", eps = 0.1, eta = 1,
                 iters = 50, init = "zero", trace_every = 50)
  expect_equal(sum(fit$a[fit$a > 0]^2), sum(fit$a[fit$a < 0]^2))
  expect_lt(fit$trace$loss_std[2], 0.5 * fit$trace$loss_std[1])
  expect_false(adv_nn2(sim$x, sim$y, h = 20, eps = 0.1, iters = 1)$balance)
})

test_that("fits print, summarise, plot, and predict after saveRDS()/readRDS()", {
  set.seed(17)
  sim <- simulate_linear(60, c(1, -1, 0.5))
  fit <- adv_nn2(sim$x, sim$y, h = 10, eps = 0.2, xi = 0.05, eta = 1, iters = 40,
                 truth = sim, n_test = 500, trace_every = 10)
  expect_s3_class(fit, "adv_nn2")
  expect_identical(dim(coef(fit)), c(3L, 10L))
  expect_named(as.data.frame(fit), c("iter", "loss_surrogate", "loss_adv", "loss_std",
                                     "risk_adv", "risk_std", "theta_norm", "grad_norm",
                                     "grad_diff"))
  expect_identical(as.data.frame(fit)$iter, c(0L, 10L, 20L, 30L, 40L))
  expect_equal(predict(fit), net_r(sim$x, coef(fit), fit$a, "sigmoid"), ignore_attr = TRUE)
  expect_equal(fitted(fit) + residuals(fit), sim$y, ignore_attr = TRUE)
  new <- matrix(rnorm(15), 5)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path)
  back <- readRDS(path)
  expect_identical(predict(back, new), predict(fit, new))
  expect_equal(predict(back, new[1, ]), predict(fit, new)[1])
  expect_output(print(fit), "Lazy two-layer network, sigmoid activation, h = 10")
  expect_output(print(summary(fit)), "Population risks \\(Monte Carlo over 500 samples\\)")
  withr::with_pdf(tempfile(), expect_invisible(plot(fit)))
  # the final trace row is the fitted model's training loss
  expect_equal(tail(fit$trace$loss_std, 1), mean(residuals(fit)^2))
})

test_that("bad input gets clear errors", {
  set.seed(18)
  x <- matrix(rnorm(40), 20)
  y <- rnorm(20)
  expect_snapshot(error = TRUE, {
    adv_nn2(x, y[-1], eps = 0.1)
    adv_nn2(replace(x, 3, NA), y, eps = 0.1)
    adv_nn2(x, y, eps = -1)
    adv_nn2(x, y, eps = 0.1, h = 0)
    adv_nn2(x, y, eps = 0.1, h = 5, a = runif(4))
    adv_nn2(x, y, eps = 0.1, activation = "tanh")
    adv_nn2(x, y, eps = 0.1, slope = 0)
    adv_nn2(x, y, eps = 0.1, eta = 0)
    adv_nn2(x, y, eps = 0.1, iters = 2.5)
    adv_nn2(x, y, eps = 0.1, init = matrix(0, 3, 50))
    adv_nn2(x, y, eps = 0.1, a = c(1, 2, 3), balance = TRUE)
    adv_nn2(x, y, eps = 0.1, attack = "pgd", pgd_steps = 0)
    adv_nn2(x, y, eps = 0.1, truth = list(theta0 = 1:3))
    adv_nn2(x, y, eps = 0.1, n_test = 0)
    adv_nn2(x, y, eps = 0.1, a = c(0, 0), balance = FALSE)
  })
  expect_snapshot(error = TRUE, {
    adv_nn2(x, y, eps = 0.1, h = 5, activation = "linear", eta = 1e5, iters = 100)
    adv_nn2(x, y, eps = 0.1, h = 5, activation = "relu", eta = 1e5, iters = 100)
  })
  fit <- adv_nn2(x, y, h = 5, eps = 0.1, iters = 2)
  expect_snapshot(error = TRUE, predict(fit, matrix(1, 2, 3)))
})

test_that("adv_replicate() averages adv_nn2() traces", {
  one_run <- function(rep) {
    sim <- simulate_linear(50, c(1, -1))
    adv_nn2(sim$x, sim$y, h = 10, eps = 0.2, xi = 0.05, eta = 1, iters = 30,
            truth = sim, n_test = 500, trace_every = 10)
  }
  set.seed(19)
  res <- adv_replicate(one_run, reps = 3, keep = TRUE)
  expect_identical(res$summary$iter, c(0L, 10L, 20L, 30L))
  last <- vapply(res$results, function(f) tail(f$trace$loss_adv, 1), numeric(1))
  expect_equal(tail(res$summary$loss_adv_mean, 1), mean(last))
  expect_equal(res$R_star, res$results[[1]]$R_star)
  withr::with_pdf(tempfile(), plot(res))
})

test_that("long runs go in chunks that neither skip nor repeat a step", {
  set.seed(20)
  sim <- simulate_linear(1000, theta0 = rnorm(20))
  a <- runif(50, -1, 1)
  # 2e8 / (4 n d h) = 50 steps per chunk: three chunks for 120 steps
  fit <- function(iters, init) {
    adv_nn2(sim$x, sim$y, a = a, activation = "relu", eps = 0.1, xi = 0.1, eta = 0.5,
            iters = iters, init = init, trace_every = 10, threads = 1)
  }
  withr::local_options(advtrain.progress = TRUE)
  long <- fit(120, "zero")
  expect_identical(long$trace$iter, seq(0L, 120L, by = 10L))
  first <- fit(50, "zero")
  rest <- fit(70, coef(first))
  expect_identical(coef(rest), coef(long))
  expect_identical(rest$trace$loss_surrogate, long$trace$loss_surrogate[6:13])
})

test_that("a fit worse than the mean of y warns; scaling options fix it and are undone (issue 24)", {
  x <- as.matrix(mtcars[-1])
  y <- mtcars$mpg
  v <- mean((y - mean(y))^2)
  set.seed(1)
  expect_warning(bad <- adv_nn2(x, y, eps = 0.1), class = "advtrain_warning_nn2_fit")
  last <- bad$trace[nrow(bad$trace), ]
  expect_gt(last$loss_std, v)
  set.seed(1)
  expect_warning(adv_nn2(x, y, eps = 0.1), sprintf("above %s", signif(v, 4)))
  set.seed(1)
  fit <- expect_no_warning(adv_nn2(x, y, eps = 0.1, iters = 2000, standardize = TRUE,
                                   center_y = TRUE, scale_y = TRUE))
  expect_lt(mean(residuals(fit)^2), 0.2 * v)
  # the same as training by hand on scaled data (same seed, same draws)
  xs <- scale(x)
  ys <- (y - mean(y)) / sd(y)
  set.seed(1)
  hand <- adv_nn2(xs, ys, eps = 0.1, iters = 2000)
  expect_equal(unname(fit$theta), unname(hand$theta))
  expect_equal(fit$scaling$x_center, colMeans(x))
  expect_equal(fit$scaling$y_scale, sd(y))
  # fitted values and predictions on the scale of y, computed independently
  phi <- function(z) 1 / (1 + exp(-z)) - 1 / 2
  f_by_hand <- function(newx) {
    z <- sweep(sweep(newx, 2, colMeans(x)), 2, apply(x, 2, sd), "/")
    unname(drop(phi(z %*% fit$theta) %*% fit$a) / sqrt(fit$h) * sd(y) + mean(y))
  }
  expect_equal(unname(fitted(fit)), f_by_hand(x), tolerance = 1e-12)
  expect_equal(unname(residuals(fit)), y - f_by_hand(x), tolerance = 1e-12)
  newx <- x[c(3, 1, 7), ] * 1.1
  expect_equal(unname(predict(fit, newx)), f_by_hand(newx), tolerance = 1e-12)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path)
  expect_equal(predict(readRDS(path), newx), predict(fit, newx))
  expect_output(print(fit), "x standardised, y centred, y scaled")
  # short runs are not judged
  expect_no_warning(adv_nn2(x, y, eps = 0.1, iters = 10))
})

test_that("scaling options are checked", {
  set.seed(2)
  sim <- simulate_linear(30, c(1, -1))
  expect_snapshot(error = TRUE, {
    adv_nn2(sim$x, sim$y, eps = 0.1, truth = sim, center_y = TRUE)
    adv_nn2(sim$x, sim$y, eps = 0.1, standardize = "yes")
  })
})
