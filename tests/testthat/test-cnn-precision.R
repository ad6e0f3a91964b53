# The product kernels (own double, own single, each in its AVX2/FMA and baseline
# builds) against R's own %*%, and the single-precision network against the double one.

cnn_mm <- function(gemm, isa, ta, tb, a, b, c, beta) {
  .Call(advtrain:::C_cnn_mm, as.integer(c(gemm, isa, ta, tb)), a, b, c, beta)
}

test_that("the product kernels match a plain product on odd sizes", {
  withr::local_seed(11)
  for (d in list(c(1, 1, 1), c(7, 5, 3), c(17, 13, 29), c(33, 7, 300), c(130, 389, 21),
                 c(16, 6, 257))) {
    m <- d[1]; n <- d[2]; k <- d[3]
    A <- matrix(stats::rnorm(m * k), m, k)
    B <- matrix(stats::rnorm(k * n), k, n)
    C0 <- matrix(stats::rnorm(m * n), m, n)
    for (ta in 0:1) for (tb in 0:1) {
      if (ta && tb) next
      a <- if (ta) t(A) else A
      b <- if (tb) t(B) else B
      for (beta in c(0, 1)) {
        if (tb && beta == 1) next # not a shape the layers use
        want <- A %*% B + beta * C0
        for (isa in 1:2) {
          got1 <- cnn_mm(1, isa, ta, tb, a, b, C0, beta)
          expect_equal(got1, want, tolerance = 1e-12)
          got2 <- cnn_mm(2, isa, ta, tb, a, b, C0, beta)
          # float operands and float sums within blocks of 256 terms: relative error
          # of a few 1e-7 per term, against the size of the terms
          scale <- abs(A) %*% abs(B) + beta * abs(C0)
          expect_lt(max(abs(got2 - want) / scale), 2e-6)
        }
        # and R's BLAS through the same entry point
        expect_equal(cnn_mm(0, 0, ta, tb, a, b, C0, beta), want, tolerance = 1e-12)
      }
    }
  }
})

test_that("the AVX-512 single-precision kernel gives the AVX2 kernel's results bit for bit", {
  s <- advtrain_sitrep()
  skip_if(!isTRUE(s$avx512f) || !isTRUE(s$fma), "the processor has no AVX-512F")
  withr::local_seed(12)
  for (d in list(c(16, 6, 257), c(130, 389, 21), c(33, 7, 300), c(1024, 32, 400))) {
    m <- d[1]; n <- d[2]; k <- d[3]
    A <- matrix(stats::rnorm(m * k), m, k)
    B <- matrix(stats::rnorm(k * n), k, n)
    C0 <- matrix(stats::rnorm(m * n), m, n)
    for (beta in c(0, 1)) {
      expect_identical(cnn_mm(2, 3, 0, 0, A, B, C0, beta), cnn_mm(2, 2, 0, 0, A, B, C0, beta))
      expect_identical(cnn_mm(2, 3, 1, 0, t(A), B, C0, beta),
                       cnn_mm(2, 2, 1, 0, t(A), B, C0, beta))
    }
  }
})

test_that("single precision gives the double-precision gradients to about 1e-6", {
  # the second convolution has 6 input channels: its input gradient takes the
  # transposed-convolution path; the first (1 channel) the col2im one
  spec <- cnn_spec(conv(6, 5), relu(), pool(2), conv(4, 3), relu(), pool(2), dense(3))
  # 16 images: one full chunk (the fused im2col path); 15 and 37: partial chunks too
  for (n in c(16, 15, 37)) {
    withr::local_seed(n)
    x <- array(stats::runif(n * 144), c(n, 12, 12))
    px <- advtrain:::prepare_x(x)
    y <- factor(sample(1:3, n, TRUE), levels = 1:3)
    py <- advtrain:::prepare_y(y, n, 3)
    pd <- advtrain:::cnn_plan(spec, px$input)
    ps <- advtrain:::cnn_plan(spec, px$input, precision = "single")
    expect_true(all(pd$arch[, "gemm"] != 2) && all(ps$arch[, "gemm"] == 2))
    theta <- advtrain:::init_weights(pd, spec)
    gd <- .Call(advtrain:::C_cnn_grad, pd$arch, pd$beta, py$loss, theta, px$x, py$y, 1L)
    gs <- .Call(advtrain:::C_cnn_grad, ps$arch, ps$beta, py$loss, theta, px$x, py$y, 1L)
    for (i in 1:3) {
      expect_lt(max(abs(gs[[i]] - gd[[i]])) / max(abs(gd[[i]])), 1e-5)
    }
    # the two precisions do differ (the single path is really taken)
    expect_false(identical(gs[[3]], gd[[3]]))
  }
})

test_that("padded convolutions' fused single-precision paths match double", {
  withr::local_seed(4)
  for (ch in c(1, 7)) for (pad in 0:2) {
    spec <- cnn_spec(conv(3, 3, padding = pad), relu(), dense(2))
    x <- array(stats::runif(32 * 35 * ch), c(32, 7, 5, ch))
    px <- advtrain:::prepare_x(x)
    py <- advtrain:::prepare_y(factor(rep(1:2, 16)), 32, 2)
    pd <- advtrain:::cnn_plan(spec, px$input)
    ps <- advtrain:::cnn_plan(spec, px$input, precision = "single")
    theta <- advtrain:::init_weights(pd, spec) + stats::rnorm(pd$np, sd = 0.1)
    gd <- .Call(advtrain:::C_cnn_grad, pd$arch, pd$beta, py$loss, theta, px$x, py$y, 2L)
    gs <- .Call(advtrain:::C_cnn_grad, ps$arch, ps$beta, py$loss, theta, px$x, py$y, 2L)
    for (i in 1:3) expect_lt(max(abs(gs[[i]] - gd[[i]])) / max(abs(gd[[i]])), 1e-5)
  }
})

test_that("precision is an argument of adv_cnn, kept in the fit and used afterwards", {
  d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
  i <- c(1:40, 601:640)
  x <- d$train$x[i, , ]
  y <- d$train$y[i]
  spec <- cnn_spec(conv(4, 3), relu(), pool(2), dense(2))
  fit <- function(p, th = 1) {
    args <- list(x, y, spec, eps = 0.1, steps = 3, epochs = 1, batch_size = 32,
                 lr = 0.01, seed = 2, threads = th)
    do.call(adv_cnn, c(args, if (!is.null(p)) list(precision = p)))
  }
  fs <- fit("single")
  fd <- fit("double")
  expect_identical(fs$settings$precision, "single")
  expect_identical(fd$settings$precision, "double")
  # single is the default
  expect_identical(fit(NULL)$weights, fs$weights)
  ws <- unlist(fs$weights)
  wd <- unlist(fd$weights)
  expect_false(identical(ws, wd))
  expect_lt(max(abs(ws - wd)) / max(abs(wd)), 1e-3)
  # each precision is deterministic across thread counts
  expect_identical(fit("double", 2)$weights, fd$weights)
  expect_identical(fit("single", 2)$weights, fs$weights)
  # predictions follow the fit's precision; a fit without the setting (saved by an
  # earlier version) predicts in double precision
  old <- fd
  old$settings$precision <- NULL
  expect_identical(predict(old, x, type = "link"), predict(fd, x, type = "link"))
  pl <- predict(fs, x, type = "link")
  expect_false(identical(pl, predict(fd, x, type = "link")))
  expect_error(fit("half"), class = "advtrain_error_argument")
  # dense layers stay in double precision: an MLP fits identically in both
  m <- function(p) {
    adv_cnn(x, y, mlp_spec(8, 2), eps = 0.5, norm = "l2", steps = 2, epochs = 1,
            batch_size = 32, lr = 0.01, seed = 3, precision = p)$weights
  }
  expect_identical(m("single"), m("double"))
})
