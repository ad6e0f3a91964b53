# The learnr tutorials of issue 22: each renders, and the exercise checker accepts the
# stored answers and rejects wrong ones.

tutorials <- function() {
  dir <- system.file("tutorials", package = "advtrain")
  list.files(dir, pattern = "\\.Rmd$", recursive = TRUE, full.names = TRUE)
}

test_that("the checker compares the learner's value with the solution's", {
  env <- new.env()
  env$theta0 <- rep(1, 5)
  ok <- advtrain:::tutorial_check(
    user_code = "adv_risk(theta0, theta0, eps = 0.5)",
    solution_code = "advtrain::adv_risk(theta0, theta0, eps = 0.5)",
    envir_prep = env, last_value = 1 + 0.25 * 5 + sqrt(2 / pi) * sqrt(5), stage = "check")
  expect_true(ok$correct)
  bad <- advtrain:::tutorial_check(
    solution_code = "advtrain::adv_risk(theta0, theta0, eps = 0.5)",
    check_code = 'hint <- "eps = 0.5"', envir_prep = env, last_value = 3, stage = "check")
  expect_false(bad$correct)
  expect_match(bad$message, "eps = 0.5")
  expect_null(advtrain:::tutorial_check(stage = "code_check"))
})

test_that("every solution chunk evaluates and passes its own check", {
  files <- tutorials()
  expect_gte(length(files), 3)
  for (f in files) {
    lines <- readLines(f)
    starts <- grep("^```\\{r ", lines)
    ends <- grep("^```\\s*$", lines)
    chunk <- function(i) {
      e <- ends[ends > starts[i]][1]
      list(label = sub("^```\\{r ([^ ,}]+).*", "\\1", lines[starts[i]]),
           code = paste(lines[(starts[i] + 1):(e - 1)], collapse = "\n"))
    }
    chunks <- lapply(seq_along(starts), chunk)
    labels <- vapply(chunks, `[[`, "", "label")
    env <- new.env(parent = globalenv())
    setup <- chunks[[which(labels == "setup")]]$code
    setup <- sub("tutorial_options\\([^\n]*\\)", "", sub("library\\(learnr\\)", "", setup))
    eval(parse(text = setup), env)
    sols <- which(grepl("-solution$", labels))
    expect_gte(length(sols), 3)
    for (s in sols) {
      val <- eval(parse(text = chunks[[s]]$code), new.env(parent = env))
      expect_true(all(is.finite(unlist(val))), label = paste(basename(f), labels[s]))
      res <- advtrain:::tutorial_check(solution_code = chunks[[s]]$code, envir_prep = env,
                                       last_value = val, stage = "check")
      expect_true(res$correct, label = paste(basename(f), labels[s]))
    }
  }
})

test_that("the tutorials render with rmarkdown", {
  skip_on_cran()
  skip_if_not_installed("learnr")
  skip_if_not_installed("rmarkdown")
  skip_if_not(rmarkdown::pandoc_available(), "pandoc is not available")
  for (f in tutorials()) {
    out <- withr::local_tempdir()
    file.copy(f, out)
    html <- rmarkdown::render(file.path(out, basename(f)), output_dir = out, quiet = TRUE,
                              envir = new.env())
    expect_true(file.exists(html))
    expect_match(paste(readLines(html, warn = FALSE), collapse = "\n"), "tutorial",
                 label = basename(f))
  }
})
