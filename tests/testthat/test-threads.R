test_that("adv_threads sets, reports and restores the thread count", {
  old <- adv_threads()
  on.exit(adv_threads(old))
  expect_true(old >= 1)
  prev <- adv_threads(1)
  expect_identical(prev, old)
  expect_identical(adv_threads(), 1L)
  expect_invisible(adv_threads(2))
  expect_error(adv_threads(0), "threads|n")
  expect_error(adv_threads(1.5), "whole number")
})

test_that("the option and OMP_THREAD_LIMIT are honoured", {
  old <- advtrain:::the$threads
  on.exit(assign("threads", old, envir = advtrain:::the))
  assign("threads", NULL, envir = advtrain:::the)
  withr::with_options(list(advtrain.threads = 1), expect_identical(adv_threads(), 1L))
  withr::with_envvar(c(OMP_THREAD_LIMIT = "1"),
                     withr::with_options(list(advtrain.threads = 2),
                                         expect_identical(adv_threads(), 1L)))
  withr::with_options(list(advtrain.threads = NULL),
    withr::with_envvar(c(ADVTRAIN_THREADS = "1"), expect_identical(adv_threads(), 1L)))
})
