# Every exported function is called with malformed inputs, one argument at a time and
# then in random pairs: each call must return a result without NaN or signal an R
# error whose message names an argument -- no crash, no hang, no silent NaN.

fuzz_specs <- function() {
  set.seed(99)
  sim <- simulate_linear(12, c(1, -1, 0.5))
  list(
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
      args = list(n = 1))
  )
}

test_that("malformed inputs give a result without NaN or an error naming an argument", {
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
      for (v in names(values)) {
        args <- spec$args
        args[a] <- list(values[[v]])
        out <- fuzz_call(spec$fun, args, named)
        outcomes <- c(outcomes, out)
        expect(out %in% c("ok", "error-named"),
               sprintf("%s(%s = <%s>): %s", nm, a, v, out))
      }
    }
    # random pairs of malformed arguments
    for (k in seq_len(40)) {
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
  expect_gt(length(outcomes), 300)
})
