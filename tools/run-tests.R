# Runs the test suite against the installed package and prints testthat's counts as
# the last line: "N passed, N failed". Exits non-zero on any failure or error.
args <- commandArgs(trailingOnly = TRUE)
filter <- if (length(args)) args[1] else NULL
suppressPackageStartupMessages(library(testthat))
options(advtrain.threads = 2)
Sys.setenv(NOT_CRAN = "true")
res <- testthat::test_dir("tests/testthat", package = "advtrain",
                          load_package = "installed", filter = filter,
                          reporter = testthat::ProgressReporter$new(show_praise = FALSE),
                          stop_on_failure = FALSE)
df <- as.data.frame(res)
passed <- sum(df$passed)
failed <- sum(df$failed) + sum(df$error)
skipped <- sum(df$skipped)
cat(sprintf("%d passed, %d failed, %d skipped\n", passed, failed, skipped))
if (nzchar(Sys.getenv("ADVTRAIN_COUNTS_FILE"))) {
  writeLines(sprintf("%d %d %d", passed, failed, skipped),
             Sys.getenv("ADVTRAIN_COUNTS_FILE"))
}
quit(status = if (failed > 0) 1 else 0)
