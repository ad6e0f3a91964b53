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

test_that("advtrain_sitrep reports the kernel variant the processor supports", {
  s <- advtrain_sitrep()
  expect_s3_class(s, "advtrain_sitrep")
  expect_true(s$isa %in% c("avx2", "default", "none"))
  expect_identical(s$threads, adv_threads())
  flags <- if (file.exists("/proc/cpuinfo")) {
    f <- grep("^flags", readLines("/proc/cpuinfo", warn = FALSE), value = TRUE)
    if (length(f)) strsplit(sub("^[^:]*:", "", f[1]), "[[:space:]]+")[[1]]
  }
  skip_if(is.null(flags) || s$isa == "none", "kernels not cloned or no /proc/cpuinfo")
  # valgrind runs the code on a simulated processor without AVX-512, so CPUID and
  # /proc/cpuinfo disagree there by design
  skip_if(nzchar(Sys.getenv("ADVTRAIN_VALGRIND")), "CPUID is valgrind's under valgrind")
  # the loader's choice follows the processor's flags, as the kernel says it does
  expect_identical(s$isa, if ("avx2" %in% flags) "avx2" else "default")
  expect_identical(s$avx2, "avx2" %in% flags)
  expect_identical(s$avx512f, "avx512f" %in% flags)
  expect_identical(s$fma, "fma" %in% flags)
  # the L3 size is what the kernel reports in sysfs (what lscpu shows), where it does
  f3 <- "/sys/devices/system/cpu/cpu0/cache/index3/size"
  if (file.exists(f3)) {
    kb <- as.numeric(sub("K$", "", readLines(f3, warn = FALSE)[1]))
    expect_equal(s$cache[["L3"]], kb * 1024)
  }
  expect_true(all(is.na(s$cache) | s$cache > 0))
  out <- capture.output(print(s))
  expect_match(out[3], paste0("^kernels:  ", s$isa, " variant"))
  expect_length(out, 7)
})
