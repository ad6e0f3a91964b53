one_run <- function(rep, eps = 0.1, iters = 30) {
  sim <- simulate_linear(15, c(rep(1, 5), rep(0, 45)))
  adv_lm(sim$x, sim$y, eps = eps, xi = 0.5, eta = 0.002, iters = iters, truth = sim,
         trace_every = 10)
}

test_that("adv_replicate stacks the traces and gives their mean and sd per iteration", {
  set.seed(1)
  res <- adv_replicate(one_run, reps = 4, keep = TRUE)
  expect_s3_class(res, "adv_replicate")
  expect_identical(nrow(res$traces), 4L * 4L)
  expect_identical(sort(unique(res$traces$rep)), 1:4)
  s <- as.data.frame(res)
  expect_identical(s$iter, c(0L, 10L, 20L, 30L))
  expect_identical(s$n, rep(4L, 4))
  for (cl in c("loss_surrogate", "risk_adv", "grad_norm")) {
    m <- vapply(split(res$traces[[cl]], res$traces$iter), mean, numeric(1))
    v <- vapply(split(res$traces[[cl]], res$traces$iter), stats::sd, numeric(1))
    expect_equal(s[[paste0(cl, "_mean")]], unname(m))
    expect_equal(s[[paste0(cl, "_sd")]], unname(v))
  }
  # the replications differ (independent streams) and are the returned fits
  expect_gt(stats::sd(vapply(res$results, function(f) f$theta[1], numeric(1))), 0)
  expect_equal(res$traces$loss_adv[res$traces$rep == 2], res$results[[2]]$trace$loss_adv)
  expect_equal(res$R_star, res$results[[1]]$R_star)
  expect_output(print(res), "4 replications")
  withr::local_pdf(NULL)
  expect_invisible(plot(res))
  expect_invisible(plot(res, which = "loss_std"))
})

test_that("results are reproducible and do not depend on the future plan", {
  set.seed(2)
  a <- adv_replicate(one_run, reps = 3, eps = 0.05)
  set.seed(2)
  b <- adv_replicate(one_run, reps = 3, eps = 0.05)
  expect_identical(a$traces, b$traces)
  skip_on_cran()
  skip_if_not_installed("future")
  old <- future::plan(future::multisession, workers = 2)
  on.exit(future::plan(old), add = TRUE)
  set.seed(2)
  p <- adv_replicate(one_run, reps = 3, eps = 0.05)
  expect_equal(p$traces, a$traces)
})

test_that("progress is signalled through progressr", {
  withr::local_options(progressr.enable = TRUE)
  seen <- 0
  withCallingHandlers(
    adv_replicate(function(rep) data.frame(iter = 0:1, loss = c(1, 0.5)), reps = 3),
    progression = function(cond) seen <<- seen + 1
  )
  expect_gte(seen, 3)
})

test_that("adv_replicate rejects bad input", {
  expect_snapshot(error = TRUE, {
    adv_replicate("not a function", 2)
    adv_replicate(function(rep) 1, reps = 0)
    adv_replicate(function(rep) list(a = 1), reps = 1)
  })
})
