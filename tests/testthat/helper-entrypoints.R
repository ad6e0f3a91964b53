# Arguments for small calls of every registered .Call entry point, keyed by the
# registered name. Most are recorded from small calls of the R functions (so they are
# exactly what the R wrappers hand to C); entry points that R does not call are given
# by hand. Used by test-entrypoints.R (plain, and under gctorture when
# ADVTRAIN_GCTORTURE=true) and by the valgrind subset in CI. A test checks that every
# registered routine is covered, so a new entry point must be added here.

# Runs scenario(e), where e holds copies of the package's functions whose .Call
# records its arguments; returns the recorded calls (name -> first argument list).
record_calls <- function(scenario) {
  ns <- asNamespace("advtrain")
  e <- new.env(parent = ns)
  rec <- new.env()
  rec$calls <- list()
  for (nm in ls(ns, all.names = TRUE)) {
    obj <- get(nm, envir = ns)
    if (is.function(obj) && !is.primitive(obj) && identical(environment(obj), ns)) {
      environment(obj) <- e
      assign(nm, obj, envir = e)
    }
  }
  assign(".Call", function(.NAME, ...) {
    name <- .NAME$name
    if (is.null(rec$calls[[name]])) rec$calls[[name]] <- list(...)
    base::.Call(.NAME, ...)
  }, envir = e)
  scenario(e)
  rec$calls
}

entry_scenarios <- function(e) {
  set.seed(7)
  sim <- e$simulate_linear(12, c(1, -0.5, 0.25))
  e$adv_risk(c(0.5, -0.2, 0), c(1, 1, 0), c(0, 0.3), xi = 0.1)
  S <- matrix(c(2, 0.5, 0, 0.5, 1, 0.2, 0, 0.2, 1), 3)
  e$adv_optimum(c(1, 0.5, 0), c(0, 0.2, 2), S)
  e$adv_optimum(c(1, 0.5, 0), c(0, 0.2, 2), S, norm = "linf")
  e$adv_attack(c(0.5, -1, 0.2), sim$x, sim$y, 0.2, "linf", xi = 0.3)
  e$adv_loss(c(0.5, -1, 0.2), sim$x, sim$y, 0.2, "l2", xi = 0.3, gradient = TRUE)
  e$adv_threads()
  e$advtrain_sitrep()
  if (exists("adv_lm.default", envir = e)) {
    e$adv_lm.default(sim$x, sim$y, eps = 0.2, xi = 0.1, iters = 5, truth = sim, tol = Inf)
    e$adv_lm.default(sim$x, sim$y, eps = 0.2, method = "exact")
    e$adv_lm.default(sim$x, sim$y, eps = c(0.02, 0.05), norm = "linf", method = "exact")
    e$adv_lm.default(sim$x, sim$y, eps = 0, method = "exact") # (C_exact_gram)
  }
  # the S3 generics dispatch to the namespace's methods, not to the recording copies
  # in e, so the default methods are called directly
  nn2 <- if (exists("adv_nn2.default", envir = e)) e$adv_nn2.default else e$adv_nn2
  lasso <- if (exists("adv_lasso.default", envir = e)) e$adv_lasso.default else e$adv_lasso
  if (exists("adv_nn2", envir = e)) {
    fit <- nn2(sim$x, sim$y, h = 4, eps = 0.2, xi = 0.1, eta = 0.1, iters = 3,
                     truth = sim, n_test = 10)
    e$predict.adv_nn2(fit, sim$x)
  }
  if (exists("adv_lasso", envir = e)) {
    lasso(sim$x, sim$y, eps = 0.1, nlambda = 3)
    lasso(sim$x, sim$y, eps = 0, nlambda = 3) # (implicit centring: C_lasso_path_mu)
    lasso(sim$x, sim$y, eps = 0.1, xi = 0.2, nlambda = 3)
    lasso(sim$x, sim$y > median(sim$y), eps = 0.1, nlambda = 3, family = "binomial")
  }
  if (exists("adv_cnn", envir = e)) {
    x <- array(runif(4 * 36), c(4, 6, 6))
    y <- factor(c(0, 1, 0, 1))
    fit <- e$adv_cnn(x, y, e$cnn_spec(e$conv(2, 3), e$relu(), e$pool(2), e$dense(2)),
                     eps = 0.1, steps = 2, epochs = 1, batch_size = 2, seed = 1)
    e$evaluate(fit, x, y, eps = 0.1, steps = 2)
  }
}

# Entry points that only tests and benchmarks call.
entry_extras <- function() {
  ns <- asNamespace("advtrain")
  set.seed(8)
  x <- matrix(rnorm(30), 10, 3)
  y <- rnorm(10)
  # (lm_power: adv_lm's automatic step uses it only when n p^2 > 1e8)
  out <- list(lm_stream = list(runif(1000), 2L), nn2_kernels = list(NA_integer_),
              lm_power = list(t(x), 1L, 50L, 1e-6, NULL),
              lasso_surrogate = list(c(0.5, -0.2, 0.1), 0.1, x, y, 0.2, 2L, 0.3))
  if (exists("cnn_plan", envir = ns)) {
    spec <- ns$cnn_spec(ns$conv(2, 3), ns$relu(), ns$pool(2), ns$dense(2))
    px <- ns$prepare_x(array(runif(2 * 36), c(2, 6, 6)))
    plan <- ns$cnn_plan(spec, px$input)
    py <- ns$prepare_y(factor(c(1, 2), levels = 1:2), 2L, plan$nout)
    theta <- ns$init_weights(plan, spec)
    out$cnn_grad <- list(plan$arch, plan$beta, py$loss, theta, px$x, py$y, 1L)
    # the product kernels: single precision, best instruction set, C = A B
    out$cnn_mm <- list(c(2L, 0L, 0L, 0L), matrix(runif(35), 7, 5), matrix(runif(15), 5, 3),
                       matrix(0, 7, 3), 0)
  }
  out
}

entry_args <- function() {
  calls <- record_calls(entry_scenarios)
  extras <- entry_extras()
  registered <- names(getDLLRegisteredRoutines("advtrain")$.Call)
  extras <- extras[intersect(setdiff(names(extras), names(calls)), registered)]
  c(calls, extras)
}

call_entry <- function(name, args) {
  sym <- get(paste0("C_", name), envir = asNamespace("advtrain"))
  do.call(.Call, c(list(sym), args))
}
