# Every exported function is called with malformed inputs, one argument at a time and
# then in random pairs: each call must return a result without NaN or signal an R
# error whose message names an argument -- no crash, no hang, no silent NaN.

fuzz_specs <- function() {
  set.seed(99)
  sim <- simulate_linear(12, c(1, -1, 0.5))
  lm_fit <- adv_lm(sim$x, sim$y, eps = 0.2, eta = 0.05, iters = 5)
  nn2_fit <- adv_nn2(sim$x, sim$y, h = 4, eps = 0.2, eta = 0.1, iters = 3)
  img <- list(x = array(runif(4 * 36), c(4, 6, 6)), y = factor(c("a", "b", "a", "b")),
              spec = cnn_spec(conv(2, 3), relu(), pool(2), dense(2)))
  cnn_fit <- adv_cnn(img$x, img$y, img$spec, eps = 0.1, steps = 2, epochs = 1,
                     batch_size = 2, seed = 1)
  idx_file <- tempfile(fileext = ".idx")
  writeBin(c(as.raw(c(0, 0, 8, 1, 0, 0, 0, 3)), as.raw(1:3)), idx_file)
  specs <- list(
    adv_risk = list(fun = adv_risk, args = list(theta = c(0.5, 0.2), theta0 = c(1, 1),
      eps = c(0, 0.3), Sigma = diag(2), sigma2 = 1, norm = "l2", xi = 0.1)),
    adv_optimum = list(fun = adv_optimum, args = list(theta0 = c(1, 0.5), eps = c(0, 0.3),
      Sigma = diag(2), sigma2 = 1, norm = "linf")),
    simulate_linear = list(fun = simulate_linear, args = list(n = 5, theta0 = c(1, 2),
      Sigma = diag(2), sigma2 = 1)),
    adv_attack = list(fun = adv_attack, args = list(theta = c(0.5, 0.1, 0), x = sim$x,
      y = sim$y, eps = 0.2, norm = "l2", xi = 0)),
    adv_loss = list(fun = adv_loss, args = list(theta = c(0.5, 0.1, 0), x = sim$x,
      y = sim$y, eps = 0.2, norm = "linf", xi = 0.1, gradient = TRUE)),
    adv_threads = list(fun = function(n) { old <- adv_threads(n); adv_threads(old) },
      args = list(n = 1)),
    adv_lm = list(fun = adv_lm, args = list(x = sim$x, y = sim$y, eps = 0.2, norm = "l2",
      xi = 0.1, eta = 0.05, iters = 20, init = NULL, intercept = FALSE, truth = sim,
      trace_every = 5)),
    adv_lm_exact = list(fun = function(x, y, eps, norm) {
      adv_lm(x, y, eps, norm = norm, method = "exact")
    }, args = list(x = sim$x, y = sim$y, eps = 0.2, norm = "linf")),
    predict_adv_lm = list(fun = function(newx) predict(lm_fit, newx = newx),
      args = list(newx = sim$x[1:3, ])),
    adv_nn2 = list(fun = adv_nn2, args = list(x = sim$x, y = sim$y, h = 4,
      activation = "sigmoid", eps = 0.2, xi = 0.1, eta = 0.1, iters = 5,
      init = "vanishing", delta = 0.5, truth = sim, n_test = 20, trace_every = 1)),
    predict_adv_nn2 = list(fun = function(newx) predict(nn2_fit, newx = newx),
      args = list(newx = sim$x[1:3, ])),
    adv_replicate = list(fun = function(fun, reps) adv_replicate(fun, reps),
      args = list(fun = function(r) adv_lm(sim$x, sim$y, 0.1, eta = 0.05, iters = 3),
                  reps = 2)),
    adv_cnn = list(fun = adv_cnn, args = list(x = img$x, y = img$y, spec = img$spec,
      eps = 0.1, norm = "linf", attack = "pgd", steps = 2, xi = 0, lambda = 0, epochs = 1,
      batch_size = 2, lr = 0.05, seed = 1)),
    evaluate = list(fun = evaluate, args = list(fit = cnn_fit, x = img$x, y = img$y,
      eps = 0.1, norm = "linf", steps = 2)),
    predict_adv_cnn = list(fun = function(newdata) predict(cnn_fit, newdata),
      args = list(newdata = img$x)),
    conv = list(fun = conv, args = list(filters = 2, size = 3)),
    read_idx = list(fun = read_idx, args = list(path = idx_file)),
    fashion_mnist = list(fun = fashion_mnist,
      args = list(classes = c("T-shirt/top", "Trouser"), full = FALSE))
  )
  if (exists("adv_lasso", asNamespace("advtrain"))) {
    lasso_fit <- adv_lasso(sim$x, sim$y, eps = 0.1, nlambda = 4)
    specs <- c(specs, list(
      adv_lasso = list(fun = adv_lasso, args = list(x = sim$x, y = sim$y, eps = 0.1,
        norm = "l2", xi = 0, lambda = NULL, nlambda = 4, standardize = TRUE,
        intercept = TRUE)),
      cv_adv_lasso = list(fun = function(x, y, eps, nfolds) {
        cv_adv_lasso(x, y, eps, nfolds = nfolds, nlambda = 3)
      }, args = list(x = sim$x, y = sim$y, eps = 0.1, nfolds = 3)),
      predict_adv_lasso = list(fun = function(newx, s) predict(lasso_fit, newx, s = s),
        args = list(newx = sim$x[1:3, ], s = 0.01)),
      adv_lasso_binomial = list(fun = function(x, y, eps, norm, lambda, weights) {
        adv_lasso(x, y, eps, norm = norm, lambda = lambda, weights = weights,
                  nlambda = 4, family = "binomial")
      }, args = list(x = sim$x, y = sim$y > median(sim$y), eps = 0.1, norm = "linf",
                     lambda = NULL, weights = NULL)),
      cv_adv_lasso_binomial = list(fun = function(x, y, eps, type.measure) {
        cv_adv_lasso(x, y, eps, nfolds = 3, nlambda = 3, family = "binomial",
                     type.measure = type.measure)
      }, args = list(x = sim$x, y = sim$y > median(sim$y), eps = 0.1,
                     type.measure = "auc"))))
  }
  specs
}

# Fits that cost more than a few milliseconds get a seeded sample of the malformed
# values for each argument (the cheap functions get all of them), which keeps the whole
# test near a minute.
heavy <- c("adv_cnn", "evaluate", "adv_nn2", "adv_lasso", "cv_adv_lasso", "adv_replicate",
           "adv_lasso_binomial", "cv_adv_lasso_binomial",
           "adv_lm", "adv_lm_exact", "fashion_mnist")

test_that("malformed inputs give a result without NaN or an error naming an argument", {
  skip_on_cran()
  specs <- fuzz_specs()
  values <- fuzz_values()
  set.seed(2024)
  outcomes <- character()
  for (nm in names(specs)) {
    spec <- specs[[nm]]
    argn <- names(spec$args)
    named <- paste0("`", argn, "`")
    # the valid call works
    expect_identical(fuzz_call(spec$fun, spec$args, named), "ok", label = nm)
    for (a in argn) {
      pool <- if (nm %in% heavy) sample(names(values), 8) else names(values)
      for (v in pool) {
        args <- spec$args
        args[a] <- list(values[[v]])
        out <- fuzz_call(spec$fun, args, named)
        outcomes <- c(outcomes, out)
        expect(out %in% c("ok", "error-named"),
               sprintf("%s(%s = <%s>): %s", nm, a, v, out))
      }
    }
    # random pairs of malformed arguments
    for (k in seq_len(if (nm %in% heavy) 10 else 40)) {
      pick <- sample(argn, min(2, length(argn)))
      args <- spec$args
      for (a in pick) args[a] <- list(values[[sample(names(values), 1)]])
      out <- fuzz_call(spec$fun, args, named)
      outcomes <- c(outcomes, out)
      expect(out %in% c("ok", "error-named"),
             sprintf("%s(%s): %s", nm, paste(pick, collapse = ", "), out))
    }
  }
  counts <- table(factor(outcomes, c("ok", "error-named")), useNA = "ifany")
  message(sprintf("fuzz: %d cases tried (%d returned a valid result, %d errors naming an argument)",
                  length(outcomes), counts[["ok"]], counts[["error-named"]]))
  expect_gt(length(outcomes), 1000)
})
