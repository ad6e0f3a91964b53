# Benchmark of adv_lasso(family = "binomial") and adv_lm(family = "binomial",
# method = "exact") (issue 21).
# Reproduce (from the repository root, with the package installed, as `make demo` and
# `make test` do):
#   Rscript bench/logistic.R
# Environment: BENCH_REPS (default 5) repeats, medians reported; BENCH_THREADS
# (default 1); BENCH_SKIP_EXACT=1 skips the exact solver against ECOSolveR.
# Each ratio is of two timings taken in the same run, in alternation.
suppressPackageStartupMessages({
  library(advtrain)
  library(glmnet)
})
print(advtrain_sitrep())  # the machine and kernel variant behind every figure below
reps <- as.integer(Sys.getenv("BENCH_REPS", "5"))
threads <- as.integer(Sys.getenv("BENCH_THREADS", "1"))

# timings of several expressions, alternated rep by rep; medians
alt <- function(exprs, reps) {
  env <- parent.frame()
  tm <- matrix(NA_real_, reps, length(exprs), dimnames = list(NULL, names(exprs)))
  for (r in seq_len(reps)) for (k in seq_along(exprs)) {
    tm[r, k] <- system.time(eval(exprs[[k]], env))[["elapsed"]]
  }
  apply(tm, 2, stats::median)
}
line <- function(label, a, b, la, lb) {
  cat(sprintf("%-52s %8.3f s / %8.3f s = %6.2f  (%s / %s)\n", label, a, b, a / b, la, lb))
}

# Gaussian inputs and logistic labels whose first 10 coefficients are `b` (seeded)
sim_logit <- function(n, d, b, seed) {
  set.seed(seed)
  x <- matrix(rnorm(n * d), n, d)
  y <- stats::rbinom(n, 1, stats::plogis(drop(x %*% c(rep(b, 10), rep(0, d - 10)))))
  list(x = x, y = y)
}

n <- 1000
d <- 5000
sim <- sim_logit(n, d, 0.5, 20210405)
x <- sim$x
y <- sim$y
cat(sprintf("L1 path: n = %d, d = %d, %d repeats (medians), threads = %d, %s\n\n",
            n, d, reps, threads, format(Sys.time(), "%Y-%m-%d %H:%M")))
# glmnet's own path (it stops early once 99.9% of the deviance is explained); both
# fit the same lambda values
g0 <- glmnet(x, y, family = "binomial")
lam <- g0$lambda
fit0 <- adv_lasso(x, y, eps = 0, family = "binomial", lambda = lam, threads = threads)
m <- min(length(lam), length(fit0$lambda))
# the KKT residual of glmnet's default fit, in our units (column j: sd_j |dF/dtheta_j|
# from the subgradient; the intercept's derivative): the accuracy it delivers
kkt_of <- function(cf, lam) {
  sdv <- sqrt(colMeans(sweep(x, 2, colMeans(x))^2))
  yy <- 2 * y - 1
  vapply(seq_along(lam), function(k) {
    b <- cf[, k]
    eta <- drop(x %*% b[-1]) + b[1]
    s <- stats::plogis(-yy * eta)
    G <- -drop(crossprod(x, s * yy)) / length(y)
    th <- b[-1]
    w <- sdv * lam[k]
    v <- ifelse(th != 0, abs(G + w * sign(th)), pmax(abs(G) - w, 0))
    max(sdv * v, abs(mean(s * yy)))
  }, numeric(1))
}
kkt_glm <- max(kkt_of(as.matrix(coef(g0)), lam))
cat(sprintf("glmnet's default fit: largest KKT residual %.2e (ours: thresh = 1e-10)\n", kkt_glm))
tt <- alt(list(adv = quote(adv_lasso(x, y, eps = 0, family = "binomial", lambda = lam,
                                     threads = threads)),
               adv_loose = quote(adv_lasso(x, y, eps = 0, family = "binomial", lambda = lam,
                                           thresh = kkt_glm, threads = threads)),
               glm = quote(glmnet(x, y, family = "binomial", lambda = lam)),
               glm_tight = quote(glmnet(x, y, family = "binomial", lambda = lam,
                                        thresh = 1e-12, maxit = 1e6))), reps)
line(sprintf("eps = 0 path (%d lambdas) vs glmnet (default thresh)", m), tt["adv"],
     tt["glm"], "adv_lasso", "glmnet")
line("eps = 0 path vs glmnet (thresh 1e-12)", tt["adv"], tt["glm_tight"], "adv_lasso",
     "glmnet")
line("eps = 0 path at glmnet's accuracy vs glmnet (default)", tt["adv_loose"], tt["glm"],
     "adv_lasso", "glmnet")
gt <- glmnet(x, y, family = "binomial", lambda = lam, thresh = 1e-14, maxit = 1e6)
cat(sprintf("  max |coef difference| to glmnet (thresh 1e-14): %.2e; our max KKT residual %.1e\n",
            max(abs(as.matrix(coef(gt))[, seq_len(m)] - coef(fit0)[, seq_len(m)])),
            max(fit0$kkt)))
te <- alt(list(l2 = quote(adv_lasso(x, y, eps = 0.1, family = "binomial", lambda = lam,
                                    threads = threads)),
               linf = quote(adv_lasso(x, y, eps = 0.1 / sqrt(d), norm = "linf",
                                      family = "binomial", lambda = lam, threads = threads)),
               zero = quote(adv_lasso(x, y, eps = 0, family = "binomial", lambda = lam,
                                      threads = threads))), reps)
line("eps = 0.1 L2 path vs the eps = 0 path", te["l2"], te["zero"], "eps = 0.1", "eps = 0")
line("eps = 0.1/sqrt(d) L-inf path vs the eps = 0 path", te["linf"], te["zero"],
     "eps > 0", "eps = 0")

if (Sys.getenv("BENCH_SKIP_EXACT") != "1") {
  source(file.path("tests", "testthat", "helper-ecos.R"))
  n <- 2000
  d <- 200
  sim <- sim_logit(n, d, 0.3, 2)
  x <- sim$x
  y <- sim$y
  yy <- ifelse(y == 1, 1, -1)
  cat(sprintf("\nexact adv_lm(family = \"binomial\") vs ECOSolveR (exponential cones): n = %d, d = %d\n", n, d))
  for (nm in c("l2", "linf")) {
    eps <- if (nm == "l2") 0.1 else 0.1 / sqrt(d)
    tx <- alt(list(
      adv = quote(adv_lm(x, y, eps = eps, norm = nm, family = "binomial",
                         method = "exact", intercept = TRUE)),
      ecos = quote(ecos_logit_lasso(x, yy, eps, nm, 0, rep(0, d)))), max(1, reps %/% 2))
    f <- adv_lm(x, y, eps = eps, norm = nm, family = "binomial", method = "exact",
                intercept = TRUE)
    e <- ecos_logit_lasso(x, yy, eps, nm, 0, rep(0, d))
    o1 <- logit_lasso_obj(x, yy, f$theta, f$intercept, eps, nm, 0, rep(0, d))
    o2 <- logit_lasso_obj(x, yy, e$theta, e$b, eps, nm, 0, rep(0, d))
    line(sprintf("exact %s, eps = %.3g (objective rel. diff %.1e)", nm, eps, (o1 - o2) / o2),
         tx["ecos"], tx["adv"], "ECOSolveR", "adv_lm")
  }
}
cat("\nReproduce: Rscript bench/logistic.R\n")
