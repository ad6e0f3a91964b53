# A seeded generator of malformed inputs for the fuzz test.
fuzz_values <- function() {
  list(
    string = "a", strings = c("1", "2"), complex = 1i, na = NA, na_real = NA_real_,
    nan = NaN, inf = Inf, minus_inf = -Inf, empty = numeric(0), null = NULL,
    list = list(1, 2), factor = factor(c("a", "b")), logical = TRUE,
    df_chr = data.frame(a = c(1, 2, 3), b = c("x", "y", "z")),
    negative = -1, fraction = 0.5, zero = 0, huge = 1e300, tiny = 1e-300,
    big_count = .Machine$integer.max, over_int = 2^31 + 5,
    one_row = matrix(1, 1, 2), one_col = matrix(c(1, 2, 3, 4, 5), 5, 1),
    matrix_na = matrix(c(1, NA, 3, 4), 2), vec_nan = c(1, NaN, 2),
    fun = mean, long = rnorm(7)
  )
}

# Does anything numeric inside x contain NaN? (NA is a deliberate "not applicable".)
has_nan <- function(x) {
  if (is.numeric(x)) return(any(is.nan(x)))
  if (is.list(x)) return(any(vapply(x, has_nan, logical(1))))
  FALSE
}

# Call fun with args under a time limit; classify the outcome.
fuzz_call <- function(fun, args, formals_names, limit = 20) {
  setTimeLimit(elapsed = limit, transient = TRUE)
  on.exit(setTimeLimit(elapsed = Inf))
  res <- tryCatch(
    suppressWarnings(list(value = do.call(fun, args))),
    error = function(e) list(error = conditionMessage(e)))
  setTimeLimit(elapsed = Inf)
  if (!is.null(res$error)) {
    if (grepl("time limit", res$error)) return("hang")
    named <- any(vapply(formals_names, function(a) grepl(a, res$error, fixed = TRUE),
                        logical(1)))
    return(if (named) "error-named" else paste("error-unnamed:", res$error))
  }
  if (has_nan(res$value)) return("silent-nan")
  "ok"
}
