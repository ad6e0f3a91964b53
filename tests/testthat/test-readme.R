# The README checker (tools/check-readme.R, run by `make check-readme` in CI on the
# real README) catches stale outputs and honours its conventions. tools/ is not in the
# built package, so this runs from a source tree only.
checker <- file.path("..", "..", "tools", "check-readme.R")

check_md <- function(md) {
  skip_if_not(file.exists(checker), "tools/check-readme.R is not here (built package)")
  env <- new.env()
  sys.source(checker, envir = env)
  f <- tempfile(fileext = ".md")
  writeLines(md, f)
  env$check_readme(f, verbose = FALSE)
}

fence <- "```"

test_that("a stale number in a #> line is caught, the current one passes", {
  chunk <- function(shown) c(paste0(fence, "r"), "library(advtrain)",
                             "adv_risk(rep(0.5, 10), rep(1, 10), eps = 0.5, xi = 1)",
                             paste("#> [1]", shown), fence)
  stale <- check_md(chunk("6.400195")) # what the README showed before issue 24
  expect_length(stale$problems, 1)
  expect_match(stale$problems, "6.400195")
  expect_match(stale$problems, "6.299599")
  expect_length(check_md(chunk("6.299599"))$problems, 0)
  expect_length(check_md(chunk("6.2996"))$problems, 0)  # rounded: to the digits shown
  expect_length(check_md(chunk("6.2994"))$problems, 1)  # more than one unit off
  expect_equal(check_md(chunk("6.299599"))$checked, 1)
})

test_that("chunks share one environment; plain output blocks and skips are honoured", {
  md <- c(paste0(fence, "r"), "a <- 2", "a + 1", "#> [1] 3", "invisible(5)", "b <- a * 2",
          fence, "",
          paste0(fence, "r"), "b", "c(x = 1.5, y = 10)", fence, "", fence, "[1] 4",
          "  x    y ", "1.5 10.0 ", fence, "",
          "<!-- check-readme: skip -->", paste0(fence, "r"), "stop('not run')",
          "#> [1] 99", fence)
  res <- check_md(md)
  expect_length(res$problems, 0)
  expect_equal(res$checked, 2)
  md[15] <- "[1] 5"
  res <- check_md(md)
  expect_length(res$problems, 1)
  expect_match(res$problems, "README line 15")
  # a chunk that fails is reported
  res <- check_md(c(paste0(fence, "r"), "stop('broken example')", "#> [1] 1", fence))
  expect_match(res$problems, "broken example")
  # whole numbers must be equal; extra printed lines are a difference
  expect_length(check_md(c(paste0(fence, "r"), "1000", "#> [1] 1001", fence))$problems, 1)
  expect_length(check_md(c(paste0(fence, "r"), "print(1); print(2)", "#> [1] 1",
                           fence))$problems, 1)
})
