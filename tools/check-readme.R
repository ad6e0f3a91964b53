# Checks that the printed outputs in README.md are what the installed package prints.
#
#   Rscript tools/check-readme.R [README.md]        (make check-readme; run by .ci/run)
#
# What is checked, and the conventions the README follows:
# - Every ```r chunk runs, in order, in one environment (a chunk may use what an earlier
#   one made), in a temporary working directory with a null graphics device, against the
#   installed advtrain (library(advtrain) as the chunks say).
# - Inside a chunk, `#>` lines are the printed output of the code lines just above them
#   (everything those lines print, in order, as R's auto-printing shows it). Code lines
#   not followed by `#>` lines may print; that output is not shown and not checked.
# - A plain ``` block right after an ```r chunk (only blank lines between) is the whole
#   printed output of that chunk.
# - `<!-- check-readme: skip -->` on the line before a chunk (blank lines allowed):
#   the chunk is not run and its output not checked (long runs, the app, downloads).
#   Later chunks must not need what a skipped chunk makes.
# - `<!-- check-readme: output of FILE -->` before a plain ``` block: the block is the
#   first lines of what `Rscript FILE` prints (FILE relative to the repository root).
# Lines are compared with runs of spaces squashed; numbers written with a decimal
# point or an exponent match when they differ by at most one unit in the last digit the
# README shows (so a README may round; the same R prints the same digits), and every
# other character, whole numbers included, must be equal. Warnings and messages of a
# chunk are reported but do not fail the check. Exit status 1 on any difference or
# error, with the README line, what it shows and what the code prints.

readme_blocks <- function(lines) {
  blocks <- list()
  i <- 1
  marker_re <- "^\\s*<!--\\s*check-readme:\\s*(.*?)\\s*-->\\s*$"
  while (i <= length(lines)) {
    m <- regmatches(lines[i], regexec("^\\s*```\\s*([A-Za-z0-9_+-]*)", lines[i]))[[1]]
    if (!length(m)) {
      i <- i + 1
      next
    }
    lang <- tolower(m[2])
    end <- i + 1
    while (end <= length(lines) && !grepl("^\\s*```\\s*$", lines[end])) end <- end + 1
    j <- i - 1
    while (j >= 1 && !nzchar(trimws(lines[j]))) j <- j - 1
    marker <- if (j >= 1 && grepl(marker_re, lines[j], perl = TRUE)) {
      sub(marker_re, "\\1", lines[j], perl = TRUE)
    }
    blocks[[length(blocks) + 1]] <- list(
      lang = lang, start = i, body = if (end > i + 1) lines[(i + 1):(end - 1)] else character(),
      marker = marker, follows = j)
    i <- end + 1
  }
  # a plain block is the output of the r chunk that ends just above it
  for (k in seq_along(blocks)) {
    b <- blocks[[k]]
    blocks[[k]]$output_of <- NA_integer_
    if (k > 1 && b$lang == "" && is.null(b$marker) && blocks[[k - 1]]$lang == "r") {
      prev <- blocks[[k - 1]]
      prev_end <- prev$start + length(prev$body) + 1
      if (b$follows == prev_end) blocks[[k]]$output_of <- k - 1L
    }
  }
  blocks
}

# Splits a chunk into groups: code lines, then the `#>` lines that show their output.
chunk_groups <- function(body, first_line) {
  is_out <- grepl("^\\s*#>", body)
  groups <- list()
  k <- 1
  while (k <= length(body)) {
    code_from <- k
    while (k <= length(body) && !is_out[k]) k <- k + 1
    code <- body[seq_len(k - code_from) + code_from - 1]
    out_from <- k
    while (k <= length(body) && is_out[k]) k <- k + 1
    out <- sub("^\\s*#> ?", "", body[seq_len(k - out_from) + out_from - 1])
    groups[[length(groups) + 1]] <- list(code = code, expected = out,
                                         line = first_line + out_from - 1)
  }
  groups
}

# Runs code (character lines) in env, returning what it prints and its conditions.
run_code <- function(code, env) {
  exprs <- parse(text = code, keep.source = FALSE)
  notes <- character()
  out <- utils::capture.output({
    for (e in exprs) {
      withCallingHandlers({
        v <- withVisible(eval(e, env))
        if (v$visible) print(v$value)
      }, warning = function(w) {
        notes <<- c(notes, paste("Warning:", conditionMessage(w)))
        invokeRestart("muffleWarning")
      }, message = function(m) {
        notes <<- c(notes, paste("Message:", trimws(conditionMessage(m))))
        invokeRestart("muffleMessage")
      })
    }
  })
  list(out = out, notes = notes)
}

num_re <- "[-+]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?"

# TRUE when the printed line `actual` matches the README's line `shown`.
line_matches <- function(shown, actual) {
  squash <- function(s) trimws(gsub("\\s+", " ", s))
  shown <- squash(shown)
  actual <- squash(actual)
  if (identical(shown, actual)) return(TRUE)
  skel <- function(s) gsub(num_re, "#", s, perl = TRUE)
  if (!identical(skel(shown), skel(actual))) return(FALSE)
  ns <- regmatches(shown, gregexpr(num_re, shown, perl = TRUE))[[1]]
  na <- regmatches(actual, gregexpr(num_re, actual, perl = TRUE))[[1]]
  for (i in seq_along(ns)) {
    if (identical(ns[i], na[i])) next
    if (!grepl("[.eE]", ns[i])) return(FALSE)
    mant <- sub("[eE].*$", "", ns[i])
    dec <- if (grepl("\\.", mant)) nchar(sub("^[^.]*\\.", "", mant)) else 0
    ex <- if (grepl("[eE]", ns[i])) as.numeric(sub("^.*[eE]", "", ns[i])) else 0
    unit <- 10^(ex - dec)
    if (!(abs(as.numeric(na[i]) - as.numeric(ns[i])) <= unit * (1 + 1e-9))) return(FALSE)
  }
  TRUE
}

# Compares the README's lines with the printed lines; a character vector of problems.
compare_lines <- function(shown, actual, line) {
  trim_tail <- function(x) {
    while (length(x) && !nzchar(trimws(x[length(x)]))) x <- x[-length(x)]
    x
  }
  shown <- trim_tail(shown)
  actual <- trim_tail(actual)
  bad <- character()
  for (i in seq_len(max(length(shown), length(actual)))) {
    s <- if (i <= length(shown)) shown[i] else "<nothing>"
    a <- if (i <= length(actual)) actual[i] else "<nothing>"
    if (i > length(shown) || i > length(actual) || !line_matches(s, a)) {
      bad <- c(bad, sprintf("  README line %d shows: %s\n  %s the code prints: %s",
                            line + i - 1, s, strrep(" ", nchar(line + i - 1)), a))
    }
  }
  bad
}

check_readme <- function(path = "README.md", root = dirname(normalizePath(path)),
                         verbose = TRUE) {
  path <- normalizePath(path, mustWork = TRUE)
  force(root)
  lines <- readLines(path, warn = FALSE)
  blocks <- readme_blocks(lines)
  say <- function(...) if (verbose) cat(..., "\n", sep = "")
  env <- new.env(parent = globalenv())
  wd <- tempfile("check-readme-")
  dir.create(wd)
  old_wd <- setwd(wd)
  on.exit({
    setwd(old_wd)
    unlink(wd, recursive = TRUE)
  }, add = TRUE)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  old_opt <- options(advtrain.progress = FALSE)
  on.exit(options(old_opt), add = TRUE)
  problems <- character()
  n_checked <- 0
  fail <- function(at, what) {
    problems <<- c(problems, sprintf("README line %d: %s", at, what))
  }
  for (k in seq_along(blocks)) {
    b <- blocks[[k]]
    skip <- identical(b$marker, "skip")
    if (b$lang == "r") {
      if (skip) {
        say(sprintf("line %d: skipped (marked)", b$start))
        next
      }
      t0 <- proc.time()[["elapsed"]]
      nxt <- if (k < length(blocks)) blocks[[k + 1]]
      plain_out <- !is.null(nxt) && identical(nxt$output_of, k)
      groups <- chunk_groups(b$body, b$start + 1)
      printed <- character()
      status <- "ok"
      for (g in groups) {
        res <- tryCatch(run_code(g$code, env), error = function(e) e)
        if (inherits(res, "error")) {
          fail(b$start, paste("the chunk failed:", conditionMessage(res)))
          status <- "ERROR"
          break
        }
        for (nt in res$notes) say(sprintf("line %d: note: %s", b$start, nt))
        printed <- c(printed, res$out)
        if (length(g$expected)) {
          n_checked <- n_checked + 1
          bad <- compare_lines(g$expected, res$out, g$line)
          if (length(bad)) {
            fail(g$line, paste0("the output differs:\n", paste(bad, collapse = "\n")))
            status <- "DIFFERS"
          }
        }
      }
      if (plain_out && status != "ERROR") {
        n_checked <- n_checked + 1
        bad <- compare_lines(nxt$body, printed, nxt$start + 1)
        if (length(bad)) {
          fail(nxt$start + 1, paste0("the output differs:\n", paste(bad, collapse = "\n")))
          status <- "DIFFERS"
        }
      }
      say(sprintf("line %d: %s (%.1f s)", b$start, status, proc.time()[["elapsed"]] - t0))
    } else if (!is.null(b$marker) && grepl("^output of ", b$marker)) {
      file <- file.path(root, sub("^output of\\s+", "", b$marker))
      t0 <- proc.time()[["elapsed"]]
      out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), shQuote(file),
                                      stdout = TRUE, stderr = FALSE,
                                      env = paste0("ADVTRAIN_DEMO_PNG=", tempfile(fileext = ".png"))))
      n_checked <- n_checked + 1
      bad <- compare_lines(b$body, utils::head(out, length(b$body)), b$start + 1)
      if (!is.null(attr(out, "status"))) {
        fail(b$start, sprintf("%s exited with status %s", file, attr(out, "status")))
      } else if (length(bad)) {
        fail(b$start + 1, paste0("the output differs:\n", paste(bad, collapse = "\n")))
      }
      say(sprintf("line %d: output of %s: %s (%.1f s)", b$start, basename(file),
                  if (length(bad)) "DIFFERS" else "ok", proc.time()[["elapsed"]] - t0))
    }
  }
  list(problems = problems, checked = n_checked)
}

if (sys.nframe() == 0L) {
  args <- commandArgs(trailingOnly = TRUE)
  path <- if (length(args)) args[1] else "README.md"
  res <- check_readme(path)
  if (length(res$problems)) {
    cat("\n", length(res$problems), " README output(s) differ from what the code prints:\n\n",
        paste(res$problems, collapse = "\n\n"), "\n", sep = "")
    quit(status = 1)
  }
  cat(sprintf("README outputs: %d checked, all as the code prints them\n", res$checked))
}
